//! Per-model prices and exact cost computation: token rates, the service tier and
//! long-context rules that select them, and per-call server-tool charges.

use std::collections::BTreeMap;

use crate::config::schema::{LongContextDef, ModelPriceDef, TokenRatesDef};
use crate::event::Tokens;
use crate::money::UsdPerMTok;

/// Token rates in micro-dollars per million tokens (picodollars per token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelRates {
    pub input: u64,
    pub cached_input: u64,
    /// 5-minute cache writes.
    pub cache_write: u64,
    /// 1-hour cache writes.
    pub cache_write_1h: u64,
    pub output: u64,
}

/// `n × ratio`, rounded half up: the default cache-write rates.
const fn scaled(rate: u64, num: u64, den: u64) -> u64 {
    (rate.saturating_mul(num) + den / 2) / den
}

impl ModelRates {
    /// Rates with Anthropic's default cache multipliers: reads at the input price unless
    /// given, 5-minute writes 1.25 × input, 1-hour writes 2 × input.
    pub const fn new(input: u64, cached_input: u64, output: u64) -> Self {
        ModelRates {
            input,
            cached_input,
            cache_write: scaled(input, 5, 4),
            cache_write_1h: scaled(input, 2, 1),
            output,
        }
    }

    /// Exact cost of `t` in picodollars (u128: cannot overflow for any u64 counts).
    pub fn cost_picos(&self, t: &Tokens) -> u128 {
        u128::from(t.input) * u128::from(self.input)
            + u128::from(t.cached_input) * u128::from(self.cached_input)
            + u128::from(t.cache_write) * u128::from(self.cache_write)
            + u128::from(t.cache_write_1h) * u128::from(self.cache_write_1h)
            + u128::from(t.output) * u128::from(self.output)
    }
}

impl From<&TokenRatesDef> for ModelRates {
    fn from(d: &TokenRatesDef) -> Self {
        let input = d.input.0;
        ModelRates {
            input,
            cached_input: d.cached_input.unwrap_or(d.input).0,
            cache_write: d.cache_write.map_or(scaled(input, 5, 4), |r| r.0),
            cache_write_1h: d.cache_write_1h.map_or(scaled(input, 2, 1), |r| r.0),
            output: d.output.0,
        }
    }
}

/// Rates that apply when the prompt is larger than a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongContextRates {
    /// Prompt tokens (input + cache reads + cache writes) above which `rates` apply.
    pub above_input_tokens: u64,
    pub rates: ModelRates,
}

/// Which of a model's rate sets priced a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateRule {
    /// The model's standard rates.
    Base,
    /// The rates of the named service tier.
    ServiceTier(String),
    /// The long-context rates (the prompt exceeded the threshold).
    LongContext,
}

/// Prices of one model: its rate sets and per-call tool charges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPrice {
    pub base: ModelRates,
    /// Rates by the service-tier name the provider reports.
    pub service_tiers: BTreeMap<String, ModelRates>,
    pub long_context: Option<LongContextRates>,
    /// Nanodollars per 1,000 web search calls (= picodollars per call).
    pub web_search_per_1k_nanos: u64,
}

/// What one request used, as priced: tokens, the service tier it ran in, and the
/// server-side tool calls the provider made for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Billable<'a> {
    pub tokens: Tokens,
    pub service_tier: Option<&'a str>,
    pub web_search_calls: u64,
}

/// A request's cost in nanodollars, by component. `total()` is what the event
/// records as `cost_nanos`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// Tokens at the selected rates, rounded half up once.
    pub tokens_nanos: i64,
    /// Server-side tool calls (web search), rounded half up once.
    pub tools_nanos: i64,
    pub rule: RateRule,
}

impl Charge {
    pub fn total(&self) -> i64 {
        self.tokens_nanos.saturating_add(self.tools_nanos)
    }
}

/// Picodollars to nanodollars, rounded half up, saturating.
fn picos_to_nanos(picos: u128) -> i64 {
    i64::try_from(picos.saturating_add(500) / 1000).unwrap_or(i64::MAX)
}

