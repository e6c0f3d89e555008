//! The capture worker: a thread that takes each finished exchange off the request path,
//! redacts secrets, parses the bodies (SSE reassembled), extracts usage, tools and cost,
//! splits the bodies into content-addressed chunks and hands the result to the store.
use std::{
    collections::{HashMap, HashSet},
    io::Write,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use flate2::{Compression, write::DeflateEncoder};
use http::HeaderMap;
use tokio::sync::oneshot;
use tracing::{error, warn};

use super::{
    buffer::BodyBuf,
    chunk::{self, ChunkId},
    cost::Pricing,
    queue::{Idle, Queue},
    redact::Redactor,
    sse::SseParser,
    usage::{self, ApiKind, ResponseBody},
};
use crate::{
    identity::{self, Device, ExeHasher, IdentityConfig, Person, ProcessSnapshot},
    ledger::CanonicalError,
    policy::audit::ChargeRecord,
    quota::{Actual, Quotas, Reservation},
    record::{Identity, Record, rfc3339},
    session::SessionTracker,
    store::{self, BodyIds, Columns, canonical_record},
};

/// Who is on this device and how sessions are cut: what the worker needs to name people.
pub struct People {
    pub config: IdentityConfig,
    pub device: Device,
    /// Silence after which a process-tree session ends.
    pub session_gap: Duration,
}

/// Exchanges waiting for the worker; past this they are dropped and counted. Their
/// bodies are bounded by the in-flight budget (`[capture] max_inflight_mb`), so the
/// queue can be deep: a burst then truncates bodies before it ever drops records.
const QUEUE: usize = 65_536;
/// How the worker waits for exchanges. While traffic flows it polls, so producers never
/// wake it (a wake-up is a futex syscall on the request path); after 100 ms without
/// work it parks, and the next exchange wakes it once.
const IDLE: Idle = Idle { poll: Duration::from_millis(5), polls_before_park: 20 };
/// Chunk ids remembered as already stored, so repeats skip compression: two generations
/// of up to this many, the older forgotten when the newer is full (about 2 MiB each).
const KNOWN_GENERATION: usize = 50_000;
/// A backlog this deep (exchanges waiting for this worker, or records for the store)
/// makes a burst; once both are short again, the memory the burst freed is given back.
const BURST: usize = 1024;
const DRAINED: usize = 16;

/// One finished request/response exchange, as the proxy saw it.
pub struct Exchange {
    /// Transport facts filled in by the proxy; the worker adds the rest.
    pub record: Record,
    /// When the request arrived.
    pub at: SystemTime,
    /// What /proc said about the caller when its connection was accepted.
    pub snapshot: Arc<ProcessSnapshot>,
    pub request_headers: HeaderMap,
    pub response_headers: Option<HeaderMap>,
    pub request_body: Option<Arc<Mutex<BodyBuf>>>,
    pub response_body: Option<BodyBuf>,
    /// The body sent upstream, when policy changed it (`request_body` holds the client's).
    pub upstream_body: Option<Bytes>,
    /// Quota reserved for this request, settled here with the real cost.
    pub reservation: Option<Reservation>,
}

impl Exchange {
    pub fn new(
        record: Record,
        snapshot: Arc<ProcessSnapshot>,
        request_headers: HeaderMap,
        request_body: Option<Arc<Mutex<BodyBuf>>>,
    ) -> Self {
        Self {
            record,
            at: SystemTime::now(),
            snapshot,
            request_headers,
            response_headers: None,
            request_body,
            response_body: None,
            upstream_body: None,
            reservation: None,
        }
    }
}

/// A chunk for the store: its id, and its compressed bytes unless it is believed stored.
/// When retention removes chunks, the raw bytes of a chunk believed stored stay at hand
/// (a refcounted slice of the body): retention may have removed it since this worker
/// saw it, and the store then compresses it after all.
pub struct ChunkRef {
    pub id: ChunkId,
    pub deflated: Option<Vec<u8>>,
    pub len: usize,
    pub raw: Option<Bytes>,
}

/// What the store receives, made here so the store thread only links, signs and inserts:
/// the record's canonical bytes (what its link hashes), the fields queries use, and its
/// bodies' chunks. The `Record` itself, many small strings, is dropped before the record
/// can wait in a backlog: a backlogged record holds about half the bytes it would.
pub struct Captured {
    pub canonical: Vec<u8>,
    pub columns: Columns,
    /// The chunk ids of each body, in order (the upstream body only when policy changed it).
    pub ids: BodyIds,
    /// Every body's chunks, to store those not stored yet.
    pub chunks: Vec<ChunkRef>,
}

impl Captured {
    pub fn new(
        record: &Record,
        request: Vec<ChunkRef>,
        response: Vec<ChunkRef>,
        upstream: Vec<ChunkRef>,
    ) -> Result<Self, CanonicalError> {
        let ids = BodyIds::of(&request, &response, &upstream);
        let mut canonical = canonical_record(record, &ids)?;
        // It may wait in a backlog: keep only its bytes, not the room it grew by.
        canonical.shrink_to_fit();
        Ok(Self {
            canonical,
            columns: Columns::of(record),
            ids,
            chunks: request.into_iter().chain(response).chain(upstream).collect(),
        })
    }
}

enum Msg {
    Exchange(Box<Exchange>),
    /// Answer once everything queued before this is committed by the store.
    Flush(oneshot::Sender<()>),
}

/// Handle for the proxy: submit exchanges without waiting.
#[derive(Clone)]
pub struct Capturer {
    queue: Arc<Queue<Msg>>,
    dropped: Arc<AtomicU64>,
    unpriced: Arc<AtomicU64>,
}

impl Capturer {
    pub fn spawn(
        redactor: Redactor,
        pricing: Pricing,
        people: People,
        quotas: Option<Arc<Quotas>>,
        chunks_removed: bool,
        writer: store::Writer,
    ) -> Self {
        let queue = Arc::new(Queue::new(QUEUE));
        let rx = queue.clone();
        let unpriced = Arc::new(AtomicU64::new(0));
        let worker = Worker {
            redactor,
            pricing,
            writer,
            known: Known::default(),
            unpriced: unpriced.clone(),
            sessions: SessionTracker::new(people.session_gap),
            people,
            hasher: ExeHasher::new(),
            persons: HashMap::new(),
            quotas,
            chunks_removed,
        };
        thread::Builder::new()
            .name("glassbox-capture".into())
            .spawn(move || {
                crate::workers::lower_priority();
                worker.run(&rx);
            })
            .expect("spawn capture");
        Self { queue, dropped: Arc::default(), unpriced }
    }

    /// Hands an exchange over; a full queue drops it, counted and logged.
    pub fn submit(&self, exchange: Exchange) {
        if self.queue.push(Msg::Exchange(Box::new(exchange))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            warn!(message = "Capture queue full; record dropped.");
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Records with usage whose model has no price (cost left null).
    pub fn unpriced(&self) -> u64 {
        self.unpriced.load(Ordering::Relaxed)
    }

    /// Waits until every exchange submitted so far is processed and committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        self.queue.push_always(Msg::Flush(done));
        let _ = wait.await;
    }
}

struct Worker {
    redactor: Redactor,
    pricing: Pricing,
    writer: store::Writer,
    known: Known,
    unpriced: Arc<AtomicU64>,
    people: People,
    sessions: SessionTracker,
    hasher: ExeHasher,
    /// Persons by (uid, euid, sudo uid, loginuid): passwd lookups can be slow (LDAP).
    persons: HashMap<(u32, u32, Option<u32>, Option<u32>), Person>,
    quotas: Option<Arc<Quotas>>,
    /// Retention removes chunks, so one remembered as stored may be gone.
    chunks_removed: bool,
}

impl Worker {
    fn run(mut self, queue: &Queue<Msg>) {
        let mut batch = Vec::new();
        let mut burst = false;
        loop {
            queue.take(&mut batch, IDLE);
            if burst && batch.len() < DRAINED && self.writer.backlog() < DRAINED {
                burst = false;
                release_freed_memory();
            }
            burst |= batch.len() >= BURST || self.writer.backlog() >= BURST;
            for msg in batch.drain(..) {
                match msg {
                    Msg::Exchange(exchange) => match self.process(*exchange) {
                        Ok(captured) => self.writer.submit(captured),
                        // Not seen: every map key of a record is a string.
                        Err(e) => error!(message = "A record could not be serialised; it is lost.", error = %e),
                    },
                    Msg::Flush(done) => self.writer.flush_then(done),
                }
            }
        }
    }

    fn process(&mut self, exchange: Exchange) -> Result<Captured, CanonicalError> {
        let Exchange {
            mut record,
            at,
            snapshot,
            request_headers,
            response_headers,
            request_body,
            response_body,
            upstream_body,
            reservation,
        } = exchange;
        let request = request_body.map(|buf| {
            let buf = buf.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            (buf.to_bytes(), buf.truncated())
        });
        let (request, request_truncated) = request.unwrap_or_default();
        let (response, response_truncated) =
            response_body.as_ref().map(|buf| (buf.to_bytes(), buf.truncated())).unwrap_or_default();
        drop(response_body); // returns its share of the in-flight budget

        record.time = rfc3339(at);
        // A WebSocket turn asks as the POST of its path would.
        let websocket = record.http_version == crate::websocket::WEBSOCKET;
        let api = usage::api_kind(if websocket { "POST" } else { &record.method }, &record.path);
        // Usage is read from what the provider saw: the body policy sent, if it changed one.
        let sent = upstream_body.clone().unwrap_or_else(|| request.clone());
        let is_sse = websocket
            || response_headers.as_ref().is_some_and(|h| {
                h.get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
            });
        let analysis = if is_sse {
            let mut parser = SseParser::new();
            let events = parser.feed(&response);
            let end = parser.finish();
            record.stream = true;
            record.detail.stream_events = Some(events.len() as u64);
            let clean = end.complete && record.outcome == "complete" && !response_truncated;
            record.detail.stream_complete = Some(clean);
            usage::analyze(api, &record.path, &sent, record.status.unwrap_or(0), ResponseBody::Sse(&events))
        } else {
            let body =
                if looks_like_json(&response) { ResponseBody::Json(&response) } else { ResponseBody::Other(&response) };
            usage::analyze(api, &record.path, &sent, record.status.unwrap_or(0), body)
        };

        record.path = self.redactor.path(&record.path);
        record.api = (api != ApiKind::Unknown).then(|| api.as_str().to_owned());
        record.stream |= analysis.stream;
        record.model = analysis.model_requested;
        record.response_model = analysis.model_answered;
        record.usage = analysis.usage;
        let model = record.response_model.as_deref().or(record.model.as_deref());
        record.cost_usd = model.and_then(|m| self.pricing.cost(&record.provider, m, &record.usage));
        if record.cost_usd.is_none() && model.is_some() && record.usage != usage::Usage::default() {
            let unpriced = self.unpriced.fetch_add(1, Ordering::Relaxed) + 1;
            warn!(message = "No price for model; cost left unknown.", provider = %record.provider, model = ?model, unpriced);
        }
        let detail = &mut record.detail;
        detail.response_id = analysis.response_id;
        detail.tools_declared = analysis.tools_declared;
        detail.tool_calls = analysis.tool_calls;
        detail.provider_error = analysis.error;
        detail.finish_reason = analysis.finish_reason;
        detail.request_headers = self.redactor.headers(&request_headers);
        detail.response_headers = response_headers.as_ref().map(|h| self.redactor.headers(h)).unwrap_or_default();
        detail.request_truncated = request_truncated;
        detail.response_truncated = response_truncated;

        self.identify(&mut record, &snapshot, &request_headers);
        for arg in &mut record.process.cmdline {
            *arg = self.redactor.arg(arg);
        }
        let body = serde_json::from_slice::<serde_json::Value>(&sent).ok();
        let root = snapshot.tree_root(record.process.pid, &record.process.comm);
        let session = self.sessions.resolve(
            &request_headers,
            body.as_ref(),
            record.detail.response_id.as_deref(),
            &root,
            &record.identity.login,
            at,
        );
        record.session = Some(session);

        if let Some(reservation) = reservation {
            self.settle(&mut record, reservation);
        }
        let request_chunks = self.chunks(&request);
        let response_chunks = self.chunks(&response);
        let upstream_chunks = upstream_body.map(|body| self.chunks(&body)).unwrap_or_default();
        Captured::new(&record, request_chunks, response_chunks, upstream_chunks)
    }

    /// Replaces the request's quota reservation with its real cost: tokens in and out and
    /// the priced cost, or the estimate where they are unknown. A request that never
    /// reached the provider (a glassbox failure before any response) is not charged.
    fn settle(&self, record: &mut Record, reservation: Reservation) {
        let Some(quotas) = &self.quotas else { return };
        if record.outcome == "failed" && record.upstream_version.is_none() {
            quotas.release(reservation);
            return;
        }
        let u = &record.usage;
        let tokens = match (u.input_tokens, u.output_tokens) {
            (None, None) => None,
            (input, output) => Some(input.unwrap_or(0) + output.unwrap_or(0)),
        };
        // An error answer with no usage is not billed by providers: nothing to charge.
        // (A success with unknown usage, such as a stream without usage, is charged its
        // estimate.)
        if tokens.is_none() && !record.status.is_some_and(|s| (200..300).contains(&s)) {
            quotas.release(reservation);
            return;
        }
        let charges = quotas.settle(reservation, Actual { tokens, usd: record.cost_usd }, SystemTime::now());
        if let Some(quota) = record.policy.as_mut().and_then(|p| p.quota.as_mut()) {
            quota.charges = charges
                .into_iter()
                .map(|c| ChargeRecord {
                    unit: crate::policy::chain::unit_name(c.unit).to_owned(),
                    bucket: c.bucket,
                    instance: c.instance,
                    reserved: c.reserved,
                    charged: c.charged,
                    level_after: c.level_after,
                })
                .collect();
        }
    }

    /// Fills in the person, device, CI context, client and the executable's hash.
    fn identify(&mut self, record: &mut Record, snapshot: &ProcessSnapshot, headers: &HeaderMap) {
        record.process.merge(snapshot);
        let p = &mut record.process;
        // A process gone before /proc could be read leaves only the kernel's ids.
        let readable = snapshot.pid == p.pid && !snapshot.start_time.is_empty();
        let fallback;
        let snap = if readable {
            snapshot
        } else {
            fallback = ProcessSnapshot {
                pid: p.pid,
                uid: p.uid,
                euid: p.uid,
                gid: p.gid,
                comm: p.comm.clone(),
                ..Default::default()
            };
            &fallback
        };
        if readable {
            p.exe_sha256 = self.hasher.sha256(&snap.exe, snap.exe_file.as_ref());
        }
        let key = (snap.uid, snap.euid, snap.sudo_uid, snap.loginuid);
        let tailscale_login = self.people.device.tailscale.as_ref().and_then(|t| t.login.as_deref());
        let person = self
            .persons
            .entry(key)
            .or_insert_with(|| identity::person(&self.people.config, snap, tailscale_login))
            .clone();
        let device = &self.people.device;
        let tags = device.tags_for(snap.ci.is_some());
        record.user.clone_from(&person.user);
        record.identity = Identity {
            login: person.login,
            user: person.user,
            uid: person.uid,
            euid: person.euid,
            via_sudo: person.via_sudo,
            device_id: device.device_id.clone(),
            hostname: device.hostname.clone(),
            tags,
        };
        record.ci.clone_from(&snap.ci);
        record.client = identity::client(headers, &record.process.exe, &record.process.comm);
    }

    /// Splits a body into chunks, compressing only those not known to be stored.
    fn chunks(&mut self, body: &Bytes) -> Vec<ChunkRef> {
        chunk::split(body)
            .into_iter()
            .map(|piece| {
                let id = chunk::id(piece);
                let deflated = if self.known.remember(id) { None } else { Some(deflate(piece)) };
                let raw = (deflated.is_none() && self.chunks_removed).then(|| body.slice_ref(piece));
                ChunkRef { id, deflated, len: piece.len(), raw }
            })
            .collect()
    }
}

/// Chunk ids believed stored, in two generations so that memory stays bounded while the
/// most recently seen ids are kept.
#[derive(Default)]
struct Known {
    new: HashSet<ChunkId>,
    old: HashSet<ChunkId>,
}

impl Known {
    /// Whether `id` was known; it is remembered as recently seen either way.
    fn remember(&mut self, id: ChunkId) -> bool {
        if self.new.contains(&id) {
            return true;
        }
        let known = self.old.remove(&id);
        if self.new.len() >= KNOWN_GENERATION {
            self.old = std::mem::take(&mut self.new);
        }
        self.new.insert(id);
        known
    }
}

/// Gives the heap memory freed after a burst back to the system. glibc keeps freed
/// memory in its arenas (the queued exchanges were allocated on the proxy threads and
/// freed here), so without this the agent stays at its peak size after one burst.
fn release_freed_memory() {
    #[cfg(target_env = "gnu")]
    {
        let started = std::time::Instant::now();
        // SAFETY: malloc_trim only returns free memory of the allocator to the system.
        unsafe { libc::malloc_trim(0) };
        tracing::debug!(message = "Returned freed memory after a burst.", micros = started.elapsed().as_micros());
    }
}

fn looks_like_json(body: &[u8]) -> bool {
    matches!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['))
}

/// Compresses a chunk as the store keeps it.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::with_capacity(data.len() / 3), Compression::fast());
    if let Err(e) = encoder.write_all(data) {
        error!(message = "Compression failed.", error = %e);
    }
    let mut out = encoder.finish().unwrap_or_default();
    out.shrink_to_fit();
    out
}

#[cfg(test)]
mod tests {
    use super::{KNOWN_GENERATION, Known};

    fn id(n: usize) -> [u8; 32] {
        let mut id = [0; 32];
        id[..8].copy_from_slice(&(n as u64).to_le_bytes());
        id
    }

    #[test]
    fn known_chunks_keep_the_recent_generation_and_stay_bounded() {
        let mut known = Known::default();
        assert!(!known.remember(id(0)));
        assert!(known.remember(id(0)));
        for n in 1..KNOWN_GENERATION * 3 {
            known.remember(id(n));
            // A chunk that keeps coming back (a system prompt) is never forgotten.
            if n % 1000 == 0 {
                assert!(known.remember(id(0)), "at {n}");
            }
        }
        assert!(known.new.len() + known.old.len() <= 2 * KNOWN_GENERATION);
        assert!(known.remember(id(KNOWN_GENERATION * 3 - 1)), "the newest are known");
        assert!(!known.remember(id(1)), "the oldest are forgotten");
    }
}
