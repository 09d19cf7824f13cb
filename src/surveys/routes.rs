//! HTTP for surveys: the public page and its API (by the link's token, rate-limited per client
//! address), a queue's survey settings, an agent's verbal score, and the CSAT report.

use super::{QueueSurvey, SurveyInfo, Via};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::http::extract::{AuthUser, Json, Path, Query};
use crate::http::{Access, Routes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

pub fn routes(r: Routes) -> Routes {
    r.add(
        "GET",
        "/survey/{token}",
        "surveys",
        Access::Public,
        "The survey page of a link (web/survey.html; the page reads the survey through \
         /api/survey/{token})",
        get(page),
    )
    .returns_raw(200, "text/html")
    .add(
        "GET",
        "/api/survey/{token}",
        "surveys",
        Access::Public,
        "A survey by its link's token: `open`, `answered` or `expired`, its language and \
         ticket number (404 for a token that opens nothing); limited per client address",
        get(open),
    )
    .returns::<PublicSurvey>(200)
    .add(
        "POST",
        "/api/survey/{token}",
        "surveys",
        Access::Public,
        "Answer a survey: `score` 1–5 (else 422 `unprocessable`) and an optional `comment`; \
         an expired or answered survey is 409 `conflict` and records nothing",
        post(answer),
    )
    .body::<AnswerBody>()
    .returns::<PublicSurvey>(200)
    .add(
        "POST",
        "/api/survey/{token}/opt-out",
        "surveys",
        Access::Public,
        "The survey's customer wants no more surveys (the email's unsubscribe link)",
        post(opt_out),
    )
    .no_body()
    .no_content()
    .add(
        "GET",
        "/api/queues/{id}/survey",
        "surveys",
        Access::Supervisor,
        "A queue's survey settings: on/off, delay after resolution, keypad survey after calls",
        get(get_settings),
    )
    .returns::<QueueSurvey>(200)
    .add(
        "PUT",
        "/api/queues/{id}/survey",
        "surveys",
        Access::Supervisor,
        "Set a queue's survey settings (supervisors of the queue, admins; audited \
         `queue.survey`)",
        axum::routing::put(put_settings),
    )
    .body::<QueueSurvey>()
    .returns::<QueueSurvey>(200)
    .add(
        "POST",
        "/api/tickets/{id}/survey",
        "surveys",
        Access::Agent,
        "Record the customer's verbal score from a call (agents who may open the ticket); \
         409 `conflict` when the ticket's survey is answered already",
        post(verbal),
    )
    .body::<AnswerBody>()
    .returns::<SurveyInfo>(201)
    .add(
        "PUT",
        "/api/customers/{id}/survey-opt-out",
        "surveys",
        Access::Agent,
        "The customer wants no satisfaction surveys (`true`), or again (`false`)",
        axum::routing::put(set_opt_out),
    )
    .body::<OptOutBody>()
    .returns::<OptOutBody>(200)
    .add(
        "GET",
        "/api/reports/csat",
        "surveys",
        Access::Supervisor,
        "Satisfaction per agent, queue, channel or complaint category over a period (RFC 3339 `from`, `to`): \
         answers, CSAT % (share of scores 4–5), average score, sent, response rate",
        get(report),
    )
    .query::<ReportQuery>()
    .returns::<super::CsatReport>(200)
    .add(
        "POST",
        super::keypad::PATH,
        "surveys",
        Access::Webhook,
        "Twilio: the keypad survey after a call (the connecting <Dial>'s action; then the \
         caller's digit 1–5)",
        post(super::keypad::receive),
    )
    .body_raw("application/x-www-form-urlencoded")
    .returns_raw(200, "text/xml")
}

async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    crate::http::assets::file(&state, &headers, "survey.html")
}

