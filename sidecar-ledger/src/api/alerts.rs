//! Fired alerts leaders see and act on, and the channels they go to.
//!
//! * `GET  /v1/alerts?team=&status=open|acknowledged&kind=&limit=`: alerts newest first,
//!   each with its delivery status per channel, the card that explains it and the one
//!   whose move answers it, and the count still open. A team token sees its own team.
//! * `GET  /v1/teams/{team}/alerts`: the same for one team; `…/alerts/{id}`: one alert.
//! * `POST /v1/teams/{team}/alerts/{id}/acknowledge`: records who acknowledged it, when
//!   and why, once (a retry answers as before). The team's lead for their team;
//!   finance and admin for any team.
//! * `GET|POST /v1/teams/{team}/alert-channels`, `DELETE …/alert-channels/{id}`: the
//!   team's own channels (webhook, Slack-compatible webhook, email). Finance and admin
//!   for any team, the team's lead for their own. A webhook URL is a secret: it is
//!   shown as scheme and host only. The organisation's channels are team `*`
//!   (finance and admin): every team's alerts, finance's monthly digest.
//! * `GET|POST /v1/teams/{team}/digest`: the team's weekly digest (`*`: finance's
//!   monthly one), previewed or sent now to its digest channels.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::action::{json_body, known_team, needs_token};
use crate::alerts::channels::{ChannelBody, ChannelJson, MAX_PER_TEAM};
use crate::alerts::guide::{guide, Guide};
use crate::alerts::ORGANISATION;
use crate::api::blocking::blocking;
use crate::api::insights::digest::{self, Digest};
use crate::auth::Principal;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::alerts::{
    AckOutcome, AddChannelOutcome, AlertQuery, AlertRecord, NewAck, NewChannel,
    RemoveChannelOutcome,
};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;
/// Open alerts counted at most (the count says "500+" beyond).
const OPEN_COUNT_CAP: usize = 500;
const MAX_NOTE: usize = 500;

/// An alert as the page shows it.
#[derive(Serialize)]
pub struct AlertJson {
    #[serde(flatten)]
    pub alert: AlertRecord,
    pub open: bool,
    #[serde(flatten)]
    pub guide: Guide,
}

impl From<AlertRecord> for AlertJson {
    fn from(alert: AlertRecord) -> Self {
        AlertJson {
            open: alert.acknowledgement.is_none(),
            guide: guide(&alert.kind),
            alert,
        }
    }
}

#[derive(Serialize)]
pub struct AlertList {
    pub alerts: Vec<AlertJson>,
    /// Alerts in scope not yet acknowledged (at most [`OPEN_COUNT_CAP`]).
    pub open: usize,
    pub open_capped: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pub team: Option<String>,
    /// `open`, `acknowledged` or all (absent).
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only alerts older than this id (the previous page's last).
    #[serde(default)]
    pub before: Option<i64>,
}

async fn list(state: AppState, team: Option<String>, q: ListQuery) -> Result<AlertList, ApiError> {
    let acknowledged = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None | Some("all") => None,
        Some("open") => Some(false),
        Some("acknowledged") => Some(true),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status must be open, acknowledged or all, not '{other}'"
            )))
        }
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let kinds: Vec<String> = q
        .kind
        .iter()
        .flat_map(|k| k.split(','))
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect();
    // Digests are listed when asked for by kind: they are news, not alerts to answer.
    let exclude_kinds: Vec<String> = if kinds.is_empty() {
        vec![digest::WEEKLY.into(), digest::MONTHLY.into()]
    } else {
        Vec::new()
    };
    let store = state.store.clone();
    let (alerts, open) = blocking(move || {
        let alerts = store.alert_page(&AlertQuery {
            team: team.clone(),
            kinds: kinds.clone(),
            exclude_kinds: exclude_kinds.clone(),
            acknowledged,
            before_id: q.before,
            limit,
        })?;
        let open = store
            .alert_page(&AlertQuery {
                team,
                kinds,
                exclude_kinds,
                acknowledged: Some(false),
                before_id: None,
                limit: OPEN_COUNT_CAP + 1,
            })?
            .len();
        Ok((alerts, open))
    })
    .await?;
    Ok(AlertList {
        alerts: alerts.into_iter().map(AlertJson::from).collect(),
        open: open.min(OPEN_COUNT_CAP),
        open_capped: open > OPEN_COUNT_CAP,
    })
}

