//! The email sender: delivers `outbox` rows of channel 'email' through the configured relay with
//! lettre, threading headers and the `[#N]` token set, retries with backoff across restarts, and
//! marks permanent failures on the ticket. Never touches other channels' rows.

use super::{store, threading};
use crate::app::AppState;
use crate::channels::outbox::{self, Claimed, Outcome};
use crate::db::now_ms;
use crate::error::{AppError, AppResult};
use crate::tickets::store as tickets;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;
use std::time::Duration;

/// One claimed outbox row (see `channels::outbox`).
type Job = Claimed;

/// Wakes the sender early (a reply was queued); it also polls.
pub static WAKE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Delay before attempt `attempts + 1`: doubles from `base_ms`, at most an hour.
pub fn backoff_ms(base_ms: u64, attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 20) as u32 - 1;
    base_ms.saturating_mul(1u64 << exp).min(3_600_000) as i64
}

/// Runs until aborted. Without a relay the outbox simply waits.
pub async fn run_sender(state: AppState) {
    let relay = state.config.smtp_relay.expose().to_string();
    if relay.is_empty() {
        tracing::info!("no HOTLINE_SMTP_RELAY: outgoing email waits in the outbox");
        return;
    }
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&relay) {
        Ok(b) => b.timeout(Some(Duration::from_secs(20))).build(),
        Err(e) => {
            tracing::error!(error = %e, "HOTLINE_SMTP_RELAY is not a valid smtp:// URL");
            return;
        }
    };
    loop {
        let jobs = match claim_due(&state, 16).await {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, "claiming outbox rows failed");
                Vec::new()
            }
        };
        if jobs.is_empty() {
            let _ = tokio::time::timeout(Duration::from_millis(250), WAKE.notified()).await;
            continue;
        }
        for job in jobs {
            let result = send(&state, &transport, &job).await;
            if let Err(e) = record(&state, &job, result).await {
                tracing::warn!(id = job.id, error = %e, "recording outbox result failed");
            }
        }
    }
}

/// Claims due email rows for this node with the outbox lease: a row another node is sending
/// is left alone until its lease runs out (rows of a node that died are sent then).
async fn claim_due(state: &AppState, limit: i64) -> AppResult<Vec<Job>> {
    outbox::claim(
        &state.db,
        crate::tickets::Channel::Email,
        &state.node_id,
        Duration::from_secs(state.config.outbox_lease_secs.max(1)),
        limit,
    )
    .await
}

/// How one attempt ended.
enum Sent {
    Ok(String),
    Retry(String),
    Permanent(String),
}

async fn send(state: &AppState, transport: &AsyncSmtpTransport<Tokio1Executor>, job: &Job) -> Sent {
    let message = match build(state, job).await {
        Ok(m) => m,
        Err((permanent, why)) if permanent => return Sent::Permanent(why),
        Err((_, why)) => return Sent::Retry(why),
    };
    let (message, message_id) = message;
    match transport.send(message).await {
        Ok(_) => Sent::Ok(message_id),
        Err(e) if e.is_permanent() => Sent::Permanent(e.to_string()),
        Err(e) => Sent::Retry(e.to_string()),
    }
}

/// The MIME message of a job and its Message-ID; an error says whether retrying can help.
async fn build(state: &AppState, job: &Job) -> Result<(Message, String), (bool, String)> {
    let from: Mailbox = state
        .config
        .mail_from()
        .parse()
        .map_err(|e| (true, format!("mail_from is not an address: {e}")))?;
    let to: Mailbox = job
        .recipient
        .parse()
        .map_err(|e| (true, format!("recipient is not an address: {e}")))?;
    let ticket_id = job.ticket_id.unwrap_or(0);
    let message_id = threading::outgoing_message_id(job.id, ticket_id, &state.config.mail_from());
    let mut subject = job.payload["subject"].as_str().unwrap_or("").to_string();
    let token = format!("[#{ticket_id}]");
    if ticket_id > 0 && !subject.contains(&token) {
        subject = format!("{subject} {token}").trim().to_string();
    }
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{message_id}>")));
    if ["ack", "survey", "reminder"].contains(&job.payload["kind"].as_str().unwrap_or("")) {
        // RFC 3834: an automatic answer says so, so that other robots do not answer it.
        builder = builder.header(AutoSubmitted);
    }
    let mut thread = Vec::new();
    if let Some(t) = job.ticket_id {
        thread = store::list_thread_message_ids(&state.db, t)
            .await
            .map_err(|e| (false, e.to_string()))?;
    }
    let in_reply_to = job.payload["in_reply_to"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            thread
                .iter()
                .rev()
                .find(|(_, dir)| dir == "in")
                .or(thread.last())
                .map(|(id, _)| id.clone())
        })
        .filter(|id| !id.starts_with("sha256:"));
    if let Some(id) = &in_reply_to {
        builder = builder.in_reply_to(format!("<{id}>"));
    }
    let mut refs: Vec<String> = thread
        .iter()
        .map(|(id, _)| id.clone())
        .filter(|id| !id.starts_with("sha256:"))
        .collect();
    if let Some(id) = &in_reply_to
        && !refs.contains(id)
    {
        refs.push(id.clone());
    }
    let refs: Vec<String> = refs[refs.len().saturating_sub(20)..]
        .iter()
        .map(|id| format!("<{id}>"))
        .collect();
    if !refs.is_empty() {
        builder = builder.references(refs.join(" "));
    }
    let text = job.payload["body"].as_str().unwrap_or("").to_string();
    let body = match job.payload["html"].as_str().filter(|h| !h.is_empty()) {
        Some(html) => MultiPart::alternative_plain_html(text, html.to_string()),
        None => MultiPart::alternative().singlepart(SinglePart::plain(text)),
    };
    let attachments = job.payload["attachments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let message = if attachments.is_empty() {
        builder.multipart(body)
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for a in attachments {
            let sha = a["sha256"].as_str().unwrap_or("");
            if sha.is_empty() || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err((true, "attachment without a valid sha256".into()));
            }
            let bytes = tokio::fs::read(state.config.data_dir.join("attachments").join(sha))
                .await
                .map_err(|e| (true, format!("attachment {sha}: {e}")))?;
            let ctype = ContentType::parse(
                a["content_type"]
                    .as_str()
                    .unwrap_or("application/octet-stream"),
            )
            .unwrap_or(ContentType::parse("application/octet-stream").expect("valid type"));
            let name = a["filename"].as_str().unwrap_or("attachment").to_string();
            mixed = mixed.singlepart(Attachment::new(name).body(bytes, ctype));
        }
        builder.multipart(mixed)
    };
    message
        .map(|m| (m, message_id))
        .map_err(|e| (true, format!("message cannot be built: {e}")))
}

