//! Digests: each team's week (spend against the week before and against its budget
//! and pace, what drove the change, the workflow that changed most, the recommended
//! moves) on the team's digest channels, and the month of every team for finance on
//! the organisation's. Every figure is computed; each digest links back to the
//! dashboard when `alerts.dashboard_url` is set.
//!
//! The background loop sends each once per period ([`send_due`]): the weekly digest on
//! Mondays after `alerts.digests.hour_utc`, the monthly one on the 1st. A digest is
//! recorded like an alert (kinds [`WEEKLY`], [`MONTHLY`]), so its deliveries are
//! retried and shown like an alert's.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use tollgate_core::config::{days_from_civil, AlertsConfig, BudgetPeriodKind};

use crate::alerts::guide::team_link;
use crate::alerts::{channel_targets, config_targets, DIGESTS, ORGANISATION};
use crate::insights::narrative::{signed_usd, usd};
use crate::insights::recommend::{self, Move};
use crate::insights::DayRange;
use crate::query::DAY_MS;
use crate::state::AppState;
use crate::store::alerts::{AlertFacts, AlertQuery, NewAlert};
use crate::store::insights::InsightDim;
use crate::store::{Store, StoreError};

use super::evidence::{team_evidence, EffectShare};
use super::grouping::grouped;
use super::recommendations::{moves_for, team_moves};
use super::scope::RangeJson;

/// A digest missed by more than this after its time (the ledger was down, or started
/// mid-month) is not sent late: it would no longer be news.
const CATCH_UP_MS: i64 = 2 * DAY_MS;

pub const WEEKLY: &str = "digest_weekly";
pub const MONTHLY: &str = "digest_monthly";

#[derive(Serialize)]
pub struct Digest {
    pub kind: &'static str,
    /// The team, or [`ORGANISATION`] for finance's.
    pub team: String,
    pub range: RangeJson,
    pub subject: String,
    /// The digest as people read it (email body, Slack text).
    pub text: String,
    pub link: Option<String>,
    pub spent_nanos: i64,
    pub previous_nanos: i64,
    pub effects: Vec<EffectShare>,
    pub moves: Vec<Move>,
}

/// Signed percent change from `a` to `b`, or words when there was nothing before.
fn change_words(a: i64, b: i64) -> String {
    if a == 0 {
        return if b == 0 {
            "no change".into()
        } else {
            "new spend".into()
        };
    }
    let pct = (i128::from(b - a) * 100 / i128::from(a)) as i64;
    format!("{}{pct}%", if pct >= 0 { "+" } else { "" })
}

fn day(ms: i64) -> String {
    crate::query::format_day(ms)
}

/// The workflow whose spend changed most from `a` to `b`: (name, spend in b, change).
fn top_workflow_change(
    store: &dyn Store,
    team: &str,
    a: DayRange,
    b: DayRange,
) -> Result<Option<(String, i64, i64)>, StoreError> {
    let mut by: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (i, range) in [a, b].into_iter().enumerate() {
        for (_, key, s) in grouped(
            store,
            range,
            Some(team),
            None,
            None,
            &[InsightDim::Workflow],
        )? {
            let name = key
                .first()
                .cloned()
                .flatten()
                .unwrap_or_else(|| "(no workflow)".into());
            let e = by.entry(name).or_default();
            if i == 0 {
                e.0 += s.cost_nanos;
            } else {
                e.1 += s.cost_nanos;
            }
        }
    }
    Ok(by
        .into_iter()
        .map(|(w, (a, b))| (w, b, b - a))
        .filter(|(_, _, d)| *d != 0)
        .max_by_key(|(w, _, d)| (d.abs(), std::cmp::Reverse(w.clone()))))
}

fn moves_lines(text: &mut String, moves: &[Move]) {
    if moves.is_empty() {
        text.push_str("Recommended moves: none stands out this week.\n");
        return;
    }
    text.push_str("Recommended moves:\n");
    for (i, m) in moves.iter().enumerate() {
        text.push_str(&format!(
            "{}. {} (about {} a month; on the dashboard: {}).\n",
            i + 1,
            m.sentence,
            usd(m.impact_nanos),
            m.action.label
        ));
    }
}

