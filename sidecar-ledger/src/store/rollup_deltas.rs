//! The rollups derived from newly stored events besides `rollup_hourly`, aggregated in
//! memory (one delta per rollup row, keys in order) for either backend to add:
//! PostgreSQL in the ingest transaction, SQLite when it folds pending events into the
//! rollups (`sqlite::fold`):
//!
//! | table | time | key |
//! |---|---|---|
//! | `rollup_daily` | day | team, consumer group, workflow, provider, lane, model, cache, premium flags |
//! | `rollup_daily_user` | day | team, consumer group, user |
//! | `rollup_hourly_coarse` | hour | team, consumer group, provider, lane, model, api, outcome, cache |
//! | `rollup_daily_coarse` | day | the same and the premium flags |
//!
//! Absent optional attributes are '' as in `rollup_hourly`. The keys sort in one
//! global order, so PostgreSQL ledgers lock rollup rows in the same order. Days are
//! the reporting calendar's (see [`crate::calendar`]); hours are UTC hours.

use std::collections::BTreeMap;

use tollgate_core::event::{CostEvent, Tokens, UsageSource};

use crate::calendar::ReportingCalendar;
use crate::query::HOUR_MS;
use crate::store::error::StoreError;
use crate::store::event_text;
use crate::store::reconciliation::NewAdjustment;
use crate::store::types::Sums;

/// A row of `rollup_daily`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DailyKey<'a> {
    pub day_ms: i64,
    pub team: &'a str,
    pub consumer_group: &'a str,
    pub workflow: &'a str,
    pub provider: &'a str,
    pub lane: &'a str,
    pub model_served: &'a str,
    pub cache: &'static str,
    pub premium: bool,
    pub premium_approved: bool,
}

/// A row of `rollup_hourly`, the finest rollup: what both backends aggregate events
/// under (SQLite in a hash map when it folds, PostgreSQL in key order so ledgers lock
/// rollup rows in one global order). Borrowed, so aggregating allocates nothing.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub struct HourlyKey<'a> {
    pub hour_ms: i64,
    pub team: &'a str,
    pub consumer_group: &'a str,
    pub user: &'a str,
    pub workflow: &'a str,
    pub provider: &'a str,
    pub lane: &'a str,
    pub model_served: &'a str,
    pub api: &'static str,
    pub outcome: &'static str,
    pub cache: &'static str,
}

impl<'a> HourlyKey<'a> {
    pub fn of(e: &'a CostEvent) -> Self {
        HourlyKey {
            hour_ms: e.ts_ms.div_euclid(HOUR_MS) * HOUR_MS,
            team: &e.team,
            consumer_group: &e.consumer_group,
            user: e.user.as_deref().unwrap_or(""),
            workflow: e.workflow.as_deref().unwrap_or(""),
            provider: e.provider.as_deref().unwrap_or(""),
            lane: e.lane.as_deref().unwrap_or(""),
            model_served: &e.model_served,
            api: event_text::api_str(e.api),
            outcome: event_text::outcome_str(e.outcome),
            cache: event_text::cache_str(e.cache),
        }
    }
}

/// A row of `rollup_daily_user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserKey<'a> {
    pub day_ms: i64,
    pub team: &'a str,
    pub consumer_group: &'a str,
    pub user: &'a str,
}

/// A row of `rollup_hourly_coarse`: the hourly key without user and workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CoarseKey<'a> {
    pub hour_ms: i64,
    pub team: &'a str,
    pub consumer_group: &'a str,
    pub provider: &'a str,
    pub lane: &'a str,
    pub model_served: &'a str,
    pub api: &'static str,
    pub outcome: &'static str,
    pub cache: &'static str,
}

/// A row of `rollup_daily_coarse`: [`CoarseKey`] per day, with the premium flags (the
/// dashboard's organisation-wide charts read it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DailyCoarseKey<'a> {
    pub day_ms: i64,
    pub team: &'a str,
    pub consumer_group: &'a str,
    pub provider: &'a str,
    pub lane: &'a str,
    pub model_served: &'a str,
    pub api: &'static str,
    pub outcome: &'static str,
    pub cache: &'static str,
    pub premium: bool,
    pub premium_approved: bool,
}

/// One batch's deltas for each derived rollup.
#[derive(Debug, Default)]
pub struct Derived<'a> {
    pub daily: BTreeMap<DailyKey<'a>, Sums>,
    pub daily_user: BTreeMap<UserKey<'a>, Sums>,
    pub hourly_coarse: BTreeMap<CoarseKey<'a>, Sums>,
    pub daily_coarse: BTreeMap<DailyCoarseKey<'a>, Sums>,
}

