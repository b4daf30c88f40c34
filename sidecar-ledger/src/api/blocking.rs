//! Store calls from async handlers: run on tokio's blocking pool, errors as [`ApiError`].

use crate::error::ApiError;
use crate::store::StoreError;

/// Runs blocking store work off the async workers.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => {
            tracing::error!(error = %e, "storage task failed");
            Err(ApiError::internal("storage task failed"))
        }
    }
}

/// The organisation's reporting calendar, read from the store (every request reads
/// it: a zone set by `tollgate-ledger time-zone set` shows at once on every ledger).
pub async fn reporting_calendar(
    state: &crate::state::AppState,
) -> Result<crate::calendar::ReportingCalendar, ApiError> {
    let store = state.store.clone();
    blocking(move || store.calendar()).await
}
