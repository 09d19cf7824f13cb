//! Full-text search over tickets: a tantivy index of each ticket's subject and the text of its
//! messages (bodies, subjects, sender and recipient addresses), analyzed like the knowledge
//! base (`knowledge::tokenizer`: jieba for Chinese, stemmed English, traditional folded to
//! simplified). It lives beside the KB index in `data/ticket-index`, one per node.
//!
//! Why an index that follows the events log rather than updating it where tickets change:
//! tickets and messages are written on many paths (the API, intake through the SQLite writer,
//! routing, calls), on any node; every one of them appends a `ticket.*` or `interaction.*`
//! event with the ticket's id in the same transaction. Each node follows the log (like the
//! knowledge follower) and re-reads the tickets named there from the database, which stays the
//! truth; a search first applies the events committed before it (read-your-writes on every
//! node). An index that is missing, of another version, or further behind than the log keeps
//! (`HOTLINE_EVENTS_RETENTION_HOURS`) is rebuilt from the tables.
//!
//! The index answers only "which tickets contain these words, best first"; status, queue and
//! the other filters, and what the reader may see, are SQL conditions on those ids
//! (`store::list_tickets`), so search never shows a ticket the list would not.

use crate::db::Db;
use crate::knowledge::tokenizer::{self, ANALYZER};
use sqlx::Row;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

/// Bump when the schema or the analysis changes: an index of another version is rebuilt.
pub const SCHEMA_VERSION: u32 = 1;
const WRITER_HEAP: usize = 16 * 1024 * 1024;
/// A search ranks at most this many tickets; the SQL filters then narrow them.
pub const MAX_HITS: usize = 1000;
/// Words of one query at most (the rest is ignored).
const MAX_WORDS: usize = 16;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    subject: Field,
    body: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let f = Fields {
        id: b.add_u64_field("id", INDEXED | STORED | FAST),
        subject: b.add_text_field("subject", text.clone()),
        body: b.add_text_field("body", text),
    };
    (b.build(), f)
}

/// What the index holds of one ticket.
pub struct TicketText {
    pub id: i64,
    pub subject: String,
    /// Every message's subject, body and addresses.
    pub body: String,
}

pub struct TicketIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
    /// The `events` seq up to which every ticket change is applied (-1: unknown). Stored as
    /// each commit's payload, so a restarted node catches up from there.
    events_seq: AtomicI64,
    /// One catch-up at a time (the follower and searches share it).
    sync: tokio::sync::Mutex<()>,
}

impl TicketIndex {
    /// Opens the index in `dir`, or creates an empty one when it is missing, unreadable or of
    /// another schema version. Returns whether it must be filled from the database.
    pub fn open(dir: &Path) -> anyhow::Result<(TicketIndex, bool)> {
        tokenizer::warm_up();
        let (schema, f) = schema();
        let (index, rebuild) =
            crate::knowledge::index::open_versioned(dir, SCHEMA_VERSION, |dir| {
                Ok(Index::create_in_dir(dir, schema)?)
            })?;
        let idx = Self::with_index(index, f)?;
        let unknown = idx.events_seq() < 0;
        Ok((idx, rebuild || unknown))
    }

    /// An index in memory (benchmarks).
    pub fn in_memory() -> anyhow::Result<TicketIndex> {
        let (schema, f) = schema();
        Self::with_index(Index::create_in_ram(schema), f)
    }

    fn with_index(index: Index, f: Fields) -> anyhow::Result<TicketIndex> {
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
        Ok(TicketIndex {
            reader,
            writer: Mutex::new(writer),
            f,
            events_seq: AtomicI64::new(events_seq),
            sync: tokio::sync::Mutex::new(()),
        })
    }

    fn events_seq(&self) -> i64 {
        self.events_seq.load(Ordering::SeqCst)
    }

