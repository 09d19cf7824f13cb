//! The web console's files from `web/`: embedded in release builds, read from disk in debug.
//! Every file goes out with the pages' Content-Security-Policy (`page_policy`).

use crate::app::AppState;
use crate::error::AppError;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Web;

/// Serves `web/` for any path no route claimed; `/` is `index.html`. Unknown API paths get the
/// JSON 404, so scripts never receive HTML by mistake.
pub async fn serve(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") || path.starts_with("webhooks/") {
        return AppError::NotFound("route").into_response();
    }
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    };
    file(&state, &headers, &path)
}

/// One file of `web/` with its type and the pages' headers (a route serving a page under
/// another path, e.g. `/survey/{token}`, uses it too).
pub fn file(state: &AppState, headers: &HeaderMap, path: &str) -> Response {
    match Web::get(path) {
        Some(file) => {
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            let frame_ancestors = if path == "wallboard.html" {
                // Checked at start (App::build); 'none' should it ever fail here.
                state
                    .config
                    .wallboard_frame_ancestors()
                    .unwrap_or_else(|_| "'none'".into())
            } else {
                "'none'".into()
            };
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            (
                [
                    (header::CONTENT_TYPE, mime.as_ref().to_string()),
                    (header::CACHE_CONTROL, "no-cache".to_string()),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                    (
                        header::CONTENT_SECURITY_POLICY,
                        page_policy(path, host, &frame_ancestors),
                    ),
                ],
                file.data.into_owned(),
            )
                .into_response()
        }
        None => AppError::NotFound("file").into_response(),
    }
}

/// The Content-Security-Policy of the console, wallboard and portal (and their files): scripts,
/// styles, fonts and requests from this origin only, no plugins, no `<base>`, forms post here,
/// framed by nobody (the wallboard: by `frame_ancestors`). What the pages need beyond that:
/// - `style-src-attr 'unsafe-inline'`: the components set a few `style="…"` attributes, and a
///   sanitized email keeps its own (style *elements* stay refused);
/// - the websocket of the page's own host, spelled out (`ws://host wss://host`) for browsers
///   whose `'self'` does not cover ws: yet;
/// - console only: images from `data:` and, for an email whose remote images the agent chose to
///   load, `http:`/`https:`. A mail is shown in a `srcdoc` frame, which inherits this policy and
///   narrows it with its own (`hl-ticket-view.js`: remote images only after "load images").
pub fn page_policy(path: &str, host: Option<&str>, frame_ancestors: &str) -> String {
    let img = if path == "index.html" {
        "'self' data: http: https:"
    } else {
        "'self' data:"
    };
    let mut connect = String::from("'self'");
    if let Some(h) = host.filter(|h| is_authority(h)) {
        connect.push_str(&format!(" ws://{h} wss://{h}"));
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         style-src-attr 'unsafe-inline'; img-src {img}; connect-src {connect}; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors {frame_ancestors}"
    )
}

/// A `Host` header that is only a host and port (nothing a policy could be extended with).
fn is_authority(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_host_header_adds_nothing_to_the_policy() {
        let p = page_policy("index.html", Some("evil; script-src *"), "'none'");
        assert!(p.contains("connect-src 'self';"), "{p}");
        assert!(!p.contains("evil"), "{p}");
        let p = page_policy("portal.html", Some("desk.example.cn:8443"), "'none'");
        assert!(
            p.contains("connect-src 'self' ws://desk.example.cn:8443 wss://desk.example.cn:8443;"),
            "{p}"
        );
        assert!(p.contains("img-src 'self' data:;"), "{p}");
    }
}
