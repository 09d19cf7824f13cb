//! Webhooks' SQL: endpoints, following the events log into deliveries, claiming and recording
//! attempts, the delivery log.

use crate::db::{Db, Exec, FromRow, ReadRow, from_json_list, now_ms, to_json_list};
use crate::error::{AppError, AppResult};
use serde::Serialize;

/// An endpoint as the API shows it. The secret is shown once, in the answer that set it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Only in the answer of the create (or update) that set it; null otherwise.
    pub secret: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, url, event_types, enabled, created_by, created_at, updated_at";

impl FromRow for Webhook {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Webhook {
            id: r.try_get("id")?,
            url: r.try_get("url")?,
            event_types: from_json_list(&r.try_get::<String>("event_types")?),
            enabled: r.try_get::<i64>("enabled")? != 0,
            secret: None,
            created_by: r.try_get("created_by")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

pub async fn insert(
    db: &Db,
    url: &str,
    types: &[String],
    secret: &str,
    enabled: bool,
    by: i64,
) -> AppResult<Webhook> {
    let mut tx = db.begin().await?;
    // Events already in the log are not sent to a new endpoint.
    let from: Option<i64> = tx
        .row("SELECT COALESCE(MAX(seq), 0) AS id FROM events", vec![])
        .await?;
    let now = now_ms();
    let hook: Option<Webhook> = tx
        .row(
            &format!(
                "INSERT INTO webhooks (url, event_types, secret, enabled, from_seq, created_by, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                 RETURNING {COLUMNS}"
            ),
            vec![
                url.into(),
                to_json_list(types).into(),
                secret.into(),
                enabled.into(),
                from.unwrap_or(0).into(),
                by.into(),
                now.into(),
            ],
        )
        .await?;
    tx.commit().await?;
    hook.ok_or(AppError::NotFound("webhook"))
}

pub async fn list(db: &Db) -> AppResult<Vec<Webhook>> {
    db.fetch_all(
        &format!("SELECT {COLUMNS} FROM webhooks ORDER BY id"),
        vec![],
    )
    .await
}

pub async fn find(db: &Db, id: i64) -> AppResult<Webhook> {
    let mut db = db;
    db.row(
        &format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"),
        vec![id.into()],
    )
    .await?
    .ok_or(AppError::NotFound("webhook"))
}

/// What an update changes (None: unchanged).
pub struct Changes {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub secret: Option<String>,
    pub enabled: Option<bool>,
}

pub async fn update(db: &Db, id: i64, c: &Changes) -> AppResult<Webhook> {
    let cur = find(db, id).await?;
    let mut tx = db.begin().await?;
    tx.run(
        "UPDATE webhooks SET url = $2, event_types = $3, enabled = $4, \
         secret = COALESCE($5, secret), updated_at = $6 WHERE id = $1",
        vec![
            id.into(),
            c.url.clone().unwrap_or(cur.url).into(),
            to_json_list(c.event_types.as_ref().unwrap_or(&cur.event_types)).into(),
            c.enabled.unwrap_or(cur.enabled).into(),
            (&c.secret).into(),
            now_ms().into(),
        ],
    )
    .await?;
    tx.commit().await?;
    find(db, id).await
}

pub async fn delete(db: &Db, id: i64) -> AppResult<()> {
    let mut tx = db.begin().await?;
    tx.run(
        "DELETE FROM webhook_deliveries WHERE webhook_id = $1",
        vec![id.into()],
    )
    .await?;
    let n = tx
        .run("DELETE FROM webhooks WHERE id = $1", vec![id.into()])
        .await?;
    if n == 0 {
        return Err(AppError::NotFound("webhook"));
    }
    tx.commit().await?;
    Ok(())
}

struct EventRow {
    seq: i64,
    at_ms: i64,
    kind: String,
    payload: String,
}

impl FromRow for EventRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(EventRow {
            seq: r.try_get("seq")?,
            at_ms: r.try_get("at_ms")?,
            kind: r.try_get("kind")?,
            payload: r.try_get("payload")?,
        })
    }
}

