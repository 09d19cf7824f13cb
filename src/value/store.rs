//! Value's SQL: orders (idempotent on the external id), the window's totals, tier changes with
//! their history and event, the figures of the last recompute.

use super::Totals;
use crate::db::{Backend, Db, Exec, FromRow, ReadRow, Tx, now_ms};
use crate::error::{AppError, AppResult};
use crate::realtime::events::{self, Scope};
use serde::Serialize;

/// An order as the API shows it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub external_id: String,
    /// Unix milliseconds.
    pub ordered_at: i64,
    /// Decimal text in the currency (`"199.90"`).
    pub amount: String,
    /// The amount in the currency's minor unit (fen, cents).
    pub amount_minor: i64,
    pub currency: String,
    pub product: String,
    pub category: String,
    pub channel: String,
    /// `placed`, `paid`, `shipped`, `completed`, `cancelled` or `refunded`.
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const ORDER_COLUMNS: &str = "id, customer_id, external_id, ordered_at, amount_minor, currency, \
     product, category, channel, status, created_at, updated_at";

impl FromRow for Order {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        let currency: String = r.try_get("currency")?;
        let minor: i64 = r.try_get("amount_minor")?;
        Ok(Order {
            id: r.try_get("id")?,
            customer_id: r.try_get("customer_id")?,
            external_id: r.try_get("external_id")?,
            ordered_at: r.try_get("ordered_at")?,
            amount: super::format_amount(minor, super::minor_digits(&currency)),
            amount_minor: minor,
            currency,
            product: r.try_get("product")?,
            category: r.try_get("category")?,
            channel: r.try_get("channel")?,
            status: r.try_get("status")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

/// An order as checked from the request.
#[derive(Debug)]
pub struct NewOrder {
    pub external_id: String,
    pub ordered_at: i64,
    pub amount_minor: i64,
    pub currency: String,
    pub product: String,
    pub category: String,
    pub channel: String,
    pub status: String,
}

/// Stores the order of `customer_id`: a new external id inserts (true), a known one updates
/// (false). An external id of another customer's order is a 409 `conflict`.
pub async fn upsert_order(db: &Db, customer_id: i64, o: &NewOrder) -> AppResult<(Order, bool)> {
    let mut tx = db.begin().await?;
    let exists: Option<i64> = tx
        .row(
            "SELECT id FROM customers WHERE id = $1",
            vec![customer_id.into()],
        )
        .await?;
    if exists.is_none() {
        return Err(AppError::NotFound("customer"));
    }
    let before: Option<i64> = tx
        .row(
            "SELECT customer_id AS id FROM orders WHERE external_id = $1",
            vec![o.external_id.as_str().into()],
        )
        .await?;
    if before.is_some_and(|c| c != customer_id) {
        return Err(AppError::Conflict(
            "external_id belongs to another customer's order".into(),
        ));
    }
    let now = now_ms();
    let sql = format!(
        "INSERT INTO orders (customer_id, external_id, ordered_at, amount_minor, currency, \
         product, category, channel, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
         ON CONFLICT (external_id) DO UPDATE SET ordered_at = excluded.ordered_at, \
         amount_minor = excluded.amount_minor, currency = excluded.currency, \
         product = excluded.product, category = excluded.category, channel = excluded.channel, \
         status = excluded.status, updated_at = excluded.updated_at \
         WHERE orders.customer_id = excluded.customer_id RETURNING {ORDER_COLUMNS}"
    );
    let order: Option<Order> = tx
        .row(
            &sql,
            vec![
                customer_id.into(),
                o.external_id.as_str().into(),
                o.ordered_at.into(),
                o.amount_minor.into(),
                o.currency.as_str().into(),
                o.product.as_str().into(),
                o.category.as_str().into(),
                o.channel.as_str().into(),
                o.status.as_str().into(),
                now.into(),
            ],
        )
        .await?;
    let order = order.ok_or_else(|| {
        AppError::Conflict("external_id belongs to another customer's order".into())
    })?;
    tx.commit().await?;
    Ok((order, before.is_none()))
}

/// A customer's orders, newest first.
pub async fn orders_of(db: &Db, customer_id: i64, limit: i64) -> AppResult<Vec<Order>> {
    db.fetch_all(
        &format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE customer_id = $1 \
             ORDER BY ordered_at DESC, id DESC LIMIT $2"
        ),
        vec![customer_id.into(), limit.into()],
    )
    .await
}

impl FromRow for Totals {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Totals {
            customer_id: r.try_get("customer_id")?,
            revenue: r.try_get("revenue")?,
            orders: r.try_get("n")?,
            last_order_at: r.try_get("last_at")?,
        })
    }
}

