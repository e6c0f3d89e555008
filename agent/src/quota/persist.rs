//! Quota state in SQLite: the `quota_levels` and `quota_refills` tables.
//!
//! Takes a database path (the agent's own database, which another thread writes too) and
//! rows of levels to save or delete, or refill requests to queue; hands on the stored levels and
//! the pending refill requests. Every write is one short `BEGIN IMMEDIATE` transaction,
//! with a 5 s busy timeout, so it fits beside the record writer under WAL.
use std::{path::Path, time::Duration};

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};

use super::QuotaError;

/// How long a statement waits for another writer before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The quota tables; created if missing, never dropped. Levels of buckets no longer
/// configured stay here untouched.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS quota_levels (
    bucket TEXT NOT NULL,
    instance TEXT NOT NULL,
    -- Level as of updated_unix (Unix seconds); refill since then is computed on load.
    level REAL NOT NULL,
    updated_unix REAL NOT NULL,
    PRIMARY KEY (bucket, instance)
);
-- Refills asked for by `glassbox quota refill`, applied and deleted by the agent.
CREATE TABLE IF NOT EXISTS quota_refills (
    id INTEGER PRIMARY KEY,
    bucket TEXT NOT NULL,
    -- NULL: every instance of the bucket.
    instance TEXT,
    -- NULL: up to full capacity.
    amount REAL,
    requested TEXT NOT NULL
);
";

/// One persisted bucket instance.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct LevelRow {
    /// Bucket name.
    pub bucket: String,
    /// Instance key (`*` for a shared bucket).
    pub instance: String,
    /// Level as of `updated`.
    pub level: f64,
    /// Unix seconds.
    pub updated: f64,
}

/// One queued refill request.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct RefillRow {
    /// Row id, handed back to the CLI to poll.
    pub id: i64,
    /// Bucket name.
    pub bucket: String,
    /// One instance, or all of them.
    pub instance: Option<String>,
    /// Amount to add, or up to capacity.
    pub amount: Option<f64>,
}

/// Opens `path` with `flags` and the busy timeout.
fn open(path: &Path, flags: OpenFlags) -> Result<Connection, QuotaError> {
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|source| QuotaError::Open { path: path.display().to_string(), source })?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// Opens `path` for writing, creating the file and the quota tables if needed.
pub(super) fn open_writer(path: &Path) -> Result<Connection, QuotaError> {
    let conn = open(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Opens `path` read-only (for the CLI); the file must exist.
pub(super) fn open_reader(path: &Path) -> Result<Connection, QuotaError> {
    open(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
}

/// Whether the quota tables exist (a database the agent never ran quotas on has none).
pub(super) fn has_tables(conn: &Connection) -> Result<bool, QuotaError> {
    let sql =
        "SELECT count(*) = 2 FROM sqlite_master WHERE type = 'table' AND name IN ('quota_levels', 'quota_refills')";
    Ok(conn.query_row(sql, [], |row| row.get(0))?)
}

/// Every stored level, of configured buckets or not.
pub(super) fn load_levels(conn: &Connection) -> Result<Vec<LevelRow>, QuotaError> {
    let mut stmt = conn.prepare("SELECT bucket, instance, level, updated_unix FROM quota_levels")?;
    let rows = stmt.query_map([], |row| {
        Ok(LevelRow { bucket: row.get(0)?, instance: row.get(1)?, level: row.get(2)?, updated: row.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The refill requests not yet applied, oldest first.
pub(super) fn pending_refills(conn: &Connection) -> Result<Vec<RefillRow>, QuotaError> {
    let mut stmt = conn.prepare("SELECT id, bucket, instance, amount FROM quota_refills ORDER BY id")?;
    let rows = stmt.query_map([], |row| {
        Ok(RefillRow { id: row.get(0)?, bucket: row.get(1)?, instance: row.get(2)?, amount: row.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Saves `levels`, deletes the levels of the (bucket, instance) pairs `gone` and the
/// refill requests `applied`, in one transaction.
pub(super) fn save(
    conn: &mut Connection,
    levels: &[LevelRow],
    gone: &[(String, String)],
    applied: &[i64],
) -> Result<(), QuotaError> {
    if levels.is_empty() && gone.is_empty() && applied.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO quota_levels (bucket, instance, level, updated_unix) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (bucket, instance) DO UPDATE SET level = excluded.level, updated_unix = excluded.updated_unix",
        )?;
        for row in levels {
            upsert.execute(params![row.bucket, row.instance, row.level, row.updated])?;
        }
        let mut forget = tx.prepare_cached("DELETE FROM quota_levels WHERE bucket = ?1 AND instance = ?2")?;
        for (bucket, instance) in gone {
            forget.execute(params![bucket, instance])?;
        }
        let mut delete = tx.prepare_cached("DELETE FROM quota_refills WHERE id = ?1")?;
        for id in applied {
            delete.execute([id])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Queues a refill request; returns its id.
pub(super) fn insert_refill(
    conn: &Connection,
    bucket: &str,
    instance: Option<&str>,
    amount: Option<f64>,
) -> Result<i64, QuotaError> {
    conn.execute(
        "INSERT INTO quota_refills (bucket, instance, amount, requested)
         VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        params![bucket, instance, amount],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Whether refill request `id` is still queued.
pub(super) fn refill_pending(conn: &Connection, id: i64) -> Result<bool, QuotaError> {
    let found: Option<i64> =
        conn.query_row("SELECT id FROM quota_refills WHERE id = ?1", [id], |row| row.get(0)).optional()?;
    Ok(found.is_some())
}
