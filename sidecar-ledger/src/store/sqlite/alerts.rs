//! Budget spend queries, alerts and webhook deliveries on SQLite.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::db::SqliteStore;
use crate::store::alerts::{days_by_team, AlertRecord, DeliveryRecord, NewAlert};
use crate::store::error::StoreError;

const DAY_MS: i64 = 86_400_000;

fn delivery_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    let url: String = r.get(2)?;
    Ok(DeliveryRecord {
        id: r.get(0)?,
        alert_id: r.get(1)?,
        target: crate::store::alerts::redact_url(&url),
        url,
        format: r.get(3)?,
        status: r.get(4)?,
        attempts: r.get(5)?,
        next_attempt_ms: r.get(6)?,
        last_error: r.get(7)?,
        delivered_ms: r.get(8)?,
    })
}

const DELIVERY_COLUMNS: &str =
    "id, alert_id, url, format, status, attempts, next_attempt_ms, last_error, delivered_ms";

impl SqliteStore {
    /// From the daily coarse rollup, one query for all the teams.
    pub(super) fn daily_spend_impl(
        &self,
        teams: &[String],
        from_day: i64,
        to_day: i64,
    ) -> Result<HashMap<String, Vec<i64>>, StoreError> {
        if teams.is_empty() || to_day <= from_day {
            return days_by_team(teams, from_day, to_day, []);
        }
        let conn = self.reader()?;
        // The team list travels as one JSON array so that the statement stays cacheable
        // whatever the number of teams.
        let mut stmt = conn.prepare_cached(
            "SELECT team, day_ms / 86400000 AS day, SUM(cost_nanos) FROM rollup_daily_coarse
             WHERE team IN (SELECT value FROM json_each(?1)) AND day_ms >= ?2 AND day_ms < ?3
             GROUP BY team, day",
        )?;
        let list = serde_json::json!(teams).to_string();
        let rows = stmt.query_map(params![list, from_day * DAY_MS, to_day * DAY_MS], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        days_by_team(
            teams,
            from_day,
            to_day,
            rows.map(|r| r.map_err(StoreError::from)),
        )
    }

    pub(super) fn record_alert_impl(
        &self,
        alert: &NewAlert,
        webhooks: &[(String, String)],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT INTO budget_alerts (team, period_start_ms, period_end_ms, kind, threshold_pct,
                 fired_ms, spent_nanos, budget_nanos, forecast_nanos, message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (team, period_start_ms, kind, threshold_pct) DO NOTHING",
            params![
                alert.team,
                alert.period_start_ms,
                alert.period_end_ms,
                alert.kind,
                alert.threshold_pct,
                now_ms,
                alert.spent_nanos,
                alert.budget_nanos,
                alert.forecast_nanos,
                alert.message
            ],
        )?;
        if inserted == 0 {
            return Ok(None);
        }
        let id = tx.last_insert_rowid();
        for (url, format) in webhooks {
            tx.execute(
                "INSERT INTO alert_deliveries (alert_id, url, format, status, next_attempt_ms)
                 VALUES (?1, ?2, ?3, 'pending', ?4)",
                params![id, url, format, now_ms],
            )?;
        }
        tx.commit()?;
        Ok(Some(id))
    }

    pub(super) fn due_deliveries_impl(
        &self,
        now_ms: i64,
    ) -> Result<Vec<(DeliveryRecord, AlertRecord)>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries
             WHERE status = 'pending' AND next_attempt_ms <= ?1 ORDER BY id LIMIT 100"
        ))?;
        let deliveries: Vec<DeliveryRecord> = stmt
            .query_map(params![now_ms], delivery_from_row)?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            if let Some(a) = alert_by_id(&conn, d.alert_id)? {
                out.push((d, a));
            }
        }
        Ok(out)
    }

    pub(super) fn finish_delivery_impl(
        &self,
        id: i64,
        outcome: Result<(), String>,
        now_ms: i64,
        max_attempts: i64,
    ) -> Result<(), StoreError> {
        let conn = self.writer();
        match outcome {
            Ok(()) => conn.execute(
                "UPDATE alert_deliveries SET status = 'delivered', attempts = attempts + 1,
                     delivered_ms = ?2, last_error = NULL WHERE id = ?1",
                params![id, now_ms],
            )?,
            Err(error) => {
                let attempts: i64 = conn.query_row(
                    "SELECT attempts FROM alert_deliveries WHERE id = ?1",
                    params![id],
                    |r| r.get(0),
                )?;
                let attempts = attempts + 1;
                // Exponential backoff: 1 s, 2 s, 4 s, ... capped at 5 minutes.
                let backoff = (1_000i64 << (attempts - 1).min(20)).min(300_000);
                let status = if attempts >= max_attempts {
                    "failed"
                } else {
                    "pending"
                };
                conn.execute(
                    "UPDATE alert_deliveries SET status = ?2, attempts = ?3, next_attempt_ms = ?4,
                         last_error = ?5 WHERE id = ?1",
                    params![id, status, attempts, now_ms + backoff, error],
                )?
            }
        };
        Ok(())
    }

    pub(super) fn alerts_impl(&self, limit: usize) -> Result<Vec<AlertRecord>, StoreError> {
        let conn = self.reader()?;
        let ids: Vec<i64> = conn
            .prepare("SELECT id FROM budget_alerts ORDER BY id DESC LIMIT ?1")?
            .query_map(params![limit as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(a) = alert_by_id(&conn, id)? {
                out.push(a);
            }
        }
        Ok(out)
    }
}

fn alert_by_id(conn: &rusqlite::Connection, id: i64) -> Result<Option<AlertRecord>, StoreError> {
    let alert = conn
        .query_row(
            "SELECT id, team, period_start_ms, period_end_ms, kind, threshold_pct, fired_ms,
                    spent_nanos, budget_nanos, forecast_nanos, message
             FROM budget_alerts WHERE id = ?1",
            params![id],
            |r| {
                Ok(AlertRecord {
                    id: r.get(0)?,
                    team: r.get(1)?,
                    period_start_ms: r.get(2)?,
                    period_end_ms: r.get(3)?,
                    kind: r.get(4)?,
                    threshold_pct: r.get(5)?,
                    fired_ms: r.get(6)?,
                    spent_nanos: r.get(7)?,
                    budget_nanos: r.get(8)?,
                    forecast_nanos: r.get(9)?,
                    message: r.get(10)?,
                    deliveries: Vec::new(),
                })
            },
        )
        .optional()?;
    let Some(mut alert) = alert else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries WHERE alert_id = ?1 ORDER BY id"
    ))?;
    alert.deliveries = stmt
        .query_map(params![id], delivery_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(Some(alert))
}
