//! Work items and offers: placing new tickets in queues, offering the longest-waiting
//! highest-priority item to the right agent, accept / reject / timeout, manual pick, supervisor
//! reassign, callbacks. Every transition is a conditional UPDATE so it can never happen twice.

use super::presence::{self, Presence};
use super::{QueueRule, Strategy, WorkFacts};
use crate::app::AppState;
use crate::db::{Db, Tx, from_json_list, now_ms, to_json_list};
use crate::error::{AppError, AppResult};
use crate::realtime::events::{self, Scope};
use crate::tickets::store::{TicketChanges, find_ticket, update_ticket};
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Clone, Debug, Serialize)]
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
}

pub const COLUMNS: &str = "id, ticket_id, kind, queue_id, channel, customer_id, priority, skills, \
     phone, note, state, enqueued_at, offer_id, offered_to, offer_expires_at, tried, assigned_to, \
     assigned_at, done_at, first_response_due, resolution_due, sla_flags";

pub fn item_from_row(r: &sqlx::any::AnyRow) -> Result<WorkItem, sqlx::Error> {
    Ok(WorkItem {
        id: r.try_get("id")?,
        ticket_id: r.try_get("ticket_id")?,
        kind: r.try_get("kind")?,
        queue_id: r.try_get("queue_id")?,
        channel: r.try_get("channel")?,
        customer_id: r.try_get("customer_id")?,
        priority: r.try_get("priority")?,
        skills: from_json_list(&r.try_get::<String, _>("skills")?),
        phone: r.try_get("phone")?,
        note: r.try_get("note")?,
        state: r.try_get("state")?,
        enqueued_at: r.try_get("enqueued_at")?,
        offer_id: r.try_get("offer_id")?,
        offered_to: r.try_get("offered_to")?,
        offer_expires_at: r.try_get("offer_expires_at")?,
        tried: serde_json::from_str(&r.try_get::<String, _>("tried")?).unwrap_or_default(),
        assigned_to: r.try_get("assigned_to")?,
        assigned_at: r.try_get("assigned_at")?,
        done_at: r.try_get("done_at")?,
        first_response_due: r.try_get("first_response_due")?,
        resolution_due: r.try_get("resolution_due")?,
        sla_flags: r.try_get("sla_flags")?,
    })
}

pub async fn find_item<'e, E>(exec: E, id: i64) -> AppResult<WorkItem>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let sql = format!("SELECT {COLUMNS} FROM work_items WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(exec)
        .await?
        .ok_or(AppError::NotFound("work item"))?;
    Ok(item_from_row(&row)?)
}

pub async fn find_item_by_ticket<'e, E>(exec: E, ticket_id: i64) -> AppResult<WorkItem>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let sql = format!("SELECT {COLUMNS} FROM work_items WHERE ticket_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ticket_id)
        .fetch_optional(exec)
        .await?
        .ok_or(AppError::NotFound("work item"))?;
    Ok(item_from_row(&row)?)
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
pub async fn insert_callback(
    tx: &mut Tx<'_>,
    db: &Db,
    ticket_id: i64,
    queue_id: Option<i64>,
    phone: &str,
    note: &str,
) -> AppResult<WorkItem> {
    let t = find_ticket(&mut **tx, ticket_id).await?;
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
         ON CONFLICT (ticket_id) DO UPDATE SET kind = 'callback', phone = excluded.phone, \
         note = excluded.note, channel = 'voice', \
         queue_id = COALESCE(excluded.queue_id, work_items.queue_id), \
         first_response_due = excluded.first_response_due, \
         resolution_due = excluded.resolution_due, next_clock_at = excluded.next_clock_at, \
         sla_flags = 0 RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ticket_id)
        .bind(queue_id)
        .bind(t.customer_id)
        .bind(t.priority.rank())
        .bind(phone)
        .bind(note)
        .bind(state)
        .bind(now)
        .bind(fr)
        .bind(res)
        // The SLA check works out the real next clock time on its first look.
        .bind((fr.is_some() || res.is_some()).then_some(now))
        .fetch_one(&mut **tx)
        .await?;
    let w = item_from_row(&row)?;
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

