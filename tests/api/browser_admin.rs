//! Issue #15 in real Chromium: an admin sets up a new center from nothing in the console only
//! (two users, a queue with business hours, an SLA target and a member, a routing rule tested
//! against a sample contact, an acknowledgement template); an agent then receives an SMS routed
//! by that rule; deactivating that agent hands their work over; the audit log shows each step.
//! Every Administration screen is photographed in English and Chinese
//! (target/browser-artifacts/screens/admin-*.png).

use crate::browser::{browser, click, eventually, find, scenario, sign_in, type_into, wait_text};
use crate::browser_layout::screenshot;
use crate::support::{ADMIN_PASSWORD, TestApp};
use fantoccini::{Client, Locator};
use hotline::config::Secret;
use serde_json::{Value, json};

const TWILIO_TOKEN: &str = "twilio-admin-test";
const AGENT_PASSWORD: &str = "Harbour-Lantern-58";

/// An inbound SMS through the real Twilio webhook, signed as Twilio signs it.
async fn sms(t: &TestApp, sid: &str, from: &str, body: &str) {
    let form: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("From", from),
        ("To", "+14155550100"),
        ("Body", body),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let path = "/webhooks/twilio/sms";
    let url = format!("{}{path}", t.state.config.public_url());
    let sig = hotline::channels::twilio::signature(TWILIO_TOKEN, &url, &form);
    let res = t
        .http
        .post(t.url(path))
        .header("X-Twilio-Signature", sig)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "sms webhook: {}", res.status());
}

/// The id of the user with `login` (read through the API as the test's admin).
async fn user_id(t: &TestApp, login: &str) -> i64 {
    let (_, users) = t.get("/api/users", &t.admin_token).await;
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login"] == login)
        .unwrap_or_else(|| panic!("no user {login}: {users}"))["id"]
        .as_i64()
        .unwrap()
}

/// Chooses `value` in the select `css`; a select that re-rendered meanwhile is found again.
async fn select(c: &Client, css: &str, value: &str) {
    eventually(&format!("{css} takes {value}"), || async move {
        let el = c.find(Locator::Css(css)).await.ok()?;
        el.select_by_value(value).await.ok()?;
        let now = el.prop("value").await.ok()??;
        (now == value).then_some(())
    })
    .await;
}

/// Opens an Administration screen through the side nav and waits for its heading.
async fn open_screen(c: &Client, name: &str, heading: &str) {
    click(c, &format!("nav.nav a[data-nav=\"admin-{name}\"]")).await;
    wait_text(c, "main h1", heading).await;
}

/// Creates a user in the users screen's dialog.
async fn create_user(c: &Client, login: &str, name: &str, extension: &str) {
    click(c, "#user-new").await;
    // The dialog focuses its first field.
    eventually("the dialog focuses the login", || async move {
        let id = c
            .execute(
                "return document.activeElement && document.activeElement.id",
                vec![],
            )
            .await
            .ok()?;
        (id == "u-login").then_some(())
    })
    .await;
    type_into(c, "#u-login", login).await;
    type_into(c, "#u-name", name).await;
    select(c, "#u-role", "agent").await;
    type_into(c, "#u-password", AGENT_PASSWORD).await;
    type_into(c, "#u-extension", extension).await;
    type_into(c, "#u-skills", "billing").await;
    type_into(c, "#u-languages", "zh, en").await;
    click(c, "#u-save").await;
    wait_text(c, "#user-list", name).await;
}

async fn shot(c: &Client, name: &str) {
    // Let the screen settle (lists load after the heading).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    screenshot(c, name).await;
}

