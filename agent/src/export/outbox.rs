//! The export outbox, kept in the agent's SQLite database beside the records: every record
//! whose seq is above the acknowledged mark is waiting. A batch's seq range is written
//! down (`export_batches`) before its upload starts, so an upload cut by a crash is
//! retried with the same records under the same object key — it overwrites, it never
//! duplicates — and the mark moves only after S3 has acknowledged the batch. Also the
//! exporter's status (last success, last error) and the CLI's flush requests.
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{self, ExportRow, StoreError};

/// The outbox's tables; created if missing, beside the store's.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS export_batches (
    first_seq INTEGER PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    object_key TEXT NOT NULL,
    planned TEXT NOT NULL,
    uploaded TEXT
);
CREATE TABLE IF NOT EXISTS export_event_batches (
    first_id INTEGER PRIMARY KEY,
    last_id INTEGER NOT NULL,
    object_key TEXT NOT NULL,
    planned TEXT NOT NULL,
    uploaded TEXT
);
CREATE TABLE IF NOT EXISTS export_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// A batch whose range is fixed: it is uploaded under `object_key` until S3 takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub first_seq: u64,
    pub last_seq: u64,
    pub object_key: String,
}

/// What `glassbox export status` shows.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Status {
    /// Records not yet acknowledged by S3.
    pub backlog: u64,
    /// The highest seq S3 has acknowledged (0: none yet).
    pub acked_seq: u64,
    pub batches_uploaded: u64,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub last_error_time: Option<String>,
    /// A batch planned but not yet acknowledged.
    pub pending_batch: Option<String>,
    /// Agent events not yet acknowledged.
    pub events_backlog: u64,
}

/// Opens the database for the exporter (read-write) and creates the outbox tables.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = store::open_writer(path)?;
    conn.execute_batch(SCHEMA)?;
    crate::events::prepare(&conn)?;
    Ok(conn)
}

/// Opens read-only for the CLI; `None` for a database the exporter never touched.
pub fn open_reader(path: &Path) -> Result<Option<Connection>, StoreError> {
    let conn = store::open_reader(path)?;
    Ok(store::has_table(&conn, "export_state")?.then_some(conn))
}

fn get(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn.query_row("SELECT value FROM export_state WHERE key = ?1", [key], |row| row.get(0)).optional()?)
}

fn set(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO export_state (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// The two trails the outbox tracks: the signed records, and the agent's own events.
/// Each has its batch table and its acknowledged mark; batches work alike for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trail {
    Records,
    Events,
}

impl Trail {
    /// The batch table and its range columns.
    fn table(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Records => ("export_batches", "first_seq", "last_seq"),
            Self::Events => ("export_event_batches", "first_id", "last_id"),
        }
    }

    /// The export_state key of the highest seq (or event id) S3 has acknowledged.
    fn mark(self) -> &'static str {
        match self {
            Self::Records => "acked_seq",
            Self::Events => "acked_event",
        }
    }
}

