//! Splitting a group's cost over its token kinds, exactly.
//!
//! Events store one total cost each, not a cost per kind, so a per-kind row needs an
//! allocation. Per-call tool charges (web search) are recorded apart on each event and
//! stay a line of their own; the rest, the group's token cost `C` (nanodollars: the
//! sum of its events' costs, the very number `/v1/spend` reports, less the tool
//! charges) is shared out in proportion to each kind's list cost `tokens_k × price_k`
//! (the standard rates of the price table the ledger knows):
//!
//! * `c_k = floor(C × w_k / W)` for each kind, `W = Σ w_k`;
//! * the remainder `C − Σ c_k` (at most 4 nanodollars) goes to the kind with the
//!   largest weight.
//!
//! So `Σ c_k == C` always, to the nanodollar, whatever the prices. When the ledger's
//! prices are the ones the filter charged with (the normal case: prices quoted to a
//! thousandth of a dollar per million tokens make every event's cost exact),
//! `C × w_k / W` is already an integer and each kind's cost is exactly
//! `tokens_k × price_k`. When they differ (a price changed mid-period, an override the
//! ledger was not given, a model it has no price for) the split is proportional and
//! the total is still exact (so are requests priced at a service tier's or the
//! long-context rates: their kinds share the cost in proportion to the standard rates).
//! Without a price the weights are the token counts; with no
//! tokens at all, any cost goes to `input`.

use tollgate_core::pricing::{ModelPrice, ModelRates};

use crate::store::export::BillingExtras;
use crate::store::Sums;

/// How tokens are priced, in the order rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Input,
    CachedInput,
    /// 5-minute cache writes.
    CacheWrite,
    /// 1-hour cache writes.
    CacheWrite1h,
    Output,
}

impl TokenKind {
    pub const ALL: [TokenKind; 5] = [
        TokenKind::Input,
        TokenKind::CachedInput,
        TokenKind::CacheWrite,
        TokenKind::CacheWrite1h,
        TokenKind::Output,
    ];

    /// The name used in the event's `tokens` object.
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::Input => "input",
            TokenKind::CachedInput => "cached_input",
            TokenKind::CacheWrite => "cache_write",
            TokenKind::CacheWrite1h => "cache_write_1h",
            TokenKind::Output => "output",
        }
    }

    /// A readable meter name (FOCUS `SkuMeter`).
    pub fn meter(self) -> &'static str {
        match self {
            TokenKind::Input => "Input Tokens",
            TokenKind::CachedInput => "Cached Input Tokens",
            TokenKind::CacheWrite => "Cache Write Tokens",
            TokenKind::CacheWrite1h => "1-Hour Cache Write Tokens",
            TokenKind::Output => "Output Tokens",
        }
    }

    /// Micro-dollars per million tokens.
    pub fn price(self, p: &ModelRates) -> u64 {
        match self {
            TokenKind::Input => p.input,
            TokenKind::CachedInput => p.cached_input,
            TokenKind::CacheWrite => p.cache_write,
            TokenKind::CacheWrite1h => p.cache_write_1h,
            TokenKind::Output => p.output,
        }
    }
}

/// A group's tokens per kind (in [`TokenKind::ALL`] order): the rollups' sums with
/// the 1-hour writes taken out of `cache_write_tokens` (which counts every write).
pub fn kind_tokens(sums: &Sums, extras: &BillingExtras) -> [i64; 5] {
    let one_hour = extras
        .cache_write_1h_tokens
        .clamp(0, sums.cache_write_tokens.max(0));
    [
        sums.input_tokens,
        sums.cached_input_tokens,
        sums.cache_write_tokens - one_hour,
        one_hour,
        sums.output_tokens,
    ]
}

/// A group's token cost and cost avoided, per token kind (in [`TokenKind::ALL`]
/// order), and its per-call tool charge apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindSplit {
    pub tokens: [i64; 5],
    pub cost_nanos: [i64; 5],
    pub cost_avoided_nanos: [i64; 5],
    /// Web search charges: not split, they are a line of their own.
    pub tool_cost_nanos: i64,
}

