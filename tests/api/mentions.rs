//! @mentions in internal notes (issue #16): the mentioned colleague is notified live and finds
//! it in `GET /api/notifications` later; unknown logins, the author and colleagues who may not
//! open the ticket get nothing; the list pages and filters. Also the customer list's paging
//! and its tier and tag filters.

use crate::realtime::{Ws, ticket};
use crate::support::{TestApp, assert_error};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn note(app: &TestApp, token: &str, ticket_id: i64, body: &str) {
    let (s, v) = app
        .post(
            &format!("/api/tickets/{ticket_id}/notes"),
            token,
            json!({ "body": body }),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{v}");
}

async fn notifications(app: &TestApp, token: &str, query: &str) -> Value {
    let (s, v) = app.get(&format!("/api/notifications{query}"), token).await;
    assert_eq!(s.as_u16(), 200, "{v}");
    v
}

fn is_kind(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |v: &Value| v["type"] == "event" && v["kind"] == kind
}

#[tokio::test]
async fn a_mention_notifies_the_colleague_live_and_stored() {
    let app = TestApp::spawn().await;
    let (ann_id, ann) = app.user("ann", "agent").await;
    let (bob_id, bob) = app.user("bob", "agent").await;
    let (_, sup) = app.user("sup", "supervisor").await;
    let id = ticket(&app, &ann, "Refund twice", None).await;

    let mut bob_ws = Ws::connect(&app, &bob).await;
    let mut sup_ws = Ws::connect(&app, &sup).await;
    note(
        &app,
        &ann,
        id,
        "@bob can you check the refund? cc @nobody, mail bob@example.com, and me @ann.",
    )
    .await;

    let (frame, _) = bob_ws
        .until(Duration::from_secs(5), is_kind("notification"))
        .await;
    let frame = frame.expect("bob gets the mention live");
    assert_eq!(frame["user_id"], bob_id, "{frame}");
    let n = &frame["payload"]["notification"];
    assert_eq!(n["kind"], "mention");
    assert_eq!(n["ticket_id"], id);
    assert_eq!(n["ticket_subject"], "Refund twice");
    assert_eq!(n["actor_id"], ann_id);
    assert_eq!(n["actor_name"], "ann");
    assert!(n["excerpt"].as_str().unwrap().starts_with("@bob can you"));
    assert!(n["seen_at"].is_null());
    // Supervisors see every event but not someone else's notification.
    let (other, _) = sup_ws
        .until(Duration::from_millis(800), is_kind("notification"))
        .await;
    assert!(other.is_none(), "{other:?}");

    // Stored: after a reconnect the list has it, unseen.
    let list = notifications(&app, &bob, "").await;
    assert_eq!(list["unseen"], 1, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], n["id"]);
    assert!(list["next"].is_null());
    // The author, the unknown login and the address mention no one else.
    assert_eq!(notifications(&app, &ann, "").await["unseen"], 0);
    assert_eq!(notifications(&app, &sup, "").await["unseen"], 0);

    // Seen: the count drops, and bob's other consoles hear of it.
    let (s, v) = app.post("/api/notifications/seen", &bob, json!({})).await;
    assert_eq!((s.as_u16(), v["unseen"].as_i64()), (200, Some(0)), "{v}");
    let (seen, _) = bob_ws
        .until(Duration::from_secs(5), is_kind("notification.seen"))
        .await;
    assert_eq!(seen.expect("seen event")["payload"]["unseen"], 0);
    let list = notifications(&app, &bob, "").await;
    assert!(list["items"][0]["seen_at"].as_i64().is_some(), "{list}");
    assert_eq!(
        notifications(&app, &bob, "?unseen=true").await["items"],
        json!([])
    );
    // One cannot mark someone else's notification.
    let (s, v) = app
        .post(
            "/api/notifications/seen",
            &ann,
            json!({ "ids": [n["id"].as_i64().unwrap()] }),
        )
        .await;
    assert_eq!((s.as_u16(), v["unseen"].as_i64()), (200, Some(0)));
}

