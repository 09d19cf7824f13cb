-- Similar questions (相似问法) of a knowledge article: the ways customers ask what it answers,
-- a JSON list of strings, searched with the title's weight.
ALTER TABLE articles ADD COLUMN questions TEXT NOT NULL DEFAULT '[]';

-- Synonyms managed by admins (退款 = 退钱 = 返还; refund = money back): one group per row, a JSON
-- list of words, applied to search queries.
CREATE TABLE kb_synonyms (
    id INTEGER PRIMARY KEY,
    words TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
