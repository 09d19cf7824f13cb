//! The events log: every change others must see appends a row here in the same transaction as
//! the change itself, so an event exists exactly when its change committed.

use crate::db::{Backend, Db, Exec, Tx, WriteJob, now_ms};
use crate::error::{AppError, AppResult};
use serde::Serialize;

/// Who may see an event: the members of `queue_id`, the user `user_id`, and supervisors always.
/// An event with neither is for supervisors only, unless `everyone` is set.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Scope {
    pub queue_id: Option<i64>,
    pub user_id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub customer_id: Option<i64>,
}

/// Takes the events-order lock now (PostgreSQL; SQLite has one writer anyway), as appending an
/// event would later. Every other transaction that appends events then waits for this one's
/// commit, and what this one reads from here on includes all they committed: a transaction that
/// decides on what it reads (is there work for this ticket yet?) takes it first.
pub async fn order<E: Exec>(tx: &mut E, backend: Backend) -> AppResult<()> {
    if let Some(lock) = backend.event_order_lock() {
        tx.run(lock, vec![]).await?;
    }
    Ok(())
}

/// Appends one event and returns its sequence number.
pub async fn append<E: Exec>(
    tx: &mut E,
    backend: Backend,
    kind: &str,
    scope: Scope,
    payload: &serde_json::Value,
) -> AppResult<i64> {
    order(tx, backend).await?;
    let seq = tx
        .row(
            "INSERT INTO events (at_ms, kind, queue_id, user_id, ticket_id, customer_id, payload) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq AS id",
            vec![
                now_ms().into(),
                kind.into(),
                scope.queue_id.into(),
                scope.user_id.into(),
                scope.ticket_id.into(),
                scope.customer_id.into(),
                payload.to_string().into(),
            ],
        )
        .await?;
    seq.ok_or(AppError::Internal(anyhow::anyhow!("no seq returned")))
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

/// Runs a job that appends events on the write path (`Db::write`) and wakes the hub once it
/// committed.
pub async fn write<J: WriteJob>(db: &Db, job: J) -> AppResult<J::Out> {
    let out = db.write(job).await?;
    COMMITTED.notify_waiters();
    Ok(out)
}
