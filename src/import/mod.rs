//! Customers (with their identities) and orders brought in from CSV files: one engine for
//! `hotline import` and the admin console's uploads.
//!
//! A file is read a buffer at a time in its encoding (UTF-8, GB18030 or another, guessed or
//! chosen; `decode.rs`), its header mapped to fields (common English and Chinese names, or an
//! explicit `column=field` mapping), and every row checked: phones through the customers'
//! E.164 normalizer, currencies and amounts through `crate::value`. Rows are written `CHUNK`
//! per transaction, with the job's progress in the same commit: a run that stopped (a crash, a
//! restart) resumes after the last committed chunk and writes nothing twice. Imports are
//! idempotent on external ids: a customer's `external_id` (else one of its phones, emails or
//! cards), an order's `external_id`. A refused row (bad phone, unknown currency, an id twice in
//! the file, bytes not of the encoding, …) is recorded with its line number, field and reason,
//! and the others still land. A dry run makes the same decisions and writes only its report.
//!
//! Rules here; SQL in store.rs; HTTP in routes.rs.

pub mod cli;
pub mod decode;
pub mod routes;
pub mod store;

use crate::clock::Clock;
use crate::customers::Identity;
use crate::customers::identity::{self, IdentityKind, PhoneNormalizer};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::value::Shares;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;

/// Rows written per transaction.
pub const CHUNK: usize = 500;
/// How long a claim on a job lasts without a committed chunk (renewed by every chunk).
pub const LEASE_MS: i64 = 30_000;
/// Rows a dry run records beside the refused ones (what it would create or update).
pub const DRY_RUN_ROWS: i64 = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Customers,
    Orders,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Orders => "orders",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Customers, Kind::Orders]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
    /// The fields of a row and the header names each is known by (compared without case,
    /// spaces, `_`, `-` or `.`).
    pub fn fields(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            Kind::Customers => &[
                (
                    "external_id",
                    &[
                        "external_id",
                        "customer_id",
                        "customer_no",
                        "外部编号",
                        "客户编号",
                        "客户id",
                        "编号",
                    ],
                ),
                (
                    "name",
                    &[
                        "name",
                        "display_name",
                        "full_name",
                        "customer",
                        "customer_name",
                        "姓名",
                        "名字",
                        "名称",
                        "客户",
                        "客户名称",
                        "客户姓名",
                    ],
                ),
                (
                    "phone",
                    &[
                        "phone",
                        "mobile",
                        "tel",
                        "telephone",
                        "phone_number",
                        "手机",
                        "手机号",
                        "手机号码",
                        "电话",
                        "联系电话",
                    ],
                ),
                (
                    "email",
                    &["email", "e_mail", "mail", "邮箱", "电子邮件", "电子邮箱"],
                ),
                ("id_card", &["id_card", "身份证", "身份证号"]),
                ("vip_card", &["vip_card", "会员卡", "会员卡号"]),
                ("crm", &["crm", "crm_id"]),
                ("language", &["language", "lang", "语言"]),
                ("title", &["title", "称呼"]),
                ("notes", &["notes", "note", "remarks", "备注"]),
                ("tags", &["tags", "tag", "标签"]),
            ],
            Kind::Orders => &[
                (
                    "external_id",
                    &[
                        "external_id",
                        "order_id",
                        "order_no",
                        "order_number",
                        "订单号",
                        "订单编号",
                        "外部编号",
                    ],
                ),
                (
                    "customer_external_id",
                    &[
                        "customer_external_id",
                        "customer_id",
                        "customer_no",
                        "客户编号",
                        "客户id",
                    ],
                ),
                (
                    "phone",
                    &[
                        "phone",
                        "mobile",
                        "tel",
                        "手机",
                        "手机号",
                        "电话",
                        "联系电话",
                    ],
                ),
                ("email", &["email", "mail", "邮箱"]),
                (
                    "ordered_at",
                    &[
                        "ordered_at",
                        "order_date",
                        "order_time",
                        "date",
                        "time",
                        "下单时间",
                        "订单时间",
                        "日期",
                    ],
                ),
                ("amount", &["amount", "total", "金额", "订单金额"]),
                ("currency", &["currency", "币种", "货币"]),
                ("product", &["product", "item", "商品", "产品"]),
                ("category", &["category", "类别", "品类"]),
                ("channel", &["channel", "渠道"]),
                ("status", &["status", "状态", "订单状态"]),
            ],
        }
    }
}

