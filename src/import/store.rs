//! Imports' SQL: jobs (claimed by one process at a time), a chunk of rows written with the
//! job's progress in one transaction, and the report of refused (and, in a dry run, would-be)
//! rows.

use super::{Column, CustomerRef, CustomerRow, Item, Kind, OrderRow, Problem, Read};
use crate::customers::Identity;
use crate::customers::identity::name_key;
use crate::db::{Db, Exec, FromRow, ReadRow, Tx, from_json_list, now_ms, to_json_list};
use crate::error::{AppError, AppResult};
use serde::Serialize;

/// An import job as the API shows it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Job {
    pub id: i64,
    pub kind: Kind,
    /// `console` (uploaded) or `cli` (`hotline import`).
    pub source: String,
    pub file_name: String,
    pub file_size: i64,
    /// As asked: `auto`, `utf-8`, `gb18030`, …
    pub encoding: String,
    /// The encoding the file is read in (once started).
    pub detected_encoding: String,
    /// Explicit `[column, field]` mappings.
    pub mapping: Vec<(String, String)>,
    pub dry_run: bool,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// The file's columns and the field each feeds (once started).
    pub columns: Vec<Column>,
    /// The line of the last row committed.
    pub lines_done: i64,
    pub rows_done: i64,
    pub bytes_done: i64,
    /// Share of the file read, 0 to 1.
    pub progress: f64,
    /// Rows that created (in a dry run: would create) a customer or order.
    pub created: i64,
    pub updated: i64,
    /// Rows equal to what is stored.
    pub unchanged: i64,
    pub refused: i64,
    /// Why the job failed.
    pub error: String,
    pub by_user_id: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
}

const JOB_COLUMNS: &str = "id, kind, source, file_name, file_size, encoding, detected_encoding, \
     mapping, dry_run, status, columns, lines_done, rows_done, bytes_done, created, updated, \
     unchanged, refused, error, by_user_id, created_at, started_at, finished_at, updated_at";

impl FromRow for Job {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        let file_size: i64 = r.try_get("file_size")?;
        let bytes_done: i64 = r.try_get("bytes_done")?;
        let status: String = r.try_get("status")?;
        Ok(Job {
            id: r.try_get("id")?,
            kind: Kind::parse(&r.try_get::<String>("kind")?).unwrap_or(Kind::Customers),
            source: r.try_get("source")?,
            file_name: r.try_get("file_name")?,
            file_size,
            encoding: r.try_get("encoding")?,
            detected_encoding: r.try_get("detected_encoding")?,
            mapping: serde_json::from_str(&r.try_get::<String>("mapping")?).unwrap_or_default(),
            dry_run: r.try_get::<i64>("dry_run")? != 0,
            columns: serde_json::from_str(&r.try_get::<String>("columns")?).unwrap_or_default(),
            lines_done: r.try_get("lines_done")?,
            rows_done: r.try_get("rows_done")?,
            bytes_done,
            progress: if status == "done" {
                1.0
            } else if file_size > 0 {
                (bytes_done as f64 / file_size as f64).min(1.0)
            } else {
                0.0
            },
            status,
            created: r.try_get("created")?,
            updated: r.try_get("updated")?,
            unchanged: r.try_get("unchanged")?,
            refused: r.try_get("refused")?,
            error: r.try_get("error")?,
            by_user_id: r.try_get("by_user_id")?,
            created_at: r.try_get("created_at")?,
            started_at: r.try_get("started_at")?,
            finished_at: r.try_get("finished_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

pub struct NewJob<'a> {
    pub kind: Kind,
    pub source: &'a str,
    pub file_name: &'a str,
    pub path: &'a str,
    pub file_size: i64,
    pub encoding: &'a str,
    pub mapping: &'a [(String, String)],
    pub dry_run: bool,
    pub by: Option<i64>,
}

pub async fn create(db: &Db, j: &NewJob<'_>) -> AppResult<Job> {
    let mut tx = db.begin().await?;
    let now = now_ms();
    let job: Option<Job> = tx
        .row(
            &format!(
                "INSERT INTO import_jobs (kind, source, file_name, path, file_size, encoding, \
                 mapping, dry_run, by_user_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING {JOB_COLUMNS}"
            ),
            vec![
                j.kind.as_str().into(),
                j.source.into(),
                j.file_name.into(),
                j.path.into(),
                j.file_size.into(),
                j.encoding.into(),
                serde_json::to_string(j.mapping)
                    .map_err(AppError::internal)?
                    .into(),
                j.dry_run.into(),
                j.by.into(),
                now.into(),
            ],
        )
        .await?;
    tx.commit().await?;
    job.ok_or(AppError::NotFound("import"))
}

pub async fn find(db: &Db, id: i64) -> AppResult<Job> {
    db.fetch_all(
        &format!("SELECT {JOB_COLUMNS} FROM import_jobs WHERE id = $1"),
        vec![id.into()],
    )
    .await?
    .pop()
    .ok_or(AppError::NotFound("import"))
}

/// The newest jobs first.
pub async fn list(db: &Db, limit: i64) -> AppResult<Vec<Job>> {
    db.fetch_all(
        &format!("SELECT {JOB_COLUMNS} FROM import_jobs ORDER BY id DESC LIMIT $1"),
        vec![limit.into()],
    )
    .await
}

struct PathRow(String);

impl FromRow for PathRow {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(PathRow(r.try_get("path")?))
    }
}

/// Where a job's file is.
pub async fn path_of(db: &Db, id: i64) -> AppResult<String> {
    db.fetch_all::<PathRow>(
        "SELECT path FROM import_jobs WHERE id = $1",
        vec![id.into()],
    )
    .await?
    .pop()
    .map(|p| p.0)
    .ok_or(AppError::NotFound("import"))
}

/// An unfinished `hotline import` of the same file (kind, path, size, dry run): resumed.
pub async fn unfinished_cli(
    db: &Db,
    kind: Kind,
    path: &str,
    size: i64,
    dry_run: bool,
) -> AppResult<Option<Job>> {
    Ok(db
        .fetch_all(
            &format!(
                "SELECT {JOB_COLUMNS} FROM import_jobs WHERE source = 'cli' AND kind = $1 \
                 AND path = $2 AND file_size = $3 AND dry_run = $4 \
                 AND status IN ('queued', 'running') ORDER BY id DESC LIMIT 1"
            ),
            vec![
                kind.as_str().into(),
                path.into(),
                size.into(),
                dry_run.into(),
            ],
        )
        .await?
        .pop())
}

struct Claimable(i64, String);

impl FromRow for Claimable {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Claimable(r.try_get("id")?, r.try_get("path")?))
    }
}

