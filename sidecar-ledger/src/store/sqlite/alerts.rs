//! Budget spend queries, alerts, their acknowledgements, deliveries and channels on
//! SQLite.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::db::SqliteStore;
use crate::store::alerts::{
    days_by_team, details_text, parse_details, shown_target, AckOutcome, Acknowledgement,
    AddChannelOutcome, AlertFacts, AlertQuery, AlertRecord, ChannelRecord, DeliveryRecord,
    DeliveryTarget, NewAck, NewAlert, NewChannel, RemoveChannelOutcome, CHANNEL_REMOVED,
    CONFIG_CHANNEL,
};
use crate::store::error::StoreError;

const DAY_MS: i64 = 86_400_000;

fn delivery_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    let url: String = r.get(2)?;
    let channel: Option<String> = r.get(10)?;
    Ok(DeliveryRecord {
        id: r.get(0)?,
        alert_id: r.get(1)?,
        target: shown_target(&url),
        url,
        format: r.get(3)?,
        status: r.get(4)?,
        attempts: r.get(5)?,
        next_attempt_ms: r.get(6)?,
        last_error: r.get(7)?,
        delivered_ms: r.get(8)?,
        channel_id: r.get(9)?,
        channel: channel.unwrap_or_else(|| CONFIG_CHANNEL.into()),
    })
}

const DELIVERY_COLUMNS: &str = "id, alert_id, url, format, status, attempts, next_attempt_ms,
    last_error, delivered_ms, channel_id, channel_name";

const ALERT_COLUMNS: &str = "id, team, period_start_ms, period_end_ms, kind, threshold_pct,
    fired_ms, spent_nanos, budget_nanos, forecast_nanos, message, subject, details, acked_by,
    acked_ms, ack_note, ack_key";

