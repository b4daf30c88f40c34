//! `GET /v1/budgets`: pace, forecast and band per budget.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use crate::api::blocking::blocking;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::state::AppState;
use tollgate_core::config::BudgetDef;

use crate::budget::{statuses, BudgetStatus};

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
