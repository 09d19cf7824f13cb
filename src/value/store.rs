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

/// Counting orders (not cancelled or refunded) per customer ordered in `(from, to]`.
pub async fn window_totals(db: &Db, from: i64, to: i64) -> AppResult<Vec<Totals>> {
    db.fetch_all(
        "SELECT customer_id, CAST(SUM(amount_minor) AS BIGINT) AS revenue, \
         CAST(COUNT(*) AS BIGINT) AS n, MAX(ordered_at) AS last_at FROM orders \
         WHERE ordered_at > $1 AND ordered_at <= $2 AND status NOT IN ('cancelled', 'refunded') \
         GROUP BY customer_id",
        vec![from.into(), to.into()],
    )
    .await
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

pub async fn upsert_figures(
    tx: &mut Tx<'_>,
    t: &Totals,
    ranked: &super::Ranked,
    at: i64,
) -> AppResult<()> {
    tx.run(
        "INSERT INTO customer_value (customer_id, revenue_minor, order_count, last_order_at, \
         r, f, m, rank, computed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (customer_id) DO UPDATE SET revenue_minor = excluded.revenue_minor, \
         order_count = excluded.order_count, last_order_at = excluded.last_order_at, \
         r = excluded.r, f = excluded.f, m = excluded.m, rank = excluded.rank, \
         computed_at = excluded.computed_at",
        vec![
            t.customer_id.into(),
            t.revenue.into(),
            t.orders.into(),
            t.last_order_at.into(),
            ranked.r.into(),
            ranked.f.into(),
            ranked.m.into(),
            ranked.rank.into(),
            at.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Drops the figures of customers the recompute at `at` did not rank (no orders any more).
pub async fn drop_stale_figures(db: &Db, at: i64) -> AppResult<()> {
    sqlx::query("DELETE FROM customer_value WHERE computed_at < $1")
        .bind(at)
        .execute(&db.pool)
        .await?;
    Ok(())
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

/// A small named number in `realtime_marks`.
pub async fn mark(db: &Db, name: &str) -> AppResult<Option<i64>> {
    let v: Vec<i64> = db
        .fetch_all(
            "SELECT value AS id FROM realtime_marks WHERE name = $1",
            vec![name.into()],
        )
        .await?;
    Ok(v.first().copied())
}

pub async fn set_mark<E: Exec>(exec: &mut E, name: &str, value: i64) -> AppResult<()> {
    exec.run(
        "INSERT INTO realtime_marks (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        vec![name.into(), value.into()],
    )
    .await?;
    Ok(())
}
