//! Surveys' SQL: due tickets, the survey row (unique per ticket), answers, queue settings,
//! customer opt-outs, and the rows the report groups.

use super::{QueueSurvey, SurveyInfo};
use crate::db::{Db, Exec, FromRow, ReadRow};
use crate::error::AppResult;
use crate::tickets::Ticket;

/// A resolved ticket whose survey is due.
#[derive(Debug)]
pub struct DueTicket {
    pub id: i64,
    pub customer_id: Option<i64>,
    pub queue_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub channel: String,
    pub tags: Vec<String>,
    pub merged_into: Option<i64>,
}

impl FromRow for DueTicket {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        let tags: String = r.try_get("tags")?;
        Ok(DueTicket {
            id: r.try_get("id")?,
            customer_id: r.try_get("customer_id")?,
            queue_id: r.try_get("queue_id")?,
            assignee_id: r.try_get("assignee_id")?,
            channel: r.try_get("channel")?,
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            merged_into: r.try_get("merged_into")?,
        })
    }
}

/// Tickets resolved (or closed after) in a queue with surveys on, since they were switched on,
/// at least the queue's delay before `now`, without a survey row. A ticket reopened meanwhile
/// has no `resolved_at` (and gets a new one when resolved again).
pub async fn due_tickets(db: &Db, now: i64, limit: i64) -> AppResult<Vec<DueTicket>> {
    let mut db = db;
    db.rows(
        "SELECT t.id, t.customer_id, t.queue_id, t.assignee_id, t.channel, t.tags, \
         t.merged_into FROM tickets t JOIN queue_surveys qs ON qs.queue_id = t.queue_id \
         WHERE qs.enabled = 1 AND t.status IN ('resolved', 'closed') \
         AND t.resolved_at IS NOT NULL AND t.resolved_at >= qs.since \
         AND t.resolved_at <= $1 - qs.delay_minutes * 60000 \
         AND NOT EXISTS (SELECT 1 FROM surveys s WHERE s.ticket_id = t.id) \
         ORDER BY t.resolved_at, t.id LIMIT $2",
        vec![now.into(), limit.into()],
    )
    .await
}

/// A customer's addresses for a survey, their language and opt-out.
pub struct Contact {
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub language: Option<String>,
    pub opted_out: bool,
}

struct IdentityRow(String, String);

impl FromRow for IdentityRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(IdentityRow(r.try_get("kind")?, r.try_get("value")?))
    }
}

struct CustomerRow(Option<String>, i64);

impl FromRow for CustomerRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(CustomerRow(
            r.try_get("language")?,
            r.try_get("survey_opt_out")?,
        ))
    }
}

pub async fn customer_contact(db: &Db, customer_id: i64) -> AppResult<Contact> {
    let mut db = db;
    let c: Option<CustomerRow> = db
        .row(
            "SELECT language, survey_opt_out FROM customers WHERE id = $1",
            vec![customer_id.into()],
        )
        .await?;
    let ids: Vec<IdentityRow> = db
        .rows(
            "SELECT kind, value FROM customer_identities WHERE customer_id = $1 \
             AND kind IN ('email', 'phone') ORDER BY id DESC",
            vec![customer_id.into()],
        )
        .await?;
    let pick = |k: &str| {
        ids.iter()
            .filter(|i| i.0 == k)
            .map(|i| i.1.clone())
            .collect()
    };
    Ok(Contact {
        emails: pick("email"),
        phones: pick("phone"),
        language: c.as_ref().and_then(|c| c.0.clone()),
        opted_out: c.is_some_and(|c| c.1 != 0),
    })
}

/// Was the customer surveyed (sent a link, or asked on the keypad after a call) at or after
/// `since`? (A score an agent noted from a call does not count: nobody asked the customer.)
pub async fn surveyed_since(db: &Db, customer_id: i64, since: i64) -> AppResult<bool> {
    let mut db = db;
    Ok(db
        .row::<i64>(
            "SELECT id FROM surveys WHERE customer_id = $1 \
             AND (sent_at >= $2 OR (via = 'keypad' AND answered_at >= $2)) LIMIT 1",
            vec![customer_id.into(), since.into()],
        )
        .await?
        .is_some())
}

