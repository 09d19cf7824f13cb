-- Satisfaction surveys (issue #17): one survey per ticket, sent after the ticket is resolved
-- (per-queue setting) or answered on a call (keypad) or recorded by the agent (verbal).
-- A ticket the job looked at and decided not to survey keeps a row with `skipped` (why), so
-- that it is decided once. The link's token is random; only its SHA-256 is stored.
CREATE TABLE surveys (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL UNIQUE REFERENCES tickets(id),
    customer_id INTEGER REFERENCES customers(id),
    queue_id INTEGER REFERENCES queues(id),
    agent_id INTEGER REFERENCES users(id),
    channel TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'voice', 'none')),
    recipient TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT 'en',
    token_hash TEXT UNIQUE,
    skipped TEXT,
    sent_at INTEGER,
    expires_at INTEGER,
    score INTEGER CHECK (score BETWEEN 1 AND 5),
    comment TEXT NOT NULL DEFAULT '',
    answered_at INTEGER,
    via TEXT CHECK (via IN ('portal', 'keypad', 'agent')),
    answered_by INTEGER REFERENCES users(id),
    follow_up_ticket_id INTEGER REFERENCES tickets(id),
    created_at INTEGER NOT NULL
);
CREATE INDEX surveys_customer ON surveys (customer_id, sent_at);
CREATE INDEX surveys_answered ON surveys (answered_at);
CREATE INDEX surveys_sent ON surveys (sent_at);

-- Per-queue survey settings; a queue without a row sends none. `since`: when surveys were
-- switched on (tickets resolved before are never surveyed).
CREATE TABLE queue_surveys (
    queue_id INTEGER PRIMARY KEY REFERENCES queues(id),
    enabled INTEGER NOT NULL DEFAULT 0,
    delay_minutes INTEGER NOT NULL DEFAULT 60,
    keypad INTEGER NOT NULL DEFAULT 0,
    since INTEGER NOT NULL DEFAULT 0
);

-- A customer who asked for no more surveys (the email's unsubscribe link, or an agent).
ALTER TABLE customers ADD COLUMN survey_opt_out INTEGER NOT NULL DEFAULT 0;

-- A new notification kind: a low survey score for the queue's supervisors.
CREATE TABLE notifications_new (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('mention', 'survey_low')),
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    interaction_id INTEGER REFERENCES interactions(id),
    actor_id INTEGER REFERENCES users(id),
    excerpt TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    seen_at INTEGER
);
INSERT INTO notifications_new SELECT id, user_id, kind, ticket_id, interaction_id, actor_id,
    excerpt, created_at, seen_at FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_user ON notifications (user_id, id);
