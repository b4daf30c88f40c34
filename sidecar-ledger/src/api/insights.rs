//! The dashboard's data: `/v1/insights/*` and `/v1/session`.
//!
//! Every insights endpoint needs a token (see [`crate::auth`]); a team token is
//! confined to its team (`team=` of another team is 403). All are answered from the
//! daily rollups (`bucket=hour` from the hourly ones), so they stay fast as events
//! accumulate. Money is integer nanodollars; sentences state what a leader acts on.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tollgate_core::config::BudgetDef;

use super::spend::TotalsJson;
use super::wallets::WalletJson;
use super::{blocking, now_ms, ApiError, AppState};
use crate::auth::{self, Principal};
use crate::budget::{self, BudgetStatus, DailySpend};
use crate::insights::drivers::{self, CellKey, CellSums, Effect};
use crate::insights::narrative::{self, pct, share, usd};
use crate::insights::{parse_range, Bucket, DayRange};
use crate::query::{self, Dim, Filters, SpendQuery, DAY_MS, HOUR_MS};
use crate::store::insights::{InsightDim, InsightQuery};
use crate::store::{KeyValue, Store, StoreError, Sums};

type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// Query parameters by name, each at most once, only the known ones.
struct Args(HashMap<String, String>);

impl Args {
    fn parse(params: Params, known: &[&str]) -> Result<Args, ApiError> {
        let mut out = HashMap::new();
        for (k, v) in params?.0 {
            if !known.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter '{k}'; expected any of: {}",
                    known.join(", ")
                )));
            }
            if out.insert(k.clone(), v).is_some() {
                return Err(ApiError::bad_request(format!(
                    "'{k}' is given more than once"
                )));
            }
        }
        Ok(Args(out))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn range(&self, now: i64) -> Result<DayRange, ApiError> {
        Ok(parse_range(
            self.get("from"),
            self.get("to"),
            now,
            ("from", "to"),
        )?)
    }

    fn bucket(&self, default: Bucket, allowed: &[Bucket]) -> Result<Bucket, ApiError> {
        match self.get("bucket") {
            None => Ok(default),
            Some(b) => Bucket::parse(b)
                .filter(|b| allowed.contains(b))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "'bucket' must be one of: {}",
                        allowed
                            .iter()
                            .map(|b| b.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }),
        }
    }
}

fn text(k: &KeyValue) -> Option<String> {
    match k {
        KeyValue::Text(t) => t.clone(),
        KeyValue::TimeMs(ms) => Some(ms.to_string()),
    }
}

fn add(a: &mut Sums, b: &Sums) -> Result<(), ApiError> {
    *a = a
        .checked_add(b)
        .ok_or_else(|| ApiError::internal("sum overflows 64 bits"))?;
    Ok(())
}

fn tokens_total(s: &Sums) -> i64 {
    s.input_tokens + s.cached_input_tokens + s.cache_write_tokens + s.output_tokens
}

/// Rows of the daily rollups grouped by bucket and `dims`: `(bucket start, key, sums)`.
type Grouped = Vec<(i64, Vec<Option<String>>, Sums)>;

fn grouped(
    store: &dyn Store,
    range: DayRange,
    team: Option<&str>,
    workflow: Option<&str>,
    bucket: Option<Bucket>,
    dims: &[InsightDim],
) -> Result<Grouped, StoreError> {
    let mut group_by = Vec::with_capacity(dims.len() + 1);
    if bucket.is_some() {
        group_by.push(InsightDim::Day);
    }
    group_by.extend_from_slice(dims);
    let rows = store.insight_rows(&InsightQuery {
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        team: team.map(str::to_string),
        workflow: workflow.map(str::to_string),
        drift_only: false,
        group_by,
    })?;
    let mut merged: BTreeMap<(i64, Vec<Option<String>>), Sums> = BTreeMap::new();
    for r in rows {
        let (t, key) = match (bucket, r.key.split_first()) {
            (Some(b), Some((KeyValue::TimeMs(day), rest))) => {
                (b.start(*day), rest.iter().map(text).collect())
            }
            _ => (range.from_ms, r.key.iter().map(text).collect()),
        };
        let slot = merged.entry((t, key)).or_default();
        *slot = slot
            .checked_add(&r.sums)
            .ok_or_else(|| StoreError::Corrupt("sum overflows 64 bits".into()))?;
    }
    Ok(merged.into_iter().map(|((t, k), s)| (t, k, s)).collect())
}

/// The teams a principal may see: every wallet's (each team with spend has one) and
/// every budget's.
fn visible_teams(
    store: &dyn Store,
    budgets: &[tollgate_core::config::BudgetDef],
    who: &Principal,
) -> Result<BTreeSet<String>, StoreError> {
    let mut teams: BTreeSet<String> = store
        .wallets(now_ms())?
        .into_iter()
        .map(|w| w.team)
        .collect();
    // Every team with spend has a wallet (ingest creates it), so no rollup is read.
    teams.extend(budgets.iter().map(|b| b.team_id.clone()));
    teams.retain(|t| who.can_see(t));
    Ok(teams)
}

#[derive(Serialize)]
pub struct RangeJson {
    pub from: String,
    pub to: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub days: i64,
}

impl From<DayRange> for RangeJson {
    fn from(r: DayRange) -> Self {
        RangeJson {
            from: query::format_day(r.from_ms),
            to: query::format_day(r.to_ms),
            from_ms: r.from_ms,
            to_ms: r.to_ms,
            days: r.days(),
        }
    }
}

/// The scope of an answer: one team, or every team the token sees.
#[derive(Serialize)]
pub struct ScopeJson {
    /// `None`: the organisation (every visible team).
    pub team: Option<String>,
    pub label: String,
}

fn scope_json(team: &Option<String>) -> ScopeJson {
    ScopeJson {
        team: team.clone(),
        label: team
            .clone()
            .unwrap_or_else(|| "The organisation".to_string()),
    }
}

// ---------------------------------------------------------------------------------
// /v1/session

#[derive(Serialize)]
pub struct SessionJson {
    pub name: String,
    pub role: &'static str,
    pub team: Option<String>,
    /// What the token may see: `all` teams or its `team`.
    pub sees: &'static str,
    /// Teams this token may open, for the team picker.
    pub teams: Vec<String>,
}

fn session_json(
    store: &dyn Store,
    state: &AppState,
    p: &Principal,
) -> Result<SessionJson, StoreError> {
    let teams = visible_teams(store, &state.budgets.current(), p)?;
    Ok(SessionJson {
        name: p.name.clone(),
        role: p.role.as_str(),
        team: p.team.clone(),
        sees: if p.confined_to().is_some() {
            "team"
        } else {
            "all"
        },
        teams: teams.into_iter().collect(),
    })
}

