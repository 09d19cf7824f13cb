//! The reports, assembled from the rollups: periods of the asked interval in the center's time
//! zone, figures as README "Reports" defines them, and each report's CSV table.

use super::store::{By, ContactKeys, Names, Parts, Scope};
use super::{Interval, Range, Rollups, Service, local, period};
use crate::db::Db;
use crate::error::AppResult;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What every report says about itself.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Head {
    pub from_ms: i64,
    /// Exclusive: the start of the day after `to`.
    pub to_ms: i64,
    pub time_zone: String,
    pub interval: Interval,
}

/// Periods of rollup intervals, cached (a 30-day report has 2,880 intervals).
struct Periods<'a> {
    tz: &'a jiff::tz::TimeZone,
    interval: Interval,
    cache: HashMap<i64, i64>,
}

impl Periods<'_> {
    fn of(&mut self, b: i64) -> i64 {
        let (tz, interval) = (self.tz, self.interval);
        *self
            .cache
            .entry(b)
            .or_insert_with(|| period(tz, interval, b))
    }
}

fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn secs(ms: i64, n: i64) -> Option<f64> {
    (n > 0).then(|| ms as f64 / n as f64 / 1000.0)
}

/// The reader and what they asked.
pub struct Ask<'a> {
    pub db: &'a Db,
    pub tz: &'a jiff::tz::TimeZone,
    pub range: Range,
    pub interval: Interval,
    pub scope: Scope,
}

impl Ask<'_> {
    fn head(&self) -> Head {
        Head {
            from_ms: self.range.from_ms,
            to_ms: self.range.to_ms,
            time_zone: self.tz.iana_name().unwrap_or("UTC").to_string(),
            interval: self.interval,
        }
    }

    fn periods(&self) -> Periods<'_> {
        Periods {
            tz: self.tz,
            interval: self.interval,
            cache: HashMap::new(),
        }
    }

    /// The rollups of `parts` added up per period of the interval asked.
    async fn load(&self, parts: Parts) -> AppResult<Rollups> {
        let pieces = super::pieces(self.tz, self.interval, self.range);
        let by = match self.interval {
            Interval::Quarter => By::Interval,
            _ => By::Period(&pieces),
        };
        super::store::load(self.db, Some(self.range), &self.scope, parts, by).await
    }

    /// The rollups of `parts` added up over the whole range.
    async fn load_whole(&self, parts: Parts) -> AppResult<Rollups> {
        super::store::load(self.db, Some(self.range), &self.scope, parts, By::Range).await
    }
}

// ---- volume ----

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct VolumePeriod {
    pub period_ms: i64,
    /// The period's start, local time (`2026-12-03T09:00`).
    pub period: String,
    pub contacts: i64,
    pub by_channel: BTreeMap<String, i64>,
}

/// Contacts (work entering a queue) per period and channel: the chart and the console's table.
/// The detail per queue and kind is the CSV export (`volume_table`): a month of a large center
/// by 15 minutes is 240k rows of it, more than a report on screen can read in 300 ms.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct VolumeReport {
    #[serde(flatten)]
    pub head: Head,
    pub contacts: i64,
    pub channels: Vec<String>,
    pub periods: Vec<VolumePeriod>,
}

pub async fn volume(ask: &Ask<'_>) -> AppResult<VolumeReport> {
    let r = ask
        .load(Parts {
            contacts: Some(ContactKeys::Channel),
            across_queues: true,
            ..Parts::default()
        })
        .await?;
    let mut p = ask.periods();
    let mut periods: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    let mut channels = BTreeSet::new();
    for ((b, _, channel, _), n) in &r.contacts {
        *periods
            .entry(p.of(*b))
            .or_default()
            .entry(channel.clone())
            .or_default() += n;
        channels.insert(channel.clone());
    }
    Ok(VolumeReport {
        head: ask.head(),
        contacts: r.contacts.values().sum(),
        channels: channels.into_iter().collect(),
        periods: periods
            .into_iter()
            .map(|(at, by_channel)| VolumePeriod {
                period_ms: at,
                period: local(ask.tz, at),
                contacts: by_channel.values().sum(),
                by_channel,
            })
            .collect(),
    })
}

