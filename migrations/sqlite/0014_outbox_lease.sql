-- Outbox claims with a time lease (one design for email and SMS, src/channels/outbox.rs): a
-- sender claims a row by setting status 'sending', `lease_until` and `claimed_by` (its node id)
-- at once; a row whose lease ran out (its node died mid-send) is claimable again, and finishing
-- a send checks the claim is still its own. Rows left 'sending' before this migration have no
-- lease (0) and are claimable at once.
ALTER TABLE outbox ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
CREATE INDEX outbox_claimable ON outbox(channel, status, next_attempt_at);

-- Raw inbound mail retention: the raw bytes of processed mail are emptied after
-- HOTLINE_RAW_MAIL_DAYS; the row (ticket link, IMAP key, Message-ID) stays.
ALTER TABLE inbound_mail ADD COLUMN raw_purged_at INTEGER;
CREATE INDEX inbound_mail_raw_kept ON inbound_mail(processed_at)
    WHERE status = 'processed' AND raw_purged_at IS NULL;
