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
        Ok(attempt(&mut conn, &sql)
            .await?
            .then_some(SessionLock { conn: Some(conn) }))
    }

    /// Waits until this node holds the lock, asking every second on one connection.
    pub async fn take(db: &Db, url: &str, key: i64) -> SessionLock {
        let Some(sql) = db.backend.try_lock(key) else {
            return SessionLock { conn: None };
        };
        loop {
            match sqlx::AnyConnection::connect(url).await {
                Ok(mut conn) => loop {
                    match attempt(&mut conn, &sql).await {
                        Ok(true) => return SessionLock { conn: Some(conn) },
                        Ok(false) => tokio::time::sleep(RETRY).await,
                        Err(e) => {
                            tracing::warn!(error = %e, key, "lock attempt failed");
                            break;
                        }
                    }
                },
                Err(e) => tracing::warn!(error = %e, key, "lock connection failed"),
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

async fn attempt(conn: &mut sqlx::AnyConnection, sql: &str) -> Result<bool, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(conn)
        .await?
        .try_get(0)
}
