//! SQLite storage of records: one writer thread fed by a bounded channel, grouped commits,
//! WAL so `glassbox requests` can read while the agent writes. Records that arrive
//! within a short window share a transaction, so a low rate does not pay a commit per
//! record; a flush ends the window at once. A commit that fails (a full disk) keeps its
//! records in memory and retries every second, in order.
use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
        mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError},
    },
    thread,
    time::{Duration, Instant},
};

use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::oneshot;
use tracing::{error, warn};

use std::io::Read as _;

use crate::{
    capture::worker::{Captured, ChunkRef},
    ledger::{self, Chain, Checkpoint, DeviceKey, Link},
    record::Record,
};

/// Records waiting for the writer; past this the request path drops and counts instead
/// of waiting.
pub const QUEUE: usize = 65_536;
/// Records grouped into one transaction at most.
const BATCH: usize = 512;
/// How long the first record of a group waits for others to share its commit. Each
/// commit writes the pages it touched to the WAL and re-signs the checkpoint, whatever
/// the number of records in it.
const GROUP_WINDOW: Duration = Duration::from_millis(20);
/// Records held in memory while commits fail (a full disk); past this the queue fills
/// and new records are dropped and counted.
const HELD_MAX: usize = 100_000;
/// Wait between attempts to commit held records.
const RETRY: Duration = Duration::from_secs(1);
/// Failed attempts after which a flush is answered although records are still held.
const FLUSH_GIVE_UP: u32 = 3;

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
const SCHEMA_VERSION: i64 = 5;

/// Each record is stored whole as its canonical JSON (`record`: the fields of
/// docs/records.md plus its body chunk ids), linked into the signed chain (`seq`,
/// `prev_hash`, `hash`, `signature`: see `ledger`); the other columns copy the fields
/// that queries filter and sum on.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL UNIQUE,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    signature BLOB NOT NULL,
    time TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT,
    user TEXT NOT NULL,
    login TEXT NOT NULL,
    session TEXT,
    client TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cache_read_tokens INTEGER,
    cache_creation_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost_usd REAL,
    record TEXT NOT NULL,
    -- Bodies as lists of 32-byte chunk ids, in order. upstream_body: the body sent
    -- upstream when policy changed it, else empty.
    request_body BLOB NOT NULL,
    response_body BLOB NOT NULL,
    upstream_body BLOB NOT NULL DEFAULT x''
);
CREATE INDEX IF NOT EXISTS requests_time ON requests(time);
CREATE INDEX IF NOT EXISTS requests_session ON requests(session);
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

/// Opens the database read-only, for the CLI's queries (WAL: readers never block the writer).
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    open(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
}

