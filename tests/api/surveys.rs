//! Satisfaction surveys: sent after the queue's delay when a ticket is resolved (email through
//! a real relay, SMS through the Twilio stand-in), answered on /survey/{token}; bad tokens,
//! scores and markup; cool-down, opt-outs, spam, merged and reopened tickets; no double send
//! with two nodes; low scores open follow-up work; the CSAT report and the wallboard; the
//! keypad survey through signed Twilio webhooks.

use crate::email_outbound::{free_port, start_relay, wait_messages};
use crate::email_support::spawn_mail;
use crate::support::{TestApp, assert_error};
use crate::twilio_fake::{count, post_signed, spawn_with_twilio};
use serde_json::{Value, json};
use sqlx::Row;

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

/// Switches surveys on for queue `q` with `delay` minutes (as admin).
async fn surveys_on(app: &TestApp, q: i64, delay: i64, keypad: bool) {
    let (s, b) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/queues/{q}/survey"),
            Some(&app.admin_token),
            Some(json!({"enabled": true, "delay_minutes": delay, "keypad": keypad})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["enabled"], true);
}

async fn ticket(app: &TestApp, channel: &str, q: i64, customer: i64, tags: &[&str]) -> i64 {
    let (s, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "Washing machine leaks", "channel": channel, "queue_id": q,
                   "customer_id": customer, "tags": tags}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    t["id"].as_i64().unwrap()
}

