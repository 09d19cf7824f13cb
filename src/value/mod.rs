//! Orders, customer value and tiers (the 80/20 rule).
//!
//! Orders come from a shop or CRM (`POST /api/customers/{id}/orders`, idempotent on the
//! external id). Over a window (`HOTLINE_VALUE_WINDOW_MONTHS`) each customer with counting
//! orders (every status but `cancelled` and `refunded`) has an RFM score: recency, frequency
//! and monetary value, each a quintile 1–5 among those customers, the score their sum (3–15).
//! Tiers follow Pareto: customers ranked by revenue in the window; the smallest set bringing
//! `HOTLINE_VALUE_KEY_SHARE` % of the revenue is `key` (customers tied with the last one of the
//! set are in it too), the top `HOTLINE_VALUE_VIP_SHARE` % of those (by count, rounded up, ties
//! included) `vip`; no counting order in the window: `low`; the rest `regular`. A tier set by
//! hand is pinned and the recompute leaves it alone.
//!
//! Rules here; SQL in store.rs; HTTP in routes.rs.

pub mod routes;
pub mod store;

use crate::clock::Clock;
use crate::config::Config;
use crate::customers::Tier;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use serde::Serialize;

/// Customers read and written per transaction by the recompute.
const CHUNK: i64 = 500;
const DAY_MS: i64 = 86_400_000;
/// The `realtime_marks` row of the last full recompute (the clock's unix ms).
const NIGHTLY_MARK: &str = "value_recomputed_at";

impl Shares {
    pub fn of(config: &Config) -> Shares {
        Shares {
            key: config.value_key_share.clamp(1, 100),
            vip: config.value_vip_share.min(100),
            months: config.value_window_months.max(1),
        }
    }
}

/// What a recompute did.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Outcome {
    /// Customers with counting orders in the window.
    pub ranked: usize,
    /// Tiers that changed (pinned tiers are left alone).
    pub changed: usize,
    /// The window: orders after this (unix ms) up to `to`.
    pub from: i64,
    pub to: i64,
}

/// One recompute at a time in this process (another node's overlapping run is harmless: a tier
/// changes only from the value it was read with).
static RUNNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Ranks every customer over the window ending `now` and stores tiers, reasons and figures.
/// Customers are written `CHUNK` per transaction; each change records its history and
/// `customer.tier_changed` in the same commit.
pub async fn recompute(db: &Db, now: i64, shares: Shares) -> AppResult<Outcome> {
    let _one = RUNNING.lock().await;
    let from = window_start(now, shares.months);
    let totals = store::window_totals(db, from, now).await?;
    let ranked = rank(&totals, shares);
    let by_id: std::collections::HashMap<i64, usize> = ranked
        .iter()
        .enumerate()
        .map(|(k, r)| (r.customer_id, k))
        .collect();
    let totals_by_id: std::collections::HashMap<i64, &Totals> =
        totals.iter().map(|t| (t.customer_id, t)).collect();
    let low = low_reason(shares);
    let stamp = crate::db::now_ms();
    let mut outcome = Outcome {
        ranked: ranked.len(),
        from,
        to: now,
        ..Outcome::default()
    };
    let mut after = 0;
    loop {
        let page = store::current_tiers(db, after, CHUNK).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let mut tx = db.begin().await?;
        for c in &page {
            let (tier, reason) = match by_id.get(&c.id) {
                Some(&k) => {
                    let r = &ranked[k];
                    store::upsert_figures(&mut tx, totals_by_id[&c.id], r, stamp).await?;
                    (r.tier, &r.reason)
                }
                None => (Tier::Low, &low),
            };
            if c.pinned {
                continue;
            }
            let data = serde_json::to_string(reason).map_err(AppError::internal)?;
            if c.tier != tier.as_str() {
                if store::apply_computed(&mut tx, db.backend, c.id, &c.tier, tier.as_str(), reason)
                    .await?
                {
                    outcome.changed += 1;
                }
            } else if c.reason != data {
                store::set_reason(&mut tx, c.id, &data).await?;
            }
        }
        crate::realtime::events::commit(tx).await?;
    }
    store::drop_stale_figures(db, stamp).await?;
    metrics::counter!("hotline_value_tier_changes_total").increment(outcome.changed as u64);
    Ok(outcome)
}

