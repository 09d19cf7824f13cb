//! The call lifecycle shared by the CTI and Twilio adapters: start (ticket, interaction, call
//! row, screen pops), answer, end (durations, cause, missed call → callback), and the hooks
//! routing uses (`pop_screen`, `connect_call_to_agent`).

use super::store::{self, Call, NewCall};
use super::{CallState, is_missed};
use crate::app::AppState;
use crate::auth::User;
use crate::customers::identity::IdentityKind;
use crate::customers::routes::View360;
use crate::customers::{Identity, MatchQuality};
use crate::db::{Backend, Db, Exec, WriteJob, now_ms};
use crate::error::{AppError, AppResult};
use crate::intake::{self, Inbound, Thread};
use crate::realtime::events::{self, Scope};
use crate::routing::offers::{self, CallEnd, CallWork};
use crate::tickets::store::{self as tickets, NewInteraction, NewTicket, TicketChanges};
use crate::tickets::{Channel, Direction, Kind, Priority, Status, SystemText, Visibility};
use serde_json::{Value, json};

pub struct StartCall<'a> {
    pub source: &'a str,
    pub call_id: &'a str,
    /// `in` or `out`.
    pub direction: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub queue_id: Option<i64>,
    pub state: CallState,
    /// Agents whose phone rings now: their screens pop.
    pub ringing: &'a [User],
    /// The agent placing an outbound call.
    pub agent_id: Option<i64>,
}

/// The whole 360 view of the customer on a number, before it is cut to what each agent may see
/// (`pop_views`): an unknown or unparseable number gives the "new customer" form prefilled with
/// the number.
pub async fn view_for_number(state: &AppState, number: &str) -> AppResult<View360> {
    let all = Visibility::all();
    match state.phones.normalize(number) {
        Some(e164) => crate::customers::routes::lookup_view(state, &e164, &all).await,
        None => crate::customers::routes::lookup_view(state, "", &all).await,
    }
}

/// The screen pop's view for each of `users`: the 360 as that agent may see it (internal notes
/// and bodies of tickets outside their queues withheld, as `GET /api/customers/{id}`), with
/// the articles suggested from what they see.
async fn pop_views(
    state: &AppState,
    full: &View360,
    users: &[User],
) -> AppResult<Vec<(i64, Value)>> {
    let mut out = Vec::with_capacity(users.len());
    for user in users {
        let reader = tickets::visibility(&state.db, user).await?;
        let view = full.for_reader(&reader);
        let articles = suggested_articles(state, &view);
        let mut value = serde_json::to_value(view).map_err(AppError::internal)?;
        value["suggested_articles"] = serde_json::to_value(articles).map_err(AppError::internal)?;
        out.push((user.id, value));
    }
    Ok(out)
}

/// The knowledge-base articles that answer what the caller's open tickets are about (their
/// subjects and the latest inbound message), so the agent has the answer before saying hello.
fn suggested_articles(state: &AppState, view: &View360) -> Vec<crate::knowledge::Hit> {
    let mut text: Vec<&str> = view
        .open_tickets
        .iter()
        .map(|t| t.subject.as_str())
        .collect();
    if let Some(latest) = view.history.iter().find(|h| h.direction == "in") {
        text.push(&latest.preview);
    }
    if text.is_empty() {
        return Vec::new();
    }
    let lang = view
        .customer
        .as_ref()
        .and_then(|c| c.language.as_deref())
        .filter(|l| matches!(*l, "zh" | "en"));
    crate::knowledge::suggest::suggest_for_text(&state.kb, &text.join("\n"), lang).unwrap_or_else(
        |e| {
            tracing::warn!(error = %e, "screen pop suggestions failed");
            Vec::new()
        },
    )
}

fn pop_payload(call: &Call, view: &Value) -> Value {
    json!({
        "call_id": call.call_id,
        "id": call.id,
        "source": call.source,
        "direction": call.direction,
        "from": call.from_number,
        "to": call.to_number,
        "queue_id": call.queue_id,
        "ticket_id": call.ticket_id,
        "view": view,
    })
}

