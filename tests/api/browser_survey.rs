//! The satisfaction survey page in real Chromium on a phone-sized window: a Chinese customer's
//! link opens in Chinese (switchable to English), the customer answers 2 with a comment that
//! holds markup, the supervisor's follow-up work appears and the console's ticket view shows the
//! score and the comment as text; forged, reused and expired links show a clear page.
//! Screens: target/browser-artifacts/screens/survey-*.png.

use crate::browser::{browser, click, eventually, find, scenario, sign_in, type_into, wait_text};
use crate::browser_layout::screenshot;
use crate::support::TestApp;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use sqlx::Row;
use std::time::Duration;

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// A phone's viewport (390×844 CSS pixels).
async fn phone(c: &Client) {
    c.set_window_size(390, 844).await.unwrap();
    let inner = js(c, "return [innerWidth, innerHeight]").await;
    let (iw, ih) = (
        inner[0].as_u64().unwrap() as u32,
        inner[1].as_u64().unwrap() as u32,
    );
    if (iw, ih) != (390, 844) {
        c.set_window_size(390 + (390 - iw.min(390)), 844 + (844 - ih.min(844)))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn resolved_with_survey(t: &TestApp, q: i64, name: &str, email: &str) -> (i64, String) {
    let c = t.customer(name, &[("email", email)]).await;
    let (s, b) = t
        .patch(
            &format!("/api/customers/{c}"),
            &t.admin_token,
            json!({"language": "zh-CN"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, v) = t
        .post(
            "/api/tickets",
            &t.admin_token,
            json!({"subject": "洗衣机漏水", "channel": "email", "queue_id": q, "customer_id": c}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (s, b) = t
        .patch(
            &format!("/api/tickets/{id}"),
            &t.admin_token,
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    hotline::surveys::send_due(&hotline::surveys::Sender {
        db: &t.state.db,
        clock: &t.state.clock,
        config: &t.state.config,
    })
    .await
    .unwrap();
    let payload: String = sqlx::query(
        "SELECT payload FROM outbox WHERE ticket_id = $1 AND payload LIKE '%/survey/%'",
    )
    .bind(id)
    .fetch_one(&t.state.db.pool)
    .await
    .unwrap()
    .try_get("payload")
    .unwrap();
    let body: Value = serde_json::from_str(&payload).unwrap();
    let text = body["body"].as_str().unwrap();
    let at = text.find("/survey/").unwrap() + "/survey/".len();
    let token: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (id, token)
}

#[tokio::test]
async fn browser_survey_on_a_phone_in_chinese_and_english() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    let q = t.queue("投诉 Complaints").await;
    let (sup, _) = t.user("sup", "supervisor").await;
    let (s, v) = t
        .call(
            reqwest::Method::PUT,
            &format!("/api/queues/{q}/members"),
            Some(&t.admin_token),
            Some(json!({"user_ids": [sup]})),
        )
        .await;
    assert!(s.is_success(), "{v}");
    let (s, v) = t
        .call(
            reqwest::Method::PUT,
            &format!("/api/queues/{q}/survey"),
            Some(&t.admin_token),
            Some(json!({"enabled": true, "delay_minutes": 0, "keypad": false})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (ticket, token) = resolved_with_survey(&t, q, "王芳", "wang@example.cn").await;
    let (_, old_token) = resolved_with_survey(&t, q, "李雷", "li@example.cn").await;
    let c = &b.client;
    scenario("survey", &b, || async {
        phone(c).await;
        c.goto(&t.url(&format!("/survey/{token}"))).await.unwrap();
        wait_text(c, "legend", &format!("您对我们处理工单 #{ticket}")).await;
        let fits = js(
            c,
            "return document.documentElement.scrollWidth <= innerWidth",
        )
        .await;
        assert_eq!(fits, json!(true), "the page fits a phone's width");
        let buttons = c
            .find_all(Locator::Css(".survey-score"))
            .await
            .unwrap()
            .len();
        assert_eq!(buttons, 5);
        screenshot(c, "survey-zh").await;

        // Switch to English.
        find(c, "#survey-locale").await;
        js(
            c,
            "const s = document.querySelector('#survey-locale'); s.value = 'en'; \
             s.dispatchEvent(new Event('change'))",
        )
        .await;
        wait_text(
            c,
            "legend",
            &format!("How satisfied are you with how we handled request #{ticket}"),
        )
        .await;
        screenshot(c, "survey-en").await;

        // Score 2 with a comment that holds markup.
        click(c, ".survey-score[data-score='2']").await;
        find(c, ".survey-score[data-score='2'][aria-checked='true']").await;
        let comment = "<b>Nobody</b> called back & <img src=x onerror=alert(1)>";
        type_into(c, "#survey-comment", comment).await;
        click(c, "#survey-send").await;
        wait_text(
            c,
            "#survey-state[data-state='answered']",
            "Thank you for your answer",
        )
        .await;
        screenshot(c, "survey-thanks-en").await;

        // The supervisor's follow-up is there; the ticket shows the score and the comment.
        let v = {
            let (_, v) = t
                .get(&format!("/api/tickets/{ticket}"), &t.admin_token)
                .await;
            v
        };
        assert_eq!(v["survey"]["score"], 2, "{v}");
        assert_eq!(v["survey"]["comment"], comment);
        let follow_up = v["survey"]["follow_up_ticket_id"]
            .as_i64()
            .expect("follow-up");
        let (_, f) = t
            .get(&format!("/api/tickets/{follow_up}"), &t.admin_token)
            .await;
        assert_eq!(f["ticket"]["assignee_id"], sup, "{f}");

        // Reused: the page says so and records nothing new.
        c.refresh().await.unwrap();
        wait_text(
            c,
            "#survey-state[data-state='answered']",
            "already been answered",
        )
        .await;

        // Forged: a clear page.
        c.goto(&t.url("/survey/not-a-real-token-000"))
            .await
            .unwrap();
        wait_text(c, "#survey-state[data-state='invalid']", "not valid").await;
        screenshot(c, "survey-invalid-en").await;

        // Expired (after the link's 14 days).
        t.state.clock.advance(15 * 86_400_000);
        c.goto(&t.url(&format!("/survey/{old_token}")))
            .await
            .unwrap();
        wait_text(c, "#survey-state[data-state='expired']", "已过期").await;
        screenshot(c, "survey-expired-zh").await;

        // The console: the supervisor's ticket view shows the score and the comment as text.
        c.set_window_size(1280, 800).await.unwrap();
        sign_in(&t, c, "sup", "password-123").await;
        c.goto(&t.url(&format!("/#/ticket/{ticket}")))
            .await
            .unwrap();
        wait_text(c, "#survey-score", "2/5").await;
        let shown = find(c, "#survey-comment").await.text().await.unwrap();
        assert_eq!(shown, comment);
        let injected = js(
            c,
            "return document.querySelectorAll('#survey-comment b, #survey-comment img').length",
        )
        .await;
        assert_eq!(injected, json!(0), "the comment is escaped");
        screenshot(c, "survey-ticket").await;
        // The customer's page: the recent score, and the survey opt-out the agent can set.
        let customer = v["ticket"]["customer_id"].as_i64().unwrap();
        c.goto(&t.url(&format!("/#/customer/{customer}")))
            .await
            .unwrap();
        wait_text(c, "#recent-scores li[data-score='2']", "2/5").await;
        click(c, "#survey-opt-toggle").await;
        eventually("the opt-out stored", || async {
            let (_, cv) = t
                .get(&format!("/api/customers/{customer}"), &t.admin_token)
                .await;
            (cv["surveys_opted_out"] == true).then_some(())
        })
        .await;
        screenshot(c, "survey-customer").await;
        eventually(
            "the follow-up in the supervisor's notifications",
            || async {
                let (_, n) = t
                    .get("/api/notifications", &t.login("sup", "password-123").await)
                    .await;
                (n["items"][0]["kind"] == "survey_low").then_some(())
            },
        )
        .await;
    })
    .await;
}
