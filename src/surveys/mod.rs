//! Satisfaction surveys (CSAT): after a ticket is resolved (per-queue setting, after a delay)
//! the customer gets one short survey through the channel they used (an email or SMS link to
//! `/survey/{token}`); a call can end with a keypad survey; an agent can record a verbal score.
//! One survey per ticket (a unique row), at most one per customer per
//! `HOTLINE_SURVEY_COOLDOWN_DAYS`, never after an opt-out, never for spam or merged tickets.
//! A low score (≤ `LOW_SCORE`) opens follow-up work for the queue's supervisors
//! (`on_low_score`). Rules here; SQL in store.rs; HTTP in routes.rs.

pub mod keypad;
pub mod routes;
pub mod store;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::{Backend, Db, Tx, now_ms};
use crate::error::{AppError, AppResult};
use crate::realtime::events;
use crate::tickets::store::{self as tickets, NewInteraction, NewTicket};
use crate::tickets::{Channel, Direction, Kind, Priority, SystemText, Ticket};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A score at or below this opens follow-up work.
pub const LOW_SCORE: i64 = 2;
/// The longest comment kept (characters).
pub const COMMENT_MAX_CHARS: usize = 2000;
/// Tickets looked at per pass of the sending job.
const BATCH: i64 = 100;
const DAY_MS: i64 = 86_400_000;

/// A ticket's survey as the ticket JSON carries it (`survey`).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct SurveyInfo {
    /// When the link went out; null for a score recorded on a call (keypad or verbal) only.
    pub sent_at: Option<i64>,
    /// `email`, `sms` or `voice`.
    pub channel: String,
    pub score: Option<i64>,
    /// The customer's words, as text (escape it wherever it is shown).
    pub comment: String,
    pub answered_at: Option<i64>,
    /// `portal` (the link), `keypad` (after a Twilio call) or `agent` (verbal, recorded by
    /// `answered_by`).
    pub via: Option<String>,
    pub answered_by: Option<i64>,
    /// When the link stops working.
    pub expires_at: Option<i64>,
    /// The follow-up ticket a low score opened.
    pub follow_up_ticket_id: Option<i64>,
}

/// A queue's survey settings (`GET`/`PUT /api/queues/{id}/survey`).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QueueSurvey {
    #[serde(default)]
    pub queue_id: i64,
    /// Send a survey when one of the queue's tickets is resolved.
    pub enabled: bool,
    /// Minutes after the resolution (0..=10080); reopened before: no survey then.
    pub delay_minutes: i64,
    /// Ask callers through Twilio for a keypad score (1–5) after the call.
    pub keypad: bool,
}

impl QueueSurvey {
    pub fn check(&self) -> AppResult<()> {
        if !(0..=10_080).contains(&self.delay_minutes) {
            return Err(AppError::validation(
                "delay_minutes",
                "delay_minutes must be 0..=10080 (a week)",
            ));
        }
        Ok(())
    }
}

/// How an answer came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Portal,
    Keypad,
    Agent(i64),
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Portal => "portal",
            Via::Keypad => "keypad",
            Via::Agent(_) => "agent",
        }
    }
}

/// A score must be 1..=5 (422 `unprocessable` otherwise); the comment is trimmed text, at most
/// `COMMENT_MAX_CHARS`.
pub fn check_answer(score: i64, comment: &str) -> AppResult<String> {
    if !(1..=5).contains(&score) {
        return Err(AppError::Unprocessable(
            "score must be a whole number from 1 to 5".into(),
        ));
    }
    let comment: String = comment
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect();
    let comment = comment.trim().to_string();
    if comment.chars().count() > COMMENT_MAX_CHARS {
        return Err(AppError::validation(
            "comment",
            format!("comment is longer than {COMMENT_MAX_CHARS} characters"),
        ));
    }
    Ok(comment)
}

/// The customer's language for the survey: `zh-CN` for Chinese, else `en`.
pub fn language_of(customer_language: Option<&str>) -> &'static str {
    match customer_language {
        Some(l) if l.trim().to_ascii_lowercase().starts_with("zh") => "zh-CN",
        _ => "en",
    }
}

/// A new link token (random, shown once in the message) and its stored hash.
pub fn new_token() -> (String, String) {
    crate::channels::web::new_status_key()
}

pub fn token_hash(token: &str) -> String {
    crate::channels::web::status_key_hash(token)
}

pub fn survey_link(public_url: &str, token: &str) -> String {
    format!("{public_url}/survey/{token}")
}

