//! The tamper-evident log: records canonicalised, hash-chained and signed with the
//! device's ed25519 key, and the verifier that names what was altered, removed or moved.
//!
//! Takes each record as JSON, in the order the store writes it; hands on a [`Link`] to
//! store beside the record (seq, prev_hash, hash, signature), and later a list of
//! [`Finding`]s for a stored sequence of rows.
//!
//! # Canonical bytes
//!
//! [`canonical`] writes a record as JSON with no insignificant whitespace, every object's
//! keys sorted by their UTF-8 bytes (the same as sorting by Unicode code point), at every
//! depth; array order kept; strings escaped as serde_json escapes them (`"` `\` and control
//! characters only; `\n` `\r` `\t` `\b` `\f` short, other controls as `\u00XX` lowercase;
//! everything else, `/` and non-ASCII included, as raw UTF-8); numbers as serde_json
//! prints them (integers in decimal, floats in the shortest form that reads back to the
//! same f64: `1.0`, `0.1`, `-0.0`, `1e+20`, `1.5e-7`). Close to RFC 8785 but not it: JCS
//! sorts keys by UTF-16 units and prints numbers the ECMAScript way. The bytes are valid
//! JSON and are themselves what is hashed: keep them as stored, rather than re-deriving
//! them from a parsed copy (a reader without serde_json's `float_roundtrip`, which this
//! build has, reads some floats back one unit in the last place off, which would show as
//! an alteration). They are written straight from the record's `Serialize`, with the same
//! result as building a `serde_json::Value` first; the tests hold the two equal.
//!
//! # Chain and signature
//!
//! Links are numbered from 1. `hash = SHA-256(seq as 8 bytes big-endian || prev_hash ||
//! canonical)`, with `prev_hash` the previous link's hash (32 zero bytes for seq 1), and
//! `signature = ed25519(device key, "glassbox ledger link v1\0" || hash)`. The seq is
//! inside the hash so renumbering rows is an alteration, not a silent relabelling.
//!
//! # What an attacker with write access to the database, but not the key, can do
//!
//! | change                                        | finding                                 |
//! |-----------------------------------------------|-----------------------------------------|
//! | edit any byte of a record (or its seq)        | `Altered { seq }`                       |
//! | edit, then recompute the hash                 | `BadSignature { seq }`                  |
//! | rewrite a suffix, re-hashed and re-linked     | `BadSignature` for each rewritten row   |
//! | re-point a row at another predecessor         | `Altered`, or `BadSignature` + `BrokenLink` |
//! | delete rows                                   | `Removed { after_seq, missing }`        |
//! | swap or move rows                             | `Reordered { seq }` for the fewest rows whose move restores order |
//! | copy a row                                    | `Duplicated { seq }`                    |
//! | cut off the tail                              | nothing, from the rows alone            |
//!
//! A chain cannot see its own truncation: the last rows, deleted, leave a shorter chain
//! that is whole. Only a head kept elsewhere shows it: a signed [`Checkpoint`] of the
//! head written outside the database as records are appended, and the head carried in
//! each export batch's [`Manifest`]. [`Verifier::expect_checkpoint`] and
//! [`Verifier::expect_head`] check the rows against one: `Truncated` if rows past it are
//! gone, `HeadMismatch` if the row at its seq is not the one it names. Whoever holds the
//! key (root on the device) can rewrite everything not yet exported; export is what
//! makes a record final.
mod canonical;
mod chain;
mod key;
mod manifest;
mod verify;

pub use canonical::{CanonicalError, canonical, canonical_object};
pub use chain::{Chain, Checkpoint, Link, head};
pub use key::{DeviceKey, PublicKey};
pub use manifest::{EVENTS, MANIFEST_VERSION, Manifest, RECORDS};
pub use verify::{Finding, Verifier, verify};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("failed to {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an ed25519 PKCS#8 key")]
    BadKeyFile { path: PathBuf },
    #[error("failed to generate the device key")]
    KeyGeneration,
    #[error("public key is not 64 hex digits: {0:?}")]
    BadPublicKey(String),
    #[error("checkpoint is not `seq:hash:signature` in decimal and hex: {0:?}")]
    BadCheckpoint(String),
}

/// Lowercase hex of `bytes`.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The bytes of a hex string (either case), or None if it is not one.
fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    hex.as_bytes().chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

#[cfg(test)]
mod tests;
