//! Agents correct threading: split a message into its own ticket, merge two tickets; later
//! replies follow the moved messages.

use crate::email_support::*;
use crate::support::assert_error;
use serde_json::json;
use sqlx::Row;

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

/// The interaction's meta as JSON.
async fn meta_of(app: &crate::support::TestApp, interaction: i64) -> serde_json::Value {
    let meta: String = sqlx::query("SELECT meta FROM interactions WHERE id = $1")
        .bind(interaction)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .try_get("meta")
        .unwrap();
    serde_json::from_str(&meta).unwrap()
}

/// Delivers a mail and returns (ticket, interaction) once it is processed.
async fn send(app: &crate::support::TestApp, from: &str, raw: &[u8]) -> (i64, i64) {
    let r = deliver(smtp_addr(app), from, "support@localhost", raw).await;
    let (status, t, i) = wait_processed(app, queued_id(&r)).await;
    assert_eq!(status, "processed");
    (t.unwrap(), i.unwrap())
}

/// The subjects of the acknowledgements queued for a ticket.
async fn ack_subjects(app: &crate::support::TestApp, ticket: i64) -> Vec<String> {
    let rows = sqlx::query(
        "SELECT payload FROM outbox WHERE ticket_id = $1 AND interaction_id IS NULL ORDER BY id",
    )
    .bind(ticket)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            let p: serde_json::Value =
                serde_json::from_str(&r.try_get::<String, _>("payload").unwrap()).unwrap();
            p["subject"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Issue #13 item 4: a ticket number was read out of any `hotline.X.N@…` Message-ID, and any
/// stored Message-ID let anyone write into its ticket.
#[tokio::test]
async fn threading_headers_cannot_be_forged() {
    let app = spawn_mail(|c| c.mail_ack = false).await;
    let (t1, _) = send(
        &app,
        "alice@example.com",
        &mail("alice@example.com", "Router", "r1@alice.test", "", "broken"),
    )
    .await;
    // A Message-ID of Hotline's form that Hotline never sent threads nowhere, whoever sends it.
    for (who, id) in [("mallory@evil.test", "f1"), ("alice@example.com", "f2")] {
        let forged = mail(
            who,
            "Re: Router",
            &format!("{id}@evil.test"),
            &format!(
                "In-Reply-To: <hotline.0.{t1}@anything>\r\nReferences: <hotline.1.{t1}@localhost>\r\n"
            ),
            "let me in",
        );
        let (t, i) = send(&app, who, &forged).await;
        assert_ne!(t, t1, "{who} joined ticket {t1} with a forged id");
        assert_eq!(meta_of(&app, i).await["thread_reason"], "new_ticket");
    }
    // A real Message-ID quoted by a stranger: a ticket of their own, linked for the agent.
    let quoting = mail(
        "mallory@evil.test",
        "Re: Router",
        "f3@evil.test",
        "In-Reply-To: <r1@alice.test>\r\n",
        "let me in",
    );
    let (t, i) = send(&app, "mallory@evil.test", &quoting).await;
    assert_ne!(t, t1);
    let meta = meta_of(&app, i).await;
    assert_eq!(meta["thread_reason"], "reply_from_stranger");
    assert_eq!(meta["related_ticket"], t1);
    // So is the subject token quoted by a stranger.
    let token = mail(
        "mallory@evil.test",
        &format!("Re: Router [#{t1}]"),
        "f4@evil.test",
        "",
        "let me in",
    );
    let (t, i) = send(&app, "mallory@evil.test", &token).await;
    assert_ne!(t, t1);
    assert_eq!(meta_of(&app, i).await["related_ticket"], t1);
    // The customer's own reply still threads, by References too.
    let own = mail(
        "alice@example.com",
        "Re: Router",
        "r2@alice.test",
        "References: <unknown@x.test> <r1@alice.test>\r\n",
        "still broken",
    );
    let (t, i) = send(&app, "alice@example.com", &own).await;
    assert_eq!(t, t1);
    assert_eq!(meta_of(&app, i).await["thread_reason"], "references");
    let view = app
        .get(&format!("/api/tickets/{t1}"), &app.admin_token)
        .await
        .1;
    assert_eq!(view["interactions"].as_array().unwrap().len(), 2);
}

/// Issue #13 item 4: replies to an acknowledgement Hotline really sent thread on its stored
/// Message-ID (acknowledgements have no interaction), for the customer only.
#[tokio::test]
async fn replies_to_a_sent_acknowledgement_thread_for_its_customer_only() {
    use crate::email_outbound::{free_port, header, start_relay, wait_messages};
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let relay = start_relay(port, tmp.path()).await;
    let app = spawn_mail(|c| {
        c.smtp_relay = hotline::config::Secret(format!("smtp://127.0.0.1:{port}"));
        c.outbox_retry_ms = 100;
    })
    .await;
    let (t1, _) = send(
        &app,
        "bob@example.com",
        &mail("bob@example.com", "Parcel", "p1@bob.test", "", "late"),
    )
    .await;
    let ack = &wait_messages(&relay.dir, 1).await[0];
    let ack_id = header(ack, "Message-ID").unwrap();
    let ack_id = ack_id.trim_matches(|c| c == '<' || c == '>');
    // Wait until the sender recorded the send.
    let start = std::time::Instant::now();
    while count(
        &app,
        "SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND recipient = $1",
        "bob@example.com",
    )
    .await
        == 0
    {
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let reply = |from: &str, id: &str| {
        mail(
            from,
            "Re: your ack",
            id,
            &format!("In-Reply-To: <{ack_id}>\r\n"),
            "thanks",
        )
    };
    let (t, i) = send(
        &app,
        "bob@example.com",
        &reply("bob@example.com", "p2@bob.test"),
    )
    .await;
    assert_eq!(t, t1);
    assert_eq!(meta_of(&app, i).await["thread_reason"], "in_reply_to");
    let (t, i) = send(
        &app,
        "mallory@evil.test",
        &reply("mallory@evil.test", "p3@evil.test"),
    )
    .await;
    assert_ne!(t, t1);
    assert_eq!(meta_of(&app, i).await["related_ticket"], t1);
}

/// Issue #13 item 5: the acknowledgement of a reply to a closed ticket's acknowledgement
/// nested the tags, and a reply with that subject went to the last tag's (closed) ticket.
#[tokio::test]
async fn acknowledgement_subjects_never_nest_and_the_open_ticket_wins() {
    let app = spawn_mail(|c| c.mail_ack_per_hour = 100).await;
    let (t1, _) = send(
        &app,
        "carol@example.com",
        &mail("carol@example.com", "Router", "c1@carol.test", "", "broken"),
    )
    .await;
    let first = ack_subjects(&app, t1).await;
    assert_eq!(
        first,
        vec![format!("[#{t1}] We received your message: Router")]
    );
    let (status, body) = app
        .patch(
            &format!("/api/tickets/{t1}"),
            &app.admin_token,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Carol answers the acknowledgement of the closed ticket: a new ticket, acknowledged
    // without the earlier tag and prefix.
    let (t2, _) = send(
        &app,
        "carol@example.com",
        &mail(
            "carol@example.com",
            &format!("Re: {}", first[0]),
            "c2@carol.test",
            "",
            "again",
        ),
    )
    .await;
    assert_ne!(t2, t1);
    assert_eq!(
        ack_subjects(&app, t2).await,
        vec![format!("[#{t2}] We received your message: Router")]
    );
    // A subject with both tags (as earlier versions nested them), either order: the open
    // ticket Carol takes part in wins.
    let nested = [
        format!(
            "Re: [#{t2}] We received your message: Re: [#{t1}] We received your message: Router"
        ),
        format!("Re: [#{t1}] x [#{t2}] y"),
    ];
    for (n, subject) in nested.iter().enumerate() {
        let (t, i) = send(
            &app,
            "carol@example.com",
            &mail(
                "carol@example.com",
                subject,
                &format!("c3-{n}@carol.test"),
                "",
                "more",
            ),
        )
        .await;
        assert_eq!(t, t2, "{subject}");
        assert_eq!(meta_of(&app, i).await["thread_reason"], "subject_token");
    }
    // A tag of a ticket Carol has no part in does not outrank hers.
    let (t3, _) = send(
        &app,
        "dave@example.com",
        &mail("dave@example.com", "Other", "d1@dave.test", "", "x"),
    )
    .await;
    let (t, _) = send(
        &app,
        "carol@example.com",
        &mail(
            "carol@example.com",
            &format!("[#{t2}] [#{t3}]"),
            "c4@carol.test",
            "",
            "more",
        ),
    )
    .await;
    assert_eq!(t, t2);
}
