//! The reports benchmark: a large center's rollups (a 24-hour center: every queue takes voice,
//! email and SMS every 15 minutes all year; agents on 10-hour shifts; complaints and survey
//! answers), seeded into an empty database, then each report over 30 days timed as the API
//! computes it (the rollups of the range read, grouped by period in the center's time zone),
//! by day and by 15 minutes, median and p99. The rollups' size does not depend on the number of
//! customers or interactions behind them: that is their point.

use super::summarize;
use crate::config::Config;
use crate::db::{Db, now_ms};
use crate::reports::store::{self, Names};
use crate::reports::views::{self, Ask};
use crate::reports::{Interval, Range};
use std::time::{Duration, Instant};

const QUARTER_MS: i64 = 900_000;
const DAY_MS: i64 = 86_400_000;

async fn exec(db: &Db, sql: &str, params: &[i64]) -> anyhow::Result<u64> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
    for p in params {
        q = q.bind(*p);
    }
    Ok(q.execute(&db.pool).await?.rows_affected())
}

/// Quarter hours `0..n` as `s(n)`.
const SERIES: &str = "WITH RECURSIVE s(n) AS (SELECT CAST(0 AS BIGINT) UNION ALL \
     SELECT n + 1 FROM s WHERE n < $1 - 1) ";

async fn seed(db: &Db, queues: i64, agents: i64, days: i64, start: i64) -> anyhow::Result<u64> {
    let n = days * 96;
    let mut rows = 0;
    // Ids after the default queue's.
    for q in 1001..=1000 + queues {
        exec(
            db,
            "INSERT INTO queues (id, name, created_at) VALUES ($1, 'Bench queue ' || $1, $2)",
            &[q, start],
        )
        .await?;
        rows += exec(
            db,
            &format!(
                "{SERIES}INSERT INTO report_contacts (bucket_ms, queue_id, channel, kind, contacts) \
                 SELECT $2 + n * {QUARTER_MS}, $3, c.channel, c.kind, 1 + (n + $3) % 9 FROM s, \
                 (SELECT 'voice' AS channel, 'inquiry' AS kind UNION ALL \
                  SELECT 'email', 'request' UNION ALL SELECT 'sms', 'complaint') c"
            ),
            &[n, start, q],
        )
        .await?;
        rows += exec(
            db,
            &format!(
                "{SERIES}INSERT INTO report_service (bucket_ms, queue_id, answered, \
                 answered_within, wait_ms, abandoned, abandoned_after, handled, handle_ms) \
                 SELECT $2 + n * {QUARTER_MS}, $3, 8, 7, 160000, 1, 1, 8, 2400000 FROM s"
            ),
            &[n, start, q],
        )
        .await?;
        rows += exec(
            db,
            &format!(
                "{SERIES}INSERT INTO report_complaints (bucket_ms, queue_id, category_id, \
                 severity, received, closed, handle_ms) \
                 SELECT $2 + n * {QUARTER_MS}, $3, 1 + n % 5, 1 + n % 4, 1, 1, 7200000 \
                 FROM s WHERE n % 4 = 0"
            ),
            &[n, start, q],
        )
        .await?;
        rows += exec(
            db,
            &format!(
                "{SERIES}INSERT INTO report_csat (bucket_ms, queue_id, answers, good, score_sum) \
                 SELECT $2 + n * {QUARTER_MS}, $3, 2, 1, 8 FROM s"
            ),
            &[n, start, q],
        )
        .await?;
        // As every bulk writer does: else the WAL holds every row seeded (6.8 GB), and each
        // page a report reads is looked up through all of it.
        db.checkpoint().await?;
    }
    for a in 1..=agents {
        // On shift 10 hours a day, starting at a different hour per agent.
        rows += exec(
            db,
            &format!(
                "{SERIES}INSERT INTO report_agents (bucket_ms, user_id, handled, handle_ms, \
                 available_ms, busy_ms, wrap_up_ms, away_ms, csat_answers, csat_good) \
                 SELECT $2 + n * {QUARTER_MS}, $3, 2, 600000, 300000, 500000, 100000, 0, 1, 1 \
                 FROM s WHERE (n % 96 + 96 - ($3 * 4) % 96) % 96 < 40"
            ),
            &[n, start, a],
        )
        .await?;
        db.checkpoint().await?;
    }
    Ok(rows)
}

pub async fn run(
    config: &Config,
    queues: i64,
    agents: i64,
    days: i64,
    samples: usize,
) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url(), 8).await?;
    db.migrate().await?;
    let today = now_ms() / DAY_MS * DAY_MS;
    let start = today - days * DAY_MS;
    let have: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) AS n FROM report_service")
            .fetch_one(&db.pool)
            .await?,
        "n",
    )?;
    if have == 0 {
        let t = Instant::now();
        let rows = seed(&db, queues, agents, days, start).await?;
        sqlx::query("ANALYZE").execute(&db.pool).await?;
        println!(
            "seeded {rows} rollup rows ({queues} queues, {agents} agents, {days} days) in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let tz = jiff::tz::TimeZone::get(&config.time_zone())?;
    let names: Names = store::names(&db).await?;
    // The last 30 days that have rollups.
    let last = jiff::Timestamp::from_millisecond(today - DAY_MS)?.to_zoned(tz.clone());
    let first = last.checked_sub(jiff::Span::new().days(29))?;
    let (from, to) = (first.date().to_string(), last.date().to_string());
    let range = Range::parse(&tz, &from, &to)?;
    for interval in ["day", "15m"] {
        let ask = Ask {
            db: &db,
            tz: &tz,
            range,
            interval: Interval::parse(interval)?,
            scope: None,
        };
        let mut times: Vec<(&str, Vec<Duration>)> = Vec::new();
        for report in ["volume", "service", "agents", "complaints", "csat-trend"] {
            let mut v = Vec::with_capacity(samples);
            for _ in 0..samples {
                let t = Instant::now();
                // The report as the API answers it: read, assembled and written as JSON.
                let json = match report {
                    "volume" => serde_json::to_vec(&views::volume(&ask).await?),
                    "service" => serde_json::to_vec(&views::service(&ask, &names).await?),
                    "agents" => serde_json::to_vec(&views::agents(&ask, &names, None).await?),
                    "complaints" => serde_json::to_vec(&views::complaints(&ask, &names).await?),
                    _ => serde_json::to_vec(&views::csat(&ask).await?),
                };
                drop(json?);
                v.push(t.elapsed());
            }
            times.push((report, v));
        }
        for (report, mut v) in times {
            println!(
                "{report:>10} over 30 days by {interval:>3}: {}",
                summarize(&mut v)
            );
        }
    }
    Ok(())
}
