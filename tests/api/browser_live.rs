//! The live console in real Chromium, across the realtime, voice and knowledge parts: a CTI
//! newCall for a known customer pops their history on the agent's screen at once, the agent
//! accepts the offer, searches the knowledge base and replies by email; a supervisor's
//! wallboard shows the waiting count change. Needs /ws, the CTI webhook, routing and the KB
//! (wired into tests/api/main.rs once those branches are merged).

use crate::browser::{browser, click, eventually, find, scenario, sign_in, type_into, wait_text};
use crate::support::TestApp;
use fantoccini::Locator;
use hotline::config::Secret;
use serde_json::json;
use sqlx::Row;
use std::time::Duration;

const CTI: &str = "cti-test-token";

async fn cti(t: &TestApp, body: serde_json::Value) {
    let res = t
        .http
        .post(t.url(&format!("/api/v1/cti/{CTI}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "cti: {}", res.status());
}

#[tokio::test]
async fn browser_screen_pop_and_wallboard() {
    let Some(agent_browser) = browser().await else {
        return;
    };
    let Some(super_browser) = browser().await else {
        return;
    };
    let t = TestApp::spawn_with(|c| c.cti_token = Secret(CTI.into())).await;
    let (ana, _) = t.user("ana", "agent").await;
    t.user("sue", "supervisor").await;
    let general = t.queue("General").await;
    let (s, b) = t
        .call(
            reqwest::Method::PUT,
            &format!("/api/queues/{general}/members"),
            Some(&t.admin_token),
            Some(json!({"user_ids": [ana]})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let cid = t
        .customer(
            "王芳",
            &[
                ("phone", "+8613800138000"),
                ("email", "wang.fang@example.cn"),
            ],
        )
        .await;
    t.post(
        "/api/tickets",
        &t.admin_token,
        json!({"subject": "Earlier: roaming charges", "customer_id": cid, "channel": "email",
               "body": "Asked about roaming charges in Japan last month."}),
    )
    .await;
    let (s, b) = t
        .post(
            "/api/kb/articles",
            &t.admin_token,
            json!({"slug": "invoice-correction", "lang": "en", "category": "billing",
                   "title": "Correcting a wrong invoice", "audience": "public",
                   "body": "When an invoice amount is wrong, we issue a **credit note** within 3 days.\n\n| step | when |\n|---|---|\n| credit note | 3 days |\n\n## Internal\n\nRaise the correction in the billing console."}),
        )
        .await;
    assert!(s.is_success(), "{b}");

    // The supervisor's wallboard first, to see the count change later.
    let sc = &super_browser.client;
    let app = &t;
    let mut before = 0i64;
    let before_out = &mut before;
    scenario("wallboard_open", &super_browser, || async move {
        sign_in(app, sc, "sue", "password-123").await;
        sc.goto(&app.url("/wallboard.html")).await.unwrap();
        let text = wait_text(sc, "[data-waiting=\"all\"]", "").await;
        *before_out = text.trim().parse().unwrap();
    })
    .await;

    let c = &agent_browser.client;
    scenario("browser_screen_pop", &agent_browser, || async move {
        sign_in(app, c, "ana", "password-123").await;
        find(c, "#presence")
            .await
            .select_by_value("available")
            .await
            .unwrap();
        // Wait until the server has the agent available (routing offers only to available agents).
        eventually("ana is available", || async move {
            let (_, p) = app.get("/api/presence", &app.admin_token).await;
            p.to_string().contains("available").then_some(())
        })
        .await;
        cti(
            app,
            json!({"event": "newCall", "from": "138 0013 8000", "to": "4001", "direction": "in",
                   "callId": "call-1", "user": "ana", "queue": "General"}),
        )
        .await;
        wait_text(c, "#screen-pop", "+8613800138000").await;
        wait_text(c, "#customer-name", "王芳").await;
        wait_text(c, "#history", "roaming charges").await;

        // The call rings as an offer; accepting opens its ticket.
        click(c, ".offer [data-accept]").await;
        find(c, "#ticket-subject").await;
        type_into(c, "#kb-q", "invoice").await;
        wait_text(c, "hl-kb-panel .kb-hit", "Correcting a wrong invoice").await;
        // Opened, the article shows rendered Markdown (a table, bold), never its marks, and
        // its internal section apart.
        c.execute(
            "for (const h of document.querySelectorAll('hl-kb-panel .kb-hit')) \
               if (h.querySelector('h4').textContent.includes(arguments[0])) h.querySelector('[data-open]').click();",
            vec![json!("Correcting a wrong invoice")],
        )
        .await
        .unwrap();
        wait_text(c, "hl-kb-panel .kb-article .kb-internal", "billing console").await;
        let shown = find(c, "hl-kb-panel .kb-article .kb-answer")
            .await
            .text()
            .await
            .unwrap();
        assert!(shown.contains("credit note"), "{shown}");
        for raw in ["**", "|", "##"] {
            assert!(!shown.contains(raw), "{raw:?} shown in {shown}");
        }
        find(c, "hl-kb-panel .kb-article .kb-answer table").await;
        c.execute(
            "for (const h of document.querySelectorAll('hl-kb-panel .kb-hit')) \
               if (h.querySelector('h4').textContent.includes(arguments[0])) h.querySelector('[data-insert]').click();",
            vec![json!("Correcting a wrong invoice")],
        )
        .await
        .unwrap();
        eventually("the article is in the reply", || async move {
            let v = c
                .find(Locator::Css("#composer-text"))
                .await
                .ok()?
                .prop("value")
                .await
                .ok()??;
            // The customer-facing answer only: no title, no internal section.
            (v.contains("credit note")
                && !v.contains("billing console")
                && !v.contains("##")
                && !v.contains("**"))
                .then_some(())
        })
        .await;
        find(c, "#reply-channel")
            .await
            .select_by_value("email")
            .await
            .unwrap();
        click(c, "#send").await;
        wait_text(c, "#thread .msg.out", "credit note").await;
    })
    .await;
    let row = sqlx::query("SELECT recipient FROM outbox WHERE channel = 'email' ORDER BY id DESC")
        .fetch_one(&t.state.db.pool)
        .await
        .expect("reply in the outbox");
    assert_eq!(row.get::<String, _>("recipient"), "wang.fang@example.cn");

    // A second caller waits in General: the wallboard's count moves without a reload.
    cti(
        &t,
        json!({"event": "newCall", "from": "+8613900139000", "to": "4001", "direction": "in",
               "callId": "call-2", "queue": "General"}),
    )
    .await;
    scenario("wallboard_update", &super_browser, || async move {
        eventually("the waiting count changes", || async move {
            let el = sc.find(Locator::Css("[data-waiting=\"all\"]")).await.ok()?;
            let n: i64 = el.text().await.ok()?.trim().parse().ok()?;
            (n != before).then_some(())
        })
        .await;
    })
    .await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}