impl From<&ModelPriceDef> for ModelPrice {
    fn from(d: &ModelPriceDef) -> Self {
        let base = ModelRates::from(&TokenRatesDef {
            input: d.input,
            cached_input: d.cached_input,
            cache_write: d.cache_write,
            cache_write_1h: d.cache_write_1h,
            output: d.output,
        });
        ModelPrice {
            base,
            service_tiers: d
                .service_tiers
                .iter()
                .map(|(name, rates)| (name.clone(), ModelRates::from(rates)))
                .collect(),
            long_context: d
                .long_context
                .as_ref()
                .map(|l: &LongContextDef| LongContextRates {
                    above_input_tokens: l.above_input_tokens,
                    rates: ModelRates::from(&l.rates()),
                }),
            web_search_per_1k_nanos: d
                .web_search_per_1k
                .map_or(0, |u| u64::try_from(u.0).unwrap_or(0)),
        }
    }
}

impl ModelPrice {
    /// A price with one rate set and no tiers, thresholds or tool charges.
    pub fn flat(base: ModelRates) -> Self {
        ModelPrice {
            base,
            service_tiers: BTreeMap::new(),
            long_context: None,
            web_search_per_1k_nanos: 0,
        }
    }

    /// The rates that price `tokens` in `service_tier`. A tier the model lists its own
    /// rates for is priced at them (a tier quote is the provider's price for that
    /// tier); otherwise a prompt above the long-context threshold moves every token to
    /// the long-context rates; otherwise the base rates apply.
    pub fn rates_for(
        &self,
        service_tier: Option<&str>,
        tokens: &Tokens,
    ) -> (&ModelRates, RateRule) {
        if let Some((name, rates)) = service_tier.and_then(|t| self.service_tiers.get_key_value(t))
        {
            return (rates, RateRule::ServiceTier(name.clone()));
        }
        if let Some(long) = &self.long_context {
            if tokens.prompt() > long.above_input_tokens {
                return (&long.rates, RateRule::LongContext);
            }
        }
        (&self.base, RateRule::Base)
    }

    /// Each rate at its highest over every rate set of the model: what bounds a
    /// request's cost before the provider says which tier and how large a prompt.
    pub fn highest_rates(&self) -> ModelRates {
        let sets = std::iter::once(&self.base)
            .chain(self.service_tiers.values())
            .chain(self.long_context.as_ref().map(|l| &l.rates));
        sets.fold(self.base, |a, b| ModelRates {
            input: a.input.max(b.input),
            cached_input: a.cached_input.max(b.cached_input),
            cache_write: a.cache_write.max(b.cache_write),
            cache_write_1h: a.cache_write_1h.max(b.cache_write_1h),
            output: a.output.max(b.output),
        })
    }

    /// The exact charge for one request's usage.
    pub fn charge(&self, usage: &Billable<'_>) -> Charge {
        let (rates, rule) = self.rates_for(usage.service_tier, &usage.tokens);
        let tool_picos =
            u128::from(usage.web_search_calls) * u128::from(self.web_search_per_1k_nanos);
        Charge {
            tokens_nanos: picos_to_nanos(rates.cost_picos(&usage.tokens)),
            tools_nanos: picos_to_nanos(tool_picos),
            rule,
        }
    }

    /// Cost in nanodollars of `t` in the standard tier with no tool calls, rounded half
    /// up once per request. Exact whenever prices are quoted to 1/1000 of a dollar per
    /// million tokens (every built-in price is).
    pub fn cost_nanos(&self, t: &Tokens) -> i64 {
        self.charge(&Billable {
            tokens: *t,
            ..Billable::default()
        })
        .total()
    }
}

/// A catalogue entry: standard rates (µ$/MTok: input, cache read, output), with
/// Anthropic's default cache-write multipliers.
struct Entry {
    model: &'static str,
    base: ModelRates,
    flex: Option<ModelRates>,
    priority: Option<ModelRates>,
    long_context: Option<LongContextRates>,
    web_search_per_1k_usd: u64,
}

const fn rates(input: u64, cached: u64, output: u64) -> ModelRates {
    ModelRates::new(input, cached, output)
}

/// OpenAI bills no cache writes: write rates equal the input rate.
const fn openai(input: u64, cached: u64, output: u64) -> ModelRates {
    ModelRates {
        input,
        cached_input: cached,
        cache_write: input,
        cache_write_1h: input,
        output,
    }
}

