//! The customer portal's server side: the public complaint/request form (honeypot, signed form
//! token, per-address limit) into intake, the acknowledgement through the outbox (limited per
//! destination and overall; the acknowledgement templates' text, the ticket number and a status
//! link with the ticket's secret key, never the customer's words), and the status look-up: by ticket number and
//! contact the status only, by the link's key the conversation. Knows nothing of routing or
//! sockets.

use crate::app::AppState;
use crate::customers::Identity;
use crate::customers::identity::{self, IdentityKind};
use crate::db::{Db, Exec, WriteJob, now_ms};
use crate::error::{AppError, AppResult, optional_text, required_text};
use crate::http::extract::{Json, Path, Query};
use crate::http::{Access, Routes};
use crate::intake::{self, Inbound, Thread};
use crate::tickets::store::{self as tickets, NewInteraction};
use crate::tickets::{Channel, Direction, Kind, Status, attachments};
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use sqlx::Row;
use std::net::SocketAddr;

/// A form older than this is refused (the page is reloaded for a fresh token).
pub const FORM_MAX_AGE_MS: i64 = 2 * 3_600_000;
/// At most this many attachments, each at most `ATTACHMENT_MAX_BYTES`.
pub const MAX_ATTACHMENTS: usize = 3;
pub const ATTACHMENT_MAX_BYTES: usize = 2 * 1024 * 1024;

pub fn routes(r: Routes) -> Routes {
    r.add(
        "GET",
        "/api/portal/form-token",
        "portal",
        Access::Public,
        "A signed token for the public complaint form (valid from 3 s to 2 h after issue)",
        get(get_form_token),
    )
    .returns::<FormToken>(200)
    .add(
        "POST",
        "/api/portal/complaints",
        "portal",
        Access::Public,
        "Submit a complaint, request or inquiry from the public portal; returns the ticket number",
        // Attachments travel base64 in the JSON: room for all of them, and no more.
        post(create_complaint).layer(DefaultBodyLimit::max(
            MAX_ATTACHMENTS * ATTACHMENT_MAX_BYTES * 4 / 3 + 256 * 1024,
        )),
    )
    .body::<ComplaintBody>()
    .returns::<ComplaintReceipt>(201)
    .add(
        "GET",
        "/api/portal/tickets/{number}",
        "portal",
        Access::Public,
        "A ticket's status given its number and the customer's email or phone (`contact`); with \
         the key of the acknowledgement's link (`key`) also its subject and public replies",
        get(get_ticket_status),
    )
    .query::<StatusQuery>()
    .returns::<TicketStatus>(200)
    .add(
        "GET",
        "/api/portal/complaint-categories",
        "portal",
        Access::Public,
        "The complaint categories a customer can choose on the portal (active ones: id and zh/en \
         names)",
        get(portal_categories),
    )
    .returns::<Vec<PortalCategory>>(200)
}

#[derive(Serialize, schemars::JsonSchema)]
struct PortalCategory {
    id: i64,
    name_zh: String,
    name_en: String,
}

async fn portal_categories(
    State(state): State<AppState>,
) -> AppResult<axum::Json<Vec<PortalCategory>>> {
    let all = crate::complaints::store::categories(&mut &state.db).await?;
    Ok(axum::Json(
        all.into_iter()
            .filter(|c| c.active)
            .map(|c| PortalCategory {
                id: c.id,
                name_zh: c.name_zh,
                name_en: c.name_en,
            })
            .collect(),
    ))
}

/// The complaint questions of the portal form: the category, the order it is about, what the
/// customer wants, and three yes/no questions that set the severity
/// (`complaints::severity_from_answers`).
#[derive(Clone, Default, Deserialize, schemars::JsonSchema)]
struct PortalComplaint {
    category_id: Option<i64>,
    #[serde(default)]
    order_ref: String,
    #[serde(default)]
    desired_outcome: String,
    /// Is anyone's safety at risk?
    #[serde(default)]
    safety: bool,
    /// Has the customer lost money, or can they not use the product?
    #[serde(default)]
    money_lost: bool,
    /// Is the problem still going on?
    #[serde(default)]
    ongoing: bool,
}

/// Row of `portal_secrets` holding the form tokens' signing key.
pub const FORM_SECRET_ID: i64 = 1;

