//! The 360 lookup benchmark: seed 1M customers / 10M interactions, then time the history query
//! through our store beside the same query on the raw engine (rusqlite on the same file, or
//! pgbench with a prepared statement), and the whole 360 lookup as the API serves it.

use super::{progress, summarize};
use crate::app::AppState;
use crate::config::Config;
use crate::customers::identity::PhoneNormalizer;
use crate::customers::store as customers;
use crate::db::{Backend, Db, now_ms};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHUNK: i64 = 100_000;

/// The seeded phone number of customer `n`.
pub fn seeded_phone(n: i64) -> String {
    format!("+861{}", 3_800_000_000i64 + n)
}

const SERIES: &str = "WITH RECURSIVE s(n) AS (SELECT CAST($1 AS BIGINT) UNION ALL \
     SELECT n + 1 FROM s WHERE n < $2) ";

pub(super) async fn seed_table(
    db: &Db,
    what: &str,
    total: i64,
    insert: &str,
    extra: i64,
) -> anyhow::Result<()> {
    let bar = progress(total as u64, what);
    let sql = format!("{SERIES}{insert}");
    let mut start = 1;
    while start <= total {
        let end = (start + CHUNK - 1).min(total);
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(start)
            .bind(end)
            .bind(extra)
            .execute(&db.pool)
            .await?;
        // Else SQLite's WAL holds every row seeded (22 GB for 10M orders) until the end.
        db.checkpoint().await?;
        bar.inc((end - start + 1) as u64);
        start = end + 1;
    }
    bar.finish();
    Ok(())
}

pub async fn seed(config: &Config, n_customers: i64, n_interactions: i64) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url(), 4).await?;
    db.migrate().await?;
    let existing: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) AS n FROM customers")
            .fetch_one(&db.pool)
            .await?,
        "n",
    )?;
    if existing > 0 {
        anyhow::bail!(
            "the database already has customers: seed an empty one (e.g. a new HOTLINE_DATA_DIR)"
        );
    }
    let started = Instant::now();
    let base = now_ms() - n_interactions * 1000;
    seed_table(&db, "customers", n_customers,
        "INSERT INTO customers (id, display_name, name_key, tier, language, notes, tags, created_at, updated_at) \
         SELECT n, 'Customer ' || n, 'customer ' || n, \
         CASE WHEN n % 50 = 0 THEN 'vip' WHEN n % 10 = 0 THEN 'key' ELSE 'regular' END, \
         'zh', '', '[]', $3, $3 FROM s", base).await?;
    seed_table(
        &db,
        "identities",
        n_customers,
        "INSERT INTO customer_identities (id, customer_id, kind, value, created_at) \
         SELECT n, n, 'phone', '+861' || (3800000000 + n), $3 FROM s",
        base,
    )
    .await?;
    seed_table(&db, "tickets", n_customers,
        "INSERT INTO tickets (id, subject, status, priority, kind, channel, customer_id, tags, created_at, updated_at) \
         SELECT n, 'Delivery question ' || n, CASE WHEN n % 4 = 0 THEN 'open' ELSE 'closed' END, 1, \
         CASE WHEN n % 7 = 0 THEN 'complaint' ELSE 'inquiry' END, 'voice', n, '[]', $3, $3 FROM s", base).await?;
    let interactions = format!(
        "INSERT INTO interactions (id, ticket_id, customer_id, channel, direction, from_addr, to_addr, \
         subject, body, meta, created_at) \
         SELECT n, ((n - 1) % {n_customers}) + 1, ((n - 1) % {n_customers}) + 1, \
         CASE n % 3 WHEN 0 THEN 'voice' WHEN 1 THEN 'email' ELSE 'sms' END, \
         CASE n % 2 WHEN 0 THEN 'in' ELSE 'out' END, '', '', '', \
         'Customer asked about the delivery of order ' || n || \
         '; the agent explained the refund policy and promised a callback within one day.', \
         '{{}}', $3 + n * 1000 FROM s"
    );
    seed_table(&db, "interactions", n_interactions, &interactions, base).await?;
    for table in [
        "customers",
        "customer_identities",
        "tickets",
        "interactions",
    ] {
        if let Some(stmt) = db.backend.reset_identity(table) {
            sqlx::query(sqlx::AssertSqlSafe(stmt))
                .execute(&db.pool)
                .await?;
        }
    }
    sqlx::query("ANALYZE").execute(&db.pool).await?;
    if let Some(stmt) = db.backend.checkpoint_truncate() {
        sqlx::query(stmt).execute(&db.pool).await?;
    }
    println!(
        "seeded {n_customers} customers and {n_interactions} interactions in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The history query exactly as `customers::store::history` runs it (first page).
const HISTORY_SQL: &str = "SELECT id, ticket_id, channel, direction, from_addr, to_addr, subject, \
     substr(body, 1, 200) AS preview, created_at FROM interactions \
     WHERE customer_id = $1 AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
     ORDER BY created_at DESC, id DESC LIMIT $4";

pub async fn run(config: &Config, samples: usize) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url(), 4).await?;
    let n_customers: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) AS n FROM customers")
            .fetch_one(&db.pool)
            .await?,
        "n",
    )?;
    anyhow::ensure!(
        n_customers > 0,
        "no customers: run `hotline bench seed` first"
    );
    let state = AppState {
        phones: PhoneNormalizer::new(&config.default_region)?,
        limits: Arc::new(crate::limits::Limits::new(config)),
        metrics: metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle(),
        config: Arc::new(config.clone()),
        mail_store: crate::channels::email::receive::RawCommitter::start(db.clone()),
        smtp_addr: None,
        db: db.clone(),
        hub: Default::default(),
        leader: Default::default(),
        kb: Arc::new(crate::knowledge::Kb::in_memory()?),
        tickets_index: Arc::new(crate::tickets::search::TicketIndex::in_memory()?),
        node_id: "bench".into(),
        time_zone: jiff::tz::TimeZone::UTC,
        clock: Default::default(),
    };
    let ids: Vec<i64> = (0..samples)
        .map(|_| rand::random_range(1..=n_customers))
        .collect();
    println!(
        "backend {:?}, {n_customers} customers, {samples} samples",
        db.backend
    );

    // Warm the page cache on every sampled customer first, so that no contender pays for the
    // disk reads of the ones measured before it.
    for id in &ids {
        customers::history(&db, *id, None, 20).await?;
    }

    let mut ours = Vec::with_capacity(samples);
    for id in &ids {
        let t = Instant::now();
        let rows = customers::history(&db, *id, None, 20).await?;
        ours.push(t.elapsed());
        anyhow::ensure!(!rows.is_empty(), "customer {id} has no history");
    }
    let ours = summarize(&mut ours);
    println!("history query, hotline store (Db::fetch_all): {ours}");

    let typed = typed_pool(config, &ids).await?;
    println!("history query, typed sqlx pool:          {typed}");

    let raw = match db.backend {
        Backend::Sqlite => raw_sqlite(config, &ids)?,
        Backend::Postgres => raw_pgbench(config, n_customers, samples)?,
    };
    println!("history query, raw engine:               {raw}");
    println!(
        "ratio of medians: ours / raw {:.2}, typed / raw {:.2}",
        ours.median_us / raw.median_us,
        typed.median_us / raw.median_us
    );

    let mut full = Vec::with_capacity(samples);
    for id in &ids {
        let phone = seeded_phone(*id);
        // As a PBX would send it: national format with spaces.
        let typed = format!("{} {} {}", &phone[3..6], &phone[6..10], &phone[10..]);
        let t = Instant::now();
        let view = crate::customers::routes::lookup_view(
            &state,
            &typed,
            &crate::tickets::Visibility::all(),
        )
        .await?;
        full.push(t.elapsed());
        anyhow::ensure!(view.customer.is_some(), "{typed} not found");
    }
    println!(
        "full 360 lookup by phone (identity, customer, open tickets, history): {}",
        summarize(&mut full)
    );
    Ok(())
}

