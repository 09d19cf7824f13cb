//! The generic CTI webhook (`POST /api/v1/cti/{token}`) in the format PBX integrators speak for
//! Zammad and sipgate.io: JSON or form fields `event`, `from`, `to`, `direction`, `callId`,
//! `user` / `user[]`, `queue`, `answeringNumber`, `cause`. Replies `{}`, reject or dial, as JSON
//! or, with `?format=sipgate`, as the XML sipgate.io expects (whose newCall answer also asks
//! sipgate to send the answer and hangup events to the same URL).

use super::calls::{self, StartCall};
use super::{CAUSES, CallState, store};
use crate::app::AppState;
use crate::auth::User;
use crate::channels::twilio::parse_form;
use crate::error::{AppError, AppResult};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

/// The answer to a CTI event: `{}` (nothing to do), a refusal
/// (`{"action":"reject","reason":"busy"}`) or an outbound call to dial with a caller id
/// (`{"action":"dial","caller_id","number"}`).
#[derive(Debug, Default, serde::Serialize, schemars::JsonSchema)]
pub struct CtiAnswer {
    /// `reject` or `dial`; absent when there is nothing to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Why a call is rejected (`busy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The number to show the called party (dial).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    /// The number to dial, E.164 (dial).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
}

/// One CTI event as the PBX sent it, whatever the encoding.
#[derive(Debug, Default, PartialEq)]
pub struct CtiEvent {
    pub event: String,
    pub from: String,
    pub to: String,
    pub direction: String,
    pub call_id: String,
    pub users: Vec<String>,
    pub queue: String,
    pub answering_number: String,
    pub cause: String,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Reads a JSON object or a form body (`user[]` and `user` may repeat).
pub fn parse_event(body: &[u8], is_json: bool) -> AppResult<CtiEvent> {
    let mut e = CtiEvent::default();
    if is_json {
        let v: Value = serde_json::from_slice(body)
            .map_err(|err| AppError::BadRequest(format!("body is not JSON: {err}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| AppError::BadRequest("body must be a JSON object".into()))?;
        let get = |k: &str| obj.get(k).map(text).unwrap_or_default();
        e.event = get("event");
        e.from = get("from");
        e.to = get("to");
        e.direction = get("direction");
        e.call_id = obj
            .get("callId")
            .or_else(|| obj.get("call_id"))
            .map(text)
            .unwrap_or_default();
        e.queue = get("queue");
        e.answering_number = get("answeringNumber");
        e.cause = get("cause");
        for key in ["user", "user[]"] {
            match obj.get(key) {
                Some(Value::Array(items)) => e.users.extend(items.iter().map(text)),
                Some(v) => e.users.push(text(v)),
                None => {}
            }
        }
    } else {
        for (k, v) in parse_form(body) {
            match k.as_str() {
                "event" => e.event = v,
                "from" => e.from = v,
                "to" => e.to = v,
                "direction" => e.direction = v,
                "callId" | "call_id" => e.call_id = v,
                "user" | "user[]" => e.users.push(v),
                "queue" => e.queue = v,
                "answeringNumber" => e.answering_number = v,
                "cause" => e.cause = v,
                _ => {}
            }
        }
    }
    e.users.retain(|u| !u.trim().is_empty());
    Ok(e)
}

fn check_token(state: &AppState, token: &str) -> AppResult<()> {
    let expected = state.config.cti_token.expose();
    if expected.is_empty() {
        // CTI is off until a token is configured.
        return Err(AppError::Forbidden);
    }
    if bool::from(expected.as_bytes().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        Err(AppError::Unauthenticated)
    }
}

async fn agents(state: &AppState, keys: &[String]) -> AppResult<Vec<User>> {
    let mut out: Vec<User> = Vec::new();
    for k in keys {
        match store::find_agent(&state.db, &state.phones, k).await? {
            Some(u) if !out.iter().any(|o| o.id == u.id) => out.push(u),
            Some(_) => {}
            None => tracing::debug!(value = %k, "CTI user value names no agent"),
        }
    }
    Ok(out)
}

async fn queue_id(state: &AppState, queue: &str) -> AppResult<Option<i64>> {
    let q = queue.trim();
    if q.is_empty() {
        return Ok(None);
    }
    if let Some(found) = crate::routing::store::find_queue_by_name(&state.db, q).await? {
        return Ok(Some(found.id));
    }
    match q.parse::<i64>() {
        Ok(id) => Ok(crate::routing::store::find_queue(&state.db, id)
            .await
            .ok()
            .map(|q| q.id)),
        Err(_) => Ok(None),
    }
}

pub async fn receive_cti(
    State(state): State<AppState>,
    crate::http::extract::Path(token): crate::http::extract::Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    check_token(&state, &token)?;
    let answer = handle(&state, &headers, &body).await?;
    let sipgate = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "format=sipgate"));
    if !sipgate {
        return Ok(axum::Json(answer).into_response());
    }
    // sipgate posts the later events of a call only where the newCall answer asks it to.
    let here = format!("{}{}", state.config.public_url(), uri);
    let xml = sipgate_xml(&json!(answer), &here);
    Ok(([("content-type", "application/xml")], xml).into_response())
}

/// A CTI answer in sipgate.io's XML: reject, dial (numbers without `+`), or the callback URLs.
fn sipgate_xml(answer: &Value, here: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let bare = |v: &Value| esc(v.as_str().unwrap_or_default().trim_start_matches('+'));
    let body = match answer["action"].as_str() {
        Some("reject") => format!(
            "<Response><Reject reason=\"{}\"/></Response>",
            esc(answer["reason"].as_str().unwrap_or("busy"))
        ),
        Some("dial") => format!(
            "<Response><Dial callerId=\"{}\"><Number>{}</Number></Dial></Response>",
            bare(&answer["caller_id"]),
            bare(&answer["number"])
        ),
        _ => format!(
            "<Response onAnswer=\"{url}\" onHangup=\"{url}\"/>",
            url = esc(here)
        ),
    };
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}")
}

async fn handle(state: &AppState, headers: &HeaderMap, body: &Bytes) -> AppResult<CtiAnswer> {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("json"));
    let e = parse_event(body, is_json)?;
    if e.call_id.trim().is_empty() {
        return Err(AppError::Unprocessable("callId is required".into()));
    }
    if e.call_id.len() > 200 {
        return Err(AppError::Unprocessable(
            "callId is longer than 200 characters".into(),
        ));
    }
    if (e.event == "newCall" || !e.direction.is_empty())
        && !matches!(e.direction.as_str(), "in" | "out")
    {
        return Err(AppError::Unprocessable(format!(
            "direction must be in or out, not {:?}",
            e.direction
        )));
    }
    match e.event.as_str() {
        "newCall" => new_call(state, &e).await,
        "answer" => answer(state, &e).await,
        "hangup" => hangup(state, &e).await,
        other => Err(AppError::Unprocessable(format!(
            "event must be newCall, answer or hangup, not {other:?}"
        ))),
    }
}

