//! HTTP for one's own notifications: the list with the unseen count, and marking them seen.

use super::Notification;
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::http::extract::{AuthUser, Json, Query};
use crate::http::{Access, Routes};
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

pub fn routes(r: Routes) -> Routes {
    r.add(
        "GET",
        "/api/notifications",
        "notifications",
        Access::Agent,
        "One's notifications (mentions), newest first, with the unseen count; `unseen=true` \
         lists only unseen ones; pages with `before_id` and `limit` (≤ 100)",
        get(list),
    )
    .query::<ListQuery>()
    .returns::<NotificationPage>(200)
    .add(
        "POST",
        "/api/notifications/seen",
        "notifications",
        Access::Agent,
        "Mark one's notifications seen: `ids`, or all when `ids` is absent; answers the unseen \
         count left",
        post(seen),
    )
    .body::<SeenBody>()
    .returns::<Unseen>(200)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListQuery {
    unseen: Option<bool>,
    before_id: Option<i64>,
    limit: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct NotificationPage {
    items: Vec<Notification>,
    /// How many of one's notifications are unseen (all pages).
    unseen: i64,
    /// Pass as `before_id` for the next page; null at the end.
    next: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ListQuery>,
) -> AppResult<axum::Json<NotificationPage>> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(AppError::validation(
            "limit",
            "limit must be between 1 and 100",
        ));
    }
    let items = super::list(
        &state.db,
        user.id,
        q.before_id,
        q.unseen.unwrap_or(false),
        limit,
    )
    .await?;
    let next = (items.len() as i64 == limit)
        .then(|| items.last().map(|n| n.id))
        .flatten();
    let unseen = super::unseen_count(&state.db, user.id).await?;
    Ok(axum::Json(NotificationPage {
        items,
        unseen,
        next,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct SeenBody {
    /// The notifications to mark; absent: all of one's notifications.
    ids: Option<Vec<i64>>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Unseen {
    unseen: i64,
}

async fn seen(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<SeenBody>,
) -> AppResult<axum::Json<Unseen>> {
    if b.ids.as_ref().is_some_and(|ids| ids.len() > 500) {
        return Err(AppError::validation("ids", "at most 500 ids at once"));
    }
    let unseen = super::mark_seen(&state.db, user.id, b.ids.as_deref()).await?;
    Ok(axum::Json(Unseen { unseen }))
}
