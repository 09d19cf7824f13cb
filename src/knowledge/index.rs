//! The tantivy index of the live articles: schema, open-or-rebuild, updates, and search with
//! filters, audience, typo tolerance, phrases and highlighted snippets. Owns the files under
//! `data/kb-index`; the database stays the source of truth (a lost index is rebuilt from it).

use super::markdown;
use super::tokenizer::{self, ANALYZER};
use super::{Article, Audience};
use serde::Serialize;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{
    Bm25StatisticsProvider, BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery, Weight,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::store::Compressor;
use tantivy::{
    DocAddress, DocId, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Score,
    Searcher, SegmentReader, TantivyDocument, Term, doc, index::SegmentId,
};

/// Bump when the schema or the analysis changes: an index of another version is rebuilt.
pub const SCHEMA_VERSION: u32 = 3;
const VERSION_FILE: &str = "hotline-schema-version";
const WRITER_HEAP: usize = 32 * 1024 * 1024;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    slug: Field,
    lang: Field,
    category: Field,
    audience: Field,
    tag: Field,
    title: Field,
    tags_text: Field,
    /// The similar questions (相似问法): short, so a match weighs like one in the title.
    questions: Field,
    /// The customer-facing answer as plain text (Markdown removed).
    body: Field,
    /// The internal section as plain text: agents' searches only.
    internal: Field,
}

impl Fields {
    /// The text fields a search looks in; the internal section last (customers' searches
    /// leave it out).
    fn searched(&self) -> [Field; 5] {
        [
            self.title,
            self.questions,
            self.tags_text,
            self.body,
            self.internal,
        ]
    }
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |stored: bool| {
        let o = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        if stored { o.set_stored() } else { o }
    };
    let f = Fields {
        id: b.add_u64_field("id", INDEXED | STORED | FAST),
        slug: b.add_text_field("slug", STRING | STORED),
        // Fast columns: the filters check them for the documents the ranked union yields.
        lang: b.add_text_field("lang", STRING | STORED | FAST),
        category: b.add_text_field("category", STRING | STORED | FAST),
        audience: b.add_text_field("audience", STRING | STORED | FAST),
        tag: b.add_text_field("tag", STRING),
        title: b.add_text_field("title", text(true)),
        tags_text: b.add_text_field("tags_text", text(false)),
        questions: b.add_text_field("questions", text(false)),
        body: b.add_text_field("body", text(true)),
        internal: b.add_text_field("internal", text(true)),
    };
    (b.build(), f)
}

/// The stored fields are kept uncompressed: a search loads its 10 hits from the doc store, and
/// decompressing a 16 KiB block per hit (lz4, the default: mostly other articles' bodies) cost
/// ~20 µs, a fifth of a search at 100k articles. The index grows by what lz4 saved (~50 %).
fn settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::None,
        ..IndexSettings::default()
    }
}

/// One search: the words typed, and the filters.
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    pub text: String,
    /// `zh`, `en`, or None for both.
    pub lang: Option<String>,
    pub category: Option<String>,
    pub tag: Option<String>,
    /// Customers (the portal) see public articles only.
    pub public_only: bool,
    pub limit: usize,
    /// Treat quotes as ordinary characters (a ticket's text, not a typed query).
    pub plain: bool,
    /// Leave out snippets (the suggestion list does not show them; saves time).
    pub without_snippets: bool,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Hit {
    pub id: i64,
    pub slug: String,
    pub lang: String,
    pub category: String,
    pub audience: String,
    pub title: String,
    /// HTML: the matching fragment of the body, escaped, matches in `<b>`.
    pub snippet: String,
    pub score: f32,
}

/// The index and its one writer. Searches run concurrently with updates: a searcher sees the
/// last committed state until `reload` after the next commit.
pub struct Kb {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
    lexicon: RwLock<Lexicon>,
    /// Admins' synonyms: an analyzed word → the analyzed words of its group's other members.
    synonyms: RwLock<std::collections::HashMap<String, Vec<String>>>,
    /// The `events` seq up to which this index reflects every `kb.changed` (-1: unknown, an
    /// index that never recorded it). Written into each commit, so a node that restarts
    /// catches up from there.
    events_seq: AtomicI64,
    /// The current searcher's statistics (see `Stats`).
    stats: RwLock<Arc<Stats>>,
}

/// What BM25 needs of the whole index beside each term's document frequency, for one searcher
/// generation, and which searched fields hold any word at all. tantivy's own statistics add a
/// field's tokens over every segment again for each term of the query, and open a field that a
/// segment lacks anew each time (an empty term dictionary built and dropped per term and
/// segment): with five fields per word, that was a third of a search's time at 100k articles
/// (perf, BENCHMARKS.md). A field without any word (no article has an internal section, say)
/// is left out of the query.
#[derive(Default)]
struct Stats {
    generation: Option<u64>,
    docs: u64,
    /// Tokens of each searched text field that holds any.
    tokens: HashMap<Field, u64>,
}

impl Stats {
    fn of(searcher: &Searcher, fields: &[Field]) -> tantivy::Result<Stats> {
        let mut tokens = HashMap::new();
        for &field in fields {
            let n = searcher.total_num_tokens(field)?;
            if n > 0 {
                tokens.insert(field, n);
            }
        }
        Ok(Stats {
            generation: Some(searcher.generation().generation_id()),
            // As tantivy counts them (deleted documents included), so scores do not change.
            docs: Bm25StatisticsProvider::total_num_docs(searcher)?,
            tokens,
        })
    }

    fn has(&self, field: Field) -> bool {
        self.tokens.contains_key(&field)
    }

    /// The searched fields among `fields` that hold any word.
    fn present(&self, fields: &[Field]) -> Vec<Field> {
        fields.iter().copied().filter(|f| self.has(*f)).collect()
    }
}

/// The statistics a search scores with: the cached ones, each term's frequency from the index.
struct Statistics<'a> {
    stats: &'a Stats,
    searcher: &'a Searcher,
}

impl Bm25StatisticsProvider for Statistics<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        match self.stats.tokens.get(&field) {
            Some(n) => Ok(*n),
            // Not a searched text field (the tag filter): as tantivy counts it.
            None => self.searcher.total_num_tokens(field),
        }
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.stats.docs)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        self.searcher.doc_freq(term)
    }
}

