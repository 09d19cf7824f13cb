//! AppError: the one error type of the HTTP API, with a stable snake_case code per variant.
//! Domain and store code return it; it never carries secrets or SQL text to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    Validation { field: String, message: String },
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("wrong login or password")]
    BadCredentials,
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error(
        "change your password first (PATCH /api/users/{{id}} with password and current_password)"
    )]
    PasswordChangeRequired,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// A write with `If-Match` naming a version that is no longer current (someone else
    /// changed the record since it was read): 412 with the current version.
    #[error("changed by someone else since you loaded it (now version {current})")]
    VersionConflict { current: i64 },
    /// Answered with `Retry-After` (whole seconds, at least 1).
    #[error("too many attempts, try again later")]
    RateLimited { retry_after: std::time::Duration },
    #[error("bad signature")]
    BadSignature,
    #[error("{0}")]
    Unprocessable(String),
    #[error("the database is unavailable")]
    Unavailable,
    /// Too much work is waiting (e.g. the SQLite writer's queue is full): try again shortly.
    #[error("the server is overloaded, try again shortly")]
    Overloaded,
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("the request URI is too long")]
    UriTooLong,
    #[error("this origin may not open a websocket here")]
    OriginRefused,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation {
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(e.into())
    }

    /// The stable code clients match on. Never rename one.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation { .. } => "validation_failed",
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthenticated => "unauthenticated",
            AppError::BadCredentials => "bad_credentials",
            AppError::Forbidden => "forbidden",
            AppError::PasswordChangeRequired => "password_change_required",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::VersionConflict { .. } => "version_conflict",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::BadSignature => "bad_signature",
            AppError::Unprocessable(_) => "unprocessable",
            AppError::Unavailable => "unavailable",
            AppError::Overloaded => "overloaded",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::UriTooLong => "uri_too_long",
            AppError::OriginRefused => "origin_refused",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Validation { .. } | AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthenticated | AppError::BadCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden
            | AppError::BadSignature
            | AppError::PasswordChangeRequired
            | AppError::OriginRefused => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::VersionConflict { .. } => StatusCode::PRECONDITION_FAILED,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unavailable | AppError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UriTooLong => StatusCode::URI_TOO_LONG,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return AppError::Conflict(conflict_message(db.message()));
        }
        // PostgreSQL broke a deadlock or a serialization conflict by failing this transaction:
        // nothing of it stayed, and a write job runs once more (`Db::write`).
        if let sqlx::Error::Database(db) = &e
            && matches!(db.code().as_deref(), Some("40P01" | "40001"))
        {
            return AppError::Conflict("a concurrent change got in the way; try again".into());
        }
        match e {
            sqlx::Error::RowNotFound => AppError::NotFound("record"),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                AppError::Unavailable
            }
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(err, msg) = &e
            && err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        {
            return AppError::Conflict(conflict_message(msg.as_deref().unwrap_or_default()));
        }
        AppError::Internal(e.into())
    }
}

/// Names the thing that already exists without echoing the database's own text.
fn conflict_message(db_message: &str) -> String {
    let m = db_message.to_ascii_lowercase();
    let what = if m.contains("identit") {
        "this identity already belongs to a customer"
    } else if m.contains("login") {
        "this login is taken"
    } else if m.contains("queues") {
        "a queue with this name exists"
    } else {
        "this record already exists"
    };
    what.to_string()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(e) = &self {
            tracing::error!(error = ?e, "internal error");
        }
        let mut body = json!({"error": {"code": self.code(), "message": self.to_string()}});
        if let AppError::Validation { field, .. } = &self {
            body["error"]["field"] = json!(field);
        }
        if let AppError::VersionConflict { current } = &self {
            body["error"]["current_version"] = json!(current);
        }
        let mut response = (self.status(), Json(body)).into_response();
        match &self {
            AppError::Overloaded => {
                // Pushes back instead of queueing without end; a client may come back in a second.
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static(OVERLOADED_RETRY_AFTER_SECS),
                );
            }
            AppError::VersionConflict { current } => {
                if let Ok(v) = crate::http::extract::etag(*current).parse() {
                    response.headers_mut().insert(axum::http::header::ETAG, v);
                }
            }
            AppError::RateLimited { retry_after } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, secs.max(1).into());
            }
            _ => {}
        }
        response
    }
}

/// `Retry-After` of an `overloaded` answer, in seconds.
pub const OVERLOADED_RETRY_AFTER_SECS: &str = "1";

pub type AppResult<T> = Result<T, AppError>;

/// A trimmed, non-empty text field of at most `max` characters, or a validation error naming it.
pub fn required_text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AppError::validation(
            field,
            format!("{field} must not be empty"),
        ));
    }
    optional_text(field, v, max)
}

/// A text field of at most `max` characters (may be empty).
pub fn optional_text(field: &str, value: &str, max: usize) -> AppResult<String> {
    if value.chars().count() > max {
        return Err(AppError::validation(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    if value.contains('\0') {
        return Err(AppError::validation(
            field,
            format!("{field} contains a NUL character"),
        ));
    }
    Ok(value.to_string())
}