/// An alert row and its acknowledgement's idempotency key.
fn alert_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(AlertRecord, Option<String>)> {
    let details: Option<String> = r.get(12)?;
    let acked_by: Option<String> = r.get(13)?;
    let acked_ms: Option<i64> = r.get(14)?;
    Ok((
        AlertRecord {
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
            subject: r.get(11)?,
            details: parse_details(details.as_deref()),
            acknowledgement: match (acked_by, acked_ms) {
                (Some(by), Some(at_ms)) => Some(Acknowledgement {
                    by,
                    at_ms,
                    note: r.get(15)?,
                }),
                _ => None,
            },
            deliveries: Vec::new(),
        },
        r.get(16)?,
    ))
}

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
        facts: &AlertFacts,
        targets: &[DeliveryTarget],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let details = details_text(&facts.details);
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let threshold = match &facts.subject {
            None => i64::from(alert.threshold_pct),
            Some(subject) => {
                tx.execute(
                    "INSERT INTO alert_subjects (team, subject) VALUES (?1, ?2)
                     ON CONFLICT (team, subject) DO NOTHING",
                    params![alert.team, subject],
                )?;
                tx.query_row(
                    "SELECT id FROM alert_subjects WHERE team = ?1 AND subject = ?2",
                    params![alert.team, subject],
                    |r| r.get(0),
                )?
            }
        };
        let inserted = tx.execute(
            "INSERT INTO budget_alerts (team, period_start_ms, period_end_ms, kind, threshold_pct,
                 fired_ms, spent_nanos, budget_nanos, forecast_nanos, message, subject, details)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (team, period_start_ms, kind, threshold_pct) DO NOTHING",
            params![
                alert.team,
                alert.period_start_ms,
                alert.period_end_ms,
                alert.kind,
                threshold,
                now_ms,
                alert.spent_nanos,
                alert.budget_nanos,
                alert.forecast_nanos,
                alert.message,
                facts.subject,
                details,
            ],
        )?;
        if inserted == 0 {
            return Ok(None);
        }
        let id = tx.last_insert_rowid();
        for t in targets {
            tx.execute(
                "INSERT INTO alert_deliveries (alert_id, url, format, status, next_attempt_ms,
                     channel_id, channel_name)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6)",
                params![id, t.url, t.format, now_ms, t.channel_id, t.channel_name],
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
            if let Some((a, _)) = alert_by_id(&conn, d.alert_id)? {
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

    pub(super) fn alert_page_impl(&self, q: &AlertQuery) -> Result<Vec<AlertRecord>, StoreError> {
        let conn = self.reader()?;
        // Kind lists travel as JSON arrays so that the statement stays cacheable.
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM budget_alerts
             WHERE (?1 IS NULL OR team = ?1)
               AND (?2 = '[]' OR kind IN (SELECT value FROM json_each(?2)))
               AND kind NOT IN (SELECT value FROM json_each(?3))
               AND (?4 IS NULL OR (acked_ms IS NOT NULL) = ?4)
               AND (?5 IS NULL OR id < ?5)
             ORDER BY id DESC LIMIT ?6"
        ))?;
        let rows = stmt.query_map(
            params![
                q.team,
                serde_json::json!(q.kinds).to_string(),
                serde_json::json!(q.exclude_kinds).to_string(),
                q.acknowledged,
                q.before_id,
                i64::try_from(q.limit).unwrap_or(i64::MAX)
            ],
            alert_from_row,
        )?;
        let mut alerts: Vec<AlertRecord> =
            rows.map(|r| r.map(|(a, _)| a)).collect::<Result<_, _>>()?;
        with_deliveries(&conn, &mut alerts)?;
        Ok(alerts)
    }

    pub(super) fn alert_impl(&self, id: i64) -> Result<Option<AlertRecord>, StoreError> {
        let conn = self.reader()?;
        Ok(alert_by_id(&conn, id)?.map(|(a, _)| a))
    }

    pub(super) fn acknowledge_alert_impl(
        &self,
        ack: &NewAck<'_>,
    ) -> Result<AckOutcome, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some((alert, key)) = alert_by_id(&tx, ack.alert_id)? else {
            return Ok(AckOutcome::NotFound);
        };
        if alert.team != ack.team {
            return Ok(AckOutcome::NotFound);
        }
        if alert.acknowledgement.is_some() {
            return Ok(AckOutcome::for_existing(alert, key.as_deref(), ack));
        }
        tx.execute(
            "UPDATE budget_alerts SET acked_by = ?2, acked_ms = ?3, ack_note = ?4, ack_key = ?5
             WHERE id = ?1",
            params![
                ack.alert_id,
                ack.actor,
                ack.now_ms,
                ack.note,
                ack.idempotency_key
            ],
        )?;
        let (alert, _) = alert_by_id(&tx, ack.alert_id)?
            .ok_or_else(|| StoreError::Corrupt(format!("alert {} vanished", ack.alert_id)))?;
        tx.commit()?;
        Ok(AckOutcome::Acknowledged(alert))
    }

    pub(super) fn alert_channels_impl(
        &self,
        team: Option<&str>,
    ) -> Result<Vec<ChannelRecord>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM alert_channels
             WHERE removed_ms IS NULL AND (?1 IS NULL OR team = ?1) ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![team], channel_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(super) fn add_alert_channel_impl(
        &self,
        c: &NewChannel<'_>,
    ) -> Result<AddChannelOutcome, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(key) = c.idempotency_key {
            let before = tx
                .query_row(
                    &format!(
                        "SELECT {CHANNEL_COLUMNS} FROM alert_channels
                         WHERE team = ?1 AND idempotency_key = ?2"
                    ),
                    params![c.team, key],
                    channel_from_row,
                )
                .optional()?;
            if let Some(before) = before {
                return Ok(AddChannelOutcome::Replayed(before));
            }
        }
        let live: i64 = tx.query_row(
            "SELECT COUNT(*) FROM alert_channels WHERE team = ?1 AND removed_ms IS NULL",
            params![c.team],
            |r| r.get(0),
        )?;
        if usize::try_from(live).unwrap_or(usize::MAX) >= c.max_per_team {
            return Ok(AddChannelOutcome::TooMany(c.max_per_team));
        }
        tx.execute(
            "INSERT INTO alert_channels (team, kind, name, target, receives, created_by,
                 created_ms, idempotency_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                c.team,
                c.kind,
                c.name,
                c.target,
                c.receives,
                c.actor,
                c.now_ms,
                c.idempotency_key
            ],
        )?;
        let id = tx.last_insert_rowid();
        let added = channel_by_id(&tx, id)?
            .ok_or_else(|| StoreError::Corrupt(format!("channel {id} vanished")))?;
        tx.commit()?;
        Ok(AddChannelOutcome::Added(added))
    }

    pub(super) fn remove_alert_channel_impl(
        &self,
        team: &str,
        id: i64,
        actor: &str,
        now_ms: i64,
    ) -> Result<RemoveChannelOutcome, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(channel) = channel_by_id(&tx, id)?.filter(|c| c.team == team) else {
            return Ok(RemoveChannelOutcome::NotFound);
        };
        if channel.removed_ms.is_some() {
            return Ok(RemoveChannelOutcome::AlreadyRemoved(channel));
        }
        tx.execute(
            "UPDATE alert_channels SET removed_by = ?2, removed_ms = ?3 WHERE id = ?1",
            params![id, actor, now_ms],
        )?;
        tx.execute(
            "UPDATE alert_deliveries SET status = 'failed', last_error = ?2
             WHERE channel_id = ?1 AND status = 'pending'",
            params![id, CHANNEL_REMOVED],
        )?;
        let removed = channel_by_id(&tx, id)?
            .ok_or_else(|| StoreError::Corrupt(format!("channel {id} vanished")))?;
        tx.commit()?;
        Ok(RemoveChannelOutcome::Removed(removed))
    }
}