/// The Latin words of the titles and bodies (as indexed: stemmed, lower case), the dictionary
/// that typos are corrected against. Segments are immutable, so each one is read once; words of
/// deleted articles may linger until the next full rebuild, and corrections are checked against
/// the index before use.
///
/// With them, the Chinese words of two to four ideographs (titles, similar questions, bodies)
/// by toneless pinyin spelling, the dictionary that homophone typos are corrected against.
#[derive(Default)]
struct Lexicon {
    words: HashSet<String>,
    /// Spelling (`anzhuang`) → the words spelt so (`安装`).
    pinyin: HashMap<String, Vec<String>>,
    segments: HashSet<SegmentId>,
}

/// Words shorter than this are not corrected (too many neighbours at one edit).
const TYPO_MIN_LEN: usize = 5;
/// A typo is replaced by at most this many known words (the most frequent first).
const TYPO_MAX_CORRECTIONS: usize = 3;

/// Opens the tantivy index in `dir` when its version file says `version`; otherwise (another
/// version, missing or damaged) empties the folder and creates one with `create`. Returns the
/// index and whether it was created (and must be filled). Shared by every on-disk index.
pub fn open_versioned(
    dir: &Path,
    version: u32,
    create: impl FnOnce(&Path) -> anyhow::Result<Index>,
) -> anyhow::Result<(Index, bool)> {
    std::fs::create_dir_all(dir)?;
    let version_path = dir.join(VERSION_FILE);
    let found = std::fs::read_to_string(&version_path).ok();
    if found.as_deref().map(str::trim) == Some(&version.to_string())
        && let Ok(index) = Index::open_in_dir(dir)
    {
        return Ok((index, false));
    }
    // Another version or a damaged index: start over from an empty folder.
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    let index = create(dir)?;
    std::fs::write(&version_path, version.to_string())?;
    Ok((index, true))
}

impl Kb {
    /// Opens the index in `dir`, or creates an empty one when it is missing, unreadable or of
    /// another schema version. Returns whether it must be filled from the database.
    pub fn open(dir: &Path) -> anyhow::Result<(Kb, bool)> {
        tokenizer::warm_up();
        let (schema, f) = schema();
        let (index, rebuild) = open_versioned(dir, SCHEMA_VERSION, |dir| {
            Ok(Index::builder()
                .schema(schema)
                .settings(settings())
                .create_in_dir(dir)?)
        })?;
        Ok((Self::with_index(index, f)?, rebuild))
    }

    /// An index in memory (tests, benchmarks).
    pub fn in_memory() -> anyhow::Result<Kb> {
        tokenizer::warm_up();
        let (schema, f) = schema();
        Self::with_index(
            Index::builder()
                .schema(schema)
                .settings(settings())
                .create_in_ram()?,
            f,
        )
    }

    fn with_index(index: Index, f: Fields) -> anyhow::Result<Kb> {
        index
            .tokenizers()
            .register(ANALYZER, tokenizer::analyzer(true));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let writer = index.writer(WRITER_HEAP)?;
        let events_seq = index
            .load_metas()?
            .payload
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(-1);
        let kb = Kb {
            reader,
            writer: Mutex::new(writer),
            f,
            lexicon: RwLock::new(Lexicon::default()),
            synonyms: RwLock::new(Default::default()),
            events_seq: AtomicI64::new(events_seq),
            stats: RwLock::new(Arc::new(Stats::default())),
        };
        kb.update_lexicon(false)?;
        Ok(kb)
    }

    fn document(&self, a: &Article) -> TantivyDocument {
        let f = self.f;
        let (answer, internal) = markdown::split(&a.body);
        let mut d = doc!(
            f.id => a.id as u64,
            f.slug => a.slug.clone(),
            f.lang => a.lang.clone(),
            f.category => a.category.clone(),
            f.audience => a.audience.as_str(),
            f.title => a.title.clone(),
            f.tags_text => a.tags.join(" "),
            f.questions => a.questions.join("\n"),
            f.body => markdown::to_line(answer),
            f.internal => internal.map(markdown::to_line).unwrap_or_default(),
        );
        for t in &a.tags {
            d.add_text(f.tag, tokenizer::fold(t.trim()));
        }
        d
    }

    /// The `events` seq up to which this index has applied the `kb.changed` events; None when
    /// it never recorded one (a new index, or one written before this was kept).
    pub fn events_seq(&self) -> Option<i64> {
        Some(self.events_seq.load(Ordering::SeqCst)).filter(|s| *s >= 0)
    }

    /// Records that the index reflects every `kb.changed` up to `seq` (stored with the next
    /// commit). Call it once the changes are applied, never before.
    pub fn set_events_seq(&self, seq: i64) {
        self.events_seq.fetch_max(seq, Ordering::SeqCst);
    }

    /// Commits with the events seq as the commit's payload.
    fn commit(&self, w: &mut IndexWriter) -> anyhow::Result<()> {
        let mut prepared = w.prepare_commit()?;
        if let Some(seq) = self.events_seq() {
            prepared.set_payload(&seq.to_string());
        }
        prepared.commit()?;
        Ok(())
    }

    /// Makes the last commit visible to searches and reads the Latin words of the segments
    /// not seen yet into the lexicon (all of them again when `rebuilt`).
    fn reload(&self, rebuilt: bool) -> anyhow::Result<()> {
        self.reader.reload()?;
        self.update_lexicon(rebuilt)
    }

    fn update_lexicon(&self, rebuilt: bool) -> anyhow::Result<()> {
        let searcher = self.reader.searcher();
        let known = {
            let lex = self.lexicon.read().unwrap_or_else(|p| p.into_inner());
            if rebuilt {
                HashSet::new()
            } else {
                lex.segments.clone()
            }
        };
        let mut words = Vec::new();
        let mut chinese = HashSet::new();
        let mut fresh = Vec::new();
        for seg in searcher.segment_readers() {
            if known.contains(&seg.segment_id()) {
                continue;
            }
            fresh.push(seg.segment_id());
            for field in [self.f.title, self.f.questions, self.f.body, self.f.internal] {
                let inverted = seg.inverted_index(field)?;
                let mut terms = inverted.terms().stream()?;
                while terms.advance() {
                    let k = terms.key();
                    if field != self.f.questions
                        && k.len() + 1 >= TYPO_MIN_LEN
                        && k.iter().all(u8::is_ascii_alphabetic)
                    {
                        // ASCII letters only, so the bytes are a valid string.
                        words.push(String::from_utf8_lossy(k).into_owned());
                    } else if (6..=12).contains(&k.len())
                        && let Ok(w) = std::str::from_utf8(k)
                        && (2..=4).contains(&w.chars().count())
                        && w.chars().all(tokenizer::is_cjk)
                    {
                        chinese.insert(w.to_string());
                    }
                }
            }
        }
        let mut lex = self.lexicon.write().unwrap_or_else(|p| p.into_inner());
        if rebuilt {
            *lex = Lexicon::default();
        }
        lex.segments.extend(fresh);
        lex.words.extend(words);
        for w in chinese {
            for spelling in tokenizer::pinyin_spellings(&w) {
                let spelt = lex.pinyin.entry(spelling).or_default();
                if !spelt.contains(&w) {
                    spelt.push(w.clone());
                }
            }
        }
        Ok(())
    }

