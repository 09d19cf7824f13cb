//! SQL for tickets and interactions. Every change appends its event in the same transaction.

use super::{
    Channel, Direction, Interaction, Kind, Priority, Status, Ticket, Visibility, status_timestamps,
};
use crate::db::{Db, Exec, FromRow, Tx, from_json_list, now_ms, to_json_list};
use crate::error::{AppError, AppResult};
use crate::realtime::events::{self, Scope};
use sqlx::Row;

pub const TICKET_COLUMNS: &str = "id, subject, status, priority, kind, channel, queue_id, \
     assignee_id, customer_id, tags, merged_into, created_at, updated_at, first_response_at, \
     resolved_at, closed_at, subject_data, version";

impl FromRow for Ticket {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Ticket, sqlx::Error> {
        ticket_from_row(r)
    }
}

pub fn ticket_from_row(r: &impl crate::db::ReadRow) -> Result<Ticket, sqlx::Error> {
    Ok(Ticket {
        id: r.try_get("id")?,
        subject: r.try_get("subject")?,
        status: Status::parse(&r.try_get::<String>("status")?).unwrap_or(Status::Open),
        priority: Priority::from_rank(r.try_get("priority")?),
        kind: Kind::parse(&r.try_get::<String>("kind")?).unwrap_or(Kind::Inquiry),
        channel: Channel::parse(&r.try_get::<String>("channel")?).unwrap_or(Channel::Web),
        queue_id: r.try_get("queue_id")?,
        assignee_id: r.try_get("assignee_id")?,
        customer_id: r.try_get("customer_id")?,
        tags: from_json_list(&r.try_get::<String>("tags")?),
        merged_into: r.try_get("merged_into")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        first_response_at: r.try_get("first_response_at")?,
        resolved_at: r.try_get("resolved_at")?,
        closed_at: r.try_get("closed_at")?,
        // Readers that select their own columns leave it out: then there is none.
        subject_data: r
            .try_get::<Option<String>>("subject_data")
            .ok()
            .flatten()
            .and_then(|s| serde_json::from_str(&s).ok()),
        version: r.try_get("version")?,
    })
}

const INTERACTION_COLUMNS: &str = "id, ticket_id, customer_id, channel, direction, from_addr, \
     to_addr, subject, body, external_id, author_id, meta, created_at";

impl FromRow for Interaction {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Interaction, sqlx::Error> {
        interaction_from_row(r)
    }
}

fn interaction_from_row(r: &impl crate::db::ReadRow) -> Result<Interaction, sqlx::Error> {
    Ok(Interaction {
        id: r.try_get("id")?,
        ticket_id: r.try_get("ticket_id")?,
        customer_id: r.try_get("customer_id")?,
        channel: Channel::parse(&r.try_get::<String>("channel")?).unwrap_or(Channel::Note),
        direction: Direction::parse(&r.try_get::<String>("direction")?)
            .unwrap_or(Direction::Internal),
        from_addr: r.try_get("from_addr")?,
        to_addr: r.try_get("to_addr")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        external_id: r.try_get("external_id")?,
        author_id: r.try_get("author_id")?,
        meta: serde_json::from_str(&r.try_get::<String>("meta")?).unwrap_or_default(),
        created_at: r.try_get("created_at")?,
    })
}

/// The event scope of a ticket: its queue's members, its assignee, and supervisors.
pub fn scope_of(t: &Ticket) -> Scope {
    Scope {
        queue_id: t.queue_id,
        user_id: t.assignee_id,
        ticket_id: Some(t.id),
        customer_id: t.customer_id,
    }
}

/// A ticket's queue (`$5` here, `$6` in updates), else the default queue: a ticket never sits
/// without a queue, so some agent always sees it.
const DEFAULT_QUEUE: &str = "COALESCE($5, (SELECT id FROM queues WHERE is_default = 1))";

pub struct NewTicket {
    pub subject: String,
    pub priority: Priority,
    pub kind: Kind,
    pub channel: Channel,
    pub queue_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub tags: Vec<String>,
    /// A subject the system wrote, as data (see [`super::SystemText`]).
    pub subject_data: Option<super::SystemText>,
}

