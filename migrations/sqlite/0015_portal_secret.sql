-- The portal's per-ticket secret: the SHA-256 (hex) of the random key in the acknowledgement's
-- status link. With it the status page shows the conversation; number and contact show the
-- status only. NULL for tickets that did not come through the portal (or came before).
ALTER TABLE tickets ADD COLUMN portal_key_hash TEXT;
