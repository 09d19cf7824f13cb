//! SQL of complaints: categories, severities, settings, the complaint row, its transitions and
//! sent reminders, and the register's queries.

use super::{Category, Complaint, RegisterFilter, Settings, Severity, Transition};
use crate::db::{Db, Exec, FromRow, ReadRow};
use crate::error::{AppError, AppResult};

impl FromRow for Category {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Category {
            id: r.try_get("id")?,
            code: r.try_get("code")?,
            name_zh: r.try_get("name_zh")?,
            name_en: r.try_get("name_en")?,
            active: r.try_get::<i64>("active")? != 0,
            position: r.try_get("position")?,
        })
    }
}

impl FromRow for Severity {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Severity {
            level: r.try_get("level")?,
            name_zh: r.try_get("name_zh")?,
            name_en: r.try_get("name_en")?,
            description_zh: r.try_get("description_zh")?,
            description_en: r.try_get("description_en")?,
            ack_secs: r.try_get("ack_secs")?,
            respond_secs: r.try_get("respond_secs")?,
            close_secs: r.try_get("close_secs")?,
            callback_secs: r.try_get("callback_secs")?,
        })
    }
}

impl FromRow for Settings {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        let list = |s: String| serde_json::from_str::<Vec<i64>>(&s).unwrap_or_default();
        Ok(Settings {
            remind_before_minutes: list(r.try_get("remind_before_minutes")?),
            remind_after_minutes: list(r.try_get("remind_after_minutes")?),
            callback_max_attempts: r.try_get("callback_max_attempts")?,
            callback_retry_minutes: r.try_get("callback_retry_minutes")?,
        })
    }
}

pub const COLUMNS: &str = "c.ticket_id, c.category_id, k.code AS category_code, \
     k.name_zh AS category_zh, k.name_en AS category_en, c.severity, c.status, c.order_ref, \
     c.desired_outcome, c.round, c.round_started_at, c.ack_due, c.respond_due, c.close_due, \
     c.acknowledged_at, c.responded_at, c.confirmed_at, c.closed_at, c.confirmation, \
     c.callback_attempts, c.reopened, c.next_remind_at, c.created_at, c.updated_at";
pub const FROM: &str = "complaints c JOIN complaint_categories k ON k.id = c.category_id";

impl FromRow for Complaint {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Complaint {
            ticket_id: r.try_get("ticket_id")?,
            category_id: r.try_get("category_id")?,
            category_code: r.try_get("category_code")?,
            category_zh: r.try_get("category_zh")?,
            category_en: r.try_get("category_en")?,
            severity: r.try_get("severity")?,
            status: r.try_get("status")?,
            order_ref: r.try_get("order_ref")?,
            desired_outcome: r.try_get("desired_outcome")?,
            round: r.try_get("round")?,
            round_started_at: r.try_get("round_started_at")?,
            ack_due: r.try_get("ack_due")?,
            respond_due: r.try_get("respond_due")?,
            close_due: r.try_get("close_due")?,
            acknowledged_at: r.try_get("acknowledged_at")?,
            responded_at: r.try_get("responded_at")?,
            confirmed_at: r.try_get("confirmed_at")?,
            closed_at: r.try_get("closed_at")?,
            confirmation: r.try_get("confirmation")?,
            callback_attempts: r.try_get("callback_attempts")?,
            reopened: r.try_get("reopened")?,
            next_remind_at: r.try_get("next_remind_at")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            overdue: None,
            transitions: Vec::new(),
        })
    }
}

impl FromRow for Transition {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Transition {
            from_status: r.try_get("from_status")?,
            to_status: r.try_get("to_status")?,
            actor_id: r.try_get("actor_id")?,
            actor_name: r.try_get("actor_name")?,
            reason: r.try_get("reason")?,
            note: r.try_get("note")?,
            at_ms: r.try_get("at_ms")?,
        })
    }
}

pub async fn categories<E: Exec>(exec: &mut E) -> AppResult<Vec<Category>> {
    exec.rows(
        "SELECT id, code, name_zh, name_en, active, position FROM complaint_categories \
         ORDER BY position, id",
        vec![],
    )
    .await
}