fn call_payload(call: &Call) -> Value {
    json!({
        "call_id": call.call_id,
        "id": call.id,
        "source": call.source,
        "state": call.state,
        "direction": call.direction,
        "from": call.from_number,
        "to": call.to_number,
        "queue_id": call.queue_id,
        "agent_id": call.agent_id,
        "ticket_id": call.ticket_id,
        "callback_ticket_id": call.callback_ticket_id,
        "cause": call.cause,
        "wait_ms": call.wait_ms(),
        "talk_ms": call.talk_ms(),
        "wrap_ms": call.wrap_ms(),
        "disposition_id": call.disposition_id,
    })
}

fn call_scope(call: &Call) -> Scope {
    Scope {
        queue_id: call.queue_id,
        user_id: call.agent_id,
        ticket_id: call.ticket_id,
        customer_id: call.customer_id,
    }
}

/// Appends `screen_pop` for one agent (scope: that agent only).
async fn append_pop<E: Exec>(
    tx: &mut E,
    backend: Backend,
    call: &Call,
    user_id: i64,
    view: &Value,
) -> AppResult<()> {
    let scope = Scope {
        user_id: Some(user_id),
        ..Scope::default()
    };
    let payload = pop_payload(call, view);
    events::append(tx, backend, "screen_pop", scope, &payload).await?;
    Ok(())
}

/// Writes the call row's changes, mirrors them on the interaction's meta and appends
/// `call.updated`. Returns false (and writes nothing) when the call ended meanwhile.
async fn save<E: Exec>(tx: &mut E, db: &Db, call: &Call, allow_ended: bool) -> AppResult<bool> {
    if !store::update_call(tx, call, allow_ended).await? {
        return Ok(false);
    }
    if let Some(iid) = call.interaction_id {
        let meta = json!({
            "state": call.state,
            "agent_id": call.agent_id,
            "wait_ms": call.wait_ms(),
            "talk_ms": call.talk_ms(),
            "wrap_ms": call.wrap_ms(),
            "cause": call.cause,
            "answered_at": call.answered_at,
            "ended_at": call.ended_at,
            "recording_url": call.recording_url,
            "callback_ticket_id": call.callback_ticket_id,
        });
        tickets::update_interaction_meta(tx, iid, &meta).await?;
    }
    let payload = call_payload(call);
    events::append(tx, db.backend, "call.updated", call_scope(call), &payload).await?;
    Ok(true)
}

/// Appends `call.updated` for a change made outside the lifecycle steps (e.g. a disposition).
pub(super) async fn append_updated<E: Exec>(tx: &mut E, db: &Db, call: &Call) -> AppResult<()> {
    events::append(
        tx,
        db.backend,
        "call.updated",
        call_scope(call),
        &call_payload(call),
    )
    .await?;
    Ok(())
}

/// Starts a call: files it on the customer's ticket (their open voice ticket in the same queue,
/// or a new one; an outbound call to a number with a pending callback goes on that callback),
/// stores the call row and pops the screens of the ringing agents, all in one commit.
/// Idempotent on (source, call_id): a repeated start returns the existing call and pops
/// nothing.
pub async fn start_call(state: &AppState, s: &StartCall<'_>) -> AppResult<(Call, bool)> {
    // A concurrent repeat of the same event can win the interaction's unique key; the second
    // try then finds its call.
    match start_call_once(state, s).await {
        Err(AppError::Conflict(_)) => start_call_once(state, s).await,
        other => other,
    }
}

