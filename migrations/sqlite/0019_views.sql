-- Saved ticket views (issue #16): a name, the list's filters and columns, owned by a user;
-- supervisors and admins may share theirs with everyone.
CREATE TABLE saved_views (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    shared INTEGER NOT NULL DEFAULT 0,
    filters TEXT NOT NULL DEFAULT '{}',
    columns TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT saved_views_owner_name UNIQUE (owner_id, name)
);
