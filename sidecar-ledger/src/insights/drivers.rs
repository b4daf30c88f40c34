//! "What drove the change": the spend difference between two periods split into
//! effects that add up exactly to it, in integer nanodollars.
//!
//! ## Model
//! Spend is summed over cells `c = (lane, model)`. In each period, a cell's cost is the
//! product of six factors:
//!
//! ```text
//! cost_c = V · s_l · w_c · q_c · t_c · p_c
//!   V   = requests (all cells)                          -> volume
//!   t_c = tokens per billed request                     -> tokens per request
//!   s_l = requests of lane l / V                        -> provider/lane mix
//!   w_c = requests of cell c / requests of its lane     -> model shift
//!   q_c = billed (not cache-hit) requests / requests    -> cache hit rate
//!   p_c = cost / tokens of billed requests              -> price (cost per token)
//! ```
//!
//! The product telescopes to the cell's cost exactly (in real numbers). Each cell's
//! change is split among the six factors with the **Shapley value**: a factor's
//! effect is its marginal contribution averaged over every order in which the six
//! factors could be switched from period A to period B. Shapley effects are
//! symmetric and add up exactly to the cell's change, and unlike LMDI they need no
//! logarithm, so zeros are ordinary values.
//!
//! ## New, dropped and idle cells
//! A cell absent from one period has a zero factor there, and which one says why:
//! a lane not used at all has `s_l = 0` (mix), a model new to a used lane `w_c = 0`
//! (model shift), a period without requests `V = 0` (volume), a cell whose requests
//! were all cache hits `q_c = 0` (cache). Factors that are undefined in a period (0/0,
//! e.g. tokens per request with no billed request) take the other period's value, so
//! they contribute nothing. Cells with no cost in either period contribute nothing.
//! A cell with cost but no tokens (not produced by the filter) is priced per billed
//! request instead (`t = 1`).
//!
//! ## Exactness
//! Effects are computed in `f64` per cell, summed per effect, and rounded to whole
//! nanodollars. The difference between the exact integer spend change and the sum of
//! the rounded effects (a few nanodollars at most) is added to [`Effect::Price`] and
//! reported as `remainder_nanos`, so the effects always add up exactly.

use std::collections::BTreeMap;

use serde::Serialize;

/// The six effects, in the order a waterfall shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Volume,
    TokensPerRequest,
    Mix,
    ModelShift,
    CacheRate,
    Price,
}

impl Effect {
    pub const ALL: [Effect; 6] = [
        Effect::Volume,
        Effect::TokensPerRequest,
        Effect::Mix,
        Effect::ModelShift,
        Effect::CacheRate,
        Effect::Price,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Volume => "volume",
            Effect::TokensPerRequest => "tokens_per_request",
            Effect::Mix => "mix",
            Effect::ModelShift => "model_shift",
            Effect::CacheRate => "cache_rate",
            Effect::Price => "price",
        }
    }

    /// How a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            Effect::Volume => "request volume",
            Effect::TokensPerRequest => "tokens per request",
            Effect::Mix => "provider/lane mix",
            Effect::ModelShift => "model shift",
            Effect::CacheRate => "cache hit rate",
            Effect::Price => "price per token",
        }
    }

    /// Index of the factor in the cell model (same order as [`Effect::ALL`]).
    fn index(self) -> usize {
        Effect::ALL.iter().position(|e| *e == self).unwrap_or(0)
    }
}

/// The effect that absorbs the integer rounding remainder.
pub const REMAINDER_EFFECT: Effect = Effect::Price;

/// One cell's totals in one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CellSums {
    /// Every request (cache hits, refusals and errors included).
    pub requests: i64,
    /// Requests not answered from the cache.
    pub billed_requests: i64,
    /// Tokens of the billed requests (all kinds).
    pub tokens: i64,
    pub cost_nanos: i64,
}

/// A cell's key: `(lane, model)`; lanes group cells for the mix factor.
pub type CellKey = (String, String);

/// A cell's status across the two periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// Cost in both periods.
    Both,
    /// Cost only in period B.
    New,
    /// Cost only in period A.
    Dropped,
    /// No cost in either period.
    Idle,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellDrivers {
    pub lane: String,
    pub model: String,
    pub status: CellStatus,
    pub a: CellSumsJson,
    pub b: CellSumsJson,
    /// This cell's effects, rounded (the exact totals are in [`Decomposition`]).
    pub effects: BTreeMap<&'static str, i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CellSumsJson {
    pub requests: i64,
    pub billed_requests: i64,
    pub tokens: i64,
    pub cost_nanos: i64,
}

