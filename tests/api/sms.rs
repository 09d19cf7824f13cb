//! SMS through the Twilio webhooks and the outbox sender, against a local Twilio stand-in.

use crate::support::{TestApp, assert_error};
use crate::twilio_fake::{
    ACCOUNT_SID, AUTH_TOKEN, count, eventually, post_signed, post_signed_with, spawn_with_twilio,
};
use serde_json::{Value, json};

async fn ticket_of_sid(app: &TestApp, sid: &str) -> i64 {
    let sql = format!("SELECT ticket_id AS n FROM interactions WHERE external_id = '{sid}'");
    count(app, &sql).await
}

async fn thread(app: &TestApp, ticket: i64) -> Value {
    let (s, v) = app
        .get(&format!("/api/tickets/{ticket}"), &app.admin_token)
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    v
}

#[tokio::test]
async fn inbound_sms_threads_keeps_chinese_and_media_and_is_idempotent() {
    let (app, _fake) = spawn_with_twilio().await;
    let long_chinese =
        "您好，我在三月五日买的洗衣机一直漏水，维修师傅来了两次都没有修好。".repeat(8);
    let first = [
        ("MessageSid", "SM0001"),
        ("From", "+8613800138000"),
        ("To", "+14155550100"),
        ("Body", long_chinese.as_str()),
        ("NumMedia", "2"),
        ("MediaUrl0", "https://api.twilio.com/media/ME1"),
        ("MediaContentType0", "image/jpeg"),
        ("MediaUrl1", "https://api.twilio.com/media/ME2"),
        ("MediaContentType1", "video/mp4"),
    ];
    let (s, body) = post_signed(&app, "/webhooks/twilio/sms", &first).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("<Response></Response>"), "{body}");
    // Twilio retries: the same MessageSid is stored once.
    let (s, _) = post_signed(&app, "/webhooks/twilio/sms", &first).await;
    assert_eq!(s, 200);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM interactions WHERE channel = 'sms'"
        )
        .await,
        1
    );

    let (s, _) = post_signed(
        &app,
        "/webhooks/twilio/sms",
        &[
            ("MessageSid", "SM0002"),
            ("From", "13800138000"),
            ("To", "+14155550100"),
            ("Body", "还有，发票也没寄到 😞"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let ticket = ticket_of_sid(&app, "SM0001").await;
    assert_eq!(
        ticket_of_sid(&app, "SM0002").await,
        ticket,
        "second SMS threads into the open ticket"
    );
    let v = thread(&app, ticket).await;
    assert_eq!(v["ticket"]["channel"], "sms");
    let items = v["interactions"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0]["body"],
        long_chinese.as_str(),
        "long UCS-2 text intact"
    );
    assert_eq!(items[0]["meta"]["encoding"], "ucs2");
    let units = long_chinese.encode_utf16().count();
    assert_eq!(items[0]["meta"]["segments"], units.div_ceil(67));
    assert_eq!(
        items[0]["meta"]["media"][1]["url"],
        "https://api.twilio.com/media/ME2"
    );
    assert_eq!(items[0]["meta"]["media"][1]["content_type"], "video/mp4");
    assert_eq!(items[1]["body"], "还有，发票也没寄到 😞");
    assert_eq!(items[1]["from_addr"], "+8613800138000");

    // A conversation waiting on the customer (pending) is reopened by their next text.
    let (s, _) = app
        .patch(
            &format!("/api/tickets/{ticket}"),
            &app.admin_token,
            json!({"status": "pending"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    post_signed(
        &app,
        "/webhooks/twilio/sms",
        &[
            ("MessageSid", "SM0003"),
            ("From", "+8613800138000"),
            ("Body", "?"),
        ],
    )
    .await;
    assert_eq!(ticket_of_sid(&app, "SM0003").await, ticket);
    assert_eq!(thread(&app, ticket).await["ticket"]["status"], "open");

    // Bad input: no MessageSid.
    let (s, body) = post_signed(
        &app,
        "/webhooks/twilio/sms",
        &[("From", "+8613800138000"), ("Body", "x")],
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("MessageSid"));
}

#[tokio::test]
async fn bad_or_missing_signature_is_refused_and_nothing_is_stored() {
    let (app, _fake) = spawn_with_twilio().await;
    let params = [
        ("MessageSid", "SMbad1"),
        ("From", "+8613800138001"),
        ("Body", "hi"),
    ];
    let (s, body) = post_signed_with(&app, "wrong-token", "/webhooks/twilio/sms", &params).await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("bad_signature"));
    let res = app
        .http
        .post(app.url("/webhooks/twilio/sms"))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    // Signed for other parameters than those sent.
    let form = crate::twilio_fake::pairs(&params);
    let sig = hotline::channels::twilio::signature(
        AUTH_TOKEN,
        "https://hotline.example.com/webhooks/twilio/sms",
        &form,
    );
    let res = app
        .http
        .post(app.url("/webhooks/twilio/sms"))
        .header("X-Twilio-Signature", sig)
        .form(&[
            ("MessageSid", "SMbad1"),
            ("From", "+8613800138001"),
            ("Body", "hi!"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let (s, _) = post_signed_with(
        &app,
        "wrong",
        "/webhooks/twilio/sms/status",
        &[("MessageSid", "SMx"), ("MessageStatus", "delivered")],
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM interactions").await,
        0
    );
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM customers").await, 0);

    // Without an auth token configured the webhooks are off.
    let plain = TestApp::spawn().await;
    let (s, body) = post_signed(&plain, "/webhooks/twilio/sms", &params).await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("forbidden"));
}

#[tokio::test]
async fn stop_and_tuiding_opt_out_and_outbound_is_refused() {
    let (app, fake) = spawn_with_twilio().await;
    let (_, agent) = app.user("agent1", "agent").await;
    let cid = app.customer("Li Lei", &[("phone", "+8613700000001")]).await;
    let cid2 = app
        .customer("Han Meimei", &[("phone", "+8613700000002")])
        .await;
    post_signed(
        &app,
        "/webhooks/twilio/sms",
        &[
            ("MessageSid", "SMs1"),
            ("From", "+8613700000001"),
            ("Body", "STOP"),
        ],
    )
    .await;
    post_signed(
        &app,
        "/webhooks/twilio/sms",
        &[
            ("MessageSid", "SMs2"),
            ("From", "+8613700000002"),
            ("Body", "退订"),
        ],
    )
    .await;
    let (s, list) = app.get("/api/sms/opt-outs", &app.admin_token).await;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    // Agents see the state on the customer page (GET /api/customers/{id}/sms).
    let (s, numbers) = app.get(&format!("/api/customers/{cid}/sms"), &agent).await;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(
        numbers,
        json!([{"number": "+8613700000001", "opted_out": true}])
    );
    for c in [cid, cid2] {
        let (s, body) = app
            .post(
                &format!("/api/customers/{c}/sms"),
                &agent,
                json!({"body": "Hello"}),
            )
            .await;
        assert_error(s, &body, 422, "unprocessable");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("opted out")
        );
    }
    // A reply on the opted-out customer's ticket is refused at once, like starting an SMS
    // (it used to be accepted with 201 and fail later in the sender).
    let ticket = ticket_of_sid(&app, "SMs1").await;
    let outbox_before = count(&app, "SELECT COUNT(*) AS n FROM outbox").await;
    for body in [
        json!({"body": "ok"}),
        json!({"body": "ok", "channel": "sms"}),
    ] {
        let (s, r) = app
            .post(&format!("/api/tickets/{ticket}/replies"), &agent, body)
            .await;
        assert_error(s, &r, 422, "unprocessable");
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap()
                .contains("opted out")
        );
    }
    // Also when the number is given as `to` on another ticket, in another spelling.
    let ticket2 = ticket_of_sid(&app, "SMs2").await;
    let (s, r) = app
        .post(
            &format!("/api/tickets/{ticket2}/replies"),
            &agent,
            json!({"body": "ok", "channel": "sms", "to": "13700000001"}),
        )
        .await;
    assert_error(s, &r, 422, "unprocessable");
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM outbox").await,
        outbox_before,
        "nothing was queued"
    );
    assert!(fake.requests().is_empty(), "nothing went to Twilio");

    // START opts back in.
    post_signed(
        &app,
        "/webhooks/twilio/sms",
        &[
            ("MessageSid", "SMs3"),
            ("From", "+8613700000001"),
            ("Body", "start"),
        ],
    )
    .await;
    let (s, body) = app
        .post(
            &format!("/api/customers/{cid}/sms"),
            &agent,
            json!({"body": "Welcome back"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{body}");
    let (_, numbers) = app.get(&format!("/api/customers/{cid}/sms"), &agent).await;
    assert_eq!(numbers[0]["opted_out"], false, "{numbers}");
}

#[tokio::test]
async fn agent_starts_an_sms_and_status_callbacks_track_delivery() {
    let (app, fake) = spawn_with_twilio().await;
    let (agent_id, agent) = app.user("agent1", "agent").await;
    let cid = app
        .customer("Wang Fang", &[("phone", "+8613600000009")])
        .await;
    let (s, body) = app
        .post(
            &format!("/api/customers/{cid}/sms"),
            &agent,
            json!({"body": "您好，您的退款已处理。"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{body}");
    assert_eq!(body["ticket"]["channel"], "sms");
    assert_eq!(body["ticket"]["assignee_id"], agent_id);
    assert_eq!(body["ticket"]["customer_id"], cid);
    let iid = body["interaction"]["id"].as_i64().unwrap();

    let reqs = fake.wait_for(1).await;
    let r = &reqs[0];
    assert_eq!(r.resource, "Messages.json");
    assert_eq!(r.field("To"), Some("+8613600000009"));
    assert_eq!(r.field("From"), Some("+14155550100"));
    assert_eq!(r.field("Body"), Some("您好，您的退款已处理。"));
    assert_eq!(
        r.field("StatusCallback"),
        Some("https://hotline.example.com/webhooks/twilio/sms/status")
    );
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
    assert_eq!(r.authorization, format!("Basic {basic}"));

    eventually("the sid to be stored", || async {
        count(&app, &format!("SELECT COUNT(*) AS n FROM interactions WHERE id = {iid} AND external_id = 'SMfake0001'")).await == 1
    })
    .await;
    let (s, _) = post_signed(
        &app,
        "/webhooks/twilio/sms/status",
        &[("MessageSid", "SMfake0001"), ("MessageStatus", "delivered")],
    )
    .await;
    assert_eq!(s, 200);
    // A late "sent" does not move it back.
    let (s, _) = post_signed(
        &app,
        "/webhooks/twilio/sms/status",
        &[("MessageSid", "SMfake0001"), ("MessageStatus", "sent")],
    )
    .await;
    assert_eq!(s, 200);
    let ticket = body["ticket"]["id"].as_i64().unwrap();
    let v = thread(&app, ticket).await;
    assert_eq!(v["interactions"][0]["meta"]["delivery"], "delivered", "{v}");
    assert!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM events WHERE kind = 'interaction.updated'"
        )
        .await
            >= 2
    );
    let (s, body) = post_signed(
        &app,
        "/webhooks/twilio/sms/status",
        &[("MessageSid", "SMnope"), ("MessageStatus", "delivered")],
    )
    .await;
    assert_eq!(s, 404, "{body}");

    // The customer answers: it threads into the conversation the agent started.
    post_signed(
        &app,
        "/webhooks/twilio/sms",
        &[
            ("MessageSid", "SMin1"),
            ("From", "+8613600000009"),
            ("Body", "谢谢"),
        ],
    )
    .await;
    assert_eq!(ticket_of_sid(&app, "SMin1").await, ticket);

    // Bad input.
    let (s, b) = app
        .post(
            &format!("/api/customers/{cid}/sms"),
            &agent,
            json!({"body": "  "}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = app
        .post("/api/customers/999999/sms", &agent, json!({"body": "x"}))
        .await;
    assert_error(s, &b, 404, "not_found");
    let nophone = app
        .customer("No Phone", &[("email", "np@example.com")])
        .await;
    let (s, b) = app
        .post(
            &format!("/api/customers/{nophone}/sms"),
            &agent,
            json!({"body": "x"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
}

#[tokio::test]
async fn sender_retries_transient_errors_and_gives_up_on_permanent_ones() {
    let (app, fake) = spawn_with_twilio().await;
    let (_, agent) = app.user("agent1", "agent").await;
    let cid = app
        .customer(
            "Zhao",
            &[("phone", "+8613500000001"), ("email", "zhao@example.com")],
        )
        .await;
    fake.push(503, json!({"message": "try later"}));
    let (s, first) = app
        .post(
            &format!("/api/customers/{cid}/sms"),
            &agent,
            json!({"body": "one"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{first}");
    let reqs = fake.wait_for(2).await;
    assert_eq!(
        reqs[0].field("Body"),
        reqs[1].field("Body"),
        "the same message was retried"
    );
    let iid = first["interaction"]["id"].as_i64().unwrap();
    eventually("the retried message to be sent", || async {
        count(&app, &format!("SELECT COUNT(*) AS n FROM outbox WHERE interaction_id = {iid} AND status = 'sent' AND attempts = 2")).await == 1
    })
    .await;

    fake.push(
        400,
        json!({"code": 21211, "message": "The 'To' number is not a valid phone number."}),
    );
    let (_, second) = app
        .post(
            &format!("/api/customers/{cid}/sms"),
            &agent,
            json!({"body": "two"}),
        )
        .await;
    let iid = second["interaction"]["id"].as_i64().unwrap();
    eventually("the refused message to fail", || async {
        count(&app, &format!("SELECT COUNT(*) AS n FROM outbox WHERE interaction_id = {iid} AND status = 'failed' AND attempts = 1")).await == 1
    })
    .await;
    let ticket = second["ticket"]["id"].as_i64().unwrap();
    let v = thread(&app, ticket).await;
    assert_eq!(v["interactions"][0]["meta"]["delivery"], "failed");
    assert_eq!(v["interactions"][0]["meta"]["error_code"], 21211);

    // Email rows belong to the email sender: this one never touches them.
    let (s, r) = app
        .post(
            &format!("/api/tickets/{ticket}/replies"),
            &agent,
            json!({"body": "by mail", "channel": "email"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{r}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM outbox WHERE channel = 'email' AND status = 'pending' AND attempts = 0").await, 1);
    assert_eq!(fake.requests().len(), 3);
}

/// STOP is stored in the transaction of its message: when storing the opt-out fails, the
/// message is not stored either and the webhook answers an error, so Twilio's retry of the same
/// MessageSid stores both (it used to store the message, fail the opt-out, and take the retry
/// for a duplicate: the opt-out was never recorded).
#[tokio::test]
async fn an_opt_out_is_stored_with_its_message_or_not_at_all() {
    let (app, _fake) = spawn_with_twilio().await;
    let pool = &app.state.db.pool;
    let pg = app.state.db.backend == hotline::db::Backend::Postgres;
    // Storing an opt-out fails until the trigger is dropped.
    let setup: &[&str] = if pg {
        &[
            "CREATE FUNCTION fail_opt_out() RETURNS trigger LANGUAGE plpgsql AS \
             'BEGIN RAISE EXCEPTION ''opt-out store down''; END'",
            "CREATE TRIGGER fail_opt_out BEFORE INSERT ON sms_opt_outs \
             FOR EACH ROW EXECUTE FUNCTION fail_opt_out()",
        ]
    } else {
        &["CREATE TRIGGER fail_opt_out BEFORE INSERT ON sms_opt_outs \
           BEGIN SELECT RAISE(ABORT, 'opt-out store down'); END"]
    };
    for sql in setup {
        sqlx::query(sqlx::AssertSqlSafe(*sql))
            .execute(pool)
            .await
            .unwrap();
    }
    let stop = [
        ("MessageSid", "SMstop1"),
        ("From", "+8613700000009"),
        ("Body", "STOP"),
    ];
    let (s, body) = post_signed(&app, "/webhooks/twilio/sms", &stop).await;
    assert!(s >= 500, "a failed opt-out fails the webhook ({s}): {body}");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM interactions WHERE external_id = 'SMstop1'"
        )
        .await,
        0,
        "the message was not stored without its opt-out"
    );

    let drop = if pg {
        "DROP TRIGGER fail_opt_out ON sms_opt_outs"
    } else {
        "DROP TRIGGER fail_opt_out"
    };
    sqlx::query(drop).execute(pool).await.unwrap();
    // Twilio retries the same message.
    let (s, body) = post_signed(&app, "/webhooks/twilio/sms", &stop).await;
    assert_eq!(s, 200, "{body}");
    let (_, list) = app.get("/api/sms/opt-outs", &app.admin_token).await;
    let numbers: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["number"].as_str())
        .collect();
    assert_eq!(numbers, ["+8613700000009"], "{list}");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM interactions WHERE external_id = 'SMstop1'"
        )
        .await,
        1
    );
    // A later retry of the STOP after the customer texted START does not opt them out again.
    let start = [
        ("MessageSid", "SMstart1"),
        ("From", "+8613700000009"),
        ("Body", "START"),
    ];
    assert_eq!(
        post_signed(&app, "/webhooks/twilio/sms", &start).await.0,
        200
    );
    assert_eq!(
        post_signed(&app, "/webhooks/twilio/sms", &stop).await.0,
        200
    );
    let (_, list) = app.get("/api/sms/opt-outs", &app.admin_token).await;
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
}
