//! The demo history (`tollgate-ledger seed-demo`): about 60 days of realistic events
//! for the demo teams, written straight through the store's ingest (same rollups, same
//! wallets as live traffic), so every dashboard chart has something to show.
//!
//! The story, relative to the last seeded day:
//! * team_support grows from ~300 to ~650 requests a working day, mostly on the cheap
//!   OpenAI lane; its cache hit rate drops from ~40% to ~15% eight days before the end
//!   (a prompt template change).
//! * team_engineering shifts from OpenAI (~75%) to the Anthropic lane (~70%) over the
//!   last three weeks; its approved `codegen` workflow uses the premium
//!   `anthropic-sonnet` lane, and from twelve days before the end `summarise` drifts
//!   onto it without approval.
//! * team_finance is small and steady; its Anthropic lane starts serving the newer
//!   `claude-haiku-4-5` for half of its calls ten days before the end (a model shift).
//!
//! * Every team gets a monthly allocation covering the month's spend with headroom, but
//!   team_support has not asked for the current month's yet.
//!
//! Idempotent: ids are fixed (`demo-<date>-<team>-<n>`), and so is the randomness
//! (seeded per team and day), so a rerun the same day adds nothing; wallet top-ups are
//! keyed per team and month.

use std::collections::BTreeMap;

use tollgate_core::event::{ApiKind, CacheStatus, CostEvent, Outcome, Tokens, UsageSource};

use crate::query::{format_day, DAY_MS};
use crate::store::wallets::{EntryKind, NewEntry};
use crate::store::{IngestBatch, Store, StoreError};

/// A tiny deterministic generator (SplitMix64): the same seed, the same history.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    /// An index drawn with the given weights.
    fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

fn hash(text: &str) -> u64 {
    // FNV-1a: stable across Rust versions (unlike the std hasher).
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A lane as the demo config defines it (plus one historical premium lane).
struct Lane {
    id: &'static str,
    provider: &'static str,
    model: &'static str,
    api: ApiKind,
    premium: bool,
    /// USD per million tokens: input, output.
    price: (f64, f64),
}

const MINI: Lane = Lane {
    id: "openai-gpt4o-mini",
    provider: "openai",
    model: "gpt-5.4-mini-mini",
    api: ApiKind::ChatCompletions,
    premium: false,
    price: (0.15, 0.60),
};
const HAIKU: Lane = Lane {
    id: "anthropic-haiku",
    provider: "anthropic",
    model: "claude-haiku",
    api: ApiKind::Messages,
    premium: false,
    price: (1.00, 5.00),
};
const HAIKU_NEW: Lane = Lane {
    id: "anthropic-haiku",
    provider: "anthropic",
    model: "claude-haiku-4-5",
    api: ApiKind::Messages,
    premium: false,
    price: (1.10, 5.50),
};
const SONNET: Lane = Lane {
    id: "anthropic-sonnet",
    provider: "anthropic",
    model: "claude-sonnet",
    api: ApiKind::Messages,
    premium: true,
    price: (3.00, 15.00),
};

struct Team {
    team: &'static str,
    group: &'static str,
    users: &'static [&'static str],
    workflows: &'static [&'static str],
}

const TEAMS: [Team; 3] = [
    Team {
        team: "team_support",
        group: "support",
        users: &[
            "ana@support.example",
            "ben@support.example",
            "chloe@support.example",
            "dev@support.example",
            "eli@support.example",
            "fay@support.example",
            "gus@support.example",
            "hana@support.example",
        ],
        workflows: &["triage", "draft-reply", "summarise"],
    },
    Team {
        team: "team_engineering",
        group: "engineering",
        users: &[
            "ivan@eng.example",
            "jo@eng.example",
            "kai@eng.example",
            "lee@eng.example",
            "mia@eng.example",
            "noor@eng.example",
        ],
        workflows: &["codegen", "review", "summarise"],
    },
    Team {
        team: "team_finance",
        group: "finance",
        users: &["olga@fin.example", "pat@fin.example", "quinn@fin.example"],
        workflows: &["reconcile", "report"],
    },
];

