//! HTTP for customers, identities and the 360 lookup.

use super::identity::{self, IdentityKind};
use super::store::{self, CustomerChanges, CustomerFilter, HistoryItem, NewCustomer};
use super::{Customer, Identity, LookupKey, MatchQuality, Tier, parse_lookup};
use crate::app::AppState;
use crate::error::{AppError, AppResult, optional_text, required_text};
use crate::http::extract::{AuthUser, IfMatch, Json, Path, Query, with_etag};
use crate::http::{Access, Routes};
use crate::tickets::store as tickets;
use crate::tickets::{Ticket, Visibility};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, patch, post};
use serde::{Deserialize, Serialize};

pub fn routes(r: Routes) -> Routes {
    r.add(
        "GET",
        "/api/customers/lookup",
        "customers",
        Access::Agent,
        "The 360 view for a phone number, email, ID/VIP card, CRM id, name prefix or #ticket",
        get(lookup),
    )
    .query::<LookupQuery>()
    .returns::<View360>(200)
    .add(
        "GET",
        "/api/customers",
        "customers",
        Access::Agent,
        "List customers by id; filters tier, tag, owner_id, name (prefix); pages with after_id \
         (the answer's `next`) and limit (≤ 200, default 50)",
        get(list_customers),
    )
    .query::<ListQuery>()
    .returns::<Page<Customer>>(200)
    .add(
        "POST",
        "/api/customers",
        "customers",
        Access::Agent,
        "Create a customer",
        post(create_customer),
    )
    .body::<CreateCustomerBody>()
    .returns::<Customer>(201)
    .add(
        "GET",
        "/api/customers/{id}",
        "customers",
        Access::Agent,
        "A customer's 360 view",
        get(get_customer),
    )
    .returns::<View360>(200)
    .add(
        "PATCH",
        "/api/customers/{id}",
        "customers",
        Access::Agent,
        "Change a customer",
        patch(update_customer),
    )
    .body::<UpdateCustomerBody>()
    .returns::<Customer>(200)
    .add(
        "GET",
        "/api/customers/{id}/history",
        "customers",
        Access::Agent,
        "A customer's interactions on every channel, newest first, paginated",
        get(history),
    )
    .query::<HistoryQuery>()
    .returns::<Page<HistoryItem>>(200)
    .add(
        "POST",
        "/api/customers/{id}/identities",
        "customers",
        Access::Agent,
        "Add an identity to a customer",
        post(add_identity),
    )
    .body::<IdentityBody>()
    .returns::<Customer>(201)
    .add(
        "DELETE",
        "/api/customers/{id}/identities",
        "customers",
        Access::Agent,
        "Remove an identity from a customer",
        delete(remove_identity),
    )
    .body::<IdentityBody>()
    .no_content()
}

#[derive(Deserialize, schemars::JsonSchema)]
struct IdentityBody {
    kind: String,
    value: String,
}

fn parse_identity(state: &AppState, b: &IdentityBody) -> AppResult<Identity> {
    let kind = IdentityKind::parse(&b.kind).ok_or_else(|| {
        AppError::validation(
            "kind",
            "kind must be phone, email, id_card, vip_card or crm",
        )
    })?;
    let value = identity::normalize(kind, &b.value, &state.phones)
        .map_err(|why| AppError::validation("value", format!("{} {why}", kind.as_str())))?;
    Ok(Identity { kind, value })
}

fn parse_tier(s: &str) -> AppResult<Tier> {
    Tier::parse(s)
        .ok_or_else(|| AppError::validation("tier", "tier must be vip, key, regular or low"))
}

fn parse_title(t: &str) -> AppResult<String> {
    match t.trim() {
        "mr" | "ms" => Ok(t.trim().to_string()),
        _ => Err(AppError::validation("title", "title must be mr or ms")),
    }
}

fn check_tags(tags: &[String]) -> AppResult<Vec<String>> {
    if tags.len() > 50 {
        return Err(AppError::validation("tags", "at most 50 tags"));
    }
    tags.iter().map(|t| required_text("tags", t, 50)).collect()
}

