//! HTTP for sign-in, users, API tokens and the audit log.

use super::store::{self, NewUser};
use super::{
    Role, UserUpdate, check_password, hash_password, new_token, normalize_extension,
    normalize_phone, verify_password,
};
use crate::app::AppState;
use crate::config::Config;
use crate::db::{Db, now_ms};
use crate::error::{AppError, AppResult, optional_text, required_text};
use crate::http::extract::{
    AuthUser, IfMatch, Json, Path, Query, SESSION_COOKIE, request_token, with_etag,
};
use crate::http::{Access, Routes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

pub fn routes(r: Routes) -> Routes {
    r.add(
        "POST",
        "/api/auth/login",
        "auth",
        Access::Public,
        "Sign in with login and password: sets the session cookie and returns a bearer token",
        post(login),
    )
    .add(
        "POST",
        "/api/auth/logout",
        "auth",
        Access::Agent,
        "Sign out",
        post(logout),
    )
    .add(
        "GET",
        "/api/auth/me",
        "auth",
        Access::Agent,
        "The signed-in user",
        get(me),
    )
    .add(
        "POST",
        "/api/auth/tokens",
        "auth",
        Access::Agent,
        "Create an API token for integrations (shown once): name, expires_in_days (default 90, \
         at most HOTLINE_TOKEN_MAX_DAYS)",
        post(create_token),
    )
    .add(
        "GET",
        "/api/auth/tokens",
        "auth",
        Access::Agent,
        "List one's API tokens (kind=api, default) or sessions (kind=session), never the secret; \
         admins: anyone's, or one user's with user_id",
        get(list_tokens),
    )
    .add(
        "DELETE",
        "/api/auth/tokens/{id}",
        "auth",
        Access::Agent,
        "Revoke one's API token or session (admins: anyone's)",
        delete(revoke_token),
    )
    .add(
        "GET",
        "/api/users",
        "users",
        Access::Agent,
        "List users with their queues, capacity and presence; filters q (login, name, \
         extension, phone), role, queue_id, active, presence (supervisors and admins)",
        get(list_users),
    )
    .add(
        "POST",
        "/api/users",
        "users",
        Access::Admin,
        "Create a user",
        post(create_user),
    )
    .add(
        "GET",
        "/api/users/{id}",
        "users",
        Access::Agent,
        "Get a user",
        get(get_user),
    )
    .add(
        "PATCH",
        "/api/users/{id}",
        "users",
        Access::Agent,
        "Change a user (own profile; role, skills and others' profiles need admin)",
        patch(update_user),
    )
    .add(
        "PUT",
        "/api/users/{id}/queues",
        "users",
        Access::Supervisor,
        "Set the queues a user works: {\"queue_ids\": [..]} (supervisors: only queues they work)",
        put(set_user_queues),
    )
    .add(
        "GET",
        "/api/audit",
        "users",
        Access::Admin,
        "The audit log, newest first; filters actor_id, action and target (exact, or a prefix \
         ending in *), from and to (RFC 3339, inclusive); pages with before_id and limit",
        get(list_audit),
    )
    .add(
        "GET",
        "/api/audit.csv",
        "users",
        Access::Admin,
        "The audit log as CSV (id, at, actor, action, target, details) with the filters of \
         GET /api/audit, at most 10,000 rows",
        get(audit_csv),
    )
}

/// On first start with no user, creates `admin` with the configured or a generated password.
pub async fn ensure_admin(db: &Db, config: &Config) -> anyhow::Result<()> {
    if store::count_users(db).await? > 0 {
        if !config.admin_password.is_empty() {
            tracing::info!(
                "HOTLINE_ADMIN_PASSWORD is ignored: users exist already (it only sets the first \
                 admin's password); change passwords in the console or with the API"
            );
        }
        return Ok(());
    }
    let (password, generated) = if config.admin_password.is_empty() {
        (super::generate_password(), true)
    } else {
        (config.admin_password.expose().to_string(), false)
    };
    let new = NewUser {
        login: "admin".into(),
        display_name: "Administrator".into(),
        role: Role::Admin,
        password_hash: hash_password(&password)?,
        extension: None,
        phone: None,
        phone_norm: None,
        email: None,
        skills: vec![],
        languages: vec![],
        locale: "en".into(),
    };
    match store::insert_user(db, &new).await {
        Ok(_) => {}
        // Another node created it first.
        Err(AppError::Conflict(_)) => return Ok(()),
        Err(e) => return Err(anyhow::anyhow!("creating the admin failed: {e}")),
    }
    if generated {
        // Printed once, to the terminal, never to the log.
        println!("Created the first user: login `admin`, password `{password}` (shown only now)");
    }
    Ok(())
}

#[derive(Deserialize)]
struct LoginBody {
    login: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<LoginBody>,
) -> AppResult<Response> {
    let login = body.login.trim().to_string();
    // Throttling (`LoginThrottle`): per login and address, per address, per login; a device
    // that signed in as this login before is judged only by its own failures.
    let device_secret = crate::db::stored_secret(&state.db, super::DEVICE_SECRET_ID).await?;
    let device = super::cookie_value(&headers, super::DEVICE_COOKIE)
        .and_then(|v| super::check_device_cookie(&device_secret, &v, &login));
    let attempt = super::Attempt::new(&login, peer.ip(), device);
    let throttle = &state.limits.login;
    if let Err(wait) = throttle.check(&attempt) {
        metrics::counter!("hotline_login_throttled_total").increment(1);
        return Err(AppError::RateLimited { retry_after: wait });
    }
    let found = if login.len() <= 100 && body.password.len() <= 1024 {
        store::find_login(&state.db, &login).await?
    } else {
        None
    };
    let user = match found {
        Some((user, hash)) if verify_password(&body.password, &hash) => user,
        _ => {
            throttle.failed(&attempt);
            return Err(AppError::BadCredentials);
        }
    };
    throttle.succeeded(&attempt);
    let device_cookie = format!(
        "{}={}; Path=/api/auth; HttpOnly; SameSite=Strict; Max-Age={}{}",
        super::DEVICE_COOKIE,
        super::device_cookie_value(&device_secret, &login, attempt.device.as_deref()),
        super::DEVICE_COOKIE_DAYS * 86_400,
        if state.config.public_url().starts_with("https://") {
            "; Secure"
        } else {
            ""
        },
    );
    let (token, hash) = new_token();
    let hours = state.config.session_hours as i64;
    store::insert_token(
        &state.db,
        &hash,
        user.id,
        "session",
        "",
        Some(now_ms() + hours * 3_600_000),
    )
    .await?;
    let secure = if state.config.public_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        hours * 3600
    );
    Ok((
        // Appended: a plain header array would keep only the last Set-Cookie.
        axum::response::AppendHeaders([
            (header::SET_COOKIE, cookie),
            (header::SET_COOKIE, device_cookie),
        ]),
        axum::Json(json!({
            "token": token,
            "must_change_password": user.must_change_password,
            "user": user,
        })),
    )
        .into_response())
}

