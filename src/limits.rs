//! Rate limits of the public doors (sign-in, the portal's form, status look-ups and
//! acknowledgements), one set per node on `governor` (GCRA). Governor's keyed state lives in a
//! DashMap; `Limits::sweep` (every minute, `spawn_sweeper`) drops the keys that are idle again,
//! so memory follows recent traffic instead of growing with every address ever seen.
//! Per node: with N nodes a client gets at most N× a budget, which still defeats guessing and
//! flooding. Who is throttled at sign-in is `auth::LoginThrottle`; the portal's budgets are
//! `PortalLimits` here.

use crate::config::Config;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often idle keys are dropped.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The address a budget counts for a client: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its
/// /64 network (one subscriber usually gets a whole /64: counting single addresses would give
/// them billions of budgets).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// A keyed budget: `burst` events at once, then one more every `per / burst` (governor's GCRA:
/// `burst` per `per` on average, no fixed windows to game).
pub struct Budget<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
    /// Keys whose budget a `take` found spent, and until when. Governor has no look without
    /// taking; this remembers only the spent keys (few) and forgets them when they recover.
    spent: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone> Budget<K> {
    pub fn new(burst: u32, per: Duration) -> Self {
        let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
        let period = (per / burst.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .expect("a positive period")
            .allow_burst(burst);
        Budget {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            spent: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one from `key`'s budget; `Err(wait)` when it is spent (nothing taken).
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        match self.limiter.check_key(key) {
            Ok(_) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                lock(&self.spent).insert(key.clone(), Instant::now() + wait);
                Err(wait)
            }
        }
    }

    /// The wait left when an earlier `take` found `key`'s budget spent; takes nothing.
    pub fn wait(&self, key: &K) -> Option<Duration> {
        let spent = lock(&self.spent);
        let until = spent.get(key)?;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        let now = Instant::now();
        lock(&self.spent).retain(|_, until| *until > now);
    }

    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// Growing delays after repeated failures of one key: the first `free` failures cost nothing,
/// then each further one makes the key wait 1 s, 2 s, 4 s … at most `cap`. A success forgets
/// the key, and so does an hour without failures. Only failures create entries, and the
/// per-address budgets in front of it bound how fast they come.
pub struct Backoff<K: Hash + Eq + Clone> {
    free: u32,
    cap: Duration,
    marks: Mutex<HashMap<K, Mark>>,
}

struct Mark {
    failures: u32,
    until: Instant,
    last: Instant,
}

/// A key without failures for this long starts again with its free tries.
pub const BACKOFF_FORGET: Duration = Duration::from_secs(3600);

impl<K: Hash + Eq + Clone> Backoff<K> {
    pub fn new(free: u32, cap: Duration) -> Self {
        Backoff {
            free,
            cap,
            marks: Mutex::new(HashMap::new()),
        }
    }

    /// How long `key` must still wait, if at all.
    pub fn wait(&self, key: &K) -> Option<Duration> {
        let marks = lock(&self.marks);
        marks
            .get(key)?
            .until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// Records a failure; returns the delay it imposes (zero while within the free tries).
    pub fn failed(&self, key: &K) -> Duration {
        let now = Instant::now();
        let mut marks = lock(&self.marks);
        let mark = marks.entry(key.clone()).or_insert(Mark {
            failures: 0,
            until: now,
            last: now,
        });
        if now.duration_since(mark.last) > BACKOFF_FORGET {
            mark.failures = 0;
        }
        mark.failures = mark.failures.saturating_add(1);
        mark.last = now;
        let delay = match mark.failures.checked_sub(self.free + 1) {
            None => Duration::ZERO,
            Some(over) => Duration::from_secs(1u64 << over.min(20)).min(self.cap),
        };
        mark.until = now + delay;
        delay
    }

    pub fn forget(&self, key: &K) {
        lock(&self.marks).remove(key);
    }

    pub fn sweep(&self) {
        let now = Instant::now();
        lock(&self.marks)
            .retain(|_, m| m.until > now || now.duration_since(m.last) < BACKOFF_FORGET);
    }

    pub fn len(&self) -> usize {
        lock(&self.marks).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The portal's budgets: submissions and status look-ups per client address, and its
/// acknowledgements per destination and overall (the form sends mail or SMS to whatever
/// contact is typed: without these it is a free spam cannon).
pub struct PortalLimits {
    pub submissions: Budget<IpAddr>,
    pub lookups: Budget<IpAddr>,
    /// The survey page's API (open, answer, opt out): four times the portal's per minute.
    pub surveys: Budget<IpAddr>,
    /// Knowledge-base searches (`HOTLINE_PORTAL_KB_SEARCHES_PER_MINUTE`).
    pub kb_searches: Budget<IpAddr>,
    pub acks_per_contact: Budget<String>,
    pub acks: Budget<()>,
}

impl PortalLimits {
    pub fn new(config: &Config) -> Self {
        let minute = Duration::from_secs(60);
        let hour = Duration::from_secs(3600);
        PortalLimits {
            submissions: Budget::new(config.portal_per_minute, minute),
            lookups: Budget::new(config.portal_per_minute, minute),
            surveys: Budget::new(config.portal_per_minute.saturating_mul(4), minute),
            kb_searches: Budget::new(config.portal_kb_searches_per_minute, minute),
            acks_per_contact: Budget::new(config.portal_acks_per_contact_per_hour, hour),
            acks: Budget::new(config.portal_acks_per_hour, hour),
        }
    }

    /// May an acknowledgement go to `destination` (`email:…`, `sms:…`) now?
    pub fn ack_allowed(&self, destination: &str) -> bool {
        self.acks_per_contact.take(&destination.to_string()).is_ok() && self.acks.take(&()).is_ok()
    }

    pub fn sweep(&self) {
        self.submissions.sweep();
        self.lookups.sweep();
        self.surveys.sweep();
        self.kb_searches.sweep();
        self.acks_per_contact.sweep();
        self.acks.sweep();
    }
}

/// Every limiter of one server (in AppState, shared by login, portal and look-ups).
pub struct Limits {
    pub login: crate::auth::LoginThrottle,
    pub portal: PortalLimits,
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        Limits {
            login: crate::auth::LoginThrottle::new(config.login_attempts_per_minute),
            portal: PortalLimits::new(config),
        }
    }

    pub fn sweep(&self) {
        self.login.sweep();
        self.portal.sweep();
    }
}

/// Drops idle keys every `SWEEP_EVERY`.
pub fn spawn_sweeper(limits: std::sync::Arc<Limits>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tick.tick().await;
            limits.sweep();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_takes_burst_then_waits() {
        let b: Budget<u8> = Budget::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(b.wait(&1), None);
            assert!(b.take(&1).is_ok());
        }
        let wait = b.take(&1).unwrap_err();
        assert!(wait > Duration::from_secs(15) && wait <= Duration::from_secs(20));
        assert!(b.wait(&1).is_some());
        assert!(b.take(&2).is_ok(), "keys are independent");
        assert_eq!(b.wait(&2), None);
        assert_eq!(b.len(), 2);
    }

    /// Memory follows recent traffic: 100k one-off clients are forgotten by the next sweep
    /// once their budgets have refilled.
    #[test]
    fn sweep_forgets_idle_keys() {
        let b: Budget<u32> = Budget::new(1, Duration::from_millis(20));
        let started = Instant::now();
        for k in 0..100_000 {
            b.take(&k).unwrap();
        }
        let took = started.elapsed();
        assert_eq!(b.len(), 100_000);
        // A key is "fresh" again one period after its budget refilled.
        std::thread::sleep(Duration::from_millis(60));
        b.sweep();
        assert_eq!(b.len(), 0, "idle keys are gone after a sweep");
        assert_eq!(b.wait(&7), None);
        eprintln!("100k keys taken in {took:?}");
    }

    #[test]
    fn ipv6_counts_per_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(client_key(mapped), "10.1.2.3".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let b: Backoff<&str> = Backoff::new(2, Duration::from_secs(5));
        assert_eq!(b.failed(&"a"), Duration::ZERO);
        assert_eq!(b.failed(&"a"), Duration::ZERO);
        assert_eq!(b.wait(&"a"), None);
        assert_eq!(b.failed(&"a"), Duration::from_secs(1));
        assert_eq!(b.failed(&"a"), Duration::from_secs(2));
        assert_eq!(b.failed(&"a"), Duration::from_secs(4));
        assert_eq!(b.failed(&"a"), Duration::from_secs(5));
        for _ in 0..100 {
            b.failed(&"a");
        }
        assert_eq!(b.failed(&"a"), Duration::from_secs(5));
        assert!(b.wait(&"a").is_some());
        assert_eq!(b.wait(&"b"), None);
        b.forget(&"a");
        assert_eq!(b.wait(&"a"), None);
        assert!(b.is_empty());
    }
}
