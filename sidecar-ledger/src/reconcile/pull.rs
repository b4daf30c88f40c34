//! Fetching a provider's cost and usage reports for a period with an admin key, page by
//! page, as the documented endpoints serve them:
//!
//! | provider | report | request |
//! |---|---|---|
//! | OpenAI | costs | `GET /v1/organization/costs?start_time&end_time&bucket_width=1d&group_by=line_item&limit=180` |
//! | OpenAI | usage | `GET /v1/organization/usage/completions?start_time&end_time&bucket_width=1d&group_by=model&limit=31` |
//! | Anthropic | costs | `GET /v1/organizations/cost_report?starting_at&ending_at&group_by[]=description&limit=31` |
//! | Anthropic | usage | `GET /v1/organizations/usage_report/messages?starting_at&ending_at&bucket_width=1d&group_by[]=model&limit=31` |
//!
//! Pages follow `next_page` while `has_more`. The key is sent as OpenAI's
//! `Authorization: Bearer` or Anthropic's `x-api-key` (with `anthropic-version`) and is
//! never logged or stored. The pages come back as one JSON array, the file format
//! `report_file` reads.

use std::time::Duration;

use serde::Deserialize;

use crate::clock::format_instant;
use crate::reconcile::report_file::Provider;

/// At most this many pages per report (a year of daily buckets is 13 pages of 31).
const MAX_PAGES: usize = 100;

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    has_more: bool,
    next_page: Option<String>,
}

