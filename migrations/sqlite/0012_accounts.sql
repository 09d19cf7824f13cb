-- Accounts and access (issue 14): unique extensions and phone numbers of users, a forced
-- password change, API tokens with an id, an expiry and a last-used time.

-- Extensions are compared trimmed; an empty one is none.
UPDATE users SET extension = NULLIF(TRIM(extension), '') WHERE extension IS NOT NULL;
-- Duplicates that exist already: the oldest user keeps the extension, the others lose it, and
-- the audit log says so (the migration never fails on them).
INSERT INTO audit_log (at_ms, actor_id, action, target, detail)
    SELECT CAST(strftime('%s','now') AS INTEGER) * 1000, NULL, 'user.update', 'user:' || u.id,
           json_object('extension', json_object('from', u.extension, 'to', NULL),
                       'reason', 'duplicate extension, kept by user ' || (
                           SELECT MIN(o.id) FROM users o WHERE o.extension = u.extension))
    FROM users u
    WHERE u.extension IS NOT NULL
      AND EXISTS (SELECT 1 FROM users o WHERE o.extension = u.extension AND o.id < u.id);
UPDATE users SET extension = NULL
    WHERE extension IS NOT NULL
      AND EXISTS (SELECT 1 FROM users o WHERE o.extension = users.extension AND o.id < users.id);
CREATE UNIQUE INDEX users_extension_unique ON users(extension);

-- The phone number in E.164 (the customers' normalizer), unique. Filled by the application at
-- start for rows written before this migration (phone set, phone_norm NULL), with the same rule
-- for duplicates: the oldest user keeps the number.
ALTER TABLE users ADD COLUMN phone_norm TEXT;
CREATE UNIQUE INDEX users_phone_norm_unique ON users(phone_norm);

-- Set when an admin resets another user's password: that user must change it before anything
-- else.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;

-- Tokens get a numeric id (to list and revoke them without their secret) and a last-used time.
CREATE TABLE auth_tokens_new (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    name TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    last_used_at INTEGER
);
INSERT INTO auth_tokens_new (token_hash, user_id, kind, name, created_at, expires_at)
    SELECT token_hash, user_id, kind, name, created_at, expires_at FROM auth_tokens
    ORDER BY created_at;
DROP TABLE auth_tokens;
ALTER TABLE auth_tokens_new RENAME TO auth_tokens;
CREATE INDEX auth_tokens_user ON auth_tokens(user_id, kind);
CREATE INDEX auth_tokens_expiry ON auth_tokens(expires_at);
-- API tokens made before expiry existed (never expiring) expire 90 days from now.
UPDATE auth_tokens SET expires_at = CAST(strftime('%s','now') AS INTEGER) * 1000 + 90 * 86400000
    WHERE expires_at IS NULL;