/// Marks the waiting or ringing item of `ticket_id` abandoned (the caller hung up).
pub async fn abandon_work(db: &Db, ticket_id: i64) -> AppResult<Option<WorkItem>> {
    let mut tx = db.begin().await?;
    let Ok(w) = find_item_by_ticket(&mut *tx, ticket_id).await else {
        return Ok(None);
    };
    if !matches!(w.state.as_str(), "waiting" | "offered" | "unqueued") {
        return Ok(None);
    }
    let done = sqlx::query(
        "UPDATE work_items SET state = 'abandoned', done_at = $2, offer_id = NULL, \
         offered_to = NULL, offer_expires_at = NULL WHERE id = $1 AND state = $3",
    )
    .bind(w.id)
    .bind(now_ms())
    .bind(&w.state)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    if let (Some(o), Some(u)) = (w.offer_id, w.offered_to) {
        close_offer(&mut tx, db, &w, o, u, "withdrawn").await?;
    }
    let w = find_item(&mut *tx, w.id).await?;
    events::append(
        &mut tx,
        db.backend,
        "work.abandoned",
        queue_scope(&w),
        &serde_json::json!({ "work_item": w }),
    )
    .await?;
    events::commit(tx).await?;
    Ok(Some(w))
}

/// Closes an offer, frees the agent's ringing slot and tells the agent.
async fn close_offer(
    tx: &mut Tx<'_>,
    db: &Db,
    w: &WorkItem,
    offer_id: i64,
    user_id: i64,
    outcome: &str,
) -> AppResult<()> {
    let now = now_ms();
    sqlx::query("UPDATE offers SET outcome = $2, closed_at = $3 WHERE id = $1 AND outcome IS NULL")
        .bind(offer_id)
        .bind(outcome)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE agent_presence SET offer_id = NULL WHERE user_id = $1 AND offer_id = $2")
        .bind(user_id)
        .bind(offer_id)
        .execute(&mut **tx)
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
async fn hand_over(tx: &mut Tx<'_>, db: &Db, w: &WorkItem, user_id: i64, by: i64) -> AppResult<()> {
    let t = find_ticket(&mut **tx, w.ticket_id).await?;
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
    let p = presence::find_presence(&mut **tx, user_id).await?;
    let load: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM work_items WHERE assigned_to = $1 AND state = 'assigned' \
         AND channel = $2",
    )
    .bind(user_id)
    .bind(&w.channel)
    .fetch_one(&mut **tx)
    .await?
    .try_get("n")?;
    let queue_capacity = match w.queue_id {
        Some(q) => {
            let row = sqlx::query("SELECT capacity FROM queues WHERE id = $1")
                .bind(q)
                .fetch_optional(&mut **tx)
                .await?;
            let text = row
                .map(|r| r.try_get::<String, _>("capacity"))
                .transpose()?;
            text.map(|t| presence::parse_capacity(&t))
        }
        None => None,
    };
    if p.state == "available" && load >= p.capacity_in(&w.channel, queue_capacity.as_ref()) {
        presence::change_state(tx, db, user_id, "busy", "at_capacity", None).await?;
    }
    Ok(())
}

/// The agent takes the work offered to them.
pub async fn accept_offer(state: &AppState, offer_id: i64, user_id: i64) -> AppResult<WorkItem> {
    let db = &state.db;
    let mut tx = db.begin().await?;
    let row = sqlx::query("SELECT work_item_id, user_id FROM offers WHERE id = $1")
        .bind(offer_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Err(AppError::NotFound("offer"));
    };
    let (item_id, owner): (i64, i64) = (row.try_get("work_item_id")?, row.try_get("user_id")?);
    if owner != user_id {
        return Err(AppError::NotFound("offer"));
    }
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE work_items SET state = 'assigned', assigned_to = $3, assigned_at = $4, \
         offer_id = NULL, offered_to = NULL, offer_expires_at = NULL \
         WHERE id = $1 AND state = 'offered' AND offer_id = $2 AND offered_to = $3",
    )
    .bind(item_id)
    .bind(offer_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(AppError::Conflict("this offer is no longer open".into()));
    }
    let w = find_item(&mut *tx, item_id).await?;
    close_offer(&mut tx, db, &w, offer_id, user_id, "accepted").await?;
    sqlx::query("UPDATE agent_presence SET idle_since_ms = $2 WHERE user_id = $1")
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    hand_over(&mut tx, db, &w, user_id, user_id).await?;
    events::commit(tx).await?;
    Ok(w)
}