    /// Replaces the given articles in the index (retired ones are removed) and drops `removed`,
    /// in one commit, then makes the change visible to searches.
    pub fn apply(&self, upserts: &[Article], removed: &[i64]) -> anyhow::Result<()> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for a in upserts {
            w.delete_term(Term::from_field_u64(self.f.id, a.id as u64));
            if !a.retired {
                w.add_document(self.document(a))?;
            }
        }
        for id in removed {
            w.delete_term(Term::from_field_u64(self.f.id, *id as u64));
        }
        self.commit(&mut w)?;
        drop(w);
        self.reload(false)
    }

    /// Empties the index and fills it with `articles` (the live set from the database).
    pub fn replace_all(&self, articles: &[Article]) -> anyhow::Result<()> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.delete_all_documents()?;
        for a in articles.iter().filter(|a| !a.retired) {
            w.add_document(self.document(a))?;
        }
        self.commit(&mut w)?;
        drop(w);
        self.reload(true)?;
        self.compact()
    }

    /// Adds many articles without committing per article (the benchmark's bulk load).
    pub fn add_bulk(&self, articles: impl IntoIterator<Item = Article>) -> anyhow::Result<()> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for a in articles {
            w.add_document(self.document(&a))?;
        }
        self.commit(&mut w)?;
        drop(w);
        self.reload(false)
    }

    /// Merges every segment into one and makes it visible, after a bulk load. A search looks
    /// each term up in every segment: at 100k articles in 10 segments that lookup was most of
    /// a 3-word search's time (perf). tantivy's merge policy merges in the background, but
    /// searches see a merge only at the next reload, and it leaves segments of unlike sizes
    /// apart. A background merge of some of the same segments may end first: then this one is
    /// dropped by tantivy and tried again over what is left.
    pub fn compact(&self) -> anyhow::Result<()> {
        for _ in 0..3 {
            let ids = self.reader.searcher().index().searchable_segment_ids()?;
            if ids.len() < 2 {
                break;
            }
            let merged = {
                let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
                w.merge(&ids)
            };
            let done = merged.wait();
            self.reload(true)?;
            if let Err(e) = done {
                tracing::debug!(error = %e, "knowledge index merge overtaken; trying again");
            }
        }
        Ok(())
    }

    /// Replaces the synonym groups applied to queries: a word of a group also finds the
    /// others (each analyzed as the index analyzes text, so 退錢 and refunds count too).
    pub fn set_synonyms(&self, groups: &[Vec<String>]) {
        let mut map: std::collections::HashMap<String, Vec<String>> = Default::default();
        for g in groups {
            let analyzed: Vec<Vec<String>> = g
                .iter()
                .map(|w| {
                    tokenizer::terms(w, false)
                        .into_iter()
                        .map(|(_, t)| t)
                        .collect()
                })
                .collect();
            for (i, own) in analyzed.iter().enumerate() {
                // A word that is one term is looked up; its synonyms may be several terms.
                let [key] = own.as_slice() else { continue };
                let entry = map.entry(key.clone()).or_default();
                for (j, other) in analyzed.iter().enumerate() {
                    if i != j {
                        entry.extend(other.iter().filter(|t| *t != key).cloned());
                    }
                }
                entry.sort_unstable();
                entry.dedup();
            }
        }
        *self.synonyms.write().unwrap_or_else(|p| p.into_inner()) = map;
    }

    /// Number of articles searchable now.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `searcher`'s statistics, computed once per generation of the index.
    fn stats(&self, searcher: &Searcher) -> tantivy::Result<Arc<Stats>> {
        let generation = Some(searcher.generation().generation_id());
        {
            let cached = self.stats.read().unwrap_or_else(|p| p.into_inner());
            if cached.generation == generation {
                return Ok(cached.clone());
            }
        }
        let fresh = Arc::new(Stats::of(searcher, &self.f.searched())?);
        *self.stats.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// The known words one edit (insertion, deletion, substitution or swap of neighbours) away
    /// from `word`, most frequent first, that some article still contains.
    fn corrections(
        &self,
        searcher: &Searcher,
        stats: &Stats,
        word: &str,
    ) -> anyhow::Result<Vec<String>> {
        let found: Vec<String> = {
            let lex = self.lexicon.read().unwrap_or_else(|p| p.into_inner());
            let mut found: Vec<String> = one_edit_away(word)
                .filter(|w| lex.words.contains(w.as_str()))
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        };
        most_frequent(
            searcher,
            &stats.present(&[self.f.title, self.f.body]),
            found,
        )
    }

    /// The words of the index spelt like `fragment` in pinyin (a homophone typo: 按装 → 安装),
    /// most frequent first, when `fragment` itself is no word of the index. Searched beside the
    /// words typed, so articles with the words as typed still count.
    fn homophones(
        &self,
        searcher: &Searcher,
        stats: &Stats,
        fragment: &str,
    ) -> anyhow::Result<Vec<String>> {
        let fields = stats.present(&[self.f.title, self.f.questions, self.f.body]);
        let spelt: Vec<String> = {
            let lex = self.lexicon.read().unwrap_or_else(|p| p.into_inner());
            let mut spelt: Vec<String> = tokenizer::pinyin_spellings(fragment)
                .iter()
                .filter_map(|s| lex.pinyin.get(s))
                .flatten()
                .filter(|w| *w != fragment)
                .cloned()
                .collect();
            spelt.sort_unstable();
            spelt.dedup();
            spelt
        };
        if spelt.is_empty() || doc_freq(searcher, &fields, fragment)? > 0 {
            return Ok(Vec::new());
        }
        most_frequent(searcher, &fields, spelt)
    }

    /// The query for the words of `text`: each word in the title, tags, answer or (agents
    /// only) internal section; the title counts most; a Latin word of 5+ letters that the
    /// index does not know stands for the known words one typo away. `"quoted words"` in a
    /// question with other words rank articles with that phrase first (a boost); a query that
    /// is only quoted phrases must match them (a filter).
    /// Also returns the terms to highlight.
    fn text_query(
        &self,
        searcher: &Searcher,
        stats: &Stats,
        q: &SearchQuery,
    ) -> anyhow::Result<(Option<Box<dyn Query>>, Highlight)> {
        let f = self.f;
        let (phrases, rest) = if q.plain {
            (Vec::new(), q.text.clone())
        } else {
            split_phrases(&q.text)
        };
        let all = f.searched();
        let fields = stats.present(&all[..if q.public_only { 4 } else { 5 }]);
        let phrase_only = !phrases.is_empty() && tokenizer::terms(&rest, true).is_empty();
        // In a natural question the quoted words count as words too.
        let words_text = if phrase_only {
            rest.clone()
        } else {
            let mut t = rest.clone();
            for p in &phrases {
                t.push(' ');
                t.push_str(p);
            }
            t
        };
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut seen = HashSet::new();
        // Typo corrections: the word typed → the words it stands for.
        let mut corrected: std::collections::HashMap<String, Vec<String>> = Default::default();
        let mut analyzed = tokenizer::terms(&words_text, true);
        // Admins' synonyms: each word also stands for the other words of its group.
        {
            let synonyms = self.synonyms.read().unwrap_or_else(|p| p.into_inner());
            if !synonyms.is_empty() {
                let extra: Vec<(usize, String)> = analyzed
                    .iter()
                    .filter_map(|(p, t)| synonyms.get(t).map(|s| (*p, s)))
                    .flat_map(|(p, s)| s.iter().map(move |w| (p, w.clone())))
                    .collect();
                analyzed.extend(extra);
            }
        }
        for (_, term) in &analyzed {
            let term = term.clone();
            if !seen.insert(term.clone()) {
                continue;
            }
            let mut words = vec![term.clone()];
            if tokenizer::is_latin_word(&term) && term.len() >= TYPO_MIN_LEN {
                let known = [f.body, f.title, f.internal];
                let known_in = stats.present(&known[..if q.public_only { 2 } else { 3 }]);
                if doc_freq(searcher, &known_in, &term)? == 0 {
                    let fixed = self.corrections(searcher, stats, &term)?;
                    seen.extend(fixed.iter().cloned());
                    corrected.insert(term.clone(), fixed.clone());
                    words = fixed;
                }
            }
            // Plain term queries only (no BoostQuery, no fuzzy automaton): tantivy prunes
            // (block-max WAND) only a union of term queries, ~40x faster on common words.
            // The title still weighs most: BM25 scores a match in a short field higher.
            for w in &words {
                for field in &fields {
                    let t = Term::from_field_text(*field, w);
                    should.push((
                        Occur::Should,
                        Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs)),
                    ));
                }
            }
        }
        // Chinese homophone typos: a part of the question that is no word of the index also
        // stands for the words spelt like it in pinyin.
        let mut homophones = Vec::new();
        if tokenizer::has_cjk(&words_text) {
            for fragment in tokenizer::typo_candidates(&words_text) {
                let fixed = self.homophones(searcher, stats, &fragment)?;
                for w in &fixed {
                    if !seen.insert(w.clone()) {
                        continue;
                    }
                    for field in &fields {
                        should.push((
                            Occur::Should,
                            Box::new(TermQuery::new(
                                Term::from_field_text(*field, w),
                                IndexRecordOption::WithFreqs,
                            )),
                        ));
                    }
                }
                homophones.extend(fixed);
            }
        }
        let mut highlight: Highlight = HashSet::new();
        for phrase in &phrases {
            let words = tokenizer::terms(phrase, false);
            if words.is_empty() {
                continue;
            }
            let first = words[0].0;
            highlight.extend(words.iter().map(|(_, w)| w.clone()));
            seen.extend(words.iter().map(|(_, w)| w.clone()));
            let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (field, boost) in [
                (f.title, 3.0),
                (f.questions, 3.0),
                (f.tags_text, 1.0),
                (f.body, 1.0),
                (f.internal, 1.0),
            ] {
                if !fields.contains(&field) {
                    continue;
                }
                let q: Box<dyn Query> = if words.len() == 1 {
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, &words[0].1),
                        IndexRecordOption::WithFreqs,
                    ))
                } else {
                    Box::new(PhraseQuery::new_with_offset(
                        words
                            .iter()
                            .map(|(p, w)| (p - first, Term::from_field_text(field, w)))
                            .collect(),
                    ))
                };
                alternatives.push((Occur::Should, Box::new(BoostQuery::new(q, boost))));
            }
            let phrase_query: Box<dyn Query> = Box::new(BooleanQuery::new(alternatives));
            if phrase_only {
                must.push((Occur::Must, phrase_query));
            } else {
                // The phrase lifts the articles that have it above those with its words apart.
                should.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(phrase_query, PHRASE_BOOST)),
                ));
            }
        }
        highlight.extend(highlight_terms(&analyzed, &corrected));
        highlight.extend(homophones);
        if should.is_empty() && must.is_empty() {
            return Ok((None, highlight));
        }
        if must.is_empty() {
            // Words only: a plain union, which tantivy scores with block-max pruning.
            return Ok((Some(Box::new(BooleanQuery::new(should))), highlight));
        }
        if !should.is_empty() {
            must.push((Occur::Must, Box::new(BooleanQuery::new(should))));
        }
        Ok((Some(Box::new(BooleanQuery::new(must))), highlight))
    }

    /// Finds the best articles for `q`, best first. An empty query finds nothing.
    pub fn search(&self, q: &SearchQuery) -> anyhow::Result<Vec<Hit>> {
        let f = self.f;
        let searcher = self.reader.searcher();
        let stats = self.stats(&searcher)?;
        let (Some(text), terms) = self.text_query(&searcher, &stats, q)? else {
            return Ok(Vec::new());
        };
        // Language, category and audience are checked on the documents the ranked query
        // yields (fast columns), so the query stays a union that tantivy prunes; intersecting
        // their postings with it would score every match. A tag is rarer: it intersects.
        let mut filters = Vec::new();
        if let Some(l) = &q.lang {
            filters.push(("lang", l.clone()));
        }
        if let Some(c) = &q.category {
            filters.push(("category", c.clone()));
        }
        if q.public_only {
            filters.push(("audience", Audience::Public.as_str().to_string()));
        }
        let query: Box<dyn Query> = match &q.tag {
            None => text,
            Some(t) => Box::new(BooleanQuery::new(vec![
                (
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_text(f.tag, &tokenizer::fold(t.trim())),
                        IndexRecordOption::Basic,
                    )) as Box<dyn Query>,
                ),
                (Occur::Must, text),
            ])),
        };
        let top = searcher.search_with_statistics_provider(
            &*query,
            &TopFiltered {
                limit: q.limit.clamp(1, 100),
                filters,
            },
            &Statistics {
                stats: &stats,
                searcher: &searcher,
            },
        )?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr)?;
            let text = |field: Field| {
                d.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let snippet = if q.without_snippets {
                String::new()
            } else {
                // The answer's passage; for agents, the internal section's when only it matches.
                let body = text(f.body);
                let internal = if q.public_only {
                    String::new()
                } else {
                    text(f.internal)
                };
                let from_internal = body.is_empty()
                    || (!internal.is_empty()
                        && match_ranges(&body, &terms).is_empty()
                        && !match_ranges(&internal, &terms).is_empty());
                if from_internal {
                    snippet(&internal, &terms, SNIPPET_CHARS)
                } else {
                    snippet(&body, &terms, SNIPPET_CHARS)
                }
            };
            hits.push(Hit {
                id: d
                    .get_first(f.id)
                    .and_then(|v| v.as_u64())
                    .unwrap_or_default() as i64,
                slug: text(f.slug),
                lang: text(f.lang),
                category: text(f.category),
                audience: text(f.audience),
                title: text(f.title),
                snippet,
                score,
            });
        }
        Ok(hits)
    }
}

