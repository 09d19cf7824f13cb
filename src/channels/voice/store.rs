//! SQL for calls, blocked numbers, caller-id rules and the settings of dialled numbers.

use super::CallState;
use crate::db::{Db, Exec, FromRow, now_ms};
use crate::error::{AppError, AppResult};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Call {
    pub id: i64,
    /// `cti` or `twilio`.
    pub source: String,
    pub call_id: String,
    pub direction: String,
    pub from_number: String,
    pub to_number: String,
    pub queue_id: Option<i64>,
    pub state: CallState,
    pub agent_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub interaction_id: Option<i64>,
    pub callback_ticket_id: Option<i64>,
    pub started_at: i64,
    pub queued_at: Option<i64>,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// When the agent's after-call work for this call ended.
    pub wrapped_at: Option<i64>,
    pub cause: Option<String>,
    pub last_sequence: i64,
    /// Agents whose screen popped for this call.
    pub popped: Vec<i64>,
    pub recording_url: Option<String>,
    /// The disposition code the agent picked (`POST /api/calls/{id}/disposition`), by whom and
    /// when.
    pub disposition_id: Option<i64>,
    pub disposition_by: Option<i64>,
    pub disposition_at: Option<i64>,
}

impl Call {
    /// The customer's side of the call.
    pub fn customer_number(&self) -> &str {
        if self.direction == "in" {
            &self.from_number
        } else {
            &self.to_number
        }
    }

    pub fn wait_ms(&self) -> Option<i64> {
        let until = self.answered_at.or(self.ended_at)?;
        Some(until - self.started_at)
    }

    pub fn talk_ms(&self) -> Option<i64> {
        Some(self.ended_at? - self.answered_at?)
    }

    pub fn wrap_ms(&self) -> Option<i64> {
        Some(self.wrapped_at? - self.ended_at?)
    }
}

/// A call as the history and the ticket timeline show it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct CallSummary {
    /// The call (`GET /api/calls/{id}`).
    pub id: i64,
    /// `cti` or `twilio`.
    pub source: String,
    pub direction: String,
    pub state: CallState,
    pub outcome: super::CallOutcome,
    /// Talk time (answered → hung up), ms; `null` when not answered or still talking.
    pub duration_ms: Option<i64>,
    /// Inbound: the caller's wait (queued, else rung, → answered, or → hung up unanswered), ms.
    pub wait_ms: Option<i64>,
    /// After-call work, ms.
    pub wrap_ms: Option<i64>,
    pub agent_id: Option<i64>,
    pub agent_name: Option<String>,
    pub cause: Option<String>,
    pub disposition: Option<DispositionRef>,
}

/// The code a call has, with its names in both languages.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct DispositionRef {
    pub id: i64,
    pub code: String,
    pub name_en: String,
    pub name_zh: String,
}

impl FromRow for (i64, CallSummary) {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<(i64, CallSummary), sqlx::Error> {
        let state = CallState::parse(&r.try_get::<String>("state")?).unwrap_or(CallState::Ended);
        let direction: String = r.try_get("direction")?;
        let cause: Option<String> = r.try_get("cause")?;
        let started: i64 = r.try_get("started_at")?;
        let queued: Option<i64> = r.try_get("queued_at")?;
        let answered: Option<i64> = r.try_get("answered_at")?;
        let ended: Option<i64> = r.try_get("ended_at")?;
        let wrapped: Option<i64> = r.try_get("wrapped_at")?;
        let disposition = match r.try_get::<Option<i64>>("disposition_id")? {
            Some(id) => Some(DispositionRef {
                id,
                code: r.try_get::<Option<String>>("d_code")?.unwrap_or_default(),
                name_en: r
                    .try_get::<Option<String>>("d_name_en")?
                    .unwrap_or_default(),
                name_zh: r
                    .try_get::<Option<String>>("d_name_zh")?
                    .unwrap_or_default(),
            }),
            None => None,
        };
        let wait_ms = (direction == "in")
            .then(|| Some(answered.or(ended)? - queued.unwrap_or(started)))
            .flatten()
            .map(|w| w.max(0));
        Ok((
            r.try_get("interaction_id")?,
            CallSummary {
                id: r.try_get("id")?,
                source: r.try_get("source")?,
                outcome: super::outcome(state, &direction, answered.is_some(), cause.as_deref()),
                direction,
                state,
                duration_ms: answered.zip(ended).map(|(a, e)| e - a),
                wait_ms,
                wrap_ms: ended.zip(wrapped).map(|(e, w)| w - e),
                agent_id: r.try_get("agent_id")?,
                agent_name: r.try_get("agent_name")?,
                cause,
                disposition,
            },
        ))
    }
}

