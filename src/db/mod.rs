//! Database access: connect by URL scheme, migrate, and hand out the pool.
//! One store layer for SQLite and PostgreSQL through sqlx's `Any` driver; the few per-backend
//! statements live in `dialect.rs`. Timestamps are integer unix milliseconds, ids 64-bit integers.

pub mod dialect;
pub mod exec;
pub mod lock;
pub mod read;
pub mod writer;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use dialect::Backend;
pub use exec::{Exec, WriteTx};
pub use read::{FromRow, Param, ReadRow};
pub use writer::{WriteJob, run_now};

/// A transaction on whichever backend runs.
pub type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// SQLite only: the read-only connections of the hot reads (see `read.rs`).
    readers: Option<Arc<read::SqliteReaders>>,
    /// SQLite only: the group-commit writer of intake (see `writer.rs`).
    writer: Option<Arc<writer::SqliteWriter>>,
}

impl Db {
    /// SQLite: checkpoints the WAL every 50 ms for as long as the process runs (the
    /// connections never do it themselves: `wal_autocheckpoint = 0`, so that no committing
    /// writer stalls on one). Every process that writes much must run it: `serve`, and the
    /// commands that write in bulk (an import of 1M orders without it left a 24 GB WAL). Often,
    /// so that one ends between two commits and the WAL can start over: every 5 s it never
    /// caught up at 100 calls/s (BENCHMARKS.md). None on PostgreSQL.
    pub fn spawn_checkpoints(&self) -> Option<tokio::task::JoinHandle<()>> {
        self.backend.checkpoint()?;
        let db = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tick.tick().await;
                if let Err(e) = db.checkpoint().await {
                    tracing::warn!(error = %e, "wal checkpoint failed");
                }
            }
        }))
    }

    /// SQLite: one passive checkpoint now, on this process's pool. A bulk writer (an import)
    /// runs it between two of its transactions: its commits follow each other so closely that
    /// the periodic checkpoint never ends between two of them, and the WAL only starts over
    /// when a checkpoint has copied every frame before the next write (an import of 1M orders
    /// grew it to 12 GB with the periodic task alone). Passive: it never blocks other writers.
    /// Nothing on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), sqlx::Error> {
        if let Some(stmt) = self.backend.checkpoint() {
            sqlx::query(stmt).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Connects to `url` (`sqlite://path` creates the file and its folder; `postgres://…`).
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Db> {
        Db::connect_with(url, max_connections, writer::DEFAULT_QUEUE).await
    }

    /// `connect` with at most `write_queue` writes waiting for SQLite's writer
    /// (`HOTLINE_DB_WRITE_QUEUE`; more are refused as `Overloaded`).
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        write_queue: usize,
    ) -> anyhow::Result<Db> {
        install_default_drivers();
        let backend = Backend::from_url(url)?;
        let mut readers = None;
        let mut sqlite_path = None;
        let url = match sqlite_file(url) {
            Some(path) => {
                if let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)?;
                }
                let max_idle = max_connections.max(2) as usize;
                readers = Some(read::SqliteReaders::new(path.clone(), max_idle));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                sqlite_path = Some(path);
                url
            }
            None => url.to_string(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    for stmt in backend.session_setup() {
                        conn.execute(*stmt).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        // Opened after the pool, which created the file.
        let writer = match sqlite_path {
            Some(path) => Some(Arc::new(writer::SqliteWriter::start(&path, write_queue)?)),
            None => None,
        };
        Ok(Db {
            pool,
            backend,
            readers,
            writer,
        })
    }

    fn migrator(&self) -> sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        }
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        self.migrator().run(&self.pool).await?;
        Ok(())
    }

    /// The migrations this binary knows that the database has not applied yet, and the ones
    /// the database applied that this binary does not know (a newer Hotline migrated it).
    pub async fn migration_state(&self) -> anyhow::Result<(Vec<i64>, Vec<i64>)> {
        let known: Vec<i64> = self.migrator().iter().map(|m| m.version).collect();
        // No table yet: a new database, every migration to come.
        let applied: Vec<i64> = match sqlx::query("SELECT version FROM _sqlx_migrations")
            .fetch_all(&self.pool)
            .await
        {
            Ok(rows) => rows
                .iter()
                .map(|r| sqlx::Row::try_get::<i64, _>(r, "version"))
                .collect::<Result<_, _>>()?,
            Err(_) => Vec::new(),
        };
        let pending = known.iter().filter(|v| !applied.contains(v)).copied();
        let unknown = applied.iter().filter(|v| !known.contains(v)).copied();
        Ok((pending.collect(), unknown.collect()))
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads first and writes later fails with
    /// "database is locked" when another writer got in between, instead of waiting its turn.
    pub async fn begin(&self) -> Result<Tx<'static>, sqlx::Error> {
        self.pool.begin_with(self.backend.begin_write()).await
    }

    /// Runs a read-only query (`$1`… bound from `params`) and maps every row; on SQLite through
    /// the fast readers. Not for reads that must see an open transaction's writes.
    pub async fn fetch_all<T: FromRow>(
        &self,
        sql: &str,
        params: Vec<Param>,
    ) -> crate::error::AppResult<Vec<T>> {
        match &self.readers {
            Some(readers) => readers.fetch_all(sql, params).await,
            None => read::fetch_all_pooled(&self.pool, sql, params).await,
        }
    }

    /// Sets the gauges of the connection pool and of SQLite's writer, read by `/metrics`.
    pub fn record_gauges(&self) {
        let pool = &self.pool;
        metrics::gauge!("hotline_db_pool_connections").set(pool.size() as f64);
        metrics::gauge!("hotline_db_pool_idle").set(pool.num_idle() as f64);
        metrics::gauge!("hotline_db_pool_max").set(pool.options().get_max_connections() as f64);
        if let Some(w) = &self.writer {
            metrics::gauge!("hotline_db_write_waiting").set(w.waiting() as f64);
        }
    }

    /// True when the database answers a trivial query (readiness).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// The file of a `sqlite://path` (or `sqlite:path`) URL, its query left out; None for another
