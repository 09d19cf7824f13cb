//! Accounts and access (issue 14): unique extensions and phone numbers, an unambiguous CTI agent
//! lookup, password changes, API tokens with an expiry, and the purge of expired ones.

use crate::support::{TestApp, assert_error};
use reqwest::Method;
use serde_json::{Value, json};

const CTI: &str = "/api/v1/cti/cti-secret";
const PASSWORD: &str = "Quiet-Harbor-Lantern-42";

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| c.cti_token = hotline::config::Secret("cti-secret".into())).await
}

/// As admin: an agent with an extension and maybe a phone; returns (id, token).
async fn agent(app: &TestApp, login: &str, extension: &str, phone: Option<&str>) -> (i64, String) {
    let (s, b) = app
        .post(
            "/api/users",
            &app.admin_token,
            json!({"login": login, "display_name": login, "role": "agent", "password": PASSWORD,
                   "extension": extension, "phone": phone}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{b}");
    (b["id"].as_i64().unwrap(), app.login(login, PASSWORD).await)
}

async fn audit(app: &TestApp, action: &str) -> Vec<Value> {
    let (_, all) = app.get("/api/audit?limit=500", &app.admin_token).await;
    all.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

/// Screen pops in the events log: the agent each one went to.
async fn pop_users(app: &TestApp) -> Vec<Option<i64>> {
    use sqlx::Row;
    sqlx::query("SELECT user_id FROM events WHERE kind = 'screen_pop' ORDER BY seq")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("user_id").unwrap())
        .collect()
}

async fn new_call(app: &TestApp, call_id: &str, user: &str) {
    let (s, v) = app
        .call(
            Method::POST,
            CTI,
            None,
            Some(
                json!({"event": "newCall", "from": "+8613900000001", "to": "4008001234",
                        "direction": "in", "callId": call_id, "user": [user]}),
            ),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
}

#[tokio::test]
async fn an_agent_cannot_take_another_agents_extension_and_numbers_are_unique() {
    let app = spawn().await;
    let (a1, _) = agent(&app, "a1", "101", Some("+86 138 1111 2222")).await;
    let (a2, a2_token) = agent(&app, "a2", "102", None).await;
    // The thief: an agent setting their own extension (or phone) to another's.
    for body in [json!({"extension": "101"}), json!({"phone": "13811112222"})] {
        let (s, b) = app
            .patch(&format!("/api/users/{a2}"), &a2_token, body)
            .await;
        assert_error(s, &b, 403, "forbidden");
    }
    let (_, me) = app.get("/api/auth/me", &a2_token).await;
    assert_eq!(me["extension"], "102");
    // Not even an admin can give one extension or number (normalized) to two users.
    let (s, b) = app
        .patch(
            &format!("/api/users/{a2}"),
            &app.admin_token,
            json!({"extension": " 101 "}),
        )
        .await;
    assert_error(s, &b, 409, "conflict");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("extension"),
        "{b}"
    );
    let (s, b) = app
        .patch(
            &format!("/api/users/{a2}"),
            &app.admin_token,
            json!({"phone": "0086 138-1111-2222"}),
        )
        .await;
    assert_error(s, &b, 409, "conflict");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("phone"),
        "{b}"
    );
    let (s, b) = app
        .post(
            "/api/users",
            &app.admin_token,
            json!({"login": "a3", "display_name": "a3", "role": "agent", "password": PASSWORD,
                   "extension": "101"}),
        )
        .await;
    assert_error(s, &b, 409, "conflict");
    let (s, b) = app
        .patch(
            &format!("/api/users/{a2}"),
            &app.admin_token,
            json!({"phone": "not a number"}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "phone");
    // The admin's change is audited with from and to.
    let (s, b) = app
        .patch(
            &format!("/api/users/{a2}"),
            &app.admin_token,
            json!({"extension": "103"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    assert_eq!(b["extension"], "103");
    let updates = audit(&app, "user.update").await;
    assert!(
        updates.iter().any(|e| e["target"] == format!("user:{a2}")
            && e["detail"]["extension"] == json!({"from": "102", "to": "103"})),
        "{updates:?}"
    );
    // Freed, the old extension can be given to someone else; the owner keeps theirs.
    let (s, b) = app
        .patch(
            &format!("/api/users/{a1}"),
            &app.admin_token,
            json!({"extension": "101", "display_name": "Agent One"}),
        )
        .await;
    assert_eq!((s.as_u16(), &b["extension"]), (200, &json!("101")), "{b}");
}

#[tokio::test]
async fn a_cti_value_naming_two_users_pops_nobody_and_the_owner_still_gets_theirs() {
    let app = spawn().await;
    let (a1, _) = agent(&app, "a1", "101", Some("+8613811112222")).await;
    // An extension that equals another agent's login (an admin's slip, or an old row).
    let (a2, _) = agent(&app, "a2", "a1", None).await;
    new_call(&app, "ambiguous", "a1").await;
    assert_eq!(
        pop_users(&app).await,
        Vec::<Option<i64>>::new(),
        "nobody gets it"
    );
    // Each field is looked up exactly: the owner's extension, and their phone in any form.
    new_call(&app, "by-extension", "101").await;
    new_call(&app, "by-phone", "138 1111 2222").await;
    new_call(&app, "a2-login", "a2").await;
    assert_eq!(pop_users(&app).await, vec![Some(a1), Some(a1), Some(a2)]);
}

#[tokio::test]
async fn changing_ones_password_needs_the_current_one_and_ends_the_other_sessions() {
    let app = spawn().await;
    let (id, first) = agent(&app, "ana", "201", None).await;
    let second = app.login("ana", PASSWORD).await;
    let (s, b) = app
        .post("/api/auth/tokens", &second, json!({"name": "script"}))
        .await;
    assert_eq!(s.as_u16(), 201, "{b}");
    let api = b["token"].as_str().unwrap().to_string();
    let me = format!("/api/users/{id}");
    let new = "Copper-Meadow-Signal-77";
    for body in [
        json!({"password": new}),
        json!({"password": new, "current_password": "wrong-password-9"}),
    ] {
        let (s, b) = app.patch(&me, &first, body).await;
        assert_error(s, &b, 400, "validation_failed");
        assert_eq!(b["error"]["field"], "current_password");
    }
    // Still the old password after the refusals.
    app.login("ana", PASSWORD).await;
    let (s, b) = app
        .patch(
            &me,
            &first,
            json!({"password": new, "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    assert_eq!(b["must_change_password"], false);
    // The session that made the change stays; every other session and API token ends.
    assert_eq!(app.get("/api/auth/me", &first).await.0.as_u16(), 200);
    assert_eq!(app.get("/api/auth/me", &second).await.0.as_u16(), 401);
    assert_eq!(app.get("/api/auth/me", &api).await.0.as_u16(), 401);
    let (s, _) = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"login": "ana", "password": PASSWORD})),
        )
        .await;
    assert_eq!(s.as_u16(), 401);
    app.login("ana", new).await;
    let updates = audit(&app, "user.update").await;
    assert!(
        updates
            .iter()
            .any(|e| e["target"] == format!("user:{id}") && e["detail"]["password"] == "changed"),
        "{updates:?}"
    );
}

#[tokio::test]
async fn an_admin_reset_forces_a_change_at_next_sign_in() {
    let app = spawn().await;
    let (id, old) = agent(&app, "bo", "202", None).await;
    let me = format!("/api/users/{id}");
    let reset = "Amber-Falcon-Orchard-31";
    let (s, b) = app
        .patch(&me, &app.admin_token, json!({"password": reset}))
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    assert_eq!(app.get("/api/auth/me", &old).await.0.as_u16(), 401);
    // The admin's own session is untouched.
    assert_eq!(
        app.get("/api/auth/me", &app.admin_token).await.0.as_u16(),
        200
    );

    let (s, b) = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"login": "bo", "password": reset})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    assert_eq!(b["must_change_password"], true, "{b}");
    let token = b["token"].as_str().unwrap().to_string();
    let (s, b) = app.get("/api/auth/me", &token).await;
    assert_eq!(
        (s.as_u16(), &b["must_change_password"]),
        (200, &json!(true))
    );
    let (s, b) = app.get("/api/users", &token).await;
    assert_error(s, &b, 403, "password_change_required");
    let (s, b) = app.get("/api/tickets", &token).await;
    assert_error(s, &b, 403, "password_change_required");
    let (s, b) = app.patch(&me, &token, json!({"display_name": "Bo"})).await;
    assert_error(s, &b, 403, "password_change_required");
    // No console either: the websocket is refused before the upgrade.
    match crate::realtime::Ws::open(&app, &token).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => {
            panic!("the websocket opened for a user who must change their password: {other:?}")
        }
    }
    let chosen = "Velvet-Canyon-Ember-58";
    let (s, b) = app
        .patch(
            &me,
            &token,
            json!({"password": chosen, "current_password": reset}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    assert_eq!(b["must_change_password"], false);
    assert_eq!(app.get("/api/users", &token).await.0.as_u16(), 200);
    let (_, b) = app.get("/api/auth/me", &token).await;
    assert_eq!(b["must_change_password"], false);
    let (s, _) = app.post("/api/auth/logout", &token, json!({})).await;
    assert_eq!(s.as_u16(), 204);
}

#[tokio::test]
async fn weak_passwords_and_ones_built_from_the_login_are_refused() {
    let app = spawn().await;
    for (login, password) in [
        ("carla", "password"),
        ("carla", "qwertyuiop"),
        ("carla", "12345678910"),
        ("carla", "carla2024!"),
    ] {
        let (s, b) = app
            .post(
                "/api/users",
                &app.admin_token,
                json!({"login": login, "display_name": "Carla Gomez", "role": "agent",
                       "password": password}),
            )
            .await;
        assert_error(s, &b, 400, "validation_failed");
        assert_eq!(b["error"]["field"], "password", "{password}: {b}");
    }
    let (id, token) = agent(&app, "carla", "203", None).await;
    let (s, b) = app
        .patch(
            &format!("/api/users/{id}"),
            &token,
            json!({"password": "iloveyou1", "current_password": PASSWORD}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    assert_eq!(b["error"]["field"], "password");
}

#[tokio::test]
async fn a_role_change_or_deactivation_ends_the_users_sessions_and_tokens() {
    let app = spawn().await;
    let (id, session) = agent(&app, "dan", "204", None).await;
    let (_, b) = app
        .post("/api/auth/tokens", &session, json!({"name": "x"}))
        .await;
    let api = b["token"].as_str().unwrap().to_string();
    let (s, _) = app
        .patch(
            &format!("/api/users/{id}"),
            &app.admin_token,
            json!({"role": "supervisor"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(app.get("/api/auth/me", &session).await.0.as_u16(), 401);
    assert_eq!(app.get("/api/auth/me", &api).await.0.as_u16(), 401);
    // Signed in again (as a supervisor), then deactivated: out again.
    let session = app.login("dan", PASSWORD).await;
    let (s, _) = app
        .patch(
            &format!("/api/users/{id}"),
            &app.admin_token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(app.get("/api/auth/me", &session).await.0.as_u16(), 401);
    use sqlx::Row;
    let left: i64 = sqlx::query("SELECT COUNT(*) AS n FROM auth_tokens WHERE user_id = $1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(left, 0, "the rows are deleted, not only refused");
}

#[tokio::test]
async fn api_tokens_expire_and_can_be_listed_and_revoked() {
    let app = spawn().await;
    let (agent_id, session) = agent(&app, "eve", "205", None).await;
    let now = hotline::db::now_ms();
    let (s, b) = app
        .post("/api/auth/tokens", &session, json!({"name": "pbx"}))
        .await;
    assert_eq!(s.as_u16(), 201, "{b}");
    let (pbx_id, pbx) = (
        b["id"].as_i64().unwrap(),
        b["token"].as_str().unwrap().to_string(),
    );
    let day = 86_400_000;
    let expires = b["expires_at"].as_i64().unwrap();
    assert!((expires - (now + 90 * day)).abs() < 60_000, "90 days: {b}");
    for days in [0, 366, -1] {
        let (s, b) = app
            .post(
                "/api/auth/tokens",
                &session,
                json!({"name": "long", "expires_in_days": days}),
            )
            .await;
        assert_error(s, &b, 400, "validation_failed");
        assert_eq!(b["error"]["field"], "expires_in_days");
    }
    let (s, b) = app
        .post(
            "/api/auth/tokens",
            &session,
            json!({"name": "week", "expires_in_days": 7}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{b}");
    let week_id = b["id"].as_i64().unwrap();

    // A use is noted.
    assert_eq!(app.get("/api/auth/me", &pbx).await.0.as_u16(), 200);
    let (s, list) = app.get("/api/auth/tokens", &session).await;
    assert_eq!(s.as_u16(), 200, "{list}");
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    let pbx_row = list.iter().find(|t| t["id"] == pbx_id).unwrap();
    assert_eq!(pbx_row["name"], "pbx");
    assert_eq!(pbx_row["kind"], "api");
    assert_eq!(pbx_row["user_id"], agent_id);
    assert!(
        pbx_row["last_used_at"].as_i64().unwrap() >= now,
        "{pbx_row}"
    );
    assert!(pbx_row["created_at"].as_i64().is_some());
    assert!(
        list.iter()
            .all(|t| t.get("token").is_none() && t.get("token_hash").is_none())
    );
    // Noted at most once a minute: more requests within it write nothing.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    for _ in 0..5 {
        assert_eq!(app.get("/api/auth/me", &pbx).await.0.as_u16(), 200);
    }
    let (_, again) = app.get("/api/auth/tokens", &session).await;
    let again = again
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == pbx_id)
        .unwrap()
        .clone();
    assert_eq!(again["last_used_at"], pbx_row["last_used_at"]);

    // Sessions are listed too; an agent sees only their own, never another's.
    let (_, sessions) = app.get("/api/auth/tokens?kind=session", &session).await;
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
    assert_eq!(sessions[0]["current"], true);
    let (s, b) = app.get("/api/auth/tokens?user_id=1", &session).await;
    assert_error(s, &b, 403, "forbidden");
    let (_, b) = app
        .post(
            "/api/auth/tokens",
            &app.admin_token,
            json!({"name": "admin's"}),
        )
        .await;
    let admin_token_id = b["id"].as_i64().unwrap();
    let (s, b) = app
        .call(
            Method::DELETE,
            &format!("/api/auth/tokens/{admin_token_id}"),
            Some(&session),
            None,
        )
        .await;
    assert_error(s, &b, 404, "not_found");

    // The owner revokes one; an admin sees and ends the agent's session.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/auth/tokens/{pbx_id}"),
            Some(&session),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 204);
    assert_eq!(app.get("/api/auth/me", &pbx).await.0.as_u16(), 401);
    let (_, all) = app.get("/api/auth/tokens", &app.admin_token).await;
    let ids: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&week_id) && ids.contains(&admin_token_id) && !ids.contains(&pbx_id));
    let (_, sessions) = app
        .get(
            &format!("/api/auth/tokens?kind=session&user_id={agent_id}"),
            &app.admin_token,
        )
        .await;
    let session_id = sessions[0]["id"].as_i64().unwrap();
    assert_eq!(sessions[0]["current"], false);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/auth/tokens/{session_id}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 204);
    assert_eq!(app.get("/api/auth/me", &session).await.0.as_u16(), 401);
    assert_eq!(audit(&app, "token.create").await.len(), 3);
    let revoked = audit(&app, "token.revoke").await;
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    assert_eq!(revoked[0]["detail"]["kind"], "session");
}

#[tokio::test]
async fn the_token_lifetime_maximum_is_a_setting() {
    let app = TestApp::spawn_with(|c| c.token_max_days = 30).await;
    let (s, b) = app
        .post(
            "/api/auth/tokens",
            &app.admin_token,
            json!({"name": "x", "expires_in_days": 31}),
        )
        .await;
    assert_error(s, &b, 400, "validation_failed");
    let (s, b) = app
        .post("/api/auth/tokens", &app.admin_token, json!({"name": "x"}))
        .await;
    assert_eq!(s.as_u16(), 201, "{b}");
    let left = b["expires_at"].as_i64().unwrap() - hotline::db::now_ms();
    assert!(
        (left - 30 * 86_400_000).abs() < 60_000,
        "capped at 30 days: {b}"
    );
}

#[tokio::test]
async fn expired_sessions_and_tokens_are_purged() {
    let app = spawn().await;
    let db = &app.state.db;
    let now = hotline::db::now_ms();
    for (hash, kind, expires) in [
        ("h-old-session", "session", now - 1),
        ("h-old-api", "api", now - 86_400_000),
        ("h-live-api", "api", now + 86_400_000),
    ] {
        hotline::auth::store::insert_token(db, hash, 1, kind, "t", Some(expires))
            .await
            .unwrap();
    }
    // The server's own start-up purge may run between the inserts and this call and take some
    // of them: what counts is that exactly the expired ones are gone.
    let purged = hotline::auth::store::purge_expired_tokens(db)
        .await
        .unwrap();
    assert!(purged <= 2, "purged {purged}");
    use sqlx::Row;
    let left: Vec<String> =
        sqlx::query("SELECT token_hash FROM auth_tokens WHERE token_hash LIKE 'h-%'")
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get("token_hash").unwrap())
            .collect();
    assert_eq!(left, vec!["h-live-api".to_string()]);
    // Idempotent: every node may run it.
    assert_eq!(
        hotline::auth::store::purge_expired_tokens(db)
            .await
            .unwrap(),
        0
    );
}

/// A database from before migration 0012 with duplicate extensions and phone numbers and a
/// never-expiring token migrates: the oldest user keeps each value, the others lose it (audited).
#[tokio::test]
async fn the_migration_keeps_the_oldest_of_duplicates_and_never_fails() {
    use sqlx::Row;
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::fresh_database(dir.path()).await;
    let db = hotline::db::Db::connect(&url, 2).await.unwrap();
    let migrator = match db.backend {
        hotline::db::Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
        hotline::db::Backend::Postgres => sqlx::migrate!("migrations/postgres"),
    };
    migrator.run_to(11, &db.pool).await.unwrap();
    for (login, ext, phone) in [
        ("old", " 300", Some("+86 138 0000 0001")),
        ("new", "300 ", Some("13800000001")),
        ("other", "", Some("not a phone")),
    ] {
        sqlx::query(
            "INSERT INTO users (login, display_name, role, password_hash, extension, phone, \
             created_at) VALUES ($1, $1, 'agent', 'x', $2, $3, 1)",
        )
        .bind(login)
        .bind(ext)
        .bind(phone)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO auth_tokens (token_hash, user_id, kind, name, created_at, expires_at) \
         SELECT 'legacy', id, 'api', 'old', 1, NULL FROM users WHERE login = 'old'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    db.migrate().await.unwrap();
    let phones = hotline::customers::identity::PhoneNormalizer::new("CN").unwrap();
    hotline::auth::store::backfill_phone_norm(&db, &phones)
        .await
        .unwrap();
    // Twice: idempotent.
    hotline::auth::store::backfill_phone_norm(&db, &phones)
        .await
        .unwrap();
    let rows = sqlx::query("SELECT login, extension, phone, phone_norm FROM users ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    type Row4 = (String, Option<String>, Option<String>, Option<String>);
    let got: Vec<Row4> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("login").unwrap(),
                r.try_get("extension").unwrap(),
                r.try_get("phone").unwrap(),
                r.try_get("phone_norm").unwrap(),
            )
        })
        .collect();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        got,
        vec![
            (
                "old".into(),
                s("300"),
                s("+86 138 0000 0001"),
                s("+8613800000001")
            ),
            ("new".into(), None, None, None),
            ("other".into(), None, None, None),
        ]
    );
    let audit = sqlx::query("SELECT target, detail FROM audit_log WHERE action = 'user.update'")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let audit: Vec<(String, Value)> = audit
        .iter()
        .map(|r| {
            let d: String = r.try_get("detail").unwrap();
            (
                r.try_get("target").unwrap(),
                serde_json::from_str(&d).unwrap(),
            )
        })
        .collect();
    assert_eq!(audit.len(), 3, "{audit:?}");
    assert!(audit.iter().any(|(_, d)| d["extension"]["from"] == "300"));
    assert_eq!(
        audit
            .iter()
            .filter(|(_, d)| d["phone"]["to"].is_null() && d.get("phone").is_some())
            .count(),
        2
    );
    let t = sqlx::query("SELECT id, expires_at FROM auth_tokens WHERE token_hash = 'legacy'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(t.try_get::<i64, _>("id").unwrap() > 0);
    let expires: Option<i64> = t.try_get("expires_at").unwrap();
    assert!(expires.unwrap() > hotline::db::now_ms() + 89 * 86_400_000);
    db.pool.close().await;
}