/// The routing leader's daily full recompute: due 24 hours (by `clock`) after the last one.
/// The first time it only notes the time, so that a new installation (every customer without
/// orders) is not re-tiered the moment it starts; without any order at all it does nothing.
pub async fn nightly(db: &Db, clock: &Clock, shares: Shares) -> AppResult<Option<Outcome>> {
    let now = clock.now_ms();
    match store::mark(db, NIGHTLY_MARK).await? {
        None => {
            store::set_mark(&mut &*db, NIGHTLY_MARK, now).await?;
            Ok(None)
        }
        Some(last) if now - last < DAY_MS => Ok(None),
        // A center that records no orders keeps the tiers its people set.
        Some(_) if !store::any_orders(db).await? => {
            store::set_mark(&mut &*db, NIGHTLY_MARK, now).await?;
            Ok(None)
        }
        Some(_) => {
            let outcome = recompute(db, now, shares).await?;
            store::set_mark(&mut &*db, NIGHTLY_MARK, now).await?;
            tracing::info!(
                ranked = outcome.ranked,
                changed = outcome.changed,
                "value: nightly recompute"
            );
            Ok(Some(outcome))
        }
    }
}

/// Order statuses; `cancelled` and `refunded` orders bring no revenue.
pub const ORDER_STATUSES: [&str; 6] = [
    "placed",
    "paid",
    "shipped",
    "completed",
    "cancelled",
    "refunded",
];

/// The reason recorded when a person sets the tier.
pub const SET_BY_HAND: &str = "set by hand";

/// Digits after the decimal point of a currency's minor unit (ISO 4217). Currencies are checked
/// for their shape (three capital letters); these are the ones whose minor unit is not a cent.
/// (No crate: the ISO table crates are large for this one number, and a shop sends a handful of
/// currencies; the exceptions below are the ISO 4217 list of 0- and 3-digit currencies.)
pub fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// A currency code: three capital ASCII letters (`CNY`, `USD`).
pub fn check_currency(c: &str) -> AppResult<String> {
    let c = c.trim().to_ascii_uppercase();
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err(AppError::validation(
            "currency",
            "currency must be an ISO 4217 code such as CNY",
        ))
    }
}

/// An amount as decimal text (`"199.90"`, `"12"`, `"-5.5"`) in integer minor units of a
/// currency with `digits` decimals; more decimals than the currency has are refused rather than
/// rounded. Written here: exact decimal-to-integer for one field needs no decimal library, and
/// floating point must never touch money.
pub fn parse_amount(text: &str, digits: u32) -> AppResult<i64> {
    let bad = || {
        AppError::validation(
            "amount",
            format!("amount must be a decimal number with at most {digits} decimals"),
        )
    };
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > digits as usize {
        return Err(bad());
    }
    let scale = 10i64.pow(digits);
    let whole: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let mut part: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    part *= 10i64.pow(digits - frac.len() as u32);
    let minor = whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(part))
        .ok_or_else(bad)?;
    Ok(if neg { -minor } else { minor })
}

/// Minor units back to decimal text (`19990`, 2 → `"199.90"`).
pub fn format_amount(minor: i64, digits: u32) -> String {
    if digits == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(digits);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale as u64,
        abs % scale as u64,
        width = digits as usize
    )
}

/// One customer's counting orders in the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Totals {
    pub customer_id: i64,
    pub revenue: i64,
    pub orders: i64,
    pub last_order_at: i64,
}

/// The thresholds of the tiers.
#[derive(Clone, Copy, Debug)]
pub struct Shares {
    /// Percent of the window's revenue the `key` customers bring together (1..=100).
    pub key: u32,
    /// Percent of the `key` customers (by count) who are `vip` (0..=100).
    pub vip: u32,
    /// The window in months (for the reason text).
    pub months: i64,
}

/// Why a customer has their tier, as data (the console words it in the reader's language) and
/// as English text (`text`, kept in the tier history).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Reason {
    /// `vip`, `key`, `regular`, `low` (computed) or `pinned` (set by hand).
    pub code: String,
    /// The customer's place by revenue as a percentage of the ranked customers, rounded up
    /// (`top 4%`); null for `low` and `pinned`.
    pub top_percent: Option<i64>,
    pub months: i64,
    /// The key share (percent of revenue).
    pub key_share: u32,
    /// The vip share (percent of key customers).
    pub vip_share: u32,
}

impl Reason {
    pub fn text(&self) -> String {
        let m = self.months;
        let p = self.top_percent.unwrap_or(100);
        match self.code.as_str() {
            "vip" => format!(
                "top {p}% by {m}-month revenue (the top {}% of key customers)",
                self.vip_share
            ),
            "key" => format!(
                "top {p}% by {m}-month revenue (among the customers bringing {}% of it)",
                self.key_share
            ),
            "regular" => format!(
                "top {p}% by {m}-month revenue (outside the customers bringing {}% of it)",
                self.key_share
            ),
            "low" => format!("no orders in the last {m} months"),
            _ => SET_BY_HAND.to_string(),
        }
    }
}