async fn start_call_once(state: &AppState, s: &StartCall<'_>) -> AppResult<(Call, bool)> {
    if let Some(existing) = store::find_call(&mut &state.db, s.source, s.call_id).await? {
        return Ok((existing, false));
    }
    let number = if s.direction == "in" { s.from } else { s.to };
    let normalized = state.phones.normalize(number);
    let full = view_for_number(state, number).await?;
    let known = full.quality == MatchQuality::Exact && full.matched_by.as_deref() == Some("phone");
    let views = pop_views(state, &full, s.ringing).await?;
    // An unknown caller is not made a customer behind the agent's back: the pop offers the
    // new-customer form, and the ticket waits without customer until it is filed.
    let identity = match (&normalized, known) {
        (Some(value), true) => Some(Identity {
            kind: IdentityKind::Phone,
            value: value.clone(),
        }),
        _ => None,
    };
    let external_id = format!("{}:{}", s.source, s.call_id);
    let shown = normalized.clone().unwrap_or_else(|| number.to_string());
    let filing = match s.direction {
        "in" => {
            let mut msg = Inbound::new(
                Channel::Voice,
                identity,
                format!("Incoming call from {shown}"),
            );
            msg.from_addr = shown.clone();
            msg.to_addr = s.to.to_string();
            msg.subject = String::new();
            msg.external_id = Some(external_id);
            msg.queue_id = s.queue_id;
            msg.thread = Thread::OpenOnChannel;
            msg.meta = json!({"call_id": s.call_id, "source": s.source, "state": s.state});
            msg.text = Some(SystemText::new("call.incoming", json!({"number": shown})));
            Filing::Inbound(Box::new(msg))
        }
        _ => Filing::Outbound(Outbound {
            from: s.from.to_string(),
            shown: shown.clone(),
            identity,
            external_id,
            meta: json!({"call_id": s.call_id, "source": s.source, "state": s.state}),
        }),
    };
    let inbound = s.direction == "in";
    let job = FileCall {
        filing,
        source: s.source.to_string(),
        call_id: s.call_id.to_string(),
        direction: s.direction.to_string(),
        from_number: if inbound {
            shown.clone()
        } else {
            s.from.to_string()
        },
        to_number: if inbound { s.to.to_string() } else { shown },
        queue_id: s.queue_id,
        state: s.state,
        agent_id: s.agent_id,
        ringing: s.ringing.iter().map(|u| u.id).collect(),
        views,
    };
    let Some(call) = events::write(&state.db, job).await? else {
        // A concurrent repeat of the same event won.
        let existing = store::find_call(&mut &state.db, s.source, s.call_id).await?;
        return Ok((existing.ok_or(AppError::NotFound("call"))?, false));
    };
    if s.direction == "in" {
        metrics::counter!("hotline_intake_total", "channel" => "voice").increment(1);
    }
    metrics::counter!("hotline_calls_total", "source" => s.source.to_string(), "direction" => s.direction.to_string()).increment(1);
    Ok((call, true))
}

/// Records a call rejected as busy (its number is blocked), so that a repeat of the event and
/// the later hangup or status callback are recognised and change nothing.
pub async fn record_rejected(
    state: &AppState,
    source: &str,
    call_id: &str,
    from: &str,
    to: &str,
) -> AppResult<()> {
    let job = Rejected {
        source: source.to_string(),
        call_id: call_id.to_string(),
        from: from.to_string(),
        to: to.to_string(),
    };
    state.db.write(job).await
}

struct Rejected {
    source: String,
    call_id: String,
    from: String,
    to: String,
}

impl WriteJob for Rejected {
    type Out = ();

    async fn run<E: Exec>(&self, tx: &mut E, _db: &Db) -> AppResult<()> {
        let new = NewCall {
            source: &self.source,
            call_id: &self.call_id,
            direction: "in",
            from_number: &self.from,
            to_number: &self.to,
            queue_id: None,
            state: CallState::Rejected,
            agent_id: None,
            customer_id: None,
            ticket_id: None,
            interaction_id: None,
            popped: &[],
        };
        store::insert_call(tx, &new).await?;
        Ok(())
    }
}

/// How a starting call's interaction is filed, in the call's own transaction.
enum Filing {
    /// An inbound call: through intake.
    Inbound(Box<Inbound>),
    /// An outbound call: on the number's pending callback, the customer's open voice ticket in
    /// the queue, or a new ticket of the calling agent.
    Outbound(Outbound),
}

struct Outbound {
    from: String,
    /// The dialled number as shown (E.164 when it is one).
    shown: String,
    identity: Option<Identity>,
    external_id: String,
    meta: Value,
}

/// The one transaction of a starting call: its interaction (inbound), the call row and the
/// ringing agents' screen pops. `None` when a concurrent repeat of the event stored the call.
struct FileCall {
    filing: Filing,
    source: String,
    call_id: String,
    direction: String,
    from_number: String,
    to_number: String,
    queue_id: Option<i64>,
    state: CallState,
    agent_id: Option<i64>,
    ringing: Vec<i64>,
    /// Each ringing agent's pop view.
    views: Vec<(i64, Value)>,
}