/// The volume report's CSV: contacts per period, queue, channel and kind.
pub async fn volume_table(ask: &Ask<'_>, names: &Names) -> AppResult<Table> {
    let r = ask
        .load(Parts {
            contacts: Some(ContactKeys::All),
            ..Parts::default()
        })
        .await?;
    let mut p = ask.periods();
    let mut rows: BTreeMap<(i64, i64, String, String), i64> = BTreeMap::new();
    for ((b, q, channel, kind), n) in &r.contacts {
        *rows
            .entry((p.of(*b), *q, channel.clone(), kind.clone()))
            .or_default() += n;
    }
    let mut label = (i64::MIN, String::new());
    Ok(Table {
        name: "volume",
        header: vec!["period", "queue", "channel", "kind", "contacts"],
        rows: rows
            .into_iter()
            .map(|((at, q, channel, kind), contacts)| {
                // Rows come period by period: each period's local time is written once (a
                // month by 15 minutes has 2,880 periods and up to 100 times as many rows).
                if label.0 != at {
                    label = (at, local(ask.tz, at));
                }
                vec![
                    label.1.clone(),
                    names.queues.get(&q).cloned().unwrap_or_default(),
                    channel,
                    kind,
                    contacts.to_string(),
                ]
            })
            .collect(),
    })
}

// ---- service ----

#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct ServiceRow {
    /// Null in the per-queue totals.
    pub period_ms: Option<i64>,
    pub period: String,
    /// Null in the per-period rows (all queues the report covers).
    pub queue_id: Option<i64>,
    pub queue: String,
    pub contacts: i64,
    pub answered: i64,
    pub answered_within: i64,
    pub abandoned: i64,
    pub abandoned_after: i64,
    pub handled: i64,
    /// answered within the threshold ÷ (answered + abandoned after it); null when neither.
    pub service_level: Option<f64>,
    pub asa_secs: Option<f64>,
    pub aht_secs: Option<f64>,
}

impl ServiceRow {
    fn of(s: &Service, contacts: i64) -> ServiceRow {
        ServiceRow {
            contacts,
            answered: s.answered,
            answered_within: s.answered_within,
            abandoned: s.abandoned,
            abandoned_after: s.abandoned_after,
            handled: s.handled,
            service_level: ratio(s.answered_within, s.answered + s.abandoned_after),
            asa_secs: secs(s.wait_ms, s.answered),
            aht_secs: secs(s.handle_ms, s.handled),
            ..ServiceRow::default()
        }
    }
}

/// Service level, ASA, AHT and abandons: per period over the covered queues, and per queue.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ServiceReport {
    #[serde(flatten)]
    pub head: Head,
    pub total: ServiceRow,
    pub periods: Vec<ServiceRow>,
    pub queues: Vec<ServiceRow>,
}

pub async fn service(ask: &Ask<'_>, names: &Names) -> AppResult<ServiceReport> {
    let parts = Parts {
        contacts: Some(ContactKeys::Queue),
        service: true,
        ..Parts::default()
    };
    // Per period over every covered queue, and per queue over the whole range: two reads of
    // a few thousand rows instead of one per interval and queue (57k for a month of 20 queues).
    let over_time = ask
        .load(Parts {
            across_queues: true,
            ..parts
        })
        .await?;
    let whole = ask.load_whole(parts).await?;
    let mut p = ask.periods();
    let mut by_period: BTreeMap<i64, (Service, i64)> = BTreeMap::new();
    let mut by_queue: BTreeMap<i64, (Service, i64)> = BTreeMap::new();
    let mut total = (Service::default(), 0);
    for ((b, _), s) in &over_time.service {
        by_period.entry(p.of(*b)).or_default().0.add(s);
    }
    for ((b, _, _, _), n) in &over_time.contacts {
        by_period.entry(p.of(*b)).or_default().1 += n;
    }
    for ((_, q), s) in &whole.service {
        by_queue.entry(*q).or_default().0.add(s);
        total.0.add(s);
    }
    for ((_, q, _, _), n) in &whole.contacts {
        by_queue.entry(*q).or_default().1 += n;
        total.1 += n;
    }
    Ok(ServiceReport {
        head: ask.head(),
        total: ServiceRow::of(&total.0, total.1),
        periods: by_period
            .into_iter()
            .map(|(at, (s, n))| ServiceRow {
                period_ms: Some(at),
                period: local(ask.tz, at),
                ..ServiceRow::of(&s, n)
            })
            .collect(),
        queues: by_queue
            .into_iter()
            .map(|(q, (s, n))| ServiceRow {
                queue_id: (q != 0).then_some(q),
                queue: names.queues.get(&q).cloned().unwrap_or_default(),
                ..ServiceRow::of(&s, n)
            })
            .collect(),
    })
}

