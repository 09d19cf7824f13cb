//! SQL of the email channel: the raw inbound store, Message-ID lookups for threading,
//! acknowledgement templates and rate counts (attachment rows: `tickets::attachments`). Tickets
//! are written only through intake.

use crate::db::{Db, Exec, FromRow, Param, WriteJob, now_ms};
use crate::error::{AppError, AppResult};
use serde::Serialize;
use sqlx::Row;

/// A raw message as received, waiting to be (or already) turned into a ticket.
#[derive(Clone, Debug, Serialize)]
pub struct InboundMail {
    pub id: i64,
    pub source: String,
    #[serde(skip)]
    pub raw: Vec<u8>,
    pub size: usize,
    pub envelope_from: String,
    pub envelope_to: String,
    pub message_id: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub attempts: i64,
    pub ticket_id: Option<i64>,
    pub interaction_id: Option<i64>,
    pub created_at: i64,
}

const INBOUND_COLUMNS: &str = "id, source, raw, envelope_from, envelope_to, message_id, status, \
     error, attempts, ticket_id, interaction_id, created_at";

/// A row of `inbound_mail`: with its raw bytes, or (`raw` absent, a list) with the `size`
/// column the query computed instead.
fn inbound_from_row(r: &sqlx::any::AnyRow) -> Result<InboundMail, sqlx::Error> {
    let (size, raw) = match r.try_get::<Vec<u8>, _>("raw") {
        Ok(raw) => (raw.len(), raw),
        Err(_) => (r.try_get::<i64, _>("size")?.max(0) as usize, Vec::new()),
    };
    Ok(InboundMail {
        id: r.try_get("id")?,
        source: r.try_get("source")?,
        size,
        raw,
        envelope_from: r.try_get("envelope_from")?,
        envelope_to: r.try_get("envelope_to")?,
        message_id: r.try_get("message_id")?,
        status: r.try_get("status")?,
        error: r.try_get("error")?,
        attempts: r.try_get("attempts")?,
        ticket_id: r.try_get("ticket_id")?,
        interaction_id: r.try_get("interaction_id")?,
        created_at: r.try_get("created_at")?,
    })
}

/// One raw message to store durably.
pub struct NewRaw {
    pub source: &'static str,
    pub raw: Vec<u8>,
    pub envelope_from: String,
    pub envelope_to: String,
}

/// Stores raw messages in one transaction (group commit) and returns their ids in order. Only
/// after this returns may the sender be told the mail is accepted.
pub async fn insert_raw_batch(db: &Db, batch: Vec<NewRaw>) -> AppResult<Vec<i64>> {
    db.write(InsertRaw(batch)).await
}

struct InsertRaw(Vec<NewRaw>);

impl WriteJob for InsertRaw {
    type Out = Vec<i64>;

    async fn run<E: Exec>(&self, tx: &mut E, _db: &Db) -> AppResult<Vec<i64>> {
        let now = now_ms();
        let mut ids = Vec::with_capacity(self.0.len());
        for m in &self.0 {
            let params = vec![
                m.source.into(),
                Param::Bytes(m.raw.clone()),
                m.envelope_from.as_str().into(),
                m.envelope_to.as_str().into(),
                now.into(),
            ];
            let id = tx
                .row(
                    "INSERT INTO inbound_mail (source, raw, envelope_from, envelope_to, status, \
                     attempts, created_at) VALUES ($1, $2, $3, $4, 'received', 0, $5) RETURNING id",
                    params,
                )
                .await?;
            ids.push(id.ok_or(AppError::NotFound("inbound mail"))?);
        }
        Ok(ids)
    }
}

pub async fn find_inbound(db: &Db, id: i64) -> AppResult<InboundMail> {
    let sql = format!("SELECT {INBOUND_COLUMNS} FROM inbound_mail WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(AppError::NotFound("inbound mail"))?;
    Ok(inbound_from_row(&row)?)
}

/// Raw messages still waiting (after a crash, or a failed attempt), oldest first.
pub async fn list_unprocessed(db: &Db, older_than: i64, limit: i64) -> AppResult<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT id FROM inbound_mail WHERE status = 'received' AND created_at <= $1 \
         ORDER BY id LIMIT $2",
    )
    .bind(older_than)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?)
}