/// A customer's tier as stored.
pub struct Current {
    pub id: i64,
    pub tier: String,
    pub pinned: bool,
    pub reason: String,
}

impl FromRow for Current {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Current {
            id: r.try_get("id")?,
            tier: r.try_get("tier")?,
            pinned: r.try_get::<i64>("tier_pinned")? != 0,
            reason: r.try_get("tier_reason")?,
        })
    }
}

/// Every customer's tier, by id (`after`, `limit` page through them).
pub async fn current_tiers(db: &Db, after: i64, limit: i64) -> AppResult<Vec<Current>> {
    db.fetch_all(
        "SELECT id, tier, tier_pinned, tier_reason FROM customers WHERE id > $1 \
         ORDER BY id LIMIT $2",
        vec![after.into(), limit.into()],
    )
    .await
}

/// One tier change to record.
pub struct Change<'a> {
    pub customer_id: i64,
    pub from: &'a str,
    pub to: &'a str,
    pub reason: &'a super::Reason,
    pub pinned: bool,
    pub by: Option<i64>,
}

/// Records a tier change in the history and appends `customer.tier_changed` (the customer row
/// itself is updated by the caller).
pub async fn record_change<E: Exec>(tx: &mut E, backend: Backend, c: &Change<'_>) -> AppResult<()> {
    let now = now_ms();
    let text = c.reason.text();
    tx.run(
        "INSERT INTO customer_tier_history (customer_id, from_tier, to_tier, reason, pinned, \
         by_user_id, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            c.customer_id.into(),
            c.from.into(),
            c.to.into(),
            text.as_str().into(),
            c.pinned.into(),
            c.by.into(),
            now.into(),
        ],
    )
    .await?;
    events::append(
        tx,
        backend,
        "customer.tier_changed",
        Scope {
            customer_id: Some(c.customer_id),
            ..Scope::default()
        },
        &serde_json::json!({
            "customer_id": c.customer_id,
            "from": c.from,
            "to": c.to,
            "reason": text,
            "reason_data": c.reason,
            "pinned": c.pinned,
            "by": c.by,
        }),
    )
    .await?;
    Ok(())
}

/// A computed tier: changes the row only when it still has `from` and is not pinned; true when
/// it changed (then the history and event are written too).
pub async fn apply_computed(
    tx: &mut Tx<'_>,
    backend: Backend,
    customer_id: i64,
    from: &str,
    to: &str,
    reason: &super::Reason,
) -> AppResult<bool> {
    let data = serde_json::to_string(reason).map_err(AppError::internal)?;
    let n = tx
        .run(
            "UPDATE customers SET tier = $2, tier_reason = $3, updated_at = $4, \
             version = version + 1 WHERE id = $1 AND tier = $5 AND tier_pinned = 0",
            vec![
                customer_id.into(),
                to.into(),
                data.as_str().into(),
                now_ms().into(),
                from.into(),
            ],
        )
        .await?;
    if n == 0 {
        return Ok(false);
    }
    let change = Change {
        customer_id,
        from,
        to,
        reason,
        pinned: false,
        by: None,
    };
    record_change(tx, backend, &change).await?;
    Ok(true)
}

