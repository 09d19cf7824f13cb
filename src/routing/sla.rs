//! SLA clocks: first-response and resolution targets per queue (or every queue) and priority,
//! separately for tickets and callbacks; due times on each work item; `sla.warning` and
//! `sla.breach` events; escalation on breach (priority +1, supervisors told, optional move).
//! Clocks count only the queue's business hours and skip its holidays (a queue without hours
//! counts around the clock).

use crate::app::AppState;
use crate::db::{Db, Exec, FromRow, now_ms};
use crate::error::{AppError, AppResult};
use crate::realtime::events::{self, Scope};
use crate::tickets::store::{TicketChanges, update_ticket};
use serde::{Deserialize, Serialize};
use sqlx::Row;

const FR_WARNED: i64 = 1;
const FR_BREACHED: i64 = 2;
const RES_WARNED: i64 = 4;
const RES_BREACHED: i64 = 8;

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlaTarget {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub queue_id: Option<i64>,
    /// 0 low … 3 urgent.
    pub priority: i64,
    /// `ticket`, `callback` or `complaint` (a complaint's work uses it when its queue has
    /// one, else `ticket`).
    #[serde(default = "ticket_kind")]
    pub kind: String,
    pub first_response_secs: i64,
    pub resolution_secs: i64,
    /// A warning fires when this share of the target has elapsed.
    #[serde(default = "default_warn")]
    pub warn_percent: i64,
    /// On breach the item moves to this queue.
    #[serde(default)]
    pub escalate_queue_id: Option<i64>,
}

fn ticket_kind() -> String {
    "ticket".into()
}
fn default_warn() -> i64 {
    80
}

const COLUMNS: &str = "id, queue_id, priority, kind, first_response_secs, resolution_secs, \
     warn_percent, escalate_queue_id";

impl FromRow for SlaTarget {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
        Ok(SlaTarget {
            id: r.try_get("id")?,
            queue_id: r.try_get("queue_id")?,
            priority: r.try_get("priority")?,
            kind: r.try_get("kind")?,
            first_response_secs: r.try_get("first_response_secs")?,
            resolution_secs: r.try_get("resolution_secs")?,
            warn_percent: r.try_get("warn_percent")?,
            escalate_queue_id: r.try_get("escalate_queue_id")?,
        })
    }
}

/// The target for a queue (its own, else the one for every queue), priority and kind.
pub async fn find_target<E: Exec>(
    exec: &mut E,
    queue_id: Option<i64>,
    priority: i64,
    kind: &str,
) -> AppResult<Option<SlaTarget>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sla_targets WHERE (queue_id = $1 OR queue_id IS NULL) \
         AND priority = $2 AND kind = $3 \
         ORDER BY CASE WHEN queue_id IS NULL THEN 1 ELSE 0 END LIMIT 1"
    );
    let params = vec![
        queue_id.unwrap_or(-1).into(),
        priority.clamp(0, 3).into(),
        kind.into(),
    ];
    exec.row(&sql, params).await
}

/// A queue's working time: opening windows per weekday (minutes from local midnight, 0 =
/// Monday), holidays (local days since the epoch) and its time zone: a named one (IANA, with
/// its daylight saving time) or else a fixed offset from UTC.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Calendar {
    pub utc_offset_minutes: i64,
    /// An IANA time zone (`Asia/Shanghai`); when set it decides local time, not the offset.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// (weekday, open minute, close minute); empty: open around the clock.
    pub hours: Vec<(i64, i64, i64)>,
    pub holidays: Vec<i64>,
}

const MIN_MS: i64 = 60_000;
const DAY_MIN: i64 = 1440;

