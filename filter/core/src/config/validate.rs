//! Cross-field checks of a parsed configuration: every problem at once, each with its
//! path in the document.

use std::collections::HashSet;

use super::calendar::parse_date_days;
use super::google_lanes;
use super::price_coverage;
use super::schema::{
    AlertsConfig, BudgetDef, BudgetPeriodKind, Catalogue, Config, LedgerFailureMode, ProviderKind,
    EVENT_BATCH_SIZE, EVENT_BUFFER_MAX_EVENTS, EVENT_FLUSH_INTERVAL_MS, LEDGER_TIMEOUT_MS,
};

impl Catalogue {
    /// What makes a price catalogue unusable: a model without entries, two entries of
    /// one model in force from the same day.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        for (model, entries) in &self.models {
            if entries.is_empty() {
                problems.push(problem(
                    format!("models.{model}"),
                    "expected at least one dated price",
                ));
            }
            let mut days: Vec<i64> = entries.iter().map(|e| e.effective_from).collect();
            days.sort_unstable();
            if days.windows(2).any(|w| w[0] == w[1]) {
                problems.push(problem(
                    format!("models.{model}"),
                    "two prices take effect on the same day",
                ));
            }
        }
        problems
    }
}

/// One problem found in a configuration: where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Path in the document, e.g. `consumer_groups[1].wallet_team_id`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        path: path.into(),
        message: message.into(),
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A Bedrock lane needs its region and access key id; no other lane takes `aws`.
fn aws_lane_problems(t: &super::schema::Target, at: &str, problems: &mut Vec<ConfigProblem>) {
    let env_problem = |field: String, env: &str, problems: &mut Vec<ConfigProblem>| {
        if !is_env_name(env) {
            problems.push(problem(
                field,
                "expected an environment variable name (letters, digits, '_')",
            ));
        }
    };
    match (t.provider, &t.aws) {
        (ProviderKind::Bedrock, None) => problems.push(problem(
            format!("{at}.aws"),
            "a bedrock lane needs `aws: {region, access_key_id_ref: {env}}` (the secret access key is secret_key_ref)",
        )),
        (ProviderKind::Bedrock, Some(aws)) => {
            let region_ok = !aws.region.is_empty()
                && aws.region.len() <= 32
                && aws
                    .region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !region_ok {
                problems.push(problem(
                    format!("{at}.aws.region"),
                    format!("expected an AWS region such as us-east-1, found '{}'", aws.region),
                ));
            }
            env_problem(
                format!("{at}.aws.access_key_id_ref.env"),
                &aws.access_key_id_ref.env,
                problems,
            );
            if let Some(token) = &aws.session_token_ref {
                env_problem(
                    format!("{at}.aws.session_token_ref.env"),
                    &token.env,
                    problems,
                );
            }
        }
        (p, Some(_)) => problems.push(problem(
            format!("{at}.aws"),
            format!("only bedrock lanes take `aws`; this lane's provider is {}", p.as_str()),
        )),
        (_, None) => {}
    }
}