/// A header name compared with the known names: lower case, without spaces, `_`, `-`, `.` or a
/// byte order mark.
fn header_key(h: &str) -> String {
    h.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.' | '\u{feff}' | '\u{3000}'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Which field each column of the file feeds.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Column {
    /// The header as written in the file.
    pub column: String,
    /// The field it feeds; null: the column is ignored.
    pub field: Option<String>,
}

/// The header mapped: for each field, the column it is read from.
pub struct Columns {
    pub list: Vec<Column>,
    index: HashMap<&'static str, usize>,
}

impl Columns {
    /// The trimmed cell of `field` in `rec` ("" when the file has no such column).
    /// A cell defused for spreadsheets by an export (`'+86…`, `'=…`) is read without its `'`.
    pub fn get<'r>(&self, rec: &'r csv::StringRecord, field: &str) -> &'r str {
        let v = self
            .index
            .get(field)
            .and_then(|&i| rec.get(i))
            .map(str::trim)
            .unwrap_or("");
        match v.strip_prefix('\'') {
            Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
            _ => v,
        }
    }
    pub fn has(&self, field: &str) -> bool {
        self.index.contains_key(field)
    }
}

/// Maps a header: an explicit `(column, field)` first (an empty field ignores the column), else
/// the known names. Refused: a field that does not exist, two columns for one field, a missing
/// required field.
pub fn map_columns(
    kind: Kind,
    header: &csv::StringRecord,
    explicit: &[(String, String)],
) -> AppResult<Columns> {
    let fields = kind.fields();
    let field_of = |name: &str| fields.iter().map(|(f, _)| *f).find(|f| *f == name);
    for (col, field) in explicit {
        if !field.is_empty() && field_of(field).is_none() {
            let known: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
            return Err(AppError::validation(
                "map",
                format!(
                    "{col}={field}: {} has no field {field} (fields: {})",
                    kind.as_str(),
                    known.join(", ")
                ),
            ));
        }
    }
    let mut list = Vec::new();
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let key = header_key(name);
        let field = match explicit.iter().find(|(c, _)| header_key(c) == key) {
            Some((_, f)) => field_of(f),
            None => fields
                .iter()
                .find(|(f, names)| {
                    header_key(f) == key || names.iter().any(|n| header_key(n) == key)
                })
                .map(|(f, _)| *f),
        };
        if let Some(f) = field {
            if let Some(&j) = index.get(f) {
                return Err(AppError::validation(
                    "map",
                    format!(
                        "columns {:?} and {:?} are both {f}; map one of them (column=field, or \
                         column= to ignore it)",
                        header.get(j).unwrap_or(""),
                        name
                    ),
                ));
            }
            index.insert(f, i);
        }
        list.push(Column {
            column: name.trim_start_matches('\u{feff}').to_string(),
            field: field.map(str::to_string),
        });
    }
    let columns = Columns { list, index };
    let need: &[&[&str]] = match kind {
        Kind::Customers => &[&["name"]],
        Kind::Orders => &[
            &["external_id"],
            &["ordered_at"],
            &["amount"],
            &["currency"],
            &["customer_external_id", "phone", "email"],
        ],
    };
    for any in need {
        if !any.iter().any(|f| columns.has(f)) {
            return Err(AppError::validation(
                "columns",
                format!(
                    "the file has no column for {} (its columns: {})",
                    any.join(" or "),
                    header.iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    Ok(columns)
}

/// Parses `column=field` mappings (`--map`, the console's `map`, `;`-separated there).
pub fn parse_mapping<'a>(
    items: impl IntoIterator<Item = &'a str>,
) -> AppResult<Vec<(String, String)>> {
    items
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|m| {
            m.rsplit_once('=')
                .map(|(c, f)| (c.trim().to_string(), f.trim().to_string()))
                .filter(|(c, _)| !c.is_empty())
                .ok_or_else(|| AppError::validation("map", format!("{m:?} is not column=field")))
        })
        .collect()
}

/// Why a row is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    /// `encoding`, `missing`, `invalid`, `duplicate`, `identity_taken`, `unknown_customer`,
    /// `conflict`.
    pub code: &'static str,
    pub message: String,
}

impl Problem {
    fn new(field: &str, code: &'static str, message: impl Into<String>) -> Problem {
        Problem {
            field: field.to_string(),
            code,
            message: message.into(),
        }
    }
    fn invalid(e: AppError) -> Problem {
        match e {
            AppError::Validation { field, message } => Problem {
                field,
                code: "invalid",
                message,
            },
            other => Problem::new("", "invalid", other.to_string()),
        }
    }
}

/// A customer row, checked.
#[derive(Debug)]
pub struct CustomerRow {
    pub external_id: Option<String>,
    pub name: String,
    /// Normalized.
    pub identities: Vec<Identity>,
    /// `None`: the file leaves it as it is.
    pub language: Option<String>,
    pub title: Option<String>,
    pub notes: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// Which customer an order belongs to.
#[derive(Debug)]
pub enum CustomerRef {
    External(String),
    Identity(Identity),
}

#[derive(Debug)]
pub struct OrderRow {
    pub customer: CustomerRef,
    pub order: crate::value::store::NewOrder,
}

#[derive(Debug)]
pub enum Item {
    Customer(CustomerRow),
    Order(OrderRow),
}

impl Item {
    /// The id the file gives the row (its key of idempotency), if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Item::Customer(c) => c.external_id.as_deref(),
            Item::Order(o) => Some(&o.order.external_id),
        }
    }
}

