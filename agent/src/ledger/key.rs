//! The device's ed25519 key: created on first run as a PKCS#8 file only root can read,
//! loaded on every later run, and never replaced silently (a new key would orphan every
//! signature made before it). Its public half, as hex, is what a verifier is given.
use std::{
    fmt, fs,
    io::{ErrorKind, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
    sync::Arc,
};

use ring::{
    rand::SystemRandom,
    signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey},
};
use tracing::{info, warn};

use super::{LedgerError, from_hex, to_hex};

/// The device's signing key. Clones share one key pair (the store and the exporter both
/// sign with it; the file is read once).
#[derive(Clone)]
pub struct DeviceKey {
    pair: Arc<Ed25519KeyPair>,
}

/// An ed25519 public key: what verifies the device's signatures.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl DeviceKey {
    /// Loads the key at `path`, or creates it there (mode 0600) if there is none. The
    /// parent directory must exist. A file that is there but unreadable or not a key is
    /// an error, never a reason to make a new one.
    pub fn load_or_create(path: &Path) -> Result<Self, LedgerError> {
        let io = |action| {
            let path = path.to_owned();
            move |source| LedgerError::Io { action, path, source }
        };
        match fs::read(path) {
            Ok(der) => {
                tighten(path).map_err(io("chmod"))?;
                Self::from_pkcs8(&der).map_err(|()| LedgerError::BadKeyFile { path: path.to_owned() })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let der =
                    Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| LedgerError::KeyGeneration)?;
                if !create_private(path, der.as_ref()).map_err(io("create"))? {
                    // Another process created it first: use theirs.
                    return Self::load_or_create(path);
                }
                let key = Self::from_pkcs8(der.as_ref()).map_err(|()| LedgerError::KeyGeneration)?;
                info!(message = "Created the device key.", path = %path.display(), public_key = %key.public_key_hex());
                Ok(key)
            }
            Err(e) => Err(io("read")(e)),
        }
    }

    /// A key from PKCS#8 v2 bytes (ours; the public key in them is checked) or v1 (as
    /// `openssl genpkey -algorithm ed25519` writes them, for keys provisioned by hand).
    pub(super) fn from_pkcs8(der: &[u8]) -> Result<Self, ()> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map(|pair| Self { pair: Arc::new(pair) }).map_err(drop)
    }

    pub fn public_key(&self) -> PublicKey {
        let bytes = self.pair.public_key().as_ref().try_into().expect("an ed25519 public key is 32 bytes");
        PublicKey(bytes)
    }

    /// The public key as 64 lowercase hex digits, for `glassbox identity`.
    pub fn public_key_hex(&self) -> String {
        self.public_key().to_hex()
    }

    /// Signs `domain || message`.
    pub(super) fn sign(&self, domain: &[u8], message: &[u8]) -> Vec<u8> {
        self.pair.sign(&[domain, message].concat()).as_ref().to_vec()
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKey").field("public_key", &self.public_key_hex()).finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Parses 64 hex digits.
    pub fn from_hex(hex: &str) -> Result<Self, LedgerError> {
        let bad = || LedgerError::BadPublicKey(hex.to_owned());
        let bytes = from_hex(hex.trim()).ok_or_else(bad)?;
        Ok(Self(bytes.try_into().map_err(|_| bad())?))
    }

    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// Whether `signature` is this key's over `domain || message`.
    pub(super) fn verifies(&self, domain: &[u8], message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0).verify(&[domain, message].concat(), signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// Writes `contents` to `path` only if nothing is there, readable by the owner alone from
/// the moment it exists, and never half-written: a temporary file is filled and synced,
/// then linked into place (a link, unlike a rename, fails rather than replace).
/// Returns false if `path` appeared meanwhile.
fn create_private(path: &Path, contents: &[u8]) -> std::io::Result<bool> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = Path::new(&tmp);
    let _ = fs::remove_file(tmp);
    let written = (|| {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::hard_link(tmp, path)
    })();
    let _ = fs::remove_file(tmp);
    match written {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Makes an existing key file owner-only again if someone widened it.
fn tighten(path: &Path) -> std::io::Result<()> {
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        warn!(message = "Device key was readable by others; restricting it to its owner.", path = %path.display(), mode = format!("{:o}", mode & 0o777));
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
