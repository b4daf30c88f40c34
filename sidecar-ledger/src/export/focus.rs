//! FOCUS 1.2 (FinOps Open Cost and Usage Specification) cost and usage rows, as CSV.
//!
//! One row per charge period (UTC day or calendar month, clipped to the export's
//! range) × team × consumer group × provider × model × lane × cache status × token kind
//! (input, cached_input, cache_write for 5-minute writes, cache_write_1h, output), plus
//! one row of kind `web_search` for the group's web search calls (charged per call:
//! `ConsumedUnit` "Requests", `PricingUnit` "1000 Requests", `SkuId`
//! `<model>:web_search`). Summed over lanes, consumer groups and
//! cache statuses these are the period × team × provider × model × token kind rows
//! finance asks for; the finer key keeps `x_Lane` and `x_CacheStatus` single-valued.
//! A kind with no tokens, no cost and no cost avoided has no row.
//!
//! How Tollgate maps onto FOCUS:
//!
//! * **Who charges.** The AI provider (OpenAI, Anthropic) is `ProviderName`,
//!   `PublisherName` and `InvoiceIssuerName`: it makes the models available, publishes
//!   them and sends the invoice. Tollgate is the *data generator*, not a party to the
//!   charge. `BillingAccountId` is `tollgate:<provider>` (the organisation's account
//!   at that provider as seen through this Tollgate; the ledger does not know the
//!   provider's own account number), `BillingAccountName` "<Provider> (via Tollgate)".
//!   The team (the wallet that pays) is the sub account: `SubAccountId`/`Name`.
//! * **What.** `ServiceCategory` "AI and Machine Learning", `ServiceSubcategory`
//!   "Generative AI", `ServiceName` "<Provider> API". The SKU is a model's token
//!   kind: `SkuId` = `SkuPriceId` = `<model>:<kind>`, `SkuMeter` e.g. "Output Tokens".
//!   The lane (Tollgate's route to a provider model) is the resource: `ResourceId` and
//!   `ResourceName` are the lane id, `ResourceType` "Tollgate Lane".
//! * **How much.** `ConsumedQuantity` is tokens (`ConsumedUnit` "Tokens");
//!   `PricingQuantity` is millions of tokens, a decimal, in the price lists' unit
//!   `PricingUnit` "1000000 Tokens" (the spec's unit format wants a whole-number block,
//!   as in its "1000 Requests" example, so not "1M Tokens").
//! * **Cost.** Each row's cost is its share of the group's recorded cost, split by
//!   token kind exactly (see [`super::split`]), so every cost column sums to
//!   `/v1/spend`'s `cost_nanos` to the nanodollar. Tollgate records what was charged at
//!   the prices in force, with no negotiated or commitment discounts, so `ListCost` =
//!   `ContractedCost` = `BilledCost` = `EffectiveCost`. `ListUnitPrice` =
//!   `ContractedUnitPrice` = cost / `PricingQuantity`: exactly the list price per
//!   million tokens whenever the ledger's prices are the filter's (then
//!   `ListUnitPrice × PricingQuantity = ListCost` holds exactly); otherwise the
//!   effective average price, rounded to 9 decimals. Cache hits cost 0, so their
//!   unit price is 0 and what they saved is in `x_CostAvoided`.
//! * **Formats.** Money and prices are exact decimal strings (at most 9 fractional
//!   digits), never floats; times are `YYYY-MM-DDTHH:mm:ssZ`; `BillingPeriodStart`/
//!   `End` are the calendar month (UTC) of the charge period. Null is an empty field.
//!   `Tags` is a JSON object of Tollgate-defined keys, prefixed `tollgate/` as the spec
//!   requires of provider-defined tags: `tollgate/team`, `tollgate/wallet` (the wallet
//!   is the team's) and `tollgate/consumer_group`.
//! * **Repricing.** A group whose events were repriced (`tollgate-ledger reprice`)
//!   gets one more row, `ChargeCategory` "Adjustment", `x_TokenKind` "adjustment",
//!   with the difference as its cost and no quantity; the usage rows keep the cost
//!   recorded at request time. Their sum is still `/v1/spend`'s.
//! * **Not applicable, so null:** `ChargeClass` (no corrections), regions and
//!   availability zones, commitment discounts, capacity reservations, `InvoiceId`.
//! * **Custom columns** (after the FOCUS ones, as the spec asks): `x_ConsumerGroup`,
//!   `x_Model`, `x_TokenKind`, `x_Lane`, `x_Premium` (the lane served premium-marked
//!   requests in the range), `x_CacheStatus` (off, miss, hit, bypass) and
//!   `x_CostAvoided` (USD a cache hit saved, split by kind like the cost).

