-- How a customer is addressed: 'mr' or 'ms' (NULL: not known). Macros' {customer.honorific}
-- uses it: 王先生 / 王女士, Mr Smith / Ms Smith; without it the full name.
ALTER TABLE customers ADD COLUMN title TEXT CHECK (title IN ('mr', 'ms'));

-- Macros: canned replies with placeholders and optional ticket actions. `personal` ones belong
-- to their owner; `shared` ones to a queue (queue_id) or to every queue (queue_id NULL).
-- actions: JSON {"status", "priority", "add_tags", "queue_id"} (each optional).
-- seed_key: the built-in macro it started as (the console's former canned replies).
CREATE TABLE macros (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    language TEXT NOT NULL CHECK (language IN ('zh-CN', 'en')),
    scope TEXT NOT NULL CHECK (scope IN ('personal', 'shared')),
    owner_id INTEGER REFERENCES users(id),
    queue_id INTEGER REFERENCES queues(id),
    actions TEXT NOT NULL DEFAULT '{}',
    seed_key TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK ((scope = 'personal') = (owner_id IS NOT NULL)),
    CHECK (scope = 'shared' OR queue_id IS NULL)
);
CREATE INDEX macros_owner ON macros(owner_id);
CREATE INDEX macros_queue ON macros(queue_id);

-- The four canned replies the console had built in, in both languages, for every queue.
INSERT INTO macros (title, body, language, scope, owner_id, queue_id, actions, seed_key,
    created_at, updated_at) VALUES
    ('Greeting', 'Hello {customer.honorific},

Thank you for contacting us about ticket #{ticket.number}.
', 'en', 'shared', NULL, NULL, '{}', 'greeting', 0, 0),
    ('问候', '{customer.honorific}您好：

感谢您就工单 #{ticket.number} 联系我们。
', 'zh-CN', 'shared', NULL, NULL, '{}', 'greeting', 0, 0),
    ('Apology', 'We are sorry for the trouble this has caused you. We are looking into it now and will get back to you shortly.
', 'en', 'shared', NULL, NULL, '{}', 'apology', 0, 0),
    ('致歉', '对给您带来的不便我们深表歉意。我们正在处理，会尽快回复您。
', 'zh-CN', 'shared', NULL, NULL, '{}', 'apology', 0, 0),
    ('Refund confirmed', 'We have issued the refund. It will reach your account within 3 working days.
', 'en', 'shared', NULL, NULL, '{}', 'refund', 0, 0),
    ('退款确认', '退款已办理，预计 3 个工作日内到账。
', 'zh-CN', 'shared', NULL, NULL, '{}', 'refund', 0, 0),
    ('Closing', 'If you have any other questions, just reply to this message.

Best regards,
{agent.name}
', 'en', 'shared', NULL, NULL, '{}', 'closing', 0, 0),
    ('结束语', '如有其他问题，请直接回复本消息。

祝好！
{agent.name}
', 'zh-CN', 'shared', NULL, NULL, '{}', 'closing', 0, 0);
