//! The routing leader: exactly one node places, offers, times out and checks SLA clocks.
//! SQLite: the only node leads. PostgreSQL: the node holding a session advisory lock on a
//! dedicated connection leads; when it dies its connection closes, the lock frees, and a
//! follower (retrying every second) takes over. Assignments stay conditional regardless.

use crate::app::AppState;
use crate::db::Backend;
use sqlx::{Connection, Row};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The advisory lock key of routing leadership (the events order lock is 7400001).
pub const LEADER_LOCK_KEY: i64 = 7_400_002;
const RETRY: Duration = Duration::from_secs(1);
/// Commits wake the leader (new work is placed and offered at once), but a busy node's stream
/// of commits must not turn the leader into a busy loop.
const MIN_GAP: Duration = Duration::from_millis(100);

/// Runs for the node's life: wins leadership, then routes until the lock connection fails.
pub async fn run(state: AppState) {
    loop {
        let lock = match state.db.backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(acquire(&state).await),
        };
        state.leader.store(true, Ordering::SeqCst);
        tracing::info!("this node leads routing");
        lead(&state, lock).await;
        state.leader.store(false, Ordering::SeqCst);
        tracing::warn!("routing leadership lost");
        tokio::time::sleep(RETRY).await;
    }
}

/// Waits until this node holds the leader lock; returns the connection that holds it.
async fn acquire(state: &AppState) -> sqlx::AnyConnection {
    let sql = state
        .db
        .backend
        .try_lock(LEADER_LOCK_KEY)
        .unwrap_or_default();
    let url = state.config.database_url();
    loop {
        match sqlx::AnyConnection::connect(&url).await {
            Ok(mut conn) => loop {
                match sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .fetch_one(&mut conn)
                    .await
                    .and_then(|r| r.try_get::<bool, _>(0))
                {
                    Ok(true) => return conn,
                    Ok(false) => tokio::time::sleep(RETRY).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "leader lock attempt failed");
                        break;
                    }
                }
            },
            Err(e) => tracing::warn!(error = %e, "leader lock connection failed"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// One pass of routing work, in the order that keeps offers fair.
pub async fn tick(state: &AppState, with_clocks: bool) {
    let steps = async {
        super::offers::follow_tickets(state).await?;
        super::offers::expire_offers(state).await?;
        super::offers::place_new_tickets(state).await?;
        super::offers::offer_waiting(state).await?;
        if with_clocks {
            super::sla::check_clocks(state).await?;
        }
        Ok::<_, crate::error::AppError>(())
    };
    if let Err(e) = steps.await {
        tracing::warn!(error = %e, "routing pass failed");
    }
}

async fn lead(state: &AppState, mut lock: Option<sqlx::AnyConnection>) {
    let every = Duration::from_millis(state.config.routing_tick_ms.max(10));
    let mut last_check = tokio::time::Instant::now();
    // SLA clocks are checked every fourth pass (each second by default).
    let clock_every = every * 4;
    let mut last_clocks = tokio::time::Instant::now() - clock_every;
    loop {
        let committed = crate::realtime::events::COMMITTED.notified();
        tokio::pin!(committed);
        committed.as_mut().enable();
        let clocks = last_clocks.elapsed() >= clock_every;
        if clocks {
            last_clocks = tokio::time::Instant::now();
        }
        tick(state, clocks).await;
        if let Some(conn) = lock.as_mut()
            && last_check.elapsed() >= RETRY
        {
            last_check = tokio::time::Instant::now();
            if sqlx::query("SELECT 1").execute(&mut *conn).await.is_err() {
                return;
            }
        }
        tokio::select! {
            _ = &mut committed => {}
            _ = tokio::time::sleep(every) => {}
        }
        tokio::time::sleep(MIN_GAP).await;
    }
}