pub async fn insert_ticket<E: Exec>(tx: &mut E, db: &Db, t: &NewTicket) -> AppResult<Ticket> {
    let sql = format!(
        "INSERT INTO tickets (subject, status, priority, kind, channel, queue_id, assignee_id, \
         customer_id, tags, created_at, updated_at, subject_data) \
         VALUES ($1, 'new', $2, $3, $4, {DEFAULT_QUEUE}, $6, $7, $8, $9, $9, $10) \
         RETURNING {TICKET_COLUMNS}"
    );
    let params = vec![
        t.subject.as_str().into(),
        t.priority.rank().into(),
        t.kind.as_str().into(),
        t.channel.as_str().into(),
        t.queue_id.into(),
        t.assignee_id.into(),
        t.customer_id.into(),
        to_json_list(&t.tags).into(),
        now_ms().into(),
        t.subject_data.as_ref().map(|d| d.to_json()).into(),
    ];
    let ticket: Ticket = tx
        .row(&sql, params)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    events::append(
        tx,
        db.backend,
        "ticket.created",
        scope_of(&ticket),
        &serde_json::json!({ "ticket": ticket }),
    )
    .await?;
    if ticket.kind == Kind::Complaint {
        let fields = crate::complaints::ComplaintFields::default();
        crate::complaints::ensure(tx, db.backend, &ticket, &fields, t.assignee_id).await?;
    }
    Ok(ticket)
}

pub async fn find_ticket<E: Exec>(exec: &mut E, id: i64) -> AppResult<Ticket> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1");
    exec.row(&sql, vec![id.into()])
        .await?
        .ok_or(AppError::NotFound("ticket"))
}

/// How a list is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TicketSort {
    /// Newest first (paged with `before_id`).
    #[default]
    Newest,
    /// The running SLA clock's due time, soonest (or most overdue) first; tickets without a
    /// running clock last (paged with `offset`).
    Sla,
    /// The order of `ids` (search relevance; paged with `offset`).
    Ids,
}

#[derive(Default)]
pub struct TicketFilter {
    pub status: Option<Status>,
    /// Only new, open and pending.
    pub open_only: bool,
    pub queue_id: Option<i64>,
    pub assignee_id: Option<i64>,
    /// Only tickets nobody holds.
    pub unassigned: bool,
    pub customer_id: Option<i64>,
    pub kind: Option<Kind>,
    pub channel: Option<Channel>,
    /// Tickets carrying this tag.
    pub tag: Option<String>,
    /// Tickets of customers of this tier (`vip`, `key`, `regular`, `low`).
    pub tier: Option<String>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub updated_from: Option<i64>,
    pub updated_to: Option<i64>,
    /// Only these tickets (a search's hits, best first).
    pub ids: Option<Vec<i64>>,
    /// Restricts to these queues plus the tickets assigned to `visible_to_user` (agents).
    pub visible_queues: Option<Vec<i64>>,
    pub visible_to_user: Option<i64>,
    pub before_id: Option<i64>,
    pub sort: TicketSort,
    pub offset: i64,
    pub limit: i64,
}

