//! Work items and offers: placing new tickets in queues, offering the longest-waiting
//! highest-priority item to the right agent, accept / reject / timeout, manual pick, supervisor
//! reassign, callbacks. Every transition is a conditional UPDATE so it can never happen twice.

use super::presence::{self, Presence};
use super::{QueueRule, Strategy, WorkFacts};
use crate::app::AppState;
use crate::db::{Db, Exec, FromRow, ReadRow, WriteJob, from_json_list, now_ms, to_json_list};
use crate::error::{AppError, AppResult};
use crate::realtime::events::{self, Scope};
use crate::tickets::store::{TicketChanges, find_ticket, update_ticket};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct WorkItem {
    pub id: i64,
    pub ticket_id: i64,
    /// `ticket` or `callback` (call this customer back).
    pub kind: String,
    pub queue_id: Option<i64>,
    pub channel: String,
    pub customer_id: Option<i64>,
    /// 0 low … 3 urgent, plus any rule boost; higher is served first.
    pub priority: i64,
    pub skills: Vec<String>,
    pub phone: String,
    pub note: String,
    /// unqueued | waiting | offered | assigned | done | abandoned.
    pub state: String,
    pub enqueued_at: i64,
    pub offer_id: Option<i64>,
    pub offered_to: Option<i64>,
    pub offer_expires_at: Option<i64>,
    pub tried: Vec<i64>,
    pub assigned_to: Option<i64>,
    pub assigned_at: Option<i64>,
    pub done_at: Option<i64>,
    pub first_response_due: Option<i64>,
    pub resolution_due: Option<i64>,
    #[serde(skip)]
    pub sla_flags: i64,
    /// Put off until then (a callback to try again later): not offered before.
    pub not_before: Option<i64>,
}

pub const COLUMNS: &str = "id, ticket_id, kind, queue_id, channel, customer_id, priority, skills, \
     phone, note, state, enqueued_at, offer_id, offered_to, offer_expires_at, tried, assigned_to, \
     assigned_at, done_at, first_response_due, resolution_due, sla_flags, not_before";

impl FromRow for WorkItem {
    fn from_row(r: &impl ReadRow) -> Result<WorkItem, sqlx::Error> {
        Ok(WorkItem {
            id: r.try_get("id")?,
            ticket_id: r.try_get("ticket_id")?,
            kind: r.try_get("kind")?,
            queue_id: r.try_get("queue_id")?,
            channel: r.try_get("channel")?,
            customer_id: r.try_get("customer_id")?,
            priority: r.try_get("priority")?,
            skills: from_json_list(&r.try_get::<String>("skills")?),
            phone: r.try_get("phone")?,
            note: r.try_get("note")?,
            state: r.try_get("state")?,
            enqueued_at: r.try_get("enqueued_at")?,
            offer_id: r.try_get("offer_id")?,
            offered_to: r.try_get("offered_to")?,
            offer_expires_at: r.try_get("offer_expires_at")?,
            tried: serde_json::from_str(&r.try_get::<String>("tried")?).unwrap_or_default(),
            assigned_to: r.try_get("assigned_to")?,
            assigned_at: r.try_get("assigned_at")?,
            done_at: r.try_get("done_at")?,
            first_response_due: r.try_get("first_response_due")?,
            resolution_due: r.try_get("resolution_due")?,
            sla_flags: r.try_get("sla_flags")?,
            not_before: r.try_get("not_before")?,
        })
    }
}

pub async fn find_item<E: Exec>(exec: &mut E, id: i64) -> AppResult<WorkItem> {
    let sql = format!("SELECT {COLUMNS} FROM work_items WHERE id = $1");
    let found = exec.row(&sql, vec![id.into()]).await?;
    found.ok_or(AppError::NotFound("work item"))
}

/// The states of work not yet finished. A ticket has at most one item in them (its earlier
/// work, e.g. an earlier call on it, is finished).
pub const OPEN_STATES: &str = "('unqueued', 'waiting', 'offered', 'assigned')";

/// A ticket's current work item: the open one, else the newest.
pub async fn find_item_by_ticket<E: Exec>(exec: &mut E, ticket_id: i64) -> AppResult<WorkItem> {
    let sql = format!(
        "SELECT {COLUMNS} FROM work_items WHERE ticket_id = $1 \
         ORDER BY CASE WHEN state IN {OPEN_STATES} THEN 0 ELSE 1 END, id DESC LIMIT 1"
    );
    let found = exec.row(&sql, vec![ticket_id.into()]).await?;
    found.ok_or(AppError::NotFound("work item"))
}

/// The columns of `work_items w`, for queries that join it.
fn w_columns() -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("w.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn queue_scope(w: &WorkItem) -> Scope {
    Scope {
        queue_id: w.queue_id,
        user_id: w.assigned_to,
        ticket_id: Some(w.ticket_id),
        customer_id: w.customer_id,
    }
}

fn agent_scope(w: &WorkItem, user_id: i64) -> Scope {
    Scope {
        queue_id: None,
        user_id: Some(user_id),
        ticket_id: Some(w.ticket_id),
        customer_id: w.customer_id,
    }
}

/// Inserts (or, when the ticket already has one, turns into a callback) the work item "call
/// this customer back" for `ticket_id`, inside the caller's transaction. `queue_id` None keeps
/// the ticket's queue. The item gets the callback SLA of its queue and priority.
pub async fn insert_callback<E: Exec>(
    tx: &mut E,
    db: &Db,
    ticket_id: i64,
    queue_id: Option<i64>,
    phone: &str,
    note: &str,
) -> AppResult<WorkItem> {
    let t = find_ticket(tx, ticket_id).await?;
    let asked = queue_id;
    let queue_id = queue_id.or(t.queue_id);
    let now = now_ms();
    let (fr, res) = super::sla::due_times(tx, queue_id, t.priority.rank(), "callback", now).await?;
    let state = if queue_id.is_some() {
        "waiting"
    } else {
        "unqueued"
    };
    let sql = format!(
        "INSERT INTO work_items (ticket_id, kind, queue_id, channel, customer_id, priority, \
         phone, note, state, enqueued_at, first_response_due, resolution_due, next_clock_at) \
         VALUES ($1, 'callback', $2, 'voice', $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (ticket_id) WHERE state IN {OPEN_STATES} \
         DO UPDATE SET kind = 'callback', phone = excluded.phone, \
         note = excluded.note, channel = 'voice', \
         queue_id = COALESCE($12, work_items.queue_id), \
         first_response_due = excluded.first_response_due, \
         resolution_due = excluded.resolution_due, next_clock_at = excluded.next_clock_at, \
         sla_flags = 0 RETURNING {COLUMNS}"
    );
    let params = vec![
        ticket_id.into(),
        queue_id.into(),
        t.customer_id.into(),
        t.priority.rank().into(),
        phone.into(),
        note.into(),
        state.into(),
        now.into(),
        fr.into(),
        res.into(),
        // The SLA check works out the real next clock time on its first look.
        (fr.is_some() || res.is_some()).then_some(now).into(),
        // An open item stays in its queue unless one was asked for.
        asked.into(),
    ];
    let w: WorkItem = tx
        .row(&sql, params)
        .await?
        .ok_or(AppError::NotFound("work item"))?;
    events::append(
        tx,
        db.backend,
        "work.queued",
        queue_scope(&w),
        &serde_json::json!({ "work_item": w }),
    )
    .await?;
    Ok(w)
}

