//! The system status at a glance (`GET /api/system/status`): the SMTP receiver, the IMAP poller
//! (its last poll, success and error, stored in `channel_status` so that every node shows what
//! the polling node saw), Twilio and CTI, the outbox backlog and failures per channel, the
//! quarantined inbound mail, the database, this node. Each item carries a `status` (`ok`,
//! `warning`, `error`, `off`: not configured) and a console `link` to act on it.

use crate::app::AppState;
use crate::db::{Db, now_ms};
use crate::error::{AppError, AppResult};
use crate::http::extract::Query;
use crate::http::{Access, Routes};
use axum::extract::State;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;

/// The `channel_status` row of the IMAP poller.
pub const IMAP: &str = "imap";

/// When the process started (unix ms), for the uptime.
static STARTED_MS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();

/// Notes the start of the process (the first call wins).
pub fn mark_started() {
    STARTED_MS.get_or_init(now_ms);
}

/// A connector of `component` on `node` finished a pass successfully.
pub async fn record_ok(db: &Db, component: &str, node: &str) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO channel_status (component, node, last_poll_at, last_ok_at) \
         VALUES ($1, $2, $3, $3) ON CONFLICT (component) DO UPDATE SET node = excluded.node, \
         last_poll_at = excluded.last_poll_at, last_ok_at = excluded.last_ok_at",
    )
    .bind(component)
    .bind(node)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A connector of `component` on `node` failed with `error` (kept to 500 characters).
pub async fn record_error(db: &Db, component: &str, node: &str, error: &str) -> AppResult<()> {
    let now = now_ms();
    let error: String = error.chars().take(500).collect();
    sqlx::query(
        "INSERT INTO channel_status (component, node, last_poll_at, last_error, last_error_at) \
         VALUES ($1, $2, $3, $4, $3) ON CONFLICT (component) DO UPDATE SET node = excluded.node, \
         last_poll_at = excluded.last_poll_at, last_error = excluded.last_error, \
         last_error_at = excluded.last_error_at",
    )
    .bind(component)
    .bind(node)
    .bind(now)
    .bind(error)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The text of an error as the status page shows it: an internal error's cause chain (the
/// client-facing text of `AppError::Internal` says only "internal error").
pub fn error_text(e: &AppError) -> String {
    match e {
        AppError::Internal(inner) => format!("{inner:#}"),
        other => other.to_string(),
    }
}

async fn count(db: &Db, sql: &str, param: &str) -> AppResult<i64> {
    let row = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(param)
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get::<i64, _>("n")?)
}

/// One channel's outbox: messages waiting (pending or being sent), failed for good, and the
/// oldest waiting one's creation time.
async fn outbox(db: &Db, channel: &str, link: &str) -> AppResult<Value> {
    let waiting = count(
        db,
        "SELECT COUNT(*) AS n FROM outbox WHERE channel = $1 AND status IN ('pending', 'sending')",
        channel,
    )
    .await?;
    let failed = count(
        db,
        "SELECT COUNT(*) AS n FROM outbox WHERE channel = $1 AND status = 'failed'",
        channel,
    )
    .await?;
    let oldest: Option<i64> = sqlx::query(
        "SELECT MIN(created_at) AS t FROM outbox WHERE channel = $1 \
         AND status IN ('pending', 'sending')",
    )
    .bind(channel)
    .fetch_one(&db.pool)
    .await?
    .try_get("t")?;
    let status = if failed > 0 { "warning" } else { "ok" };
    Ok(json!({
        "waiting": waiting,
        "failed": failed,
        "oldest_waiting_at": oldest,
        "status": status,
        "link": link,
    }))
}

