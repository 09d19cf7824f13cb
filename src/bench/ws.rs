//! `hotline bench ws`: starts the real server as a child process on loopback, connects N
//! consoles of one agent to /ws, has that agent change presence at a fixed rate (a small write
//! whose `presence.changed` event reaches every console) and measures the fan-out latency
//! (event written → frame read, and request sent → frame read) and the server's RSS per
//! connection.

use super::{Summary, summarize};
use futures_util::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PASSWORD: &str = "bench-admin-password";

pub struct Options {
    pub consoles: usize,
    pub rate: u32,
    pub seconds: u64,
    /// Leave empty for a fresh SQLite database in a temporary folder.
    pub database_url: String,
}

/// Resident set size of a process in KiB (Linux /proc).
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for {pid}"))
}

struct Server {
    child: tokio::process::Child,
    base: String,
    addr: String,
    _dir: tempfile_dir::Dir,
}

/// A temporary folder removed on drop (the bench needs no crate for this).
mod tempfile_dir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The server's log, kept after the run for post-mortems.
pub fn server_log() -> std::path::PathBuf {
    std::env::temp_dir().join("hotline-bench-ws-server.log")
}

async fn start_server(database_url: &str) -> anyhow::Result<Server> {
    let dir = std::env::temp_dir().join(format!("hotline-bench-ws-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
    cmd.arg("serve")
        .env("HOTLINE_LISTEN", &addr)
        .env("HOTLINE_DATA_DIR", &dir)
        .env("HOTLINE_ADMIN_PASSWORD", PASSWORD)
        .env("HOTLINE_SMTP_LISTEN", "")
        .env("RUST_LOG", "warn")
        .stdout(std::fs::File::create(server_log())?)
        .kill_on_drop(true);
    if database_url.is_empty() {
        cmd.env_remove("DATABASE_URL");
    } else {
        cmd.env("DATABASE_URL", database_url);
    }
    let child = cmd.spawn()?;
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let end = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/readyz")).send().await.is_err() {
        anyhow::ensure!(Instant::now() < end, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Server {
        child,
        base,
        addr,
        _dir: tempfile_dir::Dir(dir),
    })
}

async fn call(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: serde_json::Value,
    method: reqwest::Method,
) -> anyhow::Result<serde_json::Value> {
    let mut req = http.request(method, url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await?;
    let status = res.status();
    let v: serde_json::Value = res.json().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{status}: {v}");
    Ok(v)
}

pub(super) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(super) async fn connect(addr: &str, token: &str) -> anyhow::Result<Socket> {
    let mut req = format!("ws://{addr}/ws").into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    // The consoles share this machine with the server: tungstenite's default 128 KiB read
    // buffer is zeroed on every read, which alone took a sixth of the CPU at 200k frames/s.
    let config =
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(
        req,
        tokio_tungstenite::MaybeTlsStream::Plain(tcp),
        Some(config),
    )
    .await?;
    // hello
    match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
        Ok(Some(Ok(Message::Text(_)))) => Ok(ws),
        other => anyhow::bail!("no hello: {other:?}"),
    }
}

/// Digits right after `key` in `text` (a cheap scan instead of a full JSON parse: 2,000
/// consoles read 200 frames/s each).
pub(super) fn number_after(text: &str, key: &str) -> Option<u64> {
    let i = text.find(key)? + key.len();
    let digits: String = text[i..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// Per console: (request sent → frame read, event written → frame read) of each
/// `presence.changed` whose reason carries the send time (`bench-<µs since start>`).
async fn console(
    ws: Socket,
    start: Instant,
    stop: Arc<tokio::sync::Notify>,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut end_to_end, mut fan_out) = (Vec::new(), Vec::new());
    read_frames(ws, &stop, |t| {
        if !t.contains("\"kind\":\"presence.changed\"") {
            return;
        }
        if let Some(us) = number_after(t, "bench-") {
            end_to_end.push(start.elapsed().saturating_sub(Duration::from_micros(us)));
        }
        if let Some(ms) = number_after(t, "\"at_ms\":") {
            fan_out.push(Duration::from_micros(unix_us().saturating_sub(ms * 1000)));
        }
    })
    .await;
    (end_to_end, fan_out)
}

/// Hands each text frame to `on_text` until `stop` is notified or the connection ends.
pub(super) async fn read_frames(
    mut ws: Socket,
    stop: &tokio::sync::Notify,
    mut on_text: impl FnMut(&str),
) {
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => on_text(&t),
                Some(Ok(_)) => {}
                _ => break,
            }
        }
    }
    let _ = ws.close(None).await;
}

