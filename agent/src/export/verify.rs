//! Verifies an exported trail on its own, with no access to the device: every manifest's
//! signature, every object against its manifest's SHA-256 and record hashes, every
//! record's hash and signature, and the chain across batches (gaps, duplicates, order,
//! and that it reaches the newest manifest's head). Reads a bucket prefix or a local
//! copy of one (`glassbox verify --s3` / `--dir`).
use std::{
    collections::BTreeMap,
    io::Read as _,
    path::{Path, PathBuf},
};

use ring::digest::{SHA256, digest};
use serde_json::Value;

use crate::{
    ledger::{Link, Manifest, PublicKey, Verifier},
    store::hex,
};

/// A verified manifest and the (link, canonical record) of each line of its object.
type Batch = (Manifest, Vec<(Link, String)>);

/// What a trail verification found.
#[derive(Debug, Default)]
pub struct Report {
    pub devices: usize,
    pub batches: usize,
    pub records: u64,
    /// Agent events in event objects.
    pub events: u64,
    /// Highest seq reached per device.
    pub heads: BTreeMap<String, u64>,
    /// Every problem, one line each; empty when the trail is whole.
    pub findings: Vec<String>,
}

/// Every file under `dir`, keyed by its path relative to `dir` with `/` separators.
pub fn read_dir(dir: &Path) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path: PathBuf = entry?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else if let Ok(rel) = path.strip_prefix(root) {
                let key = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                out.insert(key, std::fs::read(&path)?);
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// Verifies the objects of a trail, keyed by object key (relative to any common prefix:
/// manifests name their objects by full key, matched here by suffix). `key` pins the
/// device key to expect; without it each manifest's own key is used and all of a
/// device's manifests must agree.
pub fn verify(files: &BTreeMap<String, Vec<u8>>, key: Option<&PublicKey>) -> Report {
    let mut report = Report::default();
    let find = |object: &str| -> Option<(&String, &Vec<u8>)> {
        files.iter().find(|(k, _)| object == k.as_str() || object.ends_with(&format!("/{k}")))
    };
    // device → (public key hex, batches sorted by first seq)
    let mut devices: BTreeMap<String, Vec<Batch>> = BTreeMap::new();
    let mut described = Vec::new();
    for (name, bytes) in files.iter().filter(|(k, _)| k.ends_with(".manifest.json")) {
        let manifest: Manifest = match serde_json::from_slice(bytes) {
            Ok(m) => m,
            Err(e) => {
                report.findings.push(format!("manifest {name} is unreadable: {e}"));
                continue;
            }
        };
        let Some(signer) = manifest.public_key() else {
            report.findings.push(format!("manifest {name} names no valid public key"));
            continue;
        };
        if key.is_some_and(|k| *k != signer) {
            report.findings.push(format!("manifest {name} is signed by another key ({})", manifest.public_key));
            continue;
        }
        if !manifest.is_signed_by(&signer) {
            report.findings.push(format!("manifest {name} was altered: its signature does not verify"));
            continue;
        }
        let Some((object_name, object)) = find(&manifest.object) else {
            report.findings.push(format!("object {} of manifest {name} is missing", manifest.object));
            continue;
        };
        described.push(object_name.clone());
        if hex(digest(&SHA256, object).as_ref()) != manifest.object_sha256 {
            report.findings.push(format!("object {object_name} was altered: its SHA-256 is not the manifest's"));
        }
        if manifest.kind == crate::ledger::EVENTS {
            match event_hashes(object) {
                Ok(hashes) if hashes == manifest.record_hashes => report.events += hashes.len() as u64,
                Ok(_) => {
                    report.findings.push(format!("object {object_name} does not hold the events its manifest lists"));
                }
                Err(e) => report.findings.push(format!("object {object_name} is unreadable: {e}")),
            }
            continue;
        }
        let rows = match lines(object) {
            Ok(rows) => rows,
            Err(e) => {
                report.findings.push(format!("object {object_name} is unreadable: {e}"));
                continue;
            }
        };
        let hashes: Vec<String> = rows.iter().map(|(link, _)| hex(&link.hash)).collect();
        if hashes != manifest.record_hashes {
            report.findings.push(format!("object {object_name} does not hold the records its manifest lists"));
        }
        report.batches += 1;
        devices.entry(manifest.device_id.clone()).or_default().push((manifest, rows));
    }
    for name in files.keys().filter(|k| k.ends_with(".jsonl.gz")) {
        if !described.contains(name) {
            report.findings.push(format!("object {name} has no valid manifest"));
        }
    }
    report.devices = devices.len().max(usize::from(report.events > 0));
    for (device, mut batches) in devices {
        batches.sort_by_key(|(m, _)| m.first_seq);
        let Some(signer) = batches[0].0.public_key() else { continue };
        if batches.iter().any(|(m, _)| m.public_key() != Some(signer)) {
            report.findings.push(format!("device {device}: manifests are signed by different keys"));
        }
        let first = &batches[0].0;
        let mut verifier = Verifier::new(signer);
        if first.first_seq > 1 {
            let prev = crate::ledger::Manifest::hash_from_hex(&first.prev_hash).unwrap_or([0; 32]);
            verifier = verifier.after((first.first_seq - 1, prev));
        }
        let last = &batches[batches.len() - 1].0;
        if let Some(head) = crate::ledger::Manifest::hash_from_hex(&last.head_hash) {
            verifier = verifier.expect_head((last.last_seq, head));
        }
        let rows: Vec<(Link, String)> = batches.into_iter().flat_map(|(_, rows)| rows).collect();
        report.records += rows.len() as u64;
        report.heads.insert(device.clone(), rows.iter().map(|(l, _)| l.seq).max().unwrap_or(0));
        for finding in verifier.verify(rows) {
            report.findings.push(format!("device {device}: {finding}"));
        }
    }
    report
}

/// The SHA-256 (hex) of every line of an events object, in order.
fn event_hashes(object: &[u8]) -> Result<Vec<String>, String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(object).read_to_string(&mut text).map_err(|e| format!("not gzip text: {e}"))?;
    Ok(text.lines().filter(|l| !l.is_empty()).map(|l| hex(digest(&SHA256, l.as_bytes()).as_ref())).collect())
}

/// The (link, canonical record) of every line of a `.jsonl.gz` object, in order.
fn lines(object: &[u8]) -> Result<Vec<(Link, String)>, String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(object).read_to_string(&mut text).map_err(|e| format!("not gzip text: {e}"))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let value: Value = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        if value["type"] != "record" {
            continue;
        }
        let g = &value["glassbox"];
        let bytes32 = |field: &str| -> Result<[u8; 32], String> {
            g[field]
                .as_str()
                .and_then(crate::ledger::Manifest::hash_from_hex)
                .ok_or_else(|| format!("line {}: glassbox.{field} is not 64 hex digits", i + 1))
        };
        let signature = g["signature"]
            .as_str()
            .and_then(crate::ledger::Manifest::bytes_from_hex)
            .ok_or_else(|| format!("line {}: glassbox.signature is not hex", i + 1))?;
        let link = Link {
            seq: g["seq"].as_u64().ok_or_else(|| format!("line {}: no glassbox.seq", i + 1))?,
            prev_hash: bytes32("prev_hash")?,
            hash: bytes32("hash")?,
            signature,
        };
        let canonical = g["record"].as_str().ok_or_else(|| format!("line {}: no glassbox.record", i + 1))?;
        rows.push((link, canonical.to_owned()));
    }
    Ok(rows)
}
