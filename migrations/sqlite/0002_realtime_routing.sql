-- Realtime and routing: agent presence and its history, queue rules, work items and their
-- offers, SLA targets, per-queue routing settings, and marks kept by the events hub.
-- Timestamps are unix milliseconds; flags are INTEGER 0/1; lists and maps are JSON in TEXT.

-- Service-level threshold for the wallboard and the ring time of an offer, per queue.
ALTER TABLE queues ADD COLUMN service_level_secs INTEGER NOT NULL DEFAULT 20;
ALTER TABLE queues ADD COLUMN offer_timeout_secs INTEGER;

-- One row per agent who ever set a presence. `since_ms` starts the current state;
-- `idle_since_ms` is when the agent last became free (longest-idle routing); `until_ms` ends a
-- timed wrap-up; `offer_id` is the offer ringing now (one at a time).
CREATE TABLE agent_presence (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    state TEXT NOT NULL CHECK (state IN ('available', 'busy', 'wrap_up', 'away', 'offline')),
    reason TEXT NOT NULL DEFAULT '',
    since_ms INTEGER NOT NULL,
    until_ms INTEGER,
    idle_since_ms INTEGER NOT NULL,
    last_offered_ms INTEGER NOT NULL DEFAULT 0,
    offer_id INTEGER,
    capacity TEXT NOT NULL DEFAULT '{}'
);

-- Time spent in each state: one row per state an agent was in.
CREATE TABLE presence_log (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER
);
CREATE INDEX presence_log_user ON presence_log(user_id, started_ms);

-- Ordered rules that place new work in a queue. Empty conditions match anything.
CREATE TABLE queue_rules (
    id INTEGER PRIMARY KEY,
    queue_id INTEGER NOT NULL REFERENCES queues(id),
    position INTEGER NOT NULL DEFAULT 0,
    channel TEXT NOT NULL DEFAULT '',
    to_addr TEXT NOT NULL DEFAULT '',
    keyword TEXT NOT NULL DEFAULT '',
    tier TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    priority_boost INTEGER NOT NULL DEFAULT 0,
    skills TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL
);
CREATE INDEX queue_rules_order ON queue_rules(position, id);

-- One work item per ticket: waiting in a queue, offered to one agent, assigned, done or
-- abandoned. Every transition is a conditional UPDATE on `state` (and the offer) so that two
-- nodes can never assign one item twice.
CREATE TABLE work_items (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL UNIQUE REFERENCES tickets(id),
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
CREATE INDEX work_items_state ON work_items(state, enqueued_at);
CREATE INDEX work_items_assigned ON work_items(assigned_to, state);
CREATE INDEX work_items_enqueued ON work_items(enqueued_at);
CREATE INDEX work_items_clock ON work_items(next_clock_at);

CREATE TABLE offers (
    id INTEGER PRIMARY KEY,
    work_item_id INTEGER NOT NULL REFERENCES work_items(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    outcome TEXT,
    closed_at INTEGER
);
CREATE INDEX offers_item ON offers(work_item_id);

-- SLA targets per queue (NULL: every queue) and priority (0..3), for tickets or callbacks.
CREATE TABLE sla_targets (
    id INTEGER PRIMARY KEY,
    queue_id INTEGER REFERENCES queues(id),
    priority INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT 'ticket' CHECK (kind IN ('ticket', 'callback')),
    first_response_secs INTEGER NOT NULL,
    resolution_secs INTEGER NOT NULL,
    warn_percent INTEGER NOT NULL DEFAULT 80,
    escalate_queue_id INTEGER REFERENCES queues(id),
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX sla_targets_key ON sla_targets(COALESCE(queue_id, 0), priority, kind);

-- Business hours per queue (local time = UTC + utc_offset_minutes; weekday 0 = Monday) and
-- holidays ('YYYY-MM-DD'). A queue without hours runs its SLA clocks around the clock.
ALTER TABLE queues ADD COLUMN utc_offset_minutes INTEGER NOT NULL DEFAULT 0;
CREATE TABLE queue_hours (
    queue_id INTEGER NOT NULL REFERENCES queues(id),
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    open_min INTEGER NOT NULL,
    close_min INTEGER NOT NULL
);
CREATE INDEX queue_hours_queue ON queue_hours(queue_id);
CREATE TABLE queue_holidays (
    queue_id INTEGER NOT NULL REFERENCES queues(id),
    day TEXT NOT NULL,
    PRIMARY KEY (queue_id, day)
);

-- Small named values the hub keeps (e.g. the highest seq pruned from the events log).
CREATE TABLE realtime_marks (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE INDEX events_at ON events(at_ms);
-- Tickets that existed before routing was installed are not routed automatically.
INSERT INTO realtime_marks (name, value)
    SELECT 'routing_from_ticket_id', COALESCE(MAX(id), 0) FROM tickets;
