//! The committed test fixtures in `certs/` (see its README): where they are and which
//! certificate set a fake provider serves.

use std::path::{Path, PathBuf};

/// Common name of the test CA, as it appears in the issuer of every trusted fake's leaf.
pub const TEST_CA_CN: &str = "glassbox test fixture CA";

/// Common name of the CA nothing trusts.
pub const UNTRUSTED_CA_CN: &str = "glassbox untrusted fixture CA";

/// The system CA bundle clients normally trust.
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Which certificate a fake provider presents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CertSet {
    /// `provider.pem`, signed by the test CA; SANs api.openai.com, api.anthropic.com,
    /// generativelanguage.googleapis.com, other.example, localhost.
    #[default]
    Trusted,
    /// `untrusted-provider.pem`, signed by a CA nobody trusts; SAN api.openai.com.
    Untrusted,
}

impl CertSet {
    /// The (certificate chain, private key) files of this set inside `dir`.
    pub fn files(self, dir: &Path) -> (PathBuf, PathBuf) {
        let stem = match self {
            CertSet::Trusted => "provider",
            CertSet::Untrusted => "untrusted-provider",
        };
        (dir.join(format!("{stem}.pem")), dir.join(format!("{stem}.key")))
    }
}

/// The `certs/` directory of the workspace.
pub fn dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs");
    dir.canonicalize().unwrap_or_else(|e| panic!("test certificates not found at {}: {e}", dir.display()))
}

/// The test CA certificate, the agent's `extra_ca_file` in tests.
pub fn test_ca() -> PathBuf {
    dir().join("test-ca.pem")
}

/// The CA certificate nobody trusts.
pub fn untrusted_ca() -> PathBuf {
    dir().join("untrusted-ca.pem")
}
