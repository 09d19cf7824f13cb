//! Calls in the console: the call fields of the 360 history and the ticket timeline (outcome,
//! duration, wait, agent, disposition), disposition codes (admin list, the agent's pick, the
//! report), click-to-call through the Twilio stand-in, and what the console is told about
//! dial, hold and transfer.

use crate::support::{TestApp, assert_error};
use crate::twilio_fake::{post_signed, spawn_with_twilio};
use serde_json::{Value, json};

const CTI: &str = "/api/v1/cti/cti-secret";

async fn cti(app: &TestApp, body: Value) {
    let (s, v) = app.call(reqwest::Method::POST, CTI, None, Some(body)).await;
    assert_eq!(s.as_u16(), 200, "{v}");
}

async fn agent(app: &TestApp, login: &str, extension: &str, phone: Option<&str>) -> (i64, String) {
    let (s, b) = app
        .post(
            "/api/users",
            &app.admin_token,
            json!({"login": login, "display_name": format!("Agent {login}"), "role": "agent",
                   "password": "password-123", "extension": extension, "phone": phone}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{b}");
    (
        b["id"].as_i64().unwrap(),
        app.login(login, "password-123").await,
    )
}

async fn call_of(app: &TestApp, call_id: &str) -> Value {
    let (_, calls) = app.get("/api/calls?limit=200", &app.admin_token).await;
    calls
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["call_id"] == call_id)
        .cloned()
        .unwrap_or_else(|| panic!("no call {call_id}: {calls}"))
}

async fn code_id(app: &TestApp, code: &str) -> i64 {
    let (_, list) = app
        .get("/api/call-dispositions?all=true", &app.admin_token)
        .await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == code)
        .and_then(|d| d["id"].as_i64())
        .unwrap_or_else(|| panic!("no code {code}: {list}"))
}

fn period() -> String {
    let now = jiff::Timestamp::now();
    let day = jiff::SignedDuration::from_hours(24);
    format!(
        "from={}&to={}",
        (now - day).to_string().replace('+', "%2B"),
        (now + day).to_string().replace('+', "%2B")
    )
}

