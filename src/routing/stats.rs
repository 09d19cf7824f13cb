//! Wallboard figures (`queue_stats`), per queue and overall, computed from work items and
//! presence. "Today" is the day in the center's time zone (`HOTLINE_TIME_ZONE`). Definitions (also in README):
//! - waiting: items waiting or ringing now; longest_wait_secs: the oldest of them.
//! - offered: items that entered the queue today; answered: assigned to an agent today
//!   (accepted offer, manual pick or reassign); abandoned: gave up while waiting today.
//! - service_level: answered within the queue's threshold ÷ (answered + abandoned after the
//!   threshold). Abandons within the threshold count in neither (the caller gave up before we
//!   could reasonably answer); null when nothing counted yet.
//! - asa_secs: mean seconds from entering the queue to being answered, over today's answered.
//! - aht_secs: mean seconds from answered to done, over items done today.
//! - agents: state, reason, seconds in the current state, and seconds per state today.

use crate::db::{Db, now_ms};
use crate::error::AppResult;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug, Default, Serialize, PartialEq, schemars::JsonSchema)]
pub struct QueueFigures {
    pub queue_id: Option<i64>,
    pub name: String,
    pub service_level_secs: i64,
    pub waiting: i64,
    pub longest_wait_secs: i64,
    pub offered: i64,
    pub answered: i64,
    pub abandoned: i64,
    pub answered_within: i64,
    pub abandoned_after: i64,
    pub service_level: Option<f64>,
    pub asa_secs: Option<f64>,
    pub aht_secs: Option<f64>,
    pub agents_by_state: BTreeMap<String, i64>,
    /// Satisfaction surveys answered today.
    pub csat_answers: i64,
    /// Today's CSAT: the share of today's answers scoring 4 or 5 (0..1); null without answers.
    pub csat: Option<f64>,
    #[serde(skip)]
    csat_good: i64,
    #[serde(skip)]
    wait_sum: i64,
    #[serde(skip)]
    handle_sum: i64,
    #[serde(skip)]
    handled: i64,
}

/// One work item's times, as the figures need them.
#[derive(Clone, Copy, Debug)]
pub struct ItemTimes {
    pub state_waiting: bool,
    pub abandoned: bool,
    pub enqueued_at: i64,
    pub assigned_at: Option<i64>,
    pub done_at: Option<i64>,
}

impl QueueFigures {
    /// Adds one item; `threshold_ms` is its queue's service-level threshold.
    pub fn add(&mut self, it: &ItemTimes, today: i64, now: i64, threshold_ms: i64) {
        if it.state_waiting {
            self.waiting += 1;
            self.longest_wait_secs = self.longest_wait_secs.max((now - it.enqueued_at) / 1000);
        }
        if it.enqueued_at >= today {
            self.offered += 1;
        }
        if let Some(a) = it.assigned_at
            && a >= today
        {
            self.answered += 1;
            self.wait_sum += a - it.enqueued_at;
            if a - it.enqueued_at <= threshold_ms {
                self.answered_within += 1;
            }
        }
        if it.abandoned
            && let Some(d) = it.done_at
            && d >= today
        {
            self.abandoned += 1;
            if d - it.enqueued_at > threshold_ms {
                self.abandoned_after += 1;
            }
        }
        if !it.abandoned
            && let (Some(a), Some(d)) = (it.assigned_at, it.done_at)
            && d >= today
        {
            self.handled += 1;
            self.handle_sum += d - a;
        }
    }

    pub fn finish(&mut self) {
        let counted = self.answered + self.abandoned_after;
        self.service_level = (counted > 0).then(|| self.answered_within as f64 / counted as f64);
        self.asa_secs =
            (self.answered > 0).then(|| self.wait_sum as f64 / self.answered as f64 / 1000.0);
        self.aht_secs =
            (self.handled > 0).then(|| self.handle_sum as f64 / self.handled as f64 / 1000.0);
        self.csat =
            (self.csat_answers > 0).then(|| self.csat_good as f64 / self.csat_answers as f64);
    }

