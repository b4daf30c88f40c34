//! Helpers shared by the crate's tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use tollgate_core::event::{ApiKind, CacheStatus, CostEvent, Outcome, Tokens, UsageSource};

/// A batch of `events` as the API would hand it to a store (nothing quarantined).
pub fn batch(events: Vec<CostEvent>) -> crate::store::types::IngestBatch {
    crate::store::types::IngestBatch {
        events,
        rejected: Vec::new(),
        received_ms: 1,
        lease_closures: Vec::new(),
        drops: Vec::new(),
        held_back: Vec::new(),
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tollgate-ledger-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A complete, valid event: 10 input and 20 output tokens, OpenAI chat, cache miss.
pub fn event(id: &str, ts_ms: i64, team: &str, cost_nanos: i64) -> CostEvent {
    CostEvent {
        id: id.into(),
        ts_ms,
        consumer_group: team.trim_start_matches("team_").into(),
        team: team.into(),
        user: None,
        workflow: None,
        api: ApiKind::ChatCompletions,
        provider: Some("openai".into()),
        lane: Some("openai-gpt4o-mini".into()),
        model_requested: "gpt-4o-mini".into(),
        model_served: "gpt-4o-mini".into(),
        tokens: Tokens {
            input: 10,
            cached_input: 0,
            cache_write: 0,
            cache_write_1h: 0,
            output: 20,
        },
        usage_source: UsageSource::Reported,
        cost_nanos,
        unpriced: false,
        outcome: Outcome::Ok,
        http_status: 200,
        reason: None,
        latency_ms: 12,
        stream: false,
        cache: CacheStatus::Miss,
        cost_avoided_nanos: 0,
        premium: false,
        premium_approved: false,
        lease_id: None,
        wallet_unchecked: false,
        near_repeat: false,
        service_tier: None,
        web_search_calls: 0,
        tool_cost_nanos: 0,
        priced_by: None,
    }
}

pub fn event_json(id: &str, ts_ms: i64, team: &str, cost_nanos: i64) -> String {
    serde_json::to_string(&event(id, ts_ms, team, cost_nanos)).unwrap()
}

/// Undoes every schema version after 7, newest first, on either backend, so a test can
/// make a database as an older ledger left it and watch the migrations bring it up
/// again. A new migration adds its undo at the top.
pub const UNDO_AFTER_SCHEMA_7: &str = "DROP TABLE quarantined_events;
    DROP TABLE cost_adjustments;
    DROP TABLE provider_report_lines;
    ALTER TABLE api_tokens DROP COLUMN expires_ms;
    DROP TABLE alert_channels;
    DROP TABLE alert_subjects;
    DROP INDEX alert_deliveries_channel;
    DROP INDEX IF EXISTS alert_deliveries_by_alert;
    ALTER TABLE alert_deliveries DROP COLUMN channel_name;
    ALTER TABLE alert_deliveries DROP COLUMN channel_id;
    DROP INDEX budget_alerts_team;
    ALTER TABLE budget_alerts DROP COLUMN ack_key;
    ALTER TABLE budget_alerts DROP COLUMN ack_note;
    ALTER TABLE budget_alerts DROP COLUMN acked_ms;
    ALTER TABLE budget_alerts DROP COLUMN acked_by;
    ALTER TABLE budget_alerts DROP COLUMN details;
    ALTER TABLE budget_alerts DROP COLUMN subject;
    DROP TABLE audit_log;
    ALTER TABLE events DROP COLUMN cache_write_1h_tokens;
    ALTER TABLE events DROP COLUMN web_search_calls;
    ALTER TABLE events DROP COLUMN tool_cost_nanos;
    ALTER TABLE events DROP COLUMN service_tier;
    ALTER TABLE events DROP COLUMN priced_by;
    DROP INDEX events_near_repeat;
    ALTER TABLE events DROP COLUMN near_repeat;
    DROP INDEX events_refused;
    DROP TABLE reporting_calendar;
    DROP TABLE budget_changes;
    DROP TABLE budgets_in_force;
    DROP TABLE allocation_requests;
    DROP TABLE team_policies;
    DROP TABLE policy_changes;
    DROP INDEX leases_unsettled;
    ALTER TABLE leases DROP COLUMN unused_nanos;
    ALTER TABLE leases DROP COLUMN closed_ms;
    ALTER TABLE leases DROP COLUMN settled_ms;
    ALTER TABLE leases DROP COLUMN resolved_by;
    ALTER TABLE leases DROP COLUMN resolution;
    DROP TABLE delivery_gaps;";

/// Creates a token of `role` in `store` and returns its `Authorization` header value.
pub fn bearer(
    store: &dyn crate::store::Store,
    role: crate::store::tokens::Role,
    team: Option<&str>,
) -> String {
    let token = crate::auth::generate_token().unwrap();
    store
        .create_token(
            &crate::store::tokens::NewToken {
                name: format!("test {}", role.as_str()),
                role,
                team: team.map(str::to_string),
                sha256: crate::auth::hash_token(&token),
                expires_ms: None,
            },
            1,
        )
        .unwrap();
    format!("Bearer {token}")
}

/// The smallest configuration with one team: one OpenAI lane, one consumer group and
/// its wallet ($5.00), enforcement on.
pub const ONE_TEAM_CONFIG: &str = "version: '1'
providers:
  targets:
    - {id: mini, provider: openai, model: gpt-4o-mini, secret_key_ref: {env: OPENAI_API_KEY}}
cost_tracking: {enabled: true, wallet_enforcement: true}
consumer_groups:
  - {name: support, api_key: kt_cg_support_prod, wallet_team_id: team_support}
wallets:
  - {team_id: team_support, initial_usd: '5.00'}
";
