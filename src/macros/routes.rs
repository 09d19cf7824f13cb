//! `/api/macros`: list, create, change, delete, apply. The rules are in `macros` (mod.rs).

use super::{Actions, Applied, Filter, Macro, MacroChanges, NewMacro, PLACEHOLDERS, Reader};
use crate::app::AppState;
use crate::error::AppResult;
use crate::http::extract::{AuthUser, Json, Path, Query};
use crate::http::{Access, Routes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use serde::{Deserialize, Serialize};

pub fn routes(r: Routes) -> Routes {
    r.add(
        "GET",
        "/api/macros",
        "macros",
        Access::Agent,
        "The macros the reader may use: their personal ones, the shared ones of their queues and \
         for every queue (admins: every shared one); ?q= (title or body), ?language= (zh-CN, \
         en), ?queue_id= (only those usable on a ticket of that queue)",
        get(list),
    )
    .query::<ListQuery>()
    .returns::<MacroList>(200)
    .add(
        "POST",
        "/api/macros",
        "macros",
        Access::Agent,
        "Create a macro {title, body, language, scope (personal | shared), queue_id, actions}: \
         agents personal ones, supervisors shared ones of queues they work, admins any",
        post(create),
    )
    .body::<CreateBody>()
    .returns::<Macro>(201)
    .add(
        "PATCH",
        "/api/macros/{id}",
        "macros",
        Access::Agent,
        "Change a macro the reader may manage",
        patch(update),
    )
    .body::<UpdateBody>()
    .returns::<Macro>(200)
    .add(
        "DELETE",
        "/api/macros/{id}",
        "macros",
        Access::Agent,
        "Delete a macro the reader may manage",
        axum::routing::delete(delete),
    )
    .no_content()
    .add(
        "POST",
        "/api/macros/{id}/apply",
        "macros",
        Access::Agent,
        "Apply a macro to a ticket {ticket_id, dry_run}: the text with placeholders filled in and \
         the actions that changed the ticket (none with dry_run)",
        post(apply),
    )
    .body::<ApplyBody>()
    .returns::<Applied>(200)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListQuery {
    q: Option<String>,
    language: Option<String>,
    queue_id: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct MacroList {
    macros: Vec<Macro>,
    /// The placeholders a body may use.
    placeholders: [&'static str; 5],
}

async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ListQuery>,
) -> AppResult<axum::Json<MacroList>> {
    let reader = Reader::of(&state.db, user).await?;
    let filter = Filter {
        q: q.q,
        language: q.language.filter(|l| !l.trim().is_empty()),
        queue_id: q.queue_id,
    };
    Ok(axum::Json(MacroList {
        macros: super::list(&state.db, &reader, &filter).await?,
        placeholders: PLACEHOLDERS,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct CreateBody {
    title: String,
    body: String,
    /// `zh-CN` or `en`.
    language: String,
    /// `personal` (default) or `shared`.
    scope: Option<String>,
    /// A shared macro's queue; none: every queue.
    queue_id: Option<i64>,
    #[serde(default)]
    actions: Actions,
}

async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<CreateBody>,
) -> AppResult<(StatusCode, axum::Json<Macro>)> {
    let reader = Reader::of(&state.db, user).await?;
    let m = NewMacro {
        title: b.title,
        body: b.body,
        language: b.language,
        scope: b.scope.unwrap_or_else(|| "personal".into()),
        queue_id: b.queue_id,
        actions: b.actions,
    };
    let saved = super::create(&state.db, &reader, m).await?;
    Ok((StatusCode::CREATED, axum::Json(saved)))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct UpdateBody {
    title: Option<String>,
    body: Option<String>,
    language: Option<String>,
    scope: Option<String>,
    /// null: every queue.
    #[serde(default, deserialize_with = "crate::http::extract::nullable")]
    #[schemars(with = "Option<i64>")]
    queue_id: Option<Option<i64>>,
    /// Replaces the actions.
    actions: Option<Actions>,
}

async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<UpdateBody>,
) -> AppResult<axum::Json<Macro>> {
    let reader = Reader::of(&state.db, user).await?;
    let changes = MacroChanges {
        title: b.title,
        body: b.body,
        language: b.language,
        scope: b.scope,
        queue_id: b.queue_id,
        actions: b.actions,
    };
    Ok(axum::Json(
        super::update(&state.db, &reader, id, changes).await?,
    ))
}

async fn delete(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    let reader = Reader::of(&state.db, user).await?;
    super::delete(&state.db, &reader, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ApplyBody {
    ticket_id: i64,
    /// Only render: change nothing (the composer's preview).
    #[serde(default)]
    dry_run: bool,
}

async fn apply(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<ApplyBody>,
) -> AppResult<axum::Json<Applied>> {
    let reader = Reader::of(&state.db, user).await?;
    Ok(axum::Json(
        super::apply(&state.db, &reader, id, b.ticket_id, b.dry_run).await?,
    ))
}
