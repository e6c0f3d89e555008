//! TLS for the fake provider: a rustls server config (ring provider) from a certificate
//! set on disk, offering h2 and http/1.1 by ALPN.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::certs::CertSet;

/// A server config presenting `set` from `dir`. Panics with the file name on bad input.
pub fn server_config(dir: &Path, set: CertSet) -> Arc<ServerConfig> {
    let (cert_file, key_file) = set.files(dir);
    let read = |path: &Path| std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &read(&cert_file)[..])
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("bad certificate in {}: {e}", cert_file.display()));
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &read(&key_file)[..])
        .unwrap_or_else(|e| panic!("bad key in {}: {e}", key_file.display()))
        .unwrap_or_else(|| panic!("no private key in {}", key_file.display()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap_or_else(|e| panic!("{} does not match {}: {e}", key_file.display(), cert_file.display()));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}
