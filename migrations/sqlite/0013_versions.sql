-- Optimistic concurrency: every change of a ticket or customer increments its version. The API
-- sends it as the ETag of GET /api/tickets/{id} and GET /api/customers/{id}, and a PATCH with a
-- stale If-Match is refused (412 version_conflict) instead of overwriting someone's change.
ALTER TABLE tickets ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE customers ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
