//! Attachments of interactions, whatever the channel (email parts, portal uploads): the bytes
//! stored once under `data_dir/attachments/<sha256>`, a row per attachment with its id, the
//! list shown with each interaction (with the message's HTML made ready to show), and the
//! headers of a download.

use super::Interaction;
use super::html;
use crate::db::{Db, Exec, FromRow, ReadRow, now_ms};
use crate::error::{AppError, AppResult};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One attachment as listed with its interaction and served by `GET /api/attachments/{id}`.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Attachment {
    pub id: i64,
    #[serde(skip)]
    pub interaction_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    #[serde(skip)]
    pub sha256: String,
    /// Shown in the message (an inline image) rather than attached to it.
    pub inline: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    /// False when the file was too large to keep: listed, not downloadable.
    pub stored: bool,
}

impl FromRow for Attachment {
    fn from_row(r: &impl ReadRow) -> Result<Self, sqlx::Error> {
        Ok(Attachment {
            id: r.try_get("id")?,
            interaction_id: r.try_get("interaction_id")?,
            filename: r.try_get("filename")?,
            content_type: r.try_get("content_type")?,
            size: r.try_get("size")?,
            sha256: r.try_get("sha256")?,
            inline: r.try_get::<i64>("inline")? != 0,
            content_id: r.try_get("content_id")?,
            stored: r.try_get::<i64>("stored")? != 0,
        })
    }
}

const COLUMNS: &str = "a.id, a.interaction_id, a.filename, a.content_type, a.size, a.sha256, a.inline, \
     a.content_id, a.stored";

/// An attachment to record with a new interaction (its bytes already kept by `keep_file`).
#[derive(Clone, Debug)]
pub struct NewAttachment {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub inline: bool,
    pub content_id: Option<String>,
    pub stored: bool,
}

/// Where the bytes with this hash live.
pub fn file_path(data_dir: &Path, sha256: &str) -> PathBuf {
    data_dir.join("attachments").join(sha256)
}

/// Writes `data` (whose hash is `sha256`) under `data_dir/attachments/<sha256>`, atomically and
/// only once: content-addressed, so a retry or the same file twice rewrites nothing.
pub async fn keep_file(data_dir: &Path, sha256: &str, data: &[u8]) -> AppResult<()> {
    let path = file_path(data_dir, sha256);
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(());
    }
    let dir = data_dir.join("attachments");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(AppError::internal)?;
    let tmp = dir.join(format!("{sha256}.tmp{}", rand::random::<u32>()));
    tokio::fs::write(&tmp, data)
        .await
        .map_err(AppError::internal)?;
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(AppError::internal)
}

/// Records the attachments of a new interaction, in its transaction. Running twice for one
/// interaction (a re-processed mail) adds nothing.
pub async fn insert<E: Exec>(
    tx: &mut E,
    interaction_id: i64,
    items: &[NewAttachment],
) -> AppResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let existing: Option<i64> = tx
        .row(
            "SELECT id FROM attachments WHERE interaction_id = $1 LIMIT 1",
            vec![interaction_id.into()],
        )
        .await?;
    if existing.is_some() {
        return Ok(());
    }
    for a in items {
        let params = vec![
            interaction_id.into(),
            a.filename.as_str().into(),
            a.content_type.as_str().into(),
            a.size.into(),
            a.sha256.as_str().into(),
            a.inline.into(),
            (&a.content_id).into(),
            a.stored.into(),
            now_ms().into(),
        ];
        tx.run(
            "INSERT INTO attachments (interaction_id, filename, content_type, size, sha256, \
             inline, content_id, stored, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            params,
        )
        .await?;
    }
    Ok(())
}

pub async fn find(db: &Db, id: i64) -> AppResult<Attachment> {
    let sql = format!("SELECT {COLUMNS} FROM attachments a WHERE a.id = $1");
    let rows: Vec<Attachment> = db.fetch_all(&sql, vec![id.into()]).await?;
    rows.into_iter()
        .next()
        .ok_or(AppError::NotFound("attachment"))
}

/// Every attachment of a ticket's interactions, in order.
pub async fn list_of_ticket(db: &Db, ticket_id: i64) -> AppResult<Vec<Attachment>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM attachments a JOIN interactions i ON i.id = a.interaction_id \
         WHERE i.ticket_id = $1 ORDER BY a.id"
    );
    db.fetch_all(&sql, vec![ticket_id.into()]).await
}

/// Every attachment of one interaction, in order.
pub async fn list_of_interaction(db: &Db, interaction_id: i64) -> AppResult<Vec<Attachment>> {
    let sql =
        format!("SELECT {COLUMNS} FROM attachments a WHERE a.interaction_id = $1 ORDER BY a.id");
    db.fetch_all(&sql, vec![interaction_id.into()]).await
}