/// The calls behind `interaction_ids` (voice interactions), by interaction id.
pub async fn summaries(
    db: &Db,
    interaction_ids: &[i64],
) -> AppResult<std::collections::HashMap<i64, CallSummary>> {
    if interaction_ids.is_empty() {
        return Ok(Default::default());
    }
    // At most a page of ids (the history's 20, a ticket's thread): one placeholder each.
    let marks = (1..=interaction_ids.len())
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT c.id, c.interaction_id, c.source, c.direction, c.state, c.cause, c.started_at, \
         c.queued_at, c.answered_at, c.ended_at, c.wrapped_at, c.agent_id, \
         u.display_name AS agent_name, c.disposition_id, d.code AS d_code, \
         d.name_en AS d_name_en, d.name_zh AS d_name_zh FROM calls c \
         LEFT JOIN users u ON u.id = c.agent_id \
         LEFT JOIN call_dispositions d ON d.id = c.disposition_id \
         WHERE c.interaction_id IN ({marks})"
    );
    let params = interaction_ids.iter().map(|&i| i.into()).collect();
    let rows: Vec<(i64, CallSummary)> = db.fetch_all(&sql, params).await?;
    Ok(rows.into_iter().collect())
}

const CALL_COLUMNS: &str = "id, source, call_id, direction, from_number, to_number, queue_id, \
     state, agent_id, customer_id, ticket_id, interaction_id, callback_ticket_id, started_at, \
     queued_at, answered_at, ended_at, wrapped_at, cause, last_sequence, popped, recording_url, \
     disposition_id, disposition_by, disposition_at";

impl FromRow for Call {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Call, sqlx::Error> {
        call_from_row(r)
    }
}

fn call_from_row(r: &impl crate::db::ReadRow) -> Result<Call, sqlx::Error> {
    let popped: Vec<i64> =
        serde_json::from_str(&r.try_get::<String>("popped")?).unwrap_or_default();
    Ok(Call {
        id: r.try_get("id")?,
        source: r.try_get("source")?,
        call_id: r.try_get("call_id")?,
        direction: r.try_get("direction")?,
        from_number: r.try_get("from_number")?,
        to_number: r.try_get("to_number")?,
        queue_id: r.try_get("queue_id")?,
        state: CallState::parse(&r.try_get::<String>("state")?).unwrap_or(CallState::Ended),
        agent_id: r.try_get("agent_id")?,
        customer_id: r.try_get("customer_id")?,
        ticket_id: r.try_get("ticket_id")?,
        interaction_id: r.try_get("interaction_id")?,
        callback_ticket_id: r.try_get("callback_ticket_id")?,
        started_at: r.try_get("started_at")?,
        queued_at: r.try_get("queued_at")?,
        answered_at: r.try_get("answered_at")?,
        ended_at: r.try_get("ended_at")?,
        wrapped_at: r.try_get("wrapped_at")?,
        cause: r.try_get("cause")?,
        last_sequence: r.try_get("last_sequence")?,
        popped,
        recording_url: r.try_get("recording_url")?,
        disposition_id: r.try_get("disposition_id")?,
        disposition_by: r.try_get("disposition_by")?,
        disposition_at: r.try_get("disposition_at")?,
    })
}

pub struct NewCall<'a> {
    pub source: &'a str,
    pub call_id: &'a str,
    pub direction: &'a str,
    pub from_number: &'a str,
    pub to_number: &'a str,
    pub queue_id: Option<i64>,
    pub state: CallState,
    pub agent_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub interaction_id: Option<i64>,
    pub popped: &'a [i64],
}

