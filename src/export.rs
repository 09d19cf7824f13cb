//! Exports for admins: customers (with their identities), tickets and interactions as CSV or
//! JSON Lines, streamed a page at a time by id (never the whole table in memory), each export
//! recorded in the audit log. CSV starts with a UTF-8 byte order mark (spreadsheets then read
//! Chinese correctly) and a cell a spreadsheet would run as a formula gets a leading `'`
//! (`crate::auth::csv_cell`). A customers CSV imports again as it is (`hotline import`).

use crate::app::AppState;
use crate::db::{Db, FromRow, ReadRow, from_json_list};
use crate::error::{AppError, AppResult};
use crate::http::extract::{AuthUser, Query};
use crate::http::{Access, Routes};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Rows read per query.
const PAGE: i64 = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Customers,
    Tickets,
    Interactions,
}

impl Table {
    fn as_str(self) -> &'static str {
        match self {
            Table::Customers => "customers",
            Table::Tickets => "tickets",
            Table::Interactions => "interactions",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

pub fn routes(r: Routes) -> Routes {
    macro_rules! export {
        ($r:expr, $path:literal, $summary:literal, $handler:ident, $media:literal) => {
            $r.add(
                "GET",
                $path,
                "export",
                Access::Admin,
                $summary,
                get($handler),
            )
            .query::<ExportQuery>()
            .returns_raw(200, $media)
        };
    }
    let r = export!(
        r,
        "/api/export/customers.csv",
        "Every customer with its identities as CSV (UTF-8 with a byte order mark), streamed; \
         `from`/`to` (RFC 3339) on the creation time; audited",
        customers_csv,
        "text/csv"
    );
    let r = export!(
        r,
        "/api/export/customers.jsonl",
        "Every customer with its identities as JSON Lines, streamed; `from`/`to` on the \
         creation time; audited",
        customers_jsonl,
        "application/x-ndjson"
    );
    let r = export!(
        r,
        "/api/export/tickets.csv",
        "Every ticket as CSV, streamed; `from`/`to` on the creation time; audited",
        tickets_csv,
        "text/csv"
    );
    let r = export!(
        r,
        "/api/export/tickets.jsonl",
        "Every ticket as JSON Lines, streamed; `from`/`to` on the creation time; audited",
        tickets_jsonl,
        "application/x-ndjson"
    );
    let r = export!(
        r,
        "/api/export/interactions.csv",
        "Every interaction (calls, emails, SMS, web messages, notes) as CSV, streamed; \
         `from`/`to` on the time; audited",
        interactions_csv,
        "text/csv"
    );
    export!(
        r,
        "/api/export/interactions.jsonl",
        "Every interaction as JSON Lines, streamed; `from`/`to` on the time; audited",
        interactions_jsonl,
        "application/x-ndjson"
    )
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ExportQuery {
    /// Created at or after (RFC 3339).
    from: Option<String>,
    /// Created before (RFC 3339).
    to: Option<String>,
}

/// Rows created in `[from, to)`, unix ms.
#[derive(Clone, Copy, Debug)]
pub struct Filter {
    pub from: i64,
    pub to: i64,
}

fn time(field: &str, v: Option<&str>, default: i64) -> AppResult<i64> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|_| AppError::validation(field, format!("{field} must be RFC 3339"))),
    }
}

macro_rules! handler {
    ($name:ident, $table:expr, $format:expr) => {
        async fn $name(
            State(state): State<AppState>,
            AuthUser(user): AuthUser,
            Query(q): Query<ExportQuery>,
        ) -> AppResult<Response> {
            export(state, user.id, $table, $format, q).await
        }
    };
}

handler!(customers_csv, Table::Customers, Format::Csv);
handler!(customers_jsonl, Table::Customers, Format::Jsonl);
handler!(tickets_csv, Table::Tickets, Format::Csv);
handler!(tickets_jsonl, Table::Tickets, Format::Jsonl);
handler!(interactions_csv, Table::Interactions, Format::Csv);
handler!(interactions_jsonl, Table::Interactions, Format::Jsonl);

