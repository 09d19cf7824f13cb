-- Similar questions (相似问法) of a knowledge article: the ways customers ask what it answers,
-- a JSON list of strings, searched with the title's weight.
ALTER TABLE articles ADD COLUMN questions TEXT NOT NULL DEFAULT '[]';
