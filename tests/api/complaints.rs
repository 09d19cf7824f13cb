//! Complaints followed until the customer has confirmed: an SMS complaint filed as a complaint by
//! a keyword rule, its category and severity, due times, reminders before and after them (the
//! owner, then the supervisors; email to whoever is signed out; none twice), the transitions on
//! the timeline, the confirmation call (回访) as callback work with unreachable tries, not
//! satisfied (reopen) and satisfied (closed), the customer writing again (reopen), a low survey
//! score (reopen, supervisors told), the CSAT figures by category, the register with its
//! filters, counts and CSV, and the checks on bad input and on who may do what.

use crate::support::{TestApp, assert_error};
use crate::twilio_fake::{count, eventually, post_signed, spawn_with_twilio};
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> (reqwest::StatusCode, Value) {
    app.call(reqwest::Method::PUT, path, Some(token), Some(body))
        .await
}

async fn complaint(app: &TestApp, ticket: i64, token: &str) -> Value {
    let (s, c) = app
        .get(&format!("/api/tickets/{ticket}/complaint"), token)
        .await;
    assert_eq!(s, 200, "{c}");
    c
}

async fn act(app: &TestApp, ticket: i64, token: &str, action: &str, note: &str) -> Value {
    let (s, c) = app
        .post(
            &format!("/api/tickets/{ticket}/complaint/transition"),
            token,
            json!({"action": action, "note": note}),
        )
        .await;
    assert_eq!(s, 200, "{action}: {c}");
    c
}

async fn confirm(app: &TestApp, ticket: i64, token: &str, outcome: &str, note: &str) -> Value {
    let (s, c) = app
        .post(
            &format!("/api/tickets/{ticket}/complaint/confirmation"),
            token,
            json!({"outcome": outcome, "note": note}),
        )
        .await;
    assert_eq!(s, 200, "{outcome}: {c}");
    c
}

/// One pass of the reminder job, as the routing leader runs it.
async fn remind(app: &TestApp) -> usize {
    hotline::complaints::remind_due(&hotline::complaints::Reminders {
        db: &app.state.db,
        clock: &app.state.clock,
    })
    .await
    .unwrap()
}

/// The user's complaint reminders: (step, point) of each, oldest first.
async fn reminders_of(app: &TestApp, token: &str) -> Vec<(String, i64)> {
    let (s, b) = app.get("/api/notifications", token).await;
    assert_eq!(s, 200, "{b}");
    let list = b["items"].as_array().cloned().unwrap_or_default();
    let mut out: Vec<(String, i64)> = list
        .iter()
        .filter(|n| n["kind"] == "complaint_reminder")
        .map(|n| {
            (
                n["data"]["step"].as_str().unwrap().to_string(),
                n["data"]["point"].as_i64().unwrap(),
            )
        })
        .collect();
    out.reverse();
    out
}

async fn category_id(app: &TestApp, code: &str) -> i64 {
    let (s, list) = app.get("/api/complaint-categories", &app.admin_token).await;
    assert_eq!(s, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == code)
        .unwrap_or_else(|| panic!("no category {code}: {list}"))["id"]
        .as_i64()
        .unwrap()
}

