//! The dashboard's storage on SQLite: grouped reads of the daily rollups (maintained
//! at ingest by [`super::rollups`]) and the access tokens.

use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::db::SqliteStore;
use crate::store::error::StoreError;
use crate::store::insight_sql::insight_sql;
use crate::store::insights::{InsightDim, InsightQuery};
use crate::store::spend_sql::{Arg, Dialect};
use crate::store::types::{KeyValue, SpendRow, Sums};

impl SqliteStore {
    pub(super) fn insight_rows_impl(&self, q: &InsightQuery) -> Result<Vec<SpendRow>, StoreError> {
        if !q.answerable() {
            return Err(StoreError::Corrupt(
                "the per-user rollup groups only by day, team and consumer_group".into(),
            ));
        }
        let (sql, args) = insight_sql(q, Dialect::Sqlite);
        let args = args.into_iter().map(|a| match a {
            Arg::Int(v) => Value::Integer(v),
            Arg::Text(v) => Value::Text(v),
        });
        let n = q.group_by.len();
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let count: i64 = r.get(n)?;
            if count == 0 {
                continue;
            }
            let mut key = Vec::with_capacity(n);
            for (i, d) in q.group_by.iter().enumerate() {
                key.push(match d {
                    InsightDim::Day => KeyValue::TimeMs(r.get(i)?),
                    InsightDim::Team | InsightDim::ConsumerGroup | InsightDim::Model => {
                        KeyValue::Text(Some(r.get(i)?))
                    }
                    _ => {
                        let v: String = r.get(i)?;
                        KeyValue::Text((!v.is_empty()).then_some(v))
                    }
                });
            }
            out.push(SpendRow {
                key,
                sums: Sums {
                    requests: r.get(n + 1)?,
                    input_tokens: r.get(n + 2)?,
                    cached_input_tokens: r.get(n + 3)?,
                    cache_write_tokens: r.get(n + 4)?,
                    output_tokens: r.get(n + 5)?,
                    cost_nanos: r.get(n + 6)?,
                    cost_avoided_nanos: r.get(n + 7)?,
                },
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::DAY_MS;
    use crate::store::backend::Store;
    use crate::store::types::IngestBatch;
    use crate::test_util::{event, TempDir};
    use tollgate_core::event::CacheStatus;

    const D0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    fn q(group_by: Vec<InsightDim>) -> InsightQuery {
        InsightQuery {
            from_ms: D0,
            to_ms: D0 + 3 * DAY_MS,
            group_by,
            ..Default::default()
        }
    }

    #[test]
    fn daily_rollups_follow_ingest_and_group_like_the_hourly_ones() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let mut a = event("a", D0 + 5, "team_a", 100);
        a.user = Some("ann".into());
        a.workflow = Some("triage".into());
        a.premium = true;
        let mut b = event("b", D0 + DAY_MS + 7, "team_a", 50);
        b.cache = CacheStatus::Hit;
        b.cost_avoided_nanos = 40;
        b.premium = true;
        b.premium_approved = true;
        let c = event("c", D0 + DAY_MS + 9, "team_b", 7);
        let batch = IngestBatch {
            events: vec![a.clone(), b, c, a],
            rejected: vec![],
            received_ms: 1,
            lease_closures: Vec::new(),
            drops: Vec::new(),
            held_back: Vec::new(),
        };
        store.ingest(&batch).unwrap();
        // A retried batch changes nothing.
        store.ingest(&batch).unwrap();

        let total = store.insight_rows(&q(vec![])).unwrap();
        assert_eq!(total.len(), 1);
        assert_eq!(total[0].sums.requests, 3);
        assert_eq!(total[0].sums.cost_nanos, 157);
        assert_eq!(total[0].sums.cost_avoided_nanos, 40);

        let by_day = store.insight_rows(&q(vec![InsightDim::Day])).unwrap();
        let mut days: Vec<(KeyValue, i64)> = by_day
            .into_iter()
            .map(|r| (r.key[0].clone(), r.sums.cost_nanos))
            .collect();
        days.sort_by_key(|(k, _)| match k {
            KeyValue::TimeMs(ms) => *ms,
            _ => 0,
        });
        assert_eq!(
            days,
            vec![
                (KeyValue::TimeMs(D0), 100),
                (KeyValue::TimeMs(D0 + DAY_MS), 57)
            ]
        );

        let premium = store.insight_rows(&q(vec![InsightDim::Premium])).unwrap();
        let p: Vec<(String, i64)> = premium
            .iter()
            .map(|r| match &r.key[0] {
                KeyValue::Text(Some(s)) => (s.clone(), r.sums.cost_nanos),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            p,
            vec![
                ("unapproved".to_string(), 100),
                ("approved".to_string(), 50),
                ("standard".to_string(), 7)
            ]
        );

        // Premium drift alone, by workflow: only a (premium, not approved).
        let mut drift = q(vec![InsightDim::Workflow]);
        drift.drift_only = true;
        let rows = store.insight_rows(&drift).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].key, vec![KeyValue::Text(Some("triage".into()))]);
        assert_eq!(rows[0].sums.cost_nanos, 100);

        let mut team_a = q(vec![InsightDim::User]);
        team_a.team = Some("team_a".into());
        let users = store.insight_rows(&team_a).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].key, vec![KeyValue::Text(Some("ann".into()))]);
        assert_eq!(users[1].key, vec![KeyValue::Text(None)]);

        let mut bad = q(vec![InsightDim::User, InsightDim::Lane]);
        bad.team = None;
        assert!(store.insight_rows(&bad).is_err());
    }

    #[test]
    fn migration_backfills_the_daily_rollups_from_stored_events() {
        let dir = TempDir::new();
        let path = dir.path().join("l.sqlite3");
        {
            let store = SqliteStore::open(&path).unwrap();
            store
                .ingest(&IngestBatch {
                    events: vec![
                        event("a", D0, "team_a", 10),
                        event("b", D0 + 1, "team_a", 5),
                    ],
                    rejected: vec![],
                    received_ms: 1,
                    lease_closures: Vec::new(),
                    drops: Vec::new(),
                    held_back: Vec::new(),
                })
                .unwrap();
            // Pretend the events were stored by a ledger before version 4 (whose
            // rollups held every event).
            store.settle().unwrap();
            let w = store.writer();
            w.execute_batch(crate::test_util::UNDO_AFTER_SCHEMA_7)
                .unwrap();
            w.execute_batch(
                "DROP TABLE rollup_daily; DROP TABLE rollup_daily_user; DROP TABLE api_tokens;
                 DROP TABLE rollup_hourly_coarse; DROP TABLE rollup_daily_coarse;
                 DROP TABLE rollup_watermark;
                 ALTER TABLE events DROP COLUMN wallet_unchecked;
                 PRAGMA user_version = 3;",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let rows = store.insight_rows(&q(vec![InsightDim::Team])).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].sums.cost_nanos, 15);
        assert_eq!(rows[0].sums.requests, 2);
        let users = store.insight_rows(&q(vec![InsightDim::User])).unwrap();
        assert_eq!(users[0].sums.requests, 2);
    }
}
