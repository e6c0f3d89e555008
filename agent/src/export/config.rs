//! The `[export]`, `[export.s3]` and `[retention]` tables: where records go, how they are
//! batched, and how long the device keeps them. Parsed by the agent's config loader and
//! checked here.
use serde::Deserialize;

use super::schema::BodyMode;

/// `[export]`: on when `[export.s3] bucket` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportConfig {
    /// Bodies in exported lines: `full`, `hashes` (SHA-256 and length only) or `none`.
    pub bodies: BodyMode,
    /// A batch is uploaded once it holds this many records…
    pub batch_records: usize,
    /// …or this many MiB of records and bodies…
    pub batch_mb: u64,
    /// …or its oldest record has waited this many seconds.
    pub interval_secs: u64,
    /// On SIGTERM, how long the agent keeps uploading before it reports what is left.
    pub flush_deadline_secs: u64,
    /// Longest wait between retries while S3 fails (backoff doubles up to it, with jitter).
    pub max_backoff_secs: u64,
    pub s3: S3Config,
}

impl Default for ExportConfig {
    fn default() -> Self {
        Self {
            bodies: BodyMode::Full,
            batch_records: 500,
            batch_mb: 16,
            interval_secs: 10,
            flush_deadline_secs: 10,
            max_backoff_secs: 60,
            s3: S3Config::default(),
        }
    }
}

/// `[export.s3]`: any S3-compatible endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// `https://…` (or `http://` for a local test server); empty: AWS's regional endpoint.
    pub endpoint: String,
    /// e.g. `us-east-1`; empty: from the standard AWS chain (`AWS_REGION`, profile).
    pub region: String,
    /// Empty disables export.
    pub bucket: String,
    /// Key prefix; objects go to `prefix/device_id/YYYY/MM/DD/HH/…`.
    pub prefix: String,
    /// Path-style addressing (`endpoint/bucket/key`), as most non-AWS servers need.
    pub path_style: bool,
    /// Static credentials; both empty: the standard AWS chain (environment, profile,
    /// web identity, ECS/IMDS).
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl ExportConfig {
    pub fn enabled(&self) -> bool {
        !self.s3.bucket.is_empty()
    }

    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        if self.batch_records == 0 || self.batch_mb == 0 || self.interval_secs == 0 || self.max_backoff_secs == 0 {
            return Err("export.batch_records, batch_mb, interval_secs and max_backoff_secs must be at least 1".into());
        }
        let s3 = &self.s3;
        let scheme_ok = s3.endpoint.starts_with("http://") || s3.endpoint.starts_with("https://");
        if !s3.endpoint.is_empty() && !scheme_ok {
            return Err(format!("export.s3.endpoint {:?} must start with http:// or https://", s3.endpoint));
        }
        if s3.access_key_id.is_empty() != s3.secret_access_key.is_empty() {
            return Err("export.s3: set both access_key_id and secret_access_key, or neither".into());
        }
        if s3.prefix.starts_with('/') || s3.prefix.contains("//") {
            return Err(format!("export.s3.prefix {:?} must not start with '/' or contain '//'", s3.prefix));
        }
        Ok(())
    }
}

/// `[retention]`: how long records and bodies stay in the local database.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Days a record is kept; unset keeps records forever; 0 removes each record as soon as
    /// it is exported (export on) or at once (export off). A record is never removed
    /// before it is exported when export is on.
    pub days: Option<u64>,
    /// Days bodies are kept (≤ `days`); unset follows `days`. After it, the record stays
    /// without its bodies.
    pub bodies_days: Option<u64>,
}

impl Retention {
    pub fn validate(&self) -> Result<(), String> {
        if let (Some(days), Some(bodies)) = (self.days, self.bodies_days)
            && bodies > days
        {
            return Err(format!("retention.bodies_days ({bodies}) cannot exceed retention.days ({days})"));
        }
        Ok(())
    }

    /// Whether anything is ever purged.
    pub fn purges(&self) -> bool {
        self.days.is_some() || self.bodies_days.is_some()
    }
}