async fn export(
    state: AppState,
    by: i64,
    table: Table,
    format: Format,
    q: ExportQuery,
) -> AppResult<Response> {
    let filter = Filter {
        from: time("from", q.from.as_deref(), 0)?,
        to: time("to", q.to.as_deref(), i64::MAX)?,
    };
    let ext = match format {
        Format::Csv => "csv",
        Format::Jsonl => "jsonl",
    };
    let name = format!("{}.{ext}", table.as_str());
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(by),
        "export",
        &name,
        serde_json::json!({"from": q.from, "to": q.to}),
    )
    .await?;
    let stream = stream(state.db.clone(), table, format, filter);
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Jsonl => "application/x-ndjson; charset=utf-8",
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The export as a stream of pages (the first with the byte order mark and the header).
pub fn stream(
    db: Db,
    table: Table,
    format: Format,
    filter: Filter,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures_util::stream::try_unfold(Some(0i64), move |after| {
        let db = db.clone();
        async move {
            let Some(after) = after else { return Ok(None) };
            let (bytes, last) = page(&db, table, format, filter, after)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            Ok(Some((Bytes::from(bytes), last)))
        }
    })
}

/// One page after id `after`: its bytes and the last id (None: the end).
async fn page(
    db: &Db,
    table: Table,
    format: Format,
    f: Filter,
    after: i64,
) -> AppResult<(Vec<u8>, Option<i64>)> {
    let mut out = Vec::new();
    if after == 0 && format == Format::Csv {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let header = after == 0;
    let last = match table {
        Table::Customers => {
            let mut rows: Vec<CustomerOut> = fetch(db, table, CUSTOMER_COLUMNS, f, after).await?;
            if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
                let idents: Vec<IdentOut> = db
                    .fetch_all(
                        "SELECT customer_id, kind, value FROM customer_identities \
                         WHERE customer_id >= $1 AND customer_id <= $2 ORDER BY id",
                        vec![first.id.into(), last.id.into()],
                    )
                    .await?;
                let mut by: HashMap<i64, Vec<IdentOut>> = HashMap::new();
                for i in idents {
                    by.entry(i.customer_id).or_default().push(i);
                }
                for r in &mut rows {
                    r.identities = by.remove(&r.id).unwrap_or_default();
                }
            }
            encode(&rows, format, header, &mut out)?
        }
        Table::Tickets => {
            let rows: Vec<TicketOut> = fetch(db, table, TICKET_COLUMNS, f, after).await?;
            encode(&rows, format, header, &mut out)?
        }
        Table::Interactions => {
            let rows: Vec<InteractionOut> = fetch(db, table, INTERACTION_COLUMNS, f, after).await?;
            encode(&rows, format, header, &mut out)?
        }
    };
    Ok((out, last))
}

async fn fetch<T: FromRow>(
    db: &Db,
    table: Table,
    columns: &str,
    f: Filter,
    after: i64,
) -> AppResult<Vec<T>> {
    db.fetch_all(
        &format!(
            "SELECT {columns} FROM {} WHERE id > $1 AND created_at >= $2 AND created_at < $3 \
             ORDER BY id LIMIT $4",
            table.as_str()
        ),
        vec![after.into(), f.from.into(), f.to.into(), PAGE.into()],
    )
    .await
}

/// A row as exported.
trait Exported: Serialize {
    const HEADER: &'static [&'static str];
    fn id(&self) -> i64;
    fn cells(&self) -> Vec<String>;
}