/// Console jobs not finished and held by nobody (queued, or their holder stopped).
pub async fn claimable(db: &Db) -> AppResult<Vec<(i64, String)>> {
    let rows: Vec<Claimable> = db
        .fetch_all(
            "SELECT id, path FROM import_jobs WHERE source = 'console' \
             AND status IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < $1) \
             ORDER BY id LIMIT 20",
            vec![now_ms().into()],
        )
        .await?;
    Ok(rows.into_iter().map(|c| (c.0, c.1)).collect())
}

/// Takes job `id` for `owner` for `lease_ms`: unless another process holds a live claim
/// (409 `conflict`). A finished job is returned as it is.
pub async fn claim(db: &Db, id: i64, owner: &str, lease_ms: i64) -> AppResult<Job> {
    let job = find(db, id).await?;
    if job.status == "done" || job.status == "failed" {
        return Ok(job);
    }
    let now = now_ms();
    let mut tx = db.begin().await?;
    let job: Option<Job> = tx
        .row(
            &format!(
                "UPDATE import_jobs SET lease_owner = $1, lease_until = $2, status = 'running', \
                 updated_at = $3 WHERE id = $4 AND status IN ('queued', 'running') \
                 AND (lease_until IS NULL OR lease_until < $3 OR lease_owner = $1) \
                 RETURNING {JOB_COLUMNS}"
            ),
            vec![owner.into(), (now + lease_ms).into(), now.into(), id.into()],
        )
        .await?;
    tx.commit().await?;
    job.ok_or_else(|| AppError::Conflict("the import is running in another process".into()))
}

/// Notes the encoding read and the columns mapped (and when the job first started).
pub async fn started(
    db: &Db,
    id: i64,
    owner: &str,
    encoding: &str,
    columns: &[Column],
) -> AppResult<Job> {
    let mut tx = db.begin().await?;
    let now = now_ms();
    let job: Option<Job> = tx
        .row(
            &format!(
                "UPDATE import_jobs SET detected_encoding = $1, columns = $2, \
                 started_at = COALESCE(started_at, $3), updated_at = $3 \
                 WHERE id = $4 AND lease_owner = $5 RETURNING {JOB_COLUMNS}"
            ),
            vec![
                encoding.into(),
                serde_json::to_string(columns)
                    .map_err(AppError::internal)?
                    .into(),
                now.into(),
                id.into(),
                owner.into(),
            ],
        )
        .await?;
    tx.commit().await?;
    job.ok_or_else(lost)
}