// ---- agents ----

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct AgentRow {
    pub user_id: i64,
    pub name: String,
    pub handled: i64,
    pub aht_secs: Option<f64>,
    /// (busy + wrap-up) ÷ (available + busy + wrap-up) time; null without any.
    pub occupancy: Option<f64>,
    pub available_secs: i64,
    pub busy_secs: i64,
    pub wrap_up_secs: i64,
    pub away_secs: i64,
    pub csat_answers: i64,
    /// Share of survey answers scoring 4–5.
    pub csat: Option<f64>,
}

/// Agent performance over the range.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct AgentsReport {
    #[serde(flatten)]
    pub head: Head,
    pub agents: Vec<AgentRow>,
}

/// `members`: the agents the reader sees (`None`: all).
pub async fn agents(
    ask: &Ask<'_>,
    names: &Names,
    members: Option<&BTreeSet<i64>>,
) -> AppResult<AgentsReport> {
    let r = ask
        .load_whole(Parts {
            agents: true,
            ..Parts::default()
        })
        .await?;
    let mut by_user: BTreeMap<i64, super::Agent> = BTreeMap::new();
    for ((_, u), a) in &r.agents {
        if members.is_none_or(|m| m.contains(u)) {
            by_user.entry(*u).or_default().add(a);
        }
    }
    Ok(AgentsReport {
        head: ask.head(),
        agents: by_user
            .into_iter()
            .map(|(u, a)| AgentRow {
                user_id: u,
                name: names.users.get(&u).cloned().unwrap_or_default(),
                handled: a.handled,
                aht_secs: secs(a.handle_ms, a.handled),
                occupancy: ratio(
                    a.busy_ms + a.wrap_up_ms,
                    a.available_ms + a.busy_ms + a.wrap_up_ms,
                ),
                available_secs: a.available_ms / 1000,
                busy_secs: a.busy_ms / 1000,
                wrap_up_secs: a.wrap_up_ms / 1000,
                away_secs: a.away_ms / 1000,
                csat_answers: a.csat_answers,
                csat: ratio(a.csat_good, a.csat_answers),
            })
            .collect(),
    })
}

// ---- complaints ----

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ComplaintPeriod {
    pub period_ms: i64,
    pub period: String,
    pub received: i64,
    pub closed: i64,
    /// Mean created → closed time of the complaints closed in the period.
    pub avg_handle_secs: Option<f64>,
    /// Received by category code.
    pub by_category: BTreeMap<String, i64>,
    /// Received by severity (1 critical … 4 low).
    pub by_severity: BTreeMap<String, i64>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ComplaintRowOut {
    pub category_id: i64,
    pub category: String,
    pub name_en: String,
    pub name_zh: String,
    pub severity: i64,
    pub received: i64,
    /// Share of the range's complaints (0..1).
    pub frequency: Option<f64>,
    pub closed: i64,
    pub avg_handle_secs: Option<f64>,
}

/// Complaints by category and severity over time, with frequency and handling time.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ComplaintsReport {
    #[serde(flatten)]
    pub head: Head,
    pub received: i64,
    pub closed: i64,
    pub avg_handle_secs: Option<f64>,
    pub categories: Vec<String>,
    pub periods: Vec<ComplaintPeriod>,
    pub rows: Vec<ComplaintRowOut>,
}

