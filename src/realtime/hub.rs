//! The events hub: one task per node reads new rows of the events log in seq order and fans them
//! out to the connected consoles in their scope, never waiting on any one of them. Also carries
//! the wallboard's `queue_stats` to supervisors. Decides nothing: it only delivers what was written.

use super::protocol::{EVERYONE_KINDS, ResyncReason, ServerFrame};
use crate::db::{Db, now_ms};
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};

/// Rows read per query; a full batch is followed by another read at once.
const BATCH: i64 = 500;
/// A resume further behind than this many events is answered with `resync` instead.
pub const MAX_REPLAY: i64 = 50_000;
/// Membership is re-read this often even without a `queue.members` event (another node's
/// change arrives as an event too; this is the safety net).
const MEMBERS_REFRESH: Duration = Duration::from_secs(5);
const FALLBACK_POLL: Duration = Duration::from_millis(200);
/// Every this often one query checks the tokens of all open websockets of this node: a token
/// deleted (sign-out, password or role change, on any node), expired, or of a deactivated user
/// closes its sockets with `session_ended`.
pub const SESSION_CHECK: Duration = Duration::from_secs(3);
/// Token hashes per query of that check (2,000 sockets: one query of ~15 ms on PostgreSQL,
/// ~20 ms on SQLite, debug build).
const SESSION_CHECK_CHUNK: usize = 2048;

/// One frame for one connection. `seq` is the event's (0 for frames outside the log) so that
/// the connection can drop what it already delivered during a replay.
#[derive(Clone)]
pub struct Outgoing {
    pub seq: i64,
    pub text: Arc<str>,
}

/// A row of the events log, as the hub and replays read it.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: String,
    pub queue_id: Option<i64>,
    pub user_id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub payload: String,
}

impl EventRow {
    pub fn frame_text(&self) -> String {
        let payload: serde_json::Value =
            serde_json::from_str(&self.payload).unwrap_or(serde_json::Value::Null);
        ServerFrame::Event {
            seq: self.seq,
            kind: &self.kind,
            at_ms: self.at_ms,
            queue_id: self.queue_id,
            user_id: self.user_id,
            ticket_id: self.ticket_id,
            customer_id: self.customer_id,
            payload: &payload,
        }
        .to_text()
    }
}

/// Who a connection is, for scope checks.
#[derive(Clone, Copy, Debug)]
pub struct Viewer {
    pub user_id: i64,
    pub supervisor: bool,
}

struct Conn {
    viewer: Viewer,
    /// SHA-256 of the token (session cookie or bearer) the socket was opened with.
    token_hash: Arc<str>,
    tx: mpsc::Sender<Outgoing>,
    overflow: Arc<Notify>,
    ended: Arc<SessionEnd>,
}

/// Set when a connection's session ended; the connection then closes with `session_ended`.
#[derive(Default)]
pub struct SessionEnd {
    flag: std::sync::atomic::AtomicBool,
    notify: Notify,
}

impl SessionEnd {
    fn end(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    pub fn has_ended(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Completes once the session has ended.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.has_ended() {
                return;
            }
            notified.await;
        }
    }
}

#[derive(Default)]
struct Inner {
    last_seq: i64,
    conns: HashMap<u64, Conn>,
    /// queue id → its members.
    members: HashMap<i64, HashSet<i64>>,
}

impl Inner {
    fn in_scope(&self, v: Viewer, ev: &EventRow) -> bool {
        if ev.user_id == Some(v.user_id) {
            return true;
        }
        // A screen pop carries the caller's whole 360 and is for the ringing agent alone; a
        // notification (a mention) is one user's too.
        if ev.kind == "screen_pop" || ev.kind.starts_with("notification") {
            return false;
        }
        if v.supervisor {
            return true;
        }
        if let Some(q) = ev.queue_id {
            return self.members.get(&q).is_some_and(|m| m.contains(&v.user_id));
        }
        ev.user_id.is_none() && EVERYONE_KINDS.iter().any(|k| ev.kind.starts_with(k))
    }

