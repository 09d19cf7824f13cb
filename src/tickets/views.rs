//! Saved ticket views: a name, the ticket list's filters and the columns it shows, owned by a
//! user. Everyone keeps their own; supervisors and admins may share theirs with everyone (shared
//! ones are listed to all, changed only by their owner or an admin, and audited).

use crate::auth::User;
use crate::db::{Db, now_ms};
use crate::error::{AppError, AppResult, required_text};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// Columns the ticket list can show, in its order.
pub const COLUMNS: [&str; 10] = [
    "number", "subject", "customer", "channel", "status", "priority", "queue", "assignee", "sla",
    "updated",
];

/// What the list shows: the same names as the list's own filters (`GET /api/tickets`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ViewFilters {
    /// `mine`, `unassigned`, `all` or `queue:ID`.
    pub scope: String,
    pub status: String,
    pub kind: String,
    /// `updated`, `priority`, `oldest` or `sla`.
    pub sort: String,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct SavedView {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub shared: bool,
    pub filters: ViewFilters,
    /// The columns shown, in `COLUMNS`' order; empty: all.
    pub columns: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A view as asked for (absent fields: unchanged on an update, defaults on a create).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct ViewChange {
    pub name: Option<String>,
    pub shared: Option<bool>,
    pub filters: Option<ViewFilters>,
    pub columns: Option<Vec<String>>,
}

fn from_row(r: &sqlx::any::AnyRow) -> AppResult<SavedView> {
    let filters: String = r.try_get("filters")?;
    let columns: String = r.try_get("columns")?;
    Ok(SavedView {
        id: r.try_get("id")?,
        owner_id: r.try_get("owner_id")?,
        name: r.try_get("name")?,
        shared: r.try_get::<i64, _>("shared")? != 0,
        filters: serde_json::from_str(&filters).unwrap_or_default(),
        columns: serde_json::from_str(&columns).unwrap_or_default(),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const SELECT: &str = "SELECT id, owner_id, name, shared, filters, columns, created_at, updated_at \
                      FROM saved_views";

/// The views `user` may use: their own and every shared one, by name.
pub async fn list(db: &Db, user: &User) -> AppResult<Vec<SavedView>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE owner_id = $1 OR shared = 1 ORDER BY name, id"
    )))
    .bind(user.id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

async fn find(db: &Db, id: i64) -> AppResult<SavedView> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(AppError::NotFound("view"))?;
    from_row(&row)
}

/// Checks the parts of `c` that are given.
fn check(user: &User, c: &ViewChange) -> AppResult<()> {
    if c.shared == Some(true) && !user.is_supervisor() {
        return Err(AppError::Forbidden);
    }
    if let Some(f) = &c.filters {
        let scope_ok = ["", "mine", "unassigned", "all"].contains(&f.scope.as_str())
            || f.scope
                .strip_prefix("queue:")
                .is_some_and(|id| id.parse::<i64>().is_ok());
        if !scope_ok {
            return Err(AppError::validation(
                "filters",
                "scope must be mine, unassigned, all or queue:ID",
            ));
        }
        if !["", "updated", "priority", "oldest", "sla"].contains(&f.sort.as_str()) {
            return Err(AppError::validation(
                "filters",
                "sort must be updated, priority, oldest or sla",
            ));
        }
        if !f.status.is_empty() && crate::tickets::Status::parse(&f.status).is_none() {
            return Err(AppError::validation(
                "filters",
                "status is not a ticket status",
            ));
        }
        if !f.kind.is_empty() && crate::tickets::Kind::parse(&f.kind).is_none() {
            return Err(AppError::validation("filters", "kind is not a ticket kind"));
        }
    }
    if let Some(cols) = &c.columns
        && let Some(bad) = cols.iter().find(|c| !COLUMNS.contains(&c.as_str()))
    {
        return Err(AppError::validation(
            "columns",
            format!("{bad} is not a column ({})", COLUMNS.join(", ")),
        ));
    }
    Ok(())
}

/// The columns in the list's order, each once.
fn ordered(cols: &[String]) -> Vec<String> {
    COLUMNS
        .iter()
        .filter(|c| cols.iter().any(|x| x == *c))
        .map(|c| c.to_string())
        .collect()
}

async fn audit(db: &Db, user: &User, action: &str, v: &SavedView) -> AppResult<()> {
    crate::auth::store::insert_audit(
        &db.pool,
        Some(user.id),
        action,
        &format!("view:{}", v.id),
        serde_json::json!({"name": v.name, "shared": v.shared}),
    )
    .await
}

pub async fn create(db: &Db, user: &User, c: &ViewChange) -> AppResult<SavedView> {
    check(user, c)?;
    let name = required_text("name", c.name.as_deref().unwrap_or("").trim(), 100)?;
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO saved_views (owner_id, name, shared, filters, columns, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(user.id)
    .bind(&name)
    .bind(i64::from(c.shared.unwrap_or(false)))
    .bind(serde_json::to_string(&c.filters.clone().unwrap_or_default()).unwrap_or_default())
    .bind(serde_json::to_string(&ordered(c.columns.as_deref().unwrap_or(&[]))).unwrap_or_default())
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    let v = find(db, id).await?;
    if v.shared {
        audit(db, user, "view.create", &v).await?;
    }
    Ok(v)
}

/// A view `user` may change: their own; an admin any.
async fn owned(db: &Db, user: &User, id: i64) -> AppResult<SavedView> {
    let v = find(db, id).await?;
    if v.owner_id == user.id || user.role == crate::auth::Role::Admin {
        Ok(v)
    } else if v.shared {
        Err(AppError::Forbidden)
    } else {
        // Someone else's own view does not exist for this reader.
        Err(AppError::NotFound("view"))
    }
}

pub async fn update(db: &Db, user: &User, id: i64, c: &ViewChange) -> AppResult<SavedView> {
    let before = owned(db, user, id).await?;
    check(user, c)?;
    let name = match &c.name {
        Some(n) => required_text("name", n.trim(), 100)?,
        None => before.name.clone(),
    };
    let filters = c.filters.clone().unwrap_or(before.filters.clone());
    let columns = c
        .columns
        .as_deref()
        .map(ordered)
        .unwrap_or(before.columns.clone());
    sqlx::query(
        "UPDATE saved_views SET name = $2, shared = $3, filters = $4, columns = $5, \
         updated_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(&name)
    .bind(i64::from(c.shared.unwrap_or(before.shared)))
    .bind(serde_json::to_string(&filters).unwrap_or_default())
    .bind(serde_json::to_string(&columns).unwrap_or_default())
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    let v = find(db, id).await?;
    if v.shared || before.shared {
        audit(db, user, "view.update", &v).await?;
    }
    Ok(v)
}

pub async fn delete(db: &Db, user: &User, id: i64) -> AppResult<()> {
    let v = owned(db, user, id).await?;
    sqlx::query("DELETE FROM saved_views WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    if v.shared {
        audit(db, user, "view.delete", &v).await?;
    }
    Ok(())
}
