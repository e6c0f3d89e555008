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

/// A TLS client configuration (ring) trusting only the certificates in the PEM file
/// `cacert`, for the test clients.
pub fn client_config(cacert: &Path) -> Result<rustls::ClientConfig, String> {
    let pem = std::fs::read(cacert).map_err(|e| format!("cannot read {}: {e}", cacert.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &pem[..]) {
        let cert = cert.map_err(|e| format!("bad certificate in {}: {e}", cacert.display()))?;
        roots.add(cert).map_err(|e| format!("unusable CA in {}: {e}", cacert.display()))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