/// Opens (creating if needed) the database for writing.
pub fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = open(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let has_tables = has_table(&conn, "requests")?;
    if has_tables && version == 4 {
        // v5 added the body sent upstream; older records simply have none.
        conn.execute_batch("ALTER TABLE requests ADD COLUMN upstream_body BLOB NOT NULL DEFAULT x''")?;
    } else if has_tables && version != SCHEMA_VERSION {
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
    tx: Sender<Msg>,
    /// Records sent but not yet taken by the writer thread, held under QUEUE.
    queued: Arc<AtomicUsize>,
    /// Records taken by the writer thread and not yet committed.
    held: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread on `conn`, signing with `key`; after each commit the
    /// signed head of the chain is written to `checkpoint`.
    pub fn spawn(mut conn: Connection, key: DeviceKey, checkpoint: PathBuf) -> Result<Self, StoreError> {
        let mut chain = Chain::resume(resume_point(&conn, &key, &checkpoint)?);
        let (tx, rx) = mpsc::channel::<Msg>();
        let queued = Arc::new(AtomicUsize::new(0));
        let inbox = Inbox { rx, queued: queued.clone() };
        let held_count = Arc::new(AtomicUsize::new(0));
        let held_seen = held_count.clone();
        thread::Builder::new()
            .name("glassbox-store".into())
            .spawn(move || {
                crate::workers::lower_priority();
                let mut held: Vec<Captured> = Vec::with_capacity(BATCH);
                let mut waiting = Vec::new();
                let mut failures = 0u32;
                loop {
                    let open = inbox.gather(&mut held, &mut waiting, GROUP_WINDOW);
                    held_seen.store(held.len(), Ordering::Relaxed);
                    failures = commit_held(&mut conn, &mut held, &key, &mut chain, &checkpoint, failures);
                    held_seen.store(held.len(), Ordering::Relaxed);
                    // Flushes are answered once everything is committed; while the disk
                    // refuses, after a few tries, so a stopping agent is not held forever.
                    if held.is_empty() || failures >= FLUSH_GIVE_UP {
                        for done in waiting.drain(..) {
                            let _ = done.send(());
                        }
                    }
                    if held.is_empty() {
                        if !open {
                            break;
                        }
                        // A burst may have grown it far beyond one group.
                        held.shrink_to(BATCH);
                    } else if !open && failures >= FLUSH_GIVE_UP {
                        // The agent is stopping and the disk still refuses: say what is lost.
                        error!(
                            message = "Stopping with records that could not be written; they are lost.",
                            count = held.len()
                        );
                        break;
                    } else {
                        thread::sleep(RETRY);
                    }
                }
            })
            .expect("spawn store thread");
        Ok(Self { tx, queued, held: held_count, dropped: Arc::default() })
    }

    /// Hands a record over without waiting; a full queue drops it, counted and logged.
    pub fn submit(&self, captured: Captured) {
        let full = self.queued.fetch_add(1, Ordering::Relaxed) >= QUEUE;
        if full || self.tx.send(Msg::Record(Box::new(captured))).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            warn!(message = "Record queue full; record dropped.");
        }
    }

    /// Waits until every record submitted so far is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        self.flush_then(done);
        let _ = wait.await;
    }

    /// Has `done` answered once everything submitted so far is committed (never waits).
    pub fn flush_then(&self, done: oneshot::Sender<()>) {
        // A flush is never refused for a full queue: the channel itself is unbounded.
        let _ = self.tx.send(Msg::Flush(done));
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Records submitted and not yet committed (nor dropped).
    pub fn backlog(&self) -> usize {
        self.queued.load(Ordering::Relaxed) + self.held.load(Ordering::Relaxed)
    }
}

/// The writer thread's end of the channel.
struct Inbox {
    rx: Receiver<Msg>,
    queued: Arc<AtomicUsize>,
}

