-- A user's notifications (issue #16): an @mention in an internal note, stored so that it is
-- seen after a reconnect too. `seen_at` is set when the user has seen it.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('mention')),
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    interaction_id INTEGER REFERENCES interactions(id),
    actor_id INTEGER REFERENCES users(id),
    excerpt TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    seen_at INTEGER
);
CREATE INDEX notifications_user ON notifications (user_id, id);
