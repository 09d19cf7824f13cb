//! Turning one stored raw message into a ticket interaction: parse, identify the sender, thread,
//! keep the attachments, call intake, queue the acknowledgement, mark the raw row processed.
//! Safe to run twice on the same row (intake is idempotent on the Message-ID).

use super::mime::{self, ParsedMail};
use super::{store, threading};
use crate::app::AppState;
use crate::customers::Identity;
use crate::customers::identity::IdentityKind;
use crate::db::{Db, Exec, WriteJob, now_ms};
use crate::error::{AppError, AppResult};
use crate::intake::{self, Inbound, Outcome};
use crate::tickets::{Channel, attachments};
use serde_json::json;
use std::time::Duration;

/// Attempts before a message that keeps failing is quarantined.
const MAX_ATTEMPTS: i64 = 3;

/// Processes stored message `id`. On error the row stays `received` (retried by the background
/// task) until it is quarantined; the error is returned for logging. A mail that its parsing
/// cannot handle (over the time budget, or a panic in a parser) is quarantined at once.
pub async fn process(state: &AppState, id: i64) -> AppResult<Option<Outcome>> {
    let mut row = store::find_inbound(&state.db, id).await?;
    if row.status != "received" {
        return Ok(None);
    }
    let raw = std::mem::take(&mut row.raw);
    let budget = Duration::from_millis(state.config.mail_parse_budget_ms);
    let parsed = match parse_in_budget(raw, budget).await {
        Ok(parsed) => parsed,
        Err(reason) => {
            store::quarantine(&state.db, id, &reason).await?;
            tracing::warn!(id, reason, "inbound mail quarantined");
            metrics::counter!("hotline_email_quarantined_total").increment(1);
            return Err(AppError::Unprocessable(reason));
        }
    };
    match process_row(state, &row, parsed).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            let reason = failure_reason(&e);
            let status = store::update_failed(&state.db, id, &reason, MAX_ATTEMPTS)
                .await
                .unwrap_or_default();
            if status == "quarantined" {
                tracing::warn!(id, error = %reason, "inbound mail quarantined");
                metrics::counter!("hotline_email_quarantined_total").increment(1);
            }
            Err(e)
        }
    }
}

/// Parses and sanitizes a mail on the blocking pool, so that a costly mail never holds an async
/// worker, within `budget`. A parse over the budget is abandoned (its thread finishes on its
/// own) and named as the reason.
pub async fn parse_in_budget(raw: Vec<u8>, budget: Duration) -> Result<ParsedMail, String> {
    let task = tokio::task::spawn_blocking(move || mime::parse(&raw));
    match tokio::time::timeout(budget, task).await {
        Ok(Ok(parsed)) => Ok(parsed),
        Ok(Err(e)) if e.is_panic() => {
            Err("parsing the message failed (the parser panicked)".into())
        }
        Ok(Err(_)) => Err("parsing the message was cancelled".into()),
        Err(_) => Err(format!(
            "parsing the message took longer than its budget of {} ms",
            budget.as_millis()
        )),
    }
}

/// The cause of a failure as an admin reads it in the quarantine list: the whole chain of an
/// internal error (e.g. the database's refusal), not just "internal error".
fn failure_reason(e: &AppError) -> String {
    match e {
        AppError::Internal(inner) => format!("{inner:#}"),
        other => other.to_string(),
    }
}

