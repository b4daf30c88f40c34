//! Tollgate's cost against the provider's, per UTC day × provider × model, and a
//! verdict for each.
//!
//! * `match`: the two agree within the tolerance: |variance| ≤ max(`nanos`,
//!   `basis_points` / 10,000 of the provider's amount). The default, half a cent or
//!   0.1 %, absorbs a report rounded to the cent and nothing a price error makes.
//! * `over` / `under`: Tollgate's cost is higher / lower than the provider's by more.
//! * `missing_in_tollgate`: the provider charged for a model Tollgate saw no request of.
//! * `missing_at_provider`: Tollgate recorded cost the provider's report for that day
//!   (imported: it has other lines that day) does not show.
//! * `no_provider_report`: no cost report of that provider covers the day.
//!
//! Each provider and day also gets a row for all models together (model `*`): the
//! providers report some charges without a model (Anthropic's web search), which
//! Tollgate counts in the model's cost.
//!
//! Usage reports are compared apart (`usage_verdict`): token counts must be equal.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tollgate_core::money::{format_decimal, format_usd};

use crate::clock::format_day;
use crate::reconcile::models::normalise;
use crate::store::reconciliation::{ProviderLine, ReportKind};
use crate::store::types::Sums;

/// The model of a provider and day's all-models row.
pub const ALL_MODELS: &str = "*";

/// How far apart the two costs may be and still match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tolerance {
    pub nanos: i64,
    pub basis_points: i64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            nanos: 5_000_000,
            basis_points: 10,
        }
    }
}

impl Tolerance {
    fn allows(&self, variance: i64, provider: i64) -> bool {
        let relative = i128::from(provider).abs() * i128::from(self.basis_points) / 10_000;
        i128::from(variance).abs() <= relative.max(i128::from(self.nanos))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Match,
    Over,
    Under,
    MissingInTollgate,
    MissingAtProvider,
    NoProviderReport,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::Over => "over",
            Verdict::Under => "under",
            Verdict::MissingInTollgate => "missing_in_tollgate",
            Verdict::MissingAtProvider => "missing_at_provider",
            Verdict::NoProviderReport => "no_provider_report",
        }
    }
}

/// Tollgate's spend of one UTC day, provider and model (as served).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TollgateDay {
    pub day_ms: i64,
    pub provider: String,
    pub model: String,
    pub sums: Sums,
}

/// Token counts, as both sides report them. Cache writes are 5-minute and 1-hour
/// together (Tollgate's rollups count them together).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TokenCounts {
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
}

/// One row of the reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub provider: String,
    /// The model both sides are compared under (`*`: all models that day).
    pub model: String,
    pub tollgate_cost_nanos: i64,
    /// `None`: no cost line of the provider for this row.
    pub provider_cost_nanos: Option<i64>,
    /// Tollgate's minus the provider's (the provider's taken as 0 when absent).
    pub variance_nanos: i64,
    pub variance_usd: String,
    /// The variance as a percentage of the provider's cost, two decimals; `None` when
    /// the provider's cost is 0 or absent.
    pub variance_pct: Option<String>,
    pub verdict: Verdict,
    pub tollgate_requests: i64,
    pub tollgate_tokens: TokenCounts,
    /// The provider's usage report's counts, when one was imported for this row.
    pub provider_tokens: Option<TokenCounts>,
    /// `match` / `differs` when the provider's usage report covers the row.
    pub usage_verdict: Option<&'static str>,
    /// The names each side used, as reported.
    pub tollgate_models: Vec<String>,
    pub provider_models: Vec<String>,
}

#[derive(Default)]
struct Side {
    tollgate: Sums,
    tollgate_seen: bool,
    cost: Option<i64>,
    usage: Option<TokenCounts>,
    tollgate_models: BTreeSet<String>,
    provider_models: BTreeSet<String>,
}

