//! Secret redaction before anything is written: header values such as `authorization` and
//! `x-api-key`, and URL query parameters such as Gemini's `?key=`, are replaced by a short
//! keyed hash (HMAC-SHA256 under a per-device secret), so calls made with the same key can
//! be correlated without storing the key.
use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

use http::HeaderMap;
use ring::{hmac, rand::SecureRandom};

/// Header names whose values are always redacted.
pub const SECRET_HEADERS: &[&str] =
    &["authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "set-cookie"];

/// URL query parameters whose values are always redacted.
pub const SECRET_PARAMS: &[&str] = &["key", "api_key", "api-key", "apikey", "access_token", "token"];

#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    #[error("failed to read or create the device secret {path}")]
    Secret {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Redacts with a per-device key and a configurable set of names.
pub struct Redactor {
    key: hmac::Key,
    headers: Vec<String>,
    params: Vec<String>,
}

impl Redactor {
    /// Loads the device secret from `path` (0600), creating it if missing.
    pub fn load_or_create(path: &Path, extra_headers: &[String], extra_params: &[String]) -> Result<Self, RedactError> {
        let err = |source| RedactError::Secret { path: path.display().to_string(), source };
        let secret = match fs::read(path) {
            Ok(bytes) if bytes.len() == 32 => bytes,
            _ => {
                let mut bytes = vec![0u8; 32];
                ring::rand::SystemRandom::new()
                    .fill(&mut bytes)
                    .map_err(|_| err(std::io::Error::other("system randomness unavailable")))?;
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(err)?;
                file.set_permissions(fs::Permissions::from_mode(0o600)).map_err(err)?;
                file.write_all(&bytes).map_err(err)?;
                bytes
            }
        };
        Ok(Self::new(&secret, extra_headers, extra_params))
    }

    pub fn new(secret: &[u8], extra_headers: &[String], extra_params: &[String]) -> Self {
        let lower = |names: &[String]| names.iter().map(|n| n.to_ascii_lowercase()).collect::<Vec<_>>();
        let mut headers: Vec<String> = SECRET_HEADERS.iter().map(|s| (*s).to_owned()).collect();
        headers.extend(lower(extra_headers));
        let mut params: Vec<String> = SECRET_PARAMS.iter().map(|s| (*s).to_owned()).collect();
        params.extend(lower(extra_params));
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret), headers, params }
    }

    /// The stand-in for a secret value: the first 12 hex digits of its keyed hash.
    pub fn mask(&self, secret: &[u8]) -> String {
        let tag = hmac::sign(&self.key, secret);
        let hex: String = tag.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("[REDACTED hmac:{hex}]")
    }

    /// Headers as (name, value) pairs in order, secret values masked; non-UTF-8 values
    /// are shown lossily.
    pub fn headers(&self, headers: &HeaderMap) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(name, value)| {
                let shown = if self.headers.iter().any(|h| h == name.as_str()) {
                    self.mask(value.as_bytes())
                } else {
                    String::from_utf8_lossy(value.as_bytes()).into_owned()
                };
                (name.as_str().to_owned(), shown)
            })
            .collect()
    }

    /// One command-line argument with what this redactor knows to be secret masked: URL
    /// query parameters and `Name: value` headers (curl -H). The identity layer has
    /// already masked generic secret shapes; this adds the configured names.
    pub fn arg(&self, arg: &str) -> String {
        if let Some((name, value)) = arg.split_once(':')
            && self.headers.iter().any(|h| h.eq_ignore_ascii_case(name.trim()))
            && !value.trim().starts_with("[REDACTED")
        {
            return format!("{name}: {}", self.mask(value.trim().as_bytes()));
        }
        if arg.contains('?') {
            return self.path(arg);
        }
        arg.to_owned()
    }

    /// A path-and-query with secret parameter values masked.
    pub fn path(&self, path_and_query: &str) -> String {
        let Some((path, query)) = path_and_query.split_once('?') else {
            return path_and_query.to_owned();
        };
        let params: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, value))
                    if self.params.iter().any(|p| p.eq_ignore_ascii_case(name)) && !value.starts_with("[REDACTED") =>
                {
                    format!("{name}={}", self.mask(value.as_bytes()))
                }
                _ => pair.to_owned(),
            })
            .collect();
        format!("{path}?{}", params.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(b"0123456789abcdef0123456789abcdef", &["X-Custom-Token".to_owned()], &[])
    }

    #[test]
    fn secret_headers_are_masked_and_correlatable() {
        let r = redactor();
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer sk-live-123"));
        h.insert("x-api-key", HeaderValue::from_static("sk-ant-456"));
        h.insert("x-custom-token", HeaderValue::from_static("tok-789"));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let shown = r.headers(&h);
        let text = format!("{shown:?}");
        for secret in ["sk-live-123", "sk-ant-456", "tok-789"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("application/json"));
        assert_eq!(r.mask(b"Bearer sk-live-123"), shown[0].1, "same key, same mask");
        assert_ne!(r.mask(b"Bearer sk-live-124"), shown[0].1);
        let other = Redactor::new(b"another-device-secret-0123456789", &[], &[]);
        assert_ne!(other.mask(b"Bearer sk-live-123"), shown[0].1, "masks are keyed per device");
    }

    #[test]
    fn command_line_arguments_are_masked() {
        let r = redactor();
        let url = r.arg("https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?key=AIzaS&alt=sse");
        assert!(!url.contains("AIzaS") && url.starts_with("https://generativelanguage"), "{url}");
        let header = r.arg("X-Custom-Token: tok-789");
        assert!(!header.contains("tok-789") && header.starts_with("X-Custom-Token: [REDACTED hmac:"), "{header}");
        assert_eq!(r.arg("--verbose"), "--verbose");
        assert_eq!(r.arg("Content-Type: application/json"), "Content-Type: application/json");
    }

    #[test]
    fn url_secrets_are_masked() {
        let r = redactor();
        let p = r.path("/v1beta/models/gemini-2.5-pro:generateContent?key=AIzaSECRET&alt=sse");
        assert!(!p.contains("AIzaSECRET"), "{p}");
        assert!(p.starts_with("/v1beta/models/gemini-2.5-pro:generateContent?key=[REDACTED hmac:"));
        assert!(p.ends_with("&alt=sse"));
        assert_eq!(r.path("/v1/chat/completions"), "/v1/chat/completions");
    }
}