async fn process_row(
    state: &AppState,
    row: &store::InboundMail,
    parsed: ParsedMail,
) -> AppResult<Option<Outcome>> {
    let sender = sender_of(state, &parsed, &row.envelope_from);
    let thread = threading::decide(&state.db, &parsed, sender.as_deref()).await?;
    let attachments = keep_attachments(state, &parsed).await?;
    let body = if parsed.new_text.trim().is_empty() {
        parsed.text.clone()
    } else {
        parsed.new_text.clone()
    };
    let to_addr = parsed
        .to
        .iter()
        .find(|a| state.config.support_addresses().contains(a))
        .cloned()
        .or_else(|| {
            row.envelope_to
                .split(',')
                .next()
                .filter(|a| a.contains('@'))
                .map(str::to_string)
        })
        .unwrap_or_default();
    let mut msg = Inbound::new(
        Channel::Email,
        sender.clone().map(|value| Identity {
            kind: IdentityKind::Email,
            value,
        }),
        body,
    );
    msg.display_name = parsed.from_name.clone();
    msg.to_addr = to_addr;
    msg.subject = parsed.subject.chars().take(500).collect();
    msg.external_id = Some(parsed.dedup_key.clone());
    msg.thread = thread;
    msg.meta = json!({
        "message_id": parsed.message_id,
        "in_reply_to": parsed.in_reply_to,
        "references": parsed.references,
        "html": parsed.html,
        "quoted": parsed.quoted,
        "cc": parsed.cc,
        "attachments": attachments,
        "automated": parsed.automated,
        "problems": parsed.problems,
        "malformed": !parsed.problems.is_empty(),
        "content_sha256": parsed.content_sha256,
        "inbound_mail_id": row.id,
        "source": row.source,
    });
    let job = StoreMail {
        state: state.clone(),
        msg,
        parsed,
        row_id: row.id,
        envelope_from: row.envelope_from.clone(),
        sender,
    };
    let outcome = state.db.write(job).await?;
    intake::committed(&outcome, Channel::Email);
    metrics::counter!("hotline_email_received_total", "source" => row.source.clone()).increment(1);
    Ok(Some(outcome))
}

/// Everything a mail writes, in one transaction: intake's ticket and interaction, the raw row
/// marked processed, the attachment rows and the acknowledgement.
struct StoreMail {
    state: AppState,
    msg: Inbound,
    parsed: ParsedMail,
    row_id: i64,
    envelope_from: String,
    sender: Option<String>,
}

impl WriteJob for StoreMail {
    type Out = Outcome;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<Outcome> {
        let key = self.key(tx).await?;
        let outcome = if key == self.parsed.dedup_key {
            intake::receive_in(tx, db, &self.msg).await?
        } else {
            // Another mail already has this Message-ID: this one is a message of its own.
            let mut msg = self.msg.clone();
            msg.external_id = Some(key.clone());
            msg.meta["reused_message_id"] = true.into();
            intake::receive_in(tx, db, &msg).await?
        };
        let note = outcome.duplicate.then_some("duplicate");
        let (ticket_id, interaction_id) = (outcome.ticket.id, outcome.interaction.id);
        let marked =
            store::update_processed(tx, self.row_id, &key, ticket_id, interaction_id, note).await?;
        let own = outcome.interaction.meta["inbound_mail_id"].as_i64() == Some(self.row_id);
        if outcome.duplicate && marked && !own {
            // Folded into an earlier delivery: the ticket shows it among that one's duplicates.
            store::note_duplicate(tx, interaction_id, self.row_id).await?;
        }
        // Two workers may process one row (the SMTP session and the re-processor). Intake lets
        // exactly one of them store the interaction: that one keeps the attachments and sends
        // the acknowledgement, whichever of them marked the row processed.
        if !outcome.duplicate {
            let limit = self.state.config.attachment_max_size;
            let rows: Vec<attachments::NewAttachment> = (self.parsed.attachments.iter())
                .map(|a| attachments::NewAttachment {
                    filename: a.filename.clone(),
                    content_type: a.content_type.clone(),
                    size: a.size as i64,
                    sha256: a.sha256.clone(),
                    inline: a.inline,
                    content_id: a.content_id.clone(),
                    stored: (a.size as u64) <= limit,
                })
                .collect();
            attachments::insert(tx, interaction_id, &rows).await?;
            if outcome.ticket_created {
                let (parsed, from) = (&self.parsed, &self.envelope_from);
                queue_ack(
                    &self.state,
                    tx,
                    parsed,
                    self.row_id,
                    from,
                    self.sender.as_deref(),
                    &outcome,
                )
                .await?;
            }
        }
        Ok(outcome)
    }
}

