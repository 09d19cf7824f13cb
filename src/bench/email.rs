//! `hotline bench email`: concurrent SMTP clients deliver a mixed corpus (plain, replies that
//! thread, Chinese GB2312, unlabelled Big5, HTML only, multipart with attachments) to the real server until every message
//! is a committed ticket interaction. Prints throughput and the 250-reply latency.

use super::summarize;
use crate::app::App;
use crate::config::Config;
use sqlx::Row;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const NESTED: &[u8] = include_bytes!("../../tests/fixtures/email/08_nested_multipart.eml");
const GB2312: &[u8] = include_bytes!("../../tests/fixtures/email/02_gb2312_base64.eml");
const HTML_ONLY: &[u8] = include_bytes!("../../tests/fixtures/email/20_html_only.eml");
const BIG5_UNLABELLED: &[u8] = include_bytes!("../../tests/fixtures/email/24_unlabelled_big5.eml");

/// `hay` with every `from` replaced by `to` (bytes: the fixtures need not be UTF-8).
fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len() + to.len());
    let mut rest = hay;
    while let Some(pos) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..pos]);
        out.extend_from_slice(to);
        rest = &rest[pos + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Message `i` of client `c`: every tenth carries attachments, every tenth is Chinese, every
/// tenth is HTML only (read as text by html2text), every tenth is Big5 without a charset
/// (detected), every fifth answers the client's previous mail (threads onto its ticket), the
/// rest are plain.
fn corpus_message(c: usize, i: usize) -> Vec<u8> {
    let id = format!("bench-{c}-{i}@bench.test");
    let from = format!("customer{}@bench.test", (c * 7919 + i) % 5000);
    let swap_id = |fixture: &[u8], old: &str| {
        let with_id = replace_bytes(fixture, old.as_bytes(), id.as_bytes());
        let from = format!("X-Bench: {c}\r\nFrom: ");
        replace_bytes(&with_id, b"From: ", from.as_bytes())
    };
    match i % 10 {
        3 => swap_id(NESTED, "nested-1@example.com"),
        6 => swap_id(GB2312, "gb2312-1@example.cn"),
        4 => swap_id(HTML_ONLY, "html-only-1@example.com"),
        9 => swap_id(BIG5_UNLABELLED, "big5-nolabel-1@example.tw"),
        1 | 8 if i > 0 => format!(
            "From: {from}\r\nTo: support@localhost\r\nSubject: Re: order {c}\r\nMessage-ID: <{id}>\r\n\
             In-Reply-To: <bench-{c}-{}@bench.test>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nAny news?\r\n\r\nOn Monday you wrote:\r\n> earlier\r\n",
            i - 1
        )
        .into_bytes(),
        _ => format!(
            "From: Customer {c} <{from}>\r\nTo: support@localhost\r\nSubject: order {c} item {i}\r\n\
             Message-ID: <{id}>\r\nDate: Mon, 06 Jan 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nMy order {c}-{i} has not arrived.\r\n\
             Please check it. 订单没有到。\r\n"
        )
        .into_bytes(),
    }
}

async fn reply(r: &mut BufReader<TcpStream>) -> anyhow::Result<String> {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        anyhow::ensure!(r.read_line(&mut line).await? > 0, "connection closed");
        let more = line.as_bytes().get(3) == Some(&b'-');
        all.push_str(&line);
        if !more {
            return Ok(all);
        }
    }
}

/// One client: a connection delivering `n` messages one transaction at a time, as an MTA does.
async fn client(addr: SocketAddr, c: usize, n: usize) -> anyhow::Result<Vec<Duration>> {
    let mut r = BufReader::new(TcpStream::connect(addr).await?);
    r.get_mut().set_nodelay(true)?;
    reply(&mut r).await?;
    r.get_mut().write_all(b"EHLO bench.test\r\n").await?;
    reply(&mut r).await?;
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let msg = corpus_message(c, i);
        let mut wire =
            format!("MAIL FROM:<client{c}@bench.test>\r\nRCPT TO:<support@localhost>\r\nDATA\r\n")
                .into_bytes();
        for line in msg.split_inclusive(|&b| b == b'\n') {
            if line.first() == Some(&b'.') {
                wire.push(b'.');
            }
            wire.extend_from_slice(line);
        }
        wire.extend_from_slice(b".\r\n");
        let start = Instant::now();
        r.get_mut().write_all(&wire).await?;
        for _ in 0..3 {
            reply(&mut r).await?;
        }
        let done = reply(&mut r).await?;
        anyhow::ensure!(done.starts_with("250"), "refused: {done}");
        latencies.push(start.elapsed());
    }
    r.get_mut().write_all(b"QUIT\r\n").await?;
    Ok(latencies)
}

/// Runs the server in this process on a fresh data folder (or `config`'s database when it is
/// PostgreSQL) and drives it over real SMTP connections.
pub async fn run(config: &Config, clients: usize, messages: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("hotline-bench-email-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = config.clone();
    config.data_dir = dir.clone();
    if !config.database_url().starts_with("postgres") {
        config.database_url = Default::default();
    }
    config.listen = "127.0.0.1:0".into();
    config.smtp_listen = "127.0.0.1:0".into();
    config.smtp_relay = Default::default();
    config.imap_host = String::new();
    // Every client connects from loopback: one address, which the per-client limit (20 by
    // default) would refuse with 421 beyond it.
    config.smtp_max_per_client = config.smtp_max_per_client.max(clients);
    if config.admin_password.is_empty() {
        config.admin_password = crate::config::Secret("bench-admin-password".into());
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = App::build(config, listener).await?;
    let state = app.state.clone();
    let addr = state.smtp_addr.expect("smtp listener");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve_with_shutdown(async {
        let _ = stopped.await;
    }));
    let already: i64 = sqlx::query("SELECT COUNT(*) AS n FROM inbound_mail")
        .fetch_one(&state.db.pool)
        .await?
        .try_get("n")?;
    let per_client = messages.div_ceil(clients);
    let total = (per_client * clients) as i64;
    println!(
        "backend {:?}: {clients} SMTP clients × {per_client} mails = {total} (mixed: plain, replies, GB2312, unlabelled Big5, HTML only, multipart with attachments)",
        state.db.backend
    );
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| tokio::spawn(client(addr, c, per_client)))
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let accepted = start.elapsed();
    // Until every message is a committed interaction.
    let processed = loop {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM inbound_mail WHERE id > 0 AND status <> 'received'",
        )
        .fetch_one(&state.db.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        if n - already >= total {
            break start.elapsed();
        }
        anyhow::ensure!(
            start.elapsed() < accepted * 10 + Duration::from_secs(60),
            "only {n} of {total} processed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let lost: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM inbound_mail m WHERE m.status <> 'processed' \
         OR NOT EXISTS (SELECT 1 FROM interactions i WHERE i.id = m.interaction_id)",
    )
    .fetch_one(&state.db.pool)
    .await?
    .try_get("n")?;
    let s = summarize(&mut latencies);
    println!(
        "accepted (250) {total} in {:.2} s = {:.0} mails/s",
        accepted.as_secs_f64(),
        total as f64 / accepted.as_secs_f64()
    );
    println!(
        "committed as tickets {total} in {:.2} s = {:.0} mails/s sustained",
        processed.as_secs_f64(),
        total as f64 / processed.as_secs_f64()
    );
    println!("250 latency per mail: {s}");
    println!("not processed or without interaction: {lost}");
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(lost == 0, "{lost} mails lost");
    Ok(())
}