/// What the rows of a file are checked with.
#[derive(Clone)]
pub struct Ctx {
    pub phones: PhoneNormalizer,
    /// Dates without an offset are the center's local time.
    pub zone: jiff::tz::TimeZone,
    pub shares: Shares,
    pub clock: Clock,
}

impl Ctx {
    pub fn of(config: &crate::config::Config, clock: Clock) -> anyhow::Result<Ctx> {
        let zone = config.time_zone();
        Ok(Ctx {
            phones: PhoneNormalizer::new(&config.default_region)?,
            zone: jiff::tz::TimeZone::get(&zone)
                .map_err(|e| anyhow::anyhow!("HOTLINE_TIME_ZONE {zone}: {e}"))?,
            shares: Shares::of(config),
            clock,
        })
    }
}

/// A cell holding U+FFFD came from bytes that are not of the file's encoding.
fn check_encoding(cols: &Columns, rec: &csv::StringRecord) -> Result<(), Problem> {
    match rec.iter().position(|c| c.contains('\u{FFFD}')) {
        None => Ok(()),
        Some(i) => {
            let column = cols.list.get(i).map(|c| c.column.as_str()).unwrap_or("");
            let field = cols.list.get(i).and_then(|c| c.field.as_deref());
            Err(Problem::new(
                field.unwrap_or(column),
                "encoding",
                format!("column {column:?} has bytes that are not valid in the file's encoding"),
            ))
        }
    }
}

fn text(
    cols: &Columns,
    rec: &csv::StringRecord,
    field: &str,
    max: usize,
) -> Result<Option<String>, Problem> {
    let v = cols.get(rec, field);
    if v.is_empty() {
        return Ok(None);
    }
    crate::error::optional_text(field, v, max)
        .map(Some)
        .map_err(Problem::invalid)
}

