//! SQL for customers, identities and the 360 history.

use super::identity::{IdentityKind, name_key};
use super::{Customer, Identity, Tier};
use crate::db::{Backend, Db, Exec, FromRow, Tx, from_json_list, now_ms, to_json_list};
use crate::error::{AppError, AppResult};
use crate::realtime::events::{self, Scope};

const CUSTOMER_COLUMNS: &str = "id, external_id, display_name, tier, tier_pinned, language, title, notes, tags, owner_id, created_at, updated_at, version";

/// A customer row; its identities are read separately (`with_identities`).
impl FromRow for Customer {
    fn from_row(row: &impl crate::db::ReadRow) -> Result<Customer, sqlx::Error> {
        Ok(Customer {
            id: row.try_get("id")?,
            external_id: row.try_get("external_id")?,
            display_name: row.try_get("display_name")?,
            tier: Tier::parse(&row.try_get::<String>("tier")?).unwrap_or(Tier::Regular),
            tier_pinned: row.try_get::<i64>("tier_pinned")? != 0,
            language: row.try_get("language")?,
            title: row.try_get("title")?,
            notes: row.try_get("notes")?,
            tags: from_json_list(&row.try_get::<String>("tags")?),
            owner_id: row.try_get("owner_id")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            identities: Vec::new(),
            version: row.try_get("version")?,
        })
    }
}

impl FromRow for Identity {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<Identity, sqlx::Error> {
        Ok(Identity {
            kind: IdentityKind::parse(&r.try_get::<String>("kind")?).unwrap_or(IdentityKind::Crm),
            value: r.try_get("value")?,
        })
    }
}

/// Fills in each customer's identities.
async fn with_identities(db: &Db, mut customers: Vec<Customer>) -> AppResult<Vec<Customer>> {
    for c in &mut customers {
        c.identities = db
            .fetch_all(
                "SELECT kind, value FROM customer_identities WHERE customer_id = $1 ORDER BY id",
                vec![c.id.into()],
            )
            .await?;
    }
    Ok(customers)
}

pub struct NewCustomer {
    pub display_name: String,
    pub tier: Tier,
    pub language: Option<String>,
    pub title: Option<String>,
    pub notes: String,
    pub tags: Vec<String>,
    pub owner_id: Option<i64>,
    /// Already normalized.
    pub identities: Vec<Identity>,
}

/// Inserts a customer with its identities inside `tx`; a taken identity fails the whole insert.
pub async fn insert_customer<E: Exec>(
    tx: &mut E,
    backend: Backend,
    c: &NewCustomer,
) -> AppResult<i64> {
    let params = vec![
        c.display_name.as_str().into(),
        name_key(&c.display_name).into(),
        c.tier.as_str().into(),
        (&c.language).into(),
        c.notes.as_str().into(),
        to_json_list(&c.tags).into(),
        c.owner_id.into(),
        now_ms().into(),
        (&c.title).into(),
        // A tier other than the default was chosen by a person: pinned (see `crate::value`).
        (c.tier != Tier::Regular).into(),
    ];
    let id: i64 = tx
        .row(
            "INSERT INTO customers (display_name, name_key, tier, language, notes, tags, owner_id, \
             created_at, updated_at, title, tier_pinned) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10) RETURNING id",
            params,
        )
        .await?
        .ok_or(AppError::NotFound("customer"))?;
    for ident in &c.identities {
        insert_identity(tx, id, ident).await?;
    }
    events::append(
        tx,
        backend,
        "customer.created",
        Scope {
            customer_id: Some(id),
            ..Scope::default()
        },
        &serde_json::json!({"customer_id": id, "display_name": c.display_name}),
    )
    .await?;
    Ok(id)
}

pub async fn insert_identity<E: Exec>(
    tx: &mut E,
    customer_id: i64,
    ident: &Identity,
) -> AppResult<()> {
    let params = vec![
        customer_id.into(),
        ident.kind.as_str().into(),
        ident.value.as_str().into(),
        now_ms().into(),
    ];
    tx.run(
        "INSERT INTO customer_identities (customer_id, kind, value, created_at) VALUES ($1, $2, $3, $4)",
        params,
    )
    .await?;
    Ok(())
}

pub async fn delete_identity(db: &Db, customer_id: i64, ident: &Identity) -> AppResult<()> {
    let done = sqlx::query(
        "DELETE FROM customer_identities WHERE customer_id = $1 AND kind = $2 AND value = $3",
    )
    .bind(customer_id)
    .bind(ident.kind.as_str())
    .bind(&ident.value)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound("identity"));
    }
    Ok(())
}

pub async fn find_customer(db: &Db, id: i64) -> AppResult<Customer> {
    let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1");
    let found = db.fetch_all(&sql, vec![id.into()]).await?;
    with_identities(db, found)
        .await?
        .pop()
        .ok_or(AppError::NotFound("customer"))
}

const OWNER_OF_IDENTITY: &str =
    "SELECT customer_id AS id FROM customer_identities WHERE kind = $1 AND value = $2";