/// The form-token signing key, created on first use and shared by every node through the
/// database.
pub async fn form_secret(db: &Db) -> AppResult<Vec<u8>> {
    crate::db::stored_secret(db, FORM_SECRET_ID).await
}

fn signature(secret: &[u8], issued_ms: i64, nonce: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(format!("portal-form:{issued_ms}.{nonce}").as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// `issued_ms.nonce.signature`, all URL-safe.
pub fn sign_form_token(secret: &[u8], issued_ms: i64) -> String {
    let nonce = hex::encode(rand::random::<[u8; 8]>());
    let sig = signature(secret, issued_ms, &nonce);
    format!("{issued_ms}.{nonce}.{}", hex::encode(sig))
}

/// Why a form token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenProblem {
    Malformed,
    Forged,
    TooFresh,
    Expired,
}

pub fn check_form_token(
    secret: &[u8],
    token: &str,
    now: i64,
    min_age_ms: i64,
) -> Result<(), TokenProblem> {
    let mut parts = token.split('.');
    let (Some(issued), Some(nonce), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenProblem::Malformed);
    };
    let issued: i64 = issued.parse().map_err(|_| TokenProblem::Malformed)?;
    let sig = hex::decode(sig).map_err(|_| TokenProblem::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(format!("portal-form:{issued}.{nonce}").as_bytes());
    mac.verify_slice(&sig).map_err(|_| TokenProblem::Forged)?;
    let age = now - issued;
    if age < min_age_ms {
        return Err(TokenProblem::TooFresh);
    }
    if age > FORM_MAX_AGE_MS {
        return Err(TokenProblem::Expired);
    }
    Ok(())
}

#[derive(Serialize, schemars::JsonSchema)]
struct FormToken {
    token: String,
    /// Submitting earlier than this is refused as a bot.
    min_age_ms: u64,
    max_age_ms: i64,
}

async fn get_form_token(State(state): State<AppState>) -> AppResult<axum::Json<FormToken>> {
    let secret = form_secret(&state.db).await?;
    Ok(axum::Json(FormToken {
        token: sign_form_token(&secret, now_ms()),
        min_age_ms: state.config.portal_form_min_age_ms,
        max_age_ms: FORM_MAX_AGE_MS,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "PortalAttachment")]
struct Attachment {
    name: String,
    #[serde(default)]
    content_type: String,
    /// The file's bytes, base64.
    data: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ComplaintBody {
    #[serde(default)]
    name: String,
    email: Option<String>,
    phone: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    attachments: Vec<Attachment>,
    #[serde(default)]
    form_token: String,
    /// The honeypot: hidden from people, filled by bots.
    #[serde(default)]
    website: String,
    /// Language of the acknowledgement: `en` or `zh-CN`.
    locale: Option<String>,
    /// For a complaint: its category, order, desired outcome and the severity questions.
    complaint: Option<PortalComplaint>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct ComplaintReceipt {
    ticket_number: i64,
    /// Channels the acknowledgement was queued on (`email`, `sms`).
    acknowledged_by: Vec<&'static str>,
}

fn contact(
    state: &AppState,
    field: &str,
    kind: IdentityKind,
    v: Option<&str>,
) -> AppResult<Option<Identity>> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => identity::normalize(kind, v, &state.phones)
            .map(|value| Some(Identity { kind, value }))
            .map_err(|why| AppError::validation(field, format!("{field} {why}"))),
    }
}

/// A file name safe to put on disk: no folders, no dots first, printable.
fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if ":*?\"<>|".contains(c) { '_' } else { c })
        .take(100)
        .collect();
    let cleaned = cleaned.trim_start_matches('.').trim().to_string();
    if cleaned.is_empty() {
        "attachment".into()
    } else {
        cleaned
    }
}

/// Decodes and size-checks the attachments, then keeps their bytes (content-addressed, as
/// email attachments are) and returns the rows to record with the complaint's interaction.
async fn store_attachments(
    state: &AppState,
    files: &[Attachment],
) -> AppResult<Vec<attachments::NewAttachment>> {
    if files.len() > MAX_ATTACHMENTS {
        return Err(AppError::validation(
            "attachments",
            format!("at most {MAX_ATTACHMENTS} attachments"),
        ));
    }
    let mut decoded = Vec::new();
    for f in files {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(f.data.trim())
            .map_err(|_| AppError::validation("attachments", "attachment data is not base64"))?;
        if bytes.len() > ATTACHMENT_MAX_BYTES {
            return Err(AppError::validation(
                "attachments",
                format!(
                    "each attachment must be at most {} MiB",
                    ATTACHMENT_MAX_BYTES / 1024 / 1024
                ),
            ));
        }
        let name = safe_file_name(&f.name);
        let content_type = if f.content_type.trim().is_empty() {
            mime_guess::from_path(&name)
                .first_or_octet_stream()
                .to_string()
        } else {
            optional_text("content_type", f.content_type.trim(), 100)?
        };
        decoded.push((name, content_type, bytes));
    }
    let mut rows = Vec::new();
    for (filename, content_type, bytes) in decoded {
        let sha256 = hex::encode(<Sha256 as sha2::Digest>::digest(&bytes));
        attachments::keep_file(&state.config.data_dir, &sha256, &bytes).await?;
        rows.push(attachments::NewAttachment {
            filename,
            content_type,
            size: bytes.len() as i64,
            sha256,
            inline: false,
            content_id: None,
            stored: true,
        });
    }
    Ok(rows)
}

/// The complaint's ticket and interaction (intake), its attachment rows and the hash of its
/// status key, in one transaction.
struct StoreComplaint {
    msg: Inbound,
    attachments: Vec<attachments::NewAttachment>,
    key_hash: String,
    complaint: Option<crate::complaints::ComplaintFields>,
}

impl WriteJob for StoreComplaint {
    type Out = intake::Outcome;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<intake::Outcome> {
        let outcome = intake::receive_in(tx, db, &self.msg).await?;
        attachments::insert(tx, outcome.interaction.id, &self.attachments).await?;
        if outcome.ticket_created {
            tx.run(
                "UPDATE tickets SET portal_key_hash = $1 WHERE id = $2",
                vec![(&self.key_hash).into(), outcome.ticket.id.into()],
            )
            .await?;
            if let Some(fields) = &self.complaint
                && outcome.ticket.kind == Kind::Complaint
            {
                let edit = crate::complaints::Edit {
                    ticket_id: outcome.ticket.id,
                    actor: None,
                    fields: fields.clone(),
                };
                edit.run(tx, db).await?;
            }
        }
        Ok(outcome)
    }
}

/// A new ticket's status key (shown once, in the acknowledgement's link) and its stored hash.
pub fn new_status_key() -> (String, String) {
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 18]>());
    let hash = status_key_hash(&key);
    (key, hash)
}

