//! The only per-backend SQL: connection setup, online backup, event-order locking, advisory locks.
//! Everything else in the stores is portable SQL (`$1` placeholders, RETURNING, ON CONFLICT).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite:// or postgres://")
        }
    }

    /// Statements run on every new connection. Through `Any`, SQLite pragmas must be set here.
    pub fn session_setup(self) -> &'static [&'static str] {
        match self {
            Backend::Sqlite => &[
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA busy_timeout = 10000",
                "PRAGMA foreign_keys = ON",
                // Checkpoints run from a background task every 50 ms (app.rs) instead of
                // stalling a committing writer.
                "PRAGMA wal_autocheckpoint = 0",
                // A WAL that grew in a burst is cut back when it starts over.
                "PRAGMA journal_size_limit = 67108864",
            ],
            Backend::Postgres => &["SET TIME ZONE 'UTC'"],
        }
    }

    /// The statement that opens a write transaction.
    pub fn begin_write(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// Makes event sequence numbers commit in order: on PostgreSQL two transactions could take
    /// seq 7 and 8 and commit 8 first, and a reader at 8 would never see 7. A transaction-scoped
    /// advisory lock serializes the short append→commit window. SQLite has one writer anyway.
    pub fn event_order_lock(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("SELECT pg_advisory_xact_lock(7400001)"),
        }
    }

    /// Case-insensitive prefix comparison is done on a lowercased key column with a range
    /// (`key >= $1 AND key < $1 || '\u{10ffff}'`), which both engines answer from an index.
    pub fn prefix_upper_bound(prefix: &str) -> String {
        format!("{prefix}\u{10ffff}")
    }

    /// Statement that copies a live SQLite database into `path` consistently.
    pub fn backup_statement(self, path: &str) -> anyhow::Result<String> {
        match self {
            Backend::Sqlite => Ok(format!("VACUUM INTO '{}'", path.replace('\'', "''"))),
            Backend::Postgres => anyhow::bail!(
                "backups of PostgreSQL are made with pg_dump (see README); `hotline backup` copies SQLite"
            ),
        }
    }

    /// Passive WAL checkpoint, run periodically by a background task.
    pub fn checkpoint(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => Some("PRAGMA wal_checkpoint(PASSIVE)"),
            Backend::Postgres => None,
        }
    }

    /// Folds the whole WAL back into the database file and empties it (after bulk loads).
    pub fn checkpoint_truncate(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => Some("PRAGMA wal_checkpoint(TRUNCATE)"),
            Backend::Postgres => None,
        }
    }

    /// Session-level advisory lock attempt (several nodes: leader election, one IMAP poller).
    pub fn try_lock(self, key: i64) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(format!("SELECT pg_try_advisory_lock({key})")),
        }
    }

    /// A row lock for a read-modify-write of one row (a ticket's or customer's update), held
    /// until commit. PostgreSQL: `FOR NO KEY UPDATE`, the lock an UPDATE that keeps the key
    /// takes. Not `FOR UPDATE`: that one also waits for the `KEY SHARE` locks every insert
    /// referencing the row holds (an interaction's foreign key to its ticket), so two replies to
    /// one ticket deadlocked (each held a key-share the other's `FOR UPDATE` waited for).
    /// SQLite has one writer (`BEGIN IMMEDIATE`), so its read inside the write transaction is
    /// already current.
    pub fn for_update(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR NO KEY UPDATE",
        }
    }

    /// `FOR UPDATE SKIP LOCKED` where the engine has it (SQLite serializes writers instead).
    pub fn skip_locked(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

impl Backend {
    /// After rows were inserted with explicit ids, moves the id generator past them.
    pub fn reset_identity(self, table: &str) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 (SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )),
        }
    }
}

impl Backend {
    /// A condition: the JSON list of text in `column` (e.g. `customers.tags`) holds the text
    /// parameter `param` (`$4`) exactly.
    pub fn json_list_contains(self, column: &str, param: &str) -> String {
        match self {
            Backend::Sqlite => {
                format!(
                    "EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = {param})"
                )
            }
            Backend::Postgres => format!("(({column})::jsonb @> jsonb_build_array({param}::text))"),
        }
    }
}

impl Backend {
    /// The NOTIFY channel the events trigger (migration 0002) signals on, where there is one.
    pub fn events_channel(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("hotline_events"),
        }
    }
}
