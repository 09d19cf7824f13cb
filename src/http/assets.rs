//! The web console's files from `web/`: embedded in release builds, read from disk in debug.

use crate::error::AppError;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Web;

/// Serves `web/` for any path no route claimed; `/` is `index.html`. Unknown API paths get the
/// JSON 404, so scripts never receive HTML by mistake.
pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") || path.starts_with("webhooks/") {
        return AppError::NotFound("route").into_response();
    }
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    };
    match Web::get(&path) {
        Some(file) => {
            let mime = mime_guess::from_path(&path).first_or_octet_stream();
            (
                [
                    (header::CONTENT_TYPE, mime.as_ref().to_string()),
                    (header::CACHE_CONTROL, "no-cache".to_string()),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                ],
                file.data.into_owned(),
            )
                .into_response()
        }
        None => AppError::NotFound("file").into_response(),
    }
}