/// Writes `rows` (after the header on the first page); the last id when the page was full.
fn encode<T: Exported>(
    rows: &[T],
    format: Format,
    header: bool,
    out: &mut Vec<u8>,
) -> AppResult<Option<i64>> {
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::mem::take(out));
            if header {
                w.write_record(T::HEADER).map_err(AppError::internal)?;
            }
            for r in rows {
                w.write_record(r.cells()).map_err(AppError::internal)?;
            }
            *out = w.into_inner().map_err(AppError::internal)?;
        }
        Format::Jsonl => {
            for r in rows {
                serde_json::to_writer(&mut *out, r).map_err(AppError::internal)?;
                out.push(b'\n');
            }
        }
    }
    Ok(match rows.last() {
        Some(r) if rows.len() as i64 == PAGE => Some(r.id()),
        _ => None,
    })
}

fn cell(s: &str) -> String {
    crate::auth::csv_cell(s).into_owned()
}

fn at(ms: Option<i64>) -> String {
    ms.and_then(|v| jiff::Timestamp::from_millisecond(v).ok())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn opt(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

#[derive(Serialize)]
struct IdentOut {
    #[serde(skip)]
    customer_id: i64,
    kind: String,
    value: String,
}

impl FromRow for IdentOut {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(IdentOut {
            customer_id: r.try_get("customer_id")?,
            kind: r.try_get("kind")?,
            value: r.try_get("value")?,
        })
    }
}

const CUSTOMER_COLUMNS: &str = "id, external_id, display_name, tier, tier_pinned, language, \
     title, notes, tags, owner_id, created_at, updated_at";

#[derive(Serialize)]
struct CustomerOut {
    id: i64,
    external_id: Option<String>,
    display_name: String,
    tier: String,
    tier_pinned: bool,
    language: Option<String>,
    title: Option<String>,
    notes: String,
    tags: Vec<String>,
    owner_id: Option<i64>,
    identities: Vec<IdentOut>,
    created_at: i64,
    updated_at: i64,
}

impl FromRow for CustomerOut {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(CustomerOut {
            id: r.try_get("id")?,
            external_id: r.try_get("external_id")?,
            display_name: r.try_get("display_name")?,
            tier: r.try_get("tier")?,
            tier_pinned: r.try_get::<i64>("tier_pinned")? != 0,
            language: r.try_get("language")?,
            title: r.try_get("title")?,
            notes: r.try_get("notes")?,
            tags: from_json_list(&r.try_get::<String>("tags")?),
            owner_id: r.try_get("owner_id")?,
            identities: Vec::new(),
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

impl Exported for CustomerOut {
    const HEADER: &'static [&'static str] = &[
        "id",
        "external_id",
        "display_name",
        "tier",
        "tier_pinned",
        "phone",
        "email",
        "id_card",
        "vip_card",
        "crm",
        "language",
        "title",
        "notes",
        "tags",
        "owner_id",
        "created_at",
        "updated_at",
    ];
    fn id(&self) -> i64 {
        self.id
    }
    fn cells(&self) -> Vec<String> {
        let of = |kind: &str| {
            let v: Vec<&str> = self
                .identities
                .iter()
                .filter(|i| i.kind == kind)
                .map(|i| i.value.as_str())
                .collect();
            cell(&v.join("; "))
        };
        vec![
            self.id.to_string(),
            cell(self.external_id.as_deref().unwrap_or("")),
            cell(&self.display_name),
            self.tier.clone(),
            self.tier_pinned.to_string(),
            of("phone"),
            of("email"),
            of("id_card"),
            of("vip_card"),
            of("crm"),
            cell(self.language.as_deref().unwrap_or("")),
            self.title.clone().unwrap_or_default(),
            cell(&self.notes),
            cell(&self.tags.join("; ")),
            opt(self.owner_id),
            at(Some(self.created_at)),
            at(Some(self.updated_at)),
        ]
    }
}

const TICKET_COLUMNS: &str = "id, subject, status, priority, kind, channel, queue_id, \
     assignee_id, customer_id, tags, merged_into, created_at, updated_at, first_response_at, \
     resolved_at, closed_at";

#[derive(Serialize)]
struct TicketOut {
    id: i64,
    subject: String,
    status: String,
    priority: i64,
    kind: String,
    channel: String,
    queue_id: Option<i64>,
    assignee_id: Option<i64>,
    customer_id: Option<i64>,
    tags: Vec<String>,
    merged_into: Option<i64>,
    created_at: i64,
    updated_at: i64,
    first_response_at: Option<i64>,
    resolved_at: Option<i64>,
    closed_at: Option<i64>,
}

impl FromRow for TicketOut {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(TicketOut {
            id: r.try_get("id")?,
            subject: r.try_get("subject")?,
            status: r.try_get("status")?,
            priority: r.try_get("priority")?,
            kind: r.try_get("kind")?,
            channel: r.try_get("channel")?,
            queue_id: r.try_get("queue_id")?,
            assignee_id: r.try_get("assignee_id")?,
            customer_id: r.try_get("customer_id")?,
            tags: from_json_list(&r.try_get::<String>("tags")?),
            merged_into: r.try_get("merged_into")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            first_response_at: r.try_get("first_response_at")?,
            resolved_at: r.try_get("resolved_at")?,
            closed_at: r.try_get("closed_at")?,
        })
    }
}

impl Exported for TicketOut {
    const HEADER: &'static [&'static str] = &[
        "id",
        "subject",
        "status",
        "priority",
        "kind",
        "channel",
        "queue_id",
        "assignee_id",
        "customer_id",
        "tags",
        "merged_into",
        "created_at",
        "updated_at",
        "first_response_at",
        "resolved_at",
        "closed_at",
    ];
    fn id(&self) -> i64 {
        self.id
    }
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            cell(&self.subject),
            self.status.clone(),
            self.priority.to_string(),
            cell(&self.kind),
            cell(&self.channel),
            opt(self.queue_id),
            opt(self.assignee_id),
            opt(self.customer_id),
            cell(&self.tags.join("; ")),
            opt(self.merged_into),
            at(Some(self.created_at)),
            at(Some(self.updated_at)),
            at(self.first_response_at),
            at(self.resolved_at),
            at(self.closed_at),
        ]
    }
}