/// What the recompute decides for one ranked customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ranked {
    pub customer_id: i64,
    pub tier: Tier,
    pub reason: Reason,
    /// 1 + the number of customers with more revenue (ties share a rank).
    pub rank: i64,
    pub r: i64,
    pub f: i64,
    pub m: i64,
}

/// Quintile 1..=5 of each item by `key` (higher key → higher quintile); ties share the best.
fn quintiles(items: &[Totals], key: impl Fn(&Totals) -> i64) -> Vec<i64> {
    let n = items.len() as i64;
    let mut keys: Vec<i64> = items.iter().map(&key).collect();
    keys.sort_unstable_by(|a, b| b.cmp(a));
    items
        .iter()
        .map(|t| {
            let k = key(t);
            // Items strictly ahead (keys sorted descending).
            let ahead = keys.partition_point(|&x| x > k) as i64;
            5 - (5 * ahead / n.max(1))
        })
        .collect()
}

/// Ranks the customers with counting orders in the window and gives each a tier; customers not
/// in `totals` are `low` (`low_reason`).
pub fn rank(totals: &[Totals], shares: Shares) -> Vec<Ranked> {
    let n = totals.len();
    if n == 0 {
        return Vec::new();
    }
    let mut sorted: Vec<&Totals> = totals.iter().collect();
    sorted.sort_by(|a, b| {
        b.revenue
            .cmp(&a.revenue)
            .then(a.customer_id.cmp(&b.customer_id))
    });
    let total: i128 = sorted.iter().map(|t| t.revenue.max(0) as i128).sum();
    // Per tie group: the rank (1 + count ahead) and the revenue of all ahead.
    let mut ranks = Vec::with_capacity(n);
    let mut before: i128 = 0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && sorted[j].revenue == sorted[i].revenue {
            j += 1;
        }
        for _ in i..j {
            ranks.push((i as i64 + 1, before));
        }
        before += (j - i) as i128 * sorted[i].revenue.max(0) as i128;
        i = j;
    }
    let is_key = |k: usize| {
        let (_, ahead) = ranks[k];
        sorted[k].revenue > 0 && total > 0 && ahead * 100 < total * shares.key as i128
    };
    let n_key = (0..n).filter(|&k| is_key(k)).count() as i64;
    let n_vip = (n_key * shares.vip as i64 + 99) / 100;
    let r = quintiles(totals, |t| t.last_order_at);
    let f = quintiles(totals, |t| t.orders);
    let m = quintiles(totals, |t| t.revenue);
    let index: std::collections::HashMap<i64, usize> = totals
        .iter()
        .enumerate()
        .map(|(k, t)| (t.customer_id, k))
        .collect();
    (0..n)
        .map(|k| {
            let (rank, _) = ranks[k];
            let tier = if is_key(k) {
                if rank <= n_vip { Tier::Vip } else { Tier::Key }
            } else {
                Tier::Regular
            };
            let top = (100 * rank + n as i64 - 1) / n as i64;
            let at = index[&sorted[k].customer_id];
            Ranked {
                customer_id: sorted[k].customer_id,
                tier,
                reason: Reason {
                    code: tier.as_str().into(),
                    top_percent: Some(top),
                    months: shares.months,
                    key_share: shares.key,
                    vip_share: shares.vip,
                },
                rank,
                r: r[at],
                f: f[at],
                m: m[at],
            }
        })
        .collect()
}

/// The reason of a customer without counting orders in the window.
pub fn low_reason(shares: Shares) -> Reason {
    Reason {
        code: "low".into(),
        top_percent: None,
        months: shares.months,
        key_share: shares.key,
        vip_share: shares.vip,
    }
}

/// The reason of a tier set by hand.
pub fn pinned_reason() -> Reason {
    Reason {
        code: "pinned".into(),
        top_percent: None,
        months: 0,
        key_share: 0,
        vip_share: 0,
    }
}

/// `HOTLINE_TIER_PRIORITY`: how much a new ticket's queue priority rises for the customer's
/// tier (vip two steps, key one).
pub fn tier_boost(enabled: bool, tier: Option<&str>) -> i64 {
    match (enabled, tier) {
        (true, Some("vip")) => 2,
        (true, Some("key")) => 1,
        _ => 0,
    }
}