pub fn status_key_hash(key: &str) -> String {
    hex::encode(<Sha256 as sha2::Digest>::digest(key.trim().as_bytes()))
}

/// The status page of ticket `number` opened with its key (in the fragment: never sent to a
/// server, so it stays out of access logs and Referer headers).
pub fn status_link(public_url: &str, number: i64, key: &str) -> String {
    format!("{public_url}/portal.html#status?t={number}&k={key}")
}

/// Subject and text of a portal acknowledgement by email (template channel `portal`) or SMS
/// (`sms`, no subject): the queue's template (else the one for every queue, else the built-in
/// text) filled with the ticket number, the kind of request and the status link, nothing the
/// customer wrote (the contact was typed by anyone; the text must be worthless to a spammer:
/// those templates cannot name anything else, `channels::ack::placeholders`).
async fn acknowledgement(
    db: &Db,
    queue_id: Option<i64>,
    channel: Channel,
    locale: &str,
    kind: Kind,
    number: i64,
    link: &str,
) -> AppResult<(String, String)> {
    let language = if locale == "zh-CN" { "zh" } else { "en" };
    let template = if channel == Channel::Sms {
        "sms"
    } else {
        "portal"
    };
    let (subject, body, _) =
        crate::channels::ack::resolve(&mut &*db, queue_id, language, template).await?;
    let values = [
        ("ticket", number.to_string()),
        (
            "kind",
            crate::channels::ack::kind_word(language, kind).to_string(),
        ),
        ("link", link.to_string()),
    ];
    Ok((
        crate::channels::ack::render(&subject, &values),
        crate::channels::ack::render(&body, &values),
    ))
}

