//! The ticket list's SLA fields and sort, full-text search over tickets (Chinese and English),
//! its filters and access rule, saved views and bulk actions.

use crate::routing::{fast_app, work_until, works};
use crate::support::{TestApp, assert_error};
use reqwest::Method;
use serde_json::{Value, json};

async fn sla(app: &TestApp, token: &str, queue: i64, first_response_secs: i64, warn: i64) {
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/queues/{queue}/sla"),
            Some(token),
            Some(
                json!({"priority": 1, "first_response_secs": first_response_secs,
                "resolution_secs": first_response_secs * 4, "warn_percent": warn}),
            ),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
}

async fn create(app: &TestApp, token: &str, body: Value) -> i64 {
    let (s, t) = app.post("/api/tickets", token, body).await;
    assert_eq!(s.as_u16(), 201, "{t}");
    t["id"].as_i64().unwrap()
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_list_carries_sla_time_left_and_sorts_by_it() {
    let app = fast_app().await;
    let (slow, fast, none, short) = (
        app.queue("Slow").await,
        app.queue("Fast").await,
        app.queue("None").await,
        app.queue("Short").await,
    );
    let (sup_id, sup) = app.user("sup", "supervisor").await;
    works(&app, sup_id, &[slow, fast, none, short]).await;
    sla(&app, &sup, slow, 3600, 80).await;
    sla(&app, &sup, fast, 600, 80).await;
    sla(&app, &sup, short, 1, 50).await;
    let a = create(&app, &sup, json!({"subject": "slow", "queue_id": slow})).await;
    let b = create(&app, &sup, json!({"subject": "fast", "queue_id": fast})).await;
    let c = create(&app, &sup, json!({"subject": "none", "queue_id": none})).await;
    let d = create(&app, &sup, json!({"subject": "short", "queue_id": short})).await;
    let wa = work_until(&app, a, |w| w["first_response_due"].is_i64()).await;
    work_until(&app, b, |w| w["first_response_due"].is_i64()).await;
    work_until(&app, d, |w| w["first_response_due"].is_i64()).await;
    work_until(&app, c, |w| w["state"].is_string()).await;

    let (s, list) = app.get("/api/tickets?sort=sla", &sup).await;
    assert_eq!(s.as_u16(), 200, "{list}");
    assert_eq!(
        ids(&list),
        vec![d, b, a, c],
        "most urgent first, no clock last"
    );
    let item = |id: i64| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    };
    let sa = &item(a)["sla"];
    assert_eq!(sa["first_response_due_at"], wa["first_response_due"]);
    assert_eq!(sa["resolution_due_at"], wa["resolution_due"]);
    assert_eq!(
        (sa["clock"].as_str(), sa["state"].as_str()),
        (Some("first_response"), Some("ok"))
    );
    let left = sa["time_left_ms"].as_i64().unwrap();
    assert!(left > 3_500_000 && left <= 3_600_000, "{sa}");
    assert_eq!(
        sa["warning_at"].as_i64().unwrap(),
        wa["enqueued_at"].as_i64().unwrap() + 3_600_000 * 80 / 100
    );
    assert!(item(c)["sla"].is_null(), "no target, no SLA");

    // A one-second target is breached a second later, in the list and the ticket view.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, t) = app.get(&format!("/api/tickets/{d}"), &sup).await;
    assert_eq!(t["sla"]["state"], "breached", "{t}");
    assert!(t["sla"]["time_left_ms"].as_i64().unwrap() < 0);

    // Resolved work stops its clocks.
    let (s, _) = app
        .patch(
            &format!("/api/tickets/{a}"),
            &sup,
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    let (_, t) = app.get(&format!("/api/tickets/{a}"), &sup).await;
    assert_eq!(t["sla"]["state"], "met", "{t}");

    let (s, b) = app.get("/api/tickets?sort=priority", &sup).await;
    assert_error(s, &b, 400, "validation_failed");
}

async fn search(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    let (s, list) = app.get(&format!("/api/tickets?{query}"), token).await;
    assert_eq!(s.as_u16(), 200, "{query}: {list}");
    let mut found = ids(&list);
    found.sort_unstable();
    found
}

fn q(words: &str) -> String {
    format!("q={}", urlencoding(words))
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn search_finds_chinese_and_english_with_filters_and_access() {
    let app = TestApp::spawn().await;
    let (qa, qb) = (app.queue("Kitchen").await, app.queue("Accounts").await);
    let (agent_id, agent) = app.user("ana", "agent").await;
    works(&app, agent_id, &[qa]).await;
    let (_, sup) = app.user("sup", "supervisor").await;
    let (s, vip) = app
        .post(
            "/api/customers",
            &app.admin_token,
            json!({"display_name": "Li Lei", "tier": "vip",
                "identities": [{"kind": "email", "value": "li.lei@example.cn"}]}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{vip}");
    let t1 = create(
        &app,
        &sup,
        json!({"subject": "Refund for broken kettle", "queue_id": qa,
        "body": "The kettle stopped heating after two days.", "channel": "email",
        "tags": ["refund"], "customer_id": vip["id"]}),
    )
    .await;
    let t2 = create(
        &app,
        &sup,
        json!({"subject": "无法登录账户", "queue_id": qb,
        "body": "我忘记密码了，也收不到验证码。", "channel": "sms"}),
    )
    .await;
    let t3 = create(
        &app,
        &sup,
        json!({"subject": "Kettle question", "queue_id": qa,
        "body": "Does the kettle come in blue?", "channel": "web", "kind": "complaint"}),
    )
    .await;

    // English, stemmed: "kettles" finds "kettle", "refunds" "Refund".
    assert_eq!(search(&app, &sup, &q("kettles")).await, vec![t1, t3]);
    assert_eq!(search(&app, &sup, &q("refunds")).await, vec![t1]);
    assert_eq!(
        search(&app, &sup, &q("kettle heating")).await,
        vec![t1],
        "every word"
    );
    // The subject weighs more: "kettle question" … best first without a sort.
    let (_, list) = app
        .get(&format!("/api/tickets?{}", q("kettle")), &sup)
        .await;
    assert_eq!(ids(&list)[0], t3, "{list}");
    // Chinese, a word of the body or the subject; traditional characters fold to simplified.
    assert_eq!(search(&app, &sup, &q("密码")).await, vec![t2]);
    assert_eq!(search(&app, &sup, &q("验证码")).await, vec![t2]);
    assert_eq!(search(&app, &sup, &q("登录")).await, vec![t2]);
    assert_eq!(search(&app, &sup, &q("密碼")).await, vec![t2]);
    assert!(
        search(&app, &sup, &q("the")).await.is_empty(),
        "function words only"
    );

    // Filters on top of the words.
    let k = q("kettle");
    assert_eq!(
        search(&app, &sup, &format!("{k}&channel=web")).await,
        vec![t3]
    );
    assert_eq!(
        search(&app, &sup, &format!("{k}&tag=refund")).await,
        vec![t1]
    );
    assert_eq!(search(&app, &sup, &format!("{k}&tier=vip")).await, vec![t1]);
    assert_eq!(
        search(&app, &sup, &format!("{k}&kind=complaint")).await,
        vec![t3]
    );
    assert_eq!(
        search(&app, &sup, &format!("{k}&queue_id={qb}")).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        search(&app, &sup, &format!("{k}&status=new")).await,
        vec![t1, t3]
    );
    assert_eq!(
        search(&app, &sup, &format!("{k}&created_from=4102444800000")).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        search(&app, &sup, "tag=refund").await,
        vec![t1],
        "filters alone"
    );
    assert_eq!(search(&app, &sup, "tier=vip&channel=email").await, vec![t1]);
    assert_eq!(search(&app, &sup, "updated_to=1").await, Vec::<i64>::new());

    // What the reader may see: the agent works Kitchen only.
    assert_eq!(search(&app, &agent, &q("kettle")).await, vec![t1, t3]);
    assert!(search(&app, &agent, &q("密码")).await.is_empty());

    // A new message is found at once (the search applies the log first).
    let (s, _) = app
        .post(
            &format!("/api/tickets/{t3}/notes"),
            &agent,
            json!({"body": "Serial number XJ-42, 保修期内"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201);
    assert_eq!(search(&app, &sup, &q("xj")).await, vec![t3]);
    assert_eq!(search(&app, &sup, &q("保修")).await, vec![t3]);

    let (s, b) = app.get(&format!("/api/tickets?{k}&tier=gold"), &sup).await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = app.get("/api/tickets?sort=relevance", &sup).await;
    assert_error(s, &b, 400, "validation_failed");
}

#[tokio::test]
async fn every_node_finds_tickets_written_through_any_node() {
    let app = TestApp::spawn().await;
    let (_, sup) = app.user("sup", "supervisor").await;
    let t1 = create(&app, &sup, json!({"subject": "Printer jams on page two"})).await;
    assert_eq!(search(&app, &sup, &q("printer")).await, vec![t1]);
    // A second node on the same database (its own index folder) sees it, and its changes.
    if std::env::var("TEST_DATABASE_URL").is_ok() {
        let other = app.spawn_node(|_| {}).await;
        assert_eq!(search(&other, &sup, &q("printer")).await, vec![t1]);
        let t2 = create(&other, &sup, json!({"subject": "Printer out of toner"})).await;
        assert_eq!(search(&app, &sup, &q("toner")).await, vec![t2]);
    }
}

#[tokio::test]
async fn bulk_changes_all_or_nothing() {
    let app = TestApp::spawn().await;
    let (qa, qb) = (app.queue("A").await, app.queue("B").await);
    let (agent_id, agent) = app.user("ana", "agent").await;
    works(&app, agent_id, &[qa]).await;
    let (other_id, _) = app.user("olaf", "agent").await;
    let (_, sup) = app.user("sup", "supervisor").await;
    let t1 = create(
        &app,
        &sup,
        json!({"subject": "one", "queue_id": qa, "tags": ["x"]}),
    )
    .await;
    let t2 = create(&app, &sup, json!({"subject": "two", "queue_id": qa})).await;
    let t3 = create(&app, &sup, json!({"subject": "three", "queue_id": qb})).await;

    let (s, r) = app
        .post(
            "/api/tickets/bulk",
            &sup,
            json!({"ids": [t1, t2, t3], "assign_to": other_id, "add_tags": ["x", "billing"],
                "status": "open"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{r}");
    let updated = r["updated"].as_array().unwrap();
    assert_eq!(updated.len(), 3);
    for t in updated {
        assert_eq!(
            (t["assignee_id"].as_i64(), t["status"].as_str()),
            (Some(other_id), Some("open"))
        );
        assert!(
            t["tags"].as_array().unwrap().contains(&json!("billing")),
            "{t}"
        );
    }
    assert_eq!(
        updated[0]["tags"],
        json!(["x", "billing"]),
        "kept, not doubled"
    );

    // An agent may not touch a ticket outside their queues: nothing changes.
    let (s, b) = app
        .post(
            "/api/tickets/bulk",
            &agent,
            json!({"ids": [t1, t3], "status": "pending"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (_, t) = app.get(&format!("/api/tickets/{t1}"), &sup).await;
    assert_eq!(t["ticket"]["status"], "open", "all or nothing");
    // Nor give tickets to someone else.
    let (s, b) = app
        .post(
            "/api/tickets/bulk",
            &agent,
            json!({"ids": [t1, t2], "assign_to": agent_id - 100}),
        )
        .await;
    assert!(s.as_u16() == 400 || s.as_u16() == 403, "{b}");
    let (s, r) = app
        .post(
            "/api/tickets/bulk",
            &agent,
            json!({"ids": [t1, t2], "queue_id": qa, "status": "pending"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{r}");
    let (s, b) = app
        .post("/api/tickets/bulk", &sup, json!({"ids": [t1]}))
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = app
        .post(
            "/api/tickets/bulk",
            &sup,
            json!({"ids": [t1, 999_999], "status": "open"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
}

#[tokio::test]
async fn saved_views_are_own_or_shared_by_supervisors() {
    let app = TestApp::spawn().await;
    let (_, ana) = app.user("ana", "agent").await;
    let (_, bob) = app.user("bob", "agent").await;
    let (_, sup) = app.user("sup", "supervisor").await;
    let view = json!({"name": "My complaints",
        "filters": {"scope": "mine", "status": "open", "kind": "complaint", "sort": "sla"},
        "columns": ["sla", "subject", "number"]});
    let (s, mine) = app.post("/api/views", &ana, view.clone()).await;
    assert_eq!(s.as_u16(), 201, "{mine}");
    // Columns come back in the list's order.
    assert_eq!(mine["columns"], json!(["number", "subject", "sla"]));
    assert_eq!(mine["filters"]["kind"], "complaint");
    let (s, r) = app.post("/api/views", &ana, view.clone()).await;
    assert_error(s, &r, 409, "conflict");

    // Agents may not share; supervisors may, and everyone then sees it.
    let (s, r) = app
        .post(
            "/api/views",
            &ana,
            json!({"name": "For all", "shared": true}),
        )
        .await;
    assert_error(s, &r, 403, "forbidden");
    let (s, shared) = app
        .post(
            "/api/views",
            &sup,
            json!({"name": "Breaching", "shared": true, "filters": {"scope": "all", "sort": "sla"}}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{shared}");
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, list) = app.get("/api/views", &bob).await;
    assert_eq!(names(&list), ["Breaching"]);
    let (_, list) = app.get("/api/views", &ana).await;
    assert_eq!(names(&list), ["Breaching", "My complaints"]);

    // Only the owner changes a view: another agent's own view does not exist for them, a
    // shared one is read-only.
    let id = mine["id"].as_i64().unwrap();
    let sid = shared["id"].as_i64().unwrap();
    let (s, r) = app
        .patch(&format!("/api/views/{id}"), &bob, json!({"name": "x"}))
        .await;
    assert_error(s, &r, 404, "not_found");
    let (s, r) = app
        .patch(&format!("/api/views/{sid}"), &bob, json!({"name": "x"}))
        .await;
    assert_error(s, &r, 403, "forbidden");
    let (s, r) = app
        .patch(
            &format!("/api/views/{id}"),
            &ana,
            json!({"name": "Complaints", "columns": ["bogus"]}),
        )
        .await;
    assert_error(s, &r, 400, "validation_failed");
    assert_eq!(r["error"]["field"], "columns");
    let (s, r) = app
        .patch(
            &format!("/api/views/{id}"),
            &ana,
            json!({"filters": {"scope": "queue:x"}}),
        )
        .await;
    assert_error(s, &r, 400, "validation_failed");
    let (s, r) = app
        .patch(
            &format!("/api/views/{id}"),
            &ana,
            json!({"name": "Complaints"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{r}");
    assert_eq!(r["filters"]["sort"], "sla", "unchanged parts stay");
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/views/{id}"),
            Some(&ana),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 204);
    let (_, list) = app.get("/api/views", &ana).await;
    assert_eq!(names(&list), ["Breaching"]);

    // Shared views are audited.
    let (_, audit) = app.get("/api/audit?target=view:*", &app.admin_token).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["view.create"], "{audit}");
}

#[tokio::test]
async fn bulk_merge_moves_every_thread_into_one_ticket_or_none() {
    let app = TestApp::spawn().await;
    let (qa, qb) = (app.queue("A").await, app.queue("B").await);
    let (agent_id, agent) = app.user("ana", "agent").await;
    works(&app, agent_id, &[qa]).await;
    let (_, sup) = app.user("sup", "supervisor").await;
    let body = |s: &str, q: i64| json!({"subject": s, "queue_id": q, "body": format!("about {s}")});
    let t1 = create(&app, &sup, body("router one", qa)).await;
    let t2 = create(&app, &sup, body("router two", qa)).await;
    let t3 = create(&app, &sup, body("router three", qa)).await;
    let other = create(&app, &sup, body("elsewhere", qb)).await;

    // Not alone, or a ticket the agent may not open: nothing merges.
    let (s, r) = app
        .post(
            "/api/tickets/bulk",
            &agent,
            json!({"ids": [t1, t2], "merge_into": t3, "status": "open"}),
        )
        .await;
    assert_error(s, &r, 400, "validation_failed");
    assert_eq!(r["error"]["field"], "merge_into");
    let (s, r) = app
        .post(
            "/api/tickets/bulk",
            &agent,
            json!({"ids": [t1, other], "merge_into": t3}),
        )
        .await;
    assert_error(s, &r, 400, "validation_failed");
    assert_eq!(r["error"]["field"], "ids");
    let (_, one) = app.get(&format!("/api/tickets/{t1}"), &agent).await;
    assert!(one["ticket"]["merged_into"].is_null(), "{one}");

    // The target may be among the ids; the others go into it.
    let (s, r) = app
        .post(
            "/api/tickets/bulk",
            &agent,
            json!({"ids": [t1, t2, t3], "merge_into": t3}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{r}");
    assert_eq!(r["updated"][0]["id"], t3);
    let (_, target) = app.get(&format!("/api/tickets/{t3}"), &agent).await;
    let bodies: Vec<&str> = target["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["body"].as_str())
        .collect();
    for s in ["about router one", "about router two", "about router three"] {
        assert!(bodies.contains(&s), "{s} missing in {bodies:?}");
    }
    for id in [t1, t2] {
        let (_, v) = app.get(&format!("/api/tickets/{id}"), &agent).await;
        assert_eq!(v["ticket"]["merged_into"], t3, "{v}");
    }
}
