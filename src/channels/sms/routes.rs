//! HTTP for SMS: Twilio's inbound and status webhooks (signature checked before anything is
//! read or stored), starting an SMS conversation with any customer, and the opt-out list.

use super::{Keyword, delivery_rank, encoding, keyword, segments, store};
use crate::app::AppState;
use crate::channels::twilio;
use crate::customers::Identity;
use crate::customers::identity::IdentityKind;
use crate::db::{Db, Exec, WriteJob};
use crate::error::{AppError, AppResult, required_text};
use crate::http::extract::{AuthUser, Json, Path};
use crate::http::{Access, Routes};
use crate::intake::{self, Inbound};
use crate::tickets::store::{self as tickets, NewInteraction, NewTicket};
use crate::tickets::{Channel, Direction, Interaction, Kind, Priority, Ticket};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub fn routes(r: Routes) -> Routes {
    r.add("POST", "/webhooks/twilio/sms", "sms", Access::Webhook,
        "Twilio inbound SMS webhook (X-Twilio-Signature); threads into the sender's open SMS ticket", post(receive_sms))
        .body_raw("application/x-www-form-urlencoded")
        .returns_raw(200, "text/xml")
        .add("POST", "/webhooks/twilio/sms/status", "sms", Access::Webhook,
            "Twilio SMS status callback (MessageStatus, ErrorCode) updating delivery state", post(receive_status))
        .body_raw("application/x-www-form-urlencoded")
        .returns_raw(200, "text/xml")
        .add("POST", "/api/customers/{id}/sms", "sms", Access::Agent,
            "Start an SMS conversation with a customer: a new ticket, the message queued in the outbox", post(start_sms))
        .body::<StartBody>()
        .returns::<Started>(201)
        .add("GET", "/api/customers/{id}/sms", "sms", Access::Agent,
            "The customer's phone numbers and whether each may be texted (opted out by STOP, 退订)", get(sms_numbers))
        .returns::<Vec<SmsNumber>>(200)
        .add("GET", "/api/sms/opt-outs", "sms", Access::Supervisor,
            "Numbers that opted out of SMS (STOP, 退订)", get(list_opt_outs))
        .returns::<Vec<store::OptOut>>(200)
}

/// Twilio wants TwiML back; an empty `<Response/>` sends no auto-reply.
pub fn empty_twiml() -> Response {
    (
        [("content-type", "text/xml; charset=utf-8")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    )
        .into_response()
}

async fn receive_sms(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> AppResult<Response> {
    let form = twilio::parse_form(&body);
    twilio::verify_request(&state.config, &headers, &uri, &form, &body)?;
    let sid = twilio::required(&form, "MessageSid")?;
    let from = twilio::required(&form, "From")?;
    let to = twilio::field(&form, "To").unwrap_or_default();
    let text = twilio::field(&form, "Body").unwrap_or_default();
    let num_media: usize = twilio::field(&form, "NumMedia")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let media: Vec<serde_json::Value> = (0..num_media.min(10))
        .filter_map(|n| {
            let url = twilio::field(&form, &format!("MediaUrl{n}"))?;
            let ctype = twilio::field(&form, &format!("MediaContentType{n}")).unwrap_or("");
            Some(json!({"url": url, "content_type": ctype}))
        })
        .collect();
    // A short code or an alphanumeric sender has no E.164 form: the message is kept anyway,
    // on a ticket without customer.
    let number = state.phones.normalize(from);
    let identity = number.clone().map(|value| Identity {
        kind: IdentityKind::Phone,
        value,
    });
    let kw = keyword(text);
    let mut msg = Inbound::new(Channel::Sms, identity, text);
    msg.from_addr = number.clone().unwrap_or_else(|| from.to_string());
    msg.to_addr = to.to_string();
    msg.external_id = Some(sid.to_string());
    msg.meta = json!({
        "sid": sid,
        "media": media,
        "encoding": encoding(text),
        "segments": twilio::field(&form, "NumSegments")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| segments(text)),
        "keyword": kw.map(|k| match k { Keyword::OptOut => "opt_out", Keyword::OptIn => "opt_in" }),
    });
    // The opt-out (or opt-in) commits with the message or not at all: a failure answers an
    // error, and Twilio's retry of the same message then stores both.
    let keyword = match (number, kw) {
        (Some(number), Some(kw)) => Some((number, kw, text.trim().to_string())),
        _ => None,
    };
    let outcome = state.db.write(ReceiveSms { msg, keyword }).await?;
    intake::committed(&outcome, Channel::Sms);
    Ok(empty_twiml())
}

/// One inbound SMS and, when it is STOP or START, the opt-out change, in one transaction.
struct ReceiveSms {
    msg: Inbound,
    keyword: Option<(String, Keyword, String)>,
}

impl WriteJob for ReceiveSms {
    type Out = intake::Outcome;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<intake::Outcome> {
        let outcome = intake::receive_in(tx, db, &self.msg).await?;
        // A retried (duplicate) message changed everything it had to the first time; applying
        // it again could undo a later START.
        if let (Some((number, kw, word)), false) = (&self.keyword, outcome.duplicate) {
            match kw {
                Keyword::OptOut => store::insert_opt_out(tx, number, word).await?,
                Keyword::OptIn => store::delete_opt_out(tx, number).await?,
            }
        }
        Ok(outcome)
    }
}

async fn receive_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> AppResult<Response> {
    let form = twilio::parse_form(&body);
    twilio::verify_request(&state.config, &headers, &uri, &form, &body)?;
    let sid = twilio::required(&form, "MessageSid")?;
    let status = twilio::required(&form, "MessageStatus")?;
    let error_code = twilio::field(&form, "ErrorCode").filter(|c| !c.is_empty());
    let mut tx = state.db.begin().await?;
    let interaction = tickets::find_interaction_by_external(&mut *tx, Channel::Sms, sid)
        .await?
        .ok_or(AppError::NotFound("message"))?;
    let current = interaction.meta["delivery"].as_str().unwrap_or("queued");
    if delivery_rank(status) < delivery_rank(current) {
        // Callbacks may arrive out of order; a late one never moves a message back.
        tx.rollback().await?;
        return Ok(empty_twiml());
    }
    let mut patch = json!({"delivery": status, "delivery_at": crate::db::now_ms()});
    if let Some(code) = error_code {
        patch["error_code"] = json!(code);
    }
    store::update_delivery(&mut tx, &state.db, interaction.id, &patch).await?;
    crate::realtime::events::commit(tx).await?;
    Ok(empty_twiml())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "SmsStartBody")]
