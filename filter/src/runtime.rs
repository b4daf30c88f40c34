//! What every request of one plugin instance shares: the parsed configuration, the
//! key-digest index, prices, provider credentials and metric ids.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use tollgate_core::aws::sigv4::Credentials;
use tollgate_core::config::filter_config::{FilterConfig, GroupEntry, LaneEntry};
use tollgate_core::keys;
use tollgate_core::lease::{LeaseClosedRecord, IDLE_CLOSE_MS};
use tollgate_core::policy::PolicySet;
use tollgate_core::pricing::PriceTable;

pub struct Metrics {
    pub requests: Option<u32>,
    pub unauthorized: Option<u32>,
    pub local_errors: Option<u32>,
    pub events_enqueued: Option<u32>,
    pub events_unqueued: Option<u32>,
    /// Leases this instance started drawing on, and leases it closed (or gave up when
    /// a new one replaced them): equal once every lease is back with the ledger.
    pub leases_opened: Option<u32>,
    pub leases_closed: Option<u32>,
}

pub struct Runtime {
    pub config: FilterConfig,
    /// The configuration's lanes, shared by the requests routed to them instead of
    /// copied into each (see [`Runtime::shared_lane`]).
    shared_lanes: Vec<Rc<LaneEntry>>,
    groups_by_digest: HashMap<[u8; 32], usize>,
    pub prices: PriceTable,
    /// Provider keys by environment variable name, read once at configure time.
    credentials: HashMap<String, String>,
    /// `Bearer <ingest token>` for calls to the ledger (see `ledger_auth`).
    pub ledger_authorization: Option<String>,
    pub metrics: Metrics,
    /// Counters labelled by team, lane, provider, cache result, outcome or reason.
    pub labelled: crate::metrics::LabelledCounters,
    pub cache_metrics: crate::response_cache::CacheMetrics,
    /// This Envoy instance's id in credit leases (shared by its workers).
    pub instance_id: String,
    /// Events and counter increments waiting for this VM's next tick.
    pub tick_buffer: crate::tick_buffer::TickBuffer,
    /// Lane usage and latency seen by this VM, shared on its next tick.
    pub lanes: crate::lane_health::LaneLedger,
    /// Every team a consumer group pays from (each may hold a lease).
    teams: Vec<String>,
    /// The leaders' runtime policy as this worker last read it (see `policy_sync`).
    pub policy: RefCell<Rc<PolicySet>>,
    /// The policy request in flight from this worker's root, if any.
    pub policy_call: Cell<Option<u32>>,
}

impl Runtime {
    pub fn new(
        config: FilterConfig,
        instance_id: String,
        env: impl Fn(&str) -> Option<String>,
        metrics: Metrics,
        cache_metrics: crate::response_cache::CacheMetrics,
    ) -> Result<Self, String> {
        let mut groups_by_digest = HashMap::new();
        for (i, g) in config.groups.iter().enumerate() {
            let digest = keys::parse_digest(&g.key_sha256)
                .ok_or_else(|| format!("group '{}': key_sha256 is not a SHA-256 digest", g.name))?;
            groups_by_digest.insert(digest, i);
        }
        let credentials = config
            .credential_envs()
            .into_iter()
            .filter_map(|name| env(&name).filter(|v| !v.is_empty()).map(|v| (name, v)))
            .collect();
        let ledger_authorization = crate::ledger_auth::authorization(&env);
        let mut teams: Vec<String> = config.groups.iter().map(|g| g.team.clone()).collect();
        teams.sort();
        teams.dedup();
        Ok(Runtime {
            teams,
            policy: RefCell::new(Rc::new(PolicySet::default())),
            policy_call: Cell::new(None),
            prices: config.price_table(),
            shared_lanes: config.lanes.iter().cloned().map(Rc::new).collect(),
            config,
            groups_by_digest,
            credentials,
            ledger_authorization,
            metrics,
            labelled: Default::default(),
            cache_metrics,
            instance_id,
            tick_buffer: Default::default(),
            lanes: Default::default(),
        })
    }