impl WriteJob for FileCall {
    type Out = Option<Call>;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<Option<Call>> {
        let (ticket_id, interaction_id, customer_id) = match &self.filing {
            Filing::Outbound(out) => {
                file_outbound(tx, db, out, self.queue_id, self.agent_id).await?
            }
            Filing::Inbound(msg) => {
                let o = intake::receive_in(tx, db, msg).await?;
                if !o.ticket_created && !o.duplicate {
                    // A caller ringing again about their open ticket is routed again.
                    offers::queue_call_again(tx, db, o.ticket.id, self.queue_id).await?;
                }
                (o.ticket.id, o.interaction.id, o.customer_id)
            }
        };
        let new = NewCall {
            source: &self.source,
            call_id: &self.call_id,
            direction: &self.direction,
            from_number: &self.from_number,
            to_number: &self.to_number,
            queue_id: self.queue_id,
            state: self.state,
            agent_id: self.agent_id,
            customer_id,
            ticket_id: Some(ticket_id),
            interaction_id: Some(interaction_id),
            popped: &self.ringing,
        };
        // The interaction's key is the call's, so a repeat found by intake wrote nothing here.
        let Some(call) = store::insert_call(tx, &new).await? else {
            return Ok(None);
        };
        let payload = call_payload(&call);
        events::append(tx, db.backend, "call.updated", call_scope(&call), &payload).await?;
        for (user_id, view) in &self.views {
            append_pop(tx, db.backend, &call, *user_id, view).await?;
        }
        Ok(Some(call))
    }
}

/// Files an outbound call: (ticket, interaction, customer).
async fn file_outbound<E: Exec>(
    tx: &mut E,
    db: &Db,
    out: &Outbound,
    queue_id: Option<i64>,
    agent_id: Option<i64>,
) -> AppResult<(i64, i64, Option<i64>)> {
    let customer_id = match &out.identity {
        Some(i) => crate::customers::store::find_by_identity(tx, i).await?,
        None => None,
    };
    let callback = store::find_open_callback(tx, &out.shown).await?;
    let open = match (callback, customer_id) {
        (Some(id), _) => Some(tickets::find_ticket(tx, id).await?),
        (None, Some(cid)) => {
            tickets::find_open_ticket_on(tx, cid, Channel::Voice, queue_id).await?
        }
        (None, None) => None,
    };
    let ticket = match open {
        Some(t) => t,
        None => {
            let new = NewTicket {
                subject: format!("Call to {}", out.shown),
                priority: Priority::Normal,
                kind: Kind::Inquiry,
                channel: Channel::Voice,
                queue_id,
                assignee_id: agent_id,
                customer_id,
                tags: Vec::new(),
                subject_data: Some(SystemText::new(
                    "call.outgoing",
                    json!({"number": out.shown}),
                )),
            };
            tickets::insert_ticket(tx, db, &new).await?
        }
    };
    let mut meta = out.meta.clone();
    meta["callback_for"] = json!(callback);
    let (interaction, stored) = tickets::insert_interaction(
        tx,
        db,
        &NewInteraction {
            ticket_id: ticket.id,
            customer_id: ticket.customer_id.or(customer_id),
            channel: Channel::Voice,
            direction: Direction::Out,
            from_addr: out.from.clone(),
            to_addr: out.shown.clone(),
            subject: String::new(),
            body: format!("Outgoing call to {}", out.shown),
            external_id: Some(out.external_id.clone()),
            author_id: agent_id,
            meta,
        },
    )
    .await?;
    if !stored {
        // A concurrent repeat filed it (PostgreSQL): nothing of this run may stay.
        return Err(AppError::Conflict("the call was filed meanwhile".into()));
    }
    Ok((
        ticket.id,
        interaction.id,
        ticket.customer_id.or(customer_id),
    ))
}