#[tokio::test]
async fn history_and_timeline_show_outcome_wait_agent_and_disposition() {
    let (app, _) = spawn_with_twilio().await;
    let (a1, a1_token) = agent(&app, "a1", "101", None).await;
    let (_, a2_token) = agent(&app, "a2", "102", None).await;
    let (_, sup_token) = app.user("sup", "supervisor").await;
    let queue = app.queue("phone").await;
    let cid = app.customer("Li Na", &[("phone", "+8613800138000")]).await;

    // Answered by a1, then hung up.
    cti(
        &app,
        json!({"event": "newCall", "from": "013800138000", "to": "4008001234",
        "direction": "in", "callId": "pbx-1", "user": ["101"], "queue": "phone"}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    cti(
        &app,
        json!({"event": "answer", "callId": "pbx-1", "direction": "in", "user": "101"}),
    )
    .await;
    cti(
        &app,
        json!({"event": "hangup", "callId": "pbx-1", "direction": "in", "cause": "normalClearing"}),
    )
    .await;
    // The caller hangs up before anyone answers: abandoned.
    cti(
        &app,
        json!({"event": "newCall", "from": "013800138000", "to": "4008001234",
        "direction": "in", "callId": "pbx-2", "queue": "phone"}),
    )
    .await;
    cti(
        &app,
        json!({"event": "hangup", "callId": "pbx-2", "direction": "in", "cause": "cancel"}),
    )
    .await;
    // Still ringing.
    cti(
        &app,
        json!({"event": "newCall", "from": "013800138000", "to": "4008001234",
        "direction": "in", "callId": "pbx-3", "queue": "phone"}),
    )
    .await;

    let c1 = call_of(&app, "pbx-1").await;
    let c1_id = c1["id"].as_i64().unwrap();
    let c3_id = call_of(&app, "pbx-3").await["id"].as_i64().unwrap();
    let resolved = code_id(&app, "resolved").await;

    // Only the call's agent (or a supervisor) sets its code; a ringing call has none yet; an
    // unknown or inactive code is refused.
    let path = format!("/api/calls/{c1_id}/disposition");
    let (s, b) = app
        .post(&path, &a2_token, json!({"disposition_id": resolved}))
        .await;
    assert!(matches!(s.as_u16(), 403 | 404), "{s} {b}");
    let (s, b) = app
        .post(
            &format!("/api/calls/{c3_id}/disposition"),
            &sup_token,
            json!({"disposition_id": resolved}),
        )
        .await;
    assert_error(s, &b, 409, "conflict");
    let (s, b) = app
        .post(&path, &a1_token, json!({"disposition_id": 999999}))
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "disposition_id");
    let wrong = code_id(&app, "wrong_number").await;
    let (s, _) = app
        .patch(
            &format!("/api/call-dispositions/{wrong}"),
            &app.admin_token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    let (s, b) = app
        .post(&path, &a1_token, json!({"disposition_id": wrong}))
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = app
        .post(&path, &a1_token, json!({"disposition_id": resolved}))
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    assert_eq!(b["disposition_id"], resolved);
    assert_eq!(b["disposition_by"], a1);

    // The 360 history: every call with outcome, duration, wait, agent and code. An agent
    // outside the queue of a call's ticket sees that it happened, not how (withheld).
    let (_, mine) = app
        .get(&format!("/api/customers/{cid}/history"), &a1_token)
        .await;
    let withheld: Vec<&Value> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["withheld"] == true)
        .collect();
    assert!(
        !withheld.is_empty() && withheld.iter().all(|i| i["call"].is_null()),
        "{mine}"
    );
    let (s, h) = app
        .get(&format!("/api/customers/{cid}/history"), &sup_token)
        .await;
    assert_eq!(s.as_u16(), 200, "{h}");
    let calls: Vec<&Value> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["channel"] == "voice")
        .collect();
    assert_eq!(calls.len(), 3, "{h}");
    let by_id = |id: i64| {
        calls
            .iter()
            .find(|i| i["call"]["id"] == id)
            .unwrap_or_else(|| panic!("call {id} in {h}"))["call"]
            .clone()
    };
    let answered = by_id(c1_id);
    assert_eq!(answered["outcome"], "answered");
    assert_eq!(answered["agent_id"], a1);
    assert_eq!(answered["agent_name"], "Agent a1");
    assert!(answered["duration_ms"].as_i64().unwrap() >= 0, "{answered}");
    assert!(answered["wait_ms"].as_i64().unwrap() >= 20, "{answered}");
    assert_eq!(answered["disposition"]["code"], "resolved");
    assert_eq!(answered["disposition"]["name_zh"], "通话中已解决");
    let abandoned = by_id(call_of(&app, "pbx-2").await["id"].as_i64().unwrap());
    assert_eq!(abandoned["outcome"], "abandoned");
    assert_eq!(abandoned["duration_ms"], Value::Null);
    assert_eq!(abandoned["agent_id"], Value::Null);
    assert_eq!(abandoned["disposition"], Value::Null);
    assert_eq!(by_id(c3_id)["outcome"], "in_progress");
    // The lookup's 360 carries the same.
    let (_, view) = app
        .get("/api/customers/lookup?q=%2B8613800138000", &a1_token)
        .await;
    assert!(
        view["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["call"]["disposition"]["code"] == "resolved"),
        "{view}"
    );

    // The ticket timeline.
    let tid = c1["ticket_id"].as_i64().unwrap();
    let (_, t) = app.get(&format!("/api/tickets/{tid}"), &a1_token).await;
    let item = t["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["call"]["id"] == c1_id)
        .unwrap_or_else(|| panic!("{t}"))
        .clone();
    assert_eq!(item["call"]["outcome"], "answered");
    assert_eq!(item["call"]["agent_name"], "Agent a1");
    assert_eq!(
        item["call"]["disposition"]["name_en"],
        "Resolved on the call"
    );
    assert_eq!(item["meta"]["disposition"], "resolved");

    // The report: per code and queue; calls without a code in their own row; ringing calls
    // are not counted. Supervisors and admins only.
    let report = format!("/api/reports/dispositions?{}", period());
    let (s, b) = app.get(&report, &a1_token).await;
    assert_error(s, &b, 403, "forbidden");
    let (s, r) = app.get(&report, &sup_token).await;
    assert_eq!(s.as_u16(), 200, "{r}");
    assert_eq!(r["total"], 2, "{r}");
    let rows = r["rows"].as_array().unwrap();
    assert!(
        rows.iter().any(|x| x["code"] == "resolved"
            && x["queue_id"] == queue
            && x["queue_name"] == "phone"
            && x["calls"] == 1),
        "{r}"
    );
    assert!(
        rows.iter()
            .any(|x| x["disposition_id"].is_null() && x["queue_id"] == queue && x["calls"] == 1),
        "{r}"
    );
    // A period before the calls counts none; bad times are refused by field.
    let (_, empty) = app
        .get(
            "/api/reports/dispositions?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z",
            &sup_token,
        )
        .await;
    assert_eq!(empty["total"], 0, "{empty}");
    let (s, b) = app
        .get(
            "/api/reports/dispositions?from=yesterday&to=2020-01-02T00:00:00Z",
            &sup_token,
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "from");
    let (s, b) = app
        .get(
            "/api/reports/dispositions?from=2020-01-03T00:00:00Z&to=2020-01-02T00:00:00Z",
            &sup_token,
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "to");
}

#[tokio::test]
async fn disposition_codes_are_kept_by_admins() {
    let app = TestApp::spawn().await;
    let (_, agent_token) = app.user("ag", "agent").await;
    let (_, sup_token) = app.user("sup", "supervisor").await;

    // Built-in codes, in order, with both names.
    let (s, list) = app.get("/api/call-dispositions", &agent_token).await;
    assert_eq!(s.as_u16(), 200);
    let codes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["resolved", "follow_up", "complaint", "wrong_number"]
    );
    assert_eq!(list[1]["name_zh"], "需要跟进");

    let body = json!({"code": "sales_lead", "name_en": "Sales lead", "name_zh": "销售线索"});
    for token in [&agent_token, &sup_token] {
        let (s, b) = app
            .post("/api/call-dispositions", token, body.clone())
            .await;
        assert_error(s, &b, 403, "forbidden");
    }
    let (s, d) = app
        .post("/api/call-dispositions", &app.admin_token, body.clone())
        .await;
    assert_eq!(s.as_u16(), 201, "{d}");
    assert_eq!(
        (d["active"].as_bool(), d["position"].as_i64()),
        (Some(true), Some(5))
    );
    let id = d["id"].as_i64().unwrap();

    let (s, b) = app
        .post("/api/call-dispositions", &app.admin_token, body)
        .await;
    assert_error(s, &b, 409, "conflict");
    let (s, b) = app
        .post(
            "/api/call-dispositions",
            &app.admin_token,
            json!({"code": "Sales Lead", "name_en": "x", "name_zh": "x"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "code");
    let (s, b) = app
        .post(
            "/api/call-dispositions",
            &app.admin_token,
            json!({"code": "refund", "name_en": "Refund"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "name_zh");

    // Renamed and deactivated: gone from the agents' list, kept for admins.
    let path = format!("/api/call-dispositions/{id}");
    let (s, b) = app.patch(&path, &sup_token, json!({"active": false})).await;
    assert_error(s, &b, 403, "forbidden");
    let (s, d) = app
        .patch(
            &path,
            &app.admin_token,
            json!({"name_zh": "潜在客户", "active": false}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{d}");
    assert_eq!(
        (d["name_zh"].as_str(), d["active"].as_bool()),
        (Some("潜在客户"), Some(false))
    );
    let (_, list) = app
        .get("/api/call-dispositions?all=true", &agent_token)
        .await;
    assert!(
        !list.as_array().unwrap().iter().any(|d| d["id"] == id),
        "{list}"
    );
    let (_, list) = app
        .get("/api/call-dispositions?all=true", &app.admin_token)
        .await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == id && d["active"] == false)
    );
    let (s, b) = app
        .patch(&path, &app.admin_token, json!({"code": "resolved"}))
        .await;
    assert_error(s, &b, 409, "conflict");
    let (s, b) = app
        .patch(
            "/api/call-dispositions/999999",
            &app.admin_token,
            json!({"active": true}),
        )
        .await;
    assert_error(s, &b, 404, "not_found");

    // Audited.
    let (_, audit) = app
        .get("/api/audit?action=voice.disposition", &app.admin_token)
        .await;
    assert_eq!(audit.as_array().unwrap().len(), 2, "{audit}");
}

#[tokio::test]
async fn a_callback_is_dialled_through_twilio_and_gets_a_code() {
    let (app, fake) = spawn_with_twilio().await;
    let (a1, a1_token) = agent(&app, "a1", "101", Some("+8613811112222")).await;
    app.queue("phone").await;

    // Twilio without a caller id: the PBX dials (its CTI webhook is configured too); hold and
    // transfer are not offered, with the reason.
    let (s, cap) = app.get("/api/calls/capabilities", &a1_token).await;
    assert_eq!(s.as_u16(), 200, "{cap}");
    assert_eq!(
        cap["dial"],
        json!({"available": true, "via": "pbx", "reason": null})
    );
    assert_eq!(cap["hold"]["available"], false);
    assert_eq!(cap["hold"]["reason"], "twilio_needs_conference");
    assert_eq!(
        cap["transfer"],
        json!({"available": true, "via": "twilio", "reason": null})
    );
    let (s, _) = app
        .post(
            "/api/voice/caller-id-rules",
            &app.admin_token,
            json!({"prefix": "+86", "caller_id": "+14155550100"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201);
    let (_, cap) = app.get("/api/calls/capabilities", &a1_token).await;
    assert_eq!(cap["dial"]["via"], "twilio");

    // A missed call leaves a callback.
    cti(
        &app,
        json!({"event": "newCall", "from": "013900000001", "to": "4008001234",
        "direction": "in", "callId": "pbx-9", "queue": "phone"}),
    )
    .await;
    cti(
        &app,
        json!({"event": "hangup", "callId": "pbx-9", "direction": "in", "cause": "noAnswer"}),
    )
    .await;
    let missed = call_of(&app, "pbx-9").await;
    let callback = missed["callback_ticket_id"].as_i64().expect("a callback");

    // One click: Twilio rings the agent's phone, then the customer; filed on the callback.
    let (s, d) = app
        .post(
            "/api/calls/dial",
            &a1_token,
            json!({"number": "+8613900000001"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{d}");
    assert_eq!(
        (d["via"].as_str(), d["callback_ticket_id"].as_i64()),
        (Some("twilio"), Some(callback))
    );
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
    let sid = d["call"]["call_id"].as_str().unwrap().to_string();
    let id = d["call"]["id"].as_i64().unwrap();
    assert_eq!(d["call"]["ticket_id"], callback);

    // Ringing: no code yet. Twilio reports the answer and the end.
    let (s, b) = app
        .post(
            &format!("/api/calls/{id}/disposition"),
            &a1_token,
            json!({"disposition_id": code_id(&app, "resolved").await}),
        )
        .await;
    assert_error(s, &b, 409, "conflict");
    for (status, seq) in [("in-progress", "1"), ("completed", "2")] {
        let (s, body) = post_signed(
            &app,
            "/webhooks/twilio/voice/status",
            &[
                ("CallSid", sid.as_str()),
                ("CallStatus", status),
                ("SequenceNumber", seq),
            ],
        )
        .await;
        assert_eq!(s, 200, "{body}");
    }
    let follow_up = code_id(&app, "follow_up").await;
    let (s, c) = app
        .post(
            &format!("/api/calls/{id}/disposition"),
            &a1_token,
            json!({"disposition_id": follow_up}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{c}");
    assert_eq!(
        (c["state"].as_str(), c["disposition_id"].as_i64()),
        (Some("ended"), Some(follow_up))
    );

    // The callback's timeline shows the call with its outcome, agent and code.
    let (_, t) = app
        .get(&format!("/api/tickets/{callback}"), &a1_token)
        .await;
    assert_eq!(t["ticket"]["status"], "resolved", "reached");
    let out = t["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["call"]["id"] == id)
        .unwrap_or_else(|| panic!("{t}"))["call"]
        .clone();
    assert_eq!(out["direction"], "out");
    assert_eq!(out["outcome"], "answered");
    assert_eq!(out["agent_id"], a1);
    assert_eq!(out["disposition"]["code"], "follow_up");
    assert_eq!(
        out["wait_ms"],
        Value::Null,
        "no queue wait on an outbound call"
    );
}

#[tokio::test]
async fn a_talking_twilio_caller_is_transferred_to_another_agent() {
    let (app, fake) = spawn_with_twilio().await;
    let (a1, a1_token) = agent(&app, "a1", "101", Some("+8613811112222")).await;
    let (a2, a2_token) = agent(&app, "a2", "102", Some("+8613811113333")).await;
    let (s, twiml) = post_signed(
        &app,
        "/webhooks/twilio/voice",
        &[
            ("CallSid", "CA500"),
            ("From", "+8613900000005"),
            ("To", "+14155550199"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{twiml}");
    let id = call_of(&app, "CA500").await["id"].as_i64().unwrap();
    let path = format!("/api/calls/{id}/transfer");

    // Waiting, not talking: nothing to transfer yet.
    let (s, b) = app
        .post(&path, &app.admin_token, json!({"user_id": a2}))
        .await;
    assert_error(s, &b, 409, "conflict");
    let (s, b) = app
        .post(&format!("/api/calls/{id}/connect"), &a1_token, json!({}))
        .await;
    assert_eq!(
        (s.as_u16(), b["state"].as_str()),
        (200, Some("talking")),
        "{b}"
    );

    // Only its agent (or a supervisor) moves it, and not to the agent who has it.
    let (s, b) = app.post(&path, &a2_token, json!({"user_id": a2})).await;
    assert_error(s, &b, 403, "forbidden");
    let (s, b) = app.post(&path, &a1_token, json!({"user_id": a1})).await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = app.post(&path, &a1_token, json!({"user_id": 999999})).await;
    assert_error(s, &b, 400, "validation_failed");

    // Twilio redirects the caller's leg to a2's phone; the call and its ticket are a2's.
    let before = fake.requests().len();
    let (s, c) = app.post(&path, &a1_token, json!({"user_id": a2})).await;
    assert_eq!(s.as_u16(), 200, "{c}");
    assert_eq!(
        (c["state"].as_str(), c["agent_id"].as_i64()),
        (Some("talking"), Some(a2))
    );
    let reqs = fake.requests();
    assert_eq!(reqs.len(), before + 1);
    assert_eq!(reqs[before].resource, "Calls/CA500.json");
    assert_eq!(
        reqs[before].field("Twiml"),
        Some("<Response><Dial><Number>+8613811113333</Number></Dial></Response>")
    );
    assert!(c["popped"].as_array().unwrap().contains(&json!(a2)), "{c}");
    let tid = c["ticket_id"].as_i64().unwrap();
    let (_, t) = app
        .get(&format!("/api/tickets/{tid}"), &app.admin_token)
        .await;
    assert_eq!(t["ticket"]["assignee_id"], a2, "{t}");

    // Twilio refuses: nothing moves, and the agent hears why.
    fake.push(
        404,
        json!({"code": 20404, "message": "The requested resource was not found"}),
    );
    let (s, b) = app
        .post(&path, &app.admin_token, json!({"user_id": a1}))
        .await;
    assert_error(s, &b, 422, "unprocessable");
    assert_eq!(call_of(&app, "CA500").await["agent_id"], a2);

    // The end: a2 wraps up and picks the code.
    let (s, _) = post_signed(
        &app,
        "/webhooks/twilio/voice/status",
        &[
            ("CallSid", "CA500"),
            ("CallStatus", "completed"),
            ("SequenceNumber", "1"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let (s, b) = app.post(&path, &a2_token, json!({"user_id": a1})).await;
    assert_error(s, &b, 409, "conflict");
    let (s, b) = app
        .post(
            &format!("/api/calls/{id}/disposition"),
            &a2_token,
            json!({"disposition_id": code_id(&app, "resolved").await}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");

    // A PBX's call is transferred on the phone, not through Hotline.
    cti(
        &app,
        json!({"event": "newCall", "from": "013900000006", "to": "4008001234",
        "direction": "in", "callId": "pbx-t", "user": ["101"]}),
    )
    .await;
    cti(
        &app,
        json!({"event": "answer", "callId": "pbx-t", "direction": "in", "user": "101"}),
    )
    .await;
    let pbx = call_of(&app, "pbx-t").await["id"].as_i64().unwrap();
    let (s, b) = app
        .post(
            &format!("/api/calls/{pbx}/transfer"),
            &a1_token,
            json!({"user_id": a2}),
        )
        .await;
    assert_error(s, &b, 422, "unprocessable");
}

#[tokio::test]
async fn without_twilio_or_a_pbx_the_dial_button_says_why() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user("ag", "agent").await;
    let (s, cap) = app.get("/api/calls/capabilities", &token).await;
    assert_eq!(s.as_u16(), 200);
    for control in ["dial", "hold", "transfer"] {
        assert_eq!(
            cap[control],
            json!({"available": false, "via": null, "reason": "not_configured"}),
            "{cap}"
        );
    }
    let (s, b) = app
        .post(
            "/api/calls/dial",
            &token,
            json!({"number": "+8613900000001"}),
        )
        .await;
    assert_error(s, &b, 422, "unprocessable");
}
