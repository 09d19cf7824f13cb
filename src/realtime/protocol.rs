//! The /ws wire protocol, version 1: every frame the server sends and every command a client may
//! send, as serde-tagged enums (`{"type": "...", ...}`). This file is the protocol's documentation.
//!
//! Connect with `GET /ws` carrying the session cookie or `Authorization: Bearer TOKEN`
//! (unauthenticated → HTTP 401 before the upgrade). A browser's `Origin` must be the
//! `HOTLINE_PUBLIC_URL` origin (unset: the listen address's or the requested host's), else HTTP
//! 403 `origin_refused` before the upgrade; without `Origin` only a bearer token is accepted.
//! The server sends `hello` first.
//!
//! The session is checked on every command and by the server every few seconds: when the token
//! the socket was opened with is signed out, revoked (password or role change), expired, or its
//! user deactivated, the command runs nothing and the server sends a websocket close frame with
//! code 4001 and reason `session_ended` (no JSON frame): sign in again, do not reconnect with
//! the same token. A client
//! that reconnects sends `resume` with the last `seq` it saw and receives every event it missed,
//! in order, before live ones — never a duplicate, never a gap within its scope. Without
//! `resume` it starts live after hello's `last_seq`.
//!
//! Scope: an event with `user_id` reaches that user; with `queue_id` the members of that queue;
//! supervisors and admins receive every event; an event with neither reaches supervisors only,
//! unless its kind is in [`EVERYONE_KINDS`]. Offers carry only the offered agent's `user_id`.
//! `screen_pop`, `notification` (`{"notification": {...}}`, an @mention or a low survey score;
//! see `GET /api/notifications`) and `notification.seen` (`{"ids", "unseen"}`) reach their user
//! alone, not even supervisors. `survey.answered` (`{"ticket_id", "queue_id", "survey"}`) has
//! its ticket's scope. `customer.tier_changed` (`{"customer_id", "from", "to", "reason",
//! "reason_data", "pinned", "by"}`; see `crate::value`) reaches everyone, as every `customer.`
//! event does.
//!
//! A client that cannot keep up (its buffer of `ws_buffer_frames` frames is full) receives
//! `resync` (reason `overflow`) and is disconnected; a `resume` older than the events kept
//! (`events_retention_hours`) or too long to replay gets `resync` (reason `too_far_behind`).
//! Either way: reload state by REST, then reconnect without `resume`.
//! The server pings every `ws_ping_secs`; a client that stays silent for two intervals is
//! dropped. On graceful shutdown the server sends `shutdown` and closes: reconnect elsewhere.

use serde::{Deserialize, Serialize};

pub const PROTOCOL_VERSION: u32 = 1;

/// Event kinds (by prefix) that every signed-in user receives even without a queue or user.
pub const EVERYONE_KINDS: &[&str] = &["customer.", "kb.changed"];

/// Server → client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// First frame. `last_seq`: the newest event at connect; live events follow it.
    Hello {
        protocol: u32,
        user_id: i64,
        role: &'a str,
        last_seq: i64,
    },
    /// One row of the events log (see `realtime::events`), in seq order. `payload` is the
    /// kind's JSON object as written by the domain (see DESIGN.md and the ws-protocol brief).
    Event {
        seq: i64,
        kind: &'a str,
        at_ms: i64,
        queue_id: Option<i64>,
        user_id: Option<i64>,
        ticket_id: Option<i64>,
        customer_id: Option<i64>,
        payload: &'a serde_json::Value,
    },
    /// Reload state by REST, then reconnect (the server closes after an `overflow`).
    Resync { reason: ResyncReason },
    /// Wallboard data for supervisors, at least once a second (see `routing::stats`).
    QueueStats {
        at_ms: i64,
        queues: &'a serde_json::Value,
        overall: &'a serde_json::Value,
        agents: &'a serde_json::Value,
    },
    /// A command succeeded; `id` is the command's.
    Ack {
        id: &'a str,
        result: serde_json::Value,
    },
    /// A command failed with a stable `code` (the API's error codes).
    Error {
        id: &'a str,
        code: &'a str,
        message: String,
    },
    /// The server is going away: reconnect (to any node) after `reconnect_after_ms`.
    Shutdown { reconnect_after_ms: u64 },
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    TooFarBehind,
    Overflow,
}

/// Client → server. Each command carries a client-chosen `id`, answered by `ack` or `error`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientCommand {
    /// Replay events with seq > `last_seq` in scope, then continue live. Send right after hello.
    Resume {
        id: String,
        last_seq: i64,
    },
    /// `state`: available | away | wrap_up | offline (busy is set by routing); `reason` for away.
    SetPresence {
        id: String,
        state: String,
        #[serde(default)]
        reason: String,
    },
    AcceptOffer {
        id: String,
        offer_id: i64,
    },
    RejectOffer {
        id: String,
        offer_id: i64,
    },
    Ping {
        id: String,
    },
}