/// A bound value of a dynamically built query.
enum Arg {
    Int(i64),
    Text(&'static str),
    Owned(String),
}

/// Integers we produced (ids), formatted into SQL, never user text. `NULL` for none.
fn id_list(ids: &[i64]) -> String {
    if ids.is_empty() {
        "NULL".to_string()
    } else {
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    }
}

/// The due time of a ticket's running SLA clock on its latest work item (`w`), NULL when none
/// runs: first response until the first reply, then resolution; finished work and resolved
/// tickets have none. The same rule as [`super::sla_status`] over [`sla_of`]'s inputs.
const SLA_DUE: &str = "CASE WHEN w.state IN ('done', 'abandoned') \
       OR tickets.resolved_at IS NOT NULL THEN NULL \
     WHEN tickets.first_response_at IS NULL AND w.first_response_due IS NOT NULL \
       AND (w.resolution_due IS NULL OR w.first_response_due <= w.resolution_due) \
       THEN w.first_response_due \
     ELSE w.resolution_due END";

/// Tickets matching `f`, newest first (or by SLA, or in the order of `ids`). Only the filters
/// given become conditions, so each query is one the planner answers from the matching index
/// (an `($n < 0 OR col = $n)` form would hide the index and walk every ticket).
pub async fn list_tickets(db: &Db, f: &TicketFilter) -> AppResult<Vec<Ticket>> {
    let mut conds = vec![];
    let mut args = vec![];
    let mut push = |cond: &str, arg: Arg| {
        args.push(arg);
        conds.push(cond.replace('?', &format!("${}", args.len())));
    };
    if f.sort == TicketSort::Newest {
        push("id < ?", Arg::Int(f.before_id.unwrap_or(i64::MAX)));
    }
    if let Some(st) = f.status {
        push("status = ?", Arg::Text(st.as_str()));
    }
    if let Some(q) = f.queue_id {
        push("queue_id = ?", Arg::Int(q));
    }
    if let Some(a) = f.assignee_id {
        push("assignee_id = ?", Arg::Int(a));
    }
    if let Some(c) = f.customer_id {
        push("customer_id = ?", Arg::Int(c));
    }
    if let Some(k) = f.kind {
        push("kind = ?", Arg::Text(k.as_str()));
    }
    if let Some(c) = f.channel {
        push("channel = ?", Arg::Text(c.as_str()));
    }
    if let Some(tag) = &f.tag {
        // Tags are a JSON array in text: the tag's JSON string, quotes included, is in it.
        // LIKE's wildcards in the tag are escaped.
        let quoted = serde_json::to_string(tag).unwrap_or_default();
        let pattern = format!(
            "%{}%",
            quoted
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        push("tags LIKE ? ESCAPE '\\'", Arg::Owned(pattern));
    }
    if let Some(tier) = &f.tier {
        push(
            "customer_id IN (SELECT id FROM customers WHERE tier = ?)",
            Arg::Owned(tier.clone()),
        );
    }
    if let Some(v) = f.created_from {
        push("created_at >= ?", Arg::Int(v));
    }
    if let Some(v) = f.created_to {
        push("created_at <= ?", Arg::Int(v));
    }
    if let Some(v) = f.updated_from {
        push("updated_at >= ?", Arg::Int(v));
    }
    if let Some(v) = f.updated_to {
        push("updated_at <= ?", Arg::Int(v));
    }
    if let Some(qs) = &f.visible_queues {
        let cond = format!("(queue_id IN ({}) OR assignee_id = ?)", id_list(qs));
        push(&cond, Arg::Int(f.visible_to_user.unwrap_or(-1)));
    }
    if let Some(ids) = &f.ids {
        conds.push(format!("id IN ({})", id_list(ids)));
    }
    if f.unassigned {
        conds.push("assignee_id IS NULL".into());
    }
    if f.open_only {
        conds.push("status IN ('new', 'open', 'pending')".into());
    }
    if conds.is_empty() {
        conds.push("1 = 1".into());
    }
    let sql = match f.sort {
        TicketSort::Newest => {
            args.push(Arg::Int(f.limit));
            format!(
                "SELECT {TICKET_COLUMNS} FROM tickets WHERE {} ORDER BY id DESC LIMIT ${}",
                conds.join(" AND "),
                args.len()
            )
        }
        TicketSort::Sla => {
            args.push(Arg::Int(f.limit));
            args.push(Arg::Int(f.offset));
            // The due time is a subquery of the filtered tickets, so the conditions name
            // only the tickets' columns.
            format!(
                "SELECT * FROM (SELECT {TICKET_COLUMNS}, (SELECT {SLA_DUE} FROM work_items w \
                 WHERE w.id = (SELECT MAX(id) FROM work_items WHERE ticket_id = tickets.id)) \
                 AS sla_due FROM tickets WHERE {}) x \
                 ORDER BY sla_due IS NULL, sla_due, id DESC LIMIT ${} OFFSET ${}",
                conds.join(" AND "),
                args.len() - 1,
                args.len()
            )
        }
        TicketSort::Ids => format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE {}",
            conds.join(" AND ")
        ),
    };
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
            Arg::Owned(v) => q.bind(v),
        };
    }
    let rows = q.fetch_all(&db.pool).await?;
    let mut list: Vec<Ticket> = rows.iter().map(ticket_from_row).collect::<Result<_, _>>()?;
    if f.sort == TicketSort::Ids
        && let Some(ids) = &f.ids
    {
        let rank: std::collections::HashMap<i64, usize> =
            ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        list.sort_by_key(|t| rank.get(&t.id).copied().unwrap_or(usize::MAX));
        list = list
            .into_iter()
            .skip(f.offset.max(0) as usize)
            .take(f.limit.max(0) as usize)
            .collect();
    }
    Ok(list)
}