/// Subject and text of a survey (email with the unsubscribe link; SMS short), zh or en.
pub fn message(
    channel: Channel,
    language: &str,
    number: i64,
    link: &str,
    ttl_days: i64,
) -> (String, String) {
    let zh = language == "zh-CN";
    match (channel, zh) {
        (Channel::Sms, true) => (
            String::new(),
            format!(
                "您的工单#{number}已处理完毕，请为我们的服务打分（1-5）：{link} 回复退订不再接收"
            ),
        ),
        (Channel::Sms, false) => (
            String::new(),
            format!(
                "How did we do on request #{number}? Rate us 1-5: {link} Reply STOP to opt out"
            ),
        ),
        (_, true) => (
            format!("您对我们的服务满意吗？（工单 #{number}）"),
            format!(
                "您好：\n\n您的工单 #{number} 已处理完毕。请花几秒钟为我们的服务打分：\n\n{link}\n\n\
                 链接 {ttl_days} 天内有效。\n\n不想再收到满意度调查？请打开：{link}?unsubscribe=1\n"
            ),
        ),
        (_, false) => (
            format!("How did we do? (request #{number})"),
            format!(
                "Hello,\n\nYour request #{number} has been resolved. How satisfied are you with \
                 our service? It takes a few seconds:\n\n{link}\n\nThe link works for {ttl_days} \
                 days.\n\nNo more surveys from us: {link}?unsubscribe=1\n"
            ),
        ),
    }
}

/// Where a survey for `ticket` would go: the channel it came through (email or SMS; a web
/// ticket by email, else SMS; a call by SMS, else email), to the customer's address on it.
/// Phone numbers that texted STOP are left out. `Err(reason)` when nothing is reachable.
pub fn pick_contact(
    ticket_channel: Channel,
    emails: &[String],
    phones: &[(String, bool)],
) -> Result<(Channel, String), &'static str> {
    let email = emails.first().map(|e| (Channel::Email, e.clone()));
    let phone = phones
        .iter()
        .find(|(_, opted_out)| !opted_out)
        .map(|(p, _)| (Channel::Sms, p.clone()));
    let picked = match ticket_channel {
        Channel::Email | Channel::Web => email.or(phone),
        Channel::Sms | Channel::Voice => phone.or(email),
        Channel::Note => None,
    };
    picked.ok_or(if phones.iter().any(|(_, o)| *o) {
        "opted_out"
    } else {
        "no_contact"
    })
}

/// What the sending job needs (not the whole AppState).
pub struct Sender<'a> {
    pub db: &'a Db,
    pub clock: &'a Clock,
    pub config: &'a Config,
}

/// One pass of the sending job (run by the routing leader with its clocks): every ticket
/// resolved in a queue with surveys on, whose delay has passed and that has no survey row yet,
/// gets its survey (a row, an outbound interaction and an outbox message, in one transaction)
/// or a row saying why not. The row is unique per ticket, so two nodes or a restart never send
/// twice. Returns how many were sent.
pub async fn send_due(s: &Sender<'_>) -> AppResult<usize> {
    let now = s.clock.now_ms();
    let due = store::due_tickets(s.db, now, BATCH).await?;
    let mut sent = 0;
    for t in due {
        // One ticket's failure (logged) does not hold up the others; it is tried again on the
        // next pass.
        match send_one(s, &t, now).await {
            Ok(true) => sent += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(ticket = t.id, error = %e, "survey not sent"),
        }
    }
    Ok(sent)
}

async fn send_one(s: &Sender<'_>, t: &store::DueTicket, now: i64) -> AppResult<bool> {
    let decision = decide(s, t, now).await?;
    let mut tx = s.db.begin().await?;
    let (channel, to, language) = match decision {
        Err(reason) => {
            store::insert_skipped(&mut tx, t, reason, now).await?;
            tx.commit().await?;
            tracing::debug!(ticket = t.id, reason, "no survey");
            return Ok(false);
        }
        Ok(d) => d,
    };
    let (token, hash) = new_token();
    let expires = now + s.config.survey_ttl_days.max(1) * DAY_MS;
    let inserted = store::insert_sent(
        &mut tx,
        t,
        channel.as_str(),
        &to,
        language,
        &hash,
        now,
        expires,
    )
    .await?;
    if !inserted {
        return Ok(false); // another node (or pass) got there first
    }
    let link = survey_link(&s.config.public_url(), &token);
    let (subject, body) = message(channel, language, t.id, &link, s.config.survey_ttl_days);
    let from = match channel {
        Channel::Email => s.config.mail_from(),
        _ => String::new(),
    };
    let (interaction, _) = tickets::insert_interaction(
        &mut tx,
        s.db,
        &NewInteraction {
            ticket_id: t.id,
            customer_id: t.customer_id,
            channel,
            direction: Direction::Out,
            from_addr: from,
            to_addr: to.clone(),
            subject: subject.clone(),
            // The ticket keeps the text without the link's token (only its hash is stored).
            body: body.replace(&token, "…"),
            external_id: None,
            author_id: None,
            meta: json!({"delivery": "queued", "automatic": "survey"}),
        },
    )
    .await?;
    let payload = json!({"subject": subject, "body": body, "html": null, "kind": "survey"});
    tickets::insert_outbox(&mut tx, channel, t.id, Some(interaction.id), &to, &payload).await?;
    events::commit(tx).await?;
    metrics::counter!("hotline_surveys_sent_total", "channel" => channel.as_str()).increment(1);
    Ok(true)
}