const CHANNEL_COLUMNS: &str = "id, team, kind, name, target, receives, created_by, created_ms,
    removed_by, removed_ms";

fn channel_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChannelRecord> {
    Ok(ChannelRecord {
        id: r.get(0)?,
        team: r.get(1)?,
        kind: r.get(2)?,
        name: r.get(3)?,
        target: r.get(4)?,
        receives: r.get(5)?,
        created_by: r.get(6)?,
        created_ms: r.get(7)?,
        removed_by: r.get(8)?,
        removed_ms: r.get(9)?,
    })
}

fn channel_by_id(
    conn: &rusqlite::Connection,
    id: i64,
) -> Result<Option<ChannelRecord>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {CHANNEL_COLUMNS} FROM alert_channels WHERE id = ?1"),
            params![id],
            channel_from_row,
        )
        .optional()?)
}

/// Fills each alert's deliveries.
fn with_deliveries(
    conn: &rusqlite::Connection,
    alerts: &mut [AlertRecord],
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries WHERE alert_id = ?1 ORDER BY id"
    ))?;
    for a in alerts {
        a.deliveries = stmt
            .query_map(params![a.id], delivery_from_row)?
            .collect::<Result<_, _>>()?;
    }
    Ok(())
}

/// One alert with its deliveries, and its acknowledgement's idempotency key.
fn alert_by_id(
    conn: &rusqlite::Connection,
    id: i64,
) -> Result<Option<(AlertRecord, Option<String>)>, StoreError> {
    let found = conn
        .query_row(
            &format!("SELECT {ALERT_COLUMNS} FROM budget_alerts WHERE id = ?1"),
            params![id],
            alert_from_row,
        )
        .optional()?;
    let Some((alert, key)) = found else {
        return Ok(None);
    };
    let mut one = [alert];
    with_deliveries(conn, &mut one)?;
    let [alert] = one;
    Ok(Some((alert, key)))
}
