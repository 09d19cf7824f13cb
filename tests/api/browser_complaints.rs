//! The complaint loop in real Chromium, as a center works it: a customer complains on the
//! portal in Chinese (category, order, what they want, the severity questions); the agent
//! works it in the console's complaint panel (acknowledge, investigate, respond), records the
//! confirmation call (not satisfied without a note is refused; with one it reopens; then
//! satisfied closes it); a reminder reaches the agent's bell; the customer's survey answer of
//! 2 reopens the complaint; the supervisor finds it in the register (filters, counts, CSV
//! link) and an admin adds a category there. Nothing shown is raw markup or an i18n key.
//! Screens: target/browser-artifacts/screens/complaint-*.png.

use crate::browser::{browser, click, eventually, find, scenario, sign_in, type_into, wait_text};
use crate::browser_layout::screenshot;
use crate::support::TestApp;
use fantoccini::Client;
use serde_json::{Value, json};
use sqlx::Row;

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// No raw i18n key (`complaint.xyz`) or template placeholder on the page.
async fn no_raw_keys(c: &Client) {
    let text = js(c, "return document.body.innerText").await;
    let text = text.as_str().unwrap_or_default();
    for bad in ["{step}", "{ticket}", "undefined"] {
        assert!(!text.contains(bad), "raw `{bad}` on the page:\n{text}");
    }
    // An i18n key shown instead of its words: `complaint.status.x`, `portal.q_safety`, …
    for word in text.split(|c: char| c.is_whitespace() || "()·,:“”".contains(c)) {
        let key = ["complaint.", "complaints.", "portal.", "notify."]
            .iter()
            .any(|p| word.starts_with(p) && word.len() > p.len());
        assert!(!key, "raw i18n key `{word}` on the page:\n{text}");
    }
}

