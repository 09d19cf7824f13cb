//! A day in the center, checked: while the simulator's traffic runs, demo agents work as
//! consoles on /ws (available, accept their offers, reply and resolve), a supervisor watches
//! /ws, and the center's invariants are checked continuously through the real interfaces:
//!
//! - `contact-in-queue`: every inbound contact (call, email, SMS, portal) is, 2 s after it
//!   arrived, in a queue that has a member (its ticket's `queue_id`);
//! - `offer-when-available`: waiting work is offered within a few routing ticks while a member
//!   of its queue with a live console is available and has room for it;
//! - `offer-without-console`: no offer goes to an agent whose console is closed, and
//!   `console-closed-offline`: that agent is offline once the presence grace is over;
//! - `wallboard-presence`: the wallboard's agents (`queue_stats`, GET /api/wallboard) are the
//!   queues' members in the states GET /api/presence tells;
//! - `wallboard-counts`: offered, answered and abandoned today equal the counts from the work
//!   items (the database when given, else GET /api/work) for the wallboard's day;
//! - `no-5xx` and `error-log`: no request answered 5xx, no ERROR log line (GET /metrics, with
//!   the metrics token when the server sets one; `metrics` when it cannot be read);
//! - `agent-frame-scope` and `screen-pop-scope`: every frame an agent receives is theirs or
//!   their queues', and screen pops only their own.
//!
//! Used by `hotline simulate --check` and by the day-in-the-center test.

use super::{Agent, Demo, SimulateArgs};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    crate::db::now_ms()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One broken invariant.
#[derive(Clone, Debug)]
pub struct Violation {
    pub at_ms: i64,
    pub invariant: &'static str,
    pub detail: String,
}

/// Where violations and notes are collected (each once, by key).
#[derive(Default)]
pub struct Sink {
    inner: Mutex<SinkInner>,
    /// Print each violation as it happens (`--check`).
    pub print: AtomicBool,
}

#[derive(Default)]
struct SinkInner {
    violations: Vec<Violation>,
    keys: HashSet<String>,
    notes: Vec<String>,
}

impl Sink {
    pub fn violate(
        &self,
        invariant: &'static str,
        key: impl std::fmt::Display,
        detail: impl Into<String>,
    ) {
        let detail = detail.into();
        let mut i = lock(&self.inner);
        if i.keys.insert(format!("{invariant}:{key}")) {
            if self.print.load(Ordering::Relaxed) {
                println!("  VIOLATION [{invariant}] {detail}");
            }
            i.violations.push(Violation {
                at_ms: now_ms(),
                invariant,
                detail,
            });
        }
    }

    pub fn note(&self, text: impl Into<String>) {
        let text = text.into();
        let mut i = lock(&self.inner);
        if !i.notes.contains(&text) {
            i.notes.push(text);
        }
    }

    /// Records a 5xx answer to any request the simulator or the checker made.
    pub fn status(&self, status: StatusCode, path: &str, body: &str) {
        if status.is_server_error() {
            let body: String = body.chars().take(300).collect();
            self.violate(
                "no-5xx",
                format!("{path}:{}", now_ms()),
                format!("{path} answered {status}: {body}"),
            );
        }
    }
}

/// What the day plays and how strictly it is checked.
#[derive(Clone)]
pub struct DayOptions {
    /// The index (among the played agents) of one who closes their console half-way.
    pub console_closes: Option<usize>,
    /// The server's presence grace (`presence_grace_secs`).
    pub presence_grace: Duration,
    /// Waiting work must be offered this soon while an eligible agent is available.
    pub offer_within: Duration,
    /// An inbound contact must be in a queue with a member this soon after it arrived.
    pub contact_within: Duration,
    /// Count the wallboard's figures from this database instead of GET /api/work.
    pub db: Option<crate::db::Db>,
    /// After the traffic stops: time for the calls in progress to end before the last checks.
    pub settle: Duration,
}

impl Default for DayOptions {
    fn default() -> Self {
        DayOptions {
            console_closes: None,
            presence_grace: Duration::from_secs(60),
            offer_within: Duration::from_secs(3),
            contact_within: Duration::from_secs(2),
            db: None,
            settle: Duration::from_secs(12),
        }
    }
}

/// What a checked day found.
#[derive(Debug, Default)]
pub struct Report {
    pub violations: Vec<Violation>,
    pub notes: Vec<String>,
    /// Counters of what was seen: `contacts_<channel>`, `offers`, `accepted`, `resolved`, …
    pub stats: BTreeMap<String, i64>,
}

impl Report {
    pub fn stat(&self, key: &str) -> i64 {
        self.stats.get(key).copied().unwrap_or(0)
    }