/// Pops `user`'s screen for `call` unless it popped already (routing calls this when it offers
/// a call; the adapters when a PBX says who rings or who answered).
pub async fn pop_screen(state: &AppState, call: &Call, user_id: i64) -> AppResult<bool> {
    if call.popped.contains(&user_id) {
        return Ok(false);
    }
    let user = crate::auth::store::find_user(&state.db, user_id).await?;
    let full = view_for_number(state, call.customer_number()).await?;
    let view = pop_views(state, &full, &[user])
        .await?
        .pop()
        .map(|(_, v)| v)
        .unwrap_or_default();
    let job = Pop {
        call_id: call.id,
        user_id,
        view,
    };
    events::write(&state.db, job).await
}

struct Pop {
    call_id: i64,
    user_id: i64,
    view: Value,
}

impl WriteJob for Pop {
    type Out = bool;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<bool> {
        let mut call = store::find_call_by_id(tx, self.call_id).await?;
        if call.popped.contains(&self.user_id) || call.state.is_final() {
            return Ok(false);
        }
        call.popped.push(self.user_id);
        store::update_call(tx, &call, false).await?;
        append_pop(tx, db.backend, &call, self.user_id, &self.view).await?;
        Ok(true)
    }
}

/// Sets an unfinished call's state (e.g. queued, offered) with its event.
pub async fn set_state(state: &AppState, call_id: i64, to: CallState) -> AppResult<Call> {
    events::write(&state.db, SetState { call_id, to }).await
}

struct SetState {
    call_id: i64,
    to: CallState,
}

impl WriteJob for SetState {
    type Out = Call;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<Call> {
        let mut call = store::find_call_by_id(tx, self.call_id).await?;
        if call.state.is_final() || call.state == self.to {
            return Ok(call);
        }
        call.state = self.to;
        if self.to == CallState::Queued && call.queued_at.is_none() {
            call.queued_at = Some(now_ms());
        }
        save(tx, db, &call, false).await?;
        Ok(call)
    }
}

/// The call was answered by `agent`. Ignored (returns the call unchanged, `false`) when the
/// call is already over or answered: a late answer after a hangup changes nothing.
pub async fn answer(
    state: &AppState,
    call_id: i64,
    agent: Option<&User>,
) -> AppResult<(Call, bool)> {
    let job = Answer {
        call_id,
        agent_id: agent.map(|a| a.id),
    };
    let (call, answered) = events::write(&state.db, job).await?;
    if !answered {
        return Ok((call, false));
    }
    if let Some(a) = agent {
        // PBXs that announce nobody before the answer still get the pop, now.
        pop_screen(state, &call, a.id).await?;
    }
    Ok((store::find_call_by_id(&mut &state.db, call_id).await?, true))
}

struct Answer {
    call_id: i64,
    agent_id: Option<i64>,
}

impl WriteJob for Answer {
    type Out = (Call, bool);

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<(Call, bool)> {
        let mut call = store::find_call_by_id(tx, self.call_id).await?;
        if call.state.is_final() || call.answered_at.is_some() {
            return Ok((call, false));
        }
        call.state = CallState::Talking;
        call.answered_at = Some(now_ms());
        call.agent_id = self.agent_id.or(call.agent_id);
        if !save(tx, db, &call, false).await? {
            return Ok((call, false));
        }
        // The agent who talks to the customer owns the ticket unless someone already does, and
        // the call's work is theirs.
        if let (Some(tid), Some(a), Some(at)) = (call.ticket_id, self.agent_id, call.answered_at) {
            offers::take_call_work(tx, db, tid, a, at).await?;
            let t = tickets::find_ticket(tx, tid).await?;
            if t.assignee_id.is_none() {
                let change = TicketChanges {
                    assignee_id: Some(Some(a)),
                    status: (t.status == Status::New).then_some(Status::Open),
                    ..TicketChanges::default()
                };
                tickets::update_ticket(tx, db, tid, &change, None).await?;
            }
        }
        Ok((call, true))
    }
}

/// The call ended with `cause`. Computes durations; an unanswered, not forwarded inbound call
/// abandons its own work and becomes a callback ticket in its queue. Ignored when the call
/// already ended.
pub async fn end(state: &AppState, call_id: i64, cause: &str) -> AppResult<(Call, bool)> {
    let job = End {
        call_id,
        cause: cause.to_string(),
        wrap_up_secs: state.config.wrap_up_secs,
        callback_sla_minutes: state.config.callback_sla_minutes,
    };
    let (call, ended) = match events::write(&state.db, job).await {
        // Another request ended it first (PostgreSQL): nothing of this one stayed.
        Err(AppError::Conflict(_)) => (
            store::find_call_by_id(&mut &state.db, call_id).await?,
            false,
        ),
        other => other?,
    };
    if ended {
        metrics::counter!("hotline_calls_ended_total", "state" => call.state.as_str()).increment(1);
    }
    Ok((call, ended))
}

