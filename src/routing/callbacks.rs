//! Callbacks as a call center works them: who to call and why, when it is due, how many tries
//! so far, and the outcome an agent records after dialling (reached, no answer, wrong number,
//! call back later), which resolves the callback or puts it back in its queue for later.

use super::offers::{self, COLUMNS, OPEN_STATES, Settle, WorkItem};
use crate::db::{Db, Exec, FromRow, ReadRow, WriteJob, now_ms};
use crate::error::{AppError, AppResult};
use crate::realtime::events;
use crate::tickets::store::{self as tickets, NewInteraction, TicketChanges};
use crate::tickets::{Channel, Direction, Kind, Status, SystemText};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What an agent can record after trying to call back.
pub const OUTCOMES: &[&str] = &["reached", "no_answer", "wrong_number", "later"];
/// A callback put off without a time comes back after this long.
const RETRY_AFTER_MS: i64 = 30 * 60_000;
/// The furthest a callback can be put off.
const RETRY_MAX_MS: i64 = 30 * 24 * 3_600_000;

/// A callback ticket's state for the console.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct CallbackInfo {
    pub phone: String,
    /// Why to call (the missed call, or the note given when it was asked for).
    pub reason: String,
    /// The reason as data when the system wrote it (a missed call), for the reader's language.
    pub reason_data: Option<SystemText>,
    /// When it should be done by (or, put off, when it comes back).
    pub due_ms: Option<i64>,
    /// Tries so far: calls placed and outcomes recorded.
    pub attempts: i64,
    pub outcomes: Vec<OutcomeEntry>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct OutcomeEntry {
    pub outcome: String,
    pub at_ms: i64,
    pub by: Option<i64>,
    pub note: String,
}

struct Note {
    meta: String,
    author_id: Option<i64>,
    created_at: i64,
}