/// The agent declines; the item waits for the next agent (this one is tried last).
pub async fn reject_offer(state: &AppState, offer_id: i64, user_id: i64) -> AppResult<WorkItem> {
    let db = &state.db;
    let mut tx = db.begin().await?;
    let row = sqlx::query("SELECT work_item_id, user_id FROM offers WHERE id = $1")
        .bind(offer_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Err(AppError::NotFound("offer"));
    };
    let (item_id, owner): (i64, i64) = (row.try_get("work_item_id")?, row.try_get("user_id")?);
    if owner != user_id {
        return Err(AppError::NotFound("offer"));
    }
    let w = find_item(&mut *tx, item_id).await?;
    if !return_to_queue(&mut tx, &w, offer_id, user_id).await? {
        return Err(AppError::Conflict("this offer is no longer open".into()));
    }
    close_offer(&mut tx, db, &w, offer_id, user_id, "rejected").await?;
    let w = find_item(&mut *tx, item_id).await?;
    events::commit(tx).await?;
    Ok(w)
}

/// Puts an offered item back to waiting, remembering who had it. False when it was no longer
/// offered by this offer.
async fn return_to_queue(
    tx: &mut Tx<'_>,
    w: &WorkItem,
    offer_id: i64,
    user_id: i64,
) -> AppResult<bool> {
    let mut tried = w.tried.clone();
    if !tried.contains(&user_id) {
        tried.push(user_id);
    }
    let done = sqlx::query(
        "UPDATE work_items SET state = 'waiting', offer_id = NULL, offered_to = NULL, \
         offer_expires_at = NULL, tried = $4 \
         WHERE id = $1 AND state = 'offered' AND offer_id = $2 AND offered_to = $3",
    )
    .bind(w.id)
    .bind(offer_id)
    .bind(user_id)
    .bind(serde_json::to_string(&tried).unwrap_or_else(|_| "[]".into()))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
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
    let db = &state.db;
    let mut tx = db.begin().await?;
    let w = find_item_by_ticket(&mut *tx, ticket_id).await?;
    let open = matches!(w.state.as_str(), "unqueued" | "waiting" | "offered")
        || (allow_assigned && w.state == "assigned");
    if !open {
        return Err(AppError::Conflict(format!("this work is {}", w.state)));
    }
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE work_items SET state = 'assigned', assigned_to = $2, assigned_at = $3, \
         offer_id = NULL, offered_to = NULL, offer_expires_at = NULL \
         WHERE id = $1 AND state = $4 AND COALESCE(offer_id, 0) = $5 \
         AND COALESCE(assigned_to, 0) = $6",
    )
    .bind(w.id)
    .bind(to)
    .bind(now)
    .bind(&w.state)
    .bind(w.offer_id.unwrap_or(0))
    .bind(w.assigned_to.unwrap_or(0))
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(AppError::Conflict("this work changed; try again".into()));
    }
    if let (Some(o), Some(u)) = (w.offer_id, w.offered_to) {
        close_offer(&mut tx, db, &w, o, u, "withdrawn").await?;
    }
    let w = find_item(&mut *tx, w.id).await?;
    hand_over(&mut tx, db, &w, to, by).await?;
    events::commit(tx).await?;
    Ok(w)
}

/// Queue ids the user works.
pub async fn queues_of(db: &Db, user_id: i64) -> AppResult<Vec<i64>> {
    super::store::queues_of_user(db, user_id).await
}

// ---- the routing leader's steps -------------------------------------------------------------

