//! Administration in the browser (issue 15), the API behind it: the users list with its
//! filters, queues set per user, hand-over then deactivation, the audit log's filters and CSV.

use crate::support::{TestApp, assert_error};
use reqwest::Method;
use serde_json::{Value, json};

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect()
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> (reqwest::StatusCode, Value) {
    app.call(Method::PUT, path, Some(token), Some(body)).await
}

async fn default_queue(app: &TestApp) -> i64 {
    let (_, queues) = app.get("/api/queues", &app.admin_token).await;
    queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["is_default"] == true)
        .and_then(|q| q["id"].as_i64())
        .unwrap()
}

#[tokio::test]
async fn users_list_filters_and_shows_queues_capacity_and_presence() {
    let app = TestApp::spawn().await;
    let billing = app.queue("Billing").await;
    let (s, ana) = app
        .post(
            "/api/users",
            &app.admin_token,
            json!({"login": "ana", "display_name": "Ana 李", "role": "agent",
                   "password": "password-123", "extension": "101",
                   "phone": "+86 138 0013 8000", "skills": ["billing"], "languages": ["zh"],
                   "queue_ids": [billing], "capacity": {"email": 3}}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{ana}");
    assert_eq!(ana["queues"], json!([{"id": billing, "name": "Billing"}]));
    assert_eq!(ana["capacity_set"], json!({"email": 3}));
    assert_eq!(ana["capacity"]["email"], 3);
    assert_eq!(ana["capacity"]["voice"], 1);
    assert_eq!(ana["presence"]["state"], "offline");
    assert_eq!(ana["must_change_password"], false);
    let ana_id = ana["id"].as_i64().unwrap();
    let ana_token = app.login("ana", "password-123").await;
    let (sam, _) = app.user("sam", "supervisor").await;
    let (s, _) = app
        .post("/api/presence", &ana_token, json!({"state": "available"}))
        .await;
    assert_eq!(s.as_u16(), 200);

    let list = |q: &str| {
        let q = q.to_string();
        let app = &app;
        async move {
            let (s, b) = app.get(&format!("/api/users{q}"), &app.admin_token).await;
            assert_eq!(s.as_u16(), 200, "{q}: {b}");
            ids(&b)
        }
    };
    assert_eq!(list("?q=13800138000").await, vec![ana_id]);
    assert_eq!(list("?q=ANA").await, vec![ana_id]);
    assert_eq!(list("?q=%E6%9D%8E").await, vec![ana_id], "李");
    assert_eq!(list("?q=101").await, vec![ana_id]);
    assert_eq!(list("?role=supervisor").await, vec![sam]);
    assert_eq!(list(&format!("?queue_id={billing}")).await, vec![ana_id]);
    assert_eq!(list("?presence=available").await, vec![ana_id]);
    assert_eq!(list("?active=false").await, Vec::<i64>::new());
    let (_, all) = app.get("/api/users", &app.admin_token).await;
    let entry = all
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == ana_id)
        .unwrap();
    assert_eq!(entry["presence"]["state"], "available");
    assert_eq!(entry["skills"], json!(["billing"]));
    assert_eq!(entry["languages"], json!(["zh"]));
    let sam_entry = all
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == sam)
        .unwrap();
    assert_eq!(sam_entry["queues"][0]["id"], default_queue(&app).await);

    // Bad filters name their field.
    for (q, field) in [
        ("?role=boss", "role"),
        ("?queue_id=abc", "queue_id"),
        ("?queue_id=999999", "queue_id"),
        ("?active=maybe", "active"),
        ("?presence=sleeping", "presence"),
    ] {
        let (s, b) = app.get(&format!("/api/users{q}"), &app.admin_token).await;
        assert_error(s, &b, 400, "validation_failed");
        assert_eq!(b["error"]["field"], field, "{q}");
    }
    // Agents list colleagues without their presence, and cannot filter by it.
    let (s, b) = app.get("/api/users", &ana_token).await;
    assert_eq!(s.as_u16(), 200);
    assert!(
        b.as_array()
            .unwrap()
            .iter()
            .all(|u| u["presence"].is_null()),
        "{b}"
    );
    let (s, b) = app.get("/api/users?presence=available", &ana_token).await;
    assert_error(s, &b, 403, "forbidden");

    // A bad queue or capacity creates nobody.
    for (extra, field) in [
        (json!({"queue_ids": [999999]}), "queue_ids"),
        (json!({"capacity": {"fax": 1}}), "capacity"),
    ] {
        let mut body = json!({"login": "ghost", "display_name": "Ghost", "role": "agent",
                              "password": "password-123"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (s, b) = app.post("/api/users", &app.admin_token, body).await;
        assert_error(s, &b, 400, "validation_failed");
        assert_eq!(b["error"]["field"], field);
    }
    assert_eq!(list("?q=ghost").await, Vec::<i64>::new());

    // Deactivated users are found by active=false.
    let (s, _) = app
        .patch(
            &format!("/api/users/{sam}"),
            &app.admin_token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(list("?active=false").await, vec![sam]);
}

#[tokio::test]
async fn a_users_queues_are_set_in_one_call_and_audited() {
    let app = TestApp::spawn().await;
    let general = default_queue(&app).await;
    let a = app.queue("A").await;
    let b = app.queue("B").await;
    let (x, agent) = app.user("xavier", "agent").await;
    let path = format!("/api/users/{x}/queues");
    let (s, r) = put(
        &app,
        &path,
        &app.admin_token,
        json!({"queue_ids": [b, a, a]}),
    )
    .await;
    assert_eq!(s.as_u16(), 200, "{r}");
    assert_eq!(ids(&r["queues"]), vec![a, b]);
    let (_, q) = app
        .get(&format!("/api/queues/{general}"), &app.admin_token)
        .await;
    assert!(!q["members"].as_array().unwrap().contains(&json!(x)), "{q}");
    let (_, q) = app.get(&format!("/api/queues/{a}"), &app.admin_token).await;
    assert!(q["members"].as_array().unwrap().contains(&json!(x)), "{q}");
    let (_, audit) = app
        .get(
            &format!("/api/audit?action=user.queues&target=user:{x}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(
        audit[0]["detail"],
        json!({"from": [general], "to": [a, b]}),
        "{audit}"
    );

    let (s, r) = put(
        &app,
        &path,
        &app.admin_token,
        json!({"queue_ids": [999999]}),
    )
    .await;
    assert_error(s, &r, 400, "validation_failed");
    assert_eq!(r["error"]["field"], "queue_ids");
    let (s, r) = put(
        &app,
        "/api/users/999999/queues",
        &app.admin_token,
        json!({"queue_ids": []}),
    )
    .await;
    assert_error(s, &r, 404, "not_found");
    let (s, r) = put(&app, &path, &agent, json!({"queue_ids": []})).await;
    assert_error(s, &r, 403, "forbidden");

    // A supervisor changes only the queues they work.
    let (sup_id, sup) = app.user("sue", "supervisor").await;
    let (s, _) = put(
        &app,
        &format!("/api/users/{sup_id}/queues"),
        &app.admin_token,
        json!({"queue_ids": [a]}),
    )
    .await;
    assert_eq!(s.as_u16(), 200);
    let (s, r) = put(&app, &path, &sup, json!({"queue_ids": [a]})).await;
    assert_error(s, &r, 403, "forbidden");
    let (s, r) = put(&app, &path, &sup, json!({"queue_ids": [b]})).await;
    assert_eq!(s.as_u16(), 200, "{r}");
    assert_eq!(ids(&r["queues"]), vec![b]);
    let (s, r) = put(&app, &path, &sup, json!({"queue_ids": [b, general]})).await;
    assert_error(s, &r, 403, "forbidden");

    // Capacity changes are audited too.
    let (s, _) = put(
        &app,
        &format!("/api/agents/{x}/capacity"),
        &app.admin_token,
        json!({"capacity": {"sms": 2}}),
    )
    .await;
    assert_eq!(s.as_u16(), 200);
    let (_, audit) = app
        .get("/api/audit?action=user.capacity", &app.admin_token)
        .await;
    assert_eq!(audit[0]["detail"]["to"], json!({"sms": 2}), "{audit}");
}

#[tokio::test]
async fn hand_over_then_deactivate_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    let (leaver, leaver_token) = app.user("leaver", "agent").await;
    let (heir, _) = app.user("heir", "agent").await;
    for i in 0..2 {
        let (s, _) = app
            .post(
                "/api/tickets",
                &app.admin_token,
                json!({"subject": format!("t{i}"), "assignee_id": leaver}),
            )
            .await;
        assert_eq!(s.as_u16(), 201);
    }
    let (s, _) = app
        .post(
            "/api/presence",
            &leaver_token,
            json!({"state": "available"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    // The dialog's order: hand over, then deactivate.
    let (s, r) = app
        .post(
            &format!("/api/users/{leaver}/handover"),
            &app.admin_token,
            json!({"to": heir}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{r}");
    assert_eq!(r["tickets"].as_array().unwrap().len(), 2);
    let (s, u) = app
        .patch(
            &format!("/api/users/{leaver}"),
            &app.admin_token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{u}");
    assert_eq!(u["active"], false);
    let (_, list) = app
        .get(
            &format!("/api/tickets?assignee_id={leaver}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
    // Offline at once, and signed out everywhere.
    let (_, users) = app
        .get("/api/users?presence=offline", &app.admin_token)
        .await;
    assert!(ids(&users).contains(&leaver), "{users}");
    let (s, _) = app.get("/api/auth/me", &leaver_token).await;
    assert_eq!(s.as_u16(), 401);
    // The other order works too: a deactivated user's work can still be handed over.
    let (s, r) = app
        .post(
            &format!("/api/users/{leaver}/handover"),
            &app.admin_token,
            json!({"to": heir}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{r}");
    assert_eq!(r["tickets"], json!([]));
    // The admin sees a user's sessions and API tokens (and revokes them) through /api/auth/tokens.
    let heir_token = app.login("heir", "password-123").await;
    let (s, t) = app
        .post("/api/auth/tokens", &heir_token, json!({"name": "crm"}))
        .await;
    assert_eq!(s.as_u16(), 201, "{t}");
    let (s, sessions) = app
        .get(
            &format!("/api/auth/tokens?user_id={heir}&kind=session"),
            &app.admin_token,
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    // Signed in twice (by `TestApp::user` and above).
    assert_eq!(sessions.as_array().unwrap().len(), 2, "{sessions}");
    assert!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["user_id"] == heir)
    );
    let (_, tokens) = app
        .get(
            &format!("/api/auth/tokens?user_id={heir}&kind=api"),
            &app.admin_token,
        )
        .await;
    assert_eq!(tokens[0]["name"], "crm");
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/auth/tokens/{}", tokens[0]["id"]),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 204);
}

#[tokio::test]
async fn the_audit_log_filters_pages_and_exports_csv() {
    let app = TestApp::spawn().await;
    let (ana, _) = app.user("ana", "agent").await;
    let (bob, _) = app.user("bob", "agent").await;
    for name in ["Ana One", "Ana Two", "=HYPERLINK(\"x\")"] {
        let (s, _) = app
            .patch(
                &format!("/api/users/{ana}"),
                &app.admin_token,
                json!({"display_name": name}),
            )
            .await;
        assert_eq!(s.as_u16(), 200);
    }
    let (s, _) = app
        .patch(
            &format!("/api/users/{bob}"),
            &app.admin_token,
            json!({"display_name": "Bob"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);

    let get = |q: String| {
        let app = &app;
        async move {
            let (s, b) = app.get(&format!("/api/audit{q}"), &app.admin_token).await;
            assert_eq!(s.as_u16(), 200, "{q}: {b}");
            b.as_array().unwrap().clone()
        }
    };
    let updates = get(format!("?action=user.update&target=user:{ana}")).await;
    assert_eq!(updates.len(), 3);
    assert!(
        updates
            .windows(2)
            .all(|w| w[0]["id"].as_i64() > w[1]["id"].as_i64())
    );
    assert_eq!(updates[0]["actor_login"], "admin");
    assert_eq!(updates[0]["detail"]["display_name"]["from"], "Ana Two");
    // A prefix ending in *; the actor; paging by id.
    let users = get("?action=user.*".into()).await;
    assert!(
        users
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("user."))
    );
    assert!(users.iter().any(|e| e["action"] == "user.create"));
    let admin_id = updates[0]["actor_id"].as_i64().unwrap();
    let by_admin = get(format!("?actor_id={admin_id}")).await;
    assert!(by_admin.len() >= 6);
    assert_eq!(get(format!("?actor_id={bob}")).await.len(), 0);
    let page1 = get(format!("?target=user:{ana}&limit=2")).await;
    assert_eq!(page1.len(), 2);
    let page2 = get(format!(
        "?target=user:{ana}&limit=2&before_id={}",
        page1[1]["id"]
    ))
    .await;
    assert!(!page2.is_empty());
    assert!(page2[0]["id"].as_i64() < page1[1]["id"].as_i64());
    // Time range: everything is from today; nothing from the year 2000.
    let now = jiff::Timestamp::now();
    let from = (now - jiff::SignedDuration::from_hours(1)).to_string();
    let to = (now + jiff::SignedDuration::from_hours(1)).to_string();
    let q = |s: &str| s.replace('+', "%2B");
    assert_eq!(
        get(format!(
            "?target=user:{ana}&action=user.update&from={}&to={}",
            q(&from),
            q(&to)
        ))
        .await
        .len(),
        3
    );
    assert_eq!(
        get("?from=2000-01-01T00:00:00%2B08:00&to=2000-01-02T00:00:00Z".into())
            .await
            .len(),
        0
    );
    for (query, field) in [
        ("?from=yesterday", "from"),
        ("?to=2026-13-01T00:00:00Z", "to"),
        ("?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "to"),
        ("?actor_id=ana", "actor_id"),
        ("?before_id=x", "before_id"),
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
    ] {
        let (s, b) = app
            .get(&format!("/api/audit{query}"), &app.admin_token)
            .await;
        assert_error(s, &b, 400, "validation_failed");
        assert_eq!(b["error"]["field"], field, "{query}");
        let (s, b) = app
            .get(&format!("/api/audit.csv{query}"), &app.admin_token)
            .await;
        if field != "limit" {
            assert_error(s, &b, 400, "validation_failed");
        }
    }

    // CSV: same filters, a header row, formulas defused, readable by a CSV parser.
    let res = app
        .http
        .get(app.url(&format!(
            "/api/audit.csv?action=user.update&target=user:{ana}"
        )))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("audit.csv")
    );
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "BOM");
    let mut r = csv::Reader::from_reader(&bytes[3..]);
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["id", "at", "actor", "action", "target", "details"]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][0], updates[0]["id"].to_string().as_str());
    assert_eq!(&rows[0][2], "admin");
    assert_eq!(&rows[0][3], "user.update");
    assert!(
        rows[0][1].parse::<jiff::Timestamp>().is_ok(),
        "{}",
        &rows[0][1]
    );
    let details: Value = serde_json::from_str(&rows[0][5]).unwrap();
    assert_eq!(details["display_name"]["to"], "=HYPERLINK(\"x\")");
    // Agents and supervisors get neither.
    let (_, sup) = app.user("sup", "supervisor").await;
    for path in ["/api/audit", "/api/audit.csv"] {
        let (s, b) = app.get(path, &sup).await;
        assert_error(s, &b, 403, "forbidden");
    }
}

/// Creates a rule on `queue` and returns its id.
async fn rule(app: &TestApp, queue: i64, body: Value) -> i64 {
    let (s, r) = app
        .post(
            &format!("/api/queues/{queue}/rules"),
            &app.admin_token,
            body,
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{r}");
    r["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_sample_contact_is_routed_as_the_leader_would_and_says_why() {
    let app = TestApp::spawn().await;
    let general = default_queue(&app).await;
    let vip = app.queue("VIP").await;
    let refunds = app.queue("Refunds").await;
    let vip_rule = rule(
        &app,
        vip,
        json!({"position": 1, "tier": "vip", "priority_boost": 2}),
    )
    .await;
    let refund_rule = rule(
        &app,
        refunds,
        json!({"position": 2, "channel": "email", "keyword": "Refund", "skills": ["billing"]}),
    )
    .await;
    let (_, sup) = app.user("sup", "supervisor").await;
    let test = |body: Value| {
        let (app, sup) = (&app, sup.clone());
        async move {
            let (s, r) = app.post("/api/routing/test", &sup, body).await;
            assert_eq!(s.as_u16(), 200, "{r}");
            r
        }
    };
    let r = test(json!({"channel": "email", "to_addr": "support@localhost",
                        "subject": "Please REFUND me", "body": "order 42", "tier": "regular"}))
    .await;
    assert_eq!(r["queue_id"], refunds);
    assert_eq!(r["queue_name"], "Refunds");
    assert_eq!(r["rule_id"], refund_rule);
    assert_eq!(r["matched"], json!(["channel", "keyword"]));
    assert_eq!(r["skills"], json!(["billing"]));
    assert_eq!(r["fallback"], false);
    assert_eq!(
        r["evaluated"],
        json!([
            {"rule_id": vip_rule, "queue_id": vip, "position": 1, "matched": false, "failed_on": "tier"},
            {"rule_id": refund_rule, "queue_id": refunds, "position": 2, "matched": true, "failed_on": null},
        ])
    );
    let r = test(json!({"channel": "sms", "body": "refund", "tier": "vip"})).await;
    assert_eq!(r["rule_id"], vip_rule);
    assert_eq!(r["priority_boost"], 2);
    assert_eq!(r["evaluated"][1]["failed_on"], "channel");
    assert_eq!(r["evaluated"][1]["matched"], false);
    let r = test(json!({"channel": "voice"})).await;
    assert_eq!(r["fallback"], true);
    assert_eq!(r["queue_id"], general);
    assert!(r["rule_id"].is_null());

    // The real placement agrees: an email with the keyword lands in Refunds.
    let customer = app.customer("Rita", &[("email", "rita@example.com")]).await;
    let (s, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "refund please", "customer_id": customer, "channel": "email",
                   "body": "Please refund me"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{t}");
    let ticket = t["id"].as_i64().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (s, w) = app
            .get(&format!("/api/work/{ticket}"), &app.admin_token)
            .await;
        if s.as_u16() == 200 {
            assert_eq!(w["queue_id"], refunds, "{w}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "placed in time: {w}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Bad samples name their field; agents may not test.
    for (body, field) in [
        (json!({}), "channel"),
        (json!({"channel": "fax"}), "channel"),
        (json!({"channel": "email", "tier": "gold"}), "tier"),
        (json!({"channel": "email", "kind": "rant"}), "kind"),
        (
            json!({"channel": "email", "body": "x".repeat(20_001)}),
            "body",
        ),
    ] {
        let (s, r) = app.post("/api/routing/test", &sup, body).await;
        assert_error(s, &r, 400, "validation_failed");
        assert_eq!(r["error"]["field"], field);
    }
    let (_, agent) = app.user("agent", "agent").await;
    let (s, r) = app
        .post("/api/routing/test", &agent, json!({"channel": "email"}))
        .await;
    assert_error(s, &r, 403, "forbidden");
}

#[tokio::test]
async fn rules_have_one_global_order_that_can_be_changed() {
    let app = TestApp::spawn().await;
    let a = app.queue("A").await;
    let b = app.queue("B").await;
    let r1 = rule(&app, a, json!({"position": 5, "keyword": "one"})).await;
    let r2 = rule(&app, b, json!({"position": 5, "keyword": "two"})).await;
    let r3 = rule(&app, a, json!({"position": 1, "keyword": "three"})).await;
    let (_, agent) = app.user("agent", "agent").await;
    let (s, list) = app.get("/api/routing/rules", &agent).await;
    assert_eq!(s.as_u16(), 200);
    // Position, then id, across queues.
    assert_eq!(ids(&list), vec![r3, r1, r2]);
    assert_eq!(list[0]["order"], 1);
    assert_eq!(list[0]["queue_name"], "A");
    assert_eq!(list[2]["queue_name"], "B");
    assert_eq!(list[2]["conditions"], json!(["keyword"]));
    // Move the last to the top, then one down.
    let (s, list) = app
        .post(
            &format!("/api/queues/{b}/rules/{r2}/move"),
            &app.admin_token,
            json!({"to": 1}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{list}");
    assert_eq!(ids(&list), vec![r2, r3, r1]);
    let positions: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, vec![1, 2, 3]);
    let (s, list) = app
        .post(
            &format!("/api/queues/{b}/rules/{r2}/move"),
            &app.admin_token,
            json!({"to": 2}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(ids(&list), vec![r3, r2, r1]);
    let (_, again) = app.get("/api/routing/rules", &agent).await;
    assert_eq!(ids(&again), vec![r3, r2, r1]);
    // The rule test follows the new order: "one two" meets r2 before r1.
    let r = app
        .post(
            "/api/routing/test",
            &app.admin_token,
            json!({"channel": "web", "body": "one two"}),
        )
        .await
        .1;
    assert_eq!(r["rule_id"], r2);
    let (_, audit) = app.get("/api/audit?action=rule.*", &app.admin_token).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "rule.move",
            "rule.move",
            "rule.create",
            "rule.create",
            "rule.create"
        ]
    );
    assert_eq!(
        audit[0]["detail"],
        json!({"queue_id": b, "from": 1, "to": 2})
    );

    for (path, body, status, code) in [
        (
            format!("/api/queues/{b}/rules/{r2}/move"),
            json!({"to": 0}),
            400,
            "validation_failed",
        ),
        (
            format!("/api/queues/{b}/rules/{r2}/move"),
            json!({"to": 4}),
            400,
            "validation_failed",
        ),
        (
            format!("/api/queues/{b}/rules/{r2}/move"),
            json!({}),
            400,
            "validation_failed",
        ),
        (
            format!("/api/queues/{a}/rules/{r2}/move"),
            json!({"to": 1}),
            404,
            "not_found",
        ),
        (
            format!("/api/queues/{b}/rules/999999/move"),
            json!({"to": 1}),
            404,
            "not_found",
        ),
    ] {
        let (s, r) = app.post(&path, &app.admin_token, body).await;
        assert_error(s, &r, status, code);
        if status == 400 {
            assert_eq!(r["error"]["field"], "to");
        }
    }
}

#[tokio::test]
async fn supervisors_change_only_the_queues_they_work() {
    let app = TestApp::spawn().await;
    let mine = app.queue("Mine").await;
    let other = app.queue("Other").await;
    let other_rule = rule(&app, other, json!({"keyword": "x"})).await;
    let (sup_id, sup) = app.user("sup", "supervisor").await;
    let (s, _) = put(
        &app,
        &format!("/api/users/{sup_id}/queues"),
        &app.admin_token,
        json!({"queue_ids": [mine]}),
    )
    .await;
    assert_eq!(s.as_u16(), 200);
    let hours = json!({"utc_offset_minutes": 480, "hours": [{"weekday": 0, "open": "09:00", "close": "18:00"}]});
    let sla = json!({"priority": 1, "first_response_secs": 600, "resolution_secs": 86400});
    let calls = |q: i64| {
        vec![
            (
                Method::PATCH,
                format!("/api/queues/{q}/routing"),
                json!({"offer_timeout_secs": 30}),
            ),
            (Method::PUT, format!("/api/queues/{q}/hours"), hours.clone()),
            (Method::PUT, format!("/api/queues/{q}/sla"), sla.clone()),
            (
                Method::POST,
                format!("/api/queues/{q}/rules"),
                json!({"keyword": "y"}),
            ),
            (
                Method::PUT,
                format!("/api/queues/{q}/members"),
                json!({"user_ids": [sup_id]}),
            ),
        ]
    };
    for (method, path, body) in calls(other) {
        let (s, r) = app.call(method, &path, Some(&sup), Some(body)).await;
        assert_error(s, &r, 403, "forbidden");
    }
    for (method, path) in [
        (
            Method::PUT,
            format!("/api/queues/{other}/rules/{other_rule}"),
        ),
        (
            Method::DELETE,
            format!("/api/queues/{other}/rules/{other_rule}"),
        ),
        (
            Method::POST,
            format!("/api/queues/{other}/rules/{other_rule}/move"),
        ),
    ] {
        let (s, r) = app
            .call(
                method,
                &path,
                Some(&sup),
                Some(json!({"keyword": "z", "to": 1})),
            )
            .await;
        assert_error(s, &r, 403, "forbidden");
    }
    for (method, path, body) in calls(mine) {
        let (s, r) = app.call(method, &path, Some(&sup), Some(body)).await;
        assert!(s.is_success(), "{path}: {s} {r}");
    }
    // Admins change every queue; each change is audited.
    for (method, path, body) in calls(other) {
        let (s, r) = app
            .call(method, &path, Some(&app.admin_token), Some(body))
            .await;
        assert!(s.is_success(), "{path}: {s} {r}");
    }
    let (_, audit) = app
        .get(&format!("/api/audit?target=queue:{mine}"), &app.admin_token)
        .await;
    let mut actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        vec![
            "queue.create",
            "queue.hours",
            "queue.members",
            "queue.routing",
            "queue.sla"
        ]
    );
    // The queue's JSON carries its routing settings.
    let (_, q) = app.get(&format!("/api/queues/{mine}"), &sup).await;
    assert_eq!(q["offer_timeout_secs"], 30);
    assert_eq!(q["service_level_secs"], 20);
    assert_eq!(q["capacity"], json!({}));
    assert!(q["strategy"].is_null());
    // A queue's own strategy, and back to the configured one.
    let url = format!("/api/queues/{mine}/routing");
    let (s, r) = app
        .call(
            Method::PATCH,
            &url,
            Some(&sup),
            Some(json!({"strategy": "round_robin"})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{r}");
    assert_eq!(r["strategy"], "round_robin");
    let (_, q) = app.get(&format!("/api/queues/{mine}"), &sup).await;
    assert_eq!(q["strategy"], "round_robin");
    let (s, r) = app
        .call(
            Method::PATCH,
            &url,
            Some(&sup),
            Some(json!({"strategy": "random"})),
        )
        .await;
    assert_error(s, &r, 400, "validation_failed");
    assert_eq!(r["error"]["field"], "strategy");
    let (s, r) = app
        .call(
            Method::PATCH,
            &url,
            Some(&sup),
            Some(json!({"strategy": "default"})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{r}");
    assert!(r["strategy"].is_null(), "{r}");
}

/// The acknowledgements queued for a ticket: (channel, recipient, payload).
async fn outbox_of(app: &TestApp, ticket: i64) -> Vec<(String, String, Value)> {
    use sqlx::Row;
    sqlx::query("SELECT channel, recipient, payload FROM outbox WHERE ticket_id = $1 ORDER BY id")
        .bind(ticket)
        .fetch_all(&app.state.db.pool)
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

/// A portal complaint with `contact` (email or phone fields); returns the ticket number.
async fn complaint(app: &TestApp, contact: Value) -> i64 {
    let secret = hotline::channels::web::form_secret(&app.state.db)
        .await
        .unwrap();
    let token = hotline::channels::web::sign_form_token(&secret, hotline::db::now_ms() - 5_000);
    let mut body = json!({"name": "Mallory", "kind": "complaint", "locale": "en",
                          "description": "Visit http://spam.example now", "form_token": token});
    body.as_object_mut()
        .unwrap()
        .extend(contact.as_object().unwrap().clone());
    let (s, r) = app
        .call(Method::POST, "/api/portal/complaints", None, Some(body))
        .await;
    assert_eq!(s.as_u16(), 201, "{r}");
    r["ticket_number"].as_i64().unwrap()
}

#[tokio::test]
async fn acknowledgement_templates_are_set_previewed_and_used_by_the_portal() {
    let app = TestApp::spawn().await;
    let billing = app.queue("Billing").await;
    let (s, all) = app.get("/api/ack-templates", &app.admin_token).await;
    assert_eq!(s.as_u16(), 200, "{all}");
    assert_eq!(all["templates"], json!([]));
    assert_eq!(all["built_in"].as_array().unwrap().len(), 6);
    assert_eq!(
        all["placeholders"]["portal"],
        json!(["ticket", "kind", "link"])
    );
    assert_eq!(
        all["placeholders"]["email"],
        json!(["ticket", "subject", "name"])
    );

    // The portal's text for every queue, and the SMS one.
    let portal = json!({"queue_id": 0, "language": "en", "channel": "portal",
                        "subject": "Ticket #{ticket} received",
                        "body": "We got your {kind}. Status: {link}"});
    let (s, t) = put(&app, "/api/ack-templates", &app.admin_token, portal.clone()).await;
    assert_eq!(s.as_u16(), 200, "{t}");
    assert_eq!(t["channel"], "portal");
    let (s, t) = put(
        &app,
        "/api/ack-templates",
        &app.admin_token,
        json!({"queue_id": 0, "language": "en", "channel": "sms", "body": "#{ticket}: {link}"}),
    )
    .await;
    assert_eq!(s.as_u16(), 200, "{t}");
    // A queue's own email template, through the old route too.
    let (s, _) = put(
        &app,
        "/api/email/ack-templates",
        &app.admin_token,
        json!({"queue_id": billing, "language": "zh", "subject": "收到 [#{ticket}]", "body": "{name} 您好"}),
    )
    .await;
    assert_eq!(s.as_u16(), 200);
    let (_, all) = app.get("/api/ack-templates", &app.admin_token).await;
    let list = all["templates"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{all}");
    let billing_email = list.iter().find(|t| t["queue_id"] == billing).unwrap();
    assert_eq!(billing_email["channel"], "email");
    assert_eq!(billing_email["queue_name"], "Billing");

    // Bad templates name their field; nothing changes.
    for (body, field) in [
        (
            json!({"language": "en", "channel": "portal", "subject": "Hi {name}", "body": "x"}),
            "subject",
        ),
        (
            json!({"language": "en", "channel": "portal", "subject": "x", "body": "You wrote {subject}"}),
            "body",
        ),
        (
            json!({"language": "en", "channel": "sms", "body": "{ticket} {unknown}"}),
            "body",
        ),
        (
            json!({"language": "en", "channel": "sms", "subject": "no", "body": "x"}),
            "subject",
        ),
        (
            json!({"language": "en", "channel": "portal", "subject": "x", "body": " "}),
            "body",
        ),
        (
            json!({"language": "en", "channel": "fax", "subject": "x", "body": "x"}),
            "channel",
        ),
        (
            json!({"language": "fr", "channel": "email", "subject": "x", "body": "x"}),
            "language",
        ),
        (
            json!({"queue_id": 999999, "language": "en", "channel": "email", "subject": "x", "body": "x"}),
            "queue_id",
        ),
    ] {
        let (s, r) = put(&app, "/api/ack-templates", &app.admin_token, body.clone()).await;
        assert_error(s, &r, 400, "validation_failed");
        assert_eq!(r["error"]["field"], field, "{body}");
    }
    let (s, r) = put(
        &app,
        "/api/email/ack-templates",
        &app.admin_token,
        json!({"language": "en", "subject": "{link}", "body": "x"}),
    )
    .await;
    assert_error(s, &r, 400, "validation_failed");
    assert_eq!(r["error"]["field"], "subject");

    // Previews: the template in use, or the text being edited, with sample values.
    let preview = |body: Value| {
        let app = &app;
        async move {
            let (s, r) = app
                .post("/api/ack-templates/preview", &app.admin_token, body)
                .await;
            assert_eq!(s.as_u16(), 200, "{r}");
            r
        }
    };
    let p = preview(json!({"queue_id": billing, "language": "en", "channel": "portal"})).await;
    assert_eq!(p["subject"], "Ticket #1042 received");
    assert_eq!(p["source"], "default");
    assert!(
        p["body"]
            .as_str()
            .unwrap()
            .starts_with("We got your complaint. Status: http"),
        "{p}"
    );
    let p = preview(json!({"queue_id": billing, "language": "zh", "channel": "email"})).await;
    assert_eq!(
        (p["subject"].as_str(), p["source"].as_str()),
        (Some("收到 [#1042]"), Some("queue"))
    );
    assert_eq!(p["body"], "张伟 您好");
    let p = preview(json!({"language": "zh", "channel": "sms"})).await;
    assert_eq!(p["source"], "built_in");
    assert!(p["body"].as_str().unwrap().contains("#1042"), "{p}");
    let p = preview(
        json!({"language": "en", "channel": "email", "subject": "Re {subject}",
                           "body": "Hi {name}"}),
    )
    .await;
    assert_eq!(
        (p["subject"].as_str(), p["body"].as_str()),
        (Some("Re Broadband is down"), Some("Hi Wei Zhang"))
    );
    assert_eq!(p["source"], "given");
    let (s, r) = app
        .post(
            "/api/ack-templates/preview",
            &app.admin_token,
            json!({"language": "en", "channel": "sms", "body": "{name}"}),
        )
        .await;
    assert_error(s, &r, 400, "validation_failed");
    assert_eq!(r["error"]["field"], "body");

    // The portal uses them, and still repeats nothing the customer typed.
    let number = complaint(&app, json!({"email": "mallory@example.com"})).await;
    let sent = outbox_of(&app, number).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "email");
    assert_eq!(sent[0].2["subject"], format!("Ticket #{number} received"));
    let body = sent[0].2["body"].as_str().unwrap();
    assert!(
        body.starts_with("We got your complaint. Status: "),
        "{body}"
    );
    assert!(
        body.contains(&format!("/portal.html#status?t={number}&k=")),
        "{body}"
    );
    assert!(
        !body.contains("Mallory") && !body.contains("spam.example"),
        "{body}"
    );
    let number = complaint(&app, json!({"phone": "13900139000"})).await;
    let sent = outbox_of(&app, number).await;
    assert_eq!(sent[0].0, "sms");
    assert!(
        sent[0].2["body"]
            .as_str()
            .unwrap()
            .starts_with(&format!("#{number}: http")),
        "{sent:?}"
    );

    // Removed: back to the built-in text.
    let del = "/api/ack-templates?queue_id=0&language=en&channel=portal";
    let (s, _) = app
        .call(Method::DELETE, del, Some(&app.admin_token), None)
        .await;
    assert_eq!(s.as_u16(), 204);
    let (s, r) = app
        .call(Method::DELETE, del, Some(&app.admin_token), None)
        .await;
    assert_error(s, &r, 404, "not_found");
    let (s, r) = app
        .call(
            Method::DELETE,
            "/api/ack-templates?language=en&channel=fax",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_error(s, &r, 400, "validation_failed");
    assert_eq!(r["error"]["field"], "channel");
    let number = complaint(&app, json!({"email": "mallory@example.com"})).await;
    let sent = outbox_of(&app, number).await;
    assert_eq!(
        sent[0].2["subject"],
        format!("We received your complaint [#{number}]")
    );

    let (_, audit) = app
        .get("/api/audit?action=ack_template.*", &app.admin_token)
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "ack_template.delete",
            "ack_template.set",
            "ack_template.set",
            "ack_template.set"
        ]
    );
    assert_eq!(audit[0]["target"], "ack_template:0:portal:en");
}

#[tokio::test]
async fn system_status_shows_every_channel_with_a_link() {
    // An IMAP server that refuses connections: the poller's error shows, from the database.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = TestApp::spawn_with(|c| {
        c.imap_host = "127.0.0.1".into();
        c.imap_port = port;
        c.imap_tls = false;
        c.imap_poll_secs = 1;
        c.cti_token = hotline::config::Secret("cti-secret".into());
    })
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        let (s, st) = app.get("/api/system/status", &app.admin_token).await;
        assert_eq!(s.as_u16(), 200, "{st}");
        if st["imap"]["last_error"].is_string() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "imap error recorded: {st}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(status["imap"]["configured"], true);
    assert_eq!(status["imap"]["status"], "error");
    assert!(
        status["imap"]["last_error"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{status}"
    );
    assert!(status["imap"]["last_error_at"].is_i64());
    assert_eq!(status["imap"]["node"], app.state.node_id.to_string());
    assert_eq!(status["imap"]["link"], "#/admin/mail?status=quarantined");
    // The test servers run without the SMTP receiver.
    assert_eq!(status["smtp"]["configured"], false);
    assert_eq!(status["smtp"]["status"], "off");
    assert_eq!(status["twilio"]["status"], "off");
    assert_eq!(status["cti"]["status"], "ok");
    assert_eq!(status["cti"]["link"], "#/admin/phone");
    assert_eq!(status["quarantine"]["count"], 0);
    assert_eq!(status["outbox"]["email"]["waiting"], 0);
    assert_eq!(status["outbox"]["sms"]["failed"], 0);
    let kind = if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(status["database"]["kind"], kind);
    assert_eq!(status["database"]["status"], "ok");
    assert_eq!(status["node"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(status["node"]["uptime_secs"].is_i64());
    // The only node leads routing (within a moment of starting).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, st) = app.get("/api/system/status", &app.admin_token).await;
        if st["node"]["routing_leader"] == true {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "leader: {st}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // A reply waiting and one failed show in the outbox figures and its list.
    let number = complaint(&app, json!({"email": "wait@example.com"})).await;
    sqlx::query(
        "UPDATE outbox SET status = 'failed', last_error = '550 no such user' WHERE ticket_id = $1",
    )
    .bind(number)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    let (_, st) = app.get("/api/system/status", &app.admin_token).await;
    assert_eq!(st["outbox"]["email"]["failed"], 1);
    assert_eq!(st["outbox"]["email"]["status"], "warning");
    let (s, failed) = app
        .get(
            "/api/system/outbox?channel=email&status=failed",
            &app.admin_token,
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{failed}");
    assert_eq!(failed[0]["ticket_id"], number);
    assert_eq!(failed[0]["recipient"], "wait@example.com");
    assert_eq!(failed[0]["last_error"], "550 no such user");
    let (s, r) = app
        .get("/api/system/outbox?channel=fax", &app.admin_token)
        .await;
    assert_error(s, &r, 400, "validation_failed");
    assert_eq!(r["error"]["field"], "channel");

    // Supervisors read it; agents do not.
    let (_, sup) = app.user("sup", "supervisor").await;
    assert_eq!(app.get("/api/system/status", &sup).await.0.as_u16(), 200);
    let (_, agent) = app.user("agent", "agent").await;
    let (s, r) = app.get("/api/system/status", &agent).await;
    assert_error(s, &r, 403, "forbidden");
}

#[tokio::test]
async fn queue_hours_may_name_a_time_zone() {
    let app = TestApp::spawn().await;
    let q = app.queue("Berlin").await;
    let path = format!("/api/queues/{q}/hours");
    let week: Vec<Value> = (0..5)
        .map(|d| json!({"weekday": d, "open": "09:00", "close": "18:00"}))
        .collect();
    let (s, h) = put(
        &app,
        &path,
        &app.admin_token,
        json!({"time_zone": "Europe/Berlin", "hours": week}),
    )
    .await;
    assert_eq!(s.as_u16(), 200, "{h}");
    assert_eq!(h["time_zone"], "Europe/Berlin");
    let (_, h) = app.get(&path, &app.admin_token).await;
    assert_eq!(h["time_zone"], "Europe/Berlin");
    assert_eq!(h["hours"].as_array().unwrap().len(), 5);
    let (s, r) = put(
        &app,
        &path,
        &app.admin_token,
        json!({"time_zone": "Mars/Olympus", "hours": []}),
    )
    .await;
    assert_error(s, &r, 400, "validation_failed");
    assert_eq!(r["error"]["field"], "time_zone");
    // Back to a fixed offset.
    let (s, h) = put(
        &app,
        &path,
        &app.admin_token,
        json!({"utc_offset_minutes": 480}),
    )
    .await;
    assert_eq!(s.as_u16(), 200, "{h}");
    assert!(h["time_zone"].is_null());
    assert_eq!(h["utc_offset_minutes"], 480);
}