/// How many articles have `word` in `fields` (counted per field).
fn doc_freq(searcher: &tantivy::Searcher, fields: &[Field], word: &str) -> anyhow::Result<u64> {
    let mut n = 0;
    for field in fields {
        n += searcher.doc_freq(&Term::from_field_text(*field, word))?;
    }
    Ok(n)
}

/// The `words` that some article has in `fields`, most frequent first, at most
/// `TYPO_MAX_CORRECTIONS` (what a typo or a homophone stands for).
fn most_frequent(
    searcher: &tantivy::Searcher,
    fields: &[Field],
    words: Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let mut ranked = Vec::with_capacity(words.len());
    for w in words {
        let n = doc_freq(searcher, fields, &w)?;
        if n > 0 {
            ranked.push((std::cmp::Reverse(n), w));
        }
    }
    ranked.sort_unstable();
    Ok(ranked
        .into_iter()
        .take(TYPO_MAX_CORRECTIONS)
        .map(|(_, w)| w)
        .collect())
}

/// Every string one edit away from an ASCII-lowercase `word`: deletions, swaps of neighbours,
/// substitutions and insertions of a-z (about 54 per letter; duplicates possible).
fn one_edit_away(word: &str) -> impl Iterator<Item = String> + '_ {
    let b = word.as_bytes();
    let n = b.len();
    let with = move |f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = b.to_vec();
        f(&mut v);
        // The input is ASCII and so are the edits.
        String::from_utf8(v).unwrap_or_default()
    };
    let deletions = (0..n).map(move |i| {
        with(&|v| {
            v.remove(i);
        })
    });
    let swaps = (1..n).map(move |i| with(&|v| v.swap(i - 1, i)));
    let substitutions = (0..n)
        .flat_map(move |i| {
            (b'a'..=b'z')
                .filter(move |&c| c != b[i])
                .map(move |c| (i, c))
        })
        .map(move |(i, c)| with(&|v| v[i] = c));
    let insertions = (0..=n)
        .flat_map(|i| (b'a'..=b'z').map(move |c| (i, c)))
        .map(move |(i, c)| with(&|v| v.insert(i, c)));
    deletions
        .chain(swaps)
        .chain(substitutions)
        .chain(insertions)
}