    /// Every violation, one per line.
    pub fn violations_text(&self) -> String {
        self.violations
            .iter()
            .map(|v| format!("[{}] {}", v.invariant, v.detail))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn print(&self) {
        println!("Checked: {} violation(s).", self.violations.len());
        for v in &self.violations {
            println!("  [{}] {}", v.invariant, v.detail);
        }
        for n in &self.notes {
            println!("  note: {n}");
        }
        let seen: Vec<String> = self.stats.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("  seen: {}", seen.join(" "));
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Console {
    live: bool,
    live_since: i64,
    /// Closed for good (the agent left) at this time.
    closed_at: Option<i64>,
}

struct Check {
    d: Arc<Demo>,
    opts: DayOptions,
    /// The supervisor's token (the checker's REST reads use the admin's).
    supervisor: String,
    consoles: Mutex<HashMap<i64, Console>>,
    /// queue id → member ids.
    members: Mutex<HashMap<i64, HashSet<i64>>>,
    stats: Mutex<BTreeMap<String, i64>>,
    last_presence_check: Mutex<i64>,
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(base: &str, token: &str) -> anyhow::Result<Stream> {
    let url = format!("{}/ws", base.replacen("http", "ws", 1));
    let mut req = url.into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    match tokio::time::timeout(Duration::from_secs(5), next_frame(&mut ws)).await {
        Ok(Some(hello)) if hello["type"] == "hello" => Ok(ws),
        other => Err(anyhow::anyhow!("no hello: {other:?}")),
    }
}

/// The next JSON frame; None when the socket closed.
async fn next_frame(ws: &mut Stream) -> Option<Value> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => {
                if let Ok(v) = serde_json::from_str(&t) {
                    return Some(v);
                }
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Sleeps `d`, or returns true early when the day ended.
async fn pause(end: &mut watch::Receiver<bool>, d: Duration) -> bool {
    if *end.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *end.borrow(),
        _ = end.changed() => true,
    }
}

impl Check {
    fn sink(&self) -> &Sink {
        &self.d.sink
    }

    fn bump(&self, key: &str) {
        *lock(&self.stats).entry(key.to_string()).or_default() += 1;
    }

    fn login_of(&self, id: i64) -> String {
        self.d
            .logins
            .iter()
            .find(|a| a.0 == id)
            .map(|a| a.1.clone())
            .unwrap_or_else(|| format!("user {id}"))
    }

    async fn get(&self, path: &str) -> Option<Value> {
        match self.d.call(Method::GET, path, &self.d.admin, None).await {
            Ok((s, v)) if s.is_success() => Some(v),
            Ok((s, v)) => {
                self.sink().note(format!("GET {path}: {s} {v}"));
                None
            }
            Err(e) => {
                self.sink().note(format!("GET {path}: {e:#}"));
                None
            }
        }
    }

    async fn refresh_members(&self) {
        let Some(queues) = self.get("/api/queues").await else {
            return;
        };
        let mut m = HashMap::new();
        for q in queues.as_array().into_iter().flatten() {
            let ids = q["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_i64().or_else(|| u["id"].as_i64()))
                .collect();
            if let Some(id) = q["id"].as_i64() {
                m.insert(id, ids);
            }
        }
        *lock(&self.members) = m;
    }

    fn queues_of(&self, user: i64) -> HashSet<i64> {
        lock(&self.members)
            .iter()
            .filter(|(_, m)| m.contains(&user))
            .map(|(q, _)| *q)
            .collect()
    }

    fn set_console(&self, user: i64, live: bool, for_good: bool) {
        let mut c = lock(&self.consoles);
        let e = c.entry(user).or_default();
        if live && !e.live {
            e.live_since = now_ms();
        }
        e.live = live;
        if for_good {
            e.closed_at = Some(now_ms());
        }
    }

    fn console(&self, user: i64) -> Option<Console> {
        lock(&self.consoles).get(&user).copied()
    }

    // ---- agents ------------------------------------------------------------------------------

    /// Handles one frame on an agent's console; false when the console must reconnect.
    fn agent_frame(self: &Arc<Self>, me: &Agent, mine: &HashSet<i64>, f: Value) -> bool {
        match f["type"].as_str() {
            Some("event") => {}
            Some("resync") | Some("shutdown") => return false,
            _ => return true,
        }
        self.bump("agent_frames");
        let kind = f["kind"].as_str().unwrap_or("");
        let seq = f["seq"].as_i64().unwrap_or(0);
        let uid = f["user_id"].as_i64();
        let qid = f["queue_id"].as_i64();
        let everyone = uid.is_none()
            && qid.is_none()
            && (kind.starts_with("customer.") || kind == "kb.changed");
        if !(uid == Some(me.id) || qid.is_some_and(|q| mine.contains(&q)) || everyone) {
            self.sink().violate(
                "agent-frame-scope",
                format!("{}:{seq}", me.id),
                format!(
                    "{} received {kind} #{seq} (user_id {uid:?}, queue_id {qid:?}), outside \
                     their scope (queues {mine:?})",
                    me.login
                ),
            );
        }
        if kind == "screen_pop" && uid != Some(me.id) {
            self.sink().violate(
                "screen-pop-scope",
                format!("{}:{seq}", me.id),
                format!(
                    "{} received the screen pop #{seq} of {}",
                    me.login,
                    uid.map_or("nobody".into(), |u| self.login_of(u))
                ),
            );
        }
        if uid == Some(me.id) && kind == "offer.created" {
            tokio::spawn(take_offer(self.clone(), me.clone(), f["payload"].clone()));
        }
        if uid == Some(me.id)
            && kind == "presence.changed"
            && f["payload"]["state"] == "offline"
            && self.console(me.id).is_some_and(|c| c.live)
        {
            if f["payload"]["reason"] == "disconnected" {
                self.sink().violate(
                    "console-closed-offline",
                    format!("live:{}", me.id),
                    format!(
                        "{} was set offline (disconnected) while their console was open",
                        me.login
                    ),
                );
            }
            let (ck, me) = (self.clone(), me.clone());
            tokio::spawn(async move {
                let _ =
                    ck.d.call(
                        Method::POST,
                        "/api/presence",
                        &me.token,
                        Some(json!({"state": "available"})),
                    )
                    .await;
            });
        }
        true
    }

    // ---- the supervisor's view -------------------------------------------------------------

    fn supervisor_frame(self: &Arc<Self>, f: Value) {
        match f["type"].as_str() {
            Some("queue_stats") => {
                let now = now_ms();
                {
                    let mut last = lock(&self.last_presence_check);
                    if now - *last < 2000 {
                        return;
                    }
                    *last = now;
                }
                let ck = self.clone();
                tokio::spawn(async move { ck.wallboard_presence(Some(f)).await });
            }
            Some("event") => {
                let kind = f["kind"].as_str().unwrap_or("");
                let at = f["at_ms"].as_i64().unwrap_or_else(now_ms);
                if kind == "ticket.created" {
                    let t = &f["payload"]["ticket"];
                    let channel = t["channel"].as_str().unwrap_or("").to_string();
                    if let Some(id) = t["id"].as_i64()
                        && channel != "note"
                    {
                        self.bump(&format!("contacts_{channel}"));
                        tokio::spawn(contact_check(self.clone(), id, channel, at));
                    }
                }
                if kind == "offer.created" {
                    self.bump("offers");
                    let uid = f["user_id"].as_i64().unwrap_or(0);
                    if let Some(c) = self.console(uid)
                        && let Some(closed) = c.closed_at
                        && at > closed + 1000
                    {
                        self.sink().violate(
                            "offer-without-console",
                            f["payload"]["offer_id"].clone(),
                            format!(
                                "offer {} (ticket #{}) went to {} {:.1} s after their console \
                                 closed",
                                f["payload"]["offer_id"],
                                f["payload"]["ticket_id"],
                                self.login_of(uid),
                                (at - closed) as f64 / 1000.0
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    /// The wallboard's agents against GET /api/presence; a difference is reported when a fresh
    /// GET /api/wallboard shows it too (a frame may be a second old).
    async fn wallboard_presence(&self, frame: Option<Value>) {
        let first = match frame {
            Some(f) => self.presence_mismatches(&f).await,
            None => match self.get("/api/wallboard").await {
                Some(wb) => self.presence_mismatches(&wb).await,
                None => return,
            },
        };
        self.bump("presence_checks");
        if first.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let Some(wb) = self.get("/api/wallboard").await else {
            return;
        };
        let second = self.presence_mismatches(&wb).await;
        for (key, detail) in second {
            if first.iter().any(|(k, _)| *k == key) {
                self.sink().violate("wallboard-presence", key, detail);
            }
        }
    }

    async fn presence_mismatches(&self, wb: &Value) -> Vec<(String, String)> {
        let at = wb["at_ms"].as_i64().unwrap_or_else(now_ms);
        let Some(rows) = self.get("/api/presence").await else {
            return Vec::new();
        };
        let truth: HashMap<i64, (String, i64)> = rows
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some((
                    r["user_id"].as_i64()?,
                    (
                        r["state"].as_str().unwrap_or("").to_string(),
                        r["since_ms"].as_i64().unwrap_or(0),
                    ),
                ))
            })
            .collect();
        let mut out = Vec::new();
        let mut shown = HashSet::new();
        for a in wb["agents"].as_array().into_iter().flatten() {
            let Some(uid) = a["user_id"].as_i64() else {
                continue;
            };
            shown.insert(uid);
            let state = a["state"].as_str().unwrap_or("");
            let (t, since) = truth
                .get(&uid)
                .cloned()
                .unwrap_or_else(|| ("offline".into(), 0));
            if state != t && since < at - 1000 {
                out.push((
                    format!("{uid}"),
                    format!(
                        "the wallboard shows {} {state}, GET /api/presence says {t}",
                        self.login_of(uid)
                    ),
                ));
            }
        }
        let members: HashSet<i64> = lock(&self.members).values().flatten().copied().collect();
        for uid in truth.keys().chain(members.iter()) {
            if !shown.contains(uid) {
                let state = truth.get(uid).map_or("offline", |t| t.0.as_str());
                out.push((
                    format!("missing:{uid}"),
                    format!(
                        "the wallboard's agents leave out {} ({state}, a queue member or in \
                         GET /api/presence)",
                        self.login_of(*uid)
                    ),
                ));
            }
        }
        out
    }

    // ---- routing ------------------------------------------------------------------------------

    /// Waiting items with an eligible agent (a member with a live console, available, not
    /// ringing, with room on the channel) must be offered within `offer_within`.
    async fn check_offers(&self, since: &mut HashMap<i64, i64>) {
        let (Some(waiting), Some(presence), Some(assigned)) = (
            self.get("/api/work?state=waiting&limit=500").await,
            self.get("/api/presence").await,
            self.get("/api/work?state=assigned&limit=500").await,
        ) else {
            return;
        };
        let now = now_ms();
        let mut load: HashMap<(i64, String), i64> = HashMap::new();
        for w in assigned.as_array().into_iter().flatten() {
            if let Some(u) = w["assigned_to"].as_i64() {
                let ch = w["channel"].as_str().unwrap_or("").to_string();
                *load.entry((u, ch)).or_default() += 1;
            }
        }
        let pres: HashMap<i64, &Value> = presence
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["user_id"].as_i64()?, p)))
            .collect();
        let live: Vec<i64> = lock(&self.consoles)
            .iter()
            .filter(|(_, c)| c.live && c.live_since < now - 1000)
            .map(|(u, _)| *u)
            .collect();
        let members = lock(&self.members).clone();
        let mut still = HashSet::new();
        for w in waiting.as_array().into_iter().flatten() {
            let (Some(id), Some(q)) = (w["id"].as_i64(), w["queue_id"].as_i64()) else {
                continue;
            };
            if w["skills"].as_array().is_some_and(|s| !s.is_empty()) {
                continue;
            }
            let ch = w["channel"].as_str().unwrap_or("");
            let eligible: Vec<String> = live
                .iter()
                .filter(|u| {
                    let Some(p) = pres.get(u) else { return false };
                    members.get(&q).is_some_and(|m| m.contains(u))
                        && p["state"] == "available"
                        && p["offer_id"].is_null()
                        && load.get(&(**u, ch.to_string())).copied().unwrap_or(0)
                            < p["capacity"][ch].as_i64().unwrap_or(1)
                })
                .map(|u| self.login_of(*u))
                .collect();
            if eligible.is_empty() {
                continue;
            }
            still.insert(id);
            let first = *since.entry(id).or_insert(now);
            if now - first > self.opts.offer_within.as_millis() as i64 {
                self.sink().violate(
                    "offer-when-available",
                    id,
                    format!(
                        "work item {id} (ticket #{}, {ch}, queue {q}) waited {:.1} s without an \
                         offer while {} had a live console and were available",
                        w["ticket_id"],
                        (now - first) as f64 / 1000.0,
                        eligible.join(", ")
                    ),
                );
            }
        }
        since.retain(|k, _| still.contains(k));
        self.bump("routing_checks");
    }

    // ---- wallboard counts ----------------------------------------------------------------

    /// Work items that entered, were answered or ended since `day`: (queue, state, enqueued,
    /// assigned, done).
    async fn work_times(&self, day: i64) -> Option<Vec<Times>> {
        if let Some(db) = &self.opts.db {
            use sqlx::Row;
            let rows = sqlx::query(
                "SELECT queue_id, state, enqueued_at, assigned_at, done_at FROM work_items \
                 WHERE enqueued_at >= $1 OR assigned_at >= $1 OR done_at >= $1",
            )
            .bind(day)
            .fetch_all(&db.pool)
            .await;
            let rows = match rows {
                Ok(r) => r,
                Err(e) => {
                    self.sink().note(format!("reading work_items: {e}"));
                    return None;
                }
            };
            return Some(
                rows.iter()
                    .map(|r| Times {
                        queue: r.try_get("queue_id").ok().flatten(),
                        state: r.try_get("state").unwrap_or_default(),
                        enqueued: r.try_get("enqueued_at").ok().flatten(),
                        assigned: r.try_get("assigned_at").ok().flatten(),
                        done: r.try_get("done_at").ok().flatten(),
                    })
                    .collect(),
            );
        }
        let mut out = Vec::new();
        for state in [
            "unqueued",
            "waiting",
            "offered",
            "assigned",
            "done",
            "abandoned",
        ] {
            let list = self
                .get(&format!("/api/work?state={state}&limit=500"))
                .await?;
            let list = list.as_array().cloned().unwrap_or_default();
            if list.len() >= 500 {
                self.sink().note(format!(
                    "more than 500 {state} work items: the wallboard counts were compared \
                     with the first 500 only"
                ));
            }
            out.extend(list.iter().map(|w| Times {
                queue: w["queue_id"].as_i64(),
                state: state.to_string(),
                enqueued: w["enqueued_at"].as_i64(),
                assigned: w["assigned_at"].as_i64(),
                done: w["done_at"].as_i64(),
            }));
        }
        Some(out)
    }

    /// The wallboard's offered / answered / abandoned (overall and per queue) against the work
    /// items' own times up to the snapshot's `at_ms` (a second's slack for commits in flight).
    /// A difference seen twice in a row is a violation.
    async fn check_counts(&self, strikes: &mut HashMap<String, u32>) {
        let Some(wb) = self.get("/api/wallboard").await else {
            return;
        };
        let at = wb["at_ms"].as_i64().unwrap_or_else(now_ms);
        let day = match wb["day_start_ms"].as_i64() {
            Some(d) => d,
            None => {
                self.sink().violate(
                    "wallboard-counts",
                    "day",
                    "the wallboard gives no day_start_ms / time_zone (contracts §7): its day is \
                     taken as starting at 00:00 UTC",
                );
                at - at.rem_euclid(DAY_MS)
            }
        };
        let Some(rows) = self.work_times(day).await else {
            return;
        };
        let source = if self.opts.db.is_some() {
            "the database"
        } else {
            "GET /api/work"
        };
        let (lo_q, lo) = tally(&rows, day, at - 1000);
        let (hi_q, hi) = tally(&rows, day, at + 50);
        let mut now_wrong = HashMap::new();
        let mut compare = |key: String, what: &str, figures: &Value, lo: [i64; 3], hi: [i64; 3]| {
            for (i, name) in ["offered", "answered", "abandoned"].iter().enumerate() {
                let v = figures[name].as_i64().unwrap_or(-1);
                if v < lo[i] || v > hi[i] {
                    let range = if lo[i] == hi[i] {
                        lo[i].to_string()
                    } else {
                        format!("{}..{}", lo[i], hi[i])
                    };
                    now_wrong.insert(
                        format!("{key}:{name}"),
                        format!(
                            "{what}: the wallboard says {name} = {v}, {source} has {range} for \
                             the day"
                        ),
                    );
                }
            }
        };
        compare("all".into(), "all queues", &wb["overall"], lo, hi);
        for q in wb["queues"].as_array().into_iter().flatten() {
            let Some(id) = q["queue_id"].as_i64() else {
                continue;
            };
            let name = q["name"].as_str().unwrap_or("");
            compare(
                format!("q{id}"),
                &format!("queue {name}"),
                q,
                lo_q.get(&id).copied().unwrap_or_default(),
                hi_q.get(&id).copied().unwrap_or_default(),
            );
        }
        strikes.retain(|k, _| now_wrong.contains_key(k));
        for (key, detail) in now_wrong {
            let n = strikes.entry(key.clone()).or_default();
            *n += 1;
            if *n >= 2 {
                self.sink().violate("wallboard-counts", key, detail);
            }
        }
        self.bump("count_checks");
    }

    // ---- the server's own counters ----------------------------------------------------------

    async fn metrics(&self) -> Option<String> {
        let mut req = self.d.http.get(self.d.url("/metrics"));
        if let Some(token) = &self.d.args.metrics_token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.ok()?;
        self.sink().status(res.status(), "/metrics", "");
        if !res.status().is_success() {
            // Blind otherwise: no 5xx answer or ERROR line would be seen.
            self.sink().violate(
                "metrics",
                "/metrics",
                format!(
                    "GET /metrics answered {}: 5xx answers and ERROR lines go unchecked \
                     (a server with HOTLINE_METRICS_TOKEN needs --metrics-token)",
                    res.status()
                ),
            );
            return None;
        }
        res.text().await.ok()
    }

    /// 5xx answers and ERROR log lines counted by the server since `base`.
    async fn check_metrics(&self, base: &HashMap<String, f64>, last: bool) {
        let Some(text) = self.metrics().await else {
            return;
        };
        let mut log_counter = false;
        for (series, v) in watched_series(&text) {
            if series.starts_with("hotline_log_events_total") {
                log_counter = true;
            }
            let before = base.get(&series).copied().unwrap_or(0.0);
            if v <= before {
                continue;
            }
            if series.starts_with("hotline_http_requests_total") {
                self.sink().violate(
                    "no-5xx",
                    &series,
                    format!("the server answered 5xx: {series} went from {before} to {v}"),
                );
            } else if series.contains("level=\"error\"") {
                self.sink().violate(
                    "error-log",
                    &series,
                    format!("the server logged ERROR lines: {series} went from {before} to {v}"),
                );
            }
        }
        if last && !log_counter {
            self.sink().note(
                "GET /metrics shows no hotline_log_events_total{level=\"error\"}: no ERROR line \
                 was counted (or the server does not count them)",
            );
        }
        self.bump("metrics_checks");
    }
}

/// The series of /metrics the checker watches: 5xx answers and error log lines.
fn watched_series(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let watched = (series.starts_with("hotline_http_requests_total{")
                && series.contains("status=\"5"))
                || (series.starts_with("hotline_log_events_total")
                    && series.contains("level=\"error\""));
            if !watched {
                return None;
            }
            Some((series.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

#[derive(Clone, Debug)]
struct Times {
    queue: Option<i64>,
    state: String,
    enqueued: Option<i64>,
    assigned: Option<i64>,
    done: Option<i64>,
}

/// [offered, answered, abandoned] per queue and overall, for times in `day..=upto`.
fn tally(rows: &[Times], day: i64, upto: i64) -> (HashMap<i64, [i64; 3]>, [i64; 3]) {
    let within = |t: Option<i64>| t.is_some_and(|t| t >= day && t <= upto);
    let mut per: HashMap<i64, [i64; 3]> = HashMap::new();
    let mut all = [0; 3];
    for r in rows {
        let hits = [
            within(r.enqueued),
            within(r.assigned),
            r.state == "abandoned" && within(r.done),
        ];
        for (i, hit) in hits.into_iter().enumerate() {
            if hit {
                all[i] += 1;
                if let Some(q) = r.queue {
                    per.entry(q).or_default()[i] += 1;
                }
            }
        }
    }
    (per, all)
}

/// 2 s (or `contact_within`) after a contact arrived: its ticket is in a queue with a member.
async fn contact_check(ck: Arc<Check>, ticket: i64, channel: String, at: i64) {
    let within = ck.opts.contact_within.as_millis() as i64;
    let wait = (at + within - now_ms()).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let Some(v) = ck.get(&format!("/api/tickets/{ticket}")).await else {
        return;
    };
    let t = &v["ticket"];
    if !t["merged_into"].is_null() {
        return;
    }
    let secs = within as f64 / 1000.0;
    match t["queue_id"].as_i64() {
        None => ck.sink().violate(
            "contact-in-queue",
            ticket,
            format!("#{ticket} ({channel}) is in no queue {secs} s after it arrived"),
        ),
        Some(q) => {
            if !lock(&ck.members).contains_key(&q) {
                ck.refresh_members().await;
            }
            if lock(&ck.members).get(&q).is_none_or(|m| m.is_empty()) {
                ck.sink().violate(
                    "contact-in-queue",
                    ticket,
                    format!("#{ticket} ({channel}) is in queue {q}, which has no member"),
                );
            }
        }
    }
    ck.bump("contact_checks");
}

const REPLIES: &[&str] = &[
    "Thank you, we have corrected your account. / 您好，已为您处理。",
    "We are on it and will get back to you today.",
];

/// An agent takes (or now and then declines) their offer, works it a moment and resolves it.
async fn take_offer(ck: Arc<Check>, me: Agent, offer: Value) {
    let Some(offer_id) = offer["offer_id"].as_i64() else {
        return;
    };
    let ticket = offer["ticket_id"].as_i64().unwrap_or(0);
    let (think, decline, work) = {
        let mut rng = rand::rng();
        (
            rng.random_range(100..600u64),
            rng.random_bool(0.1),
            rng.random_range(500..2500u64),
        )
    };
    tokio::time::sleep(Duration::from_millis(think)).await;
    if !ck.console(me.id).is_some_and(|c| c.live) {
        return;
    }
    let verb = if decline { "reject" } else { "accept" };
    let Ok((s, _)) =
        ck.d.call(
            Method::POST,
            &format!("/api/offers/{offer_id}/{verb}"),
            &me.token,
            Some(json!({})),
        )
        .await
    else {
        return;
    };
    if !s.is_success() {
        // Rang out or withdrawn meanwhile (409).
        return;
    }
    ck.bump(if decline { "rejected" } else { "accepted" });
    if decline {
        return;
    }
    let voice = offer["channel"] == "voice";
    // A call is talked through first (the simulated caller hangs up after a few seconds).
    let work = if voice { work + 4000 } else { work };
    tokio::time::sleep(Duration::from_millis(work)).await;
    if !ck.console(me.id).is_some_and(|c| c.live) {
        return;
    }
    let call = |method: Method, path: String, body: Value| {
        let ck = ck.clone();
        let token = me.token.clone();
        async move {
            ck.d.call(method, &path, &token, Some(body))
                .await
                .map(|(s, _)| s.is_success())
                .unwrap_or(false)
        }
    };
    // A callback gets its outcome; a message a reply that resolves; else a note and resolve.
    let mut done = offer["kind"] == "callback"
        && call(
            Method::POST,
            format!("/api/tickets/{ticket}/callback/outcome"),
            json!({"outcome": "reached", "note": "Called back / 已回电"}),
        )
        .await;
    if !done && !voice {
        done = call(
            Method::POST,
            format!("/api/tickets/{ticket}/replies"),
            json!({"body": REPLIES[(ticket as usize) % REPLIES.len()], "status": "resolved"}),
        )
        .await;
    }
    if !done {
        call(
            Method::POST,
            format!("/api/tickets/{ticket}/notes"),
            json!({"body": "Handled on the phone / 电话已处理"}),
        )
        .await;
        done = call(
            Method::PATCH,
            format!("/api/tickets/{ticket}"),
            json!({"status": "resolved"}),
        )
        .await;
    }
    if done {
        ck.bump("resolved");
    }
}

/// One demo agent as a console: connects, sets itself available, checks every frame, takes
/// its offers; reconnects when dropped; closes for good at `close_at`.
async fn agent_console(
    ck: Arc<Check>,
    me: Agent,
    close_at: Option<Instant>,
    mut end: watch::Receiver<bool>,
) {
    loop {
        if *end.borrow() {
            return;
        }
        let mut ws = match connect(&ck.d.base, &me.token).await {
            Ok(ws) => ws,
            Err(e) => {
                ck.sink()
                    .note(format!("{} could not open a console: {e:#}", me.login));
                if pause(&mut end, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        ck.set_console(me.id, true, false);
        let _ =
            ck.d.call(
                Method::POST,
                "/api/presence",
                &me.token,
                Some(json!({"state": "available"})),
            )
            .await;
        let mine = ck.queues_of(me.id);
        loop {
            let close = async {
                match close_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = close => {
                    ck.set_console(me.id, false, true);
                    let _ = ws.close(None).await;
                    println!("  {} closed their console", me.login);
                    tokio::spawn(offline_after_grace(ck.clone(), me.clone()));
                    return;
                }
                _ = end.changed() => {
                    ck.set_console(me.id, false, false);
                    let _ = ws.close(None).await;
                    return;
                }
                f = next_frame(&mut ws) => match f {
                    Some(f) => {
                        if !ck.agent_frame(&me, &mine, f) {
                            break;
                        }
                    }
                    None => break,
                }
            }
        }
        ck.set_console(me.id, false, false);
        let _ = ws.send(Message::Close(None)).await;
        if pause(&mut end, Duration::from_millis(300)).await {
            return;
        }
    }
}

/// An agent whose console closed is offline once the grace is over (and shown so).
async fn offline_after_grace(ck: Arc<Check>, me: Agent) {
    let wait = ck.opts.presence_grace + Duration::from_secs(3);
    tokio::time::sleep(wait).await;
    let Some(rows) = ck.get("/api/presence").await else {
        return;
    };
    let state = rows
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["user_id"] == me.id)
        .and_then(|r| r["state"].as_str())
        .unwrap_or("offline")
        .to_string();
    if state != "offline" {
        ck.sink().violate(
            "console-closed-offline",
            me.id,
            format!(
                "{} closed their console {} s ago (grace {} s) and is still {state}",
                me.login,
                wait.as_secs(),
                ck.opts.presence_grace.as_secs()
            ),
        );
    }
    ck.bump("closed_console_checks");
}

async fn supervisor_console(ck: Arc<Check>, mut end: watch::Receiver<bool>) {
    loop {
        if *end.borrow() {
            return;
        }
        let mut ws = match connect(&ck.d.base, &ck.supervisor).await {
            Ok(ws) => ws,
            Err(e) => {
                ck.sink()
                    .note(format!("the supervisor could not open a console: {e:#}"));
                if pause(&mut end, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        loop {
            tokio::select! {
                _ = end.changed() => {
                    let _ = ws.close(None).await;
                    return;
                }
                f = next_frame(&mut ws) => match f {
                    Some(f) if f["type"] == "resync" || f["type"] == "shutdown" => break,
                    Some(f) => ck.supervisor_frame(f),
                    None => break,
                }
            }
        }
        if pause(&mut end, Duration::from_millis(300)).await {
            return;
        }
    }
}

/// Plays and checks a day: seeds the demo, opens the consoles, sends traffic for
/// `args.duration` seconds (default 120), lets the calls in progress end, checks once more.
pub async fn day(mut args: SimulateArgs, opts: DayOptions) -> anyhow::Result<Report> {
    args.check = true;
    args.seed_only = false;
    let duration = Duration::from_secs(*args.duration.get_or_insert(120));
    let demo = super::start(args).await?;
    demo.sink.print.store(true, Ordering::Relaxed);
    let d = Arc::new(demo);
    let supervisor = super::login(&d.http, &d.base, "supervisor", &d.args.demo_password)
        .await
        .unwrap_or_else(|_| d.admin.clone());
    let ck = Arc::new(Check {
        d: d.clone(),
        opts: opts.clone(),
        supervisor,
        consoles: Mutex::new(HashMap::new()),
        members: Mutex::new(HashMap::new()),
        stats: Mutex::new(BTreeMap::new()),
        last_presence_check: Mutex::new(0),
    });
    ck.refresh_members().await;
    let base_metrics: HashMap<String, f64> =
        watched_series(&ck.metrics().await.unwrap_or_default())
            .into_iter()
            .collect();
    let (end_tx, end_rx) = watch::channel(false);
    let mut tasks = vec![tokio::spawn(supervisor_console(ck.clone(), end_rx.clone()))];
    let half = Instant::now() + duration / 2;
    let bots: Vec<Agent> = d.agents.iter().take(d.args.bots).cloned().collect();
    println!(
        "Checking: {} as consoles, the supervisor on the wallboard.",
        bots.iter()
            .map(|a| a.login.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (i, a) in bots.into_iter().enumerate() {
        let close = (opts.console_closes == Some(i)).then_some(half);
        tasks.push(tokio::spawn(agent_console(
            ck.clone(),
            a,
            close,
            end_rx.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    {
        let (ck, mut end) = (ck.clone(), end_rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut since = HashMap::new();
            while !pause(&mut end, Duration::from_millis(400)).await {
                ck.check_offers(&mut since).await;
            }
        }));
    }
    {
        let (ck, mut end) = (ck.clone(), end_rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut strikes = HashMap::new();
            while !pause(&mut end, Duration::from_secs(3)).await {
                ck.check_counts(&mut strikes).await;
            }
        }));
    }
    {
        let (ck, mut end, base) = (ck.clone(), end_rx.clone(), base_metrics.clone());
        tasks.push(tokio::spawn(async move {
            while !pause(&mut end, Duration::from_secs(5)).await {
                ck.check_metrics(&base, false).await;
            }
        }));
    }
    super::traffic(d.clone(), None).await;
    println!(
        "Traffic stopped; {} s for the calls in progress, then the last checks.",
        opts.settle.as_secs()
    );
    tokio::time::sleep(opts.settle).await;
    let mut strikes = HashMap::new();
    for _ in 0..2 {
        ck.check_counts(&mut strikes).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    ck.wallboard_presence(None).await;
    ck.check_metrics(&base_metrics, true).await;
    let _ = end_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let inner = std::mem::take(&mut *lock(&d.sink.inner));
    let stats = lock(&ck.stats).clone();
    Ok(Report {
        violations: inner.violations,
        notes: inner.notes,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_series_are_5xx_and_error_lines() {
        let text = "# TYPE x counter\n\
            hotline_http_requests_total{method=\"GET\",route=\"/a\",status=\"200\"} 9\n\
            hotline_http_requests_total{method=\"GET\",route=\"/a\",status=\"503\"} 2\n\
            hotline_log_events_total{level=\"error\"} 1\n\
            hotline_log_events_total{level=\"warn\"} 4\n";
        let s = watched_series(text);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[0].1, 2.0);
        assert!(s[1].0.contains("error"));
    }

    #[test]
    fn tally_counts_by_the_items_own_times() {
        let t = |q, state: &str, e, a, d| Times {
            queue: q,
            state: state.into(),
            enqueued: e,
            assigned: a,
            done: d,
        };
        let rows = [
            t(Some(1), "done", Some(100), Some(150), Some(300)),
            t(Some(1), "abandoned", Some(120), None, Some(200)),
            t(None, "unqueued", Some(130), None, None),
            t(Some(2), "assigned", Some(50), Some(110), None),
        ];
        let (per, all) = tally(&rows, 100, 250);
        assert_eq!(all, [3, 2, 1]);
        assert_eq!(per[&1], [2, 1, 1]);
        assert_eq!(per[&2], [0, 1, 0]);
    }
}
