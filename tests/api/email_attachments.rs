//! Attachments of mail and what an HTML mail shows: every part listed with its id in
//! `GET /api/tickets/{id}` and downloaded over HTTP (never read from disk here) by users who
//! may see the ticket; remote images blocked until "load images"; `cid:` images served from
//! the mail's own parts; the `<title>` never in the body.

use crate::email_support::*;
use crate::support::TestApp;
use reqwest::Response;
use serde_json::{Value, json};

/// A valid 1×1 PNG.
pub const PIXEL_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// A small PDF, attached to `html_mail` as 报价单.pdf.
pub const QUOTE_PDF: &str = "JVBERi0xLjQKJSBxdW90YXRpb24KJSVFT0YK";

/// An HTML mail with a title, a remote tracking pixel at `tracker`, an inline photo (`cid:`), a
/// text alternative and a PDF attachment with a Chinese name (RFC 2231).
pub fn html_mail(message_id: &str, tracker: &str) -> Vec<u8> {
    format!(
        "From: Wang Fang <wang.fang@example.cn>\r\nTo: support@localhost\r\n\
         Subject: Newsletter-style complaint\r\nMessage-ID: <{message_id}>\r\n\
         Date: Mon, 06 Jan 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n\
         --mix\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n\
         --rel\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
         --alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMy router is broken, see the photo.\r\n\
         --alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <html><head><title>Campaign 2025-Q1 internal</title></head><body>\
         <p>My router is broken, see the photo.</p>\
         <img alt=\"photo\" src=\"cid:photo.1@example.cn\">\
         <img alt=\"pixel\" width=\"1\" height=\"1\" src=\"{tracker}\"></body></html>\r\n\
         --alt--\r\n\
         --rel\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\
         Content-ID: <photo.1@example.cn>\r\nContent-Disposition: inline; filename=\"photo.png\"\r\n\r\n\
         {PIXEL_PNG}\r\n--rel--\r\n\
         --mix\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename*=UTF-8''%E6%8A%A5%E4%BB%B7%E5%8D%95.pdf\r\n\r\n\
         {QUOTE_PDF}\r\n--mix--\r\n"
    )
    .into_bytes()
}

async fn ticket(app: &TestApp, id: i64, token: &str) -> (u16, Value) {
    let (status, body) = app.get(&format!("/api/tickets/{id}"), token).await;
    (status.as_u16(), body)
}