/// Splits the group's token cost (its cost less the tool charges) and its cost
/// avoided over the token kinds; see the module documentation. Token parts plus the
/// tool charge sum exactly to the group's total.
pub fn split_by_kind(sums: &Sums, extras: &BillingExtras, price: Option<&ModelPrice>) -> KindSplit {
    let counts = kind_tokens(sums, extras);
    let tokens = counts.map(|t| u128::try_from(t).unwrap_or(0));
    let priced = price.map(|p| {
        let mut w = [0u128; 5];
        for (i, k) in TokenKind::ALL.into_iter().enumerate() {
            w[i] = tokens[i] * u128::from(k.price(&p.base));
        }
        w
    });
    let weights = match priced {
        Some(w) if w.iter().any(|&x| x > 0) => w,
        _ if tokens.iter().any(|&t| t > 0) => tokens,
        _ => [1, 0, 0, 0, 0],
    };
    let tool = extras.tool_cost_nanos;
    KindSplit {
        tokens: counts,
        cost_nanos: split_exact(sums.cost_nanos.saturating_sub(tool), weights),
        cost_avoided_nanos: split_exact(sums.cost_avoided_nanos, weights),
        tool_cost_nanos: tool,
    }
}

/// Shares `total` out in proportion to `weights` (not all zero): floors, then the
/// remainder to the heaviest weight (the first on a tie). The parts sum to `total`.
pub fn split_exact<const N: usize>(total: i64, weights: [u128; N]) -> [i64; N] {
    let magnitude = u128::from(total.unsigned_abs());
    // Keep `magnitude × weight` within u128: |total| < 2^64, so weights must stay
    // below 2^64. Scaling them all down together changes the split by at most a
    // rounding step and never the total.
    let max = weights.iter().copied().max().unwrap_or(0);
    let shift = (128 - max.leading_zeros()).saturating_sub(64);
    let w = weights.map(|x| x >> shift);
    let sum: u128 = w.iter().sum();
    let mut parts = [0u128; N];
    for (part, weight) in parts.iter_mut().zip(w) {
        // `sum` is 0 only when every weight is: then the remainder below takes it all.
        *part = (magnitude * weight).checked_div(sum).unwrap_or(0);
    }
    let heaviest = (0..N).fold(0, |best, i| if w[i] > w[best] { i } else { best });
    parts[heaviest] += magnitude - parts.iter().sum::<u128>();
    parts.map(|p| {
        // Each part is at most |total|, so it fits in i64 with total's sign.
        let p = i64::try_from(p).unwrap_or(i64::MAX);
        if total < 0 {
            -p
        } else {
            p
        }
    })
}

