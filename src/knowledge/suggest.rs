//! Suggestions: the articles that best answer a piece of customer text (a ticket's subject and
//! latest message, or what the screen pop knows about a call). Pure: no database, no HTTP.

use super::{Hit, Kb, SearchQuery, tokenizer};

/// How much of a long message counts: the opening says what the problem is, and a bounded
/// query keeps suggestions within the search budget.
const MAX_CHARS: usize = 1000;

/// The top articles (internal and public) for `text`, in `lang` when given, else in the
/// language the text is written in, falling back to both languages when that finds nothing.
pub fn suggest_for_text(kb: &Kb, text: &str, lang: Option<&str>) -> anyhow::Result<Vec<Hit>> {
    let text: String = text.chars().take(MAX_CHARS).collect();
    let guessed = if tokenizer::has_cjk(&text) {
        "zh"
    } else {
        "en"
    };
    let mut q = SearchQuery {
        text,
        lang: Some(lang.unwrap_or(guessed).to_string()),
        limit: 5,
        plain: true,
        ..SearchQuery::default()
    };
    let hits = kb.search(&q)?;
    if !hits.is_empty() || lang.is_some() {
        return Ok(hits);
    }
    q.lang = None;
    kb.search(&q)
}
