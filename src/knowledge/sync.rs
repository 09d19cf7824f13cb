//! Keeping the index in step with the articles table: open (or rebuild) at start, import the
//! folder, refresh after `kb.changed` from another node. The table is the truth; the index follows.

use super::{Kb, import, store};
use crate::db::Db;
use std::path::Path;
use std::sync::Arc;

/// Opens the index in `index_dir`, imports `kb_dir` when it exists (keeping console edits),
/// and fills the index from the database when it was missing or of an older schema.
pub async fn open(db: &Db, index_dir: &Path, kb_dir: Option<&Path>) -> anyhow::Result<Arc<Kb>> {
    // A rebuild reads the table after this point: it reflects every change up to here.
    let seq_before = newest_seq(db).await?;
    let dir = index_dir.to_path_buf();
    let (kb, rebuild) = tokio::task::spawn_blocking(move || Kb::open(&dir)).await??;
    let kb = Arc::new(kb);
    let mut changed = Vec::new();
    if let Some(kb_dir) = kb_dir.filter(|d| d.is_dir()) {
        let report = import::import_dir(db, kb_dir, false, &|_, _| {}).await?;
        for (path, why) in &report.failed {
            tracing::warn!(%path, %why, "knowledge article not imported");
        }
        if report.added + report.updated + report.retired > 0 {
            tracing::info!(
                added = report.added,
                updated = report.updated,
                retired = report.retired,
                "knowledge base imported"
            );
        }
        changed = report.changed_ids;
    }
    // An index that never recorded how far it followed the events cannot catch up: rebuild.
    kb.set_synonyms(&store::list_synonyms(db).await?);
    if rebuild || kb.events_seq().is_none() || kb.is_empty() {
        kb.set_events_seq(seq_before);
        refresh_from_db(&kb, db).await?;
    } else if !changed.is_empty() {
        reindex_articles(&kb, db, &changed).await?;
    }
    Ok(kb)
}

/// Rebuilds the whole index from the articles table (`hotline kb reindex`, a new schema).
pub async fn refresh_from_db(kb: &Arc<Kb>, db: &Db) -> anyhow::Result<()> {
    let articles = store::list_articles(db).await?;
    let kb = kb.clone();
    tokio::task::spawn_blocking(move || kb.replace_all(&articles)).await?
}

/// Re-reads the given articles and updates their index entries (the `kb.changed` handler of
/// another node's change; also after an import).
pub async fn reindex_articles(kb: &Arc<Kb>, db: &Db, ids: &[i64]) -> anyhow::Result<()> {
    let mut found = Vec::new();
    let mut gone = Vec::new();
    for id in ids {
        match store::find_article(&db.pool, *id).await {
            Ok(a) => found.push(a),
            Err(crate::error::AppError::NotFound(_)) => gone.push(*id),
            Err(e) => return Err(anyhow::anyhow!("{e}")),
        }
    }
    let kb = kb.clone();
    tokio::task::spawn_blocking(move || kb.apply(&found, &gone)).await?
}

/// `hotline kb import`: imports with a progress bar, then updates this node's index when no
/// server holds it (a running server is told through the `kb.changed` events instead).
pub async fn import_command(
    config: &crate::config::Config,
    dir: &Path,
    overwrite: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(dir.is_dir(), "{} is not a folder", dir.display());
    let db = Db::connect(&config.database_url(), 2).await?;
    db.migrate().await?;
    let total = import::article_files(dir)?.len() as u64;
    let bar = crate::bench::progress(total, "articles");
    let report = import::import_dir(&db, dir, overwrite, &|done, _| bar.set_position(done)).await?;
    bar.finish();
    println!(
        "{} added, {} updated, {} unchanged, {} retired (file deleted), {} kept (edited in the console; --overwrite replaces them), {} failed",
        report.added,
        report.updated,
        report.unchanged,
        report.retired,
        report.kept_edits,
        report.failed.len()
    );
    for (path, why) in &report.failed {
        println!("  {path}: {why}");
    }
    let seq_before = newest_seq(&db).await?;
    match Kb::open(&config.data_dir.join("kb-index")) {
        Ok((kb, rebuild)) => {
            let kb = Arc::new(kb);
            if rebuild {
                kb.set_events_seq(seq_before);
                refresh_from_db(&kb, &db).await?;
            } else {
                reindex_articles(&kb, &db, &report.changed_ids).await?;
            }
            println!("search index updated ({} articles)", kb.len());
        }
        Err(e) => println!(
            "search index not updated here ({e}); a running server applies the kb.changed events"
        ),
    }
    anyhow::ensure!(report.failed.is_empty(), "some files were not imported");
    Ok(())
}

/// `hotline kb reindex`: rebuilds this node's index from the articles table.
pub async fn reindex_command(config: &crate::config::Config) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url(), 2).await?;
    db.migrate().await?;
    let (kb, _) = Kb::open(&config.data_dir.join("kb-index")).map_err(|e| {
        anyhow::anyhow!("cannot open the index (is a server running on this data folder?): {e}")
    })?;
    let kb = Arc::new(kb);
    let started = std::time::Instant::now();
    kb.set_events_seq(newest_seq(&db).await?);
    refresh_from_db(&kb, &db).await?;
    println!("indexed {} articles in {:.2?}", kb.len(), started.elapsed());
    Ok(())
}

/// The newest seq of the events log (0 when empty).
async fn newest_seq(db: &Db) -> Result<i64, sqlx::Error> {
    use sqlx::Row;
    sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM events")
        .fetch_one(&db.pool)
        .await
        .and_then(|r| r.try_get::<i64, _>("seq"))
}

/// Follows `kb.changed` events so this node's index catches up with changes made through
/// other nodes (and by `hotline kb import` while the server runs), from the seq the index
/// last recorded: changes made while this node was down (or between opening the index and
/// starting to follow) are applied first. Reads only events newer than the last look, after
/// each local commit or at least every second.
pub async fn follow_changes(db: Db, kb: Arc<Kb>) {
    use sqlx::Row;
    // sync::open records it; an index opened otherwise follows from the start.
    let mut last = kb.events_seq().unwrap_or(0);
    loop {
        let step = async {
            let upto = newest_seq(&db).await?;
            if upto <= last {
                return Ok::<_, anyhow::Error>(upto.max(last));
            }
            let rows = sqlx::query(
                "SELECT payload FROM events WHERE seq > $1 AND seq <= $2 AND kind = 'kb.changed'",
            )
            .bind(last)
            .bind(upto)
            .fetch_all(&db.pool)
            .await?;
            let payloads: Vec<serde_json::Value> = rows
                .iter()
                .filter_map(|r| r.try_get::<String, _>("payload").ok())
                .filter_map(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
                .collect();
            if payloads.iter().any(|v| v["synonyms"] == true) {
                kb.set_synonyms(&store::list_synonyms(&db).await?);
            }
            let mut ids: Vec<i64> = payloads
                .iter()
                .filter_map(|v| v["article_id"].as_i64())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            if !ids.is_empty() {
                reindex_articles(&kb, &db, &ids).await?;
            }
            kb.set_events_seq(upto);
            Ok(upto)
        };
        match step.await {
            Ok(upto) => last = upto,
            Err(e) => tracing::warn!(error = %e, "knowledge index update from events failed"),
        }
        tokio::select! {
            _ = crate::realtime::events::COMMITTED.notified() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}
