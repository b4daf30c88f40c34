//! State shared by every request: configuration, counters, and the record of what
//! reached the simulator (read back through `/_sim/last` and `/_sim/stats`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::HeaderMap;

use crate::cli::Cli;

/// The credentials each provider API accepts.
#[derive(Debug, Clone)]
pub struct Keys {
    pub openai: String,
    pub anthropic: String,
    /// Azure OpenAI: the resource key (`api-key`) and the Entra ID token (bearer).
    pub azure: String,
    pub azure_entra: String,
    /// The Gemini API key (`x-goog-api-key`).
    pub gemini: String,
    /// The Vertex AI access token (`Authorization: Bearer`).
    pub vertex: String,
    /// The AWS credentials Bedrock requests must be signed with.
    pub aws_access_key_id: String,
    pub aws_secret_access_key: String,
}

/// The last provider request, kept raw and only sanitised when read so that recording
/// costs a reference-count bump and a header-map clone per request.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: &'static str,
    /// The path and query as sent, where the route has parameters (Azure's
    /// deployment and `api-version`).
    pub target: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
struct Record {
    last: Option<RecordedRequest>,
    requests_by_path: BTreeMap<&'static str, u64>,
}

pub struct Sim {
    pub keys: Keys,
    pub default_latency: Duration,
    error_rate: f64,
    /// Provider requests past authentication; drives the deterministic `--error-rate`.
    admitted: AtomicU64,
    /// Makes ids unique within this process; `id_stamp` makes them unique across runs.
    next_id: AtomicU64,
    id_stamp: u64,
    record: Mutex<Record>,
}

impl Sim {
    pub fn new(cli: &Cli) -> Self {
        Sim {
            keys: Keys {
                openai: cli.openai_key.clone(),
                anthropic: cli.anthropic_key.clone(),
                azure: cli.azure_key.clone(),
                azure_entra: cli.azure_entra_token.clone(),
                gemini: cli.gemini_key.clone(),
                vertex: cli.vertex_token.clone(),
                aws_access_key_id: cli.aws_access_key_id.clone(),
                aws_secret_access_key: cli.aws_secret_access_key.clone(),
            },
            default_latency: cli.latency(),
            error_rate: cli.error_rate,
            admitted: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            id_stamp: unix_seconds(),
            record: Mutex::new(Record::default()),
        }
    }

    /// A fresh identifier such as `chatcmpl-sim67a1b2c3000001`.
    pub fn new_id(&self, prefix: &str) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{prefix}sim{:x}{n:06x}", self.id_stamp)
    }

    /// Counts an admitted request and says whether `--error-rate` picks it for a 500.
    /// Request n fails when floor(n * rate) > floor((n - 1) * rate): exactly
    /// floor(N * rate) of the first N requests fail, spread evenly.
    pub fn error_rate_picks_next(&self) -> bool {
        if self.error_rate <= 0.0 {
            return false;
        }
        let n = self.admitted.fetch_add(1, Ordering::Relaxed) + 1;
        (n as f64 * self.error_rate).floor() > ((n - 1) as f64 * self.error_rate).floor()
    }

    pub fn record(
        &self,
        path: &'static str,
        target: Option<&str>,
        headers: &HeaderMap,
        body: &Bytes,
    ) {
        let request = RecordedRequest {
            path,
            target: target.map(str::to_owned),
            headers: headers.clone(),
            body: body.clone(),
        };
        let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        *record.requests_by_path.entry(path).or_default() += 1;
        record.last = Some(request);
    }

    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last
            .clone()
    }

    pub fn requests_by_path(&self) -> BTreeMap<&'static str, u64> {
        self.record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .requests_by_path
            .clone()
    }
}

pub fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn sim(args: &[&str]) -> Sim {
        let cli = Cli::try_parse_from(["tollgate-sim"].iter().chain(args)).unwrap();
        Sim::new(&cli)
    }

    fn failures(sim: &Sim, requests: usize) -> Vec<bool> {
        (0..requests).map(|_| sim.error_rate_picks_next()).collect()
    }

    #[test]
    fn error_rate_is_exact_and_evenly_spread() {
        let picks = failures(&sim(&["--error-rate", "0.25"]), 8);
        assert_eq!(
            picks,
            [false, false, false, true, false, false, false, true]
        );
        assert_eq!(
            failures(&sim(&["--error-rate", "0.1"]), 100)
                .iter()
                .filter(|p| **p)
                .count(),
            10
        );
        assert!(failures(&sim(&["--error-rate", "1"]), 5).iter().all(|p| *p));
        assert!(failures(&sim(&[]), 5).iter().all(|p| !*p));
    }

    #[test]
    fn ids_are_unique_and_prefixed() {
        let sim = sim(&[]);
        let (a, b) = (sim.new_id("msg_"), sim.new_id("msg_"));
        assert!(a.starts_with("msg_sim") && a != b);
    }
}
