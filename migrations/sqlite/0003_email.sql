-- The email channel: every raw message as received (stored before the SMTP 250 or the IMAP flag
-- change), attachments of email interactions, and acknowledgement templates per queue/language.

CREATE TABLE inbound_mail (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL CHECK (source IN ('smtp', 'imap')),
    raw BLOB NOT NULL,
    envelope_from TEXT NOT NULL DEFAULT '',
    envelope_to TEXT NOT NULL DEFAULT '',
    message_id TEXT,
    status TEXT NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'processed', 'failed', 'quarantined')),
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    ticket_id INTEGER,
    interaction_id INTEGER,
    created_at INTEGER NOT NULL,
    processed_at INTEGER
);
CREATE INDEX inbound_mail_status ON inbound_mail(status, id);

CREATE TABLE email_attachments (
    id INTEGER PRIMARY KEY,
    interaction_id INTEGER NOT NULL REFERENCES interactions(id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    inline INTEGER NOT NULL DEFAULT 0,
    content_id TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX email_attachments_interaction ON email_attachments(interaction_id);

-- queue_id 0 is the default for every queue; language is 'en', 'zh', …
CREATE TABLE email_ack_templates (
    queue_id INTEGER NOT NULL DEFAULT 0,
    language TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (queue_id, language)
);
