-- Optimistic concurrency for users, as for tickets and customers (0013): every change of a user
-- increments its version; GET /api/users/{id} sends it as the ETag and a PATCH with a stale
-- If-Match is refused (412 version_conflict) instead of overwriting another admin's change.
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
