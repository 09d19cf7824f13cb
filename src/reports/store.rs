//! SQL of the report rollups: the follower's batch, the rebuild from the raw tables, and the
//! reads the reports make.

use super::{
    Agent, ComplaintFigures, ComplaintRow, Csat, Fault, Rollups, Service, WorkFacts, add_complaint,
    add_presence, add_survey, add_work,
};
use crate::db::read::{FromRow, Param, ReadRow};
use crate::db::{Db, Exec};
use crate::error::{AppError, AppResult};
use std::collections::{BTreeMap, BTreeSet};

/// Ids per `IN (…)` list.
const CHUNK: usize = 400;
/// A presence row closed by an event ended around the event's time; rows that ended this long
/// before a batch's first event were counted by earlier batches.
const PRESENCE_SLACK_MS: i64 = 10 * 60 * 1000;

struct EventRow {
    seq: i64,
    at_ms: i64,
    kind: String,
    user_id: Option<i64>,
    ticket_id: Option<i64>,
}

impl FromRow for EventRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(EventRow {
            seq: r.try_get("seq")?,
            at_ms: r.try_get("at_ms")?,
            kind: r.try_get("kind")?,
            user_id: r.try_get("user_id")?,
            ticket_id: r.try_get("ticket_id")?,
        })
    }
}

/// `$start, $start+1, …` for `n` parameters.
fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ids(list: &[i64]) -> Vec<Param> {
    list.iter().map(|&i| i.into()).collect()
}

/// Reads up to `batch` events after the follower's mark; in one transaction adds the facts the
/// rows they point to newly show and moves the mark (only from the value it was read at: two
/// followers never both take a batch). The number of events read.
pub async fn follow(db: &Db, batch: i64, fault: Fault) -> AppResult<usize> {
    let from = crate::realtime::marks::get(db, super::MARK)
        .await?
        .unwrap_or(0);
    let events: Vec<EventRow> = db
        .fetch_all(
            "SELECT seq, at_ms, kind, user_id, ticket_id FROM events WHERE seq > $1 \
             ORDER BY seq LIMIT $2",
            vec![from.into(), batch.into()],
        )
        .await?;
    let Some(last) = events.last() else {
        return Ok(0);
    };
    let mut tx = db.begin().await?;
    if !crate::realtime::marks::claim(&mut tx, super::MARK, from, last.seq).await? {
        // Another follower took this batch.
        return Ok(0);
    }
    let tickets: BTreeSet<i64> = events.iter().filter_map(|e| e.ticket_id).collect();
    let users: BTreeSet<i64> = events
        .iter()
        .filter(|e| e.kind == "presence.changed")
        .filter_map(|e| e.user_id)
        .collect();
    let since = events.iter().map(|e| e.at_ms).min().unwrap_or(0) - PRESENCE_SLACK_MS;
    let tickets: Vec<i64> = tickets.into_iter().collect();
    let users: Vec<i64> = users.into_iter().collect();
    apply(&mut tx, &tickets, &users, since).await?;
    if fault == Fault::BeforeCommit {
        return Err(AppError::Internal(anyhow::anyhow!(
            "report rollups: a fault before commit (test)"
        )));
    }
    tx.commit().await?;
    Ok(events.len())
}