    /// Replaces the given tickets (and drops `gone`) in one commit recording `seq`, then makes
    /// the change visible. `all` empties the index first (a rebuild).
    fn apply(
        &self,
        tickets: &[TicketText],
        gone: &[i64],
        seq: i64,
        all: bool,
    ) -> anyhow::Result<()> {
        let f = self.f;
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if all {
            w.delete_all_documents()?;
        }
        for t in tickets {
            w.delete_term(Term::from_field_u64(f.id, t.id as u64));
            w.add_document(doc!(
                f.id => t.id as u64,
                f.subject => t.subject.clone(),
                f.body => t.body.clone(),
            ))?;
        }
        for id in gone {
            w.delete_term(Term::from_field_u64(f.id, *id as u64));
        }
        let mut prepared = w.prepare_commit()?;
        prepared.set_payload(&seq.to_string());
        prepared.commit()?;
        drop(w);
        self.events_seq.fetch_max(seq, Ordering::SeqCst);
        self.reader.reload()?;
        Ok(())
    }

    /// The tickets containing every word of `text` (in the subject or a message), best first
    /// (a word in the subject counts double), at most [`MAX_HITS`]. None when the text has no
    /// searchable word (only punctuation or function words).
    pub fn search(&self, text: &str) -> anyhow::Result<Option<Vec<i64>>> {
        let f = self.f;
        // Whole words (not search mode's parts): each must occur; the index holds whole words
        // and their parts, so "密码" finds "忘记密码" and "忘记密码" finds itself.
        let mut words: Vec<String> = tokenizer::terms(text, false)
            .into_iter()
            .map(|(_, w)| w)
            .collect();
        words.dedup();
        words.truncate(MAX_WORDS);
        if words.is_empty() {
            return Ok(None);
        }
        let must: Vec<(Occur, Box<dyn Query>)> = words
            .iter()
            .map(|w| {
                let term = |field| {
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, w),
                        IndexRecordOption::WithFreqs,
                    )) as Box<dyn Query>
                };
                let either = BooleanQuery::new(vec![
                    (
                        Occur::Should,
                        Box::new(BoostQuery::new(term(f.subject), 2.0)) as Box<dyn Query>,
                    ),
                    (Occur::Should, term(f.body)),
                ]);
                (Occur::Must, Box::new(either) as Box<dyn Query>)
            })
            .collect();
        let searcher = self.reader.searcher();
        let top = searcher.search(
            &BooleanQuery::new(must),
            &TopDocs::with_limit(MAX_HITS).order_by_score(),
        )?;
        let mut ids = Vec::with_capacity(top.len());
        for (_, addr) in top {
            let d: TantivyDocument = searcher.doc(addr)?;
            if let Some(id) = d.get_first(f.id).and_then(|v| v.as_u64()) {
                ids.push(id as i64);
            }
        }
        Ok(Some(ids))
    }

    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Opens the index in `dir` and, when it is new or cannot catch up from the log, fills it from
/// the tables.
pub async fn open(db: &Db, dir: &Path) -> anyhow::Result<Arc<TicketIndex>> {
    let dir = dir.to_path_buf();
    let (idx, rebuild) = tokio::task::spawn_blocking(move || TicketIndex::open(&dir)).await??;
    let idx = Arc::new(idx);
    if rebuild {
        rebuild_from_db(&idx, db).await?;
    }
    Ok(idx)
}

/// Re-reads every ticket (the tables are the truth). Changes committed while it reads are in
/// the events after the seq it records, and the next catch-up applies them again.
pub async fn rebuild_from_db(idx: &Arc<TicketIndex>, db: &Db) -> anyhow::Result<()> {
    let seq = newest_seq(db).await?;
    let mut texts = Vec::new();
    let mut after = 0i64;
    loop {
        let ids: Vec<i64> =
            sqlx::query("SELECT id FROM tickets WHERE id > $1 ORDER BY id LIMIT 500")
                .bind(after)
                .fetch_all(&db.pool)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>("id"))
                .collect::<Result<_, _>>()?;
        let Some(last) = ids.last() else { break };
        after = *last;
        texts.extend(read_texts(db, &ids).await?.0);
    }
    tracing::info!(tickets = texts.len(), "ticket search index rebuilt");
    apply_blocking(idx, texts, Vec::new(), seq, true).await
}