/// The team's last 7 full days (UTC), as of `now`.
pub fn team_digest(
    store: &dyn Store,
    state: &AppState,
    team: &str,
    now: i64,
    dashboard_url: Option<&str>,
) -> Result<Digest, StoreError> {
    let evidence = team_evidence(store, state, team, now)?;
    let d = &evidence.drivers;
    let (a, b) = (
        DayRange {
            from_ms: d.a.from_ms,
            to_ms: d.a.to_ms,
        },
        DayRange {
            from_ms: d.b.from_ms,
            to_ms: d.b.to_ms,
        },
    );
    let moves = recommend::rank(team_moves(store, state, team, now)?);
    let link = dashboard_url.map(|u| team_link(u, team));
    let last_day = day(b.to_ms - DAY_MS);
    let subject = format!(
        "[Tollgate] Weekly digest: {team}, {} to {last_day}",
        day(b.from_ms)
    );
    let mut text = format!(
        "Tollgate weekly digest for {team}, {} to {last_day} (UTC).\n\n",
        day(b.from_ms)
    );
    text.push_str(&format!(
        "Spend: {} in these 7 days, {} the 7 days before ({}).\n",
        usd(d.b_cost_nanos),
        usd(d.a_cost_nanos),
        change_words(d.a_cost_nanos, d.b_cost_nanos)
    ));
    match &evidence.budget {
        Some(s) => text.push_str(&format!("Budget: {}.\n", s.summary)),
        None => text.push_str("Budget: none set for this team.\n"),
    }
    if let Some(w) = &evidence.wallet {
        text.push_str(&format!(
            "Wallet: {} left, {} a day{}.\n",
            usd(w.wallet.balance_nanos),
            usd(w.run_rate_per_day_nanos),
            w.exhaustion_day
                .as_ref()
                .map(|d| format!(", runs out {d} at this pace"))
                .unwrap_or_default()
        ));
    }
    let effects: Vec<String> = d
        .effects
        .iter()
        .filter(|e| e.nanos != 0)
        .map(|e| format!("{} {}", e.label, signed_usd(e.nanos)))
        .collect();
    text.push_str(&format!(
        "What drove the change: {}.\n",
        if effects.is_empty() {
            "nothing moved".to_string()
        } else {
            effects.join(", ")
        }
    ));
    match top_workflow_change(store, team, a, b)? {
        Some((w, spent, delta)) => text.push_str(&format!(
            "Top change: {w}, {} this week ({} from the week before).\n",
            usd(spent),
            signed_usd(delta)
        )),
        None => text.push_str("Top change: no workflow's spend changed.\n"),
    }
    moves_lines(&mut text, &moves);
    if let Some(l) = &link {
        text.push_str(&format!("\nOpen {team} on the dashboard: {l}\n"));
    }
    Ok(Digest {
        kind: WEEKLY,
        team: team.to_string(),
        range: b.into(),
        subject,
        text,
        link,
        spent_nanos: d.b_cost_nanos,
        previous_nanos: d.a_cost_nanos,
        effects: d
            .effects
            .iter()
            .map(|e| EffectShare {
                effect: e.effect,
                label: e.label,
                nanos: e.nanos,
            })
            .collect(),
        moves,
    })
}

/// The first instant (UTC) of the month holding `ms`, and of the month before.
fn month_bounds(ms: i64) -> (i64, i64) {
    let (y, m, _) = tollgate_core::config::civil_from_days(ms.div_euclid(DAY_MS));
    let this = days_from_civil(y, m, 1) * DAY_MS;
    let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    (days_from_civil(py, pm, 1) * DAY_MS, this)
}

/// Finance's digest: every team's spend in the last full month (UTC) against the
/// month before and its monthly budget, and the largest recommended moves.
pub fn monthly_digest(
    store: &dyn Store,
    state: &AppState,
    now: i64,
    dashboard_url: Option<&str>,
) -> Result<Digest, StoreError> {
    let (from, to) = month_bounds(now);
    let (before, _) = month_bounds(from);
    let month = DayRange {
        from_ms: from,
        to_ms: to,
    };
    let prior = DayRange {
        from_ms: before,
        to_ms: from,
    };
    let mut teams: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (i, range) in [prior, month].into_iter().enumerate() {
        for (_, key, s) in grouped(store, range, None, None, None, &[InsightDim::Team])? {
            let Some(team) = key.first().cloned().flatten() else {
                continue;
            };
            let e = teams.entry(team).or_default();
            if i == 0 {
                e.0 += s.cost_nanos;
            } else {
                e.1 += s.cost_nanos;
            }
        }
    }
    let budgets = state.budgets.current();
    let (prev_total, total): (i64, i64) =
        teams.values().fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
    let label = day(from).get(..7).unwrap_or_default().to_string();
    let subject = format!("[Tollgate] Monthly digest: {label}");
    let mut text = format!(
        "Tollgate monthly digest for finance: {label} (UTC).\n\nSpend: {} across {} teams, {} the month before ({}).\n\nBy team, largest first:\n",
        usd(total),
        teams.len(),
        usd(prev_total),
        change_words(prev_total, total)
    );
    let mut ranked: Vec<(&String, &(i64, i64))> = teams.iter().collect();
    ranked.sort_by(|x, y| y.1 .1.cmp(&x.1 .1).then(x.0.cmp(y.0)));
    for (team, (a, b)) in &ranked {
        let budget = budgets
            .iter()
            .find(|d| &d.team_id == *team && d.period == BudgetPeriodKind::Monthly)
            .map(|d| {
                let amount = d.amount_usd.0;
                format!(
                    "; {}% of its {} monthly budget",
                    if amount > 0 {
                        (i128::from(*b) * 100 / i128::from(amount)) as i64
                    } else {
                        0
                    },
                    usd(amount)
                )
            })
            .unwrap_or_default();
        text.push_str(&format!(
            "- {team}: {} ({} from {}){budget}.\n",
            usd(*b),
            signed_usd(b - a),
            usd(*a)
        ));
    }
    let teams: Vec<String> = teams.keys().cloned().collect();
    let mut moves = recommend::rank(moves_for(store, state, &teams, now)?);
    moves.truncate(5);
    text.push('\n');
    moves_lines(&mut text, &moves);
    let link =
        dashboard_url.map(|u| format!("{}/#scope=org&range=lastmonth", u.trim_end_matches('/')));
    if let Some(l) = &link {
        text.push_str(&format!("\nOpen the organisation on the dashboard: {l}\n"));
    }
    Ok(Digest {
        kind: MONTHLY,
        team: ORGANISATION.to_string(),
        range: month.into(),
        subject,
        text,
        link,
        spent_nanos: total,
        previous_nanos: prev_total,
        effects: Vec::new(),
        moves,
    })
}

