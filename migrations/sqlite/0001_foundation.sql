-- Foundation: users, sessions, audit, queues, customers and identities, tickets, interactions,
-- the events log and the outbox. Timestamps are unix milliseconds; flags are INTEGER 0/1.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
    password_hash TEXT NOT NULL,
    extension TEXT,
    phone TEXT,
    email TEXT,
    skills TEXT NOT NULL DEFAULT '[]',
    languages TEXT NOT NULL DEFAULT '[]',
    locale TEXT NOT NULL DEFAULT 'en',
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);

-- Cookie sessions and API tokens; only the SHA-256 of a token is stored.
CREATE TABLE auth_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    name TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX auth_tokens_user ON auth_tokens(user_id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor_id INTEGER,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE queues (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE queue_members (
    queue_id INTEGER NOT NULL REFERENCES queues(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (queue_id, user_id)
);
CREATE INDEX queue_members_user ON queue_members(user_id);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    display_name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    tier TEXT NOT NULL DEFAULT 'regular' CHECK (tier IN ('vip', 'key', 'regular', 'low')),
    language TEXT,
    notes TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    owner_id INTEGER REFERENCES users(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX customers_name_key ON customers(name_key);
CREATE INDEX customers_owner ON customers(owner_id);

-- One identity (normalized value of a kind) belongs to one customer.
CREATE TABLE customer_identities (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL CHECK (kind IN ('phone', 'email', 'id_card', 'vip_card', 'crm')),
    value TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    CONSTRAINT customer_identities_unique UNIQUE (kind, value)
);
CREATE INDEX customer_identities_customer ON customer_identities(customer_id);

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    subject TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'open', 'pending', 'resolved', 'closed')),
    priority INTEGER NOT NULL DEFAULT 1,
    kind TEXT NOT NULL DEFAULT 'inquiry',
    channel TEXT NOT NULL,
    queue_id INTEGER REFERENCES queues(id),
    assignee_id INTEGER REFERENCES users(id),
    customer_id INTEGER REFERENCES customers(id),
    tags TEXT NOT NULL DEFAULT '[]',
    merged_into INTEGER REFERENCES tickets(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    first_response_at INTEGER,
    resolved_at INTEGER,
    closed_at INTEGER
);
CREATE INDEX tickets_customer ON tickets(customer_id, status);
CREATE INDEX tickets_assignee ON tickets(assignee_id, status);
CREATE INDEX tickets_queue ON tickets(queue_id, status);

-- Every email, SMS, call, web message and note. external_id is the channel's idempotency key.
CREATE TABLE interactions (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    customer_id INTEGER REFERENCES customers(id),
    channel TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out', 'internal')),
    from_addr TEXT NOT NULL DEFAULT '',
    to_addr TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',
    external_id TEXT,
    author_id INTEGER REFERENCES users(id),
    meta TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    CONSTRAINT interactions_external UNIQUE (channel, external_id)
);
CREATE INDEX interactions_customer_time ON interactions(customer_id, created_at DESC, id DESC);
CREATE INDEX interactions_ticket ON interactions(ticket_id, created_at);

-- The events log: the realtime hub delivers these in seq order.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    queue_id INTEGER,
    user_id INTEGER,
    ticket_id INTEGER,
    customer_id INTEGER,
    payload TEXT NOT NULL DEFAULT '{}'
);

-- Outgoing messages (email, SMS) wait here until a sender delivers them.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    ticket_id INTEGER REFERENCES tickets(id),
    interaction_id INTEGER REFERENCES interactions(id),
    recipient TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
