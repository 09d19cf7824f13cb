//! The surface (issue 14, holes 3 and 11): websockets close when their session ends, the pages'
//! security headers, the /ws Origin check, the metrics token, JSON bodies for 413 and 414.

use crate::realtime::Ws;
use crate::support::{TestApp, assert_error};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Frames until the server closes the socket: the close frame's code and reason (None when the
/// connection just ended or nothing came within `timeout`) and the JSON frames before it.
async fn until_closed(ws: &mut Ws, timeout: Duration) -> (Option<(u16, String)>, Vec<Value>) {
    let end = Instant::now() + timeout;
    let mut frames = Vec::new();
    loop {
        let Some(left) = end.checked_duration_since(Instant::now()) else {
            return (None, frames);
        };
        match tokio::time::timeout(left, ws.stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                frames.push(serde_json::from_str(&t).unwrap_or(Value::Null))
            }
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                return (Some((u16::from(f.code), f.reason.to_string())), frames);
            }
            Ok(Some(Ok(Message::Close(None)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                return (None, frames);
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

fn kinds(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| format!("{}/{}", f["type"], f["kind"]))
        .collect()
}

/// An agent's console that sees `customer.created` (the control: before its session ends).
async fn console_seeing_customers(app: &TestApp, login: &str) -> (i64, String, Ws) {
    let (id, token) = app.user(login, "agent").await;
    let mut ws = Ws::connect(app, &token).await;
    app.customer("Before", &[("email", "before@example.cn")])
        .await;
    assert!(
        ws.event("customer.created", Duration::from_secs(5))
            .await
            .is_some(),
        "the console sees customer.created while signed in"
    );
    (id, token, ws)
}

/// After the session ends: a customer is created, and the console must be closed with
/// `4001 session_ended` within 5 s without seeing it.
async fn assert_closed_without_new_events(app: &TestApp, ws: &mut Ws, what: &str) {
    app.customer("After", &[("email", "after@example.cn")])
        .await;
    let (close, frames) = until_closed(ws, Duration::from_secs(5)).await;
    assert_eq!(
        close,
        Some((4001, "session_ended".to_string())),
        "{what}: the socket closes with session_ended (frames: {:?})",
        kinds(&frames)
    );
    assert!(
        !frames.iter().any(|f| f["kind"] == "customer.created"),
        "{what}: customer.created reached an ended session: {:?}",
        kinds(&frames)
    );
}

#[tokio::test]
async fn sign_out_closes_the_console_with_session_ended() {
    let app = TestApp::spawn().await;
    let (_, token, mut ws) = console_seeing_customers(&app, "ann").await;
    let (status, _) = app
        .call(Method::POST, "/api/auth/logout", Some(&token), None)
        .await;
    assert_eq!(status, 204);
    assert_closed_without_new_events(&app, &mut ws, "sign-out").await;
}

#[tokio::test]
async fn deactivation_closes_the_console_with_session_ended() {
    let app = TestApp::spawn().await;
    let (id, _, mut ws) = console_seeing_customers(&app, "bob").await;
    let (status, body) = app
        .patch(
            &format!("/api/users/{id}"),
            &app.admin_token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_closed_without_new_events(&app, &mut ws, "deactivation").await;
}

/// The token row goes as another node's sign-out, a password or role change, or a revocation
/// makes it go: the periodic check (one query per node) closes the console within seconds.
#[tokio::test]
async fn a_token_gone_from_the_database_closes_the_console_within_seconds() {
    let app = TestApp::spawn().await;
    let (_, token, mut ws) = console_seeing_customers(&app, "cat").await;
    hotline::auth::store::delete_token(&app.state.db, &hotline::auth::token_hash(&token))
        .await
        .unwrap();
    let t0 = Instant::now();
    let (close, frames) = until_closed(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(
        close,
        Some((4001, "session_ended".to_string())),
        "{:?}",
        kinds(&frames)
    );
    eprintln!("closed {:?} after the token went", t0.elapsed());
}

/// A command on a socket whose token is no longer valid runs nothing: no ack, the socket closes.
#[tokio::test]
async fn a_command_after_the_session_ended_is_refused() {
    let app = TestApp::spawn().await;
    let (_, token, mut ws) = console_seeing_customers(&app, "dan").await;
    let ack = ws.command(json!({"type": "ping", "id": "before"})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    // As another node's sign-out: the token row goes, this node is not told.
    hotline::auth::store::delete_token(&app.state.db, &hotline::auth::token_hash(&token))
        .await
        .unwrap();
    ws.send(json!({"type": "set_presence", "id": "after", "state": "available", "reason": ""}))
        .await;
    let (close, frames) = until_closed(&mut ws, Duration::from_secs(5)).await;
    assert!(
        !frames.iter().any(|f| f["id"] == "after"),
        "the command was answered: {frames:?}"
    );
    assert_eq!(close, Some((4001, "session_ended".to_string())));
}

/// Two nodes (PostgreSQL): signing out on node B closes the console open on node A.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_out_on_another_node_closes_the_console() {
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        eprintln!("skipped: several nodes need PostgreSQL (set TEST_DATABASE_URL)");
        return;
    }
    let a = TestApp::spawn().await;
    let b = a.spawn_node(|_| {}).await;
    let (_, token, mut ws) = console_seeing_customers(&a, "eve").await;
    let (status, _) = b
        .call(Method::POST, "/api/auth/logout", Some(&token), None)
        .await;
    assert_eq!(status, 204);
    let (close, frames) = until_closed(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(
        close,
        Some((4001, "session_ended".to_string())),
        "{:?}",
        kinds(&frames)
    );
}

async fn headers_of(app: &TestApp, path: &str) -> reqwest::header::HeaderMap {
    let res = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.headers().clone()
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{name} missing: {h:?}"))
}

#[tokio::test]
async fn pages_send_a_strict_policy_and_the_wallboard_may_be_framed_by_its_list() {
    let app = TestApp::spawn().await;
    for path in [
        "/",
        "/portal.html",
        "/wallboard.html",
        "/components/hl-console/hl-console.js",
        "/css/app.css",
    ] {
        let h = headers_of(&app, path).await;
        let csp = header(&h, "content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(
                csp.split(';').any(|d| d.trim() == directive),
                "{path}: {directive} missing in {csp}"
            );
        }
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
        assert_eq!(header(&h, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&h, "referrer-policy"), "same-origin", "{path}");
    }
    // API answers too: no sniffing, no referrer, never framed.
    let res = app
        .http
        .get(app.url("/api/auth/me"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    let h = res.headers();
    assert_eq!(header(h, "x-content-type-options"), "nosniff");
    assert_eq!(header(h, "referrer-policy"), "same-origin");
    assert!(header(h, "content-security-policy").contains("frame-ancestors 'none'"));

    let framed = TestApp::spawn_with(|c| {
        c.wallboard_frame_ancestors = "https://tv.example.cn https://*.example.cn".into()
    })
    .await;
    let h = headers_of(&framed, "/wallboard.html").await;
    assert!(
        header(&h, "content-security-policy")
            .contains("frame-ancestors https://tv.example.cn https://*.example.cn"),
        "{h:?}"
    );
    let h = headers_of(&framed, "/").await;
    assert!(header(&h, "content-security-policy").contains("frame-ancestors 'none'"));
}

#[tokio::test]
async fn a_wallboard_frame_list_that_is_not_origins_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = hotline::config::Config {
        data_dir: dir.path().to_path_buf(),
        database_url: hotline::config::Secret(crate::support::fresh_database(dir.path()).await),
        smtp_listen: String::new(),
        wallboard_frame_ancestors: "https://tv.example.cn; script-src *".into(),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = match hotline::app::App::build(config, listener).await {
        Ok(_) => panic!("a bad frame-ancestors list was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("HOTLINE_WALLBOARD_FRAME_ANCESTORS"), "{err}");
}

/// A raw websocket upgrade with these headers: the status and the JSON body when refused.
async fn upgrade(app: &TestApp, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = app
        .http
        .get(app.url("/ws"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    if status == 101 {
        return (status, Value::Null);
    }
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn ws_refuses_a_foreign_origin_before_the_upgrade() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user("fay", "agent").await;
    let bearer = format!("Bearer {token}");
    let cookie = format!("hotline_session={token}");
    let own = app.base.clone();
    // A page on another site, with the agent's cookie or even a token: refused before 101.
    for auth in [
        ("cookie", cookie.as_str()),
        ("authorization", bearer.as_str()),
    ] {
        for origin in ["https://evil.example", "http://127.0.0.1:1", "null"] {
            let (status, body) = upgrade(&app, &[auth, ("origin", origin)]).await;
            assert_error(
                reqwest::StatusCode::from_u16(status).unwrap(),
                &body,
                403,
                "origin_refused",
            );
        }
    }
    // No Origin: a program with a bearer token is welcome, a cookie alone is not.
    let (status, body) = upgrade(&app, &[("cookie", &cookie)]).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("origin_refused"))
    );
    assert_eq!(upgrade(&app, &[("authorization", &bearer)]).await.0, 101);
    // The console's own page (PUBLIC_URL unset: the host it was opened on).
    assert_eq!(
        upgrade(&app, &[("cookie", &cookie), ("origin", &own)])
            .await
            .0,
        101
    );
    // A real client from the own origin gets hello.
    let mut req = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("origin", own.parse().unwrap());
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut s, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let hello = tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(hello.to_text().unwrap().contains("\"hello\""), "{hello}");
    let _ = s.close(None).await;

    // With HOTLINE_PUBLIC_URL set, its origin is the one.
    let public = TestApp::spawn_with(|c| c.public_url = "https://desk.example.cn/".into()).await;
    let (_, token) = public.user("gus", "agent").await;
    let cookie = format!("hotline_session={token}");
    let ok = upgrade(
        &public,
        &[("cookie", &cookie), ("origin", "https://desk.example.cn")],
    )
    .await;
    assert_eq!(ok.0, 101);
    let other = upgrade(&public, &[("cookie", &cookie), ("origin", &public.base)]).await;
    assert_eq!(other.0, 403, "{}", other.1);
}

#[tokio::test]
async fn metrics_token_closes_metrics_to_everyone_else() {
    let open = TestApp::spawn().await;
    let res = open.http.get(open.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200, "unset: public as before");

    let app =
        TestApp::spawn_with(|c| c.metrics_token = hotline::config::Secret("m-token-1".into()))
            .await;
    for auth in [None, Some("wrong"), Some("m-token-"), Some("m-token-12")] {
        let mut req = app.http.get(app.url("/metrics"));
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_error(status, &body, 401, "unauthenticated");
    }
    // A user's session is not the metrics token either.
    let res = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("m-token-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("hotline_"));
}

/// Sends `head` and then `body` on a raw connection (the server may answer before reading all
/// of it) and returns the status and JSON body of the answer.
async fn raw_request(app: &TestApp, head: String, body: Vec<u8>) -> (u16, Value) {
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.write_all(&body).await;
        wr
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (status, value) = loop {
        let n = tokio::time::timeout(Duration::from_secs(20), rd.read(&mut chunk))
            .await
            .expect("an answer")
            .unwrap_or(0);
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let status: u16 = head[9..12].parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if rest.len() >= len || n == 0 {
                break (status, serde_json::from_str(rest).unwrap_or(Value::Null));
            }
        }
        assert!(n > 0, "connection closed before an answer: {text}");
    };
    writer.abort();
    (status, value)
}

#[tokio::test]
async fn oversized_bodies_and_uris_get_the_json_error_body() {
    let app = TestApp::spawn().await;
    let auth = format!("Bearer {}", app.admin_token);
    // Announced larger than any body the server takes: refused before it is read.
    let head = format!(
        "POST /api/customers HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.addr,
        40 * 1024 * 1024
    );
    let (status, body) = raw_request(&app, head, Vec::new()).await;
    assert_error(
        reqwest::StatusCode::from_u16(status).unwrap(),
        &body,
        413,
        "payload_too_large",
    );
    // A JSON body over the JSON limit: 413 too, not "malformed".
    let big = format!("{{\"display_name\": \"{}\"}}", "x".repeat(3 * 1024 * 1024)).into_bytes();
    let head = format!(
        "POST /api/customers HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        app.addr,
        big.len()
    );
    let (status, body) = raw_request(&app, head, big).await;
    assert_error(
        reqwest::StatusCode::from_u16(status).unwrap(),
        &body,
        413,
        "payload_too_large",
    );
    // A URI over 8 KiB.
    let (status, body) = app
        .get(
            &format!("/api/customers?q={}", "a".repeat(9000)),
            &app.admin_token,
        )
        .await;
    assert_error(status, &body, 414, "uri_too_long");
    let (status, _) = app
        .get(
            &format!("/api/customers?q={}", "a".repeat(7000)),
            &app.admin_token,
        )
        .await;
    assert_ne!(status, 414, "a long but allowed URI");
}

/// The console under its policy in real Chromium: signed in, its websocket opens (connect-src),
/// the ticket view's style attributes apply (style-src-attr), and nothing is reported blocked.
#[tokio::test]
async fn browser_console_works_under_its_policy() {
    use crate::browser::{browser, find, scenario, sign_in};
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    let (agent_id, _) = t.user("ina", "agent").await;
    let cid = t
        .customer("王芳", &[("email", "wang.fang@example.cn")])
        .await;
    let (status, ticket) = t
        .post(
            "/api/tickets",
            &t.admin_token,
            json!({"subject": "Policy check", "customer_id": cid, "channel": "email",
                   "assignee_id": agent_id, "body": "Hello"}),
        )
        .await;
    assert_eq!(status, 201, "{ticket}");
    let ticket_id = ticket["id"].as_i64().unwrap();
    let c = &b.client;
    let app = &t;
    scenario(
        "browser_console_works_under_its_policy",
        &b,
        || async move {
            sign_in(app, c, "ina", "password-123").await;
            c.execute(
                "window.__blocked = [];
             document.addEventListener('securitypolicyviolation',
               (e) => window.__blocked.push(e.violatedDirective + ' ' + e.blockedURI));
             location.hash = '#/ticket/' + arguments[0];",
                vec![json!(ticket_id)],
            )
            .await
            .unwrap();
            find(c, "#composer").await;
            let display = c
                .execute(
                    "return getComputedStyle(document.querySelector('#composer')).display",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(display, "grid", "the composer's style attribute applies");
            crate::browser::eventually("the console's websocket is open", || async move {
                (app.state.hub.connections() >= 1).then_some(())
            })
            .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let blocked = c.execute("return window.__blocked", vec![]).await.unwrap();
            assert_eq!(blocked, json!([]), "the policy blocked part of the console");
        },
    )
    .await;
}