fn add_tokens(a: &mut TokenCounts, l: &ProviderLine) {
    a.input_tokens = a.input_tokens.saturating_add(l.input_tokens);
    a.cached_input_tokens = a.cached_input_tokens.saturating_add(l.cached_input_tokens);
    a.cache_write_tokens = a
        .cache_write_tokens
        .saturating_add(l.cache_write_tokens.saturating_add(l.cache_write_1h_tokens));
    a.output_tokens = a.output_tokens.saturating_add(l.output_tokens);
}

fn tokens_of(s: &Sums) -> TokenCounts {
    TokenCounts {
        input_tokens: s.input_tokens,
        cached_input_tokens: s.cached_input_tokens,
        cache_write_tokens: s.cache_write_tokens,
        output_tokens: s.output_tokens,
    }
}

/// `variance / provider` in percent, two decimals, rounded half away from zero.
fn percent(variance: i64, provider: i64) -> Option<String> {
    if provider == 0 {
        return None;
    }
    let num = i128::from(variance) * 10_000;
    let den = i128::from(provider).abs();
    let hundredths = (num.abs() + den / 2) / den * num.signum();
    Some(format_decimal(hundredths, 2, 2))
}

/// The reconciliation of `tollgate`'s spend with `provider`'s report lines, ordered by
/// day, provider and model (each day's `*` row first).
pub fn reconcile(tollgate: &[TollgateDay], provider: &[ProviderLine], tol: Tolerance) -> Vec<Row> {
    // (day, provider, model) → both sides; model `*` sums every model.
    let mut groups: BTreeMap<(i64, String, String), Side> = BTreeMap::new();
    // (day, provider) that a cost report / usage report covers.
    let mut cost_days: BTreeSet<(i64, String)> = BTreeSet::new();
    let mut usage_days: BTreeSet<(i64, String)> = BTreeSet::new();
    for t in tollgate {
        for model in [normalise(&t.model), ALL_MODELS.to_string()] {
            let side = groups
                .entry((t.day_ms, t.provider.clone(), model))
                .or_default();
            side.tollgate = side.tollgate.checked_add(&t.sums).unwrap_or(side.tollgate);
            side.tollgate_seen |= t.sums.requests > 0 || t.sums.cost_nanos != 0;
            side.tollgate_models.insert(t.model.clone());
        }
    }
    for l in provider {
        let day = (l.day_ms, l.provider.clone());
        match l.kind {
            ReportKind::Cost => cost_days.insert(day),
            ReportKind::Usage => usage_days.insert(day),
        };
        for model in [normalise(&l.model), ALL_MODELS.to_string()] {
            let side = groups
                .entry((l.day_ms, l.provider.clone(), model))
                .or_default();
            side.provider_models.insert(l.model.clone());
            match l.kind {
                ReportKind::Cost => {
                    side.cost = Some(side.cost.unwrap_or(0).saturating_add(l.amount_nanos))
                }
                ReportKind::Usage => add_tokens(side.usage.get_or_insert_with(Default::default), l),
            }
        }
    }
    let mut rows = Vec::new();
    for ((day_ms, prov, model), side) in groups {
        let ours = side.tollgate.cost_nanos;
        let day = (day_ms, prov.clone());
        // Nothing to reconcile: no cost on our side (cache hits only) and no line on theirs.
        if ours == 0 && side.cost.is_none() && side.usage.is_none() {
            continue;
        }
        let theirs = side.cost.unwrap_or(0);
        let variance = ours.saturating_sub(theirs);
        let verdict = match side.cost {
            Some(_) if !side.tollgate_seen && theirs != 0 => Verdict::MissingInTollgate,
            Some(_) if tol.allows(variance, theirs) => Verdict::Match,
            Some(_) if variance > 0 => Verdict::Over,
            Some(_) => Verdict::Under,
            None if !cost_days.contains(&day) => Verdict::NoProviderReport,
            None if tol.allows(variance, 0) => Verdict::Match,
            None => Verdict::MissingAtProvider,
        };
        let ours_tokens = tokens_of(&side.tollgate);
        let usage_verdict = if usage_days.contains(&day) {
            Some(if side.usage.unwrap_or_default() == ours_tokens {
                "match"
            } else {
                "differs"
            })
        } else {
            None
        };
        rows.push(Row {
            day: format_day(day_ms),
            provider: prov,
            model,
            tollgate_cost_nanos: ours,
            provider_cost_nanos: side.cost,
            variance_nanos: variance,
            variance_usd: format_usd(variance),
            variance_pct: side.cost.and_then(|c| percent(variance, c)),
            verdict,
            tollgate_requests: side.tollgate.requests,
            tollgate_tokens: ours_tokens,
            provider_tokens: side.usage,
            usage_verdict,
            tollgate_models: side.tollgate_models.into_iter().collect(),
            provider_models: side.provider_models.into_iter().collect(),
        });
    }
    // Each provider's day: the all-models row first.
    rows.sort_by(|a, b| {
        (&a.day, &a.provider, a.model != ALL_MODELS, &a.model).cmp(&(
            &b.day,
            &b.provider,
            b.model != ALL_MODELS,
            &b.model,
        ))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    const D0: i64 = 1_793_491_200_000; // 2026-11-01

    fn ours(day_ms: i64, provider: &str, model: &str, cost: i64) -> TollgateDay {
        TollgateDay {
            day_ms,
            provider: provider.into(),
            model: model.into(),
            sums: Sums {
                requests: 1,
                input_tokens: 10,
                output_tokens: 5,
                cost_nanos: cost,
                ..Sums::default()
            },
        }
    }

    fn cost(day_ms: i64, provider: &str, model: &str, line: &str, nanos: i64) -> ProviderLine {
        let mut l = ProviderLine::empty(provider, ReportKind::Cost, day_ms, model, line);
        l.amount_nanos = nanos;
        l
    }

    fn row<'a>(rows: &'a [Row], provider: &str, model: &str) -> &'a Row {
        rows.iter()
            .find(|r| r.provider == provider && r.model == model)
            .unwrap_or_else(|| panic!("no row {provider} {model} in {rows:#?}"))
    }

    #[test]
    fn snapshots_meet_their_alias_and_agree_to_the_nanodollar() {
        let t = [ours(D0, "openai", "gpt-4o-2024-08-06", 62_500_000)];
        let p = [
            cost(
                D0,
                "openai",
                "gpt-4o-2024-08-06",
                "|gpt-4o-2024-08-06, input",
                12_500_000,
            ),
            cost(D0, "openai", "gpt-4o", "|gpt-4o, output", 50_000_000),
        ];
        let rows = reconcile(&t, &p, Tolerance::default());
        assert_eq!(rows.len(), 2, "{rows:#?}");
        assert_eq!(rows[0].model, "*");
        let r = row(&rows, "openai", "gpt-4o");
        assert_eq!(r.day, "2026-11-01");
        assert_eq!(
            (
                r.tollgate_cost_nanos,
                r.provider_cost_nanos,
                r.variance_nanos
            ),
            (62_500_000, Some(62_500_000), 0)
        );
        assert_eq!(r.verdict, Verdict::Match);
        assert_eq!(r.variance_pct.as_deref(), Some("0.00"));
        assert_eq!(r.provider_models, vec!["gpt-4o", "gpt-4o-2024-08-06"]);
    }

    #[test]
    fn a_variance_beyond_the_tolerance_is_over_or_under() {
        let t = [
            ours(D0, "openai", "gpt-4o", 2_000_000_000),
            ours(D0, "anthropic", "claude-sonnet-4", 1_000_000_000),
        ];
        let p = [
            cost(D0, "openai", "gpt-4o", "a", 1_000_000_000),
            cost(
                D0,
                "anthropic",
                "claude-sonnet-4-20250514",
                "b",
                1_500_000_000,
            ),
        ];
        let rows = reconcile(&t, &p, Tolerance::default());
        let o = row(&rows, "openai", "gpt-4o");
        assert_eq!(
            (o.verdict, o.variance_nanos),
            (Verdict::Over, 1_000_000_000)
        );
        assert_eq!(
            (o.variance_usd.as_str(), o.variance_pct.as_deref()),
            ("1.00", Some("100.00"))
        );
        let a = row(&rows, "anthropic", "claude-sonnet-4");
        assert_eq!(
            (a.verdict, a.variance_pct.as_deref()),
            (Verdict::Under, Some("-33.33"))
        );
        assert_eq!(a.variance_usd, "-0.50");
        // Within half a cent, or 0.1 % of a large amount: a match.
        let t = [
            ours(D0, "openai", "gpt-4o", 100_004_999),
            ours(D0, "openai", "o3", 10_000_000_000 + 9_000_000),
        ];
        let p = [
            cost(D0, "openai", "gpt-4o", "a", 100_000_000),
            cost(D0, "openai", "o3", "b", 10_000_000_000),
        ];
        let rows = reconcile(&t, &p, Tolerance::default());
        assert_eq!(row(&rows, "openai", "gpt-4o").verdict, Verdict::Match);
        assert_eq!(row(&rows, "openai", "o3").verdict, Verdict::Match);
        let strict = Tolerance {
            nanos: 0,
            basis_points: 0,
        };
        let rows = reconcile(&t, &p, strict);
        assert_eq!(row(&rows, "openai", "gpt-4o").verdict, Verdict::Over);
    }

    #[test]
    fn a_side_without_the_other_is_named() {
        let t = [
            ours(D0, "openai", "gpt-4o", 5_000_000_000),
            ours(D0 + 86_400_000, "openai", "gpt-4o", 7),
        ];
        let p = [cost(D0, "openai", "o3", "x", 3_000_000_000)];
        let rows = reconcile(&t, &p, Tolerance::default());
        assert_eq!(
            row(&rows, "openai", "o3").verdict,
            Verdict::MissingInTollgate
        );
        let g = rows
            .iter()
            .find(|r| r.model == "gpt-4o" && r.day == "2026-11-01")
            .unwrap();
        assert_eq!(
            (g.verdict, g.provider_cost_nanos),
            (Verdict::MissingAtProvider, None)
        );
        let next = rows
            .iter()
            .find(|r| r.model == "gpt-4o" && r.day == "2026-11-02")
            .unwrap();
        assert_eq!(next.verdict, Verdict::NoProviderReport);
        // The day's total: 5 (ours) against 3 (theirs).
        let all = rows
            .iter()
            .find(|r| r.model == "*" && r.day == "2026-11-01")
            .unwrap();
        assert_eq!(
            (all.verdict, all.variance_nanos),
            (Verdict::Over, 2_000_000_000)
        );
    }

    #[test]
    fn usage_is_compared_token_by_token() {
        let t = [ours(D0, "anthropic", "claude-3-5-haiku-20241022", 1)];
        let mut u = ProviderLine::empty(
            "anthropic",
            ReportKind::Usage,
            D0,
            "claude-3-5-haiku-20241022",
            "",
        );
        u.input_tokens = 10;
        u.output_tokens = 5;
        let rows = reconcile(&t, &[u.clone()], Tolerance::default());
        let r = row(&rows, "anthropic", "claude-3-5-haiku");
        assert_eq!(r.usage_verdict, Some("match"));
        assert_eq!(r.verdict, Verdict::NoProviderReport);
        u.output_tokens = 6;
        let rows = reconcile(&t, &[u], Tolerance::default());
        assert_eq!(
            row(&rows, "anthropic", "claude-3-5-haiku").usage_verdict,
            Some("differs")
        );
    }
}