/// Several values in one cell: `a; b`, `a, b`, `a/b`, `a、b`.
fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split([';', ',', '/', '、', '；', '，'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

pub fn parse_customer(
    cols: &Columns,
    rec: &csv::StringRecord,
    ctx: &Ctx,
) -> Result<CustomerRow, Problem> {
    check_encoding(cols, rec)?;
    let name = text(cols, rec, "name", 200)?
        .ok_or_else(|| Problem::new("name", "missing", "name must not be empty"))?;
    let external_id = text(cols, rec, "external_id", 200)?;
    let mut identities = Vec::new();
    for kind in IdentityKind::ALL {
        for v in split_list(cols.get(rec, kind.as_str())) {
            let value = identity::normalize(kind, v, &ctx.phones).map_err(|why| {
                Problem::new(
                    kind.as_str(),
                    "invalid",
                    format!("{} {v:?} {why}", kind.as_str()),
                )
            })?;
            if !identities
                .iter()
                .any(|i: &Identity| i.kind == kind && i.value == value)
            {
                identities.push(Identity { kind, value });
            }
        }
    }
    if external_id.is_none() && identities.is_empty() {
        return Err(Problem::new(
            "external_id",
            "missing",
            "a row needs an external id, a phone, an email or a card number to be found again",
        ));
    }
    let title = match cols.get(rec, "title").to_lowercase().trim_end_matches('.') {
        "" => None,
        "mr" | "先生" => Some("mr".to_string()),
        "ms" | "mrs" | "miss" | "女士" | "小姐" => Some("ms".to_string()),
        other => {
            return Err(Problem::new(
                "title",
                "invalid",
                format!("title {other:?} must be mr or ms (先生 or 女士)"),
            ));
        }
    };
    let tags = match cols.get(rec, "tags") {
        "" => None,
        v => {
            let tags: Vec<String> = split_list(v).map(str::to_string).collect();
            if tags.len() > 50 || tags.iter().any(|t| t.chars().count() > 50) {
                return Err(Problem::new(
                    "tags",
                    "invalid",
                    "at most 50 tags of at most 50 characters",
                ));
            }
            Some(tags)
        }
    };
    Ok(CustomerRow {
        external_id,
        name,
        identities,
        language: text(cols, rec, "language", 20)?,
        title,
        notes: text(cols, rec, "notes", 5000)?,
        tags,
    })
}

/// `RMB`, `人民币`, `元`, `¥` are written for CNY.
fn currency(v: &str) -> Result<String, Problem> {
    let v = v.trim();
    let v = match v {
        "RMB" | "rmb" | "人民币" | "元" | "¥" | "￥" => "CNY",
        "美元" => "USD",
        "港币" | "港元" => "HKD",
        "欧元" => "EUR",
        v => v,
    };
    if v.is_empty() {
        return Err(Problem::new(
            "currency",
            "missing",
            "currency must not be empty",
        ));
    }
    crate::value::check_currency(v).map_err(|_| {
        Problem::new(
            "currency",
            "invalid",
            format!("currency {v:?} is not an ISO 4217 code such as CNY"),
        )
    })
}

/// RFC 3339, or a date and time without offset (`2026-03-01 10:00[:00]`, `2026/03/01`, a date
/// alone at midnight) in the center's time zone.
fn ordered_at(v: &str, zone: &jiff::tz::TimeZone) -> Result<i64, Problem> {
    let bad = || {
        Problem::new(
            "ordered_at",
            "invalid",
            format!("ordered_at {v:?} must be RFC 3339 or YYYY-MM-DD [HH:MM[:SS]]"),
        )
    };
    if v.is_empty() {
        return Err(Problem::new(
            "ordered_at",
            "missing",
            "ordered_at must not be empty",
        ));
    }
    if let Ok(t) = v.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    let civil = v.replace('/', "-");
    let dt = civil
        .parse::<jiff::civil::DateTime>()
        .or_else(|_| {
            civil
                .parse::<jiff::civil::Date>()
                .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        })
        .map_err(|_| bad())?;
    dt.to_zoned(zone.clone())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|_| bad())
}

/// Chinese order statuses as shops write them.
fn status(v: &str) -> Result<String, Problem> {
    let s = match v.trim() {
        "" => "paid",
        "已下单" | "待付款" => "placed",
        "已付款" | "已支付" | "待发货" => "paid",
        "已发货" => "shipped",
        "已完成" | "已收货" => "completed",
        "已取消" => "cancelled",
        "已退款" => "refunded",
        other => other,
    }
    .to_lowercase();
    if crate::value::ORDER_STATUSES.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(Problem::new(
            "status",
            "invalid",
            format!("status {v:?} must be placed, paid, shipped, completed, cancelled or refunded"),
        ))
    }
}