/// Records the digest with a delivery to each of its channels (the team's digest
/// channels; for finance's, the config file's webhooks and the organisation's digest
/// channels). `period_start_ms` keeps it to once per period; `None`: sent before.
pub fn record(
    store: &dyn Store,
    alerts: &AlertsConfig,
    digest: &Digest,
    period_start_ms: i64,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let mut targets = if digest.kind == MONTHLY {
        config_targets(alerts)
    } else {
        Vec::new()
    };
    targets.extend(channel_targets(store, &digest.team, DIGESTS)?);
    let alert = NewAlert {
        team: digest.team.clone(),
        period_start_ms,
        period_end_ms: digest.range.to_ms,
        kind: digest.kind,
        threshold_pct: 0,
        spent_nanos: digest.spent_nanos,
        budget_nanos: 0,
        forecast_nanos: digest.previous_nanos,
        message: digest.text.clone(),
    };
    let facts = AlertFacts {
        subject: None,
        details: json!({"subject": digest.subject, "link": digest.link, "range": digest.range}),
    };
    store.record_alert_to(&alert, &facts, &targets, now)
}

/// Whether a digest of `kind` for `team` was recorded for the period starting then.
fn sent(
    store: &dyn Store,
    team: &str,
    kind: &str,
    period_start_ms: i64,
) -> Result<bool, StoreError> {
    let last = store.alert_page(&AlertQuery {
        team: Some(team.to_string()),
        kinds: vec![kind.to_string()],
        limit: 5,
        ..AlertQuery::default()
    })?;
    Ok(last.iter().any(|a| a.period_start_ms == period_start_ms))
}

/// Sends the digests due at `now`: each team's weekly one from Monday at the digest
/// hour (UTC), finance's monthly one from the 1st, each within two days of its time.
/// Returns how many were recorded.
pub fn send_due(
    store: &dyn Store,
    state: &AppState,
    alerts: &AlertsConfig,
    now: i64,
) -> Result<usize, StoreError> {
    let hour = i64::from(alerts.digests.hour_utc) * 3_600_000;
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let url = alerts.dashboard_url.as_deref();
    let mut sent_now = 0;
    if alerts.digests.weekly {
        // 1970-01-01 was a Thursday: days since a Monday are (days + 3) mod 7.
        let monday = today - ((today / DAY_MS + 3).rem_euclid(7)) * DAY_MS;
        if now >= monday + hour && now < monday + hour + CATCH_UP_MS {
            let budgets = state.budgets.current();
            let mut teams: Vec<String> = store.wallets(now)?.into_iter().map(|w| w.team).collect();
            teams.extend(budgets.iter().map(|b| b.team_id.clone()));
            teams.sort();
            teams.dedup();
            for team in teams {
                if sent(store, &team, WEEKLY, monday)? {
                    continue;
                }
                let digest = team_digest(store, state, &team, monday + hour, url)?;
                if record(store, alerts, &digest, monday, now)?.is_some() {
                    sent_now += 1;
                }
            }
        }
    }
    if alerts.digests.monthly {
        let (_, first) = month_bounds(now);
        let due = now >= first + hour && now < first + hour + CATCH_UP_MS;
        if due && !sent(store, ORGANISATION, MONTHLY, first)? {
            let digest = monthly_digest(store, state, now, url)?;
            if record(store, alerts, &digest, first, now)?.is_some() {
                sent_now += 1;
            }
        }
    }
    Ok(sent_now)
}
