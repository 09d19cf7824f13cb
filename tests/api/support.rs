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
        let method_name = method.to_string();
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        let sent = body;
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let json = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let text = res.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        contract::check(
            &self.state,
            &method_name,
            path,
            sent.as_ref(),
            status,
            json,
            &value,
        );
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

/// Every JSON exchange of `TestApp::call` (and so of `get`, `post`, `patch`, …) held against the
/// OpenAPI document the server serves: a 2xx answer must have a documented status and match its
/// response schema, its JSON request body the request schema (the server took it, so the
/// document must allow it); an error must be the documented error body. A mismatch fails the
/// test with the route and the validator's errors. The document is built and each schema
/// compiled once per test process.
pub mod contract {
    use hotline::app::AppState;
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};

    struct Contract {
        doc: Value,
        /// The document's components with every object closed (`unevaluatedProperties: false`):
        /// an answer may not carry a field its schema does not name.
        closed: Value,
        /// (method, template, the template's segments)
        ops: Vec<(String, String, Vec<String>)>,
        validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
    }

    static CONTRACT: OnceLock<Contract> = OnceLock::new();

    fn contract(state: &AppState) -> &'static Contract {
        CONTRACT.get_or_init(|| {
            let routes = hotline::http::routes(state.clone());
            let doc = hotline::http::openapi::document(&routes.ops);
            let ops = routes
                .ops
                .iter()
                .map(|op| {
                    let segments = op.path.split('/').map(str::to_string).collect();
                    (op.method.to_string(), op.path.to_string(), segments)
                })
                .collect();
            let mut closed = doc["components"].clone();
            close_objects(&mut closed);
            Contract {
                doc,
                closed,
                ops,
                validators: Mutex::new(HashMap::new()),
            }
        })
    }

    fn close_objects(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if m.contains_key("properties")
                    && !m.contains_key("additionalProperties")
                    && !m.contains_key("unevaluatedProperties")
                {
                    m.insert("unevaluatedProperties".into(), Value::Bool(false));
                }
                m.values_mut().for_each(close_objects);
            }
            Value::Array(items) => items.iter_mut().for_each(close_objects),
            _ => {}
        }
    }

    /// The documented route a request went to: the template whose literal segments match
    /// most (`/api/calls/dial` before `/api/calls/{id}`).
    fn route<'a>(c: &'a Contract, method: &str, path: &str) -> Option<&'a str> {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        c.ops
            .iter()
            .filter(|(m, _, t)| {
                m == method
                    && t.len() == segments.len()
                    && t.iter()
                        .zip(&segments)
                        .all(|(t, s)| t == s || t.starts_with('{'))
            })
            .max_by_key(|(_, _, t)| t.iter().filter(|t| !t.starts_with('{')).count())
            .map(|(_, template, _)| template.as_str())
    }

    /// Validates `value` against `schema` (a schema of the document, whose `$ref`s point into
    /// its components, `closed` ones for answers), compiling it once under `key`.
    fn validate(
        c: &Contract,
        key: &str,
        schema: &Value,
        closed: bool,
        value: &Value,
    ) -> Result<(), String> {
        let validator = {
            let mut cache = c.validators.lock().unwrap_or_else(|p| p.into_inner());
            match cache.get(key) {
                Some(v) => v.clone(),
                None => {
                    let root = json!({
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "allOf": [schema],
                        "components": if closed { &c.closed } else { &c.doc["components"] },
                    });
                    let v = Arc::new(
                        jsonschema::validator_for(&root)
                            .unwrap_or_else(|e| panic!("{key}: the schema does not compile: {e}")),
                    );
                    cache.insert(key.to_string(), v.clone());
                    v
                }
            }
        };
        let errors: Vec<String> = validator
            .iter_errors(value)
            .take(5)
            .map(|e| format!("at {:?}: {e}", e.instance_path().as_str()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    pub fn check(
        state: &AppState,
        method: &str,
        path: &str,
        sent: Option<&Value>,
        status: StatusCode,
        json: bool,
        value: &Value,
    ) {
        let c = contract(state);
        // Pages and files outside the API (the fallback) are not operations.
        let Some(template) = route(c, method, path) else {
            return;
        };
        let op = &c.doc["paths"][template][method.to_lowercase()];
        let at = format!("{method} {path} (documented as {method} {template})");
        if status.is_success() {
            let responses = op["responses"].as_object().expect("responses");
            let Some(documented) = responses.get(status.as_str()) else {
                if responses.contains_key("2XX") {
                    return; // not described yet: `openapi::every_route_is_described` lists it
                }
                let listed: Vec<&String> = responses.keys().collect();
                panic!("{at} answered {status}, the OpenAPI document says {listed:?}: {value}");
            };
            let content = documented.get("content").and_then(Value::as_object);
            match (content, content.and_then(|c| c.get("application/json"))) {
                (None, _) if !value.is_null() => {
                    panic!("{at} answered {status} with a body, documented without: {value}")
                }
                (None, _) => {}
                (Some(_), Some(media)) if json => {
                    let key = format!("{method} {template} {status}");
                    if let Err(e) = validate(c, &key, &media["schema"], true, value) {
                        panic!(
                            "{at} answered {status} against its documented schema: {e}\nbody: {value}"
                        );
                    }
                }
                (Some(types), _) => {
                    let other = types.keys().any(|t| t != "application/json");
                    assert!(
                        !json && other,
                        "{at} answered {status} {} JSON, documented as {:?}: {value}",
                        if json { "with" } else { "without" },
                        types.keys().collect::<Vec<_>>()
                    );
                }
            }
            if let (Some(body), Some(schema)) = (
                sent,
                op["requestBody"]["content"]["application/json"].get("schema"),
            ) {
                let key = format!("{method} {template} request");
                if let Err(e) = validate(c, &key, schema, false, body) {
                    panic!(
                        "{at} took a request body its documented schema refuses: {e}\nbody: {body}"
                    );
                }
            }
        } else if json && (status.is_client_error() || status.is_server_error()) {
            let class = if status.is_client_error() {
                "4XX"
            } else {
                "5XX"
            };
            let schema = &op["responses"][class]["content"]["application/json"]["schema"];
            if let Err(e) = validate(c, class, schema, true, value) {
                panic!(
                    "{at} answered {status} with an undocumented error body: {e}\nbody: {value}"
                );
            }
        }
    }
}
