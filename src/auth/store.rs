//! SQL for users, tokens and the audit log.

use super::{Role, User};
use crate::db::{Db, from_json_list, now_ms, to_json_list};
use crate::error::{AppError, AppResult};
use sqlx::Row;
use sqlx::any::AnyRow;

const USER_COLUMNS: &str = "id, login, display_name, role, extension, phone, email, skills, \
     languages, locale, active, created_at, must_change_password, version";

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
        must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
        version: row.try_get("version")?,
    })
}

/// A unique index of users broken by a write: a 409 naming the field instead of the index.
fn user_conflict(e: sqlx::Error) -> AppError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        let m = db.message().to_ascii_lowercase();
        if m.contains("extension") {
            return AppError::Conflict("extension: this extension belongs to another user".into());
        }
        if m.contains("phone") {
            return AppError::Conflict("phone: this phone number belongs to another user".into());
        }
    }
    e.into()
}

/// The other user holding this extension or phone number (E.164), if any: a 409 that names the
/// field and the holder. The unique indexes still decide when two writes race.
pub async fn check_unique_contacts(
    db: &Db,
    user_id: Option<i64>,
    extension: Option<&str>,
    phone_norm: Option<&str>,
) -> AppResult<()> {
    for (column, field, value) in [
        ("extension", "extension", extension),
        ("phone_norm", "phone", phone_norm),
    ] {
        let Some(value) = value else { continue };
        let sql = format!("SELECT id, login FROM users WHERE {column} = $1 AND id <> $2");
        if let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .bind(user_id.unwrap_or(0))
            .fetch_optional(&db.pool)
            .await?
        {
            let (id, login): (i64, String) = (r.try_get("id")?, r.try_get("login")?);
            return Err(AppError::Conflict(format!(
                "{field}: {value} already belongs to user {id} ({login})"
            )));
        }
    }
    Ok(())
}

pub struct NewUser {
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
    pub extension: Option<String>,
    pub phone: Option<String>,
    /// The phone number in E.164 (`super::normalize_phone`), the unique key.
    pub phone_norm: Option<String>,
    pub email: Option<String>,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub locale: String,
}