/// Whether and where to survey: `Err(reason)` for spam, merged, internal (a ticket no customer
/// wrote, e.g. a follow-up), no customer or contact, opted out, or surveyed within the
/// cool-down.
async fn decide(
    s: &Sender<'_>,
    t: &store::DueTicket,
    now: i64,
) -> AppResult<Result<(Channel, String, &'static str), &'static str>> {
    if t.merged_into.is_some() {
        return Ok(Err("merged"));
    }
    if t.tags.iter().any(|tag| tag.eq_ignore_ascii_case("spam")) {
        return Ok(Err("spam"));
    }
    let channel = Channel::parse(&t.channel).unwrap_or(Channel::Note);
    if channel == Channel::Note {
        return Ok(Err("internal")); // e.g. a low score's follow-up: no customer contact
    }
    let Some(customer_id) = t.customer_id else {
        return Ok(Err("no_contact"));
    };
    let c = store::customer_contact(s.db, customer_id).await?;
    if c.opted_out {
        return Ok(Err("opted_out"));
    }
    let since = now - s.config.survey_cooldown_days.max(0) * DAY_MS;
    if store::surveyed_since(s.db, customer_id, since).await? {
        return Ok(Err("cooldown"));
    }
    let mut phones = Vec::new();
    for p in c.phones {
        let out = crate::channels::sms::store::is_opted_out(&s.db.pool, &p).await?;
        phones.push((p, out));
    }
    Ok(pick_contact(channel, &c.emails, &phones)
        .map(|(ch, to)| (ch, to, language_of(c.language.as_deref()))))
}

/// Records an answer to ticket `ticket_id`'s survey (creating the row for a keypad or verbal
/// score when none was sent), announces `survey.answered` and, for a low score, opens the
/// follow-up work; all in one transaction. 409 `conflict` when it was already answered (the
/// first answer stays).
pub async fn record_answer(
    db: &Db,
    ticket_id: i64,
    score: i64,
    comment: &str,
    via: Via,
) -> AppResult<SurveyInfo> {
    let comment = check_answer(score, comment)?;
    let mut tx = db.begin().await?;
    let ticket = tickets::find_ticket(&mut tx, ticket_id).await?;
    let answered_by = match via {
        Via::Agent(id) => Some(id),
        _ => None,
    };
    let ok = store::answer(
        &mut tx,
        &ticket,
        score,
        &comment,
        via.as_str(),
        answered_by,
        now_ms(),
    )
    .await?;
    if !ok {
        return Err(AppError::Conflict(
            "this survey was already answered".into(),
        ));
    }
    if score <= LOW_SCORE {
        on_low_score(&mut tx, db.backend, db, &ticket, score, &comment).await?;
    }
    let info = store::info(&mut tx, ticket_id)
        .await?
        .ok_or(AppError::NotFound("survey"))?;
    events::append(
        &mut tx,
        db.backend,
        "survey.answered",
        tickets::scope_of(&ticket),
        &json!({"ticket_id": ticket_id, "queue_id": ticket.queue_id, "survey": info}),
    )
    .await?;
    events::commit(tx).await?;
    metrics::counter!("hotline_survey_answers_total", "via" => via.as_str()).increment(1);
    Ok(info)
}

/// A low score's follow-up: a `request` ticket of high priority in the original's queue,
/// assigned to the queue's first supervisor (`routing::store::queue_supervisors`), whose
/// first (internal) note quotes the score and the comment and links the original; a note on
/// the original pointing to it; and a `survey_low` notification for each of the queue's
/// supervisors. A complaint is not given a follow-up ticket: it reopens with the comment
/// (`complaints::reopen`) and the supervisors are notified on it.
pub async fn on_low_score(
    tx: &mut Tx<'_>,
    backend: Backend,
    db: &Db,
    original: &Ticket,
    score: i64,
    comment: &str,
) -> AppResult<Ticket> {
    let supervisors = crate::routing::store::queue_supervisors(tx, original.queue_id).await?;
    if original.kind == Kind::Complaint
        && crate::complaints::store::find(tx, original.id)
            .await?
            .is_some()
    {
        // A complaint is the follow-up work itself: it reopens with the comment, and the
        // supervisors hear of it.
        let (body, said) = rated(original.id, score, comment);
        let (note, _) = tickets::insert_interaction(
            tx,
            db,
            &NewInteraction {
                ticket_id: original.id,
                customer_id: original.customer_id,
                channel: Channel::Note,
                direction: Direction::Internal,
                from_addr: String::new(),
                to_addr: String::new(),
                subject: String::new(),
                body,
                external_id: None,
                author_id: None,
                meta: json!({"score": score, "text": said}),
            },
        )
        .await?;
        crate::complaints::reopen(tx, db, original.id, None, "low_score", comment).await?;
        crate::notifications::record_survey_low(
            tx,
            backend,
            original,
            &note,
            comment,
            &supervisors,
        )
        .await?;
        return Ok(original.clone());
    }
    let text = SystemText::new(
        "survey.low_score",
        json!({"ticket": original.id, "score": score}),
    );
    let follow_up = tickets::insert_ticket(
        tx,
        db,
        &NewTicket {
            subject: format!("Low satisfaction score {score}/5 on #{}", original.id),
            priority: Priority::High,
            kind: Kind::Request,
            channel: Channel::Note,
            queue_id: original.queue_id,
            assignee_id: supervisors.first().copied(),
            customer_id: original.customer_id,
            tags: vec!["csat-follow-up".into()],
            subject_data: Some(text),
        },
    )
    .await?;
    // The notes' text is also kept as data (`meta.text`) for each reader's language.
    let (body, said) = rated(original.id, score, comment);
    let (note, _) = tickets::insert_interaction(
        tx,
        db,
        &NewInteraction {
            ticket_id: follow_up.id,
            customer_id: original.customer_id,
            channel: Channel::Note,
            direction: Direction::Internal,
            from_addr: String::new(),
            to_addr: String::new(),
            subject: String::new(),
            body,
            external_id: None,
            author_id: None,
            meta: json!({"survey_follow_up_of": original.id, "score": score, "text": said}),
        },
    )
    .await?;
    tickets::insert_interaction(
        tx,
        db,
        &NewInteraction {
            ticket_id: original.id,
            customer_id: original.customer_id,
            channel: Channel::Note,
            direction: Direction::Internal,
            from_addr: String::new(),
            to_addr: String::new(),
            subject: String::new(),
            body: format!(
                "Low satisfaction score {score}/5: follow-up #{}",
                follow_up.id
            ),
            external_id: None,
            author_id: None,
            meta: json!({"survey_follow_up": follow_up.id, "score": score,
            "text": SystemText::new(
                "survey.follow_up",
                json!({"ticket": follow_up.id, "score": score}),
            )}),
        },
    )
    .await?;
    store::set_follow_up(tx, original.id, follow_up.id).await?;
    crate::notifications::record_survey_low(tx, backend, &follow_up, &note, comment, &supervisors)
        .await?;
    Ok(follow_up)
}

/// The note of a score: English text, and the same as data for each reader's language.
fn rated(ticket: i64, score: i64, comment: &str) -> (String, SystemText) {
    if comment.is_empty() {
        (
            format!("The customer rated #{ticket} {score}/5 without a comment."),
            SystemText::new("survey.rated", json!({"ticket": ticket, "score": score})),
        )
    } else {
        (
            format!("The customer rated #{ticket} {score}/5 and wrote:\n\n{comment}"),
            SystemText::new(
                "survey.rated_comment",
                json!({"ticket": ticket, "score": score, "comment": comment}),
            ),
        )
    }
}

/// What the CSAT report groups by. (A new grouping: a variant, its name, and its key in
/// `Group::key`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Agent,
    Queue,
    Channel,
    /// The complaint category (complaint tickets only).
    Category,
}