impl ServerFrame<'_> {
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_tagged_snake_case() {
        let t = ServerFrame::Resync {
            reason: ResyncReason::TooFarBehind,
        }
        .to_text();
        assert_eq!(t, r#"{"type":"resync","reason":"too_far_behind"}"#);
        let c: ClientCommand =
            serde_json::from_str(r#"{"type":"accept_offer","id":"3","offer_id":9}"#).unwrap();
        assert!(matches!(c, ClientCommand::AcceptOffer { offer_id: 9, .. }));
        let p = serde_json::json!({"a": 1});
        let e = ServerFrame::Event {
            seq: 5,
            kind: "ticket.created",
            at_ms: 1,
            queue_id: Some(2),
            user_id: None,
            ticket_id: Some(3),
            customer_id: None,
            payload: &p,
        }
        .to_text();
        assert!(e.starts_with(r#"{"type":"event","seq":5,"kind":"ticket.created""#));
        assert!(e.contains(r#""payload":{"a":1}"#));
    }
}

/// Property tests: every text frame a client sends is parsed as a `ClientCommand` (as
/// `realtime::ws` does, including its fallback that digs the `id` out of a malformed command).
/// Any text gives a command or an error, without panic, in bounded time; every well-formed
/// command parses to what was sent; and the frames we answer with are JSON whatever the id.
#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use crate::testing::bounded;

    /// What ws.rs does with one text frame: the command, or the id for the error frame.
    fn read_frame(text: String) -> Result<ClientCommand, String> {
        bounded(format!("{text:?}"), move || {
            serde_json::from_str::<ClientCommand>(&text).map_err(|_| {
                serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_string))
                    .unwrap_or_default()
            })
        })
    }

    const TYPES: &[&str] = &[
        "resume",
        "set_presence",
        "accept_offer",
        "reject_offer",
        "ping",
        "Ping",
        "hello",
        "",
    ];
    const FIELDS: &[&str] = &[
        "type", "id", "last_seq", "state", "reason", "offer_id", "extra",
    ];

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            proptest::sample::select(TYPES).prop_map(Value::from),
            "\\PC{0,16}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::vec((proptest::sample::select(FIELDS), inner), 0..5)
                    .prop_map(|kv| Value::Object(
                        kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                    )),
            ]
        })
    }

    /// Frames: command-shaped objects with wrong or missing fields, any JSON, nesting, any text.
    fn frame() -> impl Strategy<Value = String> {
        let command = (
            proptest::sample::select(TYPES),
            proptest::collection::vec((proptest::sample::select(FIELDS), json_value()), 0..6),
        )
            .prop_map(|(t, kv)| {
                let mut m: serde_json::Map<String, Value> =
                    kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                m.insert("type".into(), t.into());
                Value::Object(m).to_string()
            });
        prop_oneof![
            4 => command,
            2 => json_value().prop_map(|v| v.to_string()),
            1 => (1usize..20_000).prop_map(|n| format!("{}{}", "{\"id\":".repeat(n), "1")),
            1 => (1usize..20_000).prop_map(|n| "[".repeat(n)),
            2 => "\\PC{0,200}",
            1 => "[{}\\[\\]\":,0-9a-z_ ]{0,200}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn any_frame_is_a_command_or_an_error(text in frame()) {
            match read_frame(text) {
                Ok(cmd) => {
                    // Every command carries the client's id for the ack.
                    let id = match &cmd {
                        ClientCommand::Resume { id, .. }
                        | ClientCommand::SetPresence { id, .. }
                        | ClientCommand::AcceptOffer { id, .. }
                        | ClientCommand::RejectOffer { id, .. }
                        | ClientCommand::Ping { id } => id.clone(),
                    };
                    let ack = ServerFrame::Ack { id: &id, result: json!({}) }.to_text();
                    prop_assert!(serde_json::from_str::<Value>(&ack).is_ok(), "{}", ack);
                }
                Err(id) => {
                    let err = ServerFrame::Error {
                        id: &id,
                        code: "bad_request",
                        message: "unknown or malformed command".into(),
                    }
                    .to_text();
                    let v: Value = serde_json::from_str(&err).expect("error frame is JSON");
                    prop_assert_eq!(v["id"].as_str(), Some(id.as_str()));
                }
            }
        }

        #[test]
        fn well_formed_commands_parse_as_sent(
            id in "\\PC{0,40}", seq in any::<i64>(), offer in any::<i64>(),
            state in "\\PC{0,20}", reason in "\\PC{0,40}", which in 0u8..5,
        ) {
            let sent = match which {
                0 => json!({"type": "resume", "id": id, "last_seq": seq}),
                1 => json!({"type": "set_presence", "id": id, "state": state, "reason": reason}),
                2 => json!({"type": "accept_offer", "id": id, "offer_id": offer}),
                3 => json!({"type": "reject_offer", "id": id, "offer_id": offer}),
                _ => json!({"type": "ping", "id": id}),
            };
            let got = read_frame(sent.to_string());
            let ok = match got {
                Ok(ClientCommand::Resume { id: i, last_seq }) => which == 0 && i == id && last_seq == seq,
                Ok(ClientCommand::SetPresence { id: i, state: s, reason: r }) => {
                    which == 1 && i == id && s == state && r == reason
                }
                Ok(ClientCommand::AcceptOffer { id: i, offer_id }) => which == 2 && i == id && offer_id == offer,
                Ok(ClientCommand::RejectOffer { id: i, offer_id }) => which == 3 && i == id && offer_id == offer,
                Ok(ClientCommand::Ping { id: i }) => which == 4 && i == id,
                Err(_) => false,
            };
            prop_assert!(ok, "{}", sent);
        }
    }
}
