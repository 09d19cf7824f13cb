//! A local stand-in for Twilio's REST API (the only mock the house allows: Twilio's cloud) and
//! helpers that sign webhook requests the way Twilio does.

use crate::support::TestApp;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

pub const AUTH_TOKEN: &str = "twilio-test-token";
pub const ACCOUNT_SID: &str = "AC0123456789abcdef";
pub const PUBLIC_URL: &str = "https://hotline.example.com";

#[derive(Clone, Debug)]
pub struct Recorded {
    pub resource: String,
    pub authorization: String,
    pub form: Vec<(String, String)>,
}

impl Recorded {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
pub struct FakeTwilio {
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    /// Scripted answers, used in order; afterwards every request succeeds.
    pub script: Arc<Mutex<VecDeque<(u16, Value)>>>,
    pub base: String,
}

async fn handle(
    State(fake): State<FakeTwilio>,
    Path((_account, resource)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let n = {
        let mut reqs = fake.requests.lock().unwrap();
        reqs.push(Recorded {
            resource: resource.clone(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
            form,
        });
        reqs.len()
    };
    if let Some((status, answer)) = fake.script.lock().unwrap().pop_front() {
        return (
            axum::http::StatusCode::from_u16(status).unwrap(),
            axum::Json(answer),
        );
    }
    let prefix = if resource.starts_with("Messages") {
        "SM"
    } else {
        "CA"
    };
    (
        axum::http::StatusCode::CREATED,
        axum::Json(json!({"sid": format!("{prefix}fake{n:04}"), "status": "queued"})),
    )
}

impl FakeTwilio {
    pub async fn start() -> FakeTwilio {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut fake = FakeTwilio {
            base: format!("http://{}", listener.local_addr().unwrap()),
            ..FakeTwilio::default()
        };
        let router = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/{*resource}",
                axum::routing::post(handle),
            )
            .with_state(fake.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        fake.base = fake.base.clone();
        fake
    }

    pub fn push(&self, status: u16, answer: Value) {
        self.script.lock().unwrap().push_back((status, answer));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (polls briefly, fails after 10 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        for _ in 0..500 {
            let reqs = self.requests();
            if reqs.len() >= n {
                return reqs;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!(
            "twilio stand-in got {} requests, wanted {n}",
            self.requests().len()
        );
    }
}

/// A Hotline server whose Twilio settings point at a fresh stand-in.
pub async fn spawn_with_twilio() -> (TestApp, FakeTwilio) {
    let fake = FakeTwilio::start().await;
    let base = fake.base.clone();
    let app = TestApp::spawn_with(move |c| {
        c.twilio_auth_token = hotline::config::Secret(AUTH_TOKEN.into());
        c.twilio_account_sid = ACCOUNT_SID.into();
        c.twilio_api_base = base;
        c.public_url = PUBLIC_URL.into();
        c.twilio_sms_from = "+14155550100".into();
        c.cti_token = hotline::config::Secret("cti-secret".into());
    })
    .await;
    (app, fake)
}

pub fn pairs(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// POSTs a form to `path` signed with `token` (as Twilio would); returns status and body text.
pub async fn post_signed_with(
    app: &TestApp,
    token: &str,
    path: &str,
    params: &[(&str, &str)],
) -> (u16, String) {
    let form = pairs(params);
    let sig = hotline::channels::twilio::signature(token, &format!("{PUBLIC_URL}{path}"), &form);
    let res = app
        .http
        .post(app.url(path))
        .header("X-Twilio-Signature", sig)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter())
                .finish(),
        )
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

pub async fn post_signed(app: &TestApp, path: &str, params: &[(&str, &str)]) -> (u16, String) {
    post_signed_with(app, AUTH_TOKEN, path, params).await
}

pub async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::Row::try_get(
        &sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap(),
        "n",
    )
    .unwrap()
}

/// Polls until `check` holds (10 s at most).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}