/// Creates the callback work item for `ticket_id` in its own transaction (see `insert_callback`).
/// The voice channel calls this for missed calls.
pub async fn create_callback(
    db: &Db,
    ticket_id: i64,
    queue_id: Option<i64>,
    phone: &str,
    note: &str,
) -> AppResult<WorkItem> {
    let mut tx = db.begin().await?;
    let w = insert_callback(&mut tx, db, ticket_id, queue_id, phone, note).await?;
    events::commit(tx).await?;
    Ok(w)
}

/// A call's own work: the ticket it is filed on, its queue, and since when it waits.
pub struct CallWork {
    pub ticket_id: i64,
    pub queue_id: Option<i64>,
    pub since: i64,
}

/// How a call ended, for its work item.
#[derive(Clone, Copy)]
pub enum CallEnd {
    /// Answered at `at`, by `agent` when the PBX said who: the item is done (and theirs).
    Answered { agent: Option<i64>, at: i64 },
    /// Nobody answered: the item is abandoned (the call becomes a callback).
    Missed,
    /// Forwarded elsewhere unanswered: the item is done, by nobody here.
    Forwarded,
}

/// The call ended: its own (voice) work item ends with it, as `end` says, and a ringing offer
/// is withdrawn, so nobody is offered a call that is over. A call that ended before routing
/// placed its ticket gets its item inserted already ended, so routing never places it. `None`
/// when the ticket's item had already ended or is not the call's (a call filed on an e-mail
/// ticket leaves that ticket's work alone).
pub async fn end_call_work<E: Exec>(
    tx: &mut E,
    db: &Db,
    call: &CallWork,
    end: CallEnd,
) -> AppResult<Option<WorkItem>> {
    events::order(tx, db.backend).await?;
    let now = now_ms();
    let (state, kind, agent, answered_at) = match end {
        CallEnd::Answered { agent, at } => ("done", "work.done", agent, Some(at)),
        CallEnd::Missed => ("abandoned", "work.abandoned", None, None),
        CallEnd::Forwarded => ("done", "work.done", None, None),
    };
    let w = match find_item_by_ticket(tx, call.ticket_id).await {
        Ok(w) => {
            let open = matches!(
                w.state.as_str(),
                "waiting" | "offered" | "unqueued" | "assigned"
            );
            if !open || w.channel != "voice" {
                return Ok(None);
            }
            let to = Settle {
                state,
                assigned_to: agent,
                assigned_at: answered_at,
                done_at: Some(now),
            };
            if !settle(tx, db, &w, to).await? {
                return Err(AppError::Conflict("the work item moved meanwhile".into()));
            }
            find_item(tx, w.id).await?
        }
        Err(AppError::NotFound(_)) => {
            let sql = format!(
                "INSERT INTO work_items (ticket_id, queue_id, channel, customer_id, priority, \
                 state, enqueued_at, done_at, assigned_to, assigned_at) \
                 SELECT id, $2, 'voice', customer_id, priority, $3, $4, $5, $6, $7 \
                 FROM tickets WHERE id = $1 RETURNING {COLUMNS}"
            );
            let params = vec![
                call.ticket_id.into(),
                call.queue_id.into(),
                state.into(),
                call.since.into(),
                now.into(),
                agent.into(),
                answered_at.into(),
            ];
            tx.row::<WorkItem>(&sql, params)
                .await?
                .ok_or(AppError::NotFound("ticket"))?
        }
        Err(e) => return Err(e),
    };
    let payload = serde_json::json!({ "work_item": w });
    events::append(tx, db.backend, kind, queue_scope(&w), &payload).await?;
    Ok(Some(w))
}

