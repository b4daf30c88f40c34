//! Budget spend queries, alerts and webhook deliveries on PostgreSQL.
//!
//! With several ledger instances evaluating the same budgets, the alert's unique key
//! (team, period, kind, threshold) makes it fire once, and a due delivery is claimed
//! by the instance that reads it (its next attempt moved [`CLAIM_MS`] ahead, rows
//! another instance is claiming skipped), so one webhook is not sent by two instances.

use std::collections::HashMap;

use postgres::{GenericClient, Row};

use super::db::PgStore;
use super::sql_args::has_nul;
use crate::store::alerts::{days_by_team, AlertRecord, DeliveryRecord, NewAlert};
use crate::store::error::StoreError;

const DAY_MS: i64 = 86_400_000;

/// How long a delivery read by `due_deliveries` is left to that instance before
/// another may try it (if the first died before recording the attempt). Longer than
/// one round of deliveries: at most 100 deliveries of at most 5 s each.
pub(crate) const CLAIM_MS: i64 = 10 * 60 * 1000;

const DELIVERY_COLUMNS: &str =
    "d.id, d.alert_id, d.url, d.format, d.status, d.attempts, d.next_attempt_ms, d.last_error, d.delivered_ms";

const ALERT_COLUMNS: &str = "id, team, period_start_ms, period_end_ms, kind, threshold_pct,
    fired_ms, spent_nanos, budget_nanos, forecast_nanos, message";

fn delivery_from_row(r: &Row) -> Result<DeliveryRecord, StoreError> {
    let url: String = r.try_get(2)?;
    Ok(DeliveryRecord {
        id: r.try_get(0)?,
        alert_id: r.try_get(1)?,
        target: crate::store::alerts::redact_url(&url),
        url,
        format: r.try_get(3)?,
        status: r.try_get(4)?,
        attempts: r.try_get(5)?,
        next_attempt_ms: r.try_get(6)?,
        last_error: r.try_get(7)?,
        delivered_ms: r.try_get(8)?,
    })
}

fn alert_from_row(r: &Row) -> Result<AlertRecord, StoreError> {
    Ok(AlertRecord {
        id: r.try_get(0)?,
        team: r.try_get(1)?,
        period_start_ms: r.try_get(2)?,
        period_end_ms: r.try_get(3)?,
        kind: r.try_get(4)?,
        threshold_pct: r.try_get(5)?,
        fired_ms: r.try_get(6)?,
        spent_nanos: r.try_get(7)?,
        budget_nanos: r.try_get(8)?,
        forecast_nanos: r.try_get(9)?,
        message: r.try_get(10)?,
        deliveries: Vec::new(),
    })
}

/// The alerts with these ids (in the given order), each with all its deliveries.
fn alerts_by_id(
    client: &mut impl GenericClient,
    ids: &[i64],
) -> Result<Vec<AlertRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut alerts: HashMap<i64, AlertRecord> = HashMap::new();
    for r in client.query(
        &format!("SELECT {ALERT_COLUMNS} FROM budget_alerts WHERE id = ANY($1)"),
        &[&ids],
    )? {
        let a = alert_from_row(&r)?;
        alerts.insert(a.id, a);
    }
    for r in client.query(
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries d WHERE d.alert_id = ANY($1) ORDER BY d.id"
        ),
        &[&ids],
    )? {
        let d = delivery_from_row(&r)?;
        if let Some(a) = alerts.get_mut(&d.alert_id) {
            a.deliveries.push(d);
        }
    }
    Ok(ids.iter().filter_map(|id| alerts.remove(id)).collect())
}