pub fn parse_order(
    cols: &Columns,
    rec: &csv::StringRecord,
    ctx: &Ctx,
) -> Result<OrderRow, Problem> {
    check_encoding(cols, rec)?;
    let external_id = text(cols, rec, "external_id", 200)?
        .ok_or_else(|| Problem::new("external_id", "missing", "external_id must not be empty"))?;
    let customer = if let Some(x) = text(cols, rec, "customer_external_id", 200)? {
        CustomerRef::External(x)
    } else if let Some(p) = text(cols, rec, "phone", 100)? {
        let value = ctx.phones.normalize(&p).ok_or_else(|| {
            Problem::new(
                "phone",
                "invalid",
                format!("phone {p:?} is not a phone number"),
            )
        })?;
        CustomerRef::Identity(Identity {
            kind: IdentityKind::Phone,
            value,
        })
    } else if let Some(e) = text(cols, rec, "email", 254)? {
        let value = identity::normalize(IdentityKind::Email, &e, &ctx.phones)
            .map_err(|why| Problem::new("email", "invalid", format!("email {e:?} {why}")))?;
        CustomerRef::Identity(Identity {
            kind: IdentityKind::Email,
            value,
        })
    } else {
        return Err(Problem::new(
            "customer_external_id",
            "missing",
            "an order needs its customer's external id, phone or email",
        ));
    };
    let at = ordered_at(cols.get(rec, "ordered_at"), &ctx.zone)?;
    let currency = currency(cols.get(rec, "currency"))?;
    let amount_text = cols.get(rec, "amount");
    let amount_text = amount_text.replace([',', '¥', '￥', '$'], "");
    if amount_text.trim().is_empty() {
        return Err(Problem::new(
            "amount",
            "missing",
            "amount must not be empty",
        ));
    }
    let amount_minor =
        crate::value::parse_amount(&amount_text, crate::value::minor_digits(&currency))
            .map_err(Problem::invalid)?;
    if amount_minor < 0 {
        return Err(Problem::new(
            "amount",
            "invalid",
            "amount must not be negative (a refund is status refunded)",
        ));
    }
    Ok(OrderRow {
        customer,
        order: crate::value::store::NewOrder {
            external_id,
            ordered_at: at,
            amount_minor,
            currency,
            product: text(cols, rec, "product", 500)?.unwrap_or_default(),
            category: text(cols, rec, "category", 200)?.unwrap_or_default(),
            channel: text(cols, rec, "channel", 100)?.unwrap_or_default(),
            status: status(cols.get(rec, "status"))?,
        },
    })
}

fn parse(kind: Kind, cols: &Columns, rec: &csv::StringRecord, ctx: &Ctx) -> Result<Item, Problem> {
    match kind {
        Kind::Customers => parse_customer(cols, rec, ctx).map(Item::Customer),
        Kind::Orders => parse_order(cols, rec, ctx).map(Item::Order),
    }
}

/// The ids seen so far in a file, by a 64-bit hash (bounded: 1M ids take ~20 MB), with the
/// line of their first row.
#[derive(Default)]
struct Seen(HashMap<u64, u64>);

impl Seen {
    /// Records `key` at `line`; the earlier line when the file already had it.
    fn first(&mut self, key: &str, line: u64) -> Option<u64> {
        let mut h = std::hash::DefaultHasher::new();
        key.hash(&mut h);
        match self.0.entry(h.finish()) {
            std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(line);
                None
            }
        }
    }
}