/// The SLA of each ticket that has work with clocks (keyed by ticket id), from its latest work
/// item and the target's warning share, as of now.
pub async fn sla_of(
    db: &Db,
    tickets: &[Ticket],
) -> AppResult<std::collections::HashMap<i64, super::TicketSla>> {
    let mut out = std::collections::HashMap::new();
    if tickets.is_empty() {
        return Ok(out);
    }
    let ids: Vec<i64> = tickets.iter().map(|t| t.id).collect();
    let sql = format!(
        "SELECT ticket_id, kind, queue_id, state, enqueued_at, first_response_due, resolution_due \
         FROM work_items WHERE id IN (SELECT MAX(id) FROM work_items WHERE ticket_id IN ({}) \
         GROUP BY ticket_id) AND (first_response_due IS NOT NULL OR resolution_due IS NOT NULL)",
        id_list(&ids)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&db.pool)
        .await?;
    let by_id: std::collections::HashMap<i64, &Ticket> =
        tickets.iter().map(|t| (t.id, t)).collect();
    let mut warn_of = std::collections::HashMap::new();
    let now = now_ms();
    for r in &rows {
        let ticket_id: i64 = r.try_get("ticket_id")?;
        let Some(t) = by_id.get(&ticket_id) else {
            continue;
        };
        let kind: String = r.try_get("kind")?;
        let queue_id: Option<i64> = r.try_get("queue_id")?;
        let key = (queue_id, t.priority.rank(), kind.clone());
        let warn = match warn_of.get(&key) {
            Some(w) => *w,
            None => {
                let w =
                    crate::routing::sla::find_target(&mut &*db, queue_id, t.priority.rank(), &kind)
                        .await?
                        .map(|t| t.warn_percent)
                        .unwrap_or(80);
                warn_of.insert(key, w);
                w
            }
        };
        let state: String = r.try_get("state")?;
        // A resolved ticket has nothing left to count, replied to or not.
        let finished = state == "done" || state == "abandoned" || t.resolved_at.is_some();
        let sla = super::sla_status(
            now,
            r.try_get("enqueued_at")?,
            (
                r.try_get("first_response_due")?,
                finished || t.first_response_at.is_some(),
            ),
            (
                r.try_get("resolution_due")?,
                finished || t.resolved_at.is_some(),
            ),
            warn,
        );
        if let Some(sla) = sla {
            out.insert(ticket_id, sla);
        }
    }
    Ok(out)
}

/// One change for many tickets (`POST /api/tickets/bulk`).
#[derive(Default, Clone)]
pub struct BulkChange {
    pub assignee_id: Option<i64>,
    pub status: Option<Status>,
    pub queue_id: Option<i64>,
    /// Added to each ticket's tags (those it has stay).
    pub add_tags: Vec<String>,
}

/// Applies `c` to every ticket of `ids` inside `tx` (all or nothing: the caller commits),
/// through [`update_ticket`] so each change has its event and version. Returns the tickets as
/// changed, in the order of `ids`.
pub async fn bulk_update<E: Exec>(
    tx: &mut E,
    db: &Db,
    ids: &[i64],
    c: &BulkChange,
    actor_id: i64,
) -> AppResult<Vec<(Ticket, Ticket)>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let cur = find_ticket(tx, *id).await?;
        let mut tags = cur.tags.clone();
        for t in &c.add_tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        let changes = TicketChanges {
            status: c.status,
            queue_id: c.queue_id.map(Some),
            assignee_id: c.assignee_id.map(Some),
            tags: (tags != cur.tags).then_some(tags),
            ..TicketChanges::default()
        };
        out.push(update_ticket(tx, db, *id, &changes, Some(actor_id)).await?);
    }
    Ok(out)
}

#[derive(Default, Clone)]
pub struct TicketChanges {
    pub subject: Option<String>,
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub kind: Option<Kind>,
    pub queue_id: Option<Option<i64>>,
    pub assignee_id: Option<Option<i64>>,
    pub tags: Option<Vec<String>>,
    pub customer_id: Option<Option<i64>>,
}