/// The event's additive quantities as stored integers. Rollups count every cache
/// write in `cache_write_tokens`, 5-minute and 1-hour alike.
pub fn sums_of(e: &CostEvent) -> Result<Sums, StoreError> {
    let t = |n: u64| {
        i64::try_from(n).map_err(|_| StoreError::Corrupt(format!("token count {n} out of range")))
    };
    Ok(Sums {
        requests: 1,
        input_tokens: t(e.tokens.input)?,
        cached_input_tokens: t(e.tokens.cached_input)?,
        cache_write_tokens: t(e.tokens.cache_write.saturating_add(e.tokens.cache_write_1h))?,
        output_tokens: t(e.tokens.output)?,
        cost_nanos: e.cost_nanos,
        cost_avoided_nanos: e.cost_avoided_nanos,
    })
}

/// What a cost adjustment (see `store::reconciliation`) adds to its event's rollup
/// rows: its cost, and no request and no tokens (the event counted those).
pub fn adjustment_sums(e: &CostEvent) -> Result<Sums, StoreError> {
    Ok(Sums {
        cost_nanos: e.cost_nanos,
        ..Sums::default()
    })
}

/// An adjustment as the rollups see it: its event's attribution and time, carrying the
/// cost delta (tokens and the rest zero; only [`adjustment_sums`] reads it).
pub fn adjustment_event(a: &NewAdjustment) -> Result<CostEvent, StoreError> {
    Ok(CostEvent {
        id: a.event_id.clone(),
        ts_ms: a.ts_ms,
        consumer_group: a.consumer_group.clone(),
        team: a.team.clone(),
        user: a.user.clone(),
        workflow: a.workflow.clone(),
        api: event_text::api_from(&a.api)?,
        provider: a.provider.clone(),
        lane: a.lane.clone(),
        model_requested: a.model_served.clone(),
        model_served: a.model_served.clone(),
        tokens: Tokens::default(),
        usage_source: UsageSource::None,
        cost_nanos: a.delta_nanos,
        unpriced: false,
        outcome: event_text::outcome_from(&a.outcome)?,
        http_status: 0,
        reason: None,
        latency_ms: 0,
        stream: false,
        cache: event_text::cache_from(&a.cache)?,
        cost_avoided_nanos: 0,
        premium: a.premium,
        premium_approved: a.premium_approved,
        lease_id: None,
        wallet_unchecked: false,
        near_repeat: false,
        service_tier: None,
        web_search_calls: 0,
        tool_cost_nanos: 0,
        priced_by: a.priced_by.clone(),
    })
}

fn add<K: Ord>(map: &mut BTreeMap<K, Sums>, key: K, s: &Sums) -> Result<(), StoreError> {
    let slot = map.entry(key).or_default();
    *slot = slot
        .checked_add(s)
        .ok_or_else(|| StoreError::Corrupt("sum overflows 64 bits".into()))?;
    Ok(())
}

