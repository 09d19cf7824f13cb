//! The outbox claim: one design for every sender (email, SMS), so that two nodes never send one
//! message and a node that dies mid-send does not hold its messages forever.
//!
//! A sender claims due rows in one statement: status 'sending', `lease_until = now + lease`,
//! `claimed_by = node id`, `attempts + 1` (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent
//! claimers take different rows; SQLite has one writer). Due means pending with its retry time
//! reached, or 'sending' with an expired lease (the claimer died or could not record the
//! outcome). Nothing is reset at start. Recording the outcome (`finish`) only changes the row
//! while the claim is still the caller's (same node, same attempt): a sender that outlived its
//! lease learns it lost the row instead of overwriting the newer claimer's result.

use crate::db::{Tx, now_ms};
use crate::error::AppResult;
use crate::tickets::Channel;
use serde_json::Value;
use sqlx::Row;
use std::time::Duration;

/// One claimed outbox row.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub interaction_id: Option<i64>,
    pub recipient: String,
    pub payload: Value,
    /// Attempts including this one.
    pub attempts: i64,
    /// The node that holds the claim.
    pub claimed_by: String,
}

/// Claims up to `limit` due rows of `channel` for node `node` for `lease`, oldest first.
pub async fn claim(
    db: &crate::db::Db,
    channel: Channel,
    node: &str,
    lease: Duration,
    limit: i64,
) -> AppResult<Vec<Claimed>> {
    let now = now_ms();
    let sql = format!(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until = $3, \
         claimed_by = $4 WHERE id IN \
         (SELECT id FROM outbox WHERE channel = $1 \
          AND ((status = 'pending' AND next_attempt_at <= $2) \
               OR (status = 'sending' AND lease_until <= $2)) \
          ORDER BY id LIMIT $5{}) \
         RETURNING id, ticket_id, interaction_id, recipient, payload, attempts",
        db.backend.skip_locked()
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(channel.as_str())
        .bind(now)
        .bind(now.saturating_add(lease.as_millis() as i64))
        .bind(node)
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
    let mut claimed = rows
        .iter()
        .map(|r| {
            Ok(Claimed {
                id: r.try_get("id")?,
                ticket_id: r.try_get("ticket_id")?,
                interaction_id: r.try_get("interaction_id")?,
                recipient: r.try_get("recipient")?,
                payload: serde_json::from_str(&r.try_get::<String, _>("payload")?)
                    .unwrap_or_default(),
                attempts: r.try_get("attempts")?,
                claimed_by: node.to_string(),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// How a send ended, as the outbox row records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Try again at this time (unix ms).
    RetryAt(i64),
    Failed,
}

impl Outcome {
    pub fn status(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::RetryAt(_) => "pending",
            Outcome::Failed => "failed",
        }
    }
}

/// Records the outcome of claim `c` inside `tx`, with `error` and, when given, a new payload.
/// False (nothing changed) when the claim is no longer the caller's: its lease ran out and
/// another claim took the row. The caller then drops `tx` and leaves the row alone.
pub async fn finish(
    tx: &mut Tx<'_>,
    c: &Claimed,
    outcome: Outcome,
    error: Option<&str>,
    payload: Option<&Value>,
) -> AppResult<bool> {
    let now = now_ms();
    let next = match outcome {
        Outcome::RetryAt(at) => Some(at),
        _ => None,
    };
    let changed = sqlx::query(
        "UPDATE outbox SET status = $4, last_error = $5, \
         next_attempt_at = COALESCE($6, next_attempt_at), \
         sent_at = CASE WHEN $4 = 'sent' THEN $7 ELSE sent_at END, \
         payload = COALESCE($8, payload), lease_until = 0 \
         WHERE id = $1 AND status = 'sending' AND claimed_by = $2 AND attempts = $3",
    )
    .bind(c.id)
    .bind(&c.claimed_by)
    .bind(c.attempts)
    .bind(outcome.status())
    .bind(error)
    .bind(next)
    .bind(now)
    .bind(payload.map(Value::to_string))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed != 1 {
        tracing::warn!(
            outbox = c.id,
            attempts = c.attempts,
            "outbox claim lost (its lease ran out and another sender took the row); outcome not recorded"
        );
        metrics::counter!("hotline_outbox_claims_lost_total").increment(1);
    }
    Ok(changed == 1)
}
