-- Report rollups (issue #18): durable figures per 15-minute interval (`bucket_ms`, the unix ms
-- the interval starts at; every time zone in use is offset by whole quarter hours, so these
-- intervals are aligned in the center's time zone too). Kept by the routing leader's rollup
-- follower, which reads the events log after its mark (`realtime_marks.reports_followed_seq`)
-- and, in one transaction per batch, adds what the raw rows those events point to newly show
-- and moves its mark. `report_seen` records which facts of which raw row were counted, so a
-- fact counts once however many events point to its row. queue_id 0: no queue.
CREATE TABLE report_contacts (
    bucket_ms BIGINT NOT NULL,
    queue_id BIGINT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    contacts BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, queue_id, channel, kind)
);

CREATE TABLE report_service (
    bucket_ms BIGINT NOT NULL,
    queue_id BIGINT NOT NULL,
    answered BIGINT NOT NULL DEFAULT 0,
    answered_within BIGINT NOT NULL DEFAULT 0,
    wait_ms BIGINT NOT NULL DEFAULT 0,
    abandoned BIGINT NOT NULL DEFAULT 0,
    abandoned_after BIGINT NOT NULL DEFAULT 0,
    handled BIGINT NOT NULL DEFAULT 0,
    handle_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, queue_id)
);

CREATE TABLE report_agents (
    bucket_ms BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    handled BIGINT NOT NULL DEFAULT 0,
    handle_ms BIGINT NOT NULL DEFAULT 0,
    available_ms BIGINT NOT NULL DEFAULT 0,
    busy_ms BIGINT NOT NULL DEFAULT 0,
    wrap_up_ms BIGINT NOT NULL DEFAULT 0,
    away_ms BIGINT NOT NULL DEFAULT 0,
    csat_answers BIGINT NOT NULL DEFAULT 0,
    csat_good BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, user_id)
);

CREATE TABLE report_complaints (
    bucket_ms BIGINT NOT NULL,
    queue_id BIGINT NOT NULL,
    category_id BIGINT NOT NULL,
    severity BIGINT NOT NULL,
    received BIGINT NOT NULL DEFAULT 0,
    closed BIGINT NOT NULL DEFAULT 0,
    handle_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, queue_id, category_id, severity)
);

CREATE TABLE report_csat (
    bucket_ms BIGINT NOT NULL,
    queue_id BIGINT NOT NULL,
    answers BIGINT NOT NULL DEFAULT 0,
    good BIGINT NOT NULL DEFAULT 0,
    score_sum BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, queue_id)
);

CREATE TABLE report_kb (
    bucket_ms BIGINT NOT NULL,
    queue_id BIGINT NOT NULL,
    article_id BIGINT NOT NULL,
    inserted BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, queue_id, article_id)
);

-- source: work (flags 1 contact, 2 answered, 4 finished), presence, survey, complaint
-- (1 received, 2 closed), kb; id: the raw row's id (a complaint's ticket_id).
CREATE TABLE report_seen (
    source TEXT NOT NULL,
    id BIGINT NOT NULL,
    flags BIGINT NOT NULL,
    PRIMARY KEY (source, id)
);