fn lost() -> AppError {
    AppError::Conflict("the import was taken over by another process".into())
}

pub async fn finish(db: &Db, id: i64, owner: &str) -> AppResult<Job> {
    let mut tx = db.begin().await?;
    let now = now_ms();
    let job: Option<Job> = tx
        .row(
            &format!(
                "UPDATE import_jobs SET status = 'done', finished_at = $1, updated_at = $1, \
                 bytes_done = file_size, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $2 AND lease_owner = $3 RETURNING {JOB_COLUMNS}"
            ),
            vec![now.into(), id.into(), owner.into()],
        )
        .await?;
    tx.commit().await?;
    job.ok_or_else(lost)
}

pub async fn fail(db: &Db, id: i64, owner: &str, error: &str) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE import_jobs SET status = 'failed', error = $1, finished_at = $2, updated_at = $2, \
         lease_owner = NULL, lease_until = NULL WHERE id = $3 AND lease_owner = $4",
    )
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(owner)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// What an import did with a row.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RowReport {
    /// The file's line of the row (the header is line 1).
    pub line: i64,
    /// `created`, `updated`, `unchanged` or `refused` (in a dry run: would be).
    pub outcome: String,
    /// The row's external id (else its first identity), when it has one.
    pub key: String,
    /// The field refused.
    pub field: String,
    /// `encoding`, `missing`, `invalid`, `duplicate`, `identity_taken`, `unknown_customer`,
    /// `conflict`.
    pub code: String,
    pub message: String,
}

impl FromRow for RowReport {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(RowReport {
            line: r.try_get("line")?,
            outcome: r.try_get("outcome")?,
            key: r.try_get("row_key")?,
            field: r.try_get("field")?,
            code: r.try_get("code")?,
            message: r.try_get("message")?,
        })
    }
}

/// A job's reported rows in line order (`outcome` only those; after line `after`).
pub async fn rows(
    db: &Db,
    id: i64,
    outcome: Option<&str>,
    after: i64,
    limit: i64,
) -> AppResult<Vec<RowReport>> {
    let filter = if outcome.is_some() {
        " AND outcome = $4"
    } else {
        ""
    };
    let mut params = vec![id.into(), after.into(), limit.into()];
    if let Some(o) = outcome {
        params.push(o.into());
    }
    db.fetch_all(
        &format!(
            "SELECT line, outcome, row_key, field, code, message FROM import_rows \
             WHERE job_id = $1 AND line > $2{filter} ORDER BY line LIMIT $3"
        ),
        params,
    )
    .await
}

/// The progress of one chunk.
pub struct Done {
    pub rows: i64,
    pub last_line: i64,
    pub bytes: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// Writes one chunk (in a dry run only decides it) and the job's progress in one transaction,
/// if `owner` still holds the job.
pub async fn apply_chunk(
    db: &Db,
    job: &Job,
    owner: &str,
    batch: Vec<Read>,
    done: Done,
) -> AppResult<Job> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let held = tx
        .run(
            "UPDATE import_jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 \
             AND status = 'running'",
            vec![(now + super::LEASE_MS).into(), job.id.into(), owner.into()],
        )
        .await?;
    if held == 0 {
        return Err(lost());
    }
    let (mut created, mut updated, mut unchanged, mut refused) = (0i64, 0i64, 0i64, 0i64);
    let mut recorded = job.created + job.updated + job.unchanged;
    for read in batch {
        let key = read.key;
        let decided = match read.item {
            Err(p) => Err(p),
            Ok(Item::Customer(c)) => customer(&mut tx, &c, job.dry_run).await?,
            Ok(Item::Order(o)) => order(&mut tx, &o, job.dry_run, now).await?,
        };
        let line = read.line as i64;
        match decided {
            Err(p) => {
                refused += 1;
                record(&mut tx, job.id, line, "refused", &key, &p).await?;
            }
            Ok(outcome) => {
                match outcome {
                    Outcome::Created => created += 1,
                    Outcome::Updated => updated += 1,
                    Outcome::Unchanged => unchanged += 1,
                }
                if job.dry_run && recorded < super::DRY_RUN_ROWS {
                    recorded += 1;
                    let none = Problem::new("", "", "");
                    record(&mut tx, job.id, line, outcome.as_str(), &key, &none).await?;
                }
            }
        }
    }
    let job: Option<Job> = tx
        .row(
            &format!(
                "UPDATE import_jobs SET rows_done = rows_done + $1, lines_done = $2, \
                 bytes_done = $3, created = created + $4, updated = updated + $5, \
                 unchanged = unchanged + $6, refused = refused + $7, updated_at = $8 \
                 WHERE id = $9 RETURNING {JOB_COLUMNS}"
            ),
            vec![
                done.rows.into(),
                done.last_line.into(),
                done.bytes.into(),
                created.into(),
                updated.into(),
                unchanged.into(),
                refused.into(),
                now.into(),
                job.id.into(),
            ],
        )
        .await?;
    tx.commit().await?;
    job.ok_or(AppError::NotFound("import"))
}

