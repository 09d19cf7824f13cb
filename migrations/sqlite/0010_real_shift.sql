-- A real shift: every ticket in a queue, presence that follows the console, callbacks that can
-- be rescheduled, and text the system generates kept as data.

-- The default queue catches every ticket no rule places (a fresh install routes every channel).
ALTER TABLE queues ADD COLUMN is_default INTEGER NOT NULL DEFAULT 0;
INSERT INTO queues (name, description, priority, created_at)
    SELECT 'General / 综合', '', 0, CAST(strftime('%s','now') AS INTEGER) * 1000
    WHERE NOT EXISTS (SELECT 1 FROM queues WHERE name = 'General / 综合');
UPDATE queues SET is_default = 1 WHERE name = 'General / 综合';
CREATE UNIQUE INDEX queues_one_default ON queues(is_default) WHERE is_default = 1;
UPDATE tickets SET queue_id = (SELECT id FROM queues WHERE is_default = 1) WHERE queue_id IS NULL;
UPDATE work_items SET queue_id = (SELECT id FROM queues WHERE is_default = 1), state = 'waiting'
    WHERE queue_id IS NULL AND state = 'unqueued';
-- Agents and supervisors in no queue work the default one.
INSERT INTO queue_members (queue_id, user_id)
    SELECT q.id, u.id FROM users u, queues q
    WHERE q.is_default = 1 AND u.role IN ('agent', 'supervisor') AND u.active = 1
    AND NOT EXISTS (SELECT 1 FROM queue_members m WHERE m.user_id = u.id);

-- Open console connections (one row each, on any node). A node refreshes seen_ms of its own
-- while they live; a row not seen for a while belongs to a node that died.
CREATE TABLE consoles (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    opened_ms INTEGER NOT NULL,
    seen_ms INTEGER NOT NULL
);
CREATE INDEX consoles_user ON consoles(user_id, seen_ms);
-- When the agent's last console went away (NULL while one is open).
ALTER TABLE agent_presence ADD COLUMN console_gone_ms INTEGER;

-- A callback (or any work) rescheduled to later is not offered before this time.
ALTER TABLE work_items ADD COLUMN not_before INTEGER;

-- A subject the system wrote, as data ({"kind","params"}), rendered in the reader's language.
ALTER TABLE tickets ADD COLUMN subject_data TEXT;
