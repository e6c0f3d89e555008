//! Export and retention, off the request path: a thread that uploads records from the
//! outbox to S3 in signed batches and purges what retention allows.
//!
//! Takes committed records from the database (never from the request path); hands S3
//! one gzip JSON Lines object per batch plus its signed manifest, and moves the
//! outbox's mark only once both are acknowledged. While S3 fails, the batch waits and
//! retries back off exponentially with jitter; the reason is kept for
//! `glassbox export status`. On SIGTERM the agent asks for a final flush within
//! `[export] flush_deadline_secs` and reports what is left.
pub mod batch;
pub mod config;
pub mod outbox;
pub mod retention;
pub mod s3;
pub mod schema;
pub mod verify;

use std::{
    path::PathBuf,
    thread,
    time::{Duration, Instant, SystemTime},
};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::{ledger::DeviceKey, record::rfc3339, store::StoreError};
use config::{ExportConfig, Retention};
use outbox::{Planned, Trail};

/// How often the thread looks at the outbox when nothing wakes it.
const TICK: Duration = Duration::from_secs(1);
/// How often retention runs when export does not trigger it.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// What the exporter needs to run.
pub struct Setup {
    pub db: PathBuf,
    pub export: ExportConfig,
    pub retention: Retention,
    pub key: DeviceKey,
    pub device_id: String,
    pub hostname: String,
}

impl Setup {
    /// The exporter of `config`, signing with `key` and naming batches after `device`.
    pub fn new(config: &crate::config::Config, key: DeviceKey, device: &crate::identity::Device) -> Self {
        Self {
            db: config.db_path(),
            export: config.export.clone(),
            retention: config.retention.clone(),
            key,
            device_id: device.device_id.clone(),
            hostname: device.hostname.clone(),
        }
    }
}

/// The answer to a shutdown flush.
#[derive(Debug, Clone, Copy)]
pub struct Left {
    pub backlog: u64,
}

enum Control {
    /// Upload everything now, until done or the deadline; then stop.
    Shutdown(Instant, oneshot::Sender<Left>),
}

/// Handle to the exporter thread.
pub struct Exporter {
    tx: mpsc::UnboundedSender<Control>,
}

impl Exporter {
    /// Starts the thread; `None` when neither export nor retention is configured.
    pub fn spawn(setup: Setup) -> Result<Option<Self>, StoreError> {
        if !setup.export.enabled() && !setup.retention.purges() {
            return Ok(None);
        }
        let conn = outbox::open(&setup.db)?;
        retention::prepare(&conn)?;
        let (tx, rx) = mpsc::unbounded_channel();
        thread::Builder::new()
            .name("glassbox-export".into())
            .spawn(move || {
                crate::workers::lower_priority();
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("export runtime");
                rt.block_on(Worker::new(setup, conn).run(rx));
            })
            .expect("spawn export thread");
        Ok(Some(Self { tx }))
    }

    /// Flushes within `deadline` and stops the thread; what is left stays in the outbox.
    pub async fn shutdown(&self, deadline: Duration) -> Option<Left> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Control::Shutdown(Instant::now() + deadline, done)).ok()?;
        wait.await.ok()
    }
}

struct Worker {
    setup: Setup,
    conn: Connection,
    bucket: Option<s3::Bucket>,
    /// Failures in a row, for the backoff.
    failures: u32,
    /// No upload before this (backing off).
    not_before: Instant,
    last_purge: Option<Instant>,
    /// The last flush request of the CLI already served.
    flushes_seen: u64,
}

impl Worker {
    fn new(setup: Setup, conn: Connection) -> Self {
        let flushes_seen = outbox::flush_requested(&conn).unwrap_or(0);
        Self { setup, conn, bucket: None, failures: 0, not_before: Instant::now(), last_purge: None, flushes_seen }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Control>) {
        if self.setup.export.enabled() {
            self.bucket = Some(s3::Bucket::connect(&self.setup.export.s3).await);
        }
        loop {
            let control = tokio::select! {
                msg = rx.recv() => msg,
                () = tokio::time::sleep(TICK) => None,
            };
            if let Some(Control::Shutdown(deadline, done)) = control {
                let left = self.drain(Some(deadline)).await;
                let _ = done.send(Left { backlog: left });
                return;
            }
            let flush = self.flush_requested();
            if self.bucket.is_some() && (flush || Instant::now() >= self.not_before) {
                self.drain_due(flush).await;
            }
            self.maybe_purge(false);
        }
    }

    /// A new `glassbox export flush` request since the last look.
    fn flush_requested(&mut self) -> bool {
        let requested = outbox::flush_requested(&self.conn).unwrap_or(self.flushes_seen);
        let new = requested > self.flushes_seen;
        self.flushes_seen = requested;
        new
    }