pub async fn insert_skipped<E: Exec>(
    tx: &mut E,
    t: &DueTicket,
    reason: &str,
    now: i64,
) -> AppResult<()> {
    tx.run(
        "INSERT INTO surveys (ticket_id, customer_id, queue_id, agent_id, channel, skipped, \
         created_at) VALUES ($1, $2, $3, $4, 'none', $5, $6) ON CONFLICT (ticket_id) DO NOTHING",
        vec![
            t.id.into(),
            t.customer_id.into(),
            t.queue_id.into(),
            t.assignee_id.into(),
            reason.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

/// The sent survey's row; false when the ticket has one already (nothing changed).
#[allow(clippy::too_many_arguments)]
pub async fn insert_sent<E: Exec>(
    tx: &mut E,
    t: &DueTicket,
    channel: &str,
    recipient: &str,
    language: &str,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> AppResult<bool> {
    Ok(tx
        .row::<i64>(
            "INSERT INTO surveys (ticket_id, customer_id, queue_id, agent_id, channel, recipient, \
             language, token_hash, sent_at, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9) \
             ON CONFLICT (ticket_id) DO NOTHING RETURNING id",
            vec![
                t.id.into(),
                t.customer_id.into(),
                t.queue_id.into(),
                t.assignee_id.into(),
                channel.into(),
                recipient.into(),
                language.into(),
                token_hash.into(),
                now.into(),
                expires_at.into(),
            ],
        )
        .await?
        .is_some())
}

/// Records an answer unless the ticket's survey has one: a sent survey is updated; without a
/// row (a call's keypad or verbal score) one is created. False when already answered.
pub async fn answer<E: Exec>(
    tx: &mut E,
    ticket: &Ticket,
    score: i64,
    comment: &str,
    via: &str,
    answered_by: Option<i64>,
    now: i64,
) -> AppResult<bool> {
    Ok(tx
        .row::<i64>(
            "INSERT INTO surveys (ticket_id, customer_id, queue_id, agent_id, channel, score, \
             comment, answered_at, via, answered_by, created_at) \
             VALUES ($1, $2, $3, $4, 'voice', $5, $6, $7, $8, $9, $7) \
             ON CONFLICT (ticket_id) DO UPDATE SET score = excluded.score, \
             comment = excluded.comment, answered_at = excluded.answered_at, \
             via = excluded.via, answered_by = excluded.answered_by, \
             channel = CASE WHEN surveys.channel = 'none' THEN 'voice' ELSE surveys.channel END \
             WHERE surveys.answered_at IS NULL RETURNING id",
            vec![
                ticket.id.into(),
                ticket.customer_id.into(),
                ticket.queue_id.into(),
                ticket.assignee_id.into(),
                score.into(),
                comment.into(),
                now.into(),
                via.into(),
                answered_by.into(),
            ],
        )
        .await?
        .is_some())
}

pub async fn set_follow_up<E: Exec>(tx: &mut E, ticket_id: i64, follow_up: i64) -> AppResult<()> {
    tx.run(
        "UPDATE surveys SET follow_up_ticket_id = $2 WHERE ticket_id = $1",
        vec![ticket_id.into(), follow_up.into()],
    )
    .await?;
    Ok(())
}

const INFO_COLUMNS: &str = "sent_at, channel, score, comment, answered_at, via, answered_by, \
    expires_at, follow_up_ticket_id";

impl FromRow for SurveyInfo {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(SurveyInfo {
            sent_at: r.try_get("sent_at")?,
            channel: r.try_get("channel")?,
            score: r.try_get("score")?,
            comment: r.try_get("comment")?,
            answered_at: r.try_get("answered_at")?,
            via: r.try_get("via")?,
            answered_by: r.try_get("answered_by")?,
            expires_at: r.try_get("expires_at")?,
            follow_up_ticket_id: r.try_get("follow_up_ticket_id")?,
        })
    }
}

/// A ticket's survey, when one was sent or answered (a skipped one is none).
pub async fn info<E: Exec>(exec: &mut E, ticket_id: i64) -> AppResult<Option<SurveyInfo>> {
    exec.row(
        &format!(
            "SELECT {INFO_COLUMNS} FROM surveys WHERE ticket_id = $1 \
             AND (sent_at IS NOT NULL OR answered_at IS NOT NULL)"
        ),
        vec![ticket_id.into()],
    )
    .await
}

/// A customer's latest answered surveys (the 360), newest first.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
pub struct RecentScore {
    pub ticket_id: i64,
    #[serde(skip)]
    pub queue_id: Option<i64>,
    #[serde(skip)]
    pub assignee_id: Option<i64>,
    pub score: i64,
    pub comment: String,
    pub answered_at: i64,
    pub via: String,
}

impl FromRow for RecentScore {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(RecentScore {
            ticket_id: r.try_get("ticket_id")?,
            queue_id: r.try_get("queue_id")?,
            assignee_id: r.try_get("assignee_id")?,
            score: r.try_get("score")?,
            comment: r.try_get("comment")?,
            answered_at: r.try_get("answered_at")?,
            via: r.try_get("via")?,
        })
    }
}

pub async fn recent_scores(db: &Db, customer_id: i64, limit: i64) -> AppResult<Vec<RecentScore>> {
    let mut db = db;
    db.rows(
        "SELECT s.ticket_id, t.queue_id, t.assignee_id, s.score, s.comment, s.answered_at, \
         s.via FROM surveys s JOIN tickets t ON t.id = s.ticket_id \
         WHERE s.customer_id = $1 AND s.answered_at IS NOT NULL \
         ORDER BY s.answered_at DESC, s.id DESC LIMIT $2",
        vec![customer_id.into(), limit.into()],
    )
    .await
}

/// Scores stay; the comment of a ticket `reader` may not open is left out (as the 360 withholds
/// that ticket's messages).
pub fn withhold_comments(
    scores: Vec<RecentScore>,
    reader: &crate::tickets::Visibility,
) -> Vec<RecentScore> {
    scores
        .into_iter()
        .map(|mut s| {
            if !reader.sees(s.queue_id, s.assignee_id) {
                s.comment = String::new();
            }
            s
        })
        .collect()
}

/// The survey a link's token opens.
pub struct Opened {
    pub ticket_id: i64,
    pub customer_id: Option<i64>,
    pub language: String,
    pub expires_at: Option<i64>,
    pub answered_at: Option<i64>,
    pub score: Option<i64>,
}

impl FromRow for Opened {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Opened {
            ticket_id: r.try_get("ticket_id")?,
            customer_id: r.try_get("customer_id")?,
            language: r.try_get("language")?,
            expires_at: r.try_get("expires_at")?,
            answered_at: r.try_get("answered_at")?,
            score: r.try_get("score")?,
        })
    }
}

