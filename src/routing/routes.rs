//! HTTP for queues and their members.

use super::store;
use super::{Queue, QueueRule};
use crate::app::AppState;
use crate::error::{AppError, AppResult, optional_text, required_text};
use crate::http::extract::{AuthUser, Json, Path};
use crate::http::{Access, Routes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, put};
use serde::{Deserialize, Serialize};

pub fn routes(r: Routes) -> Routes {
    let r = r
        .add(
            "GET",
            "/api/queues",
            "queues",
            Access::Agent,
            "List queues",
            get(list_queues),
        )
        .returns::<Vec<Queue>>(200)
        .add(
            "POST",
            "/api/queues",
            "queues",
            Access::Admin,
            "Create a queue",
            post(create_queue),
        )
        .body::<QueueBody>()
        .returns::<Queue>(201)
        .add(
            "GET",
            "/api/queues/{id}",
            "queues",
            Access::Agent,
            "Get a queue",
            get(get_queue),
        )
        .returns::<Queue>(200)
        .add(
            "PATCH",
            "/api/queues/{id}",
            "queues",
            Access::Admin,
            "Change a queue",
            patch(update_queue),
        )
        .body::<QueueBody>()
        .returns::<Queue>(200)
        .add(
            "PUT",
            "/api/queues/{id}/members",
            "queues",
            Access::Supervisor,
            "Set the agents who work a queue",
            put(set_members),
        )
        .body::<MembersBody>()
        .returns::<Queue>(200);
    work_routes(r)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct QueueBody {
    name: Option<String>,
    description: Option<String>,
    priority: Option<i64>,
}

fn check_priority(p: Option<i64>) -> AppResult<Option<i64>> {
    match p {
        Some(p) if !(-100..=100).contains(&p) => Err(AppError::validation(
            "priority",
            "priority must be between -100 and 100",
        )),
        p => Ok(p),
    }
}

async fn list_queues(State(state): State<AppState>) -> AppResult<axum::Json<Vec<Queue>>> {
    Ok(axum::Json(store::list_queues(&state.db).await?))
}

async fn create_queue(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Json(b): Json<QueueBody>,
) -> AppResult<(StatusCode, axum::Json<Queue>)> {
    let name = required_text("name", b.name.as_deref().unwrap_or(""), 100)?;
    let description = optional_text("description", b.description.as_deref().unwrap_or(""), 2000)?;
    let priority = check_priority(b.priority)?.unwrap_or(0);
    let q = store::insert_queue(&state.db, &name, &description, priority).await?;
    audit(
        &state,
        &actor,
        "queue.create",
        q.id,
        serde_json::json!({"name": q.name}),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(q)))
}

