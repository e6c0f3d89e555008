//! The local CA: created on first run (ECDSA P-256, name-constrained to the provider hosts
//! as DNS names only), kept root-only on disk, and used to mint short-lived leaves per SNI.
use std::{
    fs,
    io::Write,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, NameConstraints, PKCS_ECDSA_P256_SHA256,
};
use time::{Duration, OffsetDateTime};
use tracing::{info, warn};

/// Leaves are valid this long from their (backdated) start.
pub const LEAF_LIFETIME: Duration = Duration::days(7);
/// Leaves start this far in the past, for clients with a slow clock.
pub const LEAF_BACKDATE: Duration = Duration::hours(1);
const CA_LIFETIME: Duration = Duration::days(5 * 365);

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("failed to {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("certificate generation failed")]
    Rcgen(#[from] rcgen::Error),
}

/// The CA certificate and the means to sign leaves with it.
pub struct Ca {
    cert_pem: String,
    cert_der: rustls::pki_types::CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// Loads the CA from `dir`, creating it if missing or if it no longer constrains
    /// exactly `hosts` (clients must then trust the new one; this is logged).
    pub fn load_or_create(dir: &Path, hosts: &[String]) -> Result<Self, CaError> {
        let io = |action, path: &Path| {
            let path = path.to_owned();
            move |source| CaError::Io { action, path, source }
        };
        let (cert_path, key_path, hosts_path) = (dir.join("ca.pem"), dir.join("ca.key"), dir.join("hosts"));
        let mut sorted = hosts.to_vec();
        sorted.sort();
        sorted.dedup();
        let hosts_line = sorted.join("\n");

        if cert_path.exists() && key_path.exists() {
            let stored_hosts = fs::read_to_string(&hosts_path).unwrap_or_default();
            if stored_hosts == hosts_line {
                let cert_pem = fs::read_to_string(&cert_path).map_err(io("read", &cert_path))?;
                let key_pem = fs::read_to_string(&key_path).map_err(io("read", &key_path))?;
                let key = KeyPair::from_pem(&key_pem)?;
                return Self::from_parts(cert_pem, key, &sorted);
            }
            warn!(message = "Provider hosts changed; creating a new CA. Clients must trust it again.", dir = %dir.display());
        }

        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io("create", dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io("chmod", dir))?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let now = OffsetDateTime::now_utc();
        let mut params = ca_params(&sorted);
        params.not_before = now - LEAF_BACKDATE;
        params.not_after = now + CA_LIFETIME;
        let cert_pem = params.self_signed(&key)?.pem();
        write_private(&key_path, key.serialize_pem().as_bytes()).map_err(io("write", &key_path))?;
        fs::write(&cert_path, &cert_pem).map_err(io("write", &cert_path))?;
        fs::write(&hosts_path, &hosts_line).map_err(io("write", &hosts_path))?;
        info!(message = "Created the local CA.", path = %cert_path.display(), hosts = sorted.len());
        Self::from_parts(cert_pem, key, &sorted)
    }

    fn from_parts(cert_pem: String, key: KeyPair, hosts: &[String]) -> Result<Self, CaError> {
        let cert_der = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .next()
            .and_then(Result::ok)
            .ok_or(rcgen::Error::CouldNotParseCertificate)?;
        // The issuer only needs the CA's subject and key: both are fixed, so the params
        // rebuilt here sign leaves that chain to the stored certificate.
        let issuer = Issuer::new(ca_params(hosts), key);
        Ok(Self { cert_pem, cert_der, issuer })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &rustls::pki_types::CertificateDer<'static> {
        &self.cert_der
    }

    /// Mints a leaf for `host`, valid from an hour ago for `LEAF_LIFETIME`.
    /// Returns (leaf DER, PKCS#8 key DER, not_after).
    pub fn mint(&self, host: &str) -> Result<(Vec<u8>, Vec<u8>, OffsetDateTime), CaError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec![host.to_owned()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - LEAF_BACKDATE;
        params.not_after = params.not_before + LEAF_LIFETIME;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.der().to_vec(), key.serialize_der(), params.not_after))
    }
}

/// The CA's fixed parameters: subject, usages and DNS-only name constraints.
fn ca_params(hosts: &[String]) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "glassbox");
    dn.push(DnType::CommonName, "glassbox local CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    // DNS names only: a CA that also carried an IP constraint was rejected by Claude Code.
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: hosts.iter().map(|h| GeneralSubtree::DnsName(h.clone())).collect(),
        excluded_subtrees: Vec::new(),
    });
    params
}

/// Writes a file only its owner can read, from the moment it exists.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(contents)
}

#[cfg(test)]
mod tests;
