-- The report rollups' primary keys carry the figures too (INCLUDE), so that a report over a
-- month is an index-only scan of one key range instead of a heap fetch per row (SQLite's
-- counterpart makes the same tables WITHOUT ROWID). Same keys and content.
ALTER TABLE report_contacts DROP CONSTRAINT report_contacts_pkey,
    ADD PRIMARY KEY (bucket_ms, queue_id, channel, kind) INCLUDE (contacts);
ALTER TABLE report_service DROP CONSTRAINT report_service_pkey,
    ADD PRIMARY KEY (bucket_ms, queue_id)
    INCLUDE (answered, answered_within, wait_ms, abandoned, abandoned_after, handled, handle_ms);
ALTER TABLE report_agents DROP CONSTRAINT report_agents_pkey,
    ADD PRIMARY KEY (bucket_ms, user_id)
    INCLUDE (handled, handle_ms, available_ms, busy_ms, wrap_up_ms, away_ms, csat_answers, csat_good);
ALTER TABLE report_complaints DROP CONSTRAINT report_complaints_pkey,
    ADD PRIMARY KEY (bucket_ms, queue_id, category_id, severity) INCLUDE (received, closed, handle_ms);
ALTER TABLE report_csat DROP CONSTRAINT report_csat_pkey,
    ADD PRIMARY KEY (bucket_ms, queue_id) INCLUDE (answers, good, score_sum);
ALTER TABLE report_kb DROP CONSTRAINT report_kb_pkey,
    ADD PRIMARY KEY (bucket_ms, queue_id, article_id) INCLUDE (inserted);
