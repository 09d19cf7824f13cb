//! Voice: the generic CTI webhook scenarios and Twilio Voice (TwiML, status callbacks, connect
//! through the REST stand-in). Screen pops are asserted on the events log (scope = one agent).

use crate::support::{TestApp, assert_error};
use crate::twilio_fake::{count, post_signed, post_signed_with, spawn_with_twilio};
use serde_json::{Value, json};

const CTI: &str = "/api/v1/cti/cti-secret";

async fn cti(app: &TestApp, body: Value) -> (u16, Value) {
    let (s, v) = app.call(reqwest::Method::POST, CTI, None, Some(body)).await;
    (s.as_u16(), v)
}

async fn cti_form(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let res = app.http.post(app.url(CTI)).form(form).send().await.unwrap();
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

/// An agent with a phone extension; returns (id, token).
async fn agent(app: &TestApp, login: &str, extension: &str, phone: Option<&str>) -> (i64, String) {
    let (s, b) = app
        .post("/api/users", &app.admin_token,
            json!({"login": login, "display_name": login, "role": "agent", "password": "password-123",
                   "extension": extension, "phone": phone}))
        .await;
    assert_eq!(s.as_u16(), 201, "{b}");
    (
        b["id"].as_i64().unwrap(),
        app.login(login, "password-123").await,
    )
}

/// Screen pops in the events log: (user_id, payload).
async fn pops(app: &TestApp) -> Vec<(Option<i64>, Value)> {
    let rows = sqlx::query(
        "SELECT user_id, queue_id, payload FROM events WHERE kind = 'screen_pop' ORDER BY seq",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            use sqlx::Row;
            let q: Option<i64> = r.try_get("queue_id").unwrap();
            assert_eq!(q, None, "a screen pop is scoped to one agent, not a queue");
            let p: String = r.try_get("payload").unwrap();
            (
                r.try_get("user_id").unwrap(),
                serde_json::from_str(&p).unwrap(),
            )
        })
        .collect()
}

async fn call_row(app: &TestApp, source: &str, call_id: &str) -> Value {
    let (_, calls) = app.get("/api/calls?limit=200", &app.admin_token).await;
    calls
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["call_id"] == call_id && c["source"] == source)
        .cloned()
        .unwrap_or_else(|| panic!("no call {call_id}: {calls}"))
}

async fn ticket(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/tickets/{id}"), &app.admin_token)
        .await
        .1
}

#[tokio::test]
async fn known_caller_pops_the_ringing_agent_only_and_the_call_is_filed() {
    let (app, _) = spawn_with_twilio().await;
    let (a1, _) = agent(&app, "a1", "101", None).await;
    let (a2, _) = agent(&app, "a2", "102", None).await;
    let queue = app.queue("phone").await;
    let cid = app
        .customer("Zhang Wei", &[("phone", "+8613800138000")])
        .await;
    app.patch(
        &format!("/api/customers/{cid}"),
        &app.admin_token,
        json!({"tier": "vip"}),
    )
    .await;
    let (s, complaint) = app
        .post("/api/tickets", &app.admin_token,
            json!({"subject": "My refund has not arrived", "kind": "complaint", "channel": "email", "customer_id": cid}))
        .await;
    assert_eq!(s.as_u16(), 201);

    let new_call = json!({"event": "newCall", "from": "013800138000", "to": "4008001234",
        "direction": "in", "callId": "pbx-1", "user": ["101"], "queue": "phone"});
    let (s, v) = cti(&app, new_call.clone()).await;
    assert_eq!((s, v.clone()), (200, json!({})), "{v}");
    // A repeated newCall changes nothing.
    let (s, _) = cti(&app, new_call).await;
    assert_eq!(s, 200);

    let p = pops(&app).await;
    assert_eq!(p.len(), 1, "{p:?}");
    let (user, payload) = &p[0];
    assert_eq!(*user, Some(a1));
    assert_ne!(*user, Some(a2));
    assert_eq!(payload["call_id"], "pbx-1");
    assert_eq!(payload["from"], "+8613800138000");
    assert_eq!(payload["view"]["match"], "exact");
    assert_eq!(payload["view"]["customer"]["id"], cid);
    assert_eq!(payload["view"]["customer"]["tier"], "vip");
    assert_eq!(payload["view"]["open_complaints"], 1);
    assert_eq!(payload["view"]["open_tickets"][0]["id"], complaint["id"]);
    // The articles that answer the open complaint come with the pop.
    let articles = payload["view"]["suggested_articles"].as_array().unwrap();
    assert!(
        articles
            .iter()
            .take(3)
            .any(|a| a["slug"].as_str().unwrap().contains("refund")),
        "{articles:?}"
    );

    let call = call_row(&app, "cti", "pbx-1").await;
    assert_eq!(call["state"], "ringing");
    assert_eq!(call["queue_id"], queue);
    assert_eq!(call["customer_id"], cid);
    let tid = call["ticket_id"].as_i64().unwrap();
    let t = ticket(&app, tid).await;
    assert_eq!(t["ticket"]["channel"], "voice");
    assert_eq!(t["ticket"]["queue_id"], queue);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM interactions WHERE channel = 'voice'"
        )
        .await,
        1
    );

    let (s, _) = cti(&app, json!({"event": "answer", "callId": "pbx-1", "direction": "in", "user": "101", "answeringNumber": "101"})).await;
    assert_eq!(s, 200);
    assert_eq!(pops(&app).await.len(), 1, "already popped at newCall");
    let call = call_row(&app, "cti", "pbx-1").await;
    assert_eq!(
        (call["state"].as_str(), call["agent_id"].as_i64()),
        (Some("talking"), Some(a1))
    );
    assert_eq!(ticket(&app, tid).await["ticket"]["assignee_id"], a1);

    let (s, _) = cti(
        &app,
        json!({"event": "hangup", "callId": "pbx-1", "direction": "in", "cause": "normalClearing"}),
    )
    .await;
    assert_eq!(s, 200);
    let call = call_row(&app, "cti", "pbx-1").await;
    assert_eq!(call["state"], "ended");
    assert_eq!(call["callback_ticket_id"], Value::Null);
    let meta = &ticket(&app, tid).await["interactions"][0]["meta"];
    assert_eq!(meta["state"], "ended");
    assert_eq!(meta["cause"], "normalClearing");
    assert_eq!(meta["agent_id"], a1);
    assert!(
        meta["wait_ms"].as_i64().is_some() && meta["talk_ms"].as_i64().is_some(),
        "{meta}"
    );
    assert!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM events WHERE kind = 'call.updated'"
        )
        .await
            >= 3
    );

    // The caller's next call lands on the same open ticket of that queue.
    cti(&app, json!({"event": "newCall", "from": "+8613800138000", "to": "4008001234", "direction": "in", "callId": "pbx-2", "queue": "phone"})).await;
    assert_eq!(call_row(&app, "cti", "pbx-2").await["ticket_id"], tid);
}