/// The status of every channel and of this node.
pub async fn status(state: &AppState) -> AppResult<Value> {
    let c = &state.config;
    let db = &state.db;
    let now = now_ms();

    let smtp_configured = !c.smtp_listen.is_empty();
    let smtp = json!({
        "configured": smtp_configured,
        "address": state.smtp_addr.map(|a| a.to_string()).unwrap_or_else(|| c.smtp_listen.clone()),
        "listening": state.smtp_addr.is_some(),
        "lmtp": c.smtp_lmtp,
        "relay_configured": !c.smtp_relay.is_empty(),
        "status": match (smtp_configured, state.smtp_addr.is_some()) {
            (false, _) => "off",
            (true, true) => "ok",
            (true, false) => "error",
        },
        "link": "#/admin/mail",
    });

    let row = sqlx::query(
        "SELECT node, last_poll_at, last_ok_at, last_error, last_error_at FROM channel_status \
         WHERE component = $1",
    )
    .bind(IMAP)
    .fetch_optional(&db.pool)
    .await?;
    let (node, last_poll, last_ok, last_error, last_error_at) = match &row {
        Some(r) => (
            r.try_get::<String, _>("node")?,
            r.try_get::<Option<i64>, _>("last_poll_at")?,
            r.try_get::<Option<i64>, _>("last_ok_at")?,
            r.try_get::<Option<String>, _>("last_error")?,
            r.try_get::<Option<i64>, _>("last_error_at")?,
        ),
        None => (String::new(), None, None, None, None),
    };
    let imap_configured = !c.imap_host.is_empty();
    // A pass ends at least every poll interval (IDLE waits as long); three missed is a warning.
    let stale_after =
        3 * 1000 * c.imap_poll_secs.clamp(1, 60) as i64 + 1000 * c.imap_timeout_secs as i64;
    let imap_status = if !imap_configured {
        "off"
    } else if last_error_at.is_some_and(|e| last_ok.is_none_or(|ok| e > ok)) {
        "error"
    } else if last_ok.is_none_or(|ok| now - ok > stale_after) {
        "warning"
    } else {
        "ok"
    };
    let imap = json!({
        "configured": imap_configured,
        "host": c.imap_host,
        "folder": c.imap_folder,
        "node": (!node.is_empty()).then_some(node),
        "last_poll_at": last_poll,
        "last_ok_at": last_ok,
        "last_error": last_error,
        "last_error_at": last_error_at,
        "status": imap_status,
        "link": "#/admin/mail?status=quarantined",
    });

    let twilio_configured = !c.twilio_auth_token.is_empty();
    let sms_sending = !c.twilio_account_sid.is_empty() && !c.twilio_sms_from.is_empty();
    let twilio = json!({
        "configured": twilio_configured,
        "sms_sending": sms_sending,
        "status": match (twilio_configured, sms_sending) {
            (false, _) => "off",
            (true, true) => "ok",
            // Webhooks are verified, but replies by SMS cannot go out.
            (true, false) => "warning",
        },
        "link": "#/admin/phone",
    });
    let cti_configured = !c.cti_token.is_empty();
    let cti = json!({
        "configured": cti_configured,
        "status": if cti_configured { "ok" } else { "off" },
        "link": "#/admin/phone",
    });

    let mut email_outbox = outbox(db, "email", "#/admin/system?outbox=email").await?;
    if email_outbox["waiting"].as_i64().unwrap_or(0) > 0 && c.smtp_relay.is_empty() {
        // Without a relay, outgoing mail waits.
        email_outbox["status"] = json!("warning");
    }
    let sms_outbox = outbox(db, "sms", "#/admin/system?outbox=sms").await?;
    let quarantined = count(
        db,
        "SELECT COUNT(*) AS n FROM inbound_mail WHERE status = $1",
        "quarantined",
    )
    .await?;

    let started = *STARTED_MS.get_or_init(now_ms);
    Ok(json!({
        "at_ms": now,
        "smtp": smtp,
        "imap": imap,
        "twilio": twilio,
        "cti": cti,
        "outbox": {"email": email_outbox, "sms": sms_outbox},
        "quarantine": {
            "count": quarantined,
            "status": if quarantined > 0 { "warning" } else { "ok" },
            "link": "#/admin/mail?status=quarantined",
        },
        "database": {
            "kind": match db.backend {
                crate::db::Backend::Sqlite => "sqlite",
                crate::db::Backend::Postgres => "postgres",
            },
            "status": if db.ping().await { "ok" } else { "error" },
        },
        "node": {
            "id": state.node_id.to_string(),
            "routing_leader": state.leader.load(std::sync::atomic::Ordering::SeqCst),
            "version": env!("CARGO_PKG_VERSION"),
            "started_at": started,
            "uptime_secs": (now - started).max(0) / 1000,
        },
    }))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        "GET",
        "/api/system/status",
        "ops",
        Access::Supervisor,
        "Channel status at a glance: SMTP receiver, IMAP poller (last poll, success, error), \
         Twilio, CTI, outbox backlog and failures, quarantined mail, database, this node; each \
         with a status and a console link",
        get(get_status),
    )
    .add(
        "GET",
        "/api/system/outbox",
        "ops",
        Access::Admin,
        "Outgoing messages of a channel (email, sms) by status (pending, sending, failed, \
         sent), newest first, with their last error; pages with before_id and limit",
        get(list_outbox),
    )
}

async fn get_status(State(state): State<AppState>) -> AppResult<axum::Json<Value>> {
    Ok(axum::Json(status(&state).await?))
}

#[derive(Deserialize)]
struct OutboxQuery {
    channel: Option<String>,
    status: Option<String>,
    before_id: Option<i64>,
    limit: Option<i64>,
}

/// The outbox rows of a channel and status: what failed and why (the recipient, the ticket,
/// attempts, the last error), never the message's text.
async fn list_outbox(
    State(state): State<AppState>,
    Query(q): Query<OutboxQuery>,
) -> AppResult<axum::Json<Vec<Value>>> {
    let channel = q.channel.unwrap_or_else(|| "email".into());
    if !["email", "sms"].contains(&channel.as_str()) {
        return Err(AppError::validation(
            "channel",
            "channel must be email or sms",
        ));
    }
    let status = q.status.unwrap_or_else(|| "failed".into());
    if !["pending", "sending", "failed", "sent"].contains(&status.as_str()) {
        return Err(AppError::validation(
            "status",
            "status must be pending, sending, failed or sent",
        ));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let rows = sqlx::query(
        "SELECT id, ticket_id, interaction_id, recipient, status, attempts, next_attempt_at, \
         last_error, created_at, sent_at FROM outbox WHERE channel = $1 AND status = $2 \
         AND id < $3 ORDER BY id DESC LIMIT $4",
    )
    .bind(&channel)
    .bind(&status)
    .bind(q.before_id.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&state.db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(json!({
            "id": r.try_get::<i64, _>("id")?,
            "channel": channel,
            "ticket_id": r.try_get::<Option<i64>, _>("ticket_id")?,
            "interaction_id": r.try_get::<Option<i64>, _>("interaction_id")?,
            "recipient": r.try_get::<String, _>("recipient")?,
            "status": r.try_get::<String, _>("status")?,
            "attempts": r.try_get::<i64, _>("attempts")?,
            "next_attempt_at": r.try_get::<i64, _>("next_attempt_at")?,
            "last_error": r.try_get::<Option<String>, _>("last_error")?,
            "created_at": r.try_get::<i64, _>("created_at")?,
            "sent_at": r.try_get::<Option<i64>, _>("sent_at")?,
        }));
    }
    Ok(axum::Json(out))
}
