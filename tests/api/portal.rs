//! The public customer portal: complaint intake with spam protection, acknowledgements through
//! the outbox, and the status look-up that answers only to the ticket's own contact.

use crate::support::{TestApp, assert_error};
use base64::Engine;
use hotline::channels::web::{form_secret, sign_form_token};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

/// A valid form token issued `age_ms` ago (as if the customer had taken that long to type).
async fn token_aged(t: &TestApp, age_ms: i64) -> String {
    let secret = form_secret(&t.state.db).await.unwrap();
    sign_form_token(&secret, hotline::db::now_ms() - age_ms)
}

/// An attachment downloaded as the admin, over HTTP.
async fn download(t: &TestApp, id: i64) -> reqwest::Response {
    t.http
        .get(t.url(&format!("/api/attachments/{id}")))
        .bearer_auth(&t.admin_token)
        .send()
        .await
        .unwrap()
}

async fn submit(t: &TestApp, body: Value) -> (StatusCode, Value) {
    t.call(Method::POST, "/api/portal/complaints", None, Some(body))
        .await
}

async fn outbox(t: &TestApp, ticket: i64) -> Vec<(String, String, Value)> {
    sqlx::query("SELECT channel, recipient, payload FROM outbox WHERE ticket_id = $1 ORDER BY id")
        .bind(ticket)
        .fetch_all(&t.state.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let payload: String = r.get("payload");
            (
                r.get("channel"),
                r.get("recipient"),
                serde_json::from_str(&payload).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn complaint_becomes_a_ticket_with_acknowledgement_and_status() {
    let t = TestApp::spawn().await;
    let (status, form) = t
        .call(Method::GET, "/api/portal/form-token", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{form}");
    assert!(form["token"].as_str().unwrap().split('.').count() == 3);
    assert_eq!(form["min_age_ms"], 3000);

    let photo = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG fake image bytes");
    let receipt_text = base64::engine::general_purpose::STANDARD.encode("收据：50 元".as_bytes());
    let (status, receipt) = submit(
        &t,
        json!({
            "name": "王小明", "email": "Xiaoming.Wang@Example.CN", "phone": "138 0013 8000",
            "kind": "complaint", "subject": "账单错误",
            "description": "我的账单多收了 50 元。\nPlease check.",
            "attachments": [
                {"name": "../bill.png", "content_type": "image/png", "data": photo},
                {"name": "收据 2024.txt", "content_type": "", "data": receipt_text},
            ],
            "form_token": token_aged(&t, 10_000).await, "website": "", "locale": "zh-CN",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let number = receipt["ticket_number"].as_i64().unwrap();
    assert_eq!(receipt["acknowledged_by"], json!(["email"]));

    // The agent sees a web complaint from a new customer with both identities.
    let (_, view) = t
        .get(&format!("/api/tickets/{number}"), &t.admin_token)
        .await;
    assert_eq!(view["ticket"]["channel"], "web");
    assert_eq!(view["ticket"]["kind"], "complaint");
    assert_eq!(view["ticket"]["subject"], "账单错误");
    let inbound = &view["interactions"][0];
    assert_eq!(inbound["direction"], "in");
    assert!(inbound["body"].as_str().unwrap().contains("50 元"));
    // Its attachments are listed with ids and download over HTTP, with their names.
    let files = inbound["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{inbound}");
    assert_eq!(files[0]["filename"], "bill.png");
    assert_eq!(files[0]["content_type"], "image/png");
    assert_eq!(files[0]["size"], 21);
    assert_eq!(files[1]["filename"], "收据 2024.txt");
    assert_eq!(files[1]["content_type"], "text/plain");
    assert!(
        inbound["meta"].get("attachments").is_none(),
        "no disk paths in meta"
    );
    let res = download(&t, files[0]["id"].as_i64().unwrap()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"bill.png\"; filename*=UTF-8''bill.png"
    );
    assert_eq!(
        res.bytes().await.unwrap().to_vec(),
        b"\x89PNG fake image bytes".to_vec()
    );
    let res = download(&t, files[1]["id"].as_i64().unwrap()).await;
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"_ 2024.txt\"; filename*=UTF-8''%E6%94%B6%E6%8D%AE%202024.txt"
    );
    assert_eq!(res.text().await.unwrap(), "收据：50 元");
    let anonymous = t
        .http
        .get(t.url(&format!("/api/attachments/{}", files[0]["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let cid = view["ticket"]["customer_id"].as_i64().unwrap();
    let (_, customer) = t
        .get(&format!("/api/customers/{cid}"), &t.admin_token)
        .await;
    assert_eq!(customer["customer"]["display_name"], "王小明");
    let idents = customer["customer"]["identities"].to_string();
    assert!(idents.contains("xiaoming.wang@example.cn"), "{idents}");
    assert!(idents.contains("+8613800138000"), "{idents}");

    // The acknowledgement waits in the outbox, in the customer's language, with the number.
    let queued = outbox(&t, number).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0, "email");
    assert_eq!(queued[0].1, "xiaoming.wang@example.cn");
    assert!(
        queued[0].2["subject"]
            .as_str()
            .unwrap()
            .contains(&format!("[#{number}]"))
    );
    assert!(queued[0].2["body"].as_str().unwrap().contains("工单号"));

    // An agent's reply and a note: the customer sees the reply, never the note.
    t.post(
        &format!("/api/tickets/{number}/notes"),
        &t.admin_token,
        json!({"body": "internal: customer is angry"}),
    )
    .await;
    let (s, _) = t
        .post(
            &format!("/api/tickets/{number}/replies"),
            &t.admin_token,
            json!({"body": "We refunded 50 yuan."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    // Number and contact: the status only. The acknowledgement's link: the conversation.
    for contact in ["xiaoming.wang@example.cn", "+86 138-0013-8000"] {
        let (status, st) = t
            .call(
                Method::GET,
                &format!(
                    "/api/portal/tickets/{number}?contact={}",
                    url_escape(contact)
                ),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{contact}: {st}");
        assert_eq!(st["ticket_number"], number);
        assert_eq!(st["status"], "open");
        assert_eq!(st["conversation"], false);
        assert!(st.get("replies").is_none(), "{st}");
    }
    let key = link_key(&queued[0].2, number);
    let (status, st) = t
        .call(
            Method::GET,
            &format!("/api/portal/tickets/{number}?key={key}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{st}");
    assert_eq!(st["subject"], "账单错误");
    let replies = st["replies"].to_string();
    assert!(replies.contains("refunded 50 yuan"), "{replies}");
    assert!(!replies.contains("angry"), "{replies}");
}

/// The key of the status link in an acknowledgement's body.
fn link_key(payload: &Value, number: i64) -> String {
    let body = payload["body"].as_str().unwrap();
    let marker = format!("/portal.html#status?t={number}&k=");
    let at = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no status link: {body}"))
        + marker.len();
    body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test]
async fn status_by_contact_shows_no_conversation_and_the_link_does() {
    let t = TestApp::spawn().await;
    let (_, receipt) = submit(
        &t,
        json!({"name": "Bob", "email": "bob@example.com", "description": "Broken phone",
               "subject": "My phone", "form_token": token_aged(&t, 5_000).await}),
    )
    .await;
    let number = receipt["ticket_number"].as_i64().unwrap();
    let (s, _) = t
        .post(
            &format!("/api/tickets/{number}/replies"),
            &t.admin_token,
            json!({"body": "Your contract number is 4711."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // Whoever knows bob's address and guesses the number sees the status, not the replies.
    let path = format!("/api/portal/tickets/{number}?contact=bob%40example.com");
    let (s, st) = t.call(Method::GET, &path, None, None).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["status"], "open");
    assert!(!st.to_string().contains("4711"), "{st}");
    assert!(!st.to_string().contains("My phone"), "{st}");
    // The link in the acknowledgement opens the conversation.
    let queued = outbox(&t, number).await;
    let key = link_key(&queued[0].2, number);
    assert!(key.len() >= 22, "{key}");
    let (s, st) = t
        .call(
            Method::GET,
            &format!("/api/portal/tickets/{number}?key={key}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["conversation"], true);
    assert!(st["replies"].to_string().contains("4711"), "{st}");
    // The ticket's own record keeps the link without the key (only its hash is stored).
    let (_, view) = t
        .get(&format!("/api/tickets/{number}"), &t.admin_token)
        .await;
    assert!(!view.to_string().contains(&key));
    // A wrong key, or the right key on another ticket, is a 404.
    let (_, other) = submit(
        &t,
        json!({"name": "Eve", "email": "eve@example.com", "description": "Hi",
               "form_token": token_aged(&t, 5_000).await}),
    )
    .await;
    let other = other["ticket_number"].as_i64().unwrap();
    for path in [
        format!("/api/portal/tickets/{number}?key=AAAAAAAAAAAAAAAAAAAAAAAA"),
        format!("/api/portal/tickets/{other}?key={key}"),
    ] {
        let (s, b) = t.call(Method::GET, &path, None, None).await;
        assert_error(s, &b, 404, "not_found");
    }
}

#[tokio::test]
async fn acknowledgements_are_limited_and_repeat_nothing_the_form_said() {
    let t = TestApp::spawn_with(|c| {
        c.portal_per_minute = 100;
        c.portal_acks_per_hour = 5;
    })
    .await;
    let send = |email: &'static str| {
        let t = &t;
        async move {
            let body = json!({
                "name": "Cheap Pills", "email": email, "kind": "inquiry",
                "subject": "BUY NOW http://spam.example", "description": "Visit spam.example today",
                "form_token": token_aged(t, 5_000).await});
            let (s, r) = submit(t, body).await;
            assert_eq!(s, StatusCode::CREATED, "{r}");
            (
                r["ticket_number"].as_i64().unwrap(),
                r["acknowledged_by"].clone(),
            )
        }
    };
    // Three acknowledgements an hour to one destination; the fourth complaint still stands.
    for _ in 0..3 {
        let (n, by) = send("victim@example.com").await;
        assert_eq!(by, json!(["email"]));
        let queued = outbox(&t, n).await;
        let text = format!("{} {}", queued[0].2["subject"], queued[0].2["body"]);
        for echo in ["Cheap", "Pills", "BUY", "spam", "Visit"] {
            assert!(!text.contains(echo), "{echo} in {text}");
        }
        assert!(text.contains(&format!("#{n}")), "{text}");
        link_key(&queued[0].2, n);
    }
    let (n, by) = send("victim@example.com").await;
    assert_eq!(by, json!([]));
    assert!(outbox(&t, n).await.is_empty());
    let (_, view) = t.get(&format!("/api/tickets/{n}"), &t.admin_token).await;
    assert_eq!(view["ticket"]["subject"], "BUY NOW http://spam.example");
    // And at most `portal_acks_per_hour` in all.
    assert_eq!(send("a@example.com").await.1, json!(["email"]));
    assert_eq!(send("b@example.com").await.1, json!(["email"]));
    assert_eq!(send("c@example.com").await.1, json!([]));
}

fn url_escape(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn phone_only_request_is_acknowledged_by_sms() {
    let t = TestApp::spawn().await;
    let (status, receipt) = submit(
        &t,
        json!({"name": "Li Lei", "phone": "13900139000", "kind": "request",
               "description": "Please call me back about my contract.",
               "form_token": token_aged(&t, 5_000).await}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let number = receipt["ticket_number"].as_i64().unwrap();
    assert_eq!(receipt["acknowledged_by"], json!(["sms"]));
    let queued = outbox(&t, number).await;
    assert_eq!(queued[0].0, "sms");
    assert_eq!(queued[0].1, "+8613900139000");
    assert!(
        queued[0].2["body"]
            .as_str()
            .unwrap()
            .contains(&format!("#{number}"))
    );
    let (_, view) = t
        .get(&format!("/api/tickets/{number}"), &t.admin_token)
        .await;
    assert_eq!(view["ticket"]["kind"], "request");
    // Without a subject, the first words of the description become one.
    assert_eq!(
        view["ticket"]["subject"],
        "Please call me back about my contract."
    );
}

#[tokio::test]
async fn spam_and_bad_input_are_refused_and_nothing_is_stored() {
    let t = TestApp::spawn_with(|c| c.portal_per_minute = 100).await;
    let good = json!({"name": "Ann", "email": "ann@example.com", "kind": "inquiry",
                      "description": "Where is my parcel?"});
    let with = |extra: Value| {
        let mut b = good.clone();
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let old = token_aged(&t, 60_000).await;

    let (s, b) = submit(
        &t,
        with(json!({"form_token": old, "website": "http://spam"})),
    )
    .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "website");

    // A token fetched just now: no person fills a form that fast.
    let (_, form) = t
        .call(Method::GET, "/api/portal/form-token", None, None)
        .await;
    let (s, b) = submit(&t, with(json!({"form_token": form["token"]}))).await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "form_token");

    let expired = token_aged(&t, 3 * 3_600_000).await;
    let (s, b) = submit(&t, with(json!({"form_token": expired}))).await;
    assert_error(s, &b, 400, "validation_failed");

    let forged = sign_form_token(&[7u8; 32], hotline::db::now_ms() - 60_000);
    let (s, b) = submit(&t, with(json!({"form_token": forged}))).await;
    assert_error(s, &b, 403, "bad_signature");
    let (s, b) = submit(&t, good.clone()).await;
    assert_error(s, &b, 403, "bad_signature");

    for (extra, field) in [
        (json!({"name": "  "}), "name"),
        (json!({"description": ""}), "description"),
        (json!({"email": null}), "email"),
        (json!({"email": "not an address"}), "email"),
        (json!({"email": null, "phone": "12"}), "phone"),
        (json!({"kind": "praise"}), "kind"),
        (
            json!({"attachments": [{"name": "a", "data": "%%%"}]}),
            "attachments",
        ),
        (
            json!({"attachments": [{"name": "big.bin", "data":
                base64::engine::general_purpose::STANDARD.encode(vec![0u8; 2 * 1024 * 1024 + 1])}]}),
            "attachments",
        ),
        (
            json!({"attachments": (0..4).map(|i| json!({"name": format!("{i}.txt"), "data": "aGk="})).collect::<Vec<_>>()}),
            "attachments",
        ),
    ] {
        let mut body = with(extra);
        body["form_token"] = json!(old);
        let (s, b) = submit(&t, body).await;
        assert_error(s, &b, 400, "validation_failed");
        assert_eq!(b["error"]["field"], field, "{b}");
    }
    let (_, list) = t.get("/api/tickets", &t.admin_token).await;
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");

    // The good form then goes through.
    let (s, b) = submit(&t, with(json!({"form_token": old}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

#[tokio::test]
async fn status_lookup_needs_the_tickets_own_contact() {
    let t = TestApp::spawn().await;
    let (_, receipt) = submit(
        &t,
        json!({"name": "Bob", "email": "bob@example.com", "description": "Broken phone",
               "form_token": token_aged(&t, 5_000).await}),
    )
    .await;
    let number = receipt["ticket_number"].as_i64().unwrap();
    let other = t.customer("Eve", &[("email", "eve@example.com")]).await;
    assert!(other > 0);
    let app = &t;
    let lookup = |n: i64, c: &str| {
        let path = format!("/api/portal/tickets/{n}?contact={}", url_escape(c));
        async move { app.call(Method::GET, &path, None, None).await }
    };
    let (s, b) = lookup(number, "BOB@example.com").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "new");
    for (n, c) in [
        (number, "eve@example.com"),
        (number, "13800138000"),
        (number + 100, "bob@example.com"),
    ] {
        let (s, b) = lookup(n, c).await;
        assert_error(s, &b, 404, "not_found");
    }
    let (s, b) = lookup(number, "").await;
    assert_error(s, &b, 400, "validation_failed");
}

#[tokio::test]
async fn every_contact_given_with_a_ticket_looks_it_up() {
    // The email belongs to a known customer, the phone is new to us: both find the ticket.
    let t = TestApp::spawn().await;
    t.customer("Bob", &[("email", "bob@example.com")]).await;
    let (s, receipt) = submit(
        &t,
        json!({"name": "Bob", "email": "bob@example.com", "phone": "139 0013 9000",
               "description": "手机屏幕坏了", "form_token": token_aged(&t, 5_000).await}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{receipt}");
    let number = receipt["ticket_number"].as_i64().unwrap();
    for contact in ["bob@example.com", "139 0013 9000", "+8613900139000"] {
        let path = format!(
            "/api/portal/tickets/{number}?contact={}",
            url_escape(contact)
        );
        let (s, b) = t.call(Method::GET, &path, None, None).await;
        assert_eq!(s, StatusCode::OK, "{contact}: {b}");
    }
    let path = format!("/api/portal/tickets/{number}?contact=13700137000");
    let (s, b) = t.call(Method::GET, &path, None, None).await;
    assert_error(s, &b, 404, "not_found");
}

#[tokio::test]
async fn the_acknowledgement_speaks_the_browsers_language_when_the_form_says_none() {
    let t = TestApp::spawn().await;
    let res = t
        .http
        .post(t.url("/api/portal/complaints"))
        .header("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")
        .json(
            &json!({"name": "王芳", "email": "wang@example.cn", "description": "收费不对",
                      "form_token": token_aged(&t, 5_000).await}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let receipt: Value = res.json().await.unwrap();
    let queued = outbox(&t, receipt["ticket_number"].as_i64().unwrap()).await;
    assert!(
        queued[0].2["body"].as_str().unwrap().contains("工单号"),
        "{queued:?}"
    );
}

#[tokio::test]
async fn one_address_is_limited_per_minute() {
    let t = TestApp::spawn_with(|c| c.portal_per_minute = 2).await;
    let body = json!({"name": "Ann", "email": "ann@example.com", "description": "Hello",
                      "form_token": token_aged(&t, 5_000).await});
    for _ in 0..2 {
        let (s, b) = submit(&t, body.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (s, b) = submit(&t, body).await;
    assert_error(s, &b, 429, "rate_limited");
    // Guessing ticket numbers is limited too.
    for n in 0..2 {
        let (s, _) = t
            .call(
                Method::GET,
                &format!("/api/portal/tickets/{}?contact=x@y.z", 900 + n),
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let (s, b) = t
        .call(
            Method::GET,
            "/api/portal/tickets/1?contact=ann@example.com",
            None,
            None,
        )
        .await;
    assert_error(s, &b, 429, "rate_limited");
}

/// `hotline simulate` against a real server: seeds the demo once (a second run adds nothing)
/// and its traffic reaches the server through the portal (CTI, SMS and SMTP are skipped here).
#[tokio::test]
async fn simulator_seeds_once_and_sends_traffic() {
    let t = TestApp::spawn_with(|c| {
        c.portal_form_min_age_ms = 50;
        c.portal_per_minute = 1000;
    })
    .await;
    let args = |duration: u64| hotline::simulate::SimulateArgs {
        url: t.base.clone(),
        admin_password: Some(crate::support::ADMIN_PASSWORD.into()),
        token: None,
        demo_password: "demo-password".into(),
        duration: Some(duration),
        per_minute: 600.0,
        seed_only: duration == 0,
        cti_token: None,
        twilio_auth_token: None,
        public_url: None,
        smtp: "127.0.0.1:9".into(),
        support_address: "support@localhost".into(),
        check: false,
        bots: 4,
        metrics_token: None,
    };
    hotline::simulate::run(args(0)).await.unwrap();
    hotline::simulate::run(args(3)).await.unwrap();
    let (_, users) = t.get("/api/users", &t.admin_token).await;
    let logins: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap())
        .collect();
    for l in ["agent1", "agent5", "supervisor"] {
        assert_eq!(logins.iter().filter(|x| **x == l).count(), 1, "{logins:?}");
    }
    let (_, queues) = t.get("/api/queues", &t.admin_token).await;
    let names: Vec<&str> = queues
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"投诉 Complaints"));
    let (_, customers) = t.get("/api/customers?limit=200", &t.admin_token).await;
    assert!(customers["items"].as_array().unwrap().len() >= 12);
    let (_, view) = t
        .get(
            "/api/customers/lookup?q=wang.fang@example.cn",
            &t.admin_token,
        )
        .await;
    assert_eq!(view["customer"]["tier"], "vip");
    // The portal submissions wait for their form token to age; give the last ones a moment.
    let mut web = 0;
    for _ in 0..50 {
        let (_, list) = t.get("/api/tickets?limit=200", &t.admin_token).await;
        web = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["channel"] == "web")
            .count();
        if web > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(web > 0, "no web complaint arrived from the simulator");
}
