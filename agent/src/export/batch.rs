//! One export batch made into bytes: each record as a JSON line (the schema in
//! `schema.rs`), gzip-compressed, and its signed manifest (`ledger::Manifest`) naming
//! every record's hash, the chain's start and end within the batch, and the object's
//! SHA-256. Deterministic for the same rows, so a retried batch is the same object.
use std::io::Write as _;

use flate2::{Compression, write::GzEncoder};
use ring::digest::{SHA256, digest};
use rusqlite::Connection;

use super::schema::{self, BodyMode, RecordLine};
use crate::{
    events::Event,
    ledger::{self, DeviceKey, MANIFEST_VERSION, Manifest},
    record::Record,
    store::{self, ExportRow, StoreError, hex},
};

/// A batch ready to upload.
pub struct Built {
    pub object: Vec<u8>,
    pub manifest: Manifest,
}

/// Who signs and names the batch.
pub struct Signer<'a> {
    pub key: &'a DeviceKey,
    pub device_id: &'a str,
}

/// Builds the object and manifest of `rows` (seq order, non-empty) stored under `object_key`.
pub fn build(
    conn: &Connection,
    rows: &[ExportRow],
    object_key: &str,
    bodies: BodyMode,
    signer: &Signer<'_>,
    now: &str,
) -> Result<Built, StoreError> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::new(6));
    for row in rows {
        let record: Record =
            serde_json::from_str(&row.canonical).map_err(|e| StoreError::Corrupt(row.id, e.to_string()))?;
        // A body that cannot be read (a chunk gone) must not hold back the whole trail:
        // the record goes without it, saying why; its signed part still verifies.
        let mut body_error = None;
        let mut fetch = |ids: &[u8]| -> Vec<u8> {
            if bodies == BodyMode::None {
                return Vec::new();
            }
            store::body(conn, row.id, ids).unwrap_or_else(|e| {
                body_error = Some(crate::error_chain(&e));
                Vec::new()
            })
        };
        let (request, response) = (fetch(&row.ids.request), fetch(&row.ids.response));
        let upstream = if row.ids.upstream.is_empty() { None } else { Some(fetch(&row.ids.upstream)) };
        let mut line = schema::record_line(
            &RecordLine {
                record: &record,
                seq: row.link.seq,
                prev_hash: &row.link.prev_hash,
                hash: &row.link.hash,
                signature: &row.link.signature,
                canonical: &row.canonical,
                request_body: &request,
                response_body: &response,
                upstream_body: upstream.as_deref(),
                device_id: signer.device_id,
            },
            bodies,
        );
        if let Some(error) = body_error {
            tracing::error!(message = "Exporting a record without its bodies.", seq = row.link.seq, %error);
            line["bodies"] = serde_json::json!({ "error": error });
        }
        let mut bytes = serde_json::to_vec(&line).map_err(|e| StoreError::Corrupt(row.id, e.to_string()))?;
        bytes.push(b'\n');
        gz.write_all(&bytes).map_err(|e| StoreError::Corrupt(row.id, e.to_string()))?;
    }
    let object = gz.finish().map_err(|e| StoreError::Corrupt(0, e.to_string()))?;
    let (first, last) = (&rows[0].link, &rows[rows.len() - 1].link);
    let mut manifest = Manifest {
        version: MANIFEST_VERSION.to_owned(),
        kind: ledger::RECORDS.to_owned(),
        device_id: signer.device_id.to_owned(),
        public_key: signer.key.public_key_hex(),
        object: object_key.to_owned(),
        object_sha256: hex(digest(&SHA256, &object).as_ref()),
        first_seq: first.seq,
        last_seq: last.seq,
        count: rows.len() as u64,
        prev_hash: hex(&first.prev_hash),
        head_hash: hex(&last.hash),
        record_hashes: rows.iter().map(|r| hex(&r.link.hash)).collect(),
        created: now.to_owned(),
        signature: String::new(),
    };
    manifest.sign(signer.key);
    Ok(Built { object, manifest })
}

/// Builds an object of agent events (event lines of the schema) and its signed manifest:
/// `first_seq`..`last_seq` are event ids, `record_hashes` the SHA-256 of each line.
pub fn build_events(
    events: &[Event],
    object_key: &str,
    hostname: &str,
    signer: &Signer<'_>,
    now: &str,
) -> Result<Built, StoreError> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::new(6));
    let mut hashes = Vec::with_capacity(events.len());
    for event in events {
        let line = schema::event_line(&schema::EventLine {
            kind: &event.kind,
            time: &event.time,
            device_id: signer.device_id,
            hostname,
            detail: &event.detail,
        });
        let bytes = serde_json::to_vec(&line).map_err(|e| StoreError::Corrupt(0, e.to_string()))?;
        hashes.push(hex(digest(&SHA256, &bytes).as_ref()));
        gz.write_all(&bytes).and_then(|()| gz.write_all(b"\n")).map_err(|e| StoreError::Corrupt(0, e.to_string()))?;
    }
    let object = gz.finish().map_err(|e| StoreError::Corrupt(0, e.to_string()))?;
    let (first, last) = (events.first().map_or(0, |e| e.id), events.last().map_or(0, |e| e.id));
    let mut manifest = Manifest {
        version: MANIFEST_VERSION.to_owned(),
        kind: ledger::EVENTS.to_owned(),
        device_id: signer.device_id.to_owned(),
        public_key: signer.key.public_key_hex(),
        object: object_key.to_owned(),
        object_sha256: hex(digest(&SHA256, &object).as_ref()),
        first_seq: first,
        last_seq: last,
        count: events.len() as u64,
        prev_hash: String::new(),
        head_hash: String::new(),
        record_hashes: hashes,
        created: now.to_owned(),
        signature: String::new(),
    };
    manifest.sign(signer.key);
    Ok(Built { object, manifest })
}
