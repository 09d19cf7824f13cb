//! SQL for queues and membership.

use super::{Queue, QueueRule};
use crate::db::{Db, now_ms};
use crate::error::{AppError, AppResult};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::{HashMap, HashSet};

async fn members_of(db: &Db, queue_id: i64) -> AppResult<Vec<i64>> {
    let rows =
        sqlx::query("SELECT user_id FROM queue_members WHERE queue_id = $1 ORDER BY user_id")
            .bind(queue_id)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("user_id"))
        .collect::<Result<_, _>>()?)
}

async fn queue_from_row(db: &Db, r: &AnyRow) -> AppResult<Queue> {
    let id: i64 = r.try_get("id")?;
    Ok(Queue {
        id,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        priority: r.try_get("priority")?,
        created_at: r.try_get("created_at")?,
        members: members_of(db, id).await?,
        is_default: r.try_get::<i64, _>("is_default")? != 0,
        service_level_secs: r.try_get("service_level_secs")?,
        offer_timeout_secs: r.try_get("offer_timeout_secs")?,
        capacity: super::presence::parse_capacity(&r.try_get::<String, _>("capacity")?),
        strategy: r.try_get("strategy")?,
    })
}

const QUEUE_COLUMNS: &str = "id, name, description, priority, created_at, is_default, \
     service_level_secs, offer_timeout_secs, capacity, strategy";

pub async fn insert_queue(
    db: &Db,
    name: &str,
    description: &str,
    priority: i64,
) -> AppResult<Queue> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO queues (name, description, priority, created_at) VALUES ($1, $2, $3, $4) \
         RETURNING {QUEUE_COLUMNS}"
    )))
    .bind(name)
    .bind(description)
    .bind(priority)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?;
    queue_from_row(db, &row).await
}

pub async fn find_queue(db: &Db, id: i64) -> AppResult<Queue> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {QUEUE_COLUMNS} FROM queues WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(AppError::NotFound("queue"))?;
    queue_from_row(db, &row).await
}

pub async fn find_queue_by_name(db: &Db, name: &str) -> AppResult<Option<Queue>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {QUEUE_COLUMNS} FROM queues WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(&db.pool)
    .await?;
    match row {
        Some(r) => Ok(Some(queue_from_row(db, &r).await?)),
        None => Ok(None),
    }
}

pub async fn list_queues(db: &Db) -> AppResult<Vec<Queue>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {QUEUE_COLUMNS} FROM queues ORDER BY priority DESC, id"
    )))
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(queue_from_row(db, r).await?);
    }
    Ok(out)
}

pub async fn update_queue(
    db: &Db,
    id: i64,
    name: Option<&str>,
    description: Option<&str>,
    priority: Option<i64>,
) -> AppResult<Queue> {
    let cur = find_queue(db, id).await?;
    sqlx::query("UPDATE queues SET name = $2, description = $3, priority = $4 WHERE id = $1")
        .bind(id)
        .bind(name.unwrap_or(&cur.name))
        .bind(description.unwrap_or(&cur.description))
        .bind(priority.unwrap_or(cur.priority))
        .execute(&db.pool)
        .await?;
    find_queue(db, id).await
}

/// Replaces the members of a queue.
pub async fn set_members(db: &Db, queue_id: i64, user_ids: &[i64]) -> AppResult<()> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM queue_members WHERE queue_id = $1")
        .bind(queue_id)
        .execute(&mut *tx)
        .await?;
    for uid in user_ids {
        sqlx::query("INSERT INTO queue_members (queue_id, user_id) VALUES ($1, $2)")
            .bind(queue_id)
            .bind(uid)
            .execute(&mut *tx)
            .await?;
    }
    // Hubs on every node re-read membership (event scopes) when they see this.
    crate::realtime::events::append(
        &mut tx,
        db.backend,
        "queue.members",
        crate::realtime::events::Scope {
            queue_id: Some(queue_id),
            ..Default::default()
        },
        &serde_json::json!({"queue_id": queue_id, "user_ids": user_ids}),
    )
    .await?;
    crate::realtime::events::commit(tx).await?;
    Ok(())
}

/// The default queue's id (the migrations create it; it cannot be removed).
pub async fn default_queue_id(db: &Db) -> AppResult<i64> {
    let row = sqlx::query("SELECT id FROM queues WHERE is_default = 1")
        .fetch_optional(&db.pool)
        .await?
        .ok_or(AppError::NotFound("default queue"))?;
    Ok(row.try_get("id")?)
}

