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
    if user.must_change_password && !allowed_before_password_change(&req, user.id) {
        return AppError::PasswordChangeRequired.into_response();
    }
    req.extensions_mut().insert(user);
    next.run(req).await
}

/// After an admin's password reset only these work: who am I, sign out, and the change of one's
/// own password (the handler checks the body: `auth::change_user`).
fn allowed_before_password_change(req: &Request, user_id: i64) -> bool {
    let (method, path) = (req.method().as_str(), req.uri().path());
    matches!(
        (method, path),
        ("GET", "/api/auth/me") | ("POST", "/api/auth/logout")
    ) || (method == "PATCH" && path == format!("/api/users/{user_id}"))
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

/// The `ETag` of a versioned record (tickets, customers): its version, quoted (`"7"`).
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// `If-Match` of a write to a versioned record: `Some(version)` when the client names the
/// version it read (`"7"`, also weak `W/"7"` or bare `7`); `None` when the header is absent or
/// `*` (then the write applies to whatever is current). Anything else is a 400 naming the
/// header: a client that meant to guard its write must not have it silently unguarded.
pub struct IfMatch(pub Option<i64>);

impl IfMatch {
    pub fn parse(value: &str) -> Result<Option<i64>, AppError> {
        let v = value.trim();
        if v == "*" {
            return Ok(None);
        }
        let v = v.strip_prefix("W/").unwrap_or(v);
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        v.parse::<i64>().map(Some).map_err(|_| {
            AppError::validation(
                "If-Match",
                "If-Match must be the ETag of the record as read (e.g. \"3\")",
            )
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get(axum::http::header::IF_MATCH) {
            None => Ok(IfMatch(None)),
            Some(v) => {
                let text = v
                    .to_str()
                    .map_err(|_| AppError::validation("If-Match", "If-Match must be an ETag"))?;
                Ok(IfMatch(IfMatch::parse(text)?))
            }
        }
    }
}

/// A JSON answer with the `ETag` of the record's version.
pub fn with_etag<T: serde::Serialize>(version: i64, body: T) -> Response {
    let mut res = axum::Json(body).into_response();
    if let Ok(v) = etag(version).parse() {
        res.headers_mut().insert(axum::http::header::ETAG, v);
    }
    res
}

/// `#[serde(default, deserialize_with = "nullable")]` on an `Option<Option<T>>` field that may
/// be set to null: absent is `None` (unchanged), null is `Some(None)` (cleared).
pub fn nullable<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_forms() {
        assert_eq!(IfMatch::parse("\"7\"").unwrap(), Some(7));
        assert_eq!(IfMatch::parse("W/\"7\"").unwrap(), Some(7));
        assert_eq!(IfMatch::parse(" 12 ").unwrap(), Some(12));
        assert_eq!(IfMatch::parse("*").unwrap(), None);
        assert!(IfMatch::parse("\"abc\"").is_err());
        assert!(IfMatch::parse("\"1\", \"2\"").is_err());
        assert_eq!(etag(3), "\"3\"");
    }
}