/// An interaction as the console shows it: with its attachments and, for an HTML message, the
/// HTML ready to show (remote content blocked, `cid:` images served from its attachments). The
/// stored HTML (`meta.html`) is not repeated: `GET /api/interactions/{id}/html?remote=true`
/// gives it with remote content.
#[derive(Serialize, schemars::JsonSchema)]
pub struct InteractionView {
    #[serde(flatten)]
    pub interaction: Interaction,
    pub attachments: Vec<Attachment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Remote images and styles left out of `html`; "load images" brings them.
    pub remote_content: usize,
    /// A call (channel `voice`): outcome, duration, wait, agent and disposition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<crate::channels::voice::store::CallSummary>,
}

/// The URL that serves an attachment.
pub fn url(id: i64) -> String {
    format!("/api/attachments/{id}")
}

/// The HTML of `interaction` ready to show, or None when it has none.
pub fn shown_html(
    interaction: &Interaction,
    attachments: &[Attachment],
    load_remote: bool,
) -> Option<html::Shown> {
    let stored = interaction.meta.get("html")?.as_str()?;
    if stored.trim().is_empty() {
        return None;
    }
    let cids = attachments
        .iter()
        .filter(|a| a.stored)
        .filter_map(|a| Some((a.content_id.as_ref()?.to_ascii_lowercase(), url(a.id))))
        .collect();
    Some(html::display(stored, cids, load_remote))
}

/// The interactions of a ticket with their attachments and displayable HTML.
pub fn views(interactions: Vec<Interaction>, attachments: Vec<Attachment>) -> Vec<InteractionView> {
    let mut by_interaction: HashMap<i64, Vec<Attachment>> = HashMap::new();
    for a in attachments {
        by_interaction.entry(a.interaction_id).or_default().push(a);
    }
    interactions
        .into_iter()
        .map(|mut interaction| {
            let attachments = by_interaction.remove(&interaction.id).unwrap_or_default();
            let shown = shown_html(&interaction, &attachments, false);
            if let Some(meta) = interaction.meta.as_object_mut() {
                meta.remove("html");
            }
            let remote_content = shown.as_ref().map_or(0, |s| s.remote_content);
            InteractionView {
                interaction,
                attachments,
                html: shown.map(|s| s.html),
                remote_content,
                call: None,
            }
        })
        .collect()
}

/// RFC 5987 `attr-char`: what may stand unencoded in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition` of a download: always `attachment` (a file from outside never opens as
/// a page of ours), the original name in UTF-8 (RFC 6266 / RFC 5987 `filename*`) and an ASCII
/// `filename` for clients that do not read it: other characters become `_`, and a name left
/// with no letter or digit becomes `attachment` with its extension.
pub fn content_disposition(filename: &str) -> String {
    let mut fallback = String::new();
    for c in filename.chars() {
        let safe = (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\';
        match (safe, fallback.ends_with('_')) {
            (true, _) => fallback.push(c),
            (false, false) => fallback.push('_'),
            (false, true) => {}
        }
    }
    let (stem, ext) = match fallback.rfind('.') {
        Some(dot) if dot > 0 => fallback.split_at(dot),
        _ => (fallback.as_str(), ""),
    };
    if !stem.chars().any(|c| c.is_ascii_alphanumeric()) {
        fallback = format!("attachment{ext}");
    }
    let encoded = utf8_percent_encode(filename, ATTR_CHAR);
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// The `Content-Type` to send: the recorded type when it is a well-formed media type, else
/// `application/octet-stream`.
pub fn content_type(recorded: &str) -> String {
    match recorded.trim().parse::<mime_guess::mime::Mime>() {
        Ok(m) => m.essence_str().to_string(),
        Err(_) => "application/octet-stream".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_carry_the_original_name_and_an_ascii_fallback() {
        assert_eq!(
            content_disposition("发票.pdf"),
            "attachment; filename=\"attachment.pdf\"; \
             filename*=UTF-8''%E5%8F%91%E7%A5%A8.pdf"
        );
        assert_eq!(
            content_disposition("my report (final).xlsx"),
            "attachment; filename=\"my report (final).xlsx\"; \
             filename*=UTF-8''my%20report%20%28final%29.xlsx"
        );
        assert_eq!(
            content_disposition("报告 2024 \"终稿\".docx"),
            "attachment; filename=\"_ 2024 _.docx\"; \
             filename*=UTF-8''%E6%8A%A5%E5%91%8A%202024%20%22%E7%BB%88%E7%A8%BF%22.docx"
        );
        assert_eq!(
            content_disposition("a\r\nb"),
            "attachment; filename=\"a_b\"; filename*=UTF-8''a%0D%0Ab"
        );
        assert_eq!(
            content_disposition("写真"),
            "attachment; filename=\"attachment\"; filename*=UTF-8''%E5%86%99%E7%9C%9F"
        );
    }

    #[test]
    fn content_types_are_well_formed() {
        assert_eq!(content_type("image/png"), "image/png");
        assert_eq!(
            content_type("text/plain; charset=gbk"),
            "text/plain",
            "a charset of a mail part is not the file's"
        );
        assert_eq!(
            content_type("evil\r\nSet-Cookie: x"),
            "application/octet-stream"
        );
        assert_eq!(content_type(""), "application/octet-stream");
    }
}