async fn logout(headers: HeaderMap, State(state): State<AppState>) -> AppResult<Response> {
    if let Some(token) = request_token(&headers) {
        let hash = super::token_hash(&token);
        // Signing out ends the shift: no more offers ring for this agent.
        if let Some(user) = store::find_user_by_token(&state.db, &hash).await? {
            crate::routing::presence::sign_out(&state.db, user.id).await?;
        }
        store::delete_token(&state.db, &hash).await?;
        // This node's websockets of the session close at once; other nodes' within seconds.
        state.hub.end_session(&hash);
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

/// The signed-in user, with the center's time zone (every date the console shows uses it).
async fn me(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> AppResult<axum::Json<serde_json::Value>> {
    let mut v = serde_json::to_value(&user).map_err(AppError::internal)?;
    v["time_zone"] = json!(state.time_zone.iana_name().unwrap_or("UTC"));
    Ok(axum::Json(v))
}

#[derive(Deserialize)]
struct TokenBody {
    name: String,
    expires_in_days: Option<i64>,
}

async fn create_token(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(body): Json<TokenBody>,
) -> AppResult<(StatusCode, axum::Json<serde_json::Value>)> {
    let name = required_text("name", &body.name, 100)?;
    let max = state.config.token_max_days as i64;
    let days = body.expires_in_days.unwrap_or(DEFAULT_TOKEN_DAYS.min(max));
    if !(1..=max).contains(&days) {
        return Err(AppError::validation(
            "expires_in_days",
            format!("expires_in_days must be 1 to {max} (HOTLINE_TOKEN_MAX_DAYS)"),
        ));
    }
    let expires_at = now_ms() + days * 86_400_000;
    let (token, hash) = new_token();
    let id = store::insert_token(&state.db, &hash, user.id, "api", &name, Some(expires_at)).await?;
    store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "token.create",
        &format!("user:{}", user.id),
        json!({"token_id": id, "name": name, "expires_at": expires_at}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "token": token, "name": name, "expires_at": expires_at})),
    ))
}

