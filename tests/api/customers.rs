use crate::support::{TestApp, assert_error};
use hotline::customers::Identity;
use hotline::customers::identity::IdentityKind;
use hotline::intake::{self, Inbound};
use hotline::tickets::Channel;
use serde_json::json;

#[tokio::test]
async fn phone_spellings_find_one_customer() {
    let app = TestApp::spawn().await;
    let id = app
        .customer(
            "王小明",
            &[
                ("phone", "138 0013 8000"),
                ("email", "Wang@Example.cn"),
                ("vip_card", "VIP 0042"),
            ],
        )
        .await;
    for q in [
        "+86 138-0013-8000",
        "008613800138000",
        "13800138000",
        "wang@example.CN",
        "vip0042",
        "vip 0042",
    ] {
        let (s, b) = app
            .get(
                &format!("/api/customers/lookup?q={}", urlencode(q)),
                &app.admin_token,
            )
            .await;
        assert_eq!(s.as_u16(), 200, "{q}: {b}");
        assert_eq!(b["match"], "exact", "{q}: {b}");
        assert_eq!(b["customer"]["id"], id, "{q}");
    }
    // A name prefix is a guess.
    let (_, b) = app
        .get(
            &format!("/api/customers/lookup?q={}", urlencode("王小")),
            &app.admin_token,
        )
        .await;
    assert_eq!(b["match"], "maybe", "{b}");
    assert_eq!(b["customer"]["id"], id);
    // An unknown number is unknown, with the number to prefill a new-customer form.
    let (_, b) = app
        .get("/api/customers/lookup?q=13900000000", &app.admin_token)
        .await;
    assert_eq!(b["match"], "unknown");
    assert_eq!(b["prefill"]["value"], "+8613900000000");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn an_identity_belongs_to_one_customer() {
    let app = TestApp::spawn().await;
    app.customer("A", &[("phone", "13800138000")]).await;
    let (s, b) = app
        .post("/api/customers", &app.admin_token, json!({"display_name": "B", "identities": [{"kind": "phone", "value": "+86 138 0013 8000"}]}))
        .await;
    assert_error(s, &b, 409, "conflict");
    // Nothing of B was stored.
    let (_, list) = app.get("/api/customers?name=B", &app.admin_token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");
    let (s, b) = app
        .post("/api/customers", &app.admin_token, json!({"display_name": "C", "identities": [{"kind": "phone", "value": "not a number"}]}))
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "value");
}

#[tokio::test]
async fn the_360_shows_everything_newest_first_with_pages() {
    let app = TestApp::spawn().await;
    let cid = app
        .customer(
            "Li Lei",
            &[("phone", "13800138001"), ("email", "li@example.com")],
        )
        .await;
    // Interactions arrive on three channels through intake.
    for (i, channel) in [Channel::Sms, Channel::Email, Channel::Voice]
        .into_iter()
        .cycle()
        .take(25)
        .enumerate()
    {
        let ident = match channel {
            Channel::Email => Identity {
                kind: IdentityKind::Email,
                value: "li@example.com".into(),
            },
            _ => Identity {
                kind: IdentityKind::Phone,
                value: "+8613800138001".into(),
            },
        };
        let mut msg = Inbound::new(channel, Some(ident), format!("message {i}"));
        msg.external_id = Some(format!("ext-{i}"));
        if i == 3 {
            msg.kind = hotline::tickets::Kind::Complaint;
            msg.thread = intake::Thread::New;
        }
        let out = intake::receive(&app.state.db, msg.clone()).await.unwrap();
        assert_eq!(out.customer_id, Some(cid));
    }
    let (s, v) = app
        .get("/api/customers/lookup?q=13800138001", &app.admin_token)
        .await;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(v["matched_by"], "phone");
    assert_eq!(v["customer"]["tier"], "regular");
    assert_eq!(v["open_complaints"], 1);
    assert_eq!(
        v["open_tickets"].as_array().unwrap().len(),
        4,
        "{}",
        v["open_tickets"]
    );
    let hist = v["history"].as_array().unwrap();
    assert_eq!(hist.len(), 20);
    assert_eq!(hist[0]["preview"], "message 24");
    let channels: std::collections::HashSet<_> = hist
        .iter()
        .map(|h| h["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels.len(), 3);
    // The next page continues where the first ended, without overlap.
    let next = v["history_next"].as_str().unwrap();
    let (_, page) = app
        .get(
            &format!("/api/customers/{cid}/history?before={next}"),
            &app.admin_token,
        )
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0]["preview"], "message 4");
    assert_eq!(items[4]["preview"], "message 0");
    assert!(page["next"].is_null());
    // Lookup by ticket number lands on the same customer.
    let tid = v["open_tickets"][0]["id"].as_i64().unwrap();
    let (_, v) = app
        .get(
            &format!("/api/customers/lookup?q=%23{tid}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(v["customer"]["id"], cid);
    let (s, b) = app
        .get(
            &format!("/api/customers/{cid}/history?before=garbage"),
            &app.admin_token,
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
}

#[tokio::test]
async fn intake_is_idempotent_and_creates_unknown_senders() {
    let app = TestApp::spawn().await;
    let ident = Identity {
        kind: IdentityKind::Phone,
        value: "+8613711112222".into(),
    };
    let mut msg = Inbound::new(Channel::Sms, Some(ident), "我的快递还没到");
    msg.external_id = Some("SM123".into());
    let (a, b) = tokio::join!(
        intake::receive(&app.state.db, msg.clone()),
        intake::receive(&app.state.db, msg.clone())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.interaction.id, b.interaction.id);
    assert!(a.duplicate ^ b.duplicate, "exactly one stored it");
    let tickets = crate::email_support::count(
        &app,
        "SELECT COUNT(*) FROM tickets WHERE channel = $1",
        "sms",
    )
    .await;
    assert_eq!(tickets, 1, "the delivery that lost left nothing of its own");
    let again = intake::receive(&app.state.db, msg.clone()).await.unwrap();
    assert!(again.duplicate);
    let (_, v) = app
        .get("/api/customers/lookup?q=13711112222", &app.admin_token)
        .await;
    assert_eq!(v["match"], "exact");
    assert_eq!(v["history"].as_array().unwrap().len(), 1);
    assert_eq!(v["history"][0]["preview"], "我的快递还没到");
}

#[tokio::test]
async fn hostile_text_is_stored_verbatim_or_refused() {
    let app = TestApp::spawn().await;
    let nasty = "Robert'); DROP TABLE customers;-- \" % _ \\ ' OR 1=1";
    let id = app.customer(nasty, &[("email", "bobby@example.com")]).await;
    let (_, v) = app
        .get(&format!("/api/customers/{id}"), &app.admin_token)
        .await;
    assert_eq!(v["customer"]["display_name"], nasty);
    let (_, v) = app
        .get(
            &format!("/api/customers/lookup?q={}", urlencode("robert');")),
            &app.admin_token,
        )
        .await;
    assert_eq!(v["customer"]["id"], id, "{v}");
    let (_, v) = app
        .get(
            &format!("/api/customers/lookup?q={}", urlencode("%")),
            &app.admin_token,
        )
        .await;
    assert_eq!(
        v["match"], "unknown",
        "LIKE wildcards are not wildcards: {v}"
    );
    let long = "x".repeat(100_000);
    for field in ["display_name", "notes", "language"] {
        let mut body = json!({"display_name": "ok"});
        body[field] = json!(long);
        let (s, b) = app.post("/api/customers", &app.admin_token, body).await;
        assert_error(s, &b, 400, "validation_failed");
        assert_eq!(b["error"]["field"], field);
    }
    let (s, b) = app
        .get(
            &format!("/api/customers/lookup?q={}", &long[..300]),
            &app.admin_token,
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = app.get("/api/customers/999999", &app.admin_token).await;
    assert_error(s, &b, 404, "not_found");
    let (s, b) = app.get("/api/customers/abc", &app.admin_token).await;
    assert_error(s, &b, 404, "not_found");
}

#[tokio::test]
async fn tier_and_owner_changes() {
    let app = TestApp::spawn().await;
    let (_, agent) = app.user("a1", "agent").await;
    let id = app.customer("Big Spender", &[]).await;
    let (s, v) = app
        .patch(
            &format!("/api/customers/{id}"),
            &agent,
            json!({"tier": "vip", "tags": ["wholesale"]}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    assert_eq!(v["tier"], "vip");
    let (s, b) = app
        .patch(
            &format!("/api/customers/{id}"),
            &agent,
            json!({"tier": "gold"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = app
        .patch(
            &format!("/api/customers/{id}"),
            &agent,
            json!({"owner_id": 1}),
        )
        .await;
    assert_error(s, &b, 403, "forbidden");
    let (_, list) = app.get("/api/customers?tier=vip", &agent).await;
    assert_eq!(list["items"][0]["id"], id);
}