/// A call rings again on a ticket whose earlier work is finished (the customer calls back about
/// an open ticket): the call is work of its own, waiting in `queue_id` (else the ticket's
/// earlier queue) with the earlier work's priority and skills. `None` when the ticket's work
/// is still open (that item carries this call too) or the ticket never had work (routing
/// places it as a new ticket).
pub async fn queue_call_again<E: Exec>(
    tx: &mut E,
    db: &Db,
    ticket_id: i64,
    queue_id: Option<i64>,
) -> AppResult<Option<WorkItem>> {
    events::order(tx, db.backend).await?;
    let before = match find_item_by_ticket(tx, ticket_id).await {
        Ok(w) if !matches!(w.state.as_str(), "done" | "abandoned") => return Ok(None),
        Ok(w) => w,
        Err(AppError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let t = find_ticket(tx, ticket_id).await?;
    let again = Placement {
        ticket_id,
        own_queue: t.queue_id,
        queue_id: queue_id.or(before.queue_id),
        channel: "voice".into(),
        customer_id: t.customer_id,
        base_priority: t.priority.rank(),
        priority: before.priority,
        skills: before.skills,
        kind: t.kind.as_str().to_string(),
        set_kind: None,
    };
    let open = format!(
        "WHERE NOT EXISTS (SELECT 1 FROM work_items WHERE ticket_id = $1 AND state IN {OPEN_STATES})"
    );
    let Some(w) = insert_item(tx, &again, &open).await? else {
        // Another call on the ticket queued it meanwhile (PostgreSQL): that item carries both.
        return Ok(None);
    };
    let payload = serde_json::json!({ "work_item": w });
    events::append(tx, db.backend, "work.queued", queue_scope(&w), &payload).await?;
    Ok(Some(w))
}

/// `agent` answered the call on `ticket_id` (at `at`): the call's waiting or ringing work is
/// theirs now, so routing offers it to nobody else while they talk and it counts against
/// their capacity. An offer ringing for someone else is withdrawn. False when the work was
/// not waiting (taken through an offer already, or no voice work).
pub async fn take_call_work<E: Exec>(
    tx: &mut E,
    db: &Db,
    ticket_id: i64,
    agent: i64,
    at: i64,
) -> AppResult<bool> {
    events::order(tx, db.backend).await?;
    let w = match find_item_by_ticket(tx, ticket_id).await {
        Ok(w) => w,
        Err(AppError::NotFound(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    if w.channel != "voice" || !matches!(w.state.as_str(), "unqueued" | "waiting" | "offered") {
        return Ok(false);
    }
    let to = Settle {
        state: "assigned",
        assigned_to: Some(agent),
        assigned_at: Some(at),
        done_at: None,
    };
    if !settle(tx, db, &w, to).await? {
        return Err(AppError::Conflict("the work item moved meanwhile".into()));
    }
    Ok(true)
}

/// Where a work item moves on to from the state it was read in.
pub(super) struct Settle {
    pub state: &'static str,
    /// Who holds it from now (the holder stays when `None`).
    pub assigned_to: Option<i64>,
    /// Since when it is held, unless it already was.
    pub assigned_at: Option<i64>,
    pub done_at: Option<i64>,
}

/// Moves `w` on as `to` says, conditional on the state it was read in; an offer ringing for it
/// is withdrawn. False when the item moved meanwhile.
pub(super) async fn settle<E: Exec>(
    tx: &mut E,
    db: &Db,
    w: &WorkItem,
    to: Settle,
) -> AppResult<bool> {
    let moved = tx
        .run(
            "UPDATE work_items SET state = $2, assigned_to = COALESCE($3, assigned_to), \
             assigned_at = COALESCE(assigned_at, $4), done_at = $5, \
             offer_id = NULL, offered_to = NULL, offer_expires_at = NULL \
             WHERE id = $1 AND state = $6",
            vec![
                w.id.into(),
                to.state.into(),
                to.assigned_to.into(),
                to.assigned_at.into(),
                to.done_at.into(),
                (&w.state).into(),
            ],
        )
        .await?;
    if moved == 0 {
        return Ok(false);
    }
    if let (Some(o), Some(u)) = (w.offer_id, w.offered_to) {
        close_offer(tx, db, w, o, u, "withdrawn").await?;
    }
    Ok(true)
}

/// Closes an offer, frees the agent's ringing slot and tells the agent.
async fn close_offer<E: Exec>(
    tx: &mut E,
    db: &Db,
    w: &WorkItem,
    offer_id: i64,
    user_id: i64,
    outcome: &str,
) -> AppResult<()> {
    let now = now_ms();
    tx.run(
        "UPDATE offers SET outcome = $2, closed_at = $3 WHERE id = $1 AND outcome IS NULL",
        vec![offer_id.into(), outcome.into(), now.into()],
    )
    .await?;
    tx.run(
        "UPDATE agent_presence SET offer_id = NULL WHERE user_id = $1 AND offer_id = $2",
        vec![user_id.into(), offer_id.into()],
    )
    .await?;
    events::append(
        tx,
        db.backend,
        "offer.closed",
        agent_scope(w, user_id),
        &serde_json::json!({"offer_id": offer_id, "ticket_id": w.ticket_id,
            "work_item_id": w.id, "outcome": outcome}),
    )
    .await?;
    Ok(())
}

/// Gives the ticket to `user_id`, and marks the agent busy when that fills their capacity on
/// the item's channel.
async fn hand_over<E: Exec>(
    tx: &mut E,
    db: &Db,
    w: &WorkItem,
    user_id: i64,
    by: i64,
) -> AppResult<()> {
    let t = find_ticket(tx, w.ticket_id).await?;
    let status = (t.status == crate::tickets::Status::New).then_some(crate::tickets::Status::Open);
    update_ticket(
        tx,
        db,
        w.ticket_id,
        &TicketChanges {
            assignee_id: Some(Some(user_id)),
            status,
            ..TicketChanges::default()
        },
        Some(by),
    )
    .await?;
    let p = presence::find_presence(tx, user_id).await?;
    let load: Option<Count> = tx
        .row(
            "SELECT COUNT(*) AS n FROM work_items WHERE assigned_to = $1 AND state = 'assigned' \
             AND channel = $2",
            vec![user_id.into(), (&w.channel).into()],
        )
        .await?;
    let queue: Option<QueueRouting> = match w.queue_id {
        Some(q) => {
            let sql = format!("SELECT {QUEUE_ROUTING} FROM queues WHERE id = $1");
            tx.row(&sql, vec![q.into()]).await?
        }
        None => None,
    };
    let load = load.map_or(0, |c| c.0);
    if p.state == "available"
        && load >= p.capacity_in(&w.channel, queue.as_ref().map(|q| &q.capacity))
    {
        presence::change_state(tx, db, user_id, "busy", "at_capacity", None).await?;
    }
    Ok(())
}

/// `COUNT(*) AS n`.
struct Count(i64);

impl FromRow for Count {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Count(r.try_get("n")?))
    }
}

/// An offer's item and owner.
struct OfferRow {
    work_item_id: i64,
    user_id: i64,
}

impl FromRow for OfferRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(OfferRow {
            work_item_id: r.try_get("work_item_id")?,
            user_id: r.try_get("user_id")?,
        })
    }
}

/// The item of `user_id`'s offer; not found when the offer is someone else's.
async fn offered_item<E: Exec>(tx: &mut E, offer_id: i64, user_id: i64) -> AppResult<i64> {
    let row: Option<OfferRow> = tx
        .row(
            "SELECT work_item_id, user_id FROM offers WHERE id = $1",
            vec![offer_id.into()],
        )
        .await?;
    match row {
        Some(r) if r.user_id == user_id => Ok(r.work_item_id),
        _ => Err(AppError::NotFound("offer")),
    }
}

/// The agent takes the work offered to them.
pub async fn accept_offer(state: &AppState, offer_id: i64, user_id: i64) -> AppResult<WorkItem> {
    events::write(&state.db, Accept { offer_id, user_id }).await
}

struct Accept {
    offer_id: i64,
    user_id: i64,
}

impl WriteJob for Accept {
    type Out = WorkItem;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<WorkItem> {
        let (offer_id, user_id) = (self.offer_id, self.user_id);
        let item_id = offered_item(tx, offer_id, user_id).await?;
        let now = now_ms();
        let done = tx
            .run(
                "UPDATE work_items SET state = 'assigned', assigned_to = $3, assigned_at = $4, \
                 offer_id = NULL, offered_to = NULL, offer_expires_at = NULL \
                 WHERE id = $1 AND state = 'offered' AND offer_id = $2 AND offered_to = $3",
                vec![item_id.into(), offer_id.into(), user_id.into(), now.into()],
            )
            .await?;
        if done != 1 {
            return Err(AppError::Conflict("this offer is no longer open".into()));
        }
        let w = find_item(tx, item_id).await?;
        close_offer(tx, db, &w, offer_id, user_id, "accepted").await?;
        tx.run(
            "UPDATE agent_presence SET idle_since_ms = $2 WHERE user_id = $1",
            vec![user_id.into(), now.into()],
        )
        .await?;
        hand_over(tx, db, &w, user_id, user_id).await?;
        Ok(w)
    }
}

/// The agent declines; the item waits for the next agent (this one is tried last).
pub async fn reject_offer(state: &AppState, offer_id: i64, user_id: i64) -> AppResult<WorkItem> {
    events::write(&state.db, Reject { offer_id, user_id }).await
}

struct Reject {
    offer_id: i64,
    user_id: i64,
}

impl WriteJob for Reject {
    type Out = WorkItem;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<WorkItem> {
        let (offer_id, user_id) = (self.offer_id, self.user_id);
        let item_id = offered_item(tx, offer_id, user_id).await?;
        let w = find_item(tx, item_id).await?;
        if !return_to_queue(tx, &w, offer_id, user_id).await? {
            return Err(AppError::Conflict("this offer is no longer open".into()));
        }
        close_offer(tx, db, &w, offer_id, user_id, "rejected").await?;
        find_item(tx, item_id).await
    }
}

/// An agent who goes offline no longer rings: their open offer goes back to the queue (outcome
/// `agent_offline`).
pub async fn withdraw_ringing<E: Exec>(tx: &mut E, db: &Db, user_id: i64) -> AppResult<()> {
    let sql =
        format!("SELECT {COLUMNS} FROM work_items WHERE state = 'offered' AND offered_to = $1");
    let items: Vec<WorkItem> = tx.rows(&sql, vec![user_id.into()]).await?;
    for w in items {
        let Some(o) = w.offer_id else { continue };
        if return_to_queue(tx, &w, o, user_id).await? {
            close_offer(tx, db, &w, o, user_id, "agent_offline").await?;
        }
    }
    Ok(())
}

/// Puts an offered item back to waiting, remembering who had it. False when it was no longer
/// offered by this offer.
async fn return_to_queue<E: Exec>(
    tx: &mut E,
    w: &WorkItem,
    offer_id: i64,
    user_id: i64,
) -> AppResult<bool> {
    let mut tried = w.tried.clone();
    if !tried.contains(&user_id) {
        tried.push(user_id);
    }
    let tried = serde_json::to_string(&tried).unwrap_or_else(|_| "[]".into());
    let done = tx
        .run(
            "UPDATE work_items SET state = 'waiting', offer_id = NULL, offered_to = NULL, \
             offer_expires_at = NULL, tried = $4 \
             WHERE id = $1 AND state = 'offered' AND offer_id = $2 AND offered_to = $3",
            vec![w.id.into(), offer_id.into(), user_id.into(), tried.into()],
        )
        .await?;
    Ok(done == 1)
}

/// Assigns the item of `ticket_id` to `to` whatever its state (unless done): manual pick by an
/// agent (`allow_assigned` false) or supervisor reassign (true). Conditional on the state read.
pub async fn assign_work(
    state: &AppState,
    ticket_id: i64,
    to: i64,
    by: i64,
    allow_assigned: bool,
) -> AppResult<WorkItem> {
    let job = Assign {
        ticket_id,
        to,
        by,
        allow_assigned,
    };
    events::write(&state.db, job).await
}

struct Assign {
    ticket_id: i64,
    to: i64,
    by: i64,
    allow_assigned: bool,
}

impl WriteJob for Assign {
    type Out = WorkItem;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<WorkItem> {
        let w = find_item_by_ticket(tx, self.ticket_id).await?;
        let open = matches!(w.state.as_str(), "unqueued" | "waiting" | "offered")
            || (self.allow_assigned && w.state == "assigned");
        if !open {
            return Err(AppError::Conflict(format!("this work is {}", w.state)));
        }
        let done = tx
            .run(
                "UPDATE work_items SET state = 'assigned', assigned_to = $2, assigned_at = $3, \
                 offer_id = NULL, offered_to = NULL, offer_expires_at = NULL \
                 WHERE id = $1 AND state = $4 AND COALESCE(offer_id, 0) = $5 \
                 AND COALESCE(assigned_to, 0) = $6",
                vec![
                    w.id.into(),
                    self.to.into(),
                    now_ms().into(),
                    (&w.state).into(),
                    w.offer_id.unwrap_or(0).into(),
                    w.assigned_to.unwrap_or(0).into(),
                ],
            )
            .await?;
        if done != 1 {
            return Err(AppError::Conflict("this work changed; try again".into()));
        }
        if let (Some(o), Some(u)) = (w.offer_id, w.offered_to) {
            close_offer(tx, db, &w, o, u, "withdrawn").await?;
        }
        let w = find_item(tx, w.id).await?;
        hand_over(tx, db, &w, self.to, self.by).await?;
        Ok(w)
    }
}

/// Queue ids the user works.
pub async fn queues_of(db: &Db, user_id: i64) -> AppResult<Vec<i64>> {
    super::store::queues_of_user(db, user_id).await
}

// ---- the routing leader's steps -------------------------------------------------------------

/// Tickets that are new, unassigned and have no work item get one: queue rules decide the
/// queue (else the ticket's own; none → `unqueued`, left for manual pick). The tickets are read
/// on the readers and placed in one write.
pub async fn place_new_tickets(state: &AppState) -> AppResult<usize> {
    let db = &state.db;
    let from: Vec<i64> = db
        .fetch_all(
            "SELECT value AS id FROM realtime_marks WHERE name = 'routing_from_ticket_id'",
            vec![],
        )
        .await?;
    let from = from.first().copied().unwrap_or(0);
    let tickets: Vec<NewWork> = db
        .fetch_all(
            "SELECT t.id, t.subject, t.kind, t.channel, t.queue_id, t.priority, t.customer_id, \
             c.tier, c.language FROM tickets t LEFT JOIN customers c ON c.id = t.customer_id \
             WHERE t.id > $1 AND t.status = 'new' AND t.assignee_id IS NULL \
             AND t.merged_into IS NULL \
             AND NOT EXISTS (SELECT 1 FROM work_items w WHERE w.ticket_id = t.id) \
             ORDER BY t.id LIMIT 200",
            vec![from.into()],
        )
        .await?;
    // When all was read, everything up to the newest ticket older than a few seconds has been
    // looked at: the mark moves there so later passes scan only new tickets. (Younger ids are
    // rescanned, as a transaction holding a smaller id may still commit.)
    let mut mark = None;
    if tickets.len() < 200 {
        let upto: Vec<i64> = db
            .fetch_all(
                "SELECT COALESCE(MAX(id), $1) AS id FROM tickets WHERE id > $1 AND created_at < $2",
                vec![from.into(), (now_ms() - 10_000).into()],
            )
            .await?;
        mark = upto
            .first()
            .copied()
            .filter(|&u| u > from)
            .map(|u| (from, u));
    }
    if tickets.is_empty() && mark.is_none() {
        return Ok(0);
    }
    let rules = if tickets.is_empty() {
        Vec::new()
    } else {
        super::store::list_rules(db, None).await?
    };
    let mut places = Vec::with_capacity(tickets.len());
    for t in tickets {
        let first: Vec<FirstMessage> = db
            .fetch_all(
                "SELECT to_addr, body FROM interactions WHERE ticket_id = $1 ORDER BY id LIMIT 1",
                vec![t.id.into()],
            )
            .await?;
        let (to_addr, body) = first
            .into_iter()
            .next()
            .map_or_else(Default::default, |m| (m.to_addr, m.body));
        let facts = WorkFacts::new(
            &t.channel,
            &to_addr,
            &t.subject,
            &body,
            t.tier.as_deref().unwrap_or(""),
            t.language.as_deref().unwrap_or(""),
            &t.kind,
        );
        let rule: Option<&QueueRule> = super::place(&rules, &facts);
        let set_kind = rule
            .and_then(|r| r.set_kind.as_deref())
            .and_then(crate::tickets::Kind::parse)
            .filter(|k| k.as_str() != t.kind);
        places.push(Placement {
            kind: set_kind.map_or(t.kind.clone(), |k| k.as_str().to_string()),
            set_kind,
            ticket_id: t.id,
            own_queue: t.queue_id,
            queue_id: rule.map(|r| r.queue_id).or(t.queue_id),
            channel: facts.channel,
            customer_id: t.customer_id,
            base_priority: t.priority
                + crate::value::tier_boost(state.config.tier_priority, t.tier.as_deref()),
            priority: t.priority
                + rule.map_or(0, |r| r.priority_boost)
                + crate::value::tier_boost(state.config.tier_priority, t.tier.as_deref()),
            skills: rule.map(|r| r.skills.clone()).unwrap_or_default(),
        });
    }
    events::write(db, Place { mark, places }).await
}

/// A ticket waiting for its work item.
struct NewWork {
    id: i64,
    subject: String,
    kind: String,
    channel: String,
    queue_id: Option<i64>,
    priority: i64,
    customer_id: Option<i64>,
    tier: Option<String>,
    language: Option<String>,
}

impl FromRow for NewWork {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(NewWork {
            id: r.try_get("id")?,
            subject: r.try_get("subject")?,
            kind: r.try_get("kind")?,
            channel: r.try_get("channel")?,
            queue_id: r.try_get("queue_id")?,
            priority: r.try_get("priority")?,
            customer_id: r.try_get("customer_id")?,
            tier: r.try_get("tier")?,
            language: r.try_get("language")?,
        })
    }
}

