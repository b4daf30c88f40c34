//! `GET /v1/budgets` (pace, forecast and band per budget) and `GET /v1/alerts` (fired
//! alerts with their delivery status; webhook URLs shown as scheme and host only).

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use crate::api::blocking::blocking;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::state::AppState;
use tollgate_core::config::BudgetDef;

use crate::budget::{statuses, BudgetStatus};
use crate::store::alerts::AlertRecord;

#[derive(Serialize)]
pub struct BudgetsResponse {
    pub budgets: Vec<BudgetStatus>,
}

pub async fn list_budgets(
    State(state): State<AppState>,
) -> Result<Json<BudgetsResponse>, ApiError> {
    let store = state.store.clone();
    let budgets = state.budgets.current();
    let statuses = blocking(move || {
        let budgets: Vec<&BudgetDef> = budgets.iter().collect();
        statuses(store.as_ref(), &budgets, now_ms())
    })
    .await?;
    Ok(Json(BudgetsResponse { budgets: statuses }))
}

#[derive(Serialize)]
pub struct AlertsResponse {
    pub alerts: Vec<AlertRecord>,
}

pub async fn list_alerts(State(state): State<AppState>) -> Result<Json<AlertsResponse>, ApiError> {
    let store = state.store.clone();
    let alerts = blocking(move || store.alerts(200)).await?;
    Ok(Json(AlertsResponse { alerts }))
}