/// An API token lives 90 days unless its creator asks otherwise.
const DEFAULT_TOKEN_DAYS: i64 = 90;

#[derive(Deserialize)]
struct TokenQuery {
    kind: Option<String>,
    user_id: Option<i64>,
}

async fn list_tokens(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> AppResult<axum::Json<Vec<store::TokenInfo>>> {
    let kind = match q.kind.as_deref().unwrap_or("api") {
        k @ ("api" | "session") => k,
        _ => return Err(AppError::validation("kind", "kind must be api or session")),
    };
    let user_id = if user.role == Role::Admin {
        q.user_id
    } else {
        match q.user_id {
            Some(id) if id != user.id => return Err(AppError::Forbidden),
            _ => Some(user.id),
        }
    };
    let current = request_token(&headers).map(|t| super::token_hash(&t));
    Ok(axum::Json(
        store::list_tokens(&state.db, user_id, kind, current.as_deref()).await?,
    ))
}

async fn revoke_token(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    let token = match store::find_token(&state.db, id).await? {
        // Another user's token does not exist for a non-admin.
        Some(t) if t.user_id == user.id || user.role == Role::Admin => t,
        _ => return Err(AppError::NotFound("token")),
    };
    if store::delete_token_by_id(&state.db, id).await? {
        store::insert_audit(
            &state.db.pool,
            Some(user.id),
            "token.revoke",
            &format!("user:{}", token.user_id),
            json!({"token_id": id, "kind": token.kind, "name": token.name}),
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct UsersQuery {
    q: Option<String>,
    role: Option<String>,
    queue_id: Option<String>,
    active: Option<String>,
    presence: Option<String>,
}

/// Every user (filtered) with queues, capacity and, for supervisors and admins, presence.
async fn list_users(
    State(state): State<AppState>,
    AuthUser(reader): AuthUser,
    Query(q): Query<UsersQuery>,
) -> AppResult<axum::Json<Vec<super::directory::UserEntry>>> {
    let empty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let queue_id = match empty(&q.queue_id) {
        None => None,
        Some(v) => {
            let id: i64 = v
                .parse()
                .map_err(|_| AppError::validation("queue_id", "queue_id must be a queue id"))?;
            crate::routing::store::find_queue(&state.db, id)
                .await
                .map_err(|_| AppError::validation("queue_id", format!("{id} is not a queue")))?;
            Some(id)
        }
    };
    let active = match empty(&q.active).as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(AppError::validation(
                "active",
                "active must be true or false",
            ));
        }
    };
    let presence = empty(&q.presence);
    if let Some(p) = &presence {
        if !reader.is_supervisor() {
            return Err(AppError::Forbidden);
        }
        if !crate::routing::presence::STATES.contains(&p.as_str()) {
            return Err(AppError::validation(
                "presence",
                format!(
                    "presence must be one of {}",
                    crate::routing::presence::STATES.join(", ")
                ),
            ));
        }
    }
    let filter = super::directory::UserFilter {
        q: q.q.map(|t| optional_text("q", &t, 200)).transpose()?,
        role: empty(&q.role).as_deref().map(parse_role).transpose()?,
        queue_id,
        active,
        presence,
    };
    Ok(axum::Json(
        super::directory::list(&state.db, &filter, reader.is_supervisor()).await?,
    ))
}

#[derive(Deserialize)]
struct UserQueuesBody {
    queue_ids: Vec<i64>,
}

async fn set_user_queues(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<UserQueuesBody>,
) -> AppResult<axum::Json<serde_json::Value>> {
    let queues = crate::routing::set_user_queues(&state.db, &actor, id, &b.queue_ids).await?;
    Ok(axum::Json(json!({"user_id": id, "queues": queues})))
}

/// The user; its `ETag` is the user's version (send it back as `If-Match` with a PATCH).
async fn get_user(State(state): State<AppState>, Path(id): Path<i64>) -> AppResult<Response> {
    let user = store::find_user(&state.db, id).await?;
    Ok(with_etag(user.version, user))
}

#[derive(Deserialize)]
struct CreateUserBody {
    login: String,
    display_name: String,
    role: String,
    password: String,
    extension: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    #[serde(default)]
    skills: Vec<String>,
    #[serde(default)]
    languages: Vec<String>,
    locale: Option<String>,
    /// The queues the user works (else a non-admin joins the default queue).
    queue_ids: Option<Vec<i64>>,
    /// Per-channel capacity (`{"email": 3}`), as `PUT /api/agents/{id}/capacity` sets it.
    capacity: Option<std::collections::BTreeMap<String, i64>>,
}

fn parse_role(s: &str) -> AppResult<Role> {
    Role::parse(s)
        .ok_or_else(|| AppError::validation("role", "role must be agent, supervisor or admin"))
}

fn check_list(field: &str, items: &[String]) -> AppResult<Vec<String>> {
    if items.len() > 50 {
        return Err(AppError::validation(
            field,
            format!("{field} has more than 50 entries"),
        ));
    }
    items.iter().map(|s| required_text(field, s, 50)).collect()
}

fn check_locale(l: &str) -> AppResult<String> {
    match l {
        "en" | "zh-CN" => Ok(l.to_string()),
        _ => Err(AppError::validation("locale", "locale must be en or zh-CN")),
    }
}

async fn create_user(
    State(state): State<AppState>,
    AuthUser(admin): AuthUser,
    Json(b): Json<CreateUserBody>,
) -> AppResult<(StatusCode, axum::Json<super::directory::UserEntry>)> {
    let login = required_text("login", &b.login, 100)?;
    if !login
        .chars()
        .all(|c| c.is_alphanumeric() || "._-@".contains(c))
    {
        return Err(AppError::validation(
            "login",
            "login may hold letters, digits and . _ - @",
        ));
    }
    let display_name = required_text("display_name", &b.display_name, 200)?;
    check_password(&b.password, &[&login, &display_name])?;
    let extension = b
        .extension
        .as_deref()
        .map(normalize_extension)
        .transpose()?
        .flatten();
    let phone = b
        .phone
        .as_deref()
        .map(|p| normalize_phone(&state.phones, p))
        .transpose()?
        .flatten();
    store::check_unique_contacts(
        &state.db,
        None,
        extension.as_deref(),
        phone.as_ref().map(|(_, n)| n.as_str()),
    )
    .await?;
    let (phone, phone_norm) = phone.unzip();
    let new = NewUser {
        login,
        display_name,
        role: parse_role(&b.role)?,
        password_hash: hash_password(&b.password).map_err(AppError::internal)?,
        extension,
        phone,
        phone_norm,
        email: b
            .email
            .map(|e| optional_text("email", &e, 254))
            .transpose()?,
        skills: check_list("skills", &b.skills)?,
        languages: check_list("languages", &b.languages)?,
        locale: check_locale(b.locale.as_deref().unwrap_or("en"))?,
    };
    // Checked before anything is stored: a bad queue or capacity creates no user.
    if let Some(ids) = &b.queue_ids {
        for q in ids {
            crate::routing::store::find_queue(&state.db, *q)
                .await
                .map_err(|_| AppError::validation("queue_ids", format!("{q} is not a queue")))?;
        }
    }
    if let Some(c) = &b.capacity {
        crate::routing::presence::check_capacity(c)?;
    }
    let user = store::insert_user(&state.db, &new).await?;
    store::insert_audit(
        &state.db.pool,
        Some(admin.id),
        "user.create",
        &format!("user:{}", user.id),
        json!({"login": user.login, "role": user.role, "extension": user.extension,
               "phone": user.phone, "capacity": b.capacity}),
    )
    .await?;
    match &b.queue_ids {
        Some(ids) => {
            crate::routing::set_user_queues(&state.db, &admin, user.id, ids).await?;
        }
        // A new agent receives work from the start (the default queue catches every ticket).
        None if user.role != Role::Admin => {
            crate::routing::store::join_default_queue(&state.db, user.id).await?;
        }
        None => {}
    }
    if let Some(c) = &b.capacity {
        crate::routing::presence::update_capacity(&state.db, user.id, c).await?;
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(super::directory::entry(&state.db, user.id, true).await?),
    ))
}

#[derive(Deserialize)]
struct UpdateUserBody {
    display_name: Option<String>,
    role: Option<String>,
    password: Option<String>,
    current_password: Option<String>,
    extension: Option<Option<String>>,
    phone: Option<Option<String>>,
    email: Option<Option<String>>,
    skills: Option<Vec<String>>,
    languages: Option<Vec<String>>,
    locale: Option<String>,
    active: Option<bool>,
}

/// The rules (who changes what, the current password, uniqueness, audit, ending sessions) are
/// `auth::change_user`'s; this checks the shape of the body.
async fn update_user(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    IfMatch(if_version): IfMatch,
    Json(b): Json<UpdateUserBody>,
) -> AppResult<Response> {
    let update = UserUpdate {
        display_name: b
            .display_name
            .map(|n| required_text("display_name", &n, 200))
            .transpose()?,
        role: b.role.as_deref().map(parse_role).transpose()?,
        password: b.password,
        current_password: b.current_password,
        extension: b.extension,
        phone: b.phone,
        email: b
            .email
            .map(|e| e.map(|e| optional_text("email", &e, 254)).transpose())
            .transpose()?,
        skills: b
            .skills
            .as_deref()
            .map(|s| check_list("skills", s))
            .transpose()?,
        languages: b
            .languages
            .as_deref()
            .map(|s| check_list("languages", s))
            .transpose()?,
        locale: b.locale.as_deref().map(check_locale).transpose()?,
        active: b.active,
        if_version,
    };
    // A change that ends another user's sessions closes their consoles at once on this node
    // (other nodes' session checks close theirs within seconds; so do one's own other consoles).
    let ends_sessions =
        update.password.is_some() || update.role.is_some() || update.active.is_some();
    let token = request_token(&headers).map(|t| super::token_hash(&t));
    let user = super::change_user(
        &state.db,
        &state.phones,
        &actor,
        id,
        update,
        token.as_deref(),
    )
    .await?;
    if ends_sessions && actor.id != id {
        state.hub.end_sessions_of(id);
    }
    Ok(with_etag(user.version, user))
}

#[derive(Deserialize)]
struct AuditQuery {
    actor_id: Option<String>,
    action: Option<String>,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before_id: Option<String>,
    limit: Option<String>,
}

/// The filter and the limit (default 100, at most `max`) a query asks for; a bad value is a
/// validation error naming its field.
fn audit_filter(q: &AuditQuery, max: i64) -> AppResult<(store::AuditFilter, i64)> {
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }
    let id = |field: &str, v: &Option<String>| -> AppResult<Option<i64>> {
        given(v)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| AppError::validation(field, format!("{field} must be a number")))
            })
            .transpose()
    };
    let time = |field: &str, v: &Option<String>| -> AppResult<Option<i64>> {
        given(v)
            .map(|v| {
                v.parse::<jiff::Timestamp>()
                    .map(|t| t.as_millisecond())
                    .map_err(|_| {
                        AppError::validation(
                            field,
                            format!(
                                "{field} must be an RFC 3339 time, e.g. 2026-12-03T09:00:00+08:00"
                            ),
                        )
                    })
            })
            .transpose()
    };
    let text = |field: &str, v: &Option<String>| -> AppResult<Option<store::TextMatch>> {
        given(v)
            .map(|v| optional_text(field, v, 200).map(|v| store::TextMatch::parse(&v)))
            .transpose()
    };
    let limit = id("limit", &q.limit)?.unwrap_or(100.min(max));
    if !(1..=max).contains(&limit) {
        return Err(AppError::validation(
            "limit",
            format!("limit must be 1 to {max}"),
        ));
    }
    let f = store::AuditFilter {
        actor_id: id("actor_id", &q.actor_id)?,
        action: text("action", &q.action)?,
        target: text("target", &q.target)?,
        from_ms: time("from", &q.from)?,
        to_ms: time("to", &q.to)?,
        before_id: id("before_id", &q.before_id)?,
    };
    if let (Some(from), Some(to)) = (f.from_ms, f.to_ms)
        && from > to
    {
        return Err(AppError::validation("to", "to must not be before from"));
    }
    Ok((f, limit))
}

async fn list_audit(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> AppResult<axum::Json<Vec<store::AuditEntry>>> {
    let (filter, limit) = audit_filter(&q, 500)?;
    Ok(axum::Json(
        store::list_audit(&state.db, &filter, limit).await?,
    ))
}

/// Most rows one CSV export holds.
const AUDIT_CSV_MAX: i64 = 10_000;

/// The audit log as CSV (same filters as the list, at most `AUDIT_CSV_MAX` rows).
async fn audit_csv(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> AppResult<Response> {
    let (filter, limit) = audit_filter(&q, AUDIT_CSV_MAX)?;
    let limit = if q.limit.is_some() {
        limit
    } else {
        AUDIT_CSV_MAX
    };
    let entries = store::list_audit(&state.db, &filter, limit).await?;
    let body = super::audit_csv(&entries).map_err(AppError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}