impl Config {
    /// Cross-field checks that the type system cannot express. Returns every problem,
    /// not just the first, so one `check-config` run shows all of them.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.version != "1" {
            problems.push(problem(
                "version",
                format!("expected '1', found '{}'", self.version),
            ));
        }

        if self.providers.targets.is_empty() {
            problems.push(problem(
                "providers.targets",
                "expected at least one target (a provider lane)",
            ));
        }
        let mut lane_ids = HashSet::new();
        for (i, t) in self.providers.targets.iter().enumerate() {
            let at = format!("providers.targets[{i}]");
            if !is_identifier(&t.id) {
                problems.push(problem(
                    format!("{at}.id"),
                    "expected 1-64 characters of letters, digits, '_', '-' or '.'",
                ));
            }
            if !lane_ids.insert(t.id.as_str()) {
                problems.push(problem(
                    format!("{at}.id"),
                    format!("duplicate target id '{}'", t.id),
                ));
            }
            if t.model.trim().is_empty() {
                problems.push(problem(format!("{at}.model"), "expected a model name"));
            }
            match (t.provider, &t.base_url) {
                (ProviderKind::OpenaiCompatible, None) => problems.push(problem(
                    format!("{at}.base_url"),
                    "expected the base URL of the OpenAI-compatible API (e.g. http://vllm:8000/v1)",
                )),
                (ProviderKind::OpenaiCompatible, Some(url)) => {
                    if crate::endpoint::Endpoint::parse_base(url).is_err() {
                        problems.push(problem(
                            format!("{at}.base_url"),
                            format!("expected an http:// or https:// URL with a host, found '{url}'"),
                        ));
                    }
                }
                // Checked with the other Azure fields.
                (ProviderKind::AzureOpenai, _) => {}
                (p, Some(_)) => problems.push(problem(
                    format!("{at}.base_url"),
                    format!(
                        "only openai_compatible and azure_openai lanes take a base_url; {} lanes use providers.endpoints",
                        p.as_str()
                    ),
                )),
                (_, None) => {}
            }
            for (field, message) in super::azure_lane::problems(t) {
                problems.push(problem(format!("{at}.{field}"), message));
            }
            for (path, message) in google_lanes::problems(t, &at) {
                problems.push(problem(path, message));
            }
            if !is_env_name(&t.secret_key_ref.env) {
                problems.push(problem(
                    format!("{at}.secret_key_ref.env"),
                    "expected an environment variable name (letters, digits, '_')",
                ));
            }
            aws_lane_problems(t, &at, &mut problems);
        }
        for (alias, lanes) in &self.providers.routing.aliases {
            for (j, lane) in lanes.iter().enumerate() {
                if !lane_ids.contains(lane.as_str()) {
                    problems.push(problem(
                        format!("providers.routing.aliases.{alias}[{j}]"),
                        format!("'{lane}' is not a target id"),
                    ));
                }
            }
        }
        if self.providers.routing.max_attempts == 0 {
            problems.push(problem(
                "providers.routing.max_attempts",
                "expected at least 1",
            ));
        }
        for (kind, url) in &self.providers.endpoints {
            if matches!(
                kind,
                ProviderKind::OpenaiCompatible | ProviderKind::AzureOpenai
            ) {
                problems.push(problem(
                    format!("providers.endpoints.{}", kind.as_str()),
                    format!("each {} lane names its own base_url", kind.as_str()),
                ));
            } else if crate::endpoint::Endpoint::parse(url).is_err() {
                problems.push(problem(
                    format!("providers.endpoints.{}", kind.as_str()),
                    format!("expected an http:// or https:// URL with a host, found '{url}'"),
                ));
            }
        }

        if self.cache.max_entries == 0 && self.cache.enabled {
            problems.push(problem(
                "cache.max_entries",
                "expected at least 1 when the cache is enabled",
            ));
        }

        let ct = &self.cost_tracking;
        let buffer = &ct.event_buffer;
        for (path, value, range) in [
            (
                "cost_tracking.event_buffer.max_events",
                buffer.max_events,
                EVENT_BUFFER_MAX_EVENTS,
            ),
            (
                "cost_tracking.event_buffer.batch_size",
                buffer.batch_size,
                EVENT_BATCH_SIZE,
            ),
            (
                "cost_tracking.event_buffer.flush_interval_ms",
                buffer.flush_interval_ms,
                EVENT_FLUSH_INTERVAL_MS,
            ),
            (
                "cost_tracking.ledger_timeout_ms",
                ct.ledger_timeout_ms,
                LEDGER_TIMEOUT_MS,
            ),
        ] {
            if !range.contains(&value) {
                problems.push(problem(
                    path,
                    format!(
                        "expected {} to {}, found {value}",
                        range.start(),
                        range.end()
                    ),
                ));
            }
        }
        if buffer.batch_size > buffer.max_events && EVENT_BATCH_SIZE.contains(&buffer.batch_size) {
            problems.push(problem(
                "cost_tracking.event_buffer.batch_size",
                format!(
                    "expected at most max_events ({}), found {}",
                    buffer.max_events, buffer.batch_size
                ),
            ));
        }

        if self.consumer_groups.is_empty() {
            problems.push(problem(
                "consumer_groups",
                "expected at least one consumer group",
            ));
        }
        let wallet_ids: Option<HashSet<&str>> = self
            .wallets
            .as_ref()
            .map(|ws| ws.iter().map(|w| w.team_id.as_str()).collect());
        let mut names = HashSet::new();
        let mut digests = HashSet::new();
        for (i, g) in self.consumer_groups.iter().enumerate() {
            let at = format!("consumer_groups[{i}]");
            if !is_identifier(&g.name) {
                problems.push(problem(
                    format!("{at}.name"),
                    "expected 1-64 characters of letters, digits, '_', '-' or '.'",
                ));
            }
            if !names.insert(g.name.as_str()) {
                problems.push(problem(
                    format!("{at}.name"),
                    format!("duplicate consumer group name '{}'", g.name),
                ));
            }
            match (&g.api_key, &g.api_key_sha256) {
                (Some(_), Some(_)) => problems.push(problem(
                    format!("{at}.api_key_sha256"),
                    "expected either api_key or api_key_sha256, not both",
                )),
                (None, None) => problems.push(problem(
                    format!("{at}.api_key"),
                    "expected api_key (or api_key_sha256)",
                )),
                (Some(k), None) if k.len() < 8 => problems.push(problem(
                    format!("{at}.api_key"),
                    "expected a key of at least 8 characters",
                )),
                (None, Some(d)) if crate::keys::parse_digest(d).is_none() => {
                    problems.push(problem(
                        format!("{at}.api_key_sha256"),
                        "expected 64 hexadecimal characters (a SHA-256 digest)",
                    ))
                }
                _ => {}
            }
            if let Some(d) = g.key_digest() {
                if !digests.insert(d) {
                    problems.push(problem(
                        format!("{at}.api_key"),
                        "duplicate key: another consumer group already uses it",
                    ));
                }
            }
            for (wf, lanes) in &g.workflow_lanes {
                for (j, lane) in lanes.iter().enumerate() {
                    if !lane_ids.contains(lane.as_str()) {
                        problems.push(problem(
                            format!("{at}.workflow_lanes.{wf}[{j}]"),
                            format!("'{lane}' is not a target id"),
                        ));
                    }
                }
            }
            for (j, lane) in g.allowed_lanes.iter().flatten().enumerate() {
                if !lane_ids.contains(lane.as_str()) {
                    problems.push(problem(
                        format!("{at}.allowed_lanes[{j}]"),
                        format!("'{lane}' is not a target id"),
                    ));
                }
            }
            if !is_identifier(&g.wallet_team_id) {
                problems.push(problem(
                    format!("{at}.wallet_team_id"),
                    "expected 1-64 characters of letters, digits, '_', '-' or '.'",
                ));
            } else if let Some(ids) = &wallet_ids {
                if !ids.contains(g.wallet_team_id.as_str()) {
                    problems.push(problem(
                        format!("{at}.wallet_team_id"),
                        format!(
                            "wallet '{}' has no definition under `wallets:`",
                            g.wallet_team_id
                        ),
                    ));
                }
            }
        }

        if let Some(ws) = &self.wallets {
            let mut seen = HashSet::new();
            for (i, w) in ws.iter().enumerate() {
                if !is_identifier(&w.team_id) {
                    problems.push(problem(
                        format!("wallets[{i}].team_id"),
                        "expected 1-64 characters of letters, digits, '_', '-' or '.'",
                    ));
                }
                if !seen.insert(w.team_id.as_str()) {
                    problems.push(problem(
                        format!("wallets[{i}].team_id"),
                        format!("duplicate wallet '{}'", w.team_id),
                    ));
                }
            }
        }
        let teams: HashSet<String> = self.wallet_team_ids().into_iter().collect();
        let mut budget_teams = HashSet::new();
        for (i, b) in self.budgets.iter().enumerate() {
            let at = format!("budgets[{i}]");
            if !teams.contains(&b.team_id) {
                problems.push(problem(
                    format!("{at}.team_id"),
                    format!("'{}' is not a wallet team of any consumer group", b.team_id),
                ));
            }
            if !budget_teams.insert(b.team_id.as_str()) {
                problems.push(problem(
                    format!("{at}.team_id"),
                    format!("duplicate budget for '{}'", b.team_id),
                ));
            }
            problems.extend(b.problems(&at));
        }
        for (i, w) in self.alerts.webhooks.iter().enumerate() {
            let rest = w
                .url
                .strip_prefix("https://")
                .or_else(|| w.url.strip_prefix("http://"));
            if !rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) {
                problems.push(problem(
                    format!("alerts.webhooks[{i}].url"),
                    format!("expected an http:// or https:// URL, found '{}'", w.url),
                ));
            }
        }
        problems.extend(self.alerts.problems());
        problems
    }

    /// The prices requests are charged with: the catalogue `price_catalogue` names
    /// (once read into `catalogue`), else the built-in one, with `pricing:` on top.
    pub fn price_table(&self) -> crate::pricing::PriceTable {
        let catalogue = self
            .catalogue
            .as_ref()
            .unwrap_or_else(|| crate::pricing::built_in_catalogue());
        crate::pricing::PriceTable::new(catalogue, &self.pricing)
    }

    /// Non-fatal observations: the config loads, but probably not as the user meant.
    pub fn warnings(&self) -> Vec<ConfigProblem> {
        let mut warnings = Vec::new();
        for u in price_coverage::unpriced_lanes(self, &self.price_table()) {
            warnings.push(problem(
                format!("providers.targets[{}].model", u.target),
                u.message(),
            ));
        }
        if !self.cost_tracking.wallet_enforcement {
            let open = LedgerFailureMode::Open;
            let mut paths = Vec::new();
            if self.cost_tracking.on_ledger_unavailable == open {
                paths.push("cost_tracking.on_ledger_unavailable".to_string());
            }
            for (i, g) in self.consumer_groups.iter().enumerate() {
                if g.on_ledger_unavailable == Some(open) {
                    paths.push(format!("consumer_groups[{i}].on_ledger_unavailable"));
                }
            }
            for path in paths {
                warnings.push(problem(
                    path,
                    "has no effect: without wallet_enforcement no request waits for the ledger",
                ));
            }
        }
        if self.wallets.is_none() && self.cost_tracking.wallet_enforcement {
            warnings.push(problem(
                "wallets",
                "no wallets defined: every wallet starts empty and, with wallet_enforcement, \
                 refuses requests until an allocation is made",
            ));
        }
        warnings
    }
}