/// The top `limit` documents by score among those whose fast columns hold the wanted values,
/// keeping block-max pruning: the threshold rises only with documents that pass.
struct TopFiltered {
    limit: usize,
    /// (fast column, wanted value)
    filters: Vec<(&'static str, String)>,
}

struct TopFilteredSegment {
    segment_ord: u32,
    limit: usize,
    /// (column of term ordinals, the wanted ordinal); None: no document here can pass.
    filters: Option<Vec<(Column<u64>, u64)>>,
    heap: BinaryHeap<std::cmp::Reverse<Ranked>>,
}

/// Higher score first; equal scores: lower doc first.
#[derive(PartialEq)]
struct Ranked(Score, DocId);

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .total_cmp(&other.0)
            .then_with(|| other.1.cmp(&self.1))
    }
}

impl TopFilteredSegment {
    fn passes(&self, doc: DocId) -> bool {
        match &self.filters {
            None => false,
            Some(filters) => filters
                .iter()
                .all(|(col, want)| col.first(doc) == Some(*want)),
        }
    }

    /// The score a document must beat to enter the top (Score::MIN until it is full).
    fn threshold(&self) -> Score {
        if self.heap.len() < self.limit {
            Score::MIN
        } else {
            self.heap.peek().map_or(Score::MIN, |r| r.0.0)
        }
    }
}

impl SegmentCollector for TopFilteredSegment {
    type Fruit = Vec<(Score, DocAddress)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if !self.passes(doc) {
            return;
        }
        if self.heap.len() < self.limit {
            self.heap.push(std::cmp::Reverse(Ranked(score, doc)));
        } else if score > self.threshold() {
            self.heap.pop();
            self.heap.push(std::cmp::Reverse(Ranked(score, doc)));
        }
    }

    fn harvest(self) -> Self::Fruit {
        let seg = self.segment_ord;
        self.heap
            .into_iter()
            .map(|std::cmp::Reverse(Ranked(score, doc))| (score, DocAddress::new(seg, doc)))
            .collect()
    }
}

impl Collector for TopFiltered {
    type Fruit = Vec<(Score, DocAddress)>;
    type Child = TopFilteredSegment;

