//! `hotline import customers|orders FILE`: the same engine as the console, run in this process
//! with a progress bar; an unfinished import of the same file (a crash, Ctrl-C) resumes.

use super::{Ctx, Kind, RunOptions, store};
use crate::config::Config;
use crate::db::Db;
use std::path::Path;

pub struct Args<'a> {
    pub kind: Kind,
    pub file: &'a Path,
    pub dry_run: bool,
    pub encoding: &'a str,
    pub map: &'a [String],
}

/// Runs the import and prints a summary and the refused rows with their line numbers.
pub async fn command(config: &Config, a: Args<'_>) -> anyhow::Result<()> {
    // One connection for the import, one for the WAL checkpoints (SQLite).
    let db = Db::connect(&config.database_url(), 3).await?;
    db.migrate().await?;
    let _checkpoints = db.spawn_checkpoints();
    // An operator needs the cause of an internal error (a locked or full database, say).
    let err = |e: crate::error::AppError| match e {
        crate::error::AppError::Internal(cause) => anyhow::anyhow!("internal error: {cause:#}"),
        e => anyhow::anyhow!("{e}"),
    };
    let mapping = super::parse_mapping(a.map.iter().map(String::as_str)).map_err(err)?;
    let path =
        std::fs::canonicalize(a.file).map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
    let size = std::fs::metadata(&path)?.len() as i64;
    // The header is checked before anything is recorded.
    super::open(&path, a.kind, a.encoding, &mapping).map_err(err)?;
    let path_text = path.to_string_lossy().to_string();
    let job = match store::unfinished_cli(&db, a.kind, &path_text, size, a.dry_run)
        .await
        .map_err(err)?
    {
        Some(job) => {
            eprintln!(
                "resuming import {} after line {} ({} rows done)",
                job.id, job.lines_done, job.rows_done
            );
            job
        }
        None => {
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            store::create(
                &db,
                &store::NewJob {
                    kind: a.kind,
                    source: "cli",
                    file_name: &file_name,
                    path: &path_text,
                    file_size: size,
                    encoding: a.encoding,
                    mapping: &mapping,
                    dry_run: a.dry_run,
                    by: None,
                },
            )
            .await
            .map_err(err)?
        }
    };
    let ctx = Ctx::of(config, crate::clock::Clock::default())?;
    let opts = RunOptions {
        owner: format!("cli:{}", std::process::id()),
        stop_after_chunks: None,
    };
    let bar = indicatif::ProgressBar::new(size.max(1) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(a.kind.as_str());
    bar.set_position(job.bytes_done as u64);
    // Another process may still hold the job (its claim lapses after LEASE_MS).
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(super::LEASE_MS as u64 + 2000);
    let job = loop {
        match super::run(&db, &ctx, job.id, &opts, |j| {
            bar.set_position(j.bytes_done as u64)
        })
        .await
        {
            Err(crate::error::AppError::Conflict(m)) if std::time::Instant::now() < deadline => {
                bar.set_message("waiting");
                tracing::debug!(m, "import held elsewhere");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            other => break other.map_err(err)?,
        }
    };
    bar.finish_and_clear();
    let would = if job.dry_run { "would be " } else { "" };
    println!(
        "import {} ({}, {}{}): {} rows: {} {would}created, {} {would}updated, {} unchanged, {} refused",
        job.id,
        job.kind.as_str(),
        job.detected_encoding,
        if job.dry_run { ", dry run" } else { "" },
        job.rows_done,
        job.created,
        job.updated,
        job.unchanged,
        job.refused
    );
    const SHOWN: i64 = 1000;
    let refused = store::rows(&db, job.id, Some("refused"), 0, SHOWN)
        .await
        .map_err(err)?;
    for r in &refused {
        println!("line {}: {}: {} ({})", r.line, r.field, r.message, r.code);
    }
    if job.refused > SHOWN {
        println!(
            "… {} more refused rows: GET /api/imports/{}/rows?outcome=refused",
            job.refused - SHOWN,
            job.id
        );
    }
    Ok(())
}
