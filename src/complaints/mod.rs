//! Complaints, followed until the customer has an answer and has confirmed it (issue #17).
//!
//! A ticket of kind `complaint` has one complaint row: a category (admin-managed, zh/en), a
//! severity (1 critical … 4 low), the order it is about, what the customer wants, and a status
//! that moves received → acknowledged → investigating → responded → confirmed → closed. Each
//! move is a transition (who, when, why), a note on the ticket's timeline (as data, for each
//! reader's language) and a `complaint.transitioned` event. Due times per severity (ack,
//! respond, close) count in the queue's business hours from the start of the round; a reopen
//! (the customer writes again after the response, a "not satisfied" confirmation, a low
//! satisfaction score) starts a new round.
//!
//! When a complaint is responded, a confirmation callback (回访) is queued as callback work on
//! the complaint's ticket; its outcome (`confirm`) closes the complaint as confirmed, reopens
//! it, or tries again until `callback_max_attempts`, then closes it unconfirmed.
//!
//! Reminders (`remind_due`, run by the routing leader): at set points before and after the due
//! time of the step in progress, the owner is notified (and emailed when not signed in); after
//! the due time the queue's supervisors too. Each reminder is a row, so none repeats.
//!
//! Rules here; SQL in store.rs; HTTP in routes.rs.

pub mod routes;
pub mod store;

use crate::clock::Clock;
use crate::db::{Backend, Db, Exec, WriteJob, now_ms};
use crate::error::{AppError, AppResult};
use crate::realtime::events;
use crate::routing::sla;
use crate::tickets::store::{self as tickets, NewInteraction, TicketChanges};
use crate::tickets::{Channel, Direction, Kind, Status, SystemText, Ticket};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The statuses, in order.
pub const STATUSES: [&str; 6] = [
    "received",
    "acknowledged",
    "investigating",
    "responded",
    "confirmed",
    "closed",
];
/// What an agent records after the confirmation call.
pub const CONFIRMATIONS: [&str; 3] = ["satisfied", "not_satisfied", "unreachable"];
/// The category a complaint gets when nobody chose one.
pub const DEFAULT_CATEGORY: &str = "other";
/// The severity a complaint gets when nobody chose one.
pub const DEFAULT_SEVERITY: i64 = 3;
/// Longest free texts (characters).
const TEXT_MAX: usize = 2000;
const MIN_MS: i64 = 60_000;
/// Complaints looked at per pass of the reminder job.
const BATCH: i64 = 200;