/// One team-day of events. `age` is days before the last seeded day (0 = today).
fn team_day(t: &Team, day_ms: i64, age: i64, days: i64, scale: f64, now_ms: i64) -> Vec<CostEvent> {
    let date = format_day(day_ms);
    let mut rng = Rng::new(hash(&format!("{date}/{}", t.team)));
    let progress = 1.0 - age as f64 / days.max(1) as f64; // 0 at the start, 1 today
    let weekday = (day_ms / DAY_MS + 3).rem_euclid(7); // 0 = Monday
    let weekend = if weekday >= 5 { 0.45 } else { 1.0 };
    let base = match t.team {
        "team_support" => 300.0 + 350.0 * progress, // growth
        "team_engineering" => 700.0 + 150.0 * progress,
        _ => 110.0,
    };
    let mut n = (base * weekend * scale * (0.9 + 0.2 * rng.unit())).round() as u64;
    // Today: only the hours so far.
    if age == 0 {
        let frac = ((now_ms - day_ms) as f64 / DAY_MS as f64).clamp(0.05, 1.0);
        n = (n as f64 * frac).round() as u64;
    }
    let hit_rate = match t.team {
        "team_support" if age >= 8 => 0.40,
        "team_support" => 0.15, // the cache regression
        "team_engineering" => 0.22,
        _ => 0.30,
    };
    let user_weights: Vec<f64> = (0..t.users.len()).map(|i| 1.0 / (i as f64 + 1.0)).collect();
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let workflow = t.workflows[rng.pick(&match t.team {
            "team_support" => vec![0.45, 0.4, 0.15],
            "team_engineering" => vec![0.5, 0.3, 0.2],
            _ => vec![0.6, 0.4],
        })];
        let lane: &Lane = match (t.team, workflow) {
            ("team_engineering", "codegen") if rng.chance(0.15) => &SONNET,
            ("team_engineering", "summarise")
                if age < 12 && rng.chance(0.05 + 0.03 * (12 - age) as f64) =>
            {
                &SONNET // premium drift
            }
            ("team_engineering", _) => {
                // Provider shift over the last three weeks.
                let anthropic = if age >= 21 {
                    0.25
                } else {
                    0.25 + 0.45 * (21 - age) as f64 / 21.0
                };
                if rng.chance(anthropic) {
                    &HAIKU
                } else {
                    &MINI
                }
            }
            ("team_finance", _) => {
                if rng.chance(0.5) {
                    if age < 10 && rng.chance(0.5) {
                        &HAIKU_NEW
                    } else {
                        &HAIKU
                    }
                } else {
                    &MINI
                }
            }
            _ => {
                if rng.chance(0.18) {
                    &HAIKU
                } else {
                    &MINI
                }
            }
        };
        let premium_approved = lane.premium && workflow == "codegen";
        let user = t.users[rng.pick(&user_weights)];
        let ts_ms = day_ms + (rng.unit() * (DAY_MS - 1) as f64) as i64;
        let ts_ms = if age == 0 {
            ts_ms.min(now_ms - 1).max(day_ms)
        } else {
            ts_ms
        };
        let input = rng.range(2_500, 9_000) * if workflow == "summarise" { 2 } else { 1 };
        let output = rng.range(300, 1_400);
        let cost =
            ((input as f64 * lane.price.0 + output as f64 * lane.price.1) * 1000.0).round() as i64;
        let hit = !lane.premium && rng.chance(hit_rate);
        let error = !hit && rng.chance(0.01);
        let (tokens, cost_nanos, avoided, outcome, status, usage) = if hit {
            (
                Tokens::default(),
                0,
                cost,
                Outcome::Ok,
                200,
                UsageSource::None,
            )
        } else if error {
            (
                Tokens::default(),
                0,
                0,
                Outcome::ProviderError,
                502,
                UsageSource::None,
            )
        } else {
            (
                Tokens {
                    input,
                    cached_input: 0,
                    cache_write: 0,
                    cache_write_1h: 0,
                    output,
                },
                cost,
                0,
                Outcome::Ok,
                200,
                UsageSource::Reported,
            )
        };
        out.push(CostEvent {
            id: format!("demo-{date}-{}-{i}", t.group),
            ts_ms,
            consumer_group: t.group.to_string(),
            team: t.team.to_string(),
            user: Some(user.to_string()),
            workflow: Some(workflow.to_string()),
            api: lane.api,
            provider: Some(lane.provider.to_string()),
            lane: Some(lane.id.to_string()),
            model_requested: lane.model.to_string(),
            model_served: lane.model.to_string(),
            tokens,
            usage_source: usage,
            cost_nanos,
            unpriced: false,
            outcome,
            http_status: status,
            reason: error.then(|| "provider_error".to_string()),
            latency_ms: if hit {
                rng.range(2, 15) as u32
            } else {
                rng.range(400, 6_000) as u32
            },
            stream: rng.chance(0.4),
            cache: if lane.premium {
                CacheStatus::Off
            } else if hit {
                CacheStatus::Hit
            } else {
                CacheStatus::Miss
            },
            cost_avoided_nanos: avoided,
            premium: lane.premium,
            premium_approved,
            lease_id: None,
            wallet_unchecked: false,
            near_repeat: !lane.premium && !hit && demo_near_repeat(t.team, workflow, ts_ms),
            service_tier: None,
            web_search_calls: 0,
            tool_cost_nanos: 0,
            priced_by: None,
        });
    }
    out
}

