//! Lines of OpenAI's organization reports, as documented in the API reference:
//!
//! * Costs (`GET /v1/organization/costs`): each bucket's `results` are
//!   `organization.costs.result` objects with `amount: {value, currency}` (`value` in
//!   dollars, a JSON number; `currency` lower-case, `usd`), and `line_item` /
//!   `project_id` when grouped by them. A line item names the model first
//!   (`"gpt-4o-2024-08-06, input"`); a line item without a comma (`"Image models"`)
//!   or no line item names no model.
//! * Completions usage (`GET /v1/organization/usage/completions`):
//!   `organization.usage.completions.result` objects with `input_tokens` (cached
//!   included), `input_cached_tokens`, `output_tokens`, `num_model_requests`, and
//!   `model`, `project_id`, `api_key_id`, `user_id`, `batch`, `service_tier` when
//!   grouped by them.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::reconcile::amount::{to_nanos, Unit};
use crate::store::reconciliation::{ProviderLine, ReportKind};

pub const PROVIDER: &str = "openai";
const COST_OBJECT: &str = "organization.costs.result";
const USAGE_OBJECT: &str = "organization.usage.completions.result";

#[derive(Deserialize)]
struct Amount<'a> {
    #[serde(borrow)]
    value: Option<&'a RawValue>,
    currency: Option<String>,
}

#[derive(Deserialize)]
struct CostResult<'a> {
    #[serde(borrow)]
    amount: Option<Amount<'a>>,
    line_item: Option<String>,
    project_id: Option<String>,
}

#[derive(Deserialize)]
struct UsageResult {
    #[serde(default)]
    input_tokens: i64,
    input_cached_tokens: Option<i64>,
    #[serde(default)]
    output_tokens: i64,
    #[serde(default)]
    num_model_requests: i64,
    model: Option<String>,
    project_id: Option<String>,
    api_key_id: Option<String>,
    user_id: Option<String>,
    batch: Option<bool>,
    service_tier: Option<String>,
}

#[derive(Deserialize)]
struct Object<'a> {
    object: Option<&'a str>,
}

/// The model a cost line item names: the text before its first comma.
fn model_of_line_item(item: &str) -> &str {
    match item.split_once(',') {
        Some((model, _)) => model.trim(),
        None => "",
    }
}

/// Whether `result` is one of OpenAI's report results.
pub fn recognises(result: &RawValue) -> bool {
    serde_json::from_str::<Object>(result.get())
        .ok()
        .and_then(|o| o.object)
        .is_some_and(|o| o == COST_OBJECT || o == USAGE_OBJECT)
}

/// One result of a bucket starting on `day_ms`, as a report line.
pub fn line(result: &RawValue, day_ms: i64) -> Result<ProviderLine, String> {
    let object = serde_json::from_str::<Object>(result.get())
        .map_err(|e| e.to_string())?
        .object
        .unwrap_or_default();
    match object {
        COST_OBJECT => cost_line(result, day_ms),
        USAGE_OBJECT => usage_line(result, day_ms),
        other => Err(format!(
            "an OpenAI result of object '{other}' is not a cost or completions usage result"
        )),
    }
}

fn cost_line(result: &RawValue, day_ms: i64) -> Result<ProviderLine, String> {
    let r: CostResult = serde_json::from_str(result.get()).map_err(|e| e.to_string())?;
    let item = r.line_item.unwrap_or_default();
    let key = format!("{}|{item}", r.project_id.unwrap_or_default());
    let mut line = ProviderLine::empty(
        PROVIDER,
        ReportKind::Cost,
        day_ms,
        model_of_line_item(&item),
        &key,
    );
    if let Some(amount) = r.amount {
        if let Some(value) = amount.value {
            line.amount_nanos = to_nanos(value.get(), Unit::Dollars)?;
        }
        if let Some(c) = amount.currency {
            line.currency = c.to_ascii_uppercase();
        }
    }
    Ok(line)
}

