//! Agent events — start, stop, the fail-open gap before a start, captures dropped or
//! truncated — kept in the database beside the records and exported into the same
//! trail (`export/`), each as an event line of docs/export.md. Written by the agent's
//! main task, never from the request path.
use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::SystemTime,
};

use rusqlite::{Connection, params};
use serde_json::Value;
use tracing::warn;

use crate::{
    record::rfc3339,
    store::{self, StoreError},
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
";

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: u64,
    pub time: String,
    pub kind: String,
    pub detail: Value,
}

/// The agent's handle for writing events.
#[derive(Clone)]
pub struct Events {
    conn: Arc<Mutex<Connection>>,
}

impl Events {
    pub fn open(db: &Path) -> Result<Self, StoreError> {
        let conn = store::open_writer(db)?;
        prepare(&conn)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Records an event now; a failure is logged (an event is never worth stopping for).
    pub fn record(&self, kind: &str, detail: &Value) {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let result = conn.execute(
            "INSERT INTO events (time, kind, detail) VALUES (?1, ?2, ?3)",
            params![rfc3339(SystemTime::now()), kind, detail.to_string()],
        );
        if let Err(error) = result {
            warn!(message = "Failed to record an agent event.", kind, %error);
        }
    }
}

/// Creates the events table if missing.
pub fn prepare(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(SCHEMA)?;
    Ok(())
}

/// Events with `after < id`, oldest first, at most `limit`.
pub fn after(conn: &Connection, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, time, kind, detail FROM events WHERE id > ?1 ORDER BY id LIMIT ?2")?;
    let rows = stmt.query_map(params![after, limit as u64], |row| {
        let detail: String = row.get(3)?;
        Ok(Event {
            id: row.get(0)?,
            time: row.get(1)?,
            kind: row.get(2)?,
            detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Events with `first <= id <= last`.
pub fn between(conn: &Connection, first: u64, last: u64) -> Result<Vec<Event>, StoreError> {
    let count = usize::try_from(last.saturating_sub(first) + 1).unwrap_or(usize::MAX);
    let mut all = after(conn, first.saturating_sub(1), count)?;
    all.retain(|e| e.id <= last);
    Ok(all)
}
