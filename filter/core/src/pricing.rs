//! Per-model prices and exact cost computation: token rates, the service tier,
//! long-context and batch rules that select them, per-call server-tool charges, and the
//! price table (the dated catalogue, with the config's overrides) a request is priced
//! from.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::config::schema::{push_date, Catalogue, LongContextDef, ModelPriceDef, TokenRatesDef};
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
    /// The batch API's rates.
    Batch,
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
    /// Rates of the provider's batch API.
    pub batch: Option<ModelRates>,
    /// Every answered request is at least one web search call.
    pub web_search_per_request: bool,
}

/// What one request used, as priced: tokens, the service tier it ran in, and the
/// server-side tool calls the provider made for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Billable<'a> {
    pub tokens: Tokens,
    pub service_tier: Option<&'a str>,
    pub web_search_calls: u64,
    /// Sent through the provider's batch API.
    pub batch: bool,
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
            batch: d.batch.as_ref().map(ModelRates::from),
            web_search_per_request: d.web_search_per_request,
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
            batch: None,
            web_search_per_request: false,
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
            .chain(self.long_context.as_ref().map(|l| &l.rates))
            .chain(self.batch.as_ref());
        sets.fold(self.base, |a, b| ModelRates {
            input: a.input.max(b.input),
            cached_input: a.cached_input.max(b.cached_input),
            cache_write: a.cache_write.max(b.cache_write),
            cache_write_1h: a.cache_write_1h.max(b.cache_write_1h),
            output: a.output.max(b.output),
        })
    }

    /// The exact charge for one request's usage. A batch request is priced at the
    /// batch rates when the model lists them.
    pub fn charge(&self, usage: &Billable<'_>) -> Charge {
        let (rates, rule) = match (&self.batch, usage.batch) {
            (Some(batch), true) => (batch, RateRule::Batch),
            _ => self.rates_for(usage.service_tier, &usage.tokens),
        };
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

/// The built-in catalogue (`filter/core/catalogue/prices.yaml`, compiled to JSON by
/// `build.rs`), parsed once per process.
pub fn built_in_catalogue() -> &'static Catalogue {
    static BUILT_IN: OnceLock<Catalogue> = OnceLock::new();
    BUILT_IN.get_or_init(|| {
        serde_json::from_str(include_str!(concat!(env!("OUT_DIR"), "/prices.json")))
            .expect("the built-in price catalogue is valid (checked by the tests)")
    })
}

/// Where a request's price came from: a dated catalogue entry or the config's
/// `pricing:` (in force whatever the date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceSource {
    /// The catalogue entry in force from this day (days since 1970-01-01, UTC).
    Catalogue {
        effective_from: i64,
    },
    Config,
}

/// The price that applies to a model at a time, and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct PriceEntry<'a> {
    /// The catalogue or config name that matched (a dated snapshot is priced by its
    /// base name).
    pub name: &'a str,
    pub source: PriceSource,
    pub price: &'a ModelPrice,
}

impl PriceEntry<'_> {
    /// The entry as events name it: `gpt-5:2025-08-07` for a catalogue entry (the day
    /// it took effect), `gpt-5:config` for the config's price.
    pub fn label(&self) -> String {
        // Room for the date and a rate rule (`@long_context`), appended by `priced_by`.
        let mut out = String::with_capacity(self.name.len() + 24);
        out.push_str(self.name);
        out.push(':');
        match self.source {
            PriceSource::Catalogue { effective_from } => push_date(&mut out, effective_from),
            PriceSource::Config => out.push_str("config"),
        }
        out
    }
}

const DAY_MS: i64 = 86_400_000;

/// Every price the filter charges with: the catalogue's dated entries, and the
/// config's `pricing:` overrides, which replace a model's catalogue entries for every
/// date.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PriceTable {
    /// Model → (effective-from day, price), oldest first.
    dated: BTreeMap<String, Vec<(i64, ModelPrice)>>,
    overrides: BTreeMap<String, ModelPrice>,
}

impl PriceTable {
    /// The built-in catalogue with the config's overrides.
    pub fn with_overrides(overrides: &BTreeMap<String, ModelPriceDef>) -> Self {
        PriceTable::new(built_in_catalogue(), overrides)
    }

    /// `catalogue` (the built-in one or the operator's) with the config's overrides.
    pub fn new(catalogue: &Catalogue, overrides: &BTreeMap<String, ModelPriceDef>) -> Self {
        let dated = catalogue
            .models
            .iter()
            .filter(|(_, entries)| !entries.is_empty())
            .map(|(name, entries)| {
                let mut prices: Vec<(i64, ModelPrice)> = entries
                    .iter()
                    .map(|e| (e.effective_from, ModelPrice::from(&e.price)))
                    .collect();
                prices.sort_by_key(|(day, _)| *day);
                (name.clone(), prices)
            })
            .collect();
        let overrides = overrides
            .iter()
            .map(|(name, def)| (name.clone(), ModelPrice::from(def)))
            .collect();
        PriceTable { dated, overrides }
    }

