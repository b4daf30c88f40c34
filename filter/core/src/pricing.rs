//! Per-model prices and exact cost computation.

use std::collections::BTreeMap;

use crate::config::schema::ModelPriceDef;
use crate::event::Tokens;
use crate::money::UsdPerMTok;

/// Prices of one model, in micro-dollars per million tokens (picodollars per token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPrice {
    pub input: u64,
    pub cached_input: u64,
    pub cache_write: u64,
    pub output: u64,
}

impl From<&ModelPriceDef> for ModelPrice {
    fn from(d: &ModelPriceDef) -> Self {
        ModelPrice {
            input: d.input.0,
            cached_input: d.cached_input.unwrap_or(d.input).0,
            cache_write: d.cache_write.unwrap_or(d.input).0,
            output: d.output.0,
        }
    }
}

impl ModelPrice {
    /// Exact cost in picodollars (u128: cannot overflow for any u64 token counts).
    pub fn cost_picos(&self, t: &Tokens) -> u128 {
        u128::from(t.input) * u128::from(self.input)
            + u128::from(t.cached_input) * u128::from(self.cached_input)
            + u128::from(t.cache_write) * u128::from(self.cache_write)
            + u128::from(t.output) * u128::from(self.output)
    }

    /// Cost in nanodollars, rounded half up once per request. Exact whenever prices are
    /// quoted to 1/1000 of a dollar per million tokens (every built-in price is).
    pub fn cost_nanos(&self, t: &Tokens) -> i64 {
        let nanos = (self.cost_picos(t) + 500) / 1000;
        i64::try_from(nanos).unwrap_or(i64::MAX)
    }
}

const fn usd(
    input_micro: u64,
    cached_micro: u64,
    write_micro: u64,
    output_micro: u64,
) -> ModelPrice {
    ModelPrice {
        input: input_micro,
        cached_input: cached_micro,
        cache_write: write_micro,
        output: output_micro,
    }
}

/// List prices (USD per million tokens × 10^6) of widely used models. Config `pricing:`
/// overrides or extends them. OpenAI has no cache-write charge: write = input.
const BUILT_IN: &[(&str, ModelPrice)] = &[
    ("gpt-4o", usd(2_500_000, 1_250_000, 2_500_000, 10_000_000)),
    ("gpt-4o-mini", usd(150_000, 75_000, 150_000, 600_000)),
    ("gpt-4.1", usd(2_000_000, 500_000, 2_000_000, 8_000_000)),
    ("gpt-4.1-mini", usd(400_000, 100_000, 400_000, 1_600_000)),
    ("gpt-4.1-nano", usd(100_000, 25_000, 100_000, 400_000)),
    ("gpt-5", usd(1_250_000, 125_000, 1_250_000, 10_000_000)),
    ("gpt-5-mini", usd(250_000, 25_000, 250_000, 2_000_000)),
    ("gpt-5-nano", usd(50_000, 5_000, 50_000, 400_000)),
    ("o3", usd(2_000_000, 500_000, 2_000_000, 8_000_000)),
    ("o4-mini", usd(1_100_000, 275_000, 1_100_000, 4_400_000)),
    (
        "claude-3-5-haiku",
        usd(800_000, 80_000, 1_000_000, 4_000_000),
    ),
    (
        "claude-haiku-4-5",
        usd(1_000_000, 100_000, 1_250_000, 5_000_000),
    ),
    (
        "claude-3-7-sonnet",
        usd(3_000_000, 300_000, 3_750_000, 15_000_000),
    ),
    (
        "claude-sonnet-4",
        usd(3_000_000, 300_000, 3_750_000, 15_000_000),
    ),
    (
        "claude-sonnet-4-5",
        usd(3_000_000, 300_000, 3_750_000, 15_000_000),
    ),
    (
        "claude-opus-4",
        usd(15_000_000, 1_500_000, 18_750_000, 75_000_000),
    ),
    (
        "claude-opus-4-1",
        usd(15_000_000, 1_500_000, 18_750_000, 75_000_000),
    ),
    (
        "claude-opus-4-5",
        usd(5_000_000, 500_000, 6_250_000, 25_000_000),
    ),
];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PriceTable {
    models: BTreeMap<String, ModelPrice>,
}

impl PriceTable {
    pub fn with_overrides(overrides: &BTreeMap<String, ModelPriceDef>) -> Self {
        let mut models: BTreeMap<String, ModelPrice> = BUILT_IN
            .iter()
            .map(|(name, price)| (name.to_string(), *price))
            .collect();
        for (name, def) in overrides {
            models.insert(name.clone(), ModelPrice::from(def));
        }
        PriceTable { models }
    }

    pub fn entries(&self) -> impl Iterator<Item = (&String, &ModelPrice)> {
        self.models.iter()
    }