async fn create_complaint(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Json(b): Json<ComplaintBody>,
) -> AppResult<(StatusCode, axum::Json<ComplaintReceipt>)> {
    let limits = &state.limits.portal;
    if let Err(retry_after) = limits
        .submissions
        .take(&crate::limits::client_key(peer.ip()))
    {
        return Err(AppError::RateLimited { retry_after });
    }
    if !b.website.trim().is_empty() {
        metrics::counter!("hotline_portal_spam_total", "why" => "honeypot").increment(1);
        return Err(AppError::validation(
            "website",
            "this field must be left empty",
        ));
    }
    let secret = form_secret(&state.db).await?;
    let min_age = state.config.portal_form_min_age_ms as i64;
    if let Err(problem) = check_form_token(&secret, b.form_token.trim(), now_ms(), min_age) {
        metrics::counter!("hotline_portal_spam_total", "why" => "token").increment(1);
        return Err(match problem {
            TokenProblem::Malformed | TokenProblem::Forged => AppError::BadSignature,
            TokenProblem::TooFresh => AppError::validation(
                "form_token",
                "the form was sent too quickly; wait a moment and send it again",
            ),
            TokenProblem::Expired => {
                AppError::validation("form_token", "the form has expired; reload the page")
            }
        });
    }
    let name = required_text("name", &b.name, 200)?;
    let description = required_text("description", &b.description, 20_000)?;
    let subject = optional_text("subject", b.subject.trim(), 200)?;
    let email = contact(&state, "email", IdentityKind::Email, b.email.as_deref())?;
    let phone = contact(&state, "phone", IdentityKind::Phone, b.phone.as_deref())?;
    let kind = match b.kind.as_deref().unwrap_or("complaint") {
        "complaint" => Kind::Complaint,
        "request" => Kind::Request,
        "inquiry" => Kind::Inquiry,
        _ => {
            return Err(AppError::validation(
                "kind",
                "kind must be complaint, request or inquiry",
            ));
        }
    };
    // The form says which language the customer used; else their browser's first choice.
    let accepted = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let locale = match b.locale.as_deref() {
        Some("zh-CN") => "zh-CN",
        Some(_) => "en",
        None if accepted.trim_start().to_ascii_lowercase().starts_with("zh") => "zh-CN",
        None => "en",
    };
    let identity = email
        .clone()
        .or_else(|| phone.clone())
        .ok_or_else(|| AppError::validation("email", "give an email address or a phone number"))?;
    let complaint = match (&b.complaint, kind) {
        (Some(c), Kind::Complaint) => Some(crate::complaints::ComplaintFields {
            category_id: c.category_id,
            severity: Some(crate::complaints::severity_from_answers(
                c.safety,
                c.money_lost,
                c.ongoing,
            )),
            order_ref: Some(optional_text("order_ref", c.order_ref.trim(), 200)?),
            desired_outcome: Some(optional_text(
                "desired_outcome",
                c.desired_outcome.trim(),
                2000,
            )?),
        }),
        _ => None,
    };
    let attachments = store_attachments(&state, &b.attachments).await?;

    let mut msg = Inbound::new(Channel::Web, Some(identity.clone()), description);
    msg.display_name = Some(name);
    msg.extra_identities = [email.clone(), phone.clone()]
        .into_iter()
        .flatten()
        .filter(|i| *i != identity)
        .collect();
    msg.subject = subject;
    msg.kind = kind;
    msg.thread = Thread::New;
    msg.to_addr = "portal".into();
    // Every contact given with the ticket looks it up later, even one that is not (or not yet)
    // the customer's identity (the email matched a known customer; the phone was new).
    let contacts: Vec<String> = [&email, &phone]
        .into_iter()
        .flatten()
        .map(|i| i.value.clone())
        .collect();
    msg.meta = json!({"source": "portal", "locale": locale, "contacts": contacts});
    let (key, key_hash) = new_status_key();
    let outcome = state
        .db
        .write(StoreComplaint {
            msg,
            attachments,
            key_hash,
            complaint,
        })
        .await?;
    intake::committed(&outcome, Channel::Web);
    let ticket = outcome.ticket;

    // The acknowledgement goes where the customer can read it: email first, else SMS; not at
    // all when that destination (or the portal) has had its acknowledgements for the hour: the
    // ticket stands, the contact typed may be a stranger's.
    let link = status_link(&state.config.public_url(), ticket.id, &key);
    let (channel, to) = match (&email, &phone) {
        (Some(e), _) => (Channel::Email, e.value.clone()),
        (None, Some(p)) => (Channel::Sms, p.value.clone()),
        (None, None) => unreachable!("an identity was required above"),
    };
    let (subject, body) = acknowledgement(
        &state.db,
        ticket.queue_id,
        channel,
        locale,
        kind,
        ticket.id,
        &link,
    )
    .await?;
    metrics::counter!("hotline_portal_submissions_total", "kind" => kind.as_str()).increment(1);
    if !limits.ack_allowed(&format!("{}:{to}", channel.as_str())) {
        metrics::counter!("hotline_portal_ack_rate_limited_total").increment(1);
        tracing::info!(
            ticket = ticket.id,
            "portal acknowledgement skipped: over its hourly limit"
        );
        return Ok((
            StatusCode::CREATED,
            axum::Json(ComplaintReceipt {
                ticket_number: ticket.id,
                acknowledged_by: vec![],
            }),
        ));
    }
    let from = match channel {
        Channel::Email => state.config.mail_from(),
        _ => String::new(),
    };
    let mut tx = state.db.begin().await?;
    let (interaction, _) = tickets::insert_interaction(
        &mut tx,
        &state.db,
        &NewInteraction {
            ticket_id: ticket.id,
            customer_id: ticket.customer_id,
            channel,
            direction: Direction::Out,
            from_addr: from,
            to_addr: to.clone(),
            subject: subject.clone(),
            // The ticket's record keeps the link without its key (only the hash is stored).
            body: body.replace(&key, "…"),
            external_id: None,
            author_id: None,
            meta: json!({"delivery": "queued", "automatic": "portal_ack"}),
        },
    )
    .await?;
    // `kind: ack`: sent with Auto-Submitted (RFC 3834), so that robots do not answer it.
    let payload = json!({"subject": subject, "body": body, "html": null, "kind": "ack"});
    tickets::insert_outbox(
        &mut tx,
        channel,
        ticket.id,
        Some(interaction.id),
        &to,
        &payload,
    )
    .await?;
    crate::realtime::events::commit(tx).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ComplaintReceipt {
            ticket_number: ticket.id,
            acknowledged_by: vec![channel.as_str()],
        }),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct StatusQuery {
    #[serde(default)]
    contact: String,
    /// The key of the acknowledgement's status link.
    #[serde(default)]
    key: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct PublicReply {
    channel: Channel,
    subject: String,
    body: String,
    created_at: i64,
}

#[derive(Serialize, schemars::JsonSchema)]
struct TicketStatus {
    ticket_number: i64,
    status: Status,
    kind: Kind,
    created_at: i64,
    updated_at: i64,
    /// Whether `subject` and `replies` are included (the look-up had the ticket's key).
    conversation: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    /// What the service desk sent the customer (never internal notes).
    #[serde(skip_serializing_if = "Option::is_none")]
    replies: Option<Vec<PublicReply>>,
}

/// Is `contact` one given with ticket `t` on the portal, or an identity of its customer?
async fn contact_matches(
    state: &AppState,
    t: &crate::tickets::Ticket,
    contact: &str,
) -> AppResult<bool> {
    let kind = if contact.contains('@') {
        IdentityKind::Email
    } else {
        IdentityKind::Phone
    };
    let Ok(value) = identity::normalize(kind, contact, &state.phones) else {
        return Ok(false);
    };
    let given = tickets::list_interactions(&state.db, t.id)
        .await?
        .iter()
        .filter(|i| i.meta["source"] == "portal")
        .any(|i| {
            i.meta["contacts"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c.as_str() == Some(&value)))
        });
    if given {
        return Ok(true);
    }
    Ok(match t.customer_id {
        Some(cid) => crate::customers::store::find_customer(&state.db, cid)
            .await?
            .identities
            .iter()
            .any(|i| i.kind == kind && i.value == value),
        None => false,
    })
}