impl BudgetDef {
    /// What is wrong with this budget on its own (not its team, which the whole
    /// configuration decides), each problem at `at` (e.g. `budgets[2]`).
    pub fn problems(&self, at: &str) -> Vec<ConfigProblem> {
        let b = self;
        let mut problems = Vec::new();
        if b.amount_usd.0 <= 0 {
            problems.push(problem(
                format!("{at}.amount_usd"),
                "expected a positive amount",
            ));
        }
        if let Some(start) = &b.start {
            if parse_date_days(start).is_none() {
                problems.push(problem(
                    format!("{at}.start"),
                    format!("expected a date YYYY-MM-DD, found '{start}'"),
                ));
            }
        }
        if b.period == BudgetPeriodKind::Custom {
            if b.start.is_none() {
                problems.push(problem(
                    format!("{at}.start"),
                    "a custom period needs a start date",
                ));
            }
            if !b.length_days.is_some_and(|d| (1..=366).contains(&d)) {
                problems.push(problem(
                    format!("{at}.length_days"),
                    "a custom period needs length_days between 1 and 366",
                ));
            }
        } else if b.length_days.is_some() {
            problems.push(problem(
                format!("{at}.length_days"),
                "only a custom period takes length_days",
            ));
        }
        for (field, list) in [
            ("thresholds_pct", &b.thresholds_pct),
            ("forecast_thresholds_pct", &b.forecast_thresholds_pct),
        ] {
            if list.iter().any(|&t| t == 0 || t > 1000) {
                problems.push(problem(
                    format!("{at}.{field}"),
                    "expected percentages between 1 and 1000",
                ));
            }
        }
        problems
    }
}