    /// The price of `model`, also finding dated snapshots (`gpt-4o-mini-2024-07-18`,
    /// `claude-3-5-haiku-20241022`) and `-latest` aliases under their base name.
    pub fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        self.models
            .get(model)
            .or_else(|| self.models.get(base_model_name(model)))
    }
}

/// Strips a trailing `-YYYYMMDD`, `-YYYY-MM-DD` or `-latest` from a model name.
pub fn base_model_name(model: &str) -> &str {
    if let Some(base) = model.strip_suffix("-latest") {
        return base;
    }
    let b = model.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let n = b.len();
    if n > 11
        && b[n - 11] == b'-'
        && b[n - 6] == b'-'
        && b[n - 3] == b'-'
        && digits(&b[n - 10..n - 6])
        && digits(&b[n - 5..n - 3])
        && digits(&b[n - 2..])
    {
        return &model[..n - 11];
    }
    if n > 9 && b[n - 9] == b'-' && digits(&b[n - 8..]) {
        return &model[..n - 9];
    }
    model
}

/// Helper for tests and config builders.
pub fn price_def(
    input: &str,
    cached: Option<&str>,
    write: Option<&str>,
    output: &str,
) -> ModelPriceDef {
    ModelPriceDef {
        input: UsdPerMTok::parse(input).expect("valid price"),
        cached_input: cached.map(|c| UsdPerMTok::parse(c).expect("valid price")),
        cache_write: write.map(|w| UsdPerMTok::parse(w).expect("valid price")),
        output: UsdPerMTok::parse(output).expect("valid price"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_every_token_kind_exactly() {
        let table = PriceTable::with_overrides(&BTreeMap::new());
        let p = table.lookup("claude-3-5-haiku-20241022").unwrap();
        let t = Tokens {
            input: 1000,
            cached_input: 2000,
            cache_write: 3000,
            output: 500,
        };
        // 1000*0.80 + 2000*0.08 + 3000*1.00 + 500*4.00 = 800+160+3000+2000 = 5960 $/M
        // → 0.005960 USD = 5_960_000 nanodollars.
        assert_eq!(p.cost_nanos(&t), 5_960_000);
        let p = table.lookup("gpt-4o-mini-2024-07-18").unwrap();
        let t = Tokens {
            input: 7,
            cached_input: 3,
            cache_write: 0,
            output: 11,
        };
        // 7*0.15 + 3*0.075 + 11*0.60 = 1.05 + 0.225 + 6.6 = 7.875 µ$ = 7875 n$
        assert_eq!(p.cost_nanos(&t), 7_875);
    }

    #[test]
    fn sub_nanodollar_prices_round_half_up_once() {
        let mut o = BTreeMap::new();
        o.insert(
            "tiny".to_string(),
            price_def("0.0005", None, None, "0.0015"),
        );
        let table = PriceTable::with_overrides(&o);
        let p = table.lookup("tiny").unwrap();
        // 1 token * 500 pico + 1 * 1500 pico = 2000 pico = 2 nanos exactly.
        assert_eq!(
            p.cost_nanos(&Tokens {
                input: 1,
                output: 1,
                ..Default::default()
            }),
            2
        );
        // 1 input token = 500 pico = 0.5 nano → rounds up to 1.
        assert_eq!(
            p.cost_nanos(&Tokens {
                input: 1,
                ..Default::default()
            }),
            1
        );
    }

    #[test]
    fn overrides_replace_and_extend() {
        let mut o = BTreeMap::new();
        o.insert("gpt-4o".to_string(), price_def("1", Some("0.5"), None, "2"));
        o.insert(
            "claude-haiku".to_string(),
            price_def("1", Some("0.1"), Some("1.25"), "5"),
        );
        let table = PriceTable::with_overrides(&o);
        assert_eq!(table.lookup("gpt-4o").unwrap().input, 1_000_000);
        assert_eq!(table.lookup("gpt-4o").unwrap().cache_write, 1_000_000);
        assert_eq!(table.lookup("claude-haiku").unwrap().cache_write, 1_250_000);
        assert!(table.lookup("unknown-model").is_none());
    }

    #[test]
    fn base_names() {
        assert_eq!(base_model_name("gpt-4o-2024-08-06"), "gpt-4o");
        assert_eq!(
            base_model_name("claude-sonnet-4-5-20250929"),
            "claude-sonnet-4-5"
        );
        assert_eq!(
            base_model_name("claude-3-7-sonnet-latest"),
            "claude-3-7-sonnet"
        );
        assert_eq!(base_model_name("gpt-4o"), "gpt-4o");
        assert_eq!(base_model_name("o3"), "o3");
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let p = usd(75_000_000, 0, 0, 75_000_000);
        let t = Tokens {
            input: u64::MAX,
            output: u64::MAX,
            ..Default::default()
        };
        assert_eq!(p.cost_nanos(&t), i64::MAX);
    }
}