/// The customer owning an identity (already normalized), if any, as seen inside a transaction.
pub async fn find_by_identity<E: Exec>(exec: &mut E, ident: &Identity) -> AppResult<Option<i64>> {
    let params = vec![ident.kind.as_str().into(), ident.value.as_str().into()];
    exec.row(OWNER_OF_IDENTITY, params).await
}

/// The customer owning an identity (already normalized), if any: the lookup's first read.
pub async fn owner_of(db: &Db, ident: &Identity) -> AppResult<Option<i64>> {
    find_by_identity(&mut &*db, ident).await
}

/// Customers whose name starts with `prefix` (already a name key), best known first.
pub async fn find_by_name_prefix(db: &Db, prefix: &str, limit: i64) -> AppResult<Vec<Customer>> {
    let sql = format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE name_key >= $1 AND name_key < $2 \
         ORDER BY name_key, id LIMIT $3"
    );
    let params = vec![
        prefix.into(),
        Backend::prefix_upper_bound(prefix).into(),
        limit.into(),
    ];
    let found = db.fetch_all(&sql, params).await?;
    with_identities(db, found).await
}

pub struct CustomerFilter {
    pub tier: Option<Tier>,
    pub owner_id: Option<i64>,
    pub name_prefix: Option<String>,
    /// Customers carrying this tag (exactly).
    pub tag: Option<String>,
    pub after_id: i64,
    pub limit: i64,
}

pub async fn list_customers(db: &Db, f: &CustomerFilter) -> AppResult<Vec<Customer>> {
    let prefix = f.name_prefix.as_deref().map(name_key).unwrap_or_default();
    let tag = match &f.tag {
        Some(_) => format!(" AND {}", db.backend.json_list_contains("tags", "$7")),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id > $1 \
         AND ($2 = '' OR tier = $2) AND ($3 < 0 OR owner_id = $3) \
         AND name_key >= $4 AND name_key < $5{tag} ORDER BY id LIMIT $6"
    );
    let params = vec![
        f.after_id.into(),
        f.tier.map(Tier::as_str).unwrap_or("").into(),
        f.owner_id.unwrap_or(-1).into(),
        prefix.as_str().into(),
        Backend::prefix_upper_bound(&prefix).into(),
        f.limit.into(),
    ];
    let mut params = params;
    if let Some(tag) = &f.tag {
        params.push(tag.as_str().into());
    }
    let found = db.fetch_all(&sql, params).await?;
    with_identities(db, found).await
}

#[derive(Default)]
pub struct CustomerChanges {
    pub display_name: Option<String>,
    pub tier: Option<Tier>,
    pub language: Option<Option<String>>,
    pub title: Option<Option<String>>,
    pub notes: Option<String>,
    pub tags: Option<Vec<String>>,
    pub owner_id: Option<Option<i64>>,
}

/// Applies changes in one transaction, unless `if_version` names a version that is no longer
/// current (`VersionConflict`): the row is read under a lock (`FOR UPDATE` on PostgreSQL;
/// SQLite has one writer), only the columns that change are written, and `version` goes up.
pub async fn update_customer(
    db: &Db,
    id: i64,
    c: &CustomerChanges,
    actor_id: i64,
    if_version: Option<i64>,
) -> AppResult<Customer> {
    let mut tx = db.begin().await?;
    let sql = format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1{}",
        db.backend.for_update()
    );
    let cur: Customer = tx
        .row(&sql, vec![id.into()])
        .await?
        .ok_or(AppError::NotFound("customer"))?;
    if let Some(v) = if_version
        && v != cur.version
    {
        return Err(AppError::VersionConflict {
            current: cur.version,
        });
    }
    let mut set = crate::tickets::store::SetList::new(id);
    if let Some(name) = &c.display_name
        && *name != cur.display_name
    {
        set.push("display_name = ?", name.as_str().into());
        set.push("name_key = ?", name_key(name).into());
    }
    // A tier changed by hand is pinned: the value recompute leaves it alone (`crate::value`).
    let tier_change = c.tier.filter(|t| *t != cur.tier);
    if let Some(tier) = tier_change {
        set.push("tier = ?", tier.as_str().into());
        set.push("tier_pinned = ?", 1i64.into());
        set.push("tier_reason = ?", "".into());
    }
    if let Some(language) = &c.language
        && *language != cur.language
    {
        set.push("language = ?", language.into());
    }
    if let Some(title) = &c.title
        && *title != cur.title
    {
        set.push("title = ?", title.into());
    }
    if let Some(notes) = &c.notes
        && *notes != cur.notes
    {
        set.push("notes = ?", notes.as_str().into());
    }
    if let Some(tags) = &c.tags
        && *tags != cur.tags
    {
        set.push("tags = ?", to_json_list(tags).into());
    }
    if let Some(owner) = c.owner_id
        && owner != cur.owner_id
    {
        set.push("owner_id = ?", owner.into());
    }
    set.push("updated_at = ?", now_ms().into());
    set.raw("version = version + 1");
    let (assignments, params) = set.finish();
    tx.run(
        &format!("UPDATE customers SET {assignments} WHERE id = $1"),
        params,
    )
    .await?;
    if let Some(tier) = tier_change {
        let reason = crate::value::pinned_reason();
        let change = crate::value::store::Change {
            customer_id: id,
            from: cur.tier.as_str(),
            to: tier.as_str(),
            reason: &reason,
            pinned: true,
            by: Some(actor_id),
        };
        crate::value::store::record_change(&mut tx, db.backend, &change).await?;
    }
    events::append(
        &mut tx,
        db.backend,
        "customer.updated",
        Scope {
            customer_id: Some(id),
            ..Scope::default()
        },
        &serde_json::json!({"customer_id": id, "by": actor_id}),
    )
    .await?;
    crate::realtime::events::commit(tx).await?;
    find_customer(db, id).await
}