#[tokio::test]
async fn sipgate_gets_its_xml_and_the_callback_urls() {
    let (app, _) = spawn_with_twilio().await;
    let url = app.url(&format!("{CTI}?format=sipgate"));
    let form = [
        ("event", "newCall"),
        ("from", "+8613800138077"),
        ("to", "4008001234"),
        ("direction", "in"),
        ("callId", "sg-1"),
        ("user[]", "Alice"),
    ];
    let res = app.http.post(&url).form(&form).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "application/xml");
    let xml = res.text().await.unwrap();
    let here = format!("{}{CTI}?format=sipgate", hotline_public_url(&app));
    assert!(
        xml.contains(&format!(r#"onAnswer="{here}""#))
            && xml.contains(&format!(r#"onHangup="{here}""#)),
        "{xml}"
    );
    let hangup = [
        ("event", "hangup"),
        ("callId", "sg-1"),
        ("direction", "in"),
        ("cause", "cancel"),
    ];
    let res = app.http.post(&url).form(&hangup).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(call_row(&app, "cti", "sg-1").await["state"], "abandoned");
    // A blocked caller is turned away in sipgate's terms.
    let (s, _) = app
        .post(
            "/api/voice/blocked-numbers",
            &app.admin_token,
            json!({"number": "+8613800138066"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201);
    let blocked = [
        ("event", "newCall"),
        ("from", "+8613800138066"),
        ("to", "4008001234"),
        ("direction", "in"),
        ("callId", "sg-2"),
    ];
    let xml = app
        .http
        .post(&url)
        .form(&blocked)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(xml.contains(r#"<Reject reason="busy"/>"#), "{xml}");
}

fn hotline_public_url(app: &TestApp) -> String {
    app.state.config.public_url()
}

/// An agent's presence state, as supervisors see it.
async fn presence_of(app: &TestApp, user: i64) -> Value {
    let (_, all) = app.get("/api/presence", &app.admin_token).await;
    let all = all.as_array().cloned().unwrap_or_default();
    let mine = all.iter().find(|p| p["user_id"] == user).cloned();
    mine.map(|p| p["state"].clone()).unwrap_or_default()
}

#[tokio::test]
async fn an_answered_call_ends_in_timed_wrap_up_and_frees_the_agent() {
    let app = TestApp::spawn_with(|c| {
        c.cti_token = hotline::config::Secret("cti-secret".into());
        c.wrap_up_secs = 1;
    })
    .await;
    let (a1, token) = agent(&app, "a1", "101", None).await;
    crate::routing::available(&app, &token).await;
    app.queue("phone").await;

    cti(&app, json!({"event": "newCall", "from": "+8613800138001", "to": "4008001234", "direction": "in", "callId": "wrap-1", "user": ["101"], "queue": "phone"})).await;
    // Routing has placed the call's ticket (and may be offering it) when the PBX says who
    // answered: the call's work must still end with the call, not stay on the agent.
    let tid = call_row(&app, "cti", "wrap-1").await["ticket_id"]
        .as_i64()
        .unwrap();
    crate::routing::work_until(&app, tid, |w| w["state"] != "assigned").await;
    cti(
        &app,
        json!({"event": "answer", "callId": "wrap-1", "direction": "in", "user": "101"}),
    )
    .await;
    let (s, _) = cti(&app, json!({"event": "hangup", "callId": "wrap-1", "direction": "in", "cause": "normalClearing"})).await;
    assert_eq!(s, 200);
    let (_, w) = app.get(&format!("/api/work/{tid}"), &app.admin_token).await;
    assert_eq!(
        (w["state"].as_str(), w["assigned_to"].as_i64()),
        (Some("done"), Some(a1)),
        "{w}"
    );
    // Hung up: the agent does after-call work, and the call waits for it.
    let call = call_row(&app, "cti", "wrap-1").await;
    let answered = call["answered_at"].as_i64().unwrap();
    assert!(
        (answered..answered + 1000).contains(&w["assigned_at"].as_i64().unwrap()),
        "the caller's wait ended when the call was answered: {w} {call}"
    );
    assert_eq!(
        (call["state"].as_str(), call["agent_id"].as_i64()),
        (Some("wrap_up"), Some(a1))
    );
    assert_eq!(presence_of(&app, a1).await, "wrap_up");
    assert!(
        call["ended_at"].is_i64() && call["wrapped_at"].is_null(),
        "{call}"
    );
    // A late hangup changes nothing; nor does an older presence change read late (the agent
    // is still in wrap-up).
    cti(
        &app,
        json!({"event": "hangup", "callId": "wrap-1", "direction": "in", "cause": "cancel"}),
    )
    .await;
    let ended = hotline::channels::voice::calls::end_wrap_up(&app.state, a1).await;
    assert_eq!(ended.unwrap(), 0);
    assert_eq!(call_row(&app, "cti", "wrap-1").await["state"], "wrap_up");

    // When the wrap-up time runs out the agent is available again and the call has ended.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let call = loop {
        let call = call_row(&app, "cti", "wrap-1").await;
        if call["state"] == "ended" {
            break call;
        }
        assert!(
            std::time::Instant::now() < end,
            "wrap-up never ended: {call}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(presence_of(&app, a1).await, "available");
    let wrap = call["wrapped_at"].as_i64().unwrap() - call["ended_at"].as_i64().unwrap();
    assert!((900..10_000).contains(&wrap), "{call}");
    let t = ticket(&app, call["ticket_id"].as_i64().unwrap()).await;
    assert_eq!(t["interactions"][0]["meta"]["wrap_ms"], wrap);
    assert_eq!(
        t["ticket"]["assignee_id"], a1,
        "the follow-up stays with the agent"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM work_items WHERE state = 'assigned'"
        )
        .await,
        0,
        "the call no longer counts against the agent's capacity"
    );
}

#[tokio::test]
async fn unknown_caller_pops_a_prefilled_new_customer_form() {
    let (app, _) = spawn_with_twilio().await;
    let (a1, _) = agent(&app, "a1", "101", None).await;
    let (a2, _) = agent(&app, "a2", "102", None).await;
    // sipgate.io style: a form with user[] repeated.
    let (s, v) = cti_form(
        &app,
        &[
            ("event", "newCall"),
            ("from", "+8613911112222"),
            ("to", "4008001234"),
            ("direction", "in"),
            ("callId", "sg-1"),
            ("user[]", "101"),
            ("user[]", "a2"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let p = pops(&app).await;
    let users: Vec<_> = p.iter().map(|(u, _)| *u).collect();
    assert_eq!(users, vec![Some(a1), Some(a2)]);
    let view = &p[0].1["view"];
    assert_eq!(view["match"], "unknown");
    assert_eq!(view["customer"], Value::Null);
    assert_eq!(
        view["prefill"],
        json!({"kind": "phone", "value": "+8613911112222"})
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM customers").await,
        0,
        "no customer made behind the agent's back"
    );
    let call = call_row(&app, "cti", "sg-1").await;
    assert_eq!(call["from_number"], "+8613911112222");
    assert!(call["ticket_id"].as_i64().is_some());
}

#[tokio::test]
async fn two_calls_at_once_to_one_agent_pop_twice() {
    let (app, _) = spawn_with_twilio().await;
    let (a1, _) = agent(&app, "a1", "101", None).await;
    app.customer("Caller One", &[("phone", "+8613800000001")])
        .await;
    let (r1, r2) = tokio::join!(
        cti(
            &app,
            json!({"event": "newCall", "from": "+8613800000001", "to": "400", "direction": "in", "callId": "c-1", "user": ["101"]})
        ),
        cti(
            &app,
            json!({"event": "newCall", "from": "+8613800000002", "to": "400", "direction": "in", "callId": "c-2", "user": ["101"]})
        ),
    );
    assert_eq!((r1.0, r2.0), (200, 200));
    let p = pops(&app).await;
    assert_eq!(p.len(), 2);
    assert!(p.iter().all(|(u, _)| *u == Some(a1)));
    let mut ids: Vec<&str> = p
        .iter()
        .map(|(_, v)| v["call_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["c-1", "c-2"]);
    let by_call: Vec<&str> = p
        .iter()
        .map(|(_, v)| v["view"]["match"].as_str().unwrap())
        .collect();
    assert!(by_call.contains(&"exact") && by_call.contains(&"unknown"));
    // Answering one leaves the other ringing.
    cti(
        &app,
        json!({"event": "answer", "callId": "c-2", "user": "101"}),
    )
    .await;
    assert_eq!(call_row(&app, "cti", "c-2").await["state"], "talking");
    assert_eq!(call_row(&app, "cti", "c-1").await["state"], "ringing");
}

#[tokio::test]
async fn hangup_without_answer_becomes_a_callback_and_a_late_answer_is_ignored() {
    let (app, _) = spawn_with_twilio().await;
    let (a1, agent_token) = agent(&app, "a1", "101", None).await;
    let queue = app.queue("phone").await;
    let cid = app
        .customer("Chen Jie", &[("phone", "+8613700000007")])
        .await;
    cti(&app, json!({"event": "newCall", "from": "+8613700000007", "to": "400", "direction": "in", "callId": "m-1", "queue": "phone", "user": "101"})).await;
    let (s, _) = cti(
        &app,
        json!({"event": "hangup", "callId": "m-1", "cause": "cancel"}),
    )
    .await;
    assert_eq!(s, 200);
    let call = call_row(&app, "cti", "m-1").await;
    assert_eq!(call["state"], "abandoned");
    // The call's own work is abandoned, whether routing had placed it yet or not: it is never
    // offered, and the wallboard counts it.
    let own = call["ticket_id"].as_i64().unwrap();
    let (s, w) = app.get(&format!("/api/work/{own}"), &app.admin_token).await;
    assert_eq!(s.as_u16(), 200, "{w}");
    assert_eq!(
        (w["state"].as_str(), w["queue_id"].as_i64()),
        (Some("abandoned"), Some(queue))
    );
    let cb = call["callback_ticket_id"]
        .as_i64()
        .expect("a callback ticket");
    let t = ticket(&app, cb).await;
    assert_eq!(t["ticket"]["kind"], "callback");
    assert_eq!(t["ticket"]["status"], "new");
    assert_eq!(t["ticket"]["queue_id"], queue);
    assert_eq!(t["ticket"]["customer_id"], cid);
    assert_eq!(t["ticket"]["subject"], "Call back +8613700000007");
    assert!(
        t["interactions"][0]["meta"]["callback_due_ms"]
            .as_i64()
            .is_some()
    );
    // It waits in the queue as a callback work item with the number to call.
    let (s, w) = app.get(&format!("/api/work/{cb}"), &app.admin_token).await;
    assert_eq!(s.as_u16(), 200, "{w}");
    assert_eq!(
        (
            w["kind"].as_str(),
            w["phone"].as_str(),
            w["queue_id"].as_i64()
        ),
        (Some("callback"), Some("+8613700000007"), Some(queue))
    );

    // Answer after hangup: ignored. A repeated hangup: no second callback.
    let (s, v) = cti(
        &app,
        json!({"event": "answer", "callId": "m-1", "user": "101"}),
    )
    .await;
    assert_eq!((s, v), (200, json!({})));
    let (s, _) = cti(
        &app,
        json!({"event": "hangup", "callId": "m-1", "cause": "noAnswer"}),
    )
    .await;
    assert_eq!(s, 200);
    let call = call_row(&app, "cti", "m-1").await;
    assert_eq!(
        (
            call["state"].as_str(),
            call["agent_id"].as_i64(),
            call["cause"].as_str()
        ),
        (Some("abandoned"), None, Some("cancel"))
    );
    let (_, w) = app.get(&format!("/api/work/{own}"), &app.admin_token).await;
    assert_eq!(w["state"], "abandoned", "routing left it alone: {w}");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM tickets WHERE kind = 'callback'"
        )
        .await,
        1
    );

    // A forwarded call is not missed, but it left the queue: its work is done, by nobody here,
    // and never offered.
    cti(&app, json!({"event": "newCall", "from": "+8613700000008", "to": "400", "direction": "in", "callId": "f-1", "queue": "phone"})).await;
    cti(
        &app,
        json!({"event": "hangup", "callId": "f-1", "cause": "forwarded"}),
    )
    .await;
    let forwarded = call_row(&app, "cti", "f-1").await["ticket_id"]
        .as_i64()
        .unwrap();
    let (_, w) = app
        .get(&format!("/api/work/{forwarded}"), &app.admin_token)
        .await;
    assert_eq!(
        (w["state"].as_str(), w["assigned_to"].as_i64()),
        (Some("done"), None),
        "{w}"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM tickets WHERE kind = 'callback'"
        )
        .await,
        1
    );

    // Click-to-call back through the PBX: the dial action, then the PBX reports the call.
    let (s, d) = app
        .post(
            "/api/calls/dial",
            &agent_token,
            json!({"number": "13700000007"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{d}");
    assert_eq!(
        (
            d["action"].as_str(),
            d["via"].as_str(),
            d["number"].as_str()
        ),
        (Some("dial"), Some("pbx"), Some("+8613700000007"))
    );
    assert_eq!(d["callback_ticket_id"], cb);
    cti(&app, json!({"event": "newCall", "from": "101", "to": "13700000007", "direction": "out", "callId": "o-1", "user": "101"})).await;
    let out = call_row(&app, "cti", "o-1").await;
    assert_eq!(
        out["ticket_id"], cb,
        "the call back is filed on the callback"
    );
    cti(
        &app,
        json!({"event": "answer", "callId": "o-1", "user": "101"}),
    )
    .await;
    cti(
        &app,
        json!({"event": "hangup", "callId": "o-1", "cause": "normalClearing"}),
    )
    .await;
    let t = ticket(&app, cb).await;
    assert_eq!(t["ticket"]["status"], "resolved");
    assert_eq!(t["ticket"]["assignee_id"], a1);
    let logged: Vec<&Value> = t["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["meta"]["result"] == "reached")
        .collect();
    assert_eq!(logged.len(), 1, "{t}");
}

#[tokio::test]
async fn blocked_numbers_are_rejected_and_caller_id_rules_answer_dial() {
    let (app, _) = spawn_with_twilio().await;
    let (_, agent_token) = agent(&app, "a1", "101", None).await;
    let (s, b) = app
        .post(
            "/api/voice/blocked-numbers",
            &agent_token,
            json!({"number": "+8613000000666"}),
        )
        .await;
    assert_error(s, &b, 403, "forbidden");
    let (s, b) = app
        .post(
            "/api/voice/blocked-numbers",
            &app.admin_token,
            json!({"number": "130 0000 0666", "reason": "abusive"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{b}");
    assert_eq!(b["number"], "+8613000000666");
    let (s, b2) = app
        .post(
            "/api/voice/blocked-numbers",
            &app.admin_token,
            json!({"number": "+8613000000666"}),
        )
        .await;
    assert_error(s, &b2, 409, "conflict");
    let (s, b2) = app
        .post(
            "/api/voice/blocked-numbers",
            &app.admin_token,
            json!({"number": "abc"}),
        )
        .await;
    assert_error(s, &b2, 400, "validation_failed");

    let (s, v) = cti(&app, json!({"event": "newCall", "from": "+8613000000666", "to": "400", "direction": "in", "callId": "b-1", "user": "101"})).await;
    assert_eq!((s, v), (200, json!({"action": "reject", "reason": "busy"})));
    let (s, v) = cti(&app, json!({"event": "newCall", "from": "+8613000000666", "to": "400", "direction": "in", "callId": "b-1"})).await;
    assert_eq!((s, v["action"].as_str()), (200, Some("reject")));
    let (s, _) = cti(
        &app,
        json!({"event": "hangup", "callId": "b-1", "cause": "busy"}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM interactions").await,
        0
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM tickets").await,
        0,
        "no ticket, no callback"
    );
    assert!(pops(&app).await.is_empty());

    let id = b["id"].as_i64().unwrap();
    let (s, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/voice/blocked-numbers/{id}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 204);
    let (_, v) = cti(&app, json!({"event": "newCall", "from": "+8613000000666", "to": "400", "direction": "in", "callId": "b-2"})).await;
    assert_eq!(v, json!({}));

    // Caller-id rules: the longest prefix of the dialled number wins.
    for (prefix, cid) in [("+86", "+864008001234"), ("+8610", "+861058001234")] {
        let (s, r) = app
            .post(
                "/api/voice/caller-id-rules",
                &app.admin_token,
                json!({"prefix": prefix, "caller_id": cid}),
            )
            .await;
        assert_eq!(s.as_u16(), 201, "{r}");
    }
    let (s, r) = app
        .post(
            "/api/voice/caller-id-rules",
            &app.admin_token,
            json!({"prefix": "86", "caller_id": "+864008001234"}),
        )
        .await;
    assert_error(s, &r, 400, "validation_failed");
    let (_, rules) = app
        .get("/api/voice/caller-id-rules", &app.admin_token)
        .await;
    assert_eq!(rules.as_array().unwrap().len(), 2);
    let (_, v) = cti(&app, json!({"event": "newCall", "from": "101", "to": "010 5555 6666", "direction": "out", "callId": "o-1", "user": "101"})).await;
    assert_eq!(
        v,
        json!({"action": "dial", "caller_id": "+861058001234", "number": "+861055556666"})
    );
    let (_, v) = cti(&app, json!({"event": "newCall", "from": "101", "to": "13800138000", "direction": "out", "callId": "o-2", "user": "101"})).await;
    assert_eq!(v["caller_id"], "+864008001234");
    let (_, v) = cti(&app, json!({"event": "newCall", "from": "101", "to": "+12025550100", "direction": "out", "callId": "o-3", "user": "101"})).await;
    assert_eq!(v, json!({}));
}

#[tokio::test]
async fn cti_refuses_bad_tokens_and_bad_events() {
    let (app, _) = spawn_with_twilio().await;
    let (s, v) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/cti/wrong",
            None,
            Some(json!({"event": "newCall"})),
        )
        .await;
    assert_error(s, &v, 401, "unauthenticated");
    let cases = [
        (
            json!({"event": "newCall", "from": "1", "to": "2", "direction": "sideways", "callId": "x"}),
            "direction",
        ),
        (
            json!({"event": "newCall", "from": "1", "to": "2", "callId": "x"}),
            "direction",
        ),
        (
            json!({"event": "newCall", "from": "1", "to": "2", "direction": "in"}),
            "callId",
        ),
        (
            json!({"event": "answer", "callId": "never-seen"}),
            "never-seen",
        ),
        (
            json!({"event": "hangup", "callId": "never-seen", "cause": "busy"}),
            "never-seen",
        ),
        (
            json!({"event": "transfer", "callId": "x", "direction": "in"}),
            "event",
        ),
        (
            json!({"event": "hangup", "callId": "x", "cause": "exploded"}),
            "cause",
        ),
    ];
    for (body, mention) in cases {
        let (s, v) = cti(&app, body.clone()).await;
        assert_eq!(s, 422, "{body} → {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(mention),
            "{v}"
        );
    }
    let res = app
        .http
        .post(app.url(CTI))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM calls").await, 0);

    let off = TestApp::spawn().await;
    let (s, v) = off
        .call(
            reqwest::Method::POST,
            CTI,
            None,
            Some(json!({"event": "newCall"})),
        )
        .await;
    assert_error(s, &v, 403, "forbidden");
}

#[tokio::test]
async fn answer_pops_the_agent_when_the_pbx_named_nobody_before() {
    let (app, _) = spawn_with_twilio().await;
    let (a1, _) = agent(&app, "a1", "101", Some("+8613811112222")).await;
    cti(&app, json!({"event": "newCall", "from": "+8613800000003", "to": "400", "direction": "in", "callId": "n-1"})).await;
    assert!(pops(&app).await.is_empty());
    cti(
        &app,
        json!({"event": "answer", "callId": "n-1", "answeringNumber": "+8613811112222"}),
    )
    .await;
    let p = pops(&app).await;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, Some(a1));
    assert_eq!(call_row(&app, "cti", "n-1").await["agent_id"], a1);
}

#[tokio::test]
async fn twilio_call_greets_offers_a_menu_enqueues_and_connects_through_rest() {
    let (app, fake) = spawn_with_twilio().await;
    let (a1, a1_token) = agent(&app, "a1", "101", None).await;
    let (a2_id, a2_token) = agent(&app, "a2", "102", None).await;
    let sales = app.queue("sales").await;
    let service = app.queue("service").await;
    let (s, n) = app.post("/api/voice/numbers", &app.admin_token, json!({
        "number": "+14155550100", "language": "zh-CN", "greeting": "您好，欢迎致电 & 感谢",
        "menu": [{"digit": "1", "queue_id": sales, "label": "销售请按"}, {"digit": "2", "queue_id": service, "label": "售后请按"}]
    })).await;
    assert_eq!(s.as_u16(), 200, "{n}");

    let base = [
        ("CallSid", "CA100"),
        ("From", "+8613800138000"),
        ("To", "+14155550100"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    let (s, twiml) = post_signed(&app, "/webhooks/twilio/voice", &base).await;
    assert_eq!(s, 200, "{twiml}");
    assert!(
        twiml.contains("<Say language=\"zh-CN\">您好，欢迎致电 &amp; 感谢</Say>"),
        "{twiml}"
    );
    assert!(twiml.contains("<Gather numDigits=\"1\""), "{twiml}");
    assert!(
        twiml.contains("action=\"https://hotline.example.com/webhooks/twilio/voice?menu=1\""),
        "{twiml}"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM calls").await,
        0,
        "nothing filed before the choice"
    );

    let mut chose = base.to_vec();
    chose.push(("Digits", "2"));
    let (s, twiml) = post_signed(&app, "/webhooks/twilio/voice?menu=1", &chose).await;
    assert_eq!(s, 200, "{twiml}");
    assert!(
        twiml.contains(&format!("<Enqueue>hotline-q{service}</Enqueue>")),
        "{twiml}"
    );
    let (s, _) = post_signed(&app, "/webhooks/twilio/voice?menu=1", &chose).await;
    assert_eq!(s, 200);
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM calls").await,
        1,
        "a retried webhook files once"
    );
    let call = call_row(&app, "twilio", "CA100").await;
    assert_eq!(
        (call["state"].as_str(), call["queue_id"].as_i64()),
        (Some("queued"), Some(service))
    );
    let id = call["id"].as_i64().unwrap();

    // An agent outside the queue does not see the call; a colleague in it may not hand it to
    // someone else; the agent takes it.
    let (s, b) = app
        .post(&format!("/api/calls/{id}/connect"), &a2_token, json!({}))
        .await;
    assert_error(s, &b, 404, "not_found");
    app.call(
        reqwest::Method::PUT,
        &format!("/api/queues/{service}/members"),
        Some(&app.admin_token),
        Some(json!({"user_ids": [a1, a2_id]})),
    )
    .await;
    let (s, b) = app
        .post(
            &format!("/api/calls/{id}/connect"),
            &a2_token,
            json!({"user_id": a1}),
        )
        .await;
    assert_error(s, &b, 403, "forbidden");
    let (s, c) = app
        .post(&format!("/api/calls/{id}/connect"), &a1_token, json!({}))
        .await;
    assert_eq!(s.as_u16(), 200, "{c}");
    assert_eq!(
        (c["state"].as_str(), c["agent_id"].as_i64()),
        (Some("talking"), Some(a1))
    );
    let reqs = fake.requests();
    let r = reqs
        .iter()
        .find(|r| r.resource == "Calls/CA100.json")
        .expect("REST update of the call");
    assert_eq!(
        r.field("Twiml"),
        Some("<Response><Dial><Client>a1</Client></Dial></Response>")
    );
    let p = pops(&app).await;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, Some(a1));
    assert_eq!(p[0].1["call_id"], "CA100");
    let (s, b) = app
        .post(&format!("/api/calls/{id}/connect"), &a1_token, json!({}))
        .await;
    assert_error(s, &b, 409, "conflict");

    // Status callbacks out of order: the completed one (seq 3) first, the late in-progress (2)
    // is ignored.
    let done = [
        ("CallSid", "CA100"),
        ("CallStatus", "completed"),
        ("SequenceNumber", "3"),
        ("CallDuration", "42"),
        ("RecordingUrl", "https://api.twilio.com/rec/RE1"),
    ];
    let (s, _) = post_signed(&app, "/webhooks/twilio/voice/status", &done).await;
    assert_eq!(s, 200);
    let late = [
        ("CallSid", "CA100"),
        ("CallStatus", "in-progress"),
        ("SequenceNumber", "2"),
    ];
    let (s, _) = post_signed(&app, "/webhooks/twilio/voice/status", &late).await;
    assert_eq!(s, 200);
    let call = call_row(&app, "twilio", "CA100").await;
    assert_eq!(
        (call["state"].as_str(), call["last_sequence"].as_i64()),
        (Some("ended"), Some(3))
    );
    assert_eq!(call["recording_url"], "https://api.twilio.com/rec/RE1");
    let t = ticket(&app, call["ticket_id"].as_i64().unwrap()).await;
    let meta = &t["interactions"][0]["meta"];
    assert_eq!(meta["recording_url"], "https://api.twilio.com/rec/RE1");
    assert_eq!(meta["state"], "ended");
    assert!(meta["talk_ms"].as_i64().is_some());
    assert_eq!(call["callback_ticket_id"], Value::Null);
}

#[tokio::test]
async fn twilio_caller_who_hangs_up_in_the_queue_gets_a_callback() {
    let (app, fake) = spawn_with_twilio().await;
    let (_, a1_token) = agent(&app, "a1", "101", Some("+8613811112222")).await;
    // No settings for this number: default greeting-less enqueue.
    let (s, twiml) = post_signed(
        &app,
        "/webhooks/twilio/voice",
        &[
            ("CallSid", "CA200"),
            ("From", "+8613900000001"),
            ("To", "+14155550199"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    assert!(twiml.contains("<Enqueue>hotline</Enqueue>"), "{twiml}");
    let id = call_row(&app, "twilio", "CA200").await["id"]
        .as_i64()
        .unwrap();

    // Twilio refuses the redirect: the call goes back to the queue and the agent hears why.
    fake.push(
        404,
        json!({"code": 20404, "message": "The requested resource was not found"}),
    );
    let (s, b) = app
        .post(&format!("/api/calls/{id}/connect"), &a1_token, json!({}))
        .await;
    assert_error(s, &b, 422, "unprocessable");
    assert_eq!(call_row(&app, "twilio", "CA200").await["state"], "queued");
    let reqs = fake.requests();
    assert_eq!(
        reqs[0].field("Twiml"),
        Some("<Response><Dial><Number>+8613811112222</Number></Dial></Response>")
    );

    let (s, _) = post_signed(
        &app,
        "/webhooks/twilio/voice/status",
        &[
            ("CallSid", "CA200"),
            ("CallStatus", "completed"),
            ("SequenceNumber", "1"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let call = call_row(&app, "twilio", "CA200").await;
    assert_eq!(call["state"], "abandoned");
    assert_eq!(call["cause"], "normalClearing");
    assert!(call["callback_ticket_id"].as_i64().is_some());

    // A forged callback changes nothing; an unknown call is 404.
    let (s, _) = post_signed_with(
        &app,
        "forged",
        "/webhooks/twilio/voice/status",
        &[
            ("CallSid", "CA200"),
            ("CallStatus", "in-progress"),
            ("SequenceNumber", "9"),
        ],
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(call_row(&app, "twilio", "CA200").await["last_sequence"], 1);
    let (s, _) = post_signed_with(
        &app,
        "forged",
        "/webhooks/twilio/voice",
        &[("CallSid", "CA201"), ("From", "+8613900000001")],
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM calls").await, 1);
    let (s, _) = post_signed(
        &app,
        "/webhooks/twilio/voice/status",
        &[("CallSid", "CA999"), ("CallStatus", "completed")],
    )
    .await;
    assert_eq!(s, 404);

    // A blocked caller is rejected in TwiML.
    app.post(
        "/api/voice/blocked-numbers",
        &app.admin_token,
        json!({"number": "+8613900000002"}),
    )
    .await;
    let (_, twiml) = post_signed(
        &app,
        "/webhooks/twilio/voice",
        &[
            ("CallSid", "CA300"),
            ("From", "+8613900000002"),
            ("To", "+14155550199"),
        ],
    )
    .await;
    assert!(twiml.contains("<Reject reason=\"busy\"/>"), "{twiml}");
    // It is on record as rejected, so Twilio's status callback for it is taken and changes
    // nothing; no ticket is opened for it.
    let (s, _) = post_signed(
        &app,
        "/webhooks/twilio/voice/status",
        &[("CallSid", "CA300"), ("CallStatus", "busy")],
    )
    .await;
    assert_eq!(s, 200);
    let rejected = call_row(&app, "twilio", "CA300").await;
    assert_eq!(
        (rejected["state"].as_str(), rejected["ticket_id"].as_i64()),
        (Some("rejected"), None),
        "{rejected}"
    );

    // Click-to-call through Twilio: the agent's phone first, then the customer.
    app.post(
        "/api/voice/caller-id-rules",
        &app.admin_token,
        json!({"prefix": "+86", "caller_id": "+14155550100"}),
    )
    .await;
    let (s, d) = app
        .post(
            "/api/calls/dial",
            &a1_token,
            json!({"number": "+8613900000001"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{d}");
    assert_eq!(d["via"], "twilio");
    let placed = fake
        .requests()
        .into_iter()
        .find(|r| r.resource == "Calls.json")
        .expect("Calls.json");
    assert_eq!(placed.field("To"), Some("+8613811112222"));
    assert_eq!(placed.field("From"), Some("+14155550100"));
    assert!(
        placed
            .field("Twiml")
            .unwrap()
            .contains("<Number>+8613900000001</Number>")
    );
    let out = &d["call"];
    assert_eq!(
        out["ticket_id"], call["callback_ticket_id"],
        "filed on the callback"
    );
}

/// Agent a1 (with a phone) in queue "service", which Twilio calls to +14155550100 wait in.
/// The agent's console stays open as long as the returned `Ws` lives: routing offers work only
/// to agents with one.
async fn service_queue_with_agent(app: &TestApp) -> (i64, String, crate::realtime::Ws) {
    let (a1, a1_token) = agent(app, "a1", "101", Some("+8613911112222")).await;
    let service = app.queue("service").await;
    app.call(
        reqwest::Method::PUT,
        &format!("/api/queues/{service}/members"),
        Some(&app.admin_token),
        Some(json!({"user_ids": [a1]})),
    )
    .await;
    let (s, n) = app
        .post(
            "/api/voice/numbers",
            &app.admin_token,
            json!({"number": "+14155550100", "language": "en-US", "greeting": "Hello",
                   "queue_id": service, "menu": []}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{n}");
    let console = crate::realtime::Ws::connect(app, &a1_token).await;
    (a1, a1_token, console)
}

/// +8613800138000 rings +14155550100 (the service queue's number) as Twilio call `sid`;
/// returns Twilio's status and the TwiML answer.
async fn ring_service(app: &TestApp, sid: &str) -> (u16, String) {
    let params = [
        ("CallSid", sid),
        ("From", "+8613800138000"),
        ("To", "+14155550100"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    post_signed(app, "/webhooks/twilio/voice", &params).await
}

/// The id of the `n`th offer (0 first) made to `agent`, once routing has made it.
async fn nth_offer_to(app: &TestApp, agent: i64, n: usize) -> Option<i64> {
    wait_for(|| async {
        let rows = sqlx::query(
            "SELECT payload FROM events WHERE kind = 'offer.created' AND user_id = $1 \
             ORDER BY seq",
        )
        .bind(agent)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
        let p: Value =
            serde_json::from_str(&sqlx::Row::get::<String, _>(rows.get(n)?, "payload")).ok()?;
        p["offer_id"].as_i64()
    })
    .await
}

/// Hotline's own queue: routing offers the waiting Twilio caller to an available agent, whose
/// screen pops at the offer; the agent accepts and the call is put through to them.
#[tokio::test]
async fn routing_offers_a_waiting_twilio_call_and_accepting_connects_it() {
    let (app, fake) = spawn_with_twilio().await;
    let (a1, a1_token, _console) = service_queue_with_agent(&app).await;
    let (s, twiml) = ring_service(&app, "CA900").await;
    assert_eq!(s, 200, "{twiml}");
    assert!(twiml.contains("<Enqueue>"), "{twiml}");

    let (s, _) = app
        .post("/api/presence", &a1_token, json!({"state": "available"}))
        .await;
    assert_eq!(s.as_u16(), 200);
    // Routing offers the call's ticket; the screen pops at the offer and the call shows offered.
    let offer_id = nth_offer_to(&app, a1, 0)
        .await
        .expect("the waiting call is offered to the available agent");
    wait_for(|| async {
        (call_row(&app, "twilio", "CA900").await["state"] == "offered").then_some(())
    })
    .await
    .expect("the call shows as offered");
    let p = pops(&app).await;
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(
        (p[0].0, p[0].1["call_id"].as_str()),
        (Some(a1), Some("CA900"))
    );

    let (s, b) = app
        .post(
            &format!("/api/offers/{offer_id}/accept"),
            &a1_token,
            json!({}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    wait_for(|| async {
        (call_row(&app, "twilio", "CA900").await["state"] == "talking").then_some(())
    })
    .await
    .expect("accepting puts the call through");
    let call = call_row(&app, "twilio", "CA900").await;
    assert_eq!(call["agent_id"], a1);
    let reqs = fake.requests();
    let r = reqs
        .iter()
        .find(|r| r.resource == "Calls/CA900.json")
        .expect("REST update of the call");
    assert_eq!(
        r.field("Twiml"),
        Some("<Response><Dial><Number>+8613911112222</Number></Dial></Response>")
    );
}

/// The caller hangs up while routing rings an agent: the offer is withdrawn, the agent is free
/// again, the call's work is abandoned and a callback waits instead.
#[tokio::test]
async fn a_caller_hanging_up_while_offered_withdraws_the_offer() {
    let (app, _) = spawn_with_twilio().await;
    let (a1, a1_token, _console) = service_queue_with_agent(&app).await;
    let (s, _) = ring_service(&app, "CA910").await;
    assert_eq!(s, 200);
    app.post("/api/presence", &a1_token, json!({"state": "available"}))
        .await;
    wait_for(|| async {
        (call_row(&app, "twilio", "CA910").await["state"] == "offered").then_some(())
    })
    .await
    .expect("the waiting call is offered");
    let status = [
        ("CallSid", "CA910"),
        ("CallStatus", "completed"),
        ("SequenceNumber", "1"),
    ];
    let (s, _) = post_signed(&app, "/webhooks/twilio/voice/status", &status).await;
    assert_eq!(s, 200);
    let call = call_row(&app, "twilio", "CA910").await;
    assert_eq!(call["state"], "abandoned");
    assert!(call["callback_ticket_id"].as_i64().is_some(), "{call}");
    let own = call["ticket_id"].as_i64().unwrap();
    let (_, w) = app.get(&format!("/api/work/{own}"), &app.admin_token).await;
    assert_eq!(
        (w["state"].as_str(), w["offer_id"].as_i64()),
        (Some("abandoned"), None),
        "{w}"
    );
    let outcome: String = sqlx::Row::get(
        &sqlx::query("SELECT outcome FROM offers WHERE work_item_id = $1")
            .bind(w["id"].as_i64().unwrap())
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap(),
        "outcome",
    );
    assert_eq!(outcome, "withdrawn");
    // The agent's ringing slot is free: the callback is offered to them next.
    wait_for(|| async {
        let cb = call["callback_ticket_id"].as_i64()?;
        let (_, w) = app.get(&format!("/api/work/{cb}"), &app.admin_token).await;
        (w["state"] == "offered" && w["offered_to"] == a1).then_some(())
    })
    .await
    .expect("the callback rings the same agent");
}

/// A known customer rings again about the ticket their first call left open with the agent:
/// the call threads into that ticket and is routed again as work of its own (it used to wait in
/// Twilio's queue for good), and each call's work counts once.
#[tokio::test]
async fn a_caller_ringing_again_about_an_open_ticket_is_routed_again() {
    let (app, fake) = spawn_with_twilio().await;
    let (a1, a1_token, _console) = service_queue_with_agent(&app).await;
    app.customer("Wang Fang", &[("phone", "+8613800138000")])
        .await;
    for (n, sid) in ["CA910", "CA911"].into_iter().enumerate() {
        app.post("/api/presence", &a1_token, json!({"state": "available"}))
            .await;
        let (s, twiml) = ring_service(&app, sid).await;
        assert!(s == 200 && twiml.contains("<Enqueue>"), "{twiml}");
        let offer_id = nth_offer_to(&app, a1, n)
            .await
            .unwrap_or_else(|| panic!("call {sid} is offered"));
        let (s, b) = app
            .post(
                &format!("/api/offers/{offer_id}/accept"),
                &a1_token,
                json!({}),
            )
            .await;
        assert_eq!(s.as_u16(), 200, "{b}");
        wait_for(|| async {
            (call_row(&app, "twilio", sid).await["state"] == "talking").then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("call {sid} is put through"));
        let status = [
            ("CallSid", sid),
            ("CallStatus", "completed"),
            ("SequenceNumber", "5"),
        ];
        post_signed(&app, "/webhooks/twilio/voice/status", &status).await;
    }
    let (first, second) = (
        call_row(&app, "twilio", "CA910").await,
        call_row(&app, "twilio", "CA911").await,
    );
    assert_eq!(
        first["ticket_id"], second["ticket_id"],
        "one ticket, two calls"
    );
    let connects = fake
        .requests()
        .iter()
        .filter(|r| r.resource.starts_with("Calls/CA91"))
        .count();
    assert_eq!(connects, 2);
    let tid = first["ticket_id"].as_i64().unwrap();
    let work = count(
        &app,
        &format!(
            "SELECT COUNT(*) AS n FROM work_items WHERE ticket_id = {tid} \
             AND state = 'done' AND assigned_to = {a1}"
        ),
    )
    .await;
    assert_eq!(work, 2, "each call's work is done once");
}

/// Polls `f` every 50 ms for up to 10 s.
async fn wait_for<T, F, Fut>(f: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}
