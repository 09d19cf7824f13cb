//! The clock of scheduled work (complaint reminders, surveys due after a delay, token expiry):
//! the system time plus an offset that tests move forward to reach a due time without waiting.
//! Rows still stamp `db::now_ms()`; only jobs that decide "is it due yet" read this clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Now in unix milliseconds, as the scheduled jobs see it.
    pub fn now_ms(&self) -> i64 {
        crate::db::now_ms() + self.offset_ms.load(Ordering::SeqCst)
    }

    /// Moves this clock (and every clone of it) forward by `ms`. Tests only: a server's clock
    /// is the system's.
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_clone() {
        let clock = Clock::default();
        let other = clock.clone();
        let before = other.now_ms();
        clock.advance(3_600_000);
        assert!(other.now_ms() >= before + 3_600_000);
    }
}