impl Calendar {
    /// The instant `ms` of working time after `from`.
    pub fn add(&self, from: i64, ms: i64) -> i64 {
        if self.hours.is_empty() {
            return from + ms;
        }
        if let Some(tz) = self
            .time_zone
            .as_deref()
            .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        {
            return self.add_in_zone(&tz, from, ms).unwrap_or(from + ms);
        }
        let offset = self.utc_offset_minutes * MIN_MS;
        let mut t = from + offset;
        let mut need = ms;
        // A year of closed days means the calendar is unusable: fall back to calendar time.
        for _ in 0..400 {
            let day = t.div_euclid(DAY_MIN * MIN_MS);
            let day_start = day * DAY_MIN * MIN_MS;
            let weekday = (day + 3).rem_euclid(7);
            if !self.holidays.contains(&day) {
                let mut windows: Vec<(i64, i64)> = self
                    .hours
                    .iter()
                    .filter(|h| h.0 == weekday)
                    .map(|h| (day_start + h.1 * MIN_MS, day_start + h.2 * MIN_MS))
                    .collect();
                windows.sort_unstable();
                for (open, close) in windows {
                    if t >= close {
                        continue;
                    }
                    t = t.max(open);
                    if need <= close - t {
                        return t + need - offset;
                    }
                    need -= close - t;
                    t = close;
                }
            }
            t = day_start + DAY_MIN * MIN_MS;
        }
        from + ms
    }

    /// `add` in a named time zone: each local day's windows are turned into instants with the
    /// zone's rules of that day (a window across a daylight saving change is shorter or longer,
    /// as the clock on the wall is). `None` when a date is out of range.
    fn add_in_zone(&self, tz: &jiff::tz::TimeZone, from: i64, ms: i64) -> Option<i64> {
        let instant = |date: jiff::civil::Date, minute: i64| -> Option<i64> {
            let (date, minute) = if minute >= DAY_MIN {
                (date.tomorrow().ok()?, minute - DAY_MIN)
            } else {
                (date, minute)
            };
            let time =
                jiff::civil::Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).ok()?;
            Some(
                date.to_datetime(time)
                    .to_zoned(tz.clone())
                    .ok()?
                    .timestamp()
                    .as_millisecond(),
            )
        };
        let epoch = jiff::civil::date(1970, 1, 1);
        let mut date = jiff::Timestamp::from_millisecond(from)
            .ok()?
            .to_zoned(tz.clone())
            .date();
        let mut t = from;
        let mut need = ms;
        for _ in 0..400 {
            let day = i64::from(epoch.until(date).ok()?.get_days());
            let weekday = i64::from(date.weekday().to_monday_zero_offset());
            if !self.holidays.contains(&day) {
                let mut windows = Vec::new();
                for h in self.hours.iter().filter(|h| h.0 == weekday) {
                    windows.push((instant(date, h.1)?, instant(date, h.2)?));
                }
                windows.sort_unstable();
                for (open, close) in windows {
                    if t >= close {
                        continue;
                    }
                    t = t.max(open);
                    if need <= close - t {
                        return Some(t + need);
                    }
                    need -= close - t;
                    t = close;
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

/// A time zone a queue may name: an IANA name this server knows, e.g. `Asia/Shanghai`.
pub fn check_time_zone(name: &str) -> AppResult<String> {
    let name = name.trim();
    jiff::tz::TimeZone::get(name).map_err(|_| {
        AppError::validation(
            "time_zone",
            format!("time_zone must be an IANA time zone such as Asia/Shanghai ({name})"),
        )
    })?;
    Ok(name.to_string())
}

/// Local day number of a `YYYY-MM-DD` date.
pub fn day_number(date: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(date, &fmt).ok()?;
    Some((d.to_julian_day() - time::macros::date!(1970 - 01 - 01).to_julian_day()) as i64)
}

pub fn day_text(day: i64) -> String {
    let d = time::Date::from_julian_day(
        (day + time::macros::date!(1970 - 01 - 01).to_julian_day() as i64) as i32,
    )
    .unwrap_or(time::macros::date!(1970 - 01 - 01));
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

pub async fn find_calendar<E: Exec>(exec: &mut E, queue_id: i64) -> AppResult<Calendar> {
    let offset: Option<Offset> = exec
        .row(
            "SELECT utc_offset_minutes, time_zone FROM queues WHERE id = $1",
            vec![queue_id.into()],
        )
        .await?;
    let hours: Vec<Hours> = exec
        .rows(
            "SELECT weekday, open_min, close_min FROM queue_hours WHERE queue_id = $1 \
             ORDER BY weekday, open_min",
            vec![queue_id.into()],
        )
        .await?;
    let holidays: Vec<Holiday> = exec
        .rows(
            "SELECT day FROM queue_holidays WHERE queue_id = $1 ORDER BY day",
            vec![queue_id.into()],
        )
        .await?;
    Ok(Calendar {
        utc_offset_minutes: offset.as_ref().map_or(0, |o| o.0),
        time_zone: offset.and_then(|o| o.1),
        hours: hours.into_iter().map(|h| (h.0, h.1, h.2)).collect(),
        holidays: holidays.iter().filter_map(|d| day_number(&d.0)).collect(),
    })
}

struct Offset(i64, Option<String>);
struct Hours(i64, i64, i64);
struct Holiday(String);

impl FromRow for Offset {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Offset(
            r.try_get("utc_offset_minutes")?,
            r.try_get("time_zone")?,
        ))
    }
}

impl FromRow for Hours {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Hours(
            r.try_get("weekday")?,
            r.try_get("open_min")?,
            r.try_get("close_min")?,
        ))
    }
}

impl FromRow for Holiday {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Holiday(r.try_get("day")?))
    }
}