    fn merge(&mut self, o: &QueueFigures) {
        self.waiting += o.waiting;
        self.longest_wait_secs = self.longest_wait_secs.max(o.longest_wait_secs);
        self.offered += o.offered;
        self.answered += o.answered;
        self.abandoned += o.abandoned;
        self.answered_within += o.answered_within;
        self.abandoned_after += o.abandoned_after;
        self.wait_sum += o.wait_sum;
        self.handle_sum += o.handle_sum;
        self.handled += o.handled;
        self.csat_answers += o.csat_answers;
        self.csat_good += o.csat_good;
    }
}

/// When the day that holds `now_ms` began in `tz`.
pub fn day_start(tz: &jiff::tz::TimeZone, now_ms: i64) -> i64 {
    jiff::Timestamp::from_millisecond(now_ms)
        .ok()
        .and_then(|t| t.to_zoned(tz.clone()).start_of_day().ok())
        .map_or(now_ms - now_ms.rem_euclid(DAY_MS), |d| {
            d.timestamp().as_millisecond()
        })
}

/// The wallboard snapshot (`GET /api/wallboard`, the `queue_stats` frame).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Snapshot {
    pub at_ms: i64,
    /// The center's time zone (IANA name): "today" starts at its midnight.
    pub time_zone: String,
    pub day_start_ms: i64,
    pub queues: Vec<QueueFigures>,
    pub overall: QueueFigures,
    /// Everyone who works a queue or has a presence.
    pub agents: Vec<AgentFigures>,
}

/// One agent on the wallboard.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct AgentFigures {
    pub user_id: i64,
    pub name: String,
    pub state: String,
    pub reason: String,
    pub since_ms: i64,
    pub time_in_state_secs: i64,
    /// Seconds in each state today.
    pub today_secs: BTreeMap<String, i64>,
    /// The queues the agent works.
    pub queues: Vec<i64>,
}