/// Messages of one status for the admin view (quarantined ones with their error), newest first:
/// a page of at most `limit` with ids below `before_id` (the last id of the previous page).
/// The raw bytes are not read (`size` only).
pub async fn list_inbound(
    db: &Db,
    status: Option<&str>,
    before_id: Option<i64>,
    limit: i64,
) -> AppResult<Vec<InboundMail>> {
    let sql = INBOUND_COLUMNS.replace("raw,", "CAST(length(raw) AS BIGINT) AS size,");
    let sql = format!(
        "SELECT {sql} FROM inbound_mail WHERE ($1 = '' OR status = $1) AND id < $2 \
         ORDER BY id DESC LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status.unwrap_or(""))
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .iter()
        .map(inbound_from_row)
        .collect::<Result<_, _>>()?)
}

/// Quarantines a message at once with `reason` (a mail its parsing cannot handle).
pub async fn quarantine(db: &Db, id: i64, reason: &str) -> AppResult<()> {
    sqlx::query(
        "UPDATE inbound_mail SET status = 'quarantined', error = $2, attempts = attempts + 1 \
         WHERE id = $1 AND status = 'received'",
    )
    .bind(id)
    .bind(reason)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Raw messages purged per statement (short transactions on a large backlog).
const PURGE_BATCH: i64 = 500;

/// Retention: empties the raw bytes of mail processed more than `days` days ago and returns how
/// many were purged. The row stays (its ticket link, Message-ID and IMAP key keep threading and
/// de-duplication working); mail not processed (received, failed, quarantined) keeps its bytes
/// until handled. Idempotent: every node may run it.
pub async fn purge_raw_mail(db: &Db, days: u64) -> AppResult<u64> {
    let now = now_ms();
    let cutoff = now.saturating_sub((days as i64).saturating_mul(86_400_000));
    let mut purged = 0;
    loop {
        let n = sqlx::query(
            "UPDATE inbound_mail SET raw = $1, raw_purged_at = $2 WHERE id IN \
             (SELECT id FROM inbound_mail WHERE status = 'processed' AND raw_purged_at IS NULL \
              AND processed_at < $3 ORDER BY id LIMIT $4)",
        )
        .bind(Vec::<u8>::new())
        .bind(now)
        .bind(cutoff)
        .bind(PURGE_BATCH)
        .execute(&db.pool)
        .await?
        .rows_affected();
        purged += n;
        if n < PURGE_BATCH as u64 {
            return Ok(purged);
        }
    }
}

/// Runs `purge_raw_mail` at start and then hourly, until aborted.
pub async fn run_retention(db: Db, days: u64) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match purge_raw_mail(&db, days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, days, "raw inbound mail past retention purged"),
            Err(e) => tracing::warn!(error = %e, "raw inbound mail retention failed"),
        }
    }
}

/// Puts a quarantined or failed message back to be processed (an admin's retry).
pub async fn reset_for_retry(db: &Db, id: i64) -> AppResult<()> {
    sqlx::query(
        "UPDATE inbound_mail SET status = 'received', attempts = 0 \
         WHERE id = $1 AND status <> 'processed'",
    )
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

struct MetaText {
    meta: String,
}

impl FromRow for MetaText {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
        Ok(MetaText {
            meta: r.try_get("meta")?,
        })
    }
}