    /// The shared copy of `lane`, one of this configuration's lanes (as routing returns
    /// them).
    pub fn shared_lane(&self, lane: &LaneEntry) -> Rc<LaneEntry> {
        let index = self.config.lanes.iter().position(|l| std::ptr::eq(l, lane));
        match index {
            Some(i) => Rc::clone(&self.shared_lanes[i]),
            None => Rc::new(lane.clone()),
        }
    }

    /// Keeps a cost event for the flusher (sent with the VM's next batch).
    pub fn enqueue_event(&self, event: &tollgate_core::event::CostEvent) {
        self.tick_buffer
            .record(event, &self.config.events, &self.queue_metrics());
    }

    /// Closes the leases this instance no longer uses (ended, or idle for
    /// [`IDLE_CLOSE_MS`]) and queues the reports behind this tick's events, so the
    /// ledger reads each lease's events before its closing.
    fn close_idle_leases(&self, now_ms: i64) {
        if !self.config.wallet_enforcement {
            return;
        }
        for team in &self.teams {
            if let Some(closed) =
                crate::wallet::close_lease(team, &self.instance_id, now_ms, IDLE_CLOSE_MS)
            {
                self.tick_buffer.count(self.metrics.leases_closed, 1);
                self.tick_buffer.record(
                    &LeaseClosedRecord {
                        lease_closed: closed,
                    },
                    &self.config.events,
                    &self.queue_metrics(),
                );
            }
        }
    }

    /// The team's runtime policy, if a leader set one.
    pub fn team_policy(&self, team: &str) -> Option<Rc<PolicySet>> {
        let set = self.policy.borrow();
        set.team(team).is_some().then(|| Rc::clone(&set))
    }

    /// Hands the VM's collected events and counter increments to Envoy and closes idle
    /// leases.
    pub fn flush_tick_buffer(&self) {
        let now = crate::host::now_ms();
        self.close_idle_leases(now);
        self.tick_buffer
            .flush(&self.config.events, &self.queue_metrics(), &self.labelled);
        self.lanes.share(now);
    }

    fn queue_metrics(&self) -> crate::tick_buffer::QueueMetrics {
        crate::tick_buffer::QueueMetrics {
            enqueued: self.metrics.events_enqueued,
            unqueued: self.metrics.events_unqueued,
        }
    }

    /// The consumer group whose key this is.
    pub fn group_for_key(&self, key: &str) -> Option<&GroupEntry> {
        self.groups_by_digest
            .get(&keys::digest_key(key))
            .map(|&i| &self.config.groups[i])
    }

    pub fn credential(&self, lane: &LaneEntry) -> Option<&str> {
        self.credentials
            .get(&lane.credential_env)
            .map(String::as_str)
    }

    /// A Bedrock lane's AWS credentials (its secret access key is the lane's
    /// credential), or `None` when one of them is not set.
    pub fn aws_credentials(&self, lane: &LaneEntry) -> Option<Credentials> {
        let aws = lane.aws.as_ref()?;
        let session_token = match &aws.session_token_env {
            Some(env) => Some(self.credentials.get(env)?.clone()),
            None => None,
        };
        Some(Credentials {
            access_key_id: self.credentials.get(&aws.access_key_id_env)?.clone(),
            secret_access_key: self.credential(lane)?.to_string(),
            session_token,
        })
    }

    pub fn missing_credentials(&self) -> Vec<&str> {
        self.config
            .lanes
            .iter()
            .flat_map(|l| {
                let aws = l.aws.iter().flat_map(|a| {
                    std::iter::once(a.access_key_id_env.as_str())
                        .chain(a.session_token_env.as_deref())
                });
                std::iter::once(l.credential_env.as_str()).chain(aws)
            })
            .filter(|env| !self.credentials.contains_key(*env))
            .collect()
    }
}