    /// Whether any price (of any date) covers `model`.
    pub fn covers(&self, model: &str) -> bool {
        self.lookup_at(model, 0).is_some()
    }

    /// The price of `model` for a request at `ts_ms`, also finding dated snapshots
    /// (`gpt-4o-mini-2024-07-18`, `claude-3-5-haiku-20241022`) and `-latest` aliases
    /// under their base name.
    pub fn lookup(&self, model: &str, ts_ms: i64) -> Option<&ModelPrice> {
        self.lookup_at(model, ts_ms).map(|e| e.price)
    }

    /// The entry that prices `model` for a request at `ts_ms`: the config's price if it
    /// has one, else the catalogue entry in force on that UTC day (the latest
    /// `effective_from` on or before it; a request older than every entry takes the
    /// first). The exact name is looked up before the base name.
    pub fn lookup_at(&self, model: &str, ts_ms: i64) -> Option<PriceEntry<'_>> {
        let day = ts_ms.div_euclid(DAY_MS);
        let find = |name: &str| {
            if let Some((k, price)) = self.overrides.get_key_value(name) {
                return Some(PriceEntry {
                    name: k,
                    source: PriceSource::Config,
                    price,
                });
            }
            let (k, prices) = self.dated.get_key_value(name)?;
            let in_force = prices.partition_point(|(from, _)| *from <= day);
            let (from, price) = &prices[in_force.saturating_sub(1)];
            Some(PriceEntry {
                name: k,
                source: PriceSource::Catalogue {
                    effective_from: *from,
                },
                price,
            })
        };
        find(model).or_else(|| find(base_model_name(model)))
    }

    /// The charge for `usage` of `model` by a request made at `ts_ms`, with the label
    /// of the entry and rate rule that priced it (see [`priced_by`]); `None` when no
    /// entry prices the model. What a request's event records, and what repricing
    /// recomputes from a stored event.
    pub fn charge_for(
        &self,
        model: &str,
        ts_ms: i64,
        usage: &Billable<'_>,
    ) -> Option<(String, Charge)> {
        let entry = self.lookup_at(model, ts_ms)?;
        let charge = entry.price.charge(usage);
        Some((priced_by(entry.label(), &charge.rule), charge))
    }
}