    /// Hands `out` to a connection without waiting; a full buffer drops that connection.
    fn offer(&mut self, id: u64, out: &Outgoing) -> bool {
        let Some(c) = self.conns.get(&id) else {
            return false;
        };
        match c.tx.try_send(out.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                c.overflow.notify_one();
                self.conns.remove(&id);
                metrics::counter!("hotline_ws_overflows_total").increment(1);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.conns.remove(&id);
                false
            }
        }
    }
}

pub struct Hub {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    /// Woken by this node's LISTEN task (another node committed events).
    pub wake: Notify,
    shutdown: watch::Sender<bool>,
    stats: RwLock<Option<serde_json::Value>>,
}

/// What a new connection gets: its id, the seq live delivery starts after, its frames and the
/// signal that it fell behind.
pub struct Registration {
    pub id: u64,
    pub last_seq: i64,
    pub rx: mpsc::Receiver<Outgoing>,
    pub overflow: Arc<Notify>,
    pub shutdown: watch::Receiver<bool>,
    /// Set when the token the connection was opened with is no longer valid.
    pub session: Arc<SessionEnd>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            inner: Mutex::new(Inner::default()),
            next_id: AtomicU64::new(1),
            wake: Notify::new(),
            shutdown: watch::channel(false).0,
            stats: RwLock::new(None),
        }
    }
}

impl Hub {
    /// A hub that delivers the events after `seq` (the log's newest when the node starts). Set
    /// before the server accepts a console: a console's hello carries this position, and a hub
    /// that found its start only later skipped what was committed in between.
    pub fn starting_after(seq: i64) -> Hub {
        let hub = Hub::default();
        hub.lock().last_seq = seq;
        hub
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a connection opened with the token whose hash is `token_hash`. Every event after the
    /// returned `last_seq` will reach its channel until the connection ends or its session does.
    pub fn register(&self, viewer: Viewer, token_hash: &str, buffer: usize) -> Registration {
        let (tx, rx) = mpsc::channel(buffer.max(4));
        let overflow = Arc::new(Notify::new());
        let session = Arc::new(SessionEnd::default());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        inner.conns.insert(
            id,
            Conn {
                viewer,
                token_hash: token_hash.into(),
                tx,
                overflow: overflow.clone(),
                ended: session.clone(),
            },
        );
        metrics::gauge!("hotline_ws_connections").set(inner.conns.len() as f64);
        Registration {
            id,
            last_seq: inner.last_seq,
            rx,
            overflow,
            shutdown: self.shutdown.subscribe(),
            session,
        }
    }

    /// Ends the connections opened with a token: they get no further frame and close with
    /// `session_ended`. Returns how many there were. (Sign-out calls it at once on its node;
    /// `check_sessions` finds every other ended session.)
    pub fn end_session(&self, token_hash: &str) -> usize {
        self.end_where(|c| &*c.token_hash == token_hash)
    }

    /// Ends every connection of a user (deactivation, a role or password change on this node).
    pub fn end_sessions_of(&self, user_id: i64) -> usize {
        self.end_where(|c| c.viewer.user_id == user_id)
    }

    fn end_where(&self, pred: impl Fn(&Conn) -> bool) -> usize {
        let mut inner = self.lock();
        let ids: Vec<u64> = inner
            .conns
            .iter()
            .filter(|(_, c)| pred(c))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            if let Some(c) = inner.conns.remove(id) {
                c.ended.end();
            }
        }
        if !ids.is_empty() {
            metrics::gauge!("hotline_ws_connections").set(inner.conns.len() as f64);
            metrics::counter!("hotline_ws_sessions_ended_total").increment(ids.len() as u64);
        }
        ids.len()
    }

    /// One pass of the session check: the distinct token hashes of this node's connections,
    /// one query per `SESSION_CHECK_CHUNK` of them, and every connection whose token is gone, expired or of an
    /// inactive user ended. Returns how many connections it ended.
    pub async fn check_sessions(&self, db: &Db) -> crate::error::AppResult<usize> {
        let checked = self.session_tokens();
        let hashes: Vec<Arc<str>> = checked.iter().cloned().collect();
        let mut valid: HashSet<String> = HashSet::new();
        for chunk in hashes.chunks(SESSION_CHECK_CHUNK) {
            valid.extend(live_token_hashes(db, chunk).await?);
        }
        Ok(self.end_invalid(&checked, &valid))
    }