/// One row read: its line and what it is (or why it is refused).
pub struct Read {
    pub line: u64,
    /// The row's external id as written (also for a refused row).
    pub key: String,
    pub item: Result<Item, Problem>,
}

/// Checks a record and refuses an id already seen on an earlier row.
fn read_row(
    kind: Kind,
    cols: &Columns,
    rec: &csv::StringRecord,
    ctx: &Ctx,
    seen: &mut Seen,
) -> Read {
    let line = rec.position().map(|p| p.line()).unwrap_or(0);
    let mut item = parse(kind, cols, rec, ctx);
    if let Ok(it) = &item
        && let Some(key) = it.key()
        && let Some(first) = seen.first(key, line)
    {
        item = Err(Problem::new(
            "external_id",
            "duplicate",
            format!("external id {key:?} is also on line {first}"),
        ));
    }
    let key = cols.get(rec, "external_id").chars().take(200).collect();
    Read { line, key, item }
}

/// How a run goes: who holds the job, and (tests) where it stops as if the process died.
pub struct RunOptions {
    /// This process (`node:<id>` for a server, `cli:<pid>` for `hotline import`).
    pub owner: String,
    /// Stop after this many committed chunks, leaving the job running as a crash would.
    pub stop_after_chunks: Option<usize>,
}

/// Runs (or resumes) job `id` to the end: claims it, reads the file from the row after the last
/// committed chunk, writes a chunk per transaction, and after an orders import recomputes every
/// tier once. `progress` hears the job after every chunk. A job another live process holds is
/// a 409 `conflict`; a file that cannot be read or mapped fails the job (its `error`).
pub async fn run(
    db: &Db,
    ctx: &Ctx,
    id: i64,
    opts: &RunOptions,
    mut progress: impl FnMut(&store::Job),
) -> AppResult<store::Job> {
    let job = store::claim(db, id, &opts.owner, LEASE_MS).await?;
    if job.status == "done" || job.status == "failed" {
        return Ok(job);
    }
    match run_claimed(db, ctx, job, opts, &mut progress).await {
        Ok(job) => Ok(job),
        Err(e @ AppError::Validation { .. }) | Err(e @ AppError::BadRequest(_)) => {
            let message = match &e {
                AppError::Validation { message, .. } => message.clone(),
                other => other.to_string(),
            };
            store::fail(db, id, &opts.owner, &message).await?;
            Err(e)
        }
        Err(e) => {
            store::fail(db, id, &opts.owner, &e.to_string()).await?;
            Err(e)
        }
    }
}

fn unreadable(path: &Path, e: impl std::fmt::Display) -> AppError {
    AppError::BadRequest(format!("{} cannot be read: {e}", path.display()))
}

