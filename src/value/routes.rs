//! HTTP for orders and value: a customer's orders (shops and CRMs write them), the value view
//! (score, tier and why, history, lifetime value, recent orders), unpinning, the recompute.

use super::store::{self, Figures, Money, NewOrder, Order, TierChange};
use super::{Outcome, Reason, Shares, Snapshot};
use crate::app::AppState;
use crate::error::{AppError, AppResult, optional_text, required_text};
use crate::http::extract::{AuthUser, Json, Path, Query};
use crate::http::{Access, Routes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};

pub fn routes(r: Routes) -> Routes {
    r.add(
        "POST",
        "/api/customers/{id}/orders",
        "value",
        Access::Supervisor,
        "Record an order of the customer (shops and CRMs, with a supervisor's or admin's API \
         token): idempotent on `external_id` (201 new, 200 updated; another customer's id is \
         409 `conflict`); `amount` is decimal text or a number in the currency; the customer is \
         tiered at once against the last ranking and everyone is ranked again soon \
         (`HOTLINE_VALUE_RANK_SECS`)",
        post(put_order),
    )
    .body::<OrderBody>()
    .returns::<Order>(201)
    .returns::<Order>(200)
    .add(
        "GET",
        "/api/customers/{id}/orders",
        "value",
        Access::Agent,
        "A customer's orders, newest first (`limit` ≤ 200, default 50)",
        get(list_orders),
    )
    .query::<OrdersQuery>()
    .returns::<OrderList>(200)
    .add(
        "GET",
        "/api/customers/{id}/value",
        "value",
        Access::Agent,
        "A customer's value: RFM score over the window, tier and why (pinned when set by hand), \
         tier history, lifetime value, service load, recent orders",
        get(value),
    )
    .returns::<CustomerValue>(200)
    .add(
        "DELETE",
        "/api/customers/{id}/tier-pin",
        "value",
        Access::Supervisor,
        "Unpin a tier set by hand: the customer's tier is computed again (now)",
        delete(unpin),
    )
    .returns::<CustomerValue>(200)
    .add(
        "POST",
        "/api/value/recompute",
        "value",
        Access::Admin,
        "Recompute every customer's value and tier now (the routing leader also does it daily)",
        post(recompute),
    )
    .no_body()
    .returns::<Outcome>(200)
    .add(
        "GET",
        "/api/reports/value",
        "value",
        Access::Supervisor,
        "Customer value as of the last ranking: the Pareto curve (cumulated percent of revenue \
         and of inbound contacts by percent of customers ranked by revenue), customers, revenue \
         share and contacts per tier, the vip and key revenue cuts; zeros before any ranking",
        get(report),
    )
    .returns::<Snapshot>(200)
}