    fn for_segment(
        &self,
        segment_ord: u32,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let mut filters = Some(Vec::with_capacity(self.filters.len()));
        for (name, want) in &self.filters {
            let ord = match reader.fast_fields().str(name)? {
                Some(col) => col
                    .dictionary()
                    .term_ord(want.as_bytes())?
                    .map(|ord| (col.ords().clone(), ord)),
                None => None,
            };
            match (ord, filters.as_mut()) {
                (Some(f), Some(list)) => list.push(f),
                _ => filters = None,
            }
        }
        Ok(TopFilteredSegment {
            segment_ord,
            limit: self.limit,
            filters,
            heap: BinaryHeap::with_capacity(self.limit + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        let mut all: Vec<(Score, DocAddress)> = fruits.into_iter().flatten().collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        all.truncate(self.limit);
        Ok(all)
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment_ord: u32,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Fruit> {
        let mut seg = self.for_segment(segment_ord, reader)?;
        if seg.filters.is_none() {
            return Ok(Vec::new());
        }
        let alive = reader.alive_bitset();
        weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                seg.collect(doc, score);
            }
            seg.threshold()
        })?;
        Ok(seg.harvest())
    }
}

/// Splits `"quoted phrases"` (ASCII or Chinese quotes) from the other words.
fn split_phrases(text: &str) -> (Vec<String>, String) {
    let mut phrases = Vec::new();
    let mut rest = String::new();
    let mut current: Option<String> = None;
    for c in text.chars() {
        let is_open = matches!(c, '"' | '“' | '「');
        let is_close = matches!(c, '"' | '”' | '」');
        match current.as_mut() {
            Some(p) if is_close => {
                phrases.push(std::mem::take(p));
                current = None;
            }
            Some(p) => p.push(c),
            None if is_open => current = Some(String::new()),
            None => rest.push(c),
        }
    }
    if let Some(p) = current {
        // An unclosed quote: its words count as ordinary words.
        rest.push(' ');
        rest.push_str(&p);
    }
    (
        phrases
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .collect(),
        rest,
    )
}

/// The analyzed query terms a snippet highlights.
type Highlight = HashSet<String>;

/// How much a quoted phrase found as a phrase adds, relative to its words found apart.
const PHRASE_BOOST: f32 = 2.0;

/// The words of the query a snippet highlights: the query's words as typed (whole words, and
/// the several-character parts search mode finds in them), with typos replaced by their
/// corrections. Single ideographs that search mode or the HMM split off ("到", "后") are left
/// out unless the query has nothing else: they occur all over Chinese text.
fn highlight_terms(
    analyzed: &[(usize, String)],
    corrected: &std::collections::HashMap<String, Vec<String>>,
) -> Highlight {
    let single_ideograph = |t: &str| {
        let mut cs = t.chars();
        matches!((cs.next(), cs.next()), (Some(c), None) if tokenizer::is_cjk(c))
    };
    let mut all: Vec<String> = Vec::new();
    for (_, t) in analyzed {
        match corrected.get(t) {
            Some(fixed) => all.extend(fixed.iter().cloned()),
            None => all.push(t.clone()),
        }
    }
    let wide: Highlight = all
        .iter()
        .filter(|t| !single_ideograph(t))
        .cloned()
        .collect();
    if wide.is_empty() {
        all.into_iter().collect()
    } else {
        wide
    }
}

const SNIPPET_CHARS: usize = 160;
/// Characters of context a snippet shows before its first match, at most.
const SNIPPET_CONTEXT: usize = 20;

/// Where the query `terms` occur in `text`, as byte ranges of the original text, found without
/// running jieba over the text again (that cost ~40 µs per article, most of a search with
/// snippets): a Chinese term (or any term that is not one Latin word) is found wherever it
/// occurs in the folded text; a Latin word is found where a word of the text stems to it.
fn match_ranges(text: &str, terms: &HashSet<String>) -> Vec<std::ops::Range<usize>> {
    // The folded text, and for each of its bytes the offset in the original text.
    let mut folded = String::with_capacity(text.len());
    let mut orig = Vec::with_capacity(text.len() + 1);
    for ((i, _), f) in text.char_indices().zip(tokenizer::fold_chars(text)) {
        orig.extend(std::iter::repeat_n(i, f.len_utf8()));
        folded.push(f);
    }
    orig.push(text.len());
    let is_word = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric());
    let mut ranges = Vec::new();
    for t in terms.iter().filter(|t| !t.is_empty() && !is_word(t)) {
        for (i, m) in folded.match_indices(t.as_str()) {
            ranges.push(orig[i]..orig[i + m.len()]);
        }
    }
    // Stemming changes only the end of a word: a word can stem to a term only if it starts
    // with the term's first letters, so only those words are stemmed.
    let words: Vec<&str> = terms
        .iter()
        .map(String::as_str)
        .filter(|t| is_word(t))
        .collect();
    if !words.is_empty() {
        let mut stem = tokenizer::stemmer();
        let bytes = folded.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if !bytes[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let w = &folded[start..i];
            let maybe = words
                .iter()
                .any(|t| w.starts_with(&t[..t.len().saturating_sub(1).max(1)]));
            if maybe && terms.contains(&stem(w)) {
                ranges.push(orig[start]..orig[i]);
            }
        }
    }
    ranges
}

