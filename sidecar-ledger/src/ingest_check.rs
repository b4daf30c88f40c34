//! Checking a posted cost event against a configuration: does it name a team, a
//! consumer group and a lane that exist, does the lane serve its provider and model,
//! and is its cost what the filter's own pricing gives for its tokens?
//!
//! An ingest token is a credential, and a stolen one could otherwise charge any
//! wallet any amount. The filter builds every event from the same configuration and
//! prices it with [`PriceTable::charge_for`], so an honest event always passes; one
//! that fails is quarantined rather than charged (see `crate::config_generations`
//! for which configurations an event is checked against).
//!
//! What is not checked: the end user and the workflow are labels the client sends,
//! so any value is one the filter could have recorded; a cache hit's
//! `cost_avoided_nanos` is never charged.

use std::collections::{BTreeMap, BTreeSet};

use tollgate_core::config::{Config, ProviderKind};
use tollgate_core::event::{ApiKind, CacheStatus, CostEvent};
use tollgate_core::pricing::{Billable, PriceTable};

/// Why an event was quarantined; `as_str` is the metric's `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// No wallet, consumer group or budget of the configuration names the team.
    UnknownTeam,
    /// No consumer group has the event's name, or it pays from another team.
    UnknownGroup,
    /// No lane has the event's lane id.
    UnknownLane,
    /// The lane exists but has another provider, or another premium marking.
    LaneMismatch,
    /// The served model is priced as another model than the lane's.
    ModelMismatch,
    /// The cost differs from what the event's tokens cost at the prices in force at
    /// its time.
    CostMismatch,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UnknownTeam => "unknown_team",
            Reason::UnknownGroup => "unknown_group",
            Reason::UnknownLane => "unknown_lane",
            Reason::LaneMismatch => "lane_mismatch",
            Reason::ModelMismatch => "model_mismatch",
            Reason::CostMismatch => "cost_mismatch",
        }
    }
}

/// A failed check: the reason and a sentence naming the values at fault (names and
/// amounts from the event and the configuration, never a credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub reason: Reason,
    pub detail: String,
}

fn finding(reason: Reason, detail: String) -> Finding {
    Finding { reason, detail }
}

struct Lane {
    provider: ProviderKind,
    model: String,
    premium: bool,
    fixed_cost: bool,
}

/// One configuration, indexed for checking events.
pub struct Checker {
    teams: BTreeSet<String>,
    /// Consumer group → the team it pays from.
    groups: BTreeMap<String, String>,
    lanes: BTreeMap<String, Lane>,
    prices: PriceTable,
}

impl Checker {
    pub fn new(config: &Config) -> Self {
        let mut teams: BTreeSet<String> = config.wallet_team_ids().into_iter().collect();
        teams.extend(config.budgets.iter().map(|b| b.team_id.clone()));
        Checker {
            teams,
            groups: config
                .consumer_groups
                .iter()
                .map(|g| (g.name.clone(), g.wallet_team_id.clone()))
                .collect(),
            lanes: config
                .providers
                .targets
                .iter()
                .map(|t| {
                    let lane = Lane {
                        provider: t.provider,
                        model: t.model.clone(),
                        premium: t.premium,
                        fixed_cost: t.fixed_cost,
                    };
                    (t.id.clone(), lane)
                })
                .collect(),
            prices: config.price_table(),
        }
    }

    /// `Ok` when the filter could have sent this event with this configuration.
    pub fn check(&self, e: &CostEvent) -> Result<(), Finding> {
        if !self.teams.contains(&e.team) {
            return Err(finding(
                Reason::UnknownTeam,
                format!("team '{}' is not in the configuration", e.team),
            ));
        }
        match self.groups.get(&e.consumer_group) {
            Some(team) if *team == e.team => {}
            Some(team) => {
                return Err(finding(
                    Reason::UnknownGroup,
                    format!(
                        "consumer group '{}' pays from team '{team}', not '{}'",
                        e.consumer_group, e.team
                    ),
                ))
            }
            None => {
                return Err(finding(
                    Reason::UnknownGroup,
                    format!(
                        "consumer group '{}' is not in the configuration",
                        e.consumer_group
                    ),
                ))
            }
        }
        let lane = match e.lane.as_deref() {
            None => None,
            Some(id) => {
                let Some(lane) = self.lanes.get(id) else {
                    return Err(finding(
                        Reason::UnknownLane,
                        format!("lane '{id}' is not in the configuration"),
                    ));
                };
                self.check_lane(e, id, lane)?;
                Some(lane)
            }
        };
        let expected = self.expected_cost(e, lane);
        if expected != e.cost_nanos {
            return Err(finding(
                Reason::CostMismatch,
                format!(
                    "cost_nanos {} differs from {expected}, the price of its tokens",
                    e.cost_nanos
                ),
            ));
        }
        Ok(())
    }

