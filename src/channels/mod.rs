//! Channel adapters: each speaks one outside system's wire format (parse, verify signatures,
//! send) and hands inbound messages to `intake`. They know nothing of routing or sockets.

pub mod email;
pub mod sms;
pub mod twilio;
pub mod voice;
pub mod web;

/// SQLite admits one writer at a time and lets the others sleep and retry (busy_timeout), which
/// costs milliseconds each under load; this process's webhook writers queue here instead.
/// PostgreSQL writers run concurrently: no turn is taken there.
pub async fn write_turn(db: &crate::db::Db) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    match db.backend {
        crate::db::Backend::Sqlite => Some(TURN.lock().await),
        crate::db::Backend::Postgres => None,
    }
}