pub async fn insert_user(db: &Db, u: &NewUser) -> AppResult<User> {
    let sql = format!(
        "INSERT INTO users (login, display_name, role, password_hash, extension, phone, email, \
         skills, languages, locale, active, created_at, phone_norm) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12) RETURNING {USER_COLUMNS}"
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
        .bind(&u.phone_norm)
        .fetch_one(&db.pool)
        .await
        .map_err(user_conflict)?;
    Ok(user_from_row(&row)?)
}

/// Fills `phone_norm` of users written before it existed (migration 0012), oldest first; a
/// number an older user holds already is cleared on the newer one, with an audit row, and so is
/// one that is not a phone number. Runs at start; idempotent.
pub async fn backfill_phone_norm(
    db: &Db,
    phones: &crate::customers::identity::PhoneNormalizer,
) -> AppResult<()> {
    let rows = sqlx::query(
        "SELECT id, phone FROM users WHERE phone IS NOT NULL AND phone_norm IS NULL ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?;
    for r in rows {
        let (id, phone): (i64, String) = (r.try_get("id")?, r.try_get("phone")?);
        let reason = match super::normalize_phone(phones, &phone) {
            Ok(None) => None,
            Ok(Some((_, e164))) => {
                let done = sqlx::query("UPDATE users SET phone_norm = $1 WHERE id = $2")
                    .bind(&e164)
                    .bind(id)
                    .execute(&db.pool)
                    .await;
                match done {
                    Ok(_) => continue,
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Some(format!(
                        "duplicate phone number {e164}, kept by an older user"
                    )),
                    Err(e) => return Err(e.into()),
                }
            }
            Err(_) => Some("not a phone number".to_string()),
        };
        let mut tx = db.begin().await?;
        sqlx::query("UPDATE users SET phone = NULL, phone_norm = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_audit(
            &mut *tx,
            None,
            "user.update",
            &format!("user:{id}"),
            serde_json::json!({"phone": {"from": phone, "to": null}, "reason": reason}),
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(user_id = id, phone = %phone, reason = ?reason, "user phone number cleared");
    }
    Ok(())
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

/// The password hash of a user (active or not).
pub async fn password_hash(db: &Db, id: i64) -> AppResult<String> {
    Ok(sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(AppError::NotFound("user"))?
        .try_get("password_hash")?)
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
    pub must_change_password: Option<bool>,
    pub extension: Option<Option<String>>,
    /// The phone as given and its E.164 key (`super::normalize_phone`).
    pub phone: Option<Option<(String, String)>>,
    pub email: Option<Option<String>>,
    pub skills: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    pub locale: Option<String>,
    pub active: Option<bool>,
}

/// Writes only the fields in `c`, in one UPDATE (a concurrent change of another field stays),
/// and increments the version. With `if_version`, the write applies only while the user is still
/// at that version: else 412 `version_conflict` with the current one.
pub async fn update_user(
    db: &Db,
    id: i64,
    c: &UserChanges,
    if_version: Option<i64>,
) -> AppResult<User> {
    use crate::db::Param;
    let mut sets: Vec<String> = Vec::new();
    let mut params: Vec<Param> = vec![id.into()];
    let mut set = |column: &str, value: Param| {
        params.push(value);
        sets.push(format!("{column} = ${}", params.len()));
    };
    if let Some(v) = &c.display_name {
        set("display_name", v.clone().into());
    }
    if let Some(v) = c.role {
        set("role", v.as_str().into());
    }
    if let Some(v) = &c.password_hash {
        set("password_hash", v.clone().into());
    }
    if let Some(v) = c.must_change_password {
        set("must_change_password", (v as i64).into());
    }
    if let Some(v) = &c.extension {
        set("extension", v.clone().into());
    }
    if let Some(v) = &c.phone {
        let (phone, norm) = match v {
            Some((p, n)) => (Some(p.clone()), Some(n.clone())),
            None => (None, None),
        };
        set("phone", phone.into());
        set("phone_norm", norm.into());
    }
    if let Some(v) = &c.email {
        set("email", v.clone().into());
    }
    if let Some(v) = &c.skills {
        set("skills", to_json_list(v).into());
    }
    if let Some(v) = &c.languages {
        set("languages", to_json_list(v).into());
    }
    if let Some(v) = &c.locale {
        set("locale", v.clone().into());
    }
    if let Some(v) = c.active {
        set("active", (v as i64).into());
    }
    if sets.is_empty() {
        let user = find_user(db, id).await?;
        return match if_version {
            Some(v) if v != user.version => Err(AppError::VersionConflict {
                current: user.version,
            }),
            _ => Ok(user),
        };
    }
    sets.push("version = version + 1".into());
    let mut condition = "id = $1".to_string();
    if let Some(v) = if_version {
        params.push(v.into());
        condition.push_str(&format!(" AND version = ${}", params.len()));
    }
    let sql = format!(
        "UPDATE users SET {} WHERE {condition} RETURNING {USER_COLUMNS}",
        sets.join(", ")
    );
    let row = crate::db::read::sqlx_query(&sql, params)
        .fetch_optional(&db.pool)
        .await
        .map_err(user_conflict)?;
    match row {
        Some(row) => Ok(user_from_row(&row)?),
        // Gone (404 from find_user) or changed since the client read it.
        None => Err(AppError::VersionConflict {
            current: find_user(db, id).await?.version,
        }),
    }
}

/// Stores a new session or API token (its hash); returns the token's id.
pub async fn insert_token(
    db: &Db,
    hash: &str,
    user_id: i64,
    kind: &str,
    name: &str,
    expires_at: Option<i64>,
) -> AppResult<i64> {
    let row = sqlx::query(
        "INSERT INTO auth_tokens (token_hash, user_id, kind, name, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(hash)
    .bind(user_id)
    .bind(kind)
    .bind(name)
    .bind(now_ms())
    .bind(expires_at)
    .fetch_one(&db.pool)
    .await?;
    Ok(row.try_get("id")?)
}

/// `last_used_at` is written at most this often per token (not on every request).
pub const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// The active user owning an unexpired token; notes the use (at most once a minute).
pub async fn find_user_by_token(db: &Db, hash: &str) -> AppResult<Option<User>> {
    // Built once: every request and every websocket command runs it.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {}, t.id AS token_id, t.last_used_at AS token_last_used \
             FROM auth_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND u.active = 1 \
             AND (t.expires_at IS NULL OR t.expires_at > $2)",
            USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    let now = now_ms();
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(SQL.as_str()))
        .bind(hash)
        .bind(now)
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    let last_used: Option<i64> = row.try_get("token_last_used")?;
    if last_used.is_none_or(|t| t <= now - LAST_USED_RESOLUTION_MS) {
        let token_id: i64 = row.try_get("token_id")?;
        // The condition makes concurrent requests of one token write once.
        let touched = sqlx::query(
            "UPDATE auth_tokens SET last_used_at = $1 \
             WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
        )
        .bind(now)
        .bind(token_id)
        .bind(now - LAST_USED_RESOLUTION_MS)
        .execute(&db.pool)
        .await;
        if let Err(e) = touched {
            tracing::warn!(error = %e, token_id, "noting a token's last use failed");
        }
    }
    Ok(Some(user_from_row(&row)?))
}

/// A session or API token as listed: never its secret.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// True for the token of the request that lists it.
    pub current: bool,
}

const TOKEN_COLUMNS: &str =
    "id, user_id, kind, name, created_at, expires_at, last_used_at, token_hash";

fn token_from_row(r: &AnyRow, current_hash: Option<&str>) -> Result<TokenInfo, sqlx::Error> {
    Ok(TokenInfo {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        kind: r.try_get("kind")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
        current: current_hash == Some(r.try_get::<String, _>("token_hash")?.as_str()),
    })
}

/// Unexpired tokens of one kind, of one user or of everyone, newest first.
pub async fn list_tokens(
    db: &Db,
    user_id: Option<i64>,
    kind: &str,
    current_hash: Option<&str>,
) -> AppResult<Vec<TokenInfo>> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM auth_tokens \
         WHERE kind = $1 AND ($2 = 0 OR user_id = $3) \
         AND (expires_at IS NULL OR expires_at > $4) ORDER BY id DESC LIMIT 1000"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(kind)
        .bind(user_id.is_some() as i64)
        .bind(user_id.unwrap_or(0))
        .bind(now_ms())
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .iter()
        .map(|r| token_from_row(r, current_hash))
        .collect::<Result<_, _>>()?)
}

pub async fn find_token(db: &Db, id: i64) -> AppResult<Option<TokenInfo>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM auth_tokens WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| token_from_row(&r, None)).transpose()?)
}

