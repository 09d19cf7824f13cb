//! `GET /ws`: one task per console connection. Sends hello, replays on `resume`, forwards the
//! hub's frames, answers commands, pings, and closes on overflow or shutdown with a hint.

use super::hub::{EventRow, MAX_REPLAY, Outgoing, Viewer, list_events_after, pruned_through};
use super::protocol::{ClientCommand, PROTOCOL_VERSION, ResyncReason, ServerFrame};
use crate::app::AppState;
use crate::auth::store::find_user_by_token;
use crate::auth::{User, token_hash};
use crate::config::Config;
use crate::error::AppError;
use crate::http::extract::{AuthUser, request_token};
use crate::http::{Access, Routes};
use crate::routing::presence;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::SinkExt;
use std::time::Duration;
use tokio::time::Instant;

/// A write that takes longer than this means the client is gone or stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many queued frames go out in one write.
const MAX_BATCH: usize = 64;
/// After a write, live frames wait this long in the connection's queue before the next one,
/// so that at a high event rate several go out per write (and per wake-up of this task). An
/// idle console still gets a frame at once. At 2,000 consoles × 100 events/s one write per
/// frame saturated both cores (BENCHMARKS.md).
const MIN_WRITE_GAP: Duration = Duration::from_millis(20);
/// How long live frames are held after hello, waiting for a `resume`. A reconnecting console
/// sends it right after hello; a live frame sent before it would make the replay arrive out of
/// order. The wait ends at the client's first command, and held frames the replay covered are
/// then dropped as duplicates.
const RESUME_GRACE: Duration = Duration::from_millis(250);
const REPLAY_BATCH: i64 = 500;

pub fn routes(r: Routes) -> Routes {
    r.add(
        "GET",
        "/ws",
        "realtime",
        Access::Agent,
        "Websocket for consoles and wallboards (protocol in src/realtime/protocol.rs)",
        get(open_socket),
    )
    .returns_empty(101)
}

async fn open_socket(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&state.config, &headers) {
        return AppError::OriginRefused.into_response();
    }
    // After an admin's reset only the password change works (as on the API): no console.
    if user.must_change_password {
        return AppError::PasswordChangeRequired.into_response();
    }
    // The guard accepted this token; the socket re-checks it on every command and the hub
    // every few seconds.
    let Some(token) = request_token(&headers) else {
        return AppError::Unauthenticated.into_response();
    };
    let token_hash = token_hash(&token);
    // Small buffers: the default 128 KiB read buffer alone costs ~134 KiB per connection.
    // Queued frames are fed and then flushed together: one write for a burst, not one each.
    ws.read_buffer_size(4096)
        .write_buffer_size(16 * 1024)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
        .on_upgrade(move |socket| serve_socket(state, user, token_hash, socket))
}

/// Close code and reason of a websocket whose session ended (signed out, deactivated, password
/// or role changed, token expired or revoked): sign in again.
pub const SESSION_ENDED_CODE: u16 = 4001;
pub const SESSION_ENDED_REASON: &str = "session_ended";

/// Cross-site websocket hijacking guard. A browser always sends `Origin`: it must be the origin
/// of `HOTLINE_PUBLIC_URL`, or, with that unset, the listen address's (`Config::public_url`) or
/// the host the request was sent to (`Host`, the page's own origin on whatever name or port the
/// console was opened). No `Origin` (the bench, CTI tools, other programs) is allowed with an
/// `Authorization: Bearer` token only; a cookie alone is a browser's.
pub fn origin_allowed(config: &Config, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer "));
    };
    let Some(origin) = origin.to_str().ok().and_then(normalized_origin) else {
        return false;
    };
    if normalized_origin(&config.public_url()).as_deref() == Some(origin.as_str()) {
        return true;
    }
    if !config.public_url.is_empty() {
        return false;
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    ["http", "https"].iter().any(|scheme| {
        normalized_origin(&format!("{scheme}://{host}")).as_deref() == Some(origin.as_str())
    })
}

