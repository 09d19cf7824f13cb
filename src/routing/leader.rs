//! The routing leader: exactly one node places, offers, times out and checks SLA clocks.
//! SQLite: the only node leads. PostgreSQL: the node holding a session advisory lock on a
//! dedicated connection leads; when it dies its connection closes, the lock frees, and a
//! follower (retrying every second) takes over. Assignments stay conditional regardless.

use crate::app::AppState;
use crate::db::lock::{ROUTING_LEADER, SessionLock};
use std::sync::atomic::Ordering;
use std::time::Duration;

const RETRY: Duration = Duration::from_secs(1);
/// Commits wake the leader (new work is placed and offered at once), but a busy node's stream
/// of commits must not turn the leader into a busy loop.
const MIN_GAP: Duration = Duration::from_millis(100);
/// The liveness check of the leader's lock connection answers within this, or leadership is
/// given up: a connection that hangs (a network partition without a reset) must not keep this
/// node routing unchecked while the lock may have freed for another node.
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(5);

/// True when `check` says the lock is held within `limit`; false when it says not, or hangs.
pub async fn alive_within(check: impl std::future::Future<Output = bool>, limit: Duration) -> bool {
    match tokio::time::timeout(limit, check).await {
        Ok(held) => held,
        Err(_) => {
            tracing::warn!(
                secs = limit.as_secs(),
                "routing leader: the lock's liveness check did not answer in time"
            );
            false
        }
    }
}

/// Runs for the node's life: wins leadership, then routes until the lock connection fails.
pub async fn run(state: AppState) {
    let url = state.config.database_url();
    loop {
        let lock = SessionLock::take(&state.db, &url, ROUTING_LEADER).await;
        state.leader.store(true, Ordering::SeqCst);
        tracing::info!("this node leads routing");
        lead(&state, lock).await;
        state.leader.store(false, Ordering::SeqCst);
        tracing::warn!("routing leadership lost");
        tokio::time::sleep(RETRY).await;
    }
}

/// One pass of routing work, in the order that keeps offers fair. `followed`: the events seq
/// the leader has followed tickets to (`offers::follow_tickets`).
pub async fn tick(state: &AppState, with_clocks: bool, followed: &mut Option<i64>) {
    let steps = async {
        super::offers::follow_tickets(state, followed).await?;
        super::offers::expire_offers(state).await?;
        super::offers::place_new_tickets(state).await?;
        super::offers::offer_waiting(state).await?;
        if with_clocks {
            super::sla::check_clocks(state).await?;
            super::presence::sweep_consoles(&state.db, state.config.presence_grace_secs).await?;
            crate::surveys::send_due(&crate::surveys::Sender {
                db: &state.db,
                clock: &state.clock,
                config: &state.config,
            })
            .await?;
            crate::complaints::remind_due(&crate::complaints::Reminders {
                db: &state.db,
                clock: &state.clock,
            })
            .await?;
        }
        Ok::<_, crate::error::AppError>(())
    };
    if let Err(e) = steps.await {
        tracing::warn!(error = %e, "routing pass failed");
    }
}

/// Aborts a task spawned for the time of this node's leadership when the leadership ends.
struct WhileLeading(tokio::task::JoinHandle<()>);

impl Drop for WhileLeading {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn lead(state: &AppState, mut lock: SessionLock) {
    // Outgoing webhooks are sent by the leader only (and each delivery is claimed before it is
    // sent), in a task of their own: a slow receiver must not hold up routing.
    let sender = crate::webhooks::Sender::new(state.db.clone(), state.clock.clone(), &state.config);
    let _webhooks = WhileLeading(tokio::spawn(crate::webhooks::run(sender)));
    // Customers are ranked by value in a task of its own too (seconds at a million customers).
    let ranker = crate::value::Ranker::new(state.db.clone(), state.clock.clone(), &state.config);
    let _ranking = WhileLeading(tokio::spawn(crate::value::run(ranker)));
    // The report rollups follow the events log on the leader only, in a task of their own.
    let follower = crate::reports::Follower {
        db: state.db.clone(),
    };
    let _reports = WhileLeading(tokio::spawn(crate::reports::run(follower)));
    let every = Duration::from_millis(state.config.routing_tick_ms.max(10));
    let mut last_check = tokio::time::Instant::now();
    // SLA clocks are checked every fourth pass (each second by default).
    let clock_every = every * 4;
    let mut last_clocks = tokio::time::Instant::now() - clock_every;
    let mut followed = None;
    loop {
        let committed = crate::realtime::events::COMMITTED.notified();
        tokio::pin!(committed);
        committed.as_mut().enable();
        let clocks = last_clocks.elapsed() >= clock_every;
        if clocks {
            last_clocks = tokio::time::Instant::now();
        }
        tick(state, clocks, &mut followed).await;
        if last_check.elapsed() >= RETRY {
            last_check = tokio::time::Instant::now();
            if !alive_within(lock.still_held(), LIVENESS_TIMEOUT).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_liveness_check_that_hangs_counts_as_lost() {
        let started = std::time::Instant::now();
        let hung = std::future::pending::<bool>();
        assert!(!alive_within(hung, Duration::from_millis(200)).await);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(alive_within(async { true }, Duration::from_millis(200)).await);
        assert!(!alive_within(async { false }, Duration::from_millis(200)).await);
    }
}
