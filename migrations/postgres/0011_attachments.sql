-- Attachments of every channel (email parts and portal uploads) in one table: each has an id,
-- is listed with its interaction and downloads through GET /api/attachments/{id}. `stored` is 0
-- for a part that is listed but was not kept (over HOTLINE_ATTACHMENT_MAX_SIZE; the raw mail
-- still holds it).
ALTER TABLE email_attachments RENAME TO attachments;
ALTER TABLE attachments ADD COLUMN stored INTEGER NOT NULL DEFAULT 1;
