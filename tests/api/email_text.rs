//! Mail text agents can read, delivered over SMTP (issue #13 items 3, 6, 8): NUL never reaches
//! stored text and the mail becomes a ticket on both backends; a failing mail is quarantined
//! with its real cause and retrying it never answers 500; a parse over its time budget is
//! quarantined; duplicates are the same message only, and visible; the inbound list pages.

use crate::email_support::*;
use crate::support::TestApp;
use serde_json::Value;
use sqlx::Row;

/// (subject, body, meta) of an interaction, read from the database.
async fn interaction(app: &TestApp, id: i64) -> (String, String, Value) {
    let r = sqlx::query("SELECT subject, body, meta FROM interactions WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let meta: String = r.try_get("meta").unwrap();
    (
        r.try_get("subject").unwrap(),
        r.try_get("body").unwrap(),
        serde_json::from_str(&meta).unwrap(),
    )
}

async fn inbound_row(app: &TestApp, id: i64) -> Value {
    let (status, list) = app
        .get(
            &format!("/api/email/inbound?before_id={}&limit=1", id + 1),
            &app.admin_token,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let row = list[0].clone();
    assert_eq!(row["id"], id, "{list}");
    row
}

#[tokio::test]
async fn nul_characters_never_reach_stored_text() {
    let app = spawn_mail(|_| {}).await;
    let addr = smtp_addr(&app);
    // NUL in a header, in the text and in an inline binary part wrongly labelled text.
    let raw = b"From: \"Zero\0Name\" <nul@example.com>\r\nTo: support@localhost\r\n\
        Subject: NUL\0 here\r\nMessage-ID: <nul-1@example.com>\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\r\nHello\0 there\r\n--b\r\n\
        Content-Type: text/plain\r\nContent-Disposition: inline\r\n\r\n\
        \x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\r\n--b--\r\n";
    let r = deliver(addr, "nul@example.com", "support@localhost", raw).await;
    assert!(r.starts_with("250"), "{r}");
    let (status, _, interaction_id) = wait_processed(&app, queued_id(&r)).await;
    assert_eq!(status, "processed");
    let (subject, body, meta) = interaction(&app, interaction_id.unwrap()).await;
    assert_eq!(subject, "NUL here");
    assert_eq!(body, "Hello there");
    assert!(!meta.to_string().contains("\\u0000"), "{meta}");
    assert_eq!(meta["attachments"].as_array().unwrap().len(), 1, "{meta}");
    // The raw bytes stay as they came.
    let raw_back = app
        .http
        .get(app.url(&format!("/api/email/inbound/{}/raw", queued_id(&r))))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(raw_back.windows(6).any(|w| w == b"Hello\0"));
}

#[tokio::test]
async fn a_failing_mail_names_its_cause_and_retry_never_answers_500() {
    let app = spawn_mail(|_| {}).await;
    // Attachments cannot be written: the folder is a file.
    std::fs::write(app.config.data_dir.join("attachments"), b"in the way").unwrap();
    let raw = b"From: a@example.com\r\nTo: support@localhost\r\nSubject: with file\r\n\
        Message-ID: <fail-1@example.com>\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
        Content-Type: text/plain\r\n\r\nsee file\r\n--b\r\n\
        Content-Type: application/pdf; name=a.pdf\r\n\r\n%PDF-1\r\n--b--\r\n";
    let r = deliver(smtp_addr(&app), "a@example.com", "support@localhost", raw).await;
    let id = queued_id(&r);
    for _ in 0..2 {
        let _ = hotline::channels::email::receive::process(&app.state, id).await;
    }
    let row = inbound_row(&app, id).await;
    assert_eq!(row["status"], "quarantined", "{row}");
    let error = row["error"].as_str().unwrap();
    assert_ne!(error, "internal error");
    assert!(error.contains("os error"), "{error}");
    let (status, body) = app
        .post(
            &format!("/api/email/inbound/{id}/retry"),
            &app.admin_token,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "received", "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("os error"),
        "{body}"
    );
}

#[tokio::test]
async fn a_mail_over_its_parse_budget_is_quarantined_with_that_reason() {
    let app = spawn_mail(|c| c.mail_parse_budget_ms = 1).await;
    let mut html = String::from("<html><body>");
    for i in 0..40_000 {
        html.push_str(&format!(
            "<p><b>paragraph</b> {i} <a href=\"https://x.test/{i}\">x</a></p>\n"
        ));
    }
    html.push_str("</body></html>");
    let raw = format!(
        "From: a@example.com\r\nTo: support@localhost\r\nSubject: big\r\n\
         Message-ID: <big-1@example.com>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
    );
    let r = deliver(
        smtp_addr(&app),
        "a@example.com",
        "support@localhost",
        raw.as_bytes(),
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    let (status, _, _) = wait_processed(&app, queued_id(&r)).await;
    assert_eq!(status, "quarantined");
    let row = inbound_row(&app, queued_id(&r)).await;
    assert!(row["error"].as_str().unwrap().contains("budget"), "{row}");
}

fn invoice(message_id: Option<&str>, received: &str, pdf: &str) -> Vec<u8> {
    let id = message_id
        .map(|m| format!("Message-ID: <{m}>\r\n"))
        .unwrap_or_default();
    format!(
        "{received}From: billing@example.com\r\nTo: support@localhost\r\nSubject: Invoice\r\n{id}\
         Date: Mon, 06 Jan 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nPlease find the invoice attached.\r\n--b\r\n\
         Content-Type: application/pdf; name=invoice.pdf\r\n\r\n{pdf}\r\n--b--\r\n"
    )
    .into_bytes()
}

async fn delivered(app: &TestApp, raw: &[u8]) -> (i64, String, Option<i64>) {
    let r = deliver(
        smtp_addr(app),
        "billing@example.com",
        "support@localhost",
        raw,
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    let id = queued_id(&r);
    let (status, _, interaction) = wait_processed(app, id).await;
    (id, status, interaction)
}

#[tokio::test]
async fn duplicates_are_the_same_message_only_and_stay_visible() {
    let app = spawn_mail(|_| {}).await;
    // No Message-ID, same From, Date, Subject and text, different PDFs: two messages.
    let (_, _, a) = delivered(&app, &invoice(None, "", "%PDF-1 first")).await;
    let (_, _, b) = delivered(&app, &invoice(None, "", "%PDF-1 second")).await;
    assert_ne!(a, b, "different attachments are different mails");
    // A reused Message-ID with other content: a message of its own, marked.
    let (_, _, c) = delivered(&app, &invoice(Some("inv@example.com"), "", "%PDF-1 c")).await;
    let (_, _, d) = delivered(&app, &invoice(Some("inv@example.com"), "", "%PDF-1 d")).await;
    assert_ne!(c, d);
    let (_, _, meta) = interaction(&app, d.unwrap()).await;
    assert_eq!(meta["reused_message_id"], true, "{meta}");
    // The same message again (an MTA's retry; a copy fetched by IMAP has other trace headers)
    // collapses, and the ticket shows it.
    let retry = invoice(
        Some("inv@example.com"),
        "Received: from mx.test\r\n",
        "%PDF-1 d",
    );
    let (dup_id, status, e) = delivered(&app, &retry).await;
    assert_eq!(status, "processed");
    assert_eq!(e, d);
    let (_, _, meta) = interaction(&app, d.unwrap()).await;
    assert_eq!(meta["duplicates"], serde_json::json!([dup_id]), "{meta}");
    let row = inbound_row(&app, dup_id).await;
    assert_eq!(row["interaction_id"], d.unwrap(), "{row}");
    assert_eq!(row["error"], "duplicate", "{row}");
    let (again_id, _, _) = delivered(&app, &invoice(None, "", "%PDF-1 first")).await;
    let (_, _, meta) = interaction(&app, a.unwrap()).await;
    assert_eq!(meta["duplicates"], serde_json::json!([again_id]), "{meta}");
}

#[tokio::test]
async fn the_inbound_list_pages_past_any_cap() {
    let app = spawn_mail(|_| {}).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let raw = mail(
            "p@example.com",
            "page",
            &format!("page-{i}@example.com"),
            "",
            "x",
        );
        let r = deliver(smtp_addr(&app), "p@example.com", "support@localhost", &raw).await;
        ids.push(queued_id(&r));
    }
    let mut seen = Vec::new();
    let mut before = String::new();
    loop {
        let (status, page) = app
            .get(
                &format!("/api/email/inbound?limit=2{before}"),
                &app.admin_token,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        assert!(seen.len() < ids.len(), "paging does not move on: {seen:?}");
        seen.extend(page.iter().map(|m| m["id"].as_i64().unwrap()));
        before = format!("&before_id={}", seen.last().unwrap());
    }
    ids.reverse();
    assert_eq!(seen, ids);
}