pub async fn complaints(ask: &Ask<'_>, names: &Names) -> AppResult<ComplaintsReport> {
    let r = ask
        .load(Parts {
            complaints: true,
            ..Parts::default()
        })
        .await?;
    let mut p = ask.periods();
    let code = |c: i64| {
        names
            .categories
            .get(&c)
            .map_or_else(|| c.to_string(), |n| n.0.clone())
    };
    let mut periods: BTreeMap<i64, super::ComplaintFigures> = BTreeMap::new();
    let mut by_cat: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    let mut by_sev: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    let mut rows: BTreeMap<(i64, i64), super::ComplaintFigures> = BTreeMap::new();
    let mut total = super::ComplaintFigures::default();
    let mut categories = BTreeSet::new();
    for ((b, _, cat, sev), f) in &r.complaints {
        let at = p.of(*b);
        let e = periods.entry(at).or_default();
        e.received += f.received;
        e.closed += f.closed;
        e.handle_ms += f.handle_ms;
        if f.received > 0 {
            *by_cat.entry(at).or_default().entry(code(*cat)).or_default() += f.received;
            *by_sev
                .entry(at)
                .or_default()
                .entry(sev.to_string())
                .or_default() += f.received;
            categories.insert(code(*cat));
        }
        let e = rows.entry((*cat, *sev)).or_default();
        e.received += f.received;
        e.closed += f.closed;
        e.handle_ms += f.handle_ms;
        total.received += f.received;
        total.closed += f.closed;
        total.handle_ms += f.handle_ms;
    }
    Ok(ComplaintsReport {
        head: ask.head(),
        received: total.received,
        closed: total.closed,
        avg_handle_secs: secs(total.handle_ms, total.closed),
        categories: categories.into_iter().collect(),
        periods: periods
            .into_iter()
            .map(|(at, f)| ComplaintPeriod {
                period_ms: at,
                period: local(ask.tz, at),
                received: f.received,
                closed: f.closed,
                avg_handle_secs: secs(f.handle_ms, f.closed),
                by_category: by_cat.remove(&at).unwrap_or_default(),
                by_severity: by_sev.remove(&at).unwrap_or_default(),
            })
            .collect(),
        rows: rows
            .into_iter()
            .map(|((cat, sev), f)| {
                let n = names.categories.get(&cat).cloned().unwrap_or_default();
                ComplaintRowOut {
                    category_id: cat,
                    category: code(cat),
                    name_en: n.1,
                    name_zh: n.2,
                    severity: sev,
                    received: f.received,
                    frequency: ratio(f.received, total.received),
                    closed: f.closed,
                    avg_handle_secs: secs(f.handle_ms, f.closed),
                }
            })
            .collect(),
    })
}

// ---- CSAT trend ----

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct CsatPeriod {
    pub period_ms: i64,
    pub period: String,
    pub answers: i64,
    pub good: i64,
    /// Share of answers scoring 4–5.
    pub csat: Option<f64>,
    pub avg_score: Option<f64>,
}

/// Satisfaction answers over time.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct CsatTrend {
    #[serde(flatten)]
    pub head: Head,
    pub answers: i64,
    pub csat: Option<f64>,
    pub periods: Vec<CsatPeriod>,
}