/// The reason (JSON of `Reason`) of an unchanged, unpinned tier (no history, no event).
pub async fn set_reason(tx: &mut Tx<'_>, customer_id: i64, data: &str) -> AppResult<()> {
    tx.run(
        "UPDATE customers SET tier_reason = $2 WHERE id = $1 AND tier_pinned = 0",
        vec![customer_id.into(), data.into()],
    )
    .await?;
    Ok(())
}

/// The figures of the last recompute of one customer.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Figures {
    /// Revenue in the window, in minor units (currencies are added as they are).
    pub revenue_minor: i64,
    pub orders: i64,
    pub last_order_at: i64,
    /// Recency, frequency and monetary quintiles (1–5).
    pub r: i64,
    pub f: i64,
    pub m: i64,
    /// 1 + the customers with more revenue in the window.
    pub rank: i64,
    pub computed_at: i64,
}

impl FromRow for Figures {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Figures {
            revenue_minor: r.try_get("revenue_minor")?,
            orders: r.try_get("order_count")?,
            last_order_at: r.try_get("last_order_at")?,
            r: r.try_get("r")?,
            f: r.try_get("f")?,
            m: r.try_get("m")?,
            rank: r.try_get("rank")?,
            computed_at: r.try_get("computed_at")?,
        })
    }
}

pub async fn figures(db: &Db, customer_id: i64) -> AppResult<Option<Figures>> {
    let mut db = db;
    db.row(
        "SELECT revenue_minor, order_count, last_order_at, r, f, m, rank, computed_at \
         FROM customer_value WHERE customer_id = $1",
        vec![customer_id.into()],
    )
    .await
}

/// One entry of a customer's tier history.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct TierChange {
    pub from: String,
    pub to: String,
    pub reason: String,
    /// Set by hand (and so pinned).
    pub pinned: bool,
    pub by: Option<i64>,
    pub at: i64,
}

impl FromRow for TierChange {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(TierChange {
            from: r.try_get("from_tier")?,
            to: r.try_get("to_tier")?,
            reason: r.try_get("reason")?,
            pinned: r.try_get::<i64>("pinned")? != 0,
            by: r.try_get("by_user_id")?,
            at: r.try_get("changed_at")?,
        })
    }
}

pub async fn history(db: &Db, customer_id: i64, limit: i64) -> AppResult<Vec<TierChange>> {
    db.fetch_all(
        "SELECT from_tier, to_tier, reason, pinned, by_user_id, changed_at \
         FROM customer_tier_history WHERE customer_id = $1 ORDER BY id DESC LIMIT $2",
        vec![customer_id.into(), limit.into()],
    )
    .await
}

/// The lifetime value in one currency: every counting order ever.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Money {
    pub currency: String,
    /// Decimal text (`"1999.00"`).
    pub amount: String,
    pub amount_minor: i64,
    pub orders: i64,
}

impl FromRow for Money {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        let currency: String = r.try_get("currency")?;
        let minor: i64 = r.try_get("total")?;
        Ok(Money {
            amount: super::format_amount(minor, super::minor_digits(&currency)),
            amount_minor: minor,
            orders: r.try_get("n")?,
            currency,
        })
    }
}

pub async fn lifetime(db: &Db, customer_id: i64) -> AppResult<Vec<Money>> {
    db.fetch_all(
        "SELECT currency, CAST(SUM(amount_minor) AS BIGINT) AS total, \
         CAST(COUNT(*) AS BIGINT) AS n FROM orders \
         WHERE customer_id = $1 AND status NOT IN ('cancelled', 'refunded') \
         GROUP BY currency ORDER BY currency",
        vec![customer_id.into()],
    )
    .await
}

struct Count(i64);

impl FromRow for Count {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Count(r.try_get("n")?))
    }
}