async fn set_status(app: &TestApp, id: i64, status: &str) {
    let (s, b) = app
        .patch(
            &format!("/api/tickets/{id}"),
            &app.admin_token,
            json!({"status": status}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

/// One pass of the sending job, as the routing leader runs it (the leader's own passes may
/// run too: the survey row is unique per ticket).
async fn send_due(app: &TestApp) -> usize {
    hotline::surveys::send_due(&hotline::surveys::Sender {
        db: &app.state.db,
        clock: &app.state.clock,
        config: &app.state.config,
    })
    .await
    .unwrap()
}

/// The ticket's survey row: (channel, skipped, sent_at).
async fn survey_row(app: &TestApp, ticket: i64) -> Option<(String, Option<String>, Option<i64>)> {
    sqlx::query("SELECT channel, skipped, sent_at FROM surveys WHERE ticket_id = $1")
        .bind(ticket)
        .fetch_optional(&app.state.db.pool)
        .await
        .unwrap()
        .map(|r| {
            (
                r.try_get("channel").unwrap(),
                r.try_get("skipped").unwrap(),
                r.try_get("sent_at").unwrap(),
            )
        })
}

/// The survey link's token from the queued message of `ticket` (the ticket's own record keeps
/// the text without it).
async fn token_of(app: &TestApp, ticket: i64) -> String {
    let payload: String = sqlx::query(
        "SELECT payload FROM outbox WHERE ticket_id = $1 AND payload LIKE '%/survey/%' \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(ticket)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap()
    .try_get("payload")
    .unwrap();
    let body: Value = serde_json::from_str(&payload).unwrap();
    token_in(body["body"].as_str().unwrap())
}

fn token_in(text: &str) -> String {
    let at = text.find("/survey/").expect("a survey link") + "/survey/".len();
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn ticket_json(app: &TestApp, id: i64) -> Value {
    let (s, v) = app
        .get(&format!("/api/tickets/{id}"), &app.admin_token)
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn anonymous(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (reqwest::StatusCode, Value) {
    app.call(method, path, None, body).await
}

#[tokio::test]
async fn an_email_survey_goes_out_after_the_delay_and_is_answered_once() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let relay = start_relay(port, tmp.path()).await;
    let app = spawn_mail(|c| {
        c.smtp_relay = hotline::config::Secret(format!("smtp://127.0.0.1:{port}"));
        c.outbox_retry_ms = 100;
        c.public_url = "https://desk.example.cn".into();
    })
    .await;
    let q = app.queue("Billing").await;
    surveys_on(&app, q, 60, false).await;
    let carol = app
        .customer("Carol Smith", &[("email", "carol@example.com")])
        .await;
    let t = ticket(&app, "email", q, carol, &[]).await;
    set_status(&app, t, "resolved").await;

    // Before the delay: nothing.
    app.state.clock.advance(59 * MINUTE);
    assert_eq!(send_due(&app).await, 0);
    assert!(survey_row(&app, t).await.is_none());
    assert!(ticket_json(&app, t).await["survey"].is_null());

    // After it: one survey email through the relay, Auto-Submitted, with the link.
    app.state.clock.advance(2 * MINUTE);
    send_due(&app).await;
    let mail = &wait_messages(&relay.dir, 1).await[0];
    let parsed = mail_parser::MessageParser::default().parse(mail).unwrap();
    let text = parsed.body_text(0).unwrap().to_string();
    assert!(
        parsed.subject().unwrap().contains(&format!("#{t}")),
        "{:?}",
        parsed.subject()
    );
    assert_eq!(
        crate::email_outbound::header(mail, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert!(text.contains("https://desk.example.cn/survey/"), "{text}");
    assert!(text.contains("?unsubscribe=1"), "{text}");
    let token = token_in(&text);
    assert_eq!(send_due(&app).await, 0, "sent once");
    let v = ticket_json(&app, t).await;
    assert_eq!(v["survey"]["channel"], "email", "{v}");
    assert!(v["survey"]["sent_at"].is_i64());
    assert!(v["survey"]["score"].is_null());
    // The ticket's record of the message has no token.
    let out: Vec<&Value> = v["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["meta"]["automatic"] == "survey")
        .collect();
    assert_eq!(out.len(), 1);
    assert!(!out[0]["body"].as_str().unwrap().contains(&token));

    // The page is served for the link, with the strict policy.
    let page = app
        .http
        .get(app.url(&format!("/survey/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(page.text().await.unwrap().contains("<hl-survey>"));

    let path = format!("/api/survey/{token}");
    let (s, open) = anonymous(&app, reqwest::Method::GET, &path, None).await;
    assert_eq!(s, 200, "{open}");
    assert_eq!(open["state"], "open");
    assert_eq!(open["language"], "en");
    assert_eq!(open["ticket_number"], t);

    // Out of range: 422, nothing recorded.
    for bad in [0, 6, -1] {
        let (s, b) = anonymous(
            &app,
            reqwest::Method::POST,
            &path,
            Some(json!({"score": bad})),
        )
        .await;
        assert_error(s, &b, 422, "unprocessable");
    }
    assert!(ticket_json(&app, t).await["survey"]["score"].is_null());

    // A forged token opens nothing.
    let (s, b) = anonymous(
        &app,
        reqwest::Method::POST,
        "/api/survey/forged-token-123",
        Some(json!({"score": 5})),
    )
    .await;
    assert_error(s, &b, 404, "not_found");

    // The answer, with markup kept as text.
    let comment = "<img src=x onerror=alert(1)> quick & kind";
    let (s, b) = anonymous(
        &app,
        reqwest::Method::POST,
        &path,
        Some(json!({"score": 4, "comment": comment})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["state"], "answered");
    let v = ticket_json(&app, t).await;
    assert_eq!(v["survey"]["score"], 4);
    assert_eq!(v["survey"]["comment"], comment);
    assert_eq!(v["survey"]["via"], "portal");
    assert!(v["survey"]["answered_at"].is_i64());

    // A second answer is refused and the first kept.
    let (s, b) = anonymous(
        &app,
        reqwest::Method::POST,
        &path,
        Some(json!({"score": 1, "comment": "changed my mind"})),
    )
    .await;
    assert_error(s, &b, 409, "conflict");
    let v = ticket_json(&app, t).await;
    assert_eq!(v["survey"]["score"], 4);
    assert_eq!(v["survey"]["comment"], comment);
    let (_, st) = anonymous(&app, reqwest::Method::GET, &path, None).await;
    assert_eq!(st["state"], "answered");

    // The customer's 360 shows the score.
    let (_, c) = app
        .get(&format!("/api/customers/{carol}"), &app.admin_token)
        .await;
    assert_eq!(c["recent_scores"][0]["score"], 4, "{c}");
    assert_eq!(c["recent_scores"][0]["ticket_id"], t);
}

#[tokio::test]
async fn an_sms_survey_reaches_twilio_and_its_link_expires() {
    let (app, fake) = spawn_with_twilio().await;
    let q = app.queue("Phones").await;
    surveys_on(&app, q, 0, false).await;
    let wang = app.customer("王芳", &[("phone", "+8613800138000")]).await;
    let (s, b) = app
        .patch(
            &format!("/api/customers/{wang}"),
            &app.admin_token,
            json!({"language": "zh-CN"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let t = ticket(&app, "sms", q, wang, &[]).await;
    set_status(&app, t, "resolved").await;
    send_due(&app).await;
    let reqs = fake.wait_for(1).await;
    let sms = reqs
        .iter()
        .find(|r| r.resource.starts_with("Messages"))
        .expect("an SMS");
    assert_eq!(sms.field("To"), Some("+8613800138000"));
    let body = sms.field("Body").unwrap();
    assert!(body.contains("打分"), "{body}");
    assert!(
        body.contains(&format!("{}/survey/", crate::twilio_fake::PUBLIC_URL)),
        "{body}"
    );
    let token = token_in(body);
    let path = format!("/api/survey/{token}");
    let (_, open) = anonymous(&app, reqwest::Method::GET, &path, None).await;
    assert_eq!(open["state"], "open");
    assert_eq!(open["language"], "zh-CN");

    // After HOTLINE_SURVEY_TTL_DAYS (14) the link is expired: refused, nothing recorded.
    app.state.clock.advance(15 * DAY);
    let (_, st) = anonymous(&app, reqwest::Method::GET, &path, None).await;
    assert_eq!(st["state"], "expired");
    let (s, b) = anonymous(
        &app,
        reqwest::Method::POST,
        &path,
        Some(json!({"score": 5})),
    )
    .await;
    assert_error(s, &b, 409, "conflict");
    assert!(ticket_json(&app, t).await["survey"]["score"].is_null());
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM surveys WHERE answered_at IS NOT NULL"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn cool_down_opt_outs_spam_merged_and_reopened_tickets_get_no_survey() {
    let (app, fake) = spawn_with_twilio().await;
    let q = app.queue("Care").await;
    surveys_on(&app, q, 10, false).await;
    let ann = app.customer("Ann", &[("email", "ann@example.com")]).await;
    let bob = app.customer("Bob", &[("email", "bob@example.com")]).await;
    let cai = app.customer("蔡", &[("phone", "+8613900000001")]).await;
    let dan = app.customer("Dan", &[("email", "dan@example.com")]).await;
    let eve = app.customer("Eve", &[("email", "eve@example.com")]).await;
    let nobody = app.customer("No Contact", &[]).await;

    let first = ticket(&app, "email", q, ann, &[]).await;
    let second = ticket(&app, "email", q, ann, &[]).await;
    let spam = ticket(&app, "email", q, bob, &["spam"]).await;
    let stopped = ticket(&app, "sms", q, cai, &[]).await;
    let merged = ticket(&app, "email", q, dan, &[]).await;
    let into = ticket(&app, "email", q, dan, &[]).await;
    let reopened = ticket(&app, "email", q, eve, &[]).await;
    let unreachable = ticket(&app, "email", q, nobody, &[]).await;
    let internal = ticket(&app, "note", q, bob, &[]).await;

    // 蔡 texted STOP.
    let (s, _) = post_signed(
        &app,
        "/webhooks/twilio/sms",
        &[
            ("MessageSid", "SMstop1"),
            ("From", "+8613900000001"),
            ("To", "+14155550100"),
            ("Body", "STOP"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let (s, b) = app
        .post(
            &format!("/api/tickets/{merged}/merge"),
            &app.admin_token,
            json!({"into": into}),
        )
        .await;
    assert!(s.is_success(), "{b}");

    for t in [first, spam, stopped, reopened, unreachable, internal] {
        set_status(&app, t, "resolved").await;
    }
    // Reopened before the delay passed: not surveyed then.
    app.state.clock.advance(5 * MINUTE);
    set_status(&app, reopened, "open").await;
    app.state.clock.advance(6 * MINUTE);
    send_due(&app).await;
    let first_row = survey_row(&app, first).await.unwrap();
    assert_eq!(
        (first_row.0.as_str(), first_row.1.as_deref()),
        ("email", None)
    );
    assert_eq!(
        survey_row(&app, spam).await.unwrap().1.as_deref(),
        Some("spam")
    );
    assert_eq!(
        survey_row(&app, stopped).await.unwrap().1.as_deref(),
        Some("opted_out")
    );
    assert_eq!(
        survey_row(&app, merged).await.unwrap().1.as_deref(),
        Some("merged")
    );
    assert_eq!(
        survey_row(&app, unreachable).await.unwrap().1.as_deref(),
        Some("no_contact")
    );
    assert_eq!(
        survey_row(&app, internal).await.unwrap().1.as_deref(),
        Some("internal")
    );
    assert!(survey_row(&app, reopened).await.is_none());
    assert!(
        ticket_json(&app, spam).await["survey"].is_null(),
        "a skipped survey is not shown"
    );

    // Ann's second ticket within the cool-down (30 days): none.
    set_status(&app, second, "resolved").await;
    app.state.clock.advance(11 * MINUTE);
    send_due(&app).await;
    assert_eq!(
        survey_row(&app, second).await.unwrap().1.as_deref(),
        Some("cooldown")
    );

    // Resolved again, the reopened ticket is surveyed after the delay.
    set_status(&app, reopened, "resolved").await;
    app.state.clock.advance(11 * MINUTE);
    send_due(&app).await;
    assert_eq!(survey_row(&app, reopened).await.unwrap().1, None);

    // Eve opts out with her link; after the cool-down her next ticket is not surveyed, while
    // Ann's is again.
    let token = token_of(&app, reopened).await;
    let (s, b) = anonymous(
        &app,
        reqwest::Method::POST,
        &format!("/api/survey/{token}/opt-out"),
        None,
    )
    .await;
    assert_eq!(s, 204, "{b}");
    app.state.clock.advance(31 * DAY);
    let eve2 = ticket(&app, "email", q, eve, &[]).await;
    let ann3 = ticket(&app, "email", q, ann, &[]).await;
    set_status(&app, eve2, "resolved").await;
    set_status(&app, ann3, "resolved").await;
    app.state.clock.advance(11 * MINUTE);
    send_due(&app).await;
    assert_eq!(
        survey_row(&app, eve2).await.unwrap().1.as_deref(),
        Some("opted_out")
    );
    assert_eq!(survey_row(&app, ann3).await.unwrap().1, None);
    let (_, v) = app
        .get(&format!("/api/customers/{eve}"), &app.admin_token)
        .await;
    assert_eq!(v["surveys_opted_out"], true, "{v}");
    // Ann tells the agent on the phone: no more surveys; later she allows them again.
    let (_, agent) = app.user("care-agent", "agent").await;
    let (s, b) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/customers/{ann}/survey-opt-out"),
            Some(&agent),
            Some(json!({"opted_out": true})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    app.state.clock.advance(31 * DAY);
    let ann4 = ticket(&app, "email", q, ann, &[]).await;
    set_status(&app, ann4, "resolved").await;
    app.state.clock.advance(11 * MINUTE);
    send_due(&app).await;
    assert_eq!(
        survey_row(&app, ann4).await.unwrap().1.as_deref(),
        Some("opted_out")
    );
    let (s, _) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/customers/{ann}/survey-opt-out"),
            Some(&agent),
            Some(json!({"opted_out": false})),
        )
        .await;
    assert_eq!(s, 200);
    let (_, v) = app.get(&format!("/api/customers/{ann}"), &agent).await;
    assert_eq!(v["surveys_opted_out"], false, "{v}");
    // No SMS went to the number that said STOP.
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.field("To") != Some("+8613900000001")),
        "nothing texted to an opted-out number"
    );
    // A queue with surveys off sends none.
    let quiet = app.queue("Quiet").await;
    let t = ticket(&app, "email", quiet, ann, &[]).await;
    set_status(&app, t, "resolved").await;
    app.state.clock.advance(DAY);
    send_due(&app).await;
    assert!(survey_row(&app, t).await.is_none());
}

#[tokio::test]
async fn a_low_verbal_score_opens_follow_up_work_for_the_supervisor() {
    let app = TestApp::spawn().await;
    let q = app.queue("Complaints").await;
    let other = app.queue("Elsewhere").await;
    let (sup, sup_token) = app.user("sup", "supervisor").await;
    let (agent, agent_token) = app.user("agent", "agent").await;
    let (_, outsider) = app.user("outsider", "agent").await;
    for (queue, users) in [(q, vec![sup, agent]), (other, vec![])] {
        let (s, b) = app
            .call(
                reqwest::Method::PUT,
                &format!("/api/queues/{queue}/members"),
                Some(&app.admin_token),
                Some(json!({"user_ids": users})),
            )
            .await;
        assert!(s.is_success(), "{b}");
    }
    let c = app.customer("Li Lei", &[("phone", "+8613700000000")]).await;
    let t = ticket(&app, "voice", q, c, &[]).await;

    // Not the outsider's ticket: 404; a bad score: 422.
    let (s, b) = app
        .post(
            &format!("/api/tickets/{t}/survey"),
            &outsider,
            json!({"score": 2}),
        )
        .await;
    assert_error(s, &b, 404, "not_found");
    let (s, b) = app
        .post(
            &format!("/api/tickets/{t}/survey"),
            &agent_token,
            json!({"score": 7}),
        )
        .await;
    assert_error(s, &b, 422, "unprocessable");

    let comment = "Nobody called back <script>alert(1)</script>";
    let (s, b) = app
        .post(
            &format!("/api/tickets/{t}/survey"),
            &agent_token,
            json!({"score": 2, "comment": comment}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["via"], "agent");
    assert_eq!(b["answered_by"], agent);
    assert_eq!(b["channel"], "voice");
    let follow_up = b["follow_up_ticket_id"].as_i64().expect("a follow-up");

    // The follow-up: a high-priority request in the queue, the supervisor's, quoting the
    // comment as text, linked both ways.
    let f = ticket_json(&app, follow_up).await;
    assert_eq!(f["ticket"]["kind"], "request", "{f}");
    assert_eq!(f["ticket"]["priority"], "high");
    assert_eq!(f["ticket"]["queue_id"], q);
    assert_eq!(f["ticket"]["assignee_id"], sup);
    assert_eq!(f["ticket"]["customer_id"], c);
    assert_eq!(f["ticket"]["subject_data"]["kind"], "survey.low_score");
    let note = f["interactions"][0]["body"].as_str().unwrap();
    assert!(note.contains(comment), "{note}");
    assert_eq!(f["interactions"][0]["meta"]["survey_follow_up_of"], t);
    let orig = ticket_json(&app, t).await;
    assert_eq!(orig["survey"]["score"], 2);
    assert_eq!(orig["survey"]["follow_up_ticket_id"], follow_up);

    // The supervisor is notified (a new kind), with the comment.
    let (s, n) = app.get("/api/notifications", &sup_token).await;
    assert_eq!(s, 200, "{n}");
    let item = &n["items"][0];
    assert_eq!(item["kind"], "survey_low", "{n}");
    assert_eq!(item["ticket_id"], follow_up);
    assert_eq!(item["excerpt"], comment);
    assert_eq!(n["unseen"], 1);

    // A second score is refused; the first stays.
    let (s, b) = app
        .post(
            &format!("/api/tickets/{t}/survey"),
            &agent_token,
            json!({"score": 5}),
        )
        .await;
    assert_error(s, &b, 409, "conflict");
    assert_eq!(ticket_json(&app, t).await["survey"]["score"], 2);

    // A good score opens nothing.
    let t2 = ticket(&app, "voice", q, c, &[]).await;
    let (s, b) = app
        .post(
            &format!("/api/tickets/{t2}/survey"),
            &agent_token,
            json!({"score": 5}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert!(b["follow_up_ticket_id"].is_null());
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM notifications WHERE kind = 'survey_low'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn the_csat_report_and_the_wallboard_count_exactly() {
    let app = TestApp::spawn().await;
    let q1 = app.queue("Q1").await;
    let q2 = app.queue("Q2").await;
    surveys_on(&app, q1, 0, false).await;
    let (a1, _) = app.user("amy", "agent").await;
    let (a2, _) = app.user("ben", "agent").await;
    let (_, sup) = app.user("boss", "supervisor").await;
    let (_, agent) = app.user("plain", "agent").await;

    // Q1: four surveys sent by email (amy 3, ben 1), three answered: 5, 4, 1.
    let mut sent = Vec::new();
    for (i, who) in [a1, a1, a1, a2].into_iter().enumerate() {
        let c = app
            .customer(&format!("C{i}"), &[("email", &format!("c{i}@example.com"))])
            .await;
        let t = ticket(&app, "email", q1, c, &[]).await;
        let (s, b) = app
            .patch(
                &format!("/api/tickets/{t}"),
                &app.admin_token,
                json!({"assignee_id": who, "status": "resolved"}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        sent.push(t);
    }
    send_due(&app).await;
    for (t, score) in sent.iter().zip([5, 4, 1]) {
        let token = token_of(&app, *t).await;
        let (s, b) = anonymous(
            &app,
            reqwest::Method::POST,
            &format!("/api/survey/{token}"),
            Some(json!({"score": score})),
        )
        .await;
        assert_eq!(s, 200, "{b}");
    }
    // Q2: two verbal scores, never sent: 5 and 3 (ben's tickets).
    for score in [5, 3] {
        let c = app.customer("Caller", &[]).await;
        let t = ticket(&app, "voice", q2, c, &[]).await;
        let (s, b) = app
            .patch(
                &format!("/api/tickets/{t}"),
                &app.admin_token,
                json!({"assignee_id": a2}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let (s, b) = app
            .post(
                &format!("/api/tickets/{t}/survey"),
                &app.admin_token,
                json!({"score": score}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }

    let from = "2000-01-01T00:00:00Z";
    let to = "2100-01-01T00:00:00Z";
    let report = |group: &'static str| {
        let app = &app;
        let sup = sup.clone();
        async move {
            let (s, r) = app
                .get(
                    &format!("/api/reports/csat?from={from}&to={to}&group={group}"),
                    &sup,
                )
                .await;
            assert_eq!(s, 200, "{r}");
            r
        }
    };
    let r = report("queue").await;
    let row = |r: &Value, id: i64| -> Value {
        r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} in {r}"))
    };
    let g1 = row(&r, q1);
    assert_eq!(
        (g1["answers"].as_i64(), g1["sent"].as_i64()),
        (Some(3), Some(4)),
        "{g1}"
    );
    assert_eq!(g1["csat_percent"], 66.7);
    assert_eq!(g1["average_score"], 3.33);
    assert_eq!(g1["response_rate"], 75.0);
    assert_eq!(g1["name"], "Q1");
    let g2 = row(&r, q2);
    assert_eq!(
        (g2["answers"].as_i64(), g2["sent"].as_i64()),
        (Some(2), Some(0))
    );
    assert_eq!(g2["csat_percent"], 50.0);
    assert_eq!(g2["average_score"], 4.0);
    assert!(g2["response_rate"].is_null());
    let total = &r["total"];
    assert_eq!(
        (total["answers"].as_i64(), total["sent"].as_i64()),
        (Some(5), Some(4))
    );
    assert_eq!(total["csat_percent"], 60.0);
    assert_eq!(total["average_score"], 3.6);

    let r = report("agent").await;
    let amy = row(&r, a1);
    assert_eq!(
        (amy["answers"].as_i64(), amy["sent"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(amy["csat_percent"], 66.7);
    let ben = row(&r, a2);
    // ben: one sent, unanswered; two verbal 5 and 3.
    assert_eq!(
        (ben["answers"].as_i64(), ben["sent"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(ben["response_rate"], 0.0);
    assert_eq!(ben["average_score"], 4.0);

    let r = report("channel").await;
    let by: std::collections::HashMap<String, Value> = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["name"].as_str().unwrap().to_string(), x.clone()))
        .collect();
    assert_eq!(by["email"]["answers"], 3);
    assert_eq!(by["voice"]["answers"], 2);

    // A period with nothing: no rows; bad input: 400; agents: 403.
    let (s, r) = app
        .get(
            "/api/reports/csat?from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z",
            &sup,
        )
        .await;
    assert_eq!(s, 200);
    assert!(r["rows"].as_array().unwrap().is_empty());
    assert!(r["total"]["csat_percent"].is_null());
    let (s, b) = app
        .get(
            &format!("/api/reports/csat?from={from}&to={to}&group=planet"),
            &sup,
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = app
        .get(&format!("/api/reports/csat?from={from}&to={to}"), &agent)
        .await;
    assert_error(s, &b, 403, "forbidden");

    // The wallboard: today's CSAT per queue (answers 4–5 among today's answers).
    let (s, w) = app.get("/api/wallboard", &sup).await;
    assert_eq!(s, 200, "{w}");
    let tile = |id: i64| {
        w["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["queue_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(tile(q1)["csat_answers"], 3);
    assert!((tile(q1)["csat"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(tile(q2)["csat"], 0.5);
    assert_eq!(w["overall"]["csat_answers"], 5);
    assert_eq!(w["overall"]["csat"], 0.6);
}

#[tokio::test]
async fn queue_survey_settings_are_checked_and_audited() {
    let app = TestApp::spawn().await;
    let q = app.queue("Settings").await;
    let (s, b) = app
        .get(&format!("/api/queues/{q}/survey"), &app.admin_token)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["enabled"], false);
    assert_eq!(b["delay_minutes"], 60);
    let (s, b) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/queues/{q}/survey"),
            Some(&app.admin_token),
            Some(json!({"enabled": true, "delay_minutes": -5, "keypad": false})),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    surveys_on(&app, q, 30, true).await;
    let (_, b) = app
        .get(&format!("/api/queues/{q}/survey"), &app.admin_token)
        .await;
    assert_eq!(
        (
            b["enabled"].as_bool(),
            b["delay_minutes"].as_i64(),
            b["keypad"].as_bool()
        ),
        (Some(true), Some(30), Some(true))
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'queue.survey'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn the_keypad_survey_after_a_twilio_call_records_the_digit() {
    let (app, fake) = spawn_with_twilio().await;
    let q = app.queue("Hotline").await;
    surveys_on(&app, q, 60, true).await;
    let (agent_id, agent) = app.user("keypad-agent", "agent").await;
    let (s, b) = app
        .patch(
            &format!("/api/users/{agent_id}"),
            &app.admin_token,
            json!({"phone": "+8613511112222"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app
        .post(
            "/api/voice/numbers",
            &app.admin_token,
            json!({"number": "+14155550100", "language": "zh-CN", "queue_id": q}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/queues/{q}/members"),
            Some(&app.admin_token),
            Some(json!({"user_ids": [agent_id]})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let (s, twiml) = post_signed(
        &app,
        "/webhooks/twilio/voice",
        &[
            ("CallSid", "CAkeypad1"),
            ("From", "+8613800138000"),
            ("To", "+14155550100"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{twiml}");
    assert!(twiml.contains("<Enqueue>"), "{twiml}");
    let call_id = count(
        &app,
        "SELECT id AS n FROM calls WHERE call_id = 'CAkeypad1'",
    )
    .await;
    let (s, b) = app
        .post(&format!("/api/calls/{call_id}/connect"), &agent, json!({}))
        .await;
    assert!(s.is_success(), "{b}");
    // The connecting <Dial> names the survey as its action.
    let reqs = fake.wait_for(1).await;
    let connect = reqs
        .iter()
        .find(|r| r.resource.starts_with("Calls/CAkeypad1"))
        .expect("a redirect");
    let dial = connect.field("Twiml").unwrap();
    assert!(
        dial.contains(&format!(
            "action=\"{}/webhooks/twilio/voice/survey\"",
            crate::twilio_fake::PUBLIC_URL
        )),
        "{dial}"
    );

    // The agent hangs up: the caller is asked for a digit, in the number's language.
    let (s, ask) = post_signed(
        &app,
        "/webhooks/twilio/voice/survey",
        &[("CallSid", "CAkeypad1"), ("DialCallStatus", "completed")],
    )
    .await;
    assert_eq!(s, 200, "{ask}");
    assert!(ask.contains("<Gather numDigits=\"1\""), "{ask}");
    assert!(ask.contains("language=\"zh-CN\""), "{ask}");
    // A forged request is refused and records nothing.
    let (s, _) = crate::twilio_fake::post_signed_with(
        &app,
        "wrong-token",
        "/webhooks/twilio/voice/survey",
        &[("CallSid", "CAkeypad1"), ("Digits", "1")],
    )
    .await;
    assert_eq!(s, 403);
    // A digit outside 1–5 is asked again; then 4 is recorded.
    let (_, again) = post_signed(
        &app,
        "/webhooks/twilio/voice/survey",
        &[("CallSid", "CAkeypad1"), ("Digits", "9")],
    )
    .await;
    assert!(again.contains("<Gather"), "{again}");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM surveys").await, 0);
    let (s, bye) = post_signed(
        &app,
        "/webhooks/twilio/voice/survey",
        &[("CallSid", "CAkeypad1"), ("Digits", "4")],
    )
    .await;
    assert_eq!(s, 200);
    assert!(bye.contains("<Hangup/>"), "{bye}");
    let ticket = count(
        &app,
        "SELECT ticket_id AS n FROM calls WHERE call_id = 'CAkeypad1'",
    )
    .await;
    let v = ticket_json(&app, ticket).await;
    assert_eq!(v["survey"]["score"], 4, "{v}");
    assert_eq!(v["survey"]["via"], "keypad");
    assert_eq!(v["survey"]["channel"], "voice");
    // The ticket, once resolved, gets no second survey.
    set_status(&app, ticket, "resolved").await;
    app.state.clock.advance(2 * 60 * MINUTE);
    assert_eq!(send_due(&app).await, 0);

    // A caller who was never connected is not asked.
    let (_, none) = post_signed(
        &app,
        "/webhooks/twilio/voice/survey",
        &[("CallSid", "CAkeypad1"), ("DialCallStatus", "no-answer")],
    )
    .await;
    assert!(
        none.contains("<Hangup/>") && !none.contains("<Gather"),
        "{none}"
    );
}

/// Two nodes on PostgreSQL running the sending job at the same time send each survey once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_never_send_a_survey_twice() {
    let pg = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"));
    if !pg {
        eprintln!("skipped: several nodes need PostgreSQL (set TEST_DATABASE_URL)");
        return;
    }
    let a = TestApp::spawn().await;
    let b = a.spawn_node(|_| {}).await;
    let q = a.queue("Both").await;
    surveys_on(&a, q, 0, false).await;
    let mut tickets = Vec::new();
    for i in 0..20 {
        let c = a
            .customer(&format!("N{i}"), &[("email", &format!("n{i}@example.com"))])
            .await;
        let t = ticket(&a, "email", q, c, &[]).await;
        set_status(&a, t, "resolved").await;
        tickets.push(t);
    }
    let (x, y) = tokio::join!(send_due(&a), send_due(&b));
    eprintln!("node a sent {x}, node b sent {y}");
    // The leaders' own passes may have sent some meanwhile; either way each ticket once.
    send_due(&a).await;
    assert_eq!(
        count(
            &a,
            "SELECT COUNT(*) AS n FROM surveys WHERE sent_at IS NOT NULL"
        )
        .await,
        20
    );
    assert_eq!(
        count(
            &a,
            "SELECT COUNT(*) AS n FROM outbox WHERE payload LIKE '%/survey/%'"
        )
        .await,
        20
    );
}