    /// Uploads batches while one is due: a full batch, a batch cut before (planned), or
    /// any waiting record older than the interval — everything when `flush`.
    async fn drain_due(&mut self, flush: bool) {
        loop {
            match self.due(flush) {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    warn!(message = "Cannot read the export outbox.", error = %crate::error_chain(&error));
                    return;
                }
            }
            if !self.upload_one().await {
                return;
            }
        }
    }

    fn due(&self, flush: bool) -> Result<bool, StoreError> {
        if outbox::pending(&self.conn, Trail::Records)?.is_some()
            || outbox::pending(&self.conn, Trail::Events)?.is_some()
        {
            return Ok(true);
        }
        let events = outbox::events_backlog(&self.conn)?;
        if events > 0 && (flush || self.events_due()?) {
            return Ok(true);
        }
        let backlog = outbox::backlog(&self.conn)?;
        if backlog == 0 {
            return Ok(false);
        }
        if flush || backlog >= self.setup.export.batch_records as u64 {
            return Ok(true);
        }
        let cutoff = rfc3339(SystemTime::now() - Duration::from_secs(self.setup.export.interval_secs));
        Ok(outbox::oldest_waiting(&self.conn)?.is_some_and(|oldest| oldest <= cutoff))
    }

    /// Whether the oldest waiting event has waited the interval.
    fn events_due(&self) -> Result<bool, StoreError> {
        let waiting = crate::events::after(&self.conn, outbox::acked(&self.conn, Trail::Events)?, 1)?;
        let cutoff = rfc3339(SystemTime::now() - Duration::from_secs(self.setup.export.interval_secs));
        Ok(waiting.first().is_some_and(|e| e.time <= cutoff))
    }

    /// Uploads everything (until `deadline`); returns the backlog left (0 when export is
    /// off: nothing is waiting for it).
    async fn drain(&mut self, deadline: Option<Instant>) -> u64 {
        if self.bucket.is_none() {
            self.maybe_purge(true);
            return 0;
        }
        while self.bucket.is_some() && deadline.is_none_or(|d| Instant::now() < d) {
            let waiting = outbox::backlog(&self.conn).and_then(|r| Ok(r + outbox::events_backlog(&self.conn)?));
            match waiting {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let upload = self.upload_one();
            let ok = match remaining {
                Some(left) => tokio::time::timeout(left, upload).await.unwrap_or(false),
                None => upload.await,
            };
            if !ok {
                // Back off a little within the deadline, then try again.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        self.maybe_purge(true);
        outbox::backlog(&self.conn).unwrap_or(0)
    }

    /// Plans (or resumes) one batch and uploads it; true when S3 took it.
    async fn upload_one(&mut self) -> bool {
        let now = rfc3339(SystemTime::now());
        let result = self.try_upload(&now).await;
        match result {
            Ok(Some(planned)) => {
                self.failures = 0;
                self.not_before = Instant::now();
                info!(message = "Exported a batch.", object = %planned.object_key, first_seq = planned.first_seq, last_seq = planned.last_seq);
                self.maybe_purge(true);
                true
            }
            Ok(None) => false,
            Err(error) => {
                self.failures += 1;
                let wait = backoff(self.failures, self.setup.export.max_backoff_secs);
                self.not_before = Instant::now() + wait;
                warn!(message = "Export failed; the batch waits.", %error, retry_in_ms = wait.as_millis() as u64, failures = self.failures);
                if let Err(e) = outbox::fail(&self.conn, &error, &now) {
                    warn!(message = "Cannot record the export error.", error = %crate::error_chain(&e));
                }
                false
            }
        }
    }

    async fn try_upload(&mut self, now: &str) -> Result<Option<Planned>, String> {
        let db = |e: StoreError| crate::error_chain(&e);
        let records_waiting = outbox::pending(&self.conn, Trail::Records).map_err(db)?.is_some()
            || outbox::backlog(&self.conn).map_err(db)? > 0;
        if records_waiting { self.try_upload_records(now).await } else { self.try_upload_events(now).await }
    }

    /// Plans (or resumes) a batch of agent events and uploads it with its manifest.
    async fn try_upload_events(&mut self, now: &str) -> Result<Option<Planned>, String> {
        let Some(bucket) = &self.bucket else { return Ok(None) };
        let db = |e: StoreError| crate::error_chain(&e);
        let export = &self.setup.export;
        let (planned, events) = match outbox::pending(&self.conn, Trail::Events).map_err(db)? {
            Some(planned) => {
                let events = crate::events::between(&self.conn, planned.first_seq, planned.last_seq).map_err(db)?;
                (planned, events)
            }
            None => {
                let acked = outbox::acked(&self.conn, Trail::Events).map_err(db)?;
                let events = crate::events::after(&self.conn, acked, export.batch_records).map_err(db)?;
                let (Some(first), Some(last)) = (events.first(), events.last()) else { return Ok(None) };
                let key = outbox::events_key(&export.s3.prefix, &self.setup.device_id, &first.time, first.id, last.id);
                let planned = Planned { first_seq: first.id, last_seq: last.id, object_key: key };
                outbox::plan(&self.conn, Trail::Events, &planned, now).map_err(db)?;
                (planned, events)
            }
        };
        if !events.is_empty() {
            let signer = batch::Signer { key: &self.setup.key, device_id: &self.setup.device_id };
            let built =
                batch::build_events(&events, &planned.object_key, &self.setup.hostname, &signer, now).map_err(db)?;
            upload(bucket, &planned.object_key, built).await?;
        }
        outbox::ack(&mut self.conn, Trail::Events, &planned, now).map_err(db)?;
        Ok(Some(planned))
    }

    /// Plans (or resumes) a batch of records and uploads it with its manifest.
    async fn try_upload_records(&mut self, now: &str) -> Result<Option<Planned>, String> {
        let Some(bucket) = &self.bucket else { return Ok(None) };
        let db = |e: StoreError| crate::error_chain(&e);
        let export = &self.setup.export;
        let (planned, rows) = match outbox::pending(&self.conn, Trail::Records).map_err(db)? {
            Some(planned) => {
                let rows = crate::store::rows_between(&self.conn, planned.first_seq, planned.last_seq, usize::MAX >> 1)
                    .map_err(db)?;
                (planned, rows)
            }
            None => {
                let rows = outbox::next_rows(&self.conn, export.batch_records, export.batch_mb << 20).map_err(db)?;
                let (Some(first), Some(last)) = (rows.first(), rows.last()) else { return Ok(None) };
                let key = outbox::object_key(
                    &export.s3.prefix,
                    &self.setup.device_id,
                    &first.time,
                    first.link.seq,
                    last.link.seq,
                );
                let planned = Planned { first_seq: first.link.seq, last_seq: last.link.seq, object_key: key };
                outbox::plan(&self.conn, Trail::Records, &planned, now).map_err(db)?;
                (planned, rows)
            }
        };
        if rows.is_empty() {
            // Retention cannot remove unexported rows; a planned range with none left
            // means they were removed by hand. Nothing to send: let the mark pass.
            outbox::ack(&mut self.conn, Trail::Records, &planned, now).map_err(db)?;
            return Ok(Some(planned));
        }
        let signer = batch::Signer { key: &self.setup.key, device_id: &self.setup.device_id };
        let built = batch::build(&self.conn, &rows, &planned.object_key, export.bodies, &signer, now).map_err(db)?;
        upload(bucket, &planned.object_key, built).await?;
        outbox::ack(&mut self.conn, Trail::Records, &planned, now).map_err(db)?;
        Ok(Some(planned))
    }

    /// Runs retention now (`force`) or when it is due.
    fn maybe_purge(&mut self, force: bool) {
        if !self.setup.retention.purges() {
            return;
        }
        if !force && self.last_purge.is_some_and(|at| at.elapsed() < PURGE_EVERY) {
            return;
        }
        self.last_purge = Some(Instant::now());
        let exported = if self.setup.export.enabled() {
            Some(retention::Exported {
                records: outbox::acked(&self.conn, Trail::Records).unwrap_or(0),
                events: outbox::acked(&self.conn, Trail::Events).unwrap_or(0),
            })
        } else {
            None
        };
        match retention::purge(&mut self.conn, &self.setup.retention, exported, SystemTime::now()) {
            Ok(p) if p != retention::Purged::default() => {
                info!(
                    message = "Retention purged.",
                    records = p.records,
                    bodies = p.bodies,
                    chunks = p.chunks,
                    events = p.events
                );
            }
            Ok(_) => {}
            Err(error) => warn!(message = "Retention purge failed.", error = %crate::error_chain(&error)),
        }
    }
}

/// Puts a batch's object, then its manifest: a manifest never names an object S3 lacks.
async fn upload(bucket: &s3::Bucket, key: &str, built: batch::Built) -> Result<(), String> {
    let manifest = serde_json::to_vec_pretty(&built.manifest).map_err(|e| e.to_string())?;
    bucket.put(key, built.object, "application/x-ndjson").await.map_err(|e| e.to_string())?;
    bucket.put(&outbox::manifest_key(key), manifest, "application/json").await.map_err(|e| e.to_string())
}

/// Exponential backoff from 1 s, capped, with ±50 % jitter so many devices do not retry
/// in step.
fn backoff(failures: u32, max_secs: u64) -> Duration {
    let base = Duration::from_secs(1u64 << failures.saturating_sub(1).min(16)).min(Duration::from_secs(max_secs));
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let jitter = 0.5 + f64::from(nanos % 1000) / 1000.0;
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_caps_with_jitter() {
        for failures in 1..40 {
            let d = backoff(failures, 60);
            let base = (1u64 << (failures - 1).min(16)).min(60) as f64;
            assert!(d.as_secs_f64() >= base * 0.5 && d.as_secs_f64() <= base * 1.5, "{failures}: {d:?}");
        }
    }
}