async fn record(
    tx: &mut Tx<'_>,
    job: i64,
    line: i64,
    outcome: &str,
    key: &str,
    p: &Problem,
) -> AppResult<()> {
    tx.run(
        "INSERT INTO import_rows (job_id, line, outcome, row_key, field, code, message) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            job.into(),
            line.into(),
            outcome.into(),
            key.into(),
            p.field.as_str().into(),
            p.code.into(),
            p.message.as_str().into(),
        ],
    )
    .await?;
    Ok(())
}

/// A stored customer as an import compares it.
struct Existing {
    id: i64,
    external_id: Option<String>,
    display_name: String,
    language: Option<String>,
    title: Option<String>,
    notes: String,
    tags: Vec<String>,
}

impl FromRow for Existing {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Existing {
            id: r.try_get("id")?,
            external_id: r.try_get("external_id")?,
            display_name: r.try_get("display_name")?,
            language: r.try_get("language")?,
            title: r.try_get("title")?,
            notes: r.try_get("notes")?,
            tags: from_json_list(&r.try_get::<String>("tags")?),
        })
    }
}

const EXISTING: &str =
    "SELECT id, external_id, display_name, language, title, notes, tags FROM customers";

/// Decides (and unless `dry_run` writes) a customer row: found by its external id, else by one
/// of its identities; an identity of another customer refuses the row.
async fn customer(
    tx: &mut Tx<'_>,
    c: &CustomerRow,
    dry_run: bool,
) -> AppResult<Result<Outcome, Problem>> {
    let mut found: Option<Existing> = match &c.external_id {
        Some(x) => {
            tx.row(
                &format!("{EXISTING} WHERE external_id = $1"),
                vec![x.as_str().into()],
            )
            .await?
        }
        None => None,
    };
    let mut fresh: Vec<&Identity> = Vec::new();
    for ident in &c.identities {
        let Some(owner) = crate::customers::store::find_by_identity(tx, ident).await? else {
            fresh.push(ident);
            continue;
        };
        match &found {
            Some(e) if e.id == owner => {}
            Some(_) => return Ok(Err(taken(ident, owner))),
            None => {
                let e: Option<Existing> = tx
                    .row(&format!("{EXISTING} WHERE id = $1"), vec![owner.into()])
                    .await?;
                match e {
                    // A customer of another external id (from this system or another).
                    Some(e) if e.external_id.is_some() && c.external_id.is_some() => {
                        return Ok(Err(taken(ident, owner)));
                    }
                    e => found = e,
                }
            }
        }
    }
    let now = now_ms();
    let Some(e) = found else {
        if !dry_run {
            let id: Option<i64> = tx
                .row(
                    "INSERT INTO customers (display_name, name_key, language, title, notes, \
                     tags, external_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
                    vec![
                        c.name.as_str().into(),
                        name_key(&c.name).into(),
                        (&c.language).into(),
                        (&c.title).into(),
                        c.notes.clone().unwrap_or_default().into(),
                        to_json_list(c.tags.as_deref().unwrap_or_default()).into(),
                        (&c.external_id).into(),
                        now.into(),
                    ],
                )
                .await?;
            let id = id.ok_or(AppError::NotFound("customer"))?;
            for ident in fresh {
                crate::customers::store::insert_identity(tx, id, ident).await?;
            }
        }
        return Ok(Ok(Outcome::Created));
    };
    let external_id = c.external_id.clone().or(e.external_id.clone());
    let language = c.language.clone().or(e.language.clone());
    let title = c.title.clone().or(e.title.clone());
    let notes = c.notes.clone().unwrap_or(e.notes.clone());
    let tags = c.tags.clone().unwrap_or(e.tags.clone());
    let same = external_id == e.external_id
        && c.name == e.display_name
        && language == e.language
        && title == e.title
        && notes == e.notes
        && tags == e.tags;
    if same && fresh.is_empty() {
        return Ok(Ok(Outcome::Unchanged));
    }
    if !dry_run {
        if !same {
            tx.run(
                "UPDATE customers SET external_id = $1, display_name = $2, name_key = $3, \
                 language = $4, title = $5, notes = $6, tags = $7, updated_at = $8, \
                 version = version + 1 WHERE id = $9",
                vec![
                    external_id.into(),
                    c.name.as_str().into(),
                    name_key(&c.name).into(),
                    language.into(),
                    title.into(),
                    notes.into(),
                    to_json_list(&tags).into(),
                    now.into(),
                    e.id.into(),
                ],
            )
            .await?;
        }
        for ident in fresh {
            crate::customers::store::insert_identity(tx, e.id, ident).await?;
        }
    }
    Ok(Ok(Outcome::Updated))
}