pub async fn by_token(db: &Db, token: &str) -> AppResult<Option<Opened>> {
    let mut db = db;
    db.row(
        "SELECT ticket_id, customer_id, language, expires_at, answered_at, score FROM surveys \
         WHERE token_hash = $1",
        vec![super::token_hash(token).into()],
    )
    .await
}

pub async fn set_opt_out(db: &Db, customer_id: i64, opted_out: bool) -> AppResult<()> {
    let mut db = db;
    db.run(
        "UPDATE customers SET survey_opt_out = $2 WHERE id = $1",
        vec![customer_id.into(), opted_out.into()],
    )
    .await?;
    Ok(())
}

impl FromRow for QueueSurvey {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(QueueSurvey {
            queue_id: r.try_get("queue_id")?,
            enabled: r.try_get::<i64>("enabled")? != 0,
            delay_minutes: r.try_get("delay_minutes")?,
            keypad: r.try_get::<i64>("keypad")? != 0,
        })
    }
}

/// A queue's settings (off, 60 minutes, no keypad when never set).
pub async fn queue_settings<E: Exec>(exec: &mut E, queue_id: i64) -> AppResult<QueueSurvey> {
    Ok(exec
        .row(
            "SELECT queue_id, enabled, delay_minutes, keypad FROM queue_surveys \
             WHERE queue_id = $1",
            vec![queue_id.into()],
        )
        .await?
        .unwrap_or(QueueSurvey {
            queue_id,
            enabled: false,
            delay_minutes: 60,
            keypad: false,
        }))
}

