use crate::support::{ADMIN_PASSWORD, TestApp, assert_error};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn login_sets_a_safe_cookie_and_cookie_works() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({"login": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let me = app
        .http
        .get(app.url("/api/auth/me"))
        .header("cookie", pair.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
    // After logout the session is gone.
    let out = app
        .http
        .post(app.url("/api/auth/logout"))
        .header("cookie", pair.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 204);
    let me = app
        .http
        .get(app.url("/api/auth/me"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 401);
}

#[tokio::test]
async fn wrong_password_and_rate_limit() {
    // Five free failures for one name from one address, then growing delays (1 s first):
    // during one even the right password waits (tests/api/limits.rs has the rest).
    let app = TestApp::spawn().await;
    for _ in 0..6 {
        let (s, b) = app
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"login": "admin", "password": "nope"})),
            )
            .await;
        assert_error(s, &b, 401, "bad_credentials");
    }
    let (s, b) = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"login": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_error(s, &b, 429, "rate_limited");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.login("admin", ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn bad_json_and_missing_fields() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let b: serde_json::Value = res.json().await.unwrap();
    assert_eq!(b["error"]["code"], "bad_request");
    let (s, b) = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"login": "admin"})),
        )
        .await;
    assert_error(s, &b, 400, "bad_request");
}

#[tokio::test]
async fn roles_are_enforced() {
    let app = TestApp::spawn().await;
    let (agent_id, agent) = app.user("agent1", "agent").await;
    let (_, sup) = app.user("sup1", "supervisor").await;
    // Agents cannot create users, read the audit log, or promote themselves.
    let (s, b) = app
        .post(
            "/api/users",
            &agent,
            json!({"login": "x", "display_name": "x", "role": "admin", "password": "password-123"}),
        )
        .await;
    assert_error(s, &b, 403, "forbidden");
    let (s, b) = app.get("/api/audit", &agent).await;
    assert_error(s, &b, 403, "forbidden");
    let (s, b) = app
        .patch(
            &format!("/api/users/{agent_id}"),
            &agent,
            json!({"role": "admin"}),
        )
        .await;
    assert_error(s, &b, 403, "forbidden");
    // A supervisor cannot create queues (admin) but sets members.
    let (s, b) = app.post("/api/queues", &sup, json!({"name": "Q"})).await;
    assert_error(s, &b, 403, "forbidden");
    // Agents edit their own profile.
    let (s, b) = app
        .patch(
            &format!("/api/users/{agent_id}"),
            &agent,
            json!({"display_name": "Agent One", "locale": "zh-CN"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    // Role change is audited.
    let (s, _) = app
        .patch(
            &format!("/api/users/{agent_id}"),
            &app.admin_token,
            json!({"role": "supervisor"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    let (_, audit) = app.get("/api/audit", &app.admin_token).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "user.role_change"),
        "{audit}"
    );
    // Deactivated users lose their sessions.
    let (s, _) = app
        .patch(
            &format!("/api/users/{agent_id}"),
            &app.admin_token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    let (s, _) = app.get("/api/auth/me", &agent).await;
    assert_eq!(s.as_u16(), 401);
}

#[tokio::test]
async fn api_tokens_and_duplicate_logins() {
    let app = TestApp::spawn().await;
    let (s, b) = app
        .post("/api/auth/tokens", &app.admin_token, json!({"name": "pbx"}))
        .await;
    assert_eq!(s.as_u16(), 201);
    let token = b["token"].as_str().unwrap();
    let (s, me) = app.get("/api/auth/me", token).await;
    assert_eq!((s.as_u16(), me["login"].as_str()), (200, Some("admin")));
    app.user("dup", "agent").await;
    let (s, b) = app
        .post("/api/users", &app.admin_token, json!({"login": "dup", "display_name": "d", "role": "agent", "password": "password-123"}))
        .await;
    assert_error(s, &b, 409, "conflict");
    let (s, b) = app
        .post(
            "/api/users",
            &app.admin_token,
            json!({"login": "short", "display_name": "d", "role": "agent", "password": "123"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "password");
    let (s, b) = app
        .post(
            "/api/users",
            &app.admin_token,
            json!({"login": "r", "display_name": "d", "role": "boss", "password": "password-123"}),
        )
        .await;
    assert_eq!(b["error"]["field"], "role", "{s} {b}");
}
