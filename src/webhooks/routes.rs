//! HTTP for outgoing webhooks (admins): endpoints, their delivery log, re-sending.

use super::store::{self, Changes, Delivery, Webhook};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::http::extract::{AuthUser, Json, Path, Query};
use crate::http::{Access, Routes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

pub fn routes(r: Routes) -> Routes {
    r.add(
        "GET",
        "/api/webhooks",
        "webhooks",
        Access::Admin,
        "Webhook endpoints (their secrets are not shown again)",
        get(list),
    )
    .returns::<WebhookList>(200)
    .add(
        "POST",
        "/api/webhooks",
        "webhooks",
        Access::Admin,
        "Register an endpoint: http(s) `url`, `event_types` (ticket.created, ticket.updated, \
         ticket.resolved, complaint.created, complaint.updated, complaint.transitioned or \
         complaint.*, survey.answered, call.ended, customer.tier_changed), optional `secret` \
         (at least 16 characters; generated when absent, shown once in this answer)",
        post(create),
    )
    .body::<CreateBody>()
    .returns::<Webhook>(201)
    .add(
        "GET",
        "/api/webhooks/{id}",
        "webhooks",
        Access::Admin,
        "One endpoint",
        get(one),
    )
    .returns::<Webhook>(200)
    .add(
        "PATCH",
        "/api/webhooks/{id}",
        "webhooks",
        Access::Admin,
        "Change an endpoint's url, event types, secret or enabled",
        axum::routing::patch(update),
    )
    .body::<UpdateBody>()
    .returns::<Webhook>(200)
    .add(
        "DELETE",
        "/api/webhooks/{id}",
        "webhooks",
        Access::Admin,
        "Remove an endpoint and its delivery log",
        axum::routing::delete(remove),
    )
    .no_content()
    .add(
        "GET",
        "/api/webhooks/{id}/deliveries",
        "webhooks",
        Access::Admin,
        "An endpoint's delivery log, newest first: status, attempts, response code, times \
         (`status` filter; `before` a delivery id and `limit` ≤ 200 page)",
        get(deliveries),
    )
    .query::<DeliveriesQuery>()
    .returns::<DeliveryList>(200)
    .add(
        "POST",
        "/api/webhooks/{id}/deliveries/{delivery}/resend",
        "webhooks",
        Access::Admin,
        "Send a delivery again (its attempts start over; due at once)",
        post(resend),
    )
    .no_body()
    .returns::<Delivery>(200)
}

#[derive(Serialize, schemars::JsonSchema)]
struct WebhookList {
    items: Vec<Webhook>,
}

async fn list(State(state): State<AppState>) -> AppResult<axum::Json<WebhookList>> {
    Ok(axum::Json(WebhookList {
        items: store::list(&state.db).await?,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct CreateBody {
    url: String,
    event_types: Vec<String>,
    secret: Option<String>,
    enabled: Option<bool>,
}

fn check_secret(s: &str) -> AppResult<String> {
    let s = s.trim();
    if s.chars().count() < 16 || s.len() > 200 {
        return Err(AppError::validation(
            "secret",
            "secret must be 16 to 200 characters",
        ));
    }
    Ok(s.to_string())
}

async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<CreateBody>,
) -> AppResult<(StatusCode, axum::Json<Webhook>)> {
    let url = super::check_url(&b.url)?;
    let types = super::check_types(&b.event_types)?;
    let secret = match b.secret.as_deref() {
        Some(s) => check_secret(s)?,
        None => super::new_secret(),
    };
    let enabled = b.enabled.unwrap_or(true);
    let mut hook = store::insert(&state.db, &url, &types, &secret, enabled, user.id).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "webhook.create",
        &format!("webhook:{}", hook.id),
        serde_json::json!({"url": url, "event_types": types}),
    )
    .await?;
    hook.secret = Some(secret);
    Ok((StatusCode::CREATED, axum::Json(hook)))
}

async fn one(State(state): State<AppState>, Path(id): Path<i64>) -> AppResult<axum::Json<Webhook>> {
    Ok(axum::Json(store::find(&state.db, id).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct UpdateBody {
    url: Option<String>,
    event_types: Option<Vec<String>>,
    secret: Option<String>,
    enabled: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<UpdateBody>,
) -> AppResult<axum::Json<Webhook>> {
    let changes = Changes {
        url: b.url.as_deref().map(super::check_url).transpose()?,
        event_types: b
            .event_types
            .as_deref()
            .map(super::check_types)
            .transpose()?,
        secret: b.secret.as_deref().map(check_secret).transpose()?,
        enabled: b.enabled,
    };
    let mut hook = store::update(&state.db, id, &changes).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "webhook.update",
        &format!("webhook:{id}"),
        serde_json::json!({"url": changes.url, "event_types": changes.event_types,
            "enabled": changes.enabled, "secret_changed": changes.secret.is_some()}),
    )
    .await?;
    hook.secret = changes.secret;
    Ok(axum::Json(hook))
}

async fn remove(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    store::delete(&state.db, id).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "webhook.delete",
        &format!("webhook:{id}"),
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct DeliveriesQuery {
    /// `pending`, `delivered` or `failed`.
    status: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct DeliveryList {
    items: Vec<Delivery>,
}

async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<DeliveriesQuery>,
) -> AppResult<axum::Json<DeliveryList>> {
    store::find(&state.db, id).await?;
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = status
        && !matches!(s, "pending" | "delivered" | "failed")
    {
        return Err(AppError::validation(
            "status",
            "status must be pending, delivered or failed",
        ));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    Ok(axum::Json(DeliveryList {
        items: store::deliveries(&state.db, id, status, q.before, limit).await?,
    }))
}

async fn resend(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((id, delivery)): Path<(i64, i64)>,
) -> AppResult<axum::Json<Delivery>> {
    let d = store::resend(&state.db, id, delivery, state.clock.now_ms()).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "webhook.resend",
        &format!("webhook:{id}"),
        serde_json::json!({"delivery": delivery}),
    )
    .await?;
    crate::realtime::events::COMMITTED.notify_waiters();
    Ok(axum::Json(d))
}
