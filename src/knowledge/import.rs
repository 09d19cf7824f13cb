//! Import of `knowledge-base/<lang>/<category>/<slug>.md` into the articles table: new files are
//! added, changed files update their article, deleted files retire it, and edits made in the
//! console are kept unless the import overwrites. Idempotent: an unchanged folder changes nothing.

use super::{ArticleDraft, Audience, store};
use crate::db::Db;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ImportReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Files that changed or were deleted while their article had console edits (kept, not
    /// overwritten; reported once).
    pub kept_edits: usize,
    /// Articles whose file was deleted from the folder: retired (out of search). Their file
    /// coming back restores them.
    pub retired: usize,
    pub failed: Vec<(String, String)>,
    /// Ids of the articles added, updated or retired (their index entries must be refreshed).
    #[serde(skip)]
    pub changed_ids: Vec<i64>,
}

/// Parses a file's front matter and body. `rel` is the path under the folder
/// (`zh/account/reset-password.md`): it gives the slug, and the language and category when the
/// front matter omits them.
pub fn parse_article(rel: &Path, text: &str) -> Result<ArticleDraft, String> {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let slug = rel
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or("no file name")?;
    let text = text.trim_start_matches('\u{feff}').replace("\r\n", "\n");
    let rest = text
        .strip_prefix("---\n")
        .ok_or("the file must start with a front matter block (---)")?;
    let (head, body) = rest
        .split_once("\n---\n")
        .or_else(|| rest.strip_suffix("\n---").map(|h| (h, "")))
        .ok_or("the front matter block is not closed (---)")?;
    let mut meta: HashMap<String, String> = HashMap::new();
    // Lists written as block sequences (`key:` then `- item` lines).
    let mut blocks: HashMap<String, Vec<String>> = HashMap::new();
    let mut last_key: Option<String> = None;
    for line in head
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    {
        if let (Some(item), Some(k)) = (line.trim_start().strip_prefix("- "), &last_key)
            && meta.get(k).is_some_and(|v| v.is_empty())
        {
            blocks
                .entry(k.clone())
                .or_default()
                .push(unquote(item.trim()).to_string());
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("front matter line without a colon: {line}"))?;
        meta.insert(k.trim().to_string(), unquote(v.trim()).to_string());
        last_key = Some(k.trim().to_string());
    }
    let list = |key: &str| -> Vec<String> {
        if let Some(items) = blocks.get(key) {
            return items.iter().filter(|s| !s.is_empty()).cloned().collect();
        }
        meta.get(key).map(|v| inline_list(v)).unwrap_or_default()
    };
    let folder = |i: usize| parts.len() == 3 && i < 2;
    let lang = meta
        .get("lang")
        .cloned()
        .or_else(|| folder(0).then(|| parts[0].clone()))
        .ok_or("lang is missing")?;
    let category = meta
        .get("category")
        .cloned()
        .or_else(|| folder(1).then(|| parts[1].clone()))
        .ok_or("category is missing")?;
    let audience = match meta.get("audience").map(String::as_str) {
        None => Audience::Internal,
        Some(a) => Audience::parse(a).ok_or("audience must be internal or public")?,
    };
    let tags = list("tags");
    let questions = list("questions");
    let draft = ArticleDraft {
        slug,
        lang,
        category,
        title: meta.get("title").cloned().ok_or("title is missing")?,
        body: body.trim().to_string(),
        tags,
        questions,
        audience,
        translation_of: meta
            .get("translation_of")
            .cloned()
            .filter(|s| !s.is_empty()),
    };
    draft.validate().map_err(|(_, m)| m)?;
    Ok(draft)
}

/// `[a, "b, c", 'd']` (or without brackets): the items, split at commas (ASCII or full-width)
/// outside quotes.
fn inline_list(v: &str) -> Vec<String> {
    let v = v.trim();
    let v = v
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(v);
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in v.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                current.push(c);
            }
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                current.push(c);
            }
            None if c == ',' || c == '，' => items.push(std::mem::take(&mut current)),
            None => current.push(c),
        }
    }
    items.push(current);
    items
        .iter()
        .map(|s| unquote(s.trim()).to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(s)
}

