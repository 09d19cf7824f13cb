//! Suggestions: the articles that best answer a piece of customer text (a ticket's subject and
//! latest message, or what the screen pop knows about a call). Pure: no database, no HTTP.

use super::{Hit, Kb, LANGS, SearchQuery, tokenizer};

/// How much of a long message counts: the opening says what the problem is, and a bounded
/// query keeps suggestions within the search budget.
const MAX_CHARS: usize = 1000;

/// The knowledge base's language for a language tag (`zh-CN` → `zh`, `en-US` → `en`).
pub fn kb_lang(tag: &str) -> Option<&'static str> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    LANGS.iter().copied().find(|l| *l == primary)
}

/// The top articles (internal and public) for `text`, in `lang` when given, else in the
/// language the text is written in; across languages only when that finds nothing.
pub fn suggest_for_text(kb: &Kb, text: &str, lang: Option<&str>) -> anyhow::Result<Vec<Hit>> {
    suggest_in_languages(kb, text, &[lang])
}

/// The top articles for `text` in the first of `prefer` (the customer's language, then the
/// agent's; unknown ones are None) that has any; a customer whose language is not known is
/// taken to speak the language of the text. Across languages only when none matches.
pub fn suggest_in_languages(
    kb: &Kb,
    text: &str,
    prefer: &[Option<&str>],
) -> anyhow::Result<Vec<Hit>> {
    let text: String = text.chars().take(MAX_CHARS).collect();
    let guessed = if tokenizer::has_cjk(&text) {
        "zh"
    } else {
        "en"
    };
    let mut order: Vec<&str> = Vec::new();
    for (i, l) in prefer.iter().enumerate() {
        let l = match l.and_then(kb_lang) {
            Some(l) => l,
            // The customer's language (the first) unknown: the text's.
            None if i == 0 => guessed,
            None => continue,
        };
        if !order.contains(&l) {
            order.push(l);
        }
    }
    if order.is_empty() {
        order.push(guessed);
    }
    let mut q = SearchQuery {
        text,
        limit: 5,
        plain: true,
        ..SearchQuery::default()
    };
    for l in order {
        q.lang = Some(l.to_string());
        let hits = kb.search(&q)?;
        if !hits.is_empty() {
            return Ok(hits);
        }
    }
    q.lang = None;
    kb.search(&q)
}
