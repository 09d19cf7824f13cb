//! SQLite's group-commit writer: one thread, one read-write rusqlite connection, one
//! transaction for every write that is waiting when the previous batch ends.
//!
//! SQLite admits one writer at a time. Through sqlx every statement of a write crosses to the
//! connection's worker thread and back, and every webhook pays its own BEGIN and COMMIT; that
//! capped SMS intake at ~750/s here (BENCHMARKS.md). Here a job's statements run in place on
//! the writer's thread (`WriteTx`), inside a savepoint of the shared transaction, so a job that
//! fails is rolled back alone. Its caller hears the result only after the COMMIT: nothing is
//! acknowledged that is not durable.
//!
//! Writers on the sqlx pool still exist beside this one; SQLite's busy handler orders the two.

use super::Db;
use super::exec::{Exec, WriteTx};
use crate::error::{AppError, AppResult};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Jobs written per transaction at most, so that a steady stream still commits often.
const MAX_BATCH: usize = 256;

/// A job runs its statements and says whether they succeeded; `Finish::done` hears whether the
/// batch committed.
type Job = Box<dyn FnOnce(&mut WriteTx<'_>) -> Finish + Send>;

struct Finish {
    ok: bool,
    done: Box<dyn FnOnce(AppResult<()>) + Send>,
}

/// Jobs waiting for the writer at most, unless configured (`HOTLINE_DB_WRITE_QUEUE`).
pub const DEFAULT_QUEUE: usize = 1024;

pub struct SqliteWriter {
    /// Bounded: under overload a caller is refused at once (`Overloaded`: HTTP 503 with
    /// Retry-After, SMTP 451 4.3.2) instead of the queue, and memory, growing without end.
    jobs: mpsc::SyncSender<Job>,
    /// Jobs handed over and not yet taken by the writer's thread (`/metrics`).
    waiting: Arc<AtomicUsize>,
}

impl SqliteWriter {
    /// Opens the connection and starts the thread; it ends when the writer is dropped. At most
    /// `queue` jobs wait (at least 1).
    pub fn start(path: &Path, queue: usize) -> anyhow::Result<SqliteWriter> {
        let conn = rusqlite::Connection::open(path)?;
        for stmt in super::Backend::Sqlite.session_setup() {
            // `journal_mode` answers with a row; step through whatever a pragma returns.
            conn.prepare(stmt)?.raw_query().next()?;
        }
        // After the pragmas, which set SQLite's own handler.
        conn.busy_handler(Some(wait_for_lock))?;
        let (jobs, queue) = mpsc::sync_channel(queue.max(1));
        let waiting = Arc::new(AtomicUsize::new(0));
        let taken = waiting.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || serve(conn, queue, &taken))?;
        Ok(SqliteWriter { jobs, waiting })
    }

    /// Jobs waiting for the writer's thread now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Runs `f` in the writer's next transaction and returns its result once that committed.
    /// `f` runs on the writer's thread: it must not block on anything but the database.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut WriteTx<'_>) -> AppResult<R> + Send + 'static,
    ) -> AppResult<R> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |w| {
            let result = f(w);
            Finish {
                ok: result.is_ok(),
                done: Box::new(move |committed| {
                    let _ = reply.send(committed.and(result));
                }),
            }
        });
        // Counted before it is handed over: the writer's thread may take it at once.
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let sent = self.jobs.try_send(job);
        if sent.is_err() {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        sent.map_err(|e| match e {
            mpsc::TrySendError::Full(_) => {
                metrics::counter!("hotline_db_write_overloaded_total").increment(1);
                AppError::Overloaded
            }
            mpsc::TrySendError::Disconnected(_) => stopped(),
        })?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Waits for another connection's write lock: SQLite's own handler sleeps 1, 2, 5, 10 … 100 ms
/// between tries, so one short write by a pool connection cost the whole batch milliseconds.
/// Here: tries every 100 µs for the first 10 ms, then every millisecond, for 10 s in all.
fn wait_for_lock(tries: i32) -> bool {
    let (fast, total) = (100, 100 + 9_990);
    let pause = if tries < fast { 100 } else { 1_000 };
    std::thread::sleep(std::time::Duration::from_micros(pause));
    tries < total
}

fn stopped() -> AppError {
    AppError::Internal(anyhow::anyhow!(
        "the SQLite writer dropped the write (see the log)"
    ))
}

fn serve(conn: rusqlite::Connection, queue: mpsc::Receiver<Job>, waiting: &AtomicUsize) {
    let take = |job: Job| {
        waiting.fetch_sub(1, Ordering::Relaxed);
        job
    };
    while let Ok(first) = queue.recv().map(take) {
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the job tells its caller; the next one tries again.
            tracing::error!(error = %e, "sqlite writer: cannot begin a transaction");
            continue;
        }
        let mut finished = vec![run_job(&conn, first)];
        while finished.len() < MAX_BATCH {
            match queue.try_recv().map(take) {
                Ok(job) => finished.push(run_job(&conn, job)),
                Err(_) => break,
            }
        }
        let committed = conn.execute_batch("COMMIT").map_err(|e| {
            tracing::error!(error = %e, jobs = finished.len(), "sqlite writer: commit failed");
            let _ = conn.execute_batch("ROLLBACK");
            e
        });
        for done in finished.into_iter().flatten() {
            done(match &committed {
                Ok(()) => Ok(()),
                Err(e) => Err(AppError::Internal(anyhow::anyhow!("commit failed: {e}"))),
            });
        }
    }
}

