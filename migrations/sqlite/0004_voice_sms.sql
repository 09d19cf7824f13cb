-- Voice and SMS: calls and their lifecycle, blocked numbers, caller-id rules, settings per
-- dialled number (greeting language, menu, queue), and SMS opt-outs.

-- One row per call as the PBX (source 'cti') or Twilio (source 'twilio') reports it.
CREATE TABLE calls (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL CHECK (source IN ('cti', 'twilio')),
    call_id TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    queue_id INTEGER REFERENCES queues(id),
    state TEXT NOT NULL,
    agent_id INTEGER REFERENCES users(id),
    customer_id INTEGER REFERENCES customers(id),
    ticket_id INTEGER REFERENCES tickets(id),
    interaction_id INTEGER REFERENCES interactions(id),
    callback_ticket_id INTEGER REFERENCES tickets(id),
    started_at INTEGER NOT NULL,
    queued_at INTEGER,
    answered_at INTEGER,
    ended_at INTEGER,
    cause TEXT,
    last_sequence INTEGER NOT NULL DEFAULT -1,
    popped TEXT NOT NULL DEFAULT '[]',
    recording_url TEXT,
    CONSTRAINT calls_source_call UNIQUE (source, call_id)
);
CREATE INDEX calls_agent ON calls(agent_id, state);
CREATE INDEX calls_ticket ON calls(ticket_id);

-- Inbound calls from these numbers are rejected.
CREATE TABLE blocked_numbers (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    reason TEXT NOT NULL DEFAULT '',
    created_by INTEGER REFERENCES users(id),
    created_at INTEGER NOT NULL
);

-- Outbound calls to numbers starting with `prefix` show `caller_id` (longest prefix wins).
CREATE TABLE caller_id_rules (
    id INTEGER PRIMARY KEY,
    prefix TEXT NOT NULL UNIQUE,
    caller_id TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

-- Settings of a number customers dial (Twilio): greeting, its language, an optional menu.
CREATE TABLE voice_numbers (
    number TEXT PRIMARY KEY,
    language TEXT NOT NULL DEFAULT 'en-US',
    greeting TEXT NOT NULL DEFAULT '',
    queue_id INTEGER REFERENCES queues(id),
    menu TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL
);

-- Numbers that texted STOP (or 退订): no SMS goes to them until they text START.
CREATE TABLE sms_opt_outs (
    number TEXT PRIMARY KEY,
    keyword TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
