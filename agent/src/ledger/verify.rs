//! The verifier: takes stored links with their canonical bytes, in the order the rows
//! are stored, and a public key; hands on every finding, each naming the records
//! concerned. Each row's hash and signature are checked as it streams past; the order,
//! gaps and links are checked afterwards from 72 bytes kept per row.
use std::fmt;

use super::{
    Checkpoint, LedgerError, Link, PublicKey,
    chain::{LINK_DOMAIN, link_hash},
};

/// Something wrong with the stored log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The record's bytes, seq or prev_hash were changed: they no longer give its hash.
    Altered { seq: u64 },
    /// The hash is not signed by the device key: written or rewritten without it.
    BadSignature { seq: u64 },
    /// `missing` records after `after_seq` are gone (0: from the start of the log).
    Removed { after_seq: u64, missing: u64 },
    /// The record is stored out of order (one of the fewest rows whose move restores it).
    Reordered { seq: u64 },
    /// The record's prev_hash is not the hash of the record before it.
    BrokenLink { seq: u64 },
    /// A second record with a seq already seen.
    Duplicated { seq: u64 },
    /// The log ends `missing` records before the expected head: its tail was cut off.
    Truncated { after_seq: u64, missing: u64 },
    /// The record at the expected head's seq is not the one the head names: the log
    /// was rewritten from there.
    HeadMismatch { seq: u64 },
    /// The checkpoint was not signed by the device key, so it proves nothing.
    BadCheckpoint,
}

impl Finding {
    /// Where the finding sits in the log: the record it names, or the first missing one.
    fn position(&self) -> u64 {
        match *self {
            Self::Altered { seq }
            | Self::BadSignature { seq }
            | Self::Reordered { seq }
            | Self::BrokenLink { seq }
            | Self::Duplicated { seq }
            | Self::HeadMismatch { seq } => seq,
            Self::Removed { after_seq, .. } | Self::Truncated { after_seq, .. } => after_seq.saturating_add(1),
            Self::BadCheckpoint => 0,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Altered { seq } => write!(f, "record {seq} was altered: its contents do not give its hash"),
            Self::BadSignature { seq } => write!(f, "record {seq} is not signed by the device key"),
            Self::Removed { after_seq, missing } => write!(f, "{missing} record(s) removed after record {after_seq}"),
            Self::Reordered { seq } => write!(f, "record {seq} is stored out of order"),
            Self::BrokenLink { seq } => write!(f, "record {seq} does not link to the record before it"),
            Self::Duplicated { seq } => write!(f, "record {seq} appears more than once"),
            Self::Truncated { after_seq, missing } => {
                write!(f, "{missing} record(s) cut off after record {after_seq}, the last stored")
            }
            Self::HeadMismatch { seq } => write!(f, "record {seq} is not the one the expected head names"),
            Self::BadCheckpoint => write!(f, "the checkpoint is not signed by the device key"),
        }
    }
}

/// Checks stored rows against a public key, from the start of the chain unless told
/// where the stored part begins, and against an external head if given one.
#[derive(Debug, Clone)]
pub struct Verifier {
    key: PublicKey,
    /// The (seq, hash) just before the first stored row: (0, zeros) from the start.
    anchor: (u64, [u8; 32]),
    head: Option<(u64, [u8; 32])>,
    bad_checkpoint: bool,
}

/// The link fields of one row, kept for the order and link checks.
struct Entry {
    seq: u64,
    prev_hash: [u8; 32],
    hash: [u8; 32],
}

impl Verifier {
    pub fn new(key: PublicKey) -> Self {
        Self { key, anchor: (0, [0; 32]), head: None, bad_checkpoint: false }
    }

    /// The rows begin after `(seq, hash)`: the last record purged by retention, recorded
    /// when it was purged (only as trustworthy as where that record is kept).
    #[must_use]
    pub fn after(mut self, anchor: (u64, [u8; 32])) -> Self {
        self.anchor = anchor;
        self
    }

    /// The log must reach `(seq, hash)`, a head kept outside the database (an export
    /// manifest, already checked by its own signature).
    #[must_use]
    pub fn expect_head(mut self, head: (u64, [u8; 32])) -> Self {
        self.head = Some(head);
        self
    }

    /// The log must reach the checkpoint's head; a checkpoint the key did not sign is
    /// itself a finding and is not used.
    #[must_use]
    pub fn expect_checkpoint(mut self, checkpoint: &Checkpoint) -> Self {
        if checkpoint.is_signed_by(&self.key) {
            self.head = Some(checkpoint.head());
        } else {
            self.bad_checkpoint = true;
        }
        self
    }

