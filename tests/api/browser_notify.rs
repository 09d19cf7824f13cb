//! Issue #16 (notifications) in real Chromium, in English and Chinese: a colleague's @mention
//! reaches the agent's console live (bell badge and tab title, the list; opening it marks it
//! seen); a ringing offer keeps keyboard focus on its button while its countdown ticks (only
//! the clock's text changes, aria-live off); the customer list pages past 50 and filters by
//! tier and tag. Screens: target/browser-artifacts/screens/notify-*.png.

use crate::browser::{browser, click, eventually, find, scenario, sign_in, type_into, wait_text};
use crate::browser_layout::screenshot;
use crate::support::TestApp;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use std::time::Duration;

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

async fn title(c: &Client) -> String {
    js(c, "return document.title")
        .await
        .as_str()
        .unwrap()
        .to_string()
}

async fn rows(c: &Client) -> usize {
    c.find_all(Locator::Css("#customer-list tbody tr"))
        .await
        .map(|r| r.len())
        .unwrap_or(0)
}

async fn wait_rows(c: &Client, n: usize) {
    eventually(&format!("{n} customer rows"), || async move {
        (rows(c).await == n).then_some(())
    })
    .await;
}

async fn note(t: &TestApp, token: &str, ticket: i64, body: &str) {
    let (s, v) = t
        .post(
            &format!("/api/tickets/{ticket}/notes"),
            token,
            json!({ "body": body }),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{v}");
}

#[tokio::test]
async fn browser_mentions_offers_and_customer_list() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn_with(|c| c.offer_timeout_secs = 120).await;
    let (_, ann) = t.user("ann", "agent").await;
    let (bob_id, _) = t.user("bob", "agent").await;
    let (s, v) = t
        .post(
            "/api/tickets",
            &ann,
            json!({"subject": "Refund twice", "channel": "web", "body": "charged twice"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{v}");
    let ticket = v["id"].as_i64().unwrap();
    // 60 customers: more than a page; every third a VIP, every fifth tagged "wholesale".
    for i in 1..=60 {
        let tier = if i % 3 == 0 { "vip" } else { "regular" };
        let tags: Vec<&str> = if i % 5 == 0 {
            vec!["wholesale"]
        } else {
            vec![]
        };
        let (s, v) = t
            .post(
                "/api/customers",
                &t.admin_token,
                json!({"display_name": format!("Customer {i:02}"), "tier": tier, "tags": tags,
                       "identities": [{"kind": "phone", "value": format!("+86138{i:08}")}]}),
            )
            .await;
        assert_eq!(s.as_u16(), 201, "{v}");
    }

    let c = &b.client;
    let app = &t;
    let ann = &ann;
    scenario("browser_notify", &b, || async move {
        c.set_window_size(1280, 800).await.unwrap();
        sign_in(app, c, "bob", "password-123").await;
        assert_eq!(title(c).await, "Hotline");

        for (lang, mentioned, more) in [
            ("en", "mentioned you", "More customers"),
            ("zh-CN", "提到了你", "加载更多客户"),
        ] {
            if lang == "zh-CN" {
                find(c, "#locale").await.select_by_value("zh-CN").await.unwrap();
                eventually("the console is in Chinese", || async move {
                    (js(c, "return document.documentElement.lang").await == json!("zh-CN"))
                        .then_some(())
                })
                .await;
            }
            go(c, "#/tickets?view=mine").await;

            // A colleague mentions bob: badge and tab title, live.
            note(app, ann, ticket, "@bob could you call the customer back?").await;
            wait_text(c, "#bell-count", "1").await;
            eventually("the tab title counts it", || async move {
                (title(c).await == "(1) Hotline").then_some(())
            })
            .await;
            screenshot(c, &format!("notify-badge-{lang}")).await;
            click(c, "#bell").await;
            let item = wait_text(c, "#notification-list li", mentioned).await;
            assert!(item.contains("could you call"), "{item}");
            screenshot(c, &format!("notify-list-{lang}")).await;
            // Opened: seen; the badge and the title's count go.
            eventually("the mention is seen", || async move {
                let hidden = js(c, "return document.querySelector('#bell-count').hidden").await;
                (hidden == json!(true) && title(c).await == "Hotline").then_some(())
            })
            .await;
            let (_, list) = app
                .get("/api/notifications", &app.login("bob", "password-123").await)
                .await;
            assert_eq!(list["unseen"], 0, "{list}");
            js(c, "document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))").await;

            // Customers: a page of 50, "More" for the rest, filters by tier and tag.
            go(c, "#/customers").await;
            wait_rows(c, 50).await;
            wait_text(c, "#more-customers", more).await;
            click(c, "#more-customers").await;
            wait_rows(c, 60).await;
            assert!(c.find(Locator::Css("#more-customers")).await.is_err());
            find(c, "#filter-tier").await.select_by_value("vip").await.unwrap();
            wait_rows(c, 20).await;
            type_into(c, "#filter-tag", "wholesale").await;
            click(c, "#customer-filters button[type=submit]").await;
            wait_rows(c, 4).await; // 15, 30, 45, 60
            wait_text(c, "#customer-list", "Customer 15").await;
            screenshot(c, &format!("notify-customers-{lang}")).await;
        }

        // A ringing offer: focus stays on its button while the clock ticks; the title counts it.
        click(c, "#go-available").await;
        eventually("bob is available", || async move {
            let (_, p) = app.get("/api/presence", &app.admin_token).await;
            let mine = p.as_array()?.iter().find(|r| r["user_id"] == bob_id)?.clone();
            (mine["state"] == "available").then_some(())
        })
        .await;
        // The ticket ann opened waits in bob's queue: it is offered to him.
        wait_text(c, ".offer", "Refund twice").await;
        eventually("the title counts the ringing offer", || async move {
            (title(c).await == "(1) Hotline").then_some(())
        })
        .await;
        js(
            c,
            "const b = document.querySelector('.offer [data-accept]'); b.focus(); b.dataset.marked = '1';
             window.__clock = document.querySelector('.offer-clock').textContent;",
        )
        .await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let kept = js(
            c,
            "const a = document.activeElement; const clock = document.querySelector('.offer-clock');
             return [a && a.dataset.marked === '1', clock.textContent !== window.__clock,
                     clock.getAttribute('aria-live')];",
        )
        .await;
        assert_eq!(kept, json!([true, true, "off"]), "focus kept, clock ticked");
        screenshot(c, "notify-offer-zh-CN").await;
        // The focused button still works from the keyboard: Enter accepts (nothing rings again).
        c.active_element()
            .await
            .unwrap()
            .send_keys("\u{E007}")
            .await
            .unwrap();
        eventually("the offer is gone", || async move {
            c.find(Locator::Css(".offer"))
                .await
                .is_err()
                .then_some(())
        })
        .await;
        eventually("the title is plain again", || async move {
            (title(c).await == "Hotline").then_some(())
        })
        .await;
    })
    .await;
}

async fn go(c: &Client, route: &str) {
    js(c, &format!("location.hash = {}", json!(route))).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
}
