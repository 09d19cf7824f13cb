//! Issue #14, holes 7 and 6: concurrent writers lose nothing (row lock, changed columns only,
//! versions with ETag / If-Match → 412), and the 360 view withholds what its reader may not
//! open (internal notes and bodies of tickets outside their queues), in the API and the pop.

use crate::routing::members;
use crate::support::{TestApp, assert_error};
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

/// PATCH with an optional `If-Match`; (status, ETag, body).
async fn patch_if(
    app: &TestApp,
    path: &str,
    token: &str,
    if_match: Option<&str>,
    body: Value,
) -> (StatusCode, Option<String>, Value) {
    let mut req = app
        .http
        .request(Method::PATCH, app.url(path))
        .bearer_auth(token)
        .json(&body);
    if let Some(v) = if_match {
        req = req.header("if-match", v);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let etag = etag_of(&res);
    (status, etag, res.json().await.unwrap_or(Value::Null))
}

fn etag_of(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string())
}

/// GET; (status, ETag, body).
async fn get_tagged(app: &TestApp, path: &str, token: &str) -> (StatusCode, Option<String>, Value) {
    let res = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let etag = etag_of(&res);
    (status, etag, res.json().await.unwrap_or(Value::Null))
}

/// The `ticket.updated` events of one ticket in commit order: (by, ticket).
async fn ticket_updates(app: &TestApp, id: i64) -> Vec<(Option<i64>, Value)> {
    let rows = sqlx::query(
        "SELECT payload FROM events WHERE kind = 'ticket.updated' AND ticket_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            let p: Value =
                serde_json::from_str(&r.try_get::<String, _>("payload").unwrap()).unwrap();
            (p["by"].as_i64(), p["ticket"].clone())
        })
        .collect()
}