#[tokio::test]
async fn browser_admin_sets_up_a_center() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn_with(|c| c.twilio_auth_token = Secret(TWILIO_TOKEN.into())).await;
    let c = &b.client;
    let app = &t;
    let mut ticket_id = 0i64;
    let ticket_out = &mut ticket_id;
    scenario("browser_admin_sets_up_a_center", &b, || async move {
        c.set_window_size(1280, 800).await.unwrap();
        sign_in(app, c, "admin", ADMIN_PASSWORD).await;
        // The Administration group (its heading is set in capitals by the style sheet).
        wait_text(c, "#nav-admin", "ADMINISTRATION").await;

        // Users: two agents.
        open_screen(c, "users", "Users").await;
        create_user(c, "lin", "Lin Wei", "2001").await;
        create_user(c, "zhao", "Zhao Min", "2002").await;
        // The search narrows the list.
        type_into(c, "#user-q", "zhao").await;
        eventually("the search leaves Zhao only", || async move {
            let text = c
                .find(Locator::Css("#user-list"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            (!text.contains("Lin Wei") && text.contains("Zhao Min")).then_some(())
        })
        .await;
        type_into(c, "#user-q", "").await;
        wait_text(c, "#user-list", "Lin Wei").await;
        shot(c, "admin-users-en").await;
        let lin = user_id(app, "lin").await;
        let zhao = user_id(app, "zhao").await;

        // Queues: Billing with both agents, weekday hours, a holiday and an SLA target.
        open_screen(c, "queues", "Queues").await;
        type_into(c, "#queue-new-name", "Billing 账务").await;
        click(c, "#queue-new button[type=submit]").await;
        wait_text(c, "#queue-title", "Billing 账务").await;
        click(c, &format!("#q-members input[value=\"{lin}\"]")).await;
        click(c, &format!("#q-members input[value=\"{zhao}\"]")).await;
        click(c, "#q-members button[type=submit]").await;
        wait_text(c, ".toast", "Saved").await;
        click(c, "#q-weekdays").await;
        // A date input's typing order follows the browser's locale; set the value itself.
        c.execute(
            "document.querySelector('#q-holiday').value = '2026-10-01'",
            vec![],
        )
        .await
        .unwrap();
        click(c, "#q-add-holiday").await;
        type_into(c, "#q-zone", "Asia/Shanghai").await;
        click(c, "#q-hours-save").await;
        wait_text(c, "#q-windows", "Friday").await;
        select(c, "#sla-priority", "1").await;
        type_into(c, "#sla-first", "30").await;
        type_into(c, "#sla-resolution", "240").await;
        click(c, "#sla-save").await;
        wait_text(c, "#q-sla-list", "30 min").await;
        shot(c, "admin-queues-en").await;

        // Routing rules: SMS about a refund goes to Billing; a sample contact says so.
        open_screen(c, "rules", "Routing rules").await;
        click(c, "#rule-new").await;
        let (_, queues) = app.get("/api/queues", &app.admin_token).await;
        let billing = queues
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == "Billing 账务")
            .expect("the queue was created")["id"]
            .as_i64()
            .unwrap();
        select(c, "#rule-queue", &billing.to_string()).await;
        select(c, "#rule-channel", "sms").await;
        type_into(c, "#rule-keyword", "refund").await;
        click(c, "#rule-save").await;
        wait_text(c, "#rule-list", "refund").await;
        // A second rule (email about invoices), moved up to be tried first.
        click(c, "#rule-new").await;
        let general = queues
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["is_default"] == true)
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        select(c, "#rule-queue", &general.to_string()).await;
        select(c, "#rule-channel", "email").await;
        type_into(c, "#rule-keyword", "invoice").await;
        click(c, "#rule-save").await;
        wait_text(c, "#rule-list tbody tr:nth-child(2)", "invoice").await;
        click(c, "#rule-list [data-up=\"1\"]").await;
        wait_text(c, "#rule-list tbody tr:first-child", "invoice").await;
        wait_text(c, "#rule-list tbody tr:nth-child(2)", "refund").await;
        select(c, "#test-channel", "sms").await;
        type_into(c, "#test-body", "I want a refund for March").await;
        click(c, "#test-go").await;
        wait_text(c, "#test-verdict", "Goes to: Billing").await;
        wait_text(c, "#test-why", "Rule 2").await;
        wait_text(c, "#test-verdict", "did not match: 1").await;
        shot(c, "admin-rules-en").await;

        // Acknowledgement template for the queue, previewed then saved.
        open_screen(c, "templates", "Acknowledgement templates").await;
        select(c, "#tpl-queue", &billing.to_string()).await;
        select(c, "#tpl-channel", "email").await;
        select(c, "#tpl-language", "en").await;
        type_into(c, "#tpl-subject", "[#{ticket}] Billing received: {subject}").await;
        type_into(
            c,
            "#tpl-body",
            "Dear {name}, billing has your request as ticket {ticket}.",
        )
        .await;
        click(c, "#tpl-preview-go").await;
        wait_text(c, "#tpl-preview", "billing has your request").await;
        click(c, "#tpl-save").await;
        wait_text(c, "#tpl-list", "billing has your request").await;
        shot(c, "admin-templates-en").await;

        open_screen(c, "system", "System status").await;
        find(c, "#system-parts").await;
        shot(c, "admin-system-en").await;
        open_screen(c, "audit", "Audit log").await;
        wait_text(c, "#audit-list", "user:").await;
        shot(c, "admin-audit-en").await;
        click(c, "#signout").await;
        find(c, "#signin-form").await;

        // The agent signs in, goes available and receives the SMS the rule routes to Billing.
        sign_in(app, c, "lin", AGENT_PASSWORD).await;
        select(c, "#presence", "available").await;
        eventually("lin is available", || async move {
            let (_, p) = app.get("/api/presence", &app.admin_token).await;
            p.as_array()?
                .iter()
                .any(|x| x["user_id"] == lin && x["state"] == "available")
                .then_some(())
        })
        .await;
        sms(
            app,
            "SMadmin1",
            "+8613900139000",
            "Please refund the double charge",
        )
        .await;
        click(c, ".offer [data-accept]").await;
        wait_text(c, "#ticket-subject", "").await;
        let ticket = eventually("the SMS is lin's ticket in Billing", || async move {
            let (_, list) = app.get("/api/tickets?limit=10", &app.admin_token).await;
            let t = list
                .as_array()?
                .iter()
                .find(|t| t["channel"] == "sms")?
                .clone();
            (t["queue_id"] == billing && t["assignee_id"] == lin).then_some(t)
        })
        .await;
        *ticket_out = ticket["id"].as_i64().unwrap();
        click(c, "#signout").await;
        find(c, "#signin-form").await;

        // The admin again, now in Chinese: Lin leaves, their work goes to Zhao.
        sign_in(app, c, "admin", ADMIN_PASSWORD).await;
        select(c, "#locale", "zh-CN").await;
        wait_text(c, "nav.nav", "系统管理").await;
        open_screen(c, "users", "用户").await;
        click(c, &format!("[data-edit-user=\"{lin}\"]")).await;
        select(c, "#u-handover-to", &zhao.to_string()).await;
        click(c, "#u-deactivate").await;
        wait_text(c, ".toast", "移交").await;
        select(c, "#user-f-active", "false").await;
        wait_text(c, "#user-list", "Lin Wei").await;
        select(c, "#user-f-active", "").await;
        // A password reset: Zhao must choose a new one at next sign-in.
        click(c, &format!("[data-edit-user=\"{zhao}\"]")).await;
        type_into(c, "#u-reset-password", "Copper-Meadow-73").await;
        click(c, "#u-reset").await;
        wait_text(c, &format!("tr[data-user-id=\"{zhao}\"]"), "须修改密码").await;
        // Escape closes the dialog the reset reopened.
        find(c, "#user-dialog[open]").await;
        find(c, "#u-tokens .empty, #u-token-list").await;
        shot(c, "admin-user-dialog-zh").await;
        c.active_element()
            .await
            .unwrap()
            .send_keys("\u{e00c}")
            .await
            .unwrap();
        eventually("Escape closes the dialog", || async move {
            c.find(Locator::Css("#user-dialog[open]"))
                .await
                .is_err()
                .then_some(())
        })
        .await;
        shot(c, "admin-users-zh").await;
        open_screen(c, "queues", "队列").await;
        click(c, &format!("[data-queue=\"{billing}\"]")).await;
        wait_text(c, "#queue-title", "Billing").await;
        wait_text(c, "#q-sla-list", "30 分钟").await;
        shot(c, "admin-queues-zh").await;
        open_screen(c, "rules", "路由规则").await;
        select(c, "#test-channel", "sms").await;
        type_into(c, "#test-body", "退款 refund").await;
        click(c, "#test-go").await;
        wait_text(c, "#test-verdict", "将进入：Billing").await;
        shot(c, "admin-rules-zh").await;
        open_screen(c, "templates", "自动确认模板").await;
        wait_text(c, "#tpl-list", "billing has your request").await;
        shot(c, "admin-templates-zh").await;
        open_screen(c, "system", "系统状态").await;
        find(c, "#system-parts").await;
        shot(c, "admin-system-zh").await;

        // The audit log shows each step; filtered to Lin, it shows the hand-over.
        open_screen(c, "audit", "审计日志").await;
        for action in [
            "user.create",
            "queue.create",
            "queue.members",
            "queue.hours",
            "queue.sla",
            "rule.create",
            "rule.move",
            "ack_template.set",
            "user.handover",
            "user.update",
        ] {
            wait_text(c, "#audit-list", &audit_label_zh(action)).await;
        }
        type_into(c, "#audit-target", &format!("user:{lin}")).await;
        click(c, "#audit-apply").await;
        wait_text(c, "#audit-list", "工作移交").await;
        let csv = find(c, "#audit-csv")
            .await
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        assert!(csv.contains(&format!("target=user%3A{lin}")), "{csv}");
        shot(c, "admin-audit-zh").await;
    })
    .await;

    // What the screens did is what the server holds.
    let (_, view) = t
        .get(&format!("/api/tickets/{ticket_id}"), &t.admin_token)
        .await;
    let zhao = user_id(&t, "zhao").await;
    assert_eq!(
        view["ticket"]["assignee_id"], zhao,
        "the hand-over moved the SMS ticket"
    );
    let lin = user_id(&t, "lin").await;
    let (_, lin_user) = t.get(&format!("/api/users/{lin}"), &t.admin_token).await;
    assert_eq!(lin_user["active"], false);
    let (_, zhao_user) = t.get(&format!("/api/users/{zhao}"), &t.admin_token).await;
    assert_eq!(zhao_user["must_change_password"], true);
    let (_, queues) = t.get("/api/queues", &t.admin_token).await;
    let billing = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "Billing 账务")
        .unwrap()
        .clone();
    let id = billing["id"].as_i64().unwrap();
    let (_, hours) = t
        .get(&format!("/api/queues/{id}/hours"), &t.admin_token)
        .await;
    assert_eq!(hours["hours"].as_array().unwrap().len(), 5, "{hours}");
    assert_eq!(hours["holidays"], json!(["2026-10-01"]), "{hours}");
    assert_eq!(hours["time_zone"], "Asia/Shanghai", "{hours}");
    let (_, sla) = t
        .get(&format!("/api/queues/{id}/sla"), &t.admin_token)
        .await;
    assert_eq!(sla[0]["first_response_secs"], 1800, "{sla}");
    assert_eq!(sla[0]["resolution_secs"], 14_400, "{sla}");
    let members: Vec<Value> = billing["members"].as_array().unwrap().clone();
    assert!(members.contains(&json!(zhao)) && members.contains(&json!(lin)));
}