#[tokio::test]
async fn browser_complaint_loop_from_portal_to_register() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn_with(|c| c.portal_form_min_age_ms = 1000).await;
    let (s, queues) = t.get("/api/queues", &t.admin_token).await;
    assert_eq!(s, 200, "{queues}");
    let q = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["is_default"] == true)
        .expect("a default queue")["id"]
        .as_i64()
        .unwrap();
    let (agent, _) = t.user("agent", "agent").await;
    let (sup, _) = t.user("sup", "supervisor").await;
    let (s, v) = t
        .call(
            reqwest::Method::PUT,
            &format!("/api/queues/{q}/members"),
            Some(&t.admin_token),
            Some(json!({"user_ids": [agent, sup]})),
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
    let c = &b.client;
    let app = &t;
    scenario("complaint-loop", &b, || async move {
        // The customer, on the portal in Chinese.
        c.goto(&app.url("/portal.html")).await.unwrap();
        find(c, "#complaint-form").await;
        js(
            c,
            "const s = document.querySelector('#portal-locale'); s.value = 'zh-CN'; \
             s.dispatchEvent(new Event('change'))",
        )
        .await;
        wait_text(c, "#p-complaint legend", "投诉信息").await;
        js(
            c,
            "const s = document.querySelector('#p-category'); \
             s.value = [...s.options].find((o) => o.text === '物流配送').value;",
        )
        .await;
        type_into(c, "#p-order", "SF1234567890").await;
        type_into(c, "#p-desired", "退款 <b>全额</b>").await;
        click(c, "#p-money").await;
        type_into(c, "#p-name", "王芳").await;
        type_into(c, "#p-email", "wang.fang@example.cn").await;
        type_into(c, "#p-subject", "快递丢件").await;
        type_into(
            c,
            "#p-description",
            "三天前下单的包裹显示已签收，但我没有收到。",
        )
        .await;
        screenshot(c, "complaint-portal-zh").await;
        no_raw_keys(c).await;
        click(c, "#p-submit").await;
        let number = wait_text(c, "#ticket-number", "#").await;
        let ticket: i64 = number.trim().trim_start_matches('#').parse().unwrap();
        let (_, cv) = app
            .get(
                &format!("/api/tickets/{ticket}/complaint"),
                &app.admin_token,
            )
            .await;
        assert_eq!(cv["category_code"], "delivery", "{cv}");
        assert_eq!(cv["severity"], 2, "money lost: severity 2");
        assert_eq!(cv["order_ref"], "SF1234567890");

        // The agent works it in the console.
        sign_in(app, c, "agent", "password-123").await;
        c.goto(&app.url(&format!("/#/ticket/{ticket}")))
            .await
            .unwrap();
        wait_text(c, "#complaint-status", "Received").await;
        let desired = find(c, "#complaint-outcome")
            .await
            .prop("value")
            .await
            .unwrap();
        assert_eq!(desired.as_deref(), Some("退款 <b>全额</b>"), "kept as text");
        let sev = find(c, "#complaint-severity")
            .await
            .prop("value")
            .await
            .unwrap();
        assert_eq!(sev.as_deref(), Some("2"));
        screenshot(c, "complaint-panel-received").await;
        click(c, "#complaint-actions [data-action='acknowledge']").await;
        wait_text(c, "#complaint-status", "Acknowledged").await;
        click(c, "#complaint-actions [data-action='investigate']").await;
        wait_text(c, "#complaint-status", "Investigating").await;
        type_into(c, "#complaint-note", "已联系快递公司，安排退款").await;
        click(c, "#complaint-actions [data-action='respond']").await;
        wait_text(c, "#complaint-status", "Responded").await;
        // The confirmation call: "not satisfied" needs a note.
        click(c, "#complaint-confirm [data-outcome='not_satisfied']").await;
        wait_text(c, "#toasts", "Write a note").await;
        type_into(c, "#complaint-confirm-note", "退款金额不对").await;
        click(c, "#complaint-confirm [data-outcome='not_satisfied']").await;
        wait_text(c, "#complaint-status", "Investigating").await;
        wait_text(c, "#complaint-h", "Round 2").await;
        click(c, "#complaint-actions [data-action='respond']").await;
        wait_text(c, "#complaint-status", "Responded").await;
        click(c, "#complaint-confirm [data-outcome='satisfied']").await;
        wait_text(c, "#complaint-status", "Closed").await;
        wait_text(c, "#complaint-confirmation", "Satisfied").await;
        click(c, "#complaint-timeline summary").await;
        wait_text(c, "#complaint-timeline", "not satisfied on the call").await;
        // The timeline notes read in English, with the reasons as words.
        wait_text(
            c,
            "#thread",
            "Complaint: Responded → Confirmed (satisfied on the call)",
        )
        .await;
        no_raw_keys(c).await;
        screenshot(c, "complaint-panel-closed").await;

        // A reminder reaches the bell: a second complaint, left unacknowledged past its due
        // time.
        let (s, t2) = app
            .post(
                "/api/tickets",
                &app.admin_token,
                json!({"subject": "Rude driver", "channel": "web", "queue_id": q,
                       "kind": "complaint", "assignee_id": agent}),
            )
            .await;
        assert_eq!(s, 201, "{t2}");
        app.state.clock.advance(5 * 3_600_000);
        hotline::complaints::remind_due(&hotline::complaints::Reminders {
            db: &app.state.db,
            clock: &app.state.clock,
        })
        .await
        .unwrap();
        wait_text(c, "hl-notifications", "1").await;
        click(c, "hl-notifications button").await;
        wait_text(
            c,
            "hl-notifications",
            &format!("Complaint #{}: acknowledgement overdue", t2["id"]),
        )
        .await;
        screenshot(c, "complaint-reminder").await;

        // The customer's survey: a 2 reopens the complaint.
        hotline::surveys::send_due(&hotline::surveys::Sender {
            db: &app.state.db,
            clock: &app.state.clock,
            config: &app.state.config,
        })
        .await
        .unwrap();
        let payload: String = sqlx::query(
            "SELECT payload FROM outbox WHERE ticket_id = $1 AND payload LIKE '%/survey/%'",
        )
        .bind(ticket)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .try_get("payload")
        .unwrap();
        let body: Value = serde_json::from_str(&payload).unwrap();
        let text = body["body"].as_str().unwrap();
        let at = text.find("/survey/").unwrap();
        let link: String = text[at..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        c.goto(&app.url(&link)).await.unwrap();
        click(c, ".survey-score[data-score='2']").await;
        type_into(c, "#survey-comment", "钱还没到账").await;
        click(c, "#survey-send").await;
        find(c, "#survey-state[data-state='answered']").await;
        eventually("the complaint reopened by the score", || async {
            let (_, cv) = app
                .get(
                    &format!("/api/tickets/{ticket}/complaint"),
                    &app.admin_token,
                )
                .await;
            (cv["status"] == "investigating").then_some(())
        })
        .await;

        // The supervisor's register.
        c.delete_all_cookies().await.unwrap();
        sign_in(app, c, "sup", "password-123").await;
        click(c, "#nav-complaints").await;
        wait_text(c, "#complaints-total", "2 complaints").await;
        wait_text(c, "#by-category tr[data-category='delivery']", "1").await;
        wait_text(c, "#by-severity tr[data-severity='2']", "1").await;
        wait_text(
            c,
            &format!("#complaint-rows tr[data-ticket='{ticket}']"),
            "快递丢件",
        )
        .await;
        screenshot(c, "complaint-register").await;
        click(c, "#complaints-overdue").await;
        wait_text(c, "#complaints-total", "1 complaints").await;
        wait_text(c, "#complaint-rows", "Rude driver").await;
        let csv = find(c, "#complaints-csv").await.attr("href").await.unwrap();
        assert!(csv.unwrap_or_default().contains("overdue=true"));
        no_raw_keys(c).await;
        screenshot(c, "complaint-register-overdue").await;

        // In Chinese.
        find(c, "#locale")
            .await
            .select_by_value("zh-CN")
            .await
            .unwrap();
        wait_text(c, "hl-complaints h1", "投诉登记簿").await;
        wait_text(c, "#by-category", "物流配送").await;
        no_raw_keys(c).await;
        screenshot(c, "complaint-register-zh").await;
    })
    .await;

    // An admin adds a category from the register's lists.
    scenario("complaint-admin", &b, || async move {
        c.delete_all_cookies().await.unwrap();
        sign_in(app, c, "admin", crate::support::ADMIN_PASSWORD).await;
        find(c, "#locale")
            .await
            .select_by_value("en")
            .await
            .unwrap();
        c.goto(&app.url("/#/complaints")).await.unwrap();
        click(c, "#complaint-admin summary").await;
        type_into(c, "#category-new [name='code']", "installation").await;
        type_into(c, "#category-new [name='name_zh']", "安装服务").await;
        type_into(c, "#category-new [name='name_en']", "Installation").await;
        click(c, "#category-new button").await;
        wait_text(c, "#category-rows", "installation").await;
        screenshot(c, "complaint-admin").await;

        // The knowledge base learns the customer's words: inserting an article into a reply
        // on the portal complaint proposes its question; the admin accepts it in the console.
        let (_, reg) = app
            .get("/api/complaints?category_id=0", &app.admin_token)
            .await;
        assert_eq!(reg["total"], 0);
        let (_, all) = app.get("/api/complaints", &app.admin_token).await;
        let ticket = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["subject"] == "快递丢件")
            .unwrap()["ticket_id"]
            .as_i64()
            .unwrap();
        let (_, hits) = app
            .get(
                "/api/kb/search?q=%E5%BF%AB%E9%80%92&lang=zh",
                &app.admin_token,
            )
            .await;
        let article = hits["hits"][0]["id"]
            .as_i64()
            .expect("an article about 快递");
        let (s, b) = app
            .post(
                &format!("/api/kb/articles/{article}/used"),
                &app.admin_token,
                json!({"ticket_id": ticket}),
            )
            .await;
        assert_eq!(s, 204, "{b}");
        c.goto(&app.url("/#/admin/kb-proposals")).await.unwrap();
        wait_text(c, "#kbp-rows", "#").await;
        let wording = find(c, "#kbp-rows input[data-wording]")
            .await
            .prop("value")
            .await
            .unwrap();
        assert_eq!(
            wording.as_deref(),
            Some("三天前下单的包裹显示已签收，但我没有收到。")
        );
        screenshot(c, "kb-proposals").await;
        click(c, "#kbp-rows [data-accept]").await;
        wait_text(c, "#kbp-empty", "Nothing here").await;
        let (_, a) = app
            .get(&format!("/api/kb/articles/{article}"), &app.admin_token)
            .await;
        assert!(a["questions"].to_string().contains("但我没有收到"), "{a}");

        // The search vocabulary by hand: a similar question typed in, and a synonym group.
        type_into(c, "#kbq-q", "快递").await;
        click(c, "#kbq-find button[type=submit]").await;
        click(c, &format!("#kbq-hits [data-edit=\"{article}\"]")).await;
        wait_text(c, "#kbq-edit", "但我没有收到").await;
        let lines = find(c, "#kbq-lines")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap();
        type_into(
            c,
            "#kbq-lines",
            &format!("{lines}\n快递显示签收了可我没拿到"),
        )
        .await;
        click(c, "#kbq-save").await;
        wait_text(c, "#toasts", "Questions saved").await;
        let (_, a) = app
            .get(&format!("/api/kb/articles/{article}"), &app.admin_token)
            .await;
        assert!(
            a["questions"]
                .to_string()
                .contains("快递显示签收了可我没拿到"),
            "{a}"
        );
        assert!(a["questions"].to_string().contains("但我没有收到"), "{a}");
        type_into(c, "#kbs-lines", "丢件 = 包裹丢了，没收到货").await;
        click(c, "#kbs-save").await;
        wait_text(c, "#toasts", "Synonyms saved").await;
        let (_, syn) = app.get("/api/kb/synonyms", &app.admin_token).await;
        assert_eq!(
            syn["groups"],
            json!([["丢件", "包裹丢了", "没收到货"]]),
            "{syn}"
        );
        screenshot(c, "kb-vocabulary").await;
    })
    .await;
    let (_, cats) = t.get("/api/complaint-categories", &t.admin_token).await;
    assert!(cats.to_string().contains("Installation"));
}
