//! How well search finds the answer to the customer's words: a set of questions written the
//! way customers ask (`tests/fixtures/kb-relevance-set.tsv`: colloquial, short, typos,
//! traditional characters, mixed scripts), each with the article that answers it, run against
//! the articles of a knowledge-base folder indexed in memory. Reports top-1, top-3 and MRR per
//! language and per kind of question. Used by `hotline bench kb-relevance` and by the test
//! that keeps a floor under the figures. No database, no HTTP.

use super::{Article, Kb, SearchQuery, import};
use std::collections::BTreeMap;
use std::path::Path;

/// Ranks counted for the mean reciprocal rank (an answer further down counts 0).
const DEPTH: usize = 10;

/// One question of the set.
#[derive(Clone, Debug)]
pub struct Case {
    pub lang: String,
    /// Slugs of the articles that answer it (usually one), best first.
    pub expected: Vec<String>,
    pub kind: String,
    pub question: String,
}

/// Parses the set: a header line `lang\texpected\tkind\tquestion`, then one question per
/// line; `#` lines are comments. `expected` may list several slugs separated by `|`.
pub fn parse_set(text: &str) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    match lines.next() {
        Some((_, h)) if h.trim_end() == "lang\texpected\tkind\tquestion" => {}
        _ => anyhow::bail!("the set must start with the header lang, expected, kind, question"),
    }
    for (i, line) in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let [lang, expected, kind, question] = f.as_slice() else {
            anyhow::bail!("line {}: 4 tab-separated fields expected", i + 1);
        };
        cases.push(Case {
            lang: lang.trim().to_string(),
            expected: expected.split('|').map(|s| s.trim().to_string()).collect(),
            kind: kind.trim().to_string(),
            question: question.trim().to_string(),
        });
    }
    Ok(cases)
}

/// The articles of a knowledge-base folder (as `hotline` imports them), numbered from 1.
pub fn load_articles(dir: &Path) -> anyhow::Result<Vec<Article>> {
    let mut out = Vec::new();
    for (i, rel) in import::article_files(dir)?.into_iter().enumerate() {
        let text = std::fs::read_to_string(dir.join(&rel))?;
        let d = import::parse_article(&rel, &text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", rel.display()))?;
        out.push(Article {
            id: i as i64 + 1,
            slug: d.slug,
            lang: d.lang,
            category: d.category,
            title: d.title,
            body: d.body,
            tags: d.tags,
            questions: d.questions,
            audience: d.audience,
            translation_of: d.translation_of,
            source_path: Some(rel.display().to_string()),
            source_hash: None,
            edited_in_app: false,
            retired: false,
            version: 1,
            created_at: 0,
            updated_at: 0,
        });
    }
    Ok(out)
}

/// Top-1, top-3 and MRR over a group of questions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub questions: usize,
    pub top1: usize,
    pub top3: usize,
    /// Sum of 1/rank of the first right answer (0 past rank 10).
    pub reciprocal_ranks: f64,
}

impl Figures {
    fn add(&mut self, rank: Option<usize>) {
        self.questions += 1;
        if let Some(r) = rank {
            self.top1 += usize::from(r == 1);
            self.top3 += usize::from(r <= 3);
            self.reciprocal_ranks += 1.0 / r as f64;
        }
    }
    pub fn top1_share(&self) -> f64 {
        self.top1 as f64 / self.questions.max(1) as f64
    }
    pub fn top3_share(&self) -> f64 {
        self.top3 as f64 / self.questions.max(1) as f64
    }
    pub fn mrr(&self) -> f64 {
        self.reciprocal_ranks / self.questions.max(1) as f64
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={:>4}  top-1 {:>5.1}%  top-3 {:>5.1}%  MRR {:.3}",
            self.questions,
            100.0 * self.top1_share(),
            100.0 * self.top3_share(),
            self.mrr()
        )
    }
}

/// A question whose answer was not in the top 3, with what came first instead.
#[derive(Clone, Debug)]
pub struct Miss {
    pub case: Case,
    pub rank: Option<usize>,
    pub found: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Per language.
    pub by_lang: BTreeMap<String, Figures>,
    /// Per (language, kind).
    pub by_kind: BTreeMap<(String, String), Figures>,
    pub misses: Vec<Miss>,
}

/// Runs every question as the agent's knowledge panel does (the customer's words as plain
/// text, in the customer's language, internal and public articles) and ranks the answer.
pub fn evaluate(kb: &Kb, cases: &[Case]) -> anyhow::Result<Report> {
    let mut report = Report::default();
    for c in cases {
        let hits = kb.search(&SearchQuery {
            text: c.question.clone(),
            lang: Some(c.lang.clone()),
            limit: DEPTH,
            plain: true,
            without_snippets: true,
            ..SearchQuery::default()
        })?;
        let found: Vec<String> = hits.into_iter().map(|h| h.slug).collect();
        let rank = found
            .iter()
            .position(|s| c.expected.contains(s))
            .map(|i| i + 1);
        report.by_lang.entry(c.lang.clone()).or_default().add(rank);
        report
            .by_kind
            .entry((c.lang.clone(), c.kind.clone()))
            .or_default()
            .add(rank);
        if rank.is_none_or(|r| r > 3) {
            report.misses.push(Miss {
                case: c.clone(),
                rank,
                found: found.into_iter().take(3).collect(),
            });
        }
    }
    Ok(report)
}

/// Indexes the folder's articles in memory and evaluates the set file against them;
/// `without_questions` leaves the articles' similar questions out (to see what they bring).
pub fn evaluate_files(
    kb_dir: &Path,
    set: &Path,
    without_questions: bool,
) -> anyhow::Result<Report> {
    let text = std::fs::read_to_string(set)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", set.display()))?;
    let cases = parse_set(&text)?;
    let mut articles = load_articles(kb_dir)?;
    if without_questions {
        articles.iter_mut().for_each(|a| a.questions.clear());
    }
    let kb = Kb::in_memory()?;
    kb.replace_all(&articles)?;
    evaluate(&kb, &cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_parses_with_its_header_comments_and_alternatives() {
        let cases = parse_set(
            "# comment\nlang\texpected\tkind\tquestion\nzh\ta|b\ttypo\t按装不了\n\nen\tc\tshort\tpwd reset\n",
        )
        .unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].expected, vec!["a", "b"]);
        assert_eq!(cases[1].question, "pwd reset");
        assert!(parse_set("zh\ta\tb\tc\n").is_err());
        assert!(parse_set("lang\texpected\tkind\tquestion\nzh\ta\tb\n").is_err());
    }

    #[test]
    fn figures_count_ranks() {
        let mut f = Figures::default();
        for r in [Some(1), Some(2), Some(4), None] {
            f.add(r);
        }
        assert_eq!((f.questions, f.top1, f.top3), (4, 1, 2));
        assert!((f.mrr() - (1.0 + 0.5 + 0.25) / 4.0).abs() < 1e-9);
    }
}