#[derive(Deserialize, schemars::JsonSchema)]
struct CreateCustomerBody {
    display_name: String,
    tier: Option<String>,
    language: Option<String>,
    /// How the customer is addressed: `mr` or `ms`.
    title: Option<String>,
    notes: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    owner_id: Option<i64>,
    #[serde(default)]
    identities: Vec<IdentityBody>,
}

async fn create_customer(
    State(state): State<AppState>,
    Json(b): Json<CreateCustomerBody>,
) -> AppResult<(StatusCode, axum::Json<Customer>)> {
    let identities = b
        .identities
        .iter()
        .map(|i| parse_identity(&state, i))
        .collect::<AppResult<Vec<_>>>()?;
    let new = NewCustomer {
        display_name: required_text("display_name", &b.display_name, 200)?,
        tier: b
            .tier
            .as_deref()
            .map(parse_tier)
            .transpose()?
            .unwrap_or(Tier::Regular),
        language: b
            .language
            .map(|l| required_text("language", &l, 20))
            .transpose()?,
        title: b.title.as_deref().map(parse_title).transpose()?,
        notes: optional_text("notes", b.notes.as_deref().unwrap_or(""), 10_000)?,
        tags: check_tags(&b.tags)?,
        owner_id: b.owner_id,
        identities,
    };
    if let Some(owner) = new.owner_id {
        crate::auth::store::find_user(&state.db, owner)
            .await
            .map_err(|_| AppError::validation("owner_id", "owner_id is not a user"))?;
    }
    let mut tx = state.db.begin().await?;
    let id = store::insert_customer(&mut tx, state.db.backend, &new).await?;
    crate::realtime::events::commit(tx).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(store::find_customer(&state.db, id).await?),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListQuery {
    tier: Option<String>,
    owner_id: Option<i64>,
    name: Option<String>,
    /// Customers with this tag (exact).
    tag: Option<String>,
    after_id: Option<i64>,
    limit: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "{T}Page")]
struct Page<T> {
    items: Vec<T>,
    /// Pass as `after_id` (customers) or `before` (history) for the next page; null at the end.
    next: Option<String>,
}

async fn list_customers(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> AppResult<axum::Json<Page<Customer>>> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let filter = CustomerFilter {
        tier: q.tier.as_deref().map(parse_tier).transpose()?,
        owner_id: q.owner_id,
        name_prefix: q.name.map(|n| optional_text("name", &n, 200)).transpose()?,
        tag: q
            .tag
            .map(|t| optional_text("tag", t.trim(), 50))
            .transpose()?
            .filter(|t| !t.is_empty()),
        after_id: q.after_id.unwrap_or(0),
        limit,
    };
    let items = store::list_customers(&state.db, &filter).await?;
    let next = (items.len() as i64 == limit)
        .then(|| items.last().map(|c| c.id.to_string()))
        .flatten();
    Ok(axum::Json(Page { items, next }))
}

/// The screen pop's content: who, how sure, what is open, what happened.
#[derive(Serialize, schemars::JsonSchema)]
pub struct View360 {
    #[serde(rename = "match")]
    pub quality: MatchQuality,
    /// The identity kind that matched (`phone`, `email`, …), `name` or `ticket`.
    pub matched_by: Option<String>,
    pub customer: Option<Customer>,
    /// For a guess: everyone it could be.
    pub candidates: Vec<Customer>,
    pub open_tickets: Vec<Ticket>,
    pub open_complaints: usize,
    pub history: Vec<HistoryItem>,
    pub history_next: Option<String>,
    /// For an unknown caller: the identity to prefill a new-customer form with.
    pub prefill: Option<Identity>,
    /// The customer's latest satisfaction survey answers, newest first (the comment left out
    /// for a ticket the reader may not open).
    pub recent_scores: Vec<crate::surveys::store::RecentScore>,
    /// The customer asked for no satisfaction surveys.
    pub surveys_opted_out: bool,
}

/// History page size of the 360 view.
pub const HISTORY_PAGE: i64 = 20;