struct StartBody {
    body: String,
    /// Defaults to the customer's phone identity.
    to: Option<String>,
    subject: Option<String>,
    queue_id: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "SmsConversation")]
struct Started {
    ticket: Ticket,
    interaction: Interaction,
}

#[derive(Serialize, schemars::JsonSchema)]
struct SmsNumber {
    number: String,
    /// The number texted STOP (or another opt-out word): nothing is sent until it texts START.
    opted_out: bool,
}

async fn sms_numbers(
    State(state): State<AppState>,
    Path(customer_id): Path<i64>,
) -> AppResult<axum::Json<Vec<SmsNumber>>> {
    let customer = crate::customers::store::find_customer(&state.db, customer_id).await?;
    let mut out = Vec::new();
    for i in customer
        .identities
        .iter()
        .filter(|i| i.kind == IdentityKind::Phone)
    {
        out.push(SmsNumber {
            number: i.value.clone(),
            opted_out: store::is_opted_out(&state.db.pool, &i.value).await?,
        });
    }
    Ok(axum::Json(out))
}

/// The agent texts first: a new SMS ticket for the customer, the message queued in the outbox.
async fn start_sms(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(customer_id): Path<i64>,
    Json(b): Json<StartBody>,
) -> AppResult<(StatusCode, axum::Json<Started>)> {
    let text = required_text("body", &b.body, 1600)?;
    let customer = crate::customers::store::find_customer(&state.db, customer_id).await?;
    let to = match b.to.as_deref() {
        Some(to) => state
            .phones
            .normalize(to)
            .ok_or_else(|| AppError::validation("to", "to is not a phone number"))?,
        None => customer
            .identities
            .iter()
            .find(|i| i.kind == IdentityKind::Phone)
            .map(|i| i.value.clone())
            .ok_or_else(|| {
                AppError::validation("to", "the customer has no phone number: give `to`")
            })?,
    };
    store::ensure_may_text(&state.db.pool, &to).await?;
    if let Some(q) = b.queue_id {
        crate::routing::store::find_queue(&state.db, q)
            .await
            .map_err(|_| AppError::validation("queue_id", "queue_id is not a queue"))?;
    }
    let subject = match b.subject.as_deref() {
        Some(s) => required_text("subject", s, 500)?,
        None => intake::subject_from_body(&text, Channel::Sms),
    };
    let mut tx = state.db.begin().await?;
    let ticket = tickets::insert_ticket(
        &mut tx,
        &state.db,
        &NewTicket {
            subject,
            priority: Priority::Normal,
            kind: Kind::Inquiry,
            channel: Channel::Sms,
            queue_id: b.queue_id,
            assignee_id: Some(user.id),
            customer_id: Some(customer_id),
            tags: Vec::new(),
            subject_data: None,
        },
    )
    .await?;
    let (interaction, _) = tickets::insert_interaction(
        &mut tx,
        &state.db,
        &NewInteraction {
            ticket_id: ticket.id,
            customer_id: Some(customer_id),
            channel: Channel::Sms,
            direction: Direction::Out,
            from_addr: String::new(),
            to_addr: to.clone(),
            subject: String::new(),
            body: text.clone(),
            external_id: None,
            author_id: Some(user.id),
            meta: json!({"delivery": "queued", "encoding": encoding(&text), "segments": segments(&text)}),
        },
    )
    .await?;
    store::insert_outbox(&mut tx, ticket.id, interaction.id, &to, &text).await?;
    crate::realtime::events::commit(tx).await?;
    let ticket = tickets::find_ticket(&mut &state.db, ticket.id).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Started {
            ticket,
            interaction,
        }),
    ))
}

async fn list_opt_outs(State(state): State<AppState>) -> AppResult<axum::Json<Vec<store::OptOut>>> {
    Ok(axum::Json(store::list_opt_outs(&state.db).await?))
}