struct End {
    call_id: i64,
    cause: String,
    wrap_up_secs: u64,
    callback_sla_minutes: i64,
}

impl WriteJob for End {
    type Out = (Call, bool);

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<(Call, bool)> {
        let mut call = store::find_call_by_id(tx, self.call_id).await?;
        if call.state.is_final() {
            return Ok((call, false));
        }
        let answered = call.answered_at.is_some();
        call.ended_at = Some(now_ms());
        call.cause = Some(self.cause.clone());
        // The call's own work ends with it. The agent who talked goes to after-call work; the
        // call stays in wrap-up until that ends.
        let work = call.ticket_id.map(|ticket_id| CallWork {
            ticket_id,
            queue_id: call.queue_id,
            since: call.started_at,
        });
        let missed = is_missed(&call.direction, answered, &self.cause);
        let mut wrapping = false;
        if let Some(work) = &work {
            match (call.answered_at, call.agent_id) {
                (Some(at), Some(agent)) => {
                    let wrap = self.wrap_up_secs;
                    wrapping = offers::finish_call_work(tx, db, wrap, work, agent, at).await?;
                }
                (Some(at), None) => {
                    let end = CallEnd::Answered { agent: None, at };
                    offers::end_call_work(tx, db, work, end).await?;
                }
                (None, _) if missed => {
                    offers::end_call_work(tx, db, work, CallEnd::Missed).await?;
                }
                (None, _) if call.direction == "in" => {
                    offers::end_call_work(tx, db, work, CallEnd::Forwarded).await?;
                }
                (None, _) => {}
            }
        }
        call.state = match (answered, wrapping) {
            (false, _) => CallState::Abandoned,
            (true, true) => CallState::WrapUp,
            (true, false) => CallState::Ended,
        };
        if missed {
            let minutes = self.callback_sla_minutes;
            call.callback_ticket_id = Some(create_callback(tx, db, minutes, &call).await?);
        }
        if !save(tx, db, &call, false).await? {
            // Another request ended it first: nothing of this one stays.
            return Err(AppError::Conflict("the call ended meanwhile".into()));
        }
        if call.direction == "out" {
            log_callback_attempt(tx, db, &call, answered).await?;
        }
        Ok((call, true))
    }
}

/// The agent's after-call work ended (they left wrap-up, or its time ran out): their calls in
/// wrap-up end, with the wrap-up time. Safe on several nodes: a call ends once.
pub async fn end_wrap_up(state: &AppState, agent: i64) -> AppResult<usize> {
    let calls = store::wrapping_up(&state.db, agent).await?;
    if calls.is_empty() {
        return Ok(0);
    }
    events::write(&state.db, EndWrapUp { agent, calls }).await
}

struct EndWrapUp {
    agent: i64,
    calls: Vec<Call>,
}

impl WriteJob for EndWrapUp {
    type Out = usize;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<usize> {
        // The presence change that woke this may be older than the agent's current wrap-up (its
        // event read late): calls end only when the agent is out of wrap-up now.
        let now = crate::routing::presence::find_presence(tx, self.agent).await?;
        if now.state == "wrap_up" {
            return Ok(0);
        }
        let mut ended = 0;
        for call in &self.calls {
            if !store::end_wrap_up(tx, call.id).await? {
                continue;
            }
            let call = Call {
                state: CallState::Ended,
                wrapped_at: Some(now_ms()),
                ..call.clone()
            };
            save(tx, db, &call, true).await?;
            ended += 1;
        }
        Ok(ended)
    }
}