pub async fn find_category<E: Exec>(exec: &mut E, id: i64) -> AppResult<Option<Category>> {
    exec.row(
        "SELECT id, code, name_zh, name_en, active, position FROM complaint_categories \
         WHERE id = $1",
        vec![id.into()],
    )
    .await
}

pub async fn insert_category<E: Exec>(exec: &mut E, c: &Category, now: i64) -> AppResult<Category> {
    exec.row(
        "INSERT INTO complaint_categories (code, name_zh, name_en, active, position, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code) DO NOTHING \
         RETURNING id, code, name_zh, name_en, active, position",
        vec![
            c.code.as_str().into(),
            c.name_zh.as_str().into(),
            c.name_en.as_str().into(),
            c.active.into(),
            c.position.into(),
            now.into(),
        ],
    )
    .await?
    .ok_or_else(|| AppError::Conflict("a category with this code exists already".into()))
}

pub async fn update_category<E: Exec>(exec: &mut E, c: &Category) -> AppResult<()> {
    exec.run(
        "UPDATE complaint_categories SET name_zh = $2, name_en = $3, active = $4, position = $5 \
         WHERE id = $1",
        vec![
            c.id.into(),
            c.name_zh.as_str().into(),
            c.name_en.as_str().into(),
            c.active.into(),
            c.position.into(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn severities<E: Exec>(exec: &mut E) -> AppResult<Vec<Severity>> {
    exec.rows(
        "SELECT level, name_zh, name_en, description_zh, description_en, ack_secs, \
         respond_secs, close_secs, callback_secs FROM complaint_severities ORDER BY level",
        vec![],
    )
    .await
}

pub async fn find_severity<E: Exec>(exec: &mut E, level: i64) -> AppResult<Severity> {
    severities(exec)
        .await?
        .into_iter()
        .find(|s| s.level == level)
        .ok_or_else(|| AppError::validation("severity", "severity must be 1, 2, 3 or 4"))
}

pub async fn update_severity<E: Exec>(exec: &mut E, s: &Severity) -> AppResult<()> {
    exec.run(
        "UPDATE complaint_severities SET name_zh = $2, name_en = $3, description_zh = $4, \
         description_en = $5, ack_secs = $6, respond_secs = $7, close_secs = $8, \
         callback_secs = $9 WHERE level = $1",
        vec![
            s.level.into(),
            s.name_zh.as_str().into(),
            s.name_en.as_str().into(),
            s.description_zh.as_str().into(),
            s.description_en.as_str().into(),
            s.ack_secs.into(),
            s.respond_secs.into(),
            s.close_secs.into(),
            s.callback_secs.into(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn settings<E: Exec>(exec: &mut E) -> AppResult<Settings> {
    exec.row(
        "SELECT remind_before_minutes, remind_after_minutes, callback_max_attempts, \
         callback_retry_minutes FROM complaint_settings WHERE id = 1",
        vec![],
    )
    .await?
    .ok_or(AppError::NotFound("complaint settings"))
}

pub async fn update_settings<E: Exec>(exec: &mut E, s: &Settings) -> AppResult<()> {
    exec.run(
        "UPDATE complaint_settings SET remind_before_minutes = $1, remind_after_minutes = $2, \
         callback_max_attempts = $3, callback_retry_minutes = $4 WHERE id = 1",
        vec![
            serde_json::json!(s.remind_before_minutes)
                .to_string()
                .into(),
            serde_json::json!(s.remind_after_minutes).to_string().into(),
            s.callback_max_attempts.into(),
            s.callback_retry_minutes.into(),
        ],
    )
    .await?;
    Ok(())
}

/// The complaint of a ticket (without its transitions).
pub async fn find<E: Exec>(exec: &mut E, ticket_id: i64) -> AppResult<Option<Complaint>> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE c.ticket_id = $1");
    exec.row(&sql, vec![ticket_id.into()]).await
}

pub async fn transitions<E: Exec>(exec: &mut E, ticket_id: i64) -> AppResult<Vec<Transition>> {
    exec.rows(
        "SELECT x.from_status, x.to_status, x.actor_id, u.display_name AS actor_name, x.reason, \
         x.note, x.at_ms FROM complaint_transitions x LEFT JOIN users u ON u.id = x.actor_id \
         WHERE x.ticket_id = $1 ORDER BY x.id",
        vec![ticket_id.into()],
    )
    .await
}

/// Inserts the complaint row; false when the ticket has one already.
pub async fn insert<E: Exec>(exec: &mut E, c: &Complaint) -> AppResult<bool> {
    let n = exec
        .run(
            "INSERT INTO complaints (ticket_id, category_id, severity, status, order_ref, \
             desired_outcome, round, round_started_at, ack_due, respond_due, close_due, \
             next_remind_at, created_at, updated_at) \
             VALUES ($1, $2, $3, 'received', $4, $5, 1, $6, $7, $8, $9, $6, $6, $6) \
             ON CONFLICT (ticket_id) DO NOTHING",
            vec![
                c.ticket_id.into(),
                c.category_id.into(),
                c.severity.into(),
                c.order_ref.as_str().into(),
                c.desired_outcome.as_str().into(),
                c.created_at.into(),
                c.ack_due.into(),
                c.respond_due.into(),
                c.close_due.into(),
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Writes every changeable column of `c` (the caller read it, changed it, and holds the write
/// transaction). The next reminder is worked out again on the leader's next pass.
pub async fn save<E: Exec>(exec: &mut E, c: &Complaint, now: i64) -> AppResult<()> {
    exec.run(
        "UPDATE complaints SET category_id = $2, severity = $3, status = $4, order_ref = $5, \
         desired_outcome = $6, round = $7, round_started_at = $8, ack_due = $9, \
         respond_due = $10, close_due = $11, acknowledged_at = $12, responded_at = $13, \
         confirmed_at = $14, closed_at = $15, confirmation = $16, callback_attempts = $17, \
         reopened = $18, next_remind_at = $19, updated_at = $19 WHERE ticket_id = $1",
        vec![
            c.ticket_id.into(),
            c.category_id.into(),
            c.severity.into(),
            c.status.as_str().into(),
            c.order_ref.as_str().into(),
            c.desired_outcome.as_str().into(),
            c.round.into(),
            c.round_started_at.into(),
            c.ack_due.into(),
            c.respond_due.into(),
            c.close_due.into(),
            c.acknowledged_at.into(),
            c.responded_at.into(),
            c.confirmed_at.into(),
            c.closed_at.into(),
            c.confirmation.clone().into(),
            c.callback_attempts.into(),
            c.reopened.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn insert_transition<E: Exec>(
    exec: &mut E,
    ticket_id: i64,
    t: &Transition,
) -> AppResult<()> {
    exec.run(
        "INSERT INTO complaint_transitions (ticket_id, from_status, to_status, actor_id, reason, \
         note, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            ticket_id.into(),
            t.from_status.clone().into(),
            t.to_status.as_str().into(),
            t.actor_id.into(),
            t.reason.as_str().into(),
            t.note.as_str().into(),
            t.at_ms.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Complaints whose next reminder time has come (open ones only).
pub async fn due_reminders<E: Exec>(
    exec: &mut E,
    now: i64,
    limit: i64,
) -> AppResult<Vec<Complaint>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE c.next_remind_at <= $1 \
         AND c.status NOT IN ('confirmed', 'closed') ORDER BY c.next_remind_at LIMIT $2"
    );
    exec.rows(&sql, vec![now.into(), limit.into()]).await
}

pub async fn set_next_remind<E: Exec>(
    exec: &mut E,
    ticket_id: i64,
    next: Option<i64>,
) -> AppResult<()> {
    exec.run(
        "UPDATE complaints SET next_remind_at = $2 WHERE ticket_id = $1",
        vec![ticket_id.into(), next.into()],
    )
    .await?;
    Ok(())
}

/// Marks a reminder sent; false when it was sent already (by another pass or node).
pub async fn mark_reminder<E: Exec>(
    exec: &mut E,
    ticket_id: i64,
    round: i64,
    step: &str,
    point: i64,
    now: i64,
) -> AppResult<bool> {
    let n = exec
        .run(
            "INSERT INTO complaint_reminders (ticket_id, round, step, point, sent_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            vec![
                ticket_id.into(),
                round.into(),
                step.into(),
                point.into(),
                now.into(),
            ],
        )
        .await?;
    Ok(n == 1)
}

/// One row of the register.
pub struct RegisterRow {
    pub complaint: Complaint,
    pub subject: String,
    pub queue_id: Option<i64>,
    pub queue_name: Option<String>,
    pub assignee_id: Option<i64>,
    pub assignee_name: Option<String>,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub tier: Option<String>,
    pub channel: String,
}

impl FromRow for RegisterRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(RegisterRow {
            complaint: Complaint::from_row(r)?,
            subject: r.try_get("subject")?,
            queue_id: r.try_get("queue_id")?,
            queue_name: r.try_get("queue_name")?,
            assignee_id: r.try_get("assignee_id")?,
            assignee_name: r.try_get("assignee_name")?,
            customer_id: r.try_get("customer_id")?,
            customer_name: r.try_get("customer_name")?,
            tier: r.try_get("tier")?,
            channel: r.try_get("channel")?,
        })
    }
}

/// The WHERE clause and parameters of a register filter (`$1` is now, for `overdue`).
fn register_where(f: &RegisterFilter, now: i64) -> (String, Vec<crate::db::Param>) {
    let mut parts = vec!["1 = 1".to_string()];
    let mut params: Vec<crate::db::Param> = vec![now.into()];
    let mut push = |cond: &str, p: crate::db::Param, parts: &mut Vec<String>| {
        params.push(p);
        parts.push(cond.replace('?', &format!("${}", params.len())));
    };
    if let Some(c) = f.category_id {
        push("c.category_id = ?", c.into(), &mut parts);
    }
    if let Some(s) = f.severity {
        push("c.severity = ?", s.into(), &mut parts);
    }
    if let Some(s) = &f.status {
        push("c.status = ?", s.as_str().into(), &mut parts);
    }
    if let Some(q) = f.queue_id {
        push("t.queue_id = ?", q.into(), &mut parts);
    }
    if let Some(tier) = &f.tier {
        push("cu.tier = ?", tier.as_str().into(), &mut parts);
    }
    if let Some(from) = f.from {
        push("c.created_at >= ?", from.into(), &mut parts);
    }
    if let Some(to) = f.to {
        push("c.created_at <= ?", to.into(), &mut parts);
    }
    if let Some(cu) = f.customer_id {
        push("t.customer_id = ?", cu.into(), &mut parts);
    }
    if f.overdue {
        parts.push(format!("({})", super::OVERDUE_SQL));
    }
    (parts.join(" AND "), params)
}

const REGISTER_FROM: &str = "complaints c JOIN complaint_categories k ON k.id = c.category_id \
     JOIN tickets t ON t.id = c.ticket_id LEFT JOIN customers cu ON cu.id = t.customer_id \
     LEFT JOIN queues q ON q.id = t.queue_id LEFT JOIN users u ON u.id = t.assignee_id";

/// The register's page: newest first.
pub async fn register(
    db: &Db,
    f: &RegisterFilter,
    now: i64,
    limit: i64,
    offset: i64,
) -> AppResult<Vec<RegisterRow>> {
    let (cond, mut params) = register_where(f, now);
    let n = params.len();
    params.push(limit.into());
    params.push(offset.into());
    let sql = format!(
        "SELECT {COLUMNS}, t.subject, t.queue_id, q.name AS queue_name, t.assignee_id, \
         u.display_name AS assignee_name, t.customer_id, cu.display_name AS customer_name, cu.tier, \
         t.channel FROM {REGISTER_FROM} WHERE {cond} \
         ORDER BY c.created_at DESC, c.ticket_id DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let mut db = db;
    db.rows(&sql, params).await
}

/// A count per key.
pub struct Count {
    pub key: i64,
    pub count: i64,
}

impl FromRow for Count {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Count {
            key: r.try_get("key")?,
            count: r.try_get("n")?,
        })
    }
}

/// Counts of the filtered complaints by `column` (`c.category_id` or `c.severity`), and in all.
pub async fn register_counts(
    db: &Db,
    f: &RegisterFilter,
    now: i64,
    column: &str,
) -> AppResult<Vec<Count>> {
    let (cond, params) = register_where(f, now);
    let sql = format!(
        "SELECT {column} AS key, COUNT(*) AS n FROM {REGISTER_FROM} WHERE {cond} \
         GROUP BY {column} ORDER BY {column}"
    );
    let mut db = db;
    db.rows(&sql, params).await
}
