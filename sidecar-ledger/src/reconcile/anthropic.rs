//! Lines of Anthropic's Admin API reports, as documented in the API reference:
//!
//! * Cost report (`GET /v1/organizations/cost_report`): each bucket (`starting_at`,
//!   `ending_at`, RFC 3339) has `results` with `amount`, a decimal STRING in the
//!   currency's lowest unit (cents: `"123.45"` is $1.2345), `currency` (`USD`), and,
//!   when grouped by description, `model`, `cost_type` (`tokens`, `web_search`,
//!   `code_execution`, ...), `token_type`, `service_tier`, `context_window` and
//!   `description`; `workspace_id` when grouped by workspace. Non-token costs (web
//!   search) name no model.
//! * Messages usage report (`GET /v1/organizations/usage_report/messages`): results
//!   with `uncached_input_tokens`, `cache_read_input_tokens`, `cache_creation`
//!   (`ephemeral_5m_input_tokens`, `ephemeral_1h_input_tokens`), `output_tokens`,
//!   `server_tool_use.web_search_requests`, and the grouping fields (`model`,
//!   `workspace_id`, `api_key_id`, `service_tier`, `context_window`).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::reconcile::amount::{to_nanos, Unit};
use crate::store::reconciliation::{ProviderLine, ReportKind};

pub const PROVIDER: &str = "anthropic";

#[derive(Deserialize)]
struct CostResult {
    amount: String,
    currency: Option<String>,
    model: Option<String>,
    description: Option<String>,
    cost_type: Option<String>,
    token_type: Option<String>,
    service_tier: Option<String>,
    context_window: Option<String>,
    workspace_id: Option<String>,
    inference_geo: Option<String>,
}

#[derive(Deserialize, Default)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_5m_input_tokens: i64,
    #[serde(default)]
    ephemeral_1h_input_tokens: i64,
}

#[derive(Deserialize, Default)]
struct ServerToolUse {
    #[serde(default)]
    web_search_requests: i64,
}

#[derive(Deserialize)]
struct UsageResult {
    uncached_input_tokens: i64,
    #[serde(default)]
    cache_read_input_tokens: i64,
    #[serde(default)]
    cache_creation: Option<CacheCreation>,
    #[serde(default)]
    output_tokens: i64,
    #[serde(default)]
    server_tool_use: Option<ServerToolUse>,
    model: Option<String>,
    workspace_id: Option<String>,
    api_key_id: Option<String>,
    service_tier: Option<String>,
    context_window: Option<String>,
    inference_geo: Option<String>,
}

#[derive(Deserialize)]
struct Shape {
    amount: Option<serde::de::IgnoredAny>,
    uncached_input_tokens: Option<serde::de::IgnoredAny>,
}

fn shape(result: &RawValue) -> Option<ReportKind> {
    let s: Shape = serde_json::from_str(result.get()).ok()?;
    match (s.amount, s.uncached_input_tokens) {
        (Some(_), None) => Some(ReportKind::Cost),
        (None, Some(_)) => Some(ReportKind::Usage),
        _ => None,
    }
}

/// Whether `result` is one of Anthropic's report results.
pub fn recognises(result: &RawValue) -> bool {
    shape(result).is_some()
}

/// One result of a bucket starting on `day_ms`, as a report line.
pub fn line(result: &RawValue, day_ms: i64) -> Result<ProviderLine, String> {
    match shape(result) {
        Some(ReportKind::Cost) => cost_line(result, day_ms),
        Some(ReportKind::Usage) => usage_line(result, day_ms),
        None => Err("an Anthropic result has neither `amount` (cost report) nor `uncached_input_tokens` (usage report)".into()),
    }
}

fn text(v: Option<String>) -> String {
    v.unwrap_or_default()
}