/// Puts a user who works no queue in the default one (new agents receive work from the start).
pub async fn join_default_queue(db: &Db, user_id: i64) -> AppResult<()> {
    let q = default_queue_id(db).await?;
    let mut tx = db.begin().await?;
    let added = sqlx::query(
        "INSERT INTO queue_members (queue_id, user_id) SELECT $1, $2 \
         WHERE NOT EXISTS (SELECT 1 FROM queue_members WHERE user_id = $2)",
    )
    .bind(q)
    .bind(user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if added > 0 {
        let user_ids = members_of_tx(&mut tx, q).await?;
        crate::realtime::events::append(
            &mut tx,
            db.backend,
            "queue.members",
            crate::realtime::events::Scope {
                queue_id: Some(q),
                ..Default::default()
            },
            &serde_json::json!({"queue_id": q, "user_ids": user_ids}),
        )
        .await?;
    }
    crate::realtime::events::commit(tx).await?;
    Ok(())
}

async fn members_of_tx(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    queue_id: i64,
) -> AppResult<Vec<i64>> {
    let rows =
        sqlx::query("SELECT user_id FROM queue_members WHERE queue_id = $1 ORDER BY user_id")
            .bind(queue_id)
            .fetch_all(&mut **tx)
            .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("user_id"))
        .collect::<Result<_, _>>()?)
}

/// The queues a user is a member of.
pub async fn queues_of_user(db: &Db, user_id: i64) -> AppResult<Vec<i64>> {
    let rows =
        sqlx::query("SELECT queue_id FROM queue_members WHERE user_id = $1 ORDER BY queue_id")
            .bind(user_id)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("queue_id"))
        .collect::<Result<_, _>>()?)
}

/// The queues a user works, with their names, by id.
pub async fn queue_refs_of_user(
    db: &Db,
    user_id: i64,
) -> AppResult<Vec<crate::auth::directory::QueueRef>> {
    let rows = sqlx::query(
        "SELECT q.id, q.name FROM queue_members m JOIN queues q ON q.id = m.queue_id \
         WHERE m.user_id = $1 ORDER BY q.id",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(crate::auth::directory::QueueRef {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
            })
        })
        .collect()
}

/// Makes `queue_ids` the queues `user_id` works, in one transaction; each queue whose members
/// changed gets its `queue.members` event. Returns the queues before (ids).
pub async fn set_user_queues(db: &Db, user_id: i64, queue_ids: &[i64]) -> AppResult<Vec<i64>> {
    let mut tx = db.begin().await?;
    let before: Vec<i64> = sqlx::query_scalar(
        "SELECT queue_id FROM queue_members WHERE user_id = $1 ORDER BY queue_id",
    )
    .bind(user_id)
    .fetch_all(&mut *tx)
    .await?;
    let wanted: HashSet<i64> = queue_ids.iter().copied().collect();
    let had: HashSet<i64> = before.iter().copied().collect();
    let mut changed: Vec<i64> = had.symmetric_difference(&wanted).copied().collect();
    changed.sort_unstable();
    for q in &changed {
        if had.contains(q) {
            sqlx::query("DELETE FROM queue_members WHERE queue_id = $1 AND user_id = $2")
                .bind(q)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("INSERT INTO queue_members (queue_id, user_id) VALUES ($1, $2)")
                .bind(q)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
    }
    for q in &changed {
        let user_ids = members_of_tx(&mut tx, *q).await?;
        crate::realtime::events::append(
            &mut tx,
            db.backend,
            "queue.members",
            crate::realtime::events::Scope {
                queue_id: Some(*q),
                ..Default::default()
            },
            &serde_json::json!({"queue_id": q, "user_ids": user_ids}),
        )
        .await?;
    }
    crate::realtime::events::commit(tx).await?;
    Ok(before)
}

/// Every queue's members: queue id → user ids.
pub async fn members_by_queue(db: &Db) -> AppResult<HashMap<i64, HashSet<i64>>> {
    let rows: Vec<Member> = db
        .fetch_all("SELECT queue_id, user_id FROM queue_members", vec![])
        .await?;
    let mut members: HashMap<i64, HashSet<i64>> = HashMap::new();
    for m in rows {
        members.entry(m.queue_id).or_default().insert(m.user_id);
    }
    Ok(members)
}

struct Member {
    queue_id: i64,
    user_id: i64,
}

impl crate::db::FromRow for Member {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Member {
            queue_id: r.try_get("queue_id")?,
            user_id: r.try_get("user_id")?,
        })
    }
}

const RULE_COLUMNS: &str = "id, queue_id, position, channel, to_addr, keyword, tier, language, \
     kind, priority_boost, skills, set_kind";