    /// Every finding for `rows` (link and canonical bytes, in stored order), by position
    /// in the log; empty if the log is whole.
    pub fn verify<B: AsRef<[u8]>>(&self, rows: impl IntoIterator<Item = (Link, B)>) -> Vec<Finding> {
        let mut findings = Vec::new();
        if self.bad_checkpoint {
            findings.push(Finding::BadCheckpoint);
        }
        let mut entries = Vec::new();
        for (link, canonical) in rows {
            if link_hash(link.seq, &link.prev_hash, canonical.as_ref()) != link.hash {
                findings.push(Finding::Altered { seq: link.seq });
            }
            if !self.key.verifies(LINK_DOMAIN, &link.hash, &link.signature) {
                findings.push(Finding::BadSignature { seq: link.seq });
            }
            entries.push(Entry { seq: link.seq, prev_hash: link.prev_hash, hash: link.hash });
        }
        self.check_structure(&entries, &mut findings);
        findings.sort_by_key(Finding::position); // stable: per-row findings keep their order
        findings
    }

    /// Duplicates, order, gaps, links and the expected head.
    fn check_structure(&self, entries: &[Entry], findings: &mut Vec<Finding>) {
        // Stored positions by seq; of several rows with one seq the first stored counts.
        let mut by_seq: Vec<usize> = (0..entries.len()).collect();
        by_seq.sort_by_key(|&i| (entries[i].seq, i));
        let mut counted = vec![true; entries.len()];
        by_seq.dedup_by(|later, earlier| {
            let dup = entries[*later].seq == entries[*earlier].seq;
            if dup {
                counted[*later] = false;
                findings.push(Finding::Duplicated { seq: entries[*later].seq });
            }
            dup
        });

        let stored: Vec<usize> = (0..entries.len()).filter(|&i| counted[i]).collect();
        for i in out_of_order(&stored.iter().map(|&i| entries[i].seq).collect::<Vec<_>>()) {
            findings.push(Finding::Reordered { seq: entries[stored[i]].seq });
        }

        let (mut seq, mut hash) = self.anchor;
        for entry in by_seq.iter().map(|&i| &entries[i]) {
            if entry.seq <= self.anchor.0 {
                // Before where the log is said to begin: it cannot link into it.
                findings.push(Finding::BrokenLink { seq: entry.seq });
                continue;
            }
            if entry.seq == seq + 1 {
                if entry.prev_hash != hash {
                    findings.push(Finding::BrokenLink { seq: entry.seq });
                }
            } else {
                findings.push(Finding::Removed { after_seq: seq, missing: entry.seq - seq - 1 });
            }
            (seq, hash) = (entry.seq, entry.hash);
        }

        if let Some((head_seq, head_hash)) = self.head {
            if head_seq > seq {
                findings.push(Finding::Truncated { after_seq: seq, missing: head_seq - seq });
            } else if head_seq == self.anchor.0 {
                if head_hash != self.anchor.1 {
                    findings.push(Finding::HeadMismatch { seq: head_seq });
                }
            } else if let Ok(at) = by_seq.binary_search_by_key(&head_seq, |&i| entries[i].seq)
                && entries[by_seq[at]].hash != head_hash
            {
                findings.push(Finding::HeadMismatch { seq: head_seq });
            }
            // A head inside a removed stretch is already reported as removed.
        }
    }
}

/// Checks `rows` from the start of the chain against the public key in hex.
pub fn verify<B: AsRef<[u8]>>(
    public_key_hex: &str,
    rows: impl IntoIterator<Item = (Link, B)>,
) -> Result<Vec<Finding>, LedgerError> {
    Ok(Verifier::new(PublicKey::from_hex(public_key_hex)?).verify(rows))
}

/// Positions in `seqs` (all distinct) outside one longest increasing run: the fewest
/// rows that, moved, would leave the rest in order. O(n log n).
fn out_of_order(seqs: &[u64]) -> Vec<usize> {
    if seqs.is_sorted() {
        return Vec::new();
    }
    // tails[k]: position of the smallest last seq of an increasing run of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut before = vec![usize::MAX; seqs.len()];
    for (i, &seq) in seqs.iter().enumerate() {
        let k = tails.partition_point(|&t| seqs[t] < seq);
        if k > 0 {
            before[i] = tails[k - 1];
        }
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut in_run = vec![false; seqs.len()];
    let mut at = tails.last().copied().unwrap_or(usize::MAX);
    while at != usize::MAX {
        in_run[at] = true;
        at = before[at];
    }
    (0..seqs.len()).filter(|&i| !in_run[i]).collect()
}

#[cfg(test)]
mod tests;
