//! HTTP for tickets, their thread, notes, replies (through the outbox) and the hand-over of a
//! leaving agent's work.

use super::store::{self, NewInteraction, NewTicket, TicketChanges, TicketFilter};
use super::{Channel, Direction, Interaction, Kind, Priority, Status, Ticket, attachments};
use crate::app::AppState;
use crate::auth::User;
use crate::customers::identity::IdentityKind;
use crate::error::{AppError, AppResult, optional_text, required_text};
use crate::http::extract::{AuthUser, IfMatch, Json, Path, Query, with_etag};
use crate::http::{Access, Routes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub fn routes(r: Routes) -> Routes {
    r.add("GET", "/api/tickets", "tickets", Access::Agent,
        "List or search tickets with their SLA (q: words in the subject or messages; filters: status, open, queue_id, assignee_id, unassigned, customer_id, kind, channel, tag, tier, created/updated range; sort newest or sla)", get(list_tickets))
        .query::<ListQuery>()
        .returns::<Vec<TicketItem>>(200)
        .add("POST", "/api/tickets", "tickets", Access::Agent, "Create a ticket", post(create_ticket))
        .body::<CreateTicketBody>()
        .returns::<Ticket>(201)
        .add("POST", "/api/tickets/bulk", "tickets", Access::Agent,
            "Change many tickets at once (assign_to, status, add_tags, queue_id; or merge_into: every other one is merged into that ticket): all or nothing", post(bulk_update))
        .body::<BulkBody>()
        .returns::<BulkResult>(200)
        .add("GET", "/api/tickets/{id}", "tickets", Access::Agent, "A ticket with its whole thread", get(get_ticket))
        .returns::<TicketView>(200)
        .add("PATCH", "/api/tickets/{id}", "tickets", Access::Agent,
            "Change status, priority, kind, queue, assignee, tags or subject", patch(update_ticket))
        .body::<UpdateTicketBody>()
        .returns::<Ticket>(200)
        .add("POST", "/api/tickets/{id}/callback/outcome", "tickets", Access::Agent,
            "Record a callback's outcome: reached, no_answer, wrong_number or later (retry_at_ms)",
            post(callback_outcome))
        .body::<crate::routing::callbacks::OutcomeBody>()
        .returns::<TicketView>(200)
        .add("POST", "/api/tickets/{id}/notes", "tickets", Access::Agent, "Add an internal note", post(add_note))
        .body::<NoteBody>()
        .returns::<Interaction>(201)
        .add("POST", "/api/tickets/{id}/replies", "tickets", Access::Agent,
            "Reply to the customer by email or SMS (queued in the outbox)", post(add_reply))
        .body::<ReplyBody>()
        .returns::<Interaction>(201)
        .add("POST", "/api/tickets/{id}/merge", "tickets", Access::Agent,
            "Merge this ticket into another (`into`): its thread moves, it closes", post(merge_ticket))
        .body::<MergeBody>()
        .returns::<Ticket>(200)
        .add("GET", "/api/interactions/{id}/html", "tickets", Access::Agent,
            "An HTML message ready to show; `remote=true` loads its remote images", get(interaction_html))
        .query::<HtmlQuery>()
        .returns::<super::html::Shown>(200)
        .add("GET", "/api/attachments/{id}", "tickets", Access::Agent,
            "Download an attachment (email or portal) of a ticket one may see", get(get_attachment))
        .returns_raw(200, "application/octet-stream")
        .add("POST", "/api/interactions/{id}/split", "tickets", Access::Agent,
            "Move one message out of its ticket into a new ticket", post(split_interaction))
        .no_body()
        .returns::<Ticket>(201)
        .add("POST", "/api/users/{id}/handover", "users", Access::Supervisor,
            "Hand all open tickets and owned customers of a user to another user", post(handover))
        .body::<HandoverBody>()
        .returns::<HandoverResult>(200)
        .add("GET", "/api/views", "tickets", Access::Agent,
            "Saved ticket views one may use: one's own and the shared ones", get(list_views))
        .returns::<Vec<super::views::SavedView>>(200)
        .add("POST", "/api/views", "tickets", Access::Agent,
            "Save a view {name, filters {scope, status, kind, sort}, columns, shared (supervisors)}",
            post(create_view))
        .body::<super::views::ViewChange>()
        .returns::<super::views::SavedView>(201)
        .add("PATCH", "/api/views/{id}", "tickets", Access::Agent,
            "Change a saved view (its owner; admins any)", patch(update_view))
        .body::<super::views::ViewChange>()
        .returns::<super::views::SavedView>(200)
        .add("DELETE", "/api/views/{id}", "tickets", Access::Agent,
            "Delete a saved view (its owner; admins any)", axum::routing::delete(delete_view))
        .no_content()
}

async fn list_views(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> AppResult<axum::Json<Vec<super::views::SavedView>>> {
    Ok(axum::Json(super::views::list(&state.db, &user).await?))
}

async fn create_view(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<super::views::ViewChange>,
) -> AppResult<(StatusCode, axum::Json<super::views::SavedView>)> {
    let v = super::views::create(&state.db, &user, &b).await?;
    Ok((StatusCode::CREATED, axum::Json(v)))
}

async fn update_view(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<super::views::ViewChange>,
) -> AppResult<axum::Json<super::views::SavedView>> {
    Ok(axum::Json(
        super::views::update(&state.db, &user, id, &b).await?,
    ))
}

async fn delete_view(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    super::views::delete(&state.db, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether `user` may open `t` (the rule is [`super::Visibility`]).
pub async fn can_see(state: &AppState, user: &User, t: &Ticket) -> AppResult<bool> {
    Ok(store::visibility(&state.db, user).await?.sees_ticket(t))
}

async fn visible_ticket(state: &AppState, user: &User, id: i64) -> AppResult<Ticket> {
    let t = store::find_ticket(&mut &state.db, id).await?;
    if !can_see(state, user, &t).await? {
        // Not 403: the existence of a ticket outside one's queues is not disclosed.
        return Err(AppError::NotFound("ticket"));
    }
    Ok(t)
}

fn parse<T>(
    field: &str,
    v: Option<&str>,
    f: fn(&str) -> Option<T>,
    allowed: &str,
) -> AppResult<Option<T>> {
    v.map(|s| {
        f(s).ok_or_else(|| AppError::validation(field, format!("{field} must be one of {allowed}")))
    })
    .transpose()
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct ListQuery {
    /// Words to find in the subject or any message (bodies, subjects, addresses), Chinese or
    /// English; every word must occur. Results come best first unless `sort` is given.
    pub q: Option<String>,
    pub status: Option<String>,
    pub open: Option<bool>,
    pub queue_id: Option<i64>,
    pub assignee_id: Option<i64>,
    /// Only tickets nobody holds.
    pub unassigned: Option<bool>,
    pub customer_id: Option<i64>,
    pub kind: Option<String>,
    /// `email`, `sms`, `voice`, `web` or `note`.
    pub channel: Option<String>,
    /// Tickets carrying this tag.
    pub tag: Option<String>,
    /// Tickets of customers of this tier: `vip`, `key`, `regular`, `low`.
    pub tier: Option<String>,
    /// Created at or after / at or before (ms since the epoch).
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    /// Last changed at or after / at or before (ms since the epoch).
    pub updated_from: Option<i64>,
    pub updated_to: Option<i64>,
    /// `newest` (default without `q`; pages with `before_id`), `sla` (the running SLA clock's
    /// due time, most urgent first; pages with `offset`) or `relevance` (default with `q`;
    /// pages with `offset`).
    pub sort: Option<String>,
    pub before_id: Option<i64>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

/// A ticket of a list, with its SLA (none when no target applies to its work).
#[derive(Serialize, schemars::JsonSchema)]
pub struct TicketItem {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub sla: Option<super::TicketSla>,
}

/// The filter of a list query as the user may run it: agents see their queues and their
/// tickets only.
pub async fn list_filter(state: &AppState, user: &User, q: &ListQuery) -> AppResult<TicketFilter> {
    let visible_queues = if user.is_supervisor() {
        None
    } else {
        Some(crate::routing::store::queues_of_user(&state.db, user.id).await?)
    };
    let text =
        q.q.as_deref()
            .map(|t| optional_text("q", t, 200))
            .transpose()?
            .filter(|t| !t.trim().is_empty());
    let sort = match (q.sort.as_deref(), &text) {
        (None, None) | (Some("newest"), _) => store::TicketSort::Newest,
        (None, Some(_)) | (Some("relevance"), _) => store::TicketSort::Ids,
        (Some("sla"), _) => store::TicketSort::Sla,
        (Some(_), _) => {
            return Err(AppError::validation(
                "sort",
                "sort must be newest, sla or relevance",
            ));
        }
    };
    let ids = match &text {
        None if sort == store::TicketSort::Ids => {
            return Err(AppError::validation("sort", "sort=relevance needs q"));
        }
        None => None,
        Some(text) => {
            // Apply every change committed before this search first (on any node).
            crate::tickets::search::catch_up(&state.tickets_index, &state.db)
                .await
                .map_err(AppError::Internal)?;
            let idx = state.tickets_index.clone();
            let text = text.clone();
            let found = tokio::task::spawn_blocking(move || idx.search(&text))
                .await
                .map_err(|e| AppError::Internal(e.into()))?
                .map_err(AppError::Internal)?;
            // Only function words or punctuation: nothing to find.
            Some(found.unwrap_or_default())
        }
    };
    let tier = match q.tier.as_deref() {
        None => None,
        Some(t @ ("vip" | "key" | "regular" | "low")) => Some(t.to_string()),
        Some(_) => {
            return Err(AppError::validation(
                "tier",
                "tier must be one of vip, key, regular, low",
            ));
        }
    };
    let tag = q
        .tag
        .as_deref()
        .map(|t| required_text("tag", t, 50))
        .transpose()?;
    Ok(TicketFilter {
        status: parse(
            "status",
            q.status.as_deref(),
            Status::parse,
            "new, open, pending, resolved, closed",
        )?,
        open_only: q.open.unwrap_or(false),
        queue_id: q.queue_id,
        assignee_id: q.assignee_id,
        unassigned: q.unassigned.unwrap_or(false),
        customer_id: q.customer_id,
        kind: parse(
            "kind",
            q.kind.as_deref(),
            Kind::parse,
            "inquiry, complaint, request, incident, callback",
        )?,
        channel: parse(
            "channel",
            q.channel.as_deref(),
            Channel::parse,
            "email, sms, voice, web, note",
        )?,
        tag,
        tier,
        created_from: q.created_from,
        created_to: q.created_to,
        updated_from: q.updated_from,
        updated_to: q.updated_to,
        ids,
        visible_queues,
        visible_to_user: Some(user.id),
        before_id: q.before_id,
        sort,
        offset: q.offset.unwrap_or(0).max(0),
        limit: q.limit.unwrap_or(50).clamp(1, 200),
    })
}

/// Tickets with their SLA.
pub async fn with_sla(state: &AppState, list: Vec<Ticket>) -> AppResult<Vec<TicketItem>> {
    let mut sla = store::sla_of(&state.db, &list).await?;
    Ok(list
        .into_iter()
        .map(|t| TicketItem {
            sla: sla.remove(&t.id),
            ticket: t,
        })
        .collect())
}

async fn list_tickets(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ListQuery>,
) -> AppResult<axum::Json<Vec<TicketItem>>> {
    let filter = list_filter(&state, &user, &q).await?;
    let list = store::list_tickets(&state.db, &filter).await?;
    Ok(axum::Json(with_sla(&state, list).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct CreateTicketBody {
    subject: String,
    body: Option<String>,
    priority: Option<String>,
    kind: Option<String>,
    channel: Option<String>,
    queue_id: Option<i64>,
    assignee_id: Option<i64>,
    customer_id: Option<i64>,
    #[serde(default)]
    tags: Vec<String>,
}

async fn create_ticket(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<CreateTicketBody>,
) -> AppResult<(StatusCode, axum::Json<Ticket>)> {
    let new = NewTicket {
        subject: required_text("subject", &b.subject, 500)?,
        priority: parse(
            "priority",
            b.priority.as_deref(),
            Priority::parse,
            "low, normal, high, urgent",
        )?
        .unwrap_or(Priority::Normal),
        kind: parse(
            "kind",
            b.kind.as_deref(),
            Kind::parse,
            "inquiry, complaint, request, incident, callback",
        )?
        .unwrap_or(Kind::Inquiry),
        channel: parse(
            "channel",
            b.channel.as_deref(),
            Channel::parse,
            "email, sms, voice, web, note",
        )?
        .unwrap_or(Channel::Voice),
        queue_id: b.queue_id,
        assignee_id: b.assignee_id,
        customer_id: b.customer_id,
        tags: b
            .tags
            .iter()
            .map(|t| required_text("tags", t, 50))
            .collect::<AppResult<_>>()?,
        subject_data: None,
    };
    let body = optional_text("body", b.body.as_deref().unwrap_or(""), 100_000)?;
    check_refs(&state, new.queue_id, new.assignee_id, new.customer_id).await?;
    let mut tx = state.db.begin().await?;
    let ticket = store::insert_ticket(&mut tx, &state.db, &new).await?;
    if !body.trim().is_empty() {
        store::insert_interaction(
            &mut tx,
            &state.db,
            &NewInteraction {
                ticket_id: ticket.id,
                customer_id: ticket.customer_id,
                channel: Channel::Note,
                direction: Direction::Internal,
                from_addr: user.login.clone(),
                to_addr: String::new(),
                subject: String::new(),
                body,
                external_id: None,
                author_id: Some(user.id),
                meta: json!({}),
            },
        )
        .await?;
    }
    crate::realtime::events::commit(tx).await?;
    Ok((StatusCode::CREATED, axum::Json(ticket)))
}

async fn check_refs(
    state: &AppState,
    queue_id: Option<i64>,
    assignee_id: Option<i64>,
    customer_id: Option<i64>,
) -> AppResult<()> {
    if let Some(q) = queue_id {
        crate::routing::store::find_queue(&state.db, q)
            .await
            .map_err(|_| AppError::validation("queue_id", "queue_id is not a queue"))?;
    }
    if let Some(u) = assignee_id {
        crate::auth::store::find_user(&state.db, u)
            .await
            .map_err(|_| AppError::validation("assignee_id", "assignee_id is not a user"))?;
    }
    if let Some(c) = customer_id {
        crate::customers::store::find_customer(&state.db, c)
            .await
            .map_err(|_| AppError::validation("customer_id", "customer_id is not a customer"))?;
    }
    Ok(())
}

#[derive(Serialize, schemars::JsonSchema)]
struct TicketView {
    ticket: Ticket,
    /// Each with its `attachments` and, for HTML mail, `html` ready to show.
    interactions: Vec<attachments::InteractionView>,
    /// A callback ticket's number, reason, due time, tries and outcomes.
    #[serde(skip_serializing_if = "Option::is_none")]
    callback: Option<crate::routing::callbacks::CallbackInfo>,
    /// The ticket's SLA (none when no target applies to its work).
    sla: Option<super::TicketSla>,
    /// The satisfaction survey once sent or answered (none before, or when none is sent).
    survey: Option<crate::surveys::SurveyInfo>,
}

/// The ticket with its thread; its `ETag` is the ticket's version (send it back as `If-Match`
/// with a `PATCH`).
async fn get_ticket(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let view = ticket_view(&state, &user, id).await?;
    Ok(with_etag(view.ticket.version, view))
}

async fn ticket_view(state: &AppState, user: &User, id: i64) -> AppResult<TicketView> {
    let ticket = visible_ticket(state, user, id).await?;
    let interactions = store::list_interactions(&state.db, id).await?;
    let files = attachments::list_of_ticket(&state.db, id).await?;
    let callback = crate::routing::callbacks::info(&mut &state.db, id).await?;
    let voice: Vec<i64> = interactions
        .iter()
        .filter(|i| i.channel == crate::tickets::Channel::Voice)
        .map(|i| i.id)
        .collect();
    let mut calls = crate::channels::voice::store::summaries(&state.db, &voice).await?;
    let mut interactions = attachments::views(interactions, files);
    for v in &mut interactions {
        v.call = calls.remove(&v.interaction.id);
    }
    let sla = store::sla_of(&state.db, std::slice::from_ref(&ticket))
        .await?
        .remove(&id);
    let survey = crate::surveys::store::info(&mut &state.db, id).await?;
    Ok(TicketView {
        sla,
        ticket,
        interactions,
        callback,
        survey,
    })
}

#[derive(Deserialize, schemars::JsonSchema)]
struct HtmlQuery {
    #[serde(default)]
    remote: bool,
}

/// An interaction the user may see (404 otherwise, as for its ticket).
async fn visible_interaction(state: &AppState, user: &User, id: i64) -> AppResult<Interaction> {
    let interaction = store::find_interaction(&state.db, id).await?;
    visible_ticket(state, user, interaction.ticket_id).await?;
    Ok(interaction)
}

/// The "load images" action: the message's HTML with its remote content (or, without
/// `remote=true`, as `GET /api/tickets/{id}` shows it).
async fn interaction_html(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Query(q): Query<HtmlQuery>,
) -> AppResult<axum::Json<super::html::Shown>> {
    let interaction = visible_interaction(&state, &user, id).await?;
    let files = attachments::list_of_interaction(&state.db, id).await?;
    let shown = attachments::shown_html(&interaction, &files, q.remote)
        .ok_or(AppError::NotFound("html"))?;
    Ok(axum::Json(shown))
}

/// Downloads an attachment for users who may see its ticket (404 for others, as for a missing
/// one): its type, `attachment` disposition with the original name, never sniffed.
async fn get_attachment(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let a = attachments::find(&state.db, id).await?;
    visible_interaction(&state, &user, a.interaction_id)
        .await
        .map_err(|_| AppError::NotFound("attachment"))?;
    if !a.stored {
        return Err(AppError::NotFound("attachment"));
    }
    let bytes = tokio::fs::read(attachments::file_path(&state.config.data_dir, &a.sha256))
        .await
        .map_err(|_| AppError::NotFound("attachment"))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                attachments::content_type(&a.content_type),
            ),
            (
                header::CONTENT_DISPOSITION,
                attachments::content_disposition(&a.filename),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            // Opened directly, a file of a customer's never runs as a page of ours.
            (header::CONTENT_SECURITY_POLICY, "sandbox".into()),
            (header::CACHE_CONTROL, "private, max-age=300".into()),
        ],
        bytes,
    )
        .into_response())
}

/// Records the outcome of calling a callback ticket's customer back, and answers the ticket as
/// `GET /api/tickets/{id}` does.
async fn callback_outcome(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<crate::routing::callbacks::OutcomeBody>,
) -> AppResult<Response> {
    visible_ticket(&state, &user, id).await?;
    crate::routing::callbacks::record_outcome(&state.db, id, user.id, &b).await?;
    get_ticket(State(state), AuthUser(user), Path(id)).await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct UpdateTicketBody {
    subject: Option<String>,
    status: Option<String>,
    priority: Option<String>,
    kind: Option<String>,
    queue_id: Option<Option<i64>>,
    assignee_id: Option<Option<i64>>,
    customer_id: Option<Option<i64>>,
    tags: Option<Vec<String>>,
}

/// Changes only what the body names. With `If-Match` (the `ETag` of the ticket as read), a
/// ticket changed meanwhile is left alone: 412 `version_conflict` with the current version.
async fn update_ticket(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    IfMatch(if_version): IfMatch,
    Json(b): Json<UpdateTicketBody>,
) -> AppResult<Response> {
    let cur = visible_ticket(&state, &user, id).await?;
    let changes = TicketChanges {
        subject: b
            .subject
            .map(|s| required_text("subject", &s, 500))
            .transpose()?,
        status: parse(
            "status",
            b.status.as_deref(),
            Status::parse,
            "new, open, pending, resolved, closed",
        )?,
        priority: parse(
            "priority",
            b.priority.as_deref(),
            Priority::parse,
            "low, normal, high, urgent",
        )?,
        kind: parse(
            "kind",
            b.kind.as_deref(),
            Kind::parse,
            "inquiry, complaint, request, incident, callback",
        )?,
        queue_id: b.queue_id,
        assignee_id: b.assignee_id,
        customer_id: b.customer_id,
        tags: b
            .tags
            .map(|ts| {
                ts.iter()
                    .map(|t| required_text("tags", t, 50))
                    .collect::<AppResult<_>>()
            })
            .transpose()?,
    };
    // Agents may take a ticket or give it back; moving it to someone else is a supervisor's call.
    if let Some(Some(to)) = changes.assignee_id
        && to != user.id
        && !user.is_supervisor()
        && cur.assignee_id != Some(to)
    {
        return Err(AppError::Forbidden);
    }
    check_refs(
        &state,
        changes.queue_id.flatten(),
        changes.assignee_id.flatten(),
        changes.customer_id.flatten(),
    )
    .await?;
    let mut tx = state.db.begin().await?;
    let (before, after) =
        store::update_ticket_checked(&mut tx, &state.db, id, &changes, Some(user.id), if_version)
            .await?;
    if before.assignee_id != after.assignee_id && before.assignee_id.is_some() {
        crate::auth::store::insert_audit(
            &mut *tx,
            Some(user.id),
            "ticket.reassign",
            &format!("ticket:{id}"),
            json!({"from": before.assignee_id, "to": after.assignee_id}),
        )
        .await?;
    }
    crate::realtime::events::commit(tx).await?;
    Ok(with_etag(after.version, after))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NoteBody {
    body: String,
}

async fn add_note(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<NoteBody>,
) -> AppResult<(StatusCode, axum::Json<Interaction>)> {
    let ticket = visible_ticket(&state, &user, id).await?;
    let body = required_text("body", &b.body, 100_000)?;
    let mentioned = crate::notifications::mentioned_users(&state.db, &ticket, &user, &body).await?;
    let mut tx = state.db.begin().await?;
    let (i, _) = store::insert_interaction(
        &mut tx,
        &state.db,
        &NewInteraction {
            ticket_id: id,
            customer_id: ticket.customer_id,
            channel: Channel::Note,
            direction: Direction::Internal,
            from_addr: user.login.clone(),
            to_addr: String::new(),
            subject: String::new(),
            body,
            external_id: None,
            author_id: Some(user.id),
            meta: json!({}),
        },
    )
    .await?;
    crate::notifications::record_mentions(
        &mut tx,
        state.db.backend,
        &ticket,
        &i,
        &user,
        &mentioned,
    )
    .await?;
    crate::realtime::events::commit(tx).await?;
    Ok((StatusCode::CREATED, axum::Json(i)))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ReplyBody {
    body: String,
    /// `email` or `sms`; defaults to the channel the ticket came in on (email for calls and web).
    channel: Option<String>,
    /// Recipient; defaults to the customer's identity on that channel.
    to: Option<String>,
    html: Option<String>,
    /// Status to set with the reply (e.g. `pending` while waiting for the customer).
    status: Option<String>,
}

/// Stores the reply as an outbound interaction and queues it in the outbox, in one transaction:
/// the channel's sender delivers it with retries, so a crash between the two cannot happen.
async fn add_reply(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<ReplyBody>,
) -> AppResult<(StatusCode, axum::Json<Interaction>)> {
    let ticket = visible_ticket(&state, &user, id).await?;
    let body = required_text("body", &b.body, 100_000)?;
    let html = b
        .html
        .map(|h| optional_text("html", &h, 1_000_000))
        .transpose()?;
    let status = parse(
        "status",
        b.status.as_deref(),
        Status::parse,
        "new, open, pending, resolved, closed",
    )?;
    let channel = match b.channel.as_deref() {
        Some("email") => Channel::Email,
        Some("sms") => Channel::Sms,
        Some(_) => {
            return Err(AppError::validation(
                "channel",
                "channel must be email or sms",
            ));
        }
        None if ticket.channel == Channel::Sms => Channel::Sms,
        None => Channel::Email,
    };
    let kind = if channel == Channel::Sms {
        IdentityKind::Phone
    } else {
        IdentityKind::Email
    };
    let to = match b.to {
        Some(to) => crate::customers::identity::normalize(kind, &to, &state.phones)
            .map_err(|why| AppError::validation("to", format!("to {why}")))?,
        None => {
            let cid = ticket.customer_id.ok_or_else(|| {
                AppError::validation("to", "the ticket has no customer: give `to`")
            })?;
            let customer = crate::customers::store::find_customer(&state.db, cid).await?;
            customer
                .identities
                .iter()
                .find(|i| i.kind == kind)
                .map(|i| i.value.clone())
                .ok_or_else(|| {
                    AppError::validation(
                        "to",
                        format!("the customer has no {} identity: give `to`", kind.as_str()),
                    )
                })?
        }
    };
    if channel == Channel::Sms {
        // Refused now, like starting an SMS, rather than accepted and failed by the sender.
        crate::channels::sms::store::ensure_may_text(&state.db.pool, &to).await?;
    }
    let from = match channel {
        Channel::Sms => String::new(),
        _ => state.config.mail_from(),
    };
    let subject = match channel {
        Channel::Email => format!("Re: {} [#{}]", ticket.subject, ticket.id),
        _ => String::new(),
    };
    let mut tx = state.db.begin().await?;
    let (interaction, _) = store::insert_interaction(
        &mut tx,
        &state.db,
        &NewInteraction {
            ticket_id: id,
            customer_id: ticket.customer_id,
            channel,
            direction: Direction::Out,
            from_addr: from,
            to_addr: to.clone(),
            subject: subject.clone(),
            body: body.clone(),
            external_id: None,
            author_id: Some(user.id),
            meta: json!({"delivery": "queued", "html": html}),
        },
    )
    .await?;
    let payload = json!({"subject": subject, "body": body, "html": html});
    store::insert_outbox(&mut tx, channel, id, Some(interaction.id), &to, &payload).await?;
    let status = status.or((ticket.status == Status::New).then_some(Status::Open));
    if status.is_some() {
        let change = TicketChanges {
            status,
            ..TicketChanges::default()
        };
        store::update_ticket(&mut tx, &state.db, id, &change, Some(user.id)).await?;
    }
    crate::realtime::events::commit(tx).await?;
    Ok((StatusCode::CREATED, axum::Json(interaction)))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct HandoverBody {
    to: i64,
}

#[derive(Serialize, schemars::JsonSchema)]
struct HandoverResult {
    tickets: Vec<i64>,
    customers: u64,
}

/// One click when an employee leaves: their open tickets and their customers go to `to`.
async fn handover(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(from): Path<i64>,
    Json(b): Json<HandoverBody>,
) -> AppResult<axum::Json<HandoverResult>> {
    crate::auth::store::find_user(&state.db, from).await?;
    let to = crate::auth::store::find_user(&state.db, b.to)
        .await
        .map_err(|_| AppError::validation("to", "to is not a user"))?;
    if !to.active || to.id == from {
        return Err(AppError::validation("to", "to must be another active user"));
    }
    let mut tx = state.db.begin().await?;
    let tickets = store::reassign_open_tickets(&mut tx, &state.db, from, to.id, actor.id).await?;
    let customers = crate::customers::store::reassign_owner(&mut tx, from, to.id).await?;
    crate::auth::store::insert_audit(
        &mut *tx,
        Some(actor.id),
        "user.handover",
        &format!("user:{from}"),
        json!({"to": to.id, "tickets": tickets, "customers": customers}),
    )
    .await?;
    crate::realtime::events::commit(tx).await?;
    Ok(axum::Json(HandoverResult { tickets, customers }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct MergeBody {
    into: i64,
}

/// Two tickets about one matter become one: the thread of `id` moves into `into`.
async fn merge_ticket(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<MergeBody>,
) -> AppResult<axum::Json<Ticket>> {
    let from = visible_ticket(&state, &user, id).await?;
    let into = visible_ticket(&state, &user, b.into)
        .await
        .map_err(|_| AppError::validation("into", "into is not a ticket you can see"))?;
    if from.id == into.id {
        return Err(AppError::validation(
            "into",
            "a ticket cannot be merged into itself",
        ));
    }
    if from.merged_into.is_some() {
        return Err(AppError::Conflict("this ticket was already merged".into()));
    }
    if into.merged_into.is_some() {
        return Err(AppError::validation(
            "into",
            "into was itself merged; merge into the ticket it went to",
        ));
    }
    let mut tx = state.db.begin().await?;
    let target = store::merge_tickets(&mut tx, &state.db, from.id, into.id).await?;
    crate::auth::store::insert_audit(
        &mut *tx,
        Some(user.id),
        "ticket.merge",
        &format!("ticket:{}", from.id),
        json!({"into": into.id}),
    )
    .await?;
    crate::realtime::events::commit(tx).await?;
    Ok(axum::Json(target))
}

/// A message that belongs to another matter (e.g. a reply about something new) gets its own ticket.
async fn split_interaction(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<(StatusCode, axum::Json<Ticket>)> {
    let interaction = store::find_interaction(&state.db, id).await?;
    let from = visible_ticket(&state, &user, interaction.ticket_id)
        .await
        .map_err(|_| AppError::NotFound("interaction"))?;
    if store::count_interactions(&state.db, from.id).await? < 2 {
        return Err(AppError::Conflict(
            "the ticket has only this message: nothing to split from".into(),
        ));
    }
    let mut tx = state.db.begin().await?;
    let new = store::split_interaction(&mut tx, &state.db, &interaction, &from).await?;
    crate::auth::store::insert_audit(
        &mut *tx,
        Some(user.id),
        "interaction.split",
        &format!("interaction:{id}"),
        json!({"from": from.id, "to": new.id}),
    )
    .await?;
    crate::realtime::events::commit(tx).await?;
    Ok((StatusCode::CREATED, axum::Json(new)))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct BulkBody {
    /// At most 200 tickets.
    ids: Vec<i64>,
    assign_to: Option<i64>,
    status: Option<String>,
    add_tags: Option<Vec<String>>,
    queue_id: Option<i64>,
    /// Merge every other ticket of `ids` into this one (alone, without other changes).
    merge_into: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct BulkResult {
    /// Every ticket named, as changed (a merge: the ticket the others went into).
    updated: Vec<Ticket>,
}

/// All or nothing: every ticket is checked first (one the user may not open, or that does not
/// exist, refuses the whole request naming it: 400 on `ids`), then all change in one
/// transaction, each with its `ticket.updated` event, as one `PATCH` each would.
async fn bulk_update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<BulkBody>,
) -> AppResult<axum::Json<BulkResult>> {
    let mut ids = b.ids.clone();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() || ids.len() > 200 {
        return Err(AppError::validation(
            "ids",
            "ids must name 1 to 200 tickets",
        ));
    }
    if let Some(into) = b.merge_into {
        if b.assign_to.is_some()
            || b.status.is_some()
            || b.queue_id.is_some()
            || b.add_tags.as_ref().is_some_and(|t| !t.is_empty())
        {
            return Err(AppError::validation(
                "merge_into",
                "merge_into goes alone, without other changes",
            ));
        }
        return bulk_merge(&state, &user, &ids, into).await.map(axum::Json);
    }
    let change = store::BulkChange {
        assignee_id: b.assign_to,
        status: parse(
            "status",
            b.status.as_deref(),
            Status::parse,
            "new, open, pending, resolved, closed",
        )?,
        queue_id: b.queue_id,
        add_tags: b
            .add_tags
            .unwrap_or_default()
            .iter()
            .map(|t| required_text("add_tags", t, 50))
            .collect::<AppResult<_>>()?,
    };
    if change.assignee_id.is_none()
        && change.status.is_none()
        && change.queue_id.is_none()
        && change.add_tags.is_empty()
    {
        return Err(AppError::validation(
            "ids",
            "name a change: assign_to, status, add_tags or queue_id",
        ));
    }
    check_refs(&state, change.queue_id, change.assignee_id, None).await?;
    let visibility = store::visibility(&state.db, &user).await?;
    for id in &ids {
        let seen = match store::find_ticket(&mut &state.db, *id).await {
            Ok(t) => visibility.sees_ticket(&t).then_some(t),
            Err(AppError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let Some(t) = seen else {
            return Err(AppError::validation(
                "ids",
                format!("ticket {id} is not one you can open; nothing was changed"),
            ));
        };
        // As with PATCH: agents take tickets or keep them; giving one to someone else is a
        // supervisor's call.
        if let Some(to) = change.assignee_id
            && to != user.id
            && !user.is_supervisor()
            && t.assignee_id != Some(to)
        {
            return Err(AppError::Forbidden);
        }
    }
    let mut tx = state.db.begin().await?;
    let changed = store::bulk_update(&mut tx, &state.db, &ids, &change, user.id).await?;
    for (before, after) in &changed {
        if before.assignee_id != after.assignee_id && before.assignee_id.is_some() {
            crate::auth::store::insert_audit(
                &mut *tx,
                Some(user.id),
                "ticket.reassign",
                &format!("ticket:{}", after.id),
                json!({"from": before.assignee_id, "to": after.assignee_id, "bulk": true}),
            )
            .await?;
        }
    }
    crate::realtime::events::commit(tx).await?;
    Ok(axum::Json(BulkResult {
        updated: changed.into_iter().map(|(_, a)| a).collect(),
    }))
}

/// Merges every ticket of `ids` but `into` into `into`, in one transaction, each as
/// `POST /api/tickets/{id}/merge` would; all are checked first. Answers `into` as merged.
async fn bulk_merge(
    state: &AppState,
    user: &User,
    ids: &[i64],
    into: i64,
) -> AppResult<BulkResult> {
    let target = visible_ticket(state, user, into).await.map_err(|_| {
        AppError::validation("merge_into", "merge_into is not a ticket you can see")
    })?;
    if target.merged_into.is_some() {
        return Err(AppError::validation(
            "merge_into",
            "merge_into was itself merged; merge into the ticket it went to",
        ));
    }
    let from: Vec<i64> = ids.iter().copied().filter(|id| *id != into).collect();
    if from.is_empty() {
        return Err(AppError::validation(
            "ids",
            "name at least one ticket besides merge_into",
        ));
    }
    for id in &from {
        let t = visible_ticket(state, user, *id).await.map_err(|_| {
            AppError::validation(
                "ids",
                format!("ticket {id} is not one you can open; nothing was changed"),
            )
        })?;
        if t.merged_into.is_some() {
            return Err(AppError::validation(
                "ids",
                format!("ticket {id} was already merged; nothing was changed"),
            ));
        }
    }
    let mut tx = state.db.begin().await?;
    let mut merged = target;
    for id in &from {
        merged = store::merge_tickets(&mut tx, &state.db, *id, into).await?;
        crate::auth::store::insert_audit(
            &mut *tx,
            Some(user.id),
            "ticket.merge",
            &format!("ticket:{id}"),
            json!({"into": into, "bulk": true}),
        )
        .await?;
    }
    crate::realtime::events::commit(tx).await?;
    Ok(BulkResult {
        updated: vec![merged],
    })
}