/// Lists inbound mail `row_id` among the duplicates of interaction `interaction_id` (its meta's
/// `duplicates`), so that a delivery folded into it is visible from the ticket. The update
/// compares the meta it read, so a concurrent one is not lost: it runs again (`Conflict`).
pub async fn note_duplicate<E: Exec>(
    tx: &mut E,
    interaction_id: i64,
    row_id: i64,
) -> AppResult<()> {
    let Some(old) = tx
        .row::<MetaText>(
            "SELECT meta FROM interactions WHERE id = $1",
            vec![interaction_id.into()],
        )
        .await?
    else {
        return Ok(());
    };
    let mut meta: serde_json::Value =
        serde_json::from_str(&old.meta).unwrap_or_else(|_| serde_json::json!({}));
    let Some(map) = meta.as_object_mut() else {
        return Ok(());
    };
    let list = map
        .entry("duplicates")
        .or_insert_with(|| serde_json::json!([]));
    match list.as_array_mut() {
        Some(ids) if !ids.iter().any(|v| v.as_i64() == Some(row_id)) => ids.push(row_id.into()),
        _ => return Ok(()),
    }
    let changed = tx
        .run(
            "UPDATE interactions SET meta = $2 WHERE id = $1 AND meta = $3",
            vec![
                interaction_id.into(),
                meta.to_string().into(),
                old.meta.into(),
            ],
        )
        .await?;
    if changed != 1 {
        return Err(AppError::Conflict(
            "the interaction changed meanwhile; try again".into(),
        ));
    }
    Ok(())
}

/// Marks a message processed, unless another worker already did (returns false then).
pub async fn update_processed<E: Exec>(
    tx: &mut E,
    id: i64,
    message_id: &str,
    ticket_id: i64,
    interaction_id: i64,
    note: Option<&str>,
) -> AppResult<bool> {
    let params = vec![
        id.into(),
        message_id.into(),
        ticket_id.into(),
        interaction_id.into(),
        note.map(str::to_string).into(),
        now_ms().into(),
    ];
    let changed = tx
        .run(
            "UPDATE inbound_mail SET status = 'processed', message_id = $2, ticket_id = $3, \
             interaction_id = $4, error = $5, processed_at = $6, attempts = attempts + 1 \
             WHERE id = $1 AND status = 'received'",
            params,
        )
        .await?;
    Ok(changed == 1)
}

/// Records a failed attempt; after `max_attempts` the message is quarantined with its error so
/// that it never blocks the others (admins see it in the list).
pub async fn update_failed(db: &Db, id: i64, error: &str, max_attempts: i64) -> AppResult<String> {
    let row = sqlx::query(
        "UPDATE inbound_mail SET attempts = attempts + 1, error = $2, \
         status = CASE WHEN attempts + 1 >= $3 THEN 'quarantined' ELSE status END \
         WHERE id = $1 RETURNING status",
    )
    .bind(id)
    .bind(error)
    .bind(max_attempts)
    .fetch_one(&db.pool)
    .await?;
    Ok(row.try_get("status")?)
}

/// The tickets of the Message-IDs among `ids` that Hotline stored as a mail it received or a
/// reply it sent (the email interactions' external ids), in the order of `ids`, without
/// repeats. Content keys (`sha256:…`) are never Message-IDs. At most the last 50 ids count.
pub async fn tickets_by_message_ids(db: &Db, ids: &[String]) -> AppResult<Vec<i64>> {
    let ids: Vec<&String> = ids.iter().filter(|id| !id.starts_with("sha256:")).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = &ids[ids.len().saturating_sub(50)..];
    let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 1)).collect();
    let sql = format!(
        "SELECT ticket_id, external_id FROM interactions WHERE channel = 'email' \
         AND external_id IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(*id);
    }
    let rows = q.fetch_all(&db.pool).await?;
    let mut tickets = Vec::new();
    for id in ids {
        for r in &rows {
            let ticket: i64 = r.try_get("ticket_id")?;
            if r.try_get::<String, _>("external_id")? == **id && !tickets.contains(&ticket) {
                tickets.push(ticket);
            }
        }
    }
    Ok(tickets)
}

