-- Complaints (issue #17): a complaint ticket carries a category, a severity, the order it is
-- about and what the customer wants; it moves received → acknowledged → investigating →
-- responded → confirmed → closed (reopen: back to investigating), with due times per severity
-- counted in the queue's business hours and reminders until each step is done.

-- Admin-managed categories, named in both languages. `code` is stable (reports, exports).
CREATE TABLE complaint_categories (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    position INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
INSERT INTO complaint_categories (code, name_zh, name_en, position, created_at) VALUES
    ('product_quality', '产品质量', 'Product quality', 1, 0),
    ('delivery', '物流配送', 'Delivery', 2, 0),
    ('billing', '账单费用', 'Billing', 3, 0),
    ('service_attitude', '服务态度', 'Service attitude', 4, 0),
    ('other', '其他', 'Other', 5, 0);

-- Severity 1 (critical) … 4 (low): what it means, and the due times (seconds of the queue's
-- working time) to acknowledge, respond, close, and call the customer back to confirm.
CREATE TABLE complaint_severities (
    level INTEGER PRIMARY KEY CHECK (level BETWEEN 1 AND 4),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    description_zh TEXT NOT NULL DEFAULT '',
    description_en TEXT NOT NULL DEFAULT '',
    ack_secs INTEGER NOT NULL,
    respond_secs INTEGER NOT NULL,
    close_secs INTEGER NOT NULL,
    callback_secs INTEGER NOT NULL
);
INSERT INTO complaint_severities VALUES
    (1, '紧急', 'Critical', '人身安全、重大财产损失或媒体曝光风险', 'Safety, a large loss, or a risk of going public', 3600, 14400, 86400, 14400),
    (2, '严重', 'High', '客户蒙受经济损失或无法使用产品', 'The customer lost money or cannot use the product', 7200, 28800, 259200, 28800),
    (3, '一般', 'Medium', '问题影响使用，但有变通办法', 'A problem with a workaround', 14400, 86400, 432000, 86400),
    (4, '轻微', 'Low', '意见、建议或轻微不便', 'Feedback or a minor inconvenience', 28800, 259200, 864000, 172800);

-- Reminder points (minutes before and after each due time) and confirmation call tries.
CREATE TABLE complaint_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    remind_before_minutes TEXT NOT NULL DEFAULT '[60]',
    remind_after_minutes TEXT NOT NULL DEFAULT '[0, 240, 1440]',
    callback_max_attempts INTEGER NOT NULL DEFAULT 3,
    callback_retry_minutes INTEGER NOT NULL DEFAULT 120
);
INSERT INTO complaint_settings (id) VALUES (1);

-- One row per complaint ticket. `round` goes up on each reopen (reminders start over).
CREATE TABLE complaints (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
    category_id INTEGER NOT NULL REFERENCES complaint_categories(id),
    severity INTEGER NOT NULL REFERENCES complaint_severities(level),
    status TEXT NOT NULL DEFAULT 'received' CHECK (status IN
        ('received', 'acknowledged', 'investigating', 'responded', 'confirmed', 'closed')),
    order_ref TEXT NOT NULL DEFAULT '',
    desired_outcome TEXT NOT NULL DEFAULT '',
    round INTEGER NOT NULL DEFAULT 1,
    -- When this round began (creation, or the last reopen): the due times count from it.
    round_started_at INTEGER NOT NULL,
    ack_due INTEGER,
    respond_due INTEGER,
    close_due INTEGER,
    acknowledged_at INTEGER,
    responded_at INTEGER,
    confirmed_at INTEGER,
    closed_at INTEGER,
    confirmation TEXT CHECK (confirmation IN ('satisfied', 'not_satisfied', 'unconfirmed')),
    callback_attempts INTEGER NOT NULL DEFAULT 0,
    reopened INTEGER NOT NULL DEFAULT 0,
    next_remind_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX complaints_remind ON complaints (next_remind_at);
CREATE INDEX complaints_created ON complaints (created_at);

-- Each move of a complaint: who, when, why.
CREATE TABLE complaint_transitions (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    actor_id INTEGER REFERENCES users(id),
    reason TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    at_ms INTEGER NOT NULL
);
CREATE INDEX complaint_transitions_ticket ON complaint_transitions (ticket_id, id);

-- Reminders sent: one per complaint, round, step (ack/respond/close) and point (`-60`: an hour
-- before the due time, `240`: four hours after), so a restart or a second node never repeats one.
CREATE TABLE complaint_reminders (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    round INTEGER NOT NULL,
    step TEXT NOT NULL,
    point INTEGER NOT NULL,
    sent_at INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, round, step, point)
);

-- SLA targets accept kind `complaint` (a complaint ticket's work uses it when its queue has one).
CREATE TABLE sla_targets_new (
    id INTEGER PRIMARY KEY,
    queue_id INTEGER REFERENCES queues(id),
    priority INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT 'ticket' CHECK (kind IN ('ticket', 'callback', 'complaint')),
    first_response_secs INTEGER NOT NULL,
    resolution_secs INTEGER NOT NULL,
    warn_percent INTEGER NOT NULL DEFAULT 80,
    escalate_queue_id INTEGER REFERENCES queues(id),
    created_at INTEGER NOT NULL
);
INSERT INTO sla_targets_new SELECT id, queue_id, priority, kind, first_response_secs,
    resolution_secs, warn_percent, escalate_queue_id, created_at FROM sla_targets;
DROP TABLE sla_targets;
ALTER TABLE sla_targets_new RENAME TO sla_targets;
CREATE UNIQUE INDEX sla_targets_key ON sla_targets(COALESCE(queue_id, 0), priority, kind);

-- A new notification kind (a complaint's reminder) with its facts as data (`data`: step, point,
-- due), so each reader's console words it in their language.
CREATE TABLE notifications_new (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('mention', 'survey_low', 'complaint_reminder')),
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    interaction_id INTEGER REFERENCES interactions(id),
    actor_id INTEGER REFERENCES users(id),
    excerpt TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    seen_at INTEGER,
    data TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO notifications_new SELECT id, user_id, kind, ticket_id, interaction_id, actor_id,
    excerpt, created_at, seen_at, '{}' FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_user ON notifications (user_id, id);

-- Routing rules may file what they match as a kind (keyword → complaint).
ALTER TABLE queue_rules ADD COLUMN set_kind TEXT;