/// Service load since `from`: inbound contacts (interactions the customer started) and
/// complaint tickets opened.
pub async fn service_load(db: &Db, customer_id: i64, from: i64) -> AppResult<(i64, i64)> {
    let mut db = db;
    let contacts: Option<Count> = db
        .row(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM interactions \
             WHERE customer_id = $1 AND direction = 'in' AND created_at >= $2",
            vec![customer_id.into(), from.into()],
        )
        .await?;
    let complaints: Option<Count> = db
        .row(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM tickets \
             WHERE customer_id = $1 AND kind = 'complaint' AND created_at >= $2",
            vec![customer_id.into(), from.into()],
        )
        .await?;
    Ok((contacts.map_or(0, |c| c.0), complaints.map_or(0, |c| c.0)))
}

/// Unpins a customer's tier (the next recompute sets it); false when it was not pinned.
pub async fn unpin(db: &Db, customer_id: i64) -> AppResult<bool> {
    let n = sqlx::query(
        "UPDATE customers SET tier_pinned = 0, version = version + 1, updated_at = $2 \
         WHERE id = $1 AND tier_pinned = 1",
    )
    .bind(customer_id)
    .bind(now_ms())
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Is there any order at all?
pub async fn any_orders(db: &Db) -> AppResult<bool> {
    let one: Vec<i64> = db
        .fetch_all("SELECT id FROM orders LIMIT 1", vec![])
        .await?;
    Ok(!one.is_empty())
}

/// The counting orders of the window `(from, to]` per customer, as a SQL common table
/// expression named `t` (`$1` = from, `$2` = to). The window holds most orders, so the unary
/// `+` keeps SQLite off the `ordered_at` index (a lookup per order and a sort) and on the
/// covering `orders_value` index in customer order: eight times faster at 2M orders.
const WINDOW_TOTALS: &str = "t AS (SELECT customer_id, CAST(SUM(amount_minor) AS BIGINT) AS revenue, \
     CAST(COUNT(*) AS BIGINT) AS n, MAX(ordered_at) AS last_at FROM orders \
     WHERE +ordered_at > $1 AND +ordered_at <= $2 AND status NOT IN ('cancelled', 'refunded') \
     GROUP BY customer_id)";

/// Inbound contacts in the window per customer, as a common table expression named `cc`.
const WINDOW_CONTACTS: &str = "cc AS (SELECT customer_id, CAST(COUNT(*) AS BIGINT) AS contacts \
     FROM interactions WHERE direction = 'in' AND customer_id IS NOT NULL \
     AND created_at > $1 AND created_at <= $2 GROUP BY customer_id)";

/// One ranked customer whose stored figures or tier differ from the ranking (`RankedRow`s are
/// what the recompute writes).
#[derive(Clone, Debug)]
pub struct RankedRow {
    pub customer_id: i64,
    pub revenue: i64,
    pub orders: i64,
    pub last_order_at: i64,
    pub rank: i64,
    pub r: i64,
    pub f: i64,
    pub m: i64,
    pub top_percent: i64,
    /// The computed tier (`vip`, `key`, `regular`).
    pub tier: crate::customers::Tier,
    /// The stored tier and pin.
    pub current: String,
    pub pinned: bool,
    /// The stored top percent (-1 without stored figures).
    pub stored_top: i64,
}

impl FromRow for RankedRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        let tier: String = r.try_get("tier")?;
        Ok(RankedRow {
            customer_id: r.try_get("customer_id")?,
            revenue: r.try_get("revenue")?,
            orders: r.try_get("n")?,
            last_order_at: r.try_get("last_at")?,
            rank: r.try_get("rnk")?,
            r: r.try_get("rq")?,
            f: r.try_get("fq")?,
            m: r.try_get("mq")?,
            top_percent: r.try_get("top")?,
            tier: crate::customers::Tier::parse(&tier).unwrap_or(crate::customers::Tier::Regular),
            current: r.try_get("cur_tier")?,
            pinned: r.try_get::<i64>("tier_pinned")? != 0,
            stored_top: r.try_get("stored_top")?,
        })
    }
}

