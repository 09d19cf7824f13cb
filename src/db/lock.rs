//! Cluster-wide locks for work exactly one node may do (routing leadership, polling the IMAP
//! mailbox). On PostgreSQL a session advisory lock held by a dedicated connection: when the node
//! dies its connection closes, the lock frees, and another node (retrying every second) takes
//! it. SQLite runs a single node, which always holds every lock.

use super::Db;
use sqlx::{Connection, Row};
use std::time::Duration;

/// Routing leadership (the events order lock is 7400001).
pub const ROUTING_LEADER: i64 = 7_400_002;
/// The one poller of the configured IMAP mailbox.
pub const IMAP_POLLER: i64 = 7_400_003;

const RETRY: Duration = Duration::from_secs(1);

/// A held lock; released when dropped.
pub struct SessionLock {
    conn: Option<sqlx::AnyConnection>,
}

impl SessionLock {
    /// One attempt: the lock, or None when another node holds it.
    pub async fn try_take(
        db: &Db,
        url: &str,
        key: i64,
    ) -> Result<Option<SessionLock>, sqlx::Error> {
        let Some(sql) = db.backend.try_lock(key) else {
            return Ok(Some(SessionLock { conn: None }));
        };
        let mut conn = sqlx::AnyConnection::connect(url).await?;
        let got: bool = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await?
            .try_get(0)?;
        Ok(got.then_some(SessionLock { conn: Some(conn) }))
    }

    /// Waits until this node holds the lock.
    pub async fn take(db: &Db, url: &str, key: i64) -> SessionLock {
        loop {
            match SessionLock::try_take(db, url, key).await {
                Ok(Some(lock)) => return lock,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, key, "lock attempt failed"),
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    /// False once the connection holding the lock is gone (the lock may be another's now).
    pub async fn still_held(&mut self) -> bool {
        match &mut self.conn {
            Some(conn) => sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok(),
            None => true,
        }
    }
}
