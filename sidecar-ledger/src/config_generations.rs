//! The configurations a posted event may have been made with: the one in force, and
//! the ones a reload replaced recently.
//!
//! Envoy and the ledger pick up a new configuration at different moments, and an
//! Envoy sends its events seconds (after an outage of the ledger, much longer) after
//! the requests. An event made just before a reload that removed its lane or changed
//! a price must not be quarantined for it: an event passes when it passes against the
//! configuration in force, or against a replaced one that was still in force when
//! the request was made (its `ts_ms` at most [`GRACE_MS`] after the replacement, the
//! time Envoy may take to load the new file). The last [`KEPT`] replaced
//! configurations are remembered, in memory: after a restart the ledger knows only
//! the file it loaded.

use std::sync::RwLock;

use tollgate_core::config::Config;
use tollgate_core::event::CostEvent;

use crate::ingest_check::{Checker, Finding};

/// How long after a reload a replaced configuration still checks new requests.
pub const GRACE_MS: i64 = 5 * 60 * 1000;
/// Replaced configurations remembered.
pub const KEPT: usize = 16;

struct Generation {
    checker: Checker,
    /// When a reload replaced it (`None`: in force).
    replaced_ms: Option<i64>,
}

/// The configurations events are checked against; empty (nothing checked) when the
/// ledger runs without a config file.
#[derive(Default)]
pub struct ConfigGenerations {
    /// Newest first; the first is in force.
    generations: RwLock<Vec<Generation>>,
}

impl ConfigGenerations {
    /// Puts `config` in force at `now_ms`; the previous one is kept as replaced.
    pub fn replace(&self, config: &Config, now_ms: i64) {
        let checker = Checker::new(config);
        let mut g = self.generations.write().unwrap_or_else(|p| p.into_inner());
        if let Some(current) = g.first_mut() {
            current.replaced_ms = Some(now_ms);
        }
        g.insert(
            0,
            Generation {
                checker,
                replaced_ms: None,
            },
        );
        g.truncate(KEPT + 1);
    }

    /// `Ok` when the event passes against a configuration it may have been made
    /// with; otherwise what the configuration in force finds.
    pub fn check(&self, e: &CostEvent) -> Result<(), Finding> {
        let g = self.generations.read().unwrap_or_else(|p| p.into_inner());
        let Some(current) = g.first() else {
            return Ok(());
        };
        let found = match current.checker.check(e) {
            Ok(()) => return Ok(()),
            Err(f) => f,
        };
        let older = g[1..].iter().filter(|old| {
            old.replaced_ms
                .is_some_and(|at| e.ts_ms <= at.saturating_add(GRACE_MS))
        });
        for old in older {
            if old.checker.check(e).is_ok() {
                return Ok(());
            }
        }
        Err(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{event, ONE_TEAM_CONFIG};

    fn config(text: &str) -> Config {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn without_a_config_nothing_is_checked() {
        let g = ConfigGenerations::default();
        assert_eq!(g.check(&event("e1", 1, "team_00", 5)), Ok(()));
    }

    #[test]
    fn a_replaced_config_checks_the_requests_made_while_it_was_in_force() {
        let g = ConfigGenerations::default();
        let with_lane = config(ONE_TEAM_CONFIG);
        g.replace(&with_lane, 1_000);
        assert!(g.check(&event("e0", 1, "team_00", 5)).is_err());
        let lane = with_lane.providers.targets[0].id.clone();
        let mut e = event("e1", 10_000, "team_support", 0);
        e.consumer_group = with_lane.consumer_groups[0].name.clone();
        e.lane = Some(lane.clone());
        e.provider = Some(with_lane.providers.targets[0].provider.as_str().into());
        e.model_served = with_lane.providers.targets[0].model.clone();
        e.tokens = Default::default();
        assert_eq!(g.check(&e), Ok(()));

        // A reload at t=20s renames the lane.
        let mut renamed = with_lane.clone();
        renamed.providers.targets[0].id = "renamed".into();
        for group in &mut renamed.consumer_groups {
            group.allowed_lanes = None;
        }
        g.replace(&renamed, 20_000);
        assert_eq!(g.check(&e), Ok(()), "made before the reload");
        e.ts_ms = 20_000 + GRACE_MS;
        assert_eq!(g.check(&e), Ok(()), "Envoy may load the new file late");
        e.ts_ms = 20_001 + GRACE_MS;
        let f = g.check(&e).unwrap_err();
        assert_eq!(f.reason.as_str(), "unknown_lane");
        assert!(f.detail.contains(&lane), "{}", f.detail);

        // Only the last KEPT replaced configurations are remembered.
        e.ts_ms = 10_000;
        for i in 0..KEPT {
            g.replace(&renamed, 30_000 + i as i64);
        }
        assert!(g.check(&e).is_err());
    }
}