/// Replaces a queue's business hours and holidays.
pub async fn update_calendar(db: &Db, queue_id: i64, c: &Calendar) -> AppResult<()> {
    if !(-14 * 60..=14 * 60).contains(&c.utc_offset_minutes) {
        return Err(AppError::validation(
            "utc_offset_minutes",
            "utc_offset_minutes must be between -840 and 840",
        ));
    }
    for (wd, open, close) in &c.hours {
        let valid = (0..=6).contains(wd)
            && (0..DAY_MIN).contains(open)
            && *open < *close
            && *close <= DAY_MIN;
        if !valid {
            return Err(AppError::validation(
                "hours",
                "each window needs weekday 0..=6 and open < close within the day",
            ));
        }
    }
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE queues SET utc_offset_minutes = $2, time_zone = $3 WHERE id = $1")
        .bind(queue_id)
        .bind(c.utc_offset_minutes)
        .bind(c.time_zone.clone())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM queue_hours WHERE queue_id = $1")
        .bind(queue_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM queue_holidays WHERE queue_id = $1")
        .bind(queue_id)
        .execute(&mut *tx)
        .await?;
    for (wd, open, close) in &c.hours {
        sqlx::query(
            "INSERT INTO queue_hours (queue_id, weekday, open_min, close_min) VALUES ($1, $2, $3, $4)",
        )
        .bind(queue_id)
        .bind(wd)
        .bind(open)
        .bind(close)
        .execute(&mut *tx)
        .await?;
    }
    let mut days = c.holidays.clone();
    days.sort_unstable();
    days.dedup();
    for d in days {
        sqlx::query("INSERT INTO queue_holidays (queue_id, day) VALUES ($1, $2)")
            .bind(queue_id)
            .bind(day_text(d))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// First-response and resolution due times of work enqueued at `from`, counted in the
/// queue's business hours.
pub async fn due_times<E: Exec>(
    exec: &mut E,
    queue_id: Option<i64>,
    priority: i64,
    kind: &str,
    from: i64,
) -> AppResult<(Option<i64>, Option<i64>)> {
    let Some(t) = find_target(exec, queue_id, priority, kind).await? else {
        return Ok((None, None));
    };
    let cal = match queue_id {
        Some(q) => find_calendar(exec, q).await?,
        None => Calendar::default(),
    };
    Ok((
        Some(cal.add(from, t.first_response_secs * 1000)),
        Some(cal.add(from, t.resolution_secs * 1000)),
    ))
}

pub async fn list_targets(db: &Db, queue_id: i64) -> AppResult<Vec<SlaTarget>> {
    let sql =
        format!("SELECT {COLUMNS} FROM sla_targets WHERE queue_id = $1 ORDER BY kind, priority");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(queue_id)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .iter()
        .map(SlaTarget::from_row)
        .collect::<Result<_, _>>()?)
}

/// Creates or replaces the target of (queue, priority, kind).
pub async fn upsert_target(db: &Db, t: &SlaTarget) -> AppResult<SlaTarget> {
    if !(0..=3).contains(&t.priority) {
        return Err(AppError::validation("priority", "priority must be 0..=3"));
    }
    if !["ticket", "callback", "complaint"].contains(&t.kind.as_str()) {
        return Err(AppError::validation(
            "kind",
            "kind must be ticket, callback or complaint",
        ));
    }
    if t.first_response_secs <= 0 || t.resolution_secs <= 0 {
        return Err(AppError::validation(
            "first_response_secs",
            "targets must be positive numbers of seconds",
        ));
    }
    if !(1..=100).contains(&t.warn_percent) {
        return Err(AppError::validation(
            "warn_percent",
            "warn_percent must be 1..=100",
        ));
    }
    let mut tx = db.begin().await?;
    sqlx::query(
        "DELETE FROM sla_targets WHERE COALESCE(queue_id, 0) = $1 AND priority = $2 AND kind = $3",
    )
    .bind(t.queue_id.unwrap_or(0))
    .bind(t.priority)
    .bind(&t.kind)
    .execute(&mut *tx)
    .await?;
    let sql = format!(
        "INSERT INTO sla_targets (queue_id, priority, kind, first_response_secs, resolution_secs, \
         warn_percent, escalate_queue_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(t.queue_id)
        .bind(t.priority)
        .bind(&t.kind)
        .bind(t.first_response_secs)
        .bind(t.resolution_secs)
        .bind(t.warn_percent)
        .bind(t.escalate_queue_id)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(SlaTarget::from_row(&row)?)
}

/// Which clock event is due for one item, given what is met already.
/// Returns (flag to set, event kind, target name, due).
pub fn next_clock_event(
    now: i64,
    enqueued_at: i64,
    due: Option<i64>,
    met: bool,
    flags: i64,
    (warn_flag, breach_flag): (i64, i64),
    warn_percent: i64,
) -> Option<(i64, &'static str)> {
    let due = due?;
    if met || flags & breach_flag != 0 {
        return None;
    }
    if now >= due {
        return Some((breach_flag | warn_flag, "sla.breach"));
    }
    let warn_at = enqueued_at + (due - enqueued_at) * warn_percent / 100;
    if now >= warn_at && flags & warn_flag == 0 {
        return Some((warn_flag, "sla.warning"));
    }
    None
}

/// The leader's clock check: warning and breach events, escalation on breach.
pub async fn check_clocks(state: &AppState) -> AppResult<usize> {
    let db = &state.db;
    let rows = sqlx::query(
        "SELECT w.id, w.ticket_id, w.kind, w.queue_id, w.customer_id, w.priority, w.state, \
         w.enqueued_at, w.first_response_due, w.resolution_due, w.sla_flags, \
         t.first_response_at, t.resolved_at, t.priority AS t_priority FROM work_items w \
         JOIN tickets t ON t.id = w.ticket_id \
         WHERE w.next_clock_at <= $1 \
         ORDER BY w.next_clock_at LIMIT 1000",
    )
    .bind(now_ms())
    .fetch_all(&db.pool)
    .await?;
    let now = now_ms();
    let mut fired = 0;
    for r in &rows {
        let id: i64 = r.try_get("id")?;
        let ticket_id: i64 = r.try_get("ticket_id")?;
        let kind: String = r.try_get("kind")?;
        let queue_id: Option<i64> = r.try_get("queue_id")?;
        let flags: i64 = r.try_get("sla_flags")?;
        let enqueued: i64 = r.try_get("enqueued_at")?;
        let t_priority: i64 = r.try_get("t_priority")?;
        let target = find_target(&mut &state.db, queue_id, t_priority, &kind).await?;
        let warn = target.as_ref().map(|t| t.warn_percent).unwrap_or(80);
        // Finished work stops its clocks (and leaves the index range this check scans).
        let state: String = r.try_get("state")?;
        let finished = state == "done" || state == "abandoned";
        let fr_met = finished || r.try_get::<Option<i64>, _>("first_response_at")?.is_some();
        let res_met = finished || r.try_get::<Option<i64>, _>("resolved_at")?.is_some();
        let clocks = [
            (
                "first_response",
                r.try_get::<Option<i64>, _>("first_response_due")?,
                fr_met,
                FR_WARNED,
                FR_BREACHED,
            ),
            (
                "resolution",
                r.try_get::<Option<i64>, _>("resolution_due")?,
                res_met,
                RES_WARNED,
                RES_BREACHED,
            ),
        ];
        let mut flags = flags;
        for (name, due, met, wf, bf) in clocks {
            let Some((set, event)) =
                next_clock_event(now, enqueued, due, met, flags, (wf, bf), warn)
            else {
                continue;
            };
            let mut tx = db.begin().await?;
            // Conditional on the flags read, so two leaders (a fail-over) never fire twice.
            let done = sqlx::query(
                "UPDATE work_items SET sla_flags = sla_flags + $3 WHERE id = $1 AND sla_flags = $2",
            )
            .bind(id)
            .bind(flags)
            .bind(set & !flags)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                continue;
            }
            let mut escalated_to = None;
            if event == "sla.breach" {
                sqlx::query("UPDATE work_items SET priority = priority + 1 WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if let Some(to) = target.as_ref().and_then(|t| t.escalate_queue_id)
                    && Some(to) != queue_id
                {
                    sqlx::query("UPDATE work_items SET queue_id = $2 WHERE id = $1")
                        .bind(id)
                        .bind(to)
                        .execute(&mut *tx)
                        .await?;
                    update_ticket(
                        &mut tx,
                        db,
                        ticket_id,
                        &TicketChanges {
                            queue_id: Some(Some(to)),
                            ..TicketChanges::default()
                        },
                        None,
                    )
                    .await?;
                    escalated_to = Some(to);
                }
            }
            events::append(
                &mut tx,
                db.backend,
                event,
                Scope {
                    queue_id,
                    user_id: None,
                    ticket_id: Some(ticket_id),
                    customer_id: r.try_get("customer_id")?,
                },
                &serde_json::json!({"ticket_id": ticket_id, "work_item_id": id,
                    "target": name, "due_ms": due, "escalated_to_queue_id": escalated_to}),
            )
            .await?;
            events::commit(tx).await?;
            fired += 1;
            flags |= set;
        }
        let next = clocks
            .iter()
            .filter_map(|(_, due, met, wf, bf)| {
                next_clock_time(enqueued, *due, *met, flags, (*wf, *bf), warn)
            })
            .min();
        sqlx::query("UPDATE work_items SET next_clock_at = $2 WHERE id = $1")
            .bind(id)
            .bind(next)
            .execute(&db.pool)
            .await?;
    }
    Ok(fired)
}

/// When a clock next needs a look: its warning time, else its due time; None once breached or
/// met.
pub fn next_clock_time(
    enqueued_at: i64,
    due: Option<i64>,
    met: bool,
    flags: i64,
    (warn_flag, breach_flag): (i64, i64),
    warn_percent: i64,
) -> Option<i64> {
    let due = due?;
    if met || flags & breach_flag != 0 {
        return None;
    }
    if flags & warn_flag == 0 {
        return Some(enqueued_at + (due - enqueued_at) * warn_percent / 100);
    }
    Some(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn business_hours_and_holidays() {
        // 2026-11-23 is a Monday.
        let monday = day_number("2026-11-23").unwrap();
        assert_eq!(day_text(monday), "2026-11-23");
        assert_eq!((monday + 3).rem_euclid(7), 0, "weekday 0 is Monday");
        let m0 = monday * 24 * H;
        let cal = Calendar {
            utc_offset_minutes: 0,
            time_zone: None,
            hours: (0..5).map(|d| (d, 9 * 60, 18 * 60)).collect(),
            holidays: vec![monday + 1],
        };
        // Monday 17:00 + 2 h: one hour on Monday, Tuesday is a holiday → Wednesday 10:00.
        assert_eq!(cal.add(m0 + 17 * H, 2 * H), m0 + 2 * 24 * H + 10 * H);
        // Before opening: the clock starts at 9:00.
        assert_eq!(cal.add(m0 + 7 * H, H), m0 + 10 * H);
        // Friday 17:30 + 1 h → Monday 9:30.
        let fri = m0 + 4 * 24 * H;
        assert_eq!(
            cal.add(fri + 17 * H + H / 2, H),
            m0 + 7 * 24 * H + 9 * H + H / 2
        );
        // The offset: 9:00 local at UTC+8 is 1:00 UTC.
        let cn = Calendar {
            utc_offset_minutes: 480,
            ..cal.clone()
        };
        assert_eq!(cn.add(m0, H), m0 + 2 * H);
        // A named zone gives the same answers as its offset where it has no summer time.
        let shanghai = Calendar {
            utc_offset_minutes: 0,
            time_zone: Some("Asia/Shanghai".into()),
            ..cal.clone()
        };
        for (from, ms) in [(m0, H), (m0 + 17 * H, 2 * H), (fri + 10 * H, 30 * H)] {
            assert_eq!(shanghai.add(from, ms), cn.add(from, ms), "{from} + {ms}");
        }
        // No hours: calendar time.
        assert_eq!(Calendar::default().add(5, 10), 15);
    }

    #[test]
    fn a_named_zone_follows_summer_time() {
        // Berlin, every day 09:00-18:00. On 2026-03-29 clocks go from UTC+1 to UTC+2.
        let berlin = Calendar {
            utc_offset_minutes: 0,
            time_zone: Some("Europe/Berlin".into()),
            hours: (0..7).map(|d| (d, 9 * 60, 18 * 60)).collect(),
            holidays: vec![],
        };
        let utc = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        // Saturday 17:00 local (16:00 UTC) + 2 h: one hour Saturday, then Sunday 09:00 local,
        // which is 07:00 UTC after the change → 08:00 UTC.
        assert_eq!(
            berlin.add(utc("2026-03-28T16:00:00Z"), 2 * H),
            utc("2026-03-29T08:00:00Z")
        );
        // In winter 09:00 local is 08:00 UTC.
        assert_eq!(
            berlin.add(utc("2026-01-05T06:00:00Z"), H),
            utc("2026-01-05T09:00:00Z")
        );
        assert!(check_time_zone("Europe/Berlin").is_ok());
        assert!(check_time_zone("Mars/Olympus").is_err());
    }

    #[test]
    fn warning_then_breach() {
        let ev = |now, flags| next_clock_event(now, 0, Some(1000), false, flags, (1, 2), 80);
        assert_eq!(ev(100, 0), None);
        assert_eq!(ev(800, 0), Some((1, "sla.warning")));
        assert_eq!(ev(900, 1), None);
        assert_eq!(ev(1000, 1), Some((3, "sla.breach")));
        assert_eq!(ev(1000, 0), Some((3, "sla.breach")));
        assert_eq!(ev(2000, 3), None);
        assert_eq!(
            next_clock_event(2000, 0, Some(1000), true, 0, (1, 2), 80),
            None
        );
        let next = |flags, met| next_clock_time(0, Some(1000), met, flags, (1, 2), 80);
        assert_eq!(
            (
                next(0, false),
                next(1, false),
                next(3, false),
                next(0, true)
            ),
            (Some(800), Some(1000), None, None)
        );
    }
}