/// The passage of `text` (at most `max_chars` characters) with the most query terms, HTML
/// escaped, matches in `<b>`. Our own rather than tantivy's generator: search mode's
/// overlapping parts ("密码" inside "忘记密码") break its assumption of disjoint tokens.
fn snippet(text: &str, terms: &HashSet<String>, max_chars: usize) -> String {
    let mut ranges = match_ranges(text, terms);
    ranges.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut merged: Vec<std::ops::Range<usize>> = Vec::new();
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start < last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    let end_after = |start: usize, chars: usize| {
        text[start..]
            .char_indices()
            .nth(chars)
            .map(|(i, _)| start + i)
            .unwrap_or(text.len())
    };
    let is_word_char = |c: char| c.is_alphanumeric() && !tokenizer::is_cjk(c);
    // Inside a word (Latin, digits): the characters on both sides of `at` are word characters.
    let inside_word = |at: usize| {
        at > 0
            && at < text.len()
            && text[..at].chars().next_back().is_some_and(is_word_char)
            && text[at..].chars().next().is_some_and(is_word_char)
    };
    // The window starting at the match that has the most matches after it within reach.
    let best = (0..merged.len()).max_by_key(|&i| {
        let end = end_after(merged[i].start, max_chars);
        let n = merged[i..].iter().take_while(|r| r.end <= end).count();
        (n, std::cmp::Reverse(i))
    });
    let short = text.chars().count() <= max_chars;
    let start = match best {
        // A short text is shown from its start.
        _ if short => 0,
        // A little context before the first match: from the sentence it is in when that
        // starts close enough, else from a word boundary.
        Some(i) => {
            let m = merged[i].start;
            let before: Vec<(usize, char)> = text[..m].char_indices().collect();
            let mut s = before
                .len()
                .checked_sub(SNIPPET_CONTEXT)
                .map(|k| before[k].0)
                .unwrap_or(0);
            if let Some(&(b, c)) = before[before.len().saturating_sub(SNIPPET_CONTEXT)..]
                .iter()
                .rev()
                .find(|(_, c)| matches!(c, '。' | '！' | '？' | '.' | '!' | '?' | '；' | ';'))
            {
                s = b + c.len_utf8();
            }
            while inside_word(s) {
                s += text[s..].chars().next().map_or(1, char::len_utf8);
            }
            while text[s..].starts_with(char::is_whitespace) {
                s += text[s..].chars().next().map_or(1, char::len_utf8);
            }
            // So close to the beginning that the beginning reads better.
            if text[..s].chars().count() <= SNIPPET_CONTEXT / 2 {
                0
            } else {
                s.min(m)
            }
        }
        None => 0,
    };
    let mut end = end_after(start, max_chars);
    // Not in the middle of a word: back to the word's start (unless the word is the window).
    let mut e = end;
    while inside_word(e) {
        e -= text[..e].chars().next_back().map_or(1, char::len_utf8);
    }
    if e > start {
        end = e;
    }
    while end > start && text[..end].ends_with(char::is_whitespace) {
        end -= text[..end].chars().next_back().map_or(1, char::len_utf8);
    }
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut at = start;
    for r in merged.iter().filter(|r| r.start >= start && r.end <= end) {
        out.push_str(&html_escape(&text[at..r.start]));
        out.push_str("<b>");
        out.push_str(&html_escape(&text[r.start..r.end]));
        out.push_str("</b>");
        at = r.end;
    }
    out.push_str(&html_escape(&text[at..end]));
    if end < text.len() {
        out.push('…');
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: i64, lang: &str, title: &str, body: &str, audience: Audience) -> Article {
        Article {
            id,
            slug: format!("a-{id}"),
            lang: lang.into(),
            category: "account".into(),
            title: title.into(),
            body: body.into(),
            tags: vec!["密碼".into()],
            questions: vec![],
            audience,
            translation_of: None,
            source_path: None,
            source_hash: None,
            edited_in_app: false,
            retired: false,
            version: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn search(kb: &Kb, text: &str) -> Vec<i64> {
        kb.search(&SearchQuery {
            text: text.into(),
            limit: 5,
            ..SearchQuery::default()
        })
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
    }

    #[test]
    fn finds_updates_and_forgets() {
        let kb = Kb::in_memory().unwrap();
        kb.apply(
            &[
                article(
                    1,
                    "zh",
                    "忘记密码怎么办",
                    "在登录页点击忘记密码，用手机验证码重置。",
                    Audience::Public,
                ),
                article(
                    2,
                    "en",
                    "Reset your password",
                    "Open the app and tap Forgot password to reset it.",
                    Audience::Internal,
                ),
                article(
                    3,
                    "en",
                    "Refund timelines",
                    "Refunds reach your card within 3 to 7 business days.",
                    Audience::Public,
                ),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(search(&kb, "密碼")[0], 1);
        assert_eq!(search(&kb, "resetting passwords")[0], 2);
        assert_eq!(search(&kb, "my refnud")[0], 3);
        assert_eq!(search(&kb, "\"business days\""), vec![3]);
        assert!(search(&kb, "\"days business\"").is_empty());
        let public = kb
            .search(&SearchQuery {
                text: "password".into(),
                public_only: true,
                limit: 5,
                ..SearchQuery::default()
            })
            .unwrap();
        assert!(public.iter().all(|h| h.id != 2));
        let mut retired = article(3, "en", "Refund timelines", "gone", Audience::Public);
        retired.retired = true;
        kb.apply(&[retired], &[]).unwrap();
        assert!(search(&kb, "refund").is_empty());
        assert_eq!(kb.len(), 2);
    }

    #[test]
    fn filters_give_the_best_matching_articles_as_a_full_ranking_would() {
        let kb = Kb::in_memory().unwrap();
        let words = [
            "refund", "card", "delivery", "password", "battery", "invoice",
        ];
        let articles: Vec<Article> = (1..=60)
            .map(|i| {
                let lang = if i % 2 == 0 { "en" } else { "zh" };
                let body: Vec<&str> = (0..(i % 7 + 1)).map(|k| words[(i + k) % 6]).collect();
                let mut a = article(
                    i as i64,
                    lang,
                    words[i % 6],
                    &body.join(" "),
                    if i % 3 == 0 {
                        Audience::Internal
                    } else {
                        Audience::Public
                    },
                );
                a.category = ["billing", "delivery"][(i / 2) % 2].into();
                a
            })
            .collect();
        // Several segments, some with deletions.
        for chunk in articles.chunks(20) {
            kb.apply(chunk, &[]).unwrap();
        }
        kb.apply(&[], &[4, 5, 6]).unwrap();
        let by_id: std::collections::HashMap<i64, &Article> =
            articles.iter().map(|a| (a.id, a)).collect();
        let run = |q: SearchQuery| kb.search(&q).unwrap();
        for text in ["refund card", "delivery", "password battery invoice"] {
            let all = run(SearchQuery {
                text: text.into(),
                limit: 100,
                without_snippets: true,
                ..SearchQuery::default()
            });
            assert!(all.iter().all(|h| ![4, 5, 6].contains(&h.id)));
            let cases: [(Option<&str>, Option<&str>, bool); 4] = [
                (Some("en"), None, false),
                (Some("zh"), None, true),
                (None, Some("billing"), false),
                (Some("en"), Some("delivery"), true),
            ];
            for (lang, category, public_only) in cases {
                let want: Vec<i64> = all
                    .iter()
                    .filter(|h| {
                        let a = by_id[&h.id];
                        lang.is_none_or(|l| a.lang == l)
                            && category.is_none_or(|c| a.category == c)
                            && (!public_only || a.audience == Audience::Public)
                    })
                    .map(|h| h.id)
                    .take(5)
                    .collect();
                assert!(!want.is_empty(), "{text} {lang:?} {category:?}");
                let got: Vec<i64> = run(SearchQuery {
                    text: text.into(),
                    lang: lang.map(String::from),
                    category: category.map(String::from),
                    public_only,
                    limit: 5,
                    without_snippets: true,
                    ..SearchQuery::default()
                })
                .iter()
                .map(|h| h.id)
                .collect();
                assert_eq!(got, want, "{text} {lang:?} {category:?} {public_only}");
            }
        }
        // A value no article has finds nothing (and is no error).
        assert!(
            run(SearchQuery {
                text: "refund".into(),
                category: Some("nowhere".into()),
                limit: 5,
                ..SearchQuery::default()
            })
            .is_empty()
        );
    }

    #[test]
    fn compacting_leaves_one_segment_with_the_same_articles() {
        let kb = Kb::in_memory().unwrap();
        // Without tantivy's background merges, so that the segments are there to compact.
        kb.writer
            .lock()
            .unwrap()
            .set_merge_policy(Box::new(tantivy::merge_policy::NoMergePolicy));
        let words = ["refund", "card", "delivery", "password"];
        let articles: Vec<Article> = (1..=40)
            .map(|i| {
                let body = format!("{} {}", words[i % 4], words[(i / 4) % 4]);
                article(i as i64, "en", words[i % 4], &body, Audience::Public)
            })
            .collect();
        for chunk in articles.chunks(10) {
            kb.apply(chunk, &[]).unwrap();
        }
        kb.apply(&[], &[3, 7]).unwrap();
        let found = |kb: &Kb, text: &str| {
            let hits = kb
                .search(&SearchQuery {
                    text: text.into(),
                    limit: 100,
                    without_snippets: true,
                    ..SearchQuery::default()
                })
                .unwrap();
            hits.iter()
                .map(|h| h.id)
                .collect::<std::collections::BTreeSet<i64>>()
        };
        let segments = |kb: &Kb| kb.reader.searcher().segment_readers().len();
        assert!(segments(&kb) > 1);
        let before: Vec<_> = words.iter().map(|w| found(&kb, w)).collect();
        kb.compact().unwrap();
        assert_eq!(segments(&kb), 1);
        assert_eq!(kb.len(), 38);
        let after: Vec<_> = words.iter().map(|w| found(&kb, w)).collect();
        assert_eq!(after, before);
        assert!(!after.iter().flatten().any(|id| [3, 7].contains(id)));
        // The words of the merged segment still correct typos.
        assert!(found(&kb, "pasword").len() > 1);
    }

    #[test]
    fn typos_are_corrected_against_the_words_of_the_index() {
        let kb = Kb::in_memory().unwrap();
        let a = article(
            1,
            "en",
            "Warranty and repair",
            "Devices are covered for a year.",
            Audience::Public,
        );
        kb.apply(std::slice::from_ref(&a), &[]).unwrap();
        assert_eq!(search(&kb, "warrenty"), vec![1]);
        assert_eq!(search(&kb, "wrranty"), vec![1]);
        assert_eq!(search(&kb, "warranty"), vec![1]);
        // Words of later articles are learnt with the commit that adds them.
        let b = article(
            2,
            "en",
            "Thermostat offline",
            "Restart the thermostat from its settings menu.",
            Audience::Public,
        );
        kb.apply(&[b], &[]).unwrap();
        assert_eq!(search(&kb, "thermostta"), vec![2]);
        // Two typos, or a word no article has any more, find nothing.
        assert!(search(&kb, "thremostta").is_empty());
        kb.replace_all(&[a]).unwrap();
        assert!(search(&kb, "thermostta").is_empty());
        assert_eq!(search(&kb, "warrenty"), vec![1]);
    }

    #[test]
    fn chinese_homophone_typos_find_the_word_meant() {
        let kb = Kb::in_memory().unwrap();
        let install = article(
            1,
            "zh",
            "应用安装失败",
            "手机上安装应用时提示失败，请先检查存储空间。",
            Audience::Public,
        );
        let account = article(
            2,
            "zh",
            "账户被锁定",
            "密码连续输错五次，账户会锁定三十分钟。",
            Audience::Public,
        );
        let press = article(
            3,
            "zh",
            "按键失灵",
            "按下电源键没有反应，装回电池后再试。",
            Audience::Public,
        );
        kb.apply(&[install, account, press], &[]).unwrap();
        // 按装 (àn zhuāng) for 安装 (ān zhuāng), 密吗 for 密码, 锁订 for 锁定.
        assert_eq!(search(&kb, "按装不了")[0], 1);
        assert_eq!(search(&kb, "忘了密吗")[0], 2);
        assert_eq!(search(&kb, "帐户被锁订了")[0], 2);
        // Words as typed that the index knows are searched as they are.
        assert_eq!(search(&kb, "按键"), vec![3]);
        // A word the index knows is not corrected.
        assert_eq!(search(&kb, "安装"), vec![1]);
    }

    #[test]
    fn one_edit_away_covers_the_four_kinds_of_typo() {
        let all: HashSet<String> = one_edit_away("refnud").collect();
        for w in ["refund", "refnd", "refnuds", "refnod", "erfnud"] {
            assert!(all.contains(w), "{w}");
        }
        assert!(!all.contains("refnud"));
        assert!(!all.contains("rfeund"));
    }

    #[test]
    fn snippets_highlight_matches_in_the_original_text() {
        let kb = Kb::in_memory().unwrap();
        kb.apply(
            &[article(
                1,
                "zh",
                "帳號被鎖定",
                "連續輸錯密碼五次後帳號會被鎖定三十分鐘。",
                Audience::Public,
            )],
            &[],
        )
        .unwrap();
        let hits = kb
            .search(&SearchQuery {
                text: "账号 锁定".into(),
                limit: 3,
                ..SearchQuery::default()
            })
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert!(
            hits[0].snippet.contains("<b>帳號</b>"),
            "{}",
            hits[0].snippet
        );
        // Search mode's overlapping parts ("人民" inside "中华人民共和国") highlight too.
        kb.apply(
            &[article(
                2,
                "zh",
                "国家",
                "中华人民共和国成立以来，人民生活<不断>改善。",
                Audience::Public,
            )],
            &[],
        )
        .unwrap();
        let hits = kb
            .search(&SearchQuery {
                text: "人民".into(),
                limit: 3,
                ..SearchQuery::default()
            })
            .unwrap();
        assert_eq!(
            hits[0].snippet,
            "中华<b>人民</b>共和国成立以来，<b>人民</b>生活&lt;不断&gt;改善。"
        );
    }

    #[test]
    fn matches_are_found_by_stem_and_in_the_folded_text() {
        let terms: HashSet<String> = tokenizer::terms("deliveries refund 账号 password", true)
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let text = "Delivery of REFUNDS to 帳號 ｐａｓｓｗｏｒｄ holders; refunded, not prefunded.";
        let mut ranges = match_ranges(text, &terms);
        ranges.sort_by_key(|r| r.start);
        let found: Vec<&str> = ranges.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(
            found,
            vec![
                "Delivery",
                "REFUNDS",
                "帳號",
                "ｐａｓｓｗｏｒｄ",
                "refunded"
            ]
        );
    }

    #[test]
    fn snippets_show_the_passage_with_the_matches() {
        let terms: HashSet<String> = ["refund".to_string()].into();
        let long = format!(
            "{} The refund arrives in 3 days. {}",
            "x ".repeat(200),
            "y ".repeat(200)
        );
        let s = snippet(&long, &terms, 60);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("The <b>refund</b> arrives"), "{s}");
        assert_eq!(snippet("no match here", &terms, 60), "no match here");
    }

    #[test]
    fn phrases_split_from_words() {
        let (p, rest) = split_phrases("refund \"business days\" “退款 时间” card");
        assert_eq!(p, vec!["business days", "退款 时间"]);
        assert_eq!(
            rest.split_whitespace().collect::<Vec<_>>(),
            vec!["refund", "card"]
        );
    }
}
