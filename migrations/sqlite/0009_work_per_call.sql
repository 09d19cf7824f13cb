-- no-transaction
-- A ticket's work over time: every call on a ticket is work of its own (a caller who rings again
-- about an open ticket must be routed again), so a ticket may have several work items, but at
-- most one open at once. SQLite cannot drop a column's UNIQUE: the table is rebuilt the
-- documented way (foreign keys off around one transaction; offers keep referring to it by name).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE work_items_new (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    kind TEXT NOT NULL DEFAULT 'ticket' CHECK (kind IN ('ticket', 'callback')),
    queue_id INTEGER REFERENCES queues(id),
    channel TEXT NOT NULL,
    customer_id INTEGER,
    priority INTEGER NOT NULL DEFAULT 1,
    skills TEXT NOT NULL DEFAULT '[]',
    phone TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('unqueued', 'waiting', 'offered', 'assigned', 'done', 'abandoned')),
    enqueued_at INTEGER NOT NULL,
    offer_id INTEGER,
    offered_to INTEGER,
    offer_expires_at INTEGER,
    tried TEXT NOT NULL DEFAULT '[]',
    assigned_to INTEGER,
    assigned_at INTEGER,
    done_at INTEGER,
    first_response_due INTEGER,
    resolution_due INTEGER,
    sla_flags INTEGER NOT NULL DEFAULT 0,
    -- When the SLA check must next look at this item (NULL: no clock pending).
    next_clock_at INTEGER
);
INSERT INTO work_items_new (id, ticket_id, kind, queue_id, channel, customer_id, priority, skills,
    phone, note, state, enqueued_at, offer_id, offered_to, offer_expires_at, tried, assigned_to,
    assigned_at, done_at, first_response_due, resolution_due, sla_flags, next_clock_at)
SELECT id, ticket_id, kind, queue_id, channel, customer_id, priority, skills,
    phone, note, state, enqueued_at, offer_id, offered_to, offer_expires_at, tried, assigned_to,
    assigned_at, done_at, first_response_due, resolution_due, sla_flags, next_clock_at
FROM work_items;
DROP TABLE work_items;
ALTER TABLE work_items_new RENAME TO work_items;
CREATE INDEX work_items_state ON work_items(state, enqueued_at);
CREATE INDEX work_items_assigned ON work_items(assigned_to, state);
CREATE INDEX work_items_enqueued ON work_items(enqueued_at);
CREATE INDEX work_items_clock ON work_items(next_clock_at);
CREATE INDEX work_items_ticket ON work_items(ticket_id, id);
CREATE UNIQUE INDEX work_items_open_ticket ON work_items(ticket_id)
    WHERE state IN ('unqueued', 'waiting', 'offered', 'assigned');
COMMIT;
PRAGMA foreign_keys = ON;