impl Group {
    pub fn parse(s: &str) -> Option<Group> {
        match s.trim() {
            "agent" => Some(Group::Agent),
            "queue" => Some(Group::Queue),
            "channel" => Some(Group::Channel),
            "category" => Some(Group::Category),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Group::Agent => "agent",
            Group::Queue => "queue",
            Group::Channel => "channel",
            Group::Category => "category",
        }
    }

    /// A survey's group: an id (agents, queues) and a name.
    fn key(self, r: &store::ReportRow) -> (Option<i64>, Option<String>) {
        match self {
            Group::Agent => (r.agent_id, r.agent_name.clone()),
            Group::Queue => (r.queue_id, r.queue_name.clone()),
            Group::Channel => (None, Some(r.channel.clone())),
            Group::Category => (r.category_id, r.category_code.clone()),
        }
    }
}

/// One group's figures.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct CsatRow {
    /// The agent's or queue's id (none for a channel, or surveys without one).
    pub id: Option<i64>,
    /// The agent's or queue's name, or the channel (`email`, `sms`, `voice`).
    pub name: Option<String>,
    /// Surveys with a score.
    pub answers: i64,
    /// Share of answers scoring 4 or 5, in percent (null without answers).
    pub csat_percent: Option<f64>,
    /// Mean score (null without answers).
    pub average_score: Option<f64>,
    /// Surveys sent (links by email or SMS).
    pub sent: i64,
    /// Share of sent surveys answered, in percent (null when none was sent).
    pub response_rate: Option<f64>,
    #[serde(skip)]
    good: i64,
    #[serde(skip)]
    score_sum: i64,
    #[serde(skip)]
    sent_answered: i64,
}