/// Tickets that are new, unassigned and have no work item get one: queue rules decide the
/// queue (else the ticket's own; none → `unqueued`, left for manual pick).
pub async fn place_new_tickets(state: &AppState) -> AppResult<usize> {
    let db = &state.db;
    let from: i64 = sqlx::query(
        "SELECT COALESCE(MAX(value), 0) AS v FROM realtime_marks \
         WHERE name = 'routing_from_ticket_id'",
    )
    .fetch_one(&db.pool)
    .await?
    .try_get("v")?;
    let rows = sqlx::query(
        "SELECT t.id, t.subject, t.kind, t.channel, t.queue_id, t.priority, t.customer_id, \
         c.tier, c.language FROM tickets t LEFT JOIN customers c ON c.id = t.customer_id \
         WHERE t.id > $1 AND t.status = 'new' AND t.assignee_id IS NULL \
         AND t.merged_into IS NULL \
         AND NOT EXISTS (SELECT 1 FROM work_items w WHERE w.ticket_id = t.id) \
         ORDER BY t.id LIMIT 200",
    )
    .bind(from)
    .fetch_all(&db.pool)
    .await?;
    if rows.len() < 200 {
        // Everything before the newest ticket older than a few seconds has been looked at:
        // move the mark so later passes scan only new tickets. (Younger ids are rescanned, as
        // a transaction holding a smaller id may still commit.)
        sqlx::query(
            "UPDATE realtime_marks SET value = (SELECT COALESCE(MAX(id), $1) FROM tickets \
             WHERE id > $1 AND created_at < $2) \
             WHERE name = 'routing_from_ticket_id' AND value = $1",
        )
        .bind(from)
        .bind(now_ms() - 10_000)
        .execute(&db.pool)
        .await?;
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let rules = super::store::list_rules(db, None).await?;
    let mut placed = 0;
    for r in &rows {
        let ticket_id: i64 = r.try_get("id")?;
        let first = sqlx::query(
            "SELECT to_addr, body FROM interactions WHERE ticket_id = $1 ORDER BY id LIMIT 1",
        )
        .bind(ticket_id)
        .fetch_optional(&db.pool)
        .await?;
        let (to_addr, body) = match &first {
            Some(i) => (i.try_get::<String, _>("to_addr")?, i.try_get("body")?),
            None => (String::new(), String::new()),
        };
        let subject: String = r.try_get("subject")?;
        let facts = WorkFacts {
            channel: r.try_get("channel")?,
            to_addr,
            text: format!("{subject}\n{body}").to_lowercase(),
            tier: r.try_get::<Option<String>, _>("tier")?.unwrap_or_default(),
            language: r
                .try_get::<Option<String>, _>("language")?
                .unwrap_or_default(),
            kind: r.try_get("kind")?,
        };
        let rule: Option<&QueueRule> = super::place(&rules, &facts);
        let own_queue: Option<i64> = r.try_get("queue_id")?;
        let queue_id = rule.map(|r| r.queue_id).or(own_queue);
        let base: i64 = r.try_get("priority")?;
        let priority = base + rule.map(|r| r.priority_boost).unwrap_or(0);
        let skills = rule.map(|r| r.skills.clone()).unwrap_or_default();
        let mut tx = db.begin().await?;
        let now = now_ms();
        let (fr, res) = super::sla::due_times(&mut tx, queue_id, base, "ticket", now).await?;
        let sql = format!(
            "INSERT INTO work_items (ticket_id, kind, queue_id, channel, customer_id, priority, \
             skills, state, enqueued_at, first_response_due, resolution_due, next_clock_at) \
             VALUES ($1, 'ticket', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (ticket_id) DO NOTHING RETURNING {COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ticket_id)
            .bind(queue_id)
            .bind(&facts.channel)
            .bind(r.try_get::<Option<i64>, _>("customer_id")?)
            .bind(priority)
            .bind(to_json_list(&skills))
            .bind(if queue_id.is_some() {
                "waiting"
            } else {
                "unqueued"
            })
            .bind(now)
            .bind(fr)
            .bind(res)
            .bind((fr.is_some() || res.is_some()).then_some(now))
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { continue };
        let w = item_from_row(&row)?;
        if queue_id != own_queue {
            update_ticket(
                &mut tx,
                db,
                ticket_id,
                &TicketChanges {
                    queue_id: Some(queue_id),
                    ..TicketChanges::default()
                },
                None,
            )
            .await?;
        }
        events::append(
            &mut tx,
            db.backend,
            "work.queued",
            queue_scope(&w),
            &serde_json::json!({ "work_item": w }),
        )
        .await?;
        events::commit(tx).await?;
        placed += 1;
    }
    Ok(placed)
}

/// Offers waiting items (queue priority, item priority, then longest wait first) to available
/// agents who work the queue, have the skills and spare capacity on the channel, and have no
/// offer ringing; among them the strategy's choice. Returns the number of offers made.
pub async fn offer_waiting(state: &AppState) -> AppResult<usize> {
    let db = &state.db;
    let sql = format!(
        "SELECT {} FROM work_items w LEFT JOIN queues q ON q.id = w.queue_id \
         WHERE w.state = 'waiting' AND w.queue_id IS NOT NULL \
         ORDER BY COALESCE(q.priority, 0) DESC, w.priority DESC, w.enqueued_at, w.id LIMIT 500",
        COLUMNS
            .split(", ")
            .map(|c| format!("w.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let items: Vec<WorkItem> = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(item_from_row)
        .collect::<Result<_, _>>()?;
    if items.is_empty() {
        return Ok(0);
    }
    let agents: Vec<(Presence, Vec<String>)> = {
        let rows = sqlx::query(
            "SELECT p.user_id, p.state, p.reason, p.since_ms, p.until_ms, p.idle_since_ms, \
             p.last_offered_ms, p.offer_id, p.capacity, u.skills FROM agent_presence p \
             JOIN users u ON u.id = p.user_id \
             WHERE p.state = 'available' AND p.offer_id IS NULL AND u.active = 1",
        )
        .fetch_all(&db.pool)
        .await?;
        let mut v = Vec::with_capacity(rows.len());
        for r in &rows {
            v.push((
                presence::presence_from_row(r)?,
                from_json_list(&r.try_get::<String, _>("skills")?),
            ));
        }
        v
    };
    if agents.is_empty() {
        return Ok(0);
    }
    let mut load: HashMap<(i64, String), i64> = HashMap::new();
    let mut total: HashMap<i64, i64> = HashMap::new();
    for r in sqlx::query(
        "SELECT assigned_to, channel, COUNT(*) AS n FROM work_items \
         WHERE state = 'assigned' GROUP BY assigned_to, channel",
    )
    .fetch_all(&db.pool)
    .await?
    {
        let (u, ch, n): (Option<i64>, String, i64) = (
            r.try_get("assigned_to")?,
            r.try_get("channel")?,
            r.try_get("n")?,
        );
        if let Some(u) = u {
            load.insert((u, ch), n);
            *total.entry(u).or_default() += n;
        }
    }
    let mut members: HashMap<i64, HashSet<i64>> = HashMap::new();
    for r in sqlx::query("SELECT queue_id, user_id FROM queue_members")
        .fetch_all(&db.pool)
        .await?
    {
        members
            .entry(r.try_get("queue_id")?)
            .or_default()
            .insert(r.try_get("user_id")?);
    }
    let capacities = queue_capacities(db).await?;
    let strategy = Strategy::parse(&state.config.routing_strategy);
    let mut used: HashSet<i64> = HashSet::new();
    let mut offered = 0;
    for w in &items {
        let Some(q) = w.queue_id else { continue };
        let eligible = agents.iter().filter(|(p, skills)| {
            !used.contains(&p.user_id)
                && members.get(&q).is_some_and(|m| m.contains(&p.user_id))
                && w.skills.iter().all(|s| skills.contains(s))
                && load
                    .get(&(p.user_id, w.channel.clone()))
                    .copied()
                    .unwrap_or(0)
                    < p.capacity_in(&w.channel, capacities.get(&q))
        });
        // Agents who already declined or missed this item come last.
        let best = eligible.min_by_key(|(p, _)| {
            let key = match strategy {
                Strategy::LongestIdle => (0, p.idle_since_ms),
                Strategy::RoundRobin => (0, p.last_offered_ms),
                Strategy::LeastLoaded => {
                    (total.get(&p.user_id).copied().unwrap_or(0), p.idle_since_ms)
                }
            };
            (w.tried.contains(&p.user_id), key, p.user_id)
        });
        let Some((p, _)) = best else { continue };
        let timeout = queue_offer_timeout(db, q)
            .await?
            .unwrap_or(state.config.offer_timeout_secs as i64);
        if make_offer(db, w, p.user_id, timeout).await? {
            used.insert(p.user_id);
            offered += 1;
        }
    }
    Ok(offered)
}

/// Each queue's per-channel capacity, where one is set.
async fn queue_capacities(db: &Db) -> AppResult<HashMap<i64, BTreeMap<String, i64>>> {
    let rows = sqlx::query("SELECT id, capacity FROM queues WHERE capacity <> '{}'")
        .fetch_all(&db.pool)
        .await?;
    let mut out = HashMap::new();
    for r in &rows {
        let capacity = presence::parse_capacity(&r.try_get::<String, _>("capacity")?);
        out.insert(r.try_get("id")?, capacity);
    }
    Ok(out)
}

async fn queue_offer_timeout(db: &Db, queue_id: i64) -> AppResult<Option<i64>> {
    let row = sqlx::query("SELECT offer_timeout_secs FROM queues WHERE id = $1")
        .bind(queue_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        Some(r) => r.try_get("offer_timeout_secs")?,
        None => None,
    })
}

/// One offer: conditional on the item still waiting and the agent still free. False otherwise.
async fn make_offer(db: &Db, w: &WorkItem, user_id: i64, timeout_secs: i64) -> AppResult<bool> {
    let mut tx = db.begin().await?;
    let now = now_ms();
    let expires = now + timeout_secs.max(1) * 1000;
    let offer_id: i64 = sqlx::query(
        "INSERT INTO offers (work_item_id, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(w.id)
    .bind(user_id)
    .bind(now)
    .bind(expires)
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    let agent = sqlx::query(
        "UPDATE agent_presence SET offer_id = $2, last_offered_ms = $3 \
         WHERE user_id = $1 AND offer_id IS NULL AND state = 'available'",
    )
    .bind(user_id)
    .bind(offer_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let item = sqlx::query(
        "UPDATE work_items SET state = 'offered', offer_id = $2, offered_to = $3, \
         offer_expires_at = $4 WHERE id = $1 AND state = 'waiting'",
    )
    .bind(w.id)
    .bind(offer_id)
    .bind(user_id)
    .bind(expires)
    .execute(&mut *tx)
    .await?;
    if agent.rows_affected() != 1 || item.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    events::append(
        &mut tx,
        db.backend,
        "offer.created",
        agent_scope(w, user_id),
        &serde_json::json!({"offer_id": offer_id, "ticket_id": w.ticket_id,
            "work_item_id": w.id, "kind": w.kind, "channel": w.channel, "queue_id": w.queue_id,
            "customer_id": w.customer_id, "phone": w.phone, "note": w.note,
            "waiting_since_ms": w.enqueued_at, "expires_at_ms": expires}),
    )
    .await?;
    events::commit(tx).await?;
    Ok(true)
}

/// Offers that rang out go back to the queue (outcome `timeout`).
pub async fn expire_offers(state: &AppState) -> AppResult<usize> {
    let db = &state.db;
    let sql = format!(
        "SELECT {COLUMNS} FROM work_items WHERE state = 'offered' AND offer_expires_at < $1"
    );
    let items: Vec<WorkItem> = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now_ms())
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(item_from_row)
        .collect::<Result<_, _>>()?;
    let mut n = 0;
    for w in items {
        let (Some(o), Some(u)) = (w.offer_id, w.offered_to) else {
            continue;
        };
        let mut tx = db.begin().await?;
        if return_to_queue(&mut tx, &w, o, u).await? {
            close_offer(&mut tx, db, &w, o, u, "timeout").await?;
            events::commit(tx).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// An agent finished a piece of work: from one of `from` states into timed wrap-up
/// (`HOTLINE_WRAP_UP_SECS`), or available when wrap-up is off. True when wrapping up.
async fn after_work(
    tx: &mut Tx<'_>,
    state: &AppState,
    agent: i64,
    from: &[&str],
) -> AppResult<bool> {
    let p = presence::find_presence(&mut **tx, agent).await?;
    if !from.contains(&p.state.as_str()) {
        return Ok(false);
    }
    let wrap = state.config.wrap_up_secs as i64;
    if wrap > 0 {
        let until = Some(now_ms() + wrap * 1000);
        presence::change_state(tx, &state.db, agent, "wrap_up", "after_work", until).await?;
        return Ok(true);
    }
    presence::change_state(tx, &state.db, agent, "available", "", None).await?;
    Ok(false)
}

/// A call the agent took ended: the ticket's voice work item is done (its follow-up stays on the
/// ticket, which remains theirs), so the call no longer counts against their capacity, and the
/// agent goes to after-call work. True when they are wrapping up.
pub async fn finish_call_work(
    tx: &mut Tx<'_>,
    state: &AppState,
    ticket_id: i64,
    agent: i64,
) -> AppResult<bool> {
    sqlx::query(
        "UPDATE work_items SET state = 'done', done_at = $3 \
         WHERE ticket_id = $1 AND assigned_to = $2 AND state = 'assigned' AND channel = 'voice'",
    )
    .bind(ticket_id)
    .bind(agent)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    after_work(tx, state, agent, &["busy", "available"]).await
}

/// Follows tickets that moved on outside routing: resolved or closed tickets finish their item
/// (freeing the agent: busy → wrap-up or available); a ticket someone assigned by hand takes its
/// waiting item with it. Timed wrap-ups that ended become available.
pub async fn follow_tickets(state: &AppState) -> AppResult<usize> {
    let db = &state.db;
    let sql = format!(
        "SELECT {}, t.status AS t_status, t.assignee_id AS t_assignee FROM work_items w \
         JOIN tickets t ON t.id = w.ticket_id \
         WHERE (w.state = 'assigned' AND t.status IN ('resolved', 'closed')) \
         OR (w.state IN ('unqueued', 'waiting', 'offered') \
             AND (t.status IN ('resolved', 'closed') OR t.assignee_id IS NOT NULL)) LIMIT 200",
        COLUMNS
            .split(", ")
            .map(|c| format!("w.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&db.pool)
        .await?;
    let mut n = 0;
    for r in &rows {
        let w = item_from_row(r)?;
        let status: String = r.try_get("t_status")?;
        let assignee: Option<i64> = r.try_get("t_assignee")?;
        let finished = status == "resolved" || status == "closed";
        let now = now_ms();
        let mut tx = db.begin().await?;
        let done = sqlx::query(
            "UPDATE work_items SET state = $2, done_at = $3, assigned_to = $4, \
             assigned_at = COALESCE(assigned_at, $3), offer_id = NULL, offered_to = NULL, \
             offer_expires_at = NULL WHERE id = $1 AND state = $5",
        )
        .bind(w.id)
        .bind(if finished { "done" } else { "assigned" })
        .bind(if finished { Some(now) } else { None })
        .bind(w.assigned_to.or(assignee))
        .bind(&w.state)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            continue;
        }
        if let (Some(o), Some(u)) = (w.offer_id, w.offered_to) {
            close_offer(&mut tx, db, &w, o, u, "withdrawn").await?;
        }
        if finished && let Some(agent) = w.assigned_to {
            after_work(&mut tx, state, agent, &["busy"]).await?;
        }
        events::commit(tx).await?;
        n += 1;
    }
    let ended = sqlx::query(
        "SELECT user_id FROM agent_presence WHERE state = 'wrap_up' AND until_ms IS NOT NULL \
         AND until_ms < $1",
    )
    .bind(now_ms())
    .fetch_all(&db.pool)
    .await?;
    for r in &ended {
        let mut tx = db.begin().await?;
        presence::change_state(&mut tx, db, r.try_get("user_id")?, "available", "", None).await?;
        events::commit(tx).await?;
    }
    Ok(n)
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
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(queue_id.unwrap_or(-1))
        .bind(state_filter.unwrap_or(""))
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.iter().map(item_from_row).collect::<Result<_, _>>()?)
}