impl<'a> Derived<'a> {
    /// The deltas of `events` (each stored for the first time by this batch), their
    /// days in `calendar`.
    pub fn of(events: &[&'a CostEvent], calendar: &ReportingCalendar) -> Result<Self, StoreError> {
        Self::derive(events, calendar, true, sums_of)
    }

    /// The deltas of cost adjustments (as [`adjustment_event`]s).
    pub fn of_adjustments(
        adjustments: &[&'a CostEvent],
        calendar: &ReportingCalendar,
    ) -> Result<Self, StoreError> {
        Self::derive(adjustments, calendar, true, adjustment_sums)
    }

    /// Only the daily rollups' deltas of cost adjustments, as [`Derived::daily_of`].
    pub fn daily_of_adjustments(
        adjustments: &[&'a CostEvent],
        calendar: &ReportingCalendar,
    ) -> Result<Self, StoreError> {
        Self::derive(adjustments, calendar, false, adjustment_sums)
    }

    /// Only the daily rollups' deltas: what rebuilding them in another time zone adds
    /// (the hourly rollups do not depend on the zone).
    pub fn daily_of(
        events: &[&'a CostEvent],
        calendar: &ReportingCalendar,
    ) -> Result<Self, StoreError> {
        Self::derive(events, calendar, false, sums_of)
    }

    fn derive(
        events: &[&'a CostEvent],
        calendar: &ReportingCalendar,
        hourly: bool,
        sums: fn(&CostEvent) -> Result<Sums, StoreError>,
    ) -> Result<Self, StoreError> {
        let mut d = Derived::default();
        for e in events {
            let s = sums(e)?;
            let day_ms = calendar.day_label(e.ts_ms);
            let provider = e.provider.as_deref().unwrap_or("");
            let lane = e.lane.as_deref().unwrap_or("");
            let cache = event_text::cache_str(e.cache);
            let daily = DailyKey {
                day_ms,
                team: &e.team,
                consumer_group: &e.consumer_group,
                workflow: e.workflow.as_deref().unwrap_or(""),
                provider,
                lane,
                model_served: &e.model_served,
                cache,
                premium: e.premium,
                premium_approved: e.premium_approved,
            };
            add(&mut d.daily, daily, &s)?;
            let user = UserKey {
                day_ms,
                team: &e.team,
                consumer_group: &e.consumer_group,
                user: e.user.as_deref().unwrap_or(""),
            };
            add(&mut d.daily_user, user, &s)?;
            let coarse = CoarseKey {
                hour_ms: e.ts_ms.div_euclid(HOUR_MS) * HOUR_MS,
                team: &e.team,
                consumer_group: &e.consumer_group,
                provider,
                lane,
                model_served: &e.model_served,
                api: event_text::api_str(e.api),
                outcome: event_text::outcome_str(e.outcome),
                cache,
            };
            if hourly {
                add(&mut d.hourly_coarse, coarse, &s)?;
            }
            let daily = DailyCoarseKey {
                day_ms,
                team: coarse.team,
                consumer_group: coarse.consumer_group,
                provider,
                lane,
                model_served: coarse.model_served,
                api: coarse.api,
                outcome: coarse.outcome,
                cache,
                premium: e.premium,
                premium_approved: e.premium_approved,
            };
            add(&mut d.daily_coarse, daily, &s)?;
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::event;
    use tollgate_core::event::Outcome;

    const D0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    #[test]
    fn each_rollup_sums_the_events_of_its_key() {
        let mut a = event("a", D0 + 5, "team_a", 100);
        a.user = Some("ann".into());
        a.workflow = Some("triage".into());
        let mut b = event("b", D0 + HOUR_MS, "team_a", 50);
        b.workflow = Some("codegen".into());
        let mut c = event("c", D0 + HOUR_MS + 1, "team_a", 7);
        c.outcome = Outcome::ProviderError;
        c.provider = None;
        let utc = ReportingCalendar::utc();
        let d = Derived::of(&[&a, &b, &c], &utc).unwrap();
        // Two workflows (and no workflow) in one day.
        assert_eq!(d.daily.len(), 3);
        // Per day: c apart (no provider, an error), a and b together.
        let days: Vec<(&str, &str, i64)> = d
            .daily_coarse
            .iter()
            .map(|(k, s)| (k.provider, k.outcome, s.cost_nanos))
            .collect();
        assert_eq!(days, vec![("", "provider_error", 7), ("openai", "ok", 150)]);
        // Users: ann and no user.
        let users: Vec<(&str, i64)> = d
            .daily_user
            .iter()
            .map(|(k, s)| (k.user, s.requests))
            .collect();
        assert_eq!(users, vec![("", 2), ("ann", 1)]);
        // Coarse hourly: hour 0 (a), hour 1 (b, and c apart).
        let hours: Vec<(i64, &str, i64)> = d
            .hourly_coarse
            .iter()
            .map(|(k, s)| (k.hour_ms, k.outcome, s.cost_nanos))
            .collect();
        assert_eq!(
            hours,
            vec![
                (D0, "ok", 100),
                (D0 + HOUR_MS, "provider_error", 7),
                (D0 + HOUR_MS, "ok", 50)
            ]
        );
        // The premium flags split daily coarse rows, not hourly ones.
        let mut p = b.clone();
        p.id = "p".into();
        p.premium = true;
        let d = Derived::of(&[&b, &p], &utc).unwrap();
        assert_eq!((d.daily_coarse.len(), d.hourly_coarse.len()), (2, 1));
        // In Los Angeles (UTC-7 until later that day) both fall on 31 October; the hourly
        // rollup is not rebuilt with the days.
        let la = ReportingCalendar::parse("America/Los_Angeles").unwrap();
        let d = Derived::daily_of(&[&a, &b], &la).unwrap();
        assert!(d.hourly_coarse.is_empty());
        let days: Vec<i64> = d.daily_user.keys().map(|k| k.day_ms).collect();
        assert_eq!(days, vec![D0 - crate::query::DAY_MS; 2]);
    }
}
