//! `hotline bench voice`: CTI `newCall` webhooks at a steady rate against the real server over
//! seeded data (`hotline bench seed`), each ringing one of the agents, whose consoles are
//! connected to `/ws`. Measures the time from sending the webhook to the `screen_pop` frame read
//! at the ringing agent's console, and to the webhook's answer (sent after the pop committed).

use super::lookup::seeded_phone;
use super::sms::serve;
use super::summarize;
use crate::auth::Role;
use crate::auth::store::{NewUser, insert_user};
use crate::config::Config;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Screen pops read by all consoles so far.
static POPS_READ: AtomicUsize = AtomicUsize::new(0);

/// One agent's console: for each `screen_pop` of a bench call (`<key><n>`), the time since
/// call n's webhook was sent.
async fn console(
    ws: super::ws::Socket,
    key: String,
    started: Instant,
    sent_us: Arc<Vec<AtomicU64>>,
    stop: Arc<tokio::sync::Notify>,
) -> Vec<Duration> {
    let mut out = Vec::new();
    super::ws::read_frames(ws, &stop, |t| {
        if !t.contains("\"kind\":\"screen_pop\"") {
            return;
        }
        let now = started.elapsed().as_micros() as u64;
        if let Some(n) = super::ws::number_after(t, &key)
            && let Some(sent) = sent_us.get(n as usize)
        {
            let sent = sent.load(Ordering::SeqCst);
            out.push(Duration::from_micros(now.saturating_sub(sent)));
            POPS_READ.fetch_add(1, Ordering::SeqCst);
        }
    })
    .await;
    out
}

pub async fn run(config: &Config, calls: usize, rate: u32, agents: usize) -> anyhow::Result<()> {
    let server = serve(config.clone()).await?;
    let db = &server.state.db;
    let n_customers: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) AS n FROM customers")
            .fetch_one(&db.pool)
            .await?,
        "n",
    )?;
    let n_interactions: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) AS n FROM interactions")
            .fetch_one(&db.pool)
            .await?,
        "n",
    )?;
    anyhow::ensure!(
        n_customers > 0,
        "no customers: run `hotline bench seed` first"
    );
    let run_id: u32 = rand::random::<u32>() % 1_000_000;
    let hash = crate::auth::hash_password(&format!("bench-{run_id}"))?;
    let mut extensions = Vec::new();
    let mut consoles = Vec::new();
    let sent_us: Arc<Vec<AtomicU64>> = Arc::new((0..calls).map(|_| AtomicU64::new(0)).collect());
    let started = Instant::now();
    let stop = Arc::new(tokio::sync::Notify::new());
    let addr = server.base.trim_start_matches("http://").to_string();
    for i in 0..agents.max(1) {
        let ext = format!("{run_id}{i:04}");
        let user = insert_user(
            db,
            &NewUser {
                login: format!("bench-agent-{run_id}-{i}"),
                display_name: format!("Bench agent {i}"),
                role: Role::Agent,
                password_hash: hash.clone(),
                extension: Some(ext.clone()),
                phone: None,
                phone_norm: None,
                email: None,
                skills: vec![],
                languages: vec![],
                locale: "zh".into(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (token, hash) = crate::auth::new_token();
        crate::auth::store::insert_token(db, &hash, user.id, "api", "bench", None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let ws = super::ws::connect(&addr, &token).await?;
        let key = format!("bench-{run_id}-");
        let (sent_us, stop) = (sent_us.clone(), stop.clone());
        consoles.push(tokio::spawn(console(ws, key, started, sent_us, stop)));
        extensions.push(ext);
    }
    // Agents log in before the calls come: a console holds live frames for a moment after
    // hello, waiting for a `resume` (realtime/ws.rs), and the bench measures a console past that.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seq_before: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COALESCE(MAX(seq), 0) AS n FROM events")
            .fetch_one(&db.pool)
            .await?,
        "n",
    )?;
    println!(
        "backend {:?}, {n_customers} customers, {n_interactions} interactions; {calls} newCall at {rate}/s to {} agents",
        db.backend,
        extensions.len()
    );
    let url = format!(
        "{}/api/v1/cti/{}",
        server.base,
        server.state.config.cti_token.expose()
    );
    let http = reqwest::Client::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(calls);
    let sending = Instant::now();
    for i in 0..calls {
        tick.tick().await;
        // One caller in ten is unknown; the others are seeded customers, typed as a PBX sends them.
        let from = if i % 10 == 9 {
            format!("0139{:08}", i)
        } else {
            let phone = seeded_phone(rand::random_range(1..=n_customers));
            format!("0{}", &phone[3..])
        };
        let body = serde_json::json!({
            "event": "newCall", "from": from, "to": "4008001234", "direction": "in",
            "callId": format!("bench-{run_id}-{i}"), "user": [extensions[i % extensions.len()]],
        });
        let http = http.clone();
        let url = url.clone();
        sent_us[i].store(started.elapsed().as_micros() as u64, Ordering::SeqCst);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let res = http.post(&url).json(&body).send().await;
            let ok = matches!(&res, Ok(r) if r.status().is_success());
            (t.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(calls);
    let mut failures = 0;
    for t in tasks {
        let (d, ok) = t.await?;
        if ok {
            latencies.push(d);
        } else {
            failures += 1;
        }
    }
    let elapsed = sending.elapsed();
    let pops: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) AS n FROM events WHERE kind = 'screen_pop' AND seq > $1")
            .bind(seq_before)
            .fetch_one(&db.pool)
            .await?,
        "n",
    )?;
    println!(
        "{} calls answered, {failures} failed, {pops} screen_pop events, {:.1} calls/s achieved",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    // The consoles get a moment for the last frames, then report.
    let deadline = Instant::now() + Duration::from_secs(5);
    while POPS_READ.load(Ordering::SeqCst) < calls && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.notify_waiters();
    let mut to_frame = Vec::with_capacity(calls);
    for c in consoles {
        to_frame.extend(c.await?);
    }
    println!(
        "newCall webhook → screen_pop frame at the agent's console: {} ({} of {calls} frames)",
        summarize(&mut to_frame.clone()),
        to_frame.len()
    );
    println!(
        "newCall webhook → screen_pop committed (HTTP answer): {}",
        summarize(&mut latencies)
    );
    server.stop().await;
    anyhow::ensure!(
        pops as usize == calls,
        "{pops} screen pops for {calls} calls"
    );
    Ok(())
}