/// The Chinese label the audit screen shows for `action`.
fn audit_label_zh(action: &str) -> String {
    let zh: serde_json::Map<String, Value> = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/i18n/zh-CN.json"),
        )
        .unwrap(),
    )
    .unwrap();
    zh.get(&format!("audit.action.{action}"))
        .and_then(|v| v.as_str())
        .unwrap_or(action)
        .to_string()
}

/// Supervisors get Queues and Routing rules in the Administration group, for the queues they
/// work; the admin-only screens say so instead of failing.
#[tokio::test]
async fn browser_supervisor_administers_own_queues() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    let (sue, _) = t.user("sue", "supervisor").await;
    let mine = t.queue("Complaints 投诉").await;
    let other = t.queue("Wholesale").await;
    let (s, v) = t
        .call(
            reqwest::Method::PUT,
            &format!("/api/queues/{mine}/members"),
            Some(&t.admin_token),
            Some(json!({"user_ids": [sue]})),
        )
        .await;
    assert!(s.is_success(), "{v}");
    let c = &b.client;
    let app = &t;
    scenario(
        "browser_supervisor_administers_own_queues",
        &b,
        || async move {
            sign_in(app, c, "sue", "password-123").await;
            find(c, "nav.nav a[data-nav=\"admin-queues\"]").await;
            find(c, "nav.nav a[data-nav=\"admin-rules\"]").await;
            for admin_only in ["users", "templates", "audit", "system", "phone"] {
                let css = format!("nav.nav a[data-nav=\"admin-{admin_only}\"]");
                assert!(c.find(Locator::Css(&css)).await.is_err(), "{css} shown");
            }
            open_screen(c, "queues", "Queues").await;
            wait_text(c, "#queue-list", "Complaints 投诉").await;
            let list = find(c, "#queue-list").await.text().await.unwrap();
            assert!(!list.contains("Wholesale"), "{list}");
            // The routing settings of their queue: the strategy is theirs to choose.
            click(c, &format!("[data-queue=\"{mine}\"]")).await;
            wait_text(c, "#queue-title", "Complaints").await;
            select(c, "#q-strategy", "round_robin").await;
            type_into(c, "#q-offer-timeout", "25").await;
            click(c, "#q-routing button[type=submit]").await;
            wait_text(c, ".toast", "Saved").await;
            c.goto(&app.url("/#/admin/users")).await.unwrap();
            wait_text(c, "main", "for administrators").await;
        },
    )
    .await;
    let (_, q) = t.get(&format!("/api/queues/{mine}"), &t.admin_token).await;
    assert_eq!(q["strategy"], "round_robin", "{q}");
    assert_eq!(q["offer_timeout_secs"], 25, "{q}");
    let (_, q) = t.get(&format!("/api/queues/{other}"), &t.admin_token).await;
    assert_eq!(q["strategy"], Value::Null, "{q}");
}
