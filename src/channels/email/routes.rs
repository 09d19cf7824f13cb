//! HTTP of the email channel: the inbound mail list for admins (quarantined messages with their
//! error, re-processing), ack templates. Attachments download through `tickets::routes`.

use super::{receive, store};
use crate::app::AppState;
use crate::error::{AppError, AppResult, required_text};
use crate::http::extract::{AuthUser, Json, Path, Query};
use crate::http::{Access, Routes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;

pub fn routes(r: Routes) -> Routes {
    let r = r
        .add(
            "GET",
            "/api/email/inbound",
            "email",
            Access::Admin,
            "Raw inbound mail by status (e.g. quarantined, with its error)",
            get(list_inbound),
        )
        .add(
            "GET",
            "/api/email/inbound/{id}/raw",
            "email",
            Access::Admin,
            "The raw message exactly as received",
            get(get_inbound_raw),
        )
        .add(
            "POST",
            "/api/email/inbound/{id}/retry",
            "email",
            Access::Admin,
            "Process a quarantined or failed message again",
            post(retry_inbound),
        )
        .add(
            "PUT",
            "/api/email/ack-templates",
            "email",
            Access::Admin,
            "Set the acknowledgement template of a queue (0: default) and language",
            put(put_ack_template),
        );
    crate::channels::ack::routes(r)
}

#[derive(Deserialize)]
struct InboundQuery {
    status: Option<String>,
    /// Page on: only ids below this one (the last id of the previous page).
    before_id: Option<i64>,
    limit: Option<i64>,
}

async fn list_inbound(
    State(state): State<AppState>,
    Query(q): Query<InboundQuery>,
) -> AppResult<axum::Json<Vec<store::InboundMail>>> {
    if let Some(s) = &q.status
        && !["received", "processed", "failed", "quarantined"].contains(&s.as_str())
    {
        return Err(AppError::validation(
            "status",
            "status must be received, processed, failed or quarantined",
        ));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    Ok(axum::Json(
        store::list_inbound(&state.db, q.status.as_deref(), q.before_id, limit).await?,
    ))
}

async fn get_inbound_raw(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let m = store::find_inbound(&state.db, id).await?;
    if m.raw.is_empty() && m.status == "processed" {
        // Purged after HOTLINE_RAW_MAIL_DAYS (the ticket keeps what was taken from it).
        return Err(AppError::NotFound("raw message (purged by retention)"));
    }
    Ok(([(header::CONTENT_TYPE, "message/rfc822")], m.raw).into_response())
}

/// Processes the message again and answers with its state afterwards: processed (with its
/// ticket), or still failing with the reason (never a 500 for a mail that fails again).
async fn retry_inbound(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<serde_json::Value>> {
    let m = store::find_inbound(&state.db, id).await?;
    if m.status == "processed" {
        return Err(AppError::Conflict(
            "this message was already processed".into(),
        ));
    }
    store::reset_for_retry(&state.db, id).await?;
    if let Err(e) = receive::process(&state, id).await {
        tracing::warn!(id, error = %e, "re-processing inbound mail failed");
    }
    let m = store::find_inbound(&state.db, id).await?;
    Ok(axum::Json(serde_json::json!({
        "id": id,
        "status": m.status,
        "error": m.error,
        "ticket_id": m.ticket_id,
        "interaction_id": m.interaction_id,
    })))
}

#[derive(Deserialize)]
struct AckTemplateBody {
    #[serde(default)]
    queue_id: i64,
    language: String,
    subject: String,
    body: String,
}

/// The email acknowledgement's template; the same store and checks as `PUT /api/ack-templates`
/// with channel `email`.
async fn put_ack_template(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Json(b): Json<AckTemplateBody>,
) -> AppResult<axum::Json<serde_json::Value>> {
    let t = crate::channels::ack::NewTemplate {
        queue_id: b.queue_id,
        language: required_text("language", &b.language, 10)?,
        channel: "email".into(),
        subject: b.subject,
        body: b.body,
    };
    crate::channels::ack::set(&state.db, Some(actor.id), &t).await?;
    Ok(axum::Json(
        serde_json::json!({"queue_id": t.queue_id, "language": t.language}),
    ))
}