fn usage_line(result: &RawValue, day_ms: i64) -> Result<ProviderLine, String> {
    let r: UsageResult = serde_json::from_str(result.get()).map_err(|e| e.to_string())?;
    let cached = r.input_cached_tokens.unwrap_or(0);
    let batch = match r.batch {
        Some(true) => "batch",
        Some(false) => "interactive",
        None => "",
    };
    let key = [
        r.project_id.unwrap_or_default(),
        r.api_key_id.unwrap_or_default(),
        r.user_id.unwrap_or_default(),
        batch.to_string(),
        r.service_tier.unwrap_or_default(),
    ]
    .join("|");
    let mut line = ProviderLine::empty(
        PROVIDER,
        ReportKind::Usage,
        day_ms,
        r.model.as_deref().unwrap_or(""),
        &key,
    );
    // `input_tokens` counts the cached ones too; Tollgate's input is the uncached part.
    line.input_tokens = r
        .input_tokens
        .checked_sub(cached)
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            format!(
                "input_cached_tokens {cached} exceeds input_tokens {}",
                r.input_tokens
            )
        })?;
    line.cached_input_tokens = cached;
    line.output_tokens = r.output_tokens;
    line.requests = r.num_model_requests;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn a_cost_result_keeps_its_exact_amount_and_names_its_model() {
        let r = raw(r#"{"object": "organization.costs.result",
            "amount": {"value": 0.30000000000000004, "currency": "usd"},
            "line_item": "gpt-4o-2024-08-06, input", "project_id": "proj_abc"}"#);
        assert!(recognises(&r));
        let l = line(&r, 86_400_000).unwrap();
        assert_eq!(l.kind, ReportKind::Cost);
        assert_eq!(l.amount_nanos, 300_000_000);
        assert_eq!(l.currency, "USD");
        assert_eq!(l.model, "gpt-4o-2024-08-06");
        assert_eq!(l.line, "proj_abc|gpt-4o-2024-08-06, input");
        assert_eq!(l.day_ms, 86_400_000);
        // Ungrouped, or a line item that names no model.
        let r = raw(
            r#"{"object": "organization.costs.result", "amount": {"value": 0.06, "currency": "usd"}, "line_item": null, "project_id": null}"#,
        );
        let l = line(&r, 0).unwrap();
        assert_eq!(
            (l.model.as_str(), l.line.as_str(), l.amount_nanos),
            ("", "|", 60_000_000)
        );
        let r = raw(
            r#"{"object": "organization.costs.result", "amount": {"value": 1, "currency": "usd"}, "line_item": "Image models"}"#,
        );
        assert_eq!(line(&r, 0).unwrap().model, "");
    }

    #[test]
    fn a_usage_result_counts_uncached_input_apart() {
        let r = raw(r#"{"object": "organization.usage.completions.result",
            "input_tokens": 1200, "input_cached_tokens": 200, "output_tokens": 300,
            "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": 4,
            "project_id": null, "user_id": null, "api_key_id": "key_1",
            "model": "gpt-4o-mini-2024-07-18", "batch": false}"#);
        let l = line(&r, 0).unwrap();
        assert_eq!(l.kind, ReportKind::Usage);
        assert_eq!(
            (
                l.input_tokens,
                l.cached_input_tokens,
                l.output_tokens,
                l.requests
            ),
            (1000, 200, 300, 4)
        );
        assert_eq!(l.model, "gpt-4o-mini-2024-07-18");
        assert_eq!(l.line, "|key_1||interactive|");
        let bad = raw(
            r#"{"object": "organization.usage.completions.result", "input_tokens": 1, "input_cached_tokens": 2, "output_tokens": 0, "num_model_requests": 1}"#,
        );
        assert!(line(&bad, 0).is_err());
    }

    #[test]
    fn other_results_are_not_taken_for_costs() {
        let r = raw(r#"{"object": "organization.usage.embeddings.result", "input_tokens": 5}"#);
        assert!(!recognises(&r));
        assert!(line(&r, 0).is_err());
        assert!(!recognises(&raw(r#"{"amount": "1.0"}"#)));
    }
}
