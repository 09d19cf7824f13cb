-- The report rollups as WITHOUT ROWID tables, clustered by their primary key (bucket_ms first):
-- a report over a month reads its rows in one sequential range of the table instead of
-- looking each row up through the primary-key index (volume by day over 30 days of a large
-- center, 173k rows: 237 ms -> 152 ms). Same columns, keys and content.

CREATE TABLE report_contacts_clustered (
    bucket_ms INTEGER NOT NULL,
    queue_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    contacts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, queue_id, channel, kind)
) WITHOUT ROWID;
INSERT INTO report_contacts_clustered SELECT * FROM report_contacts;
DROP TABLE report_contacts;
ALTER TABLE report_contacts_clustered RENAME TO report_contacts;

CREATE TABLE report_service_clustered (
    bucket_ms INTEGER NOT NULL,
    queue_id INTEGER NOT NULL,
    answered INTEGER NOT NULL DEFAULT 0,
    answered_within INTEGER NOT NULL DEFAULT 0,
    wait_ms INTEGER NOT NULL DEFAULT 0,
    abandoned INTEGER NOT NULL DEFAULT 0,
    abandoned_after INTEGER NOT NULL DEFAULT 0,
    handled INTEGER NOT NULL DEFAULT 0,
    handle_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, queue_id)
) WITHOUT ROWID;
INSERT INTO report_service_clustered SELECT * FROM report_service;
DROP TABLE report_service;
ALTER TABLE report_service_clustered RENAME TO report_service;

CREATE TABLE report_agents_clustered (
    bucket_ms INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    handled INTEGER NOT NULL DEFAULT 0,
    handle_ms INTEGER NOT NULL DEFAULT 0,
    available_ms INTEGER NOT NULL DEFAULT 0,
    busy_ms INTEGER NOT NULL DEFAULT 0,
    wrap_up_ms INTEGER NOT NULL DEFAULT 0,
    away_ms INTEGER NOT NULL DEFAULT 0,
    csat_answers INTEGER NOT NULL DEFAULT 0,
    csat_good INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, user_id)
) WITHOUT ROWID;
INSERT INTO report_agents_clustered SELECT * FROM report_agents;
DROP TABLE report_agents;
ALTER TABLE report_agents_clustered RENAME TO report_agents;

CREATE TABLE report_complaints_clustered (
    bucket_ms INTEGER NOT NULL,
    queue_id INTEGER NOT NULL,
    category_id INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,
    closed INTEGER NOT NULL DEFAULT 0,
    handle_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, queue_id, category_id, severity)
) WITHOUT ROWID;
INSERT INTO report_complaints_clustered SELECT * FROM report_complaints;
DROP TABLE report_complaints;
ALTER TABLE report_complaints_clustered RENAME TO report_complaints;

CREATE TABLE report_csat_clustered (
    bucket_ms INTEGER NOT NULL,
    queue_id INTEGER NOT NULL,
    answers INTEGER NOT NULL DEFAULT 0,
    good INTEGER NOT NULL DEFAULT 0,
    score_sum INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, queue_id)
) WITHOUT ROWID;
INSERT INTO report_csat_clustered SELECT * FROM report_csat;
DROP TABLE report_csat;
ALTER TABLE report_csat_clustered RENAME TO report_csat;

CREATE TABLE report_kb_clustered (
    bucket_ms INTEGER NOT NULL,
    queue_id INTEGER NOT NULL,
    article_id INTEGER NOT NULL,
    inserted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, queue_id, article_id)
) WITHOUT ROWID;
INSERT INTO report_kb_clustered SELECT * FROM report_kb;
DROP TABLE report_kb;
ALTER TABLE report_kb_clustered RENAME TO report_kb;