/// Counts the facts not counted yet of the raw rows of `tickets` (work items, surveys,
/// complaints, KB insertions) and of the presence rows of `users` that ended at or after
/// `presence_since`, adds them to the rollups and records them as counted.
pub async fn apply<E: Exec>(
    tx: &mut E,
    tickets: &[i64],
    users: &[i64],
    presence_since: i64,
) -> AppResult<()> {
    let mut r = Rollups::default();
    let mut seen: Vec<(&'static str, i64, i64)> = Vec::new();
    for chunk in tickets.chunks(CHUNK) {
        let list = placeholders(1, chunk.len());
        let work: Vec<(WorkFacts, i64)> = tx
            .rows(
                &format!(
                    "SELECT w.id, w.queue_id, w.channel, t.kind AS ticket_kind, w.state, \
                     w.enqueued_at, w.assigned_to, w.assigned_at, w.done_at, \
                     COALESCE(q.service_level_secs, 20) AS threshold_secs, \
                     COALESCE(s.flags, 0) AS flags \
                     FROM work_items w JOIN tickets t ON t.id = w.ticket_id \
                     LEFT JOIN queues q ON q.id = w.queue_id \
                     LEFT JOIN report_seen s ON s.source = 'work' AND s.id = w.id \
                     WHERE w.ticket_id IN ({list}) AND COALESCE(s.flags, 0) <> 7"
                ),
                ids(chunk),
            )
            .await?;
        for (w, flags) in &work {
            let now = add_work(&mut r, w, *flags);
            if now != *flags {
                seen.push(("work", w.id, now));
            }
        }
        let surveys: Vec<SurveyRow> = tx
            .rows(
                &format!(
                    "SELECT v.id, v.queue_id, v.agent_id, v.score, v.answered_at FROM surveys v \
                     WHERE v.ticket_id IN ({list}) AND v.score IS NOT NULL \
                     AND v.answered_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM report_seen s \
                     WHERE s.source = 'survey' AND s.id = v.id)"
                ),
                ids(chunk),
            )
            .await?;
        for v in &surveys {
            add_survey(&mut r, v.queue_id, v.agent_id, v.score, v.answered_at);
            seen.push(("survey", v.id, 1));
        }
        let complaints: Vec<(ComplaintRow, i64)> = tx
            .rows(
                &format!(
                    "SELECT c.ticket_id, t.queue_id, c.category_id, c.severity, c.created_at, \
                     c.closed_at, COALESCE(s.flags, 0) AS flags \
                     FROM complaints c JOIN tickets t ON t.id = c.ticket_id \
                     LEFT JOIN report_seen s ON s.source = 'complaint' AND s.id = c.ticket_id \
                     WHERE c.ticket_id IN ({list}) AND COALESCE(s.flags, 0) <> 3"
                ),
                ids(chunk),
            )
            .await?;
        for (c, flags) in &complaints {
            let now = add_complaint(&mut r, c, *flags);
            if now != *flags {
                seen.push(("complaint", c.ticket_id, now));
            }
        }
        let kb: Vec<KbRow> = tx
            .rows(
                &format!(
                    "SELECT k.id, k.article_id, k.at_ms, t.queue_id FROM kb_suggestion_uses k \
                     LEFT JOIN tickets t ON t.id = k.ticket_id \
                     WHERE k.ticket_id IN ({list}) AND k.kind = 'inserted' \
                     AND NOT EXISTS (SELECT 1 FROM report_seen s \
                     WHERE s.source = 'kb' AND s.id = k.id)"
                ),
                ids(chunk),
            )
            .await?;
        for k in &kb {
            let key = (
                super::bucket(k.at_ms),
                k.queue_id.unwrap_or(0),
                k.article_id,
            );
            *r.kb.entry(key).or_default() += 1;
            seen.push(("kb", k.id, 1));
        }
    }
    for chunk in users.chunks(CHUNK) {
        let list = placeholders(2, chunk.len());
        let mut params = vec![presence_since.into()];
        params.extend(ids(chunk));
        let rows: Vec<PresenceRow> = tx
            .rows(
                &format!(
                    "SELECT p.id, p.user_id, p.state, p.started_ms, p.ended_ms \
                     FROM presence_log p WHERE p.user_id IN ({list}) \
                     AND p.ended_ms IS NOT NULL AND p.ended_ms >= $1 \
                     AND NOT EXISTS (SELECT 1 FROM report_seen s \
                     WHERE s.source = 'presence' AND s.id = p.id)"
                ),
                params,
            )
            .await?;
        for p in &rows {
            add_presence(&mut r, p.user_id, &p.state, p.started_ms, p.ended_ms);
            seen.push(("presence", p.id, 1));
        }
    }
    for (source, id, flags) in seen {
        tx.run(
            "INSERT INTO report_seen (source, id, flags) VALUES ($1, $2, $3) \
             ON CONFLICT (source, id) DO UPDATE SET flags = excluded.flags",
            vec![source.into(), id.into(), flags.into()],
        )
        .await?;
    }
    add(tx, &r).await
}

/// Adds `r` to the rollup tables.
async fn add<E: Exec>(tx: &mut E, r: &Rollups) -> AppResult<()> {
    for ((b, q, channel, kind), n) in &r.contacts {
        tx.run(
            "INSERT INTO report_contacts (bucket_ms, queue_id, channel, kind, contacts) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (bucket_ms, queue_id, channel, kind) \
             DO UPDATE SET contacts = report_contacts.contacts + excluded.contacts",
            vec![
                (*b).into(),
                (*q).into(),
                channel.into(),
                kind.into(),
                (*n).into(),
            ],
        )
        .await?;
    }
    for ((b, q), s) in &r.service {
        tx.run(
            "INSERT INTO report_service (bucket_ms, queue_id, answered, answered_within, \
             wait_ms, abandoned, abandoned_after, handled, handle_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (bucket_ms, queue_id) \
             DO UPDATE SET answered = report_service.answered + excluded.answered, \
             answered_within = report_service.answered_within + excluded.answered_within, \
             wait_ms = report_service.wait_ms + excluded.wait_ms, \
             abandoned = report_service.abandoned + excluded.abandoned, \
             abandoned_after = report_service.abandoned_after + excluded.abandoned_after, \
             handled = report_service.handled + excluded.handled, \
             handle_ms = report_service.handle_ms + excluded.handle_ms",
            vec![
                (*b).into(),
                (*q).into(),
                s.answered.into(),
                s.answered_within.into(),
                s.wait_ms.into(),
                s.abandoned.into(),
                s.abandoned_after.into(),
                s.handled.into(),
                s.handle_ms.into(),
            ],
        )
        .await?;
    }
    for ((b, u), a) in &r.agents {
        tx.run(
            "INSERT INTO report_agents (bucket_ms, user_id, handled, handle_ms, available_ms, \
             busy_ms, wrap_up_ms, away_ms, csat_answers, csat_good) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (bucket_ms, user_id) DO UPDATE SET \
             handled = report_agents.handled + excluded.handled, \
             handle_ms = report_agents.handle_ms + excluded.handle_ms, \
             available_ms = report_agents.available_ms + excluded.available_ms, \
             busy_ms = report_agents.busy_ms + excluded.busy_ms, \
             wrap_up_ms = report_agents.wrap_up_ms + excluded.wrap_up_ms, \
             away_ms = report_agents.away_ms + excluded.away_ms, \
             csat_answers = report_agents.csat_answers + excluded.csat_answers, \
             csat_good = report_agents.csat_good + excluded.csat_good",
            vec![
                (*b).into(),
                (*u).into(),
                a.handled.into(),
                a.handle_ms.into(),
                a.available_ms.into(),
                a.busy_ms.into(),
                a.wrap_up_ms.into(),
                a.away_ms.into(),
                a.csat_answers.into(),
                a.csat_good.into(),
            ],
        )
        .await?;
    }
    for ((b, q, cat, sev), c) in &r.complaints {
        tx.run(
            "INSERT INTO report_complaints (bucket_ms, queue_id, category_id, severity, \
             received, closed, handle_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (bucket_ms, queue_id, category_id, severity) DO UPDATE SET \
             received = report_complaints.received + excluded.received, \
             closed = report_complaints.closed + excluded.closed, \
             handle_ms = report_complaints.handle_ms + excluded.handle_ms",
            vec![
                (*b).into(),
                (*q).into(),
                (*cat).into(),
                (*sev).into(),
                c.received.into(),
                c.closed.into(),
                c.handle_ms.into(),
            ],
        )
        .await?;
    }
    for ((b, q), c) in &r.csat {
        tx.run(
            "INSERT INTO report_csat (bucket_ms, queue_id, answers, good, score_sum) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (bucket_ms, queue_id) DO UPDATE SET \
             answers = report_csat.answers + excluded.answers, \
             good = report_csat.good + excluded.good, \
             score_sum = report_csat.score_sum + excluded.score_sum",
            vec![
                (*b).into(),
                (*q).into(),
                c.answers.into(),
                c.good.into(),
                c.score_sum.into(),
            ],
        )
        .await?;
    }
    for ((b, q, article), n) in &r.kb {
        tx.run(
            "INSERT INTO report_kb (bucket_ms, queue_id, article_id, inserted) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (bucket_ms, queue_id, article_id) \
             DO UPDATE SET inserted = report_kb.inserted + excluded.inserted",
            vec![(*b).into(), (*q).into(), (*article).into(), (*n).into()],
        )
        .await?;
    }
    Ok(())
}

/// Rebuilds the rollups from the raw tables (`hotline reports rebuild`): empties them, counts
/// every raw row, and sets the follower's mark to the end of the events log, all in one
/// transaction. The number of tickets counted.
pub async fn rebuild(db: &Db) -> AppResult<usize> {
    let mut tx = db.begin().await?;
    // Taking the mark's row first makes a follower's batch wait for this one and then find
    // its mark moved.
    crate::realtime::marks::set(&mut tx, super::MARK, 0).await?;
    let end: Option<i64> = tx
        .row("SELECT COALESCE(MAX(seq), 0) AS id FROM events", vec![])
        .await?;
    for table in [
        "report_contacts",
        "report_service",
        "report_agents",
        "report_complaints",
        "report_csat",
        "report_kb",
        "report_seen",
    ] {
        tx.run(&format!("DELETE FROM {table}"), vec![]).await?;
    }
    let tickets: Vec<i64> = tx
        .rows("SELECT id FROM tickets ORDER BY id", vec![])
        .await?;
    let users: Vec<i64> = tx
        .rows(
            "SELECT DISTINCT user_id AS id FROM presence_log ORDER BY user_id",
            vec![],
        )
        .await?;
    apply(&mut tx, &tickets, &users, i64::MIN).await?;
    crate::realtime::marks::set(&mut tx, super::MARK, end.unwrap_or(0)).await?;
    tx.commit().await?;
    Ok(tickets.len())
}

struct SurveyRow {
    id: i64,
    queue_id: Option<i64>,
    agent_id: Option<i64>,
    score: i64,
    answered_at: i64,
}

impl FromRow for SurveyRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(SurveyRow {
            id: r.try_get("id")?,
            queue_id: r.try_get("queue_id")?,
            agent_id: r.try_get("agent_id")?,
            score: r.try_get("score")?,
            answered_at: r.try_get("answered_at")?,
        })
    }
}