async fn new_call(state: &AppState, e: &CtiEvent) -> AppResult<CtiAnswer> {
    let customer_number = if e.direction == "in" { &e.from } else { &e.to };
    let normalized = state.phones.normalize(customer_number);
    if e.direction == "in"
        && let Some(n) = &normalized
        && store::is_blocked(&state.db, n).await?
    {
        calls::record_rejected(state, "cti", &e.call_id, n, &e.to).await?;
        return Ok(CtiAnswer {
            action: Some("reject".into()),
            reason: Some("busy".into()),
            ..CtiAnswer::default()
        });
    }
    let ringing = agents(state, &e.users).await?;
    let queue_id = queue_id(state, &e.queue).await?;
    let agent_id = (e.direction == "out")
        .then(|| ringing.first().map(|u| u.id))
        .flatten();
    let start = StartCall {
        source: "cti",
        call_id: &e.call_id,
        direction: &e.direction,
        from: &e.from,
        to: &e.to,
        queue_id,
        state: if e.direction == "in" {
            CallState::Ringing
        } else {
            CallState::Offered
        },
        // Outbound: the agent dialling sees the 360 of whom they call.
        ringing: &ringing,
        agent_id,
    };
    calls::start_call(state, &start).await?;
    if e.direction == "out"
        && let Some(n) = &normalized
        && let Some(caller_id) = store::caller_id_for(&state.db, n).await?
    {
        return Ok(CtiAnswer {
            action: Some("dial".into()),
            caller_id: Some(caller_id),
            number: Some(n.clone()),
            ..CtiAnswer::default()
        });
    }
    Ok(CtiAnswer::default())
}