impl StoreMail {
    /// The idempotency key: the parser's (Message-ID, or the content hash without one), unless
    /// a stored mail has the same Message-ID and other content (a sender that reuses its
    /// Message-IDs): then the Message-ID with this mail's content hash, so that this mail is a
    /// message of its own and its own retries still collapse.
    async fn key<E: Exec>(&self, tx: &mut E) -> AppResult<String> {
        let parsed = &self.parsed;
        let Some(message_id) = &parsed.message_id else {
            return Ok(parsed.dedup_key.clone());
        };
        let existing =
            crate::tickets::store::find_interaction_by_external(tx, Channel::Email, message_id)
                .await?;
        // Mail stored before content hashes were kept (or our own outgoing mail) has none: the
        // Message-ID alone decides, as it did.
        let other_content = existing
            .as_ref()
            .and_then(|i| i.meta["content_sha256"].as_str())
            .is_some_and(|h| h != parsed.content_sha256);
        Ok(if other_content {
            format!("{message_id}#sha256:{}", parsed.content_sha256)
        } else {
            parsed.dedup_key.clone()
        })
    }
}

/// The customer's address: From, else the envelope sender. Our own addresses never become
/// customers (a loop), and neither does an empty or invalid one.
fn sender_of(state: &AppState, parsed: &ParsedMail, envelope_from: &str) -> Option<String> {
    let candidate = parsed
        .from
        .clone()
        .or_else(|| Some(envelope_from.trim().to_ascii_lowercase()))?;
    crate::customers::identity::normalize(IdentityKind::Email, &candidate, &state.phones).ok()
}

/// Keeps the bytes of every attachment small enough (`tickets::attachments::keep_file`,
/// content-addressed, so a retry rewrites nothing) and returns their descriptions for the
/// interaction's meta.
async fn keep_attachments(state: &AppState, parsed: &ParsedMail) -> AppResult<serde_json::Value> {
    let mut list = Vec::new();
    for a in &parsed.attachments {
        let stored = (a.size as u64) <= state.config.attachment_max_size;
        if stored {
            attachments::keep_file(&state.config.data_dir, &a.sha256, &a.data).await?;
        }
        list.push(json!({
            "filename": a.filename,
            "content_type": a.content_type,
            "size": a.size,
            "sha256": a.sha256,
            "inline": a.inline,
            "content_id": a.content_id,
            "stored": stored,
        }));
    }
    Ok(serde_json::Value::Array(list))
}

/// Acknowledges a new ticket, except to automated or bulk mail, mail the receiving MTA found
/// unauthenticated (`ack::refusal`), null senders, our own addresses, and senders over the
/// hourly limit. It repeats only a short, cleaned subject and name (no backscatter, no
/// nesting of earlier acknowledgements).
async fn queue_ack<E: Exec>(
    state: &AppState,
    tx: &mut E,
    parsed: &ParsedMail,
    row_id: i64,
    envelope_from: &str,
    sender: Option<&str>,
    outcome: &Outcome,
) -> AppResult<()> {
    let Some(to) = sender else { return Ok(()) };
    let ours = state.config.support_addresses();
    if !state.config.mail_ack
        || envelope_from.trim().is_empty()
        || ours.iter().any(|a| a == to)
        || to == state.config.mail_from().to_ascii_lowercase()
    {
        return Ok(());
    }
    let trusted = state.config.mail_authserv_ids();
    let refused = match &parsed.automated {
        Some(why) => Some(why.clone()),
        None => super::ack::refusal(&store::raw_of(tx, row_id).await?, |id| {
            super::ack::is_trusted(id, &trusted)
        }),
    };
    if let Some(why) = refused {
        tracing::debug!(ticket = outcome.ticket.id, reason = %why, "no acknowledgement");
        metrics::counter!("hotline_email_ack_skipped_total").increment(1);
        return Ok(());
    }
    let since = now_ms() - 3_600_000;
    if store::count_acks_since(tx, to, since).await? >= state.config.mail_ack_per_hour as i64 {
        metrics::counter!("hotline_email_ack_rate_limited_total").increment(1);
        return Ok(());
    }
    let language = super::ack_language(&format!("{} {}", parsed.subject, parsed.text));
    let (subject_t, body_t) =
        match store::find_ack_template(tx, outcome.ticket.queue_id, language).await? {
            Some(t) => t,
            None => {
                let (s, b) = super::default_ack_template(language);
                (s.to_string(), b.to_string())
            }
        };
    // The prefixes of this template and the built-in ones, so that a reply to any earlier
    // acknowledgement is not echoed inside the new one.
    let mut prefixes = vec![super::ack::template_prefix(&subject_t)];
    for lang in ["en", "zh"] {
        prefixes.push(super::ack::template_prefix(
            super::default_ack_template(lang).0,
        ));
    }
    let echoed = super::ack::echo_subject(&parsed.subject, &prefixes);
    let name = (parsed.from_name.as_deref())
        .map(super::ack::echo_name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| to.to_string());
    let ticket = outcome.ticket.id;
    let subject = super::fill_template(&subject_t, ticket, &echoed, &name);
    let payload = json!({
        "kind": "ack",
        "subject": subject.trim_end_matches([' ', ':', '：']),
        "body": super::fill_template(&body_t, ticket, &echoed, &name),
        "html": null,
        "in_reply_to": parsed.message_id,
    });
    store::insert_ack(tx, ticket, to, &payload).await
}