use std::collections::{HashMap, HashSet};
use std::io::Write;

use serde_json::json;
use tollgate_core::money::{format_decimal, format_usd};
use tollgate_core::pricing::PriceTable;

use super::error::ExportError;
use super::periods::{clipped_period, month_start, next_month_start};
use super::rows::{csv_writer, drive};
use super::split::{split_by_kind, unit_price_nanos_per_mtok, TokenKind};
use crate::query::format_instant;
use crate::store::event_text;
use crate::store::export::{BillingExtras, ExportScope, Period, PeriodRow};
use crate::store::Store;

#[cfg(test)]
/// How many of [`COLUMNS`] are FOCUS-defined (the rest are `x_` custom columns).
pub const FOCUS_COLUMN_COUNT: usize = 50;

/// Every column written, in order: FOCUS columns alphabetically, then custom ones.
pub const COLUMNS: [&str; 57] = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
    // Custom columns.
    "x_ConsumerGroup",
    "x_Model",
    "x_TokenKind",
    "x_Lane",
    "x_Premium",
    "x_CacheStatus",
    "x_CostAvoided",
];

pub const PRICING_UNIT: &str = "1000000 Tokens";
/// The price unit of per-call tool charges, as the providers quote them.
pub const TOOL_PRICING_UNIT: &str = "1000 Requests";

/// The key of a rollup group per cache status, as owned values.
type GroupKey = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    &'static str,
);

fn group_key(row: &PeriodRow) -> GroupKey {
    (
        row.period_ms,
        row.team.clone(),
        row.consumer_group.clone(),
        row.provider.clone(),
        row.lane.clone(),
        row.model.clone(),
        row.cache.map(event_text::cache_str).unwrap_or(""),
    )
}

/// A provider's display name: the known ids capitalised as their owners write them.
pub fn provider_name(id: Option<&str>) -> String {
    match id {
        Some("openai") => "OpenAI".into(),
        Some("anthropic") => "Anthropic".into(),
        Some(other) => other.into(),
        None => "Unknown".into(),
    }
}

/// One output row; unset columns are null.
#[derive(Clone)]
struct Record([Option<String>; COLUMNS.len()]);

impl Record {
    fn new() -> Self {
        Record(std::array::from_fn(|_| None))
    }

    fn set(&mut self, column: &str, value: impl Into<String>) {
        let i = COLUMNS
            .iter()
            .position(|c| *c == column)
            .unwrap_or_else(|| panic!("{column} is not an export column"));
        self.0[i] = Some(value.into());
    }

    fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|v| v.as_deref().unwrap_or(""))
    }
}

