//! The console and the portal in real headless Chromium (Debian's chromium + chromium-driver),
//! driven over WebDriver with fantoccini against a TestApp. Skipped only when no browser is
//! installed and HOTLINE_REQUIRE_BROWSER is unset (CI sets it). On failure a screenshot is
//! saved under target/browser-artifacts/. Also checks the message catalogs (no browser needed).

#![allow(dead_code)]

use crate::support::TestApp;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::{Value, json};
use sqlx::Row;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &[&str] = &["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const DRIVER: &[&str] = &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

/// A chromedriver process and one browser session; both end with the value. Killing the driver
/// alone would orphan Chromium (it runs in its own process group), so the browser is found by
/// its profile folder, which is this value's own.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = Command::new("pkill")
            .arg("-KILL")
            .arg("-f")
            .arg(format!("user-data-dir={}", self._profile.path().display()))
            .status();
        let _ = self.driver.wait();
    }
}

fn first_existing(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Starts Chromium under chromedriver, or returns None (test skipped) when none is installed
/// and the browser is not required.
pub async fn browser() -> Option<Browser> {
    let (Some(chromium), Some(driver)) = (first_existing(CHROMIUM), first_existing(DRIVER)) else {
        if std::env::var_os("HOTLINE_REQUIRE_BROWSER").is_some() {
            panic!("HOTLINE_REQUIRE_BROWSER is set but chromium/chromedriver are not installed");
        }
        eprintln!("skipped: no chromium + chromedriver (apt-get install chromium chromium-driver)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1440,900", "--lang=en-US",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => break c,
            Err(e) if started.elapsed() > Duration::from_secs(20) => {
                panic!("chromedriver did not answer: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    Some(Browser {
        client,
        driver: child,
        _profile: profile,
    })
}

/// Runs a browser scenario; on failure saves a screenshot (and the page's text) as artifacts.
pub async fn scenario<F, Fut>(name: &str, b: &Browser, body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let outcome = std::panic::AssertUnwindSafe(body()).catch_unwind().await;
    if let Err(panic) = outcome {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(png) = b.client.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
        if let Ok(src) = b.client.source().await {
            let _ = std::fs::write(dir.join(format!("{name}.html")), src);
        }
        eprintln!("screenshot saved in {}", dir.display());
        std::panic::resume_unwind(panic);
    }
}

/// Waits until `css` matches an element whose text contains `text` and returns that text.
pub async fn wait_text(c: &Client, css: &str, text: &str) -> String {
    let started = Instant::now();
    loop {
        if let Ok(els) = c.find_all(Locator::Css(css)).await {
            for el in els {
                if let Ok(t) = el.text().await
                    && t.contains(text)
                {
                    return t;
                }
            }
        }
        if started.elapsed() > Duration::from_secs(15) {
            panic!("no `{css}` containing {text:?} within 15 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    let started = Instant::now();
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await {
            return el;
        }
        if started.elapsed() > Duration::from_secs(15) {
            panic!("no `{css}` within 15 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn type_into(c: &Client, css: &str, text: &str) {
    retry(css, || async move {
        let el = c.find(Locator::Css(css)).await.ok()?;
        el.clear().await.ok()?;
        el.send_keys(text).await.ok()
    })
    .await
}

/// Clicks `css`; parts that re-render (ringing offers tick every second) are found again.
pub async fn click(c: &Client, css: &str) {
    retry(css, || async move {
        c.find(Locator::Css(css)).await.ok()?.click().await.ok()
    })
    .await
}

async fn retry<Fut: Future<Output = Option<()>>>(css: &str, f: impl Fn() -> Fut) {
    let started = Instant::now();
    while f().await.is_none() {
        if started.elapsed() > Duration::from_secs(15) {
            panic!("could not act on `{css}` within 15 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Signs in through the form on `/`.
pub async fn sign_in(t: &TestApp, c: &Client, login: &str, password: &str) {
    c.goto(&t.url("/")).await.unwrap();
    type_into(c, "#login", login).await;
    type_into(c, "#password", password).await;
    click(c, "#signin-submit").await;
    find(c, "hl-presence select").await;
    wait_live(c).await;
}

/// Waits until the console's websocket is live (its hello arrived). Events written before that
/// are not the console's to show, so a test that makes some must wait for this first.
pub async fn wait_live(c: &Client) {
    find(c, "#live-dot.live").await;
}

/// Polls `f` until it returns Some, for up to 10 s.
pub async fn eventually<T, Fut: Future<Output = Option<T>>>(what: &str, f: impl Fn() -> Fut) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if started.elapsed() > Duration::from_secs(10) {
            panic!("{what} did not happen within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn browser_login_lookup_reply() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    let (agent_id, _) = t.user("ana", "agent").await;
    let cid = t
        .customer(
            "王芳",
            &[
                ("phone", "+8613800138000"),
                ("email", "wang.fang@example.cn"),
            ],
        )
        .await;
    let (_, ticket) = t
        .post(
            "/api/tickets",
            &t.admin_token,
            json!({"subject": "Invoice shows the wrong amount", "customer_id": cid,
                   "channel": "email", "assignee_id": agent_id,
                   "body": "Customer says the March invoice is 50 yuan too high."}),
        )
        .await;
    let ticket_id = ticket["id"].as_i64().unwrap();
    // Text from customers is shown as text, never run as markup.
    let evil = "<img src=x onerror=document.body.dataset.pwned=1>Refund?";
    t.post(
        "/api/tickets",
        &t.admin_token,
        json!({"subject": evil, "customer_id": cid, "assignee_id": agent_id}),
    )
    .await;
    let c = &b.client;
    let app = &t;
    scenario("browser_login_lookup_reply", &b, || async move {
        sign_in(app, c, "ana", "password-123").await;
        wait_text(c, "#ticket-table", evil).await;
        let pwned = c
            .execute("return document.body.dataset.pwned || null", vec![])
            .await
            .unwrap();
        assert_eq!(pwned, Value::Null, "markup from a ticket subject ran");
        // The agent's own tickets, with the new one marked unread.
        wait_text(
            c,
            "#ticket-table tr.unread",
            "Invoice shows the wrong amount",
        )
        .await;

        // Presence switch is always there; going available works (REST or /ws when present).
        find(c, "#presence")
            .await
            .select_by_value("available")
            .await
            .unwrap();

        // Customer lookup by phone as typed on a keypad, then the 360 with history.
        type_into(c, "#global-search", "138 0013 8000\n").await;
        wait_text(c, "#customer-name", "王芳").await;
        wait_text(c, "#match-quality", "Known").await;
        wait_text(c, "#history", "50 yuan too high").await;
        wait_text(c, "#open-tickets", "Invoice shows the wrong amount").await;

        // Open the ticket from the 360 and reply by email.
        click(
            c,
            &format!("#open-tickets a[href=\"#/ticket/{ticket_id}\"]"),
        )
        .await;
        wait_text(c, "#ticket-subject", "Invoice shows the wrong amount").await;
        // The knowledge panel answers (results, or "not available" without the KB) without breaking.
        type_into(c, "#kb-q", "invoice").await;
        eventually("the knowledge panel answers", || async move {
            let s = c.find(Locator::Css("#kb-status")).await.ok()?;
            let text = s.text().await.ok()?;
            (!text.is_empty()).then_some(text)
        })
        .await;
        type_into(
            c,
            "#composer-text",
            "Dear Ms Wang, we corrected the invoice.",
        )
        .await;
        click(c, "#send").await;
        wait_text(c, "#thread .msg.out", "we corrected the invoice").await;
    })
    .await;

    let row = sqlx::query(
        "SELECT channel, recipient, payload FROM outbox WHERE ticket_id = $1 AND channel = 'email'",
    )
    .bind(ticket_id)
    .fetch_one(&t.state.db.pool)
    .await
    .expect("the reply reached the outbox");
    assert_eq!(row.get::<String, _>("recipient"), "wang.fang@example.cn");
    let payload: Value = serde_json::from_str(&row.get::<String, _>("payload")).unwrap();
    assert!(
        payload["body"]
            .as_str()
            .unwrap()
            .contains("corrected the invoice")
    );
}

#[tokio::test]
async fn browser_portal_complaint() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn_with(|c| c.portal_form_min_age_ms = 1500).await;
    let c = &b.client;
    let mut number = String::new();
    let app = &t;
    let out = &mut number;
    scenario("browser_portal_complaint", &b, || async move {
        c.goto(&app.url("/portal.html")).await.unwrap();
        find(c, "#complaint-form").await;
        // The honeypot is out of sight and out of the tab order.
        let hp = find(c, "#p-website").await;
        assert!(!hp.is_displayed().await.unwrap_or(true));
        type_into(c, "#p-name", "Li Lei").await;
        type_into(c, "#p-email", "li.lei@example.com").await;
        type_into(c, "#p-description", "My parcel arrived broken.").await;
        click(c, "#p-submit").await;
        *out = wait_text(c, "#ticket-number", "#").await;
        let number = out.clone();

        // Then the status look-up with the number and the contact: the status only.
        click(c, "#tab-status").await;
        type_into(c, "#s-number", number.trim_start_matches('#')).await;
        type_into(c, "#s-contact", "LI.LEI@example.com\n").await;
        wait_text(c, "#status-only", "link").await;
        // A wrong contact learns nothing.
        type_into(c, "#s-contact", "someone@else.com\n").await;
        wait_text(c, "#status-error", "No ticket").await;
        // The acknowledgement's link opens the conversation.
        let n: i64 = number.trim_start_matches('#').parse().unwrap();
        c.goto(&status_link(app, n).await).await.unwrap();
        wait_text(c, "#status-result", "My parcel arrived broken").await;
    })
    .await;
    let n: i64 = number.trim().trim_start_matches('#').parse().unwrap();
    let (_, view) = t.get(&format!("/api/tickets/{n}"), &t.admin_token).await;
    assert_eq!(view["ticket"]["kind"], "complaint");
    assert_eq!(view["ticket"]["channel"], "web");
    let queued: i64 = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE ticket_id = $1")
        .bind(n)
        .fetch_one(&t.state.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(queued, 1, "the acknowledgement is queued");
}

/// The status link of the portal acknowledgement queued for ticket `n`.
pub async fn status_link(t: &TestApp, n: i64) -> String {
    let payload: String = sqlx::query("SELECT payload FROM outbox WHERE ticket_id = $1")
        .bind(n)
        .fetch_one(&t.state.db.pool)
        .await
        .unwrap()
        .get("payload");
    let payload: Value = serde_json::from_str(&payload).unwrap();
    let body = payload["body"].as_str().unwrap();
    let at = body
        .find("/portal.html#")
        .expect("a link in the acknowledgement");
    // The link starts with HOTLINE_PUBLIC_URL (here the listen address, port 0): keep its path.
    t.url(body[at..].split_whitespace().next().unwrap())
}

fn catalog(name: &str) -> serde_json::Map<String, Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("web/i18n")
        .join(name);
    match serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap() {
        Value::Object(m) => m,
        _ => panic!("{name} is not an object"),
    }
}

/// Every English key has a Chinese message and back, and every literal `t('key')` in the web
/// code exists in the catalog (dynamic keys like `t('status.' + s)` are checked by prefix).
#[test]
fn i18n_catalogs_match_and_cover_the_code() {
    let en = catalog("en.json");
    let zh = catalog("zh-CN.json");
    let missing_zh: Vec<_> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
    let missing_en: Vec<_> = zh.keys().filter(|k| !en.contains_key(*k)).collect();
    assert!(
        missing_zh.is_empty(),
        "missing in zh-CN.json: {missing_zh:?}"
    );
    assert!(missing_en.is_empty(), "missing in en.json: {missing_en:?}");
    for (k, v) in &en {
        let placeholders = |s: &str| {
            let mut p: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|x| x.split_once('}').map(|(n, _)| n.to_string()))
                .collect();
            p.sort();
            p
        };
        assert_eq!(
            placeholders(v.as_str().unwrap()),
            placeholders(zh[k].as_str().unwrap()),
            "placeholders differ for {k}"
        );
    }

    let mut files = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("web")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "js") {
                files.push(p);
            }
        }
    }
    let mut unknown = Vec::new();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        for (i, _) in src.match_indices("t('") {
            let before = src[..i].chars().last();
            if before.is_some_and(|ch| ch.is_alphanumeric() || ch == '_' || ch == '.') {
                continue;
            }
            let rest = &src[i + 3..];
            let Some(end) = rest.find('\'') else { continue };
            let key = &rest[..end];
            let known = if key.ends_with('.') {
                en.keys().any(|k| k.starts_with(key))
            } else {
                en.contains_key(key)
            };
            if !known {
                unknown.push(format!("{}: {key}", f.display()));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "keys used but not in en.json: {unknown:#?}"
    );
}

/// The wallboard on the foundation alone (waiting counted from open tickets): the count moves
/// when a ticket arrives, and a supervisor hands all of a leaving agent's work to a colleague.
#[tokio::test]
async fn browser_wallboard_waiting_and_handover() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    t.user("sue", "supervisor").await;
    let (ana, _) = t.user("ana", "agent").await;
    let (bob, _) = t.user("bob", "agent").await;
    let general = t.queue("General").await;
    let (_, mine) = t
        .post(
            "/api/tickets",
            &t.admin_token,
            json!({"subject": "Ana's open case", "queue_id": general, "assignee_id": ana}),
        )
        .await;
    let c = &b.client;
    let app = &t;
    let waiting = format!("[data-waiting=\"{general}\"]");
    let waiting = waiting.as_str();
    scenario("browser_wallboard", &b, || async move {
        sign_in(app, c, "sue", "password-123").await;
        c.goto(&app.url("/wallboard.html")).await.unwrap();
        wait_text(c, waiting, "0").await;
        let (_, waiting_ticket) = app
            .post(
                "/api/tickets",
                &app.admin_token,
                json!({"subject": "Caller waiting", "queue_id": general}),
            )
            .await;
        wait_text(c, waiting, "1").await;

        // Reassign the waiting ticket to Ana: the count goes back to zero.
        let number = waiting_ticket["id"].as_i64().unwrap().to_string();
        type_into(c, "#reassign input[name=ticket]", &number).await;
        find(c, "#reassign select[name=to]")
            .await
            .select_by_value(&ana.to_string())
            .await
            .unwrap();
        click(c, "#reassign button[type=submit]").await;
        wait_text(c, ".toast", &format!("#{number}")).await;
        wait_text(c, waiting, "0").await;

        find(c, "#handover select[name=from]")
            .await
            .select_by_value(&ana.to_string())
            .await
            .unwrap();
        find(c, "#handover select[name=to]")
            .await
            .select_by_value(&bob.to_string())
            .await
            .unwrap();
        click(c, "#handover button[type=submit]").await;
        eventually("the confirmation is accepted", || async move {
            c.accept_alert().await.ok()
        })
        .await;
        wait_text(c, ".toast", "2 tickets").await;
    })
    .await;
    let (_, ticket) = t
        .get(&format!("/api/tickets/{}", mine["id"]), &t.admin_token)
        .await;
    assert_eq!(ticket["ticket"]["assignee_id"], bob);
    let (_, audit) = t.get("/api/audit", &t.admin_token).await;
    assert!(audit.to_string().contains("user.handover"), "{audit}");
}

/// The admin's phone settings in the console: a number blocked there is rejected at the CTI
/// webhook and unblocked again; a caller-id rule and a dialled number's menu are saved; a number
/// that is no phone number is refused with the field named.
#[tokio::test]
async fn browser_admin_phone_settings() {
    let Some(b) = browser().await else { return };
    let t =
        TestApp::spawn_with(|c| c.cti_token = hotline::config::Secret("cti-secret".into())).await;
    let sales = t.queue("Sales").await;
    let c = &b.client;
    let app = &t;
    let cti = |from: &'static str| async move {
        let body = json!({"event": "newCall", "from": from, "to": "4008001234",
            "direction": "in", "callId": format!("b-{}", rand::random::<u32>())});
        let (_, v) = app
            .call(
                reqwest::Method::POST,
                "/api/v1/cti/cti-secret",
                None,
                Some(body),
            )
            .await;
        v
    };
    scenario("browser_admin_phone", &b, || async move {
        sign_in(app, c, "admin", crate::support::ADMIN_PASSWORD).await;
        click(c, "a[href='#/admin/phone']").await;
        find(c, "#block-form").await;

        type_into(c, "#block-number", "call me maybe").await;
        click(c, "#block-form button[type=submit]").await;
        wait_text(c, ".toast.error", "Number").await;

        type_into(c, "#block-number", "+86 138 0013 8099").await;
        type_into(c, "#block-reason", "abusive caller").await;
        click(c, "#block-form button[type=submit]").await;
        wait_text(c, "#blocked-list", "+8613800138099").await;
        assert_eq!(cti("+8613800138099").await["action"], "reject");

        click(c, "#blocked-list [data-unblock]").await;
        wait_text(c, "hl-phone-settings", "No number is blocked").await;
        assert_ne!(cti("+8613800138099").await["action"], "reject");

        type_into(c, "#rule-prefix", "+86").await;
        type_into(c, "#rule-caller-id", "+86 21 5000 1234").await;
        click(c, "#rule-form button[type=submit]").await;
        wait_text(c, "#rule-list", "+862150001234").await;

        type_into(c, "#number-number", "+86 21 5000 1234").await;
        type_into(c, "#number-language", "zh-CN").await;
        type_into(c, "#number-greeting", "您好，欢迎致电").await;
        click(c, "#menu-add").await;
        type_into(c, "#menu-rows [name=digit]", "1").await;
        type_into(c, "#menu-rows [name=label]", "销售").await;
        find(c, "#menu-rows [name=choice_queue]")
            .await
            .select_by_value(&sales.to_string())
            .await
            .unwrap();
        click(c, "#number-form button[type=submit]").await;
        wait_text(c, "#number-list", "1 → Sales").await;
    })
    .await;
    let (_, numbers) = t.get("/api/voice/numbers", &t.admin_token).await;
    assert_eq!(numbers[0]["menu"][0]["queue_id"], sales, "{numbers}");
    assert_eq!(numbers[0]["greeting"], "您好，欢迎致电");
    let (_, rules) = t.get("/api/voice/caller-id-rules", &t.admin_token).await;
    assert_eq!(rules[0]["caller_id"], "+862150001234");
    let audit = sqlx::query("SELECT action FROM audit_log ORDER BY id")
        .fetch_all(&t.state.db.pool)
        .await
        .unwrap();
    let actions: Vec<String> = audit.iter().map(|r| r.get("action")).collect();
    for a in [
        "voice.block",
        "voice.unblock",
        "voice.caller_id_rule",
        "voice.number",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
}

/// Attachments open from the console (an email's and a portal upload's), an HTML mail shows its
/// inline photo but calls no remote server until "load images", and its title stays out.
#[tokio::test]
async fn browser_attachments_open_and_remote_images_wait() {
    use crate::email_attachments::{PIXEL_PNG, html_mail};
    use crate::email_support::{deliver, queued_id, smtp_addr, spawn_mail, wait_processed};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let Some(b) = browser().await else { return };
    let t = spawn_mail(|_| {}).await;
    t.user("sue", "supervisor").await;
    // The "remote" image server: counts every request a page makes to it.
    let tracker = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tracker_url = format!("http://{}/open.gif", tracker.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = tracker.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                .await;
        }
    });
    let r = deliver(
        smtp_addr(&t),
        "wang.fang@example.cn",
        "support@localhost",
        &html_mail("browser-html@example.cn", &tracker_url),
    )
    .await;
    let (_, mail_ticket, mail_id) = wait_processed(&t, queued_id(&r)).await;
    let (mail_ticket, mail_id) = (mail_ticket.unwrap(), mail_id.unwrap());

    let secret = hotline::channels::web::form_secret(&t.state.db)
        .await
        .unwrap();
    let token = hotline::channels::web::sign_form_token(&secret, hotline::db::now_ms() - 10_000);
    let (status, receipt) = t
        .call(
            reqwest::Method::POST,
            "/api/portal/complaints",
            None,
            Some(json!({"name": "Li Lei", "email": "li.lei@example.com", "form_token": token,
                "description": "The bill is wrong, photo attached.",
                "attachments": [{"name": "账单.png", "content_type": "image/png", "data": PIXEL_PNG}]})),
        )
        .await;
    assert_eq!(status, 201, "{receipt}");
    let portal_ticket = receipt["ticket_number"].as_i64().unwrap();

    let c = &b.client;
    let app = &t;
    let hits_seen = hits.clone();
    scenario("browser_attachments_open_and_remote_images_wait", &b, || async move {
        // Opens the link the console shows for an attachment, with the console's session.
        let open = |name: &'static str| async move {
            let link = wait_text(c, "a[data-attachment]", name).await;
            assert!(link.contains(name));
            let got = c
                .execute(
                    "const a = [...document.querySelectorAll('a[data-attachment]')]
                       .find((a) => a.textContent.includes(arguments[0]));
                     return fetch(a.href).then(async (r) => ({status: r.status,
                       type: r.headers.get('content-type'),
                       disposition: r.headers.get('content-disposition'),
                       size: (await r.arrayBuffer()).byteLength, download: a.download}));",
                    vec![json!(name)],
                )
                .await
                .unwrap();
            assert_eq!(got["status"], 200, "{got}");
            assert_eq!(got["download"], name);
            got
        };
        sign_in(app, c, "sue", "password-123").await;
        c.goto(&app.url(&format!("/#/ticket/{mail_ticket}"))).await.unwrap();
        let pdf = open("报价单.pdf").await;
        assert_eq!(pdf["type"], "application/pdf");
        assert!(
            pdf["disposition"].as_str().unwrap().contains("filename*=UTF-8''%E6%8A%A5"),
            "{pdf}"
        );
        let photo = open("photo.png").await;
        assert_eq!(photo["type"], "image/png");

        // The formatted mail: the inline photo displays, the pixel is not requested.
        click(c, &format!("[data-html=\"{mail_id}\"]")).await;
        let frame_state = "const d = document.querySelector('.msg iframe').contentDocument;
            const photo = d && d.querySelector('img[alt=photo]');
            if (!photo || !photo.complete) return null;
            return {photo: photo.naturalWidth, pixel_src: d.querySelector('img[alt=pixel]').getAttribute('src'),
                    text: d.body.textContent};";
        let shown = eventually("the formatted mail shows its photo", || async move {
            let v = c.execute(frame_state, vec![]).await.ok()?;
            (v["photo"].as_i64() == Some(1)).then_some(v)
        })
        .await;
        assert_eq!(shown["pixel_src"], Value::Null, "{shown}");
        assert!(shown["text"].as_str().unwrap().contains("My router is broken"));
        assert!(!shown["text"].as_str().unwrap().contains("Campaign"), "{shown}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(hits_seen.load(Ordering::SeqCst), 0, "a remote image was requested");

        // "Load images" for this message: now the remote image is requested.
        click(c, &format!("[data-load-images=\"{mail_id}\"]")).await;
        let hits_seen = &hits_seen;
        eventually("the remote image is loaded", || async move {
            (hits_seen.load(Ordering::SeqCst) > 0).then_some(())
        })
        .await;

        // The portal upload opens from its ticket too.
        c.goto(&app.url(&format!("/#/ticket/{portal_ticket}"))).await.unwrap();
        let bill = open("账单.png").await;
        assert_eq!(bill["type"], "image/png");
        assert_eq!(bill["size"], 70);
    })
    .await;
}

/// A console whose session ends elsewhere (here: an admin deactivates the agent) shows the
/// sign-in form instead of retrying a socket the server refuses (close code 4001).
#[tokio::test]
async fn browser_console_returns_to_sign_in_when_its_session_ends() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    let (agent, _) = t.user("wen", "agent").await;
    let c = &b.client;
    let app = &t;
    scenario("browser_session_ended", &b, || async move {
        sign_in(app, c, "wen", "password-123").await;
        let (s, v) = app
            .patch(
                &format!("/api/users/{agent}"),
                &app.admin_token,
                json!({"active": false}),
            )
            .await;
        assert_eq!(s, reqwest::StatusCode::OK, "{v}");
        find(c, "hl-signin #login").await;
        assert!(
            c.find(Locator::Css("hl-presence select")).await.is_err(),
            "the console is gone"
        );
    })
    .await;
}

/// After an admin resets an agent's password, the agent signs in with the one-time password,
/// is asked for their own (a weak one is refused with the server's reason), and then works.
#[tokio::test]
async fn browser_a_reset_password_is_replaced_at_sign_in() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    let (agent, _) = t.user("lin", "agent").await;
    let (s, v) = t
        .patch(
            &format!("/api/users/{agent}"),
            &t.admin_token,
            json!({"password": "Temporary-Lantern-71"}),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{v}");
    let c = &b.client;
    let app = &t;
    scenario("browser_reset_password", &b, || async move {
        c.goto(&app.url("/")).await.unwrap();
        type_into(c, "#login", "lin").await;
        type_into(c, "#password", "Temporary-Lantern-71").await;
        click(c, "#signin-submit").await;
        type_into(c, "#new-password", "password").await;
        type_into(c, "#repeat-password", "password").await;
        click(c, "#change-submit").await;
        wait_text(c, "#change-error", "too easy to guess").await;
        type_into(c, "#new-password", "Harbor-Quietly-Sings-93").await;
        type_into(c, "#repeat-password", "Harbor-Quietly-Sings-93").await;
        click(c, "#change-submit").await;
        find(c, "hl-presence select").await;
        let token = app.login("lin", "Harbor-Quietly-Sings-93").await;
        let (_, me) = app.get("/api/auth/me", &token).await;
        assert_eq!(me["must_change_password"], false, "{me}");
    })
    .await;
}
