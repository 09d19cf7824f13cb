use crate::support::{TestApp, assert_error};
use serde_json::json;

#[tokio::test]
async fn ticket_lifecycle_notes_and_reply_to_outbox() {
    let app = TestApp::spawn().await;
    let (_, agent) = app.user("agent1", "agent").await;
    let cid = app
        .customer(
            "Zhang San",
            &[("email", "zs@example.com"), ("phone", "13800000001")],
        )
        .await;
    let (s, t) = app
        .post("/api/tickets", &agent, json!({"subject": "Refund not received", "kind": "complaint", "channel": "voice", "customer_id": cid, "body": "Called twice"}))
        .await;
    assert_eq!(s.as_u16(), 201, "{t}");
    let id = t["id"].as_i64().unwrap();
    assert_eq!(
        (t["status"].as_str(), t["priority"].as_str()),
        (Some("new"), Some("normal"))
    );

    let (s, _) = app
        .post(
            &format!("/api/tickets/{id}/notes"),
            &agent,
            json!({"body": "checked the payment"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201);
    let (s, r) = app
        .post(
            &format!("/api/tickets/{id}/replies"),
            &agent,
            json!({"body": "Your refund is on its way."}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{r}");
    assert_eq!(r["to_addr"], "zs@example.com");
    assert_eq!(r["direction"], "out");
    let (s, r) = app
        .post(
            &format!("/api/tickets/{id}/replies"),
            &agent,
            json!({"body": "SMS too", "channel": "sms"}),
        )
        .await;
    assert_eq!(
        (s.as_u16(), r["to_addr"].as_str()),
        (201, Some("+8613800000001"))
    );

    let (_, v) = app.get(&format!("/api/tickets/{id}"), &agent).await;
    // The message, the note and two replies; and, as it is a complaint, the note that the
    // first reply acknowledged it.
    let list = v["interactions"].as_array().unwrap();
    assert_eq!(list.len(), 5, "{v}");
    assert_eq!(
        list.iter()
            .filter(|i| i["meta"]["complaint_transition"]["to"] == "acknowledged")
            .count(),
        1
    );
    assert_eq!(v["ticket"]["status"], "open");
    assert!(
        v["ticket"]["first_response_at"].as_i64().is_some(),
        "a reply is the first response"
    );

    let outbox: i64 = sqlx::Row::try_get(
        &sqlx::query(
            "SELECT COUNT(*) AS n FROM outbox WHERE ticket_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap(),
        "n",
    )
    .unwrap();
    assert_eq!(outbox, 2);

    let (s, v) = app
        .patch(
            &format!("/api/tickets/{id}"),
            &agent,
            json!({"status": "resolved", "priority": "high"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    assert!(v["resolved_at"].as_i64().is_some());
    let (_, v) = app
        .patch(
            &format!("/api/tickets/{id}"),
            &agent,
            json!({"status": "open"}),
        )
        .await;
    assert!(v["resolved_at"].is_null());
    let (s, b) = app
        .patch(
            &format!("/api/tickets/{id}"),
            &agent,
            json!({"status": "done"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "status");

    // Every change left an event for the realtime hub.
    let kinds: Vec<String> =
        sqlx::query("SELECT kind FROM events WHERE ticket_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| sqlx::Row::try_get(r, "kind").unwrap())
            .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("ticket.created"));
    assert!(
        kinds.iter().filter(|k| *k == "interaction.created").count() >= 4,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn reply_needs_a_recipient() {
    let app = TestApp::spawn().await;
    let (s, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "walk-in"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201);
    let (s, b) = app
        .post(
            &format!("/api/tickets/{}/replies", t["id"]),
            &app.admin_token,
            json!({"body": "hi"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "to");
    let (s, b) = app
        .post(
            "/api/tickets/424242/notes",
            &app.admin_token,
            json!({"body": "x"}),
        )
        .await;
    assert_error(s, &b, 404, "not_found");
    let (s, b) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "x", "queue_id": 777}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "queue_id");
}

#[tokio::test]
async fn agents_see_only_their_queues() {
    let app = TestApp::spawn().await;
    let (a_id, a) = app.user("alice", "agent").await;
    let (_, b) = app.user("bob", "agent").await;
    let (sue, sup) = app.user("sue", "supervisor").await;
    let billing = app.queue("Billing").await;
    // Supervisors set the members of the queues they work.
    crate::routing::works(&app, sue, &[billing]).await;
    let (s, _) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/queues/{billing}/members"),
            Some(&sup),
            Some(json!({"user_ids": [a_id]})),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    let (_, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "invoice", "queue_id": billing}),
        )
        .await;
    let id = t["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/tickets/{id}"), &a).await.0.as_u16(),
        200
    );
    let (s, body) = app.get(&format!("/api/tickets/{id}"), &b).await;
    assert_error(s, &body, 404, "not_found");
    let (_, list) = app.get("/api/tickets", &b).await;
    assert!(
        list.as_array().unwrap().iter().all(|t| t["id"] != id),
        "{list}"
    );
    let (_, list) = app.get("/api/tickets", &sup).await;
    assert!(list.as_array().unwrap().iter().any(|t| t["id"] == id));
    // Bob cannot assign it to himself through the back door either.
    let (s, _) = app
        .patch(&format!("/api/tickets/{id}"), &b, json!({"assignee_id": 2}))
        .await;
    assert_eq!(s.as_u16(), 404);
}

#[tokio::test]
async fn handover_moves_tickets_and_customers_and_is_audited() {
    let app = TestApp::spawn().await;
    let (leaver, _) = app.user("leaver", "agent").await;
    let (heir, _) = app.user("heir", "agent").await;
    let (_, sup) = app.user("boss", "supervisor").await;
    let cid = app.customer("Loyal Customer", &[]).await;
    let (s, _) = app
        .patch(
            &format!("/api/customers/{cid}"),
            &sup,
            json!({"owner_id": leaver}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    for i in 0..3 {
        let (s, _) = app
            .post(
                "/api/tickets",
                &app.admin_token,
                json!({"subject": format!("t{i}"), "assignee_id": leaver, "customer_id": cid}),
            )
            .await;
        assert_eq!(s.as_u16(), 201);
    }
    let (s, r) = app
        .post(
            &format!("/api/users/{leaver}/handover"),
            &sup,
            json!({"to": heir}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{r}");
    assert_eq!(r["tickets"].as_array().unwrap().len(), 3);
    assert_eq!(r["customers"], 1);
    let (_, list) = app
        .get(&format!("/api/tickets?assignee_id={heir}"), &sup)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 3);
    let (_, c) = app.get(&format!("/api/customers/{cid}"), &sup).await;
    assert_eq!(c["customer"]["owner_id"], heir);
    let (_, audit) = app.get("/api/audit", &app.admin_token).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "user.handover")
    );
    let (s, b) = app
        .post(
            &format!("/api/users/{leaver}/handover"),
            &sup,
            json!({"to": leaver}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
}