struct Target {
    id: i64,
    types: Vec<String>,
    from_seq: i64,
}

impl FromRow for Target {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Target {
            id: r.try_get("id")?,
            types: from_json_list(&r.try_get::<String>("event_types")?),
            from_seq: r.try_get("from_seq")?,
        })
    }
}

/// Reads up to `batch` events after the follower's mark and inserts their deliveries, moving
/// the mark in the same commit (only from the value it was read at: two followers never both
/// take a batch). The number of events read.
pub async fn follow(db: &Db, batch: i64) -> AppResult<usize> {
    let from = crate::realtime::marks::get(db, super::MARK)
        .await?
        .unwrap_or(0);
    let events: Vec<EventRow> = db
        .fetch_all(
            "SELECT seq, at_ms, kind, payload FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
            vec![from.into(), batch.into()],
        )
        .await?;
    let Some(last) = events.last() else {
        return Ok(0);
    };
    let targets: Vec<Target> = db
        .fetch_all(
            "SELECT id, event_types, from_seq FROM webhooks WHERE enabled = 1",
            vec![],
        )
        .await?;
    let mut tx = db.begin().await?;
    if !crate::realtime::marks::claim(&mut tx, super::MARK, from, last.seq).await? {
        // Another follower took this batch.
        return Ok(0);
    }
    let now = now_ms();
    for e in &events {
        if targets.is_empty() {
            break;
        }
        let payload: serde_json::Value =
            serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::Null);
        for (event_type, key, data) in super::derive(e.seq, &e.kind, &payload) {
            let body = super::body(e.seq, &event_type, e.at_ms, &data);
            for t in &targets {
                if e.seq <= t.from_seq || !super::wants(&t.types, &event_type) {
                    continue;
                }
                tx.run(
                    "INSERT INTO webhook_deliveries (webhook_id, event_type, event_seq, \
                     dedupe_key, body, status, attempts, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) \
                     ON CONFLICT (webhook_id, dedupe_key) DO NOTHING",
                    vec![
                        t.id.into(),
                        event_type.as_str().into(),
                        e.seq.into(),
                        key.as_str().into(),
                        body.as_str().into(),
                        now.into(),
                    ],
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(events.len())
}

/// A claimed delivery with what sending it takes.
pub struct Due {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub event_type: String,
    pub body: String,
    pub attempts: i64,
}

impl FromRow for Due {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Due {
            id: r.try_get("id")?,
            url: r.try_get("url")?,
            secret: r.try_get("secret")?,
            event_type: r.try_get("event_type")?,
            body: r.try_get("body")?,
            attempts: r.try_get("attempts")?,
        })
    }
}

/// Claims up to `limit` pending deliveries due at `now` (not claimed, or their claim ran out)
/// until `lease_until`, of enabled endpoints, oldest first.
pub async fn claim_due(db: &Db, now: i64, lease_until: i64, limit: i64) -> AppResult<Vec<Due>> {
    let mut tx = db.begin().await?;
    let ids: Vec<i64> = tx
        .rows(
            "UPDATE webhook_deliveries SET lease_until = $2 WHERE id IN (\
             SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND w.enabled = 1 \
             AND (d.lease_until IS NULL OR d.lease_until <= $1) \
             ORDER BY d.next_attempt_at, d.id LIMIT $3) \
             AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $1) RETURNING id",
            vec![now.into(), lease_until.into(), limit.into()],
        )
        .await?;
    let mut due = Vec::with_capacity(ids.len());
    for id in ids {
        let d: Option<Due> = tx
            .row(
                "SELECT d.id, w.url, w.secret, d.event_type, d.body, d.attempts \
                 FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                 WHERE d.id = $1",
                vec![id.into()],
            )
            .await?;
        due.extend(d);
    }
    tx.commit().await?;
    due.sort_by_key(|d| d.id);
    Ok(due)
}

/// The outcome of one attempt.
pub struct Attempt<'a> {
    pub id: i64,
    /// Attempts made, this one included.
    pub attempts: i64,
    pub delivered: bool,
    pub code: Option<i64>,
    pub error: &'a str,
    /// When to try again; None: no more tries.
    pub next: Option<i64>,
    pub now: i64,
}

