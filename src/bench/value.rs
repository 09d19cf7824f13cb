//! The value ranking benchmark on seeded data (`bench seed` first): seed orders (a few heavy
//! buyers among many small ones, refunds, 18 months), then time the full ranking (the first,
//! which writes every customer's figures and tier, and a rerun that finds nothing to change),
//! the tiering of one customer after an order, and the value report; with the peak memory of
//! this process.

use super::lookup::seed_table;
use super::summarize;
use crate::config::Config;
use crate::db::{Db, now_ms};
use crate::value::{self, Shares};
use std::time::{Duration, Instant};

async fn count(db: &Db, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::Row::try_get(
        &sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&db.pool)
            .await?,
        "n",
    )?)
}

/// Peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub async fn run(config: &Config, orders: i64, samples: usize) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url(), 8).await?;
    db.migrate().await?;
    let customers = count(&db, "SELECT COUNT(*) AS n FROM customers").await?;
    if customers == 0 {
        anyhow::bail!("no customers: run `hotline bench seed` on this database first");
    }
    let now = now_ms();
    if count(&db, "SELECT COUNT(*) AS n FROM orders").await? == 0 {
        let started = Instant::now();
        // One customer in twenty buys forty times more: they bring about two thirds of the
        // revenue. Orders spread over 18 months (a 12-month window sees two thirds of them).
        let insert = format!(
            "INSERT INTO orders (id, customer_id, external_id, ordered_at, amount_minor, \
             currency, product, category, channel, status, created_at, updated_at) \
             SELECT n, ((n * 7919) % {customers}) + 1, 'B-' || n, \
             $3 - ((n * 104729) % 540) * 86400000 - (n % 86400) * 1000, \
             CASE WHEN ((n * 7919) % {customers}) % 20 = 0 THEN 200000 ELSE 5000 END \
               + (n % 97) * 100, 'CNY', 'Washer', 'appliances', 'web', \
             CASE WHEN n % 37 = 0 THEN 'refunded' ELSE 'paid' END, $3, $3 FROM s"
        );
        seed_table(&db, "orders", orders, &insert, now).await?;
        if let Some(stmt) = db.backend.reset_identity("orders") {
            sqlx::query(sqlx::AssertSqlSafe(stmt))
                .execute(&db.pool)
                .await?;
        }
        sqlx::query("ANALYZE").execute(&db.pool).await?;
        println!(
            "seeded {orders} orders in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    // Every run starts from unranked customers, so that the first ranking writes everything.
    for stmt in [
        "DELETE FROM customer_value",
        "DELETE FROM value_snapshots",
        "DELETE FROM customer_tier_history",
        "DELETE FROM events WHERE kind = 'customer.tier_changed'",
        "UPDATE customers SET tier = 'regular', tier_reason = '', tier_pinned = 0",
    ] {
        sqlx::query(stmt).execute(&db.pool).await?;
    }
    let shares = Shares::of(config);
    let started = Instant::now();
    let first = value::recompute(&db, now, shares).await?;
    let first_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let rerun = value::recompute(&db, now, shares).await?;
    let rerun_s = started.elapsed().as_secs_f64();
    println!(
        "value ranking of {customers} customers: first {first_s:.1} s ({} ranked, {} tier changes), \
         rerun {rerun_s:.1} s ({} changes)",
        first.ranked, first.changed, rerun.changed
    );
    let mut retier = Vec::with_capacity(samples);
    for k in 0..samples as i64 {
        let id = 1 + (k * 48_271) % customers;
        let t = Instant::now();
        value::retier(&db, id, now, shares).await?;
        retier.push(t.elapsed());
    }
    println!(
        "tier one customer after an order:  {}",
        summarize(&mut retier)
    );
    let mut report: Vec<Duration> = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        let s = value::latest_snapshot(&db).await?;
        anyhow::ensure!(s.is_some(), "no snapshot");
        report.push(t.elapsed());
    }
    println!(
        "value report (Pareto curve, tiers): {}",
        summarize(&mut report)
    );
    if let Some(mib) = peak_rss_mib() {
        println!("peak memory of the process: {mib:.0} MiB");
    }
    Ok(())
}
