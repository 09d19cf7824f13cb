//! Reports (issue #18): the rollups the routing leader keeps equal a from-scratch count over the
//! raw tables after random days of traffic through the API (seeded), including a batch that
//! fails before its commit; the reports' figures on a small known day; supervisors' scope; CSV.

use crate::routing::{members, work_until, works};
use crate::support::{TestApp, assert_error};
use hotline::reports::{self, Agent, ComplaintFigures, Csat, Fault, Rollups};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::Row;
use std::time::Duration;

const B: i64 = 15 * 60 * 1000;

fn bucket(ms: i64) -> i64 {
    ms - ms.rem_euclid(B)
}

pub(crate) async fn app() -> TestApp {
    TestApp::spawn_with(|c| c.routing_tick_ms = 50).await
}

/// Follows the events log to its end (the leader's follower may take batches meanwhile).
pub(crate) async fn settle(app: &TestApp) {
    let db = &app.state.db;
    let end = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        reports::catch_up(db).await.expect("follower batch");
        let max: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS m FROM events")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .try_get("m")
            .unwrap();
        let mark = hotline::realtime::marks::get(db, reports::MARK)
            .await
            .unwrap()
            .unwrap_or(0);
        if mark >= max {
            return;
        }
        assert!(
            std::time::Instant::now() < end,
            "the follower never caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn opt(r: &sqlx::any::AnyRow, c: &str) -> Option<i64> {
    r.try_get::<Option<i64>, _>(c).unwrap()
}

/// The rollups counted from scratch over the raw tables, with this test's own code.
async fn oracle(app: &TestApp) -> Rollups {
    let pool = &app.state.db.pool;
    let mut r = Rollups::default();
    let rows = sqlx::query(
        "SELECT w.queue_id, w.channel, t.kind, w.state, w.enqueued_at, w.assigned_to, \
         w.assigned_at, w.done_at, COALESCE(q.service_level_secs, 20) AS sl \
         FROM work_items w JOIN tickets t ON t.id = w.ticket_id \
         LEFT JOIN queues q ON q.id = w.queue_id WHERE w.state <> 'unqueued'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for w in &rows {
        let q = opt(w, "queue_id").unwrap_or(0);
        let enq: i64 = w.try_get("enqueued_at").unwrap();
        let sl: i64 = w.try_get::<i64, _>("sl").unwrap() * 1000;
        let state: String = w.try_get("state").unwrap();
        *r.contacts
            .entry((
                bucket(enq),
                q,
                w.try_get("channel").unwrap(),
                w.try_get("kind").unwrap(),
            ))
            .or_default() += 1;
        let assigned = opt(w, "assigned_at");
        if let Some(a) = assigned {
            let s = r.service.entry((bucket(a), q)).or_default();
            s.answered += 1;
            s.wait_ms += (a - enq).max(0);
            s.answered_within += i64::from(a - enq <= sl);
        }
        let done = opt(w, "done_at");
        match (state.as_str(), done, assigned) {
            ("abandoned", Some(d), _) => {
                let s = r.service.entry((bucket(d), q)).or_default();
                s.abandoned += 1;
                s.abandoned_after += i64::from(d - enq > sl);
            }
            ("done", Some(d), Some(a)) => {
                let s = r.service.entry((bucket(d), q)).or_default();
                s.handled += 1;
                s.handle_ms += (d - a).max(0);
                if let Some(u) = opt(w, "assigned_to") {
                    let ag = r.agents.entry((bucket(d), u)).or_default();
                    ag.handled += 1;
                    ag.handle_ms += (d - a).max(0);
                }
            }
            _ => {}
        }
    }
    let rows = sqlx::query(
        "SELECT user_id, state, started_ms, ended_ms FROM presence_log WHERE ended_ms IS NOT NULL",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for p in &rows {
        let u: i64 = p.try_get("user_id").unwrap();
        let state: String = p.try_get("state").unwrap();
        let (mut at, end): (i64, i64) = (
            p.try_get("started_ms").unwrap(),
            p.try_get("ended_ms").unwrap(),
        );
        while at < end {
            let b = bucket(at);
            let ms = (b + B).min(end) - at;
            let mut add = Agent::default();
            match state.as_str() {
                "available" => add.available_ms = ms,
                "busy" => add.busy_ms = ms,
                "wrap_up" => add.wrap_up_ms = ms,
                "away" => add.away_ms = ms,
                _ => {}
            }
            if add != Agent::default() {
                r.agents.entry((b, u)).or_default().add(&add);
            }
            at = b + B;
        }
    }
    let rows = sqlx::query(
        "SELECT queue_id, agent_id, score, answered_at FROM surveys \
         WHERE score IS NOT NULL AND answered_at IS NOT NULL",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for v in &rows {
        let at = bucket(v.try_get("answered_at").unwrap());
        let score: i64 = v.try_get("score").unwrap();
        let c = r
            .csat
            .entry((at, opt(v, "queue_id").unwrap_or(0)))
            .or_insert(Csat::default());
        c.answers += 1;
        c.good += i64::from(score >= 4);
        c.score_sum += score;
        if let Some(u) = opt(v, "agent_id") {
            let a = r.agents.entry((at, u)).or_default();
            a.csat_answers += 1;
            a.csat_good += i64::from(score >= 4);
        }
    }
    let rows = sqlx::query(
        "SELECT t.queue_id, c.category_id, c.severity, c.created_at, c.closed_at \
         FROM complaints c JOIN tickets t ON t.id = c.ticket_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for c in &rows {
        let q = opt(c, "queue_id").unwrap_or(0);
        let (cat, sev): (i64, i64) = (
            c.try_get("category_id").unwrap(),
            c.try_get("severity").unwrap(),
        );
        let created: i64 = c.try_get("created_at").unwrap();
        r.complaints
            .entry((bucket(created), q, cat, sev))
            .or_insert(ComplaintFigures::default())
            .received += 1;
        if let Some(at) = opt(c, "closed_at") {
            let f = r.complaints.entry((bucket(at), q, cat, sev)).or_default();
            f.closed += 1;
            f.handle_ms += (at - created).max(0);
        }
    }
    let rows = sqlx::query(
        "SELECT k.article_id, k.at_ms, t.queue_id FROM kb_suggestion_uses k \
         LEFT JOIN tickets t ON t.id = k.ticket_id WHERE k.kind = 'inserted'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for k in &rows {
        let key = (
            bucket(k.try_get("at_ms").unwrap()),
            opt(k, "queue_id").unwrap_or(0),
            k.try_get("article_id").unwrap(),
        );
        *r.kb.entry(key).or_default() += 1;
    }
    r
}

async fn rollups(app: &TestApp) -> Rollups {
    reports::store::load(
        &app.state.db,
        None,
        &None,
        reports::store::Parts::ALL,
        reports::store::By::Interval,
    )
    .await
    .unwrap()
}

pub(crate) async fn presence(app: &TestApp, token: &str, state: &str) {
    let (s, b) = app
        .post("/api/presence", token, json!({"state": state}))
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
}

pub(crate) async fn ticket(app: &TestApp, channel: &str, queue: i64, kind: &str) -> i64 {
    let (s, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": format!("{kind} by {channel}"), "channel": channel,
                   "queue_id": queue, "body": "hello", "kind": kind}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{t}");
    t["id"].as_i64().unwrap()
}

pub(crate) async fn pick(app: &TestApp, token: &str, tid: i64) {
    work_until(app, tid, |w| w["state"] == "waiting").await;
    let (s, w) = app
        .post(&format!("/api/work/{tid}/pick"), token, json!({}))
        .await;
    assert_eq!(s.as_u16(), 200, "{w}");
}

pub(crate) async fn resolve(app: &TestApp, token: &str, tid: i64) {
    let (s, b) = app
        .patch(
            &format!("/api/tickets/{tid}"),
            token,
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    // The routing leader ends the ticket's work as it follows the ticket.
    work_until(app, tid, |w| w["state"] == "done").await;
}

/// A random day's traffic: tickets on several channels into two queues, picked and resolved by
/// two agents who change presence, complaints, verbal survey scores.
async fn traffic(app: &TestApp, rng: &mut StdRng, queues: &[i64], agents: &[(i64, String)]) {
    let channels = ["web", "voice", "email", "sms"];
    let n = rng.random_range(4..10);
    for _ in 0..n {
        let (_, token) = &agents[rng.random_range(0..agents.len())];
        let state = ["away", "available", "away"][rng.random_range(0..3)];
        presence(app, token, state).await;
        let q = queues[rng.random_range(0..queues.len())];
        let channel = channels[rng.random_range(0..channels.len())];
        let kind = if rng.random_bool(0.3) {
            "complaint"
        } else {
            "inquiry"
        };
        // Away agents are offered nothing: the item waits until picked.
        for (_, t) in agents {
            presence(app, t, "away").await;
        }
        let tid = ticket(app, channel, q, kind).await;
        if rng.random_bool(0.8) {
            pick(app, token, tid).await;
            if rng.random_bool(0.7) {
                resolve(app, token, tid).await;
                if rng.random_bool(0.6) {
                    let score = rng.random_range(1..=5);
                    let (s, b) = app
                        .post(
                            &format!("/api/tickets/{tid}/survey"),
                            token,
                            json!({"score": score}),
                        )
                        .await;
                    assert_eq!(s.as_u16(), 201, "{b}");
                }
            }
        }
    }
}

#[tokio::test]
async fn rollups_equal_a_count_over_the_raw_tables_on_random_days_and_after_a_failed_batch() {
    let seed: u64 = std::env::var("HOTLINE_REPORTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("HOTLINE_REPORTS_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let app = app().await;
    let q1 = app.queue("Billing").await;
    let q2 = app.queue("Delivery").await;
    let (a1, t1) = app.user("a1", "agent").await;
    let (a2, t2) = app.user("a2", "agent").await;
    members(&app, q1, &[a1, a2]).await;
    members(&app, q2, &[a1, a2]).await;
    let agents = vec![(a1, t1), (a2, t2)];
    for day in 0..2 {
        traffic(&app, &mut rng, &[q1, q2], &agents).await;
        settle(&app).await;
        let want = oracle(&app).await;
        assert!(!want.contacts.is_empty());
        assert_eq!(rollups(&app).await, want, "day {day} (seed {seed})");
    }

    // A batch that fails before its commit leaves neither figures nor a moved mark; the rerun
    // counts it once. (The leader's follower may take the new events first: then try again.)
    let mut failed = false;
    for _ in 0..20 {
        let before = rollups(&app).await;
        let mark = hotline::realtime::marks::get(&app.state.db, reports::MARK)
            .await
            .unwrap();
        traffic(&app, &mut rng, &[q1, q2], &agents).await;
        let (_, t) = &agents[0];
        presence(&app, t, "available").await;
        let faulted = reports::store::follow(&app.state.db, 50, Fault::BeforeCommit).await;
        if faulted.is_err() {
            let now = hotline::realtime::marks::get(&app.state.db, reports::MARK)
                .await
                .unwrap();
            // Nothing of the failed batch stayed (the leader may have moved on meanwhile).
            if now == mark {
                assert_eq!(rollups(&app).await, before);
            }
            failed = true;
            break;
        }
        settle(&app).await;
    }
    assert!(failed, "no batch was left for the failing follower");
    settle(&app).await;
    assert_eq!(rollups(&app).await, oracle(&app).await, "seed {seed}");

    // The rebuild from the raw tables gives the same rollups.
    let (s, b) = app
        .post("/api/reports/rebuild", &app.admin_token, json!({}))
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    settle(&app).await;
    assert_eq!(
        rollups(&app).await,
        oracle(&app).await,
        "rebuilt (seed {seed})"
    );
}

pub(crate) fn today(app: &TestApp) -> String {
    jiff::Timestamp::now()
        .to_zoned(app.state.time_zone.clone())
        .date()
        .to_string()
}

async fn get_csv(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    let res = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = res.text().await.unwrap();
    if status == 200 {
        assert!(ct.starts_with("text/csv"), "{ct}");
    }
    (status, text)
}

#[tokio::test]
async fn reports_on_a_known_day_with_scope_and_csv() {
    let app = app().await;
    let q1 = app.queue("Billing").await;
    let q2 = app.queue("Delivery").await;
    let (a1, t1) = app.user("a1", "agent").await;
    let (sup, sup_token) = app.user("sup", "supervisor").await;
    members(&app, q1, &[a1]).await;
    members(&app, q2, &[a1]).await;
    works(&app, sup, &[q2]).await;
    presence(&app, &t1, "away").await;
    // Billing: two web tickets answered and resolved, one scored 5 and one 2; an SMS complaint
    // waiting. Delivery: one voice ticket answered and resolved.
    let x = ticket(&app, "web", q1, "inquiry").await;
    let y = ticket(&app, "web", q1, "inquiry").await;
    ticket(&app, "sms", q1, "complaint").await;
    let z = ticket(&app, "voice", q2, "inquiry").await;
    for (tid, score) in [(x, Some(5)), (y, Some(2)), (z, None)] {
        pick(&app, &t1, tid).await;
        resolve(&app, &t1, tid).await;
        if let Some(score) = score {
            let (s, b) = app
                .post(
                    &format!("/api/tickets/{tid}/survey"),
                    &t1,
                    json!({"score": score}),
                )
                .await;
            assert_eq!(s.as_u16(), 201, "{b}");
        }
    }
    settle(&app).await;
    let day = today(&app);
    let range = format!("from={day}&to={day}");

    let (s, v) = app
        .get(&format!("/api/reports/volume?{range}"), &app.admin_token)
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    assert_eq!(v["contacts"], 4, "{v}");
    assert_eq!(v["periods"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["periods"][0]["by_channel"],
        json!({"sms": 1, "voice": 1, "web": 2})
    );

    let (s, r) = app
        .get(
            &format!("/api/reports/service?{range}&queue={q1}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{r}");
    let t = &r["total"];
    assert_eq!(
        (t["contacts"].as_i64(), t["answered"].as_i64()),
        (Some(3), Some(2)),
        "{r}"
    );
    assert_eq!(
        (t["handled"].as_i64(), t["abandoned"].as_i64()),
        (Some(2), Some(0))
    );
    assert!(t["asa_secs"].as_f64().unwrap() >= 0.0);
    assert_eq!(t["service_level"], 1.0, "answered within 20 s");

    let (s, r) = app
        .get(
            &format!("/api/reports/csat-trend?{range}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{r}");
    assert_eq!(
        (r["answers"].as_i64(), r["csat"].as_f64()),
        (Some(2), Some(0.5))
    );
    assert_eq!(r["periods"][0]["avg_score"], 3.5);

    let (_, r) = app
        .get(
            &format!("/api/reports/complaints?{range}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(r["received"], 1, "{r}");
    assert_eq!(r["rows"][0]["frequency"], 1.0);

    let (_, r) = app
        .get(&format!("/api/reports/agents?{range}"), &app.admin_token)
        .await;
    let me = r["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["user_id"] == a1)
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(me["handled"], 3, "{r}");
    assert_eq!(
        (me["csat_answers"].as_i64(), me["csat"].as_f64()),
        (Some(2), Some(0.5))
    );

    // Hourly periods: the same totals, in the center's time zone.
    let (_, h) = app
        .get(
            &format!("/api/reports/volume?{range}&interval=hour"),
            &app.admin_token,
        )
        .await;
    let sum: i64 = h["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["contacts"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 4);
    assert!(h["periods"][0]["period"].as_str().unwrap().ends_with(":00"));

    // The service report per period (every queue added up) and per queue (the whole range)
    // comes to the same total.
    let (_, r) = app
        .get(
            &format!("/api/reports/service?{range}&interval=15m"),
            &app.admin_token,
        )
        .await;
    let total = |f: &str| r["total"][f].as_i64().unwrap();
    for list in ["periods", "queues"] {
        let sum = |f: &str| -> i64 {
            let rows = r[list].as_array().unwrap();
            rows.iter().map(|p| p[f].as_i64().unwrap()).sum()
        };
        for f in ["contacts", "answered", "handled", "abandoned"] {
            assert_eq!(sum(f), total(f), "{list} {f}: {r}");
        }
    }
    assert_eq!(r["queues"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(total("contacts"), 4, "{r}");

    // Supervisors see their queues: Delivery only; asking for Billing is forbidden.
    let (_, v) = app
        .get(&format!("/api/reports/volume?{range}"), &sup_token)
        .await;
    assert_eq!(v["contacts"], 1, "{v}");
    let (s, b) = app
        .get(
            &format!("/api/reports/service?{range}&queue={q1}"),
            &sup_token,
        )
        .await;
    assert_error(s, &b, 403, "forbidden");
    let (_, a) = app
        .get(&format!("/api/reports/agents?{range}"), &sup_token)
        .await;
    assert_eq!(
        a["agents"].as_array().unwrap().len(),
        1,
        "a1 works Delivery: {a}"
    );
    let (s, b) = app
        .get(
            "/api/reports/volume?from=2026-13-01&to=2026-12-01",
            &sup_token,
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = app
        .get(
            &format!("/api/reports/volume?{range}&interval=week"),
            &sup_token,
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");

    // Every report's table as CSV, with a byte order mark.
    for (path, header) in [
        ("volume", "period,queue,channel,kind,contacts"),
        ("service", "period,contacts,answered"),
        ("agents", "agent,handled,aht_secs"),
        ("complaints", "category,name_en,name_zh,severity"),
        ("csat-trend", "period,answers,good,csat,avg_score"),
    ] {
        let (s, text) = get_csv(
            &app,
            &format!("/api/reports/{path}.csv?{range}"),
            &app.admin_token,
        )
        .await;
        assert_eq!(s, 200, "{path}: {text}");
        assert!(text.starts_with('\u{feff}'), "{path}");
        assert!(text[3..].starts_with(header), "{path}: {text}");
        assert!(text.lines().count() >= 2, "{path}: {text}");
    }
    // The volume CSV holds the detail the report on screen adds up: per queue and kind.
    let (_, text) = get_csv(
        &app,
        &format!("/api/reports/volume.csv?{range}&interval=15m"),
        &app.admin_token,
    )
    .await;
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(&text.as_bytes()[3..])
        .records()
        .map(Result::unwrap)
        .collect();
    let by_queue = |name: &str| -> i64 {
        let of = rows.iter().filter(|r| &r[1] == name);
        of.map(|r| r[4].parse::<i64>().unwrap()).sum()
    };
    assert_eq!(
        (by_queue("Billing"), by_queue("Delivery")),
        (3, 1),
        "{text}"
    );
    assert!(
        rows.iter().any(|r| &r[2] == "sms" && &r[3] == "complaint"),
        "{text}"
    );
    let (_, text) = get_csv(
        &app,
        &format!("/api/reports/complaints.csv?{range}"),
        &app.admin_token,
    )
    .await;
    assert!(text.contains("其他") || text.contains("Other"), "{text}");
}