/// What the public page learns of a survey: nothing about the customer or the ticket beyond
/// its number.
#[derive(Serialize, schemars::JsonSchema)]
struct PublicSurvey {
    /// `open`, `answered` or `expired`.
    state: String,
    /// `en` or `zh-CN` (the customer's language).
    language: String,
    ticket_number: i64,
    /// The recorded score once answered.
    score: Option<i64>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct AnswerBody {
    /// 1 (very unhappy) … 5 (very happy).
    score: i64,
    #[serde(default)]
    comment: String,
}

fn limited(state: &AppState, peer: SocketAddr) -> AppResult<()> {
    state
        .limits
        .portal
        .surveys
        .take(&crate::limits::client_key(peer.ip()))
        .map_err(|retry_after| AppError::RateLimited { retry_after })
}

async fn opened(state: &AppState, token: &str) -> AppResult<super::store::Opened> {
    let token = token.trim();
    if token.is_empty() || token.len() > 100 {
        return Err(AppError::NotFound("survey"));
    }
    super::store::by_token(&state.db, token)
        .await?
        .ok_or(AppError::NotFound("survey"))
}

fn public(state: &AppState, s: &super::store::Opened) -> PublicSurvey {
    let st = if s.answered_at.is_some() {
        "answered"
    } else if s.expires_at.is_some_and(|e| e <= state.clock.now_ms()) {
        "expired"
    } else {
        "open"
    };
    PublicSurvey {
        state: st.into(),
        language: s.language.clone(),
        ticket_number: s.ticket_id,
        score: s.score,
    }
}

async fn open(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
) -> AppResult<axum::Json<PublicSurvey>> {
    limited(&state, peer)?;
    let s = opened(&state, &token).await?;
    Ok(axum::Json(public(&state, &s)))
}

async fn answer(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    Json(b): Json<AnswerBody>,
) -> AppResult<axum::Json<PublicSurvey>> {
    limited(&state, peer)?;
    let s = opened(&state, &token).await?;
    super::check_answer(b.score, &b.comment)?;
    match public(&state, &s).state.as_str() {
        "answered" => {
            return Err(AppError::Conflict(
                "this survey was already answered".into(),
            ));
        }
        "expired" => return Err(AppError::Conflict("this survey has expired".into())),
        _ => {}
    }
    let info =
        super::record_answer(&state.db, s.ticket_id, b.score, &b.comment, Via::Portal).await?;
    Ok(axum::Json(PublicSurvey {
        state: "answered".into(),
        language: s.language,
        ticket_number: s.ticket_id,
        score: info.score,
    }))
}

async fn opt_out(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
) -> AppResult<StatusCode> {
    limited(&state, peer)?;
    let s = opened(&state, &token).await?;
    if let Some(c) = s.customer_id {
        super::store::set_opt_out(&state.db, c, true).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct OptOutBody {
    opted_out: bool,
}

async fn set_opt_out(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<OptOutBody>,
) -> AppResult<axum::Json<OptOutBody>> {
    crate::customers::store::find_customer(&state.db, id).await?;
    super::store::set_opt_out(&state.db, id, b.opted_out).await?;
    Ok(axum::Json(b))
}

async fn get_settings(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<QueueSurvey>> {
    crate::routing::store::find_queue(&state.db, id).await?;
    Ok(axum::Json(
        super::store::queue_settings(&mut &state.db, id).await?,
    ))
}

async fn put_settings(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Path<i64>,
    Json(mut b): Json<QueueSurvey>,
) -> AppResult<axum::Json<QueueSurvey>> {
    crate::routing::store::find_queue(&state.db, id).await?;
    crate::routing::check_manages(&state.db, &actor, id).await?;
    b.queue_id = id;
    b.check()?;
    let s = super::store::set_queue_settings(&state.db, &b, state.clock.now_ms()).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(actor.id),
        "queue.survey",
        &format!("queue:{id}"),
        serde_json::json!(s),
    )
    .await?;
    Ok(axum::Json(s))
}

async fn verbal(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<AnswerBody>,
) -> AppResult<(StatusCode, axum::Json<SurveyInfo>)> {
    let ticket = crate::tickets::store::find_ticket(&mut &state.db, id).await?;
    let sees = crate::tickets::store::visibility(&state.db, &user).await?;
    if !sees.sees_ticket(&ticket) {
        return Err(AppError::NotFound("ticket"));
    }
    let info =
        super::record_answer(&state.db, id, b.score, &b.comment, Via::Agent(user.id)).await?;
    Ok((StatusCode::CREATED, axum::Json(info)))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ReportQuery {
    /// RFC 3339; surveys sent (or, taken on a call, answered) at or after it.
    from: String,
    /// RFC 3339; … at or before it.
    to: String,
    /// `agent` (the ticket's assignee when it was resolved), `queue`, `channel` or `category`
    /// (complaint tickets by complaint category); default `queue`.
    group: Option<String>,
}

fn rfc3339(field: &str, v: &str) -> AppResult<i64> {
    v.trim()
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            AppError::validation(
                field,
                format!("{field} must be an RFC 3339 time, e.g. 2026-12-03T09:00:00+08:00"),
            )
        })
}

async fn report(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> AppResult<axum::Json<super::CsatReport>> {
    let from = rfc3339("from", &q.from)?;
    let to = rfc3339("to", &q.to)?;
    if from > to {
        return Err(AppError::validation("to", "to must not be before from"));
    }
    let group = super::Group::parse(q.group.as_deref().unwrap_or("queue")).ok_or_else(|| {
        AppError::validation("group", "group must be agent, queue, channel or category")
    })?;
    Ok(axum::Json(super::report(&state.db, from, to, group).await?))
}
