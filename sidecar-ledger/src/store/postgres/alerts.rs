//! Budget spend queries, alerts, their acknowledgements, deliveries and channels on
//! PostgreSQL.
//!
//! With several ledger instances evaluating the same budgets, the alert's unique key
//! (team, period, kind, threshold) makes it fire once, and a due delivery is claimed
//! by the instance that reads it (its next attempt moved [`CLAIM_MS`] ahead, rows
//! another instance is claiming skipped), so one webhook is not sent by two instances.

use std::collections::HashMap;

use postgres::{GenericClient, Row};

use super::db::PgStore;
use super::sql_args::has_nul;
use crate::store::alerts::{
    days_by_team, details_text, parse_details, shown_target, AckOutcome, Acknowledgement,
    AddChannelOutcome, AlertFacts, AlertQuery, AlertRecord, ChannelRecord, DeliveryRecord,
    DeliveryTarget, NewAck, NewAlert, NewChannel, RemoveChannelOutcome, CHANNEL_REMOVED,
    CONFIG_CHANNEL,
};
use crate::store::error::StoreError;

const DAY_MS: i64 = 86_400_000;

/// How long a delivery read by `due_deliveries` is left to that instance before
/// another may try it (if the first died before recording the attempt). Longer than
/// one round of deliveries: at most 100 deliveries of at most 5 s each.
pub(crate) const CLAIM_MS: i64 = 10 * 60 * 1000;

const DELIVERY_COLUMNS: &str = "d.id, d.alert_id, d.url, d.format, d.status, d.attempts,
    d.next_attempt_ms, d.last_error, d.delivered_ms, d.channel_id, d.channel_name";

const ALERT_COLUMNS: &str = "id, team, period_start_ms, period_end_ms, kind, threshold_pct,
    fired_ms, spent_nanos, budget_nanos, forecast_nanos, message, subject, details, acked_by,
    acked_ms, ack_note, ack_key";

const CHANNEL_COLUMNS: &str = "id, team, kind, name, target, receives, created_by, created_ms,
    removed_by, removed_ms";

fn delivery_from_row(r: &Row) -> Result<DeliveryRecord, StoreError> {
    let url: String = r.try_get(2)?;
    let channel: Option<String> = r.try_get(10)?;
    Ok(DeliveryRecord {
        id: r.try_get(0)?,
        alert_id: r.try_get(1)?,
        target: shown_target(&url),
        url,
        format: r.try_get(3)?,
        status: r.try_get(4)?,
        attempts: r.try_get(5)?,
        next_attempt_ms: r.try_get(6)?,
        last_error: r.try_get(7)?,
        delivered_ms: r.try_get(8)?,
        channel_id: r.try_get(9)?,
        channel: channel.unwrap_or_else(|| CONFIG_CHANNEL.into()),
    })
}

/// An alert row and its acknowledgement's idempotency key.
fn alert_from_row(r: &Row) -> Result<(AlertRecord, Option<String>), StoreError> {
    let details: Option<String> = r.try_get(12)?;
    let acked_by: Option<String> = r.try_get(13)?;
    let acked_ms: Option<i64> = r.try_get(14)?;
    Ok((
        AlertRecord {
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
            subject: r.try_get(11)?,
            details: parse_details(details.as_deref()),
            acknowledgement: match (acked_by, acked_ms) {
                (Some(by), Some(at_ms)) => Some(Acknowledgement {
                    by,
                    at_ms,
                    note: r.try_get(15)?,
                }),
                _ => None,
            },
            deliveries: Vec::new(),
        },
        r.try_get(16)?,
    ))
}

fn channel_from_row(r: &Row) -> Result<ChannelRecord, StoreError> {
    Ok(ChannelRecord {
        id: r.try_get(0)?,
        team: r.try_get(1)?,
        kind: r.try_get(2)?,
        name: r.try_get(3)?,
        target: r.try_get(4)?,
        receives: r.try_get(5)?,
        created_by: r.try_get(6)?,
        created_ms: r.try_get(7)?,
        removed_by: r.try_get(8)?,
        removed_ms: r.try_get(9)?,
    })
}