/// Whether a demo miss repeated a stored answer under normalisation: support's draft
/// replies are templated, so about 38% of their misses are near-repeats (what
/// normalised caching would answer); no other workflow's are.
fn demo_near_repeat(team: &str, workflow: &str, ts_ms: i64) -> bool {
    team == "team_support" && workflow == "draft-reply" && hash(&ts_ms.to_string()) % 100 < 38
}

/// Every demo event for `days` days ending on the day of `now_ms`, one list per team
/// and day (today's holds only the hours before `now_ms`).
pub fn demo_team_days(days: u32, scale: f64, now_ms: i64) -> Vec<Vec<CostEvent>> {
    let today = now_ms.div_euclid(DAY_MS) * DAY_MS;
    let days = i64::from(days.max(1));
    let mut out = Vec::new();
    for age in (0..days).rev() {
        let day_ms = today - age * DAY_MS;
        for t in &TEAMS {
            out.push(team_day(t, day_ms, age, days, scale, now_ms));
        }
    }
    out
}

/// Every demo event for `days` days ending on the day of `now_ms`.
#[cfg(test)]
pub fn demo_events(days: u32, scale: f64, now_ms: i64) -> Vec<CostEvent> {
    demo_team_days(days, scale, now_ms).concat()
}

/// What one run of [`seed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    /// Events written by this run.
    pub stored: usize,
    /// Team-days left as an earlier run wrote them.
    pub days_already_seeded: usize,
}