/// Every visible team's alerts: a team token's are its own team's, whatever it asks.
pub async fn get_alerts(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<AlertList>, ApiError> {
    let asked = q.team.clone().filter(|t| !t.is_empty());
    let team = match principal.as_ref().and_then(|Extension(p)| p.confined_to()) {
        Some(own) => {
            if asked.as_deref().is_some_and(|t| t != own) {
                return Err(crate::auth::forbidden(asked.as_deref().unwrap_or("")));
            }
            Some(own.to_string())
        }
        None => asked,
    };
    Ok(Json(list(state, team, q).await?))
}

pub async fn get_team_alerts(
    State(state): State<AppState>,
    Path(team): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<AlertList>, ApiError> {
    if q.team.is_some() {
        return Err(ApiError::bad_request("the team is in the path"));
    }
    Ok(Json(list(state, Some(team), q).await?))
}

/// One of the team's alerts (the link alerts and digests carry).
pub async fn get_team_alert(
    State(state): State<AppState>,
    Path((team, id)): Path<(String, i64)>,
) -> Result<Json<AlertJson>, ApiError> {
    let store = state.store.clone();
    let found = blocking(move || store.alert(id)).await?;
    match found.filter(|a| a.team == team) {
        Some(a) => Ok(Json(a.into())),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("team '{team}' has no alert #{id}"),
        )),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

#[derive(Serialize)]
pub struct AckResponse {
    pub alert: AlertJson,
    /// It was acknowledged before (by this person or this key, or by someone else):
    /// nothing changed.
    pub replayed: bool,
}

/// Acknowledges one of the team's alerts. The middleware has confined a team token to
/// its own team; every role may acknowledge what it sees.
pub async fn post_acknowledge(
    State(state): State<AppState>,
    Path((team, id)): Path<(String, i64)>,
    principal: Option<Extension<Principal>>,
    body: Result<Json<AckBody>, JsonRejection>,
) -> Result<Json<AckResponse>, ApiError> {
    let Some(Extension(who)) = principal else {
        return Err(needs_token("this action"));
    };
    let body = json_body(body)?;
    let note = body
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(ApiError::bad_request(format!(
            "note: at most {MAX_NOTE} characters"
        )));
    }
    let store = state.store.clone();
    let t = team.clone();
    let outcome = blocking(move || {
        store.acknowledge_alert(&NewAck {
            team: &t,
            alert_id: id,
            actor: &who.name,
            note: note.as_deref(),
            idempotency_key: body.idempotency_key.as_deref(),
            now_ms: now_ms(),
        })
    })
    .await?;
    match outcome {
        AckOutcome::Acknowledged(alert) => {
            tracing::info!(team, id, "alert acknowledged");
            Ok(Json(AckResponse {
                alert: alert.into(),
                replayed: false,
            }))
        }
        AckOutcome::Replayed(alert) | AckOutcome::AlreadyAcknowledged(alert) => {
            Ok(Json(AckResponse {
                alert: alert.into(),
                replayed: true,
            }))
        }
        AckOutcome::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("team '{team}' has no alert #{id}"),
        )),
    }
}

#[derive(Serialize)]
pub struct ChannelList {
    pub channels: Vec<ChannelJson>,
}

pub async fn get_channels(
    State(state): State<AppState>,
    Path(team): Path<String>,
) -> Result<Json<ChannelList>, ApiError> {
    let store = state.store.clone();
    let channels = blocking(move || store.alert_channels(Some(&team))).await?;
    Ok(Json(ChannelList {
        channels: channels.iter().map(ChannelJson::from).collect(),
    }))
}

#[derive(Serialize)]
pub struct ChannelResponse {
    pub channel: ChannelJson,
    pub replayed: bool,
}

