-- Customer and order imports from CSV (issue #18). A customer may carry the external id of the
-- system it came from (a CRM, a shop): imports are idempotent on it.
ALTER TABLE customers ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX customers_external_id ON customers (external_id);

-- One import of one file: written a chunk per transaction, with the lines done in the same
-- commit, so that a run that stopped resumes after the last committed chunk. One process runs
-- a job at a time (lease_owner until lease_until, renewed with every chunk).
CREATE TABLE import_jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('customers', 'orders')),
    -- 'console' (uploaded, the file under the data folder) or 'cli' (hotline import).
    source TEXT NOT NULL CHECK (source IN ('console', 'cli')),
    file_name TEXT NOT NULL,
    path TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    encoding TEXT NOT NULL DEFAULT 'auto',
    -- Explicit header mapping, JSON [[column, field], ...].
    mapping TEXT NOT NULL DEFAULT '[]',
    dry_run INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    -- The encoding read (auto detected or chosen) and the columns mapped, once started.
    detected_encoding TEXT NOT NULL DEFAULT '',
    columns TEXT NOT NULL DEFAULT '[]',
    lines_done INTEGER NOT NULL DEFAULT 0,
    rows_done INTEGER NOT NULL DEFAULT 0,
    bytes_done INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    by_user_id INTEGER REFERENCES users(id),
    lease_owner TEXT,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE INDEX import_jobs_status ON import_jobs (status, id);

-- What an import did with a row: every refused row (line, field, code, message); in a dry run
-- also what would be created or updated (up to a limit).
CREATE TABLE import_rows (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,
    line INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('created', 'updated', 'unchanged', 'refused')),
    row_key TEXT NOT NULL DEFAULT '',
    field TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX import_rows_job ON import_rows (job_id, outcome, line);