impl CsatRow {
    fn add(&mut self, r: &store::ReportRow) {
        if r.sent {
            self.sent += 1;
        }
        if let Some(score) = r.score {
            self.answers += 1;
            self.score_sum += score;
            if score >= 4 {
                self.good += 1;
            }
            if r.sent {
                self.sent_answered += 1;
            }
        }
    }

    fn finish(&mut self) {
        let pct = |n: i64, of: i64| (of > 0).then(|| round1(100.0 * n as f64 / of as f64));
        self.csat_percent = pct(self.good, self.answers);
        self.average_score =
            (self.answers > 0).then(|| round2(self.score_sum as f64 / self.answers as f64));
        self.response_rate = pct(self.sent_answered, self.sent);
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct CsatReport {
    pub from_ms: i64,
    pub to_ms: i64,
    /// `agent`, `queue`, `channel` or `category` (complaints only; `name` is the category's
    /// code).
    pub group: String,
    /// Most answers first.
    pub rows: Vec<CsatRow>,
    pub total: CsatRow,
}

/// The CSAT figures of the surveys of a period (sent in it; a call's score: answered in it),
/// per `group`.
pub async fn report(db: &Db, from: i64, to: i64, group: Group) -> AppResult<CsatReport> {
    let rows = store::report_rows(db, from, to).await?;
    let mut groups: std::collections::BTreeMap<(Option<i64>, Option<String>), CsatRow> =
        Default::default();
    let mut total = CsatRow::default();
    for r in &rows {
        if group == Group::Category && r.category_id.is_none() {
            continue; // not a complaint
        }
        let key = group.key(r);
        let g = groups.entry(key.clone()).or_insert_with(|| CsatRow {
            id: key.0,
            name: key.1,
            ..CsatRow::default()
        });
        g.add(r);
        total.add(r);
    }
    let mut out: Vec<CsatRow> = groups.into_values().collect();
    for g in &mut out {
        g.finish();
    }
    total.finish();
    out.sort_by_key(|g| std::cmp::Reverse((g.answers, g.sent)));
    Ok(CsatReport {
        from_ms: from,
        to_ms: to,
        group: group.as_str().into(),
        rows: out,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked() {
        assert!(check_answer(0, "").is_err());
        assert!(check_answer(6, "").is_err());
        assert_eq!(check_answer(5, "  好 \u{0}").unwrap(), "好");
        assert!(check_answer(3, &"x".repeat(COMMENT_MAX_CHARS + 1)).is_err());
    }

    #[test]
    fn contacts_follow_the_channel() {
        let emails = vec!["a@example.com".to_string()];
        let phones = vec![("+8613800000000".to_string(), false)];
        assert_eq!(
            pick_contact(Channel::Email, &emails, &phones).unwrap().0,
            Channel::Email
        );
        assert_eq!(
            pick_contact(Channel::Voice, &emails, &phones).unwrap().0,
            Channel::Sms
        );
        let stopped = vec![("+8613800000000".to_string(), true)];
        assert_eq!(pick_contact(Channel::Sms, &[], &stopped), Err("opted_out"));
        assert_eq!(pick_contact(Channel::Sms, &[], &[]), Err("no_contact"));
        assert_eq!(
            pick_contact(Channel::Sms, &emails, &stopped).unwrap().0,
            Channel::Email
        );
    }

    #[test]
    fn languages() {
        assert_eq!(language_of(Some("zh")), "zh-CN");
        assert_eq!(language_of(Some("zh-CN")), "zh-CN");
        assert_eq!(language_of(Some("en")), "en");
        assert_eq!(language_of(None), "en");
    }
}