impl View360 {
    /// The view as `reader` may see it (see [`super::withhold_history`]).
    pub fn for_reader(&self, reader: &Visibility) -> View360 {
        View360 {
            quality: self.quality,
            matched_by: self.matched_by.clone(),
            customer: self.customer.clone(),
            candidates: self.candidates.clone(),
            open_tickets: self.open_tickets.clone(),
            open_complaints: self.open_complaints,
            history: super::withhold_history(self.history.clone(), reader),
            history_next: self.history_next.clone(),
            prefill: self.prefill.clone(),
            recent_scores: crate::surveys::store::withhold_comments(
                self.recent_scores.clone(),
                reader,
            ),
            surveys_opted_out: self.surveys_opted_out,
        }
    }
}

/// Builds the 360 view of one customer for `reader` (shared by the lookup, the customer page
/// and screen pops).
pub async fn view_of(
    state: &AppState,
    customer_id: i64,
    quality: MatchQuality,
    matched_by: Option<String>,
    reader: &Visibility,
) -> AppResult<View360> {
    let customer = store::find_customer(&state.db, customer_id).await?;
    let open_tickets = tickets::open_tickets_of(&state.db, customer_id).await?;
    let all = store::history(&state.db, customer_id, None, HISTORY_PAGE).await?;
    // The cursor follows the page as read, so that withheld notes do not end the paging.
    let history_next = next_cursor(&all, HISTORY_PAGE);
    let history = super::withhold_history(all, reader);
    let recent_scores = crate::surveys::store::withhold_comments(
        crate::surveys::store::recent_scores(&state.db, customer_id, 5).await?,
        reader,
    );
    let surveys_opted_out = crate::surveys::store::customer_contact(&state.db, customer_id)
        .await?
        .opted_out;
    Ok(View360 {
        recent_scores,
        surveys_opted_out,
        quality,
        matched_by,
        open_complaints: open_tickets
            .iter()
            .filter(|t| t.kind == crate::tickets::Kind::Complaint)
            .count(),
        history_next,
        customer: Some(customer),
        candidates: Vec::new(),
        open_tickets,
        history,
        prefill: None,
    })
}

fn unknown(prefill: Option<Identity>) -> View360 {
    View360 {
        quality: MatchQuality::Unknown,
        matched_by: None,
        customer: None,
        candidates: Vec::new(),
        open_tickets: Vec::new(),
        open_complaints: 0,
        history: Vec::new(),
        history_next: None,
        prefill,
        recent_scores: Vec::new(),
        surveys_opted_out: false,
    }
}

fn next_cursor(items: &[HistoryItem], limit: i64) -> Option<String> {
    (items.len() as i64 == limit)
        .then(|| items.last().map(|h| format!("{}.{}", h.created_at, h.id)))
        .flatten()
}