pub async fn csat(ask: &Ask<'_>) -> AppResult<CsatTrend> {
    let r = ask
        .load(Parts {
            csat: true,
            ..Parts::default()
        })
        .await?;
    let mut p = ask.periods();
    let mut periods: BTreeMap<i64, super::Csat> = BTreeMap::new();
    let mut total = super::Csat::default();
    for ((b, _), c) in &r.csat {
        let e = periods.entry(p.of(*b)).or_default();
        e.answers += c.answers;
        e.good += c.good;
        e.score_sum += c.score_sum;
        total.answers += c.answers;
        total.good += c.good;
    }
    Ok(CsatTrend {
        head: ask.head(),
        answers: total.answers,
        csat: ratio(total.good, total.answers),
        periods: periods
            .into_iter()
            .map(|(at, c)| CsatPeriod {
                period_ms: at,
                period: local(ask.tz, at),
                answers: c.answers,
                good: c.good,
                csat: ratio(c.good, c.answers),
                avg_score: ratio(c.score_sum, c.answers),
            })
            .collect(),
    })
}

// ---- CSV ----

fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_default()
}

/// A report's table: a header and rows of cells (text cells defused by the CSV writer).
pub struct Table {
    pub name: &'static str,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl ServiceReport {
    pub fn table(&self) -> Table {
        Table {
            name: "service",
            header: vec![
                "period",
                "contacts",
                "answered",
                "answered_within",
                "abandoned",
                "abandoned_after",
                "handled",
                "service_level",
                "asa_secs",
                "aht_secs",
            ],
            rows: self
                .periods
                .iter()
                .map(|r| {
                    vec![
                        r.period.clone(),
                        r.contacts.to_string(),
                        r.answered.to_string(),
                        r.answered_within.to_string(),
                        r.abandoned.to_string(),
                        r.abandoned_after.to_string(),
                        r.handled.to_string(),
                        num(r.service_level),
                        num(r.asa_secs),
                        num(r.aht_secs),
                    ]
                })
                .collect(),
        }
    }
}

impl AgentsReport {
    pub fn table(&self) -> Table {
        Table {
            name: "agents",
            header: vec![
                "agent",
                "handled",
                "aht_secs",
                "occupancy",
                "available_secs",
                "busy_secs",
                "wrap_up_secs",
                "away_secs",
                "csat_answers",
                "csat",
            ],
            rows: self
                .agents
                .iter()
                .map(|a| {
                    vec![
                        a.name.clone(),
                        a.handled.to_string(),
                        num(a.aht_secs),
                        num(a.occupancy),
                        a.available_secs.to_string(),
                        a.busy_secs.to_string(),
                        a.wrap_up_secs.to_string(),
                        a.away_secs.to_string(),
                        a.csat_answers.to_string(),
                        num(a.csat),
                    ]
                })
                .collect(),
        }
    }
}

impl ComplaintsReport {
    pub fn table(&self) -> Table {
        Table {
            name: "complaints",
            header: vec![
                "category",
                "name_en",
                "name_zh",
                "severity",
                "received",
                "frequency",
                "closed",
                "avg_handle_secs",
            ],
            rows: self
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.category.clone(),
                        r.name_en.clone(),
                        r.name_zh.clone(),
                        r.severity.to_string(),
                        r.received.to_string(),
                        num(r.frequency),
                        r.closed.to_string(),
                        num(r.avg_handle_secs),
                    ]
                })
                .collect(),
        }
    }
}

impl CsatTrend {
    pub fn table(&self) -> Table {
        Table {
            name: "csat-trend",
            header: vec!["period", "answers", "good", "csat", "avg_score"],
            rows: self
                .periods
                .iter()
                .map(|r| {
                    vec![
                        r.period.clone(),
                        r.answers.to_string(),
                        r.good.to_string(),
                        num(r.csat),
                        num(r.avg_score),
                    ]
                })
                .collect(),
        }
    }
}

/// The table as CSV: a UTF-8 byte order mark (spreadsheets then read Chinese), cells that a
/// spreadsheet would take for a formula defused (`auth::csv_cell`).
pub fn csv(t: &Table) -> AppResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(&t.header)
        .map_err(crate::error::AppError::internal)?;
    for row in &t.rows {
        w.write_record(row.iter().map(|c| crate::auth::csv_cell(c).into_owned()))
            .map_err(crate::error::AppError::internal)?;
    }
    w.into_inner().map_err(crate::error::AppError::internal)
}