async fn report(State(state): State<AppState>) -> AppResult<axum::Json<Snapshot>> {
    let snapshot = match super::latest_snapshot(&state.db).await? {
        Some(s) => s,
        None => Snapshot::empty(Shares::of(&state.config)),
    };
    Ok(axum::Json(snapshot))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct OrderBody {
    /// The shop's or CRM's id of the order (the key of idempotency).
    external_id: String,
    /// RFC 3339 (`2026-03-01T10:00:00+08:00`).
    ordered_at: String,
    /// Decimal text (`"199.90"`) or a JSON number, in the currency; at most the currency's
    /// decimals.
    #[schemars(with = "serde_json::Value")]
    amount: serde_json::Value,
    /// ISO 4217 (`CNY`).
    currency: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    channel: String,
    /// `placed`, `paid`, `shipped`, `completed`, `cancelled` or `refunded` (default `paid`).
    status: Option<String>,
}

fn check_order(b: &OrderBody) -> AppResult<NewOrder> {
    let currency = super::check_currency(&b.currency)?;
    let digits = super::minor_digits(&currency);
    let amount_text = match &b.amount {
        serde_json::Value::String(s) => s.clone(),
        // serde_json writes a number back in its shortest exact form (0.1 stays "0.1").
        serde_json::Value::Number(n) => n.to_string(),
        _ => {
            return Err(AppError::validation(
                "amount",
                "amount must be decimal text or a number",
            ));
        }
    };
    let amount_minor = super::parse_amount(&amount_text, digits)?;
    if amount_minor < 0 {
        return Err(AppError::validation(
            "amount",
            "amount must not be negative (a refund is status refunded)",
        ));
    }
    let ordered_at = b
        .ordered_at
        .trim()
        .parse::<jiff::Timestamp>()
        .map_err(|_| {
            AppError::validation("ordered_at", "ordered_at must be an RFC 3339 date and time")
        })?
        .as_millisecond();
    let status = b.status.as_deref().unwrap_or("paid").trim().to_string();
    if !super::ORDER_STATUSES.contains(&status.as_str()) {
        return Err(AppError::validation(
            "status",
            "status must be placed, paid, shipped, completed, cancelled or refunded",
        ));
    }
    Ok(NewOrder {
        external_id: required_text("external_id", &b.external_id, 200)?,
        ordered_at,
        amount_minor,
        currency,
        product: optional_text("product", b.product.trim(), 500)?,
        category: optional_text("category", b.category.trim(), 200)?,
        channel: optional_text("channel", b.channel.trim(), 100)?,
        status,
    })
}

async fn put_order(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<OrderBody>,
) -> AppResult<(StatusCode, axum::Json<Order>)> {
    let order = check_order(&b)?;
    let (order, created) = store::upsert_order(&state.db, id, &order).await?;
    super::order_changed(
        &state.db,
        id,
        state.clock.now_ms(),
        Shares::of(&state.config),
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(order)))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct OrdersQuery {
    limit: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct OrderList {
    items: Vec<Order>,
}

async fn list_orders(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<OrdersQuery>,
) -> AppResult<axum::Json<OrderList>> {
    crate::customers::store::find_customer(&state.db, id).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    Ok(axum::Json(OrderList {
        items: store::orders_of(&state.db, id, limit).await?,
    }))
}

/// A customer's value as the console shows it.
#[derive(Serialize, schemars::JsonSchema)]
pub struct CustomerValue {
    pub customer_id: i64,
    pub tier: crate::customers::Tier,
    /// Set by hand: the recompute leaves it alone.
    pub pinned: bool,
    /// Why the customer has the tier (null before the first recompute).
    pub reason: Option<Reason>,
    /// The reason in English (`top 4% by 12-month revenue …`).
    pub reason_text: String,
    /// The RFM score (3–15, the sum of `figures.r`, `.f`, `.m`); null without orders in the
    /// window at the last recompute.
    pub score: Option<i64>,
    pub figures: Option<Figures>,
    pub window_months: i64,
    /// Inbound contacts in the window (calls, emails, SMS, web).
    pub contacts: i64,
    /// Complaint tickets opened in the window.
    pub complaints: i64,
    /// Every counting order ever, per currency.
    pub lifetime_value: Vec<Money>,
    pub recent_orders: Vec<Order>,
    /// Newest first.
    pub history: Vec<TierChange>,
}

pub async fn value_of(state: &AppState, id: i64) -> AppResult<CustomerValue> {
    let customer = crate::customers::store::find_customer(&state.db, id).await?;
    let shares = Shares::of(&state.config);
    let current = store::current_tiers(&state.db, id - 1, 1)
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound("customer"))?;
    let reason = if customer.tier_pinned {
        Some(super::pinned_reason())
    } else {
        serde_json::from_str::<Reason>(&current.reason).ok()
    };
    let figures = store::figures(&state.db, id).await?;
    let from = super::window_start(state.clock.now_ms(), shares.months);
    let (contacts, complaints) = store::service_load(&state.db, id, from).await?;
    Ok(CustomerValue {
        customer_id: id,
        tier: customer.tier,
        pinned: customer.tier_pinned,
        reason_text: reason.as_ref().map(Reason::text).unwrap_or_default(),
        reason,
        score: figures.as_ref().map(|f| f.r + f.f + f.m),
        figures,
        window_months: shares.months,
        contacts,
        complaints,
        lifetime_value: store::lifetime(&state.db, id).await?,
        recent_orders: store::orders_of(&state.db, id, 10).await?,
        history: store::history(&state.db, id, 50).await?,
    })
}

async fn value(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<CustomerValue>> {
    Ok(axum::Json(value_of(&state, id).await?))
}

async fn unpin(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<CustomerValue>> {
    crate::customers::store::find_customer(&state.db, id).await?;
    if store::unpin(&state.db, id).await? {
        crate::auth::store::insert_audit(
            &state.db.pool,
            Some(user.id),
            "customer.tier_unpin",
            &format!("customer:{id}"),
            serde_json::json!({}),
        )
        .await?;
        super::retier(
            &state.db,
            id,
            state.clock.now_ms(),
            Shares::of(&state.config),
        )
        .await?;
    }
    Ok(axum::Json(value_of(&state, id).await?))
}

async fn recompute(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> AppResult<axum::Json<Outcome>> {
    let outcome =
        super::recompute(&state.db, state.clock.now_ms(), Shares::of(&state.config)).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "value.recompute",
        "customers",
        serde_json::json!({"ranked": outcome.ranked, "changed": outcome.changed}),
    )
    .await?;
    Ok(axum::Json(outcome))
}
