//! TLS on both legs: the server config that answers each provider SNI with a leaf minted
//! by the local CA (cached until close to expiry), and the upstream client config that
//! verifies providers against the system roots plus an optional extra CA file.
use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, RwLock},
};

use rustls::{
    ClientConfig, RootCertStore, ServerConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use time::OffsetDateTime;
use tracing::warn;

use crate::ca::Ca;

pub const ALPN_H2: &[u8] = b"h2";
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("failed to read CA file {path}")]
    CaFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("CA file {0} holds no certificate")]
    EmptyCaFile(String),
    #[error("no usable system or extra trust anchors")]
    NoRoots,
    #[error("tls configuration")]
    Rustls(#[from] rustls::Error),
}

/// The one crypto provider used across the tree.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Mints and caches leaves for the configured provider hosts, and nothing else.
pub struct LeafResolver {
    ca: Ca,
    hosts: Vec<String>,
    provider: Arc<CryptoProvider>,
    cache: RwLock<HashMap<String, (Arc<CertifiedKey>, OffsetDateTime)>>,
}

impl std::fmt::Debug for LeafResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafResolver").field("hosts", &self.hosts).finish_non_exhaustive()
    }
}

impl LeafResolver {
    pub fn new(ca: Ca, hosts: Vec<String>) -> Self {
        Self { ca, hosts, provider: provider(), cache: RwLock::default() }
    }

    /// The cached leaf for `host`, minted anew when missing or within a day of expiry.
    pub fn leaf(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        if !self.hosts.iter().any(|h| h == host) {
            return None;
        }
        let fresh = |not_after: &OffsetDateTime| *not_after - OffsetDateTime::now_utc() > time::Duration::days(1);
        if let Some((key, not_after)) = self.cache.read().expect("leaf cache poisoned").get(host)
            && fresh(not_after)
        {
            return Some(key.clone());
        }
        let minted =
            self.ca.mint(host).map_err(|e| warn!(message = "Failed to mint a leaf.", %host, error = %e)).ok()?;
        let (leaf, key, not_after) = minted;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
        let signer = self.provider.key_provider.load_private_key(key).ok()?;
        let chain = vec![CertificateDer::from(leaf), self.ca.cert_der().clone()];
        let certified = Arc::new(CertifiedKey::new(chain, signer));
        self.cache.write().expect("leaf cache poisoned").insert(host.to_owned(), (certified.clone(), not_after));
        Some(certified)
    }
}

impl ResolvesServerCert for LeafResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.leaf(&hello.server_name()?.to_ascii_lowercase())
    }
}

/// The client-facing TLS config: leaves by SNI, h2 and http/1.1 by ALPN.
pub fn server_config(resolver: Arc<LeafResolver>) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// The upstream TLS config: system roots plus `extra_ca_file`, full verification always.
/// `http2`: offer h2 by ALPN (used when the provider accepts it), else HTTP/1.1 only.
pub fn client_config(extra_ca_file: Option<&Path>, http2: bool) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        warn!(message = "Skipped part of the system trust store.", %error);
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = extra_ca_file {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| TlsError::CaFile { path: shown.clone(), source })?;
        let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice()).filter_map(Result::ok).collect();
        if certs.is_empty() {
            return Err(TlsError::EmptyCaFile(shown));
        }
        roots.add_parsable_certificates(certs);
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = if http2 { vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()] } else { vec![ALPN_HTTP1.to_vec()] };
    Ok(Arc::new(config))
}