    fn check_lane(&self, e: &CostEvent, id: &str, lane: &Lane) -> Result<(), Finding> {
        if e.provider.as_deref() != Some(lane.provider.as_str()) || e.premium != lane.premium {
            return Err(finding(
                Reason::LaneMismatch,
                format!(
                    "lane '{id}' is provider '{}'{}, the event says '{}'{}",
                    lane.provider.as_str(),
                    if lane.premium { " (premium)" } else { "" },
                    e.provider.as_deref().unwrap_or(""),
                    if e.premium { " (premium)" } else { "" },
                ),
            ));
        }
        // A passed-through answer names its own model (the lane only carried it);
        // otherwise a served model the catalogue prices must be priced as the lane's.
        if e.api == ApiKind::Passthrough || e.model_served == lane.model {
            return Ok(());
        }
        let served = self.prices.lookup_at(&e.model_served, e.ts_ms);
        let own = self.prices.lookup_at(&lane.model, e.ts_ms);
        match served {
            None => Ok(()),
            Some(s) if own.is_some_and(|o| o.name == s.name) => Ok(()),
            Some(_) => Err(finding(
                Reason::ModelMismatch,
                format!(
                    "lane '{id}' serves '{}', the event says '{}'",
                    lane.model, e.model_served
                ),
            )),
        }
    }

    /// What the filter charges for the event's usage: the rules of
    /// `tollgate_core::accounting` (a cache hit, a free endpoint, an unpriced request
    /// and a fixed-cost lane cost 0; otherwise the served model's price, else the
    /// lane's model's, at the event's time).
    fn expected_cost(&self, e: &CostEvent, lane: Option<&Lane>) -> i64 {
        if e.cache == CacheStatus::Hit
            || e.api.is_free()
            || e.unpriced
            || lane.is_some_and(|l| l.fixed_cost)
        {
            return 0;
        }
        let usage = Billable {
            tokens: e.tokens,
            service_tier: e.service_tier.as_deref(),
            web_search_calls: e.web_search_calls,
            batch: false,
        };
        let lane_model = lane
            .map(|l| l.model.as_str())
            .filter(|_| e.api != ApiKind::Passthrough);
        self.prices
            .charge_for(&e.model_served, e.ts_ms, &usage)
            .or_else(|| lane_model.and_then(|m| self.prices.charge_for(m, e.ts_ms, &usage)))
            .map_or(0, |(_, charge)| charge.total())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::event::{Outcome, Tokens};

    const CONFIG: &str = r#"
version: '1'
providers:
  targets:
    - {id: oa, provider: openai, model: gpt-4o-mini, secret_key_ref: {env: OPENAI_API_KEY}}
    - {id: big, provider: openai, model: gpt-5, premium: true, secret_key_ref: {env: OPENAI_API_KEY}}
    - {id: an, provider: anthropic, model: claude-haiku-4-5, secret_key_ref: {env: ANTHROPIC_API_KEY}}
    - {id: own, provider: openai_compatible, model: llama, base_url: 'http://vllm:8000/v1', fixed_cost: true, secret_key_ref: {env: VLLM_KEY}}
consumer_groups:
  - {name: support, api_key: kt_cg_support_test_key, wallet_team_id: team_support}
  - {name: research, api_key: kt_cg_research_test_key, wallet_team_id: team_research}
wallets:
  - {team_id: team_support, initial_usd: '5.00'}
  - {team_id: team_research, initial_usd: '5.00'}
"#;

    fn checker() -> Checker {
        let config: Config = serde_yaml_ng::from_str(CONFIG).unwrap();
        Checker::new(&config)
    }

    /// An event as the filter sends it: 1000 input and 100 output tokens of
    /// gpt-4o-mini (0.15 and 0.60 $ per million).
    fn honest() -> CostEvent {
        CostEvent {
            user: Some("anyone".into()),
            workflow: Some("any-label".into()),
            lane: Some("oa".into()),
            model_served: "gpt-4o-mini-2024-07-18".into(),
            tokens: Tokens {
                input: 1000,
                output: 100,
                ..Tokens::default()
            },
            latency_ms: 5,
            priced_by: Some("gpt-4o-mini:2024-07-18".into()),
            ..crate::test_util::event("e1", 1_760_000_000_000, "team_support", 210_000)
        }
    }

    fn reason(c: &Checker, e: &CostEvent) -> Option<&'static str> {
        c.check(e).err().map(|f| f.reason.as_str())
    }

