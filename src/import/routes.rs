//! HTTP for imports (admins): upload a file to start a job, follow its progress, read the rows
//! it refused (or in a dry run would create or update).

use super::store::{self, Job, RowReport};
use super::{Ctx, Kind, RunOptions};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::http::extract::{AuthUser, Path, Query};
use crate::http::{Access, Routes};
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

pub fn routes(r: Routes) -> Routes {
    r.add(
        "POST",
        "/api/imports",
        "imports",
        Access::Admin,
        "Import customers or orders from the CSV file sent as the body (UTF-8 or GB18030 or \
         another encoding, guessed unless `encoding` names it; at most 32 MiB, larger files \
         through `hotline import`): the header is checked at once (400 `validation_failed` when \
         a needed column is missing), then the job runs in the background (202); `dry_run` \
         only reports what would be created, updated or refused; `map` is `column=field` pairs \
         separated by `;`",
        axum::routing::post(upload),
    )
    .query::<UploadQuery>()
    .body_raw("text/csv")
    .returns::<Job>(202)
    .add(
        "GET",
        "/api/imports",
        "imports",
        Access::Admin,
        "The latest imports, newest first",
        get(list),
    )
    .returns::<JobList>(200)
    .add(
        "GET",
        "/api/imports/{id}",
        "imports",
        Access::Admin,
        "An import's progress and counts (created, updated, unchanged, refused)",
        get(one),
    )
    .returns::<Job>(200)
    .add(
        "GET",
        "/api/imports/{id}/rows",
        "imports",
        Access::Admin,
        "An import's reported rows by line: every refused row with its field and reason; in a \
         dry run also what would be created or updated (the first 10,000). `outcome` filters, \
         `after` (a line) and `limit` (≤ 1000, default 200) page",
        get(rows),
    )
    .query::<RowsQuery>()
    .returns::<RowList>(200)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct UploadQuery {
    /// `customers` or `orders`.
    kind: String,
    #[serde(default)]
    dry_run: bool,
    /// `auto` (default), `utf-8`, `gb18030`, or another WHATWG encoding label.
    encoding: Option<String>,
    /// `column=field` pairs separated by `;` (`column=` ignores a column).
    map: Option<String>,
    /// The file's name, shown in the list.
    file_name: Option<String>,
}

/// The context background jobs take: the database and what rows are checked with, not the
/// whole state.
pub fn ctx(state: &AppState) -> Ctx {
    Ctx {
        phones: state.phones.clone(),
        zone: state.time_zone.clone(),
        shares: crate::value::Shares::of(&state.config),
        clock: state.clock.clone(),
    }
}

async fn upload(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Query(q): Query<UploadQuery>,
    body: Body,
) -> AppResult<(StatusCode, axum::Json<Job>)> {
    let kind = Kind::parse(q.kind.trim())
        .ok_or_else(|| AppError::validation("kind", "kind must be customers or orders"))?;
    let mapping = super::parse_mapping(q.map.as_deref().unwrap_or("").split(';'))?;
    let encoding = q.encoding.as_deref().unwrap_or("auto").trim().to_string();
    let file_name = q
        .file_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("upload.csv");
    let file_name = crate::error::optional_text("file_name", file_name, 200)?;
    let dir = state.config.data_dir.join("imports");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(AppError::internal)?;
    let path = dir.join(format!(
        "{}-{:016x}.csv",
        crate::db::now_ms(),
        rand::random::<u64>()
    ));
    let size = match save(body, &path).await {
        Ok(size) => size,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
    };
    // The header is checked now: a file without the needed columns is refused at once.
    let checked = {
        let path = path.clone();
        let (encoding, mapping) = (encoding.clone(), mapping.clone());
        tokio::task::spawn_blocking(move || {
            super::open(&path, kind, &encoding, &mapping).map(|_| ())
        })
        .await
        .map_err(AppError::internal)?
    };
    if let Err(e) = checked {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(match e {
            AppError::BadRequest(m) => AppError::validation("file", m),
            e => e,
        });
    }
    let job = store::create(
        &state.db,
        &store::NewJob {
            kind,
            source: "console",
            file_name: &file_name,
            path: &path.to_string_lossy(),
            file_size: size,
            encoding: &encoding,
            mapping: &mapping,
            dry_run: q.dry_run,
            by: Some(user.id),
        },
    )
    .await?;
    crate::auth::store::insert_audit(
        &state.db.pool,
        Some(user.id),
        "import.create",
        &format!("import:{}", job.id),
        serde_json::json!({"kind": kind.as_str(), "file_name": file_name, "bytes": size,
                           "dry_run": q.dry_run}),
    )
    .await?;
    let (db, ctx, id) = (state.db.clone(), ctx(&state), job.id);
    let opts = RunOptions {
        owner: super::upload_owner(&state.node_id),
        stop_after_chunks: None,
    };
    tokio::spawn(async move {
        match super::run(&db, &ctx, id, &opts, |_| {}).await {
            Ok(job) => {
                tracing::info!(id, status = %job.status, refused = job.refused, "import finished")
            }
            // This node's resumer took it first (it runs it to the end).
            Err(AppError::Conflict(_)) => {}
            Err(e) => tracing::warn!(id, error = %e, "import failed"),
        }
    });
    Ok((StatusCode::ACCEPTED, axum::Json(job)))
}

/// Streams the body into `path`; its size.
async fn save(body: Body, path: &std::path::Path) -> AppResult<i64> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(AppError::internal)?;
    let mut stream = body.into_data_stream();
    let mut size = 0i64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest(format!("upload broken off: {e}")))?;
        size += chunk.len() as i64;
        file.write_all(&chunk).await.map_err(AppError::internal)?;
    }
    file.sync_all().await.map_err(AppError::internal)?;
    if size == 0 {
        return Err(AppError::validation("file", "the file is empty"));
    }
    Ok(size)
}

#[derive(Serialize, schemars::JsonSchema)]
struct JobList {
    items: Vec<Job>,
}

async fn list(State(state): State<AppState>) -> AppResult<axum::Json<JobList>> {
    Ok(axum::Json(JobList {
        items: store::list(&state.db, 50).await?,
    }))
}

async fn one(State(state): State<AppState>, Path(id): Path<i64>) -> AppResult<axum::Json<Job>> {
    Ok(axum::Json(store::find(&state.db, id).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct RowsQuery {
    /// `created`, `updated`, `unchanged` or `refused`.
    outcome: Option<String>,
    /// Rows after this line.
    after: Option<i64>,
    limit: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct RowList {
    items: Vec<RowReport>,
}

async fn rows(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<RowsQuery>,
) -> AppResult<axum::Json<RowList>> {
    store::find(&state.db, id).await?;
    let outcome = q
        .outcome
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty());
    if let Some(o) = outcome
        && !["created", "updated", "unchanged", "refused"].contains(&o)
    {
        return Err(AppError::validation(
            "outcome",
            "outcome must be created, updated, unchanged or refused",
        ));
    }
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    Ok(axum::Json(RowList {
        items: store::rows(&state.db, id, outcome, q.after.unwrap_or(0), limit).await?,
    }))
}