/// One line of the history: every channel, newest first. The body is cut to a preview.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
pub struct HistoryItem {
    pub id: i64,
    pub ticket_id: i64,
    pub channel: String,
    pub direction: String,
    pub from_addr: String,
    pub to_addr: String,
    pub subject: String,
    pub preview: String,
    pub created_at: i64,
    /// The status of the interaction's ticket.
    pub ticket_status: Option<String>,
    /// True when the reader may not open the ticket: preview and addresses are left out (see
    /// [`super::withhold_history`]).
    pub withheld: bool,
    /// A call (channel `voice`): outcome, duration, wait, agent and disposition.
    pub call: Option<crate::channels::voice::store::CallSummary>,
    #[serde(skip)]
    pub queue_id: Option<i64>,
    #[serde(skip)]
    pub assignee_id: Option<i64>,
}

/// Length of the body preview in the history, in characters.
pub const PREVIEW_CHARS: usize = 200;

/// A page of a customer's interactions, newest first, strictly before `(before_ms, before_id)`,
/// with their tickets' status, queue and assignee; every interaction, whoever reads: pass it
/// through [`super::withhold_history`] before showing it. Served by the index
/// `interactions_customer_time` (customer_id, created_at DESC, id DESC); the tickets by key.
pub async fn history(
    db: &Db,
    customer_id: i64,
    before: Option<(i64, i64)>,
    limit: i64,
) -> AppResult<Vec<HistoryItem>> {
    let (before_ms, before_id) = before.unwrap_or((i64::MAX, i64::MAX));
    let params = vec![
        customer_id.into(),
        before_ms.into(),
        before_id.into(),
        limit.into(),
    ];
    let mut items: Vec<HistoryItem> = db
        .fetch_all(
            "SELECT i.id, i.ticket_id, i.channel, i.direction, i.from_addr, i.to_addr, i.subject, \
         substr(i.body, 1, 200) AS preview, i.created_at, t.status AS ticket_status, \
         t.queue_id, t.assignee_id FROM interactions i LEFT JOIN tickets t ON t.id = i.ticket_id \
         WHERE i.customer_id = $1 AND (i.created_at < $2 OR (i.created_at = $2 AND i.id < $3)) \
         ORDER BY i.created_at DESC, i.id DESC LIMIT $4",
            params,
        )
        .await?;
    // Calls carry their outcome, times, agent and code: one more query, only for a page
    // with calls on it.
    let voice: Vec<i64> = items
        .iter()
        .filter(|h| h.channel == "voice")
        .map(|h| h.id)
        .collect();
    if !voice.is_empty() {
        let mut calls = crate::channels::voice::store::summaries(db, &voice).await?;
        for h in &mut items {
            h.call = calls.remove(&h.id);
        }
    }
    Ok(items)
}

impl FromRow for HistoryItem {
    fn from_row(r: &impl crate::db::ReadRow) -> Result<HistoryItem, sqlx::Error> {
        Ok(HistoryItem {
            id: r.try_get("id")?,
            ticket_id: r.try_get("ticket_id")?,
            channel: r.try_get("channel")?,
            direction: r.try_get("direction")?,
            from_addr: r.try_get("from_addr")?,
            to_addr: r.try_get("to_addr")?,
            subject: r.try_get("subject")?,
            preview: r.try_get("preview")?,
            created_at: r.try_get("created_at")?,
            ticket_status: r.try_get("ticket_status")?,
            withheld: false,
            call: None,
            queue_id: r.try_get("queue_id")?,
            assignee_id: r.try_get("assignee_id")?,
        })
    }
}

/// Moves all customers owned by `from` to `to` (hand-over when an employee leaves).
pub async fn reassign_owner(tx: &mut Tx<'_>, from: i64, to: i64) -> AppResult<u64> {
    let done = sqlx::query(
        "UPDATE customers SET owner_id = $2, updated_at = $3, version = version + 1 \
             WHERE owner_id = $1",
    )
    .bind(from)
    .bind(to)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}