/// Ranks the window in the database (the rules of `super::rank`, which tests hold it to) and
/// returns the customers whose stored figures, top percent or (unpinned) tier differ; `all`
/// returns every ranked customer (the shares changed: every reason is rewritten).
///
/// One read: the engine groups, sorts and ranks (spilling to disk when it must); only the
/// differences come back, so a rerun on unchanged orders returns nothing.
pub async fn ranking_changes(
    db: &Db,
    from: i64,
    to: i64,
    shares: super::Shares,
    all: bool,
) -> AppResult<Vec<RankedRow>> {
    let sql = format!(
        "WITH {WINDOW_TOTALS}, \
         w AS (SELECT customer_id, revenue, n, last_at, pos, \
           RANK() OVER (ORDER BY revenue DESC) AS rnk, \
           SUM(pos) OVER (ORDER BY revenue DESC) AS cum, \
           COUNT(*) OVER (PARTITION BY revenue) AS peers, \
           RANK() OVER (ORDER BY last_at DESC) AS rr, \
           RANK() OVER (ORDER BY n DESC) AS fr, \
           COUNT(*) OVER () AS total_n, \
           SUM(pos) OVER () AS total_rev \
           FROM (SELECT t.*, CASE WHEN revenue > 0 THEN revenue ELSE 0 END AS pos FROM t) p), \
         k AS (SELECT w.*, CASE WHEN revenue > 0 AND total_rev > 0 \
           AND (cum - peers * pos) * 100 < total_rev * $3 THEN 1 ELSE 0 END AS is_key FROM w), \
         z AS (SELECT k.*, SUM(is_key) OVER () AS n_key FROM k), \
         r AS (SELECT customer_id, revenue, n, last_at, CAST(rnk AS BIGINT) AS rnk, \
           CAST(5 - (5 * (rr - 1)) / total_n AS BIGINT) AS rq, \
           CAST(5 - (5 * (fr - 1)) / total_n AS BIGINT) AS fq, \
           CAST(5 - (5 * (rnk - 1)) / total_n AS BIGINT) AS mq, \
           CAST((100 * rnk + total_n - 1) / total_n AS BIGINT) AS top, \
           CASE WHEN is_key = 1 AND rnk <= (n_key * $4 + 99) / 100 THEN 'vip' \
             WHEN is_key = 1 THEN 'key' ELSE 'regular' END AS tier FROM z) \
         SELECT r.*, c.tier AS cur_tier, c.tier_pinned, \
           COALESCE(v.top_percent, -1) AS stored_top FROM r \
         JOIN customers c ON c.id = r.customer_id \
         LEFT JOIN customer_value v ON v.customer_id = r.customer_id \
         WHERE $5 = 1 OR v.customer_id IS NULL OR v.revenue_minor <> r.revenue \
           OR v.order_count <> r.n OR v.last_order_at <> r.last_at OR v.rank <> r.rnk \
           OR v.r <> r.rq OR v.f <> r.fq OR v.m <> r.mq OR v.top_percent <> r.top \
           OR (c.tier_pinned = 0 AND c.tier <> r.tier)"
    );
    db.fetch_all(
        &sql,
        vec![
            from.into(),
            to.into(),
            i64::from(shares.key).into(),
            i64::from(shares.vip).into(),
            i64::from(all).into(),
        ],
    )
    .await
}

/// Stores the figures of ranked customers, many rows per statement.
pub async fn upsert_figures(tx: &mut Tx<'_>, rows: &[&RankedRow], at: i64) -> AppResult<()> {
    for part in rows.chunks(50) {
        let mut values = Vec::with_capacity(part.len());
        let mut params = Vec::with_capacity(part.len() * 10);
        for (k, row) in part.iter().enumerate() {
            let b = k * 10;
            values.push(format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9,
                b + 10
            ));
            params.extend([
                row.customer_id.into(),
                row.revenue.into(),
                row.orders.into(),
                row.last_order_at.into(),
                row.r.into(),
                row.f.into(),
                row.m.into(),
                row.rank.into(),
                row.top_percent.into(),
                at.into(),
            ]);
        }
        let sql = format!(
            "INSERT INTO customer_value (customer_id, revenue_minor, order_count, last_order_at, \
             r, f, m, rank, top_percent, computed_at) VALUES {} \
             ON CONFLICT (customer_id) DO UPDATE SET revenue_minor = excluded.revenue_minor, \
             order_count = excluded.order_count, last_order_at = excluded.last_order_at, \
             r = excluded.r, f = excluded.f, m = excluded.m, rank = excluded.rank, \
             top_percent = excluded.top_percent, computed_at = excluded.computed_at",
            values.join(", ")
        );
        tx.run(&sql, params).await?;
    }
    Ok(())
}