/// Does `key` open ticket `id` (its status link's key; compared by hash)?
async fn key_matches(db: &Db, id: i64, key: &str) -> AppResult<bool> {
    let row = sqlx::query("SELECT portal_key_hash FROM tickets WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    let stored: Option<String> = match row {
        Some(r) => r.try_get("portal_key_hash")?,
        None => None,
    };
    Ok(stored.is_some_and(|h| {
        // Equal lengths (hex of SHA-256); compared without an early exit.
        let given = status_key_hash(key);
        h.len() == given.len()
            && h.bytes()
                .zip(given.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }))
}

/// With the key of the acknowledgement's link: status, subject and public replies. With the
/// ticket's contact: the status only (numbers are sequential and contacts are often known to
/// others; the conversation is for whoever received the acknowledgement). Any mismatch is the
/// same 404 as a missing ticket, so numbers cannot be probed for existence. Every look-up
/// counts against the address's budget (`HOTLINE_PORTAL_PER_MINUTE`).
async fn get_ticket_status(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(number): Path<i64>,
    Query(q): Query<StatusQuery>,
) -> AppResult<axum::Json<TicketStatus>> {
    let client = crate::limits::client_key(peer.ip());
    if let Err(retry_after) = state.limits.portal.lookups.take(&client) {
        return Err(AppError::RateLimited { retry_after });
    }
    let key = optional_text("key", q.key.trim(), 100)?;
    if key.is_empty() {
        required_text("contact", &q.contact, 254)?;
    }
    let contact = optional_text("contact", q.contact.trim(), 254)?;
    let found = match tickets::find_ticket(&mut &state.db, number).await {
        Ok(t) => Some(t),
        Err(AppError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let mut ticket = None;
    let mut conversation = false;
    if let Some(t) = found {
        if !key.is_empty() {
            conversation = key_matches(&state.db, t.id, &key).await?;
            if conversation {
                ticket = Some(t);
            }
        } else if contact_matches(&state, &t, &contact).await? {
            ticket = Some(t);
        }
    }
    let Some(mut ticket) = ticket else {
        return Err(AppError::NotFound("ticket"));
    };
    // A merged ticket lives on in the one it was merged into.
    for _ in 0..8 {
        match ticket.merged_into {
            Some(into) => ticket = tickets::find_ticket(&mut &state.db, into).await?,
            None => break,
        }
    }
    let replies = if conversation {
        Some(
            tickets::list_interactions(&state.db, ticket.id)
                .await?
                .into_iter()
                .filter(|i| i.direction == Direction::Out)
                .map(|i| PublicReply {
                    channel: i.channel,
                    subject: i.subject,
                    body: i.body,
                    created_at: i.created_at,
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(axum::Json(TicketStatus {
        ticket_number: number,
        status: ticket.status,
        kind: ticket.kind,
        created_at: ticket.created_at,
        updated_at: ticket.updated_at,
        conversation,
        subject: conversation.then_some(ticket.subject),
        replies,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_tokens() {
        let key = b"k".repeat(32);
        let t = sign_form_token(&key, 1_000_000);
        assert_eq!(check_form_token(&key, &t, 1_005_000, 3000), Ok(()));
        assert_eq!(
            check_form_token(&key, &t, 1_001_000, 3000),
            Err(TokenProblem::TooFresh)
        );
        assert_eq!(
            check_form_token(&key, &t, 1_000_000 + FORM_MAX_AGE_MS + 1, 3000),
            Err(TokenProblem::Expired)
        );
        assert_eq!(
            check_form_token(b"other", &t, 1_005_000, 3000),
            Err(TokenProblem::Forged)
        );
        let tampered = t.replacen("1000000", "900000", 1);
        assert_eq!(
            check_form_token(&key, &tampered, 1_005_000, 3000),
            Err(TokenProblem::Forged)
        );
        assert_eq!(
            check_form_token(&key, "x", 0, 0),
            Err(TokenProblem::Malformed)
        );
    }

    #[test]
    fn file_names() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("C:\\x\\photo.jpg"), "photo.jpg");
        assert_eq!(safe_file_name("..."), "attachment");
        assert_eq!(safe_file_name("a<b>.txt"), "a_b_.txt");
    }
}