/// How an event names what priced it: the entry's label (see [`PriceEntry::label`]),
/// and the rate rule when not the base rates (`gpt-5:2025-08-07@flex`,
/// `claude-sonnet-4:2025-05-22@long_context`).
pub fn priced_by(entry: String, rule: &RateRule) -> String {
    let mut out = entry;
    let suffix = match rule {
        RateRule::Base => return out,
        RateRule::ServiceTier(t) => t.as_str(),
        RateRule::LongContext => "long_context",
        RateRule::Batch => "batch",
    };
    out.push('@');
    out.push_str(suffix);
    out
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
        batch: None,
        web_search_per_request: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-01T12:00:00Z.
    const NOW: i64 = 1_793_534_400_000;

    fn table() -> PriceTable {
        PriceTable::with_overrides(&BTreeMap::new())
    }

    fn def(json: &str) -> ModelPriceDef {
        serde_json::from_str(json).expect("valid price")
    }

    #[test]
    fn prices_every_token_kind_exactly() {
        let p = table()
            .lookup("claude-3-5-haiku-20241022", NOW)
            .unwrap()
            .clone();
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
        let p = table()
            .lookup("gpt-4o-mini-2024-07-18", NOW)
            .unwrap()
            .clone();
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
        let opus = table().lookup("claude-opus-4-1", NOW).unwrap().base;
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
        let p = table.lookup("tiny", NOW).unwrap();
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
        let p = t.lookup("gpt-5-2025-08-07", NOW).unwrap();
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
                batch: false,
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
                batch: false,
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
        let p = t.lookup("claude-sonnet-4-5-20250929", NOW).unwrap();
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
            batch: false,
        });
        assert_eq!(
            (c.total(), c.rule),
            (50_000, RateRule::ServiceTier("flex".into()))
        );
    }

    #[test]
    fn web_search_calls_are_their_own_charge() {
        let t = table();
        let p = t.lookup("claude-haiku-4-5", NOW).unwrap();
        let c = p.charge(&Billable {
            tokens: Tokens {
                input: 100,
                output: 10,
                ..Tokens::default()
            },
            service_tier: None,
            web_search_calls: 3,
            batch: false,
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
        assert_eq!(table.lookup("gpt-4o", NOW).unwrap().base.input, 1_000_000);
        assert!(table
            .lookup("gpt-4o", NOW)
            .unwrap()
            .service_tiers
            .is_empty());
        assert_eq!(
            table.lookup("claude-haiku", NOW).unwrap().base.cache_write,
            1_250_000
        );
        assert_eq!(
            table
                .lookup_at("claude-haiku-20250101", NOW)
                .map(|e| e.label()),
            Some("claude-haiku:config".to_string())
        );
        assert!(table.lookup("unknown-model", NOW).is_none());
    }

    fn day_ms(date: &str) -> i64 {
        crate::config::parse_date_days(date).unwrap() * 86_400_000
    }

    #[test]
    fn bedrock_model_ids_are_priced_with_cache_rates() {
        let t = PriceTable::new(built_in_catalogue(), &BTreeMap::new());
        let lite = t.lookup("amazon.nova-lite-v1:0", NOW).unwrap();
        let tokens = Tokens {
            input: 1_000_000,
            cached_input: 1_000_000,
            cache_write: 1_000_000,
            output: 1_000_000,
            ..Tokens::default()
        };
        // $0.06 + $0.015 + $0.06 + $0.24
        assert_eq!(lite.cost_nanos(&tokens), 375_000_000);
        let haiku = t
            .lookup("anthropic.claude-3-5-haiku-20241022-v1:0", NOW)
            .unwrap();
        // $0.80 + $0.08 + $1.00 + $4
        assert_eq!(haiku.cost_nanos(&tokens), 5_880_000_000);
    }

    #[test]
    fn the_built_in_catalogue_is_complete_and_ordered() {
        let c = built_in_catalogue();
        assert!(!c.version.is_empty());
        assert!(c.models.len() >= 19);
        for (model, entries) in &c.models {
            assert!(!entries.is_empty(), "{model}");
            assert!(
                entries
                    .windows(2)
                    .all(|w| w[0].effective_from < w[1].effective_from),
                "{model}: entries oldest first, one per day"
            );
            for e in entries {
                // Only Claude (at Anthropic or on Bedrock) bills cache writes above
                // the input rate (other write rates = input).
                if !model.contains("claude") {
                    let p = ModelPrice::from(&e.price);
                    assert_eq!(p.base.cache_write, p.base.input, "{model}");
                    assert_eq!(p.base.cache_write_1h, p.base.input, "{model}");
                }
            }
        }
        // The YAML and its JSON form agree (the serialised form parses back).
        let again: Catalogue = serde_json::from_str(&serde_json::to_string(c).unwrap()).unwrap();
        assert_eq!(&again, c);
    }

    #[test]
    fn a_request_is_priced_with_the_entry_in_force_on_its_day() {
        let t = table();
        let tokens = Tokens {
            input: 1_000_000,
            cached_input: 1_000_000,
            output: 1_000_000,
            ..Tokens::default()
        };
        let at = |date: &str| {
            let e = t
                .lookup_at("o3-2025-04-16", day_ms(date) + 3_600_000)
                .unwrap();
            (e.label(), e.price.cost_nanos(&tokens))
        };
        // o3 launched at $10 / $2.50 / $40 and was cut to $2 / $0.50 / $8 on 2025-06-10:
        // a month spanning the change is priced request by request.
        assert_eq!(at("2025-06-09"), ("o3:2025-04-16".into(), 52_500_000_000));
        assert_eq!(at("2025-06-10"), ("o3:2025-06-10".into(), 10_500_000_000));
        assert_eq!(at("2025-06-30"), ("o3:2025-06-10".into(), 10_500_000_000));
        // Before the first entry: the first entry.
        assert_eq!(at("2024-01-01").0, "o3:2025-04-16");
        // The last millisecond of a day is still that day.
        let e = t.lookup_at("o3", day_ms("2025-06-10") - 1).unwrap();
        assert_eq!(e.label(), "o3:2025-04-16");
        assert!(t.covers("o3-2099-01-01") && !t.covers("o5"));
    }

    #[test]
    fn an_operators_catalogue_replaces_the_built_in_one_and_the_config_still_wins() {
        let catalogue: Catalogue = serde_json::from_value(serde_json::json!({
            "version": "ops-7",
            "models": {"house-model": [
                {"effective_from": "2026-12-01", "input": "2", "output": "4"},
                {"effective_from": "2026-01-01", "input": "1", "output": "2",
                 "batch": {"input": "0.5", "output": "1"}}
            ]}
        }))
        .unwrap();
        let t = PriceTable::new(&catalogue, &BTreeMap::new());
        assert!(!t.covers("gpt-4o"), "only the operator's catalogue");
        let tokens = Tokens {
            input: 1_000,
            output: 1_000,
            ..Tokens::default()
        };
        let nov = t.lookup_at("house-model", day_ms("2026-11-30")).unwrap();
        let dec = t.lookup_at("house-model", day_ms("2026-12-01")).unwrap();
        assert_eq!(
            (nov.label(), nov.price.cost_nanos(&tokens)),
            ("house-model:2026-01-01".into(), 3_000_000)
        );
        assert_eq!(
            (dec.label(), dec.price.cost_nanos(&tokens)),
            ("house-model:2026-12-01".into(), 6_000_000)
        );
        // Batch rates apply only to batch requests, and only where listed.
        let batch = nov.price.charge(&Billable {
            tokens,
            batch: true,
            ..Billable::default()
        });
        assert_eq!((batch.total(), batch.rule), (1_500_000, RateRule::Batch));
        let no_batch_rates = dec.price.charge(&Billable {
            tokens,
            batch: true,
            ..Billable::default()
        });
        assert_eq!(no_batch_rates.rule, RateRule::Base);
        // The config's price overrides every dated entry.
        let mut o = BTreeMap::new();
        o.insert("house-model".to_string(), price_def("3", None, None, "3"));
        let t = PriceTable::new(&catalogue, &o);
        let e = t
            .lookup_at("house-model-20261215", day_ms("2026-11-30"))
            .unwrap();
        assert_eq!(
            (e.label(), e.price.cost_nanos(&tokens)),
            ("house-model:config".into(), 6_000_000)
        );
    }

    #[test]
    fn catalogue_entries_are_checked() {
        let entry = |json: &str| serde_json::from_str::<crate::config::CatalogueEntry>(json);
        let e = entry(r#"{"effective_from": "2025-02-28", "input": "1", "output": "2"}"#).unwrap();
        assert_eq!(crate::config::format_date(e.effective_from), "2025-02-28");
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains("\"effective_from\":\"2025-02-28\""), "{text}");
        assert_eq!(entry(&text).unwrap(), e);
        let err = |json: &str| entry(json).unwrap_err().to_string();
        assert!(err(r#"{"input": "1", "output": "2"}"#).contains("effective_from"));
        assert!(
            err(r#"{"effective_from": "2025-02-30", "input": "1", "output": "2"}"#)
                .contains("YYYY-MM-DD")
        );
        assert!(err(
            r#"{"effective_from": "2025-02-01", "input": "1", "output": "2", "ouput": "3"}"#
        )
        .contains("ouput"));
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
            batch: false,
        };
        let (label, charge) = t.charge_for("gpt-5-2025-08-07", NOW, &usage).unwrap();
        assert_eq!(label, "gpt-5:2025-08-07@flex");
        // 1000×0.625 + 100×0.0625 + 200×5 = 1631.25 µ$; 2 searches at $10/1000 = 20,000 µ$.
        assert_eq!(charge.tokens_nanos, 1_631_250);
        assert_eq!(charge.total(), 1_631_250 + 20_000_000);
        assert_eq!(t.charge_for("no-such-model", NOW, &usage), None);
        let (label, _) = t
            .charge_for(
                "claude-sonnet-4",
                NOW,
                &Billable {
                    tokens: Tokens {
                        input: 200_001,
                        ..Tokens::default()
                    },
                    ..Billable::default()
                },
            )
            .unwrap();
        assert_eq!(label, "claude-sonnet-4:2025-05-22@long_context");
    }

    #[test]
    fn gemini_prices_cached_tokens_cheaper_and_long_prompts_higher() {
        let t = table();
        // 1,200 prompt tokens of which 1,000 cached; 30 answer + 70 thinking tokens.
        let usage = Billable {
            tokens: Tokens {
                input: 200,
                cached_input: 1_000,
                output: 100,
                ..Tokens::default()
            },
            ..Billable::default()
        };
        let (label, charge) = t.charge_for("gemini-2.5-flash", NOW, &usage).unwrap();
        assert_eq!(label, "gemini-2.5-flash:2025-06-17");
        // 200×0.30 + 1000×0.03 + 100×2.50 = 60 + 30 + 250 = 340 µ$.
        assert_eq!(charge.total(), 340_000);
        // Over 200k prompt tokens, gemini-2.5-pro's whole request is at the higher rates.
        let long = Billable {
            tokens: Tokens {
                input: 150_001,
                cached_input: 50_000,
                output: 1_000,
                ..Tokens::default()
            },
            ..Billable::default()
        };
        let (label, charge) = t.charge_for("gemini-2.5-pro", NOW, &long).unwrap();
        assert_eq!(label, "gemini-2.5-pro:2025-06-17@long_context");
        // 150001×2.50 + 50000×0.25 + 1000×15 = 375002.5 + 12500 + 15000 µ$.
        assert_eq!(charge.total(), 402_502_500);
    }
}