struct KbRow {
    id: i64,
    article_id: i64,
    at_ms: i64,
    queue_id: Option<i64>,
}

impl FromRow for KbRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(KbRow {
            id: r.try_get("id")?,
            article_id: r.try_get("article_id")?,
            at_ms: r.try_get("at_ms")?,
            queue_id: r.try_get("queue_id")?,
        })
    }
}

struct PresenceRow {
    id: i64,
    user_id: i64,
    state: String,
    started_ms: i64,
    ended_ms: i64,
}

impl FromRow for PresenceRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(PresenceRow {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            state: r.try_get("state")?,
            started_ms: r.try_get("started_ms")?,
            ended_ms: r.try_get("ended_ms")?,
        })
    }
}

impl FromRow for (WorkFacts, i64) {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok((
            WorkFacts {
                id: r.try_get("id")?,
                queue_id: r.try_get("queue_id")?,
                channel: r.try_get("channel")?,
                ticket_kind: r.try_get("ticket_kind")?,
                state: r.try_get("state")?,
                enqueued_at: r.try_get("enqueued_at")?,
                assigned_to: r.try_get("assigned_to")?,
                assigned_at: r.try_get("assigned_at")?,
                done_at: r.try_get("done_at")?,
                threshold_secs: r.try_get("threshold_secs")?,
            },
            r.try_get("flags")?,
        ))
    }
}

