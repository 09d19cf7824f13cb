//! HTTP: every route listed in one place (`router`), the access guard, the OpenAPI document
//! built from the same list, health and metrics endpoints, and the static web assets.

pub mod assets;
pub mod extract;
pub mod openapi;

use crate::app::AppState;
use crate::error::AppError;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use std::time::{Duration, Instant};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

/// Who may call a route. Enforced by the guard layer and written into the OpenAPI document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, login, customer portal).
    Public,
    /// A webhook that verifies its own signature or token.
    Webhook,
    /// Any signed-in user.
    Agent,
    Supervisor,
    Admin,
}

/// One documented operation.
#[derive(Clone, Debug)]
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub access: Access,
}

/// The route list: each `add` registers the handler behind its access guard and documents it.
pub struct Routes {
    state: AppState,
    router: Router<AppState>,
    pub ops: Vec<Op>,
}

impl Routes {
    pub fn new(state: AppState) -> Self {
        Routes {
            state,
            router: Router::new(),
            ops: Vec::new(),
        }
    }

    pub fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        tag: &'static str,
        access: Access,
        summary: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Self {
        let handler = match access {
            Access::Public | Access::Webhook => handler,
            _ => handler.route_layer(middleware::from_fn_with_state(
                (self.state.clone(), access),
                extract::guard,
            )),
        };
        self.router = self.router.route(path, handler);
        self.ops.push(Op {
            method,
            path,
            summary,
            tag,
            access,
        });
        self
    }
}

/// Every route of the server.
pub fn routes(state: AppState) -> Routes {
    let r = Routes::new(state)
        .add(
            "GET",
            "/healthz",
            "ops",
            Access::Public,
            "Liveness",
            get(healthz),
        )
        .add(
            "GET",
            "/readyz",
            "ops",
            Access::Public,
            "Readiness: the database answers",
            get(readyz),
        )
        .add(
            "GET",
            "/metrics",
            "ops",
            Access::Public,
            "Prometheus metrics (Bearer HOTLINE_METRICS_TOKEN when that is set)",
            get(metrics_text),
        )
        .add(
            "GET",
            "/api/openapi.json",
            "ops",
            Access::Public,
            "This document",
            get(openapi::serve),
        );
    let r = crate::auth::routes::routes(r);
    let r = crate::customers::routes::routes(r);
    let r = crate::tickets::routes::routes(r);
    let r = crate::realtime::ws::routes(r);
    let r = crate::knowledge::routes::routes(r);
    let r = crate::channels::email::routes::routes(r);
    let r = crate::channels::voice::routes::routes(crate::channels::sms::routes::routes(r));
    let r = crate::channels::web::routes(r);
    let r = crate::system::routes(r);
    crate::routing::routes::routes(r)
}

/// Longest request target (path and query) served; longer ones get 414 with the JSON error
/// body. (hyper itself answers a bare 414 only past 64 KiB.)
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest request body; larger ones get 413 with the JSON error body.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let list = routes(state.clone());
    let ops = std::sync::Arc::new(list.ops);
    list.router
        .fallback(assets::serve)
        .layer(axum::Extension(ops))
        .layer(middleware::from_fn(record_metrics))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::from_fn(surface))
        .layer(TraceLayer::new_for_http())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .with_state(state)
}

/// The edge of every response: refuses over-long URIs, gives the 413/414 that layers and
/// extractors produce the JSON error body of the API, and sets the headers every response
/// carries (no MIME sniffing, no referrer to other sites, no framing unless the page says so).
async fn surface(req: Request, next: Next) -> Response {
    let too_long = req
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().len() > MAX_URI_BYTES);
    let mut res = if too_long {
        AppError::UriTooLong.into_response()
    } else {
        next.run(req).await
    };
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json {
        match res.status() {
            StatusCode::PAYLOAD_TOO_LARGE => res = AppError::PayloadTooLarge.into_response(),
            StatusCode::URI_TOO_LONG => res = AppError::UriTooLong.into_response(),
            _ => {}
        }
    }
    let h = res.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    res
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".into());
    let res = next.run(req).await;
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", res.status().as_u16().to_string()),
    ];
    metrics::counter!("hotline_http_requests_total", &labels).increment(1);
    metrics::histogram!("hotline_http_request_seconds", &labels[..2])
        .record(start.elapsed().as_secs_f64());
    res
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.db.ping().await {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

/// Prometheus metrics; with `metrics_token` set only for `Authorization: Bearer <token>`.
async fn metrics_text(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let wanted = state.config.metrics_token.expose();
    if !wanted.is_empty() && !bearer_matches(&headers, wanted) {
        return AppError::Unauthenticated.into_response();
    }
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// True when the request's bearer token is `wanted`. Compares SHA-256 digests in constant time
/// (`subtle`), so neither the token's bytes nor its length show in the timing.
fn bearer_matches(headers: &HeaderMap, wanted: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (
        Sha256::digest(given.trim().as_bytes()),
        Sha256::digest(wanted.as_bytes()),
    );
    a.as_slice().ct_eq(b.as_slice()).into()
}