/// Applies changes inside `tx` and appends `ticket.updated` (plus `ticket.assigned` when the
/// assignee changed). Returns the ticket before and after. See [`update_ticket_checked`].
pub async fn update_ticket<E: Exec>(
    tx: &mut E,
    db: &Db,
    id: i64,
    c: &TicketChanges,
    actor_id: Option<i64>,
) -> AppResult<(Ticket, Ticket)> {
    update_ticket_checked(tx, db, id, c, actor_id, None).await
}

/// Applies changes inside `tx`, unless `if_version` names a version that is no longer current
/// (`VersionConflict`). Every writer of a ticket's fields comes through here (the console,
/// intake reopening, routing, calls, callbacks, hand-over), so none can revert another's change:
/// the row is read under a lock (`FOR UPDATE` on PostgreSQL; SQLite has one writer), only the
/// columns that change are written, and `version` goes up by one.
pub async fn update_ticket_checked<E: Exec>(
    tx: &mut E,
    db: &Db,
    id: i64,
    c: &TicketChanges,
    actor_id: Option<i64>,
    if_version: Option<i64>,
) -> AppResult<(Ticket, Ticket)> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1{}",
        db.backend.for_update()
    );
    let cur: Ticket = tx
        .row(&sql, vec![id.into()])
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    if let Some(v) = if_version
        && v != cur.version
    {
        return Err(AppError::VersionConflict {
            current: cur.version,
        });
    }
    let now = now_ms();
    let mut set = SetList::new(id);
    if let Some(subject) = &c.subject
        && *subject != cur.subject
    {
        set.push("subject = ?", subject.as_str().into());
        // A subject someone wrote replaces the system's.
        set.raw("subject_data = NULL");
    }
    if let Some(status) = c.status
        && status != cur.status
    {
        let (resolved_at, closed_at) =
            status_timestamps(status, now, cur.resolved_at, cur.closed_at);
        set.push("status = ?", status.as_str().into());
        set.push("resolved_at = ?", resolved_at.into());
        set.push("closed_at = ?", closed_at.into());
    }
    if let Some(p) = c.priority
        && p != cur.priority
    {
        set.push("priority = ?", p.rank().into());
    }
    if let Some(k) = c.kind
        && k != cur.kind
    {
        set.push("kind = ?", k.as_str().into());
    }
    if let Some(q) = c.queue_id
        && q != cur.queue_id
    {
        set.push(
            "queue_id = COALESCE(?, (SELECT id FROM queues WHERE is_default = 1))",
            q.into(),
        );
    }
    if let Some(a) = c.assignee_id
        && a != cur.assignee_id
    {
        set.push("assignee_id = ?", a.into());
    }
    if let Some(tags) = &c.tags
        && *tags != cur.tags
    {
        set.push("tags = ?", to_json_list(tags).into());
    }
    if let Some(cid) = c.customer_id
        && cid != cur.customer_id
    {
        set.push("customer_id = ?", cid.into());
    }
    set.push("updated_at = ?", now.into());
    set.raw("version = version + 1");
    let (assignments, params) = set.finish();
    let sql = format!("UPDATE tickets SET {assignments} WHERE id = $1 RETURNING {TICKET_COLUMNS}");
    let new: Ticket = tx
        .row(&sql, params)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    let payload = serde_json::json!({"ticket": new, "by": actor_id});
    events::append(tx, db.backend, "ticket.updated", scope_of(&new), &payload).await?;
    if new.assignee_id != cur.assignee_id {
        // The previous assignee must hear that the ticket left them.
        let mut scope = scope_of(&new);
        scope.user_id = cur.assignee_id;
        events::append(tx, db.backend, "ticket.unassigned", scope, &payload).await?;
    }
    if new.kind == Kind::Complaint && cur.kind != Kind::Complaint {
        // A ticket turned into a complaint gets its complaint (defaults until someone sets
        // the category and severity).
        let fields = crate::complaints::ComplaintFields::default();
        crate::complaints::ensure(tx, db.backend, &new, &fields, actor_id).await?;
    }
    if new.kind == Kind::Complaint && cur.status.is_open() && !new.status.is_open() {
        // Resolving a complaint's ticket answers the customer: the complaint moves on to its
        // confirmation call. (Boxed: that puts the ticket back in its queue, through here.)
        Box::pin(crate::complaints::on_ticket_resolved(
            tx, db, &new, actor_id,
        ))
        .await?;
    }
    Ok((cur, new))
}