pub async fn get_session(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<SessionJson>, ApiError> {
    let store = state.store.clone();
    let s = state.clone();
    Ok(Json(
        blocking(move || session_json(store.as_ref(), &s, &who)).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    pub token: String,
}

/// `POST /v1/session`: checks a token and keeps it in an HttpOnly cookie.
pub async fn post_session(
    State(state): State<AppState>,
    body: Result<Json<SessionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let token = req.token.trim().to_string();
    let store = state.store.clone();
    let s = state.clone();
    let t = token.clone();
    let found = blocking(move || {
        let Some(p) = auth::lookup(store.as_ref(), &t)? else {
            return Ok(None);
        };
        Ok(Some(session_json(store.as_ref(), &s, &p)?))
    })
    .await?;
    let Some(session) = found else {
        return Ok(auth::unauthorized("unknown or revoked token"));
    };
    let cookie = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200",
        auth::COOKIE
    );
    let mut r = Json(session).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|_| ApiError::bad_request("malformed token"))?,
    );
    Ok(r)
}

/// `DELETE /v1/session`: forgets the cookie.
pub async fn delete_session() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("tollgate_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}

// ---------------------------------------------------------------------------------
// /v1/insights/series

#[derive(Serialize)]
pub struct SeriesRow {
    pub bucket: String,
    pub bucket_ms: i64,
    pub key: Map<String, Value>,
    #[serde(flatten)]
    pub totals: TotalsJson,
    pub tokens_total: i64,
    /// Cost per request, rounded down (0 without requests).
    pub cost_per_request_nanos: i64,
}

#[derive(Serialize)]
pub struct SeriesResponse {
    pub scope: ScopeJson,
    pub range: RangeJson,
    pub bucket: &'static str,
    pub group_by: Vec<String>,
    /// Every bucket of the range, in order (rows only exist where there was spend).
    pub buckets: Vec<String>,
    pub rows: Vec<SeriesRow>,
    pub total: TotalsJson,
}

fn row_json(
    bucket: Bucket,
    t: i64,
    names: &[String],
    key: Vec<Option<String>>,
    s: &Sums,
) -> SeriesRow {
    SeriesRow {
        bucket: bucket.label(t),
        bucket_ms: t,
        key: names
            .iter()
            .cloned()
            .zip(
                key.into_iter()
                    .map(|v| v.map(Value::String).unwrap_or(Value::Null)),
            )
            .collect(),
        totals: TotalsJson::from(s),
        tokens_total: tokens_total(s),
        cost_per_request_nanos: if s.requests > 0 {
            s.cost_nanos / s.requests
        } else {
            0
        },
    }
}

/// `GET /v1/insights/series`: spend, requests, tokens and cost per request by any
/// dimensions, per hour, day, week or month.
pub async fn get_series(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<SeriesResponse>, ApiError> {
    let args = Args::parse(
        params,
        &["from", "to", "bucket", "group_by", "team", "workflow"],
    )?;
    let now = now_ms();
    let bucket = args.bucket(Bucket::Day, &Bucket::ALL)?;
    let team = who.scope(args.get("team"))?;
    let workflow = args.get("workflow").map(str::to_string);
    let mut dims = Vec::new();
    let mut names = Vec::new();
    for part in args
        .get("group_by")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if names.iter().any(|n| n == part) {
            return Err(ApiError::bad_request(format!(
                "group_by lists '{part}' more than once"
            )));
        }
        names.push(part.to_string());
        dims.push(part);
    }
    let store = state.store.clone();

    if bucket == Bucket::Hour {
        // The hourly rollups: every /v1/spend dimension, hour-exact ranges.
        let mut group_by = vec![Dim::Hour];
        for d in &dims {
            match Dim::parse(d).filter(|d| !matches!(d, Dim::Hour | Dim::Day)) {
                Some(dim) => group_by.push(dim),
                None => {
                    return Err(ApiError::bad_request(format!(
                        "with bucket=hour, group_by takes: {}",
                        Dim::ALL[..10]
                            .iter()
                            .map(|d| d.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            }
        }
        if workflow.is_some() {
            return Err(ApiError::bad_request(
                "the workflow filter needs bucket=day, week or month",
            ));
        }
        let from = args
            .get("from")
            .map(query::parse_time)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("'from' {e}")))?;
        let to = args
            .get("to")
            .map(query::parse_time)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("'to' {e}")))?
            .unwrap_or(now);
        let to_ms = (to + HOUR_MS - 1).div_euclid(HOUR_MS) * HOUR_MS;
        let from_ms = from.unwrap_or(to_ms - DAY_MS).div_euclid(HOUR_MS) * HOUR_MS;
        if from_ms >= to_ms || to_ms - from_ms > 93 * DAY_MS {
            return Err(ApiError::bad_request(
                "with bucket=hour, 'from' must be before 'to' and at most 93 days earlier",
            ));
        }
        let q = SpendQuery {
            group_by,
            from_ms,
            to_ms,
            filters: Filters {
                team: team.clone(),
                ..Filters::default()
            },
        };
        let rows = blocking(move || store.spend(&q)).await?;
        let mut total = Sums::default();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            add(&mut total, &r.sums)?;
            let t = match r.key.first() {
                Some(KeyValue::TimeMs(t)) => *t,
                _ => from_ms,
            };
            let key = r.key[1..].iter().map(text).collect();
            out.push(row_json(bucket, t, &names, key, &r.sums));
        }
        out.sort_by(|a, b| {
            a.bucket_ms
                .cmp(&b.bucket_ms)
                .then(b.totals.cost_nanos.cmp(&a.totals.cost_nanos))
        });
        let range = DayRange { from_ms, to_ms };
        return Ok(Json(SeriesResponse {
            scope: scope_json(&team),
            range: RangeJson {
                from: query::format_instant(from_ms),
                to: query::format_instant(to_ms),
                from_ms,
                to_ms,
                days: range.days(),
            },
            bucket: bucket.name(),
            group_by: names,
            buckets: bucket
                .starts(from_ms, to_ms)
                .into_iter()
                .map(|t| bucket.label(t))
                .collect(),
            rows: out,
            total: TotalsJson::from(&total),
        }));
    }

    let mut idims = Vec::new();
    for d in &dims {
        match InsightDim::parse(d).filter(|d| *d != InsightDim::Day) {
            Some(dim) => idims.push(dim),
            None => {
                return Err(ApiError::bad_request(format!(
                    "group_by takes: {} (api and outcome with bucket=hour)",
                    InsightDim::ALL[1..]
                        .iter()
                        .map(|d| d.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
    }
    let q = InsightQuery {
        group_by: idims.clone(),
        workflow: workflow.clone(),
        ..Default::default()
    };
    if !q.answerable() {
        return Err(ApiError::bad_request(
            "user combines only with team and consumer_group, without a workflow filter",
        ));
    }
    let range = args.range(now)?;
    let t = team.clone();
    let rows = blocking(move || {
        grouped(
            store.as_ref(),
            range,
            t.as_deref(),
            workflow.as_deref(),
            Some(bucket),
            &idims,
        )
    })
    .await?;
    let mut total = Sums::default();
    let mut out = Vec::with_capacity(rows.len());
    for (t, key, s) in rows {
        add(&mut total, &s)?;
        out.push(row_json(bucket, t, &names, key, &s));
    }
    Ok(Json(SeriesResponse {
        scope: scope_json(&team),
        range: range.into(),
        bucket: bucket.name(),
        group_by: names,
        buckets: bucket
            .starts(range.from_ms, range.to_ms)
            .into_iter()
            .map(|t| bucket.label(t))
            .collect(),
        rows: out,
        total: TotalsJson::from(&total),
    }))
}

// ---------------------------------------------------------------------------------
// /v1/insights/teams

#[derive(Serialize)]
pub struct TeamJson {
    pub team: String,
    pub spent_nanos: i64,
    pub requests: i64,
    pub cost_avoided_nanos: i64,
    pub wallet: Option<WalletJson>,
    pub budget: Option<BudgetStatus>,
    /// The team's position in one sentence (the budget summary when it has one).
    pub summary: String,
}

#[derive(Serialize)]
pub struct TeamsResponse {
    pub range: RangeJson,
    pub teams: Vec<TeamJson>,
    pub total_spent_nanos: i64,
    pub summary: String,
}

/// Run rate per day: a trimmed mean of the last 14 full days (as budget forecasts).
fn run_rate(daily: &DailySpend, team: &str, now: i64) -> i64 {
    let today = now.div_euclid(DAY_MS);
    let days = daily.days(team, today - 14, today);
    let first = days.iter().position(|&d| d > 0).unwrap_or(days.len());
    if days.len() - first < 3 {
        return 0;
    }
    budget::forecast::trimmed_stats(&days[first..]).0
}

/// The budget summary in words, money in cents and the day named: "team_support has
/// used 64% of its monthly budget ($76.80 of $120.00); on pace to exceed it on Monday
/// 23 November".
fn budget_words(b: &BudgetStatus) -> String {
    let head = format!(
        "{} has used {}% of its {} budget ({} of {})",
        b.team,
        b.used_pct,
        b.period,
        usd(b.spent_nanos),
        usd(b.budget_nanos)
    );
    let day = b
        .forecast
        .exhaustion_day
        .as_deref()
        .and_then(|d| query::parse_time(d).ok());
    match day {
        Some(_) if b.spent_nanos >= b.budget_nanos => format!("{head}; the budget is used up"),
        Some(ms) => format!(
            "{head}; on pace to exceed it on {} (forecast {} by {})",
            narrative::day_words(ms),
            usd(b.forecast.period_end_nanos),
            query::format_day(b.period_end_ms - DAY_MS)
        ),
        None => format!(
            "{head}; forecast {} at period end, within budget",
            usd(b.forecast.period_end_nanos)
        ),
    }
}

/// A sentence for a team without a billing budget: its wallet runway.
fn wallet_sentence(team: &str, wallet: Option<&WalletJson>, rate: i64) -> String {
    let head = format!("{team} has no billing budget");
    match wallet {
        Some(w) if rate > 0 && w.balance_nanos > 0 => format!(
            "{head}; at {} a day its wallet balance of {} lasts about {} more days",
            usd(rate),
            usd(w.balance_nanos),
            w.balance_nanos / rate
        ),
        Some(w) if w.balance_nanos <= 0 => {
            format!(
                "{head}; its wallet is empty ({} balance)",
                usd(w.balance_nanos)
            )
        }
        Some(w) => format!("{head}; wallet balance {}", usd(w.balance_nanos)),
        None => format!("{head} and no wallet"),
    }
}

fn team_rows(
    store: &dyn Store,
    state: &AppState,
    who: &Principal,
    range: DayRange,
    only: Option<&str>,
) -> Result<Vec<TeamJson>, StoreError> {
    let now = now_ms();
    let teams: Vec<String> = match only {
        Some(t) => vec![t.to_string()],
        None => visible_teams(store, &state.budgets.current(), who)?
            .into_iter()
            .collect(),
    };
    let spend: HashMap<String, Sums> =
        grouped(store, range, only, None, None, &[InsightDim::Team])?
            .into_iter()
            .filter_map(|(_, k, s)| k.into_iter().next().flatten().map(|t| (t, s)))
            .collect();
    let wallets: HashMap<String, WalletJson> = store
        .wallets(now)?
        .into_iter()
        .map(|w| (w.team.clone(), WalletJson::from(w)))
        .collect();
    let mut wallets = wallets;
    let current = state.budgets.current();
    let budgets: Vec<&BudgetDef> = current
        .iter()
        .filter(|b| teams.contains(&b.team_id))
        .collect();
    // Every team's days in one read, not one (or two) per team.
    let daily = DailySpend::load(store, &teams, &budgets, now)?;
    let mut out = Vec::new();
    for team in teams {
        let s = spend.get(&team).copied().unwrap_or_default();
        let budget = budgets
            .iter()
            .find(|b| b.team_id == team)
            .map(|b| budget::status(b, &daily, now));
        let wallet = wallets.remove(&team);
        let summary = match &budget {
            Some(b) => budget_words(b),
            None => wallet_sentence(&team, wallet.as_ref(), run_rate(&daily, &team, now)),
        };
        out.push(TeamJson {
            team,
            spent_nanos: s.cost_nanos,
            requests: s.requests,
            cost_avoided_nanos: s.cost_avoided_nanos,
            wallet,
            budget,
            summary,
        });
    }
    out.sort_by(|a, b| b.spent_nanos.cmp(&a.spent_nanos).then(a.team.cmp(&b.team)));
    Ok(out)
}

/// `GET /v1/insights/teams`: each visible team's spend in the range, wallet and budget.
pub async fn get_teams(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<TeamsResponse>, ApiError> {
    let args = Args::parse(params, &["from", "to"])?;
    let range = args.range(now_ms())?;
    let store = state.store.clone();
    let s = state.clone();
    let teams = blocking(move || team_rows(store.as_ref(), &s, &who, range, None)).await?;
    let total: i64 = teams.iter().map(|t| t.spent_nanos).sum();
    let summary = match teams.first() {
        Some(top) if total > 0 => format!(
            "{} teams spent {} in the {} days to {}; {} accounts for {} of it",
            teams.len(),
            usd(total),
            range.days(),
            query::format_day(range.to_ms - DAY_MS),
            top.team,
            pct(share(top.spent_nanos, total))
        ),
        _ => format!(
            "No spend in the {} days to {}",
            range.days(),
            query::format_day(range.to_ms - DAY_MS)
        ),
    };
    Ok(Json(TeamsResponse {
        range: range.into(),
        teams,
        total_spent_nanos: total,
        summary,
    }))
}

// ---------------------------------------------------------------------------------
// /v1/insights/budget

#[derive(Serialize)]
pub struct BudgetLineJson {
    pub amount_nanos: i64,
    pub period_start: String,
    pub period_end: String,
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    pub spent_nanos: i64,
    pub forecast_nanos: i64,
    pub forecast_low_nanos: i64,
    pub forecast_high_nanos: i64,
    /// Budgets summed into this line (1 for a team).
    pub budgets: usize,
}

#[derive(Serialize)]
pub struct BudgetChartResponse {
    pub scope: ScopeJson,
    pub range: RangeJson,
    /// The x axis: the range's days, extended to the end of the current budget period.
    pub days: Vec<String>,
    /// Daily spend per team (one series per team; one for a team view).
    pub daily: Vec<TeamSeries>,
    /// Spend since the budget period started, per day (null outside the period or
    /// after today).
    pub cumulative: Vec<Option<i64>>,
    /// Straight line from today's spend to the period-end forecast, and its band
    /// (null before today).
    pub forecast: Vec<Option<i64>>,
    pub forecast_low: Vec<Option<i64>>,
    pub forecast_high: Vec<Option<i64>>,
    pub budget: Option<BudgetLineJson>,
    pub total_spent_nanos: i64,
    /// Budget summaries in words, most urgent first.
    pub sentences: Vec<String>,
    pub summary: String,
}

#[derive(Serialize)]
pub struct TeamSeries {
    pub team: String,
    pub values: Vec<i64>,
    pub total_nanos: i64,
}

/// `GET /v1/insights/budget`: daily spend against the budget line, with the forecast
/// and its band, for a team or for every visible team (their budgets summed).
pub async fn get_budget(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<BudgetChartResponse>, ApiError> {
    let args = Args::parse(params, &["from", "to", "team"])?;
    let now = now_ms();
    let range = args.range(now)?;
    let team = who.scope(args.get("team"))?;
    let store = state.store.clone();
    let s = state.clone();
    let t = team.clone();
    let (teams, rows) = blocking(move || {
        let teams = team_rows(store.as_ref(), &s, &who, range, t.as_deref())?;
        let visible: BTreeSet<String> = teams.iter().map(|t| t.team.clone()).collect();
        // Period to date, for the cumulative line: from the earliest period start.
        let period_from = teams
            .iter()
            .filter_map(|t| t.budget.as_ref().map(|b| b.period_start_ms))
            .min()
            .unwrap_or(range.from_ms)
            .min(range.from_ms);
        let wide = DayRange {
            from_ms: period_from,
            to_ms: range.to_ms.max(DayRange::last_days(now, 1).to_ms),
        };
        let rows: Vec<(i64, String, i64)> = grouped(
            store.as_ref(),
            wide,
            t.as_deref(),
            None,
            Some(Bucket::Day),
            &[InsightDim::Team],
        )?
        .into_iter()
        .filter_map(|(d, k, s)| {
            let team = k.into_iter().next().flatten()?;
            visible.contains(&team).then_some((d, team, s.cost_nanos))
        })
        .collect();
        Ok((teams, rows))
    })
    .await?;

    // The budget line: the team's, or the sum of every visible team's budget whose
    // period is the same as the first one's (monthly budgets, typically).
    let statuses: Vec<&BudgetStatus> = teams.iter().filter_map(|t| t.budget.as_ref()).collect();
    let line = statuses.first().map(|first| {
        let same: Vec<&&BudgetStatus> = statuses
            .iter()
            .filter(|b| {
                b.period_start_ms == first.period_start_ms && b.period_end_ms == first.period_end_ms
            })
            .collect();
        BudgetLineJson {
            amount_nanos: same.iter().map(|b| b.budget_nanos).sum(),
            period_start: first.period_start.clone(),
            period_end: first.period_end.clone(),
            period_start_ms: first.period_start_ms,
            period_end_ms: first.period_end_ms,
            spent_nanos: same.iter().map(|b| b.spent_nanos).sum(),
            forecast_nanos: same.iter().map(|b| b.forecast.period_end_nanos).sum(),
            forecast_low_nanos: same.iter().map(|b| b.forecast.low_nanos).sum(),
            forecast_high_nanos: same.iter().map(|b| b.forecast.high_nanos).sum(),
            budgets: same.len(),
        }
    });
    let budget_teams: BTreeSet<&str> = match &line {
        Some(l) => statuses
            .iter()
            .filter(|b| {
                b.period_start_ms == l.period_start_ms && b.period_end_ms == l.period_end_ms
            })
            .map(|b| b.team.as_str())
            .collect(),
        None => BTreeSet::new(),
    };

    let end_ms = match &line {
        Some(l) if l.period_end_ms > range.to_ms && l.period_start_ms < range.to_ms => {
            l.period_end_ms
        }
        _ => range.to_ms,
    };
    let day_starts: Vec<i64> = Bucket::Day.starts(range.from_ms, end_ms);
    let index: HashMap<i64, usize> = day_starts
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, i))
        .collect();
    let today = now.div_euclid(DAY_MS) * DAY_MS;

    let mut per_team: BTreeMap<String, Vec<i64>> = teams
        .iter()
        .map(|t| (t.team.clone(), vec![0; day_starts.len()]))
        .collect();
    let mut cumulative = vec![None; day_starts.len()];
    let mut running = 0i64;
    // Period-to-date per day (only teams whose budget forms the line).
    let mut by_day: BTreeMap<i64, i64> = BTreeMap::new();
    for (d, t, cost) in &rows {
        if let (Some(i), Some(v)) = (index.get(d), per_team.get_mut(t)) {
            if *d < range.to_ms {
                v[*i] += cost;
            }
        }
        if budget_teams.contains(t.as_str()) {
            *by_day.entry(*d).or_default() += cost;
        }
    }
    let mut forecast = vec![None; day_starts.len()];
    let mut low = vec![None; day_starts.len()];
    let mut high = vec![None; day_starts.len()];
    if let Some(l) = &line {
        for (d, cost) in &by_day {
            if *d >= l.period_start_ms && *d < l.period_end_ms {
                running += cost;
                if let Some(i) = index.get(d) {
                    cumulative[*i] = Some(running);
                }
            }
        }
        // Fill idle days inside the period up to today with the running total.
        let mut last = None;
        for (i, d) in day_starts.iter().enumerate() {
            if *d >= l.period_start_ms && *d <= today && *d < l.period_end_ms {
                if cumulative[i].is_none() {
                    cumulative[i] = Some(last.unwrap_or_else(|| {
                        by_day
                            .range(l.period_start_ms..*d)
                            .map(|(_, c)| *c)
                            .sum::<i64>()
                    }));
                }
                last = cumulative[i];
            }
        }
        // Forecast: a straight line from the spend so far (at the end of today) to the
        // period-end forecast at the period's last day.
        let last_day = l.period_end_ms - DAY_MS;
        if today <= last_day {
            let span = (last_day - today).max(DAY_MS) as f64;
            for (i, d) in day_starts.iter().enumerate() {
                if *d >= today && *d <= last_day {
                    let f = (*d - today) as f64 / span;
                    let at = |target: i64| {
                        Some(l.spent_nanos + ((target - l.spent_nanos) as f64 * f).round() as i64)
                    };
                    forecast[i] = at(l.forecast_nanos);
                    low[i] = at(l.forecast_low_nanos);
                    high[i] = at(l.forecast_high_nanos);
                }
            }
        }
    }

    let daily: Vec<TeamSeries> = per_team
        .into_iter()
        .map(|(team, values)| TeamSeries {
            total_nanos: values.iter().sum(),
            team,
            values,
        })
        .collect();
    let total: i64 = daily.iter().map(|t| t.total_nanos).sum();
    // Most urgent first: exhaustion soonest, then highest use.
    let mut urgent: Vec<&TeamJson> = teams.iter().collect();
    urgent.sort_by_key(|t| {
        let b = t.budget.as_ref();
        (
            b.and_then(|b| b.forecast.exhaustion_day.clone())
                .unwrap_or_else(|| "9999".into()),
            -b.map(|b| b.used_pct).unwrap_or(-1),
        )
    });
    let sentences: Vec<String> = urgent.iter().map(|t| t.summary.clone()).collect();
    let summary = match (&team, &line) {
        (Some(_), _) => sentences.first().cloned().unwrap_or_default(),
        (None, Some(l)) => {
            let over: Vec<&str> = teams
                .iter()
                .filter(|t| {
                    t.budget
                        .as_ref()
                        .is_some_and(|b| b.forecast.exhaustion_day.is_some())
                })
                .map(|t| t.team.as_str())
                .collect();
            let head = format!(
                "The organisation has used {} of its {} this period ({} of {})",
                pct(share(l.spent_nanos, l.amount_nanos)),
                if l.budgets == 1 {
                    "one budget".to_string()
                } else {
                    format!("{} budgets", l.budgets)
                },
                usd(l.spent_nanos),
                usd(l.amount_nanos)
            );
            if over.is_empty() {
                format!(
                    "{head}; forecast {} at period end, within budget",
                    usd(l.forecast_nanos)
                )
            } else {
                format!("{head}; on pace to exceed: {}", over.join(", "))
            }
        }
        (None, None) => format!(
            "No billing budgets are set; {} spent {} in this range",
            if teams.len() == 1 {
                "the team"
            } else {
                "the teams"
            },
            usd(total)
        ),
    };
    Ok(Json(BudgetChartResponse {
        scope: scope_json(&team),
        range: range.into(),
        days: day_starts.iter().map(|d| query::format_day(*d)).collect(),
        daily,
        cumulative,
        forecast,
        forecast_low: low,
        forecast_high: high,
        budget: line,
        total_spent_nanos: total,
        sentences,
        summary,
    }))
}

// ---------------------------------------------------------------------------------
// /v1/insights/mix

#[derive(Serialize)]
pub struct ShareSeries {
    pub key: String,
    /// Per bucket.
    pub cost_nanos: Vec<i64>,
    pub requests: Vec<i64>,
    /// Share of the bucket's spend, 0..1.
    pub cost_share: Vec<f64>,
    pub total_cost_nanos: i64,
    pub total_requests: i64,
}

#[derive(Serialize)]
pub struct MixResponse {
    pub scope: ScopeJson,
    pub range: RangeJson,
    pub bucket: &'static str,
    pub by: &'static str,
    pub buckets: Vec<String>,
    pub series: Vec<ShareSeries>,
    pub summary: String,
}

fn share_series(rows: &Grouped, starts: &[i64]) -> (Vec<ShareSeries>, Vec<i64>) {
    let index: HashMap<i64, usize> = starts.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let mut totals = vec![0i64; starts.len()];
    let mut map: BTreeMap<String, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    for (t, key, s) in rows {
        let Some(&i) = index.get(t) else { continue };
        let name = key
            .first()
            .cloned()
            .flatten()
            .unwrap_or_else(|| "(none)".into());
        let e = map
            .entry(name)
            .or_insert_with(|| (vec![0; starts.len()], vec![0; starts.len()]));
        e.0[i] += s.cost_nanos;
        e.1[i] += s.requests;
        totals[i] += s.cost_nanos;
    }
    let mut series: Vec<ShareSeries> = map
        .into_iter()
        .map(|(key, (cost, req))| ShareSeries {
            cost_share: cost
                .iter()
                .zip(&totals)
                .map(|(c, t)| (share(*c, *t) * 10_000.0).round() / 10_000.0)
                .collect(),
            total_cost_nanos: cost.iter().sum(),
            total_requests: req.iter().sum(),
            key,
            cost_nanos: cost,
            requests: req,
        })
        .collect();
    series.sort_by(|a, b| {
        b.total_cost_nanos
            .cmp(&a.total_cost_nanos)
            .then(a.key.cmp(&b.key))
    });
    (series, totals)
}

/// `GET /v1/insights/mix?by=provider|lane|model`: spend per key per bucket, as shares.
pub async fn get_mix(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<MixResponse>, ApiError> {
    let args = Args::parse(params, &["from", "to", "team", "bucket", "by"])?;
    let range = args.range(now_ms())?;
    let bucket = args.bucket(Bucket::Day, &[Bucket::Day, Bucket::Week, Bucket::Month])?;
    let team = who.scope(args.get("team"))?;
    let (by, dim) = match args.get("by").unwrap_or("lane") {
        "lane" => ("lane", InsightDim::Lane),
        "provider" => ("provider", InsightDim::Provider),
        "model" => ("model", InsightDim::Model),
        other => {
            return Err(ApiError::bad_request(format!(
                "'by' must be lane, provider or model, found '{other}'"
            )))
        }
    };
    let store = state.store.clone();
    let t = team.clone();
    let rows = blocking(move || {
        grouped(
            store.as_ref(),
            range,
            t.as_deref(),
            None,
            Some(bucket),
            &[dim],
        )
    })
    .await?;
    let starts = bucket.starts(range.from_ms, range.to_ms);
    let (series, totals) = share_series(&rows, &starts);
    let all: i64 = totals.iter().sum();
    // The key whose share of spend shifted most, in words.
    let mut best: Option<(f64, String)> = None;
    for s in &series {
        let points: Vec<(i64, i64)> = s
            .cost_nanos
            .iter()
            .zip(&totals)
            .map(|(c, t)| (*c, *t))
            .collect();
        if let Some(shift) = narrative::level_shift(&points, 2) {
            if let Some(words) = narrative::shift_words(&shift, &starts) {
                let size = (shift.after - shift.before).abs();
                if best.as_ref().is_none_or(|(b, _)| size > *b) {
                    best = Some((size, format!("{}'s share of spend {words}", s.key)));
                }
            }
        }
    }
    let lead = series.first().map(|s| {
        format!(
            "{} carried {} of spend over the range",
            s.key,
            pct(share(s.total_cost_nanos, all))
        )
    });
    let summary = match (best, lead) {
        (Some((_, shift)), Some(lead)) => format!("{shift}; {lead}"),
        (None, Some(lead)) => format!("The {by} mix held steady; {lead}"),
        _ => "No spend in this range".to_string(),
    };
    Ok(Json(MixResponse {
        scope: scope_json(&team),
        range: range.into(),
        bucket: bucket.name(),
        by,
        buckets: starts.iter().map(|t| bucket.label(*t)).collect(),
        series,
        summary,
    }))
}

// ---------------------------------------------------------------------------------
// /v1/insights/cache

#[derive(Serialize)]
pub struct CacheResponse {
    pub scope: ScopeJson,
    pub range: RangeJson,
    pub bucket: &'static str,
    pub buckets: Vec<String>,
    pub hits: Vec<i64>,
    /// Requests the cache could have answered (hits and misses; off/bypass excluded).
    pub lookups: Vec<i64>,
    /// `hits / lookups` per bucket (null without lookups).
    pub hit_rate: Vec<Option<f64>>,
    pub cost_avoided_nanos: Vec<i64>,
    pub total_hit_rate: Option<f64>,
    pub total_cost_avoided_nanos: i64,
    /// The level shift found, if any: rates before and after, and the first bucket at
    /// the new level.
    pub shift: Option<ShiftJson>,
    pub summary: String,
}

#[derive(Serialize)]
pub struct ShiftJson {
    pub before: f64,
    pub after: f64,
    pub first_bucket: String,
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// `GET /v1/insights/cache`: hit rate and cost avoided per bucket, and any shift in
/// the hit rate in words.
pub async fn get_cache(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<CacheResponse>, ApiError> {
    let args = Args::parse(params, &["from", "to", "team", "bucket"])?;
    let range = args.range(now_ms())?;
    let bucket = args.bucket(Bucket::Day, &[Bucket::Day, Bucket::Week, Bucket::Month])?;
    let team = who.scope(args.get("team"))?;
    let store = state.store.clone();
    let t = team.clone();
    let rows = blocking(move || {
        grouped(
            store.as_ref(),
            range,
            t.as_deref(),
            None,
            Some(bucket),
            &[InsightDim::Cache],
        )
    })
    .await?;
    let starts = bucket.starts(range.from_ms, range.to_ms);
    let index: HashMap<i64, usize> = starts.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let n = starts.len();
    let (mut hits, mut lookups, mut avoided) = (vec![0i64; n], vec![0i64; n], vec![0i64; n]);
    for (t, key, s) in &rows {
        let Some(&i) = index.get(t) else { continue };
        match key.first().cloned().flatten().as_deref() {
            Some("hit") => {
                hits[i] += s.requests;
                lookups[i] += s.requests;
            }
            Some("miss") => lookups[i] += s.requests,
            _ => {}
        }
        avoided[i] += s.cost_avoided_nanos;
    }
    let hit_rate: Vec<Option<f64>> = hits
        .iter()
        .zip(&lookups)
        .map(|(h, l)| (*l > 0).then(|| round4(share(*h, *l))))
        .collect();
    let (th, tl): (i64, i64) = (hits.iter().sum(), lookups.iter().sum());
    let total_avoided: i64 = avoided.iter().sum();
    let points: Vec<(i64, i64)> = hits.iter().zip(&lookups).map(|(h, l)| (*h, *l)).collect();
    let shift = narrative::level_shift(&points, 2);
    let words = shift
        .as_ref()
        .and_then(|s| narrative::shift_words(s, &starts));
    let saved = format!("the cache saved {} in this range", usd(total_avoided));
    let summary = match (&words, tl) {
        (_, 0) => "No cacheable requests in this range".to_string(),
        (Some(w), _) => format!("Cache hit rate {w}; {saved}"),
        (None, _) => format!(
            "Cache hit rate held steady at {}; {saved}",
            pct(share(th, tl))
        ),
    };
    Ok(Json(CacheResponse {
        scope: scope_json(&team),
        range: range.into(),
        bucket: bucket.name(),
        buckets: starts.iter().map(|t| bucket.label(*t)).collect(),
        hits,
        lookups,
        hit_rate,
        cost_avoided_nanos: avoided,
        total_hit_rate: (tl > 0).then(|| round4(share(th, tl))),
        total_cost_avoided_nanos: total_avoided,
        shift: match (shift, words) {
            (Some(s), Some(_)) => Some(ShiftJson {
                before: round4(s.before),
                after: round4(s.after),
                first_bucket: bucket.label(starts[s.at]),
            }),
            _ => None,
        },
        summary,
    }))
}

// ---------------------------------------------------------------------------------
// /v1/insights/premium

#[derive(Serialize)]
pub struct WorkflowSpend {
    pub workflow: Option<String>,
    pub cost_nanos: i64,
    pub requests: i64,
}

#[derive(Serialize)]
pub struct PremiumResponse {
    pub scope: ScopeJson,
    pub range: RangeJson,
    pub bucket: &'static str,
    pub buckets: Vec<String>,
    /// Spend per bucket on standard lanes, premium lanes by approved workflows, and
    /// premium lanes by workflows not approved for them (premium drift).
    pub standard_nanos: Vec<i64>,
    pub approved_nanos: Vec<i64>,
    pub unapproved_nanos: Vec<i64>,
    /// Premium (approved + unapproved) share of each bucket's spend, 0..1.
    pub premium_share: Vec<Option<f64>>,
    pub drift_share: Vec<Option<f64>>,
    pub total_premium_share: Option<f64>,
    pub total_drift_share: Option<f64>,
    /// Workflows using premium lanes without approval, dearest first.
    pub drifting_workflows: Vec<WorkflowSpend>,
    pub summary: String,
}

/// `GET /v1/insights/premium`: premium share and premium drift per bucket.
pub async fn get_premium(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<PremiumResponse>, ApiError> {
    let args = Args::parse(params, &["from", "to", "team", "bucket"])?;
    let range = args.range(now_ms())?;
    let bucket = args.bucket(Bucket::Day, &[Bucket::Day, Bucket::Week, Bucket::Month])?;
    let team = who.scope(args.get("team"))?;
    let store = state.store.clone();
    let t = team.clone();
    let (rows, workflows) = blocking(move || {
        let rows = grouped(
            store.as_ref(),
            range,
            t.as_deref(),
            None,
            Some(bucket),
            &[InsightDim::Premium],
        )?;
        // Only premium drift is listed by workflow: read just those rollup rows.
        let wf = store.insight_rows(&InsightQuery {
            from_ms: range.from_ms,
            to_ms: range.to_ms,
            team: t,
            drift_only: true,
            group_by: vec![InsightDim::Workflow],
            ..Default::default()
        })?;
        Ok((rows, wf))
    })
    .await?;
    let starts = bucket.starts(range.from_ms, range.to_ms);
    let index: HashMap<i64, usize> = starts.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let n = starts.len();
    let (mut std_, mut appr, mut unap) = (vec![0i64; n], vec![0i64; n], vec![0i64; n]);
    for (t, key, s) in &rows {
        let Some(&i) = index.get(t) else { continue };
        match key.first().cloned().flatten().as_deref() {
            Some("approved") => appr[i] += s.cost_nanos,
            Some("unapproved") => unap[i] += s.cost_nanos,
            _ => std_[i] += s.cost_nanos,
        }
    }
    let total_of = |i: usize| std_[i] + appr[i] + unap[i];
    let premium_share: Vec<Option<f64>> = (0..n)
        .map(|i| (total_of(i) > 0).then(|| round4(share(appr[i] + unap[i], total_of(i)))))
        .collect();
    let drift_share: Vec<Option<f64>> = (0..n)
        .map(|i| (total_of(i) > 0).then(|| round4(share(unap[i], total_of(i)))))
        .collect();
    let (ts, ta, tu): (i64, i64, i64) = (std_.iter().sum(), appr.iter().sum(), unap.iter().sum());
    let total = ts + ta + tu;
    let mut drifting: Vec<WorkflowSpend> = workflows
        .into_iter()
        .map(|r| WorkflowSpend {
            workflow: r.key.first().and_then(text),
            cost_nanos: r.sums.cost_nanos,
            requests: r.sums.requests,
        })
        .collect();
    drifting.sort_by_key(|w| std::cmp::Reverse(w.cost_nanos));
    let points: Vec<(i64, i64)> = (0..n).map(|i| (unap[i], total_of(i))).collect();
    let shift = narrative::level_shift(&points, 2)
        .and_then(|s| narrative::shift_words(&s, &starts))
        .map(|w| format!("; premium drift {w}"))
        .unwrap_or_default();
    let summary = if total == 0 {
        "No spend in this range".to_string()
    } else if ta + tu == 0 {
        "No premium lanes were used in this range".to_string()
    } else {
        let mut s = format!(
            "Premium lanes took {} of spend ({})",
            pct(share(ta + tu, total)),
            usd(ta + tu)
        );
        if tu > 0 {
            let who = drifting
                .first()
                .map(|w| {
                    format!(
                        ", mostly workflow '{}' ({})",
                        w.workflow.as_deref().unwrap_or("(none)"),
                        usd(w.cost_nanos)
                    )
                })
                .unwrap_or_default();
            s.push_str(&format!(
                "; {} of spend was premium use by workflows not approved for it{who}{shift}",
                pct(share(tu, total))
            ));
        } else {
            s.push_str("; all of it by approved workflows");
        }
        s
    };
    Ok(Json(PremiumResponse {
        scope: scope_json(&team),
        range: range.into(),
        bucket: bucket.name(),
        buckets: starts.iter().map(|t| bucket.label(*t)).collect(),
        standard_nanos: std_,
        approved_nanos: appr,
        unapproved_nanos: unap,
        premium_share,
        drift_share,
        total_premium_share: (total > 0).then(|| round4(share(ta + tu, total))),
        total_drift_share: (total > 0).then(|| round4(share(tu, total))),
        drifting_workflows: drifting,
        summary,
    }))
}

// ---------------------------------------------------------------------------------
// /v1/insights/top

#[derive(Serialize)]
pub struct TopItem {
    pub key: Option<String>,
    pub team: Option<String>,
    pub cost_nanos: i64,
    pub requests: i64,
    pub share: f64,
}

#[derive(Serialize)]
pub struct TopResponse {
    pub scope: ScopeJson,
    pub range: RangeJson,
    pub by: &'static str,
    pub items: Vec<TopItem>,
    /// Everything in scope, not only the items listed.
    pub total_cost_nanos: i64,
    pub summary: String,
}

/// `GET /v1/insights/top?by=user|workflow&limit=N`: the biggest spenders.
pub async fn get_top(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<TopResponse>, ApiError> {
    let args = Args::parse(params, &["from", "to", "team", "by", "limit"])?;
    let range = args.range(now_ms())?;
    let team = who.scope(args.get("team"))?;
    let (by, dim) = match args.get("by").unwrap_or("user") {
        "user" => ("user", InsightDim::User),
        "workflow" => ("workflow", InsightDim::Workflow),
        other => {
            return Err(ApiError::bad_request(format!(
                "'by' must be user or workflow, found '{other}'"
            )))
        }
    };
    let limit = match args.get("limit") {
        None => 10,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::bad_request("'limit' must be a whole number from 1 to 100"))?,
    };
    let store = state.store.clone();
    let t = team.clone();
    let rows = blocking(move || {
        grouped(
            store.as_ref(),
            range,
            t.as_deref(),
            None,
            None,
            &[dim, InsightDim::Team],
        )
    })
    .await?;
    let total: i64 = rows.iter().map(|(_, _, s)| s.cost_nanos).sum();
    let mut items: Vec<TopItem> = rows
        .into_iter()
        .map(|(_, k, s)| TopItem {
            key: k.first().cloned().flatten(),
            team: k.get(1).cloned().flatten(),
            cost_nanos: s.cost_nanos,
            requests: s.requests,
            share: round4(share(s.cost_nanos, total)),
        })
        .collect();
    items.sort_by(|a, b| b.cost_nanos.cmp(&a.cost_nanos).then(a.key.cmp(&b.key)));
    items.truncate(limit);
    let summary = match items.first() {
        Some(top) if total > 0 => {
            let top3: i64 = items.iter().take(3).map(|i| i.cost_nanos).sum();
            format!(
                "{} {} is the biggest spender: {} ({} of {}); the top {} account for {}",
                by,
                top.key.as_deref().unwrap_or("(none)"),
                usd(top.cost_nanos),
                pct(share(top.cost_nanos, total)),
                usd(total),
                items.len().min(3),
                pct(share(top3, total))
            )
        }
        _ => "No spend in this range".to_string(),
    };
    Ok(Json(TopResponse {
        scope: scope_json(&team),
        range: range.into(),
        by,
        items,
        total_cost_nanos: total,
        summary,
    }))
}

// ---------------------------------------------------------------------------------
// /v1/insights/drivers

#[derive(Serialize)]
pub struct PeriodJson {
    #[serde(flatten)]
    pub range: RangeJson,
    pub cost_nanos: i64,
    pub requests: i64,
}

#[derive(Serialize)]
pub struct EffectJson {
    pub effect: &'static str,
    pub label: &'static str,
    pub nanos: i64,
    pub usd: String,
}

#[derive(Serialize)]
pub struct DriversResponse {
    pub scope: ScopeJson,
    pub method: &'static str,
    pub a: PeriodJson,
    pub b: PeriodJson,
    /// `b - a`, exactly the sum of `effects`.
    pub difference_nanos: i64,
    pub effects: Vec<EffectJson>,
    /// The integer rounding remainder, already included in `remainder_effect`.
    pub remainder_nanos: i64,
    pub remainder_effect: &'static str,
    pub cells: Vec<drivers::CellDrivers>,
    pub summary: String,
}

fn cells_of(rows: &Grouped) -> (BTreeMap<CellKey, CellSums>, i64) {
    let mut out: BTreeMap<CellKey, CellSums> = BTreeMap::new();
    let mut requests = 0;
    for (_, key, s) in rows {
        let lane = key.first().cloned().flatten().unwrap_or_default();
        let model = key.get(1).cloned().flatten().unwrap_or_default();
        let hit = key.get(2).cloned().flatten().as_deref() == Some("hit");
        let c = out.entry((lane, model)).or_default();
        c.requests += s.requests;
        c.cost_nanos += s.cost_nanos;
        if !hit {
            c.billed_requests += s.requests;
            c.tokens += tokens_total(s);
        }
        requests += s.requests;
    }
    (out, requests)
}

fn drivers_sentence(
    scope: &str,
    a: &PeriodJson,
    b: &PeriodJson,
    d: &drivers::Decomposition,
) -> String {
    let diff = d.difference_nanos;
    let verb = if diff > 0 {
        "rose"
    } else if diff < 0 {
        "fell"
    } else {
        "held"
    };
    let change = if a.cost_nanos > 0 {
        format!(
            " ({}, {:+.0}%)",
            narrative::signed_usd(diff),
            diff as f64 * 100.0 / a.cost_nanos as f64
        )
    } else {
        format!(" ({})", narrative::signed_usd(diff))
    };
    let head = format!(
        "{scope}'s spend {verb} from {} ({} to {}) to {} ({} to {}){change}",
        usd(a.cost_nanos),
        a.range.from,
        query::format_day(a.range.to_ms - DAY_MS),
        usd(b.cost_nanos),
        b.range.from,
        query::format_day(b.range.to_ms - DAY_MS),
    );
    let mut big: Vec<&(Effect, i64)> = d.effects.iter().filter(|(_, v)| *v != 0).collect();
    big.sort_by_key(|(_, v)| std::cmp::Reverse(v.abs()));
    let scale = a.cost_nanos.max(b.cost_nanos).max(1);
    let named: Vec<String> = big
        .iter()
        .take(3)
        .filter(|(_, v)| v.abs() * 100 >= scale) // at least 1% of the spend
        .map(|(e, v)| format!("{} {}", e.label(), narrative::signed_usd(*v)))
        .collect();
    if named.is_empty() {
        format!("{head}; no single driver stands out")
    } else {
        format!("{head}; drivers: {}", named.join(", "))
    }
}

/// `GET /v1/insights/drivers`: what drove the spend change from period A to B.
/// Defaults: B = the 7 full days before today, A = the 7 days before B.
pub async fn get_drivers(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<DriversResponse>, ApiError> {
    let args = Args::parse(params, &["team", "a_from", "a_to", "b_from", "b_to"])?;
    let now = now_ms();
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let b_to_default = query::format_day(today);
    let b = parse_range(
        Some(
            args.get("b_from")
                .unwrap_or(&query::format_day(today - 7 * DAY_MS)),
        ),
        Some(args.get("b_to").unwrap_or(&b_to_default)),
        now,
        ("b_from", "b_to"),
    )?;
    let a_to_default = query::format_day(b.from_ms);
    let a = parse_range(
        Some(
            args.get("a_from")
                .unwrap_or(&query::format_day(b.from_ms - (b.to_ms - b.from_ms))),
        ),
        Some(args.get("a_to").unwrap_or(&a_to_default)),
        now,
        ("a_from", "a_to"),
    )?;
    let team = who.scope(args.get("team"))?;
    let store = state.store.clone();
    let t = team.clone();
    let dims = [InsightDim::Lane, InsightDim::Model, InsightDim::Cache];
    let (ra, rb) = blocking(move || {
        Ok((
            grouped(store.as_ref(), a, t.as_deref(), None, None, &dims)?,
            grouped(store.as_ref(), b, t.as_deref(), None, None, &dims)?,
        ))
    })
    .await?;
    let (ca, na) = cells_of(&ra);
    let (cb, nb) = cells_of(&rb);
    let d = drivers::decompose(&ca, &cb);
    let pa = PeriodJson {
        range: a.into(),
        cost_nanos: d.a_cost_nanos,
        requests: na,
    };
    let pb = PeriodJson {
        range: b.into(),
        cost_nanos: d.b_cost_nanos,
        requests: nb,
    };
    let scope = scope_json(&team);
    let summary = drivers_sentence(&scope.label, &pa, &pb, &d);
    Ok(Json(DriversResponse {
        scope,
        method: "shapley",
        effects: d
            .effects
            .iter()
            .map(|(e, v)| EffectJson {
                effect: e.as_str(),
                label: e.label(),
                nanos: *v,
                usd: tollgate_core::money::format_usd(*v),
            })
            .collect(),
        a: pa,
        b: pb,
        difference_nanos: d.difference_nanos,
        remainder_nanos: d.remainder_nanos,
        remainder_effect: drivers::REMAINDER_EFFECT.as_str(),
        cells: d.cells,
        summary,
    }))
}
