//! Outgoing webhooks against a real HTTP receiver on loopback (axum): endpoints are admins',
//! URLs and event types are checked; deliveries carry the documented signature (verified here
//! with HMAC-SHA256 of "t.body", independently of the server's code), a 500 is retried, a
//! delivery can be re-sent; a pending retry survives a restart and nothing is sent twice; two
//! nodes on PostgreSQL send each delivery once.

use crate::support::{TestApp, assert_error};
use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "a-long-shared-secret-123";

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Got {
    delivery: String,
    event: String,
    body: Value,
    /// What the receiver answered.
    status: u16,
}

struct Inner {
    /// Requests answered 500 before the receiver answers 200.
    fail_first: AtomicUsize,
    got: Mutex<Vec<Got>>,
    bad_signatures: AtomicUsize,
}

struct Receiver {
    url: String,
    inner: Arc<Inner>,
}

impl Receiver {
    fn got(&self) -> Vec<Got> {
        self.inner.got.lock().unwrap().clone()
    }

    /// Waits until `check` holds over what was received (15 s at most).
    async fn until(&self, what: &str, check: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.got();
            if check(&got) {
                return got;
            }
            assert!(Instant::now() < end, "{what}; received: {got:#?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Verifies `X-Hotline-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` as a receiver
/// would, from the README's description alone.
fn verify(headers: &HeaderMap, body: &str) -> bool {
    let Some(sig) = headers
        .get("x-hotline-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in sig.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = x.parse::<i64>().ok(),
            Some(("v1", x)) => v1 = hex::decode(x).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - t).abs() > 300 {
        return false;
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&v1).is_ok()
}

async fn spawn_receiver(fail_first: usize) -> Receiver {
    let inner = Arc::new(Inner {
        fail_first: AtomicUsize::new(fail_first),
        got: Mutex::new(Vec::new()),
        bad_signatures: AtomicUsize::new(0),
    });
    let state = inner.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let inner = state.clone();
            async move {
                if !verify(&headers, &body) {
                    inner.bad_signatures.fetch_add(1, Ordering::SeqCst);
                    return StatusCode::UNAUTHORIZED;
                }
                let fail = inner
                    .fail_first
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let status = if fail {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                };
                let header = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                inner.got.lock().unwrap().push(Got {
                    delivery: header("x-hotline-delivery"),
                    event: header("x-hotline-event"),
                    body: serde_json::from_str(&body).unwrap_or(Value::Null),
                    status: status.as_u16(),
                });
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Receiver {
        url: format!("http://{addr}/hook"),
        inner,
    }
}

async fn hook(app: &TestApp, url: &str, types: &[&str]) -> i64 {
    let (s, h) = app
        .post(
            "/api/webhooks",
            &app.admin_token,
            json!({"url": url, "event_types": types, "secret": SECRET}),
        )
        .await;
    assert_eq!(s, 201, "{h}");
    assert_eq!(h["secret"], SECRET);
    h["id"].as_i64().unwrap()
}

async fn ticket(app: &TestApp, kind: &str) -> i64 {
    let (s, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "The fridge is warm", "channel": "web", "kind": kind}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    t["id"].as_i64().unwrap()
}

async fn deliveries(app: &TestApp, hook: i64) -> Vec<Value> {
    let (s, d) = app
        .get(
            &format!("/api/webhooks/{hook}/deliveries"),
            &app.admin_token,
        )
        .await;
    assert_eq!(s, 200, "{d}");
    d["items"].as_array().unwrap().clone()
}

fn delivered(got: &[Got], event: &str) -> bool {
    got.iter().any(|g| g.event == event && g.status == 200)
}

#[tokio::test]
async fn endpoints_are_admins_and_checked() {
    let app = TestApp::spawn().await;
    for (field, body) in [
        (
            "url",
            json!({"url": "ftp://hooks.example.cn/x", "event_types": ["call.ended"]}),
        ),
        (
            "url",
            json!({"url": "file:///etc/passwd", "event_types": ["call.ended"]}),
        ),
        (
            "url",
            json!({"url": "not a url", "event_types": ["call.ended"]}),
        ),
        (
            "event_types",
            json!({"url": "https://hooks.example.cn/x", "event_types": ["ticket.deleted"]}),
        ),
        (
            "event_types",
            json!({"url": "https://hooks.example.cn/x", "event_types": []}),
        ),
        (
            "secret",
            json!({"url": "https://hooks.example.cn/x", "event_types": ["call.ended"],
                   "secret": "short"}),
        ),
    ] {
        let (s, e) = app.post("/api/webhooks", &app.admin_token, body).await;
        assert_error(s, &e, 400, "validation_failed");
        assert_eq!(e["error"]["field"], field);
    }
    let (s, list) = app.get("/api/webhooks", &app.admin_token).await;
    assert_eq!(s, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "nothing stored");
    // A generated secret is shown once.
    let (s, h) = app
        .post(
            "/api/webhooks",
            &app.admin_token,
            json!({"url": "https://hooks.example.cn/x", "event_types": ["complaint.*"]}),
        )
        .await;
    assert_eq!(s, 201, "{h}");
    assert!(h["secret"].as_str().unwrap().len() >= 32);
    let id = h["id"].as_i64().unwrap();
    let (_, one) = app
        .get(&format!("/api/webhooks/{id}"), &app.admin_token)
        .await;
    assert!(one["secret"].is_null());
    assert_eq!(one["event_types"], json!(["complaint.*"]));
    let (s, changed) = app
        .patch(
            &format!("/api/webhooks/{id}"),
            &app.admin_token,
            json!({"enabled": false, "event_types": ["call.ended", "survey.answered"]}),
        )
        .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["url"], "https://hooks.example.cn/x");
    let (s, e) = app
        .patch(
            &format!("/api/webhooks/{id}"),
            &app.admin_token,
            json!({"url": "gopher://x"}),
        )
        .await;
    assert_error(s, &e, 400, "validation_failed");
    let (_, sup) = app.user("sup", "supervisor").await;
    let (s, e) = app.get("/api/webhooks", &sup).await;
    assert_error(s, &e, 403, "forbidden");
    let (s, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/webhooks/{id}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, e) = app
        .get(&format!("/api/webhooks/{id}"), &app.admin_token)
        .await;
    assert_error(s, &e, 404, "not_found");
}

#[tokio::test]
async fn signed_deliveries_are_retried_after_a_500_and_can_be_resent() {
    let app = TestApp::spawn_with(|c| c.webhook_retry_ms = 300).await;
    let rx = spawn_receiver(1).await;
    let tickets = hook(
        &app,
        &rx.url,
        &["ticket.created", "ticket.resolved", "complaint.*"],
    )
    .await;
    let tiers = hook(&app, &rx.url, &["customer.tier_changed"]).await;
    let t = ticket(&app, "complaint").await;
    let (s, b) = app
        .patch(
            &format!("/api/tickets/{t}"),
            &app.admin_token,
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let c = app.customer("Zhao Min", &[]).await;
    let (s, b) = app
        .post(
            &format!("/api/customers/{c}/orders"),
            &app.admin_token,
            json!({"external_id": "W-1", "ordered_at": "2026-01-02T03:04:05Z",
                   "amount": "88.00", "currency": "CNY"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let got = rx
        .until("every chosen event delivered", |g| {
            [
                "ticket.created",
                "complaint.created",
                "ticket.resolved",
                "complaint.transitioned",
                "customer.tier_changed",
            ]
            .iter()
            .all(|e| delivered(g, e))
        })
        .await;
    assert_eq!(rx.inner.bad_signatures.load(Ordering::SeqCst), 0);
    // Nothing unchosen came (ticket.updated is not chosen).
    assert!(got.iter().all(|g| g.event != "ticket.updated"), "{got:#?}");
    let created = got.iter().find(|g| g.event == "ticket.created").unwrap();
    assert_eq!(created.body["type"], "ticket.created");
    assert_eq!(created.body["data"]["ticket"]["id"], t);
    let tier = got
        .iter()
        .find(|g| g.event == "customer.tier_changed")
        .unwrap();
    assert_eq!(tier.body["data"]["customer_id"], c);
    assert_eq!(tier.body["data"]["to"], "vip");
    // The first request was answered 500 and retried: the same delivery came again, then 200.
    let first = &got[0];
    assert_eq!(first.status, 500);
    let again: Vec<&Got> = got
        .iter()
        .filter(|g| g.delivery == first.delivery)
        .collect();
    assert_eq!(again.len(), 2, "{got:#?}");
    assert_eq!(again[1].status, 200);
    // The log shows it: two attempts, delivered with 200.
    let log = deliveries(&app, tickets).await;
    let id: i64 = first.delivery.parse().unwrap();
    let entry = log.iter().find(|d| d["id"] == id).unwrap();
    assert_eq!(entry["status"], "delivered");
    assert_eq!(entry["attempts"], 2);
    assert_eq!(entry["response_code"], 200);
    assert!(entry["delivered_at"].is_i64());
    // Each delivery reached the receiver with 200 exactly once.
    for d in log.iter().chain(deliveries(&app, tiers).await.iter()) {
        let ok = got
            .iter()
            .filter(|g| g.delivery == d["id"].as_i64().unwrap().to_string() && g.status == 200)
            .count();
        assert_eq!(ok, 1, "{d}");
    }
    // Re-send: the same delivery comes once more.
    let (s, r) = app
        .post(
            &format!("/api/webhooks/{tickets}/deliveries/{id}/resend"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    rx.until("the re-sent delivery", |g| {
        g.iter().filter(|x| x.delivery == first.delivery).count() == 3
    })
    .await;
    let (s, e) = app
        .post(
            &format!("/api/webhooks/{tiers}/deliveries/{id}/resend"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_error(s, &e, 404, "not_found");
}

#[tokio::test]
async fn a_pending_retry_survives_a_restart_and_nothing_is_sent_twice() {
    let rx = spawn_receiver(1).await;
    let mut a = TestApp::spawn_with(|c| c.webhook_retry_ms = 60_000).await;
    let h = hook(&a, &rx.url, &["ticket.created"]).await;
    ticket(&a, "inquiry").await;
    rx.until("the first attempt", |g| g.len() == 1).await;
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let log = deliveries(&a, h).await;
        if log.len() == 1 && log[0]["attempts"] == 1 {
            assert_eq!(log[0]["status"], "pending");
            assert_eq!(log[0]["response_code"], 500);
            assert!(log[0]["next_attempt_at"].is_i64());
            break;
        }
        assert!(Instant::now() < end, "the failed attempt recorded: {log:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    a.stop().await;
    let b = a.spawn_node(|c| c.webhook_retry_ms = 60_000).await;
    // Not due yet: nothing is sent until the retry time.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rx.got().len(), 1);
    b.state.clock.advance(61_000);
    rx.until("the retry after the restart", |g| g.len() == 2)
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let got = rx.got();
    assert_eq!(got.len(), 2, "sent once more, no duplicate: {got:#?}");
    assert_eq!(got[0].delivery, got[1].delivery);
    assert_eq!(got[1].status, 200);
    let log = deliveries(&b, h).await;
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["attempts"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_send_each_delivery_once() {
    let pg = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"));
    if !pg {
        eprintln!("skipped: several nodes need PostgreSQL (set TEST_DATABASE_URL)");
        return;
    }
    let rx = spawn_receiver(0).await;
    let a = TestApp::spawn().await;
    let b = a.spawn_node(|_| {}).await;
    hook(&a, &rx.url, &["ticket.created"]).await;
    for i in 0..10 {
        ticket(if i % 2 == 0 { &a } else { &b }, "inquiry").await;
    }
    rx.until("ten deliveries", |g| g.len() >= 10).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = rx.got();
    let mut ids: Vec<&str> = got.iter().map(|g| g.delivery.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(got.len(), 10, "{got:#?}");
    assert_eq!(ids.len(), 10);
}

/// The console's Webhooks screen in real Chromium: an admin registers the receiver for new
/// tickets with a secret of their own; a new ticket's delivery fails once (500) and is retried;
/// the delivery log shows it delivered with the receiver's answer; "Send again" sends it once
/// more; the screen reads in Chinese too.
#[tokio::test]
async fn browser_admin_registers_a_webhook_and_reads_its_log() {
    use crate::browser::{
        browser, click, eventually, find, scenario, sign_in, type_into, wait_text,
    };
    use crate::support::ADMIN_PASSWORD;
    use fantoccini::Locator;
    let Some(b) = browser().await else { return };
    let app = TestApp::spawn_with(|c| c.webhook_retry_ms = 300).await;
    let receiver = spawn_receiver(1).await;
    let c = &b.client;
    let (t, r) = (&app, &receiver);
    scenario("browser_admin_registers_a_webhook", &b, || async move {
        c.set_window_size(1280, 900).await.unwrap();
        sign_in(t, c, "admin", ADMIN_PASSWORD).await;
        click(c, "nav.nav a[data-nav=\"admin-webhooks\"]").await;
        wait_text(c, "main h1", "Webhooks").await;
        wait_text(c, "#wh-empty", "No endpoints yet").await;
        // Nothing chosen: refused in the form, nothing created.
        type_into(c, "#wh-new [name=url]", &r.url).await;
        type_into(c, "#wh-new [name=secret]", SECRET).await;
        click(c, "#wh-create").await;
        wait_text(c, "#toasts", "Choose at least one event").await;
        click(c, "#wh-new [value=\"ticket.created\"]").await;
        click(c, "#wh-create").await;
        wait_text(c, "#wh-rows", &r.url).await;
        wait_text(c, "#wh-secret", SECRET).await;

        let (s, ticket) = t
            .post(
                "/api/tickets",
                &t.admin_token,
                json!({"subject": "Where is my washer?", "channel": "web"}),
            )
            .await;
        assert_eq!(s, 201, "{ticket}");
        r.until("a 500, then the retry delivered", |g| {
            g.iter().filter(|x| x.status == 200).count() == 1
        })
        .await;
        // The log (read again until the retry's outcome shows).
        eventually("the log shows the delivery delivered", || async move {
            click(c, "[data-log]").await;
            let text = c
                .find(Locator::Css("#wh-log"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            (text.contains("Delivered") && text.contains("200")).then_some(())
        })
        .await;
        // Read again until it holds: the log re-renders as deliveries land (a stale element).
        wait_text(c, "#wh-log", "ticket.created").await;
        crate::browser_layout::screenshot(c, "webhooks-log-en").await;
        click(c, "[data-resend]").await;
        let got = r
            .until("the re-sent delivery", |g| {
                g.iter().filter(|x| x.status == 200).count() == 2
            })
            .await;
        let ok: Vec<_> = got.iter().filter(|x| x.status == 200).collect();
        assert_eq!(
            ok[0].delivery, ok[1].delivery,
            "the same delivery, sent again"
        );
        assert_eq!(
            ok[1].body["data"]["ticket"]["id"], ticket["id"],
            "{:?}",
            ok[1].body
        );

        // In Chinese.
        find(c, "#locale")
            .await
            .select_by_value("zh-CN")
            .await
            .unwrap();
        wait_text(c, "main h1", "Webhook 推送").await;
        wait_text(c, "#wh-rows", "启用").await;
        let page = c
            .execute("return document.body.innerText", vec![])
            .await
            .unwrap();
        let page = page.as_str().unwrap_or_default();
        for word in page.split(char::is_whitespace) {
            assert!(
                !(word.starts_with("wh.") || word.starts_with("nav.")),
                "raw i18n key `{word}`:\n{page}"
            );
        }
        crate::browser_layout::screenshot(c, "webhooks-zh").await;
    })
    .await;
    assert_eq!(receiver.inner.bad_signatures.load(Ordering::SeqCst), 0);
}
