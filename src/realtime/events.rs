//! The events log: every change others must see appends a row here in the same transaction as
//! the change itself, so an event exists exactly when its change committed.

use crate::db::{Backend, Tx, now_ms};
use serde::Serialize;
use sqlx::Row;

/// Who may see an event: the members of `queue_id`, the user `user_id`, and supervisors always.
/// An event with neither is for supervisors only, unless `everyone` is set.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Scope {
    pub queue_id: Option<i64>,
    pub user_id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub customer_id: Option<i64>,
}

/// Appends one event and returns its sequence number.
pub async fn append(
    tx: &mut Tx<'_>,
    backend: Backend,
    kind: &str,
    scope: Scope,
    payload: &serde_json::Value,
) -> Result<i64, sqlx::Error> {
    if let Some(lock) = backend.event_order_lock() {
        sqlx::query(lock).execute(&mut **tx).await?;
    }
    let row = sqlx::query(
        "INSERT INTO events (at_ms, kind, queue_id, user_id, ticket_id, customer_id, payload) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
    )
    .bind(now_ms())
    .bind(kind)
    .bind(scope.queue_id)
    .bind(scope.user_id)
    .bind(scope.ticket_id)
    .bind(scope.customer_id)
    .bind(payload.to_string())
    .fetch_one(&mut **tx)
    .await?;
    row.try_get("seq")
}

/// Woken after every commit that appended events, so this node's hub reads them at once
/// (other nodes learn of them through PostgreSQL's NOTIFY).
pub static COMMITTED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Commits a transaction that appended events and wakes the hub.
pub async fn commit(tx: Tx<'_>) -> Result<(), sqlx::Error> {
    tx.commit().await?;
    COMMITTED.notify_waiters();
    Ok(())
}
