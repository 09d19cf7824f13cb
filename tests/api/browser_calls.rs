//! Calls in real Chromium: a missed call leaves a callback; the agent dials it with one click
//! on the callback panel (Twilio, here its local stand-in, rings the agent's phone and then the
//! customer); hold and transfer show as unavailable with the reason; when Twilio reports the
//! end, the call panel offers the disposition codes and one click stores the agent's pick,
//! which the ticket's timeline then shows (outcome, agent, code); the admin's report counts it. In English and in Chinese, photographed
//! (target/browser-artifacts/screens/calls-*.png).

use crate::browser::{browser, click, eventually, find, scenario, sign_in, wait_text};
use crate::browser_layout::screenshot;
use crate::support::{ADMIN_PASSWORD, TestApp};
use crate::twilio_fake::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio};
use fantoccini::{Client, Locator};
use hotline::config::Secret;
use serde_json::{Value, json};

/// A Twilio status callback for `sid`, signed as Twilio signs it.
async fn twilio_status(t: &TestApp, sid: &str, status: &str, seq: &str) {
    let form: Vec<(String, String)> = [
        ("CallSid", sid),
        ("CallStatus", status),
        ("SequenceNumber", seq),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let path = "/webhooks/twilio/voice/status";
    let url = format!("{}{path}", t.state.config.public_url());
    let sig = hotline::channels::twilio::signature(AUTH_TOKEN, &url, &form);
    let res = t
        .http
        .post(t.url(path))
        .header("X-Twilio-Signature", sig)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "status webhook: {}",
        res.status()
    );
}

/// A call from `from` that nobody answers (through the CTI webhook): its callback ticket.
async fn missed_call(t: &TestApp, call_id: &str, from: &str) -> i64 {
    for body in [
        json!({"event": "newCall", "from": from, "to": "4008001234", "direction": "in",
               "callId": call_id, "queue": "phone"}),
        json!({"event": "hangup", "callId": call_id, "direction": "in", "cause": "noAnswer"}),
    ] {
        let (s, v) = t
            .call(
                reqwest::Method::POST,
                "/api/v1/cti/cti-secret",
                None,
                Some(body),
            )
            .await;
        assert_eq!(s.as_u16(), 200, "{v}");
    }
    let (_, calls) = t.get("/api/calls?limit=50", &t.admin_token).await;
    calls
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["call_id"] == call_id)
        .and_then(|c| c["callback_ticket_id"].as_i64())
        .unwrap_or_else(|| panic!("no callback for {call_id}: {calls}"))
}

/// The outbound call Hotline placed to `number` (as the API lists it): stored once Twilio
/// answered the REST call, so shortly after the stand-in saw the request.
async fn placed_call(t: &TestApp, number: &str) -> Value {
    eventually(&format!("the call to {number} is stored"), || async move {
        let (_, calls) = t.get("/api/calls?limit=50", &t.admin_token).await;
        calls
            .as_array()?
            .iter()
            .find(|c| c["direction"] == "out" && c["to_number"] == number)
            .cloned()
    })
    .await
}

