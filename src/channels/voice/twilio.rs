//! Twilio Voice: the incoming-call webhook answered with TwiML (greeting in the number's
//! language, optional menu, enqueue) and the status callback (out of order: SequenceNumber
//! decides), both behind the `X-Twilio-Signature` check.

use super::calls::{self, StartCall};
use super::{CallState, cause_of_twilio_status, store};
use crate::app::AppState;
use crate::channels::twilio::{self, xml_escape};
use crate::db::{Db, Exec, WriteJob};
use crate::error::{AppError, AppResult};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

fn twiml(inner: &str) -> Response {
    (
        [("content-type", "text/xml; charset=utf-8")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{inner}</Response>"),
    )
        .into_response()
}

fn say(language: &str, text: &str) -> String {
    if text.trim().is_empty() {
        return String::new();
    }
    format!(
        "<Say language=\"{}\">{}</Say>",
        xml_escape(language),
        xml_escape(text)
    )
}

/// An incoming call: greet, maybe ask for a menu choice, then enqueue the caller and file the
/// call. The menu's answer comes back to the same URL with `Digits` (or `menu=none`).
pub async fn receive_voice(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> AppResult<Response> {
    let form = twilio::parse_form(&body);
    twilio::verify_request(&state.config, &headers, &uri, &form, &body)?;
    let sid = twilio::required(&form, "CallSid")?;
    let from = twilio::required(&form, "From")?;
    let to = twilio::field(&form, "To").unwrap_or_default();
    let dialled = state.phones.normalize(to).unwrap_or_else(|| to.to_string());
    let settings = store::find_voice_number(&state.db, &dialled).await?;
    let (language, greeting) = settings
        .as_ref()
        .map(|s| (s.language.clone(), s.greeting.clone()))
        .unwrap_or_else(|| ("en-US".into(), String::new()));
    if let Some(n) = state.phones.normalize(from)
        && store::is_blocked(&state.db, &n).await?
    {
        calls::record_rejected(&state, "twilio", sid, &n, &dialled).await?;
        return Ok(twiml("<Reject reason=\"busy\"/>"));
    }
    let menu = settings
        .as_ref()
        .map(|s| s.menu.clone())
        .unwrap_or_default();
    let digits = twilio::field(&form, "Digits");
    let after_menu = uri.query().is_some_and(|q| q.contains("menu="));
    if !menu.is_empty() && digits.is_none() && !after_menu {
        let action = format!("{}/webhooks/twilio/voice?menu=1", state.config.public_url());
        let prompt: String = menu
            .iter()
            .map(|c| say(&language, &format!("{} {}", c.label, c.digit)))
            .collect();
        return Ok(twiml(&format!(
            "{}<Gather numDigits=\"1\" timeout=\"6\" action=\"{}\" method=\"POST\">{prompt}</Gather>\
             <Redirect method=\"POST\">{}</Redirect>",
            say(&language, &greeting),
            xml_escape(&action),
            xml_escape(&format!(
                "{}/webhooks/twilio/voice?menu=none",
                state.config.public_url()
            )),
        )));
    }
    let queue_id = digits
        .and_then(|d| menu.iter().find(|c| c.digit == d))
        .map(|c| c.queue_id)
        .or(settings.as_ref().and_then(|s| s.queue_id));
    let (call, _) = calls::start_call(
        &state,
        &StartCall {
            source: "twilio",
            call_id: sid,
            direction: "in",
            from,
            to,
            queue_id,
            state: CallState::Queued,
            ringing: &[],
            agent_id: None,
        },
    )
    .await?;
    let greet = if menu.is_empty() {
        say(&language, &greeting)
    } else {
        String::new()
    };
    let queue_name = call
        .queue_id
        .map(|q| format!("hotline-q{q}"))
        .unwrap_or_else(|| "hotline".into());
    Ok(twiml(&format!(
        "{greet}<Enqueue>{}</Enqueue>",
        xml_escape(&queue_name)
    )))
}

/// Call status callbacks. Twilio may deliver them out of order: one whose SequenceNumber is
/// not above the last seen is ignored. A recording URL is kept on the call and interaction.
pub async fn receive_voice_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> AppResult<Response> {
    let form = twilio::parse_form(&body);
    twilio::verify_request(&state.config, &headers, &uri, &form, &body)?;
    let sid = twilio::required(&form, "CallSid")?;
    let status = twilio::field(&form, "CallStatus").unwrap_or_default();
    let seq: Option<i64> = twilio::field(&form, "SequenceNumber").and_then(|s| s.parse().ok());
    let recording = twilio::field(&form, "RecordingUrl").filter(|u| !u.is_empty());
    let call = store::find_call(&mut &state.db, "twilio", sid)
        .await?
        .ok_or(AppError::NotFound("call"))?;
    let job = Status {
        call_id: call.id,
        seq,
        recording: recording.map(str::to_string),
        interaction_id: call.interaction_id,
    };
    if !state.db.write(job).await? {
        return Ok(twiml(""));
    }
    match status {
        "in-progress" if call.direction == "out" => {
            let agent = match call.agent_id {
                Some(a) => Some(crate::auth::store::find_user(&state.db, a).await?),
                None => None,
            };
            calls::answer(&state, call.id, agent.as_ref()).await?;
        }
        s => {
            if let Some(cause) = cause_of_twilio_status(s) {
                calls::end(&state, call.id, cause).await?;
            }
        }
    }
    Ok(twiml(""))
}

/// What a status callback keeps: its sequence number and the recording. Only the columns it
/// owns change, so a callback racing the call's end cannot write an older state back.
struct Status {
    call_id: i64,
    seq: Option<i64>,
    recording: Option<String>,
    interaction_id: Option<i64>,
}

impl WriteJob for Status {
    /// False for a callback older than one already seen.
    type Out = bool;

    async fn run<E: Exec>(&self, tx: &mut E, _db: &Db) -> AppResult<bool> {
        let kept = tx
            .run(
                "UPDATE calls SET last_sequence = COALESCE($2, last_sequence), \
                 recording_url = COALESCE($3, recording_url) \
                 WHERE id = $1 AND ($2 IS NULL OR last_sequence < $2)",
                vec![
                    self.call_id.into(),
                    self.seq.into(),
                    (&self.recording).into(),
                ],
            )
            .await?;
        if kept == 0 {
            return Ok(false);
        }
        if let (Some(url), Some(iid)) = (&self.recording, self.interaction_id) {
            let meta = json!({"recording_url": url});
            crate::tickets::store::update_interaction_meta(tx, iid, &meta).await?;
        }
        Ok(true)
    }
}
