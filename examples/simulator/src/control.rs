//! `x-sim-*` request headers: how a test steers one exchange (cache figures, latency,
//! injected failures) without restarting the simulator. Envoy passes them through.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};

pub const CACHED_TOKENS: &str = "x-sim-cached-tokens";
pub const CACHE_WRITE_TOKENS: &str = "x-sim-cache-write-tokens";
/// Anthropic 1-hour cache writes (reported in `cache_creation` beside the 5-minute
/// ones, which `x-sim-cache-write-tokens` sets).
pub const CACHE_WRITE_1H_TOKENS: &str = "x-sim-cache-write-1h-tokens";
/// Gemini thinking tokens (`thoughtsTokenCount`, billed as output).
pub const THINKING_TOKENS: &str = "x-sim-thinking-tokens";
/// Server-side web searches the provider ran for the request.
pub const WEB_SEARCHES: &str = "x-sim-web-searches";
/// The `service_tier` an OpenAI response reports (default: the requested tier).
pub const SERVICE_TIER: &str = "x-sim-service-tier";
pub const ERROR: &str = "x-sim-error";
pub const LATENCY_MS: &str = "x-sim-latency-ms";
/// Azure OpenAI's content filter: `prompt` refuses the request (400
/// `content_filter`), `completion` cuts the answer (`finish_reason: content_filter`).
pub const CONTENT_FILTER: &str = "x-sim-content-filter";
/// Words in the answer (default 24; the request's output limit still cuts it), so a
/// stream of many chunks can be asked for: 4 words per chunk.
pub const ANSWER_WORDS: &str = "x-sim-answer-words";

/// What `x-sim-content-filter` asks Azure's content filter to catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentFilter {
    Prompt,
    Completion,
}

/// What `x-sim-error` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP error status and the provider's error body.
    Status(StatusCode),
    /// Send part of the answer, then drop the connection without finishing it.
    BrokenStream,
    /// Answer normally but leave out every usage object.
    NoUsage,
    /// Bedrock streams: half the answer, then a `throttlingException` message in the
    /// stream (HTTP status 200, as Bedrock reports errors met mid-stream).
    StreamException,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Control {
    pub cached_tokens: u64,
    pub cache_write_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub web_searches: u64,
    pub thinking_tokens: u64,
    pub service_tier: Option<String>,
    pub fault: Option<Fault>,
    pub latency: Option<Duration>,
    pub answer_words: Option<u64>,
    pub content_filter: Option<ContentFilter>,
}

impl Control {
    /// Reads the control headers; a malformed one is an error (better a clear 400 than a
    /// test silently running without the behaviour it asked for).
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, String> {
        Ok(Control {
            cached_tokens: number(headers, CACHED_TOKENS)?.unwrap_or(0),
            cache_write_tokens: number(headers, CACHE_WRITE_TOKENS)?.unwrap_or(0),
            cache_write_1h_tokens: number(headers, CACHE_WRITE_1H_TOKENS)?.unwrap_or(0),
            web_searches: number(headers, WEB_SEARCHES)?.unwrap_or(0),
            thinking_tokens: number(headers, THINKING_TOKENS)?.unwrap_or(0),
            service_tier: header(headers, SERVICE_TIER)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            fault: header(headers, ERROR).map(parse_fault).transpose()?,
            latency: number(headers, LATENCY_MS)?.map(Duration::from_millis),
            answer_words: number(headers, ANSWER_WORDS)?,
            content_filter: header(headers, CONTENT_FILTER)
                .map(parse_content_filter)
                .transpose()?,
        })
    }

    /// Words in the answer before the request's output limit cuts it.
    pub fn answer_words(&self) -> u64 {
        self.answer_words
            .unwrap_or(crate::usage::DEFAULT_ANSWER_WORDS)
    }

    pub fn wants_usage(&self) -> bool {
        self.fault != Some(Fault::NoUsage)
    }

    pub fn breaks_stream(&self) -> bool {
        self.fault == Some(Fault::BrokenStream)
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("").trim())
}

fn number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, String> {
    header(headers, name)
        .map(|v| {
            v.parse()
                .map_err(|_| format!("{name}: expected a non-negative integer, got {v:?}"))
        })
        .transpose()
}

fn parse_content_filter(value: &str) -> Result<ContentFilter, String> {
    match value {
        "prompt" => Ok(ContentFilter::Prompt),
        "completion" => Ok(ContentFilter::Completion),
        _ => Err(format!(
            "{CONTENT_FILTER}: expected prompt or completion, got {value:?}"
        )),
    }
}

fn parse_fault(value: &str) -> Result<Fault, String> {
    match value {
        "broken-stream" => Ok(Fault::BrokenStream),
        "no-usage" => Ok(Fault::NoUsage),
        "stream-exception" => Ok(Fault::StreamException),
        code => code
            .parse::<u16>()
            .ok()
            .filter(|c| (400..=599).contains(c))
            .and_then(|c| StatusCode::from_u16(c).ok())
            .map(Fault::Status)
            .ok_or_else(|| {
                format!("{ERROR}: expected an HTTP error status (400-599), broken-stream, no-usage or stream-exception, got {value:?}")
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn no_headers_means_a_plain_exchange() {
        let control = Control::from_headers(&HeaderMap::new()).unwrap();
        assert_eq!(control, Control::default());
        assert!(control.wants_usage() && !control.breaks_stream());
    }

    #[test]
    fn reads_every_control_header() {
        let control = Control::from_headers(&headers(&[
            (CACHED_TOKENS, "64"),
            (CACHE_WRITE_TOKENS, "3"),
            (CACHE_WRITE_1H_TOKENS, "5"),
            (WEB_SEARCHES, "2"),
            (THINKING_TOKENS, "9"),
            (SERVICE_TIER, "flex"),
            (ERROR, "529"),
            (LATENCY_MS, "15"),
        ]))
        .unwrap();
        assert_eq!(control.cached_tokens, 64);
        assert_eq!(control.cache_write_tokens, 3);
        assert_eq!(control.thinking_tokens, 9);
        assert_eq!(
            (control.cache_write_1h_tokens, control.web_searches),
            (5, 2)
        );
        assert_eq!(control.service_tier.as_deref(), Some("flex"));
        assert_eq!(
            control.fault,
            Some(Fault::Status(StatusCode::from_u16(529).unwrap()))
        );
        assert_eq!(control.latency, Some(Duration::from_millis(15)));
    }

    #[test]
    fn named_faults() {
        let broken = Control::from_headers(&headers(&[(ERROR, "broken-stream")])).unwrap();
        assert!(broken.breaks_stream());
        let no_usage = Control::from_headers(&headers(&[(ERROR, "no-usage")])).unwrap();
        assert!(!no_usage.wants_usage());
        let filtered = Control::from_headers(&headers(&[(CONTENT_FILTER, "prompt")])).unwrap();
        assert_eq!(filtered.content_filter, Some(ContentFilter::Prompt));
    }

    #[test]
    fn malformed_values_are_rejected() {
        assert!(Control::from_headers(&headers(&[(ERROR, "200")])).is_err());
        assert!(Control::from_headers(&headers(&[(ERROR, "teapot")])).is_err());
        assert!(Control::from_headers(&headers(&[(CACHED_TOKENS, "-1")])).is_err());
        assert!(Control::from_headers(&headers(&[(CONTENT_FILTER, "all")])).is_err());
    }
}
