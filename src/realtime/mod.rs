//! Real time: the events log (written by the domain in its own transactions) and, built on it,
//! the hub and the /ws protocol. Carries only events the domain wrote; decides nothing itself.

pub mod events;
pub mod hub;
pub mod marks;
pub mod protocol;
pub mod ws;

use crate::db::Backend;
use std::sync::Arc;
use std::time::Duration;

/// Wakes this node's hub whenever another node commits events (PostgreSQL NOTIFY on the
/// channel the events trigger notifies). SQLite has one node and needs none.
pub async fn listen_for_commits(backend: Backend, url: String, hub: Arc<hub::Hub>) {
    let Some(channel) = backend.events_channel() else {
        return;
    };
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(channel).await {
                    tracing::warn!(error = %e, "LISTEN failed");
                } else {
                    // A lost connection makes recv reconnect; the hub's poll covers the gap.
                    while listener.recv().await.is_ok() {
                        hub.wake.notify_one();
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "LISTEN connection failed"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
