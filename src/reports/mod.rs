//! Reports (issue #18): durable rollups per 15-minute interval, kept as work happens, and the
//! reports read from them.
//!
//! The routing leader's rollup follower reads the events log after its mark in batches. An
//! event only says which raw rows changed (its ticket, its user); the follower reads those
//! rows and counts each *fact* they newly show once, recording it in `report_seen` in the same
//! transaction that adds to the rollups and moves the mark: a batch that fails leaves nothing,
//! its rerun counts the same, and a fact seen through several events counts once. The facts
//! (README "Reports" has the definitions the reports use):
//! - a work item that entered a queue (not `unqueued`): one contact, in the interval it was
//!   enqueued, by its queue, channel and ticket kind;
//! - answered (`assigned_at` set): answered, wait (enqueued → assigned), within the queue's
//!   service-level threshold or not, in the interval it was answered;
//! - finished (`done`/`abandoned`): an abandon (after the threshold or not), or handled with its
//!   handle time (assigned → done, also the agent's), in the interval it ended;
//! - a closed `presence_log` row: time per state, split over the intervals it spans;
//! - an answered survey: CSAT (answers, scores 4–5, score sum) by queue and agent;
//! - a complaint: received by queue, category and severity; closed with its handling time
//!   (created → closed);
//! - a KB article inserted into a reply, by queue and article.
//!
//! The rollups use no time zone: 15-minute intervals are aligned in every zone in use. The
//! reports turn dates into instants and group intervals into hours and days in the center's
//! time zone (`HOTLINE_TIME_ZONE`).

pub mod routes;
pub mod store;
pub mod views;

use crate::db::Db;
use crate::error::{AppError, AppResult};
use std::collections::BTreeMap;

/// One rollup interval.
pub const BUCKET_MS: i64 = 15 * 60 * 1000;
/// The events one batch of the follower reads.
pub const FOLLOW_BATCH: i64 = 500;
/// The `realtime_marks` row: the events seq the follower has counted up to.
pub const MARK: &str = "reports_followed_seq";
/// A report spans at most this many days.
pub const MAX_DAYS: i64 = 366;

/// The start of the 15-minute interval holding `ms`.
pub fn bucket(ms: i64) -> i64 {
    ms - ms.rem_euclid(BUCKET_MS)
}

/// `[from, to)` split over the 15-minute intervals it spans: (interval, ms in it).
pub fn split(from: i64, to: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let b = bucket(at);
        let end = (b + BUCKET_MS).min(to);
        out.push((b, end - at));
        at = end;
    }
    out
}

/// Work-item facts (`report_seen.flags` for source `work`).
pub const WORK_CONTACT: i64 = 1;
pub const WORK_ANSWERED: i64 = 2;
pub const WORK_FINISHED: i64 = 4;
/// Complaint facts.
pub const COMPLAINT_RECEIVED: i64 = 1;
pub const COMPLAINT_CLOSED: i64 = 2;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Service {
    pub answered: i64,
    pub answered_within: i64,
    pub wait_ms: i64,
    pub abandoned: i64,
    pub abandoned_after: i64,
    pub handled: i64,
    pub handle_ms: i64,
}

