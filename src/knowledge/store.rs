//! SQL for articles, their versions and suggestion usage. Every change appends `kb.changed` in
//! the same transaction, so every node learns that its index must catch up.

use super::{Article, ArticleDraft, ArticleVersion, Audience};
use crate::db::{Db, Tx, from_json_list, now_ms, to_json_list};
use crate::error::{AppError, AppResult};
use crate::realtime::events::{self, Scope};
use sqlx::Row;
use sqlx::any::AnyRow;

const COLUMNS: &str = "id, slug, lang, category, title, body, tags, questions, audience, \
    translation_of, source_path, source_hash, edited_in_app, retired, version, created_at, \
    updated_at";

fn article_from_row(r: &AnyRow) -> Result<Article, sqlx::Error> {
    let audience: String = r.try_get("audience")?;
    Ok(Article {
        id: r.try_get("id")?,
        slug: r.try_get("slug")?,
        lang: r.try_get("lang")?,
        category: r.try_get("category")?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        tags: from_json_list(&r.try_get::<String, _>("tags")?),
        questions: from_json_list(&r.try_get::<String, _>("questions")?),
        audience: Audience::parse(&audience).unwrap_or(Audience::Internal),
        translation_of: r.try_get("translation_of")?,
        source_path: r.try_get("source_path")?,
        source_hash: r.try_get("source_hash")?,
        edited_in_app: r.try_get::<i64, _>("edited_in_app")? != 0,
        retired: r.try_get::<i64, _>("retired")? != 0,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn find_article<'e, E>(exec: E, id: i64) -> AppResult<Article>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let sql = format!("SELECT {COLUMNS} FROM articles WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(exec)
        .await?
        .ok_or(AppError::NotFound("article"))?;
    Ok(article_from_row(&row)?)
}

/// The live translation of `a` into `lang`: an article in `lang` that names `a` as what it
/// translates, that `a` names, or that translates the same article as `a`.
pub async fn find_translation(db: &Db, a: &Article, lang: &str) -> AppResult<Option<Article>> {
    let names_a = format!("{}/{}", a.lang, a.slug);
    let named_by_a = a
        .translation_of
        .as_deref()
        .and_then(|t| t.split_once('/'))
        .filter(|(l, _)| *l == lang)
        .map(|(_, slug)| slug.to_string());
    let sql = format!(
        "SELECT {COLUMNS} FROM articles WHERE lang = $1 AND retired = 0 AND id <> $2 \
         AND (translation_of = $3 OR slug = $4 OR translation_of = $5) ORDER BY id LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lang)
        .bind(a.id)
        .bind(names_a)
        .bind(named_by_a)
        .bind(a.translation_of.clone())
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.as_ref().map(article_from_row).transpose()?)
}

/// Every article, retired ones included (the import compares against all of them).
pub async fn list_articles(db: &Db) -> AppResult<Vec<Article>> {
    let sql = format!("SELECT {COLUMNS} FROM articles ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .iter()
        .map(article_from_row)
        .collect::<Result<_, _>>()?)
}

/// Tells every node (and console) that an article changed; no queue or user: everyone may see.
pub async fn append_changed(tx: &mut Tx<'_>, db: &Db, article_id: i64) -> AppResult<()> {
    events::append(
        tx,
        db.backend,
        "kb.changed",
        Scope::default(),
        &serde_json::json!({"article_id": article_id}),
    )
    .await?;
    Ok(())
}

async fn insert_version(tx: &mut Tx<'_>, a: &Article, edited_by: Option<i64>) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO article_versions (article_id, version, title, body, tags, edited_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(a.id)
    .bind(a.version)
    .bind(&a.title)
    .bind(&a.body)
    .bind(to_json_list(&a.tags))
    .bind(edited_by)
    .bind(a.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Where an article came from: a file (path and content hash) or the console.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub source_path: Option<String>,
    pub source_hash: Option<String>,
    pub edited_by: Option<i64>,
}

pub async fn insert_article(
    tx: &mut Tx<'_>,
    db: &Db,
    d: &ArticleDraft,
    origin: &Origin,
) -> AppResult<Article> {
    let now = now_ms();
    let in_app = origin.source_path.is_none();
    let sql = format!(
        "INSERT INTO articles (slug, lang, category, title, body, tags, audience, translation_of, \
         source_path, source_hash, edited_in_app, retired, version, created_at, updated_at, \
         questions) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 1, $12, $12, $13) \
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&d.slug)
        .bind(&d.lang)
        .bind(&d.category)
        .bind(&d.title)
        .bind(&d.body)
        .bind(to_json_list(&d.tags))
        .bind(d.audience.as_str())
        .bind(&d.translation_of)
        .bind(&origin.source_path)
        .bind(&origin.source_hash)
        .bind(in_app as i64)
        .bind(now)
        .bind(to_json_list(&d.questions))
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict(_) => {
                AppError::Conflict(format!("an article {}/{} exists", d.lang, d.slug))
            }
            other => other,
        })?;
    let a = article_from_row(&row)?;
    insert_version(tx, &a, origin.edited_by).await?;
    append_changed(tx, db, a.id).await?;
    Ok(a)
}

/// Stores a new version of article `id`. `edited_in_app` marks console edits, which later
/// imports keep; an import that overwrites clears it.
pub async fn update_article(
    tx: &mut Tx<'_>,
    db: &Db,
    id: i64,
    d: &ArticleDraft,
    origin: &Origin,
    edited_in_app: bool,
) -> AppResult<Article> {
    let sql = format!(
        "UPDATE articles SET slug = $2, lang = $3, category = $4, title = $5, body = $6, tags = $7, \
         audience = $8, translation_of = $9, source_path = COALESCE($10, source_path), \
         source_hash = COALESCE($11, source_hash), edited_in_app = $12, version = version + 1, \
         updated_at = $13, questions = $14 WHERE id = $1 RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(&d.slug)
        .bind(&d.lang)
        .bind(&d.category)
        .bind(&d.title)
        .bind(&d.body)
        .bind(to_json_list(&d.tags))
        .bind(d.audience.as_str())
        .bind(&d.translation_of)
        .bind(&origin.source_path)
        .bind(&origin.source_hash)
        .bind(edited_in_app as i64)
        .bind(now_ms())
        .bind(to_json_list(&d.questions))
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(AppError::NotFound("article"))?;
    let a = article_from_row(&row)?;
    insert_version(tx, &a, origin.edited_by).await?;
    append_changed(tx, db, a.id).await?;
    Ok(a)
}

/// Records the hash of the file an article was last compared with, without a new version
/// (the file changed but the console's edit wins), or None when the file was deleted.
pub async fn update_source_hash(tx: &mut Tx<'_>, id: i64, hash: Option<&str>) -> AppResult<()> {
    sqlx::query("UPDATE articles SET source_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn update_retired(
    tx: &mut Tx<'_>,
    db: &Db,
    id: i64,
    retired: bool,
) -> AppResult<Article> {
    let sql = format!(
        "UPDATE articles SET retired = $2, updated_at = $3 WHERE id = $1 RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(retired as i64)
        .bind(now_ms())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(AppError::NotFound("article"))?;
    append_changed(tx, db, id).await?;
    Ok(article_from_row(&row)?)
}

pub async fn list_versions(db: &Db, article_id: i64) -> AppResult<Vec<ArticleVersion>> {
    let rows = sqlx::query(
        "SELECT article_id, version, title, body, tags, edited_by, created_at \
         FROM article_versions WHERE article_id = $1 ORDER BY version DESC",
    )
    .bind(article_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ArticleVersion {
                article_id: r.try_get("article_id")?,
                version: r.try_get("version")?,
                title: r.try_get("title")?,
                body: r.try_get("body")?,
                tags: from_json_list(&r.try_get::<String, _>("tags")?),
                edited_by: r.try_get("edited_by")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

/// Records that agent `user_id` was shown (or inserted) articles for a ticket.
pub async fn insert_suggestion_uses(
    db: &Db,
    ticket_id: i64,
    article_ids: &[i64],
    user_id: i64,
    kind: &str,
) -> AppResult<()> {
    if article_ids.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    let now = now_ms();
    for a in article_ids {
        sqlx::query(
            "INSERT INTO kb_suggestion_uses (ticket_id, article_id, user_id, at_ms, kind) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(ticket_id)
        .bind(a)
        .bind(user_id)
        .bind(now)
        .bind(kind)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// How often an article was shown and inserted (the quality signal).
pub async fn count_suggestion_uses(db: &Db, article_id: i64) -> AppResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT \
           COALESCE(SUM(CASE WHEN kind = 'shown' THEN 1 ELSE 0 END), 0) AS shown, \
           COALESCE(SUM(CASE WHEN kind = 'inserted' THEN 1 ELSE 0 END), 0) AS inserted \
         FROM kb_suggestion_uses WHERE article_id = $1",
    )
    .bind(article_id)
    .fetch_one(&db.pool)
    .await?;
    Ok((row.try_get("shown")?, row.try_get("inserted")?))
}

/// The synonym groups admins keep (each a list of words that mean the same to a customer).
pub async fn list_synonyms(db: &Db) -> AppResult<Vec<Vec<String>>> {
    let rows = sqlx::query("SELECT words FROM kb_synonyms ORDER BY id")
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| Ok(from_json_list(&r.try_get::<String, _>("words")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

/// Replaces every synonym group, and tells every node (a `kb.changed` without an article).
pub async fn replace_synonyms(tx: &mut Tx<'_>, db: &Db, groups: &[Vec<String>]) -> AppResult<()> {
    sqlx::query("DELETE FROM kb_synonyms")
        .execute(&mut **tx)
        .await?;
    let now = now_ms();
    for g in groups {
        sqlx::query("INSERT INTO kb_synonyms (words, created_at) VALUES ($1, $2)")
            .bind(to_json_list(g))
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    events::append(
        tx,
        db.backend,
        "kb.changed",
        Scope::default(),
        &serde_json::json!({"synonyms": true}),
    )
    .await?;
    Ok(())
}
