//! `hotline bench voice`: CTI `newCall` webhooks at a steady rate against the real server over
//! seeded data (`hotline bench seed`), each ringing one of the connected agents; measures the
//! time from sending the webhook to its answer, which comes after the `screen_pop` event has
//! committed (the /ws hop is not part of this branch).

use super::lookup::seeded_phone;
use super::sms::serve;
use super::summarize;
use crate::auth::Role;
use crate::auth::store::{NewUser, insert_user};
use crate::config::Config;
use std::time::{Duration, Instant};

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
    for i in 0..agents.max(1) {
        let ext = format!("{run_id}{i:04}");
        insert_user(
            db,
            &NewUser {
                login: format!("bench-agent-{run_id}-{i}"),
                display_name: format!("Bench agent {i}"),
                role: Role::Agent,
                password_hash: hash.clone(),
                extension: Some(ext.clone()),
                phone: None,
                email: None,
                skills: vec![],
                languages: vec![],
                locale: "zh".into(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        extensions.push(ext);
    }
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
    let started = Instant::now();
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
    let elapsed = started.elapsed();
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
    println!(
        "newCall webhook → screen_pop committed (HTTP answer): {}",
        summarize(&mut latencies)
    );
    anyhow::ensure!(
        pops as usize == calls,
        "{pops} screen pops for {calls} calls"
    );
    Ok(())
}
