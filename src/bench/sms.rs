//! `hotline bench sms`: signed Twilio SMS webhooks against the real server (started in-process
//! on a free port over the configured database), counting what arrived in tickets.

use super::summarize;
use crate::app::App;
use crate::config::{Config, Secret};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Signature URLs are computed against this base; the server is told it is its public URL.
pub const BENCH_PUBLIC_URL: &str = "https://hotline.bench";

/// A running server for a benchmark: `stop` ends it before the bench returns.
pub struct Running {
    pub base: String,
    pub state: crate::app::AppState,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Shuts the server down and waits for it (at most a few seconds), so that its tasks end
    /// before the runtime does.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

/// Starts the real server on 127.0.0.1:0 with `config` (tokens filled in when unset).
pub async fn serve(mut config: Config) -> anyhow::Result<Running> {
    if config.twilio_auth_token.is_empty() {
        config.twilio_auth_token = Secret("bench-twilio-token".into());
    }
    if config.cti_token.is_empty() {
        config.cti_token = Secret("bench-cti-token".into());
    }
    config.public_url = BENCH_PUBLIC_URL.into();
    config.smtp_listen = String::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = App::build(config, listener).await?;
    let base = format!("http://{}", app.local_addr()?);
    let state = app.state.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = app
            .serve_with_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Running {
        base,
        state,
        stop: tx,
        task,
    })
}

pub async fn run(
    config: &Config,
    messages: usize,
    senders: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let server = serve(config.clone()).await?;
    let token = server.state.config.twilio_auth_token.expose().to_string();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let run_id: u32 = rand::random();
    println!(
        "backend {:?}: {messages} SMS webhooks from {senders} numbers, {concurrency} in flight",
        server.state.db.backend
    );
    // Requests are signed before the clock starts: Twilio signs, not us.
    let url = format!("{}/webhooks/twilio/sms", server.base);
    let signed_url = format!("{BENCH_PUBLIC_URL}/webhooks/twilio/sms");
    let bodies: Vec<(String, String)> = (0..messages)
        .map(|i| {
            let from = format!(
                "+86139{:08}",
                (i % senders.max(1)) as u64 + (run_id as u64 % 1000) * 100_000
            );
            let text = if i % 2 == 0 {
                format!("您好，我的订单 {i} 还没有送到，请帮忙查一下物流。")
            } else {
                format!("Hello, order {i} has not arrived yet, could you check the delivery?")
            };
            let form = vec![
                ("MessageSid".to_string(), format!("SMb{run_id:08x}{i:010}")),
                ("AccountSid".to_string(), "ACbench".to_string()),
                ("From".to_string(), from),
                ("To".to_string(), "+14155550100".to_string()),
                ("Body".to_string(), text),
                ("NumMedia".to_string(), "0".to_string()),
            ];
            let sig = crate::channels::twilio::signature(&token, &signed_url, &form);
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter())
                .finish();
            (sig, body)
        })
        .collect();
    let work = Arc::new(std::sync::Mutex::new(bodies.into_iter()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let work = work.clone();
        let http = http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            loop {
                let next = work.lock().map(|mut w| w.next()).unwrap_or(None);
                let Some((sig, body)) = next else { break };
                let t = Instant::now();
                let res = http
                    .post(&url)
                    .header("X-Twilio-Signature", sig)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().is_success() => latencies.push(t.elapsed()),
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    let mut failures = 0;
    for t in tasks {
        let (l, f) = t.await?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    let stored: i64 = sqlx::Row::try_get(
        &sqlx::query(
            "SELECT COUNT(*) AS n FROM interactions WHERE channel = 'sms' AND external_id LIKE $1",
        )
        .bind(format!("SMb{run_id:08x}%"))
        .fetch_one(&server.state.db.pool)
        .await?,
        "n",
    )?;
    println!(
        "{} accepted, {failures} failed, {stored} stored in tickets, in {:.2} s: {:.0} SMS/s",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!("webhook latency: {}", summarize(&mut latencies));
    server.stop().await;
    anyhow::ensure!(
        stored as usize == messages,
        "lost messages: {stored} of {messages} stored"
    );
    Ok(())
}