    #[test]
    fn an_event_the_filter_could_send_passes() {
        let c = checker();
        assert_eq!(c.check(&honest()), Ok(()));
        // Refused before any lane was chosen: no lane, nothing charged.
        let refused = CostEvent {
            lane: None,
            provider: None,
            tokens: Tokens::default(),
            cost_nanos: 0,
            outcome: Outcome::Refused,
            ..honest()
        };
        assert_eq!(c.check(&refused), Ok(()));
    }

    #[test]
    fn unknown_names_are_found() {
        let c = checker();
        let e = CostEvent {
            team: "team_00".into(),
            ..honest()
        };
        assert_eq!(reason(&c, &e), Some("unknown_team"));
        let e = CostEvent {
            consumer_group: "nobody".into(),
            ..honest()
        };
        assert_eq!(reason(&c, &e), Some("unknown_group"));
        // A real group charging another real team's wallet.
        let e = CostEvent {
            consumer_group: "research".into(),
            ..honest()
        };
        assert_eq!(reason(&c, &e), Some("unknown_group"));
        let e = CostEvent {
            lane: Some("gone".into()),
            ..honest()
        };
        assert_eq!(reason(&c, &e), Some("unknown_lane"));
    }

    #[test]
    fn the_lane_must_serve_the_provider_and_model_named() {
        let c = checker();
        let e = CostEvent {
            provider: Some("anthropic".into()),
            ..honest()
        };
        assert_eq!(reason(&c, &e), Some("lane_mismatch"));
        let e = CostEvent {
            premium: true,
            ..honest()
        };
        assert_eq!(reason(&c, &e), Some("lane_mismatch"));
        // A cheaper model on an expensive lane, priced "right" for the cheap model.
        let e = CostEvent {
            lane: Some("big".into()),
            premium: true,
            ..honest()
        };
        assert_eq!(reason(&c, &e), Some("model_mismatch"));
        // A model the catalogue does not know is priced as the lane's: allowed.
        let e = CostEvent {
            model_served: "gpt-4o-mini-custom-build".into(),
            cost_nanos: 210_000,
            ..honest()
        };
        assert_eq!(c.check(&e), Ok(()));
    }

    #[test]
    fn the_cost_must_be_the_price_of_the_tokens() {
        let c = checker();
        for cost in [0, 209_999, 210_001, 1_000_000_000] {
            let e = CostEvent {
                cost_nanos: cost,
                ..honest()
            };
            assert_eq!(reason(&c, &e), Some("cost_mismatch"), "{cost}");
        }
        // Prices of the event's day: o3 before and after its 2025-06-10 cut.
        let o3 = |day_ms: i64, cost: i64| CostEvent {
            ts_ms: day_ms,
            lane: None,
            provider: None,
            model_served: "o3-2025-04-16".into(),
            cost_nanos: cost,
            ..honest()
        };
        let day = |d: &str| tollgate_core::config::parse_date_days(d).unwrap() * 86_400_000;
        assert_eq!(c.check(&o3(day("2025-06-09"), 14_000_000)), Ok(()));
        assert_eq!(c.check(&o3(day("2025-06-10"), 2_800_000)), Ok(()));
        assert_eq!(
            reason(&c, &o3(day("2025-06-10"), 14_000_000)),
            Some("cost_mismatch")
        );
    }

    #[test]
    fn events_that_cost_nothing_by_rule_must_say_zero() {
        let c = checker();
        let free = [
            CostEvent {
                cache: CacheStatus::Hit,
                cost_avoided_nanos: 210_000,
                ..honest()
            },
            CostEvent {
                api: ApiKind::CountTokens,
                lane: Some("an".into()),
                provider: Some("anthropic".into()),
                model_served: "claude-haiku-4-5".into(),
                ..honest()
            },
            CostEvent {
                unpriced: true,
                ..honest()
            },
            CostEvent {
                lane: Some("own".into()),
                provider: Some("openai_compatible".into()),
                model_served: "llama".into(),
                ..honest()
            },
        ];
        for e in free {
            let zero = CostEvent {
                cost_nanos: 0,
                ..e.clone()
            };
            assert_eq!(c.check(&zero), Ok(()), "{zero:?}");
            assert_eq!(reason(&c, &e), Some("cost_mismatch"), "{e:?}");
        }
        // A passed-through answer is priced by the model it names, never the lane's.
        let through = CostEvent {
            api: ApiKind::Passthrough,
            model_served: "gpt-5".into(),
            cost_nanos: 1000 * 1_250 + 100 * 10_000,
            ..honest()
        };
        assert_eq!(c.check(&through), Ok(()));
        let unnamed = CostEvent {
            api: ApiKind::Passthrough,
            model_served: String::new(),
            ..honest()
        };
        assert_eq!(reason(&c, &unnamed), Some("cost_mismatch"));
    }
}