impl Inbox {
    /// Gathers the next group of records and flush requests. With nothing held it
    /// blocks for a message; after the first record it waits up to `window` for more,
    /// until BATCH records are held or a flush asks for everything now; then it takes
    /// whatever else is already queued, up to HELD_MAX (while commits fail, the rest
    /// stays queued, and past QUEUE new records are dropped and counted). Returns false
    /// once every `Writer` is gone and the channel is empty.
    fn gather(&self, held: &mut Vec<Captured>, waiting: &mut Vec<oneshot::Sender<()>>, window: Duration) -> bool {
        if held.is_empty() && waiting.is_empty() {
            match self.rx.recv() {
                Ok(msg) => self.take(msg, held, waiting),
                Err(_) => return false,
            }
        }
        let deadline = Instant::now() + window;
        while held.len() < BATCH && waiting.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(msg) => self.take(msg, held, waiting),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
        while held.len() < HELD_MAX {
            match self.rx.try_recv() {
                Ok(msg) => self.take(msg, held, waiting),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
        true
    }

    fn take(&self, msg: Msg, held: &mut Vec<Captured>, waiting: &mut Vec<oneshot::Sender<()>>) {
        match msg {
            Msg::Record(captured) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                held.push(*captured);
            }
            Msg::Flush(done) => waiting.push(done),
        }
    }
}

/// Commits the held records in transactions of up to BATCH, in order, signs the new head
/// into the checkpoint, then removes the committed records all at once (a backlog can
/// hold many groups; removing each from the front would move all the rest every time).
/// Stops at the first failure (those records stay held, the chain is put back) and
/// returns the number of failures in a row.
fn commit_held(
    conn: &mut Connection,
    held: &mut Vec<Captured>,
    key: &DeviceKey,
    chain: &mut Chain,
    checkpoint: &Path,
    mut failures: u32,
) -> u32 {
    let mut committed = 0;
    for group in held.chunks(BATCH) {
        let before = *chain;
        match insert(conn, group, key, chain) {
            Ok(()) => {
                committed += group.len();
                if failures > 0 {
                    warn!(message = "Records are written again.", after_failures = failures);
                }
                failures = 0;
            }
            Err(e) => {
                *chain = before;
                failures += 1;
                // Once, then every minute: the disk may stay full for a while.
                if failures == 1 || failures.is_multiple_of(60) {
                    error!(message = "Failed to write records; holding them and retrying.", held = held.len() - committed, failures, error = %crate::error_chain(&e));
                }
                break;
            }
        }
    }
    if committed > 0 {
        write_checkpoint(checkpoint, key, chain);
        held.drain(..committed);
    }
    failures
}

fn insert(conn: &mut Connection, batch: &[Captured], key: &DeviceKey, chain: &mut Chain) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
        let mut chunk = tx.prepare_cached("INSERT OR IGNORE INTO chunks (id, len, data) VALUES (?1, ?2, ?3)")?;
        let mut exists = tx.prepare_cached("SELECT 1 FROM chunks WHERE id = ?1")?;
        let mut stmt = tx.prepare_cached(
            "INSERT INTO requests (seq, prev_hash, hash, signature, time, provider, model, user, login, session,
             client, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens,
             cost_usd, record, request_body, response_body, upstream_body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
        )?;
        for Captured { canonical, columns: c, ids, chunks } in batch {
            for chunk_ref in chunks {
                match &chunk_ref.deflated {
                    Some(data) => {
                        chunk.execute(params![&chunk_ref.id[..], chunk_ref.len as u64, data])?;
                    }
                    // Believed stored; retention may have removed it since.
                    None => {
                        if let Some(raw) = &chunk_ref.raw
                            && !exists.exists([&chunk_ref.id[..]])?
                        {
                            let data = crate::capture::worker::deflate(raw);
                            chunk.execute(params![&chunk_ref.id[..], chunk_ref.len as u64, data])?;
                        }
                    }
                }
            }
            let link = chain.append(key, canonical);
            let u = &c.usage;
            stmt.execute(params![
                link.seq,
                &link.prev_hash[..],
                &link.hash[..],
                link.signature,
                c.time,
                c.provider,
                c.model,
                c.user,
                c.login,
                c.session,
                c.client,
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_creation_tokens,
                u.reasoning_tokens,
                c.cost_usd,
                std::str::from_utf8(canonical).map_err(|e| StoreError::Corrupt(0, e.to_string()))?,
                ids.request,
                ids.response,
                ids.upstream
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The chunk ids of a record's bodies, each a list of 32-byte ids in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyIds {
    pub request: Vec<u8>,
    pub response: Vec<u8>,
    /// The body sent upstream when policy changed it; empty otherwise.
    pub upstream: Vec<u8>,
}

impl BodyIds {
    /// The ids of each body's chunks, in order.
    pub fn of(request: &[ChunkRef], response: &[ChunkRef], upstream: &[ChunkRef]) -> Self {
        let ids = |chunks: &[ChunkRef]| chunks.iter().flat_map(|c| c.id).collect();
        Self { request: ids(request), response: ids(response), upstream: ids(upstream) }
    }

    /// The `body_chunks` object a record is signed with; `upstream` only when present,
    /// so records without one keep the shape they always had.
    fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({ "request": hex(&self.request), "response": hex(&self.response) });
        if !self.upstream.is_empty() {
            value["upstream"] = hex(&self.upstream).into();
        }
        value
    }

    /// Every chunk id, in all three bodies.
    pub fn all(&self) -> impl Iterator<Item = &[u8]> {
        self.request.chunks(32).chain(self.response.chunks(32)).chain(self.upstream.chunks(32))
    }
}

/// The bytes a record is signed as: its JSON without the row id, plus the ids of its
/// body chunks (so the bodies are covered too), canonicalised.
pub fn canonical_record(record: &Record, ids: &BodyIds) -> Result<Vec<u8>, ledger::CanonicalError> {
    let chunks = ids.to_json();
    ledger::canonical_object(record, &["id"], &[("body_chunks", &chunks)])
}

/// Copies of the record fields the `requests` table keeps in columns, for queries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Columns {
    pub time: String,
    pub provider: String,
    /// The model that answered, else the one asked for.
    pub model: Option<String>,
    pub user: String,
    pub login: String,
    pub session: Option<String>,
    pub client: Option<String>,
    pub usage: crate::capture::usage::Usage,
    pub cost_usd: Option<f64>,
}

impl Columns {
    pub fn of(r: &Record) -> Self {
        Self {
            time: r.time.clone(),
            provider: r.provider.clone(),
            model: r.response_model.clone().or_else(|| r.model.clone()),
            user: r.user.clone(),
            login: r.identity.login.clone(),
            session: r.session.as_ref().map(|s| s.id.clone()),
            client: r.client.as_ref().map(|c| c.name.clone()),
            usage: r.usage.clone(),
            cost_usd: r.cost_usd,
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The (seq, hash) of the newest stored link, to resume the chain from.
fn last_link(conn: &Connection) -> Result<Option<(u64, [u8; 32])>, StoreError> {
    let mut stmt = conn.prepare("SELECT seq, hash FROM requests ORDER BY seq DESC LIMIT 1")?;
    let mut rows = stmt.query([])?;
    let Some(row) = rows.next()? else { return Ok(None) };
    let seq: u64 = row.get(0)?;
    let hash: Vec<u8> = row.get(1)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| StoreError::Corrupt(0, format!("record {seq} has a bad hash")))?;
    Ok(Some((seq, hash)))
}

/// Where the chain goes on: the database's head, unless the signed checkpoint is ahead
/// of it — then rows were cut off while the agent was down. Going on from the
/// checkpoint keeps that visible to `verify` ("removed after …") instead of re-using
/// their numbers; the checkpoint is never rewritten with a shorter history.
fn resume_point(conn: &Connection, key: &DeviceKey, checkpoint: &Path) -> Result<Option<(u64, [u8; 32])>, StoreError> {
    let stored = last_link(conn)?;
    let signed = std::fs::read_to_string(checkpoint)
        .ok()
        .and_then(|text| text.parse::<Checkpoint>().ok())
        .filter(|cp| cp.is_signed_by(&key.public_key()))
        .map(|cp| cp.head());
    match (stored, signed) {
        (Some((db_seq, _)), Some((cp_seq, cp_hash))) if cp_seq > db_seq => {
            error!(
                message = "The log's newest records are missing from the database; continuing after the signed head.",
                database_head = db_seq,
                signed_head = cp_seq
            );
            Ok(Some((cp_seq, cp_hash)))
        }
        (None, Some(head)) => {
            error!(
                message = "The database holds no records but a signed head exists; continuing after it.",
                signed_head = head.0
            );
            Ok(Some(head))
        }
        _ => Ok(stored),
    }
}

/// Writes the signed head after a commit; a failure is logged (verify then reports a
/// stale checkpoint as truncation only if rows really are missing past it).
fn write_checkpoint(path: &Path, key: &DeviceKey, chain: &Chain) {
    let Some(head) = chain.head() else { return };
    let text = format!("{}\n", Checkpoint::sign(key, head));
    let tmp = path.with_extension("tmp");
    if let Err(error) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)) {
        warn!(message = "Failed to write the ledger checkpoint.", path = %path.display(), %error);
    }
}

/// One stored record as `glassbox verify` sees it.
pub struct StoredLink {
    pub id: i64,
    pub link: Link,
    /// The canonical bytes the link's hash covers.
    pub canonical: Vec<u8>,
    pub ids: BodyIds,
}

/// Every stored link with its canonical bytes and body ids, in storage order (rowid).
pub fn links(path: &Path) -> Result<Vec<StoredLink>, StoreError> {
    let conn = open_reader(path)?;
    let mut stmt = conn.prepare(
        "SELECT id, seq, prev_hash, hash, signature, record, request_body, response_body, upstream_body
         FROM requests ORDER BY id",
    )?;
    let rows = stmt.query_map([], |row| {
        let record: String = row.get(5)?;
        Ok(StoredLink {
            id: row.get(0)?,
            link: link_at(row, 1)?,
            canonical: record.into_bytes(),
            ids: BodyIds { request: row.get(6)?, response: row.get(7)?, upstream: row.get(8)? },
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The link stored in the columns `seq, prev_hash, hash, signature` starting at `first`.
fn link_at(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Link> {
    let bytes32 = |i: usize| -> rusqlite::Result<[u8; 32]> {
        let v: Vec<u8> = row.get(i)?;
        Ok(v.try_into().unwrap_or([0; 32]))
    };
    Ok(Link {
        seq: row.get(first)?,
        prev_hash: bytes32(first + 1)?,
        hash: bytes32(first + 2)?,
        signature: row.get(first + 3)?,
    })
}

/// Whether the database has a table (or index) called `name`.
pub fn has_table(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn.query_row("SELECT count(*) > 0 FROM sqlite_master WHERE name = ?1", [name], |row| row.get(0))?)
}

/// Whether a stored record's canonical bytes name exactly these body chunk ids.
pub fn body_ids_match(canonical: &[u8], ids: &BodyIds) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(canonical) else { return false };
    value["body_chunks"] == ids.to_json()
}

/// Whether every stored chunk's bytes still hash to its id; returns the ids that do not.
pub fn corrupt_chunks(path: &Path) -> Result<Vec<String>, StoreError> {
    let conn = open_reader(path)?;
    let mut stmt = conn.prepare("SELECT id, data FROM chunks")?;
    let mut bad = Vec::new();
    let rows = stmt.query_map([], |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?)))?;
    for row in rows {
        let (id, data) = row?;
        let mut raw = Vec::new();
        let ok = flate2::read::DeflateDecoder::new(&data[..]).read_to_end(&mut raw).is_ok()
            && crate::capture::chunk::id(&raw)[..] == id[..];
        if !ok {
            bad.push(hex(&id));
        }
    }
    Ok(bad)
}

/// A record from its row: the stored JSON, with the row id.
pub fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    let id: i64 = row.get(0)?;
    let json: String = row.get(1)?;
    let mut record: Record = serde_json::from_str(&json)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e)))?;
    record.id = id;
    Ok(record)
}