fn cost_line(result: &RawValue, day_ms: i64) -> Result<ProviderLine, String> {
    let r: CostResult = serde_json::from_str(result.get()).map_err(|e| e.to_string())?;
    let key = [
        text(r.workspace_id),
        text(r.description),
        text(r.cost_type),
        text(r.token_type),
        text(r.service_tier),
        text(r.context_window),
        text(r.inference_geo),
    ]
    .join("|");
    let mut line = ProviderLine::empty(
        PROVIDER,
        ReportKind::Cost,
        day_ms,
        r.model.as_deref().unwrap_or(""),
        &key,
    );
    line.amount_nanos = to_nanos(&r.amount, Unit::Cents)?;
    if let Some(c) = r.currency {
        line.currency = c.to_ascii_uppercase();
    }
    Ok(line)
}

fn usage_line(result: &RawValue, day_ms: i64) -> Result<ProviderLine, String> {
    let r: UsageResult = serde_json::from_str(result.get()).map_err(|e| e.to_string())?;
    let key = [
        text(r.workspace_id),
        text(r.api_key_id),
        text(r.service_tier),
        text(r.context_window),
        text(r.inference_geo),
    ]
    .join("|");
    let mut line = ProviderLine::empty(
        PROVIDER,
        ReportKind::Usage,
        day_ms,
        r.model.as_deref().unwrap_or(""),
        &key,
    );
    let writes = r.cache_creation.unwrap_or_default();
    line.input_tokens = r.uncached_input_tokens;
    line.cached_input_tokens = r.cache_read_input_tokens;
    line.cache_write_tokens = writes.ephemeral_5m_input_tokens;
    line.cache_write_1h_tokens = writes.ephemeral_1h_input_tokens;
    line.output_tokens = r.output_tokens;
    line.web_search_calls = r.server_tool_use.unwrap_or_default().web_search_requests;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn a_cost_result_is_read_in_cents_exactly() {
        let r = raw(
            r#"{"amount": "123.78912", "context_window": "0-200k", "cost_type": "tokens",
            "currency": "USD", "description": "Claude Sonnet 4 Usage - Input Tokens",
            "model": "claude-sonnet-4-20250514", "service_tier": "standard",
            "token_type": "uncached_input_tokens", "workspace_id": "wrkspc_01"}"#,
        );
        assert!(recognises(&r));
        let l = line(&r, 0).unwrap();
        assert_eq!(l.kind, ReportKind::Cost);
        // 123.78912 cents = $1.2378912.
        assert_eq!(l.amount_nanos, 1_237_891_200);
        assert_eq!(l.model, "claude-sonnet-4-20250514");
        assert_eq!(
            l.line,
            "wrkspc_01|Claude Sonnet 4 Usage - Input Tokens|tokens|uncached_input_tokens|standard|0-200k|"
        );
        // Web search costs name no model.
        let r = raw(
            r#"{"amount": "1000", "currency": "USD", "cost_type": "web_search", "model": null, "description": "Web Search"}"#,
        );
        let l = line(&r, 0).unwrap();
        assert_eq!((l.model.as_str(), l.amount_nanos), ("", 10_000_000_000));
        // An amount must be a decimal.
        assert!(line(&raw(r#"{"amount": "12,5", "currency": "USD"}"#), 0).is_err());
    }

    #[test]
    fn a_usage_result_keeps_each_token_kind() {
        let r = raw(
            r#"{"uncached_input_tokens": 1500, "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500},
            "cache_read_input_tokens": 200, "output_tokens": 500, "server_tool_use": {"web_search_requests": 10},
            "api_key_id": "apikey_01", "workspace_id": "wrkspc_01", "model": "claude-sonnet-4-20250514",
            "service_tier": "standard", "context_window": "0-200k"}"#,
        );
        let l = line(&r, 0).unwrap();
        assert_eq!(l.kind, ReportKind::Usage);
        assert_eq!(
            (
                l.input_tokens,
                l.cached_input_tokens,
                l.cache_write_tokens,
                l.cache_write_1h_tokens,
                l.output_tokens,
                l.web_search_calls
            ),
            (1500, 200, 500, 1000, 500, 10)
        );
        assert_eq!(l.line, "wrkspc_01|apikey_01|standard|0-200k|");
        assert!(!recognises(&raw(
            r#"{"object": "organization.costs.result"}"#
        )));
    }
}
