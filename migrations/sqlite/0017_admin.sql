-- Acknowledgement templates per queue (0: every queue), language and channel: `email` (new
-- email tickets), `portal` (the portal's acknowledgement sent by email), `sms` (an
-- acknowledgement sent by SMS: the portal's, to a contact who gave only a phone number).
-- The email ones move over from email_ack_templates.
CREATE TABLE ack_templates (
    queue_id INTEGER NOT NULL DEFAULT 0,
    language TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'portal')),
    subject TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue_id, language, channel)
);
INSERT INTO ack_templates (queue_id, language, channel, subject, body)
    SELECT queue_id, language, 'email', subject, body FROM email_ack_templates;
DROP TABLE email_ack_templates;

-- What the background connectors (the IMAP poller) last did, for GET /api/system/status on
-- any node: when they last polled, last succeeded, last failed and why, and on which node.
CREATE TABLE channel_status (
    component TEXT PRIMARY KEY,
    node TEXT NOT NULL DEFAULT '',
    last_poll_at INTEGER,
    last_ok_at INTEGER,
    last_error TEXT,
    last_error_at INTEGER
);

-- A queue's own routing strategy (longest_idle, round_robin, least_loaded); NULL: the
-- configured HOTLINE_ROUTING_STRATEGY.
ALTER TABLE queues ADD COLUMN strategy TEXT;

-- A queue's business hours in a named time zone (IANA, with summer time); NULL: the fixed
-- utc_offset_minutes.
ALTER TABLE queues ADD COLUMN time_zone TEXT;
