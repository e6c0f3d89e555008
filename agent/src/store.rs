//! SQLite storage of records: one writer thread fed by a bounded channel, grouped commits,
//! WAL so `glassbox requests` can read while the agent writes.
use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::Duration,
};

use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

use std::io::Read as _;

use crate::{
    capture::worker::{Captured, ChunkRef},
    record::Record,
};

/// Records waiting for the writer; past this the request path drops and counts instead
/// of waiting.
pub const QUEUE: usize = 16_384;
/// Records grouped into one transaction at most.
const BATCH: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to open database {path}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database query failed")]
    Query(#[from] rusqlite::Error),
    #[error("database {path} has schema version {found}, this glassbox needs {want}; move it aside")]
    Version { path: String, found: i64, want: i64 },
    #[error("no request with id {0}")]
    NotFound(i64),
    #[error("stored record {0} is corrupt: {1}")]
    Corrupt(i64, String),
}

/// Bump when the schema changes; an older database is refused with a clear error.
const SCHEMA_VERSION: i64 = 3;

/// Each record is stored whole as JSON (`record`, the fields of docs/records.md); the
/// other columns copy the fields that queries filter and sum on.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT,
    user TEXT NOT NULL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cache_read_tokens INTEGER,
    cache_creation_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost_usd REAL,
    record TEXT NOT NULL,
    -- Bodies as lists of 32-byte chunk ids, in order.
    request_body BLOB NOT NULL,
    response_body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_time ON requests(time);
-- Content-addressed body chunks (SHA-256 of the raw bytes), deflate-compressed.
CREATE TABLE IF NOT EXISTS chunks (
    id BLOB PRIMARY KEY,
    len INTEGER NOT NULL,
    data BLOB NOT NULL
) WITHOUT ROWID;
";

fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|source| StoreError::Open { path: path.display().to_string(), source })?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Opens (creating if needed) the database for writing.
pub fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = open(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let has_tables: bool =
        conn.query_row("SELECT count(*) > 0 FROM sqlite_master WHERE name = 'requests'", [], |row| row.get(0))?;
    if has_tables && version != SCHEMA_VERSION {
        return Err(StoreError::Version { path: path.display().to_string(), found: version, want: SCHEMA_VERSION });
    }
    conn.execute_batch(SCHEMA)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(conn)
}

/// What the writer thread is asked to do.
enum Msg {
    Record(Box<Captured>),
    /// Answer once everything queued before this is committed.
    Flush(oneshot::Sender<()>),
}

/// The handle the request path uses to hand records to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub fn spawn(mut conn: Connection) -> Self {
        let (tx, mut rx) = mpsc::channel::<Msg>(QUEUE);
        thread::Builder::new()
            .name("glassbox-store".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                let mut waiting = Vec::new();
                while let Some(first) = rx.blocking_recv() {
                    let mut next = Some(first);
                    while let Some(msg) = next.take() {
                        match msg {
                            Msg::Record(captured) => batch.push(*captured),
                            Msg::Flush(done) => waiting.push(done),
                        }
                        if batch.len() < BATCH {
                            next = rx.try_recv().ok();
                        }
                    }
                    if !batch.is_empty()
                        && let Err(e) = insert(&mut conn, &batch)
                    {
                        error!(message = "Failed to write records; they are lost.", count = batch.len(), error = %crate::error_chain(&e));
                    }
                    batch.clear();
                    for done in waiting.drain(..) {
                        let _ = done.send(());
                    }
                }
            })
            .expect("spawn store thread");
        Self { tx, dropped: Arc::default() }
    }

    /// Hands a record over without waiting; a full queue drops it, counted and logged.
    pub fn submit(&self, captured: Captured) {
        if self.tx.try_send(Msg::Record(Box::new(captured))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            warn!(message = "Record queue full; record dropped.");
        }
    }

    /// Waits until every record submitted so far is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// From a plain thread: has `done` answered once everything queued so far is committed.
    pub fn flush_blocking(&self, done: oneshot::Sender<()>) {
        let _ = self.tx.blocking_send(Msg::Flush(done));
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn insert(conn: &mut Connection, batch: &[Captured]) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
        let mut chunk = tx.prepare_cached("INSERT OR IGNORE INTO chunks (id, len, data) VALUES (?1, ?2, ?3)")?;
        let mut stmt = tx.prepare_cached(
            "INSERT INTO requests (time, provider, model, user, input_tokens, output_tokens, cache_read_tokens,
             cache_creation_tokens, reasoning_tokens, cost_usd, record, request_body, response_body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?;
        for Captured { record: r, request_chunks, response_chunks } in batch {
            for c in request_chunks.iter().chain(response_chunks) {
                if let Some(data) = &c.deflated {
                    chunk.execute(params![&c.id[..], c.len as u64, data])?;
                }
            }
            let u = &r.usage;
            let json = serde_json::to_string(r).map_err(|e| StoreError::Corrupt(0, e.to_string()))?;
            let model = r.response_model.as_ref().or(r.model.as_ref());
            stmt.execute(params![
                r.time,
                r.provider,
                model,
                r.user,
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_creation_tokens,
                u.reasoning_tokens,
                r.cost_usd,
                json,
                ids(request_chunks),
                ids(response_chunks)
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn ids(chunks: &[ChunkRef]) -> Vec<u8> {
    chunks.iter().flat_map(|c| c.id).collect()
}

/// A record from its row: the stored JSON, with the row id.
fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    let id: i64 = row.get(0)?;
    let json: String = row.get(1)?;
    let mut record: Record = serde_json::from_str(&json)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e)))?;
    record.id = id;
    Ok(record)
}

/// The newest `limit` records, returned oldest first.
pub fn recent(path: &Path, limit: u32) -> Result<Vec<Record>, StoreError> {
    let conn = open(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare("SELECT id, record FROM requests ORDER BY id DESC LIMIT ?1")?;
    let rows = stmt.query_map([limit], record_from_row)?;
    let mut records = rows.collect::<Result<Vec<_>, _>>()?;
    records.reverse();
    Ok(records)
}

/// One record with its request and response bodies, reassembled from their chunks.
pub fn one(path: &Path, id: i64) -> Result<(Record, Vec<u8>, Vec<u8>), StoreError> {
    let conn = open(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare("SELECT id, record, request_body, response_body FROM requests WHERE id = ?1")?;
    let mut rows = stmt.query([id])?;
    let row = rows.next()?.ok_or(StoreError::NotFound(id))?;
    let record = record_from_row(row)?;
    let request_ids: Vec<u8> = row.get(2)?;
    let response_ids: Vec<u8> = row.get(3)?;
    let request = reassemble(&conn, id, &request_ids)?;
    let response = reassemble(&conn, id, &response_ids)?;
    Ok((record, request, response))
}

fn reassemble(conn: &Connection, record: i64, ids: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT len, data FROM chunks WHERE id = ?1")?;
    let mut out = Vec::new();
    for id in ids.chunks(32) {
        let (len, data): (i64, Vec<u8>) = stmt
            .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(|_| StoreError::Corrupt(record, "a body chunk is missing".into()))?;
        let mut raw = Vec::with_capacity(len.cast_unsigned() as usize);
        flate2::read::DeflateDecoder::new(&data[..])
            .read_to_end(&mut raw)
            .map_err(|e| StoreError::Corrupt(record, e.to_string()))?;
        out.extend_from_slice(&raw);
    }
    Ok(out)
}