/// Inserts a call; `None` when one with the same (source, call_id) exists already.
pub async fn insert_call<E: Exec>(tx: &mut E, c: &NewCall<'_>) -> AppResult<Option<Call>> {
    let now = now_ms();
    let sql = format!(
        "INSERT INTO calls (source, call_id, direction, from_number, to_number, queue_id, state, \
         agent_id, customer_id, ticket_id, interaction_id, started_at, queued_at, popped) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (source, call_id) DO NOTHING RETURNING {CALL_COLUMNS}"
    );
    let params = vec![
        c.source.into(),
        c.call_id.into(),
        c.direction.into(),
        c.from_number.into(),
        c.to_number.into(),
        c.queue_id.into(),
        c.state.as_str().into(),
        c.agent_id.into(),
        c.customer_id.into(),
        c.ticket_id.into(),
        c.interaction_id.into(),
        now.into(),
        (c.state == CallState::Queued).then_some(now).into(),
        serde_json::to_string(c.popped)
            .unwrap_or_else(|_| "[]".into())
            .into(),
    ];
    tx.row(&sql, params).await
}

pub async fn find_call<E: Exec>(
    exec: &mut E,
    source: &str,
    call_id: &str,
) -> AppResult<Option<Call>> {
    let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE source = $1 AND call_id = $2");
    exec.row(&sql, vec![source.into(), call_id.into()]).await
}

pub async fn find_call_by_id<E: Exec>(exec: &mut E, id: i64) -> AppResult<Call> {
    let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = $1");
    let found = exec.row(&sql, vec![id.into()]).await?;
    found.ok_or(AppError::NotFound("call"))
}

/// Calls, newest first; `active` keeps the ones not yet over.
pub async fn list_calls(
    db: &Db,
    agent_id: Option<i64>,
    active: bool,
    limit: i64,
) -> AppResult<Vec<Call>> {
    let sql = format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE ($1 < 0 OR agent_id = $1) \
         AND ($2 = 0 OR ended_at IS NULL) ORDER BY id DESC LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(agent_id.unwrap_or(-1))
        .bind(active as i64)
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.iter().map(call_from_row).collect::<Result<_, _>>()?)
}

/// The agent's calls in after-call work.
pub async fn wrapping_up(db: &Db, agent_id: i64) -> AppResult<Vec<Call>> {
    let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE agent_id = $1 AND state = 'wrap_up'");
    db.fetch_all(&sql, vec![agent_id.into()]).await
}

/// Claims a call in wrap-up for ending it; false when another node did.
pub async fn end_wrap_up<E: Exec>(tx: &mut E, call_id: i64) -> AppResult<bool> {
    let claimed = tx
        .run(
            "UPDATE calls SET state = 'ended' WHERE id = $1 AND state = 'wrap_up'",
            vec![call_id.into()],
        )
        .await?;
    Ok(claimed == 1)
}

/// Writes a call's changing fields, only while it is not over yet (`ended_at IS NULL`) unless
/// `allow_ended`; returns false when another request got there first.
pub async fn update_call<E: Exec>(tx: &mut E, c: &Call, allow_ended: bool) -> AppResult<bool> {
    let params = vec![
        c.id.into(),
        c.state.as_str().into(),
        c.agent_id.into(),
        c.queue_id.into(),
        c.queued_at.into(),
        c.answered_at.into(),
        c.ended_at.into(),
        (&c.cause).into(),
        c.last_sequence.into(),
        serde_json::to_string(&c.popped)
            .unwrap_or_else(|_| "[]".into())
            .into(),
        (&c.recording_url).into(),
        c.callback_ticket_id.into(),
        allow_ended.into(),
        c.wrapped_at.into(),
    ];
    let done = tx
        .run(
            "UPDATE calls SET state = $2, agent_id = $3, queue_id = $4, queued_at = $5, \
             answered_at = $6, ended_at = $7, cause = $8, last_sequence = $9, popped = $10, \
             recording_url = $11, callback_ticket_id = $12, wrapped_at = $14 \
             WHERE id = $1 AND ($13 = 1 OR ended_at IS NULL)",
            params,
        )
        .await?;
    Ok(done == 1)
}

