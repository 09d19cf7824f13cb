-- Outgoing webhooks (issue #18): endpoints an admin registers for chosen event types, and one
-- delivery row per (endpoint, event): built by the routing leader following the events log,
-- retried with backoff (next_attempt_at), claimed by one node at a time (lease_until).
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    event_types TEXT NOT NULL DEFAULT '[]',
    secret TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    -- Events up to this seq were in the log before the endpoint existed: not sent.
    from_seq INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER REFERENCES users(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    -- One delivery per endpoint and key (an event's seq and type; a call's end once per call).
    dedupe_key TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,
    response_code INTEGER,
    last_error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    delivered_at INTEGER,
    CONSTRAINT webhook_deliveries_once UNIQUE (webhook_id, dedupe_key)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);

-- The follower starts after the events already in the log.
INSERT INTO realtime_marks (name, value)
    SELECT 'webhooks_followed_seq', COALESCE(MAX(seq), 0) FROM events;
