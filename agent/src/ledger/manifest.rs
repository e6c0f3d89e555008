//! The signed manifest of one export batch: which records an exported object holds
//! (seq range and every record's hash, in order), where its chain starts and ends, the
//! object's own SHA-256, and the device that signed it. A central verifier checks the
//! signature with the device's public key, the object against `object_sha256`, each
//! line against `record_hashes`, and manifests against each other (one's `head_hash` is
//! the next one's `prev_hash`), which proves both origin and completeness.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DeviceKey, PublicKey, canonical, from_hex, to_hex};

/// Signed before the manifest's canonical bytes.
const MANIFEST_DOMAIN: &[u8] = b"glassbox export manifest v1\0";
/// The `version` every manifest carries.
pub const MANIFEST_VERSION: &str = "glassbox.manifest.v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: String,
    /// `records` (chained records: seqs, hashes of the chain) or `events` (agent events:
    /// event ids, SHA-256 of each line; events are not chained).
    #[serde(default = "records_kind")]
    pub kind: String,
    pub device_id: String,
    /// The device's ed25519 public key, hex.
    pub public_key: String,
    /// The key of the object this manifest describes.
    pub object: String,
    /// SHA-256 (hex) of the object's bytes as uploaded (the gzip file).
    pub object_sha256: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub count: u64,
    /// The `prev_hash` of the first record (hex): the previous batch's `head_hash`, or the
    /// last record removed by retention before export began.
    pub prev_hash: String,
    /// The hash of the last record (hex): the chain head this batch reaches.
    pub head_hash: String,
    /// Every record's hash (hex), in seq order.
    pub record_hashes: Vec<String>,
    /// When the batch was made (RFC 3339).
    pub created: String,
    /// ed25519 (hex) over the domain and the canonical JSON of all fields above.
    #[serde(default)]
    pub signature: String,
}

/// What a manifest describes when it does not say.
pub const RECORDS: &str = "records";
/// A manifest of agent events.
pub const EVENTS: &str = "events";

fn records_kind() -> String {
    RECORDS.to_owned()
}

impl Manifest {
    /// Signs the manifest in place with the device key.
    pub fn sign(&mut self, key: &DeviceKey) {
        self.signature = to_hex(&key.sign(MANIFEST_DOMAIN, &self.signed_bytes()));
    }

    /// Whether `key` signed exactly these fields.
    pub fn is_signed_by(&self, key: &PublicKey) -> bool {
        from_hex(&self.signature).is_some_and(|sig| key.verifies(MANIFEST_DOMAIN, &self.signed_bytes(), &sig))
    }

    /// The public key the manifest names.
    pub fn public_key(&self) -> Option<PublicKey> {
        PublicKey::from_hex(&self.public_key).ok()
    }

    /// A 32-byte hash from its hex (as manifests and export lines write them).
    pub fn hash_from_hex(hex: &str) -> Option<[u8; 32]> {
        from_hex(hex)?.try_into().ok()
    }

    /// Bytes from hex (signatures).
    pub fn bytes_from_hex(hex: &str) -> Option<Vec<u8>> {
        from_hex(hex)
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(object) = value.as_object_mut() {
            object.remove("signature");
        }
        canonical(&value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            version: MANIFEST_VERSION.into(),
            kind: RECORDS.into(),
            device_id: "dev".into(),
            public_key: String::new(),
            object: "p/dev/2026/11/25/23/000000000001-000000000002.jsonl.gz".into(),
            object_sha256: "00".repeat(32),
            first_seq: 1,
            last_seq: 2,
            count: 2,
            prev_hash: "00".repeat(32),
            head_hash: "22".repeat(32),
            record_hashes: vec!["11".repeat(32), "22".repeat(32)],
            created: "2026-11-25T23:00:00.000Z".into(),
            signature: String::new(),
        }
    }

    #[test]
    fn a_signed_manifest_verifies_and_any_change_breaks_it() {
        let dir = std::env::temp_dir().join(format!("glassbox-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = DeviceKey::load_or_create(&dir.join("device.key")).unwrap();
        let mut m = manifest();
        m.public_key = key.public_key_hex();
        m.sign(&key);
        assert!(m.is_signed_by(&key.public_key()));
        let text = serde_json::to_string(&m).unwrap();
        let back: Manifest = serde_json::from_str(&text).unwrap();
        assert!(back.is_signed_by(&back.public_key().unwrap()));
        let mut altered = m.clone();
        altered.record_hashes[1] = "33".repeat(32);
        assert!(!altered.is_signed_by(&key.public_key()));
        let mut altered = m;
        altered.last_seq = 3;
        assert!(!altered.is_signed_by(&key.public_key()));
        let _ = std::fs::remove_dir_all(dir);
    }
}