impl FromRow for (ComplaintRow, i64) {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok((
            ComplaintRow {
                ticket_id: r.try_get("ticket_id")?,
                queue_id: r.try_get("queue_id")?,
                category_id: r.try_get("category_id")?,
                severity: r.try_get("severity")?,
                created_at: r.try_get("created_at")?,
                closed_at: r.try_get("closed_at")?,
            },
            r.try_get("flags")?,
        ))
    }
}

/// Which queues a reader sees: `None` all (admins), else these (a supervisor's, or the one
/// asked for).
pub type Scope = Option<Vec<i64>>;

/// `AND <col> IN (…)` for a scope, numbering parameters from `start`.
fn scoped(col: &str, scope: &Scope, start: usize) -> (String, Vec<Param>) {
    match scope {
        None => (String::new(), vec![]),
        Some(list) if list.is_empty() => (" AND 1 = 0".into(), vec![]),
        Some(list) => (
            format!(" AND {col} IN ({})", placeholders(start, list.len())),
            ids(list),
        ),
    }
}

/// Which rollup tables a report reads (each report reads only its own: a month of a large
/// center's agent rows alone is a quarter of a million).
#[derive(Clone, Copy, Debug, Default)]
pub struct Parts {
    /// The contacts, kept apart by these keys (None: not read).
    pub contacts: Option<ContactKeys>,
    /// Every queue added up into one (queue id 0): a report's figures per period, where its
    /// per-queue figures are read over the whole range (a month of 20 queues by 15 minutes:
    /// 2,880 rows instead of 57,600).
    pub across_queues: bool,
    pub service: bool,
    pub agents: bool,
    pub complaints: bool,
    pub csat: bool,
    pub kb: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        contacts: Some(ContactKeys::All),
        across_queues: false,
        service: true,
        agents: true,
        complaints: true,
        csat: true,
        kb: true,
    };
}