/// The start of the window: `months` calendar months before `now` (unix ms, UTC).
pub fn window_start(now: i64, months: i64) -> i64 {
    let span = jiff::Span::new().months(months.clamp(0, 1200));
    jiff::Timestamp::from_millisecond(now)
        .ok()
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC))
        .and_then(|z| z.checked_sub(span).ok())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: i64, revenue: i64) -> Totals {
        Totals {
            customer_id: id,
            revenue,
            orders: 1,
            last_order_at: id,
        }
    }

    const SHARES: Shares = Shares {
        key: 80,
        vip: 20,
        months: 12,
    };

    fn tiers(totals: &[Totals]) -> Vec<(i64, &'static str)> {
        let mut v: Vec<_> = rank(totals, SHARES)
            .into_iter()
            .map(|r| (r.customer_id, r.tier.as_str()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn amounts_are_exact_minor_units() {
        assert_eq!(parse_amount("199.90", 2).unwrap(), 19990);
        assert_eq!(parse_amount("199.9", 2).unwrap(), 19990);
        assert_eq!(parse_amount("12", 2).unwrap(), 1200);
        assert_eq!(parse_amount(".5", 2).unwrap(), 50);
        assert_eq!(parse_amount("-5.50", 2).unwrap(), -550);
        assert_eq!(parse_amount("1500", 0).unwrap(), 1500);
        assert_eq!(parse_amount("1.234", 3).unwrap(), 1234);
        assert_eq!(parse_amount("0.1", 2).unwrap(), 10);
        for bad in [
            "",
            ".",
            "1.999",
            "1e3",
            "abc",
            "1,5",
            "--1",
            "99999999999999999999",
        ] {
            assert!(parse_amount(bad, 2).is_err(), "{bad}");
        }
        assert!(parse_amount("1.5", 0).is_err());
        assert_eq!(format_amount(19990, 2), "199.90");
        assert_eq!(format_amount(-550, 2), "-5.50");
        assert_eq!(format_amount(1500, 0), "1500");
        assert_eq!(format_amount(5, 3), "0.005");
    }

    #[test]
    fn pareto_tiers_with_ties() {
        // Revenue 100: 50 + 20 + 10 + 10 + 5 + 5. 80% is reached with the first three
        // (50, 20, 10: 50+20 = 70 < 80 before the 10s), and the other 10 is tied: key too.
        let totals = [t(1, 50), t(2, 20), t(3, 10), t(4, 10), t(5, 5), t(6, 5)];
        // Four key customers; 20% of 4 rounded up is 1 vip.
        assert_eq!(
            tiers(&totals),
            vec![
                (1, "vip"),
                (2, "key"),
                (3, "key"),
                (4, "key"),
                (5, "regular"),
                (6, "regular")
            ]
        );
        let ranked = rank(&totals, SHARES);
        let four = ranked.iter().find(|r| r.customer_id == 4).unwrap();
        assert_eq!(four.rank, 3);
        assert_eq!(four.reason.top_percent, Some(50));
        let one = ranked.iter().find(|r| r.customer_id == 1).unwrap();
        assert_eq!(
            one.reason.text(),
            "top 17% by 12-month revenue (the top 20% of key customers)"
        );
        assert_eq!(low_reason(SHARES).text(), "no orders in the last 12 months");
    }

    #[test]
    fn ties_at_the_top_are_all_vip_and_zero_revenue_is_regular() {
        let totals = [t(1, 30), t(2, 30), t(3, 30), t(4, 10), t(5, 0)];
        assert_eq!(
            tiers(&totals),
            vec![
                (1, "vip"),
                (2, "vip"),
                (3, "vip"),
                (4, "regular"),
                (5, "regular")
            ]
        );
        assert!(rank(&[], SHARES).is_empty());
        assert_eq!(tiers(&[t(9, 0)]), vec![(9, "regular")]);
    }

    #[test]
    fn rfm_quintiles() {
        let totals: Vec<Totals> = (1..=10)
            .map(|i| Totals {
                customer_id: i,
                revenue: i * 10,
                orders: 11 - i,
                last_order_at: i,
            })
            .collect();
        let ranked = rank(&totals, SHARES);
        let top = ranked.iter().find(|r| r.customer_id == 10).unwrap();
        assert_eq!((top.r, top.f, top.m), (5, 1, 5));
        let bottom = ranked.iter().find(|r| r.customer_id == 1).unwrap();
        assert_eq!((bottom.r, bottom.f, bottom.m), (1, 5, 1));
    }

    #[test]
    fn boost_and_window() {
        assert_eq!(tier_boost(true, Some("vip")), 2);
        assert_eq!(tier_boost(true, Some("key")), 1);
        assert_eq!(tier_boost(true, Some("regular")), 0);
        assert_eq!(tier_boost(false, Some("vip")), 0);
        // 2026-03-31T00:00Z minus one month: 2026-02-28 (jiff clamps the day).
        let now = 1_774_915_200_000;
        let start = window_start(now, 1);
        assert_eq!(start, 1_772_236_800_000);
    }
}
