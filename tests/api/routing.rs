//! Presence, placement rules, offers (accept, reject, timeout), manual pick and reassign,
//! capacity, callbacks, SLA clocks and the wallboard, through REST and /ws.

use crate::realtime::{Ws, ticket};
use crate::support::{TestApp, assert_error};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(8);

pub async fn fast_app() -> TestApp {
    TestApp::spawn_with(|c| c.routing_tick_ms = 50).await
}

pub async fn members(app: &TestApp, queue: i64, users: &[i64]) {
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/queues/{queue}/members"),
            Some(&app.admin_token),
            Some(json!({"user_ids": users})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
}

/// Makes `user_id` work `queues` (supervisors change only the queues they work).
pub async fn works(app: &TestApp, user_id: i64, queues: &[i64]) {
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/users/{user_id}/queues"),
            Some(&app.admin_token),
            Some(json!({"queue_ids": queues})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
}

pub async fn available(app: &TestApp, token: &str) {
    let (s, p) = app
        .post("/api/presence", token, json!({"state": "available"}))
        .await;
    assert_eq!(
        (s.as_u16(), p["state"].as_str()),
        (200, Some("available")),
        "{p}"
    );
}

async fn work(app: &TestApp, ticket_id: i64) -> Value {
    let (s, w) = app
        .get(&format!("/api/work/{ticket_id}"), &app.admin_token)
        .await;
    assert_eq!(s.as_u16(), 200, "{w}");
    w
}

/// Polls the ticket's work item until `pred` holds.
pub async fn work_until(app: &TestApp, ticket_id: i64, pred: impl Fn(&Value) -> bool) -> Value {
    let end = std::time::Instant::now() + WAIT;
    loop {
        let (s, w) = app
            .get(&format!("/api/work/{ticket_id}"), &app.admin_token)
            .await;
        if s.as_u16() == 200 && pred(&w) {
            return w;
        }
        assert!(
            std::time::Instant::now() < end,
            "work item never got there: {w}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[tokio::test]
async fn an_offer_is_accepted_once_and_assigns_the_ticket() {
    let app = fast_app().await;
    let q = app.queue("Sales").await;
    let (a1, t1) = app.user("a1", "agent").await;
    let (_, t2) = app.user("a2", "agent").await;
    members(&app, q, &[a1]).await;
    let mut ws = Ws::connect(&app, &t1).await;
    available(&app, &t1).await;
    let tid = ticket(&app, &app.admin_token, "please call", Some(q)).await;
    let offer = ws.event("offer.created", WAIT).await.expect("offer");
    assert_eq!(offer["user_id"], a1);
    assert_eq!(offer["payload"]["ticket_id"], tid);
    assert_eq!(offer["payload"]["queue_id"], q);
    assert!(offer["payload"]["expires_at_ms"].as_i64().unwrap() > offer["at_ms"].as_i64().unwrap());
    let offer_id = offer["payload"]["offer_id"].as_i64().unwrap();
    assert_eq!(work(&app, tid).await["state"], "offered");

    // Someone else's offer does not exist for them.
    let (s, b) = app
        .post(&format!("/api/offers/{offer_id}/accept"), &t2, json!({}))
        .await;
    assert_error(s, &b, 404, "not_found");
    let ack = ws
        .command(json!({"type": "accept_offer", "id": "a", "offer_id": offer_id}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["result"]["state"], "assigned");
    assert_eq!(ack["result"]["assigned_to"], a1);
    let (_, t) = app
        .get(&format!("/api/tickets/{tid}"), &app.admin_token)
        .await;
    assert_eq!(t["ticket"]["assignee_id"], a1);
    assert_eq!(t["ticket"]["status"], "open");
    let closed = ws.event("offer.closed", WAIT).await.unwrap();
    assert_eq!(closed["payload"]["outcome"], "accepted");
    // Twice is a conflict, over REST and over /ws.
    let (s, b) = app
        .post(&format!("/api/offers/{offer_id}/accept"), &t1, json!({}))
        .await;
    assert_error(s, &b, 409, "conflict");
    let e = ws
        .command(json!({"type": "reject_offer", "id": "r", "offer_id": offer_id}))
        .await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("conflict"))
    );
    let (s, b) = app.post("/api/offers/999999/accept", &t1, json!({})).await;
    assert_error(s, &b, 404, "not_found");
}

#[tokio::test]
async fn reject_and_timeout_move_the_offer_on() {
    let app = fast_app().await;
    let q = app.queue("Support").await;
    let (s, r) = app
        .patch(
            &format!("/api/queues/{q}/routing"),
            &app.admin_token,
            json!({"offer_timeout_secs": 1}),
        )
        .await;
    assert_eq!(
        (s.as_u16(), r["offer_timeout_secs"].as_i64()),
        (200, Some(1)),
        "{r}"
    );
    let (s, b) = app
        .patch(
            &format!("/api/queues/{q}/routing"),
            &app.admin_token,
            json!({"offer_timeout_secs": 0}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (a1, t1) = app.user("a1", "agent").await;
    let (a2, t2) = app.user("a2", "agent").await;
    members(&app, q, &[a1, a2]).await;
    let mut w1 = Ws::connect(&app, &t1).await;
    let mut w2 = Ws::connect(&app, &t2).await;
    // a1 is free the longest, so is offered first.
    available(&app, &t1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    available(&app, &t2).await;
    let tid = ticket(&app, &app.admin_token, "broken", Some(q)).await;
    let o1 = w1
        .event("offer.created", WAIT)
        .await
        .expect("first offer to a1");
    assert_eq!(o1["payload"]["ticket_id"], tid);
    let (s, w) = app
        .post(
            &format!("/api/offers/{}/reject", o1["payload"]["offer_id"]),
            &t1,
            json!({}),
        )
        .await;
    assert_eq!(
        (s.as_u16(), w["state"].as_str()),
        (200, Some("waiting")),
        "{w}"
    );
    let o2 = w2.event("offer.created", WAIT).await.expect("then to a2");
    assert_eq!(o2["payload"]["ticket_id"], tid);
    // a2 lets it ring out.
    let closed = w2.event("offer.closed", WAIT).await.unwrap();
    assert_eq!(closed["payload"]["outcome"], "timeout");
    let w = work_until(&app, tid, |w| {
        w["tried"].as_array().is_some_and(|t| t.len() == 2)
    })
    .await;
    assert!(w["tried"].as_array().unwrap().contains(&json!(a1)));
    // Both tried: it keeps moving rather than stalling.
    let again = w1
        .event("offer.created", WAIT)
        .await
        .expect("offered again");
    assert_eq!(again["payload"]["ticket_id"], tid);
}

#[tokio::test]
async fn manual_pick_and_supervisor_reassign_are_conditional() {
    let app = fast_app().await;
    let q = app.queue("Billing").await;
    let other = app.queue("Other").await;
    let (a1, t1) = app.user("a1", "agent").await;
    let (a2, t2) = app.user("a2", "agent").await;
    let (_, t3) = app.user("outsider", "agent").await;
    let (_, sup) = app.user("sup", "supervisor").await;
    members(&app, q, &[a1, a2]).await;
    members(&app, other, &[]).await;
    // Nobody is available: the item waits.
    let tid = ticket(&app, &app.admin_token, "invoice", Some(q)).await;
    work_until(&app, tid, |w| w["state"] == "waiting").await;
    let (s, w) = app
        .post(&format!("/api/work/{tid}/pick"), &t1, json!({}))
        .await;
    assert_eq!(
        (s.as_u16(), w["assigned_to"].as_i64()),
        (200, Some(a1)),
        "{w}"
    );
    let (s, b) = app
        .post(&format!("/api/work/{tid}/pick"), &t2, json!({}))
        .await;
    assert_error(s, &b, 409, "conflict");
    // An agent outside the queue cannot see it.
    let (s, b) = app
        .post(&format!("/api/work/{tid}/pick"), &t3, json!({}))
        .await;
    assert_error(s, &b, 404, "not_found");
    let (s, b) = app
        .post(
            &format!("/api/work/{tid}/assign"),
            &t2,
            json!({"user_id": a2}),
        )
        .await;
    assert_error(s, &b, 403, "forbidden");
    let (s, b) = app
        .post(&format!("/api/work/{tid}/assign"), &sup, json!({}))
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, w) = app
        .post(
            &format!("/api/work/{tid}/assign"),
            &sup,
            json!({"user_id": a2}),
        )
        .await;
    assert_eq!(
        (s.as_u16(), w["assigned_to"].as_i64()),
        (200, Some(a2)),
        "{w}"
    );
    let (_, t) = app.get(&format!("/api/tickets/{tid}"), &sup).await;
    assert_eq!(t["ticket"]["assignee_id"], a2);
    let (s, b) = app.post("/api/work/999999/pick", &t1, json!({})).await;
    assert_error(s, &b, 404, "not_found");
    // Racing picks of one item: exactly one wins.
    let tid2 = ticket(&app, &app.admin_token, "race", Some(q)).await;
    work_until(&app, tid2, |w| w["state"] == "waiting").await;
    let path = format!("/api/work/{tid2}/pick");
    let (r1, r2) = tokio::join!(
        app.post(&path, &t1, json!({})),
        app.post(&path, &t2, json!({}))
    );
    let mut codes = vec![r1.0.as_u16(), r2.0.as_u16()];
    codes.sort();
    assert_eq!(codes, vec![200, 409], "{} {}", r1.1, r2.1);
}

#[tokio::test]
async fn rules_place_new_work_in_order() {
    let app = fast_app().await;
    let general = app.queue("General").await;
    let refunds = app.queue("Refunds").await;
    let vip = app.queue("VIP").await;
    let (sup_id, sup) = app.user("sup", "supervisor").await;
    works(&app, sup_id, &[vip, refunds]).await;
    let (s, b) = app
        .post(
            &format!("/api/queues/{vip}/rules"),
            &sup,
            json!({"tier": "gold"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "tier");
    let (s, r1) = app
        .post(
            &format!("/api/queues/{vip}/rules"),
            &sup,
            json!({"position": 1, "tier": "vip", "priority_boost": 2}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{r1}");
    let (s, r2) = app
        .post(
            &format!("/api/queues/{refunds}/rules"),
            &sup,
            json!({"position": 2, "keyword": "Refund", "skills": ["billing"]}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{r2}");
    let (_, list) = app.get(&format!("/api/queues/{refunds}/rules"), &sup).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    let t_refund = ticket(&app, &sup, "I want a REFUND", Some(general)).await;
    let w = work_until(&app, t_refund, |w| w["queue_id"] == refunds).await;
    assert_eq!(w["skills"], json!(["billing"]));
    let (_, t) = app.get(&format!("/api/tickets/{t_refund}"), &sup).await;
    assert_eq!(t["ticket"]["queue_id"], refunds, "the ticket moves too");
    let t_plain = ticket(&app, &sup, "hello", Some(general)).await;
    let w = work_until(&app, t_plain, |w| w["state"] == "waiting").await;
    assert_eq!(w["queue_id"], general);

    // VIP first: a VIP customer's refund goes to the VIP queue, at higher priority.
    let (s, c) = app
        .post(
            "/api/customers",
            &app.admin_token,
            json!({"display_name": "Big", "tier": "vip", "identities": []}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{c}");
    let (s, t) = app
        .post(
            "/api/tickets",
            &sup,
            json!({"subject": "refund", "channel": "email", "customer_id": c["id"], "body": "x"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{t}");
    let tid = t["id"].as_i64().unwrap();
    let w = work_until(&app, tid, |w| w["queue_id"] == vip).await;
    assert_eq!(w["priority"], 3, "normal (1) + 2");

    let rid = r2["id"].as_i64().unwrap();
    let (s, r) = app
        .call(
            Method::PUT,
            &format!("/api/queues/{refunds}/rules/{rid}"),
            Some(&sup),
            Some(json!({"position": 5, "keyword": "money back"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), r["keyword"].as_str()),
        (200, Some("money back")),
        "{r}"
    );
    let del = format!("/api/queues/{refunds}/rules/{rid}");
    let (s, _) = app.call(Method::DELETE, &del, Some(&sup), None).await;
    assert_eq!(s.as_u16(), 204);
    let (s, b) = app.call(Method::DELETE, &del, Some(&sup), None).await;
    assert_error(s, &b, 404, "not_found");
}

/// The leader follows tickets by their events: one merged away finishes its waiting work, one
/// assigned by hand takes its work to the assignee.
#[tokio::test]
async fn work_follows_tickets_merged_or_assigned_by_hand() {
    let app = fast_app().await;
    let q = app.queue("Q").await;
    let (a1, _) = app.user("a1", "agent").await;
    let (_, sup) = app.user("sup", "supervisor").await;
    members(&app, q, &[a1]).await;
    // Nobody is available: the items wait.
    let keep = ticket(&app, &sup, "keep", Some(q)).await;
    let dup = ticket(&app, &sup, "duplicate", Some(q)).await;
    let by_hand = ticket(&app, &sup, "by hand", Some(q)).await;
    for t in [keep, dup, by_hand] {
        work_until(&app, t, |w| w["state"] == "waiting").await;
    }
    let (s, b) = app
        .post(
            &format!("/api/tickets/{dup}/merge"),
            &sup,
            json!({"into": keep}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    let w = work_until(&app, dup, |w| w["state"] == "done").await;
    assert!(w["done_at"].as_i64().is_some(), "{w}");
    let (s, b) = app
        .patch(
            &format!("/api/tickets/{by_hand}"),
            &sup,
            json!({"assignee_id": a1}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    let w = work_until(&app, by_hand, |w| w["state"] == "assigned").await;
    assert_eq!(w["assigned_to"], a1);
    assert_eq!(work(&app, keep).await["state"], "waiting");
}

/// The agent accepts the offer their console rings with, which fills their capacity: busy.
async fn accept_until_busy(ws: &mut Ws) {
    let o = ws.event("offer.created", WAIT).await.unwrap();
    let ack = ws
        .command(json!({"type": "accept_offer", "id": "1", "offer_id": o["payload"]["offer_id"]}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let busy = ws
        .until(WAIT, |f| {
            f["kind"] == "presence.changed" && f["payload"]["state"] == "busy"
        })
        .await
        .0;
    assert!(busy.is_some(), "at capacity → busy");
}

#[tokio::test]
async fn capacity_makes_an_agent_busy_until_the_work_is_done() {
    let app = fast_app().await;
    let q = app.queue("Q").await;
    let (a1, t1) = app.user("a1", "agent").await;
    let (_, sup) = app.user("sup", "supervisor").await;
    members(&app, q, &[a1]).await;
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/agents/{a1}/capacity"),
            Some(&sup),
            Some(json!({"capacity": {"fax": 1}})),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, p) = app
        .call(
            Method::PUT,
            &format!("/api/agents/{a1}/capacity"),
            Some(&sup),
            Some(json!({"capacity": {"web": 1}})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), p["capacity"]["web"].as_i64()),
        (200, Some(1)),
        "{p}"
    );
    let mut ws = Ws::connect(&app, &t1).await;
    available(&app, &t1).await;
    let tid = ticket(&app, &sup, "one", Some(q)).await;
    accept_until_busy(&mut ws).await;
    // A second item waits: the only agent is busy.
    let tid2 = ticket(&app, &sup, "two", Some(q)).await;
    work_until(&app, tid2, |w| w["state"] == "waiting").await;
    // Resolving the first frees the agent, and the second is offered.
    let (s, _) = app
        .patch(
            &format!("/api/tickets/{tid}"),
            &t1,
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    work_until(&app, tid, |w| w["state"] == "done").await;
    let o2 = ws
        .event("offer.created", WAIT)
        .await
        .expect("second offered");
    assert_eq!(o2["payload"]["ticket_id"], tid2);
    let (_, list) = app.get("/api/presence", &sup).await;
    let me = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == a1)
        .unwrap()
        .clone();
    assert_eq!(me["state"], "available");
    assert!(me["time_in_state_secs"].as_i64().is_some());
}

#[tokio::test]
async fn a_queue_sets_the_capacity_of_agents_who_set_none() {
    let app = fast_app().await;
    let q = app.queue("Q").await;
    let (a1, t1) = app.user("a1", "agent").await;
    let (sup_id, sup) = app.user("sup", "supervisor").await;
    members(&app, q, &[a1]).await;
    works(&app, sup_id, &[q]).await;
    let url = format!("/api/queues/{q}/routing");
    let (s, b) = app
        .call(
            Method::PATCH,
            &url,
            Some(&sup),
            Some(json!({"capacity": {"web": 500}})),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    // The default lets an agent work 5 web items at once; this queue says one.
    let (s, b) = app
        .call(
            Method::PATCH,
            &url,
            Some(&sup),
            Some(json!({"capacity": {"web": 1}})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), b["capacity"]["web"].as_i64()),
        (200, Some(1)),
        "{b}"
    );
    let mut ws = Ws::connect(&app, &t1).await;
    available(&app, &t1).await;
    let tid = ticket(&app, &sup, "one", Some(q)).await;
    accept_until_busy(&mut ws).await;
    let tid2 = ticket(&app, &sup, "two", Some(q)).await;
    work_until(&app, tid2, |w| w["state"] == "waiting").await;

    // The agent's own setting wins over the queue's: with room for 2, the second is offered.
    let (s, _) = app
        .call(
            Method::PUT,
            &format!("/api/agents/{a1}/capacity"),
            Some(&sup),
            Some(json!({"capacity": {"web": 2}})),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    available(&app, &t1).await;
    let o2 = ws
        .event("offer.created", WAIT)
        .await
        .expect("second offered");
    assert_eq!(o2["payload"]["ticket_id"], tid2);
    assert_ne!(tid, tid2);
}

#[tokio::test]
async fn presence_states_are_checked_and_private() {
    let app = fast_app().await;
    let (_, t1) = app.user("a1", "agent").await;
    for (body, field) in [
        (json!({"state": "busy"}), "state"),
        (json!({"state": "sleeping"}), "state"),
        (
            json!({"state": "away", "reason": "x".repeat(201)}),
            "reason",
        ),
    ] {
        let (s, b) = app.post("/api/presence", &t1, body).await;
        assert_error(s, &b, 400, "validation_failed");
        assert_eq!(b["error"]["field"], field);
    }
    let (s, p) = app
        .post(
            "/api/presence",
            &t1,
            json!({"state": "away", "reason": "lunch"}),
        )
        .await;
    assert_eq!((s.as_u16(), p["reason"].as_str()), (200, Some("lunch")));
    // An agent reads their own presence only (a reopened console shows the truth).
    let (s, b) = app.get("/api/presence", &t1).await;
    assert_eq!(s.as_u16(), 200, "{b}");
    assert_eq!(b.as_array().map(Vec::len), Some(1), "{b}");
    assert_eq!(
        (b[0]["state"].as_str(), b[0]["reason"].as_str()),
        (Some("away"), Some("lunch"))
    );
    let (s, b) = app.get("/api/wallboard", &t1).await;
    assert_error(s, &b, 403, "forbidden");
}

#[tokio::test]
async fn callbacks_are_offered_with_the_number_to_call() {
    let app = fast_app().await;
    let q = app.queue("Callbacks").await;
    let (a1, t1) = app.user("a1", "agent").await;
    members(&app, q, &[a1]).await;
    let (s, b) = app
        .post(
            "/api/callbacks",
            &t1,
            json!({"phone": "not a phone", "queue_id": q}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "phone");
    let (s, b) = app
        .post(
            "/api/callbacks",
            &t1,
            json!({"phone": "13800000009", "queue_id": 99999}),
        )
        .await;
    assert_eq!(b["error"]["field"], "queue_id", "{b}");
    assert_eq!(s.as_u16(), 400);
    let (s, sla) = app
        .call(
            Method::PUT,
            &format!("/api/queues/{q}/sla"),
            Some(&app.admin_token),
            Some(json!({"priority": 1, "kind": "callback", "first_response_secs": 900, "resolution_secs": 3600})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{sla}");
    let (s, w) = app
        .post(
            "/api/callbacks",
            &t1,
            json!({"phone": "13800000009", "queue_id": q, "note": "missed call at 9:00"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{w}");
    assert_eq!(
        (w["kind"].as_str(), w["phone"].as_str()),
        (Some("callback"), Some("+8613800000009"))
    );
    let due = w["first_response_due"].as_i64().unwrap() - w["enqueued_at"].as_i64().unwrap();
    assert_eq!(due, 900_000, "the callback SLA applies");
    let mut ws = Ws::connect(&app, &t1).await;
    available(&app, &t1).await;
    let o = ws.event("offer.created", WAIT).await.unwrap();
    assert_eq!(o["payload"]["kind"], "callback");
    assert_eq!(o["payload"]["phone"], "+8613800000009");
    assert_eq!(o["payload"]["note"], "missed call at 9:00");

    // The Rust entry point the voice channel uses turns an existing ticket into a callback.
    let tid = ticket(&app, &app.admin_token, "missed call", None).await;
    let item = hotline::routing::create_callback(&app.state.db, tid, Some(q), "+8613800000010", "")
        .await
        .unwrap();
    assert_eq!((item.kind.as_str(), item.queue_id), ("callback", Some(q)));
    let item =
        hotline::routing::create_callback(&app.state.db, tid, None, "+8613800000011", "again")
            .await
            .unwrap();
    assert_eq!(
        (item.phone.as_str(), item.queue_id),
        ("+8613800000011", Some(q))
    );
}

#[tokio::test]
async fn sla_warning_and_breach_fire_and_escalate() {
    let app = fast_app().await;
    let q = app.queue("Slow").await;
    let esc = app.queue("Escalations").await;
    let (sup_id, sup) = app.user("sup", "supervisor").await;
    works(&app, sup_id, &[q]).await;
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/queues/{q}/sla"),
            Some(&sup),
            Some(json!({"priority": 7, "first_response_secs": 1, "resolution_secs": 60})),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, t) = app
        .call(
            Method::PUT,
            &format!("/api/queues/{q}/sla"),
            Some(&sup),
            Some(
                json!({"priority": 1, "first_response_secs": 2, "resolution_secs": 3600,
                "warn_percent": 50, "escalate_queue_id": esc}),
            ),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{t}");
    let (_, list) = app.get(&format!("/api/queues/{q}/sla"), &sup).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let mut ws = Ws::connect(&app, &sup).await;
    let tid = ticket(&app, &sup, "urgent-ish", Some(q)).await;
    let w = work_until(&app, tid, |w| w["first_response_due"].is_i64()).await;
    assert_eq!(
        w["first_response_due"].as_i64().unwrap() - w["enqueued_at"].as_i64().unwrap(),
        2000
    );
    let warn = ws.event("sla.warning", WAIT).await.expect("warning");
    assert_eq!(warn["payload"]["ticket_id"], tid);
    assert_eq!(warn["payload"]["target"], "first_response");
    let breach = ws.event("sla.breach", WAIT).await.expect("breach");
    assert_eq!(breach["payload"]["target"], "first_response");
    assert_eq!(breach["payload"]["escalated_to_queue_id"], esc);
    let w = work(&app, tid).await;
    assert_eq!(
        (w["queue_id"].as_i64(), w["priority"].as_i64()),
        (Some(esc), Some(2))
    );
    let (_, t) = app.get(&format!("/api/tickets/{tid}"), &sup).await;
    assert_eq!(t["ticket"]["queue_id"], esc);
}

#[tokio::test]
async fn the_wallboard_counts_waiting_and_answered_work() {
    let app = fast_app().await;
    let q = app.queue("Front").await;
    let (a1, t1) = app.user("a1", "agent").await;
    let (_, sup) = app.user("sup", "supervisor").await;
    members(&app, q, &[a1]).await;
    let t_wait = ticket(&app, &sup, "waits", Some(q)).await;
    work_until(&app, t_wait, |w| w["state"] == "waiting").await;
    let (s, w) = app
        .post(&format!("/api/work/{t_wait}/pick"), &t1, json!({}))
        .await;
    assert_eq!(s.as_u16(), 200, "{w}");
    let t2 = ticket(&app, &sup, "still waiting", Some(q)).await;
    work_until(&app, t2, |w| w["state"] == "waiting").await;
    available(&app, &t1).await;
    let mut ws = Ws::connect(&app, &sup).await;
    let frame = ws
        .until(WAIT, |f| {
            f["type"] == "queue_stats"
                && f["queues"].as_array().is_some_and(|qs| {
                    qs.iter()
                        .any(|x| x["queue_id"] == q && x["answered"] == 1 && x["waiting"] == 1)
                })
        })
        .await
        .0
        .expect("queue_stats for supervisors");
    let fq = frame["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["queue_id"] == q)
        .unwrap()
        .clone();
    assert_eq!(fq["offered"], 2);
    assert_eq!(fq["service_level"], 1.0);
    assert!(fq["asa_secs"].as_f64().unwrap() < 20.0);
    assert!(
        frame["agents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["user_id"] == a1)
    );
    let (s, wb) = app.get("/api/wallboard", &sup).await;
    assert_eq!(s.as_u16(), 200);
    assert!(wb["overall"]["offered"].as_i64().unwrap() >= 2, "{wb}");
    // Agents never get queue_stats.
    let mut aw = Ws::connect(&app, &t1).await;
    let (got, _) = aw
        .until(Duration::from_millis(1500), |f| f["type"] == "queue_stats")
        .await;
    assert!(got.is_none());
}

#[tokio::test]
async fn sla_clocks_count_business_hours_and_skip_holidays() {
    let app = fast_app().await;
    let q = app.queue("Office").await;
    let (sup_id, sup) = app.user("sup", "supervisor").await;
    works(&app, sup_id, &[q]).await;
    let put = |body: Value| {
        let path = format!("/api/queues/{q}/hours");
        let sup = sup.clone();
        let app = &app;
        async move { app.call(Method::PUT, &path, Some(&sup), Some(body)).await }
    };
    let (s, b) = put(json!({"hours": [{"weekday": 0, "open": "9am", "close": "18:00"}]})).await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "open");
    let (s, b) = put(json!({"hours": [{"weekday": 7, "open": "09:00", "close": "18:00"}]})).await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = put(json!({"holidays": ["1 May"]})).await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "holidays");

    // Open every day around the clock, except today and tomorrow (UTC).
    let today = hotline::db::now_ms() / 86_400_000;
    let holidays: Vec<String> = [today, today + 1]
        .iter()
        .map(|d| hotline::routing::sla::day_text(*d))
        .collect();
    let hours: Vec<Value> = (0..7)
        .map(|d| json!({"weekday": d, "open": "00:00", "close": "24:00"}))
        .collect();
    let (s, cal) = put(json!({"hours": hours, "holidays": holidays})).await;
    assert_eq!(s.as_u16(), 200, "{cal}");
    assert_eq!(cal["holidays"], json!(holidays));
    let (s, _) = app
        .call(
            Method::PUT,
            &format!("/api/queues/{q}/sla"),
            Some(&sup),
            Some(json!({"priority": 1, "first_response_secs": 60, "resolution_secs": 3600})),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    let tid = ticket(&app, &sup, "after the holidays", Some(q)).await;
    let w = work_until(&app, tid, |w| w["first_response_due"].is_i64()).await;
    let day_after = (today + 2) * 86_400_000;
    assert_eq!(w["first_response_due"], day_after + 60_000);
    assert_eq!(w["resolution_due"], day_after + 3_600_000);
}