/// Re-processes rows left `received` (a crash between the 250 and processing, or a failure):
/// at start all those stored before the start, then every few seconds those older than a grace
/// period. (A mail that arrives meanwhile is its SMTP session's to process; a first pass that
/// ran late used to process it a second time, concurrently.)
pub async fn run_recovery(state: AppState) {
    let mut cutoff = now_ms();
    loop {
        match store::list_unprocessed(&state.db, cutoff, 500).await {
            Ok(ids) => {
                for id in ids {
                    if let Err(e) = process(&state, id).await {
                        tracing::warn!(id, error = %e, "inbound mail processing failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing unprocessed mail failed"),
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        cutoff = now_ms() - 10_000;
    }
}

/// Commits raw messages from concurrent sessions in shared transactions (group commit): one
/// fsync for many mails instead of one each. Each caller still learns its own row id only
/// after the commit.
#[derive(Clone)]
pub struct RawCommitter {
    queue: tokio::sync::mpsc::Sender<(store::NewRaw, tokio::sync::oneshot::Sender<AppResult<i64>>)>,
}

/// Most messages committed in one transaction.
const GROUP_MAX: usize = 128;

impl RawCommitter {
    pub fn start(db: crate::db::Db) -> RawCommitter {
        let (queue, mut rx) = tokio::sync::mpsc::channel::<(
            store::NewRaw,
            tokio::sync::oneshot::Sender<AppResult<i64>>,
        )>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < GROUP_MAX {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (rows, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                match store::insert_raw_batch(&db, rows).await {
                    Ok(ids) => {
                        for (reply, id) in replies.into_iter().zip(ids) {
                            let _ = reply.send(Ok(id));
                        }
                    }
                    Err(e) => {
                        let overloaded = matches!(e, AppError::Overloaded);
                        let text = e.to_string();
                        for reply in replies {
                            let _ = reply.send(Err(if overloaded {
                                AppError::Overloaded
                            } else {
                                AppError::Internal(anyhow::anyhow!(text.clone()))
                            }));
                        }
                    }
                }
            }
        });
        RawCommitter { queue }
    }

    /// Stores one raw message durably and returns its row id.
    pub async fn store(&self, raw: store::NewRaw) -> AppResult<i64> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // A full queue is an overload to push back on (SMTP 451 4.3.2), not a wait.
        self.queue.try_send((raw, tx)).map_err(|e| match e {
            tokio::sync::mpsc::error::TrySendError::Full(_) => AppError::Overloaded,
            tokio::sync::mpsc::error::TrySendError::Closed(_) => AppError::Unavailable,
        })?;
        rx.await.map_err(|_| AppError::Unavailable)?
    }
}