/// The unit price that makes `cost = price × tokens / 10^6` hold, in nanodollars per
/// million tokens, rounded half up; `None` without tokens. Exact (the list price
/// itself) whenever the cost is `tokens × price`.
pub fn unit_price_nanos_per_mtok(cost_nanos: i64, tokens: i64) -> Option<i128> {
    if tokens <= 0 {
        return None;
    }
    let num = i128::from(cost_nanos) * 1_000_000;
    let t = i128::from(tokens);
    let q = num.div_euclid(t);
    let r = num.rem_euclid(t);
    Some(if 2 * r >= t { q + 1 } else { q })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(tokens: [i64; 4], cost: i64, avoided: i64) -> Sums {
        Sums {
            requests: 1,
            input_tokens: tokens[0],
            cached_input_tokens: tokens[1],
            cache_write_tokens: tokens[2],
            output_tokens: tokens[3],
            cost_nanos: cost,
            cost_avoided_nanos: avoided,
        }
    }

    const HAIKU_RATES: ModelRates = ModelRates {
        input: 800_000,
        cached_input: 80_000,
        cache_write: 1_000_000,
        cache_write_1h: 1_600_000,
        output: 4_000_000,
    };

    fn haiku() -> ModelPrice {
        ModelPrice::flat(HAIKU_RATES)
    }

    const NONE: BillingExtras = BillingExtras {
        cache_write_1h_tokens: 0,
        web_search_calls: 0,
        tool_cost_nanos: 0,
    };

    #[test]
    fn matching_prices_split_to_exact_list_costs() {
        // 1000×0.80 + 2000×0.08 + 3000×1.00 + 500×4.00 µ$ = 800+160+3000+2000 µ$.
        let s = sums([1000, 2000, 3000, 500], 5_960_000, 0);
        let split = split_by_kind(&s, &NONE, Some(&haiku()));
        assert_eq!(
            split.cost_nanos,
            [800_000, 160_000, 3_000_000, 0, 2_000_000]
        );
        for (i, k) in TokenKind::ALL.into_iter().enumerate() {
            // The derived unit price is the list price, in nanodollars per MTok.
            if split.tokens[i] > 0 {
                assert_eq!(
                    unit_price_nanos_per_mtok(split.cost_nanos[i], split.tokens[i]),
                    Some(i128::from(k.price(&HAIKU_RATES)) * 1000)
                );
            }
        }
    }

    #[test]
    fn one_hour_writes_and_tool_charges_are_lines_of_their_own() {
        // 3000 writes, 1000 of them for an hour; 2 web searches at $0.01.
        // 1000×0.80 + 2000×1.00 + 1000×1.60 + 500×4.00 = 800 + 2000 + 1600 + 2000 µ$.
        let s = sums([1000, 0, 3000, 500], 6_400_000 + 20_000_000, 0);
        let extras = BillingExtras {
            cache_write_1h_tokens: 1000,
            web_search_calls: 2,
            tool_cost_nanos: 20_000_000,
        };
        let split = split_by_kind(&s, &extras, Some(&haiku()));
        assert_eq!(split.tokens, [1000, 0, 2000, 1000, 500]);
        assert_eq!(
            split.cost_nanos,
            [800_000, 0, 2_000_000, 1_600_000, 2_000_000]
        );
        assert_eq!(split.tool_cost_nanos, 20_000_000);
        assert_eq!(
            split.cost_nanos.iter().sum::<i64>() + split.tool_cost_nanos,
            s.cost_nanos
        );
    }

    #[test]
    fn drifted_prices_still_sum_exactly_with_the_remainder_on_the_heaviest_kind() {
        let s = sums([7, 3, 0, 11], 10_001, 13);
        let split = split_by_kind(&s, &NONE, Some(&haiku()));
        assert_eq!(split.cost_nanos.iter().sum::<i64>(), 10_001);
        assert_eq!(split.cost_avoided_nanos.iter().sum::<i64>(), 13);
        // Output carries the largest list cost (11 × 4.00 µ$), so the remainder.
        let floors = [10_001 * 5_600 / 49_840, 10_001 * 240 / 49_840, 0];
        assert_eq!(&split.cost_nanos[..3], &floors);
        assert_eq!(split.cost_nanos[2], 0, "no tokens of a kind: no cost");
        assert_eq!(split.cost_nanos[4], 10_001 - floors[0] - floors[1]);
    }

    #[test]
    fn without_prices_or_tokens_the_total_still_lands_somewhere() {
        let s = sums([1, 0, 0, 2], 1, 0);
        assert_eq!(split_by_kind(&s, &NONE, None).cost_nanos, [0, 0, 0, 0, 1]);
        let s = sums([0, 0, 0, 0], 5, 2);
        let split = split_by_kind(&s, &NONE, Some(&haiku()));
        assert_eq!(split.cost_nanos, [5, 0, 0, 0, 0]);
        assert_eq!(split.cost_avoided_nanos, [2, 0, 0, 0, 0]);
        // Zero-priced tokens fall back to token weights.
        let free = ModelPrice::flat(ModelRates::new(0, 0, 0));
        let s = sums([3, 0, 0, 1], 4, 0);
        assert_eq!(
            split_by_kind(&s, &NONE, Some(&free)).cost_nanos,
            [3, 0, 0, 0, 1]
        );
    }

    #[test]
    fn huge_numbers_neither_overflow_nor_lose_a_nanodollar() {
        let s = sums([i64::MAX, i64::MAX, 1, i64::MAX], i64::MAX, i64::MAX - 1);
        let opus = ModelPrice::flat(ModelRates::new(15_000_000, 1_500_000, 75_000_000));
        let split = split_by_kind(&s, &NONE, Some(&opus));
        let total: i128 = split.cost_nanos.iter().map(|&c| i128::from(c)).sum();
        assert_eq!(total, i128::from(i64::MAX));
        assert!(split.cost_nanos.iter().all(|&c| c >= 0));
        assert_eq!(split_exact(-7, [1, 1, 1, 0]), [-3, -2, -2, 0]);
    }

    #[test]
    fn unit_prices_round_half_up() {
        assert_eq!(unit_price_nanos_per_mtok(1, 3), Some(333_333));
        assert_eq!(unit_price_nanos_per_mtok(2, 3), Some(666_667));
        assert_eq!(unit_price_nanos_per_mtok(0, 3), Some(0));
        assert_eq!(unit_price_nanos_per_mtok(5, 0), None);
    }
}
