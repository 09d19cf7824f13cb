//! HTTP for voice: the CTI and Twilio webhooks, calls for agents (list, connect, click-to-call)
//! and the admin lists (blocked numbers, caller-id rules, dialled-number settings).

use super::CallState;
use super::calls::{self, StartCall};
use super::dispositions::{self, Disposition, DispositionFields, ReportRow};
use super::store::{self, AdminTable, BlockedNumber, Call, CallerIdRule, MenuChoice, VoiceNumber};
use crate::app::AppState;
use crate::channels::twilio;
use crate::error::{AppError, AppResult, optional_text, required_text};
use crate::http::extract::{AuthUser, Json, Path, Query};
use crate::http::{Access, Routes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::json;

pub fn routes(r: Routes) -> Routes {
    r.add("POST", "/api/v1/cti/{token}", "voice", Access::Webhook,
        "Generic CTI (Zammad/sipgate.io format): newCall, answer, hangup; JSON or form", post(super::cti::receive_cti))
        .body_raw("application/x-www-form-urlencoded")
        .returns::<super::cti::CtiAnswer>(200)
        .returns_raw(200, "application/xml")
        .add("POST", "/webhooks/twilio/voice", "voice", Access::Webhook,
            "Twilio incoming call: TwiML greeting, optional menu, enqueue", post(super::twilio::receive_voice))
        .body_raw("application/x-www-form-urlencoded")
        .returns_raw(200, "text/xml")
        .add("POST", "/webhooks/twilio/voice/status", "voice", Access::Webhook,
            "Twilio call status callback (SequenceNumber ordered, RecordingUrl kept)", post(super::twilio::receive_voice_status))
        .body_raw("application/x-www-form-urlencoded")
        .returns_raw(200, "text/xml")
        .add("GET", "/api/calls", "voice", Access::Agent,
            "Calls, newest first (agents: their own; `active=true` for calls not over)", get(list_calls))
        .query::<ListQuery>()
        .returns::<Vec<Call>>(200)
        .add("GET", "/api/calls/{id}", "voice", Access::Agent, "One call", get(get_call))
        .returns::<Call>(200)
        .add("POST", "/api/calls/{id}/connect", "voice", Access::Agent,
            "Connect a waiting Twilio call to an agent (yourself; supervisors: anyone)", post(connect_call))
        .body::<ConnectBody>()
        .returns::<Call>(200)
        .add("POST", "/api/calls/dial", "voice", Access::Agent,
            "Click-to-call (e.g. a callback): places the call through Twilio, or returns the dial action for the PBX", post(dial))
        .body::<DialBody>()
        .returns::<DialAction>(200)
        .add("POST", "/api/calls/{id}/transfer", "voice", Access::Agent,
            "Cold transfer of a talking incoming Twilio call to another agent (the call's agent, or supervisors)", post(transfer))
        .body::<TransferBody>()
        .returns::<Call>(200)
        .add("GET", "/api/calls/capabilities", "voice", Access::Agent,
            "What the console can do with calls here: dial, hold, transfer (each with the reason when not)", get(capabilities))
        .returns::<Capabilities>(200)
        .add("POST", "/api/calls/{id}/disposition", "voice", Access::Agent,
            "Set the disposition code of a call (its agent, or supervisors), once answered or over", post(set_disposition))
        .body::<DispositionPick>()
        .returns::<Call>(200)
        .add("GET", "/api/call-dispositions", "voice", Access::Agent,
            "Disposition codes in order (agents: the active ones; admins `all=true` for every one)", get(list_dispositions))
        .query::<DispositionListQuery>()
        .returns::<Vec<Disposition>>(200)
        .add("POST", "/api/call-dispositions", "voice", Access::Admin, "Add a disposition code", post(create_disposition))
        .body::<DispositionBody>()
        .returns::<Disposition>(201)
        .add("PATCH", "/api/call-dispositions/{id}", "voice", Access::Admin,
            "Change a disposition code (names, order, active)", axum::routing::patch(update_disposition))
        .body::<DispositionBody>()
        .returns::<Disposition>(200)
        .add("GET", "/api/reports/dispositions", "voice", Access::Supervisor,
            "Calls per disposition code and queue that started between from and to (RFC 3339)", get(disposition_report))
        .query::<ReportQuery>()
        .returns::<DispositionReport>(200)
        .add("GET", "/api/voice/blocked-numbers", "voice", Access::Admin, "Blocked numbers", get(list_blocked))
        .returns::<Vec<BlockedNumber>>(200)
        .add("POST", "/api/voice/blocked-numbers", "voice", Access::Admin, "Block a number", post(create_blocked))
        .body::<BlockBody>()
        .returns::<BlockedNumber>(201)
        .add("DELETE", "/api/voice/blocked-numbers/{id}", "voice", Access::Admin, "Unblock a number", delete(delete_blocked))
        .no_content()
        .add("GET", "/api/voice/caller-id-rules", "voice", Access::Admin, "Caller-id rules for outbound calls", get(list_rules))
        .returns::<Vec<CallerIdRule>>(200)
        .add("POST", "/api/voice/caller-id-rules", "voice", Access::Admin, "Add a caller-id rule", post(create_rule))
        .body::<RuleBody>()
        .returns::<CallerIdRule>(201)
        .add("DELETE", "/api/voice/caller-id-rules/{id}", "voice", Access::Admin, "Remove a caller-id rule", delete(delete_rule))
        .no_content()
        .add("GET", "/api/voice/numbers", "voice", Access::Admin, "Settings of dialled numbers", get(list_numbers))
        .returns::<Vec<VoiceNumber>>(200)
        .add("POST", "/api/voice/numbers", "voice", Access::Admin,
            "Set a dialled number's greeting, language, queue and menu", post(upsert_number))
        .body::<NumberBody>()
        .returns::<VoiceNumber>(200)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListQuery {
    active: Option<bool>,
    limit: Option<i64>,
}

async fn list_calls(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<ListQuery>,
) -> AppResult<axum::Json<Vec<Call>>> {
    let agent = (!user.is_supervisor()).then_some(user.id);
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    Ok(axum::Json(
        store::list_calls(&state.db, agent, q.active.unwrap_or(false), limit).await?,
    ))
}

async fn visible_call(state: &AppState, user: &crate::auth::User, id: i64) -> AppResult<Call> {
    let call = store::find_call_by_id(&mut &state.db, id).await?;
    let mine = call.agent_id == Some(user.id) || call.popped.contains(&user.id);
    let in_queue = match call.queue_id {
        Some(q) => crate::routing::store::queues_of_user(&state.db, user.id)
            .await?
            .contains(&q),
        None => true,
    };
    if user.is_supervisor() || mine || in_queue {
        Ok(call)
    } else {
        Err(AppError::NotFound("call"))
    }
}

async fn get_call(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Call>> {
    Ok(axum::Json(visible_call(&state, &user, id).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ConnectBody {
    user_id: Option<i64>,
}

async fn connect_call(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<ConnectBody>,
) -> AppResult<axum::Json<Call>> {
    let call = visible_call(&state, &user, id).await?;
    let target = match b.user_id {
        Some(uid) if uid != user.id => {
            if !user.is_supervisor() {
                return Err(AppError::Forbidden);
            }
            crate::auth::store::find_user(&state.db, uid)
                .await
                .map_err(|_| AppError::validation("user_id", "user_id is not a user"))?
        }
        _ => user,
    };
    if !target.active {
        return Err(AppError::validation(
            "user_id",
            "user_id is not an active user",
        ));
    }
    Ok(axum::Json(
        calls::connect_call_to_agent(&state, &call, &target).await?,
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct TransferBody {
    /// The agent who takes the call.
    user_id: i64,
}

async fn transfer(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<TransferBody>,
) -> AppResult<axum::Json<Call>> {
    let call = visible_call(&state, &user, id).await?;
    if !user.is_supervisor() && call.agent_id != Some(user.id) {
        return Err(AppError::Forbidden);
    }
    let target = crate::auth::store::find_user(&state.db, b.user_id)
        .await
        .map_err(|_| AppError::validation("user_id", "user_id is not a user"))?;
    if !target.active {
        return Err(AppError::validation(
            "user_id",
            "user_id is not an active user",
        ));
    }
    Ok(axum::Json(
        calls::transfer_call(&state, &call, &target, user.id).await?,
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct DialBody {
    number: String,
}

/// The answer of click-to-call: the call Twilio places, or the dial action for the PBX.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct DialAction {
    /// Always `dial`.
    action: &'static str,
    /// `twilio` (the call is placed) or `pbx` (the agent's softphone or PBX dials `uri`).
    via: &'static str,
    /// E.164.
    number: String,
    caller_id: Option<String>,
    /// The open callback ticket of that number, if any (the call is filed on it).
    callback_ticket_id: Option<i64>,
    /// `tel:` URI for the PBX.
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
    /// The call Twilio places.
    #[serde(skip_serializing_if = "Option::is_none")]
    call: Option<Call>,
}

/// Click-to-call. With Twilio configured, Twilio rings the agent first and then dials the
/// customer; otherwise the answer is the dial action for the agent's softphone or PBX, whose
/// CTI events then file the call (on the open callback ticket of that number, if any).
async fn dial(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<DialBody>,
) -> AppResult<axum::Json<DialAction>> {
    let number = state
        .phones
        .normalize(&b.number)
        .ok_or_else(|| AppError::validation("number", "number is not a phone number"))?;
    let caller_id = store::caller_id_for(&state.db, &number)
        .await?
        .or_else(|| Some(state.config.twilio_caller_id.clone()).filter(|c| !c.is_empty()));
    let callback = store::find_open_callback(&mut &state.db, &number).await?;
    let twilio_ready = twilio_configured(&state) && caller_id.is_some();
    if !twilio_ready && state.config.cti_token.is_empty() {
        return Err(AppError::Unprocessable(
            "click-to-call needs Twilio (account SID, auth token and a caller id) or a PBX on \
             the CTI webhook (HOTLINE_CTI_TOKEN); neither is configured"
                .into(),
        ));
    }
    if !twilio_ready {
        return Ok(axum::Json(DialAction {
            action: "dial",
            via: "pbx",
            uri: Some(format!("tel:{number}")),
            number,
            caller_id,
            callback_ticket_id: callback,
            call: None,
        }));
    }
    let caller_id = caller_id.unwrap_or_default();
    let agent_leg = match user.phone.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => p.to_string(),
        None => format!("client:{}", user.login),
    };
    let twiml = format!(
        "<Response><Dial callerId=\"{}\"><Number>{}</Number></Dial></Response>",
        twilio::xml_escape(&caller_id),
        twilio::xml_escape(&number)
    );
    let status_url = format!("{}/webhooks/twilio/voice/status", state.config.public_url());
    let answer = twilio::post(
        &state.config,
        "Calls.json",
        &[
            ("To", agent_leg.as_str()),
            ("From", caller_id.as_str()),
            ("Twiml", twiml.as_str()),
            ("StatusCallback", status_url.as_str()),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
        ],
    )
    .await
    .map_err(|e| AppError::Unprocessable(format!("twilio did not place the call: {e}")))?;
    let sid = answer["sid"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AppError::Unprocessable("twilio answered without a call sid".into()))?;
    let (call, _) = calls::start_call(
        &state,
        &StartCall {
            source: "twilio",
            call_id: sid,
            direction: "out",
            from: &caller_id,
            to: &number,
            queue_id: None,
            state: CallState::Ringing,
            ringing: std::slice::from_ref(&user),
            agent_id: Some(user.id),
        },
    )
    .await?;
    Ok(axum::Json(DialAction {
        action: "dial",
        via: "twilio",
        number,
        caller_id: Some(caller_id),
        callback_ticket_id: callback,
        uri: None,
        call: Some(call),
    }))
}

fn twilio_configured(state: &AppState) -> bool {
    !state.config.twilio_account_sid.is_empty() && !state.config.twilio_auth_token.is_empty()
}

/// One call control: whether the console offers it, how, and why not.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Capability {
    available: bool,
    /// `twilio` or `pbx` when available.
    via: Option<&'static str>,
    /// Why not (stable code the console translates): `not_configured` (neither Twilio nor a
    /// PBX), `no_caller_id` (Twilio without a caller id or caller-id rule),
    /// `twilio_needs_conference` (Twilio holds a caller with the agent still on the line only
    /// inside a conference, which Hotline's calls are not), `pbx_on_phone` (the CTI webhook
    /// only reports events; the phone or softphone does it). Transfer via `twilio` is for
    /// incoming Twilio calls while talking (a cold transfer).
    reason: Option<&'static str>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Capabilities {
    dial: Capability,
    hold: Capability,
    transfer: Capability,
}

fn unavailable(reason: &'static str) -> Capability {
    Capability {
        available: false,
        via: None,
        reason: Some(reason),
    }
}

/// What exists decides: Twilio places calls by REST (when it has a caller id) and moves a
/// talking caller to another agent (cold transfer), a PBX dials from the `tel:` action; neither
/// holds through what Hotline talks to.
async fn capabilities(State(state): State<AppState>) -> AppResult<axum::Json<Capabilities>> {
    let twilio = twilio_configured(&state);
    let pbx = !state.config.cti_token.is_empty();
    let caller_id = !state.config.twilio_caller_id.is_empty()
        || !store::list_caller_id_rules(&state.db).await?.is_empty();
    let dial = match (twilio && caller_id, pbx) {
        (true, _) => Capability {
            available: true,
            via: Some("twilio"),
            reason: None,
        },
        (false, true) => Capability {
            available: true,
            via: Some("pbx"),
            reason: None,
        },
        (false, false) if twilio => unavailable("no_caller_id"),
        (false, false) => unavailable("not_configured"),
    };
    let on_call = match (twilio, pbx) {
        (true, _) => "twilio_needs_conference",
        (false, true) => "pbx_on_phone",
        (false, false) => "not_configured",
    };
    let transfer = if twilio {
        Capability {
            available: true,
            via: Some("twilio"),
            reason: None,
        }
    } else {
        unavailable(on_call)
    };
    Ok(axum::Json(Capabilities {
        dial,
        hold: unavailable(on_call),
        transfer,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct DispositionPick {
    disposition_id: i64,
}

async fn set_disposition(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<DispositionPick>,
) -> AppResult<axum::Json<Call>> {
    let call = visible_call(&state, &user, id).await?;
    if !dispositions::may_set(&user, &call) {
        return Err(AppError::Forbidden);
    }
    Ok(axum::Json(
        dispositions::set_on_call(&state.db, call.id, b.disposition_id, user.id).await?,
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct DispositionListQuery {
    /// Admins: inactive codes too.
    all: Option<bool>,
}

async fn list_dispositions(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<DispositionListQuery>,
) -> AppResult<axum::Json<Vec<Disposition>>> {
    let all = q.all.unwrap_or(false) && user.role == crate::auth::Role::Admin;
    Ok(axum::Json(dispositions::list(&state.db, !all).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct DispositionBody {
    /// Lower-case letters, digits and `_` (required on create).
    code: Option<String>,
    /// English name (required on create).
    name_en: Option<String>,
    /// Chinese name (required on create).
    name_zh: Option<String>,
    active: Option<bool>,
    position: Option<i64>,
}

impl From<DispositionBody> for DispositionFields {
    fn from(b: DispositionBody) -> Self {
        DispositionFields {
            code: b.code,
            name_en: b.name_en,
            name_zh: b.name_zh,
            active: b.active,
            position: b.position,
        }
    }
}

async fn create_disposition(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<DispositionBody>,
) -> AppResult<(StatusCode, axum::Json<Disposition>)> {
    let d = dispositions::insert(&state.db, b.into()).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "voice.disposition",
        &format!("disposition:{}", d.id),
        json!({"code": d.code, "name_en": d.name_en, "name_zh": d.name_zh, "active": d.active}),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(d)))
}

async fn update_disposition(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<DispositionBody>,
) -> AppResult<axum::Json<Disposition>> {
    let d = dispositions::update(&state.db, id, b.into()).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "voice.disposition",
        &format!("disposition:{}", d.id),
        json!({"code": d.code, "name_en": d.name_en, "name_zh": d.name_zh, "active": d.active}),
    )
    .await?;
    Ok(axum::Json(d))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ReportQuery {
    /// RFC 3339; calls that started at or after it.
    from: String,
    /// RFC 3339; calls that started at or before it.
    to: String,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct DispositionReport {
    from_ms: i64,
    to_ms: i64,
    /// Answered or finished calls in the period.
    total: i64,
    /// Per code and queue, most calls first; calls without a code in rows with
    /// `disposition_id: null`.
    rows: Vec<ReportRow>,
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

async fn disposition_report(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> AppResult<axum::Json<DispositionReport>> {
    let from_ms = rfc3339("from", &q.from)?;
    let to_ms = rfc3339("to", &q.to)?;
    if from_ms > to_ms {
        return Err(AppError::validation("to", "to must not be before from"));
    }
    let rows = dispositions::report(&state.db, from_ms, to_ms).await?;
    Ok(axum::Json(DispositionReport {
        from_ms,
        to_ms,
        total: rows.iter().map(|r| r.calls).sum(),
        rows,
    }))
}

fn phone(state: &AppState, field: &str, value: &str) -> AppResult<String> {
    state
        .phones
        .normalize(value)
        .ok_or_else(|| AppError::validation(field, format!("{field} is not a phone number")))
}

async fn list_blocked(State(state): State<AppState>) -> AppResult<axum::Json<Vec<BlockedNumber>>> {
    Ok(axum::Json(store::list_blocked(&state.db).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct BlockBody {
    number: String,
    reason: Option<String>,
}

async fn create_blocked(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<BlockBody>,
) -> AppResult<(StatusCode, axum::Json<BlockedNumber>)> {
    let number = phone(&state, "number", &b.number)?;
    let reason = optional_text("reason", b.reason.as_deref().unwrap_or(""), 500)?;
    let row = store::insert_blocked(&state.db, &number, &reason, user.id).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "voice.block",
        &format!("number:{number}"),
        json!({"reason": reason}),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(row)))
}

async fn delete_blocked(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    store::delete_by_id(&state.db, AdminTable::Blocked, id).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "voice.unblock",
        &format!("blocked_number:{id}"),
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_rules(State(state): State<AppState>) -> AppResult<axum::Json<Vec<CallerIdRule>>> {
    Ok(axum::Json(store::list_caller_id_rules(&state.db).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "CallerIdRuleBody")]
struct RuleBody {
    /// Start of the dialled number in E.164 (`+86`, `+8610`); `+` alone matches all.
    prefix: String,
    caller_id: String,
    note: Option<String>,
}

async fn create_rule(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<RuleBody>,
) -> AppResult<(StatusCode, axum::Json<CallerIdRule>)> {
    let prefix = required_text("prefix", &b.prefix, 20)?;
    if !prefix.starts_with('+') || !prefix[1..].chars().all(|c| c.is_ascii_digit()) {
        return Err(AppError::validation(
            "prefix",
            "prefix must be + followed by digits",
        ));
    }
    let caller_id = phone(&state, "caller_id", &b.caller_id)?;
    let note = optional_text("note", b.note.as_deref().unwrap_or(""), 500)?;
    let rule = store::insert_caller_id_rule(&state.db, &prefix, &caller_id, &note).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "voice.caller_id_rule",
        &format!("caller_id_rule:{}", rule.id),
        json!({"prefix": prefix, "caller_id": caller_id}),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(rule)))
}

async fn delete_rule(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    store::delete_by_id(&state.db, AdminTable::CallerId, id).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "voice.caller_id_rule_delete",
        &format!("caller_id_rule:{id}"),
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_numbers(State(state): State<AppState>) -> AppResult<axum::Json<Vec<VoiceNumber>>> {
    Ok(axum::Json(store::list_voice_numbers(&state.db).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NumberBody {
    number: String,
    language: Option<String>,
    greeting: Option<String>,
    queue_id: Option<i64>,
    #[serde(default)]
    menu: Vec<MenuChoice>,
}

async fn upsert_number(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<NumberBody>,
) -> AppResult<axum::Json<VoiceNumber>> {
    let number = phone(&state, "number", &b.number)?;
    let mut queues: Vec<i64> = b.menu.iter().map(|c| c.queue_id).collect();
    queues.extend(b.queue_id);
    for q in queues {
        crate::routing::store::find_queue(&state.db, q)
            .await
            .map_err(|_| AppError::validation("queue_id", format!("queue {q} does not exist")))?;
    }
    if b.menu.iter().any(|c| {
        c.digit.len() != 1
            || !c
                .digit
                .chars()
                .all(|d| d.is_ascii_digit() || d == '*' || d == '#')
    }) {
        return Err(AppError::validation(
            "menu",
            "each menu digit must be one key: 0-9, * or #",
        ));
    }
    let n = VoiceNumber {
        number,
        language: required_text("language", b.language.as_deref().unwrap_or("en-US"), 20)?,
        greeting: optional_text("greeting", b.greeting.as_deref().unwrap_or(""), 1000)?,
        queue_id: b.queue_id,
        menu: b.menu,
    };
    store::upsert_voice_number(&state.db, &n).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "voice.number",
        &format!("number:{}", n.number),
        json!({"language": n.language, "queue_id": n.queue_id, "menu": n.menu.len()}),
    )
    .await?;
    Ok(axum::Json(n))
}
