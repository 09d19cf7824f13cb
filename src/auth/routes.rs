//! HTTP for sign-in, users, API tokens and the audit log.

use super::store::{self, NewUser, UserChanges};
use super::{Role, User, hash_password, new_token, verify_password};
use crate::app::AppState;
use crate::config::Config;
use crate::db::{Db, now_ms};
use crate::error::{AppError, AppResult, optional_text, required_text};
use crate::http::extract::{AuthUser, Json, Path, Query, SESSION_COOKIE, request_token};
use crate::http::{Access, Routes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
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
        "Create an API token for integrations (shown once)",
        post(create_token),
    )
    .add(
        "GET",
        "/api/users",
        "users",
        Access::Agent,
        "List users",
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
        "GET",
        "/api/audit",
        "users",
        Access::Admin,
        "The audit log, newest first",
        get(list_audit),
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
    Json(body): Json<LoginBody>,
) -> AppResult<Response> {
    let login = body.login.trim().to_string();
    let by_login = format!("login:{}", login.to_lowercase());
    let by_addr = format!("addr:{}", peer.ip());
    let limiter = &state.login_limiter;
    if limiter.is_blocked(&by_login) || limiter.is_blocked(&by_addr) {
        return Err(AppError::RateLimited);
    }
    let found = if login.len() <= 100 && body.password.len() <= 1024 {
        store::find_login(&state.db, &login).await?
    } else {
        None
    };
    let user = match found {
        Some((user, hash)) if verify_password(&body.password, &hash) => user,
        _ => {
            limiter.record_failure(&by_login);
            limiter.record_failure(&by_addr);
            return Err(AppError::BadCredentials);
        }
    };
    limiter.clear(&by_login);
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
        [(header::SET_COOKIE, cookie)],
        axum::Json(json!({"token": token, "user": user})),
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
}

async fn create_token(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(body): Json<TokenBody>,
) -> AppResult<(StatusCode, axum::Json<serde_json::Value>)> {
    let name = required_text("name", &body.name, 100)?;
    let (token, hash) = new_token();
    store::insert_token(&state.db, &hash, user.id, "api", &name, None).await?;
    store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "token.create",
        &format!("user:{}", user.id),
        json!({"name": name}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"token": token, "name": name})),
    ))
}

async fn list_users(State(state): State<AppState>) -> AppResult<axum::Json<Vec<User>>> {
    Ok(axum::Json(store::list_users(&state.db).await?))
}

async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<User>> {
    Ok(axum::Json(store::find_user(&state.db, id).await?))
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
}

fn parse_role(s: &str) -> AppResult<Role> {
    Role::parse(s)
        .ok_or_else(|| AppError::validation("role", "role must be agent, supervisor or admin"))
}

fn check_password(p: &str) -> AppResult<()> {
    if p.chars().count() < 8 || p.len() > 1024 {
        return Err(AppError::validation(
            "password",
            "password must have 8 to 1024 characters",
        ));
    }
    Ok(())
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
) -> AppResult<(StatusCode, axum::Json<User>)> {
    check_password(&b.password)?;
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
    let new = NewUser {
        login,
        display_name: required_text("display_name", &b.display_name, 200)?,
        role: parse_role(&b.role)?,
        password_hash: hash_password(&b.password).map_err(AppError::internal)?,
        extension: b
            .extension
            .map(|e| optional_text("extension", &e, 20))
            .transpose()?,
        phone: b
            .phone
            .map(|p| optional_text("phone", &p, 40))
            .transpose()?,
        email: b
            .email
            .map(|e| optional_text("email", &e, 254))
            .transpose()?,
        skills: check_list("skills", &b.skills)?,
        languages: check_list("languages", &b.languages)?,
        locale: check_locale(b.locale.as_deref().unwrap_or("en"))?,
    };
    let user = store::insert_user(&state.db, &new).await?;
    if user.role != Role::Admin {
        // A new agent receives work from the start (the default queue catches every ticket).
        crate::routing::store::join_default_queue(&state.db, user.id).await?;
    }
    store::insert_audit(
        &state.db.pool,
        Some(admin.id),
        "user.create",
        &format!("user:{}", user.id),
        json!({"login": user.login, "role": user.role}),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

#[derive(Deserialize)]
struct UpdateUserBody {
    display_name: Option<String>,
    role: Option<String>,
    password: Option<String>,
    extension: Option<Option<String>>,
    phone: Option<Option<String>>,
    email: Option<Option<String>>,
    skills: Option<Vec<String>>,
    languages: Option<Vec<String>>,
    locale: Option<String>,
    active: Option<bool>,
}

async fn update_user(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<UpdateUserBody>,
) -> AppResult<axum::Json<User>> {
    let is_admin = actor.role == Role::Admin;
    let admin_only = b.role.is_some() || b.active.is_some() || b.skills.is_some();
    if (actor.id != id || admin_only) && !is_admin {
        return Err(AppError::Forbidden);
    }
    if let Some(p) = &b.password {
        check_password(p)?;
    }
    let changes = UserChanges {
        display_name: b
            .display_name
            .map(|n| required_text("display_name", &n, 200))
            .transpose()?,
        role: b.role.as_deref().map(parse_role).transpose()?,
        password_hash: b
            .password
            .as_deref()
            .map(hash_password)
            .transpose()
            .map_err(AppError::internal)?,
        extension: b
            .extension
            .map(|e| e.map(|e| optional_text("extension", &e, 20)).transpose())
            .transpose()?,
        phone: b
            .phone
            .map(|e| e.map(|e| optional_text("phone", &e, 40)).transpose())
            .transpose()?,
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
    };
    let before = store::find_user(&state.db, id).await?;
    let user = store::update_user(&state.db, id, &changes).await?;
    if !user.active {
        // The consoles of a deactivated user close at once on this node (others: seconds).
        state.hub.end_sessions_of(id);
    }
    if before.role != user.role || before.active != user.active {
        store::insert_audit(
            &state.db.pool,
            Some(actor.id),
            "user.role_change",
            &format!("user:{id}"),
            json!({"from": before.role, "to": user.role, "active": user.active}),
        )
        .await?;
    }
    Ok(axum::Json(user))
}

#[derive(Deserialize)]
struct AuditQuery {
    before_id: Option<i64>,
    limit: Option<i64>,
}

async fn list_audit(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> AppResult<axum::Json<Vec<store::AuditEntry>>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    Ok(axum::Json(
        store::list_audit(&state.db, q.before_id, limit).await?,
    ))
}