impl PgStore {
    /// From the daily coarse rollup, one query for all the teams.
    pub(super) fn daily_spend_impl(
        &self,
        teams: &[String],
        from_day: i64,
        to_day: i64,
    ) -> Result<HashMap<String, Vec<i64>>, StoreError> {
        // PostgreSQL text cannot hold NUL: such a team has no rows.
        let asked: Vec<&str> = teams
            .iter()
            .map(String::as_str)
            .filter(|t| !has_nul(t))
            .collect();
        if asked.is_empty() || to_day <= from_day {
            return days_by_team(teams, from_day, to_day, []);
        }
        let rows = self.conn()?.query(
            "SELECT team, day_ms / 86400000 AS day, SUM(cost_nanos)::BIGINT FROM rollup_daily_coarse
             WHERE team = ANY($1) AND day_ms >= $2 AND day_ms < $3 GROUP BY team, day",
            &[&asked, &(from_day * DAY_MS), &(to_day * DAY_MS)],
        )?;
        days_by_team(
            teams,
            from_day,
            to_day,
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))),
        )
    }

    pub(super) fn record_alert_impl(
        &self,
        alert: &NewAlert,
        webhooks: &[(String, String)],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.write(|tx| {
            // Whichever instance inserts first fires the alert; the others (waiting on
            // the unique key until it commits) find it there and store nothing.
            let inserted = tx.query_opt(
                "INSERT INTO budget_alerts (team, period_start_ms, period_end_ms, kind,
                     threshold_pct, fired_ms, spent_nanos, budget_nanos, forecast_nanos, message)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (team, period_start_ms, kind, threshold_pct) DO NOTHING
                 RETURNING id",
                &[
                    &alert.team,
                    &alert.period_start_ms,
                    &alert.period_end_ms,
                    &alert.kind,
                    &i64::from(alert.threshold_pct),
                    &now_ms,
                    &alert.spent_nanos,
                    &alert.budget_nanos,
                    &alert.forecast_nanos,
                    &alert.message,
                ],
            )?;
            let Some(row) = inserted else {
                return Ok(None);
            };
            let id: i64 = row.try_get(0)?;
            for (url, format) in webhooks {
                tx.execute(
                    "INSERT INTO alert_deliveries (alert_id, url, format, status, next_attempt_ms)
                     VALUES ($1, $2, $3, 'pending', $4)",
                    &[&id, url, format, &now_ms],
                )?;
            }
            Ok(Some(id))
        })
    }

    pub(super) fn due_deliveries_impl(
        &self,
        now_ms: i64,
    ) -> Result<Vec<(DeliveryRecord, AlertRecord)>, StoreError> {
        self.write(|tx| {
            // Claim: push the due rows' next attempt ahead so no other instance reads
            // them while this one sends. The records keep the time they were due.
            let rows = tx.query(
                &format!(
                    "WITH due AS (
                         SELECT id, next_attempt_ms FROM alert_deliveries
                         WHERE status = 'pending' AND next_attempt_ms <= $1
                         ORDER BY id LIMIT 100
                         FOR UPDATE SKIP LOCKED)
                     UPDATE alert_deliveries d SET next_attempt_ms = $2
                     FROM due WHERE d.id = due.id
                     RETURNING {}",
                    DELIVERY_COLUMNS.replace("d.next_attempt_ms", "due.next_attempt_ms")
                ),
                &[&now_ms, &(now_ms + CLAIM_MS)],
            )?;
            let mut deliveries: Vec<DeliveryRecord> = rows
                .iter()
                .map(delivery_from_row)
                .collect::<Result<_, _>>()?;
            deliveries.sort_by_key(|d| d.id);
            let mut ids: Vec<i64> = deliveries.iter().map(|d| d.alert_id).collect();
            ids.sort_unstable();
            ids.dedup();
            let alerts: HashMap<i64, AlertRecord> = alerts_by_id(tx, &ids)?
                .into_iter()
                .map(|a| (a.id, a))
                .collect();
            Ok(deliveries
                .into_iter()
                .filter_map(|d| alerts.get(&d.alert_id).cloned().map(|a| (d, a)))
                .collect())
        })
    }

    pub(super) fn finish_delivery_impl(
        &self,
        id: i64,
        outcome: Result<(), String>,
        now_ms: i64,
        max_attempts: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        match outcome {
            Ok(()) => conn.execute(
                "UPDATE alert_deliveries SET status = 'delivered', attempts = attempts + 1,
                     delivered_ms = $2, last_error = NULL WHERE id = $1",
                &[&id, &now_ms],
            )?,
            // One statement, so the attempt count cannot be lost between a read and a
            // write. Exponential backoff: 1 s, 2 s, 4 s, ... capped at 5 minutes.
            Err(error) => conn.execute(
                "UPDATE alert_deliveries SET
                     attempts = attempts + 1,
                     status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE 'pending' END,
                     next_attempt_ms = $2 + LEAST(1000::BIGINT << LEAST(attempts, 20)::INTEGER, 300000),
                     last_error = $4
                 WHERE id = $1",
                &[&id, &now_ms, &max_attempts, &error.replace('\0', "\\u0000")],
            )?,
        };
        Ok(())
    }

    pub(super) fn alerts_impl(&self, limit: usize) -> Result<Vec<AlertRecord>, StoreError> {
        let mut conn = self.conn()?;
        let ids: Vec<i64> = conn
            .query(
                "SELECT id FROM budget_alerts ORDER BY id DESC LIMIT $1",
                &[&i64::try_from(limit).unwrap_or(i64::MAX)],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        alerts_by_id(&mut *conn, &ids)
    }
}
