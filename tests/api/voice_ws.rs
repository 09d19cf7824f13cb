//! Screen pops over the real /ws (enable after the realtime branch is merged: add
//! `mod voice_ws;` to tests/api/main.rs). The ringing agent's console receives `screen_pop`
//! for their call; another agent's console does not.

use crate::support::TestApp;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, token: &str) -> Stream {
    let mut req = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut s, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connects");
    let hello = next(&mut s, Duration::from_secs(5)).await.expect("hello");
    assert_eq!(hello["type"], "hello", "{hello}");
    s
}

async fn next(s: &mut Stream, timeout: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(timeout, s.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
            Ok(Some(Ok(Message::Ping(p)))) => {
                let _ = s.send(Message::Pong(p)).await;
            }
            Ok(Some(Ok(_))) => {}
            _ => return None,
        }
    }
}

/// The first `screen_pop` event frame within `timeout`, skipping other frames.
async fn screen_pop(s: &mut Stream, timeout: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        let f = next(s, left).await?;
        if f["type"] == "event" && f["kind"] == "screen_pop" {
            return Some(f);
        }
    }
}

#[tokio::test]
async fn screen_pop_reaches_the_ringing_agents_console_only() {
    let app =
        TestApp::spawn_with(|c| c.cti_token = hotline::config::Secret("cti-secret".into())).await;
    let mut ids = Vec::new();
    for (login, ext) in [("a1", "101"), ("a2", "102")] {
        let (s, b) = app
            .post(
                "/api/users",
                &app.admin_token,
                json!({"login": login, "display_name": login,
                "role": "agent", "password": "password-123", "extension": ext}),
            )
            .await;
        assert_eq!(s.as_u16(), 201, "{b}");
        ids.push(b["id"].as_i64().unwrap());
    }
    let t1 = app.login("a1", "password-123").await;
    let t2 = app.login("a2", "password-123").await;
    let cid = app
        .customer("Zhang Wei", &[("phone", "+8613800138000")])
        .await;
    let mut ws1 = connect(&app, &t1).await;
    let mut ws2 = connect(&app, &t2).await;
    let (s, v) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/cti/cti-secret",
            None,
            Some(
                json!({"event": "newCall", "from": "13800138000", "to": "400", "direction": "in",
                "callId": "ws-1", "user": ["101"]}),
            ),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    let pop = screen_pop(&mut ws1, Duration::from_secs(5))
        .await
        .expect("a1 gets the pop");
    assert_eq!(pop["user_id"], ids[0]);
    assert_eq!(pop["payload"]["call_id"], "ws-1");
    assert_eq!(pop["payload"]["view"]["customer"]["id"], cid);
    assert!(
        screen_pop(&mut ws2, Duration::from_millis(500))
            .await
            .is_none(),
        "a2 gets no pop"
    );
}