/// `Auto-Submitted: auto-replied` on acknowledgements.
#[derive(Clone)]
struct AutoSubmitted;

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), "auto-replied".into())
    }
}

/// Stores the outcome: sent, retry later, or failed for good (shown on the ticket).
async fn record(state: &AppState, job: &Job, result: Sent) -> AppResult<()> {
    let now = now_ms();
    let max = state.config.outbox_max_attempts as i64;
    let (status, delivery, error, message_id) = match result {
        Sent::Ok(id) => ("sent", "sent", None, Some(id)),
        Sent::Permanent(e) => ("failed", "failed", Some(e), None),
        Sent::Retry(e) if job.attempts >= max => ("failed", "failed", Some(e), None),
        Sent::Retry(e) => ("pending", "retrying", Some(e), None),
    };
    let outcome = match status {
        "sent" => Outcome::Sent,
        "pending" => Outcome::RetryAt(now + backoff_ms(state.config.outbox_retry_ms, job.attempts)),
        _ => Outcome::Failed,
    };
    // The Message-ID it went out with is kept: only Message-IDs Hotline really sent thread a
    // reply (an acknowledgement has no interaction to keep it on).
    let mut payload = job.payload.clone();
    if let (Some(id), Some(p)) = (&message_id, payload.as_object_mut()) {
        p.insert("message_id".into(), json!(id));
    }
    let mut tx = state.db.begin().await?;
    if !outbox::finish(&mut tx, job, outcome, error.as_deref(), Some(&payload)).await? {
        // Another node holds the row now (this send outlived its lease): its outcome counts.
        return Ok(());
    }
    if let Some(iid) = job.interaction_id {
        let mut patch =
            json!({"delivery": delivery, "delivery_error": error, "attempts": job.attempts});
        if let Some(id) = &message_id {
            patch["message_id"] = json!(id);
            // The reply's Message-ID threads the customer's answer back to this ticket.
            sqlx::query(
                "UPDATE interactions SET external_id = $2 WHERE id = $1 AND external_id IS NULL",
            )
            .bind(iid)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let interaction = tickets::update_interaction_meta(&mut tx, iid, &patch).await?;
        let ticket = tickets::find_ticket(&mut *tx, interaction.ticket_id).await?;
        if status != "pending" || job.attempts == 1 {
            crate::realtime::events::append(
                &mut tx,
                state.db.backend,
                "interaction.delivery",
                tickets::scope_of(&ticket),
                &json!({"interaction_id": iid, "ticket_id": ticket.id, "delivery": delivery,
                        "error": error, "attempts": job.attempts}),
            )
            .await?;
        }
    } else if status == "failed"
        && let Some(t) = job.ticket_id
    {
        let ticket = tickets::find_ticket(&mut *tx, t).await?;
        crate::realtime::events::append(
            &mut tx,
            state.db.backend,
            "email.ack_failed",
            tickets::scope_of(&ticket),
            &json!({"ticket_id": t, "outbox_id": job.id, "error": error}),
        )
        .await?;
    }
    crate::realtime::events::commit(tx)
        .await
        .map_err(AppError::from)?;
    if status == "sent" {
        metrics::counter!("hotline_email_sent_total").increment(1);
    } else if status == "failed" {
        metrics::counter!("hotline_email_failed_total").increment(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_ms(1000, 1), 1000);
        assert_eq!(backoff_ms(1000, 2), 2000);
        assert_eq!(backoff_ms(1000, 4), 8000);
        assert_eq!(backoff_ms(1000, 30), 3_600_000);
    }
}