/// Writes the history. Each team-day is written once: a day an earlier run seeded is
/// left as it was, even today's partial one, so running the command again (a minute
/// or a week later) never adds events to a day it already wrote; only days that were
/// never seeded are added.
pub fn seed(store: &dyn Store, days: u32, scale: f64, now_ms: i64) -> Result<Seeded, StoreError> {
    let team_days = demo_team_days(days, scale, now_ms);
    // Monthly allocations covering each month's spend (with headroom), so the wallets
    // stay in credit and live demo traffic is not refused; except team_support's for the
    // current month, which it has not asked for yet: its growing spend runs through
    // what is left before the month ends (a recommended move).
    let current_month = format_day(now_ms)[..7].to_string();
    let mut monthly: BTreeMap<(&str, String), i64> = BTreeMap::new();
    for e in team_days.iter().flatten() {
        let month = format_day(e.ts_ms)[..7].to_string();
        let team = TEAMS
            .iter()
            .find(|t| t.team == e.team)
            .map(|t| t.team)
            .unwrap_or("");
        *monthly.entry((team, month)).or_default() += e.cost_nanos;
    }
    for t in &TEAMS {
        store.ensure_wallet(t.team, now_ms)?;
    }
    for ((team, month), spent) in &monthly {
        if *team == "team_support" && *month == current_month {
            continue;
        }
        // 10% headroom, rounded up to $10.
        let step = 10 * 1_000_000_000i64;
        let amount = (spent * 11 / 10 / step + 1) * step;
        let entry = NewEntry {
            team: team.to_string(),
            kind: EntryKind::TopUp,
            amount_nanos: amount,
            actor: "seed-demo".into(),
            reason: format!("demo monthly allocation {month}"),
            idempotency_key: Some(format!("seed-demo:{team}:{month}")),
        };
        store.allocate(&entry, now_ms)?;
    }
    let ingest = |events: Vec<CostEvent>| {
        store.ingest(&IngestBatch {
            events,
            rejected: Vec::new(),
            received_ms: now_ms,
            lease_closures: Vec::new(),
            drops: Vec::new(),
            held_back: Vec::new(),
        })
    };
    // A day's first event does not depend on the time of day (its count does), so
    // writing it alone tells whether an earlier run seeded that day.
    let mut pending: Vec<CostEvent> = Vec::new();
    let mut seeded = Seeded {
        stored: 0,
        days_already_seeded: 0,
    };
    for mut day in team_days {
        if day.is_empty() {
            continue;
        }
        let rest = day.split_off(1);
        let probe = ingest(day)?;
        if probe.duplicates > 0 {
            seeded.days_already_seeded += 1;
            continue;
        }
        seeded.stored += probe.accepted;
        pending.extend(rest);
        if pending.len() >= 5_000 {
            seeded.stored += ingest(std::mem::take(&mut pending))?.accepted;
        }
    }
    if !pending.is_empty() {
        seeded.stored += ingest(pending)?.accepted;
    }
    Ok(seeded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use crate::test_util::TempDir;

    const NOW: i64 = 1_793_491_200_000 + 15 * 3_600_000; // 2026-11-01T15:00Z

    #[test]
    fn history_is_deterministic_and_tells_the_story() {
        let a = demo_events(60, 0.2, NOW);
        assert_eq!(a, demo_events(60, 0.2, NOW));
        assert!(a
            .iter()
            .all(|e| e.ts_ms <= NOW && e.ts_ms >= NOW - 60 * DAY_MS));
        assert!(a.iter().any(|e| e.premium && !e.premium_approved));
        assert!(a.iter().any(|e| e.model_served == "claude-haiku-4-5"));
        let mut ids: Vec<&str> = a.iter().map(|e| e.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), a.len(), "ids are unique");
    }

    #[test]
    fn seeding_twice_adds_nothing_and_wallets_stay_in_credit() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let first = seed(&store, 20, 0.1, NOW).unwrap();
        assert_eq!(first.stored, demo_events(20, 0.1, NOW).len());
        assert_eq!(first.days_already_seeded, 0);
        let again = seed(&store, 20, 0.1, NOW).unwrap();
        assert_eq!(again.stored, 0);
        assert_eq!(again.days_already_seeded, 20 * TEAMS.len());
        for w in store.wallets(NOW).unwrap() {
            assert!(w.balance_nanos() > 0, "{w:?}");
        }
    }

    /// A second run later the same day (across a minute boundary, and hours later)
    /// writes nothing: today's count grows with the time of day, so a run that
    /// regenerated today would add events.
    #[test]
    fn seeding_again_later_the_same_day_adds_nothing() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let before_minute = NOW + 59_900; // 15:00:59.9
        seed(&store, 5, 1.0, before_minute).unwrap();
        let events_after_first = count_events(&store);
        let evening = NOW + 8 * 3_600_000 + 59 * 60_000;
        assert!(
            demo_events(5, 1.0, evening).len() > demo_events(5, 1.0, before_minute).len(),
            "the later history is longer, so regenerating it would add events"
        );
        for later in [NOW + 60_100, NOW + 61 * 60_000, evening] {
            let again = seed(&store, 5, 1.0, later).unwrap();
            assert_eq!(again.stored, 0, "seeded again at {later}");
            assert_eq!(count_events(&store), events_after_first);
        }
    }

    /// The next day, only the new day is added; the days already written stay.
    #[test]
    fn seeding_the_next_day_adds_only_that_day() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        seed(&store, 5, 1.0, NOW).unwrap();
        let before = count_events(&store);
        let next = seed(&store, 5, 1.0, NOW + DAY_MS).unwrap();
        assert_eq!(next.days_already_seeded, 4 * TEAMS.len());
        let tomorrow: usize = demo_team_days(5, 1.0, NOW + DAY_MS)
            .iter()
            .rev()
            .take(TEAMS.len())
            .map(Vec::len)
            .sum();
        assert_eq!(next.stored, tomorrow);
        assert_eq!(count_events(&store), before + tomorrow);
    }

    fn count_events(store: &SqliteStore) -> usize {
        let rows = store
            .spend(&crate::query::SpendQuery {
                group_by: Vec::new(),
                from_ms: 0,
                to_ms: NOW + 30 * DAY_MS,
                filters: Default::default(),
                calendar: Default::default(),
            })
            .unwrap();
        rows.iter().map(|r| r.sums.requests as usize).sum()
    }
}
