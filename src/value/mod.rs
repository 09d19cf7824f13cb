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
use crate::realtime::marks;
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
///
/// The ranking is one read in the database (`store::ranking_changes`, held by the tests to
/// `rank` below) that returns only the customers whose figures or tier differ from what is
/// stored; those are written `CHUNK` per transaction, each tier change with its history and
/// `customer.tier_changed` in the same commit. Memory follows the changes (all ranked customers
/// on the first run, few after), and no transaction is long: on SQLite intake keeps flowing.
/// Then customers without counting orders become `low`, stale figures go, and a snapshot (the
/// Pareto curve, tiers, the revenue cuts) is stored for the value report and for new orders.
pub async fn recompute(db: &Db, now: i64, shares: Shares) -> AppResult<Outcome> {
    let _one = RUNNING.lock().await;
    let from = window_start(now, shares.months);
    let stamp = crate::db::now_ms();
    let last = latest_snapshot(db).await?;
    let rewrite_reasons = last.as_ref().is_none_or(|s| !s.same_shares(shares));
    let rows = store::ranking_changes(db, from, now, shares, rewrite_reasons).await?;
    let mut outcome = Outcome {
        from,
        to: now,
        ..Outcome::default()
    };
    for chunk in rows.chunks(CHUNK as usize) {
        let mut tx = db.begin().await?;
        let refs: Vec<&store::RankedRow> = chunk.iter().collect();
        store::upsert_figures(&mut tx, &refs, stamp).await?;
        for row in chunk.iter().filter(|r| !r.pinned) {
            let reason = ranked_reason(row.tier, row.top_percent, shares);
            let tier = row.tier.as_str();
            if row.current != tier {
                if store::apply_computed(
                    &mut tx,
                    db.backend,
                    row.customer_id,
                    &row.current,
                    tier,
                    &reason,
                )
                .await?
                {
                    outcome.changed += 1;
                }
            } else if rewrite_reasons || row.stored_top != row.top_percent {
                let data = serde_json::to_string(&reason).map_err(AppError::internal)?;
                store::set_reason(&mut tx, row.customer_id, &data).await?;
            }
        }
        crate::realtime::events::commit(tx).await?;
        // The chunks follow each other closely: without this SQLite's WAL grows by every chunk
        // (6.9 GB for the first ranking of 1M customers) instead of starting over.
        db.checkpoint().await?;
    }
    drop(rows);
    // Figures of customers without counting orders in the window go first: then a customer
    // without figures is exactly one to make `low`.
    loop {
        let stale = store::stale_figures(db, from, now, CHUNK).await?;
        if stale.is_empty() {
            break;
        }
        let mut tx = db.begin().await?;
        store::drop_figures(&mut tx, &stale).await?;
        tx.commit().await?;
        db.checkpoint().await?;
    }
    let low = low_reason(shares);
    let low_data = serde_json::to_string(&low).map_err(AppError::internal)?;
    let mut after = 0;
    loop {
        let page = store::unranked(db, &low_data, after, CHUNK).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let mut tx = db.begin().await?;
        for c in &page {
            if c.tier != Tier::Low.as_str() {
                if store::apply_computed(&mut tx, db.backend, c.id, &c.tier, "low", &low).await? {
                    outcome.changed += 1;
                }
            } else {
                store::set_reason(&mut tx, c.id, &low_data).await?;
            }
        }
        crate::realtime::events::commit(tx).await?;
        db.checkpoint().await?;
    }
    let snapshot = Snapshot::build(db, from, now, shares).await?;
    outcome.ranked = snapshot.ranked as usize;
    let data = serde_json::to_string(&snapshot).map_err(AppError::internal)?;
    store::save_snapshot(db, stamp, from, now, &data).await?;
    metrics::counter!("hotline_value_tier_changes_total").increment(outcome.changed as u64);
    Ok(outcome)
}

/// The reason of a ranked customer's tier.
fn ranked_reason(tier: Tier, top_percent: i64, shares: Shares) -> Reason {
    Reason {
        code: tier.as_str().into(),
        top_percent: Some(top_percent),
        months: shares.months,
        key_share: shares.key,
        vip_share: shares.vip,
    }
}