impl Service {
    pub fn add(&mut self, o: &Service) {
        self.answered += o.answered;
        self.answered_within += o.answered_within;
        self.wait_ms += o.wait_ms;
        self.abandoned += o.abandoned;
        self.abandoned_after += o.abandoned_after;
        self.handled += o.handled;
        self.handle_ms += o.handle_ms;
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Agent {
    pub handled: i64,
    pub handle_ms: i64,
    pub available_ms: i64,
    pub busy_ms: i64,
    pub wrap_up_ms: i64,
    pub away_ms: i64,
    pub csat_answers: i64,
    pub csat_good: i64,
}

impl Agent {
    pub fn add(&mut self, o: &Agent) {
        self.handled += o.handled;
        self.handle_ms += o.handle_ms;
        self.available_ms += o.available_ms;
        self.busy_ms += o.busy_ms;
        self.wrap_up_ms += o.wrap_up_ms;
        self.away_ms += o.away_ms;
        self.csat_answers += o.csat_answers;
        self.csat_good += o.csat_good;
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ComplaintFigures {
    pub received: i64,
    pub closed: i64,
    pub handle_ms: i64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Csat {
    pub answers: i64,
    pub good: i64,
    pub score_sum: i64,
}

impl ComplaintFigures {
    pub fn add(&mut self, o: &ComplaintFigures) {
        self.received += o.received;
        self.closed += o.closed;
        self.handle_ms += o.handle_ms;
    }
}

impl Csat {
    pub fn add(&mut self, o: &Csat) {
        self.answers += o.answers;
        self.good += o.good;
        self.score_sum += o.score_sum;
    }
}

/// What to add to the rollups (one batch), or the rollups' whole content (read back for
/// comparison). Keys: (interval, dimensions…).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rollups {
    /// (bucket, queue, channel, kind) → contacts.
    pub contacts: BTreeMap<(i64, i64, String, String), i64>,
    /// (bucket, queue).
    pub service: BTreeMap<(i64, i64), Service>,
    /// (bucket, user).
    pub agents: BTreeMap<(i64, i64), Agent>,
    /// (bucket, queue, category, severity).
    pub complaints: BTreeMap<(i64, i64, i64, i64), ComplaintFigures>,
    /// (bucket, queue).
    pub csat: BTreeMap<(i64, i64), Csat>,
    /// (bucket, queue, article) → inserted.
    pub kb: BTreeMap<(i64, i64, i64), i64>,
}

impl Rollups {
    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty()
            && self.service.is_empty()
            && self.agents.is_empty()
            && self.complaints.is_empty()
            && self.csat.is_empty()
            && self.kb.is_empty()
    }
}

/// A work item as the rollups need it.
#[derive(Clone, Debug)]
pub struct WorkFacts {
    pub id: i64,
    pub queue_id: Option<i64>,
    pub channel: String,
    pub ticket_kind: String,
    pub state: String,
    pub enqueued_at: i64,
    pub assigned_to: Option<i64>,
    pub assigned_at: Option<i64>,
    pub done_at: Option<i64>,
    /// The queue's service-level threshold (s); 20 without a queue.
    pub threshold_secs: i64,
}

/// Adds the facts of `w` not in `seen` yet; the flags now seen.
pub fn add_work(r: &mut Rollups, w: &WorkFacts, seen: i64) -> i64 {
    let mut now = seen;
    let q = w.queue_id.unwrap_or(0);
    let threshold = w.threshold_secs * 1000;
    if w.state == "unqueued" {
        return now;
    }
    if seen & WORK_CONTACT == 0 {
        let key = (
            bucket(w.enqueued_at),
            q,
            w.channel.clone(),
            w.ticket_kind.clone(),
        );
        *r.contacts.entry(key).or_default() += 1;
        now |= WORK_CONTACT;
    }
    if seen & WORK_ANSWERED == 0
        && let Some(a) = w.assigned_at
    {
        let s = r.service.entry((bucket(a), q)).or_default();
        let wait = (a - w.enqueued_at).max(0);
        s.answered += 1;
        s.wait_ms += wait;
        if wait <= threshold {
            s.answered_within += 1;
        }
        now |= WORK_ANSWERED;
    }
    let finished = matches!(w.state.as_str(), "done" | "abandoned");
    if seen & WORK_FINISHED == 0
        && finished
        && let Some(d) = w.done_at
    {
        let b = bucket(d);
        if w.state == "abandoned" {
            let s = r.service.entry((b, q)).or_default();
            s.abandoned += 1;
            if d - w.enqueued_at > threshold {
                s.abandoned_after += 1;
            }
        } else if let Some(a) = w.assigned_at {
            let handle = (d - a).max(0);
            let s = r.service.entry((b, q)).or_default();
            s.handled += 1;
            s.handle_ms += handle;
            if let Some(u) = w.assigned_to {
                let ag = r.agents.entry((b, u)).or_default();
                ag.handled += 1;
                ag.handle_ms += handle;
            }
        }
        now |= WORK_FINISHED;
    }
    now
}

/// Adds a closed presence row's time per state.
pub fn add_presence(r: &mut Rollups, user_id: i64, state: &str, started: i64, ended: i64) {
    for (b, ms) in split(started, ended) {
        let a = r.agents.entry((b, user_id)).or_default();
        match state {
            "available" => a.available_ms += ms,
            "busy" => a.busy_ms += ms,
            "wrap_up" => a.wrap_up_ms += ms,
            "away" => a.away_ms += ms,
            _ => {}
        }
    }
    // An empty entry (offline time) adds nothing but a row of zeros: keep the rollups sparse.
    r.agents.retain(|_, a| *a != Agent::default());
}

/// Adds an answered survey.
pub fn add_survey(
    r: &mut Rollups,
    queue_id: Option<i64>,
    agent_id: Option<i64>,
    score: i64,
    at: i64,
) {
    let b = bucket(at);
    let good = i64::from(score >= 4);
    let c = r.csat.entry((b, queue_id.unwrap_or(0))).or_default();
    c.answers += 1;
    c.good += good;
    c.score_sum += score;
    if let Some(u) = agent_id {
        let a = r.agents.entry((b, u)).or_default();
        a.csat_answers += 1;
        a.csat_good += good;
    }
}

/// A complaint as the rollups need it.
#[derive(Clone, Debug)]
pub struct ComplaintRow {
    pub ticket_id: i64,
    pub queue_id: Option<i64>,
    pub category_id: i64,
    pub severity: i64,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

/// Adds the facts of a complaint not in `seen` yet; the flags now seen.
pub fn add_complaint(r: &mut Rollups, c: &ComplaintRow, seen: i64) -> i64 {
    let mut now = seen;
    let q = c.queue_id.unwrap_or(0);
    if seen & COMPLAINT_RECEIVED == 0 {
        let key = (bucket(c.created_at), q, c.category_id, c.severity);
        r.complaints.entry(key).or_default().received += 1;
        now |= COMPLAINT_RECEIVED;
    }
    if seen & COMPLAINT_CLOSED == 0
        && let Some(at) = c.closed_at
    {
        let key = (bucket(at), q, c.category_id, c.severity);
        let f = r.complaints.entry(key).or_default();
        f.closed += 1;
        f.handle_ms += (at - c.created_at).max(0);
        now |= COMPLAINT_CLOSED;
    }
    now
}

/// What one follower pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Followed {
    /// Events read.
    pub events: usize,
}

/// What the follower needs: the database (the time zone plays no part in the rollups).
#[derive(Clone)]
pub struct Follower {
    pub db: Db,
}

/// Runs while this node leads (the leader spawns it and aborts it when leadership ends):
/// follows the events log into the rollups; woken by commits, else every second.
pub async fn run(f: Follower) {
    loop {
        let committed = crate::realtime::events::COMMITTED.notified();
        tokio::pin!(committed);
        committed.as_mut().enable();
        if let Err(e) = catch_up(&f.db).await {
            tracing::warn!(error = %e, "report rollups pass failed");
        }
        tokio::select! {
            _ = &mut committed => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Follows the events log up to its end; the events read.
pub async fn catch_up(db: &Db) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let n = store::follow(db, FOLLOW_BATCH, Fault::None).await?;
        total += n;
        if n < FOLLOW_BATCH as usize {
            return Ok(total);
        }
    }
}

/// For tests of the follower's crash safety: where a batch fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// After all of the batch's writes, before its commit (the transaction rolls back).
    BeforeCommit,
}

/// Report intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    #[serde(rename = "15m")]
    Quarter,
    Hour,
    Day,
}

impl Interval {
    pub fn parse(s: &str) -> AppResult<Interval> {
        match s {
            "15m" => Ok(Interval::Quarter),
            "hour" => Ok(Interval::Hour),
            "day" | "" => Ok(Interval::Day),
            _ => Err(AppError::validation(
                "interval",
                "interval must be 15m, hour or day",
            )),
        }
    }
}

/// The start of the period of `interval` holding the rollup interval `b`, in `tz`.
pub fn period(tz: &jiff::tz::TimeZone, interval: Interval, b: i64) -> i64 {
    let Ok(t) = jiff::Timestamp::from_millisecond(b) else {
        return b;
    };
    let z = t.to_zoned(tz.clone());
    let start = match interval {
        Interval::Quarter => return b,
        Interval::Hour => z
            .with()
            .minute(0)
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok(),
        Interval::Day => z.start_of_day().ok(),
    };
    start.map_or(b, |s| s.timestamp().as_millisecond())
}

/// A stretch of time over which the center's UTC offset does not change: within it, the
/// period of `interval` holding a rollup interval `b` is `(b + offset_ms) / length_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub from_ms: i64,
    pub to_ms: i64,
    pub offset_ms: i64,
    pub length_ms: i64,
}

/// `range` cut where `tz`'s offset changes (daylight saving time), each piece with its offset,
/// so that the database can add the rollups up per period of `interval`.
pub fn pieces(tz: &jiff::tz::TimeZone, interval: Interval, range: Range) -> Vec<Piece> {
    let length_ms = match interval {
        Interval::Quarter => 15 * 60 * 1000,
        Interval::Hour => 60 * 60 * 1000,
        Interval::Day => 24 * 60 * 60 * 1000,
    };
    let Ok(from) = jiff::Timestamp::from_millisecond(range.from_ms) else {
        return vec![Piece {
            from_ms: range.from_ms,
            to_ms: range.to_ms,
            offset_ms: 0,
            length_ms,
        }];
    };
    let offset = |t: jiff::Timestamp| i64::from(tz.to_offset(t).seconds()) * 1000;
    let mut out = Vec::new();
    let mut start = (range.from_ms, offset(from));
    for t in tz.following(from) {
        let at = t.timestamp().as_millisecond();
        if at >= range.to_ms {
            break;
        }
        if at > start.0 {
            out.push(Piece {
                from_ms: start.0,
                to_ms: at,
                offset_ms: start.1,
                length_ms,
            });
        }
        start = (at, i64::from(t.offset().seconds()) * 1000);
    }
    out.push(Piece {
        from_ms: start.0,
        to_ms: range.to_ms,
        offset_ms: start.1,
        length_ms,
    });
    out
}

/// The instant a date (`YYYY-MM-DD`) starts in `tz`.
pub fn day_start(tz: &jiff::tz::TimeZone, field: &str, date: &str) -> AppResult<i64> {
    date.trim()
        .parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(tz.clone()).ok())
        .map(|z| z.timestamp().as_millisecond())
        .ok_or_else(|| {
            AppError::validation(field, format!("{field} must be a date, e.g. 2026-12-03"))
        })
}