/// The `SET` list of an update built from what changes: `$1` is the row's id, each pushed
/// assignment's `?` becomes the next placeholder.
pub(crate) struct SetList {
    parts: Vec<String>,
    params: Vec<crate::db::Param>,
}

impl SetList {
    pub(crate) fn new(id: i64) -> SetList {
        SetList {
            parts: Vec::new(),
            params: vec![id.into()],
        }
    }

    pub(crate) fn push(&mut self, assignment: &str, value: crate::db::Param) {
        self.params.push(value);
        let n = self.params.len();
        self.parts.push(assignment.replace('?', &format!("${n}")));
    }

    /// An assignment without a value (`version = version + 1`).
    pub(crate) fn raw(&mut self, assignment: &str) {
        self.parts.push(assignment.to_string());
    }

    pub(crate) fn finish(self) -> (String, Vec<crate::db::Param>) {
        (self.parts.join(", "), self.params)
    }
}

/// What `user` may open: see [`Visibility`].
pub async fn visibility(db: &Db, user: &crate::auth::User) -> AppResult<Visibility> {
    if user.is_supervisor() {
        return Ok(Visibility::all());
    }
    let queues = crate::routing::store::queues_of_user(db, user.id).await?;
    Ok(Visibility::agent(user.id, queues))
}

pub struct NewInteraction {
    pub ticket_id: i64,
    pub customer_id: Option<i64>,
    pub channel: Channel,
    pub direction: Direction,
    pub from_addr: String,
    pub to_addr: String,
    pub subject: String,
    pub body: String,
    pub external_id: Option<String>,
    pub author_id: Option<i64>,
    pub meta: serde_json::Value,
}

/// Inserts an interaction unless one with the same `(channel, external_id)` exists; returns it
/// and whether it is new. An agent's first outbound message sets the ticket's first response.
pub async fn insert_interaction<E: Exec>(
    tx: &mut E,
    db: &Db,
    i: &NewInteraction,
) -> AppResult<(Interaction, bool)> {
    let now = now_ms();
    let sql = format!(
        "INSERT INTO interactions (ticket_id, customer_id, channel, direction, from_addr, to_addr, \
         subject, body, external_id, author_id, meta, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (channel, external_id) DO NOTHING RETURNING {INTERACTION_COLUMNS}"
    );
    let params = vec![
        i.ticket_id.into(),
        i.customer_id.into(),
        i.channel.as_str().into(),
        i.direction.as_str().into(),
        i.from_addr.as_str().into(),
        i.to_addr.as_str().into(),
        i.subject.as_str().into(),
        i.body.as_str().into(),
        (&i.external_id).into(),
        i.author_id.into(),
        i.meta.to_string().into(),
        now.into(),
    ];
    let Some(interaction) = tx.row::<Interaction>(&sql, params).await? else {
        // Stored before (a repeat, or a concurrent insert that won the idempotency key).
        let ext = i.external_id.as_deref().unwrap_or_default();
        let existing = find_interaction_by_external(tx, i.channel, ext)
            .await?
            .ok_or(AppError::NotFound("interaction"))?;
        return Ok((existing, false));
    };
    let first_response = i.direction == Direction::Out && i.author_id.is_some();
    let sql = format!(
        "UPDATE tickets SET updated_at = $2, \
         first_response_at = CASE WHEN $3 = 1 AND first_response_at IS NULL THEN $2 ELSE first_response_at END \
         WHERE id = $1 RETURNING {TICKET_COLUMNS}"
    );
    let params = vec![i.ticket_id.into(), now.into(), first_response.into()];
    let ticket: Ticket = tx
        .row(&sql, params)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    let mut preview = interaction.clone();
    preview.body = preview
        .body
        .chars()
        .take(crate::customers::store::PREVIEW_CHARS)
        .collect();
    events::append(
        tx,
        db.backend,
        "interaction.created",
        scope_of(&ticket),
        &serde_json::json!({"interaction": preview}),
    )
    .await?;
    if ticket.kind == Kind::Complaint && i.channel != Channel::Note {
        // The complaint follows the conversation: the customer writing again after the
        // response reopens it; an agent's reply acknowledges one only received. (Boxed: both
        // write a note, through this function.)
        match (i.direction, i.author_id) {
            (Direction::In, _) => {
                Box::pin(crate::complaints::on_customer_contact(tx, db, &ticket)).await?
            }
            (Direction::Out, Some(agent)) => {
                Box::pin(crate::complaints::on_agent_reply(tx, db, &ticket, agent)).await?
            }
            _ => {}
        }
    }
    Ok((interaction, true))
}