/// The wallboard snapshot ([`Snapshot`]) as JSON, as the hub keeps and sends it.
pub async fn compute(db: &Db, tz: &jiff::tz::TimeZone) -> AppResult<serde_json::Value> {
    let now = now_ms();
    let today = day_start(tz, now);
    let mut queues: BTreeMap<i64, QueueFigures> = BTreeMap::new();
    for r in sqlx::query("SELECT id, name, service_level_secs FROM queues ORDER BY id")
        .fetch_all(&db.pool)
        .await?
    {
        let id: i64 = r.try_get("id")?;
        queues.insert(
            id,
            QueueFigures {
                queue_id: Some(id),
                name: r.try_get("name")?,
                service_level_secs: r.try_get("service_level_secs")?,
                ..QueueFigures::default()
            },
        );
    }
    let rows = sqlx::query(
        "SELECT queue_id, state, enqueued_at, assigned_at, done_at FROM work_items \
         WHERE queue_id IS NOT NULL AND (state IN ('waiting', 'offered') \
         OR (enqueued_at >= $2 AND (enqueued_at >= $1 OR assigned_at >= $1 OR done_at >= $1)))",
    )
    .bind(today)
    // Work that entered a queue over a week ago and was answered or ended today is left out:
    // the bound keeps this once-a-second query on the enqueued_at index.
    .bind(today - 7 * DAY_MS)
    .fetch_all(&db.pool)
    .await?;
    for r in &rows {
        let q: i64 = r.try_get("queue_id")?;
        let Some(f) = queues.get_mut(&q) else {
            continue;
        };
        let state: String = r.try_get("state")?;
        let threshold = f.service_level_secs * 1000;
        f.add(
            &ItemTimes {
                state_waiting: state == "waiting" || state == "offered",
                abandoned: state == "abandoned",
                enqueued_at: r.try_get("enqueued_at")?,
                assigned_at: r.try_get("assigned_at")?,
                done_at: r.try_get("done_at")?,
            },
            today,
            now,
            threshold,
        );
    }
    // Agents: every member of a queue and everyone with a presence row, with their queues.
    let mut queues_of: HashMap<i64, Vec<i64>> = HashMap::new();
    for r in sqlx::query("SELECT queue_id, user_id FROM queue_members")
        .fetch_all(&db.pool)
        .await?
    {
        queues_of
            .entry(r.try_get("user_id")?)
            .or_default()
            .push(r.try_get("queue_id")?);
    }
    for (q, answers, good) in crate::surveys::store::answers_per_queue(db, today).await? {
        if let Some(f) = queues.get_mut(&q) {
            f.csat_answers = answers;
            f.csat_good = good;
        }
    }
    let today_states = super::presence::time_in_states(db, today).await?;
    let mut agents = Vec::new();
    for r in sqlx::query(
        "SELECT u.id AS user_id, COALESCE(p.state, 'offline') AS state, \
         COALESCE(p.reason, '') AS reason, COALESCE(p.since_ms, 0) AS since_ms, u.display_name \
         FROM users u LEFT JOIN agent_presence p ON p.user_id = u.id \
         WHERE p.user_id IS NOT NULL \
         OR (u.active = 1 AND EXISTS (SELECT 1 FROM queue_members m WHERE m.user_id = u.id)) \
         ORDER BY u.id",
    )
    .fetch_all(&db.pool)
    .await?
    {
        let uid: i64 = r.try_get("user_id")?;
        let state: String = r.try_get("state")?;
        let since: i64 = r.try_get("since_ms")?;
        let member_of = queues_of.get(&uid).cloned().unwrap_or_default();
        for q in &member_of {
            if let Some(f) = queues.get_mut(q) {
                *f.agents_by_state.entry(state.clone()).or_default() += 1;
            }
        }
        agents.push(AgentFigures {
            user_id: uid,
            name: r.try_get("display_name")?,
            state,
            reason: r.try_get("reason")?,
            since_ms: since,
            time_in_state_secs: if since > 0 {
                (now - since).max(0) / 1000
            } else {
                0
            },
            today_secs: today_states.get(&uid).cloned().unwrap_or_default(),
            queues: member_of,
        });
    }
    let mut overall = QueueFigures {
        name: "all".into(),
        ..QueueFigures::default()
    };
    for f in queues.values_mut() {
        f.finish();
        overall.merge(f);
    }
    overall.finish();
    for a in &agents {
        *overall.agents_by_state.entry(a.state.clone()).or_default() += 1;
    }
    let snapshot = Snapshot {
        at_ms: now,
        time_zone: tz.iana_name().unwrap_or("UTC").to_string(),
        day_start_ms: today,
        queues: queues.into_values().collect(),
        overall,
        agents,
    };
    serde_json::to_value(snapshot).map_err(crate::error::AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_level_ignores_short_abandons() {
        let mut f = QueueFigures::default();
        let t = |enq, asg: Option<i64>, done: Option<i64>, ab| ItemTimes {
            state_waiting: false,
            abandoned: ab,
            enqueued_at: enq,
            assigned_at: asg,
            done_at: done,
        };
        let th = 20_000;
        f.add(&t(1000, Some(11_000), Some(71_000), false), 0, 100_000, th); // answered in 10 s
        f.add(&t(1000, Some(41_000), None, false), 0, 100_000, th); // answered in 40 s
        f.add(&t(1000, None, Some(6_000), true), 0, 100_000, th); // gave up after 5 s
        f.add(&t(1000, None, Some(61_000), true), 0, 100_000, th); // gave up after 60 s
        f.finish();
        assert_eq!((f.offered, f.answered, f.abandoned), (4, 2, 2));
        assert_eq!(f.service_level, Some(1.0 / 3.0));
        assert_eq!(f.asa_secs, Some(25.0));
        assert_eq!(f.aht_secs, Some(60.0));
    }
}