    /// The distinct tokens of this node's open connections.
    fn session_tokens(&self) -> HashSet<Arc<str>> {
        self.lock()
            .conns
            .values()
            .map(|c| c.token_hash.clone())
            .collect()
    }

    /// Ends the connections whose token was `checked` and is not `valid`. Only checked tokens:
    /// a console opened while the query ran is not ended for being absent from its answer.
    fn end_invalid(&self, checked: &HashSet<Arc<str>>, valid: &HashSet<String>) -> usize {
        self.end_where(|c| checked.contains(&c.token_hash) && !valid.contains(&*c.token_hash))
    }

    /// Runs `check_sessions` every `SESSION_CHECK` while there are connections.
    async fn check_sessions_forever(&self, db: &Db) {
        let mut tick = tokio::time::interval(SESSION_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.connections() == 0 {
                continue;
            }
            match self.check_sessions(db).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(connections = n, "websockets closed: session ended"),
                Err(e) => tracing::warn!(error = %e, "websocket session check failed"),
            }
        }
    }

    pub fn unregister(&self, id: u64) {
        let mut inner = self.lock();
        inner.conns.remove(&id);
        metrics::gauge!("hotline_ws_connections").set(inner.conns.len() as f64);
    }

    pub fn connections(&self) -> usize {
        self.lock().conns.len()
    }

    /// True when a wallboard is watching (queue_stats are computed only then).
    pub fn has_supervisors(&self) -> bool {
        self.lock().conns.values().any(|c| c.viewer.supervisor)
    }

    pub fn in_scope(&self, viewer: Viewer, ev: &EventRow) -> bool {
        self.lock().in_scope(viewer, ev)
    }

    /// Tells every connection to reconnect elsewhere; they close after the `shutdown` frame.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// The latest wallboard snapshot (`queue_stats` without the frame's type).
    pub fn stats(&self) -> Option<serde_json::Value> {
        self.stats.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stores the wallboard snapshot and sends it to every supervisor.
    pub fn publish_stats(&self, stats: serde_json::Value) {
        let empty = serde_json::Value::Array(vec![]);
        let text = ServerFrame::QueueStats {
            at_ms: stats["at_ms"].as_i64().unwrap_or_else(now_ms),
            queues: stats.get("queues").unwrap_or(&empty),
            overall: stats.get("overall").unwrap_or(&serde_json::Value::Null),
            agents: stats.get("agents").unwrap_or(&empty),
        }
        .to_text();
        *self.stats.write().unwrap_or_else(|p| p.into_inner()) = Some(stats);
        let out = Outgoing {
            seq: 0,
            text: text.into(),
        };
        let mut inner = self.lock();
        let ids: Vec<u64> = inner
            .conns
            .iter()
            .filter(|(_, c)| c.viewer.supervisor)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            inner.offer(id, &out);
        }
    }

    /// Delivers a batch of events read in seq order to every connection in scope.
    fn dispatch(&self, rows: &[EventRow], members: Option<HashMap<i64, HashSet<i64>>>) {
        let mut inner = self.lock();
        if let Some(m) = members {
            inner.members = m;
        }
        for ev in rows {
            if ev.seq <= inner.last_seq {
                continue;
            }
            inner.last_seq = ev.seq;
            let ids: Vec<u64> = inner
                .conns
                .iter()
                .filter(|(_, c)| inner.in_scope(c.viewer, ev))
                .map(|(id, _)| *id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            let out = Outgoing {
                seq: ev.seq,
                text: ev.frame_text().into(),
            };
            for id in ids {
                inner.offer(id, &out);
            }
        }
    }

    /// The hub's task: delivers events (`deliver_events`) and checks the sessions of the open
    /// websockets (`check_sessions`, every `SESSION_CHECK`).
    pub async fn run(self: Arc<Self>, db: Db) {
        tokio::join!(
            self.clone().deliver_events(db.clone()),
            self.check_sessions_forever(&db)
        );
    }

    /// Waits for a commit (this node's, or another's via NOTIFY, or the fallback poll), reads
    /// what is new in seq order and fans it out.
    async fn deliver_events(self: Arc<Self>, db: Db) {
        let mut members_at = tokio::time::Instant::now() - MEMBERS_REFRESH;
        loop {
            // Armed before reading, so a commit landing during the read is not missed.
            let committed = super::events::COMMITTED.notified();
            let woken = self.wake.notified();
            tokio::pin!(committed, woken);
            committed.as_mut().enable();
            woken.as_mut().enable();
            let after = self.lock().last_seq;
            let full = match list_events_after(&db, after, None, BATCH).await {
                Ok(rows) => {
                    let refresh = members_at.elapsed() >= MEMBERS_REFRESH
                        || rows.iter().any(|r| r.kind == "queue.members");
                    let members = if refresh {
                        members_at = tokio::time::Instant::now();
                        crate::routing::store::members_by_queue(&db).await.ok()
                    } else {
                        None
                    };
                    self.dispatch(&rows, members);
                    rows.len() as i64 == BATCH
                }
                Err(e) => {
                    tracing::warn!(error = %e, "hub read failed");
                    false
                }
            };
            if full {
                continue;
            }
            tokio::select! {
                _ = &mut committed => {}
                _ = &mut woken => {}
                _ = tokio::time::sleep(FALLBACK_POLL) => {}
            }
        }
    }
}