/// The step in progress is late: SQL over `complaints c`, `$1` = now.
pub const OVERDUE_SQL: &str = "(c.acknowledged_at IS NULL AND c.ack_due < $1) \
     OR (c.responded_at IS NULL AND c.respond_due < $1) \
     OR (c.status NOT IN ('confirmed', 'closed') AND c.close_due < $1)";

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Category {
    #[serde(default)]
    pub id: i64,
    /// Stable code (`product_quality`, `delivery`, …): lower-case letters, digits, `_`.
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// Inactive categories stay on old complaints but are not offered for new ones.
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub position: i64,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Severity {
    /// 1 critical … 4 low.
    pub level: i64,
    pub name_zh: String,
    pub name_en: String,
    pub description_zh: String,
    pub description_en: String,
    /// Due times in seconds of the queue's working time from the start of the round.
    pub ack_secs: i64,
    pub respond_secs: i64,
    pub close_secs: i64,
    /// The confirmation call is due this long after the response.
    pub callback_secs: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Settings {
    /// Remind the owner this many minutes before each due time (0..=10080 each).
    pub remind_before_minutes: Vec<i64>,
    /// … and this many minutes after it (the queue's supervisors too).
    pub remind_after_minutes: Vec<i64>,
    /// Confirmation calls tried before the complaint closes unconfirmed (1..=10).
    pub callback_max_attempts: i64,
    /// An unreachable customer is called again after this many minutes (5..=10080).
    pub callback_retry_minutes: i64,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Transition {
    /// None for the complaint's creation.
    pub from_status: Option<String>,
    pub to_status: String,
    /// None when the system moved it (a customer's message, a survey, the confirmation tries).
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    /// Why: `created`, `agent` (by hand), `agent_reply` (the first reply acknowledged it),
    /// `ticket_resolved`, `customer_contact`, `low_score`, `not_satisfied`, `satisfied`,
    /// `unreachable`.
    pub reason: String,
    pub note: String,
    pub at_ms: i64,
}

/// A ticket's complaint (`GET /api/tickets/{id}/complaint`).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Complaint {
    pub ticket_id: i64,
    pub category_id: i64,
    pub category_code: String,
    pub category_zh: String,
    pub category_en: String,
    pub severity: i64,
    /// received, acknowledged, investigating, responded, confirmed, closed.
    pub status: String,
    pub order_ref: String,
    pub desired_outcome: String,
    /// 1, then one more per reopen.
    pub round: i64,
    pub round_started_at: i64,
    pub ack_due: Option<i64>,
    pub respond_due: Option<i64>,
    pub close_due: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub responded_at: Option<i64>,
    pub confirmed_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// satisfied, not_satisfied (then reopened), unconfirmed (closed after the last try).
    pub confirmation: Option<String>,
    pub callback_attempts: i64,
    /// Times reopened.
    pub reopened: i64,
    #[serde(skip)]
    pub next_remind_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The step that is late now (`ack`, `respond`, `close`), if any.
    pub overdue: Option<String>,
    /// Every move, oldest first (the register's list leaves them out).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
}

impl Complaint {
    pub fn is_open(&self) -> bool {
        !matches!(self.status.as_str(), "confirmed" | "closed")
    }

    /// The step in progress and its due time: acknowledge, respond, then close.
    pub fn step(&self) -> Option<(&'static str, Option<i64>)> {
        if !self.is_open() {
            None
        } else if self.acknowledged_at.is_none() {
            Some(("ack", self.ack_due))
        } else if self.responded_at.is_none() {
            Some(("respond", self.respond_due))
        } else {
            Some(("close", self.close_due))
        }
    }

    /// The step that is late at `now`.
    pub fn overdue_at(&self, now: i64) -> Option<String> {
        match self.step() {
            Some((step, Some(due))) if due < now => Some(step.to_string()),
            _ => None,
        }
    }
}

/// What a complaint says beyond its ticket (`PUT /api/tickets/{id}/complaint`); absent fields
/// keep their value (or the default for a new complaint).
#[derive(Clone, Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct ComplaintFields {
    pub category_id: Option<i64>,
    /// 1 critical … 4 low.
    pub severity: Option<i64>,
    pub order_ref: Option<String>,
    pub desired_outcome: Option<String>,
}

/// The register's filter (`GET /api/complaints`).
#[derive(Clone, Debug, Default)]
pub struct RegisterFilter {
    pub category_id: Option<i64>,
    pub severity: Option<i64>,
    pub status: Option<String>,
    pub overdue: bool,
    pub queue_id: Option<i64>,
    pub tier: Option<String>,
    pub customer_id: Option<i64>,
    /// Created at or after (ms).
    pub from: Option<i64>,
    /// Created at or before (ms).
    pub to: Option<i64>,
}

fn clean_text(field: &str, v: &str) -> AppResult<String> {
    let v: String = v
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect();
    let v = v.trim().to_string();
    if v.chars().count() > TEXT_MAX {
        return Err(AppError::validation(
            field,
            format!("{field} is longer than {TEXT_MAX} characters"),
        ));
    }
    Ok(v)
}

impl Category {
    pub fn check(&self) -> AppResult<()> {
        let code_ok = !self.code.is_empty()
            && self.code.len() <= 40
            && self
                .code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !code_ok {
            return Err(AppError::validation(
                "code",
                "code must be 1–40 lower-case letters, digits or _",
            ));
        }
        for (field, v) in [("name_zh", &self.name_zh), ("name_en", &self.name_en)] {
            if v.trim().is_empty() || v.chars().count() > 80 {
                return Err(AppError::validation(
                    field,
                    format!("{field} must be 1–80 characters"),
                ));
            }
        }
        Ok(())
    }
}

impl Severity {
    pub fn check(&self) -> AppResult<()> {
        if !(1..=4).contains(&self.level) {
            return Err(AppError::validation("level", "level must be 1..=4"));
        }
        let week4 = 28 * 86_400;
        for (field, v) in [
            ("ack_secs", self.ack_secs),
            ("respond_secs", self.respond_secs),
            ("close_secs", self.close_secs),
            ("callback_secs", self.callback_secs),
        ] {
            if !(60..=week4).contains(&v) {
                return Err(AppError::validation(
                    field,
                    format!("{field} must be 60 seconds to 28 days"),
                ));
            }
        }
        if !(self.ack_secs <= self.respond_secs && self.respond_secs <= self.close_secs) {
            return Err(AppError::validation(
                "respond_secs",
                "due times must come in order: acknowledge ≤ respond ≤ close",
            ));
        }
        for (field, v) in [("name_zh", &self.name_zh), ("name_en", &self.name_en)] {
            if v.trim().is_empty() || v.chars().count() > 40 {
                return Err(AppError::validation(
                    field,
                    format!("{field} must be 1–40 characters"),
                ));
            }
        }
        Ok(())
    }
}

impl Settings {
    pub fn check(&self) -> AppResult<()> {
        for (field, list) in [
            ("remind_before_minutes", &self.remind_before_minutes),
            ("remind_after_minutes", &self.remind_after_minutes),
        ] {
            if list.len() > 10 || list.iter().any(|m| !(0..=10_080).contains(m)) {
                return Err(AppError::validation(
                    field,
                    format!("{field}: at most 10 points of 0..=10080 minutes"),
                ));
            }
        }
        if !(1..=10).contains(&self.callback_max_attempts) {
            return Err(AppError::validation(
                "callback_max_attempts",
                "callback_max_attempts must be 1..=10",
            ));
        }
        if !(5..=10_080).contains(&self.callback_retry_minutes) {
            return Err(AppError::validation(
                "callback_retry_minutes",
                "callback_retry_minutes must be 5..=10080",
            ));
        }
        Ok(())
    }

    /// The reminder points of a step whose due time is `due`: (point in minutes relative to
    /// the due time, negative before; the instant), in time order.
    pub fn points(&self, due: i64) -> Vec<(i64, i64)> {
        let mut out: Vec<(i64, i64)> = self
            .remind_before_minutes
            .iter()
            .map(|m| -m)
            .chain(self.remind_after_minutes.iter().copied())
            .map(|p| (p, due + p * MIN_MS))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// The due times of a round that starts at `from` in the queue's business hours.
async fn due_times<E: Exec>(
    exec: &mut E,
    queue_id: Option<i64>,
    sev: &Severity,
    from: i64,
) -> AppResult<(i64, i64, i64)> {
    let cal = match queue_id {
        Some(q) => sla::find_calendar(exec, q).await?,
        None => sla::Calendar::default(),
    };
    Ok((
        cal.add(from, sev.ack_secs * 1000),
        cal.add(from, sev.respond_secs * 1000),
        cal.add(from, sev.close_secs * 1000),
    ))
}

/// The complaint of a complaint ticket, created with `fields` (defaults: category `other`,
/// severity 3) when it has none yet. Called in the transaction that makes a ticket a complaint
/// (`tickets::store` on insert and on a change of kind).
pub async fn ensure<E: Exec>(
    tx: &mut E,
    backend: Backend,
    ticket: &Ticket,
    fields: &ComplaintFields,
    actor: Option<i64>,
) -> AppResult<Complaint> {
    if let Some(c) = store::find(tx, ticket.id).await? {
        return Ok(c);
    }
    let category_id = match fields.category_id {
        Some(id) => active_category(tx, id).await?,
        None => {
            let all = store::categories(tx).await?;
            all.iter()
                .find(|c| c.code == DEFAULT_CATEGORY)
                .or(all.first())
                .map(|c| c.id)
                .ok_or(AppError::NotFound("complaint category"))?
        }
    };
    let sev = store::find_severity(tx, fields.severity.unwrap_or(DEFAULT_SEVERITY)).await?;
    let now = now_ms();
    let (ack, respond, close) = due_times(tx, ticket.queue_id, &sev, now).await?;
    let c = Complaint {
        ticket_id: ticket.id,
        category_id,
        category_code: String::new(),
        category_zh: String::new(),
        category_en: String::new(),
        severity: sev.level,
        status: "received".into(),
        order_ref: clean_text("order_ref", fields.order_ref.as_deref().unwrap_or(""))?,
        desired_outcome: clean_text(
            "desired_outcome",
            fields.desired_outcome.as_deref().unwrap_or(""),
        )?,
        round: 1,
        round_started_at: now,
        ack_due: Some(ack),
        respond_due: Some(respond),
        close_due: Some(close),
        acknowledged_at: None,
        responded_at: None,
        confirmed_at: None,
        closed_at: None,
        confirmation: None,
        callback_attempts: 0,
        reopened: 0,
        next_remind_at: Some(now),
        created_at: now,
        updated_at: now,
        overdue: None,
        transitions: Vec::new(),
    };
    store::insert(tx, &c).await?;
    let t = Transition {
        from_status: None,
        to_status: "received".into(),
        actor_id: actor,
        actor_name: None,
        reason: "created".into(),
        note: String::new(),
        at_ms: now,
    };
    store::insert_transition(tx, ticket.id, &t).await?;
    let c = store::find(tx, ticket.id)
        .await?
        .ok_or(AppError::NotFound("complaint"))?;
    events::append(
        tx,
        backend,
        "complaint.created",
        tickets::scope_of(ticket),
        &json!({"ticket_id": ticket.id, "queue_id": ticket.queue_id, "complaint": c}),
    )
    .await?;
    Ok(c)
}

async fn active_category<E: Exec>(tx: &mut E, id: i64) -> AppResult<i64> {
    match store::find_category(tx, id).await? {
        Some(c) if c.active => Ok(c.id),
        _ => Err(AppError::validation(
            "category_id",
            "category_id is not an active complaint category",
        )),
    }
}

/// A complaint with its transitions and what is late now.
pub async fn view<E: Exec>(exec: &mut E, ticket_id: i64, now: i64) -> AppResult<Option<Complaint>> {
    let Some(mut c) = store::find(exec, ticket_id).await? else {
        return Ok(None);
    };
    c.overdue = c.overdue_at(now);
    c.transitions = store::transitions(exec, ticket_id).await?;
    Ok(Some(c))
}

#[allow(clippy::too_many_arguments)]
/// Moves `c` to `to`, recording the transition, its timeline note and the event; the caller
/// has changed the complaint's other fields and saves here.
async fn move_to<E: Exec>(
    tx: &mut E,
    db: &Db,
    ticket: &Ticket,
    c: &mut Complaint,
    to: &str,
    actor: Option<i64>,
    reason: &str,
    note: &str,
) -> AppResult<()> {
    let now = now_ms();
    let from = std::mem::replace(&mut c.status, to.to_string());
    match to {
        "acknowledged" => {
            c.acknowledged_at.get_or_insert(now);
        }
        "investigating" => {
            c.acknowledged_at.get_or_insert(now);
        }
        "responded" => {
            c.acknowledged_at.get_or_insert(now);
            c.responded_at = Some(now);
        }
        "confirmed" => c.confirmed_at = Some(now),
        "closed" => c.closed_at = Some(now),
        _ => {}
    }
    store::save(tx, c, now).await?;
    let t = Transition {
        from_status: Some(from.clone()),
        to_status: to.to_string(),
        actor_id: actor,
        actor_name: None,
        reason: reason.to_string(),
        note: note.to_string(),
        at_ms: now,
    };
    store::insert_transition(tx, c.ticket_id, &t).await?;
    let mut body = format!("Complaint: {from} → {to} ({reason})");
    if !note.is_empty() {
        body.push_str(&format!(" — {note}"));
    }
    tickets::insert_interaction(
        tx,
        db,
        &NewInteraction {
            ticket_id: c.ticket_id,
            customer_id: ticket.customer_id,
            channel: Channel::Note,
            direction: Direction::Internal,
            from_addr: String::new(),
            to_addr: String::new(),
            subject: String::new(),
            body,
            external_id: None,
            author_id: actor,
            meta: json!({
                "complaint_transition": {"from": from, "to": to, "reason": reason},
                "text": SystemText::new("complaint.transition", json!({
                    "from_status": from, "to_status": to, "why": reason, "note": note,
                })),
            }),
        },
    )
    .await?;
    let after = store::find(tx, c.ticket_id)
        .await?
        .ok_or(AppError::NotFound("complaint"))?;
    events::append(
        tx,
        db.backend,
        "complaint.transitioned",
        tickets::scope_of(ticket),
        &json!({"ticket_id": c.ticket_id, "queue_id": ticket.queue_id, "from": from, "to": to,
            "reason": reason, "by": actor, "complaint": after}),
    )
    .await?;
    Ok(())
}

/// Sets the ticket's status (and, given, its assignee) when it differs.
async fn set_ticket<E: Exec>(
    tx: &mut E,
    db: &Db,
    ticket: &Ticket,
    status: Status,
    assignee: Option<Option<i64>>,
    actor: Option<i64>,
) -> AppResult<()> {
    if ticket.status == status && assignee.is_none_or(|a| a == ticket.assignee_id) {
        return Ok(());
    }
    let change = TicketChanges {
        status: Some(status),
        assignee_id: assignee,
        ..TicketChanges::default()
    };
    tickets::update_ticket(tx, db, ticket.id, &change, actor).await?;
    Ok(())
}

/// Reopens a responded, confirmed or closed complaint (a new round: respond and close due
/// again from now in business hours, reminders start over); the ticket opens again. A complaint
/// still in progress is left as it is (false).
pub async fn reopen<E: Exec>(
    tx: &mut E,
    db: &Db,
    ticket_id: i64,
    actor: Option<i64>,
    reason: &str,
    note: &str,
) -> AppResult<bool> {
    let Some(mut c) = store::find(tx, ticket_id).await? else {
        return Ok(false);
    };
    if !matches!(c.status.as_str(), "responded" | "confirmed" | "closed") {
        return Ok(false);
    }
    let ticket = tickets::find_ticket(tx, ticket_id).await?;
    let sev = store::find_severity(tx, c.severity).await?;
    let now = now_ms();
    let (_, respond, close) = due_times(tx, ticket.queue_id, &sev, now).await?;
    c.round += 1;
    c.round_started_at = now;
    c.reopened += 1;
    c.respond_due = Some(respond);
    c.close_due = Some(close);
    c.responded_at = None;
    c.confirmed_at = None;
    c.closed_at = None;
    c.confirmation = if reason == "not_satisfied" {
        Some("not_satisfied".into())
    } else {
        None
    };
    move_to(
        tx,
        db,
        &ticket,
        &mut c,
        "investigating",
        actor,
        reason,
        note,
    )
    .await?;
    if !ticket.status.is_open() || ticket.status == Status::Pending {
        set_ticket(tx, db, &ticket, Status::Open, None, actor).await?;
    }
    Ok(true)
}

/// A message from the customer on a complaint ticket: a responded, confirmed or closed
/// complaint reopens (`tickets::store::insert_interaction` calls this for every inbound
/// customer message on a complaint ticket).
pub async fn on_customer_contact<E: Exec>(tx: &mut E, db: &Db, ticket: &Ticket) -> AppResult<()> {
    reopen(tx, db, ticket.id, None, "customer_contact", "").await?;
    Ok(())
}

/// An agent's reply to the customer acknowledges a complaint that was only received.
pub async fn on_agent_reply<E: Exec>(
    tx: &mut E,
    db: &Db,
    ticket: &Ticket,
    agent: i64,
) -> AppResult<()> {
    let Some(mut c) = store::find(tx, ticket.id).await? else {
        return Ok(());
    };
    if c.status == "received" {
        move_to(
            tx,
            db,
            ticket,
            &mut c,
            "acknowledged",
            Some(agent),
            "agent_reply",
            "",
        )
        .await?;
    }
    Ok(())
}

/// The complaint's ticket was resolved (or closed) before the complaint was responded: the
/// resolution is the answer, so the complaint is responded (reason `ticket_resolved`) and its
/// confirmation call queued, which opens the ticket again until the customer has confirmed.
pub async fn on_ticket_resolved<E: Exec>(
    tx: &mut E,
    db: &Db,
    ticket: &Ticket,
    actor: Option<i64>,
) -> AppResult<()> {
    let Some(mut c) = store::find(tx, ticket.id).await? else {
        return Ok(());
    };
    if !matches!(
        c.status.as_str(),
        "received" | "acknowledged" | "investigating"
    ) {
        return Ok(());
    }
    move_to(
        tx,
        db,
        ticket,
        &mut c,
        "responded",
        actor,
        "ticket_resolved",
        "",
    )
    .await?;
    queue_confirmation_call(tx, db, ticket, &c, None).await
}

/// What an agent or supervisor can do to a complaint (`POST …/complaint/transition`).
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
pub struct TransitionBody {
    /// `acknowledge`, `investigate`, `respond`, `close` or `reopen`.
    pub action: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// The status an action leads to, and the statuses it may start from.
fn action_rule(action: &str) -> Option<(&'static str, &'static [&'static str])> {
    Some(match action {
        "acknowledge" => ("acknowledged", &["received"]),
        "investigate" => ("investigating", &["received", "acknowledged"]),
        "respond" => ("responded", &["received", "acknowledged", "investigating"]),
        "close" => (
            "closed",
            &[
                "received",
                "acknowledged",
                "investigating",
                "responded",
                "confirmed",
            ],
        ),
        "reopen" => ("investigating", &["responded", "confirmed", "closed"]),
        _ => return None,
    })
}

/// Applies `body` by `actor` (who may open the ticket; closing before the response is for
/// supervisors). Responding queues the confirmation call when the customer has a phone.
pub struct Act {
    pub ticket_id: i64,
    pub actor: i64,
    pub supervisor: bool,
    pub action: String,
    pub note: String,
}

impl Act {
    pub fn new(ticket_id: i64, actor: &crate::auth::User, b: &TransitionBody) -> AppResult<Act> {
        if action_rule(&b.action).is_none() {
            return Err(AppError::validation(
                "action",
                "action must be acknowledge, investigate, respond, close or reopen",
            ));
        }
        let note = clean_text("note", b.note.as_deref().unwrap_or(""))?;
        if b.action == "reopen" && note.is_empty() {
            return Err(AppError::validation("note", "say why it is reopened"));
        }
        Ok(Act {
            ticket_id,
            actor: actor.id,
            supervisor: actor.is_supervisor(),
            action: b.action.clone(),
            note,
        })
    }
}

impl WriteJob for Act {
    type Out = ();

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<()> {
        let ticket = tickets::find_ticket(tx, self.ticket_id).await?;
        let mut c = store::find(tx, self.ticket_id)
            .await?
            .ok_or(AppError::NotFound("complaint"))?;
        let (to, from) = action_rule(&self.action).expect("checked in Act::new");
        if !from.contains(&c.status.as_str()) {
            return Err(AppError::Conflict(format!(
                "a {} complaint cannot be {}d",
                c.status,
                self.action.trim_end_matches('e')
            )));
        }
        if self.action == "reopen" {
            reopen(tx, db, c.ticket_id, Some(self.actor), "agent", &self.note).await?;
            return Ok(());
        }
        if self.action == "close" && c.responded_at.is_none() && !self.supervisor {
            return Err(AppError::Forbidden);
        }
        if self.action == "close" && c.status == "responded" {
            c.confirmation.get_or_insert_with(|| "unconfirmed".into());
        }
        move_to(
            tx,
            db,
            &ticket,
            &mut c,
            to,
            Some(self.actor),
            "agent",
            &self.note,
        )
        .await?;
        match self.action.as_str() {
            "respond" => queue_confirmation_call(tx, db, &ticket, &c, None).await?,
            "close" => {
                let ticket = tickets::find_ticket(tx, self.ticket_id).await?;
                if ticket.status.is_open() {
                    set_ticket(tx, db, &ticket, Status::Resolved, None, Some(self.actor)).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The customer's phone for the confirmation call: the number of the ticket's call or SMS,
/// else the customer's first phone identity.
async fn customer_phone<E: Exec>(tx: &mut E, ticket: &Ticket) -> AppResult<Option<String>> {
    let Some(customer) = ticket.customer_id else {
        return Ok(None);
    };
    struct Phone(String);
    impl crate::db::FromRow for Phone {
        fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
            Ok(Phone(r.try_get("value")?))
        }
    }
    let p: Option<Phone> = tx
        .row(
            "SELECT value FROM customer_identities WHERE customer_id = $1 AND kind = 'phone' \
             ORDER BY id LIMIT 1",
            vec![customer.into()],
        )
        .await?;
    Ok(p.map(|p| p.0))
}

/// Queues the confirmation call (回访) of a responded complaint as callback work on its ticket,
/// due `callback_secs` of working time after `not_before` (or now), when the customer has a
/// phone. Any open work on the ticket ends first (freeing its agent); the ticket goes back to
/// its queue, nobody's, until an agent takes the call.
async fn queue_confirmation_call<E: Exec>(
    tx: &mut E,
    db: &Db,
    ticket: &Ticket,
    c: &Complaint,
    not_before: Option<i64>,
) -> AppResult<()> {
    let Some(phone) = customer_phone(tx, ticket).await? else {
        return Ok(()); // no number: the owner confirms by other means and records it
    };
    let sev = store::find_severity(tx, c.severity).await?;
    let from = not_before.unwrap_or_else(now_ms);
    let cal = match ticket.queue_id {
        Some(q) => sla::find_calendar(tx, q).await?,
        None => sla::Calendar::default(),
    };
    let due = cal.add(from, sev.callback_secs * 1000);
    let reason = format!("Confirm complaint #{} with the customer (回访)", ticket.id);
    crate::routing::callbacks::queue_again(
        tx,
        db,
        ticket.id,
        None,
        &phone,
        &reason,
        not_before,
        Some(due),
    )
    .await?;
    Ok(())
}

/// The outcome of the confirmation call (`POST …/complaint/confirmation`).
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
pub struct ConfirmationBody {
    /// `satisfied`, `not_satisfied` (reopens; say why in `note`) or `unreachable`.
    pub outcome: String,
    #[serde(default)]
    pub note: Option<String>,
}

pub struct Confirm {
    pub ticket_id: i64,
    pub actor: i64,
    pub outcome: String,
    pub note: String,
}

impl Confirm {
    pub fn new(ticket_id: i64, actor: i64, b: &ConfirmationBody) -> AppResult<Confirm> {
        if !CONFIRMATIONS.contains(&b.outcome.as_str()) {
            return Err(AppError::validation(
                "outcome",
                "outcome must be satisfied, not_satisfied or unreachable",
            ));
        }
        let note = clean_text("note", b.note.as_deref().unwrap_or(""))?;
        if b.outcome == "not_satisfied" && note.is_empty() {
            return Err(AppError::validation(
                "note",
                "say what the customer is not satisfied with",
            ));
        }
        Ok(Confirm {
            ticket_id,
            actor,
            outcome: b.outcome.clone(),
            note,
        })
    }
}

impl WriteJob for Confirm {
    type Out = ();

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<()> {
        let ticket = tickets::find_ticket(tx, self.ticket_id).await?;
        let mut c = store::find(tx, self.ticket_id)
            .await?
            .ok_or(AppError::NotFound("complaint"))?;
        if c.status != "responded" {
            return Err(AppError::Conflict(
                "only a responded complaint is confirmed with the customer".into(),
            ));
        }
        let by = Some(self.actor);
        match self.outcome.as_str() {
            "satisfied" => {
                c.confirmation = Some("satisfied".into());
                move_to(
                    tx,
                    db,
                    &ticket,
                    &mut c,
                    "confirmed",
                    by,
                    "satisfied",
                    &self.note,
                )
                .await?;
                move_to(tx, db, &ticket, &mut c, "closed", by, "satisfied", "").await?;
                let ticket = tickets::find_ticket(tx, self.ticket_id).await?;
                let owner = ticket.assignee_id.or(by);
                set_ticket(tx, db, &ticket, Status::Resolved, Some(owner), by).await?;
            }
            "not_satisfied" => {
                crate::routing::callbacks::end_open_work(tx, db, self.ticket_id).await?;
                reopen(tx, db, self.ticket_id, by, "not_satisfied", &self.note).await?;
                let ticket = tickets::find_ticket(tx, self.ticket_id).await?;
                set_ticket(tx, db, &ticket, Status::Open, Some(by), by).await?;
            }
            _ => {
                let max = store::settings(tx).await?;
                c.callback_attempts += 1;
                let attempt = c.callback_attempts;
                if attempt >= max.callback_max_attempts {
                    c.confirmation = Some("unconfirmed".into());
                    move_to(
                        tx,
                        db,
                        &ticket,
                        &mut c,
                        "closed",
                        by,
                        "unreachable",
                        &self.note,
                    )
                    .await?;
                    let ticket = tickets::find_ticket(tx, self.ticket_id).await?;
                    let owner = ticket.assignee_id.or(by);
                    set_ticket(tx, db, &ticket, Status::Resolved, Some(owner), by).await?;
                } else {
                    store::save(tx, &c, now_ms()).await?;
                    note_attempt(
                        tx,
                        db,
                        &ticket,
                        self.actor,
                        attempt,
                        max.callback_max_attempts,
                    )
                    .await?;
                    let retry = now_ms() + max.callback_retry_minutes * MIN_MS;
                    queue_confirmation_call(tx, db, &ticket, &c, Some(retry)).await?;
                }
            }
        }
        Ok(())
    }
}

async fn note_attempt<E: Exec>(
    tx: &mut E,
    db: &Db,
    ticket: &Ticket,
    by: i64,
    attempt: i64,
    max: i64,
) -> AppResult<()> {
    tickets::insert_interaction(
        tx,
        db,
        &NewInteraction {
            ticket_id: ticket.id,
            customer_id: ticket.customer_id,
            channel: Channel::Note,
            direction: Direction::Internal,
            from_addr: String::new(),
            to_addr: String::new(),
            subject: String::new(),
            body: format!("Confirmation call: customer unreachable (try {attempt} of {max})"),
            external_id: None,
            author_id: Some(by),
            meta: json!({
                "complaint_unreachable": attempt,
                "text": SystemText::new("complaint.unreachable",
                    json!({"attempt": attempt, "max": max})),
            }),
        },
    )
    .await?;
    Ok(())
}

/// Changes a complaint's category, severity, order or desired outcome (a new severity moves
/// the due times of the round); creates it, making the ticket a complaint, when it has none.
pub struct Edit {
    pub ticket_id: i64,
    /// None for the customer's own answers (the portal form).
    pub actor: Option<i64>,
    pub fields: ComplaintFields,
}

impl WriteJob for Edit {
    type Out = ();

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<()> {
        let ticket = tickets::find_ticket(tx, self.ticket_id).await?;
        if ticket.merged_into.is_some() {
            return Err(AppError::Conflict("this ticket was merged".into()));
        }
        if ticket.kind != Kind::Complaint {
            // Making it a complaint creates the row (tickets::store → ensure) with these fields.
            if let Some(id) = self.fields.category_id {
                active_category(tx, id).await?;
            }
            if let Some(s) = self.fields.severity {
                store::find_severity(tx, s).await?;
            }
            let change = TicketChanges {
                kind: Some(Kind::Complaint),
                ..TicketChanges::default()
            };
            tickets::update_ticket(tx, db, ticket.id, &change, self.actor).await?;
        }
        let ticket = tickets::find_ticket(tx, self.ticket_id).await?;
        let mut c = ensure(tx, db.backend, &ticket, &self.fields, self.actor).await?;
        let f = &self.fields;
        if let Some(id) = f.category_id
            && id != c.category_id
        {
            c.category_id = active_category(tx, id).await?;
        }
        if let Some(level) = f.severity
            && level != c.severity
        {
            let sev = store::find_severity(tx, level).await?;
            let (ack, respond, close) =
                due_times(tx, ticket.queue_id, &sev, c.round_started_at).await?;
            c.severity = level;
            if c.round == 1 {
                c.ack_due = Some(ack);
            }
            c.respond_due = Some(respond);
            c.close_due = Some(close);
        }
        if let Some(o) = &f.order_ref {
            c.order_ref = clean_text("order_ref", o)?;
        }
        if let Some(o) = &f.desired_outcome {
            c.desired_outcome = clean_text("desired_outcome", o)?;
        }
        store::save(tx, &c, now_ms()).await?;
        let after = store::find(tx, c.ticket_id)
            .await?
            .ok_or(AppError::NotFound("complaint"))?;
        events::append(
            tx,
            db.backend,
            "complaint.updated",
            tickets::scope_of(&ticket),
            &json!({"ticket_id": c.ticket_id, "queue_id": ticket.queue_id, "by": self.actor,
                "complaint": after}),
        )
        .await?;
        Ok(())
    }
}

/// What the reminder job needs.
pub struct Reminders<'a> {
    pub db: &'a Db,
    pub clock: &'a Clock,
}

/// One pass of the reminder job (the routing leader, with its clocks): for each open complaint
/// whose next reminder time has come, the newest reminder point passed of the step in progress
/// is sent once (older points passed while nobody ran are marked, not sent), and the next
/// point is scheduled.
pub async fn remind_due(r: &Reminders<'_>) -> AppResult<usize> {
    let now = r.clock.now_ms();
    let mut db = r.db;
    let due = store::due_reminders(&mut db, now, BATCH).await?;
    let settings = store::settings(&mut db).await?;
    let mut sent = 0;
    for c in due {
        match remind_one(r.db, &settings, &c, now).await {
            Ok(true) => sent += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(ticket = c.ticket_id, error = %e, "complaint reminder"),
        }
    }
    Ok(sent)
}

async fn remind_one(db: &Db, settings: &Settings, c: &Complaint, now: i64) -> AppResult<bool> {
    let Some((step, Some(due))) = c.step() else {
        let mut tx = db.begin().await?;
        store::set_next_remind(&mut tx, c.ticket_id, None).await?;
        tx.commit().await?;
        return Ok(false);
    };
    let points = settings.points(due);
    let passed: Vec<(i64, i64)> = points.iter().copied().filter(|p| p.1 <= now).collect();
    let next = points.iter().find(|p| p.1 > now).map(|p| p.1);
    let mut tx = db.begin().await?;
    let mut sent = false;
    for (i, (point, _)) in passed.iter().enumerate() {
        let fresh = store::mark_reminder(&mut tx, c.ticket_id, c.round, step, *point, now).await?;
        if fresh && i + 1 == passed.len() {
            send_reminder(&mut tx, db, c, step, *point, due).await?;
            sent = true;
        }
    }
    store::set_next_remind(&mut tx, c.ticket_id, next).await?;
    events::commit(tx).await?;
    if sent {
        metrics::counter!("hotline_complaint_reminders_total", "step" => step).increment(1);
    }
    Ok(sent)
}

/// A reminder: a notification for the owner (the ticket's assignee; the queue's supervisors
/// when nobody owns it) and, from the due time on, for the queue's supervisors too; an email
/// to each of them who is not signed in.
async fn send_reminder<E: Exec>(
    tx: &mut E,
    db: &Db,
    c: &Complaint,
    step: &str,
    point: i64,
    due: i64,
) -> AppResult<()> {
    let ticket = tickets::find_ticket(tx, c.ticket_id).await?;
    let supervisors = crate::routing::store::queue_supervisors(tx, ticket.queue_id).await?;
    let mut users: Vec<i64> = ticket.assignee_id.into_iter().collect();
    if point >= 0 || users.is_empty() {
        for s in supervisors {
            if !users.contains(&s) {
                users.push(s);
            }
        }
    }
    let data = json!({"step": step, "point": point, "due": due, "severity": c.severity,
        "status": c.status});
    crate::notifications::record_complaint_reminder(tx, db.backend, &ticket, &data, &users).await?;
    for user in users {
        email_if_away(tx, &ticket, user, step, point, due).await?;
    }
    Ok(())
}

/// Emails a reminder to `user` when they have no console open (presence offline or never set)
/// and an address, in their console language.
async fn email_if_away<E: Exec>(
    tx: &mut E,
    ticket: &Ticket,
    user: i64,
    step: &str,
    point: i64,
    due: i64,
) -> AppResult<()> {
    struct Away {
        email: Option<String>,
        locale: String,
    }
    impl crate::db::FromRow for Away {
        fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
            Ok(Away {
                email: r.try_get("email")?,
                locale: r.try_get("locale")?,
            })
        }
    }
    let away: Option<Away> = tx
        .row(
            "SELECT u.email, u.locale FROM users u \
             LEFT JOIN agent_presence p ON p.user_id = u.id \
             WHERE u.id = $1 AND u.active = 1 AND COALESCE(p.state, 'offline') = 'offline'",
            vec![user.into()],
        )
        .await?;
    let Some(Away {
        email: Some(email),
        locale,
    }) = away
    else {
        return Ok(());
    };
    if email.trim().is_empty() {
        return Ok(());
    }
    let (subject, body) = reminder_text(&locale, ticket, step, point, due);
    tx.run(
        "INSERT INTO outbox (channel, ticket_id, interaction_id, recipient, payload, status, \
         attempts, next_attempt_at, created_at) VALUES ('email', NULL, NULL, $1, $2, 'pending', \
         0, $3, $3)",
        vec![
            email.as_str().into(),
            json!({"subject": subject, "body": body, "kind": "reminder"})
                .to_string()
                .into(),
            now_ms().into(),
        ],
    )
    .await?;
    Ok(())
}

/// The reminder email's subject and text in the user's language.
pub fn reminder_text(
    locale: &str,
    ticket: &Ticket,
    step: &str,
    point: i64,
    due: i64,
) -> (String, String) {
    let at = jiff::Timestamp::from_millisecond(due)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    if locale.starts_with("zh") {
        let what = match step {
            "ack" => "受理",
            "respond" => "答复客户",
            _ => "结案",
        };
        let when = if point < 0 {
            "即将到期"
        } else {
            "已超时"
        };
        (
            format!("投诉 #{} {what}{when}", ticket.id),
            format!(
                "投诉 #{}（{}）需要{what}，期限 {at}，{when}。\n请在控制台处理。",
                ticket.id, ticket.subject
            ),
        )
    } else {
        let what = match step {
            "ack" => "acknowledge",
            "respond" => "respond to",
            _ => "close",
        };
        let when = if point < 0 { "due soon" } else { "overdue" };
        (
            format!("Complaint #{}: {when}", ticket.id),
            format!(
                "Complaint #{} ({}) is {when}: {what} it by {at}.\nOpen it in the console.",
                ticket.id, ticket.subject
            ),
        )
    }
}

/// The register: complaints matching `f`, newest first, with counts by category and severity.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Register {
    pub total: i64,
    pub items: Vec<RegisterItem>,
    pub by_category: Vec<CategoryCount>,
    pub by_severity: Vec<SeverityCount>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RegisterItem {
    #[serde(flatten)]
    pub complaint: Complaint,
    pub subject: String,
    pub channel: String,
    pub queue_id: Option<i64>,
    pub queue_name: Option<String>,
    pub assignee_id: Option<i64>,
    pub assignee_name: Option<String>,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub tier: Option<String>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct CategoryCount {
    pub category_id: i64,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub count: i64,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct SeverityCount {
    pub severity: i64,
    pub count: i64,
}

pub async fn register(
    db: &Db,
    f: &RegisterFilter,
    now: i64,
    limit: i64,
    offset: i64,
) -> AppResult<Register> {
    let rows = store::register(db, f, now, limit, offset).await?;
    let items = rows.into_iter().map(|r| item(r, now)).collect();
    let cats = store::categories(&mut &*db).await?;
    let by_category: Vec<CategoryCount> = store::register_counts(db, f, now, "c.category_id")
        .await?
        .into_iter()
        .filter_map(|n| {
            let c = cats.iter().find(|c| c.id == n.key)?;
            Some(CategoryCount {
                category_id: c.id,
                code: c.code.clone(),
                name_zh: c.name_zh.clone(),
                name_en: c.name_en.clone(),
                count: n.count,
            })
        })
        .collect();
    let by_severity: Vec<SeverityCount> = store::register_counts(db, f, now, "c.severity")
        .await?
        .into_iter()
        .map(|n| SeverityCount {
            severity: n.key,
            count: n.count,
        })
        .collect();
    let total = by_severity.iter().map(|s| s.count).sum();
    Ok(Register {
        total,
        items,
        by_category,
        by_severity,
    })
}

pub fn item(r: store::RegisterRow, now: i64) -> RegisterItem {
    let mut complaint = r.complaint;
    complaint.overdue = complaint.overdue_at(now);
    RegisterItem {
        complaint,
        subject: r.subject,
        channel: r.channel,
        queue_id: r.queue_id,
        queue_name: r.queue_name,
        assignee_id: r.assignee_id,
        assignee_name: r.assignee_name,
        customer_id: r.customer_id,
        customer_name: r.customer_name,
        tier: r.tier,
    }
}

/// Severity suggested by the portal form's answers: safety at risk → 1, money lost or the
/// product unusable → 2, still going on → 3, else 4.
pub fn severity_from_answers(safety: bool, money_lost: bool, ongoing: bool) -> i64 {
    if safety {
        1
    } else if money_lost {
        2
    } else if ongoing {
        3
    } else {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminder_points_come_in_time_order() {
        let s = Settings {
            remind_before_minutes: vec![60, 10],
            remind_after_minutes: vec![0, 240],
            callback_max_attempts: 3,
            callback_retry_minutes: 120,
        };
        let due = 1_000_000_000;
        let p: Vec<i64> = s.points(due).iter().map(|p| p.0).collect();
        assert_eq!(p, vec![-60, -10, 0, 240]);
        assert_eq!(s.points(due)[0].1, due - 60 * MIN_MS);
    }

    #[test]
    fn the_step_in_progress_follows_the_timestamps() {
        let mut c = Complaint {
            ticket_id: 1,
            category_id: 1,
            category_code: String::new(),
            category_zh: String::new(),
            category_en: String::new(),
            severity: 3,
            status: "received".into(),
            order_ref: String::new(),
            desired_outcome: String::new(),
            round: 1,
            round_started_at: 0,
            ack_due: Some(10),
            respond_due: Some(20),
            close_due: Some(30),
            acknowledged_at: None,
            responded_at: None,
            confirmed_at: None,
            closed_at: None,
            confirmation: None,
            callback_attempts: 0,
            reopened: 0,
            next_remind_at: None,
            created_at: 0,
            updated_at: 0,
            overdue: None,
            transitions: Vec::new(),
        };
        assert_eq!(c.step(), Some(("ack", Some(10))));
        assert_eq!(c.overdue_at(11).as_deref(), Some("ack"));
        c.acknowledged_at = Some(5);
        assert_eq!(c.step(), Some(("respond", Some(20))));
        assert_eq!(c.overdue_at(11), None);
        c.responded_at = Some(15);
        assert_eq!(c.step(), Some(("close", Some(30))));
        c.status = "closed".into();
        assert_eq!(c.step(), None);
    }

    #[test]
    fn the_portal_answers_suggest_a_severity() {
        assert_eq!(severity_from_answers(true, true, true), 1);
        assert_eq!(severity_from_answers(false, true, false), 2);
        assert_eq!(severity_from_answers(false, false, true), 3);
        assert_eq!(severity_from_answers(false, false, false), 4);
    }
}