/// Records an attempt: delivered, or pending again at `next`, or failed (no `next`).
pub async fn record_attempt(db: &Db, a: &Attempt<'_>) -> AppResult<()> {
    let Attempt {
        id,
        attempts,
        delivered,
        code,
        error,
        next,
        now,
    } = *a;
    let status = match (delivered, next) {
        (true, _) => "delivered",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    };
    let mut tx = db.begin().await?;
    tx.run(
        "UPDATE webhook_deliveries SET attempts = $2, status = $3, response_code = $4, \
         last_error = $5, next_attempt_at = COALESCE($6, next_attempt_at), lease_until = NULL, \
         last_attempt_at = $7, delivered_at = CASE WHEN $3 = 'delivered' THEN $7 ELSE NULL END \
         WHERE id = $1",
        vec![
            id.into(),
            attempts.into(),
            status.into(),
            code.into(),
            error.into(),
            next.into(),
            now.into(),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One line of an endpoint's delivery log.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub event_type: String,
    /// The events-log seq it was built from.
    pub event_seq: i64,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// The HTTP status of the last answer; null when none came (refused, timed out).
    pub response_code: Option<i64>,
    pub last_error: String,
    pub created_at: i64,
    pub last_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<i64>,
    /// The JSON body sent.
    pub body: String,
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event_type, event_seq, status, attempts, \
     response_code, last_error, created_at, last_attempt_at, delivered_at, next_attempt_at, body";

impl FromRow for Delivery {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        let status: String = r.try_get("status")?;
        let next: i64 = r.try_get("next_attempt_at")?;
        Ok(Delivery {
            id: r.try_get("id")?,
            webhook_id: r.try_get("webhook_id")?,
            event_type: r.try_get("event_type")?,
            event_seq: r.try_get("event_seq")?,
            attempts: r.try_get("attempts")?,
            response_code: r.try_get("response_code")?,
            last_error: r.try_get("last_error")?,
            created_at: r.try_get("created_at")?,
            last_attempt_at: r.try_get("last_attempt_at")?,
            delivered_at: r.try_get("delivered_at")?,
            next_attempt_at: (status == "pending").then_some(next),
            status,
            body: r.try_get("body")?,
        })
    }
}

/// An endpoint's deliveries, newest first (`before`: ids below it).
pub async fn deliveries(
    db: &Db,
    webhook_id: i64,
    status: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> AppResult<Vec<Delivery>> {
    db.fetch_all(
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
             AND ($2 = '' OR status = $2) AND id < $3 ORDER BY id DESC LIMIT $4"
        ),
        vec![
            webhook_id.into(),
            status.unwrap_or("").into(),
            before.unwrap_or(i64::MAX).into(),
            limit.into(),
        ],
    )
    .await
}

pub async fn delivery(db: &Db, webhook_id: i64, id: i64) -> AppResult<Delivery> {
    let mut db = db;
    db.row(
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 AND id = $2"
        ),
        vec![webhook_id.into(), id.into()],
    )
    .await?
    .ok_or(AppError::NotFound("delivery"))
}

/// Sends a delivery again from the start (its attempts count anew), due at `now`.
pub async fn resend(db: &Db, webhook_id: i64, id: i64, now: i64) -> AppResult<Delivery> {
    let n = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $3, \
         lease_until = NULL, delivered_at = NULL WHERE webhook_id = $1 AND id = $2",
    )
    .bind(webhook_id)
    .bind(id)
    .bind(now)
    .execute(&db.pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AppError::NotFound("delivery"));
    }
    delivery(db, webhook_id, id).await
}
