//! Disposition codes: the admins' list (code, English and Chinese names, active flag, order),
//! the agent's pick for a call at its end (stored on the call), and the report counting them
//! per code and queue. Rules here, SQL here too (it is small and only this module's).

use super::CallState;
use super::store::{self, Call};
use crate::db::{Db, Exec, FromRow, WriteJob, now_ms};
use crate::error::{AppError, AppResult, required_text};
use crate::realtime::events;

#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Disposition {
    pub id: i64,
    /// Stable key for reports and integrations (`resolved`, `follow_up`, …): lower-case
    /// letters, digits and `_`.
    pub code: String,
    pub name_en: String,
    pub name_zh: String,
    /// Offered to agents; an inactive code stays on the calls that have it.
    pub active: bool,
    /// Order in the agent's list (then id).
    pub position: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl FromRow for Disposition {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Disposition, sqlx::Error> {
        Ok(Disposition {
            id: r.try_get("id")?,
            code: r.try_get("code")?,
            name_en: r.try_get("name_en")?,
            name_zh: r.try_get("name_zh")?,
            active: r.try_get::<i64>("active")? != 0,
            position: r.try_get("position")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

const COLUMNS: &str = "id, code, name_en, name_zh, active, position, created_at, updated_at";

/// A new code or changes to one (every field optional on a change).
#[derive(Debug, Default)]
pub struct DispositionFields {
    pub code: Option<String>,
    pub name_en: Option<String>,
    pub name_zh: Option<String>,
    pub active: Option<bool>,
    pub position: Option<i64>,
}

/// Checks and trims the fields: a code is 1–40 of `a-z 0-9 _`, names 1–100 characters.
pub fn check_fields(f: DispositionFields) -> AppResult<DispositionFields> {
    let code = match f.code {
        Some(c) => {
            let c = required_text("code", &c, 40)?;
            if !c
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
            {
                return Err(AppError::validation(
                    "code",
                    "code may hold only lower-case letters a-z, digits and _",
                ));
            }
            Some(c)
        }
        None => None,
    };
    let name_en = f
        .name_en
        .map(|n| required_text("name_en", &n, 100))
        .transpose()?;
    let name_zh = f
        .name_zh
        .map(|n| required_text("name_zh", &n, 100))
        .transpose()?;
    if let Some(p) = f.position
        && !(0..=10_000).contains(&p)
    {
        return Err(AppError::validation(
            "position",
            "position must be 0 to 10000",
        ));
    }
    Ok(DispositionFields {
        code,
        name_en,
        name_zh,
        active: f.active,
        position: f.position,
    })
}

/// All codes (or the active ones), in the agent's order.
pub async fn list(db: &Db, active_only: bool) -> AppResult<Vec<Disposition>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM call_dispositions WHERE ($1 = 0 OR active = 1) \
         ORDER BY position, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(active_only as i64)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .iter()
        .map(Disposition::from_row)
        .collect::<Result<_, _>>()?)
}

pub async fn find<E: Exec>(exec: &mut E, id: i64) -> AppResult<Disposition> {
    let sql = format!("SELECT {COLUMNS} FROM call_dispositions WHERE id = $1");
    exec.row(&sql, vec![id.into()])
        .await?
        .ok_or(AppError::NotFound("disposition"))
}

/// Adds a code (checked fields; code and both names required). A code in use is 409.
pub async fn insert(db: &Db, f: DispositionFields) -> AppResult<Disposition> {
    let f = check_fields(f)?;
    let code = f
        .code
        .ok_or_else(|| AppError::validation("code", "code is required"))?;
    let name_en = f
        .name_en
        .ok_or_else(|| AppError::validation("name_en", "name_en is required"))?;
    let name_zh = f
        .name_zh
        .ok_or_else(|| AppError::validation("name_zh", "name_zh is required"))?;
    let now = now_ms();
    let position = match f.position {
        Some(p) => p,
        None => {
            let row =
                sqlx::query("SELECT COALESCE(MAX(position), 0) + 1 AS p FROM call_dispositions")
                    .fetch_one(&db.pool)
                    .await?;
            sqlx::Row::try_get::<i64, _>(&row, "p")?
        }
    };
    let sql = format!(
        "INSERT INTO call_dispositions (code, name_en, name_zh, active, position, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&code)
        .bind(&name_en)
        .bind(&name_zh)
        .bind(f.active.unwrap_or(true) as i64)
        .bind(position)
        .bind(now)
        .fetch_one(&db.pool)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict(_) => AppError::Conflict(format!("code {code} exists already")),
            other => other,
        })?;
    Ok(Disposition::from_row(&row)?)
}

/// Changes a code's fields; returns it as now stored.
pub async fn update(db: &Db, id: i64, f: DispositionFields) -> AppResult<Disposition> {
    let f = check_fields(f)?;
    let mut d = find(&mut &*db, id).await?;
    if let Some(c) = f.code {
        d.code = c;
    }
    if let Some(n) = f.name_en {
        d.name_en = n;
    }
    if let Some(n) = f.name_zh {
        d.name_zh = n;
    }
    if let Some(a) = f.active {
        d.active = a;
    }
    if let Some(p) = f.position {
        d.position = p;
    }
    d.updated_at = now_ms();
    let code = d.code.clone();
    sqlx::query(
        "UPDATE call_dispositions SET code = $2, name_en = $3, name_zh = $4, active = $5, \
         position = $6, updated_at = $7 WHERE id = $1",
    )
    .bind(id)
    .bind(&d.code)
    .bind(&d.name_en)
    .bind(&d.name_zh)
    .bind(d.active as i64)
    .bind(d.position)
    .bind(d.updated_at)
    .execute(&db.pool)
    .await
    .map_err(|e| match AppError::from(e) {
        AppError::Conflict(_) => AppError::Conflict(format!("code {code} exists already")),
        other => other,
    })?;
    Ok(d)
}

/// May `user` set the disposition of `call`? The agent who had the call, or a supervisor.
pub fn may_set(user: &crate::auth::User, call: &Call) -> bool {
    user.is_supervisor() || call.agent_id == Some(user.id)
}

/// A call gets its code once the conversation is over or at least under way: not while it
/// still rings or waits (there is nothing to classify yet), and a rejected call has none.
pub fn can_have_disposition(call: &Call) -> AppResult<()> {
    match call.state {
        CallState::Talking | CallState::WrapUp | CallState::Ended | CallState::Abandoned => Ok(()),
        other => Err(AppError::Conflict(format!(
            "call {} is {}: a disposition is set once it is answered or over",
            call.id,
            other.as_str()
        ))),
    }
}

/// Stores `disposition_id` (an active code) on the call, with who and when; appends
/// `call.updated`. Picking again replaces the earlier code.
pub async fn set_on_call(db: &Db, call_id: i64, disposition_id: i64, by: i64) -> AppResult<Call> {
    events::write(
        db,
        SetDisposition {
            call_id,
            disposition_id,
            by,
        },
    )
    .await
}

struct SetDisposition {
    call_id: i64,
    disposition_id: i64,
    by: i64,
}

impl WriteJob for SetDisposition {
    type Out = Call;

    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<Call> {
        let call = store::find_call_by_id(tx, self.call_id).await?;
        can_have_disposition(&call)?;
        let d = match find(tx, self.disposition_id).await {
            Ok(d) => d,
            Err(AppError::NotFound(_)) => {
                return Err(AppError::validation(
                    "disposition_id",
                    "disposition_id is not a disposition code",
                ));
            }
            Err(e) => return Err(e),
        };
        if !d.active {
            return Err(AppError::validation(
                "disposition_id",
                format!("disposition {} is no longer in use", d.code),
            ));
        }
        let now = now_ms();
        tx.run(
            "UPDATE calls SET disposition_id = $2, disposition_by = $3, disposition_at = $4 \
             WHERE id = $1",
            vec![call.id.into(), d.id.into(), self.by.into(), now.into()],
        )
        .await?;
        if let Some(iid) = call.interaction_id {
            let meta = serde_json::json!({"disposition": d.code, "disposition_id": d.id});
            crate::tickets::store::update_interaction_meta(tx, iid, &meta).await?;
        }
        let call = store::find_call_by_id(tx, self.call_id).await?;
        super::calls::append_updated(tx, db, &call).await?;
        Ok(call)
    }
}

/// One line of the report: a code (or none) in a queue (or none), how many calls had it.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
pub struct ReportRow {
    /// `null`: calls without a disposition.
    pub disposition_id: Option<i64>,
    pub code: Option<String>,
    pub name_en: Option<String>,
    pub name_zh: Option<String>,
    pub queue_id: Option<i64>,
    pub queue_name: Option<String>,
    pub calls: i64,
}

impl FromRow for ReportRow {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<ReportRow, sqlx::Error> {
        Ok(ReportRow {
            disposition_id: r.try_get("disposition_id")?,
            code: r.try_get("code")?,
            name_en: r.try_get("name_en")?,
            name_zh: r.try_get("name_zh")?,
            queue_id: r.try_get("queue_id")?,
            queue_name: r.try_get("queue_name")?,
            calls: r.try_get("calls")?,
        })
    }
}

/// The report: calls that started in `[from_ms, to_ms]` and were answered or over (rejected
/// calls and calls still ringing are left out), counted per disposition code and queue; calls
/// without a code count in a row with `disposition_id: null`. Biggest counts first.
pub async fn report(db: &Db, from_ms: i64, to_ms: i64) -> AppResult<Vec<ReportRow>> {
    db.fetch_all(
        "SELECT c.disposition_id, d.code, d.name_en, d.name_zh, c.queue_id, \
         q.name AS queue_name, COUNT(*) AS calls FROM calls c \
         LEFT JOIN call_dispositions d ON d.id = c.disposition_id \
         LEFT JOIN queues q ON q.id = c.queue_id \
         WHERE c.started_at >= $1 AND c.started_at <= $2 \
         AND c.state IN ('talking', 'wrap_up', 'ended', 'abandoned') \
         GROUP BY c.disposition_id, d.code, d.name_en, d.name_zh, c.queue_id, q.name",
        vec![from_ms.into(), to_ms.into()],
    )
    .await
    .map(|mut rows: Vec<ReportRow>| {
        // Sorted here: the backends order NULLs differently (no code and no queue go last).
        rows.sort_by(|a, b| {
            (
                b.calls,
                a.code.is_none(),
                &a.code,
                a.queue_name.is_none(),
                &a.queue_name,
            )
                .cmp(&(
                    a.calls,
                    b.code.is_none(),
                    &b.code,
                    b.queue_name.is_none(),
                    &b.queue_name,
                ))
        });
        rows
    })
}