/// Which keys of the contacts rollup a report keeps apart; the others are added up in SQL
/// (their column left empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactKeys {
    /// Queue, channel and kind (the volume report's CSV).
    All,
    /// Queue and channel (the volume report's chart).
    Channel,
    /// Queue only (the service report).
    Queue,
}

/// How the rollup rows are added up as they are read, so that a report over a month reads
/// what it shows rather than every 15-minute row (a large center's month of contacts is
/// 240k rows; by day, per queue, a few hundred).
#[derive(Clone, Copy, Debug)]
pub enum By<'a> {
    /// Each 15-minute interval apart, as stored.
    Interval,
    /// Per period: the pieces of the range (`super::pieces`), within each of which a period
    /// is `(bucket + offset) / length`. A row's bucket is the period's first interval.
    Period(&'a [super::Piece]),
    /// The whole range in one: a row's bucket is the range's first interval.
    Range,
}

/// The statements reading `table` over `range` by `by`: `dims` (the columns kept apart) and
/// `sums` (added up); `filter` is the scope's condition and its parameters, numbered from $3.
fn grouped(
    table: &str,
    dims: &[&str],
    sums: &[&str],
    range: super::Range,
    by: By,
    filter: &(String, Vec<Param>),
) -> Vec<(String, Vec<Param>)> {
    let (qs, qp) = filter;
    let dims_list = dims.join(", ");
    let sums_list = |added: bool| -> String {
        sums.iter()
            .map(|c| {
                if added {
                    format!("CAST(SUM({c}) AS BIGINT) AS {c}")
                } else {
                    c.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let whole = |from: i64, to: i64, extra: Vec<Param>| {
        let mut p: Vec<Param> = vec![from.into(), to.into()];
        p.extend(qp.iter().cloned());
        p.extend(extra);
        p
    };
    // The columns grouped by: the dimensions read from the table (not constants like
    // `CAST('' AS TEXT) AS channel`).
    let real = dims
        .iter()
        .filter(|d| !d.contains(' '))
        .copied()
        .collect::<Vec<_>>();
    // `GROUP BY` these and the keys; without keys and lead, no group but the one of a range
    // that has rows (an aggregate over no rows is still a row, of NULLs).
    let group_by = |lead: &[&str]| -> String {
        let all = lead.iter().chain(&real).copied().collect::<Vec<_>>();
        match all.is_empty() {
            true => " HAVING COUNT(*) > 0".into(),
            false => format!(" GROUP BY {}", all.join(", ")),
        }
    };
    let next = 3 + qp.len();
    match by {
        // The table's own rows, unless a dimension is left out (the volume chart's contacts per
        // channel, not per queue and kind): then its rows are added up per interval in SQL (a
        // month of a large center: 11k rows instead of 240k).
        By::Interval if real.len() == dims.len() => {
            vec![(
                format!(
                    "SELECT bucket_ms, {dims_list}, {} FROM {table} \
                     WHERE bucket_ms >= $1 AND bucket_ms < $2{qs}",
                    sums_list(false)
                ),
                whole(range.from_ms, range.to_ms, vec![]),
            )]
        }
        By::Interval => vec![(
            format!(
                "SELECT bucket_ms, {dims_list}, {} FROM {table} \
                 WHERE bucket_ms >= $1 AND bucket_ms < $2{qs}{}",
                sums_list(true),
                group_by(&["bucket_ms"]),
            ),
            whole(range.from_ms, range.to_ms, vec![]),
        )],
        By::Range => vec![(
            format!(
                "SELECT MIN(bucket_ms) AS bucket_ms, {dims_list}, {} FROM {table} \
                 WHERE bucket_ms >= $1 AND bucket_ms < $2{qs}{}",
                sums_list(true),
                group_by(&[]),
            ),
            whole(range.from_ms, range.to_ms, vec![]),
        )],
        By::Period(pieces) => pieces
            .iter()
            .filter_map(|piece| {
                let (from, to) = (
                    piece.from_ms.max(range.from_ms),
                    piece.to_ms.min(range.to_ms),
                );
                (from < to).then(|| {
                    (
                        format!(
                            "SELECT MIN(bucket_ms) AS bucket_ms, (bucket_ms + ${next}) / ${} AS period, \
                             {dims_list}, {} FROM {table} \
                             WHERE bucket_ms >= $1 AND bucket_ms < $2{qs}{}",
                            next + 1,
                            sums_list(true),
                            group_by(&["period"]),
                        ),
                        whole(from, to, vec![piece.offset_ms.into(), piece.length_ms.into()]),
                    )
                })
            })
            .collect(),
    }
}

/// The rollups between `range` (all of them with `None`), within `scope` (agents: all); only
/// the tables of `parts`, added up `by` interval, period or the whole range.
pub async fn load(
    db: &Db,
    range: Option<super::Range>,
    scope: &Scope,
    parts: Parts,
    by: By<'_>,
) -> AppResult<Rollups> {
    let range = range.unwrap_or(super::Range {
        from_ms: i64::MIN,
        to_ms: i64::MAX,
    });
    let queues = scoped("queue_id", scope, 3);
    let everyone = (String::new(), Vec::new());
    let mut r = Rollups::default();
    let queue = if parts.across_queues {
        "CAST(0 AS BIGINT) AS queue_id"
    } else {
        "queue_id"
    };
    if let Some(keys) = parts.contacts {
        let (channel, kind) = match keys {
            ContactKeys::All => ("channel", "kind"),
            ContactKeys::Channel => ("channel", "CAST('' AS TEXT) AS kind"),
            ContactKeys::Queue => ("CAST('' AS TEXT) AS channel", "CAST('' AS TEXT) AS kind"),
        };
        let dims = [queue, channel, kind];
        for (sql, p) in grouped("report_contacts", &dims, &["contacts"], range, by, &queues) {
            let rows: Vec<ContactRow> = db.fetch_all(&sql, p).await?;
            for c in rows {
                *r.contacts
                    .entry((c.bucket_ms, c.queue_id, c.channel, c.kind))
                    .or_default() += c.contacts;
            }
        }
    }
    if parts.service {
        let sums = [
            "answered",
            "answered_within",
            "wait_ms",
            "abandoned",
            "abandoned_after",
            "handled",
            "handle_ms",
        ];
        for (sql, p) in grouped("report_service", &[queue], &sums, range, by, &queues) {
            let rows: Vec<((i64, i64), Service)> = db.fetch_all(&sql, p).await?;
            for (k, v) in rows {
                r.service.entry(k).or_default().add(&v);
            }
        }
    }
    if parts.agents {
        let sums = [
            "handled",
            "handle_ms",
            "available_ms",
            "busy_ms",
            "wrap_up_ms",
            "away_ms",
            "csat_answers",
            "csat_good",
        ];
        for (sql, p) in grouped("report_agents", &["user_id"], &sums, range, by, &everyone) {
            let rows: Vec<((i64, i64), Agent)> = db.fetch_all(&sql, p).await?;
            for (k, v) in rows {
                r.agents.entry(k).or_default().add(&v);
            }
        }
    }
    if parts.complaints {
        let dims = [queue, "category_id", "severity"];
        let sums = ["received", "closed", "handle_ms"];
        for (sql, p) in grouped("report_complaints", &dims, &sums, range, by, &queues) {
            let rows: Vec<((i64, i64, i64, i64), ComplaintFigures)> = db.fetch_all(&sql, p).await?;
            for (k, v) in rows {
                r.complaints.entry(k).or_default().add(&v);
            }
        }
    }
    if parts.csat {
        let sums = ["answers", "good", "score_sum"];
        for (sql, p) in grouped("report_csat", &[queue], &sums, range, by, &queues) {
            let rows: Vec<((i64, i64), Csat)> = db.fetch_all(&sql, p).await?;
            for (k, v) in rows {
                r.csat.entry(k).or_default().add(&v);
            }
        }
    }
    if parts.kb {
        let dims = [queue, "article_id"];
        for (sql, p) in grouped("report_kb", &dims, &["inserted"], range, by, &queues) {
            let rows: Vec<KbRollupRow> = db.fetch_all(&sql, p).await?;
            for k in rows {
                *r.kb.entry((k.0, k.1, k.2)).or_default() += k.3;
            }
        }
    }
    Ok(r)
}

struct ContactRow {
    bucket_ms: i64,
    queue_id: i64,
    channel: String,
    kind: String,
    contacts: i64,
}

impl FromRow for ContactRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(ContactRow {
            bucket_ms: r.try_get("bucket_ms")?,
            queue_id: r.try_get("queue_id")?,
            channel: r.try_get("channel")?,
            kind: r.try_get("kind")?,
            contacts: r.try_get("contacts")?,
        })
    }
}

struct KbRollupRow(i64, i64, i64, i64);

impl FromRow for KbRollupRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(KbRollupRow(
            r.try_get("bucket_ms")?,
            r.try_get("queue_id")?,
            r.try_get("article_id")?,
            r.try_get("inserted")?,
        ))
    }
}

