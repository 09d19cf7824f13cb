//! The hot reads (the 360 view behind every lookup and screen pop) run one SQL text on both
//! backends through `Db::fetch_all`. On PostgreSQL that is the sqlx pool. On SQLite it is a few
//! read-only rusqlite connections on blocking threads: sqlx's SQLite driver hands every
//! statement to a per-connection worker thread and streams the rows back over a channel, which
//! costs ~200 µs a statement here against ~50 µs for the query itself (BENCHMARKS.md). WAL mode
//! lets these readers run beside the writer and see everything committed.
//!
//! Rows are mapped once for both paths: a type implements `FromRow` over `ReadRow`, which sqlx's
//! `AnyRow` and rusqlite's `Row` both implement.

use crate::error::{AppError, AppResult};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A bound value. `$1`, `$2`, … in the SQL take the values in order. A NULL keeps its type:
/// PostgreSQL refuses an integer-typed NULL for a text column.
#[derive(Clone, Debug)]
pub enum Param {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    NullInt,
    NullText,
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(v.to_string())
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(v)
    }
}

impl From<&String> for Param {
    fn from(v: &String) -> Self {
        Param::Text(v.clone())
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Param::NullInt, Param::Int)
    }
}

impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        v.map_or(Param::NullText, Param::Text)
    }
}

impl From<&Option<String>> for Param {
    fn from(v: &Option<String>) -> Self {
        v.clone().into()
    }
}

impl From<bool> for Param {
    fn from(v: bool) -> Self {
        Param::Int(v as i64)
    }
}

/// A column type both drivers decode.
pub trait Column:
    for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

/// A result row of either driver, read by column name.
pub trait ReadRow {
    fn try_get<T: Column>(&self, col: &str) -> Result<T, sqlx::Error>;
}

impl ReadRow for sqlx::any::AnyRow {
    fn try_get<T: Column>(&self, col: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, col)
    }
}

impl ReadRow for rusqlite::Row<'_> {
    fn try_get<T: Column>(&self, col: &str) -> Result<T, sqlx::Error> {
        self.get(col).map_err(|e| sqlx::Error::ColumnDecode {
            index: col.to_string(),
            source: Box::new(e),
        })
    }
}

/// A value built from one result row.
pub trait FromRow: Sized + Send + 'static {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error>;
}

/// A bare id, read from the column named `id` (alias it in the SQL).
impl FromRow for i64 {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        r.try_get("id")
    }
}

/// Idle read-only connections to one SQLite file, opened on demand.
pub struct SqliteReaders {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    max_idle: usize,
}

impl SqliteReaders {
    pub fn new(path: PathBuf, max_idle: usize) -> Arc<SqliteReaders> {
        Arc::new(SqliteReaders {
            path,
            idle: Mutex::new(Vec::new()),
            max_idle,
        })
    }

    /// Runs `sql` and maps every row. On a multi-threaded runtime the query runs right here
    /// (`block_in_place`: no hand-off to another thread and back on the lookup's path);
    /// elsewhere on a blocking thread.
    pub async fn fetch_all<T: FromRow>(
        self: &Arc<Self>,
        sql: &str,
        params: Vec<Param>,
    ) -> AppResult<Vec<T>> {
        let run = |this: &SqliteReaders, sql: &str, params: &[Param]| {
            let conn = this.take()?;
            let rows = query(&conn, sql, params);
            this.put(conn);
            rows
        };
        let flavor = tokio::runtime::Handle::current().runtime_flavor();
        if flavor == tokio::runtime::RuntimeFlavor::MultiThread {
            return tokio::task::block_in_place(|| run(self, sql, &params));
        }
        let (this, sql) = (self.clone(), sql.to_string());
        tokio::task::spawn_blocking(move || run(&this, &sql, &params))
            .await
            .map_err(|e| AppError::Internal(e.into()))?
    }

    fn take(&self) -> AppResult<rusqlite::Connection> {
        if let Some(conn) = self.lock().pop() {
            return Ok(conn);
        }
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(conn)
    }

    fn put(&self, conn: rusqlite::Connection) {
        let mut idle = self.lock();
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<rusqlite::Connection>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn query<T: FromRow>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Param],
) -> AppResult<Vec<T>> {
    let mut stmt = prepare(conn, sql, params)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(T::from_row(row)?);
    }
    Ok(out)
}

/// Runs a statement that returns no rows; the number of rows it changed.
pub(crate) fn execute(conn: &rusqlite::Connection, sql: &str, params: &[Param]) -> AppResult<u64> {
    let mut stmt = prepare(conn, sql, params)?;
    Ok(stmt.raw_execute()? as u64)
}

fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    params: &[Param],
) -> AppResult<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(sql)?;
    // Bound by name: SQLite numbers `$n` parameters in order of first appearance, not by n.
    for (i, p) in params.iter().enumerate() {
        let Some(index) = stmt.parameter_index(&format!("${}", i + 1))? else {
            continue;
        };
        match p {
            Param::Int(v) => stmt.raw_bind_parameter(index, v),
            Param::Text(v) => stmt.raw_bind_parameter(index, v),
            Param::Bytes(v) => stmt.raw_bind_parameter(index, v),
            Param::NullInt | Param::NullText => {
                stmt.raw_bind_parameter(index, rusqlite::types::Null)
            }
        }?;
    }
    Ok(stmt)
}

/// `sql` with `params` bound, for sqlx.
pub(crate) fn sqlx_query(
    sql: &str,
    params: Vec<Param>,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
    for p in params {
        q = match p {
            Param::Int(v) => q.bind(v),
            Param::Text(v) => q.bind(v),
            Param::Bytes(v) => q.bind(v),
            Param::NullInt => q.bind(None::<i64>),
            Param::NullText => q.bind(None::<String>),
        };
    }
    q
}

/// Runs `sql` on the sqlx pool and maps every row.
pub async fn fetch_all_pooled<T: FromRow>(
    pool: &sqlx::AnyPool,
    sql: &str,
    params: Vec<Param>,
) -> AppResult<Vec<T>> {
    let rows = sqlx_query(sql, params).fetch_all(pool).await?;
    Ok(rows.iter().map(T::from_row).collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pair {
        a: i64,
        b: String,
    }

    impl FromRow for Pair {
        fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
            Ok(Pair {
                a: r.try_get("a")?,
                b: r.try_get("b")?,
            })
        }
    }

    #[test]
    fn numbered_parameters_bind_by_number_not_by_position() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let rows: Vec<Pair> = query(
            &conn,
            "SELECT $2 AS a, $1 AS b WHERE $2 > 0",
            &[Param::from("x"), Param::from(7)],
        )
        .unwrap();
        assert_eq!((rows[0].a, rows[0].b.as_str()), (7, "x"));
    }

    #[test]
    fn a_wrong_column_type_is_an_error_not_a_panic() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let got = query::<Pair>(&conn, "SELECT 'no' AS a, 'x' AS b", &[]);
        assert!(got.is_err());
    }
}