/// The highest seq (records) or id (events) S3 has acknowledged.
pub fn acked(conn: &Connection, trail: Trail) -> Result<u64, StoreError> {
    Ok(get(conn, trail.mark())?.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// The batch planned before and not yet acknowledged, if any.
pub fn pending(conn: &Connection, trail: Trail) -> Result<Option<Planned>, StoreError> {
    let (table, first, last) = trail.table();
    let sql =
        format!("SELECT {first}, {last}, object_key FROM {table} WHERE uploaded IS NULL ORDER BY {first} LIMIT 1");
    Ok(conn
        .query_row(&sql, [], |row| {
            Ok(Planned { first_seq: row.get(0)?, last_seq: row.get(1)?, object_key: row.get(2)? })
        })
        .optional()?)
}

/// Records waiting: seq above the mark.
pub fn backlog(conn: &Connection) -> Result<u64, StoreError> {
    let acked = acked(conn, Trail::Records)?;
    Ok(conn.query_row("SELECT count(*) FROM requests WHERE seq > ?1", [acked], |row| row.get(0))?)
}

/// The time of the oldest waiting record, if any.
pub fn oldest_waiting(conn: &Connection) -> Result<Option<String>, StoreError> {
    let acked = acked(conn, Trail::Records)?;
    Ok(conn
        .query_row("SELECT time FROM requests WHERE seq > ?1 ORDER BY seq LIMIT 1", [acked], |row| row.get(0))
        .optional()?)
}

/// The rows of the next batch: up to `max_records` waiting records, stopping once their
/// stored size passes `max_bytes` (always at least one).
pub fn next_rows(conn: &Connection, max_records: usize, max_bytes: u64) -> Result<Vec<ExportRow>, StoreError> {
    let acked = acked(conn, Trail::Records)?;
    let rows = store::rows_between(conn, acked + 1, u64::MAX >> 1, max_records)?;
    let mut size = 0u64;
    let mut keep = 0;
    for row in &rows {
        // Body sizes are not known without reading them; count their chunk lists at
        // the chunker's average chunk size, which is close enough to bound a batch.
        let chunks = (row.ids.request.len() + row.ids.response.len() + row.ids.upstream.len()) / 32;
        size += row.canonical.len() as u64 + chunks as u64 * 8 * 1024;
        keep += 1;
        if size >= max_bytes {
            break;
        }
    }
    let mut rows = rows;
    rows.truncate(keep);
    Ok(rows)
}

/// Fixes a batch's range and key before its upload starts.
pub fn plan(conn: &Connection, trail: Trail, planned: &Planned, now: &str) -> Result<(), StoreError> {
    let (table, first, last) = trail.table();
    conn.execute(
        &format!(
            "INSERT OR REPLACE INTO {table} ({first}, {last}, object_key, planned, uploaded) VALUES (?1, ?2, ?3, ?4, NULL)"
        ),
        params![planned.first_seq, planned.last_seq, planned.object_key, now],
    )?;
    Ok(())
}

/// S3 took the batch: it leaves the outbox.
pub fn ack(conn: &mut Connection, trail: Trail, planned: &Planned, now: &str) -> Result<(), StoreError> {
    let (table, first, _) = trail.table();
    let tx = conn.transaction()?;
    tx.execute(&format!("UPDATE {table} SET uploaded = ?2 WHERE {first} = ?1"), params![planned.first_seq, now])?;
    set(&tx, trail.mark(), &planned.last_seq.to_string())?;
    set(&tx, "last_success", now)?;
    tx.execute("DELETE FROM export_state WHERE key IN ('last_error', 'last_error_time')", [])?;
    tx.commit()?;
    Ok(())
}

/// Records why the last upload failed.
pub fn fail(conn: &Connection, error: &str, now: &str) -> Result<(), StoreError> {
    set(conn, "last_error", error)?;
    set(conn, "last_error_time", now)
}

/// Asks the running agent to upload now (from `glassbox export flush`); returns the
/// request's number.
pub fn request_flush(conn: &Connection) -> Result<u64, StoreError> {
    let next = get(conn, "flush_requested")?.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + 1;
    set(conn, "flush_requested", &next.to_string())?;
    Ok(next)
}

/// The latest flush request number.
pub fn flush_requested(conn: &Connection) -> Result<u64, StoreError> {
    Ok(get(conn, "flush_requested")?.and_then(|v| v.parse().ok()).unwrap_or(0))
}

pub fn status(conn: &Connection) -> Result<Status, StoreError> {
    let uploaded: u64 =
        conn.query_row("SELECT count(*) FROM export_batches WHERE uploaded IS NOT NULL", [], |row| row.get(0))?;
    Ok(Status {
        backlog: backlog(conn)?,
        acked_seq: acked(conn, Trail::Records)?,
        batches_uploaded: uploaded,
        last_success: get(conn, "last_success")?,
        last_error: get(conn, "last_error")?,
        last_error_time: get(conn, "last_error_time")?,
        pending_batch: pending(conn, Trail::Records)?.map(|p| p.object_key),
        events_backlog: events_backlog(conn)?,
    })
}

/// Events waiting.
pub fn events_backlog(conn: &Connection) -> Result<u64, StoreError> {
    let acked = acked(conn, Trail::Events)?;
    if !store::has_table(conn, "events")? {
        return Ok(0);
    }
    Ok(conn.query_row("SELECT count(*) FROM events WHERE id > ?1", [acked], |row| row.get(0))?)
}

/// `prefix/device_id/YYYY/MM/DD/HH/events-<first>-<last>.jsonl.gz`, dated by the first event.
pub fn events_key(prefix: &str, device_id: &str, first_time: &str, first_id: u64, last_id: u64) -> String {
    let key = object_key(prefix, device_id, first_time, first_id, last_id);
    match key.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/events-{name}"),
        None => format!("events-{key}"),
    }
}

/// `prefix/device_id/YYYY/MM/DD/HH/<first>-<last>.jsonl.gz`, dated by the first record
/// (`time` is RFC 3339 UTC); seqs zero-padded so keys sort in log order.
pub fn object_key(prefix: &str, device_id: &str, first_time: &str, first_seq: u64, last_seq: u64) -> String {
    let digits = |range: std::ops::Range<usize>| {
        first_time.get(range).filter(|s| s.bytes().all(|b| b.is_ascii_digit())).unwrap_or("00").to_owned()
    };
    let (year, month, day, hour) = (digits(0..4), digits(5..7), digits(8..10), digits(11..13));
    let name = format!("{device_id}/{year}/{month}/{day}/{hour}/{first_seq:012}-{last_seq:012}.jsonl.gz");
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() { name } else { format!("{prefix}/{name}") }
}

/// The manifest's key beside its object.
pub fn manifest_key(object_key: &str) -> String {
    format!("{}.manifest.json", object_key.trim_end_matches(".jsonl.gz"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_dated_by_the_first_record_and_sort_by_seq() {
        let key = object_key("audit/", "dev1", "2026-11-25T23:20:55.381Z", 1, 50);
        assert_eq!(key, "audit/dev1/2026/11/25/23/000000000001-000000000050.jsonl.gz");
        assert_eq!(manifest_key(&key), "audit/dev1/2026/11/25/23/000000000001-000000000050.manifest.json");
        assert_eq!(
            object_key("", "d", "2026-01-02T03:04:05Z", 7, 7),
            "d/2026/01/02/03/000000000007-000000000007.jsonl.gz"
        );
    }
}