fn rule_from_row(r: &AnyRow) -> Result<QueueRule, sqlx::Error> {
    Ok(QueueRule {
        id: r.try_get("id")?,
        queue_id: r.try_get("queue_id")?,
        position: r.try_get("position")?,
        channel: r.try_get("channel")?,
        to_addr: r.try_get("to_addr")?,
        keyword: r.try_get("keyword")?,
        tier: r.try_get("tier")?,
        language: r.try_get("language")?,
        kind: r.try_get("kind")?,
        priority_boost: r.try_get("priority_boost")?,
        skills: crate::db::from_json_list(&r.try_get::<String, _>("skills")?),
        set_kind: r.try_get("set_kind")?,
    })
}

/// Placement rules in the order they are tried (all, or those of one queue).
pub async fn list_rules(db: &Db, queue_id: Option<i64>) -> AppResult<Vec<QueueRule>> {
    let sql = format!(
        "SELECT {RULE_COLUMNS} FROM queue_rules WHERE ($1 < 0 OR queue_id = $1) \
         ORDER BY position, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(queue_id.unwrap_or(-1))
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.iter().map(rule_from_row).collect::<Result<_, _>>()?)
}

pub async fn find_rule(db: &Db, id: i64) -> AppResult<QueueRule> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM queue_rules WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(AppError::NotFound("rule"))?;
    Ok(rule_from_row(&row)?)
}

/// Inserts (`r.id == 0`) or replaces a rule.
pub async fn upsert_rule(db: &Db, r: &QueueRule) -> AppResult<QueueRule> {
    let sql = if r.id == 0 {
        format!(
            "INSERT INTO queue_rules (queue_id, position, channel, to_addr, keyword, tier, \
             language, kind, priority_boost, skills, created_at, set_kind) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {RULE_COLUMNS}"
        )
    } else {
        format!(
            "UPDATE queue_rules SET queue_id = $1, position = $2, channel = $3, to_addr = $4, \
             keyword = $5, tier = $6, language = $7, kind = $8, priority_boost = $9, \
             skills = $10, set_kind = $12 WHERE id = $13 AND $11 = $11 RETURNING {RULE_COLUMNS}"
        )
    };
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(r.queue_id)
        .bind(r.position)
        .bind(&r.channel)
        .bind(&r.to_addr)
        .bind(&r.keyword)
        .bind(&r.tier)
        .bind(&r.language)
        .bind(&r.kind)
        .bind(r.priority_boost)
        .bind(crate::db::to_json_list(&r.skills))
        .bind(now_ms())
        .bind(&r.set_kind);
    if r.id != 0 {
        q = q.bind(r.id);
    }
    let row = q
        .fetch_optional(&db.pool)
        .await?
        .ok_or(AppError::NotFound("rule"))?;
    Ok(rule_from_row(&row)?)
}

/// Sets the rules' positions to 1, 2, 3 … in the order of `ids` (one transaction).
pub async fn renumber_rules(db: &Db, ids: &[i64]) -> AppResult<()> {
    let mut tx = db.begin().await?;
    for (i, id) in ids.iter().enumerate() {
        sqlx::query("UPDATE queue_rules SET position = $1 WHERE id = $2")
            .bind(i as i64 + 1)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn delete_rule(db: &Db, id: i64) -> AppResult<()> {
    let done = sqlx::query("DELETE FROM queue_rules WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound("rule"));
    }
    Ok(())
}

/// Who supervises a queue: the active supervisors who are its members, else (a queue no
/// supervisor joined) every active supervisor. Reminders past a due time and follow-up work
/// from a low satisfaction score go to them.
pub async fn queue_supervisors<E: crate::db::Exec>(
    exec: &mut E,
    queue_id: Option<i64>,
) -> AppResult<Vec<i64>> {
    let members: Vec<IdRow> = exec
        .rows(
            "SELECT u.id FROM users u JOIN queue_members m ON m.user_id = u.id \
             WHERE m.queue_id = $1 AND u.role = 'supervisor' AND u.active = 1 ORDER BY u.id",
            vec![queue_id.unwrap_or(-1).into()],
        )
        .await?;
    if !members.is_empty() {
        return Ok(members.into_iter().map(|r| r.0).collect());
    }
    let all: Vec<IdRow> = exec
        .rows(
            "SELECT id FROM users WHERE role = 'supervisor' AND active = 1 ORDER BY id",
            vec![],
        )
        .await?;
    Ok(all.into_iter().map(|r| r.0).collect())
}

struct IdRow(i64);

impl crate::db::FromRow for IdRow {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
        Ok(IdRow(r.try_get("id")?))
    }
}
