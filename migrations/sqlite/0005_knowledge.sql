-- The knowledge base: articles (the source of truth; the search index is rebuilt from them),
-- every version of every edit, and which suggestions agents were shown and used.

CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL,
    lang TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    audience TEXT NOT NULL CHECK (audience IN ('internal', 'public')),
    translation_of TEXT,
    source_path TEXT,
    source_hash TEXT,
    edited_in_app INTEGER NOT NULL DEFAULT 0,
    retired INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (lang, slug)
);

CREATE TABLE article_versions (
    article_id INTEGER NOT NULL REFERENCES articles(id),
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    edited_by INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (article_id, version)
);

CREATE TABLE kb_suggestion_uses (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL,
    article_id INTEGER NOT NULL REFERENCES articles(id),
    user_id INTEGER,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('shown', 'inserted'))
);
CREATE INDEX kb_suggestion_uses_article ON kb_suggestion_uses(article_id, kind);
CREATE INDEX kb_suggestion_uses_ticket ON kb_suggestion_uses(ticket_id);