/// Opens a job's file as CSV records in its encoding; the encoding and the mapped header.
pub fn open(
    path: &Path,
    kind: Kind,
    encoding: &str,
    mapping: &[(String, String)],
) -> AppResult<(
    csv::Reader<decode::Decoded<std::fs::File>>,
    &'static encoding_rs::Encoding,
    Columns,
)> {
    let head = decode::head(path).map_err(|e| unreadable(path, e))?;
    let enc = decode::choose(encoding, &head).map_err(|m| AppError::validation("encoding", m))?;
    let file = std::fs::File::open(path).map_err(|e| unreadable(path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(decode::Decoded::new(file, enc));
    let mut header = csv::StringRecord::new();
    if !rdr
        .read_record(&mut header)
        .map_err(|e| unreadable(path, e))?
    {
        return Err(AppError::validation("file", "the file is empty"));
    }
    let cols = map_columns(kind, &header, mapping)?;
    Ok((rdr, enc, cols))
}

async fn run_claimed(
    db: &Db,
    ctx: &Ctx,
    mut job: store::Job,
    opts: &RunOptions,
    progress: &mut impl FnMut(&store::Job),
) -> AppResult<store::Job> {
    let path = std::path::PathBuf::from(store::path_of(db, job.id).await?);
    let (mut rdr, enc, cols) = open(&path, job.kind, &job.encoding, &job.mapping)?;
    job = store::started(db, job.id, &opts.owner, enc.name(), &cols.list).await?;
    let mut rec = csv::StringRecord::new();
    let mut seen = Seen::default();
    // Rows committed before a stop: read again only to know their ids.
    let mut skipped = 0;
    while skipped < job.rows_done
        && rdr
            .read_record(&mut rec)
            .map_err(|e| unreadable(&path, e))?
    {
        skipped += 1;
        let _ = read_row(job.kind, &cols, &rec, ctx, &mut seen);
    }
    let mut chunks = 0;
    loop {
        let mut batch = Vec::with_capacity(CHUNK);
        while batch.len() < CHUNK
            && rdr
                .read_record(&mut rec)
                .map_err(|e| unreadable(&path, e))?
        {
            batch.push(read_row(job.kind, &cols, &rec, ctx, &mut seen));
        }
        let Some(last) = batch.last() else { break };
        let done = store::Done {
            rows: batch.len() as i64,
            last_line: last.line as i64,
            bytes: rdr.get_ref().bytes_read as i64,
        };
        job = store::apply_chunk(db, &job, &opts.owner, batch, done).await?;
        // So that SQLite's WAL starts over at the next chunk instead of growing with the file.
        db.checkpoint().await?;
        progress(&job);
        chunks += 1;
        if opts.stop_after_chunks == Some(chunks) {
            return Ok(job);
        }
    }
    if job.kind == Kind::Orders && !job.dry_run && job.created + job.updated > 0 {
        crate::value::recompute(db, ctx.clock.now_ms(), ctx.shares).await?;
    }
    let job = store::finish(db, job.id, &opts.owner).await?;
    progress(&job);
    Ok(job)
}

/// Who runs a console job on this node: its upload (`routes`), or this node's resumer. Two
/// names, so that neither takes over a live claim of the other: a claim of the same owner is
/// renewed, which let the resumer run a just-uploaded job a second time beside its upload (a
/// dry run then counted every row twice).
pub fn upload_owner(node_id: &str) -> String {
    format!("node:{node_id}")
}

pub fn resumer_owner(node_id: &str) -> String {
    format!("node:{node_id}:resumer")
}

/// Runs every console job left unfinished whose claim has lapsed (a node that stopped) and
/// whose file is on this node; at start, then every `LEASE_MS`.
pub async fn resume_unfinished(db: Db, ctx: Ctx, node_id: std::sync::Arc<str>) {
    let owner = resumer_owner(&node_id);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(LEASE_MS as u64));
    loop {
        tick.tick().await;
        let ids = match store::claimable(&db).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "imports: looking for unfinished jobs failed");
                continue;
            }
        };
        for (id, path) in ids {
            if !Path::new(&path).exists() {
                continue;
            }
            let opts = RunOptions {
                owner: owner.clone(),
                stop_after_chunks: None,
            };
            match run(&db, &ctx, id, &opts, |_| {}).await {
                Ok(job) => tracing::info!(id, status = %job.status, "imports: job resumed"),
                Err(AppError::Conflict(_)) => {}
                Err(e) => tracing::warn!(id, error = %e, "imports: resumed job failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx {
            phones: PhoneNormalizer::new("CN").unwrap(),
            zone: jiff::tz::TimeZone::get("Asia/Shanghai").unwrap(),
            shares: Shares {
                key: 80,
                vip: 20,
                months: 12,
            },
            clock: Clock::default(),
        }
    }

    fn rec(cells: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(cells.to_vec())
    }

    #[test]
    fn maps_chinese_and_english_headers_and_explicit_columns() {
        let h = rec(&["\u{feff}姓名", "手机号码", "E-mail", "外部编号", "whatever"]);
        let c = map_columns(Kind::Customers, &h, &[]).unwrap();
        let fields: Vec<Option<&str>> = c.list.iter().map(|c| c.field.as_deref()).collect();
        assert_eq!(
            fields,
            [
                Some("name"),
                Some("phone"),
                Some("email"),
                Some("external_id"),
                None
            ]
        );
        assert_eq!(c.list[0].column, "姓名");
        let c = map_columns(
            Kind::Customers,
            &h,
            &[
                ("whatever".into(), "notes".into()),
                ("E-mail".into(), String::new()),
            ],
        )
        .unwrap();
        assert!(c.has("notes") && !c.has("email"));
        assert!(map_columns(Kind::Customers, &h, &[("x".into(), "nope".into())]).is_err());
        assert!(map_columns(Kind::Customers, &rec(&["phone"]), &[]).is_err());
        assert!(map_columns(Kind::Customers, &rec(&["name", "姓名"]), &[]).is_err());
        assert!(
            map_columns(
                Kind::Orders,
                &rec(&["订单号", "下单时间", "金额", "币种"]),
                &[]
            )
            .is_err()
        );
        assert!(
            map_columns(
                Kind::Orders,
                &rec(&["订单号", "下单时间", "金额", "币种", "手机"]),
                &[]
            )
            .is_ok()
        );
    }

    #[test]
    fn checks_customer_rows() {
        let h = rec(&["name", "phone", "email", "external_id", "title", "tags"]);
        let c = map_columns(Kind::Customers, &h, &[]).unwrap();
        let ok = parse_customer(
            &c,
            &rec(&[
                "王小明",
                "138 0013 8000; +86 139-0013-9000",
                "A@B.cn",
                "C1",
                "先生",
                "a, b",
            ]),
            &ctx(),
        )
        .unwrap();
        assert_eq!(ok.identities.len(), 3);
        assert_eq!(ok.identities[0].value, "+8613800138000");
        assert_eq!(ok.title.as_deref(), Some("mr"));
        assert_eq!(ok.tags, Some(vec!["a".to_string(), "b".to_string()]));
        let bad = parse_customer(&c, &rec(&["X", "12", "", "C2", "", ""]), &ctx()).unwrap_err();
        assert_eq!((bad.field.as_str(), bad.code), ("phone", "invalid"));
        let bad = parse_customer(&c, &rec(&["X", "", "", "", "", ""]), &ctx()).unwrap_err();
        assert_eq!(bad.code, "missing");
        let bad =
            parse_customer(&c, &rec(&["X\u{FFFD}", "", "", "C3", "", ""]), &ctx()).unwrap_err();
        assert_eq!((bad.field.as_str(), bad.code), ("name", "encoding"));
    }

    #[test]
    fn checks_order_rows() {
        let h = rec(&["订单号", "客户编号", "下单时间", "金额", "币种", "状态"]);
        let c = map_columns(Kind::Orders, &h, &[]).unwrap();
        let o = parse_order(
            &c,
            &rec(&[
                "SO1",
                "C1",
                "2026-03-01 10:00",
                "1,299.90",
                "人民币",
                "已退款",
            ]),
            &ctx(),
        )
        .unwrap();
        assert_eq!(o.order.amount_minor, 129_990);
        assert_eq!(o.order.currency, "CNY");
        assert_eq!(o.order.status, "refunded");
        assert_eq!(o.order.ordered_at, 1_772_330_400_000);
        let r = |cells: &[&str]| parse_order(&c, &rec(cells), &ctx()).unwrap_err();
        assert_eq!(
            r(&["SO1", "C1", "2026-03-01", "1", "DOLLARS", ""]).field,
            "currency"
        );
        assert_eq!(
            r(&["SO1", "C1", "2026-03-01", "1.234", "CNY", ""]).field,
            "amount"
        );
        assert_eq!(
            r(&["SO1", "C1", "yesterday", "1", "CNY", ""]).field,
            "ordered_at"
        );
        assert_eq!(
            r(&["SO1", "C1", "2026-03-01", "1", "CNY", "lost"]).field,
            "status"
        );
        assert_eq!(
            r(&["SO1", "", "2026-03-01", "1", "CNY", ""]).code,
            "missing"
        );
    }
}