/// The same query through sqlx's typed driver, to weigh the `Any` layer's cost.
async fn typed_pool(config: &Config, ids: &[i64]) -> anyhow::Result<super::Summary> {
    use sqlx::Row;
    let url = config.database_url();
    let mut times = Vec::with_capacity(ids.len());
    macro_rules! measure {
        ($pool:expr) => {{
            let pool = $pool;
            for id in ids {
                let t = Instant::now();
                let rows = sqlx::query(HISTORY_SQL)
                    .bind(id)
                    .bind(i64::MAX)
                    .bind(i64::MAX)
                    .bind(20i64)
                    .fetch_all(&pool)
                    .await?;
                let _: i64 = rows.first().map(|r| r.get("id")).unwrap_or_default();
                times.push(t.elapsed());
            }
        }};
    }
    match Backend::from_url(&url)? {
        Backend::Sqlite => measure!(sqlx::SqlitePool::connect(&url).await?),
        Backend::Postgres => measure!(sqlx::PgPool::connect(&url).await?),
    }
    Ok(summarize(&mut times))
}

fn raw_sqlite(config: &Config, ids: &[i64]) -> anyhow::Result<super::Summary> {
    let url = config.database_url();
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default();
    let conn = rusqlite::Connection::open(path)?;
    let mut stmt = conn.prepare(HISTORY_SQL)?;
    let mut times = Vec::with_capacity(ids.len());
    for id in ids {
        let t = Instant::now();
        let mut rows = stmt.query(rusqlite::params![id, i64::MAX, i64::MAX, 20i64])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let _: (i64, String, String) = (row.get(0)?, row.get(2)?, row.get(7)?);
            n += 1;
        }
        times.push(t.elapsed());
        anyhow::ensure!(n > 0, "raw query found nothing");
    }
    Ok(summarize(&mut times))
}

/// Runs pgbench (one client, prepared statements) with a per-transaction log and reads it.
fn raw_pgbench(
    config: &Config,
    n_customers: i64,
    samples: usize,
) -> anyhow::Result<super::Summary> {
    let dir = std::env::temp_dir().join(format!("hotline-pgbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("history.sql");
    let sql = HISTORY_SQL
        .replace("$1", ":cid")
        .replace("$2", "9223372036854775807")
        .replace("$3", "9223372036854775807")
        .replace("$4", "20");
    std::fs::write(
        &script,
        format!("\\set cid random(1, {n_customers})\n{sql};\n"),
    )?;
    let status = std::process::Command::new("pgbench")
        .current_dir(&dir)
        .args(["-n", "-M", "prepared", "-c", "1", "-l", "--log-prefix=raw"])
        .arg("-t")
        .arg(samples.to_string())
        .arg("-f")
        .arg(&script)
        .arg(config.database_url())
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "pgbench failed");
    let mut times = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("raw"))
        {
            for line in std::fs::read_to_string(&path)?.lines() {
                // client_id transaction_no time_us script_no epoch epoch_us
                if let Some(us) = line
                    .split_whitespace()
                    .nth(2)
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    times.push(Duration::from_micros(us));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(!times.is_empty(), "pgbench wrote no log");
    Ok(summarize(&mut times))
}