pub async fn find_interaction_by_external<E: Exec>(
    exec: &mut E,
    channel: Channel,
    external_id: &str,
) -> AppResult<Option<Interaction>> {
    let sql = format!(
        "SELECT {INTERACTION_COLUMNS} FROM interactions WHERE channel = $1 AND external_id = $2"
    );
    exec.row(&sql, vec![channel.as_str().into(), external_id.into()])
        .await
}

pub async fn find_interaction(db: &Db, id: i64) -> AppResult<Interaction> {
    let sql = format!("SELECT {INTERACTION_COLUMNS} FROM interactions WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(AppError::NotFound("interaction"))?;
    Ok(interaction_from_row(&row)?)
}

/// Merges `meta` keys into an interaction's meta (delivery state, call durations).
pub async fn update_interaction_meta<E: Exec>(
    tx: &mut E,
    id: i64,
    patch: &serde_json::Value,
) -> AppResult<Interaction> {
    let sql = format!("SELECT {INTERACTION_COLUMNS} FROM interactions WHERE id = $1");
    let mut i: Interaction = tx
        .row(&sql, vec![id.into()])
        .await?
        .ok_or(AppError::NotFound("interaction"))?;
    if let (Some(meta), Some(patch)) = (i.meta.as_object_mut(), patch.as_object()) {
        for (k, v) in patch {
            meta.insert(k.clone(), v.clone());
        }
    } else {
        i.meta = patch.clone();
    }
    tx.run(
        "UPDATE interactions SET meta = $2 WHERE id = $1",
        vec![id.into(), i.meta.to_string().into()],
    )
    .await?;
    Ok(i)
}

/// The whole thread of a ticket, oldest first.
pub async fn list_interactions(db: &Db, ticket_id: i64) -> AppResult<Vec<Interaction>> {
    let sql = format!(
        "SELECT {INTERACTION_COLUMNS} FROM interactions WHERE ticket_id = $1 ORDER BY created_at, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ticket_id)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .iter()
        .map(interaction_from_row)
        .collect::<Result<_, _>>()?)
}

/// Open tickets of a customer, newest first (the 360 view shows them all). A query of its own:
/// `list_tickets`' optional filters cannot use the customer index, and a closed customer's
/// lookup then scanned every ticket (seconds at 1M tickets, on every screen pop).
pub async fn open_tickets_of(db: &Db, customer_id: i64) -> AppResult<Vec<Ticket>> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE customer_id = $1 \
         AND status IN ('new', 'open', 'pending') ORDER BY id DESC LIMIT 100"
    );
    db.fetch_all(&sql, vec![customer_id.into()]).await
}

/// The customer's newest open ticket on `channel` (and in `queue_id` when given), for threading.
pub async fn find_open_ticket_on<E: Exec>(
    exec: &mut E,
    customer_id: i64,
    channel: Channel,
    queue_id: Option<i64>,
) -> AppResult<Option<Ticket>> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE customer_id = $1 AND channel = $2 \
         AND status IN ('new', 'open', 'pending') AND merged_into IS NULL \
         AND ($3 < 0 OR queue_id = $3) ORDER BY id DESC LIMIT 1"
    );
    let params = vec![
        customer_id.into(),
        channel.as_str().into(),
        queue_id.unwrap_or(-1).into(),
    ];
    exec.row(&sql, params).await
}

/// Moves all open tickets assigned to `from` to `to` (hand-over), with events.
pub async fn reassign_open_tickets(
    tx: &mut Tx<'_>,
    db: &Db,
    from: i64,
    to: i64,
    actor_id: i64,
) -> AppResult<Vec<i64>> {
    let ids: Vec<i64> = sqlx::query(
        "SELECT id FROM tickets WHERE assignee_id = $1 AND status IN ('new', 'open', 'pending')",
    )
    .bind(from)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.try_get("id"))
    .collect::<Result<_, _>>()?;
    let change = TicketChanges {
        assignee_id: Some(Some(to)),
        ..TicketChanges::default()
    };
    for id in &ids {
        update_ticket(tx, db, *id, &change, Some(actor_id)).await?;
    }
    Ok(ids)
}