/// Looks up whatever an agent typed or a phone system sent, as `reader` may see it; see
/// `parse_lookup`.
pub async fn lookup_view(state: &AppState, q: &str, reader: &Visibility) -> AppResult<View360> {
    match parse_lookup(q, &state.phones) {
        LookupKey::Ticket(n) => match tickets::find_ticket(&mut &state.db, n).await {
            Ok(t) => match t.customer_id {
                Some(cid) => {
                    let by = Some("ticket".into());
                    view_of(state, cid, MatchQuality::Exact, by, reader).await
                }
                None => Ok(unknown(None)),
            },
            Err(AppError::NotFound(_)) => Ok(unknown(None)),
            Err(e) => Err(e),
        },
        LookupKey::Identities(ids) => {
            for ident in &ids {
                if let Some(cid) = store::owner_of(&state.db, ident).await? {
                    let by = Some(ident.kind.as_str().to_string());
                    return view_of(state, cid, MatchQuality::Exact, by, reader).await;
                }
            }
            let prefill = ids
                .into_iter()
                .find(|i| matches!(i.kind, IdentityKind::Phone | IdentityKind::Email));
            Ok(unknown(prefill))
        }
        LookupKey::Name(prefix) => {
            if prefix.is_empty() {
                return Ok(unknown(None));
            }
            let candidates = store::find_by_name_prefix(&state.db, &prefix, 10).await?;
            match candidates.len() {
                0 => Ok(unknown(None)),
                1 => {
                    let id = candidates[0].id;
                    view_of(state, id, MatchQuality::Maybe, Some("name".into()), reader).await
                }
                _ => {
                    let mut v = unknown(None);
                    v.quality = MatchQuality::Maybe;
                    v.matched_by = Some("name".into());
                    v.candidates = candidates;
                    Ok(v)
                }
            }
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct LookupQuery {
    q: String,
}

async fn lookup(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<LookupQuery>,
) -> AppResult<axum::Json<View360>> {
    let q = required_text("q", &q.q, 254)?;
    let reader = tickets::visibility(&state.db, &user).await?;
    Ok(axum::Json(lookup_view(&state, &q, &reader).await?))
}

/// The customer's 360 view; its `ETag` is the customer's version (send it back as `If-Match`
/// with a `PATCH`).
async fn get_customer(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let reader = tickets::visibility(&state.db, &user).await?;
    let view = view_of(&state, id, MatchQuality::Exact, Some("id".into()), &reader).await?;
    let version = view.customer.as_ref().map(|c| c.version).unwrap_or(0);
    Ok(with_etag(version, view))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct UpdateCustomerBody {
    display_name: Option<String>,
    tier: Option<String>,
    language: Option<Option<String>>,
    /// `mr`, `ms`, or null (not known).
    #[serde(default, deserialize_with = "crate::http::extract::nullable")]
    #[schemars(with = "Option<String>")]
    title: Option<Option<String>>,
    notes: Option<String>,
    tags: Option<Vec<String>>,
    owner_id: Option<Option<i64>>,
}

async fn update_customer(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    IfMatch(if_version): IfMatch,
    Json(b): Json<UpdateCustomerBody>,
) -> AppResult<Response> {
    let changes = CustomerChanges {
        display_name: b
            .display_name
            .map(|n| required_text("display_name", &n, 200))
            .transpose()?,
        tier: b.tier.as_deref().map(parse_tier).transpose()?,
        language: b
            .language
            .map(|l| l.map(|l| required_text("language", &l, 20)).transpose())
            .transpose()?,
        title: b
            .title
            .map(|t| t.as_deref().map(parse_title).transpose())
            .transpose()?,
        notes: b
            .notes
            .map(|n| optional_text("notes", &n, 10_000))
            .transpose()?,
        tags: b.tags.as_deref().map(check_tags).transpose()?,
        owner_id: b.owner_id,
    };
    if changes.owner_id.is_some() && !user.is_supervisor() {
        return Err(AppError::Forbidden);
    }
    let customer = store::update_customer(&state.db, id, &changes, user.id, if_version).await?;
    Ok(with_etag(customer.version, customer))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct HistoryQuery {
    before: Option<String>,
    limit: Option<i64>,
}

async fn history(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Query(q): Query<HistoryQuery>,
) -> AppResult<axum::Json<Page<HistoryItem>>> {
    store::find_customer(&state.db, id).await?;
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(c) => {
            let parsed = c
                .split_once('.')
                .and_then(|(ms, id)| Some((ms.parse().ok()?, id.parse().ok()?)));
            Some(parsed.ok_or_else(|| AppError::validation("before", "before is not a cursor"))?)
        }
    };
    let limit = q.limit.unwrap_or(HISTORY_PAGE).clamp(1, 200);
    let items = store::history(&state.db, id, before, limit).await?;
    let next = next_cursor(&items, limit);
    let reader = tickets::visibility(&state.db, &user).await?;
    let items = super::withhold_history(items, &reader);
    Ok(axum::Json(Page { items, next }))
}

async fn add_identity(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<IdentityBody>,
) -> AppResult<(StatusCode, axum::Json<Customer>)> {
    let ident = parse_identity(&state, &b)?;
    store::find_customer(&state.db, id).await?;
    let mut tx = state.db.begin().await?;
    store::insert_identity(&mut tx, id, &ident).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(store::find_customer(&state.db, id).await?),
    ))
}

async fn remove_identity(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<IdentityBody>,
) -> AppResult<StatusCode> {
    let ident = parse_identity(&state, &b)?;
    store::delete_identity(&state.db, id, &ident).await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "customer.identity_delete",
        &format!("customer:{id}"),
        serde_json::json!({"kind": ident.kind, "value": ident.value}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