/// The ticket of outbox row `outbox_id` when it went out with exactly `message_id` (recorded
/// when sent): how a reply to an acknowledgement, which has no interaction, finds its ticket.
pub async fn ticket_of_sent_message(
    db: &Db,
    outbox_id: i64,
    message_id: &str,
) -> AppResult<Option<i64>> {
    let row = sqlx::query(
        "SELECT ticket_id, payload FROM outbox WHERE id = $1 AND channel = 'email' \
         AND status = 'sent'",
    )
    .bind(outbox_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let payload: serde_json::Value =
        serde_json::from_str(&row.try_get::<String, _>("payload")?).unwrap_or_default();
    let sent_as = payload["message_id"].as_str().unwrap_or("");
    Ok(
        if !sent_as.is_empty() && sent_as.eq_ignore_ascii_case(message_id) {
            row.try_get("ticket_id")?
        } else {
            None
        },
    )
}

/// True when `email` is the ticket's customer or took part in its thread.
pub async fn is_participant(db: &Db, ticket_id: i64, email: &str) -> AppResult<bool> {
    let row = sqlx::query(
        "SELECT 1 AS hit FROM tickets t JOIN customer_identities ci ON ci.customer_id = t.customer_id \
         WHERE t.id = $1 AND ci.kind = 'email' AND ci.value = $2 \
         UNION ALL SELECT 1 AS hit FROM interactions WHERE ticket_id = $1 AND channel = 'email' \
         AND (lower(from_addr) = $2 OR lower(to_addr) = $2) LIMIT 1",
    )
    .bind(ticket_id)
    .bind(email)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.is_some())
}

/// The Message-IDs of a ticket's email thread, oldest first (for References of a reply).
pub async fn list_thread_message_ids(db: &Db, ticket_id: i64) -> AppResult<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT external_id, direction FROM interactions WHERE ticket_id = $1 \
         AND channel = 'email' AND external_id IS NOT NULL ORDER BY created_at, id",
    )
    .bind(ticket_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("external_id")?, r.try_get("direction")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The raw bytes of inbound message `id` (the acknowledgement step reads its headers).
pub async fn raw_of<E: Exec>(tx: &mut E, id: i64) -> AppResult<Vec<u8>> {
    let raw: Option<Raw> = tx
        .row(
            "SELECT raw FROM inbound_mail WHERE id = $1",
            vec![id.into()],
        )
        .await?;
    Ok(raw.map(|r| r.0).unwrap_or_default())
}

struct Raw(Vec<u8>);

impl FromRow for Raw {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Raw(r.try_get("raw")?))
    }
}

/// Acknowledgements queued for `recipient` since `since` (rate limit per sender).
pub async fn count_acks_since<E: Exec>(tx: &mut E, recipient: &str, since: i64) -> AppResult<i64> {
    let n = tx
        .row(
            "SELECT COUNT(*) AS id FROM outbox WHERE channel = 'email' AND recipient = $1 \
             AND interaction_id IS NULL AND created_at >= $2",
            vec![recipient.into(), since.into()],
        )
        .await?;
    Ok(n.unwrap_or(0))
}

/// The acknowledgement template for a queue and language, falling back to the default queue (0)
/// (`channels::ack`, channel `email`).
pub async fn find_ack_template<E: Exec>(
    tx: &mut E,
    queue_id: Option<i64>,
    language: &str,
) -> AppResult<Option<(String, String)>> {
    let (subject, body, source) =
        crate::channels::ack::resolve(tx, queue_id, language, "email").await?;
    Ok((source != crate::channels::ack::Source::BuiltIn).then_some((subject, body)))
}

/// Queues an acknowledgement (no interaction: it is not an agent's reply).
pub async fn insert_ack<E: Exec>(
    tx: &mut E,
    ticket_id: i64,
    recipient: &str,
    payload: &serde_json::Value,
) -> AppResult<()> {
    crate::tickets::store::insert_outbox(
        tx,
        crate::tickets::Channel::Email,
        ticket_id,
        None,
        recipient,
        payload,
    )
    .await
}