/// Unpinned customers without figures (after `stale_figures` went: without counting orders in
/// the window) whose tier or reason is not yet `low` with `low_reason` (by id: `after`,
/// `limit`).
pub async fn unranked(
    db: &Db,
    low_reason: &str,
    after: i64,
    limit: i64,
) -> AppResult<Vec<Current>> {
    db.fetch_all(
        "SELECT c.id, c.tier, c.tier_pinned, c.tier_reason FROM customers c \
         LEFT JOIN customer_value v ON v.customer_id = c.id \
         WHERE c.id > $1 AND v.customer_id IS NULL AND c.tier_pinned = 0 \
         AND (c.tier <> 'low' OR c.tier_reason <> $2) ORDER BY c.id LIMIT $3",
        vec![after.into(), low_reason.into(), limit.into()],
    )
    .await
}

/// Customers with stored figures but no counting order in the window any more.
pub async fn stale_figures(db: &Db, from: i64, to: i64, limit: i64) -> AppResult<Vec<i64>> {
    db.fetch_all(
        "SELECT customer_id AS id FROM customer_value v WHERE NOT EXISTS (SELECT 1 FROM orders o \
         WHERE o.customer_id = v.customer_id AND o.ordered_at > $1 AND o.ordered_at <= $2 \
         AND o.status NOT IN ('cancelled', 'refunded')) ORDER BY customer_id LIMIT $3",
        vec![from.into(), to.into(), limit.into()],
    )
    .await
}

pub async fn drop_figures(tx: &mut Tx<'_>, ids: &[i64]) -> AppResult<()> {
    for id in ids {
        tx.run(
            "DELETE FROM customer_value WHERE customer_id = $1",
            vec![(*id).into()],
        )
        .await?;
    }
    Ok(())
}

/// One line of the value report's raw material: a percentile of customers ranked by window
/// revenue (`tier` empty), or a tier (`pct` 0).
pub struct ReportRow {
    pub pct: i64,
    pub tier: String,
    pub customers: i64,
    pub revenue: i64,
    pub contacts: i64,
    /// For a tier: the lowest window revenue of an unpinned customer with figures in it.
    pub cut: Option<i64>,
}

impl FromRow for ReportRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(ReportRow {
            pct: r.try_get("pct")?,
            tier: r.try_get("tier")?,
            customers: r.try_get("n")?,
            revenue: r.try_get("rev")?,
            contacts: r.try_get("contacts")?,
            cut: r.try_get("cut")?,
        })
    }
}