/// A ranking as it was: what the value report shows, and the cuts a new order is tiered by.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Snapshot {
    /// The window: orders after `from` up to `to` (unix ms).
    pub from: i64,
    pub to: i64,
    pub months: i64,
    pub key_share: u32,
    pub vip_share: u32,
    /// Every customer, and those with counting orders in the window.
    pub customers: i64,
    pub ranked: i64,
    /// The window's revenue (minor units, currencies added as they are) and inbound contacts.
    pub revenue_minor: i64,
    pub contacts: i64,
    /// The revenue of the last computed vip and key customer (null when there is none).
    pub vip_cut: Option<i64>,
    pub key_cut: Option<i64>,
    /// The Pareto curve: customers ranked by revenue (those without revenue last); at each
    /// percent of them, the cumulated percent of revenue and of contacts.
    pub curve: Vec<CurvePoint>,
    /// Customers, revenue and contacts per tier.
    pub tiers: Vec<TierShare>,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CurvePoint {
    pub rank_pct: i64,
    pub revenue_pct: f64,
    pub contacts_pct: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TierShare {
    pub tier: String,
    pub customers: i64,
    pub revenue_pct: f64,
    pub contacts: i64,
    /// The lowest window revenue of an unpinned customer of the tier.
    #[serde(skip)]
    cut: Option<i64>,
}

fn pct(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

impl Snapshot {
    async fn build(db: &Db, from: i64, to: i64, shares: Shares) -> AppResult<Snapshot> {
        let (buckets, totals): (Vec<_>, Vec<_>) = store::report_rows(db, from, to)
            .await?
            .into_iter()
            .partition(|r| r.tier.is_empty());
        let revenue: i64 = buckets.iter().map(|b| b.revenue).sum();
        let contacts: i64 = buckets.iter().map(|b| b.contacts).sum();
        let (mut rev, mut con) = (0, 0);
        let curve = buckets
            .iter()
            .map(|b| {
                rev += b.revenue;
                con += b.contacts;
                CurvePoint {
                    rank_pct: b.pct,
                    revenue_pct: pct(rev, revenue),
                    contacts_pct: pct(con, contacts),
                }
            })
            .collect();
        let tiers: Vec<TierShare> = totals
            .iter()
            .map(|t| TierShare {
                tier: t.tier.clone(),
                customers: t.customers,
                revenue_pct: pct(t.revenue, revenue),
                contacts: t.contacts,
                cut: t.cut,
            })
            .collect();
        let cut = |tier: &str| tiers.iter().find(|t| t.tier == tier).and_then(|t| t.cut);
        Ok(Snapshot {
            from,
            to,
            months: shares.months,
            key_share: shares.key,
            vip_share: shares.vip,
            customers: buckets.iter().map(|b| b.customers).sum(),
            ranked: store::ranked_count(db).await?,
            revenue_minor: revenue,
            contacts,
            vip_cut: cut("vip"),
            key_cut: cut("key"),
            curve,
            tiers,
        })
    }

    /// Before any ranking.
    pub fn empty(shares: Shares) -> Snapshot {
        Snapshot {
            from: 0,
            to: 0,
            months: shares.months,
            key_share: shares.key,
            vip_share: shares.vip,
            customers: 0,
            ranked: 0,
            revenue_minor: 0,
            contacts: 0,
            vip_cut: None,
            key_cut: None,
            curve: Vec::new(),
            tiers: Vec::new(),
        }
    }

    fn same_shares(&self, shares: Shares) -> bool {
        self.months == shares.months && self.key_share == shares.key && self.vip_share == shares.vip
    }

    /// The tier of `revenue` against this ranking's cuts.
    fn tier_of(&self, revenue: i64) -> Tier {
        match (self.vip_cut, self.key_cut) {
            _ if revenue <= 0 => Tier::Regular,
            (Some(v), _) if revenue >= v => Tier::Vip,
            (_, Some(k)) if revenue >= k => Tier::Key,
            _ => Tier::Regular,
        }
    }
}

/// The last ranking's snapshot, if any.
pub async fn latest_snapshot(db: &Db) -> AppResult<Option<Snapshot>> {
    Ok(store::latest_snapshot(db)
        .await?
        .and_then(|data| serde_json::from_str(&data).ok()))
}

/// The `realtime_marks` row bumped when orders change (unix ms of the change).
const CHANGED_MARK: &str = "value_orders_changed";
/// The `CHANGED_MARK` value the last ranking saw.
const RANKED_MARK: &str = "value_ranked_change";

/// A customer's orders changed: the customer is tiered at once (`retier`), and the leader is
/// told to rank everyone again (at most every `HOTLINE_VALUE_RANK_SECS`).
pub async fn order_changed(db: &Db, customer_id: i64, now: i64, shares: Shares) -> AppResult<()> {
    marks::set(&mut &*db, CHANGED_MARK, crate::db::now_ms()).await?;
    retier(db, customer_id, now, shares).await
}

/// Tiers one customer at once against the last ranking's revenue cuts: rank and top percent
/// among the ranked customers, recency and frequency kept until the next ranking; without
/// counting orders in the window `low`. Before any ranking exists it ranks everyone (a new
/// center's first orders).
pub async fn retier(db: &Db, customer_id: i64, now: i64, shares: Shares) -> AppResult<()> {
    let Some(snap) = latest_snapshot(db).await? else {
        recompute(db, now, shares).await?;
        return Ok(());
    };
    let current = store::current_tiers(db, customer_id - 1, 1)
        .await?
        .into_iter()
        .find(|c| c.id == customer_id)
        .ok_or(AppError::NotFound("customer"))?;
    let from = window_start(now, shares.months);
    let Some(totals) = store::totals_of(db, customer_id, from, now).await? else {
        let low = low_reason(shares);
        let mut tx = db.begin().await?;
        store::drop_figures(&mut tx, &[customer_id]).await?;
        if !current.pinned {
            if current.tier != Tier::Low.as_str() {
                store::apply_computed(&mut tx, db.backend, customer_id, &current.tier, "low", &low)
                    .await?;
            } else {
                let data = serde_json::to_string(&low).map_err(AppError::internal)?;
                store::set_reason(&mut tx, customer_id, &data).await?;
            }
        }
        crate::realtime::events::commit(tx).await?;
        return Ok(());
    };
    let ahead = store::ahead_of(db, customer_id, totals.revenue).await?;
    let stored = store::figures(db, customer_id).await?;
    let n = (snap.ranked + i64::from(stored.is_none())).max(ahead + 1);
    let rank = ahead + 1;
    let row = store::RankedRow {
        customer_id,
        revenue: totals.revenue,
        orders: totals.orders,
        last_order_at: totals.last_order_at,
        rank,
        r: stored.as_ref().map_or(3, |f| f.r),
        f: stored.as_ref().map_or(3, |f| f.f),
        m: 5 - (5 * (rank - 1)) / n,
        top_percent: (100 * rank + n - 1) / n,
        tier: snap.tier_of(totals.revenue),
        current: String::new(),
        pinned: false,
        stored_top: -1,
    };
    let reason = ranked_reason(row.tier, row.top_percent, shares);
    let mut tx = db.begin().await?;
    store::upsert_figures(&mut tx, &[&row], crate::db::now_ms()).await?;
    if !current.pinned {
        if current.tier != row.tier.as_str() {
            store::apply_computed(
                &mut tx,
                db.backend,
                customer_id,
                &current.tier,
                row.tier.as_str(),
                &reason,
            )
            .await?;
        } else {
            let data = serde_json::to_string(&reason).map_err(AppError::internal)?;
            store::set_reason(&mut tx, customer_id, &data).await?;
        }
    }
    crate::realtime::events::commit(tx).await?;
    Ok(())
}

/// What the leader's ranking task needs.
pub struct Ranker {
    pub db: Db,
    pub clock: Clock,
    pub shares: Shares,
    /// At most one ranking after order changes per this many milliseconds.
    pub every_ms: i64,
}

impl Ranker {
    pub fn new(db: Db, clock: Clock, config: &Config) -> Ranker {
        Ranker {
            db,
            clock,
            shares: Shares::of(config),
            every_ms: (config.value_rank_secs.max(1) * 1000) as i64,
        }
    }
}

/// The routing leader's ranking task: the nightly full recompute, and a recompute after orders
/// changed (at most every `HOTLINE_VALUE_RANK_SECS`). Its own task: a ranking of a million
/// customers takes seconds and must not hold up routing.
pub async fn run(ranker: Ranker) {
    let mut last_run = tokio::time::Instant::now() - Duration::from_millis(ranker.every_ms as u64);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Err(e) = nightly(&ranker.db, &ranker.clock, ranker.shares).await {
            tracing::warn!(error = %e, "value: nightly recompute failed");
            continue;
        }
        if last_run.elapsed() < Duration::from_millis(ranker.every_ms as u64) {
            continue;
        }
        let changed = marks::get(&ranker.db, CHANGED_MARK).await;
        let seen = marks::get(&ranker.db, RANKED_MARK).await;
        let (Ok(Some(changed)), Ok(seen)) = (changed, seen) else {
            continue;
        };
        if seen.is_some_and(|s| s >= changed) {
            continue;
        }
        last_run = tokio::time::Instant::now();
        match recompute(&ranker.db, ranker.clock.now_ms(), ranker.shares).await {
            Ok(outcome) => {
                if let Err(e) = marks::set(&mut &ranker.db, RANKED_MARK, changed).await {
                    tracing::warn!(error = %e, "value: ranking mark");
                }
                tracing::debug!(
                    ranked = outcome.ranked,
                    changed = outcome.changed,
                    "value: ranking"
                );
            }
            Err(e) => tracing::warn!(error = %e, "value: ranking failed"),
        }
    }
}

/// The daily full recompute: due 24 hours (by `clock`) after the last one. The first time it
/// only notes the time, so that a new installation (every customer without orders) is not
/// re-tiered the moment it starts; without any order at all it does nothing.
pub async fn nightly(db: &Db, clock: &Clock, shares: Shares) -> AppResult<Option<Outcome>> {
    let now = clock.now_ms();
    match marks::get(db, NIGHTLY_MARK).await? {
        None => {
            marks::set(&mut &*db, NIGHTLY_MARK, now).await?;
            Ok(None)
        }
        Some(last) if now - last < DAY_MS => Ok(None),
        // A center that records no orders keeps the tiers its people set.
        Some(_) if !store::any_orders(db).await? => {
            marks::set(&mut &*db, NIGHTLY_MARK, now).await?;
            Ok(None)
        }
        Some(_) => {
            let outcome = recompute(db, now, shares).await?;
            marks::set(&mut &*db, NIGHTLY_MARK, now).await?;
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
