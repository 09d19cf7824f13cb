//! Counts log events by level: `hotline_log_events_total{level}` on `/metrics`, and
//! [`errors`] for in-process checks (the day-in-the-center test, `hotline simulate --check`
//! through `/metrics`). An ERROR line is a defect to look at, so it must be countable.

use std::sync::atomic::{AtomicU64, Ordering};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

static ERRORS: AtomicU64 = AtomicU64::new(0);
static WARNINGS: AtomicU64 = AtomicU64::new(0);

/// A tracing layer that counts WARN and ERROR events.
pub struct Counter;

impl<S: Subscriber> Layer<S> for Counter {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        let name = if level == Level::ERROR {
            ERRORS.fetch_add(1, Ordering::Relaxed);
            "error"
        } else if level == Level::WARN {
            WARNINGS.fetch_add(1, Ordering::Relaxed);
            "warn"
        } else {
            return;
        };
        metrics::counter!("hotline_log_events_total", "level" => name).increment(1);
    }
}

/// Shows both series on `/metrics` from the start (at 0), so that a clean run reads "no
/// errors" rather than "not counted".
pub fn register() {
    for level in ["error", "warn"] {
        metrics::counter!("hotline_log_events_total", "level" => level).increment(0);
    }
}

/// ERROR events logged by this process so far.
pub fn errors() -> u64 {
    ERRORS.load(Ordering::Relaxed)
}

/// WARN events logged by this process so far.
pub fn warnings() -> u64 {
    WARNINGS.load(Ordering::Relaxed)
}