impl FromRow for ((i64, i64), Service) {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok((
            (r.try_get("bucket_ms")?, r.try_get("queue_id")?),
            Service {
                answered: r.try_get("answered")?,
                answered_within: r.try_get("answered_within")?,
                wait_ms: r.try_get("wait_ms")?,
                abandoned: r.try_get("abandoned")?,
                abandoned_after: r.try_get("abandoned_after")?,
                handled: r.try_get("handled")?,
                handle_ms: r.try_get("handle_ms")?,
            },
        ))
    }
}

impl FromRow for ((i64, i64), Agent) {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok((
            (r.try_get("bucket_ms")?, r.try_get("user_id")?),
            Agent {
                handled: r.try_get("handled")?,
                handle_ms: r.try_get("handle_ms")?,
                available_ms: r.try_get("available_ms")?,
                busy_ms: r.try_get("busy_ms")?,
                wrap_up_ms: r.try_get("wrap_up_ms")?,
                away_ms: r.try_get("away_ms")?,
                csat_answers: r.try_get("csat_answers")?,
                csat_good: r.try_get("csat_good")?,
            },
        ))
    }
}

impl FromRow for ((i64, i64, i64, i64), ComplaintFigures) {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok((
            (
                r.try_get("bucket_ms")?,
                r.try_get("queue_id")?,
                r.try_get("category_id")?,
                r.try_get("severity")?,
            ),
            ComplaintFigures {
                received: r.try_get("received")?,
                closed: r.try_get("closed")?,
                handle_ms: r.try_get("handle_ms")?,
            },
        ))
    }
}