const INTERACTION_COLUMNS: &str = "id, ticket_id, customer_id, channel, direction, from_addr, \
     to_addr, subject, body, external_id, author_id, created_at";

#[derive(Serialize)]
struct InteractionOut {
    id: i64,
    ticket_id: i64,
    customer_id: Option<i64>,
    channel: String,
    direction: String,
    from_addr: String,
    to_addr: String,
    subject: String,
    body: String,
    external_id: Option<String>,
    author_id: Option<i64>,
    created_at: i64,
}

impl FromRow for InteractionOut {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(InteractionOut {
            id: r.try_get("id")?,
            ticket_id: r.try_get("ticket_id")?,
            customer_id: r.try_get("customer_id")?,
            channel: r.try_get("channel")?,
            direction: r.try_get("direction")?,
            from_addr: r.try_get("from_addr")?,
            to_addr: r.try_get("to_addr")?,
            subject: r.try_get("subject")?,
            body: r.try_get("body")?,
            external_id: r.try_get("external_id")?,
            author_id: r.try_get("author_id")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl Exported for InteractionOut {
    const HEADER: &'static [&'static str] = &[
        "id",
        "ticket_id",
        "customer_id",
        "channel",
        "direction",
        "from",
        "to",
        "subject",
        "body",
        "external_id",
        "author_id",
        "created_at",
    ];
    fn id(&self) -> i64 {
        self.id
    }
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.ticket_id.to_string(),
            opt(self.customer_id),
            self.channel.clone(),
            self.direction.clone(),
            cell(&self.from_addr),
            cell(&self.to_addr),
            cell(&self.subject),
            cell(&self.body),
            cell(self.external_id.as_deref().unwrap_or("")),
            opt(self.author_id),
            at(Some(self.created_at)),
        ]
    }
}
