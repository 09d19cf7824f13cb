//! The HTML of a message: sanitized once when it arrives (the stored copy keeps remote image
//! addresses, so nothing the sender wrote is lost), and rewritten each time it is shown: remote
//! content (http/https/relative image sources, CSS `url()`) is blocked unless the agent asked to
//! load it, and `cid:` images point at the message's own attachments. Pure functions (ammonia).
//!
//! Blocking happens here, on the server, when the HTML is served: every client gets HTML that
//! cannot call a tracking pixel by default (the console cannot forget to), the mapping of
//! `cid:` to attachment ids is known only here, and the console's frame policy stays a second
//! guard, not the only one.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The rules both passes share: ammonia's defaults (no scripts, handlers, forms, frames or
/// styles), `cid:` allowed as an image source, and the text of `<title>`, `<style>` and
/// `<script>` dropped with the element (a title is the document's name, not its body).
fn builder() -> ammonia::Builder<'static> {
    let mut b = ammonia::Builder::default();
    b.add_url_schemes(["cid"]).add_clean_content_tags(["title"]);
    b
}

/// Sanitizes HTML as it arrives, for storage.
pub fn sanitize(html: &str) -> String {
    builder().clean(html).to_string()
}

/// HTML ready to show.
#[derive(Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[schemars(rename = "InteractionHtml")]
pub struct Shown {
    pub html: String,
    /// How many remote references were removed (0 when `load_remote`): the console offers
    /// "load images" when there are any.
    pub remote_content: usize,
}

/// Attributes whose URL the browser fetches on its own when the HTML is shown.
const FETCHED: &[&str] = &["src", "srcset", "background", "poster", "lowsrc", "dynsrc"];

/// Rewrites stored (already sanitized) HTML for display. `cids` maps a Content-ID (lowercase,
/// without angle brackets) to the URL that serves that part; unknown `cid:` sources are
/// removed. Remote sources stay only when `load_remote`; relative ones never do (they would
/// point into Hotline itself).
pub fn display(stored: &str, cids: HashMap<String, String>, load_remote: bool) -> Shown {
    let removed = Arc::new(AtomicUsize::new(0));
    let counter = removed.clone();
    let mut b = builder();
    b.attribute_filter(move |_element, attribute, value| {
        let lower = value.trim().to_ascii_lowercase();
        if FETCHED.contains(&attribute) {
            if let Some(cid) = lower.strip_prefix("cid:") {
                let cid = percent_encoding::percent_decode_str(cid).decode_utf8_lossy();
                let cid = cid.trim_matches(|c| c == '<' || c == '>');
                return cids.get(cid).map(|url| url.clone().into());
            }
            let remote = ["http://", "https://", "//"]
                .iter()
                .any(|p| lower.starts_with(p));
            if remote && load_remote {
                return Some(value.into());
            }
            counter.fetch_add(usize::from(remote), Ordering::Relaxed);
            return None;
        }
        if attribute == "style" && lower.contains("url(") && !load_remote {
            counter.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(value.into())
    });
    let html = b.clean(stored).to_string();
    Shown {
        html,
        remote_content: removed.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &str = r#"<html><head><title>Secret campaign name</title>
        <style>body { background: url(https://tracker.example/bg.png) }</style></head>
        <body><p>Hello <img src="https://tracker.example/open.gif?u=42" width="1" height="1">
        <img src="cid:logo%40example.com"><img src="/api/users"> <img src="//cdn.example/x.png">
        <img src="cid:missing@x"></p><script>alert(1)</script></body></html>"#;

    #[test]
    fn arriving_html_is_sanitized_without_its_title() {
        let s = sanitize(MAIL);
        assert!(!s.contains("Secret campaign"), "{s}");
        assert!(!s.contains("script") && !s.contains("alert") && !s.contains("background"));
        // The stored copy keeps what the sender wrote, for "load images".
        assert!(s.contains("https://tracker.example/open.gif?u=42"));
        assert!(s.contains("cid:logo%40example.com"));
    }

    #[test]
    fn remote_content_is_blocked_and_inline_images_served_from_attachments() {
        let stored = sanitize(MAIL);
        let cids = HashMap::from([("logo@example.com".into(), "/api/attachments/7".into())]);
        let shown = display(&stored, cids.clone(), false);
        assert!(!shown.html.contains("tracker.example"), "{}", shown.html);
        assert!(!shown.html.contains("cdn.example") && !shown.html.contains("/api/users"));
        assert!(
            shown.html.contains(r#"<img src="/api/attachments/7">"#),
            "{}",
            shown.html
        );
        assert!(
            !shown.html.contains("cid:"),
            "an unknown cid is removed: {}",
            shown.html
        );
        assert!(shown.html.contains("Hello"));
        assert_eq!(shown.remote_content, 2);

        let loaded = display(&stored, cids, true);
        assert!(
            loaded
                .html
                .contains("https://tracker.example/open.gif?u=42")
        );
        assert!(loaded.html.contains("//cdn.example/x.png"));
        assert!(loaded.html.contains("/api/attachments/7") && !loaded.html.contains("/api/users"));
        assert_eq!(loaded.remote_content, 0);
    }

    #[test]
    fn css_urls_never_reach_the_display() {
        let shown = display(
            r#"<div style="background-image: url('https://t.example/p.gif')">x</div>"#,
            HashMap::new(),
            false,
        );
        assert!(!shown.html.contains("t.example"), "{}", shown.html);
    }
}