/// Runs one job in its own savepoint; `None` when it panicked (its caller hears of it when the
/// job's reply is dropped).
fn run_job(conn: &rusqlite::Connection, job: Job) -> Option<Box<dyn FnOnce(AppResult<()>) + Send>> {
    if let Err(e) = conn.execute_batch("SAVEPOINT job") {
        tracing::error!(error = %e, "sqlite writer: savepoint failed");
        return None;
    }
    let mut w = WriteTx { conn };
    let finish = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut w)));
    let ok = matches!(&finish, Ok(f) if f.ok);
    if !ok {
        let _ = conn.execute_batch("ROLLBACK TO job");
    }
    let _ = conn.execute_batch("RELEASE job");
    finish.ok().map(|f| f.done)
}

/// Polls a future that cannot suspend (every `.await` in it is on a `WriteTx`) to its end.
pub fn run_now<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => {
            unreachable!("a write on the SQLite writer awaited something else")
        }
    }
}

/// Work for one write transaction, written once for every connection type.
pub trait WriteJob: Send + 'static {
    type Out: Send + 'static;

    #[allow(async_fn_in_trait)]
    async fn run<E: Exec>(&self, tx: &mut E, db: &Db) -> AppResult<Self::Out>;
}

impl Db {
    /// Runs `job` in a write transaction and returns once it committed: on SQLite in the
    /// group-commit writer's next batch, on PostgreSQL in a transaction of its own. A `Conflict`
    /// there (a concurrent writer won a unique key, e.g. two first messages of one new sender)
    /// runs it once more, and the second run finds what the first lost to.
    pub async fn write<J: WriteJob>(&self, job: J) -> AppResult<J::Out> {
        if let Some(writer) = &self.writer {
            let db = self.clone();
            return writer.run(move |w| run_now(job.run(w, &db))).await;
        }
        let mut retried = false;
        loop {
            let mut tx = self.begin().await?;
            match job.run(&mut tx, self).await {
                Ok(out) => {
                    tx.commit().await?;
                    return Ok(out);
                }
                Err(AppError::Conflict(_)) if !retried => retried = true,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Param;

    fn count(path: &Path) -> i64 {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    /// A database file with one table `t (v UNIQUE)`.
    fn with_table(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("w.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
            .unwrap();
        path
    }

    fn insert(w: &mut WriteTx<'_>, v: i64) -> AppResult<u64> {
        run_now(w.run("INSERT INTO t (v) VALUES ($1)", vec![Param::Int(v)]))
    }

    #[tokio::test]
    async fn a_failed_job_is_rolled_back_alone_and_the_others_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = with_table(dir.path());
        let writer = std::sync::Arc::new(SqliteWriter::start(&path, DEFAULT_QUEUE).unwrap());
        let jobs = (0..20).map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .run(move |w| {
                        insert(w, i)?;
                        if i % 5 == 0 {
                            // A second insert of the same value fails after the first stood.
                            insert(w, i)?;
                        }
                        Ok(i)
                    })
                    .await
            })
        });
        let results = futures_util::future::join_all(jobs).await;
        for (i, r) in results.into_iter().enumerate() {
            match r.unwrap() {
                Ok(v) => assert_eq!(v, i as i64),
                Err(e) => {
                    assert_eq!(i % 5, 0, "job {i} failed: {e}");
                    assert_eq!(e.code(), "conflict");
                }
            }
        }
        assert_eq!(count(&path), 16, "the four failed jobs left nothing behind");
    }

    /// A full queue refuses at once with `overloaded` (HTTP 503 and Retry-After) instead of
    /// growing; once the writer catches up, writes are taken again.
    #[tokio::test]
    async fn a_full_queue_answers_overloaded_and_recovers() {
        use axum::response::IntoResponse;
        let dir = tempfile::tempdir().unwrap();
        let path = with_table(dir.path());
        let writer = std::sync::Arc::new(SqliteWriter::start(&path, 2).unwrap());
        // The first job blocks the writer's thread until released.
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let w = writer.clone();
        let blocked = tokio::spawn(async move {
            w.run(move |w| {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                insert(w, 0)
            })
            .await
        });
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        // Two wait in the queue (each polled once: queued, waiting for its commit); the third
        // is refused at once.
        let mut first = Box::pin(writer.run(|w| insert(w, 1)));
        let mut second = Box::pin(writer.run(|w| insert(w, 2)));
        assert!(futures_util::poll!(first.as_mut()).is_pending());
        assert!(futures_util::poll!(second.as_mut()).is_pending());
        let refused = writer.run(|w| insert(w, 99)).await.unwrap_err();
        assert_eq!(refused.code(), "overloaded", "{refused}");
        let response = refused.into_response();
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(
            response.headers()["retry-after"],
            crate::error::OVERLOADED_RETRY_AFTER_SECS
        );
        release.send(()).unwrap();
        assert_eq!(blocked.await.unwrap().unwrap(), 1);
        assert_eq!(first.await.unwrap(), 1);
        assert_eq!(second.await.unwrap(), 1);
        assert_eq!(writer.run(|w| insert(w, 3)).await.unwrap(), 1);
        assert_eq!(count(&path), 4);
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = with_table(dir.path());
        let writer = SqliteWriter::start(&path, DEFAULT_QUEUE).unwrap();
        let failed = writer
            .run(|w| -> AppResult<()> {
                insert(w, 1)?;
                panic!("a bug in a job");
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(writer.run(|w| insert(w, 2)).await.unwrap(), 1);
        assert_eq!(count(&path), 1);
    }
}
