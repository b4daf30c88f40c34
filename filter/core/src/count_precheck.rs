//! A second look before a wallet refusal: Anthropic's free token count.
//!
//! A reservation bounds a request's input by its body's bytes (one token per byte, see
//! [`crate::budget::reservation_nanos`]): safe, but several times the real prompt. When
//! a wallet is nearly empty that bound refuses requests the wallet could pay for. So
//! when a request to an Anthropic lane would be refused on the byte bound — and only
//! then: no other request makes an extra call — the filter asks the lane's
//! `POST /v1/messages/count_tokens` (free at Anthropic, same credential and cluster)
//! and checks the wallet again with the counted input plus [`input_bound`]'s margin.
//! A count that fails, times out or does not lower the reservation leaves the refusal
//! as it was (fail closed).
//!
//! Only Anthropic-format requests on a native Anthropic lane are counted: the count
//! then sees exactly the body the lane would be sent. Requests translated from the
//! OpenAI format keep the byte bound.

use serde_json::{Map, Value};

use crate::config::filter_config::LaneEntry;
use crate::config::schema::ProviderKind;
use crate::event::ApiKind;

/// Anthropic documents the count as an estimate that may differ slightly from the input
/// it bills, so the counted figure is raised by this percentage (rounded up)…
pub const MARGIN_PERCENT: u64 = 2;
/// …and by at least this many tokens (small prompts: a few tokens of system framing).
pub const MARGIN_MIN_TOKENS: u64 = 16;

/// How long a request waits for the count before its refusal stands.
pub const COUNT_TIMEOUT_MS: u64 = 5_000;

/// Fields of a Messages body that `count_tokens` accepts and that change the count.
/// Everything else (`max_tokens`, `stream`, `temperature`, `metadata`…) is dropped:
/// the endpoint rejects fields it does not know.
const COUNTED_FIELDS: &[&str] = &[
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "mcp_servers",
];

/// The input bound, in tokens, reserved for a prompt Anthropic counted at `counted`.
pub fn input_bound(counted: u64) -> u64 {
    let margin = (counted.saturating_mul(MARGIN_PERCENT))
        .div_ceil(100)
        .max(MARGIN_MIN_TOKENS);
    counted.saturating_add(margin)
}

/// Whether a request of `api` on `lane` may be counted before it is refused.
pub fn applies(enabled: bool, api: ApiKind, lane: &LaneEntry) -> bool {
    enabled
        && api == ApiKind::Messages
        && lane.provider == ProviderKind::Anthropic
        && lane.azure.is_none()
        && !lane.fixed_cost
}

/// The `count_tokens` body for a Messages request served by `model`.
pub fn count_body(body: &Map<String, Value>, model: &str) -> Vec<u8> {
    let mut out = Map::new();
    out.insert("model".into(), Value::String(model.to_string()));
    for field in COUNTED_FIELDS {
        if let Some(v) = body.get(*field) {
            out.insert((*field).to_string(), v.clone());
        }
    }
    serde_json::to_vec(&Value::Object(out)).unwrap_or_default()
}

/// The counted input tokens in a `count_tokens` answer; `None` for anything but a 200
/// carrying `input_tokens`.
pub fn counted_tokens(status: Option<u16>, body: Option<&[u8]>) -> Option<u64> {
    if status != Some(200) {
        return None;
    }
    let v: Value = serde_json::from_slice(body?).ok()?;
    v.get("input_tokens")?.as_u64()
}

/// The reservation to check the wallet with again, given the one refused and the one
/// computed from the count; `None` when the refusal stands (no count, or a count that
/// does not lower the reservation).
pub fn recheck(refused: i64, counted: Option<i64>) -> Option<i64> {
    counted.filter(|&c| c < refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema::LaneMode;
    use serde_json::json;

    fn lane(provider: ProviderKind) -> LaneEntry {
        LaneEntry {
            id: "l".into(),
            provider,
            model: "claude-sonnet-4-5".into(),
            credential_env: "K".into(),
            cluster: "anthropic".into(),
            authority: "api.anthropic.com".into(),
            max_output_tokens: 1024,
            rpm_limit: None,
            tpm_limit: None,
            weight: 1,
            priority: 0,
            premium: false,
            mode: LaneMode::Chat,
            base_path: None,
            fixed_cost: false,
            azure: None,
            aws: None,
        }
    }

    #[test]
    fn the_margin_is_two_percent_and_at_least_sixteen_tokens() {
        assert_eq!(input_bound(0), 16);
        assert_eq!(input_bound(100), 116);
        assert_eq!(input_bound(800), 816);
        assert_eq!(input_bound(801), 818); // 16.02 rounds up to 17
        assert_eq!(input_bound(10_000), 10_200);
        assert_eq!(input_bound(u64::MAX), u64::MAX);
    }

    #[test]
    fn only_anthropic_format_requests_on_native_anthropic_lanes_are_counted() {
        let anthropic = lane(ProviderKind::Anthropic);
        assert!(applies(true, ApiKind::Messages, &anthropic));
        assert!(!applies(false, ApiKind::Messages, &anthropic));
        assert!(!applies(true, ApiKind::ChatCompletions, &anthropic));
        assert!(!applies(true, ApiKind::CountTokens, &anthropic));
        assert!(!applies(
            true,
            ApiKind::Messages,
            &lane(ProviderKind::Openai)
        ));
        let fixed = LaneEntry {
            fixed_cost: true,
            ..anthropic
        };
        assert!(!applies(true, ApiKind::Messages, &fixed));
    }

    #[test]
    fn the_count_body_keeps_only_what_count_tokens_accepts() {
        let body = json!({
            "model": "claude-alias",
            "max_tokens": 100,
            "stream": true,
            "temperature": 0.2,
            "system": "be brief",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "t", "input_schema": {"type": "object"}}],
            "metadata": {"user_id": "u"}
        });
        let out = count_body(body.as_object().unwrap(), "claude-sonnet-4-5");
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            out,
            json!({
                "model": "claude-sonnet-4-5",
                "system": "be brief",
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"name": "t", "input_schema": {"type": "object"}}]
            })
        );
    }

    #[test]
    fn only_a_200_with_input_tokens_is_a_count() {
        let ok = br#"{"input_tokens": 42}"#.as_slice();
        assert_eq!(counted_tokens(Some(200), Some(ok)), Some(42));
        assert_eq!(counted_tokens(Some(500), Some(ok)), None);
        assert_eq!(counted_tokens(None, Some(ok)), None);
        assert_eq!(counted_tokens(Some(200), None), None);
        assert_eq!(counted_tokens(Some(200), Some(b"{}")), None);
        assert_eq!(counted_tokens(Some(200), Some(b"not json")), None);
        assert_eq!(
            counted_tokens(Some(200), Some(br#"{"input_tokens": -3}"#)),
            None
        );
    }

    #[test]
    fn the_refusal_stands_unless_the_count_lowers_the_reservation() {
        assert_eq!(recheck(1_000, Some(400)), Some(400));
        assert_eq!(recheck(1_000, Some(1_000)), None);
        assert_eq!(recheck(1_000, Some(2_000)), None);
        assert_eq!(recheck(1_000, None), None);
    }
}