/// `scheme://host[:port]` of a URL, lower case, without the scheme's default port.
fn normalized_origin(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    match u.origin() {
        o @ url::Origin::Tuple(..) => Some(o.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

struct Session {
    socket: WebSocket,
    viewer: Viewer,
    /// The highest seq sent; anything at or below it is a duplicate.
    delivered: i64,
    hello_seq: i64,
}

impl Session {
    async fn send_text(&mut self, text: impl Into<axum::extract::ws::Utf8Bytes>) -> bool {
        matches!(
            tokio::time::timeout(WRITE_TIMEOUT, self.socket.send(Message::Text(text.into()))).await,
            Ok(Ok(()))
        )
    }

    async fn send_frame(&mut self, frame: ServerFrame<'_>) -> bool {
        self.send_text(frame.to_text()).await
    }

    /// Closes with `SESSION_ENDED_CODE` / `session_ended`: nothing else goes out.
    async fn close_session_ended(&mut self) {
        let frame = CloseFrame {
            code: SESSION_ENDED_CODE,
            reason: SESSION_ENDED_REASON.into(),
        };
        let _ = tokio::time::timeout(WRITE_TIMEOUT, self.socket.send(Message::Close(Some(frame))))
            .await;
    }

    /// Sends a last frame and closes. Waits up to the write timeout: a client that fell behind
    /// first has to drain what is already in flight before it can read the hint.
    async fn close_with(&mut self, text: String) {
        let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
            let _ = self.socket.send(Message::Text(text.into())).await;
            let _ = self.socket.send(Message::Close(None)).await;
        })
        .await;
    }
}

async fn serve_socket(state: AppState, user: User, token_hash: String, socket: WebSocket) {
    let hub = state.hub.clone();
    let viewer = Viewer {
        user_id: user.id,
        supervisor: user.is_supervisor(),
    };
    let mut reg = hub.register(viewer, &token_hash, state.config.ws_buffer_frames);
    let session = reg.session.clone();
    // Presence follows the console: routing offers work only to agents with one open.
    let console_id = format!("{}:{}", state.node_id, reg.id);
    if let Err(e) = presence::console_opened(&state.db, &console_id, user.id).await {
        tracing::warn!(error = %e, "recording a console failed");
    }
    let mut s = Session {
        socket,
        viewer,
        delivered: reg.last_seq,
        hello_seq: reg.last_seq,
    };
    let hello = ServerFrame::Hello {
        protocol: PROTOCOL_VERSION,
        user_id: user.id,
        role: user.role.as_str(),
        last_seq: reg.last_seq,
    };
    let ping_every = Duration::from_secs(state.config.ws_ping_secs.max(1));
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut last_heard = Instant::now();
    let mut live = false;
    // Live frames read from the hub and not yet written (held during the resume grace).
    let mut pending = Vec::new();
    let grace = tokio::time::sleep(RESUME_GRACE);
    tokio::pin!(grace);
    let mut next_write = Instant::now();
    let gap_over = tokio::time::sleep_until(next_write);
    tokio::pin!(gap_over);
    if s.send_frame(hello).await {
        'serve: loop {
            if session.has_ended() {
                s.close_session_ended().await;
                break 'serve;
            }
            if live && Instant::now() >= next_write {
                take_queued(&mut reg.rx, &mut pending);
                if !pending.is_empty() {
                    if !deliver(&mut s, &reg.overflow, &mut pending).await {
                        break 'serve;
                    }
                    // A backlog goes out at once; the gap is for a steady stream.
                    if reg.rx.is_empty() {
                        next_write = Instant::now() + MIN_WRITE_GAP;
                        gap_over.as_mut().reset(next_write);
                    }
                }
            }
            // Within the gap the queue is not watched: frames wait there without waking us.
            let in_gap = live && Instant::now() < next_write;
            tokio::select! {
                biased;
                _ = reg.overflow.notified() => {
                    s.close_with(super::hub::resync_text(ResyncReason::Overflow)).await;
                    break;
                }
                _ = session.wait() => {
                    s.close_session_ended().await;
                    break;
                }
                _ = reg.shutdown.changed() => {
                    s.close_with(ServerFrame::Shutdown { reconnect_after_ms: 1000 }.to_text()).await;
                    break;
                }
                _ = &mut grace, if !live => live = true,
                msg = s.socket.recv() => {
                    last_heard = Instant::now();
                    match msg {
                        Some(Ok(Message::Text(t))) => {
                            // Every command re-checks the session: a token signed out, expired
                            // or of a deactivated user runs nothing and closes the socket.
                            let current = match find_user_by_token(&state.db, &token_hash).await {
                                Ok(Some(u)) => u,
                                Ok(None) => {
                                    hub.end_session(&token_hash);
                                    s.close_session_ended().await;
                                    break;
                                }
                                Err(e) => {
                                    if !answer_unavailable(&mut s, t.as_str(), e).await {
                                        break;
                                    }
                                    continue;
                                }
                            };
                            if !handle_command(&state, &current, &mut s, t.as_str()).await {
                                break;
                            }
                            live = true;
                        }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                        Some(Ok(_)) => {}
                    }
                }
                _ = &mut gap_over, if in_gap => {}
                out = reg.rx.recv(), if !in_gap => {
                    let Some(out) = out else {
                        if session.has_ended() {
                            s.close_session_ended().await;
                        }
                        break;
                    };
                    pending.push(out);
                    take_queued(&mut reg.rx, &mut pending);
                    live = live || pending.len() >= state.config.ws_buffer_frames;
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > ping_every * 2 {
                        break;
                    }
                    let ok = tokio::time::timeout(WRITE_TIMEOUT, s.socket.send(Message::Ping(Default::default()))).await;
                    if !matches!(ok, Ok(Ok(()))) {
                        break;
                    }
                }
            }
        }
    }
    hub.unregister(reg.id);
    if let Err(e) = presence::console_closed(&state.db, &console_id, user.id).await {
        tracing::warn!(error = %e, "recording a console's end failed");
    }
}