/// Which of `hashes` are tokens still valid: present, unexpired, of an active user (what
/// `auth::store::find_user_by_token` accepts), in one query.
async fn live_token_hashes(db: &Db, hashes: &[Arc<str>]) -> crate::error::AppResult<Vec<String>> {
    struct Hash(String);
    impl crate::db::FromRow for Hash {
        fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
            Ok(Hash(r.try_get("token_hash")?))
        }
    }
    let Some(last) = hashes.last() else {
        return Ok(Vec::new());
    };
    // The list is padded (with the last hash again) to a power of two, so that a handful of
    // statement texts serve every number of sockets and stay prepared.
    let slots = hashes.len().next_power_of_two().max(16);
    let list: Vec<String> = (0..slots).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT t.token_hash AS token_hash FROM auth_tokens t JOIN users u ON u.id = t.user_id \
         WHERE u.active = 1 AND (t.expires_at IS NULL OR t.expires_at > $1) \
         AND t.token_hash IN ({})",
        list.join(", ")
    );
    let mut params: Vec<crate::db::Param> = vec![now_ms().into()];
    params.extend(
        hashes
            .iter()
            .chain(std::iter::repeat_n(last, slots - hashes.len()))
            .map(|h| crate::db::Param::from(&**h)),
    );
    let rows: Vec<Hash> = db.fetch_all(&sql, params).await?;
    Ok(rows.into_iter().map(|h| h.0).collect())
}

pub async fn max_seq(db: &Db) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS s FROM events")
        .fetch_one(&db.pool)
        .await?;
    row.try_get("s")
}

/// Events with `after < seq <= upto` in seq order, at most `limit`.
pub async fn list_events_after(
    db: &Db,
    after: i64,
    upto: Option<i64>,
    limit: i64,
) -> crate::error::AppResult<Vec<EventRow>> {
    let params = vec![after.into(), upto.unwrap_or(i64::MAX).into(), limit.into()];
    db.fetch_all(
        "SELECT seq, at_ms, kind, queue_id, user_id, ticket_id, customer_id, payload FROM events \
         WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
        params,
    )
    .await
}

impl crate::db::FromRow for EventRow {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
        Ok(EventRow {
            seq: r.try_get("seq")?,
            at_ms: r.try_get("at_ms")?,
            kind: r.try_get("kind")?,
            queue_id: r.try_get("queue_id")?,
            user_id: r.try_get("user_id")?,
            ticket_id: r.try_get("ticket_id")?,
            customer_id: r.try_get("customer_id")?,
            payload: r.try_get("payload")?,
        })
    }
}

