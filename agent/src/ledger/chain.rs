//! The writer's side of the log: links each record's canonical bytes to the one before
//! and signs the result; and the signed checkpoint of the head kept outside the database.
use std::{fmt, str::FromStr};

use ring::digest::{Context, SHA256};

use super::{DeviceKey, LedgerError, PublicKey, from_hex, to_hex};

/// Signed before a link's hash, so no other glassbox signature can pass for a link.
pub(super) const LINK_DOMAIN: &[u8] = b"glassbox ledger link v1\0";
/// Signed before a checkpoint's seq and hash.
const CHECKPOINT_DOMAIN: &[u8] = b"glassbox ledger checkpoint v1\0";

/// What is stored beside each record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// 1 for the first record, then one more for each.
    pub seq: u64,
    /// The previous link's hash; zeros for seq 1.
    pub prev_hash: [u8; 32],
    /// SHA-256(seq big-endian || prev_hash || canonical bytes).
    pub hash: [u8; 32],
    /// ed25519 over the link domain and `hash`.
    pub signature: Vec<u8>,
}

/// The writer's state: the last link's seq and hash. Copy it before a transaction and
/// put it back if the transaction rolls back, or the next link would point at a row
/// that was never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    seq: u64,
    hash: [u8; 32],
}

impl Chain {
    /// Continues after the last stored link's (seq, hash), or starts the chain.
    pub fn resume(last: Option<(u64, [u8; 32])>) -> Self {
        let (seq, hash) = last.unwrap_or((0, [0; 32]));
        Self { seq, hash }
    }

    /// Links the next record, given its canonical bytes.
    pub fn append(&mut self, key: &DeviceKey, canonical: &[u8]) -> Link {
        let seq = self.seq + 1;
        let prev_hash = self.hash;
        let hash = link_hash(seq, &prev_hash, canonical);
        let signature = key.sign(LINK_DOMAIN, &hash);
        (self.seq, self.hash) = (seq, hash);
        Link { seq, prev_hash, hash, signature }
    }

    /// The last link's (seq, hash); None before the first.
    pub fn head(&self) -> Option<(u64, [u8; 32])> {
        (self.seq > 0).then_some((self.seq, self.hash))
    }
}

/// The (seq, hash) of the highest-numbered link among `links`: the head to keep
/// elsewhere (checkpoint, export manifest). Only meaningful for links that verify.
pub fn head<'a>(links: impl IntoIterator<Item = &'a Link>) -> Option<(u64, [u8; 32])> {
    links.into_iter().max_by_key(|link| link.seq).map(|link| (link.seq, link.hash))
}

pub(super) fn link_hash(seq: u64, prev_hash: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&seq.to_be_bytes());
    ctx.update(prev_hash);
    ctx.update(canonical);
    ctx.finish().as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// The head of the log as the device signed it, kept outside the database so a cut-off
/// tail shows. Written as `seq:hash hex:signature hex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: [u8; 32],
    pub signature: Vec<u8>,
}

impl Checkpoint {
    /// Signs the head `(seq, hash)`, as from [`Chain::head`].
    pub fn sign(key: &DeviceKey, (seq, hash): (u64, [u8; 32])) -> Self {
        let signature = key.sign(CHECKPOINT_DOMAIN, &checkpoint_message(seq, &hash));
        Self { seq, hash, signature }
    }

    /// Whether `key` signed this checkpoint.
    pub fn is_signed_by(&self, key: &PublicKey) -> bool {
        key.verifies(CHECKPOINT_DOMAIN, &checkpoint_message(self.seq, &self.hash), &self.signature)
    }

    pub fn head(&self) -> (u64, [u8; 32]) {
        (self.seq, self.hash)
    }
}

fn checkpoint_message(seq: u64, hash: &[u8; 32]) -> [u8; 40] {
    let mut message = [0; 40];
    message[..8].copy_from_slice(&seq.to_be_bytes());
    message[8..].copy_from_slice(hash);
    message
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.seq, to_hex(&self.hash), to_hex(&self.signature))
    }
}

impl FromStr for Checkpoint {
    type Err = LedgerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || LedgerError::BadCheckpoint(s.to_owned());
        let mut parts = s.trim().split(':');
        let (Some(seq), Some(hash), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Self {
            seq: seq.parse().map_err(|_| bad())?,
            hash: from_hex(hash).and_then(|h| h.try_into().ok()).ok_or_else(bad)?,
            signature: from_hex(signature).ok_or_else(bad)?,
        })
    }
}
