//! `tollgate-ledger drain-envoy`: stops an Envoy losing no charge. Run it before the
//! Envoy process is signalled (Kubernetes `preStop`, `make run`'s own stop).
//!
//! Envoy exits within milliseconds of SIGTERM, without draining its listeners or
//! giving the filter's VMs time to send what they hold. So the drain happens first,
//! through Envoy's admin interface:
//!
//! 1. `POST /healthcheck/fail` (load balancers that check health stop sending) and
//!    `POST /drain_listeners` (no new connections; open ones are closed as their
//!    requests end, over Envoy's `--drain-time-s`).
//! 2. Wait until no request is in flight on any listener, every record the workers
//!    handed to the flusher has reached the ledger (`tollgate.events_enqueued` =
//!    `events_sent` + `events_dropped`, nothing buffered), and every lease this
//!    instance drew on is closed (`tollgate.leases_opened` = `leases_closed`: an idle
//!    lease closes within `IDLE_CLOSE_MS`, handing its unused credit back) — held for
//!    a little longer than the filter's longest tick, since workers hand events and
//!    counters over on their tick.
//!
//! Exit status 0 once drained; 1 if `--timeout-s` passed first (what was still
//! pending is printed; the caller may stop Envoy anyway).

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Deserialize;

#[derive(clap::Args, Debug)]
pub struct DrainEnvoyArgs {
    /// Envoy's admin address, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:9901")]
    pub admin: String,
    /// Give up after this many seconds (keep it below the pod's
    /// terminationGracePeriodSeconds).
    #[arg(long, default_value_t = 60)]
    pub timeout_s: u64,
}

/// How long the drained state must hold: above the filter's longest tick (1 s).
const QUIET_FOR: Duration = Duration::from_millis(1_500);
const POLL_EVERY: Duration = Duration::from_millis(100);

/// What is still on its way, read from Envoy's stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pending {
    /// Requests in flight on the proxy's listeners (the admin's own excluded).
    pub requests: u64,
    /// Records handed to the flusher and not yet acknowledged by the ledger.
    pub records: i64,
    /// Records held in the flusher's buffer.
    pub buffered: u64,
    /// Leases drawn on and not closed.
    pub leases: i64,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        *self == Pending::default()
    }

    /// From Envoy's `/stats?format=json` entries (name → value).
    pub fn from_stats(stats: &HashMap<String, u64>) -> Pending {
        let get = |name: &str| stats.get(name).copied().unwrap_or(0);
        let counter = |name: &str| get(&format!("wasmcustom.tollgate.{name}")) as i64;
        let requests = stats
            .iter()
            .filter(|(name, _)| {
                name.starts_with("http.")
                    && name.ends_with(".downstream_rq_active")
                    && name.as_str() != "http.admin.downstream_rq_active"
            })
            .map(|(_, v)| *v)
            .sum();
        Pending {
            requests,
            records: counter("events_enqueued")
                - counter("events_sent")
                - counter("events_dropped"),
            buffered: get("wasmcustom.tollgate.events_buffered"),
            leases: counter("leases_opened") - counter("leases_closed"),
        }
    }
}

#[derive(Deserialize)]
struct StatsJson {
    stats: Vec<Stat>,
}

#[derive(Deserialize)]
struct Stat {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    value: Option<u64>,
}

fn read_stats(agent: &ureq::Agent, admin: &str) -> Result<HashMap<String, u64>, String> {
    let url = format!(
        "http://{admin}/stats?format=json&filter=^(http\\..*\\.downstream_rq_active|wasmcustom\\.tollgate\\..*)$"
    );
    let body: StatsJson = agent
        .get(&url)
        .call()
        .map_err(|e| format!("cannot read Envoy's stats at {admin}: {e}"))?
        .body_mut()
        .read_json()
        .map_err(|e| format!("Envoy's stats at {admin} are not JSON: {e}"))?;
    Ok(body
        .stats
        .into_iter()
        .filter_map(|s| Some((s.name?, s.value?)))
        .collect())
}

fn post(agent: &ureq::Agent, admin: &str, path: &str) -> Result<(), String> {
    let response = agent
        .post(&format!("http://{admin}{path}"))
        .send_empty()
        .map_err(|e| format!("POST {path} to Envoy's admin at {admin}: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "POST {path} to Envoy's admin at {admin} answered {}",
            response.status()
        ))
    }
}

pub fn run(args: &DrainEnvoyArgs) -> ExitCode {
    match drain(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-ledger drain-envoy: {e}");
            ExitCode::FAILURE
        }
    }
}

fn drain(args: &DrainEnvoyArgs) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout_s);
    // Failing health checks is best effort (older Envoys, no health check filter).
    let _ = post(&agent, &args.admin, "/healthcheck/fail");
    post(&agent, &args.admin, "/drain_listeners")?;
    let mut quiet_since: Option<Instant> = None;
    let mut last = Pending::default();
    loop {
        last = match read_stats(&agent, &args.admin) {
            Ok(stats) => Pending::from_stats(&stats),
            Err(e) if Instant::now() < deadline => {
                eprintln!("tollgate-ledger drain-envoy: {e}; retrying");
                last
            }
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        if last.is_empty() {
            let since = *quiet_since.get_or_insert(now);
            if now.duration_since(since) >= QUIET_FOR {
                println!(
                    "Envoy at {} drained in {:.1} s: no request in flight, every record delivered to the ledger, every lease closed",
                    args.admin,
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
        } else {
            quiet_since = None;
        }
        if now >= deadline {
            return Err(format!(
                "not drained after {} s: {} requests in flight, {} records not yet acknowledged by the ledger ({} buffered), {} leases open",
                args.timeout_s, last.requests, last.records, last.buffered, last.leases
            ));
        }
        std::thread::sleep(POLL_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
    }

    #[test]
    fn pending_work_is_read_from_envoys_stats() {
        let busy = Pending::from_stats(&stats(&[
            ("http.tollgate.downstream_rq_active", 2),
            ("http.tollgate_metrics.downstream_rq_active", 1),
            ("http.admin.downstream_rq_active", 1),
            ("wasmcustom.tollgate.events_enqueued", 100),
            ("wasmcustom.tollgate.events_sent", 90),
            ("wasmcustom.tollgate.events_dropped", 4),
            ("wasmcustom.tollgate.events_buffered", 6),
            ("wasmcustom.tollgate.leases_opened", 3),
            ("wasmcustom.tollgate.leases_closed", 2),
        ]));
        assert_eq!(
            busy,
            Pending {
                requests: 3,
                records: 6,
                buffered: 6,
                leases: 1
            }
        );
        assert!(!busy.is_empty());
        let drained = Pending::from_stats(&stats(&[
            ("http.admin.downstream_rq_active", 1),
            ("http.tollgate.downstream_rq_active", 0),
            ("wasmcustom.tollgate.events_enqueued", 100),
            ("wasmcustom.tollgate.events_sent", 96),
            ("wasmcustom.tollgate.events_dropped", 4),
            ("wasmcustom.tollgate.leases_opened", 3),
            ("wasmcustom.tollgate.leases_closed", 3),
        ]));
        assert!(drained.is_empty(), "{drained:?}");
        // An Envoy without the filter's stats has nothing of Tollgate's to wait for.
        assert!(Pending::from_stats(&HashMap::new()).is_empty());
    }
}