async fn download(app: &TestApp, id: i64, token: Option<&str>) -> Response {
    let mut req = app.http.get(app.url(&format!("/api/attachments/{id}")));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

fn header(res: &Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn email_attachments_are_listed_with_ids_and_download_for_those_who_see_the_ticket() {
    let app = spawn_mail(|_| {}).await;
    let r = deliver(
        smtp_addr(&app),
        "lina@example.com",
        "support@localhost",
        &fixture("08_nested_multipart.eml"),
    )
    .await;
    let (_, t, _) = wait_processed(&app, queued_id(&r)).await;
    let t = t.unwrap();
    let (_, view) = ticket(&app, t, &app.admin_token).await;
    let files = view["interactions"][0]["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{view}");
    for f in files {
        assert!(f["id"].as_i64().is_some(), "{f}");
        assert!(f["size"].as_i64().unwrap() > 0, "{f}");
        assert_eq!(f["stored"], true);
    }
    let pdf = files.iter().find(|f| f["filename"] == "发票.pdf").unwrap();
    assert_eq!(pdf["content_type"], "application/pdf");
    let shot = files.iter().find(|f| f["filename"] == "shot.png").unwrap();
    assert_eq!(shot["inline"], true);

    let res = download(&app, pdf["id"].as_i64().unwrap(), Some(&app.admin_token)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "application/pdf");
    assert_eq!(
        header(&res, "content-disposition"),
        "attachment; filename=\"attachment.pdf\"; filename*=UTF-8''%E5%8F%91%E7%A5%A8.pdf"
    );
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-1.4"));
    assert_eq!(bytes.len() as i64, pdf["size"].as_i64().unwrap());

    // Anonymous: 401. An agent outside the ticket's queue: 404, as for the ticket itself.
    let id = pdf["id"].as_i64().unwrap();
    assert_eq!(download(&app, id, None).await.status(), 401);
    let (_, agent) = app.user("outsider", "agent").await;
    assert_eq!(download(&app, id, Some(&agent)).await.status(), 200);
    let vip = app.queue("VIP").await;
    let (s, _) = app
        .patch(
            &format!("/api/tickets/{t}"),
            &app.admin_token,
            json!({"queue_id": vip, "assignee_id": null}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(ticket(&app, t, &agent).await.0, 404);
    assert_eq!(download(&app, id, Some(&agent)).await.status(), 404);
    assert_eq!(
        download(&app, 999_999, Some(&app.admin_token))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn a_part_too_large_to_keep_is_listed_with_its_id_but_not_served() {
    let app = spawn_mail(|c| c.attachment_max_size = 40).await;
    let r = deliver(
        smtp_addr(&app),
        "lina@example.com",
        "support@localhost",
        &fixture("08_nested_multipart.eml"),
    )
    .await;
    let (_, t, _) = wait_processed(&app, queued_id(&r)).await;
    let (_, view) = ticket(&app, t.unwrap(), &app.admin_token).await;
    let files = view["interactions"][0]["attachments"].as_array().unwrap();
    let pdf = files.iter().find(|f| f["filename"] == "发票.pdf").unwrap();
    assert_eq!(pdf["stored"], false, "{pdf}");
    let shot = files.iter().find(|f| f["filename"] == "shot.png").unwrap();
    assert_eq!(shot["stored"], true, "{shot}");
    let res = download(&app, pdf["id"].as_i64().unwrap(), Some(&app.admin_token)).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn html_mail_shows_without_remote_content_and_with_its_inline_images() {
    let app = spawn_mail(|_| {}).await;
    let tracker = "https://tracker.example/open.gif?u=42";
    let r = deliver(
        smtp_addr(&app),
        "wang.fang@example.cn",
        "support@localhost",
        &html_mail("html-1@example.cn", tracker),
    )
    .await;
    let (_, t, iid) = wait_processed(&app, queued_id(&r)).await;
    let (_, view) = ticket(&app, t.unwrap(), &app.admin_token).await;
    let mail = &view["interactions"][0];
    let photo = mail["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["filename"] == "photo.png")
        .unwrap();
    let photo_url = format!("/api/attachments/{}", photo["id"]);
    let shown = mail["html"].as_str().unwrap();
    assert!(shown.contains("My router is broken"), "{shown}");
    assert!(!shown.contains("tracker.example"), "{shown}");
    assert!(
        !shown.contains("Campaign 2025"),
        "the title leaked: {shown}"
    );
    assert!(shown.contains(&format!("src=\"{photo_url}\"")), "{shown}");
    assert_eq!(mail["remote_content"], 1);
    let quote = mail["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["filename"] == "报价单.pdf")
        .unwrap_or_else(|| panic!("{mail}"));
    assert_eq!(quote["inline"], false);
    assert!(
        mail["meta"].get("html").is_none(),
        "only the shown HTML is sent"
    );
    assert!(!mail["body"].as_str().unwrap().contains("Campaign"));

    // "Load images": the same message with its remote content, on request.
    let (s, loaded) = app
        .get(
            &format!("/api/interactions/{}/html?remote=true", iid.unwrap()),
            &app.admin_token,
        )
        .await;
    assert_eq!(s, 200, "{loaded}");
    let loaded_html = loaded["html"].as_str().unwrap();
    assert!(
        loaded_html.contains("https://tracker.example/open.gif?u=42"),
        "{loaded}"
    );
    assert!(loaded_html.contains(&photo_url));
    assert_eq!(loaded["remote_content"], 0);

    // The inline image downloads through its rewritten address.
    let res = app
        .http
        .get(app.url(&photo_url))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "image/png");
    assert!(res.bytes().await.unwrap().starts_with(b"\x89PNG"));

    // A plain-text interaction has no html, and asking for it is a 404.
    let (_, note) = app
        .post(
            &format!("/api/tickets/{}/notes", t.unwrap()),
            &app.admin_token,
            json!({"body": "called back"}),
        )
        .await;
    let (s, _) = app
        .get(
            &format!("/api/interactions/{}/html", note["id"]),
            &app.admin_token,
        )
        .await;
    assert_eq!(s, 404);
}