async fn sms(app: &TestApp, sid: &str, from: &str, body: &str) {
    let (s, b) = post_signed(
        app,
        "/webhooks/twilio/sms",
        &[
            ("MessageSid", sid),
            ("From", from),
            ("To", "+14155550100"),
            ("Body", body),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn an_sms_complaint_is_followed_until_the_customer_confirms() {
    let (app, _fake) = spawn_with_twilio().await;
    let q = app.queue("投诉处理").await;
    let (sup, sup_token) = app.user("sup", "supervisor").await;
    let (agent, agent_token) = app.user("agent", "agent").await;
    let (s, b) = app
        .patch(
            &format!("/api/users/{agent}"),
            &app.admin_token,
            json!({"email": "agent@example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = put(
        &app,
        &format!("/api/queues/{q}/members"),
        &app.admin_token,
        json!({"user_ids": [sup, agent]}),
    )
    .await;
    assert!(s.is_success(), "{b}");
    // A keyword rule files what mentions 投诉 as a complaint, in the complaints queue.
    let (s, rule) = app
        .post(
            &format!("/api/queues/{q}/rules"),
            &app.admin_token,
            json!({"keyword": "投诉", "set_kind": "complaint"}),
        )
        .await;
    assert_eq!(s, 201, "{rule}");
    assert_eq!(rule["set_kind"], "complaint");

    sms(
        &app,
        "SMc1",
        "+8613800138000",
        "我要投诉：洗衣机漏水，维修两次都没修好",
    )
    .await;
    let mut ticket = 0;
    for _ in 0..500 {
        let (_, list) = app.get("/api/complaints", &app.admin_token).await;
        if let Some(id) = list["items"][0]["ticket_id"].as_i64() {
            ticket = id;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ticket > 0, "the rule files the SMS as a complaint");
    let (_, t) = app
        .get(&format!("/api/tickets/{ticket}"), &app.admin_token)
        .await;
    assert_eq!(t["ticket"]["kind"], "complaint");
    assert_eq!(t["ticket"]["queue_id"], q);
    let c = complaint(&app, ticket, &agent_token).await;
    assert_eq!(c["status"], "received");
    assert_eq!(c["category_code"], "other");
    assert_eq!(c["severity"], 3);
    let created = c["created_at"].as_i64().unwrap();
    // Severity 3: acknowledge within 4 hours (the queue has no hours: around the clock).
    assert_eq!(c["ack_due"].as_i64().unwrap() - created, 4 * HOUR);

    // The agent sets the category, severity 2 (due times move), order and desired outcome.
    let billing = category_id(&app, "product_quality").await;
    let (s, c) = put(
        &app,
        &format!("/api/tickets/{ticket}/complaint"),
        &agent_token,
        json!({"category_id": billing, "severity": 2, "order_ref": "SO-20261201-88",
               "desired_outcome": "换一台新的"}),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["severity"], 2);
    assert_eq!(c["category_code"], "product_quality");
    assert_eq!(c["order_ref"], "SO-20261201-88");
    let ack_due = c["ack_due"].as_i64().unwrap();
    assert_eq!(ack_due - created, 2 * HOUR);
    let (s, b) = app
        .patch(
            &format!("/api/tickets/{ticket}"),
            &app.admin_token,
            json!({"assignee_id": agent}),
        )
        .await;
    assert_eq!(s, 200, "{b}");

    // Reminders: an hour before the due time the owner; none twice; at and after it the
    // supervisor too; the signed-out owner also by email.
    // (The leader's own passes may send them first: each is sent once either way.)
    app.state
        .clock
        .advance(ack_due - 59 * MINUTE - app.state.clock.now_ms());
    remind(&app).await;
    assert_eq!(remind(&app).await, 0, "a reminder is sent once");
    assert_eq!(
        reminders_of(&app, &agent_token).await,
        vec![("ack".into(), -60)]
    );
    assert!(reminders_of(&app, &sup_token).await.is_empty());
    app.state.clock.advance(2 * HOUR);
    remind(&app).await;
    assert_eq!(
        reminders_of(&app, &agent_token).await,
        vec![("ack".into(), -60), ("ack".into(), 0)]
    );
    assert_eq!(
        reminders_of(&app, &sup_token).await,
        vec![("ack".into(), 0)]
    );
    assert!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM outbox WHERE recipient = 'agent@example.com' \
             AND payload LIKE '%reminder%'"
        )
        .await
            >= 1
    );
    let (_, list) = app.get("/api/complaints?overdue=true", &sup_token).await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["overdue"], "ack");

    // Acknowledged: the ack reminders stop; the next step is the response.
    let c = act(&app, ticket, &agent_token, "acknowledge", "").await;
    assert_eq!(c["status"], "acknowledged");
    assert!(c["overdue"].is_null(), "{c}");
    app.state.clock.advance(5 * HOUR);
    remind(&app).await;
    let mine = reminders_of(&app, &agent_token).await;
    assert!(
        mine.iter().skip(2).all(|(step, _)| step == "respond"),
        "{mine:?}"
    );

    // Wrong moves: 409 from a status the action does not start from, 400 for an unknown one,
    // an agent may not close before the response.
    let (s, b) = app
        .post(
            &format!("/api/tickets/{ticket}/complaint/transition"),
            &agent_token,
            json!({"action": "acknowledge"}),
        )
        .await;
    assert_error(s, &b, 409, "conflict");
    let (s, b) = app
        .post(
            &format!("/api/tickets/{ticket}/complaint/transition"),
            &agent_token,
            json!({"action": "dance"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = app
        .post(
            &format!("/api/tickets/{ticket}/complaint/transition"),
            &agent_token,
            json!({"action": "close"}),
        )
        .await;
    assert_error(s, &b, 403, "forbidden");
    let (s, b) = app
        .post(
            &format!("/api/tickets/{ticket}/complaint/confirmation"),
            &agent_token,
            json!({"outcome": "satisfied"}),
        )
        .await;
    assert_error(s, &b, 409, "conflict");

    act(&app, ticket, &agent_token, "investigate", "联系了售后").await;
    let c = act(&app, ticket, &agent_token, "respond", "同意换新").await;
    assert_eq!(c["status"], "responded");
    // The confirmation call waits in the queue as callback work for the customer's number.
    let callback_items = "SELECT COUNT(*) AS n FROM work_items WHERE kind = 'callback' \
         AND state IN ('waiting', 'offered', 'assigned') AND phone = '+8613800138000'";
    assert_eq!(count(&app, callback_items).await, 1);

    // Unreachable: tried again later, not before.
    let c = confirm(&app, ticket, &agent_token, "unreachable", "").await;
    assert_eq!(c["status"], "responded");
    assert_eq!(c["callback_attempts"], 1);
    assert_eq!(count(&app, callback_items).await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM work_items WHERE kind = 'callback' \
             AND state = 'waiting' AND not_before IS NOT NULL"
        )
        .await,
        1
    );
    // Not satisfied: a note is required; then the complaint reopens (round 2).
    let (s, b) = app
        .post(
            &format!("/api/tickets/{ticket}/complaint/confirmation"),
            &agent_token,
            json!({"outcome": "not_satisfied"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let c = confirm(
        &app,
        ticket,
        &agent_token,
        "not_satisfied",
        "新机器也有噪音",
    )
    .await;
    assert_eq!(c["status"], "investigating");
    assert_eq!(c["round"], 2);
    assert_eq!(c["reopened"], 1);
    assert!(c["responded_at"].is_null());

    // Responded again; the customer writes before the call: the complaint reopens once more.
    act(&app, ticket, &agent_token, "respond", "换机并补偿").await;
    sms(&app, "SMc2", "+8613800138000", "还是不行").await;
    let c = complaint(&app, ticket, &agent_token).await;
    assert_eq!(c["status"], "investigating", "{c}");
    assert_eq!(c["reopened"], 2);

    // Responded, and confirmed satisfied on the call: closed, the ticket resolved.
    act(&app, ticket, &agent_token, "respond", "已上门更换").await;
    let c = confirm(&app, ticket, &agent_token, "satisfied", "客户满意").await;
    assert_eq!(c["status"], "closed");
    assert_eq!(c["confirmation"], "satisfied");
    assert!(c["confirmed_at"].is_i64() && c["closed_at"].is_i64());
    let (_, t) = app
        .get(&format!("/api/tickets/{ticket}"), &app.admin_token)
        .await;
    assert_eq!(t["ticket"]["status"], "resolved");
    eventually("the callback work ends with the ticket", || async {
        count(&app, callback_items).await == 0
    })
    .await;

    // Every move is on the complaint and on the ticket's timeline, with who and why.
    let moves: Vec<String> = c["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}:{}",
                t["to_status"].as_str().unwrap(),
                t["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            "received:created",
            "acknowledged:agent",
            "investigating:agent",
            "responded:agent",
            "investigating:not_satisfied",
            "responded:agent",
            "investigating:customer_contact",
            "responded:agent",
            "confirmed:satisfied",
            "closed:satisfied",
        ]
    );
    assert_eq!(c["transitions"][1]["actor_name"], "agent");
    let notes = t["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["meta"]["complaint_transition"].is_object())
        .count();
    assert_eq!(
        notes, 9,
        "each move after the creation is a note on the timeline"
    );
    assert!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM events WHERE kind = 'complaint.transitioned'"
        )
        .await
            >= 9
    );
    // Closed: no more reminders.
    app.state.clock.advance(30 * 24 * HOUR);
    let before = reminders_of(&app, &agent_token).await.len();
    remind(&app).await;
    assert_eq!(reminders_of(&app, &agent_token).await.len(), before);
}

#[tokio::test]
async fn unreachable_customers_close_unconfirmed_after_the_last_try() {
    let app = TestApp::spawn().await;
    let q = app.queue("Complaints").await;
    let (s, b) = put(
        &app,
        "/api/complaint-settings",
        &app.admin_token,
        json!({"remind_before_minutes": [30], "remind_after_minutes": [0],
               "callback_max_attempts": 2, "callback_retry_minutes": 60}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let customer = app.customer("王芳", &[("phone", "+8613900000001")]).await;
    let (s, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "快递丢件", "channel": "voice", "queue_id": q,
                   "customer_id": customer, "kind": "complaint"}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let ticket = t["id"].as_i64().unwrap();
    let c = act(&app, ticket, &app.admin_token, "respond", "已补发").await;
    assert!(c["acknowledged_at"].is_i64(), "responding acknowledges too");
    assert_eq!(
        confirm(&app, ticket, &app.admin_token, "unreachable", "").await["status"],
        "responded"
    );
    let c = confirm(&app, ticket, &app.admin_token, "unreachable", "关机").await;
    assert_eq!(c["status"], "closed");
    assert_eq!(c["confirmation"], "unconfirmed");
    assert_eq!(c["callback_attempts"], 2);
}

#[tokio::test]
async fn a_low_survey_score_reopens_the_complaint_and_csat_is_counted_by_category() {
    let app = TestApp::spawn().await;
    let q = app.queue("Complaints").await;
    let (sup, sup_token) = app.user("sup", "supervisor").await;
    put(
        &app,
        &format!("/api/queues/{q}/members"),
        &app.admin_token,
        json!({"user_ids": [sup]}),
    )
    .await;
    let (s, b) = put(
        &app,
        &format!("/api/queues/{q}/survey"),
        &app.admin_token,
        json!({"enabled": true, "delay_minutes": 0, "keypad": false}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let customer = app.customer("Ann", &[("email", "ann@example.com")]).await;
    let (s, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "Charged twice", "channel": "email", "queue_id": q,
                   "customer_id": customer}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let ticket = t["id"].as_i64().unwrap();
    // An agent turns the ticket into a complaint by giving it a category.
    let billing = category_id(&app, "billing").await;
    let (s, c) = put(
        &app,
        &format!("/api/tickets/{ticket}/complaint"),
        &app.admin_token,
        json!({"category_id": billing, "severity": 4}),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    let (_, t) = app
        .get(&format!("/api/tickets/{ticket}"), &app.admin_token)
        .await;
    assert_eq!(t["ticket"]["kind"], "complaint");
    act(&app, ticket, &app.admin_token, "respond", "refunded").await;
    confirm(&app, ticket, &app.admin_token, "satisfied", "").await;

    // The survey goes out and the customer answers 1.
    hotline::surveys::send_due(&hotline::surveys::Sender {
        db: &app.state.db,
        clock: &app.state.clock,
        config: &app.state.config,
    })
    .await
    .unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM surveys WHERE sent_at IS NOT NULL"
        )
        .await,
        1
    );
    let (s, info) = app
        .post(
            &format!("/api/tickets/{ticket}/survey"),
            &app.admin_token,
            json!({"score": 1, "comment": "The refund never came"}),
        )
        .await;
    assert_eq!(s, 201, "{info}");
    let c = complaint(&app, ticket, &app.admin_token).await;
    assert_eq!(c["status"], "investigating");
    let last = c["transitions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["reason"], "low_score");
    assert_eq!(last["note"], "The refund never came");
    let (_, n) = app.get("/api/notifications", &sup_token).await;
    assert_eq!(n["items"][0]["kind"], "survey_low", "{n}");
    assert_eq!(n["items"][0]["ticket_id"], ticket);

    let (s, r) = app
        .get(
            "/api/reports/csat?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&group=category",
            &sup_token,
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["rows"][0]["name"], "billing", "{r}");
    assert_eq!(r["rows"][0]["answers"], 1);
    assert_eq!(r["rows"][0]["csat_percent"], 0.0);
}

#[tokio::test]
async fn the_register_filters_counts_and_exports_and_admins_manage_the_lists() {
    let app = TestApp::spawn().await;
    let q = app.queue("Complaints").await;
    let (_, agent_token) = app.user("agent", "agent").await;
    let (_, sup_token) = app.user("sup", "supervisor").await;
    let vip = app
        .customer("=HYPERLINK(\"x\")", &[("phone", "+8613900000002")])
        .await;
    let (s, b) = app
        .patch(
            &format!("/api/customers/{vip}"),
            &app.admin_token,
            json!({"tier": "vip"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let delivery = category_id(&app, "delivery").await;
    let mut ids = Vec::new();
    for (subject, customer, severity) in
        [("丢件", Some(vip), 1), ("慢", None, 3), ("破损", None, 3)]
    {
        let (s, t) = app
            .post(
                "/api/tickets",
                &app.admin_token,
                json!({"subject": subject, "channel": "web", "queue_id": q,
                       "customer_id": customer, "kind": "complaint"}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        let id = t["id"].as_i64().unwrap();
        let (s, c) = put(
            &app,
            &format!("/api/tickets/{id}/complaint"),
            &app.admin_token,
            json!({"category_id": delivery, "severity": severity}),
        )
        .await;
        assert_eq!(s, 200, "{c}");
        ids.push(id);
    }
    let (s, all) = app.get("/api/complaints", &sup_token).await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["total"], 3);
    assert_eq!(all["by_category"][0]["code"], "delivery");
    assert_eq!(all["by_category"][0]["count"], 3);
    let sev: Vec<(i64, i64)> = all["by_severity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["severity"].as_i64().unwrap(),
                s["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sev, vec![(1, 1), (3, 2)]);
    let (_, vips) = app.get("/api/complaints?tier=vip", &sup_token).await;
    assert_eq!(vips["total"], 1);
    assert_eq!(vips["items"][0]["ticket_id"], ids[0]);
    let (_, sev1) = app
        .get("/api/complaints?severity=1&status=received", &sup_token)
        .await;
    assert_eq!(sev1["total"], 1);
    let (_, none) = app
        .get("/api/complaints?from=2100-01-01T00:00:00Z", &sup_token)
        .await;
    assert_eq!(none["total"], 0);
    for bad in [
        "severity=9",
        "status=lost",
        "tier=gold",
        "from=yesterday",
        "limit=0",
    ] {
        let (s, b) = app.get(&format!("/api/complaints?{bad}"), &sup_token).await;
        assert_error(s, &b, 400, "validation_failed");
    }
    let (s, b) = app.get("/api/complaints", &agent_token).await;
    assert_error(s, &b, 403, "forbidden");

    // CSV: a byte order mark, a header, a row each; a formula in customer data is defused.
    let res = app
        .http
        .get(app.url("/api/complaints/export.csv?category_id=0"))
        .bearer_auth(&sup_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let empty = res.text().await.unwrap();
    assert_eq!(empty.lines().count(), 1, "{empty}");
    let res = app
        .http
        .get(app.url("/api/complaints/export.csv"))
        .bearer_auth(&sup_token)
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}'), "{csv}");
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(csv.contains("丢件"));

    // Categories: admins add (unique code), rename and deactivate; others may not.
    let (s, c) = app
        .post(
            "/api/complaint-categories",
            &app.admin_token,
            json!({"code": "installation", "name_zh": "安装服务", "name_en": "Installation"}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let (s, b) = app
        .post(
            "/api/complaint-categories",
            &app.admin_token,
            json!({"code": "installation", "name_zh": "安装", "name_en": "Install"}),
        )
        .await;
    assert_error(s, &b, 409, "conflict");
    let (s, b) = app
        .post(
            "/api/complaint-categories",
            &app.admin_token,
            json!({"code": "Bad Code", "name_zh": "x", "name_en": "x"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = app
        .post(
            "/api/complaint-categories",
            &sup_token,
            json!({"code": "x", "name_zh": "x", "name_en": "x"}),
        )
        .await;
    assert_error(s, &b, 403, "forbidden");
    let id = c["id"].as_i64().unwrap();
    let (s, c) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/complaint-categories/{id}"),
            Some(&app.admin_token),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["active"], false);
    // An inactive category is not given to a complaint; a bad severity neither.
    let (s, b) = put(
        &app,
        &format!("/api/tickets/{}/complaint", ids[1]),
        &agent_token,
        json!({"category_id": id}),
    )
    .await;
    // The agent is in no queue: the ticket is not theirs to see.
    assert_error(s, &b, 404, "not_found");
    let (s, b) = put(
        &app,
        &format!("/api/tickets/{}/complaint", ids[1]),
        &app.admin_token,
        json!({"category_id": id}),
    )
    .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = put(
        &app,
        &format!("/api/tickets/{}/complaint", ids[1]),
        &app.admin_token,
        json!({"severity": 0}),
    )
    .await;
    assert_error(s, &b, 400, "validation_failed");
    let c = complaint(&app, ids[1], &app.admin_token).await;
    assert_eq!(c["category_code"], "delivery", "nothing stored is lost");

    // Severities: due times in order; settings within bounds; both audited.
    let (_, sevs) = app.get("/api/complaint-severities", &agent_token).await;
    let mut s1 = sevs[0].clone();
    s1["respond_secs"] = json!(60);
    let (s, b) = put(
        &app,
        "/api/complaint-severities/1",
        &app.admin_token,
        s1.clone(),
    )
    .await;
    assert_error(s, &b, 400, "validation_failed");
    s1["respond_secs"] = json!(7200);
    let (s, b) = put(&app, "/api/complaint-severities/1", &app.admin_token, s1).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = put(
        &app,
        "/api/complaint-settings",
        &app.admin_token,
        json!({"remind_before_minutes": [-5], "remind_after_minutes": [],
               "callback_max_attempts": 3, "callback_retry_minutes": 60}),
    )
    .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM audit_log WHERE action LIKE 'complaint.%'"
        )
        .await,
        3
    );
    // SLA targets accept kind complaint.
    let (s, b) = put(
        &app,
        &format!("/api/queues/{q}/sla"),
        &app.admin_token,
        json!({"priority": 1, "kind": "complaint", "first_response_secs": 600,
               "resolution_secs": 86400}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
}