pub async fn run(o: Options) -> anyhow::Result<()> {
    let mut server = start_server(&o.database_url).await?;
    let pid = server
        .child
        .id()
        .ok_or_else(|| anyhow::anyhow!("no server pid"))?;
    let http = reqwest::Client::new();
    let admin = call(
        &http,
        format!("{}/api/auth/login", server.base),
        None,
        json!({"login": "admin", "password": PASSWORD}),
        reqwest::Method::POST,
    )
    .await?["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let agent = call(
        &http,
        format!("{}/api/users", server.base),
        Some(&admin),
        json!({"login": "bench-agent", "display_name": "Bench", "role": "agent", "password": "bench-password-1"}),
        reqwest::Method::POST,
    )
    .await?;
    let queue = call(
        &http,
        format!("{}/api/queues", server.base),
        Some(&admin),
        json!({"name": "bench"}),
        reqwest::Method::POST,
    )
    .await?;
    let q = queue["id"].as_i64().unwrap_or_default();
    call(
        &http,
        format!("{}/api/queues/{q}/members", server.base),
        Some(&admin),
        json!({"user_ids": [agent["id"]]}),
        reqwest::Method::PUT,
    )
    .await?;
    let token = call(
        &http,
        format!("{}/api/auth/login", server.base),
        None,
        json!({"login": "bench-agent", "password": "bench-password-1"}),
        reqwest::Method::POST,
    )
    .await?["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss0 = rss_kib(pid)?;
    println!("server log: {}", server_log().display());
    println!(
        "server pid {pid}, RSS before consoles: {:.1} MiB",
        rss0 as f64 / 1024.0
    );
    let t = Instant::now();
    let mut sockets = Vec::with_capacity(o.consoles);
    for chunk in 0..o.consoles.div_ceil(100) {
        let n = (o.consoles - chunk * 100).min(100);
        let batch =
            futures_util::future::join_all((0..n).map(|_| connect(&server.addr, &token))).await;
        for s in batch {
            sockets.push(s?);
        }
    }
    println!("{} consoles connected in {:?}", sockets.len(), t.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss1 = rss_kib(pid)?;
    let per = (rss1.saturating_sub(rss0)) as f64 / o.consoles.max(1) as f64;
    println!(
        "server RSS with {} idle consoles: {:.1} MiB → {per:.1} KiB per connection",
        o.consoles,
        rss1 as f64 / 1024.0
    );

    let start = Instant::now();
    let stop = Arc::new(tokio::sync::Notify::new());
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|ws| tokio::spawn(console(ws, start, stop.clone())))
        .collect();
    let events = o.rate as u64 * o.seconds;
    let every = Duration::from_secs_f64(1.0 / o.rate.max(1) as f64);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = Vec::new();
    for _ in 0..events {
        tick.tick().await;
        let us = start.elapsed().as_micros();
        let (http, base, token) = (http.clone(), server.base.clone(), token.clone());
        sends.push(tokio::spawn(async move {
            let sent = Instant::now();
            call(
                &http,
                format!("{base}/api/presence"),
                Some(&token),
                json!({"state": "away", "reason": format!("bench-{us}")}),
                reqwest::Method::POST,
            )
            .await
            .map(|_| sent.elapsed())
        }));
    }
    let mut requests = Vec::with_capacity(sends.len());
    let mut failed = 0;
    for s in sends {
        match s.await? {
            Ok(d) => requests.push(d),
            Err(e) => {
                failed += 1;
                if failed == 1 {
                    eprintln!("event-writing request failed: {e} (see the server log)");
                }
            }
        }
    }
    anyhow::ensure!(!requests.is_empty(), "every event-writing request failed");
    if failed > 0 {
        println!("{failed} event-writing requests failed (server overloaded)");
    }
    let r = summarize(&mut requests);
    println!(
        "event-writing request (part of end to end): median {:.2} ms, p99 {:.2} ms",
        r.median_us / 1000.0,
        r.p99_us / 1000.0
    );
    let rss2 = rss_kib(pid)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.notify_waiters();
    let mut all = Vec::with_capacity(events as usize * o.consoles);
    let mut fan = Vec::with_capacity(events as usize * o.consoles);
    for r in readers {
        let (e2e, f) = r.await?;
        all.extend(e2e);
        fan.extend(f);
    }
    let expected = (events as usize - failed) * o.consoles;
    let got = all.len();
    anyhow::ensure!(got > 0, "no console received an event");
    let s: Summary = summarize(&mut all);
    println!(
        "{} events at {}/s to {} consoles: {got}/{expected} frames received",
        events, o.rate, o.consoles
    );
    let f = summarize(&mut fan);
    println!(
        "fan-out latency (event written → frame read; ±0.5 ms, at_ms has ms resolution): \
         median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        f.median_us / 1000.0,
        f.p99_us / 1000.0,
        f.max_us / 1000.0
    );
    println!(
        "end to end (request sent → frame read): median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        s.median_us / 1000.0,
        s.p99_us / 1000.0,
        s.max_us / 1000.0
    );
    println!("server RSS under load: {:.1} MiB", rss2 as f64 / 1024.0);
    let _ = server.child.kill().await;
    Ok(())
}
