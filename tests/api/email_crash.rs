//! Crash safety: the real binary is killed with SIGKILL while clients deliver mail; after a
//! restart every message that got a 250 is a ticket interaction exactly once.

use crate::email_outbound::free_port;
use crate::support::fresh_database;
use sqlx::Row;
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn start_server(dir: &std::path::Path, db: &str, smtp: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("serve")
        .env("HOTLINE_DATA_DIR", dir)
        .env("DATABASE_URL", db)
        .env("HOTLINE_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("HOTLINE_SMTP_LISTEN", format!("127.0.0.1:{smtp}"))
        .env("HOTLINE_ADMIN_PASSWORD", "crash-test-password")
        .env("HOTLINE_MAIL_ACK", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hotline binary starts")
}

async fn wait_listening(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not listen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn reply(r: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let more = line.as_bytes().get(3) == Some(&b'-');
        all.push_str(&line);
        if !more {
            return Ok(all);
        }
    }
}

/// Delivers mails on one connection until it breaks; records the Message-IDs acknowledged 250.
async fn client(port: u16, n: usize, acked: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
    let mut r = BufReader::new(TcpStream::connect(("127.0.0.1", port)).await?);
    reply(&mut r).await?;
    r.get_mut().write_all(b"EHLO crash.test\r\n").await?;
    reply(&mut r).await?;
    for i in 0..10_000 {
        let id = format!("crash-{n}-{i}@example.com");
        let msg = format!(
            "MAIL FROM:<c{n}@example.com>\r\nRCPT TO:<support@localhost>\r\nDATA\r\n\
             From: c{n}@example.com\r\nSubject: crash {i}\r\nMessage-ID: <{id}>\r\n\r\nbody {i}\r\n.\r\n"
        );
        r.get_mut().write_all(msg.as_bytes()).await?;
        for _ in 0..3 {
            reply(&mut r).await?;
        }
        if reply(&mut r).await?.starts_with("250") {
            acked.lock().unwrap().push(id);
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_mail_survives_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_database(dir.path()).await;
    let smtp = free_port();
    let mut server = start_server(dir.path(), &db_url, smtp);
    wait_listening(smtp).await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|n| tokio::spawn(client(smtp, n, acked.clone())))
        .collect();
    // Kill in the middle of deliveries, once a good number went through.
    let start = Instant::now();
    while acked.lock().unwrap().len() < 200 && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    for c in clients {
        let _ = c.await;
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 200,
        "only {} delivered before the kill",
        acked.len()
    );

    let mut server = start_server(dir.path(), &db_url, smtp);
    wait_listening(smtp).await;
    let db = hotline::db::Db::connect(&db_url, 2).await.unwrap();
    // Every acknowledged mail becomes an interaction, and every mail stored before the kill
    // (acknowledged or not) is processed by the restarted server: both are awaited, as the
    // restarted server works through what it finds (checking the second at once once failed
    // with 3 mails still in hand).
    let start = Instant::now();
    let (missing, left) = loop {
        let rows = sqlx::query("SELECT external_id FROM interactions WHERE channel = 'email'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
        let have: HashSet<String> = rows
            .iter()
            .map(|r| r.try_get("external_id").unwrap())
            .collect();
        let missing = acked.iter().filter(|id| !have.contains(*id)).count();
        let left: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM inbound_mail WHERE status = 'received'")
                .fetch_one(&db.pool)
                .await
                .unwrap()
                .try_get("n")
                .unwrap();
        if (missing == 0 && left == 0) || start.elapsed() > Duration::from_secs(30) {
            break (missing, left);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let dupes = sqlx::query(
        "SELECT external_id FROM interactions WHERE channel = 'email' GROUP BY external_id HAVING COUNT(*) > 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(missing, 0, "acknowledged mail lost after SIGKILL");
    assert!(dupes.is_empty(), "a mail became two interactions");
    assert_eq!(left, 0, "raw mail left unprocessed");
}
