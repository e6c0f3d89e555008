//! The agent's configuration: one serde struct per TOML table, loaded from a file or from
//! the embedded default (`default-config.toml`), then validated.
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{
    export::config::{ExportConfig, Retention},
    identity::IdentityConfig,
    policy::config::{HookConfig, PolicySettings},
    quota::BucketConfig,
};

/// The embedded default configuration, documented field by field.
pub const DEFAULT_TOML: &str = include_str!("../default-config.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read config {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config")]
    Parse(#[source] toml::de::Error),
    #[error("invalid config: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub intercept: Intercept,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default)]
    pub upstream: Upstream,
    #[serde(default)]
    pub capture: Capture,
    /// Who a call is attributed to: `[identity] domain, users, tags, tailscale_socket`.
    #[serde(default)]
    pub identity: IdentityConfig,
    #[serde(default)]
    pub sessions: Sessions,
    /// Providers whose traffic is intercepted; a file that lists none keeps the defaults.
    #[serde(default)]
    pub providers: Vec<Provider>,
    /// Limits of the policy path: `[policy] max_body_mb`.
    #[serde(default)]
    pub policy: PolicySettings,
    /// Pre-request hooks, run in this order on the requests each one matches.
    #[serde(default)]
    pub hooks: Vec<HookConfig>,
    /// Spend quota buckets; every bucket that matches a request is charged.
    #[serde(default)]
    pub quotas: Vec<BucketConfig>,
    /// Export to S3-compatible storage: `[export]`, `[export.s3]`.
    #[serde(default)]
    pub export: ExportConfig,
    /// How long records and bodies stay on the device.
    #[serde(default)]
    pub retention: Retention,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Intercept {
    /// cgroup v2 directory to attach to; empty means the cgroup v2 root.
    pub cgroup: String,
    /// Local proxy port on 127.0.0.1 and [::1].
    pub port: u16,
    /// Port of the provider endpoints that is redirected.
    pub target_port: u16,
    /// Seconds between re-resolutions of the provider hosts.
    pub refresh_secs: u64,
    /// Seconds an address stays targeted after it was last resolved.
    pub target_ttl_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    /// State directory: database, CA, status file.
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Upstream {
    /// Extra PEM trust anchors for upstream verification; empty for none.
    pub extra_ca_file: String,
    /// Upstream TCP + TLS connect timeout in seconds.
    pub connect_timeout_secs: u64,
    /// Offer h2 to providers (used where they accept it); false: HTTP/1.1 only.
    pub http2: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Capture {
    /// Per-record cap on each stored body, in MiB; past it the capture is marked truncated.
    pub max_body_mb: u64,
    /// Cap on body bytes held by all unfinished captures together, in MiB.
    pub max_inflight_mb: u64,
    /// Header names redacted in addition to the built-in list.
    pub redact_headers: Vec<String>,
    /// URL query parameters redacted in addition to the built-in list.
    pub redact_params: Vec<String>,
    /// A TOML file in the format of agent/pricing.toml whose models override the embedded prices.
    pub pricing_file: String,
}

impl Default for Capture {
    fn default() -> Self {
        Self {
            max_body_mb: 64,
            max_inflight_mb: 1024,
            redact_headers: Vec::new(),
            redact_params: Vec::new(),
            pricing_file: String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sessions {
    /// Minutes of silence after which requests from one process tree start a new session.
    pub inactivity_gap_mins: u64,
}

impl Default for Sessions {
    fn default() -> Self {
        Self { inactivity_gap_mins: 30 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Short name recorded with each request (`openai`, `anthropic`, …).
    pub name: String,
    /// Host names matched exactly (case-insensitively) against the TLS SNI.
    pub hosts: Vec<String>,
}

impl Default for Intercept {
    fn default() -> Self {
        Self { cgroup: String::new(), port: 15443, target_port: 443, refresh_secs: 60, target_ttl_secs: 3600 }
    }
}

impl Default for Storage {
    fn default() -> Self {
        Self { dir: PathBuf::from("/var/lib/glassbox") }
    }
}

impl Default for Upstream {
    fn default() -> Self {
        Self { extra_ca_file: String::new(), connect_timeout_secs: 10, http2: true }
    }
}

impl Config {
    /// Loads `path`, or the embedded default when `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            None => Self::parse(DEFAULT_TOML),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                Self::parse(&text)
            }
        }
    }

    /// Parses and validates a TOML document; an empty provider list takes the defaults.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut config: Self = toml::from_str(text).map_err(ConfigError::Parse)?;
        if config.providers.is_empty() {
            let default: Self = toml::from_str(DEFAULT_TOML).map_err(ConfigError::Parse)?;
            config.providers = default.providers;
        }
        for provider in &mut config.providers {
            for host in &mut provider.hosts {
                *host = host.to_ascii_lowercase();
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        if self.intercept.port == 0 || self.intercept.target_port == 0 {
            return invalid("intercept.port and intercept.target_port must be non-zero".into());
        }
        if self.capture.max_body_mb == 0 || self.capture.max_inflight_mb < self.capture.max_body_mb {
            return invalid("capture.max_body_mb must be at least 1 and at most capture.max_inflight_mb".into());
        }
        self.identity.validate().map_err(ConfigError::Invalid)?;
        if self.sessions.inactivity_gap_mins == 0 {
            return invalid("sessions.inactivity_gap_mins must be at least 1".into());
        }
        if self.intercept.refresh_secs == 0 {
            return invalid("intercept.refresh_secs must be at least 1".into());
        }
        self.export.validate().map_err(ConfigError::Invalid)?;
        self.retention.validate().map_err(ConfigError::Invalid)?;
        if self.policy.max_body_mb == 0 {
            return invalid("policy.max_body_mb must be at least 1".into());
        }
        let mut names = std::collections::HashSet::new();
        for hook in &self.hooks {
            hook.validate().map_err(ConfigError::Invalid)?;
            if !names.insert(hook.name.as_str()) {
                return invalid(format!("hook {} is defined twice", hook.name));
            }
        }
        let mut names = std::collections::HashSet::new();
        for bucket in &self.quotas {
            bucket.validate().map_err(|e| ConfigError::Invalid(crate::error_chain(&e)))?;
            if !names.insert(bucket.name.as_str()) {
                return invalid(format!("quota bucket {} is defined twice", bucket.name));
            }
            if bucket.cut_streams {
                return invalid(format!(
                    "quota bucket {}: cut_streams is not supported yet; streams past the budget are charged and recorded",
                    bucket.name
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for provider in &self.providers {
            if provider.name.is_empty() || provider.hosts.is_empty() {
                return invalid(format!("provider {:?} needs a name and at least one host", provider.name));
            }
            for host in &provider.hosts {
                if !is_dns_name(host) {
                    return invalid(format!("provider {}: {host:?} is not a DNS host name", provider.name));
                }
                if !seen.insert(host.as_str()) {
                    return invalid(format!("host {host} is listed twice"));
                }
            }
        }
        Ok(())
    }

    /// The provider a host (SNI) belongs to, if any.
    pub fn provider_for(&self, host: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
    }

    /// Every configured provider host.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.providers.iter().flat_map(|p| p.hosts.iter().map(String::as_str))
    }

    pub fn db_path(&self) -> PathBuf {
        self.storage.dir.join("glassbox.db")
    }

    pub fn ca_dir(&self) -> PathBuf {
        self.storage.dir.join("ca")
    }

    pub fn secret_path(&self) -> PathBuf {
        self.storage.dir.join("secret.key")
    }

    /// The device's ed25519 signing key.
    pub fn device_key_path(&self) -> PathBuf {
        self.storage.dir.join("device.key")
    }

    /// The signed head of the log, kept outside the database.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.storage.dir.join("ledger.head")
    }

    pub fn status_path(&self) -> PathBuf {
        self.storage.dir.join("status.json")
    }
}

/// A DNS host name: letters, digits, hyphens and dots; no IP literals, no wildcards.
fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.parse::<std::net::IpAddr>().is_err()
        && host.split('.').all(|label| {
            !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests;
