//! The keypad survey after a Twilio call: when the call's queue has it on, the `<Dial>` that
//! connects the caller to the agent names an `action`; when the agent hangs up, Twilio asks that
//! URL what to do with the caller, and Hotline asks for one digit 1–5 (`<Gather numDigits="1">`)
//! in the dialled number's language. The digit comes back to the same webhook and is recorded
//! as the ticket's survey answer (`via: keypad`).

use crate::app::AppState;
use crate::channels::twilio::{self, xml_escape};
use crate::channels::voice::store as voice;
use crate::error::AppResult;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};

/// The webhook path of the keypad survey.
pub const PATH: &str = "/webhooks/twilio/voice/survey";

/// The `action` attribute the connecting `<Dial>` carries when the call's queue asks for a
/// keypad survey (empty otherwise).
pub async fn dial_action(state: &AppState, queue_id: Option<i64>) -> AppResult<String> {
    let Some(q) = queue_id else {
        return Ok(String::new());
    };
    let s = super::store::queue_settings(&mut &state.db, q).await?;
    if !s.keypad {
        return Ok(String::new());
    }
    Ok(format!(
        " action=\"{}\" method=\"POST\"",
        xml_escape(&format!("{}{PATH}", state.config.public_url()))
    ))
}

fn twiml(inner: &str) -> Response {
    (
        [("content-type", "text/xml; charset=utf-8")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{inner}</Response>"),
    )
        .into_response()
}

struct Words {
    language: &'static str,
    ask: &'static str,
    thanks: &'static str,
    again: &'static str,
}

fn words(language: &str) -> Words {
    if language.to_ascii_lowercase().starts_with("zh") {
        Words {
            language: "zh-CN",
            ask: "感谢您的来电。请为本次服务打分：非常满意请按5，非常不满意请按1。",
            thanks: "感谢您的评价，再见。",
            again: "请按1到5之间的数字。",
        }
    } else {
        Words {
            language: "en-US",
            ask: "Thank you for calling. Please rate our service from 1, very unhappy, to 5, \
                  very happy, on your keypad.",
            thanks: "Thank you for your feedback. Goodbye.",
            again: "Please press a number from 1 to 5.",
        }
    }
}

fn say(w: &Words, text: &str) -> String {
    format!(
        "<Say language=\"{}\">{}</Say>",
        w.language,
        xml_escape(text)
    )
}

/// Twilio's request after the agent's leg ended (`DialCallStatus`), or with the caller's
/// `Digits`. A caller who was never connected hears nothing more; a digit outside 1–5 is asked
/// again once; a recorded (or earlier) answer ends the call with thanks.
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> AppResult<Response> {
    let form = twilio::parse_form(&body);
    twilio::verify_request(&state.config, &headers, &uri, &form, &body)?;
    let sid = twilio::required(&form, "CallSid")?;
    let Some(call) = voice::find_call(&mut &state.db, "twilio", sid).await? else {
        return Ok(twiml("<Hangup/>"));
    };
    let dialled = state
        .phones
        .normalize(&call.to_number)
        .unwrap_or_else(|| call.to_number.clone());
    let language = voice::find_voice_number(&state.db, &dialled)
        .await?
        .map(|n| n.language)
        .unwrap_or_else(|| "en-US".into());
    let w = words(&language);
    let action = xml_escape(&format!("{}{PATH}", state.config.public_url()));
    let ask = format!(
        "<Gather numDigits=\"1\" timeout=\"8\" action=\"{action}\" method=\"POST\">{}</Gather>",
        say(&w, w.ask)
    );
    let Some(digits) = twilio::field(&form, "Digits") else {
        // The agent's leg ended: ask only when they had talked.
        if twilio::field(&form, "DialCallStatus") != Some("completed") {
            return Ok(twiml("<Hangup/>"));
        }
        return Ok(twiml(&ask));
    };
    let Some(ticket_id) = call.ticket_id else {
        return Ok(twiml(&format!("{}<Hangup/>", say(&w, w.thanks))));
    };
    let score = match digits.trim().parse::<i64>() {
        Ok(n) if (1..=5).contains(&n) => n,
        _ if !uri.query().is_some_and(|q| q.contains("again")) => {
            let again = xml_escape(&format!("{}{PATH}?again=1", state.config.public_url()));
            return Ok(twiml(&format!(
                "<Gather numDigits=\"1\" timeout=\"8\" action=\"{again}\" method=\"POST\">{}</Gather>\
                 {}<Hangup/>",
                say(&w, w.again),
                say(&w, w.thanks)
            )));
        }
        _ => return Ok(twiml(&format!("{}<Hangup/>", say(&w, w.thanks)))),
    };
    match super::record_answer(&state.db, ticket_id, score, "", super::Via::Keypad).await {
        Ok(_) | Err(crate::error::AppError::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(twiml(&format!("{}<Hangup/>", say(&w, w.thanks))))
}