async fn get_queue(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Queue>> {
    Ok(axum::Json(store::find_queue(&state.db, id).await?))
}

async fn update_queue(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<QueueBody>,
) -> AppResult<axum::Json<Queue>> {
    let name = b.name.map(|n| required_text("name", &n, 100)).transpose()?;
    let description = b
        .description
        .map(|d| optional_text("description", &d, 2000))
        .transpose()?;
    let priority = check_priority(b.priority)?;
    let before = store::find_queue(&state.db, id).await?;
    let q = store::update_queue(
        &state.db,
        id,
        name.as_deref(),
        description.as_deref(),
        priority,
    )
    .await?;
    audit(
        &state,
        &actor,
        "queue.update",
        id,
        serde_json::json!({
            "from": {"name": before.name, "description": before.description, "priority": before.priority},
            "to": {"name": q.name, "description": q.description, "priority": q.priority},
        }),
    )
    .await?;
    Ok(axum::Json(q))
}

/// Audits a change of queue `queue_id`.
async fn audit(
    state: &AppState,
    actor: &crate::auth::User,
    action: &str,
    queue_id: i64,
    detail: serde_json::Value,
) -> AppResult<()> {
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(actor.id),
        action,
        &format!("queue:{queue_id}"),
        detail,
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct MembersBody {
    user_ids: Vec<i64>,
}

async fn set_members(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<MembersBody>,
) -> AppResult<axum::Json<Queue>> {
    store::find_queue(&state.db, id).await?;
    super::check_manages(&state.db, &actor, id).await?;
    for uid in &b.user_ids {
        crate::auth::store::find_user(&state.db, *uid)
            .await
            .map_err(|_| AppError::validation("user_ids", format!("{uid} is not a user")))?;
    }
    store::set_members(&state.db, id, &b.user_ids).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(actor.id),
        "queue.members",
        &format!("queue:{id}"),
        serde_json::json!({"user_ids": b.user_ids}),
    )
    .await?;
    Ok(axum::Json(store::find_queue(&state.db, id).await?))
}

fn work_routes(r: Routes) -> Routes {
    r.add(
        "POST",
        "/api/presence",
        "routing",
        Access::Agent,
        "Set your own state: available, wrap_up, away (with reason) or offline",
        post(set_presence),
    )
    .body::<PresenceBody>()
    .returns::<super::presence::Presence>(200)
    .add(
        "GET",
        "/api/presence",
        "routing",
        Access::Agent,
        "Every agent's state and time in state (an agent: their own, so a reopened console shows the truth)",
        get(list_presence),
    )
    .returns::<Vec<super::presence::PresenceNow>>(200)
    .add(
        "PUT",
        "/api/agents/{id}/capacity",
        "routing",
        Access::Supervisor,
        "Set an agent's per-channel capacity, e.g. {\"voice\":1,\"email\":5}",
        put(set_capacity),
    )
    .body::<CapacityBody>()
    .returns::<super::presence::Presence>(200)
    .add(
        "POST",
        "/api/offers/{id}/accept",
        "routing",
        Access::Agent,
        "Accept the work offered to you",
        post(accept_offer),
    )
    .no_body()
    .returns::<super::WorkItem>(200)
    .add(
        "POST",
        "/api/offers/{id}/reject",
        "routing",
        Access::Agent,
        "Decline the work offered to you",
        post(reject_offer),
    )
    .no_body()
    .returns::<super::WorkItem>(200)
    .add(
        "GET",
        "/api/work",
        "routing",
        Access::Agent,
        "Work items (filters: queue_id, state); agents see their queues",
        get(list_work),
    )
    .query::<WorkQuery>()
    .returns::<Vec<super::WorkItem>>(200)
    .add(
        "GET",
        "/api/work/{ticket_id}",
        "routing",
        Access::Agent,
        "The work item of a ticket, with its SLA due times",
        get(get_work),
    )
    .returns::<super::WorkItem>(200)
    .add(
        "POST",
        "/api/work/{ticket_id}/pick",
        "routing",
        Access::Agent,
        "Take waiting work yourself (manual pick)",
        post(pick_work),
    )
    .no_body()
    .returns::<super::WorkItem>(200)
    .add(
        "POST",
        "/api/work/{ticket_id}/assign",
        "routing",
        Access::Supervisor,
        "Give work to an agent (supervisor reassign)",
        post(assign_work),
    )
    .body::<AssignBody>()
    .returns::<super::WorkItem>(200)
    .add(
        "POST",
        "/api/callbacks",
        "routing",
        Access::Agent,
        "Create a call-back task for a customer",
        post(create_callback),
    )
    .body::<CallbackBody>()
    .returns::<super::WorkItem>(201)
    .add(
        "GET",
        "/api/queues/{id}/rules",
        "routing",
        Access::Agent,
        "Placement rules of a queue, in order",
        get(list_rules),
    )
    .returns::<Vec<QueueRule>>(200)
    .add(
        "POST",
        "/api/queues/{id}/rules",
        "routing",
        Access::Supervisor,
        "Add a placement rule to a queue",
        post(create_rule),
    )
    .body::<RuleBody>()
    .returns::<QueueRule>(201)
    .add(
        "PUT",
        "/api/queues/{id}/rules/{rule_id}",
        "routing",
        Access::Supervisor,
        "Replace a placement rule",
        put(update_rule),
    )
    .body::<RuleBody>()
    .returns::<QueueRule>(200)
    .add(
        "DELETE",
        "/api/queues/{id}/rules/{rule_id}",
        "routing",
        Access::Supervisor,
        "Delete a placement rule",
        delete(delete_rule),
    )
    .no_content()
    .add(
        "POST",
        "/api/queues/{id}/rules/{rule_id}/move",
        "routing",
        Access::Supervisor,
        "Move a placement rule to place {\"to\": n} of the global evaluation order (1 = tried \
         first); every rule is renumbered",
        post(move_rule),
    )
    .body::<MoveBody>()
    .returns::<Vec<super::OrderedRule>>(200)
    .add(
        "GET",
        "/api/routing/rules",
        "routing",
        Access::Agent,
        "Every placement rule in evaluation order (order, queue name, conditions set)",
        get(ordered_rules),
    )
    .returns::<Vec<super::OrderedRule>>(200)
    .add(
        "POST",
        "/api/routing/test",
        "routing",
        Access::Supervisor,
        "Which queue a sample contact {channel, to_addr, subject, body, tier, language, kind} \
         would go to, and why (each rule with the condition that failed)",
        post(test_rules),
    )
    .body::<SampleContact>()
    .returns::<super::RuleTest>(200)
    .add(
        "GET",
        "/api/queues/{id}/sla",
        "routing",
        Access::Agent,
        "SLA targets of a queue",
        get(list_sla),
    )
    .returns::<Vec<super::sla::SlaTarget>>(200)
    .add(
        "PUT",
        "/api/queues/{id}/sla",
        "routing",
        Access::Supervisor,
        "Set the SLA target of a queue for one priority and kind",
        put(set_sla),
    )
    .body::<super::sla::SlaTarget>()
    .returns::<super::sla::SlaTarget>(200)
    .add(
        "GET",
        "/api/queues/{id}/hours",
        "routing",
        Access::Agent,
        "Business hours and holidays of a queue (SLA clocks count only these)",
        get(get_hours),
    )
    .returns::<HoursBody>(200)
    .add(
        "PUT",
        "/api/queues/{id}/hours",
        "routing",
        Access::Supervisor,
        "Set business hours ([{weekday 0=Mon, open HH:MM, close HH:MM}]), holidays, and the \
         time zone (IANA time_zone, else utc_offset_minutes)",
        put(set_hours),
    )
    .body::<HoursBody>()
    .returns::<HoursBody>(200)
    .add(
        "PATCH",
        "/api/queues/{id}/routing",
        "routing",
        Access::Supervisor,
        "Queue routing settings: service_level_secs, offer_timeout_secs, capacity per channel, \
         strategy (longest_idle, round_robin, least_loaded; default: the configured one)",
        patch(update_routing),
    )
    .body::<RoutingBody>()
    .returns::<super::RoutingSettings>(200)
    .add(
        "GET",
        "/api/wallboard",
        "routing",
        Access::Supervisor,
        "The current queue_stats snapshot",
        get(wallboard),
    )
    .returns::<super::stats::Snapshot>(200)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct PresenceBody {
    state: Option<String>,
    reason: Option<String>,
}

async fn set_presence(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<PresenceBody>,
) -> AppResult<axum::Json<super::presence::Presence>> {
    let st = b.state.unwrap_or_default();
    Ok(axum::Json(
        super::presence::set_presence(&state, user.id, &st, b.reason.as_deref().unwrap_or(""))
            .await?,
    ))
}

async fn list_presence(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> AppResult<axum::Json<serde_json::Value>> {
    let now = crate::db::now_ms();
    let list = if user.is_supervisor() {
        super::presence::list_presence(&state.db).await?
    } else {
        vec![super::presence::find_presence(&mut &state.db, user.id).await?]
    };
    let out: Vec<serde_json::Value> = list
        .into_iter()
        .map(|p| {
            let secs = (now - p.since_ms).max(0) / 1000;
            let mut v = serde_json::to_value(p).unwrap_or_default();
            v["time_in_state_secs"] = serde_json::json!(secs);
            v
        })
        .collect();
    Ok(axum::Json(serde_json::json!(out)))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct CapacityBody {
    capacity: std::collections::BTreeMap<String, i64>,
}

async fn set_capacity(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<CapacityBody>,
) -> AppResult<axum::Json<super::presence::Presence>> {
    crate::auth::store::find_user(&state.db, id).await?;
    let before = super::presence::find_presence(&mut &state.db, id).await?;
    let p = super::presence::update_capacity(&state.db, id, &b.capacity).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(actor.id),
        "user.capacity",
        &format!("user:{id}"),
        serde_json::json!({"from": before.own_capacity, "to": p.own_capacity}),
    )
    .await?;
    Ok(axum::Json(p))
}

async fn accept_offer(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<super::WorkItem>> {
    Ok(axum::Json(
        super::offers::accept_offer(&state, id, user.id).await?,
    ))
}

async fn reject_offer(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<super::WorkItem>> {
    Ok(axum::Json(
        super::offers::reject_offer(&state, id, user.id).await?,
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct WorkQuery {
    queue_id: Option<i64>,
    state: Option<String>,
    limit: Option<i64>,
}

async fn list_work(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    crate::http::extract::Query(q): crate::http::extract::Query<WorkQuery>,
) -> AppResult<axum::Json<Vec<super::WorkItem>>> {
    const STATES: &[&str] = &[
        "unqueued",
        "waiting",
        "offered",
        "assigned",
        "done",
        "abandoned",
    ];
    if let Some(s) = &q.state
        && !STATES.contains(&s.as_str())
    {
        return Err(AppError::validation(
            "state",
            format!("state must be one of {}", STATES.join(", ")),
        ));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let mut items =
        super::offers::list_items(&state.db, q.queue_id, q.state.as_deref(), limit).await?;
    if !user.is_supervisor() {
        let mine = store::queues_of_user(&state.db, user.id).await?;
        items.retain(|w| {
            w.queue_id.is_some_and(|q| mine.contains(&q))
                || w.assigned_to == Some(user.id)
                || w.offered_to == Some(user.id)
        });
    }
    Ok(axum::Json(items))
}

/// The item of a ticket, if the user may see the ticket (not-found otherwise).
async fn visible_item(
    state: &AppState,
    user: &crate::auth::User,
    ticket_id: i64,
) -> AppResult<super::WorkItem> {
    let t = crate::tickets::store::find_ticket(&mut &state.db, ticket_id).await?;
    if !crate::tickets::routes::can_see(state, user, &t).await? {
        return Err(AppError::NotFound("ticket"));
    }
    super::offers::find_item_by_ticket(&mut &state.db, ticket_id).await
}

async fn get_work(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(ticket_id): Path<i64>,
) -> AppResult<axum::Json<super::WorkItem>> {
    Ok(axum::Json(visible_item(&state, &user, ticket_id).await?))
}

async fn pick_work(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(ticket_id): Path<i64>,
) -> AppResult<axum::Json<super::WorkItem>> {
    let w = visible_item(&state, &user, ticket_id).await?;
    if !user.is_supervisor()
        && let Some(q) = w.queue_id
        && !store::queues_of_user(&state.db, user.id)
            .await?
            .contains(&q)
    {
        return Err(AppError::Forbidden);
    }
    Ok(axum::Json(
        super::offers::assign_work(&state, ticket_id, user.id, user.id, false).await?,
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct AssignBody {
    user_id: Option<i64>,
}

async fn assign_work(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(ticket_id): Path<i64>,
    Json(b): Json<AssignBody>,
) -> AppResult<axum::Json<super::WorkItem>> {
    let to = b
        .user_id
        .ok_or_else(|| AppError::validation("user_id", "user_id is required"))?;
    let agent = crate::auth::store::find_user(&state.db, to)
        .await
        .map_err(|_| AppError::validation("user_id", format!("{to} is not a user")))?;
    if !agent.active {
        return Err(AppError::validation("user_id", "this user is not active"));
    }
    let w = super::offers::assign_work(&state, ticket_id, to, actor.id, true).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(actor.id),
        "work.assign",
        &format!("ticket:{ticket_id}"),
        serde_json::json!({"user_id": to}),
    )
    .await?;
    Ok(axum::Json(w))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct CallbackBody {
    customer_id: Option<i64>,
    ticket_id: Option<i64>,
    phone: Option<String>,
    queue_id: Option<i64>,
    note: Option<String>,
}

/// Creates a callback ticket (kind callback, channel voice) unless `ticket_id` names one, and
/// its work item, in one transaction.
async fn create_callback(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<CallbackBody>,
) -> AppResult<(StatusCode, axum::Json<super::WorkItem>)> {
    let raw = required_text("phone", b.phone.as_deref().unwrap_or(""), 40)?;
    let phone = state
        .phones
        .normalize(&raw)
        .ok_or_else(|| AppError::validation("phone", "phone is not a valid number"))?;
    let note = optional_text("note", b.note.as_deref().unwrap_or(""), 2000)?;
    if let Some(q) = b.queue_id {
        store::find_queue(&state.db, q)
            .await
            .map_err(|_| AppError::validation("queue_id", format!("{q} is not a queue")))?;
    }
    if let Some(c) = b.customer_id {
        crate::customers::store::find_customer(&state.db, c)
            .await
            .map_err(|_| AppError::validation("customer_id", format!("{c} is not a customer")))?;
    }
    let mut tx = state.db.begin().await?;
    let ticket_id = match b.ticket_id {
        Some(id) => {
            let t = crate::tickets::store::find_ticket(&mut *tx, id)
                .await
                .map_err(|_| AppError::validation("ticket_id", format!("{id} is not a ticket")))?;
            if !crate::tickets::routes::can_see(&state, &user, &t).await? {
                return Err(AppError::validation(
                    "ticket_id",
                    format!("{id} is not a ticket"),
                ));
            }
            id
        }
        None => {
            let t = crate::tickets::store::insert_ticket(
                &mut tx,
                &state.db,
                &crate::tickets::store::NewTicket {
                    subject: format!("Call back {phone}"),
                    priority: crate::tickets::Priority::Normal,
                    kind: crate::tickets::Kind::Callback,
                    channel: crate::tickets::Channel::Voice,
                    queue_id: b.queue_id,
                    assignee_id: None,
                    customer_id: b.customer_id,
                    tags: vec![],
                    subject_data: Some(crate::tickets::SystemText::new(
                        "callback",
                        serde_json::json!({"number": phone}),
                    )),
                },
            )
            .await?;
            t.id
        }
    };
    let w =
        super::offers::insert_callback(&mut tx, &state.db, ticket_id, b.queue_id, &phone, &note)
            .await?;
    crate::realtime::events::commit(tx).await?;
    Ok((StatusCode::CREATED, axum::Json(w)))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "QueueRuleBody")]
struct RuleBody {
    position: Option<i64>,
    channel: Option<String>,
    to_addr: Option<String>,
    keyword: Option<String>,
    tier: Option<String>,
    language: Option<String>,
    kind: Option<String>,
    priority_boost: Option<i64>,
    skills: Option<Vec<String>>,
    /// Action: file matching work as this kind (`complaint`, …); empty or absent: keep it.
    set_kind: Option<String>,
}

fn rule_from_body(id: i64, queue_id: i64, b: RuleBody) -> AppResult<QueueRule> {
    let text =
        |field: &str, v: Option<String>| optional_text(field, v.as_deref().unwrap_or(""), 200);
    let channel = text("channel", b.channel)?;
    if !channel.is_empty() && crate::tickets::Channel::parse(&channel).is_none() {
        return Err(AppError::validation(
            "channel",
            "channel must be email, sms, voice, web or note",
        ));
    }
    let tier = text("tier", b.tier)?;
    if !tier.is_empty() && !TIERS.contains(&tier.as_str()) {
        return Err(AppError::validation(
            "tier",
            "tier must be vip, key, regular or low",
        ));
    }
    let kind = text("kind", b.kind)?;
    if !kind.is_empty() && crate::tickets::Kind::parse(&kind).is_none() {
        return Err(AppError::validation("kind", "kind is not a ticket kind"));
    }
    let set_kind = text("set_kind", b.set_kind)?;
    if !set_kind.is_empty() && crate::tickets::Kind::parse(&set_kind).is_none() {
        return Err(AppError::validation(
            "set_kind",
            "set_kind is not a ticket kind",
        ));
    }
    let boost = b.priority_boost.unwrap_or(0);
    if !(-10..=10).contains(&boost) {
        return Err(AppError::validation(
            "priority_boost",
            "priority_boost must be -10..=10",
        ));
    }
    Ok(QueueRule {
        id,
        queue_id,
        position: b.position.unwrap_or(0),
        channel,
        to_addr: text("to_addr", b.to_addr)?,
        keyword: text("keyword", b.keyword)?,
        tier,
        language: text("language", b.language)?,
        kind,
        priority_boost: boost,
        skills: b.skills.unwrap_or_default(),
        set_kind: (!set_kind.is_empty()).then_some(set_kind),
    })
}

async fn list_rules(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Vec<QueueRule>>> {
    store::find_queue(&state.db, id).await?;
    Ok(axum::Json(store::list_rules(&state.db, Some(id)).await?))
}

async fn create_rule(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<RuleBody>,
) -> AppResult<(StatusCode, axum::Json<QueueRule>)> {
    store::find_queue(&state.db, id).await?;
    super::check_manages(&state.db, &actor, id).await?;
    let rule = rule_from_body(0, id, b)?;
    let rule = store::upsert_rule(&state.db, &rule).await?;
    audit_rule(
        &state,
        &actor,
        "rule.create",
        rule.id,
        serde_json::json!(rule),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(rule)))
}

async fn update_rule(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path((id, rule_id)): Path<(i64, i64)>,
    Json(b): Json<RuleBody>,
) -> AppResult<axum::Json<QueueRule>> {
    super::check_manages(&state.db, &actor, id).await?;
    let before = store::find_rule(&state.db, rule_id).await?;
    if before.queue_id != id {
        return Err(AppError::NotFound("rule"));
    }
    let rule = rule_from_body(rule_id, id, b)?;
    let rule = store::upsert_rule(&state.db, &rule).await?;
    audit_rule(
        &state,
        &actor,
        "rule.update",
        rule_id,
        serde_json::json!({"from": before, "to": rule}),
    )
    .await?;
    Ok(axum::Json(rule))
}

async fn delete_rule(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path((id, rule_id)): Path<(i64, i64)>,
) -> AppResult<StatusCode> {
    super::check_manages(&state.db, &actor, id).await?;
    let before = store::find_rule(&state.db, rule_id).await?;
    if before.queue_id != id {
        return Err(AppError::NotFound("rule"));
    }
    store::delete_rule(&state.db, rule_id).await?;
    audit_rule(
        &state,
        &actor,
        "rule.delete",
        rule_id,
        serde_json::json!(before),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn audit_rule(
    state: &AppState,
    actor: &crate::auth::User,
    action: &str,
    rule_id: i64,
    detail: serde_json::Value,
) -> AppResult<()> {
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(actor.id),
        action,
        &format!("rule:{rule_id}"),
        detail,
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct MoveBody {
    to: Option<i64>,
}

async fn move_rule(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path((id, rule_id)): Path<(i64, i64)>,
    Json(b): Json<MoveBody>,
) -> AppResult<axum::Json<Vec<super::OrderedRule>>> {
    let to =
        b.to.ok_or_else(|| AppError::validation("to", "to is required (1 = tried first)"))?;
    Ok(axum::Json(
        super::move_rule(&state.db, &actor, id, rule_id, to).await?,
    ))
}

async fn ordered_rules(
    State(state): State<AppState>,
) -> AppResult<axum::Json<Vec<super::OrderedRule>>> {
    Ok(axum::Json(super::ordered_rules(&state.db).await?))
}

/// A sample contact for the rule test.
#[derive(Deserialize, schemars::JsonSchema)]
struct SampleContact {
    channel: Option<String>,
    to_addr: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    tier: Option<String>,
    language: Option<String>,
    kind: Option<String>,
}

async fn test_rules(
    State(state): State<AppState>,
    Json(b): Json<SampleContact>,
) -> AppResult<axum::Json<super::RuleTest>> {
    let text = |field: &str, v: &Option<String>, max: usize| {
        optional_text(field, v.as_deref().unwrap_or("").trim(), max)
    };
    let channel = required_text("channel", b.channel.as_deref().unwrap_or(""), 20)?;
    if crate::tickets::Channel::parse(&channel).is_none() {
        return Err(AppError::validation(
            "channel",
            "channel must be email, sms, voice, web or note",
        ));
    }
    let tier = text("tier", &b.tier, 20)?;
    if !tier.is_empty() && !TIERS.contains(&tier.as_str()) {
        return Err(AppError::validation(
            "tier",
            "tier must be vip, key, regular or low",
        ));
    }
    // A new ticket always has a kind: an inquiry unless the channel says otherwise.
    let kind = match text("kind", &b.kind, 20)?.as_str() {
        "" => "inquiry".to_string(),
        k if crate::tickets::Kind::parse(k).is_some() => k.to_string(),
        _ => return Err(AppError::validation("kind", "kind is not a ticket kind")),
    };
    let facts = super::WorkFacts::new(
        &channel,
        &text("to_addr", &b.to_addr, 200)?,
        &text("subject", &b.subject, 1000)?,
        &text("body", &b.body, 20_000)?,
        &tier,
        &text("language", &b.language, 20)?,
        &kind,
    );
    Ok(axum::Json(super::test_contact(&state.db, &facts).await?))
}

/// Customer tiers a rule or sample may name.
const TIERS: [&str; 4] = ["vip", "key", "regular", "low"];

async fn list_sla(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Vec<super::sla::SlaTarget>>> {
    store::find_queue(&state.db, id).await?;
    Ok(axum::Json(super::sla::list_targets(&state.db, id).await?))
}

async fn set_sla(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Path<i64>,
    Json(mut t): Json<super::sla::SlaTarget>,
) -> AppResult<axum::Json<super::sla::SlaTarget>> {
    store::find_queue(&state.db, id).await?;
    super::check_manages(&state.db, &actor, id).await?;
    if let Some(e) = t.escalate_queue_id {
        store::find_queue(&state.db, e).await.map_err(|_| {
            AppError::validation("escalate_queue_id", format!("{e} is not a queue"))
        })?;
    }
    t.queue_id = Some(id);
    let t = super::sla::upsert_target(&state.db, &t).await?;
    audit(&state, &actor, "queue.sla", id, serde_json::json!(t)).await?;
    Ok(axum::Json(t))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct RoutingBody {
    service_level_secs: Option<i64>,
    offer_timeout_secs: Option<i64>,
    /// Per channel, for the queue's agents who set none themselves (`{"email": 3}`).
    capacity: Option<std::collections::BTreeMap<String, i64>>,
    /// `longest_idle`, `round_robin`, `least_loaded`; `""` or `"default"`: the configured one.
    strategy: Option<String>,
}

async fn update_routing(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<RoutingBody>,
) -> AppResult<axum::Json<super::RoutingSettings>> {
    store::find_queue(&state.db, id).await?;
    super::check_manages(&state.db, &actor, id).await?;
    let change = super::RoutingChange {
        service_level_secs: b.service_level_secs,
        offer_timeout_secs: b.offer_timeout_secs,
        capacity: b.capacity,
        strategy: b.strategy,
    };
    let settings = super::update_routing(&state.db, id, &change).await?;
    audit(
        &state,
        &actor,
        "queue.routing",
        id,
        serde_json::json!(settings),
    )
    .await?;
    Ok(axum::Json(settings))
}

async fn wallboard(State(state): State<AppState>) -> AppResult<axum::Json<serde_json::Value>> {
    // The snapshot the hub keeps is fresh while a wallboard is connected; else compute one.
    match state.hub.stats() {
        Some(s) if s["at_ms"].as_i64().unwrap_or(0) > crate::db::now_ms() - 2000 => {
            Ok(axum::Json(s))
        }
        _ => Ok(axum::Json(
            super::stats::compute(&state.db, &state.time_zone).await?,
        )),
    }
}

#[derive(Deserialize, Serialize, schemars::JsonSchema)]
#[schemars(rename = "HoursWindow")]
struct Window {
    weekday: i64,
    open: String,
    close: String,
}

#[derive(Deserialize, Serialize, schemars::JsonSchema)]
#[schemars(rename = "BusinessHours")]
struct HoursBody {
    #[serde(default)]
    utc_offset_minutes: i64,
    /// An IANA time zone (`Asia/Shanghai`); when set it decides local time (with summer time)
    /// instead of `utc_offset_minutes`.
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    hours: Vec<Window>,
    #[serde(default)]
    holidays: Vec<String>,
}

fn minutes(field: &str, hhmm: &str) -> AppResult<i64> {
    let bad = || AppError::validation(field, format!("{field} must be HH:MM ({hhmm})"));
    let (h, m) = hhmm.split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || h * 60 + m > 1440 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn hhmm(min: i64) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

async fn get_hours(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<HoursBody>> {
    store::find_queue(&state.db, id).await?;
    let c = super::sla::find_calendar(&mut &state.db, id).await?;
    Ok(axum::Json(HoursBody {
        utc_offset_minutes: c.utc_offset_minutes,
        time_zone: c.time_zone,
        hours: c
            .hours
            .iter()
            .map(|(w, o, cl)| Window {
                weekday: *w,
                open: hhmm(*o),
                close: hhmm(*cl),
            })
            .collect(),
        holidays: c
            .holidays
            .iter()
            .map(|d| super::sla::day_text(*d))
            .collect(),
    }))
}

async fn set_hours(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<HoursBody>,
) -> AppResult<axum::Json<HoursBody>> {
    store::find_queue(&state.db, id).await?;
    super::check_manages(&state.db, &actor, id).await?;
    let mut hours = Vec::new();
    for w in &b.hours {
        hours.push((
            w.weekday,
            minutes("open", &w.open)?,
            minutes("close", &w.close)?,
        ));
    }
    let mut holidays = Vec::new();
    for d in &b.holidays {
        holidays.push(super::sla::day_number(d).ok_or_else(|| {
            AppError::validation("holidays", format!("holidays must be YYYY-MM-DD ({d})"))
        })?);
    }
    let time_zone = b
        .time_zone
        .as_deref()
        .filter(|z| !z.trim().is_empty())
        .map(super::sla::check_time_zone)
        .transpose()?;
    let cal = super::sla::Calendar {
        utc_offset_minutes: b.utc_offset_minutes,
        time_zone,
        hours,
        holidays,
    };
    super::sla::update_calendar(&state.db, id, &cal).await?;
    audit(&state, &actor, "queue.hours", id, serde_json::json!(b)).await?;
    get_hours(State(state), Path(id)).await
}