impl FromRow for ((i64, i64), Csat) {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok((
            (r.try_get("bucket_ms")?, r.try_get("queue_id")?),
            Csat {
                answers: r.try_get("answers")?,
                good: r.try_get("good")?,
                score_sum: r.try_get("score_sum")?,
            },
        ))
    }
}

/// Names for the reports' tables: queues, users, complaint categories (id → name; categories
/// with their zh/en names and code).
#[derive(Clone, Debug, Default)]
pub struct Names {
    pub queues: BTreeMap<i64, String>,
    pub users: BTreeMap<i64, String>,
    pub categories: BTreeMap<i64, (String, String, String)>,
}

struct NameRow(i64, String);

impl FromRow for NameRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(NameRow(r.try_get("id")?, r.try_get("name")?))
    }
}

struct CategoryRow(i64, String, String, String);

impl FromRow for CategoryRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(CategoryRow(
            r.try_get("id")?,
            r.try_get("code")?,
            r.try_get("name_en")?,
            r.try_get("name_zh")?,
        ))
    }
}

pub async fn names(db: &Db) -> AppResult<Names> {
    let queues: Vec<NameRow> = db.fetch_all("SELECT id, name FROM queues", vec![]).await?;
    let users: Vec<NameRow> = db
        .fetch_all("SELECT id, display_name AS name FROM users", vec![])
        .await?;
    let cats: Vec<CategoryRow> = db
        .fetch_all(
            "SELECT id, code, name_en, name_zh FROM complaint_categories",
            vec![],
        )
        .await?;
    Ok(Names {
        queues: queues.into_iter().map(|n| (n.0, n.1)).collect(),
        users: users.into_iter().map(|n| (n.0, n.1)).collect(),
        categories: cats.into_iter().map(|c| (c.0, (c.1, c.2, c.3))).collect(),
    })
}

/// The members of `queues` (the agents a supervisor's report shows).
pub async fn members(db: &Db, queues: &[i64]) -> AppResult<BTreeSet<i64>> {
    if queues.is_empty() {
        return Ok(BTreeSet::new());
    }
    let rows: Vec<i64> = db
        .fetch_all(
            &format!(
                "SELECT DISTINCT user_id AS id FROM queue_members WHERE queue_id IN ({})",
                placeholders(1, queues.len())
            ),
            ids(queues),
        )
        .await?;
    Ok(rows.into_iter().collect())
}
