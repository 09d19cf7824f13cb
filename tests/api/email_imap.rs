//! IMAP polling against a real Dovecot (`tests/email_dovecot.sh`, started by .ci/run):
//! HOTLINE_TEST_IMAP=host:port:user:password. Skipped with a printed reason only when it is
//! unset and HOTLINE_REQUIRE_IMAP is unset too.

use crate::email_support::*;
use sqlx::Row;
use std::time::{Duration, Instant};

struct ImapTarget {
    host: String,
    port: u16,
    user: String,
    password: String,
}

fn target() -> Option<ImapTarget> {
    let Ok(spec) = std::env::var("HOTLINE_TEST_IMAP") else {
        assert!(
            std::env::var("HOTLINE_REQUIRE_IMAP").is_err(),
            "HOTLINE_REQUIRE_IMAP is set but HOTLINE_TEST_IMAP is not"
        );
        println!("skipped: no IMAP server (set HOTLINE_TEST_IMAP=host:port:user:password)");
        return None;
    };
    let mut p = spec.splitn(4, ':');
    Some(ImapTarget {
        host: p.next().unwrap().to_string(),
        port: p.next().unwrap().parse().expect("port"),
        user: p.next().unwrap().to_string(),
        password: p.next().expect("password").to_string(),
    })
}

async fn imap_session(t: &ImapTarget) -> async_imap::Session<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect((t.host.as_str(), t.port))
        .await
        .unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap();
    client
        .login(&t.user, &t.password)
        .await
        .map_err(|(e, _)| e)
        .unwrap()
}

async fn append(s: &mut async_imap::Session<tokio::net::TcpStream>, folder: &str, raw: &[u8]) {
    s.append(folder, None, None, raw).await.unwrap();
}

async fn wait_interaction(app: &crate::support::TestApp, external_id: &str) -> (i64, String) {
    let start = Instant::now();
    loop {
        let row = sqlx::query("SELECT ticket_id, meta FROM interactions WHERE external_id = $1")
            .bind(external_id)
            .fetch_optional(&app.state.db.pool)
            .await
            .unwrap();
        if let Some(r) = row {
            return (r.try_get("ticket_id").unwrap(), r.try_get("meta").unwrap());
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{external_id} never arrived over IMAP"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn imap_mail_becomes_tickets_and_is_flagged_only_after_commit() {
    let Some(t) = target() else { return };
    let folder = format!("hl{}", rand::random::<u32>());
    let mut s = imap_session(&t).await;
    s.create(&folder).await.unwrap();
    append(
        &mut s,
        &folder,
        &mail(
            "ivy@example.com",
            "Printer jam",
            "imap-a@example.com",
            "",
            "It jams.",
        ),
    )
    .await;
    let dup = mail(
        "ivy@example.com",
        "Also by SMTP",
        "imap-c@example.com",
        "",
        "twice",
    );
    append(&mut s, &folder, &dup).await;

    let app = spawn_mail(|c| {
        c.imap_host = t.host.clone();
        c.imap_port = t.port;
        c.imap_tls = false;
        c.imap_user = t.user.clone();
        c.imap_password = hotline::config::Secret(t.password.clone());
        c.imap_folder = folder.clone();
        c.imap_poll_secs = 60;
    })
    .await;
    // The same message also arrives by SMTP: one interaction in the end.
    deliver(
        smtp_addr(&app),
        "ivy@example.com",
        "support@localhost",
        &dup,
    )
    .await;

    let (ticket_a, meta) = wait_interaction(&app, "imap-a@example.com").await;
    assert!(meta.contains("\"source\":\"imap\""), "{meta}");
    wait_interaction(&app, "imap-c@example.com").await;
    // Flagged \Seen once committed.
    let start = Instant::now();
    loop {
        s.select(&folder).await.unwrap();
        if s.uid_search("UNSEEN").await.unwrap().is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "messages left unseen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A new message while the poller IDLEs (the poll interval is a minute) arrives at once and
    // threads onto the first ticket.
    append(
        &mut s,
        &folder,
        &mail(
            "ivy@example.com",
            "Re: Printer jam",
            "imap-b@example.com",
            "In-Reply-To: <imap-a@example.com>\r\n",
            "Still jams.",
        ),
    )
    .await;
    let (ticket_b, meta) = wait_interaction(&app, "imap-b@example.com").await;
    assert_eq!(ticket_b, ticket_a);
    assert!(meta.contains("in_reply_to"), "{meta}");
    let n = count(
        &app,
        "SELECT COUNT(*) FROM interactions WHERE external_id = $1",
        "imap-c@example.com",
    )
    .await;
    assert_eq!(n, 1);
    // Nothing is fetched twice: one raw row per IMAP message.
    let rows = count(
        &app,
        "SELECT COUNT(*) FROM inbound_mail WHERE source = $1",
        "imap",
    )
    .await;
    assert_eq!(rows, 3);
    s.delete(&folder).await.ok();
    s.logout().await.ok();
}