struct FirstMessage {
    to_addr: String,
    body: String,
}

impl FromRow for FirstMessage {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(FirstMessage {
            to_addr: r.try_get("to_addr")?,
            body: r.try_get("body")?,
        })
    }
}

/// Where a rule put a new ticket's work.
struct Placement {
    ticket_id: i64,
    own_queue: Option<i64>,
    queue_id: Option<i64>,
    channel: String,
    customer_id: Option<i64>,
    /// The ticket's priority, raised for vip and key customers with `HOTLINE_TIER_PRIORITY`:
    /// the SLA target's (a rule's boost orders the queue only).
    base_priority: i64,
    priority: i64,
    skills: Vec<String>,
    /// The ticket's kind, after the rule's `set_kind`.
    kind: String,
    /// The kind the matching rule files the ticket as, when it differs.
    set_kind: Option<crate::tickets::Kind>,
}

/// Inserts the work item of `p`, waiting in its queue (unqueued without one) with the SLA due
/// times of the queue and the ticket's priority, when `guard` (a WHERE clause; `$1` is the
/// ticket) holds. `None` when it does not, or the ticket has open work already.
async fn insert_item<E: Exec>(
    tx: &mut E,
    p: &Placement,
    guard: &str,
) -> AppResult<Option<WorkItem>> {
    let now = now_ms();
    // A complaint's work runs on the queue's `complaint` target when it has one.
    let mut due = (None, None);
    if p.kind == "complaint" {
        due = super::sla::due_times(tx, p.queue_id, p.base_priority, "complaint", now).await?;
    }
    if due == (None, None) {
        due = super::sla::due_times(tx, p.queue_id, p.base_priority, "ticket", now).await?;
    }
    let (fr, res) = due;
    let state = if p.queue_id.is_some() {
        "waiting"
    } else {
        "unqueued"
    };
    let sql = format!(
        "INSERT INTO work_items (ticket_id, kind, queue_id, channel, customer_id, priority, \
         skills, state, enqueued_at, first_response_due, resolution_due, next_clock_at) \
         SELECT $1, 'ticket', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 {guard} \
         ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    );
    let params = vec![
        p.ticket_id.into(),
        p.queue_id.into(),
        (&p.channel).into(),
        p.customer_id.into(),
        p.priority.into(),
        to_json_list(&p.skills).into(),
        state.into(),
        now.into(),
        fr.into(),
        res.into(),
        (fr.is_some() || res.is_some()).then_some(now).into(),
    ];
    tx.row::<WorkItem>(&sql, params).await
}

/// One pass's placements and the scan mark's move (from, to), in one transaction. A ticket
/// that got an item or an agent meanwhile (its call was answered or ended, say) is left as it
/// is.
struct Place {
    mark: Option<(i64, i64)>,
    places: Vec<Placement>,
}

impl WriteJob for Place {
    type Out = usize;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<usize> {
        // Serialized with calls that end or ring again on these tickets (PostgreSQL).
        events::order(tx, db.backend).await?;
        if let Some((from, to)) = self.mark {
            tx.run(
                "UPDATE realtime_marks SET value = $2 \
                 WHERE name = 'routing_from_ticket_id' AND value = $1",
                vec![from.into(), to.into()],
            )
            .await?;
        }
        // Only a ticket still new and without work: its call may have been answered or ended
        // since routing looked.
        let guard = "WHERE NOT EXISTS (SELECT 1 FROM work_items WHERE ticket_id = $1) \
             AND EXISTS (SELECT 1 FROM tickets WHERE id = $1 AND status = 'new' \
             AND assignee_id IS NULL AND merged_into IS NULL)";
        let mut placed = 0;
        for p in &self.places {
            let Some(w) = insert_item(tx, p, guard).await? else {
                continue;
            };
            if p.queue_id != p.own_queue || p.set_kind.is_some() {
                let changes = TicketChanges {
                    queue_id: (p.queue_id != p.own_queue).then_some(p.queue_id),
                    kind: p.set_kind,
                    ..TicketChanges::default()
                };
                update_ticket(tx, db, p.ticket_id, &changes, None).await?;
            }
            let payload = serde_json::json!({ "work_item": w });
            events::append(tx, db.backend, "work.queued", queue_scope(&w), &payload).await?;
            placed += 1;
        }
        Ok(placed)
    }
}

/// Offers waiting items (queue priority, item priority, then longest wait first) to available
/// agents who work the queue, have the skills and spare capacity on the channel, and have no
/// offer ringing; among them the choice of the queue's strategy (else the configured one). Returns the number of offers made.
pub async fn offer_waiting(state: &AppState) -> AppResult<usize> {
    let db = &state.db;
    let sql = format!(
        "SELECT {} FROM work_items w LEFT JOIN queues q ON q.id = w.queue_id \
         WHERE w.state = 'waiting' AND w.queue_id IS NOT NULL \
         AND (w.not_before IS NULL OR w.not_before <= $1) \
         ORDER BY COALESCE(q.priority, 0) DESC, w.priority DESC, w.enqueued_at, w.id LIMIT 500",
        w_columns()
    );
    let now = now_ms();
    let items: Vec<WorkItem> = db.fetch_all(&sql, vec![now.into()]).await?;
    if items.is_empty() {
        return Ok(0);
    }
    // Only agents with a live console: work offered to nobody watching would just ring out.
    let agents: Vec<FreeAgent> = db
        .fetch_all(
            "SELECT p.user_id, p.state, p.reason, p.since_ms, p.until_ms, p.idle_since_ms, \
             p.last_offered_ms, p.offer_id, p.capacity, u.skills FROM agent_presence p \
             JOIN users u ON u.id = p.user_id \
             WHERE p.state = 'available' AND p.offer_id IS NULL AND u.active = 1 \
             AND EXISTS (SELECT 1 FROM consoles c WHERE c.user_id = p.user_id AND c.seen_ms > $1)",
            vec![(now - presence::CONSOLE_STALE_MS).into()],
        )
        .await?;
    if agents.is_empty() {
        return Ok(0);
    }
    let mut load: HashMap<(i64, String), i64> = HashMap::new();
    let mut total: HashMap<i64, i64> = HashMap::new();
    let loads: Vec<Load> = db
        .fetch_all(
            "SELECT assigned_to, channel, COUNT(*) AS n FROM work_items \
             WHERE state = 'assigned' AND assigned_to IS NOT NULL GROUP BY assigned_to, channel",
            vec![],
        )
        .await?;
    for l in loads {
        *total.entry(l.user_id).or_default() += l.n;
        load.insert((l.user_id, l.channel), l.n);
    }
    let members = super::store::members_by_queue(db).await?;
    let sql = format!("SELECT {QUEUE_ROUTING} FROM queues");
    let queues: HashMap<i64, QueueRouting> = db
        .fetch_all::<QueueRouting>(&sql, vec![])
        .await?
        .into_iter()
        .map(|q| (q.id, q))
        .collect();
    let default_strategy = Strategy::parse(&state.config.routing_strategy);
    let mut used: HashSet<i64> = HashSet::new();
    let mut offered = 0;
    for w in &items {
        let Some(q) = w.queue_id else { continue };
        let strategy = queues
            .get(&q)
            .and_then(|q| q.strategy.as_deref())
            .map_or(default_strategy, Strategy::parse);
        let eligible = agents.iter().filter(|a| {
            let p = &a.presence;
            !used.contains(&p.user_id)
                && members.get(&q).is_some_and(|m| m.contains(&p.user_id))
                && w.skills.iter().all(|s| a.skills.contains(s))
                && load
                    .get(&(p.user_id, w.channel.clone()))
                    .copied()
                    .unwrap_or(0)
                    < p.capacity_in(&w.channel, queues.get(&q).map(|q| &q.capacity))
        });
        // Agents who already declined or missed this item come last.
        let best = eligible.min_by_key(|a| {
            let p = &a.presence;
            let key = match strategy {
                Strategy::LongestIdle => (0, p.idle_since_ms),
                Strategy::RoundRobin => (0, p.last_offered_ms),
                Strategy::LeastLoaded => {
                    (total.get(&p.user_id).copied().unwrap_or(0), p.idle_since_ms)
                }
            };
            (w.tried.contains(&p.user_id), key, p.user_id)
        });
        let Some(agent) = best else { continue };
        let timeout = queues
            .get(&q)
            .and_then(|q| q.offer_timeout_secs)
            .unwrap_or(state.config.offer_timeout_secs as i64);
        let job = MakeOffer {
            w: w.clone(),
            user_id: agent.presence.user_id,
            timeout_secs: timeout,
        };
        match events::write(db, job).await {
            Ok(()) => {
                used.insert(agent.presence.user_id);
                offered += 1;
            }
            // The item or the agent moved on since they were read.
            Err(AppError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(offered)
}

struct CustomerName(String);

impl FromRow for CustomerName {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(CustomerName(r.try_get("display_name")?))
    }
}

/// An agent free for an offer, with their skills.
struct FreeAgent {
    presence: Presence,
    skills: Vec<String>,
}

impl FromRow for FreeAgent {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(FreeAgent {
            presence: Presence::from_row(r)?,
            skills: from_json_list(&r.try_get::<String>("skills")?),
        })
    }
}

/// How many items of a channel an agent has.
struct Load {
    user_id: i64,
    channel: String,
    n: i64,
}

impl FromRow for Load {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Load {
            user_id: r.try_get("assigned_to")?,
            channel: r.try_get("channel")?,
            n: r.try_get("n")?,
        })
    }
}

