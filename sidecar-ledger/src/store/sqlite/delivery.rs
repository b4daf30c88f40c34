//! What Envoys reported dropping while the ledger could not be reached, on SQLite
//! (written at ingest, see `RECORD_DROPS`).

use rusqlite::params;

use super::db::SqliteStore;
use crate::store::error::StoreError;
use crate::store::types::DeliveryGap;

impl SqliteStore {
    pub(super) fn delivery_gaps_impl(&self, since_ms: i64) -> Result<Vec<DeliveryGap>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT instance, dropped, first_ms, last_ms, received_ms FROM delivery_gaps
             WHERE last_ms >= ?1 ORDER BY last_ms DESC, instance",
        )?;
        let rows = stmt.query_map(params![since_ms], |r| {
            Ok(DeliveryGap {
                instance: r.get(0)?,
                dropped: r.get(1)?,
                first_ms: r.get(2)?,
                last_ms: r.get(3)?,
                received_ms: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