/// The two reports' paths and first queries for `[from_ms, to_ms)`.
fn requests(provider: Provider, from_ms: i64, to_ms: i64) -> [(&'static str, String); 2] {
    match provider {
        Provider::Openai => {
            let (s, e) = (from_ms / 1000, to_ms / 1000);
            [
                (
                    "/v1/organization/costs",
                    format!(
                        "start_time={s}&end_time={e}&bucket_width=1d&group_by=line_item&limit=180"
                    ),
                ),
                (
                    "/v1/organization/usage/completions",
                    format!("start_time={s}&end_time={e}&bucket_width=1d&group_by=model&limit=31"),
                ),
            ]
        }
        Provider::Anthropic => {
            let (s, e) = (format_instant(from_ms), format_instant(to_ms));
            [
                (
                    "/v1/organizations/cost_report",
                    format!("starting_at={s}&ending_at={e}&group_by[]=description&limit=31"),
                ),
                (
                    "/v1/organizations/usage_report/messages",
                    format!(
                        "starting_at={s}&ending_at={e}&bucket_width=1d&group_by[]=model&limit=31"
                    ),
                ),
            ]
        }
    }
}

/// The query's value for `next_page` (percent-encoded: page cursors are base64).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Both reports of `provider` for `[from_ms, to_ms)` from `base` (e.g.
/// `https://api.openai.com`), each as a JSON array of its pages.
pub fn pull(
    provider: Provider,
    base: &str,
    admin_key: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(String, String)>, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let base = base.trim_end_matches('/');
    let mut out = Vec::new();
    for (path, query) in requests(provider, from_ms, to_ms) {
        let mut pages: Vec<String> = Vec::new();
        let mut page: Option<String> = None;
        loop {
            if pages.len() == MAX_PAGES {
                return Err(format!("{path}: more than {MAX_PAGES} pages"));
            }
            let url = match &page {
                Some(p) => format!("{base}{path}?{query}&page={}", encode(p)),
                None => format!("{base}{path}?{query}"),
            };
            let request = agent.get(&url);
            let request = match provider {
                Provider::Openai => request.header("Authorization", format!("Bearer {admin_key}")),
                Provider::Anthropic => request
                    .header("x-api-key", admin_key)
                    .header("anthropic-version", "2023-06-01"),
            };
            let mut resp = request.call().map_err(|e| format!("{base}{path}: {e}"))?;
            let status = resp.status();
            let body = resp
                .body_mut()
                .read_to_string()
                .map_err(|e| format!("{base}{path}: {e}"))?;
            if !status.is_success() {
                let shown: String = body.chars().take(300).collect();
                return Err(format!("{base}{path} answered {status}: {shown}"));
            }
            let paging: Paging =
                serde_json::from_str(&body).map_err(|e| format!("{base}{path}: {e}"))?;
            pages.push(body);
            match paging.next_page {
                Some(next) if paging.has_more => page = Some(next),
                _ => break,
            }
        }
        out.push((path.to_string(), format!("[{}]", pages.join(","))));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// Each request the test server saw: its target and its headers (lower case).
    type Seen = Vec<(String, Vec<String>)>;

    /// A one-thread HTTP server answering each request from `answer(path_and_query,
    /// headers)`; returns its base URL and the requests it saw.
    fn serve(n: usize, answer: fn(&str) -> String) -> (String, std::thread::JoinHandle<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for stream in listener.incoming().take(n) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                let target = first.split(' ').nth(1).unwrap().to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    headers.push(h.trim().to_ascii_lowercase());
                }
                let body = answer(&target);
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
                seen.push((target, headers));
            }
            seen
        });
        (base, handle)
    }

    #[test]
    fn anthropic_reports_are_pulled_page_by_page_with_the_admin_key() {
        let (base, handle) = serve(3, |target| {
            if target.contains("cost_report") && !target.contains("page=") {
                r#"{"data": [{"starting_at": "2026-11-01T00:00:00Z", "ending_at": "2026-11-02T00:00:00Z", "results": [{"amount": "10", "currency": "USD"}]}], "has_more": true, "next_page": "page_MjAy/+="}"#.into()
            } else if target.contains("cost_report") {
                r#"{"data": [{"starting_at": "2026-11-02T00:00:00Z", "ending_at": "2026-11-03T00:00:00Z", "results": [{"amount": "5", "currency": "USD"}]}], "has_more": false, "next_page": null}"#.into()
            } else {
                r#"{"data": [], "has_more": false, "next_page": null}"#.into()
            }
        });
        let got = pull(
            Provider::Anthropic,
            &base,
            "sk-ant-admin-test",
            1_793_491_200_000,
            1_793_664_000_000,
        )
        .unwrap();
        let seen = handle.join().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "/v1/organizations/cost_report");
        let lines = crate::reconcile::report_file::parse(Provider::Anthropic, &got[0].1).unwrap();
        assert_eq!(
            lines.iter().map(|l| l.amount_nanos).sum::<i64>(),
            150_000_000
        );
        assert!(seen[0].0.starts_with("/v1/organizations/cost_report?starting_at=2026-11-01T00:00:00Z&ending_at=2026-11-03T00:00:00Z"), "{:?}", seen[0].0);
        assert!(
            seen[1].0.ends_with("&page=page_MjAy%2F%2B%3D"),
            "{:?}",
            seen[1].0
        );
        assert!(seen[2]
            .0
            .starts_with("/v1/organizations/usage_report/messages?"));
        for (_, headers) in &seen {
            assert!(headers.contains(&"x-api-key: sk-ant-admin-test".to_string()));
            assert!(headers.contains(&"anthropic-version: 2023-06-01".to_string()));
        }
    }

    #[test]
    fn openai_reports_use_unix_seconds_and_a_bearer_key() {
        let (base, handle) = serve(2, |_| {
            r#"{"object": "page", "data": [], "has_more": false, "next_page": null}"#.into()
        });
        let got = pull(
            Provider::Openai,
            &base,
            "sk-admin-test",
            1_793_491_200_000,
            1_793_577_600_000,
        )
        .unwrap();
        let seen = handle.join().unwrap();
        assert_eq!(
            got.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(),
            vec![
                "/v1/organization/costs",
                "/v1/organization/usage/completions"
            ]
        );
        assert!(
            seen[0]
                .0
                .contains("start_time=1793491200&end_time=1793577600"),
            "{:?}",
            seen[0].0
        );
        assert!(seen[0]
            .1
            .contains(&"authorization: bearer sk-admin-test".to_string()));
    }
}