/// A missed call becomes a callback ticket: status new, in the call's queue, the caller as
/// customer, with its due time (the callback SLA) in the first note's meta.
async fn create_callback<E: Exec>(
    tx: &mut E,
    db: &Db,
    sla_minutes: i64,
    call: &Call,
) -> AppResult<i64> {
    let number = call.customer_number().to_string();
    let due = now_ms() + sla_minutes.max(1) * 60_000;
    let ticket = tickets::insert_ticket(
        tx,
        db,
        &NewTicket {
            subject: format!("Call back {number}"),
            priority: Priority::High,
            kind: Kind::Callback,
            channel: Channel::Voice,
            queue_id: call.queue_id,
            assignee_id: None,
            customer_id: call.customer_id,
            tags: vec!["missed_call".into()],
            subject_data: Some(SystemText::new("callback", json!({"number": number}))),
        },
    )
    .await?;
    tickets::insert_interaction(
        tx,
        db,
        &NewInteraction {
            ticket_id: ticket.id,
            customer_id: call.customer_id,
            channel: Channel::Note,
            direction: Direction::Internal,
            from_addr: String::new(),
            to_addr: String::new(),
            subject: String::new(),
            body: format!(
                "Missed call from {number} ({}); call back within {sla_minutes} minutes.",
                call.cause.as_deref().unwrap_or("noAnswer"),
            ),
            external_id: None,
            author_id: None,
            meta: json!({"missed_call": call.id, "call_id": call.call_id, "callback_due_ms": due,
                "number": number, "ticket_of_call": call.ticket_id,
                "text": SystemText::new("call.missed", json!({"number": number,
                    "cause": call.cause.as_deref().unwrap_or("noAnswer"), "minutes": sla_minutes}))}),
        },
    )
    .await?;
    // The callback waits in the queue as work of its own kind, with the queue's callback SLA.
    let note = format!("Missed call from {number}");
    crate::routing::offers::insert_callback(tx, db, ticket.id, call.queue_id, &number, &note)
        .await?;
    Ok(ticket.id)
}

/// An outbound call on a callback ticket logs its result there; a reached customer resolves it.
async fn log_callback_attempt<E: Exec>(
    tx: &mut E,
    db: &Db,
    call: &Call,
    answered: bool,
) -> AppResult<()> {
    let Some(tid) = call.ticket_id else {
        return Ok(());
    };
    let t = tickets::find_ticket(tx, tid).await?;
    if t.kind != Kind::Callback || !t.status.is_open() {
        return Ok(());
    }
    let result = if answered {
        "reached"
    } else {
        call.cause.as_deref().unwrap_or("noAnswer")
    };
    tickets::insert_interaction(
        tx,
        db,
        &NewInteraction {
            ticket_id: tid,
            customer_id: t.customer_id,
            channel: Channel::Note,
            direction: Direction::Internal,
            from_addr: String::new(),
            to_addr: String::new(),
            subject: String::new(),
            body: format!("Call back attempt to {}: {result}", call.to_number),
            external_id: None,
            author_id: call.agent_id,
            meta: json!({"callback_attempt": call.id, "result": result, "talk_ms": call.talk_ms(),
                "text": SystemText::new("callback.attempt",
                    json!({"number": call.to_number, "result": result}))}),
        },
    )
    .await?;
    if answered {
        let change = TicketChanges {
            status: Some(Status::Resolved),
            assignee_id: call.agent_id.map(Some),
            ..TicketChanges::default()
        };
        tickets::update_ticket(tx, db, tid, &change, call.agent_id).await?;
    }
    Ok(())
}

/// What Twilio dials to reach `user`: their phone number, else their Twilio Client identity.
fn dial_target(user: &User) -> String {
    match user.phone.as_deref().filter(|p| !p.is_empty()) {
        Some(phone) => format!(
            "<Number>{}</Number>",
            super::super::twilio::xml_escape(phone)
        ),
        None => format!(
            "<Client>{}</Client>",
            super::super::twilio::xml_escape(&user.login)
        ),
    }
}