async fn find(state: &AppState, e: &CtiEvent) -> AppResult<store::Call> {
    store::find_call(&mut &state.db, "cti", &e.call_id)
        .await?
        .ok_or_else(|| {
            AppError::Unprocessable(format!(
                "unknown callId {:?}: no newCall was received for it",
                e.call_id
            ))
        })
}

async fn answer(state: &AppState, e: &CtiEvent) -> AppResult<CtiAnswer> {
    let call = find(state, e).await?;
    let mut keys = e.users.clone();
    keys.push(e.answering_number.clone());
    let agent = agents(state, &keys).await?.into_iter().next();
    calls::answer(state, call.id, agent.as_ref()).await?;
    Ok(CtiAnswer::default())
}

async fn hangup(state: &AppState, e: &CtiEvent) -> AppResult<CtiAnswer> {
    let cause = if e.cause.is_empty() {
        "normalClearing"
    } else {
        e.cause.as_str()
    };
    if !CAUSES.contains(&cause) {
        return Err(AppError::Unprocessable(format!(
            "cause must be one of {}, not {cause:?}",
            CAUSES.join(", ")
        )));
    }
    let call = find(state, e).await?;
    calls::end(state, call.id, cause).await?;
    Ok(CtiAnswer::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipgate_answers_in_its_xml() {
        let here = "https://desk.example.com/api/v1/cti/t?format=sipgate&a=1";
        let xml = sipgate_xml(&json!({}), here);
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert!(
            xml.contains(r#"<Response onAnswer="https://desk.example.com/api/v1/cti/t?format=sipgate&amp;a=1" onHangup="#),
            "{xml}"
        );
        let reject = sipgate_xml(&json!({"action": "reject", "reason": "busy"}), here);
        assert!(
            reject.ends_with(r#"<Response><Reject reason="busy"/></Response>"#),
            "{reject}"
        );
        let dial = sipgate_xml(
            &json!({"action": "dial", "caller_id": "+864001234", "number": "+8613800138000"}),
            here,
        );
        assert!(
            dial.ends_with(r#"<Response><Dial callerId="864001234"><Number>8613800138000</Number></Dial></Response>"#),
            "{dial}"
        );
    }

    #[test]
    fn form_with_user_array() {
        let body = b"event=newCall&from=%2B8613800138000&to=4001&direction=in&callId=c1&user%5B%5D=101&user%5B%5D=102&queue=sales";
        let e = parse_event(body, false).unwrap();
        assert_eq!(e.users, vec!["101", "102"]);
        assert_eq!(
            (e.from.as_str(), e.call_id.as_str(), e.queue.as_str()),
            ("+8613800138000", "c1", "sales")
        );
    }

    #[test]
    fn json_with_call_id_alias_and_user_string() {
        let e = parse_event(
            br#"{"event":"hangup","call_id":"c2","user":"101","cause":"busy"}"#,
            true,
        )
        .unwrap();
        assert_eq!((e.call_id.as_str(), e.cause.as_str()), ("c2", "busy"));
        assert_eq!(e.users, vec!["101"]);
        assert!(parse_event(b"[1]", true).is_err());
    }
}

/// Property tests: a CTI body is whatever a PBX (or anyone who guessed the URL) sends. Any bytes,
/// as JSON or as a form, give an event or a 400, never a panic, in bounded time; well-formed
/// events keep every field as sent, in both encodings.
#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    use crate::testing::bounded;

    fn parse(body: Vec<u8>, is_json: bool) -> AppResult<CtiEvent> {
        bounded(format!("{:?}", String::from_utf8_lossy(&body)), move || {
            parse_event(&body, is_json)
        })
    }

    const KEYS: &[&str] = &[
        "event",
        "from",
        "to",
        "direction",
        "callId",
        "call_id",
        "user",
        "user[]",
        "user%5B%5D",
        "queue",
        "answeringNumber",
        "cause",
        "",
    ];

    /// Form-ish bytes: known and unknown keys, stray `=&%+`, broken percent escapes, any bytes.
    fn formish() -> impl Strategy<Value = Vec<u8>> {
        let pair = (
            prop_oneof![
                proptest::sample::select(KEYS).prop_map(str::to_string),
                "[a-z%=+&]{0,8}"
            ],
            prop_oneof![
                "[ -~]{0,30}",
                "(%[0-9a-fA-FgG]{0,2}|\\+|&|=|[^&=]){0,20}",
                "\\PC{0,20}"
            ],
        )
            .prop_map(|(k, v)| format!("{k}={v}"));
        prop_oneof![
            proptest::collection::vec(pair, 0..12).prop_map(|ps| ps.join("&").into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..512),
        ]
    }

    /// JSON-ish bytes: values of every type under the known keys, nesting, and plain garbage.
    fn jsonish() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,20}".prop_map(Value::String),
        ];
        let value = leaf
            .prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    proptest::collection::btree_map("[a-z\\[\\]]{0,8}", inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
            .boxed();
        let object = proptest::collection::vec(
            (
                proptest::sample::select(KEYS).prop_map(str::to_string),
                value.clone(),
            ),
            0..10,
        )
        .prop_map(|kv| {
            Value::Object(kv.into_iter().collect())
                .to_string()
                .into_bytes()
        });
        prop_oneof![
            object,
            value.prop_map(|v| v.to_string().into_bytes()),
            // Deep nesting: serde_json's recursion limit must answer, not the stack.
            (1usize..50_000).prop_map(|n| {
                let mut s = "[".repeat(n).into_bytes();
                s.extend(std::iter::repeat_n(b']', n / 2));
                s
            }),
            proptest::collection::vec(any::<u8>(), 0..512),
        ]
    }

    fn field() -> impl Strategy<Value = String> {
        "\\PC{0,24}"
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn any_form_body_is_an_event_or_an_error(body in formish()) {
            if let Ok(e) = parse(body, false) {
                prop_assert!(e.users.iter().all(|u| !u.trim().is_empty()));
            }
        }

        #[test]
        fn any_json_body_is_an_event_or_an_error(body in jsonish()) {
            match parse(body, true) {
                Ok(e) => {
                    prop_assert!(e.users.iter().all(|u| !u.trim().is_empty()));
                }
                Err(err) => {
                    prop_assert!(matches!(err, AppError::BadRequest(_)), "{err:?}");
                }
            }
        }

        #[test]
        fn well_formed_events_keep_their_fields_in_both_encodings(
            event in field(), from in field(), to in field(), call_id in field(),
            queue in field(), cause in field(),
            users in proptest::collection::vec(field(), 0..4),
        ) {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("event", &event)
                .append_pair("from", &from)
                .append_pair("to", &to)
                .append_pair("callId", &call_id)
                .append_pair("queue", &queue)
                .append_pair("cause", &cause);
            for u in &users {
                form.append_pair("user[]", u);
            }
            let form = form.finish().into_bytes();
            let json = json!({"event": event, "from": from, "to": to, "callId": call_id,
                "queue": queue, "cause": cause, "user": users})
            .to_string()
            .into_bytes();
            let want_users: Vec<String> =
                users.iter().filter(|u| !u.trim().is_empty()).cloned().collect();
            for (body, is_json) in [(form, false), (json, true)] {
                let e = parse(body, is_json).expect("a well-formed event parses");
                prop_assert_eq!(
                    (&e.event, &e.from, &e.to, &e.call_id, &e.queue, &e.cause),
                    (&event, &from, &to, &call_id, &queue, &cause)
                );
                prop_assert_eq!(&e.users, &want_users);
            }
        }
    }
}