/// Sets a queue's settings; switching surveys on starts `since` now (tickets resolved before
/// are not surveyed).
pub async fn set_queue_settings(db: &Db, s: &QueueSurvey, now: i64) -> AppResult<QueueSurvey> {
    let mut tx = db.begin().await?;
    tx.run(
        "INSERT INTO queue_surveys (queue_id, enabled, delay_minutes, keypad, since) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (queue_id) DO UPDATE SET \
         since = CASE WHEN queue_surveys.enabled = 0 AND excluded.enabled = 1 \
                 THEN excluded.since ELSE queue_surveys.since END, \
         enabled = excluded.enabled, delay_minutes = excluded.delay_minutes, \
         keypad = excluded.keypad",
        vec![
            s.queue_id.into(),
            s.enabled.into(),
            s.delay_minutes.into(),
            s.keypad.into(),
            now.into(),
        ],
    )
    .await?;
    let out = queue_settings(&mut tx, s.queue_id).await?;
    tx.commit().await?;
    Ok(out)
}

/// One survey for the report.
pub struct ReportRow {
    pub agent_id: Option<i64>,
    pub agent_name: Option<String>,
    pub queue_id: Option<i64>,
    pub queue_name: Option<String>,
    pub channel: String,
    pub sent: bool,
    pub score: Option<i64>,
    /// The complaint category of a complaint ticket.
    pub category_id: Option<i64>,
    pub category_code: Option<String>,
}

impl FromRow for ReportRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(ReportRow {
            agent_id: r.try_get("agent_id")?,
            agent_name: r.try_get("agent_name")?,
            queue_id: r.try_get("queue_id")?,
            queue_name: r.try_get("queue_name")?,
            channel: r.try_get("channel")?,
            sent: r.try_get::<Option<i64>>("sent_at")?.is_some(),
            score: r.try_get("score")?,
            category_id: r.try_get("category_id")?,
            category_code: r.try_get("category_code")?,
        })
    }
}

/// The surveys of a period: sent in it, or (scores taken on a call, never sent) answered in it.
pub async fn report_rows(db: &Db, from: i64, to: i64) -> AppResult<Vec<ReportRow>> {
    let mut db = db;
    db.rows(
        "SELECT s.agent_id, u.display_name AS agent_name, s.queue_id, q.name AS queue_name, \
         s.channel, s.sent_at, s.score, c.category_id, k.code AS category_code FROM surveys s \
         LEFT JOIN users u ON u.id = s.agent_id LEFT JOIN queues q ON q.id = s.queue_id \
         LEFT JOIN complaints c ON c.ticket_id = s.ticket_id \
         LEFT JOIN complaint_categories k ON k.id = c.category_id \
         WHERE s.skipped IS NULL AND COALESCE(s.sent_at, s.answered_at) >= $1 \
         AND COALESCE(s.sent_at, s.answered_at) <= $2",
        vec![from.into(), to.into()],
    )
    .await
}

/// Today's answers per queue (the wallboard): (queue id, answers, answers of 4–5).
pub async fn answers_per_queue(db: &Db, since: i64) -> AppResult<Vec<(i64, i64, i64)>> {
    struct Row(i64, i64, i64);
    impl FromRow for Row {
        fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
            Ok(Row(
                r.try_get("queue_id")?,
                r.try_get("answers")?,
                r.try_get("good")?,
            ))
        }
    }
    let mut db = db;
    let rows: Vec<Row> = db
        .rows(
            "SELECT queue_id, COUNT(*) AS answers, \
             SUM(CASE WHEN score >= 4 THEN 1 ELSE 0 END) AS good FROM surveys \
             WHERE answered_at >= $1 AND queue_id IS NOT NULL GROUP BY queue_id",
            vec![since.into()],
        )
        .await?;
    Ok(rows.into_iter().map(|r| (r.0, r.1, r.2)).collect())
}
