//! The tamper-evident log: records canonicalised, hash-chained and signed with the
//! device's ed25519 key, and the verifier that names what was altered, removed or moved.