/// The Pareto curve's 100 buckets (every customer by the revenue of its stored figures, those
/// without last, by id) and the totals per tier, from one pass over the customers and one over
/// the window's inbound contacts. Read after the ranking wrote its figures.
pub async fn report_rows(db: &Db, from: i64, to: i64) -> AppResult<Vec<ReportRow>> {
    let sql = format!(
        "WITH {WINDOW_CONTACTS}, \
         o AS MATERIALIZED (SELECT c.tier, c.tier_pinned, v.revenue_minor AS figures, \
           CASE WHEN v.revenue_minor > 0 THEN v.revenue_minor ELSE 0 END AS rev, \
           COALESCE(cc.contacts, 0) AS contacts, \
           ROW_NUMBER() OVER (ORDER BY COALESCE(v.revenue_minor, 0) DESC, c.id) AS k, \
           COUNT(*) OVER () AS total FROM customers c \
           LEFT JOIN customer_value v ON v.customer_id = c.id \
           LEFT JOIN cc ON cc.customer_id = c.id) \
         SELECT CAST((k * 100 + total - 1) / total AS BIGINT) AS pct, '' AS tier, \
           CAST(COUNT(*) AS BIGINT) AS n, CAST(SUM(rev) AS BIGINT) AS rev, \
           CAST(SUM(contacts) AS BIGINT) AS contacts, CAST(NULL AS BIGINT) AS cut FROM o \
         GROUP BY (k * 100 + total - 1) / total \
         UNION ALL \
         SELECT CAST(0 AS BIGINT) AS pct, tier, CAST(COUNT(*) AS BIGINT) AS n, \
           CAST(SUM(rev) AS BIGINT) AS rev, CAST(SUM(contacts) AS BIGINT) AS contacts, \
           CAST(MIN(CASE WHEN tier_pinned = 0 THEN figures END) AS BIGINT) AS cut FROM o \
         GROUP BY tier ORDER BY pct, tier"
    );
    db.fetch_all(&sql, vec![from.into(), to.into()]).await
}

/// Customers with figures: those with counting orders in the window at the last ranking.
pub async fn ranked_count(db: &Db) -> AppResult<i64> {
    let v: Vec<i64> = db
        .fetch_all(
            "SELECT CAST(COUNT(*) AS BIGINT) AS id FROM customer_value",
            vec![],
        )
        .await?;
    Ok(v.first().copied().unwrap_or(0))
}

/// The last ranking's snapshot (`super::Snapshot` as JSON).
pub async fn latest_snapshot(db: &Db) -> AppResult<Option<String>> {
    struct Data(String);
    impl FromRow for Data {
        fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
            Ok(Data(r.try_get("data")?))
        }
    }
    let v: Vec<Data> = db
        .fetch_all(
            "SELECT data FROM value_snapshots ORDER BY id DESC LIMIT 1",
            vec![],
        )
        .await?;
    Ok(v.into_iter().next().map(|d| d.0))
}

/// Stores a ranking's snapshot, keeping the last 400 (a year of nightly rankings and more).
pub async fn save_snapshot(db: &Db, at: i64, from: i64, to: i64, data: &str) -> AppResult<()> {
    let mut tx = db.begin().await?;
    tx.run(
        "INSERT INTO value_snapshots (computed_at, window_from, window_to, data) \
         VALUES ($1, $2, $3, $4)",
        vec![at.into(), from.into(), to.into(), data.into()],
    )
    .await?;
    tx.run(
        "DELETE FROM value_snapshots WHERE id <= (SELECT MAX(id) FROM value_snapshots) - 400",
        vec![],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One customer's counting orders in the window (for tiering a new order at once).
pub async fn totals_of(db: &Db, customer_id: i64, from: i64, to: i64) -> AppResult<Option<Totals>> {
    let v: Vec<Totals> = db
        .fetch_all(
            "SELECT customer_id, CAST(SUM(amount_minor) AS BIGINT) AS revenue, \
             CAST(COUNT(*) AS BIGINT) AS n, MAX(ordered_at) AS last_at FROM orders \
             WHERE customer_id = $1 AND ordered_at > $2 AND ordered_at <= $3 \
             AND status NOT IN ('cancelled', 'refunded') GROUP BY customer_id",
            vec![customer_id.into(), from.into(), to.into()],
        )
        .await?;
    Ok(v.into_iter().next())
}

/// How many ranked customers (other than `customer_id`) have more revenue than `revenue`.
pub async fn ahead_of(db: &Db, customer_id: i64, revenue: i64) -> AppResult<i64> {
    let v: Vec<i64> = db
        .fetch_all(
            "SELECT CAST(COUNT(*) AS BIGINT) AS id FROM customer_value \
             WHERE revenue_minor > $1 AND customer_id <> $2",
            vec![revenue.into(), customer_id.into()],
        )
        .await?;
    Ok(v.first().copied().unwrap_or(0))
}