/// The Markdown files under `dir`, as paths relative to it, sorted.
pub fn article_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "md")
                && let Ok(rel) = p.strip_prefix(dir)
            {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Imports the folder. `progress` is told (done, total) after each file.
///
/// An article that came from a file no longer in the folder is retired, unless it was edited in
/// the console (kept until an import that overwrites). A folder without any article file
/// retires nothing: that is a wrong or unmounted folder, not a knowledge base emptied on purpose.
pub async fn import_dir(
    db: &Db,
    dir: &Path,
    overwrite: bool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> anyhow::Result<ImportReport> {
    let files = article_files(dir)?;
    let existing: HashMap<(String, String), super::Article> = store::list_articles(db)
        .await?
        .into_iter()
        .map(|a| ((a.lang.clone(), a.slug.clone()), a))
        .collect();
    let mut report = ImportReport::default();
    let total = files.len() as u64;
    // Paths present (a file that fails to parse still exists: its article stays) and the
    // articles the files map to (a file may have moved to another folder).
    let mut present: HashSet<String> = HashSet::new();
    let mut matched: HashSet<i64> = HashSet::new();
    for (n, rel) in files.iter().enumerate() {
        let rel_text = rel.to_string_lossy().replace('\\', "/");
        present.insert(rel_text.clone());
        match import_file(db, dir, rel, &rel_text, &existing, overwrite, &mut report).await {
            Ok(id) => {
                matched.insert(id);
            }
            Err(e) => report.failed.push((rel_text, e)),
        }
        progress(n as u64 + 1, total);
    }
    if files.is_empty() {
        return Ok(report);
    }
    let mut gone: Vec<&super::Article> = existing
        .values()
        .filter(|a| !a.retired && !matched.contains(&a.id))
        .filter(|a| a.source_path.as_ref().is_some_and(|p| !present.contains(p)))
        .collect();
    gone.sort_by_key(|a| a.id);
    for a in gone {
        retire_deleted(db, a, overwrite, &mut report)
            .await
            .map_err(|e| anyhow::anyhow!("retiring {}/{}: {e}", a.lang, a.slug))?;
    }
    Ok(report)
}

/// The file of article `a` was deleted: retire the article, or keep a console edit. The
/// source hash is cleared either way: "retired with no file version" marks an article that
/// the import retired (its file coming back restores it), and an edit is reported only once.
async fn retire_deleted(
    db: &Db,
    a: &super::Article,
    overwrite: bool,
    report: &mut ImportReport,
) -> crate::error::AppResult<()> {
    let keep = a.edited_in_app && !overwrite;
    if keep && a.source_hash.is_none() {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    store::update_source_hash(&mut tx, a.id, None).await?;
    if keep {
        tx.commit().await?;
        report.kept_edits += 1;
        return Ok(());
    }
    store::update_retired(&mut tx, db, a.id, true).await?;
    crate::realtime::events::commit(tx).await?;
    report.retired += 1;
    report.changed_ids.push(a.id);
    Ok(())
}

async fn import_file(
    db: &Db,
    dir: &Path,
    rel: &Path,
    rel_text: &str,
    existing: &HashMap<(String, String), super::Article>,
    overwrite: bool,
    report: &mut ImportReport,
) -> Result<i64, String> {
    let bytes = std::fs::read(dir.join(rel)).map_err(|e| e.to_string())?;
    let hash = hex::encode(Sha256::digest(&bytes));
    let text = String::from_utf8(bytes).map_err(|_| "the file is not UTF-8".to_string())?;
    let draft = parse_article(rel, &text)?;
    let origin = store::Origin {
        source_path: Some(rel_text.to_string()),
        source_hash: Some(hash.clone()),
        edited_by: None,
    };
    let err = |e: crate::error::AppError| e.to_string();
    let current = existing.get(&(draft.lang.clone(), draft.slug.clone()));
    let Some(a) = current else {
        let mut tx = db.begin().await.map_err(|e| e.to_string())?;
        let a = store::insert_article(&mut tx, db, &draft, &origin)
            .await
            .map_err(err)?;
        crate::realtime::events::commit(tx)
            .await
            .map_err(|e| e.to_string())?;
        report.added += 1;
        report.changed_ids.push(a.id);
        return Ok(a.id);
    };
    // Retired by an earlier import because its file was deleted, and the file is back.
    let restore = a.retired && a.source_hash.is_none() && a.source_path.is_some();
    let same_content = a.title == draft.title
        && a.body == draft.body
        && a.tags == draft.tags
        && a.questions == draft.questions
        && a.category == draft.category
        && a.audience == draft.audience
        && a.translation_of == draft.translation_of;
    let file_changed = a.source_hash.as_deref() != Some(hash.as_str());
    if !restore && (same_content || (!file_changed && !overwrite)) {
        report.unchanged += 1;
        return Ok(a.id);
    }
    let id = a.id;
    let keep_edit = a.edited_in_app && !overwrite;
    let mut tx = db.begin().await.map_err(|e| e.to_string())?;
    if keep_edit || same_content {
        // The console's edit wins (or the text is the same): remember the file's version so
        // it is not reported again.
        store::update_source_hash(&mut tx, id, Some(&hash))
            .await
            .map_err(err)?;
    } else {
        store::update_article(&mut tx, db, id, &draft, &origin, false)
            .await
            .map_err(err)?;
    }
    if restore {
        store::update_retired(&mut tx, db, id, false)
            .await
            .map_err(err)?;
    }
    crate::realtime::events::commit(tx)
        .await
        .map_err(|e| e.to_string())?;
    if keep_edit && !restore {
        report.kept_edits += 1;
    } else {
        report.updated += 1;
        report.changed_ids.push(id);
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_front_matter_and_body() {
        let text = "---\ntitle: 忘记密码怎么办\ntags: [密码, \"登录\"]\naudience: public\ntranslation_of: en/reset-password\n---\n\n正文\n";
        let d = parse_article(Path::new("zh/account/reset-password.md"), text).unwrap();
        assert_eq!(d.slug, "reset-password");
        assert_eq!(d.lang, "zh");
        assert_eq!(d.category, "account");
        assert_eq!(d.title, "忘记密码怎么办");
        assert_eq!(d.tags, vec!["密码", "登录"]);
        assert_eq!(d.audience, Audience::Public);
        assert_eq!(d.translation_of.as_deref(), Some("en/reset-password"));
        assert_eq!(d.body, "正文");
        assert!(d.questions.is_empty());
    }

    #[test]
    fn parses_similar_questions_inline_and_as_a_block() {
        let text =
            "---\ntitle: t\nquestions: [\"钱什么时候退回来\", \"refund, still not here\"]\n---\nb";
        let d = parse_article(Path::new("zh/billing/r.md"), text).unwrap();
        assert_eq!(
            d.questions,
            vec!["钱什么时候退回来", "refund, still not here"]
        );
        let text = "---\ntitle: t\nquestions:\n  - 退款怎么还没到账\n  - \"where is my refund\"\ntags: [a]\n---\nb";
        let d = parse_article(Path::new("zh/billing/r.md"), text).unwrap();
        assert_eq!(d.questions, vec!["退款怎么还没到账", "where is my refund"]);
        assert_eq!(d.tags, vec!["a"]);
    }

    #[test]
    fn rejects_files_without_front_matter_or_title() {
        assert!(parse_article(Path::new("en/a/b.md"), "just text").is_err());
        assert!(parse_article(Path::new("en/a/b.md"), "---\ntags: [x]\n---\nbody").is_err());
        assert!(parse_article(Path::new("fr/a/b.md"), "---\ntitle: t\n---\nbody").is_err());
    }
}
