//! Exports end to end in-process (router + real SQLite store): every format and grain
//! reconciles with `/v1/spend` to the nanodollar on a generated dataset with awkward
//! numbers, and a FOCUS file is validated column by column against FOCUS 1.2.

use std::collections::{BTreeMap, HashMap};
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

use tollgate_core::event::{ApiKind, CacheStatus, CostEvent, Outcome, Tokens, UsageSource};
use tollgate_core::money::{format_usd, parse_decimal};
use tollgate_core::pricing::{Billable, PriceTable};

use super::focus::{provider_name, COLUMNS, FOCUS_COLUMN_COUNT};
use crate::api::router;
use crate::query::{format_instant, parse_time, DAY_MS, HOUR_MS};
use crate::store::SqliteStore;
use crate::test_util::{event, TempDir};

const H0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
const MIN: i64 = 60_000;

struct Ledger {
    app: Router,
    /// The data plane's `Authorization` header.
    ingest: String,
    _dir: TempDir,
}

impl Ledger {
    fn new() -> Self {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("ledger.sqlite3")).unwrap();
        let ingest = crate::test_util::bearer(&store, crate::store::tokens::Role::Ingest, None);
        Ledger {
            app: router(Arc::new(store)),
            ingest,
            _dir: dir,
        }
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<Vec<u8>>) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        // Collected frame by frame, to see that a large export is streamed in chunks.
        let mut stream = resp.into_body().into_data_stream();
        let mut chunks = Vec::new();
        while let Some(chunk) =
            poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut stream), cx)).await
        {
            chunks.push(chunk.unwrap().to_vec());
        }
        (status, headers, chunks)
    }

    async fn get_text(&self, uri: &str) -> (StatusCode, String) {
        let (status, _, chunks) = self
            .send(Request::get(uri).body(Body::empty()).unwrap())
            .await;
        (status, String::from_utf8(chunks.concat()).unwrap())
    }

    async fn export(&self, query: &str) -> String {
        let (status, text) = self.get_text(&format!("/v1/export?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {text}");
        text
    }

    async fn spend(&self, query: &str) -> Value {
        let (status, text) = self.get_text(&format!("/v1/spend?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn post(&self, events: &[CostEvent]) {
        for batch in events.chunks(500) {
            let req = Request::post("/v1/events")
                .header("content-type", "application/json")
                .header("authorization", &self.ingest)
                .body(Body::from(serde_json::to_string(batch).unwrap()))
                .unwrap();
            let (status, _, body) = self.send(req).await;
            let body = String::from_utf8(body.concat()).unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(body.contains("\"rejected\":[]"), "{body}");
        }
    }
}

/// A deterministic generator (SplitMix64), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Models the generator uses, with how their events are costed.
const EXACT_MODELS: [(&str, &str); 3] = [
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("anthropic", "claude-opus-4-5"),
];

/// ~2400 events from 2026-10-29 to 2026-11-03 (across a month boundary), with:
/// prime-ish token counts up to ~10^7, costs at list price (exact), list price plus
/// drift (as if the filter had other prices), a model the ledger has no price for,
/// cache hits (cost 0, cost avoided at list price), refusals without provider or
/// lane, events exactly on hour/day/month boundaries and 1 ms before them.
fn dataset() -> Vec<CostEvent> {
    let table = PriceTable::with_overrides(&BTreeMap::new());
    let mut rng = Rng(0x7011_6A7E);
    let start = H0 - 3 * DAY_MS;
    let span = 6 * DAY_MS;
    let boundaries = [
        H0,
        H0 - 1,
        H0 + HOUR_MS,
        H0 + HOUR_MS - 1,
        H0 - DAY_MS,
        H0 + DAY_MS - 1,
        start,
        start + span - 1,
    ];
    let mut out = Vec::new();
    for i in 0..2400u64 {
        let ts = if i < boundaries.len() as u64 {
            boundaries[i as usize]
        } else {
            start + rng.below(span as u64) as i64
        };
        let team = rng.pick(&["team_a", "team_b", "team_c"]);
        let mut e = event(&format!("ev-{i:05}"), ts, team, 0);
        e.consumer_group = rng.pick(&["support", "eng", "finance-ops"]).into();
        let (provider, model) = EXACT_MODELS[rng.below(3) as usize];
        e.provider = Some(provider.into());
        e.lane = Some(format!("{provider}-{}", rng.pick(&["main", "backup"])));
        e.model_requested = model.into();
        e.model_served = model.into();
        e.api = if provider == "openai" {
            ApiKind::ChatCompletions
        } else {
            ApiKind::Messages
        };
        let big = |rng: &mut Rng| match rng.below(4) {
            0 => 0,
            1 => rng.below(10) + 1,
            2 => rng.below(100_000) * 7 + 3,
            _ => rng.below(10_000_000) + 999_983,
        };
        e.tokens = Tokens {
            input: big(&mut rng),
            cached_input: if rng.below(2) == 0 { 0 } else { big(&mut rng) },
            cache_write: if provider == "anthropic" && rng.below(3) == 0 {
                big(&mut rng)
            } else {
                0
            },
            cache_write_1h: if provider == "anthropic" && rng.below(4) == 0 {
                big(&mut rng)
            } else {
                0
            },
            output: big(&mut rng),
        };
        // Some requests ran web searches, charged per call.
        e.web_search_calls = if rng.below(5) == 0 {
            rng.below(4) + 1
        } else {
            0
        };
        let charge = table.lookup(model, e.ts_ms).unwrap().charge(&Billable {
            tokens: e.tokens,
            service_tier: None,
            web_search_calls: e.web_search_calls,
            batch: false,
        });
        e.tool_cost_nanos = charge.tools_nanos;
        let list = charge.total();
        match rng.below(10) {
            // A model the ledger cannot price: the filter's own price.
            0 => {
                e.model_served = "mystery-model-7b".into();
                e.cost_nanos = e.tokens.total() as i64 * 37 / 11 + rng.below(999) as i64;
                e.tool_cost_nanos = e.tool_cost_nanos.min(e.cost_nanos);
            }
            // Prices drifted: the filter charged something else.
            1 => e.cost_nanos = list + rng.below(999_999_999) as i64 + 1,
            // A cache hit: nothing charged, the miss's cost avoided.
            2 => {
                e.cache = CacheStatus::Hit;
                e.cost_nanos = 0;
                e.tool_cost_nanos = 0;
                e.web_search_calls = 0;
                e.cost_avoided_nanos = list - charge.tools_nanos;
            }
            // Refused before a lane was chosen.
            3 => {
                e.provider = None;
                e.lane = None;
                e.outcome = Outcome::Refused;
                e.http_status = 402;
                e.usage_source = UsageSource::None;
                e.tokens = Tokens::default();
                e.cost_nanos = 0;
                e.tool_cost_nanos = 0;
                e.web_search_calls = 0;
            }
            _ => e.cost_nanos = list,
        }
        if e.lane.as_deref() == Some("anthropic-backup") {
            e.premium = true;
        }
        out.push(e);
    }
    out
}

/// A table of strings by column name, from CSV or JSON Lines.
fn table(format: &str, text: &str) -> Vec<HashMap<String, String>> {
    if format == "jsonl" {
        return text
            .lines()
            .map(|line| {
                let v: Value = serde_json::from_str(line).unwrap();
                v.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| {
                        let s = match v {
                            Value::String(s) => s.clone(),
                            Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        (k.clone(), s)
                    })
                    .collect()
            })
            .collect();
    }
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// (period, team, provider, model) → [cost, cost avoided, input, cached, write, output].
type Totals = BTreeMap<(String, String, String, String), [i64; 6]>;

fn add(map: &mut Totals, key: (String, String, String, String), v: [i64; 6]) {
    let slot = map.entry(key).or_default();
    for (total, x) in slot.iter_mut().zip(v) {
        *total += x;
    }
}

/// Drops all-zero groups (they have no FOCUS rows) so maps compare exactly.
fn nonzero(map: Totals) -> Totals {
    map.into_iter()
        .filter(|(_, v)| v.iter().any(|&x| x != 0))
        .collect()
}

fn int(row: &HashMap<String, String>, col: &str) -> i64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col}: {:?}", row[col]))
}

fn usd(row: &HashMap<String, String>, col: &str) -> i64 {
    parse_decimal(&row[col], 9).unwrap_or_else(|e| panic!("{col}: {e}")) as i64
}

/// Spend per (day, team, provider, model), or per (month, ...) over each month's
/// part of the range; `provider_as` maps the provider id as the export shows it.
async fn spend_totals(
    l: &Ledger,
    from: i64,
    to: i64,
    month: bool,
    filter: &str,
    provider_as: fn(Option<&str>) -> String,
) -> Totals {
    let mut windows = Vec::new();
    if month {
        let mut m = super::periods::month_start(from);
        while m < to {
            let next = super::periods::next_month_start(m);
            windows.push((
                m.max(from),
                next.min(to),
                format_instant(m)[..7].to_string(),
            ));
            m = next;
        }
    } else {
        windows.push((from, to, String::new()));
    }
    let mut map = Totals::new();
    for (f, t, label) in windows {
        let group = if month {
            "team,provider,model"
        } else {
            "day,team,provider,model"
        };
        let body = l
            .spend(&format!("from={f}&to={t}&group_by={group}{filter}"))
            .await;
        for r in body["rows"].as_array().unwrap() {
            let key = &r["key"];
            let period = if month {
                label.clone()
            } else {
                key["day"].as_str().unwrap().to_string()
            };
            let tokens = &r["tokens"];
            add(
                &mut map,
                (
                    period,
                    key["team"].as_str().unwrap().to_string(),
                    provider_as(key["provider"].as_str()),
                    key["model"].as_str().unwrap().to_string(),
                ),
                [
                    r["cost_nanos"].as_i64().unwrap(),
                    r["cost_avoided_nanos"].as_i64().unwrap(),
                    tokens["input"].as_i64().unwrap(),
                    tokens["cached_input"].as_i64().unwrap(),
                    tokens["cache_write"].as_i64().unwrap(),
                    tokens["output"].as_i64().unwrap(),
                ],
            );
        }
    }
    nonzero(map)
}

fn provider_id(p: Option<&str>) -> String {
    p.unwrap_or("").to_string()
}

fn focus_provider(p: Option<&str>) -> String {
    provider_name(p)
}

/// Sums an export's rows into [`Totals`]; checks each row's USD text against its
/// nanodollars on the way.
fn export_totals(grain: &str, format: &str, text: &str) -> Totals {
    let mut map = Totals::new();
    let period_len = if grain == "month" { 7 } else { 10 };
    for row in table(format, text) {
        if format == "focus" {
            let cost = usd(&row, "BilledCost");
            for col in ["EffectiveCost", "ListCost", "ContractedCost"] {
                assert_eq!(usd(&row, col), cost, "{col} = BilledCost");
            }
            let mut v = [cost, usd(&row, "x_CostAvoided"), 0, 0, 0, 0];
            // Spend counts every cache write in `cache_write`; web searches are
            // charged per call, not in tokens.
            match row["x_TokenKind"].as_str() {
                "input" => v[2] = int(&row, "ConsumedQuantity"),
                "cached_input" => v[3] = int(&row, "ConsumedQuantity"),
                "cache_write" | "cache_write_1h" => v[4] = int(&row, "ConsumedQuantity"),
                "output" => v[5] = int(&row, "ConsumedQuantity"),
                "web_search" => assert_eq!(row["ConsumedUnit"], "Requests"),
                other => panic!("unknown kind {other}"),
            }
            let key = (
                row["ChargePeriodStart"][..period_len].to_string(),
                row["SubAccountId"].clone(),
                row["ProviderName"].clone(),
                row["x_Model"].clone(),
            );
            add(&mut map, key, v);
            continue;
        }
        assert_eq!(format_usd(int(&row, "cost_nanos")), row["cost_usd"]);
        assert_eq!(
            format_usd(int(&row, "cost_avoided_nanos")),
            row["cost_avoided_usd"]
        );
        let (period, model) = if grain == "request" {
            (row["ts"][..10].to_string(), row["model_served"].clone())
        } else {
            (
                row["period_start"][..period_len].to_string(),
                row["model"].clone(),
            )
        };
        let key = (period, row["team"].clone(), row["provider"].clone(), model);
        add(
            &mut map,
            key,
            [
                int(&row, "cost_nanos"),
                int(&row, "cost_avoided_nanos"),
                int(&row, "input_tokens"),
                int(&row, "cached_input_tokens"),
                int(&row, "cache_write_tokens")
                    + row
                        .get("cache_write_1h_tokens")
                        .map_or(0, |_| int(&row, "cache_write_1h_tokens")),
                int(&row, "output_tokens"),
            ],
        );
    }
    nonzero(map)
}

fn grand_total(map: &Totals) -> [i64; 6] {
    let mut t = [0; 6];
    for v in map.values() {
        for (total, x) in t.iter_mut().zip(v) {
            *total += x;
        }
    }
    t
}

#[tokio::test]
async fn every_format_and_grain_reconciles_with_spend_to_the_nanodollar() {
    let l = Ledger::new();
    l.post(&dataset()).await;
    // A range that starts and ends mid-hour (widened like /v1/spend widens it) and
    // cuts the first and last days.
    let (from_q, to_q) = ("2026-10-30T13:30:00Z", "2026-11-02T05:00:00.001Z");
    let (from, to) = (
        parse_time(from_q).unwrap() / HOUR_MS * HOUR_MS,
        parse_time(to_q).unwrap() / HOUR_MS * HOUR_MS + HOUR_MS,
    );
    for filter in ["", "&team=team_b"] {
        let whole = l.spend(&format!("from={from_q}&to={to_q}{filter}")).await;
        assert_eq!(
            (whole["from"].as_i64(), whole["to"].as_i64()),
            (Some(from), Some(to))
        );
        let whole = &whole["total"];
        let expected_total = [
            whole["cost_nanos"].as_i64().unwrap(),
            whole["cost_avoided_nanos"].as_i64().unwrap(),
            whole["tokens"]["input"].as_i64().unwrap(),
            whole["tokens"]["cached_input"].as_i64().unwrap(),
            whole["tokens"]["cache_write"].as_i64().unwrap(),
            whole["tokens"]["output"].as_i64().unwrap(),
        ];
        assert!(expected_total[0] > 1_000_000_000, "a meaningful dataset");

        let by_day = spend_totals(&l, from, to, false, filter, provider_id).await;
        let by_month = spend_totals(&l, from, to, true, filter, provider_id).await;
        let focus_day = spend_totals(&l, from, to, false, filter, focus_provider).await;
        let focus_month = spend_totals(&l, from, to, true, filter, focus_provider).await;
        assert_eq!(by_month.keys().map(|k| &k.0[..]).min(), Some("2026-10"));
        assert_eq!(by_month.keys().map(|k| &k.0[..]).max(), Some("2026-11"));

        for (grain, format, expected) in [
            ("request", "csv", &by_day),
            ("request", "jsonl", &by_day),
            ("day", "csv", &by_day),
            ("day", "jsonl", &by_day),
            ("month", "csv", &by_month),
            ("month", "jsonl", &by_month),
            ("day", "focus", &focus_day),
            ("month", "focus", &focus_month),
        ] {
            let text = l
                .export(&format!(
                    "from={from_q}&to={to_q}&grain={grain}&format={format}{filter}"
                ))
                .await;
            let got = export_totals(grain, format, &text);
            let what = format!("{grain}/{format}{filter}");
            assert_eq!(grand_total(&got), expected_total, "{what}: grand total");
            assert_eq!(
                &got, expected,
                "{what}: per period, team, provider and model"
            );
        }
    }
}

#[tokio::test]
async fn request_rows_carry_every_cost_event_field() {
    let l = Ledger::new();
    let mut e = event("full", H0 + 5 * MIN, "team_x", 123_456_789);
    e.user = Some("alice@example.com".into());
    e.workflow = Some("triage, \"urgent\"".into());
    e.reason = Some("line\nbreak".into());
    e.lease_id = Some(42);
    e.premium = true;
    e.premium_approved = true;
    e.wallet_unchecked = true;
    e.cost_avoided_nanos = 7;
    e.tokens.cached_input = 3;
    e.tokens.cache_write = 4;
    e.tokens.cache_write_1h = 5;
    e.web_search_calls = 2;
    e.tool_cost_nanos = 20_000_000;
    e.cost_nanos = 123_456_789;
    e.service_tier = Some("flex".into());
    e.priced_by = Some("gpt-5@flex".into());
    l.post(std::slice::from_ref(&e)).await;
    let event_json = serde_json::to_value(&e).unwrap();
    let fields = event_json.as_object().unwrap();
    assert_eq!(fields.len(), 30, "every optional field is set");

    for format in ["csv", "jsonl"] {
        let text = l
            .export(&format!(
                "from={H0}&to={}&grain=request&format={format}",
                H0 + HOUR_MS
            ))
            .await;
        let rows = table(format, &text);
        assert_eq!(rows.len(), 1, "{format}");
        let row = &rows[0];
        for (name, value) in fields {
            if name == "tokens" {
                for (kind, n) in value.as_object().unwrap() {
                    assert_eq!(
                        row[&format!("{kind}_tokens")],
                        n.to_string(),
                        "{format} {kind}"
                    );
                }
                continue;
            }
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(row.get(name), Some(&text), "{format}: {name}");
        }
        assert_eq!(row["cost_usd"], "0.123456789");
        assert_eq!(row["tool_cost_usd"], "0.02");
        assert_eq!(row["cost_avoided_usd"], "0.000000007");
        assert_eq!(row["ts"], "2026-11-01T00:05:00Z");
    }
    // JSON Lines keeps types: numbers are numbers, absent options null.
    let mut bare = event("bare", H0 + 6 * MIN, "team_x", 1);
    bare.provider = None;
    l.post(&[bare]).await;
    let text = l
        .export(&format!(
            "from={H0}&to={}&grain=request&format=jsonl",
            H0 + HOUR_MS
        ))
        .await;
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["provider"], Value::Null);
    assert_eq!(last["cost_nanos"], 1);
    assert_eq!(last["stream"], false);
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_reason() {
    let l = Ledger::new();
    for (query, needle) in [
        ("grain=request&format=focus", "use grain=day or grain=month"),
        ("grain=week", "unknown grain 'week'"),
        ("format=xlsx", "unknown format 'xlsx'"),
        ("group_by=team", "unknown query parameter 'group_by'"),
        ("from=2026-11-02&to=2026-11-01", "must be before"),
        ("grain=day&grain=month", "more than once"),
    ] {
        let (status, text) = l.get_text(&format!("/v1/export?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{query}: {message}");
    }
}

#[tokio::test]
async fn empty_exports_have_a_header_and_downloads_are_named() {
    let l = Ledger::new();
    let (status, headers, chunks) = l
        .send(
            Request::get("/v1/export?from=2026-11-01&to=2026-12-01&grain=month&format=focus")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"tollgate-focus-month-2026-11-01-2026-12-01.csv\""
    );
    assert_eq!(
        String::from_utf8(chunks.concat()).unwrap(),
        format!("{}\n", COLUMNS.join(","))
    );
    let text = l.export("from=2026-11-01&to=2026-11-02&grain=day").await;
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with("period_start,period_end,team,"));
    let (_, headers, chunks) = l
        .send(
            Request::get("/v1/export?from=2026-11-01&to=2026-11-02&grain=request&format=jsonl")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/jsonl; charset=utf-8"
    );
    assert!(chunks.concat().is_empty());
}

#[tokio::test]
async fn large_exports_stream_in_chunks() {
    let l = Ledger::new();
    let events: Vec<CostEvent> = (0..3000)
        .map(|i| event(&format!("s{i:05}"), H0 + i, "team_a", 1_000 + i))
        .collect();
    l.post(&events).await;
    let (status, _, chunks) = l
        .send(
            Request::get(format!(
                "/v1/export?from={H0}&to={}&grain=request",
                H0 + HOUR_MS
            ))
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(chunks.len() > 3, "{} chunks", chunks.len());
    assert!(chunks.iter().all(|c| c.len() <= 2 * 64 * 1024));
    let text = String::from_utf8(chunks.concat()).unwrap();
    let rows = table("csv", &text);
    assert_eq!(rows.len(), 3000);
    // Oldest first, every event once.
    assert_eq!(rows[0]["id"], "s00000");
    assert_eq!(rows[2999]["id"], "s02999");
}

// ---------------------------------------------------------------------------------
// FOCUS 1.2 validation.

/// FOCUS 1.2 columns: (id, data type, feature level, allows nulls), from the
/// specification's column definitions.
const FOCUS_1_2: [(&str, &str, &str, bool); 57] = [
    ("AvailabilityZone", "String", "Recommended", true),
    ("BilledCost", "Decimal", "Mandatory", false),
    ("BillingAccountId", "String", "Mandatory", false),
    ("BillingAccountName", "String", "Mandatory", true),
    ("BillingAccountType", "String", "Conditional", false),
    ("BillingCurrency", "String", "Mandatory", false),
    ("BillingPeriodEnd", "DateTime", "Mandatory", false),
    ("BillingPeriodStart", "DateTime", "Mandatory", false),
    ("CapacityReservationId", "String", "Conditional", true),
    ("CapacityReservationStatus", "String", "Conditional", true),
    ("ChargeCategory", "String", "Mandatory", false),
    ("ChargeClass", "String", "Mandatory", true),
    ("ChargeDescription", "String", "Mandatory", true),
    ("ChargeFrequency", "String", "Recommended", false),
    ("ChargePeriodEnd", "DateTime", "Mandatory", false),
    ("ChargePeriodStart", "DateTime", "Mandatory", false),
    ("CommitmentDiscountCategory", "String", "Conditional", true),
    ("CommitmentDiscountId", "String", "Conditional", true),
    ("CommitmentDiscountName", "String", "Conditional", true),
    ("CommitmentDiscountQuantity", "Decimal", "Conditional", true),
    ("CommitmentDiscountStatus", "String", "Conditional", true),
    ("CommitmentDiscountType", "String", "Conditional", true),
    ("CommitmentDiscountUnit", "String", "Conditional", true),
    ("ConsumedQuantity", "Decimal", "Conditional", true),
    ("ConsumedUnit", "String", "Conditional", true),
    ("ContractedCost", "Decimal", "Mandatory", false),
    ("ContractedUnitPrice", "Decimal", "Conditional", true),
    ("EffectiveCost", "Decimal", "Mandatory", false),
    ("InvoiceId", "String", "Recommended", true),
    ("InvoiceIssuerName", "String", "Mandatory", false),
    ("ListCost", "Decimal", "Mandatory", false),
    ("ListUnitPrice", "Decimal", "Conditional", true),
    ("PricingCategory", "String", "Conditional", true),
    ("PricingCurrency", "String", "Conditional", true),
    (
        "PricingCurrencyContractedUnitPrice",
        "Decimal",
        "Conditional",
        true,
    ),
    (
        "PricingCurrencyEffectiveCost",
        "Decimal",
        "Conditional",
        true,
    ),
    (
        "PricingCurrencyListUnitPrice",
        "Decimal",
        "Conditional",
        true,
    ),
    ("PricingQuantity", "Decimal", "Mandatory", true),
    ("PricingUnit", "String", "Mandatory", true),
    ("ProviderName", "String", "Mandatory", false),
    ("PublisherName", "String", "Mandatory", false),
    ("RegionId", "String", "Conditional", true),
    ("RegionName", "String", "Conditional", true),
    ("ResourceId", "String", "Conditional", true),
    ("ResourceName", "String", "Conditional", true),
    ("ResourceType", "String", "Conditional", true),
    ("ServiceCategory", "String", "Mandatory", false),
    ("ServiceName", "String", "Mandatory", false),
    ("ServiceSubcategory", "String", "Recommended", false),
    ("SkuId", "String", "Conditional", true),
    ("SkuMeter", "String", "Conditional", true),
    ("SkuPriceDetails", "JSON", "Conditional", true),
    ("SkuPriceId", "String", "Conditional", true),
    ("SubAccountId", "String", "Conditional", true),
    ("SubAccountName", "String", "Conditional", true),
    ("SubAccountType", "String", "Conditional", true),
    ("Tags", "JSON", "Conditional", true),
];

const SERVICE_CATEGORIES: [&str; 19] = [
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
    "Other",
];

const AI_SUBCATEGORIES: [&str; 6] = [
    "AI Platforms",
    "Bots",
    "Generative AI",
    "Machine Learning",
    "Natural Language Processing",
    "Other (AI and Machine Learning)",
];

/// Columns that must not be null on a Usage row that is not a correction.
const USAGE_NOT_NULL: [&str; 8] = [
    "PricingQuantity",
    "PricingUnit",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "PricingCategory",
    "SkuId",
    "SkuPriceId",
    "ConsumedQuantity",
];

fn is_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'Z'
        && parse_time(s).is_ok()
}

/// FOCUS Numeric Format, restricted to what Tollgate promises: plain decimal (no
/// exponent, no `+`, no grouping) with at most 9 fractional digits.
fn is_decimal(s: &str) -> bool {
    let t = s.strip_prefix('-').unwrap_or(s);
    let (i, f) = t.split_once('.').unwrap_or((t, ""));
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    digits(i)
        && (i == "0" || !i.starts_with('0'))
        && (!t.contains('.') || digits(f))
        && f.len() <= 9
}

/// Unit Format: `<plural-units>` optionally after a whole-number block size.
fn is_unit(s: &str) -> bool {
    let unit = match s.split_once(' ') {
        Some((n, u)) => {
            if !n.bytes().all(|b| b.is_ascii_digit()) || n.starts_with('0') {
                return false;
            }
            u
        }
        None => s,
    };
    unit.starts_with(|c: char| c.is_ascii_uppercase())
        && unit.chars().all(|c| c.is_ascii_alphabetic())
}

/// A decimal as an integer scaled by 10^scale (for exact products).
fn scaled(s: &str, scale: u32) -> Option<i128> {
    parse_decimal(s, scale).ok().map(i128::from)
}

/// Validates a FOCUS 1.2 CSV file; returns the number of rows or every violation.
fn validate_focus(text: &str, scope: (i64, i64)) -> Result<usize, Vec<String>> {
    let mut errors = Vec::new();
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let spec: HashMap<&str, (&str, &str, bool)> = FOCUS_1_2
        .iter()
        .map(|(c, t, l, n)| (*c, (*t, *l, *n)))
        .collect();

    // Columns: every mandatory one, exact names, FOCUS columns first, custom ones
    // prefixed x_, no duplicates.
    for (name, (_, level, _)) in &spec {
        if *level == "Mandatory" && !headers.iter().any(|h| h == name) {
            errors.push(format!("mandatory column {name} missing"));
        }
    }
    let mut seen_custom = false;
    for (i, h) in headers.iter().enumerate() {
        if headers[..i].contains(h) {
            errors.push(format!("column {h} twice"));
        }
        if h.starts_with("x_") {
            seen_custom = true;
        } else if !spec.contains_key(h.as_str()) {
            errors.push(format!("column {h} is neither FOCUS 1.2 nor prefixed x_"));
        } else if seen_custom {
            errors.push(format!("FOCUS column {h} after custom columns"));
        }
    }

    let mut rows = 0;
    let mut sku_parent: HashMap<String, String> = HashMap::new();
    for (n, record) in reader.records().enumerate() {
        rows += 1;
        let record = record.unwrap();
        let row: HashMap<&str, &str> = headers
            .iter()
            .map(String::as_str)
            .zip(record.iter())
            .collect();
        let mut bad = |msg: String| errors.push(format!("row {}: {msg}", n + 1));
        let get = |c: &str| row.get(c).copied().filter(|v| !v.is_empty());

        for (col, value) in &row {
            let Some((ty, _, nullable)) = spec.get(col) else {
                continue;
            };
            if value.is_empty() {
                if !nullable {
                    bad(format!("{col} is null"));
                }
                continue;
            }
            let ok = match *ty {
                "Decimal" => is_decimal(value),
                "DateTime" => is_datetime(value),
                "JSON" => serde_json::from_str::<Value>(value).is_ok_and(|v| {
                    v.as_object()
                        .is_some_and(|o| o.values().all(|x| !x.is_object() && !x.is_array()))
                }),
                _ => !value.trim().is_empty(),
            };
            if !ok {
                bad(format!("{col} = {value:?} is not a valid {ty}"));
            }
        }

        // Allowed values.
        let allowed: [(&str, &[&str]); 5] = [
            (
                "ChargeCategory",
                &["Usage", "Purchase", "Tax", "Credit", "Adjustment"],
            ),
            ("ChargeClass", &["Correction"]),
            ("ChargeFrequency", &["One-Time", "Recurring", "Usage-Based"]),
            (
                "PricingCategory",
                &["Standard", "Dynamic", "Committed", "Other"],
            ),
            ("ServiceCategory", &SERVICE_CATEGORIES),
        ];
        for (col, values) in allowed {
            if let Some(v) = get(col) {
                if !values.contains(&v) {
                    bad(format!("{col} = {v:?} is not an allowed value"));
                }
            }
        }
        if get("ServiceSubcategory").is_some_and(|s| !AI_SUBCATEGORIES.contains(&s))
            || get("ServiceCategory") != Some("AI and Machine Learning")
        {
            bad("ServiceSubcategory must belong to ServiceCategory".into());
        }
        let currency = get("BillingCurrency").unwrap_or("");
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            bad(format!("BillingCurrency {currency:?} is not ISO 4217"));
        }

        // Usage rows (never corrections here) need their pricing columns.
        if get("ChargeCategory") == Some("Usage") && get("ChargeClass").is_none() {
            for col in USAGE_NOT_NULL {
                if get(col).is_none() {
                    bad(format!("{col} is null on a Usage row"));
                }
            }
        }
        for (quantity, unit) in [
            ("PricingQuantity", "PricingUnit"),
            ("ConsumedQuantity", "ConsumedUnit"),
        ] {
            if get(quantity).is_some() != get(unit).is_some() {
                bad(format!("{unit} must be null exactly when {quantity} is"));
            }
            if get(unit).is_some_and(|u| !is_unit(u)) {
                bad(format!("{unit} {:?} breaks the unit format", get(unit)));
            }
        }
        for col in ["SkuMeter", "ResourceName", "ResourceType"] {
            let parent = if col == "SkuMeter" {
                "SkuId"
            } else {
                "ResourceId"
            };
            if get(parent).is_none() && get(col).is_some() {
                bad(format!("{col} set without {parent}"));
            }
        }
        if let (Some(price_id), Some(sku)) = (get("SkuPriceId"), get("SkuId")) {
            let parent = sku_parent
                .entry(price_id.into())
                .or_insert_with(|| sku.into());
            if parent != sku {
                bad(format!("SkuPriceId {price_id} has two SkuIds"));
            }
        }

        // Periods: charge period inside its billing period (a UTC calendar month)
        // and inside the export's range.
        let t = |c: &str| get(c).and_then(|v| parse_time(v).ok());
        if let (Some(cs), Some(ce), Some(bs), Some(be)) = (
            t("ChargePeriodStart"),
            t("ChargePeriodEnd"),
            t("BillingPeriodStart"),
            t("BillingPeriodEnd"),
        ) {
            if !(bs <= cs && cs < ce && ce <= be) {
                bad("charge period not inside the billing period".into());
            }
            if bs != super::periods::month_start(bs) || be != super::periods::next_month_start(bs) {
                bad("billing period is not a calendar month".into());
            }
            if cs < scope.0 || ce > scope.1 {
                bad("charge period outside the export range".into());
            }
        }

        // Costs: non-negative, the four equal here, and unit price × quantity = cost
        // (exact to the rounding of a 9-decimal unit price).
        let decimal = |c: &str, scale| get(c).and_then(|v| scaled(v, scale));
        if let (Some(cost), Some(price), Some(q)) = (
            decimal("ListCost", 9),
            decimal("ListUnitPrice", 9),
            decimal("PricingQuantity", 6),
        ) {
            // price [1e-9 $/MTok] × q [1e-6 MTok] = 1e-15 $; cost in 1e-9 $.
            let diff = (price * q - cost * 1_000_000).abs();
            if diff * 2 > q {
                bad(format!(
                    "ListUnitPrice × PricingQuantity is off by {diff}e-15"
                ));
            }
            if cost < 0 || price < 0 {
                bad("negative cost or price".into());
            }
        }
        for col in ["x_Premium"] {
            if !matches!(get(col), Some("true" | "false")) {
                bad(format!("{col} must be true or false"));
            }
        }
        if !matches!(
            get("x_CacheStatus"),
            Some("off" | "miss" | "hit" | "bypass")
        ) {
            bad("x_CacheStatus".into());
        }
        if get("x_CostAvoided").is_some_and(|v| !is_decimal(v)) {
            bad("x_CostAvoided is not a decimal".into());
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

#[tokio::test]
async fn a_generated_focus_file_is_valid_focus_1_2_column_by_column() {
    // The writer's own column list: FOCUS names first (all known to 1.2), then x_.
    assert!(COLUMNS[..FOCUS_COLUMN_COUNT]
        .iter()
        .all(|c| FOCUS_1_2.iter().any(|(f, ..)| f == c)));
    assert!(COLUMNS[FOCUS_COLUMN_COUNT..]
        .iter()
        .all(|c| c.starts_with("x_")));

    let l = Ledger::new();
    l.post(&dataset()).await;
    let (from, to) = (H0 - 2 * DAY_MS + 13 * HOUR_MS, H0 + DAY_MS + 6 * HOUR_MS);
    for grain in ["day", "month"] {
        let text = l
            .export(&format!("from={from}&to={to}&grain={grain}&format=focus"))
            .await;
        let rows = validate_focus(&text, (from, to)).unwrap_or_else(|errors| {
            panic!(
                "{grain}: {} violations:\n{}",
                errors.len(),
                errors[..errors.len().min(20)].join("\n")
            )
        });
        assert!(rows > 100, "{grain}: {rows} rows");

        let parsed = table("focus", &text);
        let first = &parsed[0];
        for (col, value) in [
            ("ChargeCategory", "Usage"),
            ("ServiceCategory", "AI and Machine Learning"),
            ("ServiceSubcategory", "Generative AI"),
            ("BillingCurrency", "USD"),
            ("ChargeClass", ""),
            ("RegionId", ""),
            ("CommitmentDiscountId", ""),
            ("CapacityReservationId", ""),
        ] {
            assert!(parsed.iter().all(|r| r[col] == value), "{col} = {value:?}");
            assert_eq!(first[col], value);
        }
        // Tokens are priced per million; web search calls per thousand, at the list
        // price ($10 per 1,000 searches), on rows of their own.
        let (searches, tokens): (Vec<_>, Vec<_>) = parsed
            .iter()
            .partition(|r| r["x_TokenKind"] == "web_search");
        assert!(tokens
            .iter()
            .all(|r| r["ConsumedUnit"] == "Tokens" && r["PricingUnit"] == "1000000 Tokens"));
        assert!(!searches.is_empty(), "{grain}: web search rows");
        assert!(searches.iter().all(|r| r["ConsumedUnit"] == "Requests"
            && r["PricingUnit"] == "1000 Requests"
            && r["SkuId"].ends_with(":web_search")));
        assert!(searches
            .iter()
            .any(|r| r["ListUnitPrice"] == "10" && r["x_Model"] != "mystery-model-7b"));
        assert!(tokens.iter().any(|r| r["x_TokenKind"] == "cache_write_1h"));
        // The clipped first charge period starts where the range does.
        assert!(parsed
            .iter()
            .any(|r| r["ChargePeriodStart"] == format_instant(from)));
        assert!(parsed.iter().all(|r| {
            let tags: Value = serde_json::from_str(&r["Tags"]).unwrap();
            tags["tollgate/team"] == r["SubAccountId"].as_str()
                && tags["tollgate/wallet"] == r["SubAccountId"].as_str()
                && tags["tollgate/consumer_group"] == r["x_ConsumerGroup"].as_str()
        }));
        // Rows priced at the list price the ledger knows carry exactly that price.
        let mini = parsed
            .iter()
            .find(|r| r["SkuId"] == "gpt-4o-mini:output" && r["x_CacheStatus"] == "miss")
            .unwrap();
        assert_eq!(mini["ProviderName"], "OpenAI");
        assert_eq!(mini["ServiceName"], "OpenAI API");
        assert_eq!(mini["SkuMeter"], "Output Tokens");
        assert!(parsed.iter().any(|r| r["x_Premium"] == "true"
            && r["ResourceId"] == "anthropic-backup"
            && r["ResourceType"] == "Tollgate Lane"));
        assert!(parsed.iter().any(|r| r["x_CacheStatus"] == "hit"
            && r["BilledCost"] == "0.00"
            && r["x_CostAvoided"] != "0.00"));
    }
}

#[test]
fn the_validator_catches_what_it_checks() {
    let header = COLUMNS.join(",");
    let good = {
        let mut values: HashMap<&str, &str> = HashMap::new();
        for (c, v) in [
            ("BilledCost", "0.15"),
            ("EffectiveCost", "0.15"),
            ("ListCost", "0.15"),
            ("ContractedCost", "0.15"),
            ("ListUnitPrice", "0.15"),
            ("ContractedUnitPrice", "0.15"),
            ("BillingAccountId", "tollgate:openai"),
            ("BillingCurrency", "USD"),
            ("BillingPeriodStart", "2026-11-01T00:00:00Z"),
            ("BillingPeriodEnd", "2026-12-01T00:00:00Z"),
            ("ChargePeriodStart", "2026-11-01T00:00:00Z"),
            ("ChargePeriodEnd", "2026-11-02T00:00:00Z"),
            ("ChargeCategory", "Usage"),
            ("ChargeFrequency", "Usage-Based"),
            ("ConsumedQuantity", "1000000"),
            ("ConsumedUnit", "Tokens"),
            ("PricingQuantity", "1"),
            ("PricingUnit", "1000000 Tokens"),
            ("PricingCategory", "Standard"),
            ("InvoiceIssuerName", "OpenAI"),
            ("ProviderName", "OpenAI"),
            ("PublisherName", "OpenAI"),
            ("ServiceCategory", "AI and Machine Learning"),
            ("ServiceSubcategory", "Generative AI"),
            ("ServiceName", "OpenAI API"),
            ("SkuId", "m:input"),
            ("SkuPriceId", "m:input"),
            ("Tags", "{\"tollgate/team\":\"t\"}"),
            ("x_Premium", "false"),
            ("x_CacheStatus", "miss"),
        ] {
            values.insert(c, v);
        }
        values
    };
    let line = |values: &HashMap<&str, &str>| {
        let mut w = ::csv::Writer::from_writer(Vec::new());
        w.write_record(COLUMNS.iter().map(|c| values.get(c).copied().unwrap_or("")))
            .unwrap();
        String::from_utf8(w.into_inner().unwrap()).unwrap()
    };
    let scope = (H0, H0 + DAY_MS);
    assert_eq!(
        validate_focus(&format!("{header}\n{}", line(&good)), scope),
        Ok(1)
    );
    for (column, value, expected) in [
        ("ChargeCategory", "usage", "not an allowed value"),
        ("BilledCost", "1.5E+3", "not a valid Decimal"),
        ("ListCost", "0.1500000001", "not a valid Decimal"),
        ("ListCost", "0.16", "ListUnitPrice × PricingQuantity"),
        (
            "ChargePeriodStart",
            "2026-11-01 00:00:00",
            "not a valid DateTime",
        ),
        ("BillingPeriodEnd", "2026-11-30T00:00:00Z", "calendar month"),
        ("Tags", "{\"a\":{\"b\":1}}", "not a valid JSON"),
        ("PricingUnit", "", "PricingUnit is null on a Usage row"),
        ("ServiceCategory", "AI", "not an allowed value"),
        ("ChargeClass", "Refund", "not an allowed value"),
        ("BillingCurrency", "usd", "ISO 4217"),
        ("ProviderName", "", "ProviderName is null"),
    ] {
        let mut bad = good.clone();
        bad.insert(column, value);
        let errors = validate_focus(&format!("{header}\n{}", line(&bad)), scope).unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{column}={value:?}: {errors:?}"
        );
    }
    // A missing mandatory column, and a custom column without the prefix.
    let renamed = header.replace("BilledCost", "Billed_Cost");
    let errors = validate_focus(&format!("{renamed}\n{}", line(&good)), scope).unwrap_err();
    assert!(errors
        .iter()
        .any(|e| e.contains("mandatory column BilledCost missing")));
    assert!(errors.iter().any(|e| e.contains("Billed_Cost is neither")));
}
