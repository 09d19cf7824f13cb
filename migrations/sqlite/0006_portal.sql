-- The customer portal's form-token signing key: one random row, shared by every node.
CREATE TABLE portal_secrets (
    id INTEGER PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