impl From<CellSums> for CellSumsJson {
    fn from(c: CellSums) -> Self {
        CellSumsJson {
            requests: c.requests,
            billed_requests: c.billed_requests,
            tokens: c.tokens,
            cost_nanos: c.cost_nanos,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decomposition {
    pub a_cost_nanos: i64,
    pub b_cost_nanos: i64,
    /// `b - a`; always equal to the sum of `effects`.
    pub difference_nanos: i64,
    /// In [`Effect::ALL`] order.
    pub effects: Vec<(Effect, i64)>,
    /// Added to [`REMAINDER_EFFECT`] to make the sum exact.
    pub remainder_nanos: i64,
    pub cells: Vec<CellDrivers>,
}

impl Decomposition {
    #[cfg(test)]
    pub fn effect(&self, e: Effect) -> i64 {
        self.effects
            .iter()
            .find(|(k, _)| *k == e)
            .map(|(_, v)| *v)
            .unwrap_or(0)
    }
}

const N: usize = 6;

/// Shapley weight of a coalition of `k` other factors: k!(n-k-1)!/n!.
fn weight(k: usize) -> f64 {
    let fact = |m: usize| (1..=m).product::<usize>() as f64;
    fact(k) * fact(N - k - 1) / fact(N)
}

/// Shapley effects of switching each factor from `a` to `b` in a product.
pub fn shapley_product(a: &[f64; N], b: &[f64; N]) -> [f64; N] {
    let value = |mask: usize| -> f64 {
        (0..N)
            .map(|i| if mask & (1 << i) != 0 { b[i] } else { a[i] })
            .product()
    };
    let mut out = [0.0; N];
    for (i, slot) in out.iter_mut().enumerate() {
        let bit = 1 << i;
        for mask in 0..(1usize << N) {
            if mask & bit != 0 {
                continue;
            }
            let k = mask.count_ones() as usize;
            *slot += weight(k) * (value(mask | bit) - value(mask));
        }
    }
    out
}

/// `num / den`, or `None` when undefined (0/0 or x/0).
fn ratio(num: i64, den: i64) -> Option<f64> {
    (den != 0).then(|| num as f64 / den as f64)
}

/// Factor values of one period, `None` where undefined.
fn factors(
    volume: i64,
    lane_requests: i64,
    c: &CellSums,
    per_request_pricing: bool,
) -> [Option<f64>; N] {
    let (t, p) = if per_request_pricing {
        (Some(1.0), ratio(c.cost_nanos, c.billed_requests))
    } else {
        (
            ratio(c.tokens, c.billed_requests),
            ratio(c.cost_nanos, c.tokens),
        )
    };
    let mut f = [None; N];
    f[Effect::Volume.index()] = Some(volume as f64);
    f[Effect::Mix.index()] = ratio(lane_requests, volume);
    f[Effect::ModelShift.index()] = ratio(c.requests, lane_requests);
    f[Effect::CacheRate.index()] = ratio(c.billed_requests, c.requests);
    f[Effect::TokensPerRequest.index()] = t;
    f[Effect::Price.index()] = p;
    f
}

/// Splits the spend change from `a` to `b` into the six effects.
pub fn decompose(
    a: &BTreeMap<CellKey, CellSums>,
    b: &BTreeMap<CellKey, CellSums>,
) -> Decomposition {
    let total = |m: &BTreeMap<CellKey, CellSums>| -> (i64, i64, BTreeMap<String, i64>) {
        let mut lanes: BTreeMap<String, i64> = BTreeMap::new();
        let (mut requests, mut cost) = (0i64, 0i64);
        for ((lane, _), c) in m {
            requests += c.requests;
            cost += c.cost_nanos;
            *lanes.entry(lane.clone()).or_default() += c.requests;
        }
        (requests, cost, lanes)
    };
    let (va, ca, lanes_a) = total(a);
    let (vb, cb, lanes_b) = total(b);

    let mut keys: Vec<&CellKey> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();

    let mut sums = [0.0f64; N];
    let mut cells = Vec::with_capacity(keys.len());
    for key in keys {
        let sa = a.get(key).copied().unwrap_or_default();
        let sb = b.get(key).copied().unwrap_or_default();
        let status = match (sa.cost_nanos != 0, sb.cost_nanos != 0) {
            (true, true) => CellStatus::Both,
            (false, true) => CellStatus::New,
            (true, false) => CellStatus::Dropped,
            (false, false) => CellStatus::Idle,
        };
        let mut effects = BTreeMap::new();
        if status != CellStatus::Idle {
            let per_request =
                (sa.cost_nanos != 0 && sa.tokens == 0) || (sb.cost_nanos != 0 && sb.tokens == 0);
            let la = lanes_a.get(&key.0).copied().unwrap_or(0);
            let lb = lanes_b.get(&key.0).copied().unwrap_or(0);
            let fa = factors(va, la, &sa, per_request);
            let fb = factors(vb, lb, &sb, per_request);
            let mut xa = [0.0; N];
            let mut xb = [0.0; N];
            for i in 0..N {
                // Undefined in one period: the other period's value (no effect).
                let (x, y) = match (fa[i], fb[i]) {
                    (Some(x), Some(y)) => (x, y),
                    (Some(x), None) => (x, x),
                    (None, Some(y)) => (y, y),
                    (None, None) => (1.0, 1.0),
                };
                xa[i] = x;
                xb[i] = y;
            }
            let phi = shapley_product(&xa, &xb);
            for e in Effect::ALL {
                sums[e.index()] += phi[e.index()];
                effects.insert(e.as_str(), phi[e.index()].round() as i64);
            }
        }
        cells.push(CellDrivers {
            lane: key.0.clone(),
            model: key.1.clone(),
            status,
            a: sa.into(),
            b: sb.into(),
            effects,
        });
    }

    let difference = cb - ca;
    let mut effects: Vec<(Effect, i64)> = Effect::ALL
        .iter()
        .map(|e| (*e, sums[e.index()].round() as i64))
        .collect();
    let rounded: i64 = effects.iter().map(|(_, v)| v).sum();
    let remainder = difference - rounded;
    for (e, v) in effects.iter_mut() {
        if *e == REMAINDER_EFFECT {
            *v += remainder;
        }
    }
    Decomposition {
        a_cost_nanos: ca,
        b_cost_nanos: cb,
        difference_nanos: difference,
        effects,
        remainder_nanos: remainder,
        cells,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(requests: i64, billed: i64, tokens: i64, cost: i64) -> CellSums {
        CellSums {
            requests,
            billed_requests: billed,
            tokens,
            cost_nanos: cost,
        }
    }

    fn cells(list: &[(&str, &str, CellSums)]) -> BTreeMap<CellKey, CellSums> {
        list.iter()
            .map(|(l, m, c)| ((l.to_string(), m.to_string()), *c))
            .collect()
    }

    fn assert_exact(d: &Decomposition) {
        let sum: i64 = d.effects.iter().map(|(_, v)| v).sum();
        assert_eq!(
            sum, d.difference_nanos,
            "effects must add up exactly: {d:?}"
        );
        assert_eq!(d.difference_nanos, d.b_cost_nanos - d.a_cost_nanos);
    }

    #[test]
    fn shapley_of_two_changed_factors_splits_the_interaction_evenly() {
        // 100 → 400 with two factors doubling: each gets (2-1)·(1+2)/2·100 = 150.
        let a = [100.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let b = [200.0, 1.0, 1.0, 1.0, 1.0, 2.0];
        let phi = shapley_product(&a, &b);
        assert!((phi[0] - 150.0).abs() < 1e-9, "{phi:?}");
        assert!((phi[5] - 150.0).abs() < 1e-9, "{phi:?}");
        assert!(phi[1..5].iter().all(|v| v.abs() < 1e-9));
    }

    #[test]
    fn pure_volume_growth_is_all_volume() {
        // One lane, 100 requests of 1000 tokens at 2 nanos/token: 200_000. Twice the
        // requests, same everything else: +200_000, all volume.
        let a = cells(&[("openai", "mini", cell(100, 100, 100_000, 200_000))]);
        let b = cells(&[("openai", "mini", cell(200, 200, 200_000, 400_000))]);
        let d = decompose(&a, &b);
        assert_exact(&d);
        assert_eq!(d.difference_nanos, 200_000);
        assert_eq!(d.effect(Effect::Volume), 200_000);
        for e in &Effect::ALL[1..] {
            assert_eq!(d.effect(*e), 0, "{e:?}");
        }
    }

    #[test]
    fn volume_and_price_both_doubling_share_the_interaction() {
        // A: 10 req × 10 tokens × 1 nano = 100. B: 20 req × 10 tokens × 2 nanos = 400.
        let a = cells(&[("l", "m", cell(10, 10, 100, 100))]);
        let b = cells(&[("l", "m", cell(20, 20, 200, 400))]);
        let d = decompose(&a, &b);
        assert_exact(&d);
        assert_eq!(d.effect(Effect::Volume), 150);
        assert_eq!(d.effect(Effect::Price), 150);
        assert_eq!(d.remainder_nanos, 0);
    }

    #[test]
    fn mix_shift_between_two_lanes_at_constant_volume() {
        // 100 requests, 10 tokens each. Cheap lane 1 nano/token, dear lane 5 nanos/token.
        // A: 80 cheap + 20 dear = 800 + 1000 = 1800.
        // B: 20 cheap + 80 dear = 200 + 4000 = 4200. Only the lane shares moved:
        // the whole +2400 is mix.
        let a = cells(&[
            ("cheap", "c", cell(80, 80, 800, 800)),
            ("dear", "d", cell(20, 20, 200, 1000)),
        ]);
        let b = cells(&[
            ("cheap", "c", cell(20, 20, 200, 200)),
            ("dear", "d", cell(80, 80, 800, 4000)),
        ]);
        let d = decompose(&a, &b);
        assert_exact(&d);
        assert_eq!(d.difference_nanos, 2400);
        assert_eq!(d.effect(Effect::Mix), 2400);
        assert_eq!(d.effect(Effect::Volume), 0);
        assert_eq!(d.effect(Effect::Price), 0);
    }

    #[test]
    fn cache_regression_shows_as_cache_rate() {
        // 100 requests of 10 tokens at 1 nano/token. A: 50 hits (50 billed) = 500.
        // B: 10 hits (90 billed) = 900. +400, all cache rate.
        let a = cells(&[("l", "m", cell(100, 50, 500, 500))]);
        let b = cells(&[("l", "m", cell(100, 90, 900, 900))]);
        let d = decompose(&a, &b);
        assert_exact(&d);
        assert_eq!(d.effect(Effect::CacheRate), 400);
        assert_eq!(d.effect(Effect::TokensPerRequest), 0);
    }

    #[test]
    fn longer_prompts_show_as_tokens_per_request() {
        let a = cells(&[("l", "m", cell(10, 10, 1000, 3000))]);
        let b = cells(&[("l", "m", cell(10, 10, 1500, 4500))]);
        let d = decompose(&a, &b);
        assert_exact(&d);
        assert_eq!(d.effect(Effect::TokensPerRequest), 1500);
    }

    #[test]
    fn a_new_lane_is_mix_with_its_share_of_volume_growth() {
        // A: lane x only, 100 req, cost 1000 (10 tokens × 1 nano).
        // B: lane x 100 req (1000) + new lane y 100 req × 10 tokens × 3 nanos = 3000.
        // Cell x: V 100→200, s 1→½ (value 1000·V/100·s):
        //   volume = ½·[(2000−1000) + (1000−500)] = 750, mix = −750 (net 0).
        // Cell y: s 0→½, V 100→200, everything else borrowed from B (30/req):
        //   value = V·s·30. mix = ½·(100·½·30 + 200·½·30) = 2250; volume =
        //   ½·(0 + 3000 − 100·½·30) = 750. Totals: volume 1500, mix 1500: sum 3000.
        let a = cells(&[("x", "mx", cell(100, 100, 1000, 1000))]);
        let b = cells(&[
            ("x", "mx", cell(100, 100, 1000, 1000)),
            ("y", "my", cell(100, 100, 1000, 3000)),
        ]);
        let d = decompose(&a, &b);
        assert_exact(&d);
        assert_eq!(d.difference_nanos, 3000);
        assert_eq!(d.effect(Effect::Volume), 1500);
        assert_eq!(d.effect(Effect::Mix), 1500);
        assert_eq!(d.effect(Effect::Price), 0);
        let y = d.cells.iter().find(|c| c.lane == "y").unwrap();
        assert_eq!(y.status, CellStatus::New);
        assert_eq!(y.effects["mix"], 2250);
        assert_eq!(y.effects["volume"], 750);
    }

    #[test]
    fn a_dropped_lane_and_a_new_model_in_a_kept_lane() {
        // A: lane x/model m1 50 req (cost 500), lane z 50 req (cost 1500).
        // B: lane x/model m1 50 req (500) + x/m2 50 req (cost 1000); z gone.
        // Volume 100 → 100. z dropped: s_z ½→0 → mix -1500 exactly (V constant and
        // w, q, t, p borrowed from A). x/m1: s_x ½→1, w 1→½, value 1000·s·w:
        //   mix = ½·[(1000−500) + (500−250)] = 375, model = −375 (net 0).
        // x/m2: s ½→1 (x had half the requests), w 0→½:
        //   value = 100·s·w·10·2 (tokens 10/req at 2 nanos/token = 20/req):
        //   mix = ½·[0 + (1−½)·½·2000] = 250; model = ½·[½·½·2000 + 1·½·2000] = 750.
        let a = cells(&[
            ("x", "m1", cell(50, 50, 500, 500)),
            ("z", "mz", cell(50, 50, 500, 1500)),
        ]);
        let b = cells(&[
            ("x", "m1", cell(50, 50, 500, 500)),
            ("x", "m2", cell(50, 50, 500, 1000)),
        ]);
        let d = decompose(&a, &b);
        assert_exact(&d);
        assert_eq!(d.difference_nanos, -500);
        assert_eq!(d.effect(Effect::Volume), 0);
        assert_eq!(d.effect(Effect::Mix), -1500 + 375 + 250);
        assert_eq!(d.effect(Effect::ModelShift), -375 + 750);
        let z = d.cells.iter().find(|c| c.lane == "z").unwrap();
        assert_eq!(z.status, CellStatus::Dropped);
        assert_eq!(z.effects["mix"], -1500);
    }

    #[test]
    fn empty_periods_are_all_volume() {
        let a = BTreeMap::new();
        let b = cells(&[("l", "m", cell(3, 3, 30, 90))]);
        let d = decompose(&a, &b);
        assert_exact(&d);
        assert_eq!(d.effect(Effect::Volume), 90);
        let d = decompose(&b, &a);
        assert_exact(&d);
        assert_eq!(d.effect(Effect::Volume), -90);
        let d = decompose(&a, &a);
        assert_eq!((d.difference_nanos, d.remainder_nanos), (0, 0));
    }

    #[test]
    fn rounding_remainder_lands_on_price_and_the_sum_is_exact() {
        // Three factors change so effects are thirds of a nanodollar: A 1 nano,
        // B: volume ×2, tokens ×2, price ×2 → 8. Each effect = 7/3 = 2.333…:
        // rounded 2 + 2 + 2 = 6, remainder 1 on price.
        let a = cells(&[("l", "m", cell(1, 1, 1, 1))]);
        let b = cells(&[("l", "m", cell(2, 2, 4, 8))]);
        let d = decompose(&a, &b);
        assert_exact(&d);
        assert_eq!(d.effect(Effect::Volume), 2);
        assert_eq!(d.effect(Effect::TokensPerRequest), 2);
        assert_eq!(d.remainder_nanos, 1);
        assert_eq!(d.effect(Effect::Price), 3);
    }

    #[test]
    fn zero_cost_cells_and_cost_without_tokens_do_not_break_exactness() {
        let a = cells(&[
            ("l", "m", cell(10, 10, 100, 100)),
            // Refusals: requests without tokens or cost, in both periods.
            ("", "", cell(5, 5, 0, 0)),
            // Cost but no tokens: priced per billed request.
            ("odd", "o", cell(2, 2, 0, 40)),
        ]);
        let b = cells(&[
            ("l", "m", cell(12, 6, 60, 90)),
            ("", "", cell(50, 50, 0, 0)),
            ("odd", "o", cell(3, 3, 0, 90)),
        ]);
        let d = decompose(&a, &b);
        assert_exact(&d);
        assert_eq!(d.difference_nanos, 40);
        let idle = d.cells.iter().find(|c| c.lane.is_empty()).unwrap();
        assert_eq!(idle.status, CellStatus::Idle);
        assert!(idle.effects.is_empty());
    }

    #[test]
    fn large_realistic_amounts_stay_exact() {
        // Dollars-sized amounts with awkward ratios.
        let a = cells(&[
            (
                "openai-gpt4o-mini",
                "gpt",
                cell(91_234, 60_001, 98_765_432, 43_210_987_654),
            ),
            (
                "anthropic-haiku",
                "haiku",
                cell(12_345, 11_000, 33_333_333, 98_765_432_109),
            ),
        ]);
        let b = cells(&[
            (
                "openai-gpt4o-mini",
                "gpt",
                cell(70_007, 61_111, 87_654_321, 39_999_999_999),
            ),
            (
                "anthropic-haiku",
                "haiku",
                cell(44_444, 20_202, 66_666_667, 210_987_654_321),
            ),
            (
                "anthropic-sonnet",
                "sonnet",
                cell(777, 770, 2_222_222, 33_333_333_333),
            ),
        ]);
        let d = decompose(&a, &b);
        assert_exact(&d);
        assert!(d.remainder_nanos.abs() <= 8, "{}", d.remainder_nanos);
    }
}
