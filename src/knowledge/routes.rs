//! HTTP for the knowledge base: search (agents: all articles; the portal: public ones), article
//! reading, the admin's create/edit/retire with versions, and suggestions for a ticket.

use super::store::{self, Origin};
use super::{
    AnswerText, Article, ArticleDraft, ArticleVersion, ArticleView, Audience, Hit, Kb, LANGS,
    SearchQuery,
};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::http::extract::{AuthUser, Json, Path, Query};
use crate::http::{Access, Routes};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post, put};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

pub fn routes(r: Routes) -> Routes {
    r.add(
        "GET",
        "/api/kb/search",
        "kb",
        Access::Agent,
        "Search articles (q, lang=zh|en, category, tag, limit); internal and public",
        get(search_articles),
    )
    .query::<SearchParams>()
    .returns::<SearchResult>(200)
    .add(
        "GET",
        "/api/portal/kb/search",
        "kb",
        Access::Public,
        "Search the public articles (the customer portal; limited per client address)",
        get(search_public),
    )
    .query::<SearchParams>()
    .returns::<SearchResult>(200)
    .add(
        "GET",
        "/api/portal/kb/articles/{id}",
        "kb",
        Access::Public,
        "A public article: its customer-facing answer, as Markdown and as sanitized HTML",
        get(get_public_article),
    )
    .returns::<ArticleView>(200)
    .add(
        "GET",
        "/api/kb/synonyms",
        "kb",
        Access::Agent,
        "The synonym groups applied to searches",
        get(get_synonyms),
    )
    .returns::<Synonyms>(200)
    .add(
        "PUT",
        "/api/kb/synonyms",
        "kb",
        Access::Admin,
        "Replace the synonym groups (退款 = 退钱 = 返还; refund = money back)",
        put(put_synonyms),
    )
    .body::<Synonyms>()
    .returns::<Synonyms>(200)
    .add(
        "POST",
        "/api/kb/articles",
        "kb",
        Access::Admin,
        "Create an article",
        post(create_article),
    )
    .body::<ArticleBody>()
    .returns::<Article>(201)
    .add(
        "GET",
        "/api/kb/articles/{id}",
        "kb",
        Access::Agent,
        "An article, with its answer and internal section as sanitized HTML",
        get(get_article),
    )
    .returns::<ArticleView>(200)
    .add(
        "GET",
        "/api/kb/articles/{id}/answer",
        "kb",
        Access::Agent,
        "The customer-facing answer as plain text (lang: its translation when there is one), \
         to insert into a reply; 422 for an internal article",
        get(get_answer),
    )
    .query::<AnswerParams>()
    .returns::<AnswerText>(200)
    .add(
        "PATCH",
        "/api/kb/articles/{id}",
        "kb",
        Access::Admin,
        "Edit an article (stores a new version)",
        patch(update_article),
    )
    .body::<ArticleBody>()
    .returns::<Article>(200)
    .add(
        "POST",
        "/api/kb/articles/{id}/retire",
        "kb",
        Access::Admin,
        "Retire an article (no longer found; kept with its versions)",
        post(retire_article),
    )
    .no_body()
    .returns::<Article>(200)
    .add(
        "GET",
        "/api/kb/articles/{id}/versions",
        "kb",
        Access::Agent,
        "Every version of an article, newest first",
        get(list_versions),
    )
    .returns::<Vec<ArticleVersion>>(200)
    .add(
        "POST",
        "/api/kb/articles/{id}/used",
        "kb",
        Access::Agent,
        "Record that an agent inserted the article into a reply to a ticket (the ticket's \
         customer question is proposed as a similar question of the article: /api/kb/proposals)",
        post(record_used),
    )
    .body::<UsedBody>()
    .no_content()
    .add(
        "POST",
        "/api/kb/articles/{id}/answered",
        "kb",
        Access::Agent,
        "Mark the article as what answered a ticket's question without inserting it (read out \
         on the phone, an internal article): the ticket's customer question is proposed as a \
         similar question of the article (/api/kb/proposals)",
        post(record_answered),
    )
    .body::<UsedBody>()
    .no_content()
    .add(
        "GET",
        "/api/tickets/{id}/suggestions",
        "kb",
        Access::Agent,
        "Articles that answer the ticket (subject and latest customer message)",
        get(ticket_suggestions),
    )
    .returns::<Suggestions>(200)
}