/// The highest seq pruned from the log (a resume at or before it cannot be served).
pub async fn pruned_through(db: &Db) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT value FROM realtime_marks WHERE name = 'events_pruned_through'")
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        Some(r) => r.try_get("value")?,
        None => 0,
    })
}

/// Deletes events older than the retention and remembers the highest seq removed.
pub async fn prune_events(db: &Db, retention_hours: u64) -> Result<u64, sqlx::Error> {
    let cutoff = now_ms() - (retention_hours as i64) * 3_600_000;
    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS s FROM events WHERE at_ms < $1")
        .bind(cutoff)
        .fetch_one(&db.pool)
        .await?;
    let upto: i64 = row.try_get("s")?;
    if upto == 0 {
        return Ok(0);
    }
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO realtime_marks (name, value) VALUES ('events_pruned_through', $1) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(upto)
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query("DELETE FROM events WHERE seq <= $1")
        .bind(upto)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// The resync frame, for connections told to reload.
pub fn resync_text(reason: ResyncReason) -> String {
    ServerFrame::Resync { reason }.to_text()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, queue_id: Option<i64>, user_id: Option<i64>) -> EventRow {
        EventRow {
            seq: 1,
            at_ms: 0,
            kind: kind.into(),
            queue_id,
            user_id,
            ticket_id: None,
            customer_id: None,
            payload: "{}".into(),
        }
    }

    #[test]
    fn a_console_opened_during_the_session_check_stays() {
        let hub = Hub::starting_after(0);
        let viewer = |user_id| Viewer {
            user_id,
            supervisor: false,
        };
        let old = hub.register(viewer(1), "signed-out", 8);
        let checked = hub.session_tokens();
        // Opens while the check's query runs: its token was not asked about.
        let new = hub.register(viewer(2), "just-signed-in", 8);
        assert_eq!(hub.end_invalid(&checked, &HashSet::new()), 1);
        assert!(old.session.has_ended());
        assert!(
            !new.session.has_ended(),
            "a console opened mid-check was ended"
        );
    }

    #[test]
    fn scopes() {
        let mut inner = Inner::default();
        inner.members.insert(1, HashSet::from([10]));
        let agent = Viewer {
            user_id: 10,
            supervisor: false,
        };
        let other = Viewer {
            user_id: 11,
            supervisor: false,
        };
        let sup = Viewer {
            user_id: 1,
            supervisor: true,
        };
        let q1 = ev("ticket.created", Some(1), None);
        assert!(inner.in_scope(agent, &q1));
        assert!(!inner.in_scope(other, &q1));
        assert!(inner.in_scope(sup, &q1));
        let offer = ev("offer.created", None, Some(11));
        assert!(!inner.in_scope(agent, &offer));
        assert!(inner.in_scope(other, &offer));
        assert!(inner.in_scope(agent, &ev("customer.created", None, None)));
        assert!(!inner.in_scope(agent, &ev("presence.changed", None, None)));
        assert!(inner.in_scope(sup, &ev("presence.changed", None, None)));
        // Another agent's screen pop reaches neither a colleague nor a supervisor.
        let pop = ev("screen_pop", None, Some(11));
        assert!(inner.in_scope(other, &pop));
        assert!(!inner.in_scope(agent, &pop));
        assert!(!inner.in_scope(sup, &pop));
    }

    #[test]
    fn a_full_buffer_drops_only_that_connection() {
        let hub = Hub::default();
        let v = Viewer {
            user_id: 1,
            supervisor: true,
        };
        let slow = hub.register(v, "a", 4);
        let mut fast = hub.register(v, "b", 64);
        let rows: Vec<EventRow> = (1..=10)
            .map(|i| EventRow {
                seq: i,
                ..ev("x", None, None)
            })
            .collect();
        hub.dispatch(&rows, None);
        assert_eq!(hub.connections(), 1);
        let mut got = 0;
        while fast.rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 10);
        drop(slow);
    }
}