/// backend's URL.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(path.split('?').next().unwrap_or(path).into())
}

/// Current time in unix milliseconds, the one clock every row uses.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Tags, skills and languages are stored as JSON arrays in a TEXT column.
pub fn from_json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

pub fn to_json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// Writes a consistent copy of the live SQLite database to `path` (refuses to overwrite).
pub async fn backup(db: &Db, path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        anyhow::bail!("{} exists; choose a new file", path.display());
    }
    let stmt = db.backend.backup_statement(&path.to_string_lossy())?;
    sqlx::query(sqlx::AssertSqlSafe(stmt))
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// A random server key kept in row `id` of `portal_secrets` (1: portal form tokens, 2: known
/// device cookies), created on first use and shared by every node.
pub async fn stored_secret(db: &Db, id: i64) -> crate::error::AppResult<Vec<u8>> {
    let read = |db: &Db| {
        let pool = db.pool.clone();
        async move {
            let row = sqlx::query("SELECT secret FROM portal_secrets WHERE id = $1")
                .bind(id)
                .fetch_optional(&pool)
                .await?;
            row.map(|r| sqlx::Row::try_get::<String, _>(&r, "secret"))
                .transpose()
                .map_err(crate::error::AppError::from)
        }
    };
    let secret = match read(db).await? {
        Some(s) => s,
        None => {
            let fresh: [u8; 32] = rand::random();
            sqlx::query(
                "INSERT INTO portal_secrets (id, secret, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(hex::encode(fresh))
            .bind(now_ms())
            .execute(&db.pool)
            .await?;
            read(db).await?.ok_or_else(|| {
                crate::error::AppError::internal(anyhow::anyhow!("secret {id} missing"))
            })?
        }
    };
    hex::decode(secret).map_err(crate::error::AppError::internal)
}