/// The FOCUS rows of one rollup group: one per token kind with anything to report,
/// and one for web search calls if it had any.
fn records(
    row: &PeriodRow,
    extras: &BillingExtras,
    scope: &ExportScope,
    period: Period,
    prices: &PriceTable,
    premium_lanes: &HashSet<String>,
) -> Vec<Record> {
    let split = split_by_kind(&row.sums, extras, prices.lookup(&row.model, row.period_ms));
    let (charge_start, charge_end) = clipped_period(scope, period, row.period_ms);
    let provider = provider_name(row.provider.as_deref());
    let provider_id = row.provider.as_deref().unwrap_or("unknown");
    let cache = row.cache.map(event_text::cache_str).unwrap_or("");
    let premium = row.lane.as_ref().is_some_and(|l| premium_lanes.contains(l));
    let tags = json!({
        "tollgate/team": row.team,
        "tollgate/wallet": row.team,
        "tollgate/consumer_group": row.consumer_group,
    })
    .to_string();

    // The columns every row of the group shares.
    let mut base = Record::new();
    base.set("BillingAccountId", format!("tollgate:{provider_id}"));
    base.set("BillingAccountName", format!("{provider} (via Tollgate)"));
    base.set("BillingCurrency", "USD");
    base.set(
        "BillingPeriodStart",
        format_instant(scope.calendar.day_start(month_start(row.period_ms))),
    );
    base.set(
        "BillingPeriodEnd",
        format_instant(scope.calendar.day_start(next_month_start(row.period_ms))),
    );
    base.set("ChargeCategory", "Usage");
    base.set("ChargeFrequency", "Usage-Based");
    base.set("ChargePeriodStart", format_instant(charge_start));
    base.set("ChargePeriodEnd", format_instant(charge_end));
    base.set("InvoiceIssuerName", provider.clone());
    base.set("PricingCategory", "Standard");
    base.set("ProviderName", provider.clone());
    base.set("PublisherName", provider.clone());
    if let Some(lane) = &row.lane {
        base.set("ResourceId", lane.clone());
        base.set("ResourceName", lane.clone());
        base.set("ResourceType", "Tollgate Lane");
        base.set("x_Lane", lane.clone());
    }
    base.set("ServiceCategory", "AI and Machine Learning");
    base.set("ServiceSubcategory", "Generative AI");
    base.set("ServiceName", format!("{provider} API"));
    base.set("SubAccountId", row.team.clone());
    base.set("SubAccountName", row.team.clone());
    base.set("Tags", tags);
    base.set("x_ConsumerGroup", row.consumer_group.clone());
    base.set("x_Model", row.model.clone());
    base.set("x_Premium", if premium { "true" } else { "false" });
    base.set("x_CacheStatus", cache);
    let set_cost = |r: &mut Record, cost: i64| {
        let usd = format_usd(cost);
        for column in ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"] {
            r.set(column, usd.clone());
        }
    };

    let mut out = Vec::new();
    for (i, kind) in TokenKind::ALL.into_iter().enumerate() {
        let tokens = split.tokens[i];
        let cost = split.cost_nanos[i];
        let avoided = split.cost_avoided_nanos[i];
        if tokens == 0 && cost == 0 && avoided == 0 {
            continue;
        }
        let mut r = base.clone();
        set_cost(&mut r, cost);
        if let Some(price) = unit_price_nanos_per_mtok(cost, tokens) {
            let price = format_decimal(price, 9, 0);
            r.set("ListUnitPrice", price.clone());
            r.set("ContractedUnitPrice", price);
        }
        r.set(
            "ChargeDescription",
            format!(
                "{} {} via {provider}",
                row.model,
                kind.meter().to_lowercase()
            ),
        );
        r.set("ConsumedQuantity", tokens.to_string());
        r.set("ConsumedUnit", "Tokens");
        r.set("PricingQuantity", format_decimal(i128::from(tokens), 6, 0));
        r.set("PricingUnit", PRICING_UNIT);
        let sku = format!("{}:{}", row.model, kind.name());
        r.set("SkuId", sku.clone());
        r.set("SkuPriceId", sku);
        r.set("SkuMeter", kind.meter());
        r.set("x_TokenKind", kind.name());
        r.set("x_CostAvoided", format_usd(avoided));
        out.push(r);
    }
    if extras.web_search_calls > 0 || split.tool_cost_nanos != 0 {
        let calls = extras.web_search_calls;
        let cost = split.tool_cost_nanos;
        let mut r = base;
        set_cost(&mut r, cost);
        // Price per 1,000 calls: cost × 1000 / calls, in nanodollars (exact for the
        // providers' quotes, e.g. $10 per 1,000 searches).
        if let Some(per_1k_nanos) = unit_price_nanos_per_mtok(cost, calls.saturating_mul(1000)) {
            let price = format_decimal(per_1k_nanos, 9, 0);
            r.set("ListUnitPrice", price.clone());
            r.set("ContractedUnitPrice", price);
        }
        r.set(
            "ChargeDescription",
            format!("{} web search calls via {provider}", row.model),
        );
        r.set("ConsumedQuantity", calls.to_string());
        r.set("ConsumedUnit", "Requests");
        r.set("PricingQuantity", format_decimal(i128::from(calls), 3, 0));
        r.set("PricingUnit", TOOL_PRICING_UNIT);
        let sku = format!("{}:web_search", row.model);
        r.set("SkuId", sku.clone());
        r.set("SkuPriceId", sku);
        r.set("SkuMeter", "Web Search Calls");
        r.set("x_TokenKind", "web_search");
        r.set("x_CostAvoided", format_usd(0));
        out.push(r);
    }
    out
}

