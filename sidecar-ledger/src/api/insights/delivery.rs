//! `/v1/insights/delivery`: whether the numbers are complete. An Envoy whose buffer
//! filled while the ledger was unreachable dropped events and said so afterwards; the
//! dashboard shows a banner for the last 30 days, with how many and when.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use crate::api::blocking::blocking;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::query::{format_day, DAY_MS};
use crate::state::AppState;
use crate::store::types::DeliveryGap;

/// How far back the dashboard looks for gaps.
const WINDOW_DAYS: i64 = 30;

#[derive(Serialize)]
pub struct DeliveryJson {
    /// Gaps whose last drop is within the window, newest first.
    pub gaps: Vec<DeliveryGap>,
    pub dropped_total: i64,
    /// One sentence for the banner; `None` when nothing was dropped.
    pub summary: Option<String>,
}

pub async fn get_delivery(State(state): State<AppState>) -> Result<Json<DeliveryJson>, ApiError> {
    let store = state.store.clone();
    let gaps = blocking(move || store.delivery_gaps(now_ms() - WINDOW_DAYS * DAY_MS)).await?;
    let dropped_total: i64 = gaps.iter().map(|g| g.dropped).sum();
    let summary = (dropped_total > 0).then(|| {
        let first = gaps.iter().map(|g| g.first_ms).min().unwrap_or(0);
        let last = gaps.iter().map(|g| g.last_ms).max().unwrap_or(0);
        let days = if format_day(first) == format_day(last) {
            format!("on {}", format_day(first))
        } else {
            format!("between {} and {}", format_day(first), format_day(last))
        };
        format!(
            "{dropped_total} cost {} dropped by Envoy {days} while the ledger could not be reached: spend shown is short by those requests. Wallets are not: the leases they ran on stay held until settled.",
            if dropped_total == 1 { "event was" } else { "events were" },
        )
    });
    Ok(Json(DeliveryJson {
        gaps,
        dropped_total,
        summary,
    }))
}