fn taken(ident: &Identity, owner: i64) -> Problem {
    Problem::new(
        ident.kind.as_str(),
        "identity_taken",
        format!(
            "{} {} belongs to another customer (#{owner})",
            ident.kind.as_str(),
            ident.value
        ),
    )
}

struct StoredOrder {
    customer_id: i64,
    ordered_at: i64,
    amount_minor: i64,
    currency: String,
    product: String,
    category: String,
    channel: String,
    status: String,
}

impl FromRow for StoredOrder {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(StoredOrder {
            customer_id: r.try_get("customer_id")?,
            ordered_at: r.try_get("ordered_at")?,
            amount_minor: r.try_get("amount_minor")?,
            currency: r.try_get("currency")?,
            product: r.try_get("product")?,
            category: r.try_get("category")?,
            channel: r.try_get("channel")?,
            status: r.try_get("status")?,
        })
    }
}

/// Decides (and unless `dry_run` writes) an order row, as `POST /api/customers/{id}/orders`
/// does: idempotent on the external id; another customer's order id is refused.
async fn order(
    tx: &mut Tx<'_>,
    o: &OrderRow,
    dry_run: bool,
    now: i64,
) -> AppResult<Result<Outcome, Problem>> {
    let customer: Option<i64> = match &o.customer {
        CustomerRef::External(x) => {
            tx.row(
                "SELECT id FROM customers WHERE external_id = $1",
                vec![x.as_str().into()],
            )
            .await?
        }
        CustomerRef::Identity(i) => crate::customers::store::find_by_identity(tx, i).await?,
    };
    let Some(customer) = customer else {
        let (field, value) = match &o.customer {
            CustomerRef::External(x) => ("customer_external_id", x.as_str()),
            CustomerRef::Identity(i) => (i.kind.as_str(), i.value.as_str()),
        };
        return Ok(Err(Problem::new(
            field,
            "unknown_customer",
            format!("no customer has {field} {value}"),
        )));
    };
    let n = &o.order;
    let stored: Option<StoredOrder> = tx
        .row(
            "SELECT customer_id, ordered_at, amount_minor, currency, product, category, channel, \
             status FROM orders WHERE external_id = $1",
            vec![n.external_id.as_str().into()],
        )
        .await?;
    let params = || -> Vec<crate::db::Param> {
        vec![
            customer.into(),
            n.external_id.as_str().into(),
            n.ordered_at.into(),
            n.amount_minor.into(),
            n.currency.as_str().into(),
            n.product.as_str().into(),
            n.category.as_str().into(),
            n.channel.as_str().into(),
            n.status.as_str().into(),
            now.into(),
        ]
    };
    match stored {
        None => {
            if !dry_run {
                tx.run(
                    "INSERT INTO orders (customer_id, external_id, ordered_at, amount_minor, \
                     currency, product, category, channel, status, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                    params(),
                )
                .await?;
            }
            Ok(Ok(Outcome::Created))
        }
        Some(s) if s.customer_id != customer => Ok(Err(Problem::new(
            "external_id",
            "conflict",
            format!(
                "order {} belongs to another customer (#{})",
                n.external_id, s.customer_id
            ),
        ))),
        Some(s)
            if s.ordered_at == n.ordered_at
                && s.amount_minor == n.amount_minor
                && s.currency == n.currency
                && s.product == n.product
                && s.category == n.category
                && s.channel == n.channel
                && s.status == n.status =>
        {
            Ok(Ok(Outcome::Unchanged))
        }
        Some(_) => {
            if !dry_run {
                tx.run(
                    "UPDATE orders SET ordered_at = $3, amount_minor = $4, currency = $5, \
                     product = $6, category = $7, channel = $8, status = $9, updated_at = $10 \
                     WHERE external_id = $2 AND customer_id = $1",
                    params(),
                )
                .await?;
            }
            Ok(Ok(Outcome::Updated))
        }
    }
}
