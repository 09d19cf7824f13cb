//! A real shift (issue: tickets that reach nobody, ghost agents, callbacks, the center's day):
//! a fresh install routes every channel to agents through its default queue, presence follows
//! the console, callbacks are worked to an outcome, and the wallboard counts the local day.

use crate::email_support::{deliver, mail, smtp_addr};
use crate::realtime::Ws;
use crate::routing::available;
use crate::support::{TestApp, assert_error};
use crate::twilio_fake::{AUTH_TOKEN, FakeTwilio, PUBLIC_URL, post_signed};
use hotline::config::Config;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(8);

/// A fresh install as a center runs it: mail receiver, Twilio webhooks, a fast routing tick.
async fn center(tweak: impl FnOnce(&mut Config)) -> (TestApp, FakeTwilio) {
    let fake = FakeTwilio::start().await;
    let base = fake.base.clone();
    let app = TestApp::spawn_with(move |c| {
        c.routing_tick_ms = 50;
        c.smtp_listen = "127.0.0.1:0".into();
        c.twilio_auth_token = hotline::config::Secret(AUTH_TOKEN.into());
        c.twilio_api_base = base;
        c.public_url = PUBLIC_URL.into();
        tweak(c);
    })
    .await;
    (app, fake)
}

async fn agent(app: &TestApp, login: &str) -> (i64, String) {
    let (s, b) = app
        .post(
            "/api/users",
            &app.admin_token,
            json!({"login": login, "display_name": login, "role": "agent",
                   "password": "password-123"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{b}");
    (
        b["id"].as_i64().unwrap(),
        app.login(login, "password-123").await,
    )
}

async fn ticket(app: &TestApp, id: i64) -> Value {
    let (s, v) = app
        .get(&format!("/api/tickets/{id}"), &app.admin_token)
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    v
}

async fn presence_of(app: &TestApp, user_id: i64) -> String {
    let (_, list) = app.get("/api/presence", &app.admin_token).await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == user_id)
        .map_or("offline".into(), |p| {
            p["state"].as_str().unwrap().to_string()
        })
}

#[tokio::test]
async fn a_fresh_install_routes_every_channel_to_an_agent() {
    let (app, _fake) = center(|_| {}).await;
    let (_, queues) = app.get("/api/queues", &app.admin_token).await;
    let defaults: Vec<&Value> = queues
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["is_default"] == true)
        .collect();
    assert_eq!(
        defaults.len(),
        1,
        "one default queue from the start: {queues}"
    );
    let general = defaults[0]["id"].as_i64().unwrap();

    // A new agent works the default queue without any set-up.
    let (a1, t1) = agent(&app, "first-agent").await;
    let (_, q) = app
        .get(&format!("/api/queues/{general}"), &app.admin_token)
        .await;
    assert_eq!(q["members"], json!([a1]), "{q}");
    let mut ws = Ws::connect(&app, &t1).await;
    available(&app, &t1).await;

    // Email, SMS and a portal complaint: each lands in the default queue and is offered.
    let reply = deliver(
        smtp_addr(&app),
        "li.lei@example.cn",
        "support@localhost",
        &mail(
            "li.lei@example.cn",
            "发票问题",
            "m1@example.cn",
            "",
            "请问发票什么时候寄出？",
        ),
    )
    .await;
    assert!(reply.starts_with("250"), "{reply}");
    let offer = ws
        .event("offer.created", WAIT)
        .await
        .expect("email offered");
    let email_ticket = offer["payload"]["ticket_id"].as_i64().unwrap();
    assert_eq!(offer["payload"]["queue_id"], general);
    assert_eq!(offer["payload"]["ticket_subject"], "发票问题");
    assert_eq!(
        ticket(&app, email_ticket).await["ticket"]["queue_id"],
        general
    );
    let accept = ws
        .command(json!({"type": "accept_offer", "id": "1",
            "offer_id": offer["payload"]["offer_id"]}))
        .await;
    assert_eq!(accept["type"], "ack", "{accept}");

    let (s, body) = post_signed(
        &app,
        "/webhooks/twilio/sms",
        &[
            ("MessageSid", "SM-shift-1"),
            ("From", "+8613900139000"),
            ("To", "+14155550100"),
            ("Body", "快递三天没动了"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let offer = ws.event("offer.created", WAIT).await.expect("sms offered");
    assert_eq!(offer["payload"]["channel"], "sms");
    assert_eq!(offer["payload"]["queue_id"], general);
    assert_eq!(offer["payload"]["customer_name"], "+8613900139000");
    let sms_ticket = offer["payload"]["ticket_id"].as_i64().unwrap();
    assert_eq!(
        ticket(&app, sms_ticket).await["ticket"]["queue_id"],
        general
    );

    // Nothing sits without a queue, whatever made it.
    let (_, list) = app.get("/api/tickets?limit=200", &app.admin_token).await;
    for t in list.as_array().unwrap() {
        assert!(t["queue_id"].is_i64(), "a ticket without a queue: {t}");
    }
    // An agent sees what is offered to them in their ticket list.
    let (_, mine) = app
        .get(&format!("/api/tickets?queue_id={general}"), &t1)
        .await;
    assert!(mine.as_array().unwrap().len() >= 2, "{mine}");
}

#[tokio::test]
async fn presence_follows_the_console() {
    let (app, _fake) = center(|c| c.presence_grace_secs = 1).await;
    let (a1, t1) = agent(&app, "ghost").await;

    // Signing out ends the shift at once.
    let ws = Ws::connect(&app, &t1).await;
    available(&app, &t1).await;
    let (s, _) = app
        .call(reqwest::Method::POST, "/api/auth/logout", Some(&t1), None)
        .await;
    assert_eq!(s.as_u16(), 204);
    assert_eq!(presence_of(&app, a1).await, "offline");
    drop(ws);

    // A console that goes away: no new offers at once, offline after the grace period, and the
    // offer ringing when it went returns to the queue.
    let t1 = app.login("ghost", "password-123").await;
    let mut ws = Ws::connect(&app, &t1).await;
    available(&app, &t1).await;
    let tid = crate::realtime::ticket(&app, &app.admin_token, "ring while I leave", None).await;
    let offer = ws.event("offer.created", WAIT).await.expect("offered");
    assert_eq!(offer["payload"]["ticket_id"], tid);
    drop(ws);
    let end = std::time::Instant::now() + WAIT;
    while presence_of(&app, a1).await != "offline" {
        assert!(
            std::time::Instant::now() < end,
            "still available without a console"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, w) = app.get(&format!("/api/work/{tid}"), &app.admin_token).await;
    assert_eq!(w["state"], "waiting", "{w}");

    // Available again (over REST) but with no console open: nothing is offered.
    available(&app, &t1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, w) = app.get(&format!("/api/work/{tid}"), &app.admin_token).await;
    assert_eq!(
        w["state"], "waiting",
        "offered to an agent without a console: {w}"
    );
    // The console reopens and the agent is available: the work comes.
    let mut ws = Ws::connect(&app, &t1).await;
    available(&app, &t1).await;
    let offer = ws
        .event("offer.created", WAIT)
        .await
        .expect("offered again");
    assert_eq!(offer["payload"]["ticket_id"], tid);
}

#[tokio::test]
async fn a_callback_is_worked_to_an_outcome() {
    let (app, _fake) = center(|_| {}).await;
    let (a1, t1) = agent(&app, "caller").await;
    let mut ws = Ws::connect(&app, &t1).await;
    available(&app, &t1).await;
    let cid = app.customer("王芳", &[("phone", "+8613800138000")]).await;
    let (s, cb) = app
        .post(
            "/api/callbacks",
            &app.admin_token,
            json!({"phone": "+8613800138000", "customer_id": cid, "note": "问退款进度"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{cb}");
    let tid = cb["ticket_id"].as_i64().unwrap();
    let offer = ws
        .event("offer.created", WAIT)
        .await
        .expect("callback offered");
    let p = &offer["payload"];
    assert_eq!(
        (p["kind"].as_str(), p["ticket_id"].as_i64()),
        (Some("callback"), Some(tid))
    );
    assert_eq!(p["customer_name"], "王芳");
    assert_eq!(p["note"], "问退款进度");
    assert_eq!(p["attempts"], 0);
    assert_eq!(p["ticket_subject_data"]["kind"], "callback");
    let ack = ws
        .command(json!({"type": "accept_offer", "id": "1", "offer_id": p["offer_id"]}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");

    let outcome = |body: Value| {
        let app = &app;
        let t1 = t1.clone();
        async move {
            app.post(&format!("/api/tickets/{tid}/callback/outcome"), &t1, body)
                .await
        }
    };
    let (s, b) = outcome(json!({"outcome": "maybe"})).await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "outcome");

    // No answer: back in the queue, not offered before the time agreed.
    let retry = hotline::db::now_ms() + 1500;
    let (s, v) = outcome(json!({"outcome": "no_answer", "retry_at_ms": retry})).await;
    assert_eq!(s.as_u16(), 200, "{v}");
    assert_eq!(v["callback"]["attempts"], 1);
    assert_eq!(v["callback"]["due_ms"], retry);
    assert_eq!(v["callback"]["phone"], "+8613800138000");
    assert_eq!(v["ticket"]["assignee_id"], Value::Null);
    let note = v["interactions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(note["meta"]["text"]["kind"], "callback.outcome");
    assert_eq!(note["author_id"], a1);
    let early = ws.event("offer.created", Duration::from_millis(1000)).await;
    assert!(early.is_none(), "offered before its time: {early:?}");
    let offer = ws
        .event("offer.created", WAIT)
        .await
        .expect("offered again");
    assert_eq!(offer["payload"]["attempts"], 1);
    let ack = ws
        .command(json!({"type": "accept_offer", "id": "2",
            "offer_id": offer["payload"]["offer_id"]}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");

    // Reached: resolved, and a closed callback takes no more outcomes.
    let (s, v) = outcome(json!({"outcome": "reached", "note": "已告知退款到账时间"})).await;
    assert_eq!(s.as_u16(), 200, "{v}");
    assert_eq!(v["ticket"]["status"], "resolved");
    assert_eq!(v["callback"]["attempts"], 2);
    let (s, b) = outcome(json!({"outcome": "reached"})).await;
    assert_error(s, &b, 409, "conflict");
    // Only callbacks have outcomes.
    let other = crate::realtime::ticket(&app, &app.admin_token, "not a callback", None).await;
    let (s, b) = app
        .post(
            &format!("/api/tickets/{other}/callback/outcome"),
            &app.admin_token,
            json!({"outcome": "reached"}),
        )
        .await;
    assert_error(s, &b, 409, "conflict");
}

#[tokio::test]
async fn the_wallboard_counts_the_centers_day_and_every_member() {
    let (app, _fake) = center(|c| c.time_zone = "Asia/Shanghai".into()).await;
    let (quiet, _) = agent(&app, "never-signed-in").await;
    let (_, me) = app.get("/api/auth/me", &app.admin_token).await;
    assert_eq!(me["time_zone"], "Asia/Shanghai");
    let (s, w) = app.get("/api/wallboard", &app.admin_token).await;
    assert_eq!(s.as_u16(), 200, "{w}");
    assert_eq!(w["time_zone"], "Asia/Shanghai");
    // The day starts at local midnight: 16:00 UTC of the day before.
    let start = w["day_start_ms"].as_i64().unwrap();
    assert_eq!(start.rem_euclid(86_400_000), 16 * 3_600_000, "{w}");
    assert!(w["at_ms"].as_i64().unwrap() - start < 86_400_000);
    let agent = w["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["user_id"] == quiet)
        .unwrap_or_else(|| panic!("a member who never set a presence is missing: {w}"));
    assert_eq!(agent["state"], "offline");
}

#[tokio::test]
async fn an_unknown_time_zone_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        database_url: hotline::config::Secret(crate::support::fresh_database(dir.path()).await),
        smtp_listen: String::new(),
        time_zone: "Mars/Olympus_Mons".into(),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = hotline::app::App::build(config, listener)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("Mars/Olympus_Mons"), "{err}");
}
