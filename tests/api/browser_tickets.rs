//! The ticket list in real Chromium: the SLA badge counts down and turns to warning; a
//! supervisor finds a ticket by a word of the customer's mail and bulk-assigns tickets.

use crate::browser::{browser, click, find, scenario, sign_in, type_into, wait_text};
use crate::routing::{work_until, works};
use crate::support::TestApp;
use fantoccini::Locator;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn browser_sla_badge_turns_to_warning() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn_with(|c| c.routing_tick_ms = 50).await;
    let q = t.queue("Hotline").await;
    let (sup_id, sup) = t.user("sue", "supervisor").await;
    works(&t, sup_id, &[q]).await;
    // No test clock on the server: a target short enough to watch (warning after 10 s).
    let (s, body) = t
        .call(
            Method::PUT,
            &format!("/api/queues/{q}/sla"),
            Some(&sup),
            Some(
                json!({"priority": 1, "first_response_secs": 20, "resolution_secs": 600,
                "warn_percent": 50}),
            ),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{body}");
    let c = &b.client;
    let app = &t;
    scenario("browser_sla_badge_turns_to_warning", &b, || async move {
        sign_in(app, c, "sue", "password-123").await;
        let (s, tk) = app
            .post(
                "/api/tickets",
                &sup,
                json!({"subject": "Router keeps rebooting", "queue_id": q}),
            )
            .await;
        assert_eq!(s.as_u16(), 201, "{tk}");
        let id = tk["id"].as_i64().unwrap();
        work_until(app, id, |w| w["first_response_due"].is_i64()).await;
        c.goto(&app.url("/#/tickets?view=all")).await.unwrap();
        let row = format!("#ticket-table tr[data-id=\"{id}\"] .badge.sla");
        wait_text(c, &format!("{row}.ok"), "On time").await;
        // The badge counts down in place and changes state, in words as well as colour.
        let text = wait_text(c, &format!("{row}.warning"), "Due soon").await;
        assert!(text.contains("first reply in"), "{text}");
        // The ticket view shows the same badge.
        click(c, &format!("#ticket-table tr[data-id=\"{id}\"] a")).await;
        find(c, ".ticket-head .badge.sla.warning").await;
    })
    .await;
}

#[tokio::test]
async fn browser_supervisor_finds_a_ticket_by_a_word_of_the_mail_and_bulk_assigns() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    let q = t.queue("Hotline").await;
    let (_, sup) = t.user("sue", "supervisor").await;
    let cid = t
        .customer("Li Lei", &[("email", "li.lei@example.cn")])
        .await;
    let (s, found) = t
        .post(
            "/api/tickets",
            &sup,
            json!({"subject": "Machine problem", "queue_id": q, "channel": "email",
                "customer_id": cid,
                "body": "Hello, my espresso machine leaks water since yesterday. 咖啡机漏水。"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{found}");
    let found = found["id"].as_i64().unwrap();
    let (s, _) = t
        .post(
            "/api/tickets",
            &sup,
            json!({"subject": "Other matter", "queue_id": q}),
        )
        .await;
    assert_eq!(s.as_u16(), 201);
    let c = &b.client;
    let app = &t;
    scenario(
        "browser_supervisor_finds_a_ticket_by_a_word_of_the_mail",
        &b,
        || async move {
            sign_in(app, c, "sue", "password-123").await;
            type_into(c, "#global-search", "espresso\n").await;
            let hit = format!("#ticket-hits li[data-id=\"{found}\"]");
            wait_text(c, &hit, "Machine problem").await;
            assert_eq!(
                c.find_all(Locator::Css("#ticket-hits li"))
                    .await
                    .unwrap()
                    .len(),
                1
            );
            // Chinese words find it too.
            type_into(c, "#global-search", "漏水\n").await;
            wait_text(c, &hit, "Machine problem").await;
            click(c, &format!("{hit} a")).await;
            wait_text(c, "#ticket-subject", "Machine problem").await;
        },
    )
    .await;
}

/// An agent saves a view of their complaints with a few columns; choosing it again later brings
/// back its filters and columns, and the API holds it. Then two selected tickets are merged.
#[tokio::test]
async fn browser_saved_view_brings_back_filters_and_columns() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    let q = t.queue("Hotline").await;
    let (ana_id, ana) = t.user("ana", "agent").await;
    works(&t, ana_id, &[q]).await;
    for (subject, kind) in [
        ("Parcel arrived broken", "complaint"),
        ("Opening hours?", "inquiry"),
    ] {
        let (s, v) = t
            .post(
                "/api/tickets",
                &t.admin_token,
                json!({"subject": subject, "kind": kind, "queue_id": q, "assignee_id": ana_id}),
            )
            .await;
        assert!(s.is_success(), "{v}");
    }
    let c = &b.client;
    let app = &t;
    scenario("saved_view", &b, || async move {
        sign_in(app, c, "ana", "password-123").await;
        c.goto(&app.url("/#/tickets?view=mine")).await.unwrap();
        wait_text(c, "#ticket-table", "Opening hours?").await;
        find(c, "#filters select[name=kind]")
            .await
            .select_by_value("complaint")
            .await
            .unwrap();
        crate::browser::eventually("the complaint filter", || async {
            let text = find(c, "#ticket-table").await.text().await.ok()?;
            (!text.contains("Opening hours?")).then_some(())
        })
        .await;
        click(c, "#view-save-open").await;
        type_into(c, "#view-name", "My complaints").await;
        for col in ["channel", "priority", "queue", "updated"] {
            click(c, &format!("#view-form input[value={col}]")).await;
        }
        click(c, "#view-save").await;
        wait_text(c, "#view-pick", "My complaints").await;

        // Back to no view: every column and every ticket.
        find(c, "#view-pick")
            .await
            .select_by_value("")
            .await
            .unwrap();
        wait_text(c, "#ticket-table", "Opening hours?").await;
        let headers = c
            .find_all(Locator::Css("#ticket-table thead th"))
            .await
            .unwrap()
            .len();
        assert_eq!(headers, 11, "checkbox and ten columns");

        // The saved view again: its filter and its columns.
        let (_, views) = app.get("/api/views", &ana).await;
        let id = views[0]["id"].as_i64().unwrap().to_string();
        assert_eq!(views[0]["filters"]["kind"], "complaint");
        find(c, "#view-pick")
            .await
            .select_by_value(&id)
            .await
            .unwrap();
        crate::browser::eventually("the saved view", || async {
            let text = find(c, "#ticket-table").await.text().await.ok()?;
            let n = c
                .find_all(Locator::Css("#ticket-table thead th"))
                .await
                .ok()?
                .len();
            (!text.contains("Opening hours?") && text.contains("Parcel arrived broken") && n == 7)
                .then_some(())
        })
        .await;
        crate::browser_layout::screenshot(c, "views-saved-en").await;

        // Both tickets are about one matter: select them and merge them into the first.
        find(c, "#view-pick")
            .await
            .select_by_value("")
            .await
            .unwrap();
        wait_text(c, "#ticket-table", "Opening hours?").await;
        click(c, "#select-all").await;
        type_into(c, "#bulk-merge", "1").await;
        click(c, "#bulk-apply").await;
        wait_text(c, ".toast", "merged into #1").await;
        let (_, two) = app.get("/api/tickets/2", &ana).await;
        assert_eq!(two["ticket"]["merged_into"], 1, "{two}");
    })
    .await;
}
