-- Call disposition codes: what a call was about / how it ended, picked by the agent in
-- wrap-up. Admins keep the list (English and Chinese names; `active` = offered to agents; a
-- code in use is deactivated, never deleted, so that history and reports keep it).
CREATE TABLE call_dispositions (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_en TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    position INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO call_dispositions (code, name_en, name_zh, position, created_at, updated_at) VALUES
    ('resolved', 'Resolved on the call', '通话中已解决', 1, 0, 0),
    ('follow_up', 'Follow-up needed', '需要跟进', 2, 0, 0),
    ('complaint', 'Complaint', '投诉', 3, 0, 0),
    ('wrong_number', 'Wrong number', '打错电话', 4, 0, 0);

-- The code the agent picked for a call, who picked it and when.
ALTER TABLE calls ADD COLUMN disposition_id INTEGER REFERENCES call_dispositions(id);
ALTER TABLE calls ADD COLUMN disposition_by INTEGER REFERENCES users(id);
ALTER TABLE calls ADD COLUMN disposition_at INTEGER;
CREATE INDEX calls_started ON calls(started_at);
CREATE INDEX calls_interaction ON calls(interaction_id);
