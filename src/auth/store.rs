//! SQL for users, tokens and the audit log.

use super::{Role, User};
use crate::db::{Db, from_json_list, now_ms, to_json_list};
use crate::error::{AppError, AppResult};
use sqlx::Row;
use sqlx::any::AnyRow;

const USER_COLUMNS: &str = "id, login, display_name, role, extension, phone, email, skills, \
     languages, locale, active, created_at";

fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        login: row.try_get("login")?,
        display_name: row.try_get("display_name")?,
        role: Role::parse(&role).unwrap_or(Role::Agent),
        extension: row.try_get("extension")?,
        phone: row.try_get("phone")?,
        email: row.try_get("email")?,
        skills: from_json_list(&row.try_get::<String, _>("skills")?),
        languages: from_json_list(&row.try_get::<String, _>("languages")?),
        locale: row.try_get("locale")?,
        active: row.try_get::<i64, _>("active")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

pub struct NewUser {
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
    pub extension: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub locale: String,
}

pub async fn insert_user(db: &Db, u: &NewUser) -> AppResult<User> {
    let sql = format!(
        "INSERT INTO users (login, display_name, role, password_hash, extension, phone, email, \
         skills, languages, locale, active, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11) RETURNING {USER_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&u.login)
        .bind(&u.display_name)
        .bind(u.role.as_str())
        .bind(&u.password_hash)
        .bind(&u.extension)
        .bind(&u.phone)
        .bind(&u.email)
        .bind(to_json_list(&u.skills))
        .bind(to_json_list(&u.languages))
        .bind(&u.locale)
        .bind(now_ms())
        .fetch_one(&db.pool)
        .await?;
    Ok(user_from_row(&row)?)
}

pub async fn count_users(db: &Db) -> AppResult<i64> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(&db.pool)
        .await?
        .try_get("n")?)
}

pub async fn find_user(db: &Db, id: i64) -> AppResult<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    Ok(user_from_row(&row)?)
}

pub async fn find_user_by_extension(db: &Db, extension: &str) -> AppResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE extension = $1 AND active = 1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(extension)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| user_from_row(&r)).transpose()?)
}

/// The active user with this login and their password hash.
pub async fn find_login(db: &Db, login: &str) -> AppResult<Option<(User, String)>> {
    let sql =
        format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE login = $1 AND active = 1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(login)
        .fetch_optional(&db.pool)
        .await?;
    match row {
        Some(r) => Ok(Some((user_from_row(&r)?, r.try_get("password_hash")?))),
        None => Ok(None),
    }
}

pub async fn list_users(db: &Db) -> AppResult<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
}

#[derive(Default)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub password_hash: Option<String>,
    pub extension: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub skills: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    pub locale: Option<String>,
    pub active: Option<bool>,
}

pub async fn update_user(db: &Db, id: i64, c: &UserChanges) -> AppResult<User> {
    let cur = find_user(db, id).await?;
    let sql = format!(
        "UPDATE users SET display_name = $2, role = $3, extension = $4, phone = $5, email = $6, \
         skills = $7, languages = $8, locale = $9, active = $10, \
         password_hash = COALESCE($11, password_hash) WHERE id = $1 RETURNING {USER_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(c.display_name.clone().unwrap_or(cur.display_name))
        .bind(c.role.unwrap_or(cur.role).as_str())
        .bind(c.extension.clone().unwrap_or(cur.extension))
        .bind(c.phone.clone().unwrap_or(cur.phone))
        .bind(c.email.clone().unwrap_or(cur.email))
        .bind(to_json_list(c.skills.as_ref().unwrap_or(&cur.skills)))
        .bind(to_json_list(c.languages.as_ref().unwrap_or(&cur.languages)))
        .bind(c.locale.clone().unwrap_or(cur.locale))
        .bind(c.active.unwrap_or(cur.active) as i64)
        .bind(&c.password_hash)
        .fetch_one(&db.pool)
        .await?;
    if c.active == Some(false) {
        delete_user_tokens(db, id).await?;
    }
    Ok(user_from_row(&row)?)
}

pub async fn insert_token(
    db: &Db,
    hash: &str,
    user_id: i64,
    kind: &str,
    name: &str,
    expires_at: Option<i64>,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO auth_tokens (token_hash, user_id, kind, name, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash)
    .bind(user_id)
    .bind(kind)
    .bind(name)
    .bind(now_ms())
    .bind(expires_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The active user owning an unexpired token.
pub async fn find_user_by_token(db: &Db, hash: &str) -> AppResult<Option<User>> {
    let sql = format!(
        "SELECT {} FROM auth_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND u.active = 1 AND (t.expires_at IS NULL OR t.expires_at > $2)",
        USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(hash)
        .bind(now_ms())
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| user_from_row(&r)).transpose()?)
}

pub async fn delete_token(db: &Db, hash: &str) -> AppResult<()> {
    sqlx::query("DELETE FROM auth_tokens WHERE token_hash = $1")
        .bind(hash)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn delete_user_tokens(db: &Db, user_id: i64) -> AppResult<()> {
    sqlx::query("DELETE FROM auth_tokens WHERE user_id = $1")
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Appends to the audit log; pass the transaction that makes the change when there is one.
pub async fn insert_audit<'e, E>(
    exec: E,
    actor_id: Option<i64>,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> AppResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_log (at_ms, actor_id, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now_ms())
    .bind(actor_id)
    .bind(action)
    .bind(target)
    .bind(detail.to_string())
    .execute(exec)
    .await?;
    Ok(())
}

#[derive(serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    pub actor_id: Option<i64>,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

pub async fn list_audit(db: &Db, before_id: Option<i64>, limit: i64) -> AppResult<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT id, at_ms, actor_id, action, target, detail FROM audit_log \
         WHERE id < $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(before_id.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditEntry {
                id: r.try_get("id")?,
                at_ms: r.try_get("at_ms")?,
                actor_id: r.try_get("actor_id")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                detail: serde_json::from_str(&r.try_get::<String, _>("detail")?)
                    .unwrap_or_default(),
            })
        })
        .collect()
}
