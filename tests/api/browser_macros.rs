//! Issue #16 in real Chromium: an agent answers with macros from the composer's picker (type to
//! filter, arrows, Enter), in the English and the Chinese console: the customer's language is
//! listed first, placeholders are filled for the customer (Ms Smith, 王先生), a macro's actions
//! change the ticket with a note saying so; the macros screen shows shared macros read-only.
//! Screenshots: target/browser-artifacts/screens/macros-*.png.

use crate::browser::{browser, click, eventually, find, scenario, sign_in, type_into, wait_text};
use crate::browser_layout::screenshot;
use crate::support::TestApp;
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use reqwest::Method;
use serde_json::json;

async fn customer(t: &TestApp, name: &str, title: &str, language: &str, email: &str) -> i64 {
    let (s, c) = t
        .post(
            "/api/customers",
            &t.admin_token,
            json!({"display_name": name, "title": title, "language": language,
                   "identities": [{"kind": "email", "value": email}]}),
        )
        .await;
    assert!(s.is_success(), "{c}");
    c["id"].as_i64().unwrap()
}

async fn ticket(t: &TestApp, token: &str, subject: &str, customer_id: i64) -> i64 {
    let (s, v) = t
        .post(
            "/api/tickets",
            token,
            json!({"subject": subject, "kind": "inquiry", "channel": "email", "customer_id": customer_id, "body": subject}),
        )
        .await;
    assert!(s.is_success(), "{v}");
    v["id"].as_i64().unwrap()
}

async fn keys(c: &Client, css: &str, k: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(k)
        .await
        .unwrap();
}

/// The composer's text once it contains `want`.
async fn composer_has(c: &Client, want: &str) -> String {
    eventually(&format!("the composer holds {want:?}"), || async move {
        let v = c
            .find(Locator::Css("#composer-text"))
            .await
            .ok()?
            .prop("value")
            .await
            .ok()??;
        v.contains(want).then_some(v)
    })
    .await
}

/// The options of the open picker, top to bottom.
async fn options(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for li in c.find_all(Locator::Css("#macro-options li")).await.unwrap() {
        out.push(li.text().await.unwrap_or_default());
    }
    out
}