const fn entry(model: &'static str, base: ModelRates) -> Entry {
    Entry {
        model,
        base,
        flex: None,
        priority: None,
        long_context: None,
        web_search_per_1k_usd: 10,
    }
}

/// Anthropic's long-context rates for the 1M-context Sonnet models: prompts above
/// 200,000 tokens are priced at $6 input / $22.50 output per million, cache rates from
/// the same multipliers (reads 0.1×, 5-minute writes 1.25×, 1-hour writes 2×).
const SONNET_LONG_CONTEXT: LongContextRates = LongContextRates {
    above_input_tokens: 200_000,
    rates: rates(6_000_000, 600_000, 22_500_000),
};

/// List prices (USD per million tokens × 10^6) of widely used models: standard, flex
/// and priority tiers, long-context rates, $10 per 1,000 web searches. The config's
/// `pricing:` replaces or extends entries by model name.
fn built_in() -> Vec<Entry> {
    vec![
        Entry {
            priority: Some(openai(4_250_000, 2_125_000, 17_000_000)),
            ..entry("gpt-4o", openai(2_500_000, 1_250_000, 10_000_000))
        },
        Entry {
            priority: Some(openai(250_000, 125_000, 1_000_000)),
            ..entry("gpt-4o-mini", openai(150_000, 75_000, 600_000))
        },
        Entry {
            priority: Some(openai(3_500_000, 875_000, 14_000_000)),
            ..entry("gpt-4.1", openai(2_000_000, 500_000, 8_000_000))
        },
        Entry {
            priority: Some(openai(700_000, 175_000, 2_800_000)),
            ..entry("gpt-4.1-mini", openai(400_000, 100_000, 1_600_000))
        },
        Entry {
            priority: Some(openai(200_000, 50_000, 800_000)),
            ..entry("gpt-4.1-nano", openai(100_000, 25_000, 400_000))
        },
        Entry {
            flex: Some(openai(625_000, 62_500, 5_000_000)),
            priority: Some(openai(2_500_000, 250_000, 20_000_000)),
            ..entry("gpt-5", openai(1_250_000, 125_000, 10_000_000))
        },
        Entry {
            flex: Some(openai(125_000, 12_500, 1_000_000)),
            priority: Some(openai(450_000, 45_000, 3_600_000)),
            ..entry("gpt-5-mini", openai(250_000, 25_000, 2_000_000))
        },
        Entry {
            flex: Some(openai(25_000, 2_500, 200_000)),
            ..entry("gpt-5-nano", openai(50_000, 5_000, 400_000))
        },
        Entry {
            flex: Some(openai(1_000_000, 250_000, 4_000_000)),
            priority: Some(openai(3_500_000, 875_000, 14_000_000)),
            ..entry("o3", openai(2_000_000, 500_000, 8_000_000))
        },
        Entry {
            flex: Some(openai(550_000, 138_000, 2_200_000)),
            priority: Some(openai(2_000_000, 500_000, 8_000_000)),
            ..entry("o4-mini", openai(1_100_000, 275_000, 4_400_000))
        },
        // The legacy completions model (`/v1/completions`).
        entry(
            "gpt-3.5-turbo-instruct",
            openai(1_500_000, 1_500_000, 2_000_000),
        ),
        // Embedding models bill input tokens only.
        entry("text-embedding-3-small", openai(20_000, 20_000, 0)),
        entry("text-embedding-3-large", openai(130_000, 130_000, 0)),
        entry("text-embedding-ada-002", openai(100_000, 100_000, 0)),
        entry("claude-3-5-haiku", rates(800_000, 80_000, 4_000_000)),
        entry("claude-haiku-4-5", rates(1_000_000, 100_000, 5_000_000)),
        entry("claude-3-7-sonnet", rates(3_000_000, 300_000, 15_000_000)),
        Entry {
            long_context: Some(SONNET_LONG_CONTEXT),
            ..entry("claude-sonnet-4", rates(3_000_000, 300_000, 15_000_000))
        },
        Entry {
            long_context: Some(SONNET_LONG_CONTEXT),
            ..entry("claude-sonnet-4-5", rates(3_000_000, 300_000, 15_000_000))
        },
        entry("claude-opus-4", rates(15_000_000, 1_500_000, 75_000_000)),
        entry("claude-opus-4-1", rates(15_000_000, 1_500_000, 75_000_000)),
        entry("claude-opus-4-5", rates(5_000_000, 500_000, 25_000_000)),
    ]
}