#[tokio::test]
async fn only_colleagues_who_may_open_the_ticket_are_notified() {
    let app = TestApp::spawn().await;
    let billing = app.queue("Billing").await;
    let (_, sup) = app.user("sup", "supervisor").await;
    let (_, carol) = app.user("carol", "agent").await; // default queue only
    let (dave_id, dave) = app.user("dave", "agent").await;
    let (s, v) = app
        .call(
            Method::PUT,
            &format!("/api/users/{dave_id}/queues"),
            Some(&app.admin_token),
            Some(json!({ "queue_ids": [billing] })),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    let (_, erin) = app.user("erin", "supervisor").await;
    let (frank_id, _) = app.user("frank", "agent").await;
    let (s, v) = app
        .patch(
            &format!("/api/users/{frank_id}"),
            &app.admin_token,
            json!({ "active": false }),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");

    let id = ticket(&app, &app.admin_token, "Invoice wrong", Some(billing)).await;
    let (s, _) = app.get(&format!("/api/tickets/{id}"), &carol).await;
    assert_eq!(s.as_u16(), 404, "carol may not open a Billing ticket");
    note(&app, &sup, id, "@carol @dave @erin @frank please look").await;

    assert_eq!(notifications(&app, &dave, "").await["unseen"], 1);
    assert_eq!(notifications(&app, &erin, "").await["unseen"], 1);
    let carols = notifications(&app, &carol, "").await;
    assert_eq!(carols["items"], json!([]), "{carols}");
    // Frank is deactivated: nothing stored for him (checked in the database).
    let mut db = &app.state.db;
    use hotline::db::Exec;
    let n = db
        .row::<i64>(
            "SELECT COUNT(*) AS id FROM notifications WHERE user_id = $1",
            vec![frank_id.into()],
        )
        .await
        .unwrap();
    assert_eq!(n, Some(0));

    // A ticket dave may open (assigned to him) but outside his queues notifies him too.
    let other = ticket(&app, &app.admin_token, "Assigned", None).await;
    let (s, v) = app
        .patch(
            &format!("/api/tickets/{other}"),
            &app.admin_token,
            json!({ "queue_id": app.queue("Elsewhere").await, "assignee_id": dave_id }),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    note(&app, &sup, other, "over to you @dave").await;
    assert_eq!(notifications(&app, &dave, "").await["unseen"], 2);
}

#[tokio::test]
async fn the_notification_list_pages_and_filters() {
    let app = TestApp::spawn().await;
    let (_, ann) = app.user("ann", "agent").await;
    let (_, bob) = app.user("bob", "agent").await;
    let id = ticket(&app, &ann, "Many mentions", None).await;
    for i in 0..5 {
        note(&app, &ann, id, &format!("note {i} for @bob")).await;
    }
    let first = notifications(&app, &bob, "?limit=2").await;
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["excerpt"], "note 4 for @bob", "newest first");
    assert_eq!(first["unseen"], 5);
    let mut seen_ids: Vec<i64> = items.iter().map(|n| n["id"].as_i64().unwrap()).collect();
    let mut next = first["next"].as_i64();
    while let Some(before) = next {
        let page = notifications(&app, &bob, &format!("?limit=2&before_id={before}")).await;
        seen_ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_i64().unwrap()),
        );
        next = page["next"].as_i64();
    }
    assert_eq!(seen_ids.len(), 5, "every notification once: {seen_ids:?}");
    assert!(seen_ids.windows(2).all(|w| w[0] > w[1]));

    let (s, v) = app
        .post(
            "/api/notifications/seen",
            &bob,
            json!({ "ids": [seen_ids[0], seen_ids[1]] }),
        )
        .await;
    assert_eq!((s.as_u16(), v["unseen"].as_i64()), (200, Some(3)));
    let unseen = notifications(&app, &bob, "?unseen=true").await;
    let ids: Vec<i64> = unseen["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, seen_ids[2..].to_vec());

    let (s, v) = app.get("/api/notifications?limit=0", &bob).await;
    assert_error(s, &v, 400, "validation_failed");
    assert_eq!(v["error"]["field"], "limit");
}

#[tokio::test]
async fn the_customer_list_pages_and_filters_by_tier_and_tag() {
    let app = TestApp::spawn().await;
    let (_, agent) = app.user("ann", "agent").await;
    let specs = [
        ("A Vip", "vip", vec!["wholesale", "北京"]),
        ("B Regular", "regular", vec!["wholesale"]),
        ("C Vip", "vip", vec![]),
        ("D Key", "key", vec!["北京"]),
        ("E Vip", "vip", vec!["wholesale-eu"]),
    ];
    for (name, tier, tags) in &specs {
        let (s, v) = app
            .post(
                "/api/customers",
                &app.admin_token,
                json!({ "display_name": name, "tier": tier, "tags": tags }),
            )
            .await;
        assert_eq!(s.as_u16(), 201, "{v}");
    }
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["display_name"].as_str().unwrap().to_string())
            .collect()
    };

    // Paging: two at a time, every customer once.
    let mut all = Vec::new();
    let mut query = "/api/customers?limit=2".to_string();
    loop {
        let (s, v) = app.get(&query, &agent).await;
        assert_eq!(s.as_u16(), 200, "{v}");
        all.extend(names(&v));
        match v["next"].as_str() {
            Some(next) => query = format!("/api/customers?limit=2&after_id={next}"),
            None => break,
        }
    }
    assert_eq!(all, ["A Vip", "B Regular", "C Vip", "D Key", "E Vip"]);

    let (_, v) = app.get("/api/customers?tier=vip", &agent).await;
    assert_eq!(names(&v), ["A Vip", "C Vip", "E Vip"]);
    // A tag matches exactly (not a prefix of another tag).
    let (_, v) = app.get("/api/customers?tag=wholesale", &agent).await;
    assert_eq!(names(&v), ["A Vip", "B Regular"]);
    let (_, v) = app
        .get("/api/customers?tag=%E5%8C%97%E4%BA%AC&tier=vip", &agent)
        .await;
    assert_eq!(names(&v), ["A Vip"]);
    let (_, v) = app
        .get("/api/customers?tag=wholesale&limit=1", &agent)
        .await;
    assert_eq!(names(&v), ["A Vip"]);
    let after = v["next"].as_str().unwrap();
    let (_, v) = app
        .get(
            &format!("/api/customers?tag=wholesale&limit=1&after_id={after}"),
            &agent,
        )
        .await;
    assert_eq!(names(&v), ["B Regular"]);
    let (s, v) = app.get("/api/customers?tier=gold", &agent).await;
    assert_error(s, &v, 400, "validation_failed");
}
