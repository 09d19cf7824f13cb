//! Agents correct threading: split a message into its own ticket, merge two tickets; later
//! replies follow the moved messages.

use crate::email_support::*;
use crate::support::assert_error;
use serde_json::json;

#[tokio::test]
async fn split_and_merge_email_threads() {
    let app = spawn_mail(|c| c.mail_ack = false).await;
    let addr = smtp_addr(&app);
    let send = |id: &str, extra: String| mail("alice@example.com", "Thread", id, &extra, "text");
    let r = deliver(
        addr,
        "alice@example.com",
        "support@localhost",
        &send("a@x.test", String::new()),
    )
    .await;
    let (_, t1, _) = wait_processed(&app, queued_id(&r)).await;
    let t1 = t1.unwrap();
    let r = deliver(
        addr,
        "alice@example.com",
        "support@localhost",
        &send("b@x.test", "In-Reply-To: <a@x.test>\r\n".into()),
    )
    .await;
    let (_, tb, b) = wait_processed(&app, queued_id(&r)).await;
    assert_eq!(tb, Some(t1));
    let b = b.unwrap();

    // Split B out: a new ticket for the same customer; replies to B follow it.
    let (status, t2) = app
        .post(
            &format!("/api/interactions/{b}/split"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{t2}");
    let t2 = t2["id"].as_i64().unwrap();
    assert_ne!(t2, t1);
    let (_, view) = app
        .get(&format!("/api/tickets/{t2}"), &app.admin_token)
        .await;
    assert_eq!(view["interactions"][0]["id"], b);
    assert_eq!(view["interactions"][0]["meta"]["thread_reason"], "split");
    assert_eq!(
        view["ticket"]["customer_id"],
        view["interactions"][0]["customer_id"]
    );
    let r = deliver(
        addr,
        "alice@example.com",
        "support@localhost",
        &send("c@x.test", "In-Reply-To: <b@x.test>\r\n".into()),
    )
    .await;
    assert_eq!(wait_processed(&app, queued_id(&r)).await.1, Some(t2));
    // The last message of a ticket cannot be split from it.
    let (_, v1) = app
        .get(&format!("/api/tickets/{t1}"), &app.admin_token)
        .await;
    let a = v1["interactions"][0]["id"].as_i64().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/interactions/{a}/split"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_error(status, &body, 409, "conflict");
    let (status, _) = app
        .post(
            "/api/interactions/999999/split",
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(status, 404);

    // Merge T2 back into T1: the whole thread moves, T2 closes and points at T1.
    let (status, body) = app
        .post(
            &format!("/api/tickets/{t2}/merge"),
            &app.admin_token,
            json!({"into": t2}),
        )
        .await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = app
        .post(
            &format!("/api/tickets/{t2}/merge"),
            &app.admin_token,
            json!({"into": 999999}),
        )
        .await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, merged) = app
        .post(
            &format!("/api/tickets/{t2}/merge"),
            &app.admin_token,
            json!({"into": t1}),
        )
        .await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["id"], t1);
    let (_, v1) = app
        .get(&format!("/api/tickets/{t1}"), &app.admin_token)
        .await;
    assert_eq!(v1["interactions"].as_array().unwrap().len(), 3);
    let (_, v2) = app
        .get(&format!("/api/tickets/{t2}"), &app.admin_token)
        .await;
    assert_eq!(v2["ticket"]["merged_into"], t1);
    assert_eq!(v2["ticket"]["status"], "closed");
    let (status, body) = app
        .post(
            &format!("/api/tickets/{t2}/merge"),
            &app.admin_token,
            json!({"into": t1}),
        )
        .await;
    assert_error(status, &body, 409, "conflict");
    let r = deliver(
        addr,
        "alice@example.com",
        "support@localhost",
        &send("d@x.test", "In-Reply-To: <c@x.test>\r\n".into()),
    )
    .await;
    assert_eq!(wait_processed(&app, queued_id(&r)).await.1, Some(t1));
    let n = count(
        &app,
        "SELECT COUNT(*) FROM audit_log WHERE action = $1",
        "ticket.merge",
    )
    .await;
    assert_eq!(n, 1);
}
