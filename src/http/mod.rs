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
    /// The query parameters: the fields of the type `Query` reads (`Routes::query`).
    pub query: Option<SchemaFn>,
    /// The request body; `None` until described (`Routes::body` and its kin).
    pub request: Option<Body>,
    /// The success responses, by the status the handler really returns (`Routes::returns` and
    /// its kin); empty until described.
    pub responses: Vec<(u16, Body)>,
}

/// The JSON Schema of a Rust type (`schemars::JsonSchema`), made by the document's generator.
pub type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

/// A request or response body as the OpenAPI document describes it.
#[derive(Clone, Copy, Debug)]
pub enum Body {
    /// JSON of this type's schema.
    Json(SchemaFn),
    /// Not JSON: a form, text, HTML, CSV, XML or a file, by its media type.
    Raw(&'static str),
    /// No body at all (`204 No Content`, a POST that takes nothing).
    Empty,
}

/// The route list: each `add` registers the handler behind its access guard and documents it.
///
/// The methods after an `add` describe that route's bodies for the OpenAPI document (and so for
/// the API tests, which check every JSON response against it):
///
/// ```ignore
/// r.add("POST", "/api/queues", "routing", Access::Admin, "Create a queue", post(create))
///     .body::<QueueBody>()        // the JSON request body
///     .returns::<Queue>(201)      // the status the handler really returns, and its JSON
///     .add("DELETE", "/api/voice/blocked-numbers/{id}", …)
///     .no_content()               // 204 without a body
/// ```
///
/// Also: `query::<Q>()` (the query parameters are the fields of `Q`), `no_body()` (a
/// POST/PUT/PATCH that reads no body), `body_raw(media type)` and
/// `returns_raw(status, media type)` for forms, text, HTML, CSV, XML and files,
/// `returns_empty(status)` for other bodiless answers (101 of the websocket). `returns*` may be
/// called more than once when a route answers with more than one success status.
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
            query: None,
            request: None,
            responses: Vec::new(),
        });
        self
    }

    fn last(&mut self) -> &mut Op {
        self.ops
            .last_mut()
            .expect("a route is described after its `add`")
    }

    /// The last added route reads its query string into `T`: each field is a parameter.
    pub fn query<T: schemars::JsonSchema>(mut self) -> Self {
        self.last().query = Some(T::json_schema);
        self
    }

    /// The last added route takes a JSON body of type `T`.
    pub fn body<T: schemars::JsonSchema>(mut self) -> Self {
        self.last().request = Some(Body::Json(|g| g.subschema_for::<T>()));
        self
    }

    /// The last added route takes a body that is not JSON (a form, a file), by media type.
    pub fn body_raw(mut self, media_type: &'static str) -> Self {
        self.last().request = Some(Body::Raw(media_type));
        self
    }

    /// The last added route (a POST, PUT or PATCH) reads no body.
    pub fn no_body(mut self) -> Self {
        self.last().request = Some(Body::Empty);
        self
    }

    /// The last added route answers `status` with JSON of type `T`.
    pub fn returns<T: schemars::JsonSchema>(mut self, status: u16) -> Self {
        self.last()
            .responses
            .push((status, Body::Json(|g| g.subschema_for::<T>())));
        self
    }

    /// The last added route answers `status` with a body that is not JSON, by media type.
    pub fn returns_raw(mut self, status: u16, media_type: &'static str) -> Self {
        self.last().responses.push((status, Body::Raw(media_type)));
        self
    }

    /// The last added route answers `status` without a body.
    pub fn returns_empty(mut self, status: u16) -> Self {
        self.last().responses.push((status, Body::Empty));
        self
    }

    /// The last added route answers 204 No Content.
    pub fn no_content(self) -> Self {
        self.returns_empty(204)
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
        .returns_raw(200, "text/plain")
        .add(
            "GET",
            "/readyz",
            "ops",
            Access::Public,
            "Readiness: the database answers",
            get(readyz),
        )
        .returns_raw(200, "text/plain")
        .add(
            "GET",
            "/metrics",
            "ops",
            Access::Public,
            "Prometheus metrics (Bearer HOTLINE_METRICS_TOKEN when that is set)",
            get(metrics_text),
        )
        .returns_raw(200, "text/plain")
        .add(
            "GET",
            "/api/openapi.json",
            "ops",
            Access::Public,
            "This document",
            get(openapi::serve),
        )
        .returns::<serde_json::Value>(200);
    let r = crate::auth::routes::routes(r);
    let r = crate::customers::routes::routes(r);
    let r = crate::tickets::routes::routes(r);
    let r = crate::realtime::ws::routes(r);
    let r = crate::knowledge::routes::routes(r);
    let r = crate::knowledge::learn::routes(r);
    let r = crate::channels::email::routes::routes(r);
    let r = crate::channels::voice::routes::routes(crate::channels::sms::routes::routes(r));
    let r = crate::channels::web::routes(r);
    let r = crate::system::routes(r);
    let r = crate::notifications::routes::routes(r);
    let r = crate::macros::routes::routes(r);
    let r = crate::surveys::routes::routes(r);
    let r = crate::complaints::routes::routes(r);
    let r = crate::value::routes::routes(r);
    let r = crate::webhooks::routes::routes(r);
    let r = crate::reports::routes::routes(r);
    let r = crate::import::routes::routes(r);
    let r = crate::export::routes(r);
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
    state.db.record_gauges();
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
