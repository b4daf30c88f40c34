//! `GET /v1/reconciliation`: Tollgate's cost against the providers' own reports per
//! UTC day × provider × model (see `crate::reconcile`), as JSON or as a CSV download.
//! Admin and finance tokens only: it covers every team's spend.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::api::blocking::blocking;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::query::{parse_time, DAY_MS};
use crate::reconcile::compare::Tolerance;
use crate::reconcile::{self, write_csv};
use crate::state::AppState;

/// The longest period one request covers.
const MAX_DAYS: i64 = 366;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationQuery {
    /// First day (`YYYY-MM-DD`, UTC) or instant; default 30 days before `to`.
    from: Option<String>,
    /// End, exclusive; default tomorrow (UTC).
    to: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
    tolerance_nanos: Option<i64>,
    tolerance_bp: Option<i64>,
}

pub async fn get_reconciliation(
    State(state): State<AppState>,
    Query(q): Query<ReconciliationQuery>,
) -> Result<Response, ApiError> {
    let bad = |name: &str, e: String| ApiError::bad_request(format!("'{name}' {e}"));
    let to = match &q.to {
        Some(t) => parse_time(t).map_err(|e| bad("to", e))?,
        None => (now_ms().div_euclid(DAY_MS) + 1) * DAY_MS,
    };
    let from = match &q.from {
        Some(f) => parse_time(f).map_err(|e| bad("from", e))?,
        None => to - 30 * DAY_MS,
    };
    if from >= to {
        return Err(ApiError::bad_request("'from' must be before 'to'"));
    }
    let (from, to) = reconcile::whole_days(from, to);
    if (to - from) / DAY_MS > MAX_DAYS {
        return Err(ApiError::bad_request(format!(
            "the period is longer than {MAX_DAYS} days"
        )));
    }
    let d = Tolerance::default();
    let tolerance = Tolerance {
        nanos: q.tolerance_nanos.unwrap_or(d.nanos),
        basis_points: q.tolerance_bp.unwrap_or(d.basis_points),
    };
    if tolerance.nanos < 0 || tolerance.basis_points < 0 {
        return Err(ApiError::bad_request("tolerances must not be negative"));
    }
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format '{other}' is not json or csv"
            )))
        }
    };
    let store = state.store.clone();
    let report = blocking(move || reconcile::report(store.as_ref(), from, to, tolerance)).await?;
    if !csv {
        return Ok(Json(report).into_response());
    }
    let mut body = Vec::new();
    write_csv(&report.rows, &mut body)
        .map_err(|e| ApiError::internal(format!("cannot write the CSV: {e}")))?;
    let name = format!(
        "attachment; filename=\"tollgate-reconciliation-{}-{}.csv\"",
        report.from, report.to
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use tower::ServiceExt;

    use crate::api::action_fixture::fixture_with;
    use crate::store::reconciliation::{ProviderLine, ReportKind};
    use crate::store::tokens::Role;
    use crate::store::IngestBatch;
    use crate::test_util::event;

    const D0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    #[tokio::test]
    async fn finance_sees_every_day_model_and_verdict_and_a_team_token_is_refused() {
        let f = fixture_with(true);
        let finance = f.token("cfo", Role::Finance, None);
        let team = f.token("lead", Role::Team, Some("team_support"));
        let mut a = event("a", D0 + 1_000, "team_support", 62_500_000);
        a.model_served = "gpt-4o-mini-2024-07-18".into();
        let mut b = event("b", D0 + 2_000, "team_engineering", 37_500_000);
        b.model_served = "gpt-4o-mini".into();
        f.store
            .ingest(&IngestBatch {
                events: vec![a, b],
                received_ms: D0 + 3_000,
                ..IngestBatch::default()
            })
            .unwrap();
        let mut line = ProviderLine::empty(
            "openai",
            ReportKind::Cost,
            D0,
            "gpt-4o-mini-2024-07-18",
            "|gpt-4o-mini-2024-07-18, input",
        );
        line.amount_nanos = 150_000_000;
        f.store.import_report_lines(&[line], "test", 0).unwrap();

        let uri = "/v1/reconciliation?from=2026-11-01&to=2026-11-02";
        let (status, body) = f.get(uri, Some(&finance)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["from"].as_str(), body["to"].as_str()),
            (Some("2026-11-01"), Some("2026-11-02"))
        );
        let rows = body["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{body}");
        let row = rows.iter().find(|r| r["model"] == "gpt-4o-mini").unwrap();
        assert_eq!(row["tollgate_cost_nanos"], 100_000_000);
        assert_eq!(row["provider_cost_nanos"], 150_000_000);
        assert_eq!(row["variance_nanos"], -50_000_000);
        assert_eq!(row["variance_pct"], "-33.33");
        assert_eq!(row["verdict"], "under");
        assert_eq!(row["tollgate_requests"], 2);

        // The same rows as a CSV download.
        let req = Request::get(format!("{uri}&format=csv"))
            .header(header::AUTHORIZATION, format!("Bearer {finance}"))
            .body(Body::empty())
            .unwrap();
        let resp = f.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("tollgate-reconciliation-2026-11-01-2026-11-02.csv"));
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], crate::reconcile::CSV_HEADER.join(","));
        assert!(lines.contains(&"2026-11-01,openai,gpt-4o-mini,0.10,0.15,-0.05,-33.33,under,100000000,150000000,-50000000,2,20,40,,gpt-4o-mini-2024-07-18"), "{text}");

        // Every team's spend: a team token is refused, and a bad query is a 400.
        let (status, body) = f.get(uri, Some(&team)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["type"], "permission_error");
        let (status, _) = f.get(uri, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        for bad in [
            "?format=xml",
            "?from=2026-11-02&to=2026-11-01",
            "?from=yesterday",
            "?tolerance_nanos=-1",
            "?from=2020-01-01&to=2026-01-01",
        ] {
            let (status, body) = f
                .get(&format!("/v1/reconciliation{bad}"), Some(&finance))
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
            assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        }
    }
}