impl AlertsConfig {
    /// What is wrong with the alert settings besides the webhooks' URLs.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.wallet_low_pct > 99 {
            problems.push(problem(
                "alerts.wallet_low_pct",
                "expected a percentage between 0 (off) and 99",
            ));
        }
        if !(1..=20).contains(&self.anomaly.sensitivity) {
            problems.push(problem(
                "alerts.anomaly.sensitivity",
                "expected between 1 and 20 standard deviations",
            ));
        }
        if self.anomaly.min_excess_usd.0 <= 0 {
            problems.push(problem(
                "alerts.anomaly.min_excess_usd",
                "expected a positive amount",
            ));
        }
        if self.digests.hour_utc > 23 {
            problems.push(problem(
                "alerts.digests.hour_utc",
                "expected an hour between 0 and 23",
            ));
        }
        if let Some(url) = &self.dashboard_url {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            if !rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) {
                problems.push(problem(
                    "alerts.dashboard_url",
                    format!("expected an http:// or https:// URL, found '{url}'"),
                ));
            }
        }
        if let Some(email) = &self.email {
            if email.host.as_deref().is_some_and(|h| h.trim().is_empty()) {
                problems.push(problem("alerts.email.host", "expected a host name"));
            }
            if email.port == Some(0) {
                problems.push(problem("alerts.email.port", "expected a port number"));
            }
            if email
                .from
                .as_deref()
                .is_some_and(|f| !f.contains('@') || f.trim() != f)
            {
                problems.push(problem(
                    "alerts.email.from",
                    "expected an address such as 'Tollgate <tollgate@example.com>'",
                ));
            }
        }
        problems
    }
}