fn channel_by_id(
    client: &mut impl GenericClient,
    id: i64,
    lock: bool,
) -> Result<Option<ChannelRecord>, StoreError> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    client
        .query_opt(
            &format!("SELECT {CHANNEL_COLUMNS} FROM alert_channels WHERE id = $1{lock}"),
            &[&id],
        )?
        .as_ref()
        .map(channel_from_row)
        .transpose()
}

/// Fills each alert's deliveries.
fn with_deliveries(
    client: &mut impl GenericClient,
    alerts: &mut [AlertRecord],
) -> Result<(), StoreError> {
    let ids: Vec<i64> = alerts.iter().map(|a| a.id).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let mut by_alert: HashMap<i64, Vec<DeliveryRecord>> = HashMap::new();
    for r in client.query(
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries d WHERE d.alert_id = ANY($1) ORDER BY d.id"
        ),
        &[&ids],
    )? {
        let d = delivery_from_row(&r)?;
        by_alert.entry(d.alert_id).or_default().push(d);
    }
    for a in alerts {
        a.deliveries = by_alert.remove(&a.id).unwrap_or_default();
    }
    Ok(())
}

/// One alert with its deliveries, and its acknowledgement's idempotency key.
fn alert_by_id(
    client: &mut impl GenericClient,
    id: i64,
    lock: bool,
) -> Result<Option<(AlertRecord, Option<String>)>, StoreError> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let Some(row) = client.query_opt(
        &format!("SELECT {ALERT_COLUMNS} FROM budget_alerts WHERE id = $1{lock}"),
        &[&id],
    )?
    else {
        return Ok(None);
    };
    let (alert, key) = alert_from_row(&row)?;
    let mut one = [alert];
    with_deliveries(client, &mut one)?;
    let [alert] = one;
    Ok(Some((alert, key)))
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
        let (a, _) = alert_from_row(&r)?;
        alerts.insert(a.id, a);
    }
    let mut out: Vec<AlertRecord> = ids.iter().filter_map(|id| alerts.remove(id)).collect();
    with_deliveries(client, &mut out)?;
    Ok(out)
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
        facts: &AlertFacts,
        targets: &[DeliveryTarget],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let details = details_text(&facts.details);
        let texts = [alert.team.as_str(), alert.message.as_str()];
        if texts
            .into_iter()
            .chain(facts.subject.as_deref())
            .chain(details.as_deref())
            .chain(
                targets
                    .iter()
                    .flat_map(|t| [t.url.as_str(), t.channel_name.as_str()]),
            )
            .any(has_nul)
        {
            return Err(StoreError::Refused("text must not contain U+0000".into()));
        }
        self.write(|tx| {
            let threshold: i64 = match &facts.subject {
                None => i64::from(alert.threshold_pct),
                Some(subject) => {
                    tx.execute(
                        "INSERT INTO alert_subjects (team, subject) VALUES ($1, $2)
                         ON CONFLICT (team, subject) DO NOTHING",
                        &[&alert.team, subject],
                    )?;
                    tx.query_one(
                        "SELECT id FROM alert_subjects WHERE team = $1 AND subject = $2",
                        &[&alert.team, subject],
                    )?
                    .try_get(0)?
                }
            };
            // Whichever instance inserts first fires the alert; the others (waiting on
            // the unique key until it commits) find it there and store nothing.
            let inserted = tx.query_opt(
                "INSERT INTO budget_alerts (team, period_start_ms, period_end_ms, kind,
                     threshold_pct, fired_ms, spent_nanos, budget_nanos, forecast_nanos, message,
                     subject, details)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (team, period_start_ms, kind, threshold_pct) DO NOTHING
                 RETURNING id",
                &[
                    &alert.team,
                    &alert.period_start_ms,
                    &alert.period_end_ms,
                    &alert.kind,
                    &threshold,
                    &now_ms,
                    &alert.spent_nanos,
                    &alert.budget_nanos,
                    &alert.forecast_nanos,
                    &alert.message,
                    &facts.subject,
                    &details,
                ],
            )?;
            let Some(row) = inserted else {
                return Ok(None);
            };
            let id: i64 = row.try_get(0)?;
            for t in targets {
                tx.execute(
                    "INSERT INTO alert_deliveries (alert_id, url, format, status, next_attempt_ms,
                         channel_id, channel_name)
                     VALUES ($1, $2, $3, 'pending', $4, $5, $6)",
                    &[
                        &id,
                        &t.url,
                        &t.format,
                        &now_ms,
                        &t.channel_id,
                        &t.channel_name,
                    ],
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

    pub(super) fn alert_page_impl(&self, q: &AlertQuery) -> Result<Vec<AlertRecord>, StoreError> {
        if q.team.as_deref().is_some_and(has_nul) {
            return Ok(Vec::new());
        }
        let mut conn = self.conn()?;
        let rows = conn.query(
            &format!(
                "SELECT {ALERT_COLUMNS} FROM budget_alerts
                 WHERE ($1::TEXT IS NULL OR team = $1)
                   AND (cardinality($2::TEXT[]) = 0 OR kind = ANY($2))
                   AND NOT (kind = ANY($3::TEXT[]))
                   AND ($4::BOOLEAN IS NULL OR (acked_ms IS NOT NULL) = $4)
                   AND ($5::BIGINT IS NULL OR id < $5)
                 ORDER BY id DESC LIMIT $6"
            ),
            &[
                &q.team,
                &q.kinds,
                &q.exclude_kinds,
                &q.acknowledged,
                &q.before_id,
                &i64::try_from(q.limit).unwrap_or(i64::MAX),
            ],
        )?;
        let mut alerts: Vec<AlertRecord> = rows
            .iter()
            .map(|r| alert_from_row(r).map(|(a, _)| a))
            .collect::<Result<_, _>>()?;
        with_deliveries(&mut *conn, &mut alerts)?;
        Ok(alerts)
    }

    pub(super) fn alert_impl(&self, id: i64) -> Result<Option<AlertRecord>, StoreError> {
        Ok(alert_by_id(&mut *self.conn()?, id, false)?.map(|(a, _)| a))
    }

    pub(super) fn acknowledge_alert_impl(
        &self,
        ack: &NewAck<'_>,
    ) -> Result<AckOutcome, StoreError> {
        if [ack.team, ack.actor]
            .into_iter()
            .chain(ack.note)
            .chain(ack.idempotency_key)
            .any(has_nul)
        {
            return Err(StoreError::Refused("text must not contain U+0000".into()));
        }
        self.write(|tx| {
            // The row lock orders two acknowledgements of one alert.
            let Some((alert, key)) = alert_by_id(tx, ack.alert_id, true)? else {
                return Ok(AckOutcome::NotFound);
            };
            if alert.team != ack.team {
                return Ok(AckOutcome::NotFound);
            }
            if alert.acknowledgement.is_some() {
                return Ok(AckOutcome::for_existing(alert, key.as_deref(), ack));
            }
            tx.execute(
                "UPDATE budget_alerts SET acked_by = $2, acked_ms = $3, ack_note = $4, ack_key = $5
                 WHERE id = $1",
                &[
                    &ack.alert_id,
                    &ack.actor,
                    &ack.now_ms,
                    &ack.note,
                    &ack.idempotency_key,
                ],
            )?;
            let (alert, _) = alert_by_id(tx, ack.alert_id, false)?
                .ok_or_else(|| StoreError::Corrupt(format!("alert {} vanished", ack.alert_id)))?;
            Ok(AckOutcome::Acknowledged(alert))
        })
    }

    pub(super) fn alert_channels_impl(
        &self,
        team: Option<&str>,
    ) -> Result<Vec<ChannelRecord>, StoreError> {
        if team.is_some_and(has_nul) {
            return Ok(Vec::new());
        }
        self.conn()?
            .query(
                &format!(
                    "SELECT {CHANNEL_COLUMNS} FROM alert_channels
                     WHERE removed_ms IS NULL AND ($1::TEXT IS NULL OR team = $1) ORDER BY id"
                ),
                &[&team],
            )?
            .iter()
            .map(channel_from_row)
            .collect()
    }

    pub(super) fn add_alert_channel_impl(
        &self,
        c: &NewChannel<'_>,
    ) -> Result<AddChannelOutcome, StoreError> {
        if [c.team, c.kind, c.name, c.target, c.receives, c.actor]
            .into_iter()
            .chain(c.idempotency_key)
            .any(has_nul)
        {
            return Err(StoreError::Refused("text must not contain U+0000".into()));
        }
        self.write(|tx| {
            // One team's channels are added one at a time, so two ledgers cannot both
            // pass the limit.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext('tollgate.alert_channels:' || $1))",
                &[&c.team],
            )?;
            if let Some(key) = c.idempotency_key {
                if let Some(row) = tx.query_opt(
                    &format!(
                        "SELECT {CHANNEL_COLUMNS} FROM alert_channels
                         WHERE team = $1 AND idempotency_key = $2"
                    ),
                    &[&c.team, &key],
                )? {
                    return Ok(AddChannelOutcome::Replayed(channel_from_row(&row)?));
                }
            }
            let live: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM alert_channels WHERE team = $1 AND removed_ms IS NULL",
                    &[&c.team],
                )?
                .try_get(0)?;
            if usize::try_from(live).unwrap_or(usize::MAX) >= c.max_per_team {
                return Ok(AddChannelOutcome::TooMany(c.max_per_team));
            }
            let row = tx.query_one(
                &format!(
                    "INSERT INTO alert_channels (team, kind, name, target, receives, created_by,
                         created_ms, idempotency_key)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     RETURNING {CHANNEL_COLUMNS}"
                ),
                &[
                    &c.team,
                    &c.kind,
                    &c.name,
                    &c.target,
                    &c.receives,
                    &c.actor,
                    &c.now_ms,
                    &c.idempotency_key,
                ],
            )?;
            Ok(AddChannelOutcome::Added(channel_from_row(&row)?))
        })
    }

    pub(super) fn remove_alert_channel_impl(
        &self,
        team: &str,
        id: i64,
        actor: &str,
        now_ms: i64,
    ) -> Result<RemoveChannelOutcome, StoreError> {
        if has_nul(team) {
            return Ok(RemoveChannelOutcome::NotFound);
        }
        if has_nul(actor) {
            return Err(StoreError::Refused("text must not contain U+0000".into()));
        }
        self.write(|tx| {
            let Some(channel) = channel_by_id(tx, id, true)?.filter(|c| c.team == team) else {
                return Ok(RemoveChannelOutcome::NotFound);
            };
            if channel.removed_ms.is_some() {
                return Ok(RemoveChannelOutcome::AlreadyRemoved(channel));
            }
            tx.execute(
                "UPDATE alert_channels SET removed_by = $2, removed_ms = $3 WHERE id = $1",
                &[&id, &actor, &now_ms],
            )?;
            tx.execute(
                "UPDATE alert_deliveries SET status = 'failed', last_error = $2
                 WHERE channel_id = $1 AND status = 'pending'",
                &[&id, &CHANNEL_REMOVED],
            )?;
            let removed = channel_by_id(tx, id, false)?
                .ok_or_else(|| StoreError::Corrupt(format!("channel {id} vanished")))?;
            Ok(RemoveChannelOutcome::Removed(removed))
        })
    }
}