/// What routing reads of a queue: its per-channel capacity (empty: none set), its offer
/// timeout (`None`: `HOTLINE_OFFER_TIMEOUT_SECS`) and strategy (`None`:
/// `HOTLINE_ROUTING_STRATEGY`).
struct QueueRouting {
    id: i64,
    capacity: BTreeMap<String, i64>,
    offer_timeout_secs: Option<i64>,
    strategy: Option<String>,
}

const QUEUE_ROUTING: &str = "id, capacity, offer_timeout_secs, strategy";

impl FromRow for QueueRouting {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(QueueRouting {
            id: r.try_get("id")?,
            capacity: presence::parse_capacity(&r.try_get::<String>("capacity")?),
            offer_timeout_secs: r.try_get("offer_timeout_secs")?,
            strategy: r.try_get("strategy")?,
        })
    }
}

/// One offer: conditional on the item still waiting and the agent still free (a `Conflict`
/// otherwise, which leaves nothing behind).
struct MakeOffer {
    w: WorkItem,
    user_id: i64,
    timeout_secs: i64,
}

impl WriteJob for MakeOffer {
    type Out = ();

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<()> {
        let (w, user_id) = (&self.w, self.user_id);
        let now = now_ms();
        let expires = now + self.timeout_secs.max(1) * 1000;
        let offer_id: i64 = tx
            .row(
                "INSERT INTO offers (work_item_id, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
                vec![w.id.into(), user_id.into(), now.into(), expires.into()],
            )
            .await?
            .ok_or(AppError::Internal(anyhow::anyhow!("no offer id returned")))?;
        let agent = tx
            .run(
                "UPDATE agent_presence SET offer_id = $2, last_offered_ms = $3 \
                 WHERE user_id = $1 AND offer_id IS NULL AND state = 'available'",
                vec![user_id.into(), offer_id.into(), now.into()],
            )
            .await?;
        let item = tx
            .run(
                "UPDATE work_items SET state = 'offered', offer_id = $2, offered_to = $3, \
                 offer_expires_at = $4 WHERE id = $1 AND state = 'waiting'",
                vec![w.id.into(), offer_id.into(), user_id.into(), expires.into()],
            )
            .await?;
        if agent != 1 || item != 1 {
            return Err(AppError::Conflict("the item or the agent moved on".into()));
        }
        // The card names what rings: the customer, the ticket, and for a callback its tries.
        let t = find_ticket(tx, w.ticket_id).await?;
        let customer: Option<CustomerName> = match w.customer_id {
            Some(c) => {
                tx.row(
                    "SELECT display_name FROM customers WHERE id = $1",
                    vec![c.into()],
                )
                .await?
            }
            None => None,
        };
        let mut payload = serde_json::json!({"offer_id": offer_id, "ticket_id": w.ticket_id,
            "work_item_id": w.id, "kind": w.kind, "channel": w.channel,
            "queue_id": w.queue_id, "customer_id": w.customer_id, "phone": w.phone,
            "note": w.note, "waiting_since_ms": w.enqueued_at, "expires_at_ms": expires,
            "customer_name": customer.map(|c| c.0), "ticket_subject": t.subject,
            "ticket_subject_data": t.subject_data});
        if w.kind == "callback"
            && let Some(cb) = super::callbacks::info(tx, w.ticket_id).await?
        {
            payload["callback_due_ms"] = serde_json::json!(cb.due_ms);
            payload["attempts"] = serde_json::json!(cb.attempts);
            payload["note_data"] = serde_json::json!(cb.reason_data);
        }
        events::append(
            tx,
            db.backend,
            "offer.created",
            agent_scope(w, user_id),
            &payload,
        )
        .await?;
        Ok(())
    }
}

