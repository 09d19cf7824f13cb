//! Twilio callers wait in Hotline's own queue: when routing offers such a call to an agent, the
//! agent's screen pops and the call shows as offered; when the agent accepts, the call is put
//! through to them. An agent leaving after-call work ends the calls in wrap-up it was for.
//! Follows the events log (as the hub does); never decides who gets a call.

use super::CallState;
use super::calls;
use super::store;
use crate::app::AppState;
use crate::error::AppResult;
use sqlx::Row;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Runs for the node's life. Only the routing leader acts, so a call is connected once even
/// when several nodes read the same events.
pub async fn follow_offers(state: AppState) {
    let mut last = match newest_seq(&state).await {
        Ok(seq) => seq,
        Err(e) => {
            tracing::warn!(error = %e, "voice cannot follow routing offers");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = crate::realtime::events::COMMITTED.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        match step(&state, last).await {
            Ok(seq) => last = seq,
            Err(e) => tracing::warn!(error = %e, "following routing offers failed"),
        }
    }
}

async fn newest_seq(state: &AppState) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM events")
        .fetch_one(&state.db.pool)
        .await?
        .try_get("seq")
}

async fn step(state: &AppState, last: i64) -> AppResult<i64> {
    // The newest seq is read first: an offer committed while the offers are read is left for
    // the next step instead of being skipped.
    let upto = newest_seq(state).await?;
    if upto <= last || !state.leader.load(Ordering::SeqCst) {
        return Ok(upto.max(last));
    }
    let rows = sqlx::query(
        "SELECT seq, kind, user_id, payload FROM events WHERE seq > $1 AND seq <= $2 \
         AND kind IN ('offer.created', 'offer.closed', 'presence.changed') ORDER BY seq LIMIT $3",
    )
    .bind(last)
    .bind(upto)
    .bind(BATCH)
    .fetch_all(&state.db.pool)
    .await?;
    let mut seq = last;
    for r in &rows {
        seq = r.try_get("seq")?;
        let kind: String = r.try_get("kind")?;
        let user_id: Option<i64> = r.try_get("user_id")?;
        let payload: serde_json::Value =
            serde_json::from_str(&r.try_get::<String, _>("payload")?).unwrap_or_default();
        let Some(user_id) = user_id else { continue };
        if kind == "presence.changed" {
            // Leaving wrap-up (by hand or when its time ran out) ends the calls it was for.
            if payload["state"] != "wrap_up"
                && let Err(e) = calls::end_wrap_up(state, user_id).await
            {
                tracing::warn!(error = %e, user_id, "ending wrap-up calls failed");
            }
        } else if let Some(ticket_id) = payload["ticket_id"].as_i64()
            && let Err(e) = on_offer(state, &kind, user_id, ticket_id, &payload).await
        {
            tracing::warn!(error = %e, ticket_id, "voice offer step failed");
        }
    }
    // A full batch may have more behind it; otherwise everything up to `upto` is seen.
    let full = rows.len() as i64 == BATCH;
    Ok(if full { seq } else { upto })
}

const BATCH: i64 = 500;

async fn on_offer(
    state: &AppState,
    kind: &str,
    user_id: i64,
    ticket_id: i64,
    payload: &serde_json::Value,
) -> AppResult<()> {
    let Some(call) = store::find_waiting_twilio_call(&state.db.pool, ticket_id).await? else {
        return Ok(());
    };
    match (kind, payload["outcome"].as_str()) {
        ("offer.created", _) => {
            // The pop first: by the time the call shows as offered, the agent's screen has it.
            calls::pop_screen(state, &call, user_id).await?;
            calls::set_state(state, call.id, CallState::Offered).await?;
        }
        ("offer.closed", Some("accepted")) => {
            let user = crate::auth::store::find_user(&state.db, user_id).await?;
            calls::connect_call_to_agent(state, &call, &user).await?;
        }
        ("offer.closed", _) => {
            calls::set_state(state, call.id, CallState::Queued).await?;
        }
        _ => {}
    }
    Ok(())
}
