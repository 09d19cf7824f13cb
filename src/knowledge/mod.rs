//! The knowledge base: articles (types and rules here), their search index (`index`), the
//! analysis of Chinese and English text (`tokenizer`), import from `knowledge-base/`, and
//! suggestions for a ticket. No SQL here (store.rs) and no HTTP (routes.rs).

pub mod import;
pub mod index;
pub mod learn;
pub mod markdown;
pub mod relevance;
pub mod routes;
pub mod store;
pub mod suggest;
pub mod sync;
pub mod tokenizer;

pub use index::{Hit, Kb, SearchQuery};
pub use suggest::{kb_lang, suggest_for_text, suggest_in_languages};

use serde::{Deserialize, Serialize};

pub const LANGS: &[&str] = &["zh", "en"];

/// Who may read an article: agents read both; customers on the portal read `public` only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Internal,
    Public,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Internal => "internal",
            Audience::Public => "public",
        }
    }
    pub fn parse(s: &str) -> Option<Audience> {
        match s {
            "internal" => Some(Audience::Internal),
            "public" => Some(Audience::Public),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Article {
    pub id: i64,
    pub slug: String,
    pub lang: String,
    pub category: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    pub tags: Vec<String>,
    /// Similar questions (相似问法): how customers ask what the article answers; searched
    /// like the title.
    pub questions: Vec<String>,
    pub audience: Audience,
    /// `lang/slug` of the article this one translates.
    pub translation_of: Option<String>,
    /// Path under the knowledge-base folder when the article came from a file.
    pub source_path: Option<String>,
    #[serde(skip)]
    pub source_hash: Option<String>,
    /// Edited in the console since the last import: imports keep such edits unless overwriting.
    pub edited_in_app: bool,
    pub retired: bool,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An article as shown: the stored fields and its Markdown rendered to sanitized HTML, the
/// customer-facing answer apart from the internal section (agents only).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ArticleView {
    #[serde(flatten)]
    pub article: Article,
    /// The customer-facing answer, rendered and sanitized.
    pub answer_html: String,
    /// The internal section (agent notes, checks, escalation), rendered and sanitized; never
    /// given to customers, absent when the article has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_html: Option<String>,
}

impl ArticleView {
    /// What an agent sees: everything.
    pub fn for_agents(article: Article) -> Self {
        let (answer, internal) = markdown::split(&article.body);
        ArticleView {
            answer_html: markdown::to_html(answer),
            internal_html: internal.map(markdown::to_html),
            article,
        }
    }

    /// What a customer sees: the answer only (the body too loses its internal section).
    pub fn for_customers(mut article: Article) -> Self {
        article.body = markdown::answer(&article.body).to_string();
        ArticleView {
            answer_html: markdown::to_html(&article.body),
            internal_html: None,
            article,
        }
    }
}

/// The customer-facing answer of an article as plain text, to insert into a reply.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct AnswerText {
    /// The article the text comes from: the translation in the wanted language when there is
    /// one, else the article asked for.
    pub article_id: i64,
    pub lang: String,
    pub title: String,
    pub text: String,
}

impl AnswerText {
    /// The answer of `a`; None for an internal article (never inserted into a customer reply).
    pub fn of(a: &Article) -> Option<AnswerText> {
        if a.audience != Audience::Public {
            return None;
        }
        Some(AnswerText {
            article_id: a.id,
            lang: a.lang.clone(),
            title: a.title.clone(),
            text: markdown::to_plain(markdown::answer(&a.body)),
        })
    }
}

/// The fields of an article as written (a file or an admin's form).
#[derive(Clone, Debug, PartialEq)]
pub struct ArticleDraft {
    pub slug: String,
    pub lang: String,
    pub category: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub questions: Vec<String>,
    pub audience: Audience,
    pub translation_of: Option<String>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ArticleVersion {
    pub article_id: i64,
    pub version: i64,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub edited_by: Option<i64>,
    pub created_at: i64,
}

/// Why a draft cannot be stored: (field, message).
pub type Invalid = (&'static str, String);

/// Synonym groups as an admin typed them: words trimmed, empty ones and duplicates dropped;
/// each group needs two words; at most 500 groups of at most 20 words of at most 50 characters.
pub fn clean_synonyms(groups: Vec<Vec<String>>) -> Result<Vec<Vec<String>>, Invalid> {
    if groups.len() > 500 {
        return Err(("groups", "at most 500 synonym groups".into()));
    }
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let mut words: Vec<String> = Vec::new();
        for w in g {
            let w = w.trim().to_string();
            if w.chars().count() > 50 || w.contains('\0') {
                return Err(("groups", "a synonym has at most 50 characters".into()));
            }
            if !w.is_empty() && !words.contains(&w) {
                words.push(w);
            }
        }
        if words.len() < 2 || words.len() > 20 {
            return Err(("groups", "each synonym group has 2 to 20 words".into()));
        }
        out.push(words);
    }
    Ok(out)
}

/// A slug or category: lower-case letters, digits and dashes (they become paths and URLs).
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
}

impl ArticleDraft {
    /// Checks the rules every article follows, wherever it comes from.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !valid_name(&self.slug) {
            return Err((
                "slug",
                "slug must be lower-case letters, digits and dashes".into(),
            ));
        }
        if !LANGS.contains(&self.lang.as_str()) {
            return Err(("lang", "lang must be zh or en".into()));
        }
        if !valid_name(&self.category) {
            return Err((
                "category",
                "category must be lower-case letters, digits and dashes".into(),
            ));
        }
        if self.title.trim().is_empty() || self.title.chars().count() > 200 {
            return Err(("title", "title must have 1 to 200 characters".into()));
        }
        if self.body.trim().is_empty() || self.body.len() > 200_000 {
            return Err(("body", "body must have 1 to 200000 bytes".into()));
        }
        if self.tags.len() > 30
            || self
                .tags
                .iter()
                .any(|t| t.trim().is_empty() || t.chars().count() > 50)
        {
            return Err(("tags", "tags: at most 30, each 1 to 50 characters".into()));
        }
        if self.questions.len() > 50
            || self
                .questions
                .iter()
                .any(|q| q.trim().is_empty() || q.chars().count() > 200 || q.contains('\0'))
        {
            return Err((
                "questions",
                "questions: at most 50, each 1 to 200 characters".into(),
            ));
        }
        if self.title.contains('\0') || self.body.contains('\0') {
            return Err(("body", "text must not contain NUL characters".into()));
        }
        Ok(())
    }
}
