//! One SQL text, run by whichever connection holds the work: `Exec` is what the write path of
//! intake (and the store functions it calls) needs of a connection, with three implementations:
//! - a sqlx transaction or connection (`Tx`, `AnyConnection`), PostgreSQL and SQLite;
//! - `&Db`, for a read outside any transaction (on SQLite through the fast readers);
//! - `WriteTx`, SQLite's group-commit writer (`writer.rs`): rusqlite on the writer's own
//!   thread, where every call completes without suspending.
//!
//! `$1`, `$2`, … take `params` in order on every backend; rows map through `FromRow`.

use super::read::{self, FromRow, Param};
use super::{Db, Tx};
use crate::error::AppResult;

// Every caller names a concrete connection type, so the futures' `Send` is known where it
// matters (the axum handlers); no caller needs a `Send` bound on the trait itself.
#[allow(async_fn_in_trait)]
pub trait Exec {
    /// Runs `sql` and maps every row it returns.
    async fn rows<T: FromRow>(&mut self, sql: &str, params: Vec<Param>) -> AppResult<Vec<T>>;

    /// Runs a statement; the number of rows it changed.
    async fn run(&mut self, sql: &str, params: Vec<Param>) -> AppResult<u64>;

    /// The first row, if any.
    async fn row<T: FromRow>(&mut self, sql: &str, params: Vec<Param>) -> AppResult<Option<T>> {
        Ok(self.rows(sql, params).await?.into_iter().next())
    }
}

impl Exec for sqlx::AnyConnection {
    async fn rows<T: FromRow>(&mut self, sql: &str, params: Vec<Param>) -> AppResult<Vec<T>> {
        let rows = read::sqlx_query(sql, params).fetch_all(&mut *self).await?;
        Ok(rows.iter().map(T::from_row).collect::<Result<_, _>>()?)
    }

    async fn run(&mut self, sql: &str, params: Vec<Param>) -> AppResult<u64> {
        let done = read::sqlx_query(sql, params).execute(&mut *self).await?;
        Ok(done.rows_affected())
    }
}

impl Exec for Tx<'_> {
    async fn rows<T: FromRow>(&mut self, sql: &str, params: Vec<Param>) -> AppResult<Vec<T>> {
        (**self).rows(sql, params).await
    }

    async fn run(&mut self, sql: &str, params: Vec<Param>) -> AppResult<u64> {
        (**self).run(sql, params).await
    }
}

/// Reads outside a transaction. Writes go through the pool, each its own transaction.
impl Exec for &Db {
    async fn rows<T: FromRow>(&mut self, sql: &str, params: Vec<Param>) -> AppResult<Vec<T>> {
        self.fetch_all(sql, params).await
    }

    async fn run(&mut self, sql: &str, params: Vec<Param>) -> AppResult<u64> {
        let done = read::sqlx_query(sql, params).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}

/// The open transaction of SQLite's group-commit writer (see `writer.rs`).
pub struct WriteTx<'c> {
    pub(super) conn: &'c rusqlite::Connection,
}

impl Exec for WriteTx<'_> {
    async fn rows<T: FromRow>(&mut self, sql: &str, params: Vec<Param>) -> AppResult<Vec<T>> {
        read::query(self.conn, sql, &params)
    }

    async fn run(&mut self, sql: &str, params: Vec<Param>) -> AppResult<u64> {
        read::execute(self.conn, sql, &params)
    }
}