/// Brings the index in line with the database for `articles` (after their transaction
/// committed). A failure leaves the database right and is logged: `hotline kb reindex` or the
/// next start repairs the index.
pub async fn refresh_index(kb: &Arc<Kb>, articles: Vec<Article>) {
    let kb = kb.clone();
    let done = tokio::task::spawn_blocking(move || kb.apply(&articles, &[])).await;
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "knowledge index update failed"),
        Err(e) => tracing::error!(error = %e, "knowledge index update panicked"),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct SearchParams {
    q: Option<String>,
    lang: Option<String>,
    category: Option<String>,
    tag: Option<String>,
    limit: Option<usize>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct SearchResult {
    hits: Vec<Hit>,
    took_us: u128,
}

async fn run_search(
    state: &AppState,
    p: SearchParams,
    public_only: bool,
) -> AppResult<axum::Json<SearchResult>> {
    let text = p.q.unwrap_or_default();
    if text.chars().count() > 500 {
        return Err(AppError::validation("q", "q is longer than 500 characters"));
    }
    let lang = match p.lang.as_deref().map(str::trim) {
        None | Some("") | Some("all") => None,
        Some(l) if LANGS.contains(&l) => Some(l.to_string()),
        Some(_) => return Err(AppError::validation("lang", "lang must be zh, en or all")),
    };
    let q = SearchQuery {
        text,
        lang,
        category: p.category.filter(|c| !c.is_empty()),
        tag: p.tag.filter(|t| !t.is_empty()),
        public_only,
        limit: p.limit.unwrap_or(10).clamp(1, 50),
        plain: false,
        without_snippets: false,
    };
    let kb = state.kb.clone();
    let started = std::time::Instant::now();
    let hits = tokio::task::spawn_blocking(move || kb.search(&q))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
    Ok(axum::Json(SearchResult {
        hits,
        took_us: started.elapsed().as_micros(),
    }))
}

async fn search_articles(
    State(state): State<AppState>,
    Query(p): Query<SearchParams>,
) -> AppResult<axum::Json<SearchResult>> {
    run_search(&state, p, false).await
}

/// Every portal search counts against the client address's budget
/// (`HOTLINE_PORTAL_KB_SEARCHES_PER_MINUTE`).
async fn search_public(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(p): Query<SearchParams>,
) -> AppResult<axum::Json<SearchResult>> {
    let client = crate::limits::client_key(peer.ip());
    if let Err(retry_after) = state.limits.portal.kb_searches.take(&client) {
        return Err(AppError::RateLimited { retry_after });
    }
    run_search(&state, p, true).await
}

async fn get_article(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<ArticleView>> {
    let a = store::find_article(&state.db.pool, id).await?;
    Ok(axum::Json(ArticleView::for_agents(a)))
}

async fn get_public_article(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<ArticleView>> {
    let a = store::find_article(&state.db.pool, id).await?;
    if a.audience != Audience::Public || a.retired {
        // Internal articles are not disclosed to the public, not even their existence.
        return Err(AppError::NotFound("article"));
    }
    Ok(axum::Json(ArticleView::for_customers(a)))
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Synonyms {
    /// Each group: words (or short phrases) a customer uses for the same thing.
    groups: Vec<Vec<String>>,
}

async fn get_synonyms(State(state): State<AppState>) -> AppResult<axum::Json<Synonyms>> {
    Ok(axum::Json(Synonyms {
        groups: store::list_synonyms(&state.db).await?,
    }))
}

async fn put_synonyms(
    State(state): State<AppState>,
    Json(b): Json<Synonyms>,
) -> AppResult<axum::Json<Synonyms>> {
    let groups = super::clean_synonyms(b.groups)
        .map_err(|(field, message)| AppError::validation(field, message))?;
    let mut tx = state.db.begin().await?;
    store::replace_synonyms(&mut tx, &state.db, &groups).await?;
    crate::realtime::events::commit(tx).await?;
    state.kb.set_synonyms(&groups);
    Ok(axum::Json(Synonyms { groups }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct AnswerParams {
    /// The customer's language (`zh`, `en`, or a tag such as `zh-CN`).
    lang: Option<String>,
}

async fn get_answer(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<AnswerParams>,
) -> AppResult<axum::Json<AnswerText>> {
    let a = store::find_article(&state.db.pool, id).await?;
    if a.audience != Audience::Public {
        return Err(internal_refused());
    }
    let wanted = match p.lang.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => Some(super::kb_lang(l).ok_or_else(|| {
            AppError::validation("lang", "lang must be zh or en (or a tag such as zh-CN)")
        })?),
    };
    let mut chosen = a;
    if let Some(l) = wanted
        && l != chosen.lang
        && let Some(t) = store::find_translation(&state.db, &chosen, l).await?
        && t.audience == Audience::Public
    {
        chosen = t;
    }
    let answer = AnswerText::of(&chosen).ok_or_else(internal_refused)?;
    Ok(axum::Json(answer))
}

/// Internal articles are for agents: never inserted into what a customer reads.
fn internal_refused() -> AppError {
    AppError::Unprocessable("an internal article cannot be inserted into a customer reply".into())
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ArticleBody {
    slug: Option<String>,
    lang: Option<String>,
    category: Option<String>,
    title: Option<String>,
    body: Option<String>,
    tags: Option<Vec<String>>,
    /// Similar questions (相似问法): how customers ask what the article answers.
    questions: Option<Vec<String>>,
    audience: Option<String>,
    translation_of: Option<Option<String>>,
}

impl ArticleBody {
    /// The draft this body makes of `base` (or of nothing, for a new article).
    fn draft(self, base: Option<&Article>) -> AppResult<ArticleDraft> {
        let need = |field: &'static str, v: Option<String>, old: Option<&String>| {
            v.or_else(|| old.cloned())
                .map(|s| s.trim().to_string())
                .ok_or_else(|| AppError::validation(field, format!("{field} is required")))
        };
        let audience = match self.audience.as_deref() {
            Some(a) => Audience::parse(a).ok_or_else(|| {
                AppError::validation("audience", "audience must be internal or public")
            })?,
            None => base.map(|a| a.audience).unwrap_or(Audience::Internal),
        };
        let d = ArticleDraft {
            slug: need("slug", self.slug, base.map(|a| &a.slug))?,
            lang: need("lang", self.lang, base.map(|a| &a.lang))?,
            category: need("category", self.category, base.map(|a| &a.category))?,
            title: need("title", self.title, base.map(|a| &a.title))?,
            body: need("body", self.body, base.map(|a| &a.body))?,
            tags: self
                .tags
                .map(|ts| ts.into_iter().map(|t| t.trim().to_string()).collect())
                .or_else(|| base.map(|a| a.tags.clone()))
                .unwrap_or_default(),
            questions: self
                .questions
                .map(|qs| qs.into_iter().map(|q| q.trim().to_string()).collect())
                .or_else(|| base.map(|a| a.questions.clone()))
                .unwrap_or_default(),
            audience,
            translation_of: match self.translation_of {
                Some(t) => t.filter(|s| !s.trim().is_empty()),
                None => base.and_then(|a| a.translation_of.clone()),
            },
        };
        d.validate()
            .map_err(|(field, message)| AppError::validation(field, message))?;
        Ok(d)
    }
}

async fn create_article(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(b): Json<ArticleBody>,
) -> AppResult<(StatusCode, axum::Json<Article>)> {
    let draft = b.draft(None)?;
    let mut tx = state.db.begin().await?;
    let origin = Origin {
        edited_by: Some(user.id),
        ..Origin::default()
    };
    let a = store::insert_article(&mut tx, &state.db, &draft, &origin).await?;
    crate::realtime::events::commit(tx).await?;
    refresh_index(&state.kb, vec![a.clone()]).await;
    Ok((StatusCode::CREATED, axum::Json(a)))
}

async fn update_article(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<ArticleBody>,
) -> AppResult<axum::Json<Article>> {
    let mut tx = state.db.begin().await?;
    let current = store::find_article(&mut *tx, id).await?;
    let draft = b.draft(Some(&current))?;
    let origin = Origin {
        edited_by: Some(user.id),
        ..Origin::default()
    };
    let a = store::update_article(&mut tx, &state.db, id, &draft, &origin, true).await?;
    crate::realtime::events::commit(tx).await?;
    refresh_index(&state.kb, vec![a.clone()]).await;
    Ok(axum::Json(a))
}

async fn retire_article(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Article>> {
    let mut tx = state.db.begin().await?;
    let a = store::update_retired(&mut tx, &state.db, id, true).await?;
    crate::realtime::events::commit(tx).await?;
    refresh_index(&state.kb, vec![a.clone()]).await;
    Ok(axum::Json(a))
}

async fn list_versions(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Vec<ArticleVersion>>> {
    store::find_article(&state.db.pool, id).await?;
    Ok(axum::Json(store::list_versions(&state.db, id).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct UsedBody {
    ticket_id: i64,
}

async fn record_used(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<UsedBody>,
) -> AppResult<StatusCode> {
    let article = store::find_article(&state.db.pool, id).await?;
    let ticket = visible_ticket(&state, &user, b.ticket_id).await?;
    store::insert_suggestion_uses(&state.db, ticket.id, &[id], user.id, "inserted").await?;
    // The customer's question on this ticket is proposed as a similar question of the article
    // (reviewed by an admin: `learn`).
    super::learn::propose(&state.db, &article, ticket.id, user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn record_answered(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
    Json(b): Json<UsedBody>,
) -> AppResult<StatusCode> {
    let article = store::find_article(&state.db.pool, id).await?;
    let ticket = visible_ticket(&state, &user, b.ticket_id).await?;
    super::learn::propose(&state.db, &article, ticket.id, user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The ticket `id` named in a body, when the user may see it (else a validation error: the
/// body names no ticket of theirs).
async fn visible_ticket(
    state: &AppState,
    user: &crate::auth::User,
    id: i64,
) -> AppResult<crate::tickets::Ticket> {
    let ticket = crate::tickets::store::find_ticket(&mut &state.db, id)
        .await
        .map_err(|_| AppError::validation("ticket_id", "ticket_id is not a ticket"))?;
    if !crate::tickets::routes::can_see(state, user, &ticket).await? {
        return Err(AppError::validation(
            "ticket_id",
            "ticket_id is not a ticket",
        ));
    }
    Ok(ticket)
}

#[derive(Serialize, schemars::JsonSchema)]
struct Suggestions {
    /// The text the suggestions were found for.
    text: String,
    hits: Vec<Hit>,
}

async fn ticket_suggestions(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Suggestions>> {
    let ticket = crate::tickets::store::find_ticket(&mut &state.db, id).await?;
    if !crate::tickets::routes::can_see(&state, &user, &ticket).await? {
        return Err(AppError::NotFound("ticket"));
    }
    let latest = crate::tickets::store::list_interactions(&state.db, id)
        .await?
        .into_iter()
        .rev()
        .find(|i| i.direction == crate::tickets::Direction::In);
    let text = match latest {
        Some(i) => format!("{}\n{}", ticket.subject, i.body),
        None => ticket.subject.clone(),
    };
    // The customer's language first, then the agent's.
    let customer_lang = match ticket.customer_id {
        Some(c) => crate::customers::store::find_customer(&state.db, c)
            .await
            .ok()
            .and_then(|c| c.language),
        None => None,
    };
    let kb = state.kb.clone();
    let query = text.clone();
    let agent_lang = user.locale.clone();
    let hits = tokio::task::spawn_blocking(move || {
        super::suggest_in_languages(
            &kb,
            &query,
            &[customer_lang.as_deref(), Some(agent_lang.as_str())],
        )
    })
    .await
    .map_err(AppError::internal)?
    .map_err(AppError::internal)?;
    let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
    store::insert_suggestion_uses(&state.db, id, &ids, user.id, "shown").await?;
    Ok(axum::Json(Suggestions { text, hits }))
}
