//! Macros: the seeded canned replies, CRUD and who may manage what, placeholders filled for
//! Chinese and English customers, actions applied to the ticket, bad input.

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn delete(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    app.call(Method::DELETE, path, Some(token), None).await
}

async fn set_queues(app: &TestApp, user: i64, queues: &[i64]) {
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/users/{user}/queues"),
            Some(&app.admin_token),
            Some(json!({"queue_ids": queues})),
        )
        .await;
    assert!(s.is_success(), "{b}");
}

fn titles(list: &Value) -> Vec<String> {
    list["macros"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap().to_string())
        .collect()
}

async fn customer(app: &TestApp, name: &str, title: Option<&str>, language: &str) -> i64 {
    let mut body = json!({"display_name": name, "language": language});
    if let Some(t) = title {
        body["title"] = json!(t);
    }
    let (s, c) = app.post("/api/customers", &app.admin_token, body).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["title"], json!(title), "{c}");
    c["id"].as_i64().unwrap()
}

async fn ticket(app: &TestApp, token: &str, subject: &str, customer_id: Option<i64>) -> i64 {
    let (s, t) = app
        .post(
            "/api/tickets",
            token,
            json!({"subject": subject, "kind": "inquiry", "channel": "email", "customer_id": customer_id, "body": "Hello"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    t["id"].as_i64().unwrap()
}

/// The id of the seeded macro `key` in `language`.
async fn seeded(app: &TestApp, token: &str, key: &str, language: &str) -> i64 {
    let (_, list) = app
        .get(&format!("/api/macros?language={language}"), token)
        .await;
    list["macros"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["seed_key"] == key)
        .unwrap_or_else(|| panic!("seeded {key} {language}: {list}"))["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn seeded_macros_and_who_manages_what() {
    let app = TestApp::spawn().await;
    let qa = app.queue("Billing").await;
    let qb = app.queue("Network").await;
    let (agent_id, agent) = app.user("mc-agent", "agent").await;
    let (agent2_id, agent2) = app.user("mc-agent2", "agent").await;
    let (sup_id, sup) = app.user("mc-sup", "supervisor").await;
    set_queues(&app, agent_id, &[qa]).await;
    set_queues(&app, agent2_id, &[qb]).await;
    set_queues(&app, sup_id, &[qa]).await;

    // The four former canned replies, in both languages, shared with every queue.
    let (s, list) = app.get("/api/macros", &agent).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["macros"].as_array().unwrap().len(), 8, "{list}");
    assert!(
        list["macros"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["scope"] == "shared" && m["can_edit"] == false),
        "{list}"
    );
    assert!(
        list["placeholders"]
            .as_array()
            .unwrap()
            .contains(&json!("customer.honorific"))
    );
    let (_, zh) = app.get("/api/macros?language=zh-CN", &agent).await;
    assert_eq!(titles(&zh).len(), 4, "{zh}");
    assert!(titles(&zh).contains(&"退款确认".to_string()), "{zh}");
    let (_, found) = app.get("/api/macros?q=REFUND", &agent).await;
    assert_eq!(titles(&found), vec!["Refund confirmed"], "{found}");
    let (_, found) = app
        .get("/api/macros?q=%E5%88%B0%E8%B4%A6", &agent) // 到账: in the body
        .await;
    assert_eq!(titles(&found), vec!["退款确认"], "{found}");

    // An agent: personal ones only.
    let (s, mine) = app
        .post(
            "/api/macros",
            &agent,
            json!({"title": "My sign-off", "body": "Cheers, {agent.name}", "language": "en"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{mine}");
    assert_eq!(mine["scope"], "personal");
    assert_eq!(mine["owner_id"], agent_id);
    assert_eq!(mine["can_edit"], true);
    let mine_id = mine["id"].as_i64().unwrap();
    let (s, e) = app
        .post(
            "/api/macros",
            &agent,
            json!({"title": "Team", "body": "x", "language": "en", "scope": "shared", "queue_id": qa}),
        )
        .await;
    assert_error(s, &e, 403, "forbidden");
    let greeting = seeded(&app, &agent, "greeting", "en").await;
    let (s, e) = app
        .patch(
            &format!("/api/macros/{greeting}"),
            &agent,
            json!({"title": "Hi"}),
        )
        .await;
    assert_error(s, &e, 403, "forbidden");
    let (s, e) = delete(&app, &format!("/api/macros/{greeting}"), &agent).await;
    assert_error(s, &e, 403, "forbidden");

    // Another agent neither sees nor changes it.
    let (_, theirs) = app.get("/api/macros", &agent2).await;
    assert!(!titles(&theirs).contains(&"My sign-off".to_string()));
    let (s, e) = app
        .patch(
            &format!("/api/macros/{mine_id}"),
            &agent2,
            json!({"title": "Mine now"}),
        )
        .await;
    assert_error(s, &e, 404, "not_found");

    // The owner changes and deletes it.
    let (s, changed) = app
        .patch(
            &format!("/api/macros/{mine_id}"),
            &agent,
            json!({"title": "Sign-off", "language": "zh-CN", "body": "{agent.name} 敬上"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    assert_eq!(changed["title"], "Sign-off");
    assert_eq!(changed["language"], "zh-CN");

    // A supervisor: shared ones of the queues they work.
    let (s, team) = app
        .post(
            "/api/macros",
            &sup,
            json!({"title": "Billing hello", "body": "Billing here, {customer.name}.", "language": "en", "scope": "shared", "queue_id": qa}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    let team_id = team["id"].as_i64().unwrap();
    for body in [
        json!({"title": "Net", "body": "x", "language": "en", "scope": "shared", "queue_id": qb}),
        json!({"title": "All", "body": "x", "language": "en", "scope": "shared"}),
    ] {
        let (s, e) = app.post("/api/macros", &sup, body).await;
        assert_error(s, &e, 403, "forbidden");
    }
    let (s, e) = app
        .patch(
            &format!("/api/macros/{team_id}"),
            &sup,
            json!({"queue_id": qb}),
        )
        .await;
    assert_error(s, &e, 403, "forbidden");
    let (s, e) = app
        .patch(
            &format!("/api/macros/{greeting}"),
            &sup,
            json!({"title": "Hi"}),
        )
        .await;
    assert_error(s, &e, 403, "forbidden");

    // Members of the queue see it, others not; ?queue_id= narrows to one queue's.
    let (_, a) = app.get("/api/macros", &agent).await;
    assert!(titles(&a).contains(&"Billing hello".to_string()), "{a}");
    let (_, b) = app.get("/api/macros", &agent2).await;
    assert!(!titles(&b).contains(&"Billing hello".to_string()), "{b}");
    let (_, a) = app.get(&format!("/api/macros?queue_id={qb}"), &agent).await;
    assert!(!titles(&a).contains(&"Billing hello".to_string()), "{a}");
    assert!(titles(&a).contains(&"Sign-off".to_string()), "{a}");
    assert!(titles(&a).contains(&"Greeting".to_string()), "{a}");
    let (s, e) = delete(&app, &format!("/api/macros/{team_id}"), &agent2).await;
    assert_error(s, &e, 404, "not_found");

    // Admins: everything, audited when shared.
    let (_, all) = app.get("/api/macros", &app.admin_token).await;
    assert!(titles(&all).contains(&"Billing hello".to_string()));
    assert!(!titles(&all).contains(&"Sign-off".to_string()));
    let (s, every) = app
        .post(
            "/api/macros",
            &app.admin_token,
            json!({"title": "Holiday hours", "body": "We are closed on 1 October.", "language": "en", "scope": "shared"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{every}");
    assert_eq!(every["queue_id"], Value::Null);
    let (s, _) = delete(&app, &format!("/api/macros/{greeting}"), &app.admin_token).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .patch(
            &format!("/api/macros/{mine_id}"),
            &app.admin_token,
            json!({"title": "Checked"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = delete(&app, &format!("/api/macros/{mine_id}"), &agent).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, e) = delete(&app, &format!("/api/macros/{mine_id}"), &agent).await;
    assert_error(s, &e, 404, "not_found");

    let (_, audit) = app
        .get("/api/audit?action=macro.*&limit=50", &app.admin_token)
        .await;
    let actions: Vec<(String, String)> = audit
        .as_array()
        .or_else(|| audit["items"].as_array())
        .or_else(|| audit["entries"].as_array())
        .unwrap_or_else(|| panic!("{audit}"))
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("macro.create".into(), format!("macro:{team_id}"))),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("macro.delete".into(), format!("macro:{greeting}"))),
        "{actions:?}"
    );
    // Personal macros are nobody else's business.
    assert!(
        !actions
            .iter()
            .any(|(_, t)| *t == format!("macro:{mine_id}")),
        "{actions:?}"
    );
}

#[tokio::test]
async fn placeholders_are_filled_for_chinese_and_english_customers() {
    let app = TestApp::spawn().await;
    let (_, agent) = app.user("mc-fill", "agent").await;
    let wang = customer(&app, "王伟", Some("mr"), "zh-CN").await;
    let li = customer(&app, "李娜", Some("ms"), "zh").await;
    let smith = customer(&app, "Jane Smith", Some("ms"), "en").await;
    let nobody = customer(&app, "Alex Chen", None, "en").await;

    let zh_greeting = seeded(&app, &agent, "greeting", "zh-CN").await;
    let en_greeting = seeded(&app, &agent, "greeting", "en").await;
    let zh_closing = seeded(&app, &agent, "closing", "zh-CN").await;

    for (cid, macro_id, want) in [
        (
            wang,
            zh_greeting,
            "王先生您好：\n\n感谢您就工单 #{n} 联系我们。\n",
        ),
        (
            li,
            zh_greeting,
            "李女士您好：\n\n感谢您就工单 #{n} 联系我们。\n",
        ),
        (
            smith,
            en_greeting,
            "Hello Ms Smith,\n\nThank you for contacting us about ticket #{n}.\n",
        ),
        (
            nobody,
            en_greeting,
            "Hello Alex Chen,\n\nThank you for contacting us about ticket #{n}.\n",
        ),
        (
            wang,
            zh_closing,
            "如有其他问题，请直接回复本消息。\n\n祝好！\nmc-fill\n",
        ),
    ] {
        let t = ticket(&app, &agent, "宽带无法连接", Some(cid)).await;
        let (s, out) = app
            .post(
                &format!("/api/macros/{macro_id}/apply"),
                &agent,
                json!({"ticket_id": t}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{out}");
        assert_eq!(out["text"], want.replace("{n}", &t.to_string()), "{out}");
        assert_eq!(out["applied"], json!({}), "{out}");
    }

    // The title is set and cleared on the customer.
    let path = format!("/api/customers/{nobody}");
    let (s, c) = app.patch(&path, &agent, json!({"title": "mr"})).await;
    assert_eq!((s, &c["title"]), (StatusCode::OK, &json!("mr")), "{c}");
    let t = ticket(&app, &agent, "Titled", Some(nobody)).await;
    let (_, out) = app
        .post(
            &format!("/api/macros/{en_greeting}/apply"),
            &agent,
            json!({"ticket_id": t}),
        )
        .await;
    assert!(
        out["text"].as_str().unwrap().starts_with("Hello Mr Chen,"),
        "{out}"
    );
    let (_, c) = app.patch(&path, &agent, json!({"notes": "x"})).await;
    assert_eq!(c["title"], "mr", "{c}");
    let (_, c) = app.patch(&path, &agent, json!({"title": null})).await;
    assert_eq!(c["title"], Value::Null, "{c}");

    // Every placeholder, in a macro of one's own.
    let (_, m) = app
        .post(
            "/api/macros",
            &agent,
            json!({"title": "All", "language": "en",
                   "body": "{customer.name}|{customer.honorific}|{ticket.number}|{ticket.subject}|{agent.name}|{not a placeholder}"}),
        )
        .await;
    let t = ticket(&app, &agent, "Router blinks red", Some(smith)).await;
    let (_, out) = app
        .post(
            &format!("/api/macros/{}/apply", m["id"]),
            &agent,
            json!({"ticket_id": t, "dry_run": true}),
        )
        .await;
    assert_eq!(
        out["text"],
        format!("Jane Smith|Ms Smith|{t}|Router blinks red|mc-fill|{{not a placeholder}}")
    );
    assert_eq!(out["dry_run"], true);

    // A ticket without a customer: the customer's placeholders are empty.
    let t = ticket(&app, &agent, "Walk-in", None).await;
    let (_, out) = app
        .post(
            &format!("/api/macros/{en_greeting}/apply"),
            &agent,
            json!({"ticket_id": t}),
        )
        .await;
    assert!(
        out["text"].as_str().unwrap().starts_with("Hello ,"),
        "{out}"
    );
}

#[tokio::test]
async fn actions_are_applied_to_the_ticket() {
    let app = TestApp::spawn().await;
    let (_, sup) = app.user("mc-act", "supervisor").await;
    let other = app.queue("Escalations").await;
    let cid = customer(&app, "王芳", Some("ms"), "zh-CN").await;
    let t = ticket(&app, &sup, "退款", Some(cid)).await;
    let (s, m) = app
        .post(
            "/api/macros",
            &sup,
            json!({"title": "转退款组", "language": "zh-CN", "body": "{customer.honorific}，您的退款申请已转交退款组。",
                   "actions": {"status": "pending", "priority": "high", "add_tags": ["refund", "refund", "vip"], "queue_id": other}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["actions"]["add_tags"], json!(["refund", "vip"]), "{m}");
    let id = m["id"].as_i64().unwrap();

    // The preview changes nothing.
    let (s, dry) = app
        .post(
            &format!("/api/macros/{id}/apply"),
            &sup,
            json!({"ticket_id": t, "dry_run": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{dry}");
    assert_eq!(dry["text"], "王女士，您的退款申请已转交退款组。");
    assert_eq!(dry["applied"]["status"], "pending");
    assert_ne!(dry["ticket"]["status"], "pending");
    let (_, before) = app.get(&format!("/api/tickets/{t}"), &sup).await;
    assert_ne!(before["ticket"]["priority"], "high");

    // A tag the ticket has already is not added twice.
    app.patch(&format!("/api/tickets/{t}"), &sup, json!({"tags": ["vip"]}))
        .await;
    let (s, out) = app
        .post(
            &format!("/api/macros/{id}/apply"),
            &sup,
            json!({"ticket_id": t}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    assert_eq!(
        out["applied"],
        json!({"status": "pending", "priority": "high", "add_tags": ["refund"], "queue_id": other})
    );
    let (_, after) = app.get(&format!("/api/tickets/{t}"), &sup).await;
    let after = &after["ticket"];
    assert_eq!(after["status"], "pending");
    assert_eq!(after["priority"], "high");
    assert_eq!(after["tags"], json!(["vip", "refund"]));
    assert_eq!(after["queue_id"], other);

    // Applied again: nothing left to change.
    let (_, again) = app
        .post(
            &format!("/api/macros/{id}/apply"),
            &sup,
            json!({"ticket_id": t}),
        )
        .await;
    assert_eq!(again["applied"], json!({}));

    // An agent outside the ticket's queue cannot apply anything to it.
    let (agent_id, agent) = app.user("mc-act-agent", "agent").await;
    let q = app.queue("Elsewhere").await;
    set_queues(&app, agent_id, &[q]).await;
    let greeting = seeded(&app, &agent, "greeting", "en").await;
    let (s, e) = app
        .post(
            &format!("/api/macros/{greeting}/apply"),
            &agent,
            json!({"ticket_id": t}),
        )
        .await;
    assert_error(s, &e, 404, "not_found");
    // Nor use a supervisor's personal macro.
    let own = ticket(&app, &agent, "Mine", None).await;
    let (s, e) = app
        .post(
            &format!("/api/macros/{id}/apply"),
            &agent,
            json!({"ticket_id": own}),
        )
        .await;
    assert_error(s, &e, 404, "not_found");
}

#[tokio::test]
async fn bad_input_has_stable_codes() {
    let app = TestApp::spawn().await;
    let (_, agent) = app.user("mc-bad", "agent").await;
    let admin = app.admin_token.clone();
    let ok = json!({"title": "T", "body": "Hello {customer.name}", "language": "en"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    for (token, body, field) in [
        (
            &agent,
            with("body", json!("Dear {customer.nickname}")),
            "body",
        ),
        (&agent, with("body", json!("  ")), "body"),
        (&agent, with("title", json!(" ")), "title"),
        (&agent, with("language", json!("fr")), "language"),
        (&agent, with("scope", json!("team")), "scope"),
        (&agent, with("queue_id", json!(1)), "queue_id"),
        (
            &admin,
            {
                let mut b = with("scope", json!("shared"));
                b["queue_id"] = json!(999999);
                b
            },
            "queue_id",
        ),
        (
            &agent,
            with("actions", json!({"status": "done"})),
            "actions.status",
        ),
        (
            &agent,
            with("actions", json!({"priority": "asap"})),
            "actions.priority",
        ),
        (
            &agent,
            with("actions", json!({"queue_id": 999999})),
            "actions.queue_id",
        ),
        (
            &agent,
            with("actions", json!({"add_tags": [" "]})),
            "actions.add_tags",
        ),
    ] {
        let (s, e) = app.post("/api/macros", token, body.clone()).await;
        assert_error(s, &e, 400, "validation_failed");
        assert_eq!(e["error"]["field"], field, "{body}: {e}");
    }
    let (s, e) = app
        .post("/api/macros", &agent, json!({"title": "no body"}))
        .await;
    assert_eq!(s.as_u16(), 400, "{e}");

    let (_, m) = app.post("/api/macros", &agent, ok.clone()).await;
    let id = m["id"].as_i64().unwrap();
    let (s, e) = app
        .patch(
            &format!("/api/macros/{id}"),
            &agent,
            json!({"body": "{ticket.id}"}),
        )
        .await;
    assert_error(s, &e, 400, "validation_failed");
    assert_eq!(e["error"]["field"], "body");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("{ticket.number}"),
        "{e}"
    );
    let (s, e) = app.get("/api/macros?language=de", &agent).await;
    assert_error(s, &e, 400, "validation_failed");
    let (s, e) = app
        .post(
            &format!("/api/macros/{id}/apply"),
            &agent,
            json!({"ticket_id": 999999}),
        )
        .await;
    assert_error(s, &e, 404, "not_found");
    let (s, e) = app
        .post("/api/macros/999999/apply", &agent, json!({"ticket_id": 1}))
        .await;
    assert_error(s, &e, 404, "not_found");
    let (s, e) = app
        .patch("/api/macros/999999", &agent, json!({"title": "x"}))
        .await;
    assert_error(s, &e, 404, "not_found");
    let (s, e) = app
        .post(
            "/api/customers",
            &agent,
            json!({"display_name": "X", "title": "dr"}),
        )
        .await;
    assert_error(s, &e, 400, "validation_failed");
    assert_eq!(e["error"]["field"], "title");
}