async fn choose_locale(c: &Client, locale: &str) {
    eventually(&format!("the console speaks {locale}"), || async move {
        let el = c.find(Locator::Css("#locale")).await.ok()?;
        el.select_by_value(locale).await.ok()?;
        let lang = c
            .execute("return document.documentElement.lang", vec![])
            .await
            .ok()?;
        (lang == json!(locale)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn browser_callback_dialled_with_one_click_gets_a_disposition() {
    let Some(b) = browser().await else { return };
    let fake = FakeTwilio::start().await;
    let base = fake.base.clone();
    // No public URL: the console's websocket origin is the listen address, which the Twilio
    // signatures then cover too.
    let t = TestApp::spawn_with(move |c| {
        c.twilio_auth_token = Secret(AUTH_TOKEN.into());
        c.twilio_account_sid = ACCOUNT_SID.into();
        c.twilio_api_base = base;
        c.cti_token = Secret("cti-secret".into());
    })
    .await;
    let (s, agent) = t
        .post("/api/users", &t.admin_token,
            json!({"login": "ana", "display_name": "Ana", "role": "agent", "password": "Harbour-Lantern-58",
                   "extension": "101", "phone": "+8613811112222"}))
        .await;
    assert_eq!(s.as_u16(), 201, "{agent}");
    let phone = t.queue("phone").await;
    t.call(
        reqwest::Method::PUT,
        &format!("/api/queues/{phone}/members"),
        Some(&t.admin_token),
        Some(json!({"user_ids": [agent["id"]]})),
    )
    .await;
    let (s, _) = t
        .post(
            "/api/voice/caller-id-rules",
            &t.admin_token,
            json!({"prefix": "+86", "caller_id": "+14155550100"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201);

    let c = &b.client;
    let app = &t;
    let fake = &fake;
    scenario("browser_calls", &b, || async move {
        sign_in(app, c, "ana", "Harbour-Lantern-58").await;
        let rounds = [
            ("en", "+8613900000001", "Follow-up needed"),
            ("zh-CN", "+8613900000002", "需要跟进"),
        ];
        for (locale, number, chosen) in rounds {
            let callback = missed_call(app, &format!("pbx-{locale}"), number).await;
            choose_locale(c, locale).await;
            c.goto(&app.url(&format!("/#/ticket/{callback}")))
                .await
                .unwrap();
            wait_text(c, "#callback-number", number).await;

            // One click on the callback panel's Dial places the call through Twilio.
            let before = fake.requests().len();
            click(c, "#dial[data-dial]").await;
            let reqs = fake.wait_for(before + 1).await;
            let placed = &reqs[before];
            assert_eq!(placed.resource, "Calls.json");
            assert_eq!(
                placed.field("To"),
                Some("+8613811112222"),
                "the agent's phone first"
            );
            assert!(
                placed
                    .field("Twiml")
                    .unwrap()
                    .contains(&format!("<Number>{number}</Number>")),
                "then the customer"
            );
            let call = placed_call(app, number).await;
            assert_eq!(call["ticket_id"], callback, "filed on the callback");

            // While it rings: the call panel, hold and transfer shown unavailable with the reason.
            find(c, "#call-panel[data-state=\"ringing\"]").await;
            let hold = find(c, "[data-call-control=\"hold\"]").await;
            assert!(hold.attr("disabled").await.unwrap().is_some());
            let why = hold.attr("title").await.unwrap().unwrap_or_default();
            assert!(why.contains("Twilio"), "{why}");
            screenshot(c, &format!("calls-dialled-{locale}")).await;

            // Twilio reports the answer and the end: the agent picks a disposition code.
            let sid = call["call_id"].as_str().unwrap();
            twilio_status(app, sid, "in-progress", "1").await;
            twilio_status(app, sid, "completed", "2").await;
            find(c, "#disposition-pick").await;
            screenshot(c, &format!("calls-wrap-up-{locale}")).await;
            click(c, "#disposition-pick [data-code=\"follow_up\"]").await;
            wait_text(c, "#disposition-chosen", chosen).await;
            let id = call["id"].as_i64().unwrap();
            let stored = eventually("the code is stored on the call", || async move {
                let (_, call) = app.get(&format!("/api/calls/{id}"), &app.admin_token).await;
                call["disposition_id"].as_i64()
            })
            .await;
            assert!(stored > 0);

            // The callback's timeline shows the call: answered, by Ana, with the code (the
            // dialled call popped the agent's screen, so back to the ticket first).
            c.goto(&app.url(&format!("/#/ticket/{callback}")))
                .await
                .unwrap();
            wait_text(
                c,
                "[data-interaction] [data-disposition=\"follow_up\"]",
                chosen,
            )
            .await;
            wait_text(c, "[data-interaction] [data-outcome=\"answered\"]", "").await;
            screenshot(c, &format!("calls-timeline-{locale}")).await;
        }

        // The report counts both calls under their code (supervisors and admins).
        click(c, "#signout").await;
        find(c, "#signin-form").await;
        sign_in(app, c, "admin", ADMIN_PASSWORD).await;
        choose_locale(c, "en").await;
        click(c, "nav.nav a[data-nav=\"admin-dispositions\"]").await;
        wait_text(
            c,
            "#report-rows tr[data-code=\"follow_up\"]",
            "Follow-up needed",
        )
        .await;
        let row = wait_text(c, "#report-rows tr[data-code=\"follow_up\"]", "2").await;
        assert!(row.ends_with('2'), "{row}");
        wait_text(c, "#report-total", "4").await;
        screenshot(c, "calls-report-en").await;
    })
    .await;
}
