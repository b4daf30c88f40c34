//! What Envoys reported dropping while the ledger could not be reached, on PostgreSQL
//! (written at ingest, see `RECORD_DROPS`).

use super::db::PgStore;
use crate::store::error::StoreError;
use crate::store::types::DeliveryGap;

impl PgStore {
    pub(super) fn delivery_gaps_impl(&self, since_ms: i64) -> Result<Vec<DeliveryGap>, StoreError> {
        self.conn()?
            .query(
                "SELECT instance, dropped, first_ms, last_ms, received_ms FROM delivery_gaps
                 WHERE last_ms >= $1 ORDER BY last_ms DESC, instance",
                &[&since_ms],
            )?
            .iter()
            .map(|r| {
                Ok(DeliveryGap {
                    instance: r.try_get(0)?,
                    dropped: r.try_get(1)?,
                    first_ms: r.try_get(2)?,
                    last_ms: r.try_get(3)?,
                    received_ms: r.try_get(4)?,
                })
            })
            .collect()
    }
}