/// Offers that rang out go back to the queue (outcome `timeout`).
pub async fn expire_offers(state: &AppState) -> AppResult<usize> {
    let db = &state.db;
    let sql = format!(
        "SELECT {COLUMNS} FROM work_items WHERE state = 'offered' AND offer_expires_at < $1"
    );
    let items: Vec<WorkItem> = db.fetch_all(&sql, vec![now_ms().into()]).await?;
    if items.is_empty() {
        return Ok(0);
    }
    events::write(db, Expire { items }).await
}

struct Expire {
    items: Vec<WorkItem>,
}

impl WriteJob for Expire {
    type Out = usize;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<usize> {
        let mut n = 0;
        for w in &self.items {
            let (Some(o), Some(u)) = (w.offer_id, w.offered_to) else {
                continue;
            };
            if return_to_queue(tx, w, o, u).await? {
                close_offer(tx, db, w, o, u, "timeout").await?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// An agent finished a piece of work: from one of `from` states into timed wrap-up
/// (`wrap_up_secs`), or available when wrap-up is off. True when wrapping up.
pub(super) async fn after_work<E: Exec>(
    tx: &mut E,
    db: &Db,
    wrap_up_secs: u64,
    agent: i64,
    from: &[&str],
) -> AppResult<bool> {
    let p = presence::find_presence(tx, agent).await?;
    if !from.contains(&p.state.as_str()) {
        return Ok(false);
    }
    if wrap_up_secs > 0 {
        let until = Some(now_ms() + wrap_up_secs as i64 * 1000);
        presence::change_state(tx, db, agent, "wrap_up", "after_work", until).await?;
        return Ok(true);
    }
    presence::change_state(tx, db, agent, "available", "", None).await?;
    Ok(false)
}

/// A call `agent` took ended (answered at `answered_at`): the ticket's voice work item is done
/// (its follow-up stays on the ticket, which remains theirs), so the call no longer counts
/// against their capacity, and the agent goes to after-call work for `wrap_up_secs`. True when
/// they are wrapping up.
pub async fn finish_call_work<E: Exec>(
    tx: &mut E,
    db: &Db,
    wrap_up_secs: u64,
    call: &CallWork,
    agent: i64,
    answered_at: i64,
) -> AppResult<bool> {
    let end = CallEnd::Answered {
        agent: Some(agent),
        at: answered_at,
    };
    end_call_work(tx, db, call, end).await?;
    after_work(tx, db, wrap_up_secs, agent, &["busy", "available"]).await
}

/// Follows tickets that moved on outside routing: resolved or closed tickets finish their item
/// (freeing the agent: busy → wrap-up or available); a ticket someone assigned by hand takes its
/// waiting item with it. Timed wrap-ups that ended become available.
///
/// `followed` is the events seq seen so far: only tickets with a `ticket.updated` (or
/// `ticket.merged`) after it are looked at. `None` (a new leader) looks at every open item
/// first, 200 at a time.
pub async fn follow_tickets(state: &AppState, followed: &mut Option<i64>) -> AppResult<usize> {
    let db = &state.db;
    let upto = crate::realtime::hub::max_seq(db).await?;
    // A waiting call does not go to whoever holds its ticket: it needs an agent who answers
    // now (a caller ringing again about a ticket someone holds), and the call's own answer
    // makes it that agent's.
    let moved_on = "((w.state = 'assigned' AND t.status IN ('resolved', 'closed')) \
         OR (w.state IN ('unqueued', 'waiting', 'offered') \
             AND (t.status IN ('resolved', 'closed') \
                  OR (t.assignee_id IS NOT NULL AND NOT (w.channel = 'voice' AND w.kind = 'ticket')))))";
    let (sql, params) = match *followed {
        Some(after) => (
            format!(
                "SELECT {}, t.status AS t_status, t.assignee_id AS t_assignee FROM work_items w \
                 JOIN tickets t ON t.id = w.ticket_id WHERE w.ticket_id IN \
                 (SELECT ticket_id FROM events WHERE seq > $1 AND seq <= $2 \
                 AND kind IN ('ticket.updated', 'ticket.merged')) AND {moved_on}",
                w_columns()
            ),
            vec![after.into(), upto.into()],
        ),
        None => (
            format!(
                "SELECT {}, t.status AS t_status, t.assignee_id AS t_assignee FROM work_items w \
                 JOIN tickets t ON t.id = w.ticket_id WHERE {moved_on} LIMIT 200",
                w_columns()
            ),
            vec![],
        ),
    };
    let moved: Vec<MovedOn> = db.fetch_all(&sql, params).await?;
    // The full look is done once it finds less than a batch.
    let next = (followed.is_some() || moved.len() < 200).then_some(upto);
    let wrapped: Vec<i64> = db
        .fetch_all(
            "SELECT user_id AS id FROM agent_presence WHERE state = 'wrap_up' \
             AND until_ms IS NOT NULL AND until_ms < $1",
            vec![now_ms().into()],
        )
        .await?;
    let mut n = 0;
    if !moved.is_empty() || !wrapped.is_empty() {
        let job = Follow {
            moved,
            wrapped,
            wrap_up_secs: state.config.wrap_up_secs,
        };
        n = events::write(db, job).await?;
    }
    if next.is_some() {
        *followed = next;
    }
    Ok(n)
}

/// A work item whose ticket moved on.
struct MovedOn {
    w: WorkItem,
    /// The ticket was resolved or closed.
    finished: bool,
    assignee: Option<i64>,
}

impl FromRow for MovedOn {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        let status: String = r.try_get("t_status")?;
        Ok(MovedOn {
            w: WorkItem::from_row(r)?,
            finished: status == "resolved" || status == "closed",
            assignee: r.try_get("t_assignee")?,
        })
    }
}

struct Follow {
    moved: Vec<MovedOn>,
    /// Agents whose timed wrap-up ran out.
    wrapped: Vec<i64>,
    wrap_up_secs: u64,
}

impl WriteJob for Follow {
    type Out = usize;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<usize> {
        let mut n = 0;
        for m in &self.moved {
            let w = &m.w;
            let done_at = m.finished.then_some(now_ms());
            let to = Settle {
                state: if m.finished { "done" } else { "assigned" },
                assigned_to: w.assigned_to.or(m.assignee),
                assigned_at: done_at,
                done_at,
            };
            if !settle(tx, db, w, to).await? {
                continue;
            }
            // The work's own event: what follows the events log (the report rollups) learns
            // that it was answered or ended.
            let kind = if m.finished {
                "work.done"
            } else {
                "work.assigned"
            };
            let payload = serde_json::json!({"work_item_id": w.id, "ticket_id": w.ticket_id});
            let mut scope = queue_scope(w);
            scope.user_id = w.assigned_to.or(m.assignee);
            events::append(tx, db.backend, kind, scope, &payload).await?;
            if m.finished
                && let Some(agent) = w.assigned_to
            {
                after_work(tx, db, self.wrap_up_secs, agent, &["busy"]).await?;
            }
            n += 1;
        }
        for &agent in &self.wrapped {
            // Conditional on still being in a wrap-up that ran out: the agent may have moved.
            let p = presence::find_presence(tx, agent).await?;
            if p.state == "wrap_up" && p.until_ms.is_some_and(|u| u < now_ms()) {
                presence::change_state(tx, db, agent, "available", "", None).await?;
            }
        }
        Ok(n)
    }
}

/// Work items for the console: the user's own assigned and offered items, and (for a queue
/// filter) what waits there.
pub async fn list_items(
    db: &Db,
    queue_id: Option<i64>,
    state_filter: Option<&str>,
    limit: i64,
) -> AppResult<Vec<WorkItem>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM work_items WHERE ($1 < 0 OR queue_id = $1) \
         AND ($2 = '' OR state = $2) ORDER BY priority DESC, enqueued_at, id LIMIT $3"
    );
    let params = vec![
        queue_id.unwrap_or(-1).into(),
        state_filter.unwrap_or("").into(),
        limit.into(),
    ];
    db.fetch_all(&sql, params).await
}