pub async fn delete_token_by_id(db: &Db, id: i64) -> AppResult<bool> {
    let done = sqlx::query("DELETE FROM auth_tokens WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn delete_token(db: &Db, hash: &str) -> AppResult<()> {
    sqlx::query("DELETE FROM auth_tokens WHERE token_hash = $1")
        .bind(hash)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Ends every session and API token of a user except `keep` (the hash of the token making a
/// change to its own account); returns how many were deleted.
pub async fn delete_user_tokens(db: &Db, user_id: i64, keep: Option<&str>) -> AppResult<u64> {
    let done = sqlx::query("DELETE FROM auth_tokens WHERE user_id = $1 AND token_hash <> $2")
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}

/// Retention: deletes expired sessions and API tokens; returns how many.
pub async fn purge_expired_tokens(db: &Db) -> AppResult<u64> {
    let done =
        sqlx::query("DELETE FROM auth_tokens WHERE expires_at IS NOT NULL AND expires_at <= $1")
            .bind(now_ms())
            .execute(&db.pool)
            .await?;
    Ok(done.rows_affected())
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

#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    pub actor_id: Option<i64>,
    /// The actor's login (none for the system, or a user since removed).
    pub actor_login: Option<String>,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

/// A text filter of the audit log: the exact value, or a prefix (`user.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextMatch {
    Exact(String),
    Prefix(String),
}

impl TextMatch {
    /// `value*` is a prefix, anything else exact.
    pub fn parse(value: &str) -> TextMatch {
        match value.strip_suffix('*') {
            Some(p) => TextMatch::Prefix(p.to_string()),
            None => TextMatch::Exact(value.to_string()),
        }
    }
}

/// What the audit log is filtered by (all optional, combined with AND).
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor_id: Option<i64>,
    pub action: Option<TextMatch>,
    pub target: Option<TextMatch>,
    /// Inclusive bounds of `at_ms`.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Only entries older than this id (the last id of the previous page).
    pub before_id: Option<i64>,
}

/// The entries `f` selects, newest first, at most `limit`.
pub async fn list_audit(db: &Db, f: &AuditFilter, limit: i64) -> AppResult<Vec<AuditEntry>> {
    use crate::db::Param;
    let mut conds: Vec<String> = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    let mut cond = |sql: &str, value: Param| {
        params.push(value);
        conds.push(sql.replace('?', &format!("${}", params.len())));
    };
    if let Some(v) = f.before_id {
        cond("a.id < ?", v.into());
    }
    if let Some(v) = f.actor_id {
        cond("a.actor_id = ?", v.into());
    }
    for (column, m) in [("a.action", &f.action), ("a.target", &f.target)] {
        match m {
            Some(TextMatch::Exact(v)) => cond(&format!("{column} = ?"), v.as_str().into()),
            // substr counts characters on both engines: an exact prefix comparison.
            Some(TextMatch::Prefix(p)) if !p.is_empty() => cond(
                &format!("substr({column}, 1, {}) = ?", p.chars().count()),
                p.as_str().into(),
            ),
            _ => {}
        }
    }
    if let Some(v) = f.from_ms {
        cond("a.at_ms >= ?", v.into());
    }
    if let Some(v) = f.to_ms {
        cond("a.at_ms <= ?", v.into());
    }
    params.push(limit.into());
    let sql = format!(
        "SELECT a.id, a.at_ms, a.actor_id, u.login AS actor_login, a.action, a.target, a.detail \
         FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id {} ORDER BY a.id DESC LIMIT ${}",
        if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        },
        params.len()
    );
    let rows = crate::db::read::sqlx_query(&sql, params)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditEntry {
                id: r.try_get("id")?,
                at_ms: r.try_get("at_ms")?,
                actor_id: r.try_get("actor_id")?,
                actor_login: r.try_get("actor_login")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                detail: serde_json::from_str(&r.try_get::<String, _>("detail")?)
                    .unwrap_or_default(),
            })
        })
        .collect()
}