/// Queues a message for its channel's sender (`outbox`), inside the transaction that stored
/// what it belongs to; the sender delivers it with retries, so a crash between the two cannot
/// lose it. `payload` is `{"subject", "body", "html"}` plus whatever the channel needs.
pub async fn insert_outbox<E: Exec>(
    tx: &mut E,
    channel: Channel,
    ticket_id: i64,
    interaction_id: Option<i64>,
    recipient: &str,
    payload: &serde_json::Value,
) -> AppResult<()> {
    let params = vec![
        channel.as_str().into(),
        ticket_id.into(),
        interaction_id.into(),
        recipient.into(),
        payload.to_string().into(),
        now_ms().into(),
    ];
    tx.run(
        "INSERT INTO outbox (channel, ticket_id, interaction_id, recipient, payload, status, \
         attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
        params,
    )
    .await?;
    Ok(())
}

/// Merges ticket `from` into `into`: its interactions move, it closes with `merged_into` set.
/// Both tickets get an event. Returns the surviving ticket.
pub async fn merge_tickets(tx: &mut Tx<'_>, db: &Db, from: i64, into: i64) -> AppResult<Ticket> {
    let now = now_ms();
    sqlx::query("UPDATE interactions SET ticket_id = $2 WHERE ticket_id = $1")
        .bind(from)
        .bind(into)
        .execute(&mut **tx)
        .await?;
    let sql = format!(
        "UPDATE tickets SET merged_into = $2, status = 'closed', \
         resolved_at = COALESCE(resolved_at, $3), closed_at = COALESCE(closed_at, $3), \
         updated_at = $3, version = version + 1 WHERE id = $1 RETURNING {TICKET_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(into)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
    let merged = ticket_from_row(&row)?;
    sqlx::query("UPDATE tickets SET updated_at = $2 WHERE id = $1")
        .bind(into)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    let target = find_ticket(&mut **tx, into).await?;
    let payload = serde_json::json!({"ticket": merged, "into": target});
    events::append(tx, db.backend, "ticket.merged", scope_of(&merged), &payload).await?;
    events::append(
        tx,
        db.backend,
        "ticket.updated",
        scope_of(&target),
        &serde_json::json!({"ticket": target}),
    )
    .await?;
    Ok(target)
}

/// Moves one interaction out of its ticket into a new ticket (same customer, queue and channel);
/// its meta records the split. Returns the new ticket.
pub async fn split_interaction(
    tx: &mut Tx<'_>,
    db: &Db,
    interaction: &Interaction,
    from: &Ticket,
) -> AppResult<Ticket> {
    let subject = if interaction.subject.trim().is_empty() {
        crate::intake::subject_from_body(&interaction.body, interaction.channel)
    } else {
        interaction.subject.clone()
    };
    let new = insert_ticket(
        tx,
        db,
        &NewTicket {
            subject,
            priority: from.priority,
            kind: from.kind,
            channel: interaction.channel,
            queue_id: from.queue_id,
            assignee_id: None,
            customer_id: interaction.customer_id.or(from.customer_id),
            tags: Vec::new(),
            subject_data: None,
        },
    )
    .await?;
    sqlx::query("UPDATE interactions SET ticket_id = $2 WHERE id = $1")
        .bind(interaction.id)
        .bind(new.id)
        .execute(&mut **tx)
        .await?;
    let patch = serde_json::json!({"thread_reason": "split", "split_from": from.id});
    update_interaction_meta(tx, interaction.id, &patch).await?;
    events::append(
        tx,
        db.backend,
        "interaction.moved",
        scope_of(from),
        &serde_json::json!({"interaction_id": interaction.id, "from": from.id, "to": new.id}),
    )
    .await?;
    Ok(new)
}

/// How many interactions a ticket has.
pub async fn count_interactions(db: &Db, ticket_id: i64) -> AppResult<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM interactions WHERE ticket_id = $1")
        .bind(ticket_id)
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get("n")?)
}
