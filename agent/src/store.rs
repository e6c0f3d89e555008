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

use crate::{origin::Process, record::Record};

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
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    provider TEXT NOT NULL,
    host TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER,
    duration_ms REAL NOT NULL,
    ttfb_ms REAL,
    bytes_sent INTEGER NOT NULL,
    bytes_received INTEGER NOT NULL,
    http_version TEXT NOT NULL,
    upstream_version TEXT,
    dst TEXT NOT NULL,
    pid INTEGER NOT NULL,
    tgid INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    gid INTEGER NOT NULL,
    comm TEXT NOT NULL,
    exe TEXT NOT NULL,
    cgroup_id INTEGER NOT NULL,
    user TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT
);
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
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// What the writer thread is asked to do.
enum Msg {
    Record(Box<Record>),
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
                            Msg::Record(record) => batch.push(*record),
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
    pub fn submit(&self, record: Record) {
        if self.tx.try_send(Msg::Record(Box::new(record))).is_err() {
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

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn insert(conn: &mut Connection, records: &[Record]) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO requests (time, provider, host, method, path, status, duration_ms, ttfb_ms,
             bytes_sent, bytes_received, http_version, upstream_version, dst, pid, tgid, uid, gid,
             comm, exe, cgroup_id, user, outcome, error)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23)",
        )?;
        for r in records {
            let p = &r.process;
            stmt.execute(params![
                r.time,
                r.provider,
                r.host,
                r.method,
                r.path,
                r.status,
                r.duration_ms,
                r.ttfb_ms,
                r.bytes_sent.cast_signed(),
                r.bytes_received.cast_signed(),
                r.http_version,
                r.upstream_version,
                r.dst,
                p.pid,
                p.tgid,
                p.uid,
                p.gid,
                p.comm,
                p.exe,
                p.cgroup_id.cast_signed(),
                r.user,
                r.outcome,
                r.error
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The newest `limit` records, returned oldest first.
pub fn recent(path: &Path, limit: u32) -> Result<Vec<Record>, StoreError> {
    let conn = open(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare(
        "SELECT id, time, provider, host, method, path, status, duration_ms, ttfb_ms, bytes_sent,
         bytes_received, http_version, upstream_version, dst, pid, tgid, uid, gid, comm, exe,
         cgroup_id, user, outcome, error FROM requests ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |row| {
        Ok(Record {
            id: row.get(0)?,
            time: row.get(1)?,
            provider: row.get(2)?,
            host: row.get(3)?,
            method: row.get(4)?,
            path: row.get(5)?,
            status: row.get(6)?,
            duration_ms: row.get(7)?,
            ttfb_ms: row.get(8)?,
            bytes_sent: row.get::<_, i64>(9)? as u64,
            bytes_received: row.get::<_, i64>(10)? as u64,
            http_version: row.get(11)?,
            upstream_version: row.get(12)?,
            dst: row.get(13)?,
            process: Process {
                pid: row.get(14)?,
                tgid: row.get(15)?,
                uid: row.get(16)?,
                gid: row.get(17)?,
                comm: row.get(18)?,
                exe: row.get(19)?,
                cgroup_id: row.get::<_, i64>(20)? as u64,
            },
            user: row.get(21)?,
            outcome: row.get(22)?,
            error: row.get(23)?,
        })
    })?;
    let mut records = rows.collect::<Result<Vec<_>, _>>()?;
    records.reverse();
    Ok(records)
}
