//! SHA-256 of executables, cached by file identity. A snapshot records the exe's
//! [`FileId`] (device, inode, mtime, size) cheaply at accept time; [`ExeHasher`] hashes the
//! file once per identity and answers later calls from a bounded cache, so a busy agent
//! hashes `node` or `python3` once, not once per request.
use std::{
    collections::{HashMap, VecDeque},
    fs::{File, Metadata},
    io::Read,
    os::unix::fs::MetadataExt,
};

use serde::{Deserialize, Serialize};

/// Identifies one version of one file: an exe replaced in place (new inode) or rewritten
/// (new mtime or size) gets a new id, so a cached hash is never served for changed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
    pub size: u64,
}

impl FileId {
    pub fn of(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime_ns: meta.mtime().saturating_mul(1_000_000_000).saturating_add(meta.mtime_nsec()),
            size: meta.size(),
        }
    }
}

/// How many hashes the cache keeps; a host runs far fewer distinct executables that
/// call LLM APIs.
const CAPACITY: usize = 1024;

/// Hashes executables and remembers the results.
#[derive(Debug, Default)]
pub struct ExeHasher {
    hashes: HashMap<FileId, String>,
    /// Insertion order, for evicting the oldest entry when full.
    order: VecDeque<FileId>,
}

impl ExeHasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// The lowercase hex SHA-256 of the file at `exe`.
    ///
    /// `id` is the identity recorded in the snapshot. A cached hash for it is returned
    /// without touching the file. Otherwise the file is opened and its identity taken from
    /// the open descriptor; if that differs from `id` the file at `exe` is no longer the
    /// one the process ran, and `None` is returned rather than the hash of other bytes.
    /// Pass `/proc/<pid>/exe` as `exe` to read the process's own image even when the path
    /// was replaced or deleted. Reading a large binary takes time: call this off the
    /// async runtime (`spawn_blocking`).
    pub fn sha256(&mut self, exe: &str, id: Option<&FileId>) -> Option<String> {
        if let Some(hash) = id.and_then(|id| self.hashes.get(id)) {
            return Some(hash.clone());
        }
        let mut file = File::open(exe).ok()?;
        let actual = FileId::of(&file.metadata().ok()?);
        if id.is_some_and(|id| *id != actual) {
            return None;
        }
        if let Some(hash) = self.hashes.get(&actual) {
            return Some(hash.clone());
        }
        let hash = sha256_hex(&mut file)?;
        // A file rewritten while we read it must not be cached under its old identity.
        if FileId::of(&file.metadata().ok()?) != actual {
            return None;
        }
        self.insert(actual, hash.clone());
        Some(hash)
    }

    /// How many hashes are cached.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    fn insert(&mut self, id: FileId, hash: String) {
        if let Some(cached) = self.hashes.get_mut(&id) {
            *cached = hash;
            return;
        }
        if self.hashes.len() >= CAPACITY
            && let Some(oldest) = self.order.pop_front()
        {
            self.hashes.remove(&oldest);
        }
        self.hashes.insert(id, hash);
        self.order.push_back(id);
    }
}

fn sha256_hex(file: &mut File) -> Option<String> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => context.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(hex(context.finish().as_ref()))
}

/// Lowercase hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests;
