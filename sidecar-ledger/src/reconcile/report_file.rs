//! A provider's report as a file: one page of the API's answer (`{"data": [buckets],
//! "has_more", "next_page"}`) or a JSON array of such pages, in the provider's documented
//! shape (see `openai` and `anthropic`). Buckets are placed on the UTC day they start
//! (OpenAI `start_time`, Unix seconds; Anthropic `starting_at`, RFC 3339), and lines of
//! the same key in several buckets of one day (hourly or minute buckets) are summed.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::query::{parse_time, DAY_MS};
use crate::reconcile::{anthropic, openai};
use crate::store::reconciliation::{ProviderLine, ReportKind};

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    data: Vec<Bucket<'a>>,
}

#[derive(Deserialize)]
struct Bucket<'a> {
    /// OpenAI: Unix seconds.
    start_time: Option<i64>,
    /// Anthropic: RFC 3339.
    starting_at: Option<String>,
    #[serde(borrow, default)]
    results: Vec<&'a RawValue>,
}

/// Which provider's report a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Openai,
    Anthropic,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Openai => openai::PROVIDER,
            Provider::Anthropic => anthropic::PROVIDER,
        }
    }
}

fn bucket_day(b: &Bucket<'_>, provider: Provider) -> Result<i64, String> {
    let start_ms = match (provider, b.start_time, &b.starting_at) {
        (Provider::Openai, Some(s), _) => s
            .checked_mul(1000)
            .ok_or_else(|| format!("start_time {s} is out of range"))?,
        (Provider::Anthropic, _, Some(at)) => {
            parse_time(at).map_err(|e| format!("starting_at '{at}' {e}"))?
        }
        (Provider::Openai, ..) => return Err("an OpenAI bucket has no start_time".into()),
        (Provider::Anthropic, ..) => return Err("an Anthropic bucket has no starting_at".into()),
    };
    Ok(start_ms.div_euclid(DAY_MS) * DAY_MS)
}

/// The report's lines, one per key, in key order. Refuses a file that is not one of
/// `provider`'s reports, or has an amount in a currency other than USD.
pub fn parse(provider: Provider, text: &str) -> Result<Vec<ProviderLine>, String> {
    let trimmed = text.trim_start();
    let pages: Vec<Page> = if trimmed.starts_with('[') {
        serde_json::from_str(trimmed)
    } else {
        serde_json::from_str(trimmed).map(|p| vec![p])
    }
    .map_err(|e| {
        format!(
            "not a {} report page (`{{\"data\": [...]}}`): {e}",
            provider.name()
        )
    })?;
    let mut lines: BTreeMap<(ReportKind, i64, String, String), ProviderLine> = BTreeMap::new();
    for (p, page) in pages.iter().enumerate() {
        for (b, bucket) in page.data.iter().enumerate() {
            let at = |e: String| format!("page {p}, bucket {b}: {e}");
            let day_ms = bucket_day(bucket, provider).map_err(at)?;
            for (r, result) in bucket.results.iter().enumerate() {
                let at = |e: String| format!("page {p}, bucket {b}, result {r}: {e}");
                let (recognised, line) = match provider {
                    Provider::Openai => (openai::recognises(result), openai::line(result, day_ms)),
                    Provider::Anthropic => (
                        anthropic::recognises(result),
                        anthropic::line(result, day_ms),
                    ),
                };
                if !recognised {
                    return Err(at(format!(
                        "not a result of {}'s cost or usage report",
                        provider.name()
                    )));
                }
                let line = line.map_err(at)?;
                if line.currency != "USD" {
                    return Err(at(format!(
                        "amounts in {} cannot be reconciled with costs in USD",
                        line.currency
                    )));
                }
                let key = (
                    line.kind,
                    line.day_ms,
                    line.model.clone(),
                    line.line.clone(),
                );
                match lines.get_mut(&key) {
                    Some(seen) => seen
                        .checked_absorb(&line)
                        .ok_or_else(|| at("sums overflow 64 bits".into()))?,
                    None => {
                        lines.insert(key, line);
                    }
                }
            }
        }
    }
    Ok(lines.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    #[test]
    fn an_openai_costs_page_is_read_per_day_and_line() {
        let text = r#"{"object": "page", "data": [
            {"object": "bucket", "start_time": 1793491200, "end_time": 1793577600, "results": [
                {"object": "organization.costs.result", "amount": {"value": 0.0125, "currency": "usd"}, "line_item": "gpt-4o-2024-08-06, input", "project_id": null},
                {"object": "organization.costs.result", "amount": {"value": 0.05, "currency": "usd"}, "line_item": "gpt-4o-2024-08-06, output", "project_id": null}]},
            {"object": "bucket", "start_time": 1793577600, "end_time": 1793664000, "results": []}],
            "has_more": false, "next_page": null}"#;
        let lines = parse(Provider::Openai, text).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines
            .iter()
            .all(|l| l.day_ms == D0 && l.provider == "openai"));
        assert_eq!(
            lines.iter().map(|l| l.amount_nanos).sum::<i64>(),
            62_500_000
        );
        // The same page twice (as an array of pages) sums each line.
        let twice = format!("[{text}, {text}]");
        let lines = parse(Provider::Openai, &twice).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines.iter().map(|l| l.amount_nanos).sum::<i64>(),
            125_000_000
        );
    }

    #[test]
    fn anthropic_hourly_usage_buckets_sum_into_their_day() {
        let bucket = |hour: u32, n: i64| {
            format!(
                r#"{{"starting_at": "2026-11-01T{hour:02}:00:00Z", "ending_at": "2026-11-01T{:02}:00:00Z", "results": [
                {{"uncached_input_tokens": {n}, "cache_read_input_tokens": 0, "cache_creation": {{"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}},
                  "output_tokens": 1, "server_tool_use": {{"web_search_requests": 0}}, "model": "claude-3-5-haiku-20241022",
                  "workspace_id": null, "api_key_id": null, "service_tier": null, "context_window": null}}]}}"#,
                hour + 1
            )
        };
        let text = format!(
            r#"{{"data": [{}, {}], "has_more": false, "next_page": null}}"#,
            bucket(3, 100),
            bucket(4, 20)
        );
        let lines = parse(Provider::Anthropic, &text).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(
            (
                lines[0].day_ms,
                lines[0].input_tokens,
                lines[0].output_tokens
            ),
            (D0, 120, 2)
        );
    }

    #[test]
    fn the_wrong_provider_or_currency_is_refused() {
        let openai = r#"{"data": [{"start_time": 1793491200, "results": [{"object": "organization.costs.result", "amount": {"value": 1, "currency": "usd"}}]}]}"#;
        let err = parse(Provider::Anthropic, openai).unwrap_err();
        assert!(err.contains("starting_at"), "{err}");
        let anthropic = r#"{"data": [{"starting_at": "2026-11-01T00:00:00Z", "start_time": 1793491200, "results": [{"amount": "1", "currency": "USD"}]}]}"#;
        let err = parse(Provider::Openai, anthropic).unwrap_err();
        assert!(err.contains("not a result of openai"), "{err}");
        let eur = r#"{"data": [{"starting_at": "2026-11-01T00:00:00Z", "results": [{"amount": "1", "currency": "EUR"}]}]}"#;
        assert!(parse(Provider::Anthropic, eur).unwrap_err().contains("EUR"));
        assert!(parse(Provider::Openai, "[]").unwrap().is_empty());
        assert!(parse(Provider::Openai, "{\"object\": \"list\"}").is_err());
    }
}