impl FromRow for Note {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Note {
            meta: r.try_get("meta")?,
            author_id: r.try_get("author_id")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

/// The callback facts of `ticket_id`, or None when it is not a callback ticket.
pub async fn info<E: Exec>(exec: &mut E, ticket_id: i64) -> AppResult<Option<CallbackInfo>> {
    let t = tickets::find_ticket(exec, ticket_id).await?;
    if t.kind != Kind::Callback {
        return Ok(None);
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM work_items WHERE ticket_id = $1 AND kind = 'callback' \
         ORDER BY id DESC LIMIT 1"
    );
    let item: Option<WorkItem> = exec.row(&sql, vec![ticket_id.into()]).await?;
    let notes: Vec<Note> = exec
        .rows(
            "SELECT meta, author_id, created_at FROM interactions \
             WHERE ticket_id = $1 AND channel = 'note' ORDER BY id",
            vec![ticket_id.into()],
        )
        .await?;
    let mut attempts = 0;
    let mut outcomes = Vec::new();
    let mut missed_due = None;
    let mut reason_data = None;
    for n in notes {
        let meta: serde_json::Value = serde_json::from_str(&n.meta).unwrap_or_default();
        if meta.get("callback_attempt").is_some() {
            attempts += 1;
        }
        if let Some(o) = meta.get("callback_outcome").and_then(|o| o.as_str()) {
            attempts += 1;
            outcomes.push(OutcomeEntry {
                outcome: o.to_string(),
                at_ms: n.created_at,
                by: n.author_id,
                note: meta["note"].as_str().unwrap_or_default().to_string(),
            });
        }
        if let Some(d) = meta.get("callback_due_ms").and_then(|d| d.as_i64()) {
            missed_due = Some(d);
        }
        if meta.get("missed_call").is_some() {
            reason_data = serde_json::from_value(meta["text"].clone()).ok();
        }
    }
    let (phone, reason, due) = match &item {
        Some(w) => (
            w.phone.clone(),
            w.note.clone(),
            w.not_before.or(w.resolution_due).or(missed_due),
        ),
        None => (String::new(), String::new(), missed_due),
    };
    Ok(Some(CallbackInfo {
        phone,
        reason,
        reason_data,
        due_ms: due,
        attempts,
        outcomes,
    }))
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
pub struct OutcomeBody {
    pub outcome: String,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub retry_at_ms: Option<i64>,
}

/// Records `by`'s outcome of a call back: `reached` and `wrong_number` resolve the ticket;
/// `no_answer` and `later` end the current try and queue the callback again, not offered
/// before `retry_at_ms` (default in 30 minutes).
pub async fn record_outcome(
    db: &Db,
    ticket_id: i64,
    by: i64,
    body: &OutcomeBody,
) -> AppResult<CallbackInfo> {
    if !OUTCOMES.contains(&body.outcome.as_str()) {
        return Err(AppError::validation(
            "outcome",
            "outcome must be reached, no_answer, wrong_number or later",
        ));
    }
    let note = body.note.as_deref().unwrap_or("").trim().to_string();
    if note.chars().count() > 2000 {
        return Err(AppError::validation(
            "note",
            "note must be at most 2000 characters",
        ));
    }
    let now = now_ms();
    let retry = body.retry_at_ms.unwrap_or(now + RETRY_AFTER_MS);
    let reschedule = body.outcome == "later" || body.outcome == "no_answer";
    if reschedule && (retry < now - 60_000 || retry > now + RETRY_MAX_MS) {
        return Err(AppError::validation(
            "retry_at_ms",
            "retry_at_ms must be between now and 30 days from now",
        ));
    }
    let job = Outcome {
        ticket_id,
        by,
        outcome: body.outcome.clone(),
        note,
        retry,
    };
    events::write(db, job).await?;
    let mut db = db;
    info(&mut db, ticket_id)
        .await?
        .ok_or(AppError::NotFound("callback"))
}

struct Outcome {
    ticket_id: i64,
    by: i64,
    outcome: String,
    note: String,
    retry: i64,
}

impl WriteJob for Outcome {
    type Out = ();

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<()> {
        let t = tickets::find_ticket(tx, self.ticket_id).await?;
        if t.kind != Kind::Callback {
            return Err(AppError::Conflict("this ticket is not a callback".into()));
        }
        if !t.status.is_open() {
            return Err(AppError::Conflict("this callback is closed already".into()));
        }
        let reschedule = matches!(self.outcome.as_str(), "no_answer" | "later");
        let english = match self.outcome.as_str() {
            "reached" => "reached the customer",
            "no_answer" => "no answer",
            "wrong_number" => "wrong number",
            _ => "call back later",
        };
        let mut body = format!("Callback outcome: {english}");
        if !self.note.is_empty() {
            body.push_str(&format!(" — {}", self.note));
        }
        let mut meta = json!({"callback_outcome": self.outcome, "note": self.note,
            "text": SystemText::new("callback.outcome",
                json!({"outcome": self.outcome, "note": self.note}))});
        if reschedule {
            meta["retry_at_ms"] = json!(self.retry);
        }
        tickets::insert_interaction(
            tx,
            db,
            &NewInteraction {
                ticket_id: t.id,
                customer_id: t.customer_id,
                channel: Channel::Note,
                direction: Direction::Internal,
                from_addr: String::new(),
                to_addr: String::new(),
                subject: String::new(),
                body,
                external_id: None,
                author_id: Some(self.by),
                meta,
            },
        )
        .await?;
        if !reschedule {
            // Resolved: routing finishes the work item and frees the agent (follow_tickets).
            let mut tags = t.tags.clone();
            if self.outcome == "wrong_number" && !tags.iter().any(|x| x == "wrong_number") {
                tags.push("wrong_number".into());
            }
            let change = TicketChanges {
                status: Some(Status::Resolved),
                assignee_id: Some(t.assignee_id.or(Some(self.by))),
                tags: Some(tags),
                ..TicketChanges::default()
            };
            tickets::update_ticket(tx, db, t.id, &change, Some(self.by)).await?;
            return Ok(());
        }
        // This try is over; the callback waits in its queue again, not offered before the
        // time agreed.
        let open = open_work(tx, t.id).await?;
        let (phone, reason) = match &open {
            Some(w) => (w.phone.clone(), w.note.clone()),
            None => (String::new(), String::new()),
        };
        queue_again(
            tx,
            db,
            t.id,
            Some(self.by),
            &phone,
            &reason,
            Some(self.retry),
            None,
        )
        .await?;
        Ok(())
    }
}

async fn open_work<E: Exec>(tx: &mut E, ticket_id: i64) -> AppResult<Option<WorkItem>> {
    let sql =
        format!("SELECT {COLUMNS} FROM work_items WHERE ticket_id = $1 AND state IN {OPEN_STATES}");
    tx.row(&sql, vec![ticket_id.into()]).await
}

/// Ends the ticket's open work item, if any (done; whoever held it is free again).
pub async fn end_open_work<E: Exec>(tx: &mut E, db: &Db, ticket_id: i64) -> AppResult<()> {
    if let Some(w) = open_work(tx, ticket_id).await? {
        let now = now_ms();
        let to = Settle {
            state: "done",
            assigned_to: None,
            assigned_at: Some(now),
            done_at: Some(now),
        };
        if offers::settle(tx, db, &w, to).await?
            && let Some(agent) = w.assigned_to
        {
            offers::after_work(tx, db, 0, agent, &["busy"]).await?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
/// Puts a callback (again) in its ticket's queue: the ticket's open work ends (freeing its
/// agent), the ticket goes back to the queue, open and nobody's, and a new callback item waits
/// there, not offered before `not_before` (the SLA clocks move by the wait), due by `due` when
/// given (else by its queue's callback SLA). A missed callback's retry and a complaint's
/// confirmation call (回访) both come through here.
pub async fn queue_again<E: Exec>(
    tx: &mut E,
    db: &Db,
    ticket_id: i64,
    actor: Option<i64>,
    phone: &str,
    reason: &str,
    not_before: Option<i64>,
    due: Option<i64>,
) -> AppResult<WorkItem> {
    end_open_work(tx, db, ticket_id).await?;
    let change = TicketChanges {
        assignee_id: Some(None),
        status: Some(Status::Open),
        ..TicketChanges::default()
    };
    tickets::update_ticket(tx, db, ticket_id, &change, actor).await?;
    let w = super::insert_callback(tx, db, ticket_id, None, phone, reason).await?;
    if let Some(at) = not_before {
        let delay = at - w.enqueued_at;
        tx.run(
            "UPDATE work_items SET not_before = $2, \
             first_response_due = first_response_due + $3, resolution_due = resolution_due + $3, \
             next_clock_at = next_clock_at + $3 WHERE id = $1",
            vec![w.id.into(), at.into(), delay.max(0).into()],
        )
        .await?;
    }
    if let Some(due) = due {
        tx.run(
            "UPDATE work_items SET resolution_due = $2, \
             next_clock_at = COALESCE(next_clock_at, $3) WHERE id = $1",
            vec![w.id.into(), due.into(), now_ms().into()],
        )
        .await?;
    }
    Ok(w)
}