/// The open callback ticket left by an earlier missed call from `number`, if any.
pub async fn find_open_callback<E: Exec>(exec: &mut E, number: &str) -> AppResult<Option<i64>> {
    exec.row(
        "SELECT c.callback_ticket_id AS id FROM calls c \
         JOIN tickets t ON t.id = c.callback_ticket_id \
         WHERE c.from_number = $1 AND t.status IN ('new', 'open', 'pending') \
         ORDER BY c.id DESC LIMIT 1",
        vec![number.into()],
    )
    .await
}

/// The active user a PBX means by `key` (what it sends in `user`): the key is compared with each
/// field exactly (extension trimmed, login, phone number in E.164). One user or none: when the key
/// names different users in different fields (one's extension is another's login), nobody gets
/// the call's screen pop and a WARN names the key and the users.
pub async fn find_agent(
    db: &Db,
    phones: &crate::customers::identity::PhoneNormalizer,
    key: &str,
) -> AppResult<Option<crate::auth::User>> {
    let key = key.trim();
    if key.is_empty() || key.chars().count() > 100 {
        return Ok(None);
    }
    let phone = phones.normalize(key);
    let rows = sqlx::query(
        "SELECT id FROM users WHERE active = 1 \
         AND (extension = $1 OR login = $1 OR phone_norm = $2) ORDER BY id",
    )
    .bind(key)
    .bind(phone.as_deref().unwrap_or(""))
    .fetch_all(&db.pool)
    .await?;
    let ids = rows
        .iter()
        .map(|r| r.try_get::<i64, _>("id"))
        .collect::<Result<Vec<_>, _>>()?;
    match ids.as_slice() {
        [] => Ok(None),
        [id] => Ok(Some(crate::auth::store::find_user(db, *id).await?)),
        _ => {
            tracing::warn!(
                value = %key,
                user_ids = ?ids,
                "CTI user value matches several users (extension, login or phone): no agent \
                 for it; make extensions, logins and phone numbers distinct"
            );
            Ok(None)
        }
    }
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BlockedNumber {
    pub id: i64,
    pub number: String,
    pub reason: String,
    pub created_by: Option<i64>,
    pub created_at: i64,
}

pub async fn is_blocked(db: &Db, number: &str) -> AppResult<bool> {
    Ok(
        sqlx::query("SELECT 1 AS x FROM blocked_numbers WHERE number = $1")
            .bind(number)
            .fetch_optional(&db.pool)
            .await?
            .is_some(),
    )
}

pub async fn insert_blocked(
    db: &Db,
    number: &str,
    reason: &str,
    by: i64,
) -> AppResult<BlockedNumber> {
    let row = sqlx::query(
        "INSERT INTO blocked_numbers (number, reason, created_by, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id, number, reason, created_by, created_at",
    )
    .bind(number)
    .bind(reason)
    .bind(by)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?;
    Ok(blocked_from_row(&row)?)
}

fn blocked_from_row(r: &AnyRow) -> Result<BlockedNumber, sqlx::Error> {
    Ok(BlockedNumber {
        id: r.try_get("id")?,
        number: r.try_get("number")?,
        reason: r.try_get("reason")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn list_blocked(db: &Db) -> AppResult<Vec<BlockedNumber>> {
    let rows = sqlx::query(
        "SELECT id, number, reason, created_by, created_at FROM blocked_numbers ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(blocked_from_row)
        .collect::<Result<_, _>>()?)
}

/// Deletes a row of one of this module's admin tables by id.
pub async fn delete_by_id(db: &Db, table: AdminTable, id: i64) -> AppResult<()> {
    let sql = format!("DELETE FROM {} WHERE id = $1", table.name());
    let n = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(AppError::NotFound(table.what()));
    }
    Ok(())
}

#[derive(Clone, Copy)]
pub enum AdminTable {
    Blocked,
    CallerId,
}

impl AdminTable {
    fn name(self) -> &'static str {
        match self {
            AdminTable::Blocked => "blocked_numbers",
            AdminTable::CallerId => "caller_id_rules",
        }
    }
    fn what(self) -> &'static str {
        match self {
            AdminTable::Blocked => "blocked number",
            AdminTable::CallerId => "caller id rule",
        }
    }
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct CallerIdRule {
    pub id: i64,
    pub prefix: String,
    pub caller_id: String,
    pub note: String,
    pub created_at: i64,
}

pub async fn insert_caller_id_rule(
    db: &Db,
    prefix: &str,
    caller_id: &str,
    note: &str,
) -> AppResult<CallerIdRule> {
    let row = sqlx::query(
        "INSERT INTO caller_id_rules (prefix, caller_id, note, created_at) VALUES ($1, $2, $3, $4) \
         RETURNING id, prefix, caller_id, note, created_at",
    )
    .bind(prefix)
    .bind(caller_id)
    .bind(note)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?;
    Ok(rule_from_row(&row)?)
}

fn rule_from_row(r: &AnyRow) -> Result<CallerIdRule, sqlx::Error> {
    Ok(CallerIdRule {
        id: r.try_get("id")?,
        prefix: r.try_get("prefix")?,
        caller_id: r.try_get("caller_id")?,
        note: r.try_get("note")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn list_caller_id_rules(db: &Db) -> AppResult<Vec<CallerIdRule>> {
    let rows = sqlx::query(
        "SELECT id, prefix, caller_id, note, created_at FROM caller_id_rules ORDER BY prefix",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(rule_from_row).collect::<Result<_, _>>()?)
}

/// The caller id to show when dialling `number`, by the longest matching prefix.
pub async fn caller_id_for(db: &Db, number: &str) -> AppResult<Option<String>> {
    let rules: Vec<(String, String)> = list_caller_id_rules(db)
        .await?
        .into_iter()
        .map(|r| (r.prefix, r.caller_id))
        .collect();
    Ok(super::pick_caller_id(&rules, number).map(str::to_string))
}

/// What callers of one dialled number hear: greeting in a language, optionally a menu of
/// `{digit, queue_id, label}` choices; `queue_id` when no menu is used.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct VoiceNumber {
    pub number: String,
    pub language: String,
    pub greeting: String,
    pub queue_id: Option<i64>,
    pub menu: Vec<MenuChoice>,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct MenuChoice {
    pub digit: String,
    pub queue_id: i64,
    pub label: String,
}

pub async fn upsert_voice_number(db: &Db, n: &VoiceNumber) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO voice_numbers (number, language, greeting, queue_id, menu, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (number) DO UPDATE SET \
         language = excluded.language, greeting = excluded.greeting, \
         queue_id = excluded.queue_id, menu = excluded.menu",
    )
    .bind(&n.number)
    .bind(&n.language)
    .bind(&n.greeting)
    .bind(n.queue_id)
    .bind(serde_json::to_string(&n.menu).unwrap_or_else(|_| "[]".into()))
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

fn voice_number_from_row(r: &AnyRow) -> Result<VoiceNumber, sqlx::Error> {
    Ok(VoiceNumber {
        number: r.try_get("number")?,
        language: r.try_get("language")?,
        greeting: r.try_get("greeting")?,
        queue_id: r.try_get("queue_id")?,
        menu: serde_json::from_str(&r.try_get::<String, _>("menu")?).unwrap_or_default(),
    })
}

pub async fn find_voice_number(db: &Db, number: &str) -> AppResult<Option<VoiceNumber>> {
    let row = sqlx::query(
        "SELECT number, language, greeting, queue_id, menu FROM voice_numbers WHERE number = $1",
    )
    .bind(number)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| voice_number_from_row(&r)).transpose()?)
}

pub async fn list_voice_numbers(db: &Db) -> AppResult<Vec<VoiceNumber>> {
    let rows = sqlx::query(
        "SELECT number, language, greeting, queue_id, menu FROM voice_numbers ORDER BY number",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(voice_number_from_row)
        .collect::<Result<_, _>>()?)
}

/// The Twilio call still waiting in Hotline's queue for `ticket_id`, if any.
pub async fn find_waiting_twilio_call<'e, E>(exec: E, ticket_id: i64) -> AppResult<Option<Call>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let sql = format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE ticket_id = $1 AND source = 'twilio' \
         AND state IN ('queued', 'offered') ORDER BY id DESC LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ticket_id)
        .fetch_optional(exec)
        .await?;
    Ok(row.map(|r| call_from_row(&r)).transpose()?)
}
