//! TestApp: a real Hotline server on port 0 with its own database, and typed helpers.

#![allow(dead_code)]

use hotline::app::App;
use hotline::config::{Config, Secret};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};

pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub config: Config,
    pub state: hotline::app::AppState,
    pub http: reqwest::Client,
    pub admin_token: String,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A fresh database URL: a new file for SQLite, a new database on TEST_DATABASE_URL's server.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            use sqlx::Connection;
            let name = format!(
                "hl_t_{}_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst),
                rand::random::<u32>()
            );
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .expect("TEST_DATABASE_URL reachable");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let (prefix, _) = url.rsplit_once('/').expect("database url has a path");
            format!("{prefix}/{name}")
        }
        _ => format!("sqlite://{}/hotline.db", dir.display()),
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            database_url: Secret(fresh_database(dir.path()).await),
            admin_password: Secret(ADMIN_PASSWORD.into()),
            smtp_listen: String::new(),
            db_max_connections: 8,
            ..Config::default()
        };
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app = App::build(config.clone(), listener)
            .await
            .expect("app builds");
        let addr = app.local_addr().unwrap();
        let state = app.state.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            app.serve_with_shutdown(async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        let http = reqwest::Client::builder().build().unwrap();
        let mut t = TestApp {
            addr,
            base: format!("http://{addr}"),
            config,
            state,
            http,
            admin_token: String::new(),
            _dir: dir,
            shutdown: Some(tx),
        };
        t.admin_token = t.login("admin", ADMIN_PASSWORD).await;
        t
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Signs in and returns the bearer token.
    pub async fn login(&self, login: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"login": login, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {login}: {body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// One JSON request; returns the status and the parsed body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// As admin: creates a user with `role` and returns (id, token).
    pub async fn user(&self, login: &str, role: &str) -> (i64, String) {
        let (status, body) = self
            .post(
                "/api/users",
                &self.admin_token,
                json!({"login": login, "display_name": login, "role": role, "password": "password-123"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["id"].as_i64().unwrap();
        (id, self.login(login, "password-123").await)
    }

    /// As admin: a customer with the given identities `[(kind, value)]`; returns its id.
    pub async fn customer(&self, name: &str, identities: &[(&str, &str)]) -> i64 {
        let ids: Vec<Value> = identities
            .iter()
            .map(|(k, v)| json!({"kind": k, "value": v}))
            .collect();
        let (status, body) = self
            .post(
                "/api/customers",
                &self.admin_token,
                json!({"display_name": name, "identities": ids}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().unwrap()
    }

    pub async fn queue(&self, name: &str) -> i64 {
        let (status, body) = self
            .post("/api/queues", &self.admin_token, json!({"name": name}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts an error response's status and stable code.
pub fn assert_error(status: StatusCode, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

impl TestApp {
    /// Shuts this server down (websockets get `shutdown`) and waits until its database pool,
    /// and with it any advisory lock it held, is closed.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while !self.state.db.pool.is_closed() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(self.state.db.pool.is_closed(), "server stopped");
    }

    /// Another node on this app's database (PostgreSQL) with its own settings tweaks.
    pub async fn spawn_node(&self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let url = self.config.database_url.clone();
        TestApp::spawn_with(move |c| {
            c.database_url = url;
            tweak(c);
        })
        .await
    }
}