/// 20 writers at once on one ticket, three times: half set its status (as intake reopening a
/// ticket, or an agent parking it), half assign it. Every change is in the events log in commit
/// order; no writer may have put back a field it did not change, and the row ends with the last
/// write of each field. Before the fix, on PostgreSQL, an assignment read the row, waited for a
/// concurrent status change to commit and then wrote the old status back.
#[tokio::test]
async fn concurrent_status_changes_and_assignments_revert_nothing() {
    let app = TestApp::spawn().await;
    let (sup_id, sup) = app.user("sup", "supervisor").await;
    let mut agents = Vec::new();
    for i in 0..5 {
        agents.push(app.user(&format!("agent{i}"), "agent").await.0);
    }
    let admin_id = {
        let (_, me) = app.get("/api/auth/me", &app.admin_token).await;
        me["id"]
            .as_i64()
            .or(me["user"]["id"].as_i64())
            .expect("admin id")
    };
    let (s, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "Refund", "channel": "email"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let id = t["id"].as_i64().unwrap();
    let path = format!("/api/tickets/{id}");
    let rounds = 3;
    for round in 0..rounds {
        let writes = (0..20).map(|i| {
            let (token, body) = if i % 2 == 0 {
                let status = ["open", "pending", "resolved"][(i / 2 + round) % 3];
                (&app.admin_token, json!({"status": status}))
            } else {
                (
                    &sup,
                    json!({"assignee_id": agents[(i / 2 + round) % agents.len()]}),
                )
            };
            let path = path.clone();
            let app = &app;
            async move {
                let (s, b) = app.patch(&path, token, body).await;
                assert_eq!(s, StatusCode::OK, "{b}");
            }
        });
        join_all(writes).await;
    }

    let updates = ticket_updates(&app, id).await;
    // (Background work such as routing may add changes of its own.)
    assert!(updates.len() >= 20 * rounds, "{}", updates.len());
    let mut status = t["status"].clone();
    let mut assignee = t["assignee_id"].clone();
    for (n, (by, after)) in updates.iter().enumerate() {
        if *by == Some(sup_id) {
            assert_eq!(
                after["status"], status,
                "assignment {n} put back an old status"
            );
        } else if *by == Some(admin_id) {
            assert_eq!(
                after["assignee_id"], assignee,
                "status change {n} put back an old assignee"
            );
        }
        status = after["status"].clone();
        assignee = after["assignee_id"].clone();
    }
    let (s, etag, now) = get_tagged(&app, &path, &app.admin_token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        now["ticket"]["status"], status,
        "the last status written stays"
    );
    assert_eq!(
        now["ticket"]["assignee_id"], assignee,
        "the last assignee written stays"
    );
    // Every write counted once.
    let version = 1 + updates.len() as i64;
    assert_eq!(now["ticket"]["version"], version);
    assert_eq!(etag, Some(format!("\"{version}\"")));
}

/// Two agents edit one ticket: the second, holding the version they loaded, gets 412 with the
/// current version instead of overwriting the first; nothing of their write is stored. Without
/// If-Match a PATCH still applies. The same for customers.
#[tokio::test]
async fn stale_if_match_is_refused_with_412() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token.clone();
    let (_, t) = app
        .post(
            "/api/tickets",
            &admin,
            json!({"subject": "Refund", "channel": "email"}),
        )
        .await;
    let path = format!("/api/tickets/{}", t["id"]);
    let (s, etag, view) = get_tagged(&app, &path, &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(view["ticket"]["version"], 1);

    // First agent: applies, the answer carries the new version.
    let (s, etag2, b) = patch_if(
        &app,
        &path,
        &admin,
        Some("\"1\""),
        json!({"priority": "high"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(etag2.as_deref(), Some("\"2\""));
    assert_eq!(b["version"], 2);
    // Second agent, still on version 1: refused, told the current version.
    let (s, etag3, b) = patch_if(
        &app,
        &path,
        &admin,
        Some("\"1\""),
        json!({"priority": "low", "subject": "Mine"}),
    )
    .await;
    assert_error(s, &b, 412, "version_conflict");
    assert_eq!(b["error"]["current_version"], 2);
    assert_eq!(etag3.as_deref(), Some("\"2\""));
    let (_, _, view) = get_tagged(&app, &path, &admin).await;
    assert_eq!(view["ticket"]["priority"], "high");
    assert_eq!(view["ticket"]["subject"], "Refund");
    assert_eq!(view["ticket"]["version"], 2);
    // Weak form and `*` are understood; garbage is a clear 400.
    let (s, _, b) = patch_if(
        &app,
        &path,
        &admin,
        Some("W/\"2\""),
        json!({"kind": "complaint"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _, b) = patch_if(&app, &path, &admin, Some("*"), json!({"kind": "request"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _, b) = patch_if(
        &app,
        &path,
        &admin,
        Some("yesterday"),
        json!({"kind": "request"}),
    )
    .await;
    assert_error(s, &b, 400, "validation_failed");
    // Without If-Match: applied (only what it names).
    let (s, _, b) = patch_if(&app, &path, &admin, None, json!({"status": "pending"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (
            b["status"].as_str(),
            b["kind"].as_str(),
            b["version"].as_i64()
        ),
        (Some("pending"), Some("request"), Some(5))
    );

    // Customers.
    let cid = app
        .customer("Zhang Wei", &[("phone", "+8613800138000")])
        .await;
    let cpath = format!("/api/customers/{cid}");
    let (s, etag, view) = get_tagged(&app, &cpath, &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(view["customer"]["version"], 1);
    let (s, etag, b) = patch_if(&app, &cpath, &admin, Some("\"1\""), json!({"tier": "vip"})).await;
    assert_eq!((s, etag.as_deref()), (StatusCode::OK, Some("\"2\"")), "{b}");
    let (s, _, b) = patch_if(
        &app,
        &cpath,
        &admin,
        Some("\"1\""),
        json!({"notes": "stale"}),
    )
    .await;
    assert_error(s, &b, 412, "version_conflict");
    assert_eq!(b["error"]["current_version"], 2);
    let (s, _, b) = patch_if(&app, &cpath, &admin, None, json!({"notes": "fresh"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (
            b["tier"].as_str(),
            b["notes"].as_str(),
            b["version"].as_i64()
        ),
        (Some("vip"), Some("fresh"), Some(3))
    );
}

/// Concurrent customer edits of different fields all stay.
#[tokio::test]
async fn concurrent_customer_edits_revert_nothing() {
    let app = TestApp::spawn().await;
    let cid = app.customer("Li Na", &[("phone", "+8613900139000")]).await;
    let path = format!("/api/customers/{cid}");
    let writes = (0..20).map(|i| {
        let body = if i % 2 == 0 {
            json!({"notes": format!("note {i}")})
        } else {
            let tier = ["vip", "key", "low"][i % 3];
            json!({ "tier": tier })
        };
        let path = path.clone();
        let app = &app;
        async move {
            let (s, b) = app.patch(&path, &app.admin_token, body).await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
    });
    join_all(writes).await;
    let (_, _, view) = get_tagged(&app, &path, &app.admin_token).await;
    assert_eq!(view["customer"]["version"], 21);
    // Each field holds one of the values written to it (the initial ones were overwritten).
    assert!(
        view["customer"]["notes"]
            .as_str()
            .unwrap()
            .starts_with("note ")
    );
    assert_ne!(view["customer"]["tier"], "regular");
}

const CTI: &str = "/api/v1/cti/cti-secret";

/// An agent in queue A looks up a customer who also has a ticket in queue B (internal note
/// "secret-note", a public reply): the 360 (customer page, history, lookup, screen pop) shows
/// that ticket's interactions without bodies or addresses and without the note; the bodies of
/// queue A's ticket show. A supervisor sees everything.
#[tokio::test]
async fn the_360_withholds_notes_and_bodies_of_tickets_the_reader_may_not_open() {
    let app = TestApp::spawn_with(|c| {
        c.cti_token = hotline::config::Secret("cti-secret".into());
    })
    .await;
    let admin = app.admin_token.clone();
    let qa = app.queue("phone").await;
    let qb = app.queue("billing").await;
    let (s, b) = app
        .post("/api/users", &admin,
            json!({"login": "ann", "display_name": "Ann", "role": "agent", "password": "password-123", "extension": "101"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let ann_id = b["id"].as_i64().unwrap();
    let ann = app.login("ann", "password-123").await;
    let (_, sup) = app.user("sup", "supervisor").await;
    members(&app, qa, &[ann_id]).await;
    members(&app, qb, &[]).await;
    let cid = app
        .customer(
            "Zhang Wei",
            &[("phone", "+8613800138000"), ("email", "zhang@example.com")],
        )
        .await;

    let ticket = |queue: i64, subject: &'static str, note: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let (s, t) = app
                .post("/api/tickets", &admin,
                    json!({"subject": subject, "body": note, "channel": "email", "queue_id": queue, "customer_id": cid}))
                .await;
            assert_eq!(s, StatusCode::CREATED, "{t}");
            t["id"].as_i64().unwrap()
        }
    };
    let ta = ticket(qa, "Phone plan", "visible-note-a").await;
    let tb = ticket(qb, "Billing dispute", "secret-note").await;
    for (t, body) in [(ta, "reply-body-a"), (tb, "reply-body-b")] {
        let (s, r) = app
            .post(
                &format!("/api/tickets/{t}/replies"),
                &admin,
                json!({"body": body}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
    }
    // Ann may not open ticket B.
    let (s, _) = app.get(&format!("/api/tickets/{tb}"), &ann).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let check_agent = |history: &Value, what: &str| {
        let text = history.to_string();
        assert!(!text.contains("secret-note"), "{what}: {text}");
        assert!(!text.contains("reply-body-b"), "{what}: {text}");
        assert!(text.contains("visible-note-a"), "{what}: {text}");
        assert!(text.contains("reply-body-a"), "{what}: {text}");
        let items = history.as_array().unwrap();
        let of_b: Vec<&Value> = items.iter().filter(|h| h["ticket_id"] == tb).collect();
        assert_eq!(
            of_b.len(),
            1,
            "{what}: only the reply of B, no note: {text}"
        );
        let reply = of_b[0];
        assert_eq!(reply["withheld"], true);
        assert_eq!(reply["preview"], "");
        assert_eq!(reply["to_addr"], "");
        assert_eq!(reply["channel"], "email");
        assert_eq!(reply["ticket_status"], "open");
        assert!(
            reply["subject"]
                .as_str()
                .unwrap()
                .contains("Billing dispute"),
            "{what}: {text}"
        );
        assert!(reply["created_at"].as_i64().is_some());
        assert!(
            items
                .iter()
                .filter(|h| h["ticket_id"] == ta)
                .all(|h| h["withheld"] == false)
        );
    };
    let (s, view) = app.get(&format!("/api/customers/{cid}"), &ann).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    check_agent(&view["history"], "customer page");
    // The 360 stays cross-queue: both open tickets are listed.
    assert_eq!(view["open_tickets"].as_array().unwrap().len(), 2, "{view}");
    let (_, page) = app
        .get(&format!("/api/customers/{cid}/history"), &ann)
        .await;
    check_agent(&page["items"], "history");
    let (_, found) = app
        .get("/api/customers/lookup?q=%2B8613800138000", &ann)
        .await;
    check_agent(&found["history"], "lookup");

    // A supervisor sees everything.
    let (_, view) = app.get(&format!("/api/customers/{cid}"), &sup).await;
    let text = view["history"].to_string();
    assert!(
        text.contains("secret-note") && text.contains("reply-body-b"),
        "{text}"
    );
    assert!(
        view["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["withheld"] == false)
    );

    // The screen pop to Ann likewise.
    let (s, v) = app
        .call(Method::POST, CTI, None, Some(json!({"event": "newCall", "from": "013800138000",
            "to": "4008001234", "direction": "in", "callId": "pbx-360", "user": ["101"], "queue": "phone"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rows =
        sqlx::query("SELECT user_id, payload FROM events WHERE kind = 'screen_pop' ORDER BY seq")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].try_get::<Option<i64>, _>("user_id").unwrap(),
        Some(ann_id)
    );
    let pop: Value =
        serde_json::from_str(&rows[0].try_get::<String, _>("payload").unwrap()).unwrap();
    assert_eq!(pop["view"]["customer"]["id"], cid, "{pop}");
    check_agent(&pop["view"]["history"], "screen pop");
}

/// Two admins editing one user: the second, still on the version it read, gets 412 instead of
/// silently overwriting the first one's change (and a PATCH without If-Match still applies).
#[tokio::test]
async fn a_stale_user_edit_is_refused_with_412() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token.clone();
    let (id, _) = app.user("maria", "agent").await;
    let path = format!("/api/users/{id}");
    let (s, etag, user) = get_tagged(&app, &path, &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(user["version"], 1);

    let (s, etag2, b) = patch_if(
        &app,
        &path,
        &admin,
        Some("\"1\""),
        json!({"display_name": "Maria Chen"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(etag2.as_deref(), Some("\"2\""));
    let (s, etag3, b) = patch_if(
        &app,
        &path,
        &admin,
        Some("\"1\""),
        json!({"display_name": "M. Chen", "skills": ["billing"]}),
    )
    .await;
    assert_error(s, &b, 412, "version_conflict");
    assert_eq!(b["error"]["current_version"], 2);
    assert_eq!(etag3.as_deref(), Some("\"2\""));
    let (_, _, user) = get_tagged(&app, &path, &admin).await;
    assert_eq!(user["display_name"], "Maria Chen");
    assert_eq!(user["skills"], json!([]));

    let (s, _, b) = patch_if(&app, &path, &admin, None, json!({"skills": ["billing"]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["version"], 3);
    assert_eq!(b["display_name"], "Maria Chen");
}

/// Agents replying to one new ticket at once (each reply opens it): every reply is stored. On
/// PostgreSQL the update's row lock must not wait for the key-share lock each reply's insert
/// holds on its ticket, or two replies deadlock and one answers 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replies_to_one_ticket_all_succeed() {
    let app = TestApp::spawn().await;
    for round in 0..3 {
        let (_, t) = app
            .post(
                "/api/tickets",
                &app.admin_token,
                json!({"subject": format!("Busy {round}"), "channel": "email"}),
            )
            .await;
        let path = format!("/api/tickets/{}/replies", t["id"]);
        let answers = join_all((0..20).map(|i| {
            let (app, path) = (&app, &path);
            async move {
                app.post(
                    path,
                    &app.admin_token,
                    json!({"body": format!("reply {i}"), "channel": "email",
                           "to": "carol@example.com", "status": "open"}),
                )
                .await
            }
        }))
        .await;
        for (s, b) in answers {
            assert_eq!(s, StatusCode::CREATED, "{b}");
        }
    }
}
