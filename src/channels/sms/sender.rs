//! The SMS sender: takes `channel = 'sms'` rows from the outbox and posts them to the Twilio
//! Messages API, with retry and backoff. Never touches other channels' rows.

use super::store;
use crate::app::AppState;
use crate::channels::twilio::{self, RestError};
use crate::db::now_ms;
use crate::error::AppResult;
use serde_json::json;
use sqlx::Row;
use std::time::Duration;

/// Attempts before a message that keeps failing transiently is given up.
pub const MAX_ATTEMPTS: i64 = 6;
/// A claimed row whose sender died is taken again after this lease.
const LEASE_MS: i64 = 120_000;

/// Runs forever: wakes on every commit that appended events (a reply was queued) and at least
/// once a second (retries that came due).
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let woken = crate::realtime::events::COMMITTED.notified();
            match send_due(&state).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sms sender"),
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), woken).await;
        }
    })
}

/// Backoff after `attempts` failures: 1 s, 2 s, 4 s … at most 5 minutes.
pub fn backoff_ms(attempts: i64) -> i64 {
    1000 * (1i64 << attempts.clamp(0, 8)).min(300)
}

struct Due {
    id: i64,
    interaction_id: Option<i64>,
    recipient: String,
    body: String,
    attempts: i64,
}

/// Sends what is due; returns how many rows it handled. Without Twilio credentials the
/// outbox waits (like email without a relay), so nothing queued is lost or failed.
pub async fn send_due(state: &AppState) -> AppResult<usize> {
    if state.config.twilio_account_sid.is_empty() || state.config.twilio_auth_token.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let rows = sqlx::query(
        "SELECT id, interaction_id, recipient, payload, attempts FROM outbox \
         WHERE channel = 'sms' AND status IN ('pending', 'sending') AND next_attempt_at <= $1 \
         ORDER BY id LIMIT 20",
    )
    .bind(now)
    .fetch_all(&state.db.pool)
    .await?;
    let mut handled = 0;
    for r in rows {
        let payload: serde_json::Value =
            serde_json::from_str(&r.try_get::<String, _>("payload")?).unwrap_or_default();
        let due = Due {
            id: r.try_get("id")?,
            interaction_id: r.try_get("interaction_id")?,
            recipient: r.try_get("recipient")?,
            body: payload["body"].as_str().unwrap_or_default().to_string(),
            attempts: r.try_get("attempts")?,
        };
        // Claim with a lease, conditionally: on several nodes only one sends a row.
        let claimed = sqlx::query(
            "UPDATE outbox SET status = 'sending', next_attempt_at = $2 \
             WHERE id = $1 AND status IN ('pending', 'sending') AND next_attempt_at <= $3",
        )
        .bind(due.id)
        .bind(now + LEASE_MS)
        .bind(now)
        .execute(&state.db.pool)
        .await?
        .rows_affected();
        if claimed == 1 {
            send_one(state, &due).await?;
            handled += 1;
        }
    }
    Ok(handled)
}

async fn send_one(state: &AppState, due: &Due) -> AppResult<()> {
    let result = if store::is_opted_out(&state.db.pool, &due.recipient).await? {
        Err(RestError::Permanent {
            status: 0,
            code: None,
            message: format!("{} opted out of SMS", due.recipient),
        })
    } else {
        let callback = format!("{}/webhooks/twilio/sms/status", state.config.public_url());
        let from = state.config.twilio_sms_from.as_str();
        let mut params = vec![
            ("To", due.recipient.as_str()),
            ("Body", due.body.as_str()),
            ("StatusCallback", callback.as_str()),
        ];
        // A messaging service sid (MG…) picks its own sender number.
        params.push(if from.starts_with("MG") {
            ("MessagingServiceSid", from)
        } else {
            ("From", from)
        });
        twilio::post(&state.config, "Messages.json", &params).await
    };
    let now = now_ms();
    let attempts = due.attempts + 1;
    let mut tx = state.db.begin().await?;
    let (status, patch) = match result {
        Ok(answer) => {
            let sid = answer["sid"].as_str().unwrap_or_default().to_string();
            if let Some(iid) = due.interaction_id
                && !sid.is_empty()
            {
                store::set_external_id(&mut tx, iid, &sid).await?;
            }
            let delivery = answer["status"].as_str().unwrap_or("queued").to_string();
            sqlx::query(
                "UPDATE outbox SET status = 'sent', attempts = $2, sent_at = $3, last_error = NULL \
                 WHERE id = $1",
            )
            .bind(due.id)
            .bind(attempts)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            (
                "sent",
                json!({"delivery": delivery, "sid": sid, "attempts": attempts}),
            )
        }
        Err(RestError::Transient(why)) if attempts < MAX_ATTEMPTS => {
            sqlx::query(
                "UPDATE outbox SET status = 'pending', attempts = $2, next_attempt_at = $3, \
                 last_error = $4 WHERE id = $1",
            )
            .bind(due.id)
            .bind(attempts)
            .bind(now + backoff_ms(attempts - 1))
            .bind(&why)
            .execute(&mut *tx)
            .await?;
            tracing::info!(outbox = due.id, attempts, error = %why, "sms will be retried");
            (
                "retry",
                json!({"delivery": "retrying", "last_error": why, "attempts": attempts}),
            )
        }
        Err(e) => {
            let code = match &e {
                RestError::Permanent { code, .. } => *code,
                RestError::Transient(_) => None,
            };
            let why = e.to_string();
            sqlx::query(
                "UPDATE outbox SET status = 'failed', attempts = $2, last_error = $3 WHERE id = $1",
            )
            .bind(due.id)
            .bind(attempts)
            .bind(&why)
            .execute(&mut *tx)
            .await?;
            tracing::warn!(outbox = due.id, error = %why, "sms failed for good");
            (
                "failed",
                json!({"delivery": "failed", "error": why, "error_code": code, "attempts": attempts}),
            )
        }
    };
    if let Some(iid) = due.interaction_id {
        // A late status callback may already have moved the message on; keep the later state.
        let current = crate::tickets::store::find_interaction(&state.db, iid).await;
        let ahead = current.is_ok_and(|i| {
            super::delivery_rank(i.meta["delivery"].as_str().unwrap_or(""))
                > super::delivery_rank(patch["delivery"].as_str().unwrap_or(""))
        });
        if !ahead || status != "sent" {
            store::update_delivery(&mut tx, &state.db, iid, &patch).await?;
        }
    }
    crate::realtime::events::commit(tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(0), 1000);
        assert_eq!(backoff_ms(3), 8000);
        assert_eq!(backoff_ms(20), 256_000);
    }
}
