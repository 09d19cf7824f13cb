//! HTTP for complaints: categories, severities and reminder settings (admins change them), a
//! ticket's complaint (who may open the ticket), its transitions and confirmation call, and the
//! register with its CSV export (supervisors and admins).

use super::{
    Category, Complaint, ComplaintFields, ConfirmationBody, RegisterFilter, Settings, Severity,
    TransitionBody,
};
use crate::app::AppState;
use crate::auth::User;
use crate::error::{AppError, AppResult};
use crate::http::extract::{AuthUser, Json, Path, Query};
use crate::http::{Access, Routes};
use crate::realtime::events;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use serde::Deserialize;

pub fn routes(r: Routes) -> Routes {
    r.add(
        "GET",
        "/api/complaint-categories",
        "complaints",
        Access::Agent,
        "Complaint categories (zh/en names; inactive ones are kept for old complaints)",
        get(list_categories),
    )
    .returns::<Vec<Category>>(200)
    .add(
        "POST",
        "/api/complaint-categories",
        "complaints",
        Access::Admin,
        "Add a complaint category (`code` unique: 409 `conflict`); audited",
        post(create_category),
    )
    .body::<Category>()
    .returns::<Category>(201)
    .add(
        "PATCH",
        "/api/complaint-categories/{id}",
        "complaints",
        Access::Admin,
        "Rename, reorder or deactivate a category (its code stays); audited",
        patch(update_category),
    )
    .body::<CategoryPatch>()
    .returns::<Category>(200)
    .add(
        "GET",
        "/api/complaint-severities",
        "complaints",
        Access::Agent,
        "Severities 1 (critical) … 4 (low): names, descriptions and due times (seconds of the \
         queue's working time: acknowledge, respond, close, confirmation call)",
        get(list_severities),
    )
    .returns::<Vec<Severity>>(200)
    .add(
        "PUT",
        "/api/complaint-severities/{level}",
        "complaints",
        Access::Admin,
        "Set a severity's names, description and due times (new complaints and new rounds use \
         them); audited",
        put(update_severity),
    )
    .body::<Severity>()
    .returns::<Severity>(200)
    .add(
        "GET",
        "/api/complaint-settings",
        "complaints",
        Access::Supervisor,
        "Reminder points (minutes before and after each due time) and confirmation call tries",
        get(get_settings),
    )
    .returns::<Settings>(200)
    .add(
        "PUT",
        "/api/complaint-settings",
        "complaints",
        Access::Admin,
        "Set the reminder points and confirmation call tries; audited",
        put(put_settings),
    )
    .body::<Settings>()
    .returns::<Settings>(200)
    .add(
        "GET",
        "/api/tickets/{id}/complaint",
        "complaints",
        Access::Agent,
        "A complaint ticket's complaint with its transitions and what is late now (404 when \
         the ticket is not a complaint)",
        get(get_complaint),
    )
    .returns::<Complaint>(200)
    .add(
        "PUT",
        "/api/tickets/{id}/complaint",
        "complaints",
        Access::Agent,
        "Set a complaint's category, severity (due times move), order and desired outcome; a \
         ticket of another kind becomes a complaint",
        put(put_complaint),
    )
    .body::<ComplaintFields>()
    .returns::<Complaint>(200)
    .add(
        "POST",
        "/api/tickets/{id}/complaint/transition",
        "complaints",
        Access::Agent,
        "Move a complaint: `acknowledge`, `investigate`, `respond` (queues the confirmation \
         call), `close` (before the response: supervisors) or `reopen` (with a note); 409 \
         `conflict` from a status the action does not start from",
        post(transition),
    )
    .body::<TransitionBody>()
    .returns::<Complaint>(200)
    .add(
        "POST",
        "/api/tickets/{id}/complaint/confirmation",
        "complaints",
        Access::Agent,
        "The confirmation call's outcome (回访): `satisfied` closes the complaint as confirmed, \
         `not_satisfied` reopens it (note required), `unreachable` calls again later, then \
         closes it unconfirmed after the last try",
        post(confirmation),
    )
    .body::<ConfirmationBody>()
    .returns::<Complaint>(200)
    .add(
        "GET",
        "/api/complaints",
        "complaints",
        Access::Supervisor,
        "The complaint register: filters (category_id, severity, status, overdue, queue_id, \
         tier, customer_id, RFC 3339 from/to on the creation time), newest first, with counts \
         by category and severity",
        get(register),
    )
    .query::<RegisterQuery>()
    .returns::<super::Register>(200)
    .add(
        "GET",
        "/api/complaints/export.csv",
        "complaints",
        Access::Supervisor,
        "The register as CSV (same filters, at most 100,000 rows)",
        get(export_csv),
    )
    .query::<RegisterQuery>()
    .returns_raw(200, "text/csv")
}