pub async fn post_channel(
    State(state): State<AppState>,
    Path(team): Path<String>,
    principal: Option<Extension<Principal>>,
    body: Result<Json<ChannelBody>, JsonRejection>,
) -> Result<(StatusCode, Json<ChannelResponse>), ApiError> {
    let Some(Extension(who)) = principal else {
        return Err(needs_token("this action"));
    };
    let body = json_body(body)?;
    let valid = body.validate().map_err(ApiError::bad_request)?;
    known_team(&state, &team)?;
    let store = state.store.clone();
    let t = team.clone();
    let outcome = blocking(move || {
        store.add_alert_channel(&NewChannel {
            team: &t,
            kind: valid.kind,
            name: &valid.name,
            target: &valid.target,
            receives: &valid.receives,
            actor: &who.name,
            idempotency_key: body.idempotency_key.as_deref(),
            max_per_team: MAX_PER_TEAM,
            now_ms: now_ms(),
        })
    })
    .await?;
    match outcome {
        AddChannelOutcome::Added(c) => {
            // The target is a secret: only the masked form is logged.
            let shown = ChannelJson::from(&c);
            tracing::info!(
                team,
                id = c.id,
                kind = c.kind,
                target = shown.target,
                "alert channel added"
            );
            Ok((
                StatusCode::CREATED,
                Json(ChannelResponse {
                    channel: shown,
                    replayed: false,
                }),
            ))
        }
        AddChannelOutcome::Replayed(c) => Ok((
            StatusCode::OK,
            Json(ChannelResponse {
                channel: ChannelJson::from(&c),
                replayed: true,
            }),
        )),
        AddChannelOutcome::TooMany(n) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict_error",
            format!("team '{team}' already has {n} channels: remove one first"),
        )),
    }
}

pub async fn delete_channel(
    State(state): State<AppState>,
    Path((team, id)): Path<(String, i64)>,
    principal: Option<Extension<Principal>>,
) -> Result<Json<ChannelResponse>, ApiError> {
    let Some(Extension(who)) = principal else {
        return Err(needs_token("this action"));
    };
    let store = state.store.clone();
    let t = team.clone();
    let outcome = blocking(move || store.remove_alert_channel(&t, id, &who.name, now_ms())).await?;
    match outcome {
        RemoveChannelOutcome::Removed(c) => {
            tracing::info!(team, id, "alert channel removed");
            Ok(Json(ChannelResponse {
                channel: ChannelJson::from(&c),
                replayed: false,
            }))
        }
        RemoveChannelOutcome::AlreadyRemoved(c) => Ok(Json(ChannelResponse {
            channel: ChannelJson::from(&c),
            replayed: true,
        })),
        RemoveChannelOutcome::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("team '{team}' has no alert channel #{id}"),
        )),
    }
}

fn compose(state: &AppState, team: &str, now: i64) -> Result<Digest, crate::store::StoreError> {
    let config = state.config.current();
    let url = config
        .as_ref()
        .as_ref()
        .and_then(|c| c.alerts.dashboard_url.clone());
    if team == ORGANISATION {
        digest::monthly_digest(state.store.as_ref(), state, now, url.as_deref())
    } else {
        digest::team_digest(state.store.as_ref(), state, team, now, url.as_deref())
    }
}

/// The team's weekly digest as it would be sent now (`*`: finance's monthly one).
pub async fn get_digest(
    State(state): State<AppState>,
    Path(team): Path<String>,
) -> Result<Json<Digest>, ApiError> {
    known_team(&state, &team)?;
    let s = state.clone();
    Ok(Json(blocking(move || compose(&s, &team, now_ms())).await?))
}

#[derive(Serialize)]
pub struct DigestSent {
    pub digest: Digest,
    /// The record of this sending (its deliveries are on `GET …/alerts?kind=digest_weekly`).
    pub alert_id: i64,
    pub channels: usize,
}

/// Sends the digest now to its channels (the weekly schedule is unaffected).
pub async fn post_digest(
    State(state): State<AppState>,
    Path(team): Path<String>,
    principal: Option<Extension<Principal>>,
) -> Result<(StatusCode, Json<DigestSent>), ApiError> {
    if principal.is_none() {
        return Err(needs_token("this action"));
    }
    known_team(&state, &team)?;
    let s = state.clone();
    let sent = blocking(move || {
        let now = now_ms();
        let d = compose(&s, &team, now)?;
        let config = s.config.current();
        let alerts = config
            .as_ref()
            .as_ref()
            .map(|c| c.alerts.clone())
            .unwrap_or_default();
        let id = digest::record(s.store.as_ref(), &alerts, &d, now, now)?;
        let channels = match id {
            Some(id) => s.store.alert(id)?.map_or(0, |a| a.deliveries.len()),
            None => 0,
        };
        Ok((d, id, channels))
    })
    .await?;
    match sent {
        (digest, Some(alert_id), channels) => Ok((
            StatusCode::CREATED,
            Json(DigestSent {
                digest,
                alert_id,
                channels,
            }),
        )),
        (_, None, _) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict_error",
            "a digest was sent this very millisecond: try again",
        )),
    }
}
