//! Which models the configuration lets traffic reach that no price covers.
//!
//! A request is priced by the model the provider reports, else by its lane's model,
//! so every lane some consumer group may use (directly, through `allowed_lanes`, or
//! through a routing alias naming it) needs a price for its model. An uncovered model
//! is a warning, not an error: its requests still go through and are recorded with
//! their tokens, cost 0 and `unpriced: true` (wallets and budgets are not charged for
//! them), and a configuration that loaded before keeps loading.

use super::schema::Config;
use crate::pricing::PriceTable;

/// A lane whose model no price covers, and how traffic reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpriced {
    /// Index of the lane in `providers.targets`.
    pub target: usize,
    pub lane: String,
    pub model: String,
    /// Consumer groups allowed to use the lane.
    pub groups: Vec<String>,
    /// Routing aliases that name the lane.
    pub aliases: Vec<String>,
}

impl Unpriced {
    pub fn message(&self) -> String {
        let mut reach = format!("groups {}", self.groups.join(", "));
        if !self.aliases.is_empty() {
            reach.push_str(&format!("; aliases {}", self.aliases.join(", ")));
        }
        format!(
            "no price covers model '{}' of lane '{}' (reached by {reach}): its requests are \
             recorded with cost 0 and flagged unpriced, and no wallet or budget is charged \
             for them; add it under `pricing:` or to the price catalogue",
            self.model, self.lane
        )
    }
}

/// Every lane a consumer group can reach whose model `prices` does not cover (at any
/// date), in the order of `providers.targets`.
pub fn unpriced_lanes(config: &Config, prices: &PriceTable) -> Vec<Unpriced> {
    config
        .providers
        .targets
        .iter()
        .enumerate()
        // A fixed-cost lane (paid for by capacity) charges nothing per request.
        .filter(|(_, t)| !t.fixed_cost && !prices.covers(&t.model))
        .filter_map(|(i, t)| {
            let groups: Vec<String> = config
                .consumer_groups
                .iter()
                .filter(|g| g.allowed_lanes.as_ref().is_none_or(|a| a.contains(&t.id)))
                .map(|g| g.name.clone())
                .collect();
            let aliases: Vec<String> = config
                .providers
                .routing
                .aliases
                .iter()
                .filter(|(_, lanes)| lanes.contains(&t.id))
                .map(|(alias, _)| alias.clone())
                .collect();
            (!groups.is_empty()).then(|| Unpriced {
                target: i,
                lane: t.id.clone(),
                model: t.model.clone(),
                groups,
                aliases,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn lanes_groups_can_reach_without_a_price_are_reported_with_how_they_are_reached() {
        let mut config = crate::config::tests::seed();
        let prices = PriceTable::with_overrides(&BTreeMap::new());
        // The seed's lanes serve models the built-in catalogue does not list.
        let all = unpriced_lanes(&config, &prices);
        let models: Vec<&str> = all.iter().map(|u| u.model.as_str()).collect();
        assert_eq!(models, vec!["gpt-5.4-mini-mini", "claude-haiku"]);
        assert_eq!(all[0].groups.len(), config.consumer_groups.len());
        // A price (here a dated snapshot's base name) covers a lane.
        config.providers.targets[1].model = "claude-haiku-4-5-20251001".into();
        // A routing alias and a group narrowed to one lane.
        let first = config.providers.targets[0].id.clone();
        config
            .providers
            .routing
            .aliases
            .insert("fast".into(), vec![first.clone()]);
        for g in &mut config.consumer_groups[1..] {
            g.allowed_lanes = Some(vec![config.providers.targets[1].id.clone()]);
        }
        let all = unpriced_lanes(&config, &prices);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].target, 0);
        assert_eq!(all[0].groups, vec![config.consumer_groups[0].name.clone()]);
        assert_eq!(all[0].aliases, vec!["fast".to_string()]);
        assert!(all[0].message().contains("aliases fast"));
        // A lane no group may use carries no traffic.
        config.consumer_groups[0].allowed_lanes = Some(vec![]);
        assert!(unpriced_lanes(&config, &prices).is_empty());
        // The config's `pricing:` covers it too.
        config.consumer_groups[0].allowed_lanes = None;
        config.pricing.insert(
            "gpt-5.4-mini-mini".into(),
            crate::pricing::price_def("1", None, None, "2"),
        );
        assert!(unpriced_lanes(&config, &PriceTable::with_overrides(&config.pricing)).is_empty());
    }
}
