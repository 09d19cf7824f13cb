//! Helpers for the crate's own unit and property tests (compiled only for tests).

use std::time::{Duration, Instant};

/// How long one property-test case may take before it counts as a hang.
pub const CASE_LIMIT: Duration = Duration::from_secs(2);

/// Runs `f` on its own thread and fails the case when it panics or takes longer than
/// `CASE_LIMIT` (a hang fails the test instead of stalling it).
pub fn bounded<T: Send + 'static>(what: String, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(CASE_LIMIT) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: no answer after {:?}", start.elapsed())
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    }
}