/// The row of a group's repricing adjustments: `ChargeCategory` "Adjustment", the
/// difference in every cost column, no quantity (see `crate::reprice`).
fn adjustment_record(
    row: &PeriodRow,
    cost_nanos: i64,
    scope: &ExportScope,
    period: Period,
    premium_lanes: &HashSet<String>,
) -> Record {
    // A group of one web search call's worth gives the shared columns; its own are
    // replaced below.
    let mut probe = row.clone();
    probe.sums = Default::default();
    probe.sums.cost_nanos = cost_nanos;
    let extras = BillingExtras {
        web_search_calls: 1,
        ..BillingExtras::default()
    };
    let no_prices = PriceTable::default();
    let mut r = records(&probe, &extras, scope, period, &no_prices, premium_lanes)
        .pop()
        .expect("a web search row");
    let provider = provider_name(row.provider.as_deref());
    r.set("ChargeCategory", "Adjustment");
    r.set(
        "ChargeDescription",
        format!("{} repricing adjustment via {provider}", row.model),
    );
    for column in [
        "ConsumedQuantity",
        "ConsumedUnit",
        "PricingQuantity",
        "PricingUnit",
        "ListUnitPrice",
        "ContractedUnitPrice",
    ] {
        r.set(column, "");
    }
    let usd = format_usd(cost_nanos);
    for column in ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"] {
        r.set(column, usd.clone());
    }
    let sku = format!("{}:adjustment", row.model);
    r.set("SkuId", sku.clone());
    r.set("SkuPriceId", sku);
    r.set("SkuMeter", "Repricing Adjustment");
    r.set("x_TokenKind", "adjustment");
    r
}

pub fn write(
    store: &dyn Store,
    scope: &ExportScope,
    period: Period,
    prices: &PriceTable,
    out: &mut dyn Write,
) -> Result<(), ExportError> {
    let premium_lanes: HashSet<String> = store.premium_lanes(scope)?.into_iter().collect();
    // Few groups have 1-hour writes or tool calls: held in memory, looked up per group.
    let extras: HashMap<GroupKey, BillingExtras> = store
        .period_billing_extras(scope, period)?
        .into_iter()
        .map(|x| {
            let key = (
                x.period_ms,
                x.team,
                x.consumer_group,
                x.provider,
                x.lane,
                x.model,
                event_text::cache_str(x.cache),
            );
            (key, x.extras)
        })
        .collect();
    // Repricing adjustments per group: their own rows, the usage rows keep the
    // recorded cost.
    let mut adjusted: HashMap<GroupKey, i64> = HashMap::new();
    for a in store.adjustments(scope.from_ms, scope.to_ms, scope.filters.team.as_deref())? {
        let a = a.adjustment;
        let day = scope.calendar.day_label(a.ts_ms);
        let period_ms = match period {
            Period::Day => day,
            Period::Month => month_start(day),
        };
        let key = (
            period_ms,
            a.team,
            a.consumer_group,
            a.provider,
            a.lane,
            a.model_served,
            event_text::cache_str(event_text::cache_from(&a.cache)?),
        );
        *adjusted.entry(key).or_default() += a.delta_nanos;
    }
    let mut w = csv_writer(out);
    w.write_record(COLUMNS).map_err(std::io::Error::from)?;
    drive(
        |sink| store.for_each_period_row(scope, period, true, sink),
        |mut row| {
            let key = group_key(&row);
            let group_extras = extras.get(&key).copied().unwrap_or_default();
            let adjustment = adjusted.get(&key).copied().unwrap_or(0);
            row.sums.cost_nanos -= adjustment;
            let mut rows = records(&row, &group_extras, scope, period, prices, &premium_lanes);
            if adjustment != 0 {
                rows.push(adjustment_record(
                    &row,
                    adjustment,
                    scope,
                    period,
                    &premium_lanes,
                ));
            }
            for r in rows {
                w.write_record(r.fields()).map_err(std::io::Error::from)?;
            }
            Ok(())
        },
    )?;
    w.flush()?;
    Ok(())
}