/// The newest `limit` records, returned oldest first.
pub fn recent(path: &Path, limit: u32) -> Result<Vec<Record>, StoreError> {
    let conn = open_reader(path)?;
    let mut stmt = conn.prepare("SELECT id, record FROM requests ORDER BY id DESC LIMIT ?1")?;
    let rows = stmt.query_map([limit], record_from_row)?;
    let mut records = rows.collect::<Result<Vec<_>, _>>()?;
    records.reverse();
    Ok(records)
}

/// A record's bodies, reassembled from their chunks.
pub struct Bodies {
    pub request: Vec<u8>,
    pub response: Vec<u8>,
    /// The body sent upstream, when policy changed it.
    pub upstream: Option<Vec<u8>>,
}

/// One record with its bodies.
pub fn one(path: &Path, id: i64) -> Result<(Record, Bodies), StoreError> {
    let conn = open_reader(path)?;
    let mut stmt =
        conn.prepare("SELECT id, record, request_body, response_body, upstream_body FROM requests WHERE id = ?1")?;
    let mut rows = stmt.query([id])?;
    let row = rows.next()?.ok_or(StoreError::NotFound(id))?;
    let record = record_from_row(row)?;
    let (request_ids, response_ids, upstream_ids): (Vec<u8>, Vec<u8>, Vec<u8>) =
        (row.get(2)?, row.get(3)?, row.get(4)?);
    let bodies = Bodies {
        request: reassemble(&conn, id, &request_ids)?,
        response: reassemble(&conn, id, &response_ids)?,
        upstream: if upstream_ids.is_empty() { None } else { Some(reassemble(&conn, id, &upstream_ids)?) },
    };
    Ok((record, bodies))
}

/// One stored row as the exporter reads it: link, canonical bytes, time and body ids.
pub struct ExportRow {
    pub id: i64,
    pub link: Link,
    pub canonical: String,
    /// The record's `time` column (RFC 3339 UTC).
    pub time: String,
    pub ids: BodyIds,
}

/// Rows with `first <= seq <= last`, at most `limit`, in seq order.
pub fn rows_between(conn: &Connection, first: u64, last: u64, limit: usize) -> Result<Vec<ExportRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, seq, prev_hash, hash, signature, record, time, request_body, response_body, upstream_body
         FROM requests WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![first, last, limit as u64], |row| {
        Ok(ExportRow {
            id: row.get(0)?,
            link: link_at(row, 1)?,
            canonical: row.get(5)?,
            time: row.get(6)?,
            ids: BodyIds { request: row.get(7)?, response: row.get(8)?, upstream: row.get(9)? },
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The bytes of a body from its chunk ids (empty for none).
pub fn body(conn: &Connection, record: i64, ids: &[u8]) -> Result<Vec<u8>, StoreError> {
    reassemble(conn, record, ids)
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

#[cfg(test)]
mod tests;