/// Moves queued frames to `pending`, up to one write's worth.
fn take_queued(rx: &mut tokio::sync::mpsc::Receiver<Outgoing>, pending: &mut Vec<Outgoing>) {
    while pending.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(out) => pending.push(out),
            Err(_) => break,
        }
    }
}

/// Writes the pending live frames (duplicates of replayed ones skipped) and flushes once; false
/// when the connection must close. A write blocked by this slow client yields to the overflow
/// signal; what was written stays queued in the websocket's buffer ahead of the resync.
async fn deliver(
    s: &mut Session,
    overflow: &tokio::sync::Notify,
    pending: &mut Vec<Outgoing>,
) -> bool {
    let write = async {
        for out in pending.drain(..) {
            if out.seq != 0 {
                if out.seq <= s.delivered {
                    continue;
                }
                s.delivered = out.seq;
            }
            s.socket.feed(Message::Text((&*out.text).into())).await?;
        }
        s.socket.flush().await
    };
    tokio::select! {
        done = tokio::time::timeout(WRITE_TIMEOUT, write) => return matches!(done, Ok(Ok(()))),
        _ = overflow.notified() => {}
    }
    s.close_with(super::hub::resync_text(ResyncReason::Overflow))
        .await;
    false
}

/// The id of a command, when its text has one.
fn command_id(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Answers a command whose session could not be checked with the error, running nothing.
async fn answer_unavailable(s: &mut Session, text: &str, e: AppError) -> bool {
    s.send_frame(ServerFrame::Error {
        id: &command_id(text),
        code: e.code(),
        message: e.to_string(),
    })
    .await
}

/// Answers one command; false when the connection must close.
async fn handle_command(state: &AppState, user: &User, s: &mut Session, text: &str) -> bool {
    let cmd: ClientCommand = match serde_json::from_str(text) {
        Ok(c) => c,
        Err(e) => {
            let id = command_id(text);
            return s
                .send_frame(ServerFrame::Error {
                    id: &id,
                    code: "bad_request",
                    message: format!("unknown or malformed command: {e}"),
                })
                .await;
        }
    };
    let (id, result) = match cmd {
        ClientCommand::Ping { id } => (id, Ok(serde_json::json!({"pong": true}))),
        ClientCommand::Resume { id, last_seq } => {
            return resume(state, s, &id, last_seq).await;
        }
        ClientCommand::SetPresence {
            id,
            state: st,
            reason,
        } => {
            let r = crate::routing::presence::set_presence(state, user.id, &st, &reason)
                .await
                .map(|p| serde_json::to_value(p).unwrap_or_default());
            (id, r)
        }
        ClientCommand::AcceptOffer { id, offer_id } => {
            let r = crate::routing::offers::accept_offer(state, offer_id, user.id)
                .await
                .map(|w| serde_json::to_value(w).unwrap_or_default());
            (id, r)
        }
        ClientCommand::RejectOffer { id, offer_id } => {
            let r = crate::routing::offers::reject_offer(state, offer_id, user.id)
                .await
                .map(|w| serde_json::to_value(w).unwrap_or_default());
            (id, r)
        }
    };
    match result {
        Ok(result) => s.send_frame(ServerFrame::Ack { id: &id, result }).await,
        Err(e) => {
            let e: AppError = e;
            s.send_frame(ServerFrame::Error {
                id: &id,
                code: e.code(),
                message: e.to_string(),
            })
            .await
        }
    }
}

/// Replays the events after `last_seq` in scope. When nothing live went out yet the replay runs
/// to the end of the log and live frames it covered are dropped as duplicates; when live frames
/// already went out (a late resume), only the part before hello is replayed.
async fn resume(state: &AppState, s: &mut Session, id: &str, last_seq: i64) -> bool {
    let pruned = pruned_through(&state.db).await.unwrap_or(0);
    if last_seq < pruned || s.hello_seq - last_seq > MAX_REPLAY {
        s.close_with(super::hub::resync_text(ResyncReason::TooFarBehind))
            .await;
        return false;
    }
    let upto = (s.delivered > s.hello_seq).then_some(s.hello_seq);
    let mut cursor = last_seq.max(0);
    let mut sent = 0u64;
    loop {
        let rows: Vec<EventRow> =
            match list_events_after(&state.db, cursor, upto, REPLAY_BATCH).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "replay failed");
                    s.close_with(super::hub::resync_text(ResyncReason::TooFarBehind))
                        .await;
                    return false;
                }
            };
        for ev in &rows {
            cursor = ev.seq;
            if state.hub.in_scope(s.viewer, ev) && !s.send_text(ev.frame_text()).await {
                return false;
            }
            sent += 1;
        }
        if (rows.len() as i64) < REPLAY_BATCH {
            break;
        }
    }
    if upto.is_none() {
        s.delivered = s.delivered.max(cursor);
    }
    s.send_frame(ServerFrame::Ack {
        id,
        result: serde_json::json!({"replayed_through": cursor.max(s.delivered), "rows": sent}),
    })
    .await
}