#[tokio::test]
async fn browser_agent_answers_with_macros_in_both_languages() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    let (agent_id, agent) = t.user("mia", "agent").await;
    let (s, v) = t
        .call(
            Method::PATCH,
            &format!("/api/users/{agent_id}"),
            Some(&t.admin_token),
            Some(json!({"display_name": "Mia Lin"})),
        )
        .await;
    assert!(s.is_success(), "{v}");
    let smith = customer(&t, "Jane Smith", "ms", "en", "jane@example.com").await;
    let wang = customer(&t, "王伟", "mr", "zh-CN", "wang@example.cn").await;
    let en_ticket = ticket(&t, &agent, "Refund not received", smith).await;
    let zh_ticket = ticket(&t, &agent, "宽带无法连接", wang).await;
    let (s, v) = t
        .post(
            "/api/macros",
            &t.admin_token,
            json!({"title": "Escalate refund", "language": "en", "scope": "shared",
                   "body": "Dear {customer.honorific}, your refund for ticket #{ticket.number} is now with our billing team.\n",
                   "actions": {"priority": "high", "add_tags": ["refund"]}}),
        )
        .await;
    assert!(s.is_success(), "{v}");

    let c = &b.client;
    let app = &t;
    scenario("browser_agent_answers_with_macros", &b, || async move {
        c.set_window_size(1280, 800).await.unwrap();
        sign_in(app, c, "mia", "password-123").await;

        // English console, an English customer: English macros first.
        c.goto(&app.url(&format!("/#/ticket/{en_ticket}")))
            .await
            .unwrap();
        wait_text(c, "#ticket-subject", "Refund not received").await;
        click(c, "#macro-search").await;
        wait_text(c, "#macro-options", "Greeting").await;
        let all = options(c).await;
        assert!(all[0].contains("English"), "{all:?}");
        type_into(c, "#macro-search", "thank you").await;
        wait_text(c, "#macro-options li.active", "Greeting").await;
        screenshot(c, "macros-picker-en").await;
        keys(c, "#macro-search", &Key::Enter.to_string()).await;
        composer_has(
            c,
            &format!("Hello Ms Smith,\n\nThank you for contacting us about ticket #{en_ticket}."),
        )
        .await;

        // Arrows move through the matches; Enter applies the macro's actions too.
        type_into(c, "#macro-search", "refund").await;
        wait_text(c, "#macro-options li.active", "Escalate refund").await;
        keys(c, "#macro-search", &Key::Down.to_string()).await;
        wait_text(c, "#macro-options li.active", "Refund confirmed").await;
        keys(c, "#macro-search", &Key::Up.to_string()).await;
        wait_text(c, "#macro-options li.active", "Escalate refund").await;
        keys(c, "#macro-search", &Key::Enter.to_string()).await;
        wait_text(c, "#macro-applied", "Priority: High").await;
        wait_text(c, "#macro-applied", "+refund").await;
        let text = composer_has(c, "Dear Ms Smith, your refund for ticket").await;
        assert!(text.starts_with("Hello Ms Smith,"), "{text}");
        wait_text(c, ".ticket-head", "High").await;
        screenshot(c, "macros-applied-en").await;

        // The macros screen: shared ones read-only, a personal one of their own.
        click(c, "nav.nav a[data-nav=\"admin-macros\"]").await;
        wait_text(c, "main h1", "Macros").await;
        wait_text(c, "#macro-list", "read-only").await;
        type_into(c, "#macro-title", "My thanks").await;
        type_into(c, "#macro-body", "Thanks, {customer.name}! — {agent.name}").await;
        click(c, "#macro-save").await;
        wait_text(c, "#macro-list", "My thanks").await;
        find(c, "[data-edit-macro]").await;
        screenshot(c, "macros-admin-en").await;

        // Chinese console, a Chinese customer.
        c.find(Locator::Css("#locale"))
            .await
            .unwrap()
            .select_by_value("zh-CN")
            .await
            .unwrap();
        wait_text(c, "nav.nav", "快捷回复").await;
        c.goto(&app.url(&format!("/#/ticket/{zh_ticket}")))
            .await
            .unwrap();
        wait_text(c, "#ticket-subject", "宽带无法连接").await;
        click(c, "#macro-search").await;
        wait_text(c, "#macro-options", "问候").await;
        let all = options(c).await;
        assert!(all[0].contains("中文"), "{all:?}");
        type_into(c, "#macro-search", "感谢").await;
        wait_text(c, "#macro-options li.active", "问候").await;
        screenshot(c, "macros-picker-zh").await;
        keys(c, "#macro-search", &Key::Enter.to_string()).await;
        composer_has(
            c,
            &format!("王先生您好：\n\n感谢您就工单 #{zh_ticket} 联系我们。"),
        )
        .await;
        type_into(c, "#macro-search", "结束").await;
        wait_text(c, "#macro-options li.active", "结束语").await;
        keys(c, "#macro-search", &Key::Enter.to_string()).await;
        composer_has(c, "祝好！\nMia Lin").await;
        screenshot(c, "macros-inserted-zh").await;
        click(c, "nav.nav a[data-nav=\"admin-macros\"]").await;
        wait_text(c, "main h1", "快捷回复").await;
        wait_text(c, "#macro-list", "只读").await;
        screenshot(c, "macros-admin-zh").await;
    })
    .await;

    let (_, v) = t
        .get(&format!("/api/tickets/{en_ticket}"), &t.admin_token)
        .await;
    assert_eq!(v["ticket"]["priority"], "high", "{v}");
    assert_eq!(v["ticket"]["tags"], json!(["refund"]), "{v}");
}
