//! Outbound email against a real SMTP relay on loopback (aiosmtpd, tests/email_relay.py): reply
//! threading headers, acknowledgements, waiting while the relay is down, permanent failures.

use crate::email_support::*;
use serde_json::json;
use sqlx::Row;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A relay process; killed when dropped.
pub struct Relay {
    child: Child,
    pub dir: PathBuf,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn start_relay(port: u16, dir: &Path) -> Relay {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/email_relay.py");
    let child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 with aiosmtpd (pip install aiosmtpd)");
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "relay did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Relay {
        child,
        dir: dir.to_path_buf(),
    }
}

/// Waits for `n` messages in the relay's folder and returns them parsed, oldest first.
pub async fn wait_messages(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    let start = Instant::now();
    loop {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if files.len() >= n {
            files.sort_by_key(|p| {
                p.file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.parse::<u32>().ok())
            });
            return files.iter().map(|p| std::fs::read(p).unwrap()).collect();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "only {} of {n} messages relayed",
            files.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let msg = mail_parser::MessageParser::default().parse(raw)?;
    msg.header_raw(name)
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[tokio::test]
async fn replies_reach_the_customer_threaded_and_acks_go_out() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let relay = start_relay(port, tmp.path()).await;
    let app = spawn_mail(|c| {
        c.smtp_relay = hotline::config::Secret(format!("smtp://127.0.0.1:{port}"));
        c.outbox_retry_ms = 100;
    })
    .await;
    let raw = mail(
        "Carol <carol@example.com>",
        "Where is my parcel?",
        "parcel-1@example.com",
        "",
        "Order 77.",
    );
    let r = deliver(
        smtp_addr(&app),
        "carol@example.com",
        "support@localhost",
        &raw,
    )
    .await;
    let (_, ticket, _) = wait_processed(&app, queued_id(&r)).await;
    let ticket = ticket.unwrap();

    // The acknowledgement: ticket number, Auto-Submitted, threaded to the customer's mail.
    let ack = &wait_messages(&relay.dir, 1).await[0];
    let subject = header(ack, "Subject").unwrap();
    assert!(subject.contains(&format!("[#{ticket}]")), "{subject}");
    assert_eq!(
        header(ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        header(ack, "In-Reply-To").as_deref(),
        Some("<parcel-1@example.com>")
    );

    let (status, reply) = app
        .post(
            &format!("/api/tickets/{ticket}/replies"),
            &app.admin_token,
            json!({"body": "It ships tomorrow.", "html": "<p>It ships <b>tomorrow</b>.</p>"}),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    let sent = &wait_messages(&relay.dir, 2).await[1];
    let parsed = mail_parser::MessageParser::default().parse(sent).unwrap();
    assert!(parsed.subject().unwrap().contains(&format!("[#{ticket}]")));
    assert_eq!(
        parsed.to().unwrap().first().unwrap().address.as_deref(),
        Some("carol@example.com")
    );
    assert_eq!(
        header(sent, "In-Reply-To").as_deref(),
        Some("<parcel-1@example.com>")
    );
    assert!(
        header(sent, "References")
            .unwrap()
            .contains("<parcel-1@example.com>")
    );
    let our_id = parsed.message_id().unwrap().to_string();
    assert!(our_id.starts_with("hotline."), "{our_id}");
    assert_eq!(parsed.body_text(0).unwrap().trim(), "It ships tomorrow.");
    assert!(parsed.body_html(0).unwrap().contains("<b>tomorrow</b>"));

    // The interaction shows the delivery, and the customer's answer threads on our Message-ID.
    let start = Instant::now();
    loop {
        let (_, view) = app
            .get(&format!("/api/tickets/{ticket}"), &app.admin_token)
            .await;
        let out = view["interactions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["direction"] == "out")
            .cloned()
            .unwrap();
        if out["meta"]["delivery"] == "sent" {
            assert_eq!(out["external_id"], our_id.as_str());
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = mail(
        "carol@example.com",
        "Re: parcel",
        "parcel-2@example.com",
        &format!("In-Reply-To: <{our_id}>\r\n"),
        "Thanks!",
    );
    let r = deliver(
        smtp_addr(&app),
        "carol@example.com",
        "support@localhost",
        &answer,
    )
    .await;
    let (_, t, iid) = wait_processed(&app, queued_id(&r)).await;
    assert_eq!(t, Some(ticket));
    let meta: String = sqlx::query("SELECT meta FROM interactions WHERE id = $1")
        .bind(iid.unwrap())
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .try_get("meta")
        .unwrap();
    assert!(meta.contains("\"thread_reason\":\"in_reply_to\""), "{meta}");
}

#[tokio::test]
async fn with_the_relay_down_replies_wait_and_go_out_when_it_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let app = spawn_mail(|c| {
        c.smtp_relay = hotline::config::Secret(format!("smtp://127.0.0.1:{port}"));
        c.outbox_retry_ms = 100;
        c.mail_ack = false;
    })
    .await;
    let customer = app.customer("Dan", &[("email", "dan@example.com")]).await;
    let (_, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "Call me", "customer_id": customer, "channel": "email"}),
        )
        .await;
    let ticket = t["id"].as_i64().unwrap();
    let (status, _) = app
        .post(
            &format!("/api/tickets/{ticket}/replies"),
            &app.admin_token,
            json!({"body": "Hello Dan"}),
        )
        .await;
    assert_eq!(status, 201);
    // Attempts fail while nothing listens; the row waits with its error.
    let start = Instant::now();
    loop {
        let r = sqlx::query("SELECT status, attempts, last_error FROM outbox WHERE ticket_id = $1")
            .bind(ticket)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        let attempts: i64 = r.try_get("attempts").unwrap();
        // Between attempts the row is back to pending (it is 'sending' during one).
        if attempts >= 2 && r.try_get::<String, _>("status").unwrap() == "pending" {
            assert!(
                r.try_get::<Option<String>, _>("last_error")
                    .unwrap()
                    .is_some()
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no retries seen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let relay = start_relay(port, tmp.path()).await;
    let got = &wait_messages(&relay.dir, 1).await[0];
    assert!(String::from_utf8_lossy(got).contains("Hello Dan"));
    let start = Instant::now();
    loop {
        let r = sqlx::query("SELECT status FROM outbox WHERE ticket_id = $1")
            .bind(ticket)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        if r.try_get::<String, _>("status").unwrap() == "sent" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_permanent_refusal_marks_the_reply_failed_on_the_ticket() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _relay = start_relay(port, tmp.path()).await;
    let app = spawn_mail(|c| {
        c.smtp_relay = hotline::config::Secret(format!("smtp://127.0.0.1:{port}"));
        c.outbox_retry_ms = 100;
    })
    .await;
    let customer = app
        .customer("Rex", &[("email", "reject-me@example.com")])
        .await;
    let (_, t) = app
        .post(
            "/api/tickets",
            &app.admin_token,
            json!({"subject": "Bounce", "customer_id": customer, "channel": "email"}),
        )
        .await;
    let ticket = t["id"].as_i64().unwrap();
    app.post(
        &format!("/api/tickets/{ticket}/replies"),
        &app.admin_token,
        json!({"body": "hi"}),
    )
    .await;
    let start = Instant::now();
    loop {
        let (_, view) = app
            .get(&format!("/api/tickets/{ticket}"), &app.admin_token)
            .await;
        let out = &view["interactions"][0];
        if out["meta"]["delivery"] == "failed" {
            assert!(
                out["meta"]["delivery_error"]
                    .as_str()
                    .unwrap()
                    .contains("550"),
                "{out}"
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = sqlx::query("SELECT status, attempts FROM outbox WHERE ticket_id = $1")
        .bind(ticket)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(r.try_get::<String, _>("status").unwrap(), "failed");
    assert_eq!(
        r.try_get::<i64, _>("attempts").unwrap(),
        1,
        "a permanent error is not retried"
    );
    let n = count(
        &app,
        "SELECT COUNT(*) FROM events WHERE kind = $1",
        "interaction.delivery",
    )
    .await;
    assert!(n >= 1, "the console hears of the failure");
}