impl Entry {
    fn price(&self) -> ModelPrice {
        let mut service_tiers = BTreeMap::new();
        if let Some(r) = self.flex {
            service_tiers.insert("flex".to_string(), r);
        }
        if let Some(r) = self.priority {
            service_tiers.insert("priority".to_string(), r);
        }
        ModelPrice {
            base: self.base,
            service_tiers,
            long_context: self.long_context,
            web_search_per_1k_nanos: self.web_search_per_1k_usd * 1_000_000_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PriceTable {
    models: BTreeMap<String, ModelPrice>,
}

impl PriceTable {
    pub fn with_overrides(overrides: &BTreeMap<String, ModelPriceDef>) -> Self {
        let mut models: BTreeMap<String, ModelPrice> = built_in()
            .iter()
            .map(|e| (e.model.to_string(), e.price()))
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
        self.lookup_entry(model).map(|(_, p)| p)
    }

    /// The catalogue entry (its name and price) that prices `model`.
    pub fn lookup_entry(&self, model: &str) -> Option<(&str, &ModelPrice)> {
        self.models
            .get_key_value(model)
            .or_else(|| self.models.get_key_value(base_model_name(model)))
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The charge for `usage` of `model`, with the label of the entry and rate rule
    /// that priced it (see [`priced_by`]); `None` when no entry prices the model. What
    /// a request's event records, and what repricing recomputes from a stored event.
    pub fn charge_for(&self, model: &str, usage: &Billable<'_>) -> Option<(String, Charge)> {
        let (name, price) = self.lookup_entry(model)?;
        let charge = price.charge(usage);
        Some((priced_by(name, &charge.rule), charge))
    }
}

/// How an event names what priced it: the catalogue entry, and the rate rule when not
/// the base rates (`gpt-5@flex`, `claude-sonnet-4@long_context`).
pub fn priced_by(entry: &str, rule: &RateRule) -> String {
    match rule {
        RateRule::Base => entry.to_string(),
        RateRule::ServiceTier(t) => format!("{entry}@{t}"),
        RateRule::LongContext => format!("{entry}@long_context"),
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
    let p = |t: &str| UsdPerMTok::parse(t).expect("valid price");
    ModelPriceDef {
        input: p(input),
        cached_input: cached.map(p),
        cache_write: write.map(p),
        cache_write_1h: None,
        output: p(output),
        web_search_per_1k: None,
        service_tiers: BTreeMap::new(),
        long_context: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PriceTable {
        PriceTable::with_overrides(&BTreeMap::new())
    }

    fn def(json: &str) -> ModelPriceDef {
        serde_json::from_str(json).expect("valid price")
    }

    #[test]
    fn prices_every_token_kind_exactly() {
        let p = table().lookup("claude-3-5-haiku-20241022").unwrap().clone();
        let t = Tokens {
            input: 1000,
            cached_input: 2000,
            cache_write: 3000,
            cache_write_1h: 4000,
            output: 500,
        };
        // 1000×0.80 + 2000×0.08 + 3000×1.00 + 4000×1.60 + 500×4.00
        // = 800 + 160 + 3000 + 6400 + 2000 = 12360 µ$ = 12_360_000 n$.
        assert_eq!(p.cost_nanos(&t), 12_360_000);
        let p = table().lookup("gpt-4o-mini-2024-07-18").unwrap().clone();
        let t = Tokens {
            input: 7,
            cached_input: 3,
            output: 11,
            ..Tokens::default()
        };
        // 7*0.15 + 3*0.075 + 11*0.60 = 1.05 + 0.225 + 6.6 = 7.875 µ$ = 7875 n$
        assert_eq!(p.cost_nanos(&t), 7_875);
    }

    #[test]
    fn cache_writes_default_to_anthropic_multipliers() {
        let p = ModelPrice::from(&def("{\"input\": \"3\", \"output\": \"15\"}"));
        assert_eq!(p.base.cache_write, 3_750_000, "5 minutes: 1.25 × input");
        assert_eq!(p.base.cache_write_1h, 6_000_000, "1 hour: 2 × input");
        assert_eq!(p.base.cached_input, 3_000_000, "reads default to input");
        let p = ModelPrice::from(&def(
            r#"{"input": "3", "cached_input": "0.3", "cache_write": "4", "cache_write_1h": "7", "output": "15"}"#,
        ));
        assert_eq!(
            (
                p.base.cached_input,
                p.base.cache_write,
                p.base.cache_write_1h
            ),
            (300_000, 4_000_000, 7_000_000)
        );
        let opus = table().lookup("claude-opus-4-1").unwrap().base;
        assert_eq!(
            (opus.cache_write, opus.cache_write_1h),
            (18_750_000, 30_000_000)
        );
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
    fn service_tier_reported_selects_its_rates() {
        let t = table();
        let p = t.lookup("gpt-5-2025-08-07").unwrap();
        let tokens = Tokens {
            input: 1_000,
            cached_input: 1_000,
            output: 1_000,
            ..Tokens::default()
        };
        let charge = |tier: Option<&str>| {
            p.charge(&Billable {
                tokens,
                service_tier: tier,
                web_search_calls: 0,
            })
        };
        // Standard: 1000 × (1.25 + 0.125 + 10) µ$ = 11375 µ$.
        assert_eq!(charge(None).total(), 11_375_000);
        assert_eq!(charge(Some("default")).total(), 11_375_000);
        assert_eq!(charge(Some("default")).rule, RateRule::Base);
        // Flex is half: 1000 × (0.625 + 0.0625 + 5) µ$.
        assert_eq!(charge(Some("flex")).total(), 5_687_500);
        assert_eq!(
            charge(Some("flex")).rule,
            RateRule::ServiceTier("flex".into())
        );
        // Priority: 2.5 + 0.25 + 20.
        assert_eq!(charge(Some("priority")).total(), 22_750_000);
        // A tier the catalogue does not list is priced at the standard rates.
        assert_eq!(charge(Some("scale")).total(), 11_375_000);
    }

    #[test]
    fn service_tiers_from_config() {
        let long = def(
            r#"{"input": "2", "output": "8", "service_tiers": {"flex": {"input": "1", "output": "4"},
               "priority": {"input": "3.5", "cached_input": "0.875", "output": "14"}}}"#,
        );
        let p = ModelPrice::from(&long);
        let tokens = Tokens {
            input: 1_000_000,
            output: 1_000_000,
            ..Tokens::default()
        };
        let cost = |tier| {
            p.charge(&Billable {
                tokens,
                service_tier: Some(tier),
                web_search_calls: 0,
            })
            .total()
        };
        assert_eq!(cost("flex"), 5_000_000_000);
        assert_eq!(cost("priority"), 17_500_000_000);
        assert_eq!(cost("default"), 10_000_000_000);
        assert_eq!(p.service_tiers["priority"].cached_input, 875_000);
        assert_eq!(p.service_tiers["flex"].cached_input, 1_000_000);
    }

    #[test]
    fn long_context_prices_every_token_above_the_threshold() {
        let t = table();
        let p = t.lookup("claude-sonnet-4-5-20250929").unwrap();
        let at = |input: u64, cached: u64, write_1h: u64| Tokens {
            input,
            cached_input: cached,
            cache_write_1h: write_1h,
            output: 1_000,
            ..Tokens::default()
        };
        // Exactly 200,000 prompt tokens: base rates. 200000×3 + 1000×15 µ$/M.
        let c = p.charge(&Billable {
            tokens: at(200_000, 0, 0),
            ..Billable::default()
        });
        assert_eq!((c.total(), c.rule), (615_000_000, RateRule::Base));
        // One more prompt token, counted across input kinds: all at long-context rates.
        // 150001×6 + 40000×0.6 + 10000×12 + 1000×22.5 = 900006 + 24000 + 120000 + 22500.
        let c = p.charge(&Billable {
            tokens: at(150_001, 40_000, 10_000),
            ..Billable::default()
        });
        assert_eq!((c.total(), c.rule), (1_066_506_000, RateRule::LongContext));
        let long = def("{\"input\": \"1.25\", \"output\": \"10\", \"long_context\": {\"above_input_tokens\": 272000, \"input\": \"2.5\", \"output\": \"15\"}}");
        let p = ModelPrice::from(&long);
        let c = p.charge(&Billable {
            tokens: Tokens {
                input: 300_000,
                output: 100,
                ..Tokens::default()
            },
            ..Billable::default()
        });
        assert_eq!(c.total(), 300_000 * 2_500 + 100 * 15_000);
        // A tier with its own rates wins over the long-context rates.
        let c = ModelPrice::from(&def("{\"input\": \"1\", \"output\": \"1\", \"service_tiers\": {\"flex\": {\"input\": \"0.5\", \"output\": \"0.5\"}}, \"long_context\": {\"above_input_tokens\": 10, \"input\": \"2\", \"output\": \"2\"}}")).charge(&Billable {
            tokens: Tokens { input: 100, ..Tokens::default() },
            service_tier: Some("flex"),
            web_search_calls: 0,
        });
        assert_eq!(
            (c.total(), c.rule),
            (50_000, RateRule::ServiceTier("flex".into()))
        );
    }

    #[test]
    fn web_search_calls_are_their_own_charge() {
        let t = table();
        let p = t.lookup("claude-haiku-4-5").unwrap();
        let c = p.charge(&Billable {
            tokens: Tokens {
                input: 100,
                output: 10,
                ..Tokens::default()
            },
            service_tier: None,
            web_search_calls: 3,
        });
        // $10 per 1,000 searches: 3 × $0.01.
        assert_eq!(c.tools_nanos, 30_000_000);
        assert_eq!(c.tokens_nanos, 100 * 1_000 + 10 * 5_000);
        assert_eq!(c.total(), 30_150_000);
        let p = ModelPrice::from(&def(
            "{\"input\": \"1\", \"output\": \"1\", \"web_search_per_1k\": \"25\"}",
        ));
        let c = p.charge(&Billable {
            web_search_calls: 1,
            ..Billable::default()
        });
        assert_eq!(c.tools_nanos, 25_000_000);
        let free = ModelPrice::from(&def("{\"input\": \"1\", \"output\": \"1\"}"));
        assert_eq!(
            free.charge(&Billable {
                web_search_calls: 5,
                ..Billable::default()
            })
            .total(),
            0,
            "no per-call price configured"
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
        assert_eq!(table.lookup("gpt-4o").unwrap().base.input, 1_000_000);
        assert!(table.lookup("gpt-4o").unwrap().service_tiers.is_empty());
        assert_eq!(
            table.lookup("claude-haiku").unwrap().base.cache_write,
            1_250_000
        );
        assert_eq!(
            table.lookup_entry("claude-haiku-20250101").map(|(k, _)| k),
            Some("claude-haiku")
        );
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
        let p = ModelPrice::flat(ModelRates::new(75_000_000, 0, 75_000_000));
        let t = Tokens {
            input: u64::MAX,
            output: u64::MAX,
            ..Default::default()
        };
        assert_eq!(p.cost_nanos(&t), i64::MAX);
        let c = p.charge(&Billable {
            web_search_calls: u64::MAX,
            ..Billable::default()
        });
        assert_eq!(c.total(), 0, "no per-call price");
    }

    #[test]
    fn charge_for_names_the_entry_and_rule_and_prices_like_the_event() {
        let t = table();
        let tokens = Tokens {
            input: 1_000,
            cached_input: 100,
            output: 200,
            ..Tokens::default()
        };
        let usage = Billable {
            tokens,
            service_tier: Some("flex"),
            web_search_calls: 2,
        };
        let (label, charge) = t.charge_for("gpt-5-2025-08-07", &usage).unwrap();
        assert_eq!(label, "gpt-5@flex");
        // 1000×0.625 + 100×0.0625 + 200×5 = 1631.25 µ$; 2 searches at $10/1000 = 20,000 µ$.
        assert_eq!(charge.tokens_nanos, 1_631_250);
        assert_eq!(charge.total(), 1_631_250 + 20_000_000);
        assert_eq!(t.charge_for("no-such-model", &usage), None);
        let (label, _) = t
            .charge_for(
                "claude-sonnet-4",
                &Billable {
                    tokens: Tokens {
                        input: 200_001,
                        ..Tokens::default()
                    },
                    ..Billable::default()
                },
            )
            .unwrap();
        assert_eq!(label, "claude-sonnet-4@long_context");
    }
}