/// Cold transfer: a Twilio caller talking to an agent is put through to `to` instead. Twilio
/// redirects the caller's leg (the call Hotline knows) to a `<Dial>` of `to`, which ends the
/// first agent's leg; the call, its work and its ticket become `to`'s and their screen pops.
/// Only inbound Twilio calls: an outbound call's known leg is the agent's own, and a PBX
/// transfers its calls on the phone.
pub async fn transfer_call(state: &AppState, call: &Call, to: &User, by: i64) -> AppResult<Call> {
    if call.source != "twilio" || call.direction != "in" {
        return Err(AppError::Unprocessable(
            "only incoming Twilio calls can be transferred by Hotline; a PBX transfers its calls \
             on the phone"
                .into(),
        ));
    }
    if call.state != CallState::Talking {
        return Err(AppError::Conflict(format!(
            "call {} is {} and cannot be transferred",
            call.id,
            call.state.as_str()
        )));
    }
    if call.agent_id == Some(to.id) {
        return Err(AppError::validation(
            "user_id",
            "the call is with this agent already",
        ));
    }
    // The keypad survey follows the agent's leg (when the queue asks for one).
    let twiml = format!(
        "<Response><Dial{}>{}</Dial></Response>",
        crate::surveys::keypad::dial_action(state, call.queue_id).await?,
        dial_target(to)
    );
    let resource = format!("Calls/{}.json", call.call_id);
    super::super::twilio::post(&state.config, &resource, &[("Twiml", twiml.as_str())])
        .await
        .map_err(|e| AppError::Unprocessable(format!("twilio did not transfer the call: {e}")))?;
    let moved = events::write(
        &state.db,
        Transfer {
            call_id: call.id,
            to: to.id,
        },
    )
    .await?;
    if let Some(tid) = moved.ticket_id {
        // The call's work follows it (a ticket without open work keeps its history).
        match offers::assign_work(state, tid, to.id, by, true).await {
            Ok(_) | Err(AppError::NotFound(_)) | Err(AppError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    pop_screen(state, &moved, to.id).await?;
    store::find_call_by_id(&mut &state.db, call.id).await
}

struct Transfer {
    call_id: i64,
    to: i64,
}

impl WriteJob for Transfer {
    type Out = Call;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<Call> {
        let mut call = store::find_call_by_id(tx, self.call_id).await?;
        if call.state != CallState::Talking {
            return Err(AppError::Conflict(format!(
                "call {} is {} and cannot be transferred",
                call.id,
                call.state.as_str()
            )));
        }
        let from = call.agent_id;
        call.agent_id = Some(self.to);
        if !save(tx, db, &call, false).await? {
            return Err(AppError::Conflict("the call ended meanwhile".into()));
        }
        // The ticket the first agent held for this call goes with it (someone else's stays).
        if let Some(tid) = call.ticket_id {
            let t = tickets::find_ticket(tx, tid).await?;
            if t.assignee_id.is_none() || t.assignee_id == from {
                let change = TicketChanges {
                    assignee_id: Some(Some(self.to)),
                    ..TicketChanges::default()
                };
                tickets::update_ticket(tx, db, tid, &change, None).await?;
            }
        }
        Ok(call)
    }
}

/// Connects a waiting Twilio call to `user` (their phone number, else their Twilio Client
/// identity = login) by redirecting the call through the REST API; the routing accept path and
/// `POST /api/calls/{id}/connect` call this.
pub async fn connect_call_to_agent(state: &AppState, call: &Call, user: &User) -> AppResult<Call> {
    if call.source != "twilio" {
        return Err(AppError::Unprocessable(
            "only Twilio calls can be connected by Hotline; a PBX connects its own calls".into(),
        ));
    }
    if call.state.is_final() || call.answered_at.is_some() {
        return Err(AppError::Conflict(format!(
            "call {} is {} and cannot be connected",
            call.id,
            call.state.as_str()
        )));
    }
    let offered = set_state(state, call.id, CallState::Offered).await?;
    pop_screen(state, &offered, user.id).await?;
    let twiml = format!(
        "<Response><Dial{}>{}</Dial></Response>",
        crate::surveys::keypad::dial_action(state, call.queue_id).await?,
        dial_target(user)
    );
    let resource = format!("Calls/{}.json", call.call_id);
    match super::super::twilio::post(&state.config, &resource, &[("Twiml", twiml.as_str())]).await {
        Ok(_) => {
            let (call, _) = answer(state, call.id, Some(user)).await?;
            Ok(call)
        }
        Err(e) => {
            set_state(state, call.id, CallState::Queued).await?;
            Err(AppError::Unprocessable(format!(
                "twilio did not connect the call: {e}"
            )))
        }
    }
}
