//! Who is calling: the session cookie or bearer token resolved to a user, and the role guard.

use super::Access;
use crate::app::AppState;
use crate::auth::{Role, User, store, token_hash};
use crate::error::AppError;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub const SESSION_COOKIE: &str = "hotline_session";

/// The token a request carries: `Authorization: Bearer …` or the session cookie.
pub fn request_token(headers: &HeaderMap) -> Option<String> {
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok())
        && let Some(t) = auth.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_string());
    }
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Resolves the caller; `Ok(None)` when the request carries no valid token.
pub async fn current_user(state: &AppState, headers: &HeaderMap) -> Result<Option<User>, AppError> {
    match request_token(headers) {
        Some(t) if !t.is_empty() && t.len() < 200 => {
            store::find_user_by_token(&state.db, &token_hash(&t)).await
        }
        _ => Ok(None),
    }
}

/// Route layer: rejects callers without the route's role, and hands the user to the handler.
pub async fn guard(
    State((state, access)): State<(AppState, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    let user = match current_user(&state, req.headers()).await {
        Ok(Some(u)) => u,
        Ok(None) => return AppError::Unauthenticated.into_response(),
        Err(e) => return e.into_response(),
    };
    let needed = match access {
        Access::Supervisor => Role::Supervisor,
        Access::Admin => Role::Admin,
        _ => Role::Agent,
    };
    if user.role < needed {
        return AppError::Forbidden.into_response();
    }
    req.extensions_mut().insert(user);
    next.run(req).await
}

/// The signed-in user of a guarded route.
pub struct AuthUser(pub User);

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<User>()
            .cloned()
            .map(AuthUser)
            .ok_or(AppError::Unauthenticated)
    }
}

/// JSON body extractor whose rejections are our `{"error":…}` shape with stable codes.
pub struct Json<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            // A body over the limit is 413, not a malformed request.
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(AppError::PayloadTooLarge)
            }
            Err(e) => Err(AppError::BadRequest(e.body_text())),
        }
    }
}

/// Query-string extractor with our error shape.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(AppError::BadRequest(e.body_text())),
        }
    }
}

/// Path extractor with our error shape.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(_) => Err(AppError::NotFound("route")),
        }
    }
}