async fn apply_blocking(
    idx: &Arc<TicketIndex>,
    texts: Vec<TicketText>,
    gone: Vec<i64>,
    seq: i64,
    all: bool,
) -> anyhow::Result<()> {
    // The writer's work (segmenting Chinese text) is CPU-bound: off the async workers.
    let idx = idx.clone();
    tokio::task::spawn_blocking(move || idx.apply(&texts, &gone, seq, all)).await?
}

/// The index text of the given tickets, and the ids no longer in the table.
async fn read_texts(db: &Db, ids: &[i64]) -> anyhow::Result<(Vec<TicketText>, Vec<i64>)> {
    if ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // Integers we produced, never user text.
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let mut texts: std::collections::BTreeMap<i64, TicketText> = std::collections::BTreeMap::new();
    for r in sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, subject FROM tickets WHERE id IN ({list})"
    )))
    .fetch_all(&db.pool)
    .await?
    {
        let id: i64 = r.try_get("id")?;
        texts.insert(
            id,
            TicketText {
                id,
                subject: r.try_get("subject")?,
                body: String::new(),
            },
        );
    }
    for r in sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT ticket_id, channel, subject, body, from_addr, to_addr FROM interactions \
         WHERE ticket_id IN ({list}) ORDER BY id"
    )))
    .fetch_all(&db.pool)
    .await?
    {
        let id: i64 = r.try_get("ticket_id")?;
        if let Some(t) = texts.get_mut(&id) {
            // A note's "from" is the agent's login: not the matter's words.
            let note = r.try_get::<String, _>("channel")? == "note";
            let cols: &[&str] = if note {
                &["subject", "body"]
            } else {
                &["from_addr", "to_addr", "subject", "body"]
            };
            for col in cols {
                let v: String = r.try_get(*col)?;
                if !v.is_empty() {
                    t.body.push_str(&v);
                    t.body.push('\n');
                }
            }
        }
    }
    let gone = ids
        .iter()
        .filter(|id| !texts.contains_key(id))
        .copied()
        .collect();
    Ok((texts.into_values().collect(), gone))
}

async fn newest_seq(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM events")
        .fetch_one(&db.pool)
        .await
        .and_then(|r| r.try_get::<i64, _>("seq"))
}

/// Applies the ticket changes the events log holds beyond what the index reflects: the tickets
/// named by `ticket.*` and `interaction.*` events are read again. Rebuilds when the log was
/// pruned past that point.
pub async fn catch_up(idx: &Arc<TicketIndex>, db: &Db) -> anyhow::Result<()> {
    let _one = idx.sync.lock().await;
    let last = idx.events_seq();
    let upto = newest_seq(db).await?;
    if upto <= last {
        return Ok(());
    }
    if last < crate::realtime::hub::pruned_through(db).await? {
        return rebuild_from_db(idx, db).await;
    }
    let mut ids: Vec<i64> = sqlx::query(
        "SELECT DISTINCT ticket_id FROM events WHERE seq > $1 AND seq <= $2 \
         AND ticket_id IS NOT NULL AND (kind LIKE 'ticket.%' OR kind LIKE 'interaction.%')",
    )
    .bind(last)
    .bind(upto)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| r.try_get::<i64, _>("ticket_id"))
    .collect::<Result<_, _>>()?;
    // A split names the ticket it came from; the new one is in the payload.
    for r in sqlx::query(
        "SELECT payload FROM events WHERE seq > $1 AND seq <= $2 AND kind = 'interaction.moved'",
    )
    .bind(last)
    .bind(upto)
    .fetch_all(&db.pool)
    .await?
    {
        let p: String = r.try_get("payload")?;
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&p)
            && let Some(to) = v["to"].as_i64()
        {
            ids.push(to);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    let (texts, gone) = read_texts(db, &ids).await?;
    apply_blocking(idx, texts, gone, upto, false).await
}

/// Keeps this node's index in step with the log: after each local commit or at least every
/// second (changes through other nodes arrive that way).
pub async fn follow_changes(db: Db, idx: Arc<TicketIndex>) {
    loop {
        if let Err(e) = catch_up(&idx, &db).await {
            tracing::warn!(error = %e, "ticket search index update from events failed");
        }
        tokio::select! {
            _ = crate::realtime::events::COMMITTED.notified() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}
