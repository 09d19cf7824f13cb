//! The SMS sender: takes `channel = 'sms'` rows from the outbox and posts them to the Twilio
//! Messages API, with retry and backoff. Never touches other channels' rows.

use super::store;
use crate::app::AppState;
use crate::channels::outbox::{self, Claimed, Outcome};
use crate::channels::twilio::{self, RestError};
use crate::db::now_ms;
use crate::error::AppResult;
use serde_json::json;
use std::time::Duration;

/// Attempts before a message that keeps failing transiently is given up.
pub const MAX_ATTEMPTS: i64 = 6;

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

/// Sends what is due; returns how many rows it handled. Without Twilio credentials the
/// outbox waits (like email without a relay), so nothing queued is lost or failed. Rows are
/// claimed with the outbox lease (`channels::outbox`): on several nodes only one sends a row,
/// and a row whose sender died is taken again once its lease ran out.
pub async fn send_due(state: &AppState) -> AppResult<usize> {
    if state.config.twilio_account_sid.is_empty() || state.config.twilio_auth_token.is_empty() {
        return Ok(0);
    }
    let claimed = outbox::claim(
        &state.db,
        crate::tickets::Channel::Sms,
        &state.node_id,
        Duration::from_secs(state.config.outbox_lease_secs.max(1)),
        20,
    )
    .await?;
    let handled = claimed.len();
    for due in claimed {
        // One row's failure to record leaves the others going (its lease brings it back).
        if let Err(e) = send_one(state, &due).await {
            tracing::warn!(outbox = due.id, error = %e, "recording an sms send failed");
        }
    }
    Ok(handled)
}

async fn send_one(state: &AppState, due: &Claimed) -> AppResult<()> {
    let result = if store::is_opted_out(&state.db.pool, &due.recipient).await? {
        Err(RestError::Permanent {
            status: 0,
            code: None,
            message: format!("{} opted out of SMS", due.recipient),
        })
    } else {
        let callback = format!("{}/webhooks/twilio/sms/status", state.config.public_url());
        let from = state.config.twilio_sms_from.as_str();
        let body = due.payload["body"].as_str().unwrap_or_default();
        let mut params = vec![
            ("To", due.recipient.as_str()),
            ("Body", body),
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
    let attempts = due.attempts;
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
            if !outbox::finish(&mut tx, due, Outcome::Sent, None, None).await? {
                return Ok(());
            }
            (
                "sent",
                json!({"delivery": delivery, "sid": sid, "attempts": attempts}),
            )
        }
        Err(RestError::Transient(why)) if attempts < MAX_ATTEMPTS => {
            let retry = Outcome::RetryAt(now + backoff_ms(attempts - 1));
            if !outbox::finish(&mut tx, due, retry, Some(&why), None).await? {
                return Ok(());
            }
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
            if !outbox::finish(&mut tx, due, Outcome::Failed, Some(&why), None).await? {
                return Ok(());
            }
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
