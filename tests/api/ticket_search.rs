//! The ticket list's SLA fields and sort, full-text search over tickets (Chinese and English),
//! its filters and access rule, saved views and bulk actions.

use crate::routing::{fast_app, work_until, works};
use crate::support::{TestApp, assert_error};
use reqwest::Method;
use serde_json::{Value, json};

async fn sla(app: &TestApp, token: &str, queue: i64, first_response_secs: i64, warn: i64) {
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/queues/{queue}/sla"),
            Some(token),
            Some(
                json!({"priority": 1, "first_response_secs": first_response_secs,
                "resolution_secs": first_response_secs * 4, "warn_percent": warn}),
            ),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
}

async fn create(app: &TestApp, token: &str, body: Value) -> i64 {
    let (s, t) = app.post("/api/tickets", token, body).await;
    assert_eq!(s.as_u16(), 201, "{t}");
    t["id"].as_i64().unwrap()
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_list_carries_sla_time_left_and_sorts_by_it() {
    let app = fast_app().await;
    let (slow, fast, none, short) = (
        app.queue("Slow").await,
        app.queue("Fast").await,
        app.queue("None").await,
        app.queue("Short").await,
    );
    let (sup_id, sup) = app.user("sup", "supervisor").await;
    works(&app, sup_id, &[slow, fast, none, short]).await;
    sla(&app, &sup, slow, 3600, 80).await;
    sla(&app, &sup, fast, 600, 80).await;
    sla(&app, &sup, short, 1, 50).await;
    let a = create(&app, &sup, json!({"subject": "slow", "queue_id": slow})).await;
    let b = create(&app, &sup, json!({"subject": "fast", "queue_id": fast})).await;
    let c = create(&app, &sup, json!({"subject": "none", "queue_id": none})).await;
    let d = create(&app, &sup, json!({"subject": "short", "queue_id": short})).await;
    let wa = work_until(&app, a, |w| w["first_response_due"].is_i64()).await;
    work_until(&app, b, |w| w["first_response_due"].is_i64()).await;
    work_until(&app, d, |w| w["first_response_due"].is_i64()).await;
    work_until(&app, c, |w| w["state"].is_string()).await;

    let (s, list) = app.get("/api/tickets?sort=sla", &sup).await;
    assert_eq!(s.as_u16(), 200, "{list}");
    assert_eq!(
        ids(&list),
        vec![d, b, a, c],
        "most urgent first, no clock last"
    );
    let item = |id: i64| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    };
    let sa = &item(a)["sla"];
    assert_eq!(sa["first_response_due_at"], wa["first_response_due"]);
    assert_eq!(sa["resolution_due_at"], wa["resolution_due"]);
    assert_eq!(
        (sa["clock"].as_str(), sa["state"].as_str()),
        (Some("first_response"), Some("ok"))
    );
    let left = sa["time_left_ms"].as_i64().unwrap();
    assert!(left > 3_500_000 && left <= 3_600_000, "{sa}");
    assert_eq!(
        sa["warning_at"].as_i64().unwrap(),
        wa["enqueued_at"].as_i64().unwrap() + 3_600_000 * 80 / 100
    );
    assert!(item(c)["sla"].is_null(), "no target, no SLA");

    // A one-second target is breached a second later, in the list and the ticket view.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, t) = app.get(&format!("/api/tickets/{d}"), &sup).await;
    assert_eq!(t["sla"]["state"], "breached", "{t}");
    assert!(t["sla"]["time_left_ms"].as_i64().unwrap() < 0);

    // Resolved work stops its clocks.
    let (s, _) = app
        .patch(
            &format!("/api/tickets/{a}"),
            &sup,
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    let (_, t) = app.get(&format!("/api/tickets/{a}"), &sup).await;
    assert_eq!(t["sla"]["state"], "met", "{t}");

    let (s, b) = app.get("/api/tickets?sort=priority", &sup).await;
    assert_error(s, &b, 400, "validation_failed");
}