/// A report's range: `from` and `to` are dates (inclusive) in the center's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub from_ms: i64,
    /// Exclusive: the start of the day after `to`.
    pub to_ms: i64,
}

impl Range {
    pub fn parse(tz: &jiff::tz::TimeZone, from: &str, to: &str) -> AppResult<Range> {
        let from_ms = day_start(tz, "from", from)?;
        let to_date = to
            .trim()
            .parse::<jiff::civil::Date>()
            .map_err(|_| AppError::validation("to", "to must be a date, e.g. 2026-12-03"))?;
        let next = to_date
            .tomorrow()
            .map_err(|_| AppError::validation("to", "to is out of range"))?;
        let to_ms = day_start(tz, "to", &next.to_string())?;
        if to_ms <= from_ms {
            return Err(AppError::validation("to", "to must not be before from"));
        }
        if to_ms - from_ms > (MAX_DAYS + 1) * 86_400_000 {
            return Err(AppError::validation(
                "to",
                format!("a report spans at most {MAX_DAYS} days"),
            ));
        }
        Ok(Range { from_ms, to_ms })
    }
}

/// A period's start as local time in `tz` (`2026-12-03T09:00`), for tables and CSV.
pub fn local(tz: &jiff::tz::TimeZone, ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The queues a reader's report covers: admins all (or the `queue` asked for); supervisors the
/// queues they are members of (asking for another is forbidden).
pub async fn scope_for(
    db: &Db,
    user: &crate::auth::User,
    queue: Option<i64>,
) -> AppResult<store::Scope> {
    if user.role == crate::auth::Role::Admin {
        return Ok(queue.map(|q| vec![q]));
    }
    let mine = crate::routing::store::queues_of_user(db, user.id).await?;
    match queue {
        Some(q) if mine.contains(&q) => Ok(Some(vec![q])),
        Some(_) => Err(AppError::Forbidden),
        None => Ok(Some(mine)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_split_and_group_in_the_time_zone() {
        assert_eq!(bucket(BUCKET_MS + 5), BUCKET_MS);
        assert_eq!(bucket(-1), -BUCKET_MS);
        let s = split(BUCKET_MS - 1000, 2 * BUCKET_MS + 500);
        assert_eq!(
            s,
            vec![(0, 1000), (BUCKET_MS, BUCKET_MS), (2 * BUCKET_MS, 500)]
        );
        assert!(split(5, 5).is_empty());
        // Kathmandu is UTC+5:45: its hours start at :15 UTC, and quarter hours still align.
        let tz = jiff::tz::TimeZone::get("Asia/Kathmandu").unwrap();
        let b = "2026-12-03T10:30:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        let h = period(&tz, Interval::Hour, b);
        assert_eq!(local(&tz, h), "2026-12-03T16:00");
        let tz8 = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        let d = period(&tz8, Interval::Day, b);
        assert_eq!(local(&tz8, d), "2026-12-03T00:00");
        let r = Range::parse(&tz8, "2026-12-03", "2026-12-03").unwrap();
        assert_eq!(r.to_ms - r.from_ms, 86_400_000);
        assert!(Range::parse(&tz8, "2026-12-04", "2026-12-03").is_err());
        assert!(Range::parse(&tz8, "2025-01-01", "2026-12-03").is_err());
        assert!(Interval::parse("week").is_err());
    }

    #[test]
    fn pieces_cut_the_range_where_daylight_saving_changes_the_offset() {
        let ny = jiff::tz::TimeZone::get("America/New_York").unwrap();
        // 2026-03-08: clocks go from 02:00 EST (-5) to 03:00 EDT (-4).
        let r = Range::parse(&ny, "2026-03-01", "2026-03-31").unwrap();
        let p = pieces(&ny, Interval::Day, r);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!((p[0].from_ms, p[1].to_ms), (r.from_ms, r.to_ms));
        assert_eq!(p[0].to_ms, p[1].from_ms);
        assert_eq!(local(&ny, p[1].from_ms), "2026-03-08T03:00");
        assert_eq!(
            (p[0].offset_ms, p[1].offset_ms),
            (-5 * 3_600_000, -4 * 3_600_000)
        );
        // Within each piece, (bucket + offset) / length is the local day of `period`.
        for piece in &p {
            let mut b = piece.from_ms;
            while b < piece.to_ms {
                let day = (b + piece.offset_ms) / piece.length_ms;
                let start = period(&ny, Interval::Day, b);
                assert_eq!(
                    day,
                    (start + piece.offset_ms) / piece.length_ms,
                    "{}",
                    local(&ny, b)
                );
                b += BUCKET_MS;
            }
        }
        // A zone without daylight saving is one piece.
        let sh = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        let r = Range::parse(&sh, "2026-03-01", "2026-03-31").unwrap();
        assert_eq!(pieces(&sh, Interval::Hour, r).len(), 1);
    }

    #[test]
    fn a_fact_counts_once() {
        let mut r = Rollups::default();
        let w = WorkFacts {
            id: 1,
            queue_id: Some(2),
            channel: "sms".into(),
            ticket_kind: "inquiry".into(),
            state: "done".into(),
            enqueued_at: 0,
            assigned_to: Some(7),
            assigned_at: Some(10_000),
            done_at: Some(70_000),
            threshold_secs: 20,
        };
        let seen = add_work(&mut r, &w, 0);
        assert_eq!(seen, WORK_CONTACT | WORK_ANSWERED | WORK_FINISHED);
        let again = r.clone();
        assert_eq!(add_work(&mut r, &w, seen), seen);
        assert_eq!(r, again);
        let s = r.service[&(0, 2)];
        assert_eq!((s.answered, s.answered_within, s.handled), (1, 1, 1));
        assert_eq!(s.handle_ms, 60_000);
        assert_eq!(r.agents[&(0, 7)].handled, 1);
    }
}
