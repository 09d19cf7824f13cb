//! Helpers of the email tests: a TestApp with the SMTP receiver on port 0, a raw SMTP dialogue
//! over a real socket, and polling for processed mail.

#![allow(dead_code)]

use crate::support::TestApp;
use hotline::config::Config;
use sqlx::Row;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub async fn spawn_mail(tweak: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::spawn_with(|c| {
        c.smtp_listen = "127.0.0.1:0".into();
        c.support_addresses = "support@localhost, help@example.test".into();
        tweak(c);
    })
    .await
}

pub fn smtp_addr(app: &TestApp) -> SocketAddr {
    app.state.smtp_addr.expect("smtp listener bound")
}

/// A raw SMTP client: sends bytes, reads complete (multi-line) replies.
pub struct Dialog {
    reader: BufReader<TcpStream>,
}

impl Dialog {
    pub async fn open(addr: SocketAddr) -> Dialog {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut d = Dialog {
            reader: BufReader::new(s),
        };
        let greeting = d.reply().await;
        assert!(greeting.starts_with("220"), "{greeting}");
        d
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).await.unwrap();
    }

    /// One reply; multi-line replies are joined with '\n'.
    pub async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line))
                .await
                .expect("reply in time")
                .unwrap();
            assert!(n > 0, "connection closed; so far: {all}");
            let line = line.trim_end().to_string();
            let more = line.as_bytes().get(3) == Some(&b'-');
            if !all.is_empty() {
                all.push('\n');
            }
            all.push_str(&line);
            if !more {
                return all;
            }
        }
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }
}

/// Delivers `raw` with a plain SMTP dialogue and returns the reply to the end of DATA.
pub async fn deliver(addr: SocketAddr, from: &str, to: &str, raw: &[u8]) -> String {
    let mut d = Dialog::open(addr).await;
    assert!(d.cmd("EHLO client.test").await.starts_with("250"));
    let r = d.cmd(&format!("MAIL FROM:<{from}>")).await;
    assert!(r.starts_with("250"), "{r}");
    let r = d.cmd(&format!("RCPT TO:<{to}>")).await;
    assert!(r.starts_with("250"), "{r}");
    assert!(d.cmd("DATA").await.starts_with("354"));
    let mut body = Vec::new();
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            body.push(b'.');
        }
        body.extend_from_slice(line);
    }
    if !body.ends_with(b"\n") {
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b".\r\n");
    d.send(&body).await;
    let r = d.reply().await;
    let _ = d.cmd("QUIT").await;
    r
}

/// The id in "250 2.0.0 Ok: queued as N".
pub fn queued_id(reply: &str) -> i64 {
    reply
        .rsplit(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no queue id in {reply}"))
}

/// Waits until inbound mail `id` left 'received'; returns (status, ticket_id, interaction_id).
pub async fn wait_processed(app: &TestApp, id: i64) -> (String, Option<i64>, Option<i64>) {
    let start = Instant::now();
    loop {
        let r =
            sqlx::query("SELECT status, ticket_id, interaction_id FROM inbound_mail WHERE id = $1")
                .bind(id)
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        let status: String = r.try_get("status").unwrap();
        if status != "received" {
            return (
                status,
                r.try_get("ticket_id").unwrap(),
                r.try_get("interaction_id").unwrap(),
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "mail {id} not processed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(bind)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/email")
            .join(name),
    )
    .unwrap()
}

/// A simple message with the given headers.
pub fn mail(from: &str, subject: &str, message_id: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: support@localhost\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Mon, 06 Jan 2025 10:00:00 +0000\r\n{extra}MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}