async fn list_categories(State(state): State<AppState>) -> AppResult<axum::Json<Vec<Category>>> {
    Ok(axum::Json(super::store::categories(&mut &state.db).await?))
}

async fn audit(
    state: &AppState,
    actor: &User,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> AppResult<()> {
    crate::auth::store::insert_audit(&state.db.pool, Some(actor.id), action, target, detail).await
}

async fn create_category(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Json(b): Json<Category>,
) -> AppResult<(StatusCode, axum::Json<Category>)> {
    b.check()?;
    let mut tx = state.db.begin().await?;
    let c = super::store::insert_category(&mut tx, &b, state.clock.now_ms()).await?;
    tx.commit().await?;
    audit(
        &state,
        &actor,
        "complaint.category",
        &format!("complaint_category:{}", c.id),
        serde_json::json!(c),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

/// A category's changes; absent fields stay.
#[derive(Deserialize, schemars::JsonSchema)]
struct CategoryPatch {
    name_zh: Option<String>,
    name_en: Option<String>,
    active: Option<bool>,
    position: Option<i64>,
}

async fn update_category(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<CategoryPatch>,
) -> AppResult<axum::Json<Category>> {
    let mut c = super::store::find_category(&mut &state.db, id)
        .await?
        .ok_or(AppError::NotFound("complaint category"))?;
    if let Some(v) = b.name_zh {
        c.name_zh = v.trim().to_string();
    }
    if let Some(v) = b.name_en {
        c.name_en = v.trim().to_string();
    }
    if let Some(v) = b.active {
        c.active = v;
    }
    if let Some(v) = b.position {
        c.position = v;
    }
    c.check()?;
    super::store::update_category(&mut &state.db, &c).await?;
    audit(
        &state,
        &actor,
        "complaint.category",
        &format!("complaint_category:{id}"),
        serde_json::json!(c),
    )
    .await?;
    Ok(axum::Json(c))
}

async fn list_severities(State(state): State<AppState>) -> AppResult<axum::Json<Vec<Severity>>> {
    Ok(axum::Json(super::store::severities(&mut &state.db).await?))
}

async fn update_severity(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(level): Path<i64>,
    Json(mut b): Json<Severity>,
) -> AppResult<axum::Json<Severity>> {
    if !(1..=4).contains(&level) {
        return Err(AppError::NotFound("severity"));
    }
    b.level = level;
    b.check()?;
    super::store::update_severity(&mut &state.db, &b).await?;
    audit(
        &state,
        &actor,
        "complaint.severity",
        &format!("complaint_severity:{level}"),
        serde_json::json!(b),
    )
    .await?;
    Ok(axum::Json(b))
}

async fn get_settings(State(state): State<AppState>) -> AppResult<axum::Json<Settings>> {
    Ok(axum::Json(super::store::settings(&mut &state.db).await?))
}

async fn put_settings(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Json(b): Json<Settings>,
) -> AppResult<axum::Json<Settings>> {
    b.check()?;
    super::store::update_settings(&mut &state.db, &b).await?;
    audit(
        &state,
        &actor,
        "complaint.settings",
        "complaint_settings",
        serde_json::json!(b),
    )
    .await?;
    Ok(axum::Json(b))
}

/// The ticket, when `user` may open it (404 otherwise, as for tickets).
async fn visible(state: &AppState, user: &User, id: i64) -> AppResult<crate::tickets::Ticket> {
    let ticket = crate::tickets::store::find_ticket(&mut &state.db, id).await?;
    let sees = crate::tickets::store::visibility(&state.db, user).await?;
    if !sees.sees_ticket(&ticket) {
        return Err(AppError::NotFound("ticket"));
    }
    Ok(ticket)
}

async fn current(state: &AppState, id: i64) -> AppResult<axum::Json<Complaint>> {
    super::view(&mut &state.db, id, state.clock.now_ms())
        .await?
        .map(axum::Json)
        .ok_or(AppError::NotFound("complaint"))
}

async fn get_complaint(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Complaint>> {
    visible(&state, &user, id).await?;
    current(&state, id).await
}

async fn put_complaint(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<ComplaintFields>,
) -> AppResult<axum::Json<Complaint>> {
    visible(&state, &user, id).await?;
    let job = super::Edit {
        ticket_id: id,
        actor: Some(user.id),
        fields: b,
    };
    events::write(&state.db, job).await?;
    current(&state, id).await
}

async fn transition(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<TransitionBody>,
) -> AppResult<axum::Json<Complaint>> {
    visible(&state, &user, id).await?;
    let job = super::Act::new(id, &user, &b)?;
    events::write(&state.db, job).await?;
    current(&state, id).await
}

async fn confirmation(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<ConfirmationBody>,
) -> AppResult<axum::Json<Complaint>> {
    visible(&state, &user, id).await?;
    let job = super::Confirm::new(id, user.id, &b)?;
    events::write(&state.db, job).await?;
    current(&state, id).await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct RegisterQuery {
    category_id: Option<i64>,
    /// 1..=4.
    severity: Option<i64>,
    /// received, acknowledged, investigating, responded, confirmed, closed.
    status: Option<String>,
    /// Only complaints whose step in progress is late.
    #[serde(default)]
    overdue: bool,
    queue_id: Option<i64>,
    /// vip, key, regular, low.
    tier: Option<String>,
    customer_id: Option<i64>,
    /// RFC 3339: created at or after.
    from: Option<String>,
    /// RFC 3339: created at or before.
    to: Option<String>,
    /// Page size (1..=500, default 100).
    limit: Option<i64>,
    offset: Option<i64>,
}

fn rfc3339(field: &str, v: &Option<String>) -> AppResult<Option<i64>> {
    v.as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<jiff::Timestamp>()
                .map(|t| t.as_millisecond())
                .map_err(|_| AppError::validation(field, format!("{field} must be RFC 3339")))
        })
        .transpose()
}

fn filter(q: &RegisterQuery) -> AppResult<RegisterFilter> {
    if let Some(s) = q.severity
        && !(1..=4).contains(&s)
    {
        return Err(AppError::validation("severity", "severity must be 1..=4"));
    }
    let status = q.status.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(s) = status
        && !super::STATUSES.contains(&s)
    {
        return Err(AppError::validation(
            "status",
            "status must be received, acknowledged, investigating, responded, confirmed or closed",
        ));
    }
    let tier = q.tier.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(t) = tier
        && !["vip", "key", "regular", "low"].contains(&t)
    {
        return Err(AppError::validation(
            "tier",
            "tier must be vip, key, regular or low",
        ));
    }
    Ok(RegisterFilter {
        category_id: q.category_id,
        severity: q.severity,
        status: status.map(str::to_string),
        overdue: q.overdue,
        queue_id: q.queue_id,
        tier: tier.map(str::to_string),
        customer_id: q.customer_id,
        from: rfc3339("from", &q.from)?,
        to: rfc3339("to", &q.to)?,
    })
}

async fn register(
    State(state): State<AppState>,
    Query(q): Query<RegisterQuery>,
) -> AppResult<axum::Json<super::Register>> {
    let f = filter(&q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::validation("limit", "limit must be 1..=500"));
    }
    let offset = q.offset.unwrap_or(0).max(0);
    Ok(axum::Json(
        super::register(&state.db, &f, state.clock.now_ms(), limit, offset).await?,
    ))
}

/// Most rows one CSV export holds.
const CSV_MAX: i64 = 100_000;

async fn export_csv(
    State(state): State<AppState>,
    Query(q): Query<RegisterQuery>,
) -> AppResult<Response> {
    let f = filter(&q)?;
    let now = state.clock.now_ms();
    let rows = super::store::register(&state.db, &f, now, CSV_MAX, 0).await?;
    // A UTF-8 byte order mark: spreadsheets then read Chinese correctly.
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let cell = |s: &str| crate::auth::csv_cell(s).into_owned();
    let ms = |v: Option<i64>| {
        v.and_then(|v| jiff::Timestamp::from_millisecond(v).ok())
            .map(|t| t.to_string())
            .unwrap_or_default()
    };
    w.write_record([
        "ticket_id",
        "created_at",
        "category",
        "severity",
        "status",
        "overdue",
        "subject",
        "customer",
        "tier",
        "queue",
        "owner",
        "channel",
        "order_ref",
        "desired_outcome",
        "ack_due",
        "acknowledged_at",
        "respond_due",
        "responded_at",
        "close_due",
        "closed_at",
        "confirmation",
        "reopened",
    ])
    .map_err(AppError::internal)?;
    for r in rows {
        let i = super::item(r, now);
        let c = &i.complaint;
        w.write_record([
            c.ticket_id.to_string(),
            ms(Some(c.created_at)),
            c.category_code.clone(),
            c.severity.to_string(),
            c.status.clone(),
            c.overdue.clone().unwrap_or_default(),
            cell(&i.subject),
            cell(i.customer_name.as_deref().unwrap_or("")),
            i.tier.clone().unwrap_or_default(),
            i.queue_name.clone().unwrap_or_default(),
            i.assignee_name.clone().unwrap_or_default(),
            i.channel.clone(),
            cell(&c.order_ref),
            cell(&c.desired_outcome),
            ms(c.ack_due),
            ms(c.acknowledged_at),
            ms(c.respond_due),
            ms(c.responded_at),
            ms(c.close_due),
            ms(c.closed_at),
            c.confirmation.clone().unwrap_or_default(),
            c.reopened.to_string(),
        ])
        .map_err(AppError::internal)?;
    }
    let body = w.into_inner().map_err(AppError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"complaints.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}
