//! Spend quotas: token buckets of USD or tokens, charged by every request they apply to.
//!
//! Takes the `[[quotas]]` buckets of the config, the indexes of those whose `match` the
//! caller found to apply to a request, the request's [`ScopeValues`] (user, groups, tags,
//! device, client, CI run, session) and its estimated then actual cost; hands on a
//! [`Reservation`] or the [`Exceeded`] bucket that refused it, the [`Charge`]s made when
//! it is settled (for the audit record), and the [`Level`] of every bucket instance.
//!
//! # Buckets and instances
//!
//! A bucket's `scope` is a template such as `<user>` or `<user>/<client>`; substituting
//! a request's values gives the *instance* charged (`alice/claude-code`). A placeholder
//! with several values (a user in two groups) gives one instance per value, and the
//! cartesian product across placeholders; a placeholder with no value (no CI run) means
//! the bucket does not apply. The empty scope is one shared instance, `*`.
//!
//! # Reserve, then settle
//!
//! [`Quotas::reserve`] holds the estimate against every instance before the request is
//! sent, all or nothing, so concurrent requests cannot together overshoot a budget by more
//! than their reservations; [`Quotas::settle`] replaces the hold with the real cost
//! ([`Quotas::release`] drops it unspent). A [`Reservation`] dropped without either is
//! released, so a cancelled request does not leak budget. Levels go below zero when a
//! cost exceeds its estimate; refill (continuous, capped at capacity) brings them back.
//!
//! # Persistence
//!
//! Levels live in memory behind one mutex and are written to the agent's SQLite database
//! (`quota_levels`) by [`Quotas::sync`], which also applies refills the CLI queued in
//! `quota_refills` ([`request_refill`]). Reservations are in memory only.
//!
//! An instance that carries no information is forgotten: at each sync, one whose level,
//! refilled to now, is back at capacity and that has no outstanding reservation is
//! removed from memory and its row deleted (a new instance starts full, so it is the
//! same as one never seen). Per-session buckets therefore do not grow without bound; a
//! later request on the same key simply recreates it, full.
mod bucket;
mod persist;
#[cfg(test)]
mod tests;

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    fmt,
    path::Path,
    sync::{Arc, Mutex, MutexGuard, PoisonError, Weak},
    time::{SystemTime, UNIX_EPOCH},
};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use bucket::Instance;
use persist::{LevelRow, RefillRow};

/// What can go wrong configuring quotas or reaching their state.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// A bucket name outside `[A-Za-z0-9_.-]+`.
    #[error("quota bucket name {0:?} is invalid: use letters, digits, '_', '.' and '-'")]
    InvalidName(String),
    /// A `<name>` in a scope that is not a known placeholder.
    #[error(
        "quota bucket {bucket}: unknown placeholder <{placeholder}> in scope \
         (known: <user> <group> <tag> <device> <client> <run> <session>)"
    )]
    UnknownPlaceholder {
        /// The bucket.
        bucket: String,
        /// The name between the angle brackets.
        placeholder: String,
    },
    /// A scope that does not parse (an unclosed `<`, a stray `>`).
    #[error("quota bucket {bucket}: scope {scope:?} is malformed: {reason}")]
    InvalidScope {
        /// The bucket.
        bucket: String,
        /// The scope as configured.
        scope: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A capacity that is not a number above zero.
    #[error("quota bucket {bucket}: capacity must be a number above 0, not {capacity}")]
    InvalidCapacity {
        /// The bucket.
        bucket: String,
        /// The capacity as configured.
        capacity: f64,
    },
    /// A refill that is not a number of zero or more.
    #[error("quota bucket {bucket}: refill must be a number of 0 or more, not {refill}")]
    InvalidRefill {
        /// The bucket.
        bucket: String,
        /// The refill as configured.
        refill: f64,
    },
    /// Two buckets with one name.
    #[error("quota bucket {0} is configured twice")]
    DuplicateBucket(String),
    /// A refill of a bucket that is not configured.
    #[error("no quota bucket named {0}")]
    UnknownBucket(String),
    /// A refill amount that is not a number of zero or more.
    #[error("refill amount must be a number of 0 or more, not {0}")]
    InvalidAmount(f64),
    /// The database file could not be opened.
    #[error("failed to open quota database {path}")]
    Open {
        /// The database file.
        path: String,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// A statement on the quota tables failed.
    #[error("quota database query failed")]
    Db(#[from] rusqlite::Error),
}

/// What a bucket counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// US dollars, from the request's priced cost.
    Usd,
    /// Tokens, input and output together as the caller counts them.
    Tokens,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Usd => "usd",
            Unit::Tokens => "tokens",
        })
    }
}

/// The period a bucket's `refill` is spread over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// 60 seconds.
    Minute,
    /// 3,600 seconds.
    Hour,
    /// 86,400 seconds.
    #[default]
    Day,
    /// 7 days.
    Week,
    /// 30 days.
    Month,
}

impl Period {
    /// The period in seconds.
    pub fn secs(self) -> f64 {
        match self {
            Period::Minute => 60.0,
            Period::Hour => 3_600.0,
            Period::Day => 86_400.0,
            Period::Week => 604_800.0,
            Period::Month => 2_592_000.0,
        }
    }
}

/// What happens to a request a bucket has no room for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExceed {
    /// Refuse the request.
    #[default]
    Reject,
    /// Let it through; the caller logs and records the alert.
    Alert,
}

/// A `<name>` in a bucket's scope template, replaced by a request's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placeholder {
    /// `<user>`: the user the request runs as.
    User,
    /// `<group>`: each of the user's groups.
    Group,
    /// `<tag>`: each of the device's tags.
    Tag,
    /// `<device>`: the device.
    Device,
    /// `<client>`: the agent program making the request.
    Client,
    /// `<run>`: the CI run.
    Run,
    /// `<session>`: the session.
    Session,
}

impl Placeholder {
    /// Every placeholder, in the order documented.
    pub const ALL: [Placeholder; 7] = [
        Placeholder::User,
        Placeholder::Group,
        Placeholder::Tag,
        Placeholder::Device,
        Placeholder::Client,
        Placeholder::Run,
        Placeholder::Session,
    ];

    /// The name between the angle brackets.
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::User => "user",
            Placeholder::Group => "group",
            Placeholder::Tag => "tag",
            Placeholder::Device => "device",
            Placeholder::Client => "client",
            Placeholder::Run => "run",
            Placeholder::Session => "session",
        }
    }

    /// The placeholder called `name` (without brackets).
    pub fn from_name(name: &str) -> Option<Self> {
        Placeholder::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.name())
    }
}

/// One `[[quotas]]` table of the config.
///
/// Parsed with unknown keys refused; call [`BucketConfig::validate`] on each. Duplicate
/// names across buckets are the config loader's to report ([`Quotas::open`] refuses
/// them too, as a last line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawBucket")]
pub struct BucketConfig {
    /// Unique name, `[A-Za-z0-9_.-]+`; how the CLI and the records refer to the bucket.
    pub name: String,
    /// `""` for one shared budget, or a template of placeholders (`<user>`, `<group>`,
    /// `<tag>`, `<device>`, `<client>`, `<run>`, `<session>`) and literal text, such as
    /// `<user>` or `<user>/<client>`: one budget per distinct substitution.
    pub scope: String,
    /// What is counted: `"usd"` or `"tokens"`.
    pub unit: Unit,
    /// Most the bucket holds, and its level when first seen; above 0.
    pub capacity: f64,
    /// Amount added back per `per`, continuously; 0 or more. Default: `capacity`.
    pub refill: f64,
    /// Period of `refill`: `"minute"`, `"hour"`, `"day"` (default), `"week"`, `"month"` (30 days).
    pub per: Period,
    /// `"reject"` (default) refuses a request the bucket has no room for; `"alert"` lets
    /// it through and reports it.
    pub on_exceed: OnExceed,
    /// Cut a streaming response once it has spent past the bucket; default false: a
    /// stream running past the budget is recorded, not cut.
    pub cut_streams: bool,
    /// `[quotas.match]`: which requests the bucket applies to; interpreted by the
    /// caller, carried here as written. Default empty.
    #[serde(rename = "match")]
    pub matcher: toml::Table,
}

/// [`BucketConfig`] as written, before defaults that depend on other fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBucket {
    /// See [`BucketConfig::name`].
    name: String,
    /// See [`BucketConfig::scope`].
    scope: String,
    /// See [`BucketConfig::unit`].
    unit: Unit,
    /// See [`BucketConfig::capacity`].
    capacity: f64,
    /// See [`BucketConfig::refill`]; absent means `capacity`.
    #[serde(default)]
    refill: Option<f64>,
    /// See [`BucketConfig::per`].
    #[serde(default)]
    per: Period,
    /// See [`BucketConfig::on_exceed`].
    #[serde(default)]
    on_exceed: OnExceed,
    /// See [`BucketConfig::cut_streams`].
    #[serde(default)]
    cut_streams: bool,
    /// See [`BucketConfig::matcher`].
    #[serde(rename = "match", default)]
    matcher: toml::Table,
}

impl From<RawBucket> for BucketConfig {
    fn from(raw: RawBucket) -> Self {
        BucketConfig {
            refill: raw.refill.unwrap_or(raw.capacity),
            name: raw.name,
            scope: raw.scope,
            unit: raw.unit,
            capacity: raw.capacity,
            per: raw.per,
            on_exceed: raw.on_exceed,
            cut_streams: raw.cut_streams,
            matcher: raw.matcher,
        }
    }
}

impl BucketConfig {
    /// Checks the name, the scope template, capacity and refill. Does not see other
    /// buckets: duplicate names are the caller's to check.
    pub fn validate(&self) -> Result<(), QuotaError> {
        if !valid_name(&self.name) {
            return Err(QuotaError::InvalidName(self.name.clone()));
        }
        Template::parse(&self.name, &self.scope)?;
        if !(self.capacity.is_finite() && self.capacity > 0.0) {
            return Err(QuotaError::InvalidCapacity { bucket: self.name.clone(), capacity: self.capacity });
        }
        if !(self.refill.is_finite() && self.refill >= 0.0) {
            return Err(QuotaError::InvalidRefill { bucket: self.name.clone(), refill: self.refill });
        }
        Ok(())
    }

    /// The distinct placeholders of the scope, in order of first use; empty for a shared
    /// bucket or a scope that does not parse.
    pub fn placeholders(&self) -> Vec<Placeholder> {
        Template::parse(&self.name, &self.scope).map(|t| t.placeholders()).unwrap_or_default()
    }

    /// Refill per second.
    fn rate(&self) -> f64 {
        self.refill / self.per.secs()
    }
}

/// Whether `name` is a usable bucket name: `[A-Za-z0-9_.-]+`.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// One piece of a scope template.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    /// Text copied as is.
    Text(String),
    /// Replaced by a request's value.
    Slot(Placeholder),
}

/// A parsed scope: empty for a shared bucket.
#[derive(Clone, Debug, Default, PartialEq)]
struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `scope` of bucket `bucket` (named in errors).
    fn parse(bucket: &str, scope: &str) -> Result<Self, QuotaError> {
        let malformed =
            |reason| QuotaError::InvalidScope { bucket: bucket.to_owned(), scope: scope.to_owned(), reason };
        let mut pieces = Vec::new();
        let mut rest = scope;
        while let Some(open) = rest.find(['<', '>']) {
            if rest[open..].starts_with('>') {
                return Err(malformed("'>' without '<'"));
            }
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('>') else {
                return Err(malformed("'<' without '>'"));
            };
            pieces.push(Piece::Slot(placeholder(bucket, &after[..close])?));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Template { pieces })
    }

    /// The distinct placeholders, in order of first use.
    fn placeholders(&self) -> Vec<Placeholder> {
        let mut out = Vec::new();
        for piece in &self.pieces {
            if let Piece::Slot(p) = piece
                && !out.contains(p)
            {
                out.push(*p);
            }
        }
        out
    }

    /// The instance keys for a request with `scope`: one per combination of values,
    /// none if a placeholder has no value, `*` for a shared bucket.
    fn expand(&self, scope: &ScopeValues) -> Vec<String> {
        let slots = self.placeholders();
        let mut combos: Vec<Vec<&str>> = vec![Vec::new()];
        for slot in &slots {
            let values = scope.values(*slot);
            combos = combos
                .iter()
                .flat_map(|combo| values.iter().map(move |v| [combo.as_slice(), &[*v]].concat()))
                .collect();
        }
        combos.iter().map(|combo| self.render(&slots, combo)).collect()
    }

    /// The key for one combination: `values[i]` is the value of `slots[i]`.
    fn render(&self, slots: &[Placeholder], values: &[&str]) -> String {
        if self.pieces.is_empty() {
            return "*".to_owned();
        }
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Slot(p) => {
                    if let Some(i) = slots.iter().position(|s| s == p) {
                        out.push_str(values[i]);
                    }
                }
            }
        }
        out
    }
}

/// The placeholder `<name>` in the scope of `bucket` (named in the error).
fn placeholder(bucket: &str, name: &str) -> Result<Placeholder, QuotaError> {
    Placeholder::from_name(name)
        .ok_or_else(|| QuotaError::UnknownPlaceholder { bucket: bucket.to_owned(), placeholder: name.to_owned() })
}

/// Values of the placeholders for one request. A placeholder with several values (a
/// user in two groups, a device with two tags) expands the template into one bucket
/// instance per value (cartesian product); a placeholder with no value (no CI run) means
/// the bucket does not apply to that request. Empty strings count as no value;
/// repeated values count once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeValues {
    /// `<user>`.
    pub user: String,
    /// `<group>`: every group of the user.
    pub groups: Vec<String>,
    /// `<tag>`: every tag of the device.
    pub tags: Vec<String>,
    /// `<device>`.
    pub device: String,
    /// `<client>`: the agent program, if known.
    pub client: Option<String>,
    /// `<run>`: the CI run, if any.
    pub run: Option<String>,
    /// `<session>`: the session, if any.
    pub session: Option<String>,
}

impl ScopeValues {
    /// The distinct non-empty values of `placeholder`.
    fn values(&self, placeholder: Placeholder) -> Vec<&str> {
        let all: Vec<&str> = match placeholder {
            Placeholder::User => vec![self.user.as_str()],
            Placeholder::Group => self.groups.iter().map(String::as_str).collect(),
            Placeholder::Tag => self.tags.iter().map(String::as_str).collect(),
            Placeholder::Device => vec![self.device.as_str()],
            Placeholder::Client => self.client.as_deref().into_iter().collect(),
            Placeholder::Run => self.run.as_deref().into_iter().collect(),
            Placeholder::Session => self.session.as_deref().into_iter().collect(),
        };
        let mut out = Vec::with_capacity(all.len());
        for value in all {
            if !value.is_empty() && !out.contains(&value) {
                out.push(value);
            }
        }
        out
    }
}

/// What a request is expected to cost, before it is sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Estimate {
    /// Tokens, charged to `tokens` buckets.
    pub tokens: u64,
    /// Dollars, charged to `usd` buckets; `None` (no price known) reserves 0, which an
    /// empty bucket still refuses.
    pub usd: Option<f64>,
}

/// The real cost, after the response.
#[derive(Clone, Copy, Debug, Default)]
pub struct Actual {
    /// Tokens, if the response said.
    pub tokens: Option<u64>,
    /// Dollars, if the request could be priced.
    pub usd: Option<f64>,
}

/// A dollar amount as usable: finite and not negative.
fn usable(usd: Option<f64>) -> Option<f64> {
    usd.filter(|v| v.is_finite() && *v >= 0.0)
}

/// What `estimate` reserves in a bucket counting `unit`.
fn estimated(unit: Unit, estimate: Estimate) -> f64 {
    match unit {
        Unit::Tokens => estimate.tokens as f64,
        Unit::Usd => usable(estimate.usd).unwrap_or(0.0),
    }
}

/// What `actual` charges a bucket counting `unit`, if known.
fn actually(unit: Unit, actual: Actual) -> Option<f64> {
    match unit {
        Unit::Tokens => actual.tokens.map(|t| t as f64),
        Unit::Usd => usable(actual.usd),
    }
}

/// A bucket instance that had no room for a request.
#[derive(Debug, Clone, Serialize)]
pub struct Exceeded {
    /// The bucket.
    pub bucket: String,
    /// The instance (`*` for a shared bucket).
    pub instance: String,
    /// What the bucket counts.
    pub unit: Unit,
    /// Level less outstanding reservations, before this request; may be negative.
    pub available: f64,
    /// The request's estimate.
    pub needed: f64,
    /// Seconds until refill makes room for `needed` (if the outstanding reservations
    /// stay); `None` if the bucket does not refill, or `needed` is above its capacity.
    pub refill_in_secs: Option<u64>,
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (bucket, instance) = (&self.bucket, &self.instance);
        let available = amount(self.unit, self.available);
        let needed = amount(self.unit, self.needed);
        write!(f, "quota {bucket} ({instance}) exceeded: {available} available, {needed} needed")?;
        match self.refill_in_secs {
            Some(secs) => write!(f, "; enough refilled in {secs} s"),
            None => f.write_str("; refill will not make room"),
        }
    }
}

impl std::error::Error for Exceeded {}

/// `value` with its unit, rounded for people.
fn amount(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Usd => format!("{value:.4} usd"),
        Unit::Tokens => format!("{value:.0} tokens"),
    }
}

/// One bucket instance charged for a settled request, for the audit record.
#[derive(Debug, Clone, Serialize)]
pub struct Charge {
    /// The bucket.
    pub bucket: String,
    /// The instance.
    pub instance: String,
    /// What the bucket counts.
    pub unit: Unit,
    /// What had been reserved (the estimate).
    pub reserved: f64,
    /// What was charged (the actual cost, or the estimate if unknown).
    pub charged: f64,
    /// The instance's level after the charge; negative after an overshoot.
    pub level_after: f64,
}

/// The state of one bucket instance, for `glassbox quota`.
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    /// The bucket.
    pub bucket: String,
    /// The instance; for a bucket with no instance (none reached yet, or all back at full
    /// capacity and forgotten), `*` or its scope template.
    pub instance: String,
    /// What the bucket counts.
    pub unit: Unit,
    /// Most it holds.
    pub capacity: f64,
    /// Amount left, refilled to the time asked; negative after an overshoot.
    pub level: f64,
    /// Held by requests in flight (0 from [`stored_levels`]).
    pub reserved: f64,
    /// Added per `per`.
    pub refill: f64,
    /// Period of `refill`.
    pub per: Period,
    /// What happens when it is exceeded.
    pub on_exceed: OnExceed,
}

impl Level {
    /// The row for instance `instance` of `cfg`, in the state `state`.
    fn of(cfg: &BucketConfig, instance: &str, state: &Instance) -> Self {
        Level {
            bucket: cfg.name.clone(),
            instance: instance.to_owned(),
            unit: cfg.unit,
            capacity: cfg.capacity,
            level: state.level,
            reserved: state.reserved,
            refill: cfg.refill,
            per: cfg.per,
            on_exceed: cfg.on_exceed,
        }
    }

    /// The row shown for a bucket with no instance (yet, or any more).
    fn unseen(cfg: &BucketConfig) -> Self {
        let instance = if cfg.scope.is_empty() { "*" } else { cfg.scope.as_str() };
        Level::of(cfg, instance, &Instance::full(cfg.capacity, 0.0))
    }
}

/// One amount held against one bucket instance.
#[derive(Debug)]
struct Hold {
    /// Index into the configured buckets.
    bucket: usize,
    /// The bucket's name.
    name: String,
    /// The instance key.
    instance: String,
    /// What the bucket counts.
    unit: Unit,
    /// The estimate reserved.
    amount: f64,
}

/// The estimate held against every instance a request was charged to, until settled or
/// released. Dropping it releases it.
#[derive(Debug)]
pub struct Reservation {
    holds: Vec<Hold>,
    alerts: Vec<Exceeded>,
    state: Weak<Mutex<State>>,
}

impl Reservation {
    /// The `alert` bucket instances that had no room for the request.
    pub fn alerts(&self) -> &[Exceeded] {
        &self.alerts
    }

    /// Whether no bucket applied to the request.
    pub fn is_empty(&self) -> bool {
        self.holds.is_empty()
    }

    /// The (bucket, instance) pairs charged.
    pub fn instances(&self) -> Vec<(String, String)> {
        self.holds.iter().map(|h| (h.name.clone(), h.instance.clone())).collect()
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.holds.is_empty() {
            return;
        }
        if let Some(state) = self.state.upgrade() {
            lock(&state).unhold(&self.holds);
        }
    }
}

/// Every bucket instance in memory, and what `sync` has still to write.
#[derive(Debug, Default)]
struct State {
    /// Per configured bucket (same index), its instances by key.
    instances: Vec<BTreeMap<String, Instance>>,
    /// Instances changed since the last write; a key with no instance in `instances` was
    /// forgotten, and its row is to be deleted.
    dirty: HashSet<(usize, String)>,
    /// Refill requests applied in memory whose rows are not yet deleted.
    applied: BTreeSet<i64>,
}

/// What one `sync` writes.
struct Snapshot {
    /// The instances written or deleted.
    keys: Vec<(usize, String)>,
    /// The rows of those still in memory.
    rows: Vec<LevelRow>,
    /// (bucket name, instance) of those forgotten, whose rows are deleted.
    gone: Vec<(String, String)>,
    /// Refill requests to delete.
    applied: Vec<i64>,
}

/// Locks the state; a panic elsewhere while it was held leaves it usable (every change
/// to it is a whole step).
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `t` as Unix seconds (0 before the epoch).
fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Checks a refill amount.
fn check_amount(amount: Option<f64>) -> Result<Option<f64>, QuotaError> {
    match amount {
        Some(a) if !(a.is_finite() && a >= 0.0) => Err(QuotaError::InvalidAmount(a)),
        _ => Ok(amount),
    }
}

impl State {
    /// State from persisted rows; rows of buckets not in `buckets` are ignored.
    fn load(buckets: &[BucketConfig], rows: Vec<LevelRow>) -> Self {
        let mut state = State { instances: vec![BTreeMap::new(); buckets.len()], ..State::default() };
        for row in rows {
            let Some(index) = buckets.iter().position(|b| b.name == row.bucket) else {
                continue;
            };
            let instance = Instance::stored(row.level, row.updated, buckets[index].capacity);
            state.instances[index].insert(row.instance, instance);
        }
        state
    }

    /// Instance `key` of bucket `index`, refilled to `now`; created full if new.
    fn instance(&mut self, index: usize, key: &str, cfg: &BucketConfig, now: f64) -> &mut Instance {
        let mut created = false;
        let instance = self.instances[index].entry(key.to_owned()).or_insert_with(|| {
            created = true;
            Instance::full(cfg.capacity, now)
        });
        if created {
            self.dirty.insert((index, key.to_owned()));
        }
        instance.refill_to(cfg.capacity, cfg.rate(), now);
        instance
    }

    /// Drops the reservations `holds`.
    fn unhold(&mut self, holds: &[Hold]) {
        for hold in holds {
            if let Some(instance) = self.instances[hold.bucket].get_mut(&hold.instance) {
                instance.unreserve(hold.amount);
            }
        }
    }

    /// Replaces `hold` with the actual cost.
    fn settle(&mut self, cfg: &BucketConfig, hold: &Hold, actual: Actual, now: f64) -> Charge {
        let charged = actually(hold.unit, actual).unwrap_or(hold.amount);
        let instance = self.instance(hold.bucket, &hold.instance, cfg, now);
        instance.unreserve(hold.amount);
        instance.level -= charged;
        let level_after = instance.level;
        self.dirty.insert((hold.bucket, hold.instance.clone()));
        Charge {
            bucket: hold.name.clone(),
            instance: hold.instance.clone(),
            unit: hold.unit,
            reserved: hold.amount,
            charged,
            level_after,
        }
    }

    /// Refills instance `key` (or all) of bucket `index` by `amount` (or to capacity).
    fn refill(&mut self, index: usize, cfg: &BucketConfig, key: Option<&str>, amount: Option<f64>, now: f64) -> usize {
        let keys: Vec<String> = match key {
            Some(key) => self.instances[index].keys().filter(|k| *k == key).cloned().collect(),
            None => self.instances[index].keys().cloned().collect(),
        };
        for key in &keys {
            let instance = self.instance(index, key, cfg, now);
            match amount {
                Some(amount) => instance.top_up(cfg.capacity, amount),
                None => instance.level = cfg.capacity,
            }
            self.dirty.insert((index, key.clone()));
        }
        keys.len()
    }

    /// Applies the queued refill requests not applied yet; unknown buckets and bad
    /// amounts are dropped with a warning.
    fn apply_refills(&mut self, buckets: &[BucketConfig], pending: &[RefillRow], now: f64) {
        for request in pending {
            if !self.applied.insert(request.id) {
                continue;
            }
            let Some(index) = buckets.iter().position(|b| b.name == request.bucket) else {
                warn!(id = request.id, bucket = %request.bucket, "quota refill dropped: no such bucket");
                continue;
            };
            let Ok(amount) = check_amount(request.amount) else {
                warn!(id = request.id, amount = ?request.amount, "quota refill dropped: bad amount");
                continue;
            };
            let instance = request.instance.as_deref();
            let count = self.refill(index, &buckets[index], instance, amount, now);
            info!(id = request.id, bucket = %request.bucket, ?instance, ?amount, count, "quota refill applied");
        }
    }

    /// Forgets every instance that, refilled to `now`, is at capacity with no outstanding
    /// reservation (the same as one never seen: a new instance starts full), marking it
    /// dirty so that its row is deleted. One with reservations is never forgotten, so a
    /// [`Hold`] always finds its instance; a later request on the key recreates it full.
    fn prune(&mut self, buckets: &[BucketConfig], now: f64) {
        let dirty = &mut self.dirty;
        for (index, (cfg, instances)) in buckets.iter().zip(&mut self.instances).enumerate() {
            instances.retain(|key, instance| {
                let idle = instance.holds == 0 && instance.at(cfg.capacity, cfg.rate(), now).level >= cfg.capacity;
                if idle {
                    dirty.insert((index, key.clone()));
                }
                !idle
            });
        }
    }

    /// Takes the changed instances (clearing the dirty set): rows for those in memory,
    /// deletions for those forgotten; and the applied refills.
    fn snapshot(&mut self, buckets: &[BucketConfig]) -> Snapshot {
        let keys: Vec<(usize, String)> = self.dirty.drain().collect();
        let mut rows = Vec::new();
        let mut gone = Vec::new();
        for (index, key) in &keys {
            let bucket = buckets[*index].name.clone();
            match self.instances[*index].get(key) {
                Some(instance) => rows.push(LevelRow {
                    bucket,
                    instance: key.clone(),
                    level: instance.level,
                    updated: instance.updated,
                }),
                None => gone.push((bucket, key.clone())),
            }
        }
        Snapshot { keys, rows, gone, applied: self.applied.iter().copied().collect() }
    }

    /// Every instance refilled to `now`, plus a full row for each bucket with none.
    fn levels(&self, buckets: &[BucketConfig], now: f64) -> Vec<Level> {
        let mut out = Vec::new();
        for (cfg, instances) in buckets.iter().zip(&self.instances) {
            if instances.is_empty() {
                out.push(Level::unseen(cfg));
            }
            for (key, instance) in instances {
                out.push(Level::of(cfg, key, &instance.at(cfg.capacity, cfg.rate(), now)));
            }
        }
        out
    }
}

/// The quota engine: the configured buckets, their instances' levels and reservations.
/// `Send + Sync`; share it behind an `Arc`. Every method but [`Quotas::open`] and
/// [`Quotas::sync`] works in memory under one short-held mutex.
#[derive(Debug)]
pub struct Quotas {
    buckets: Vec<BucketConfig>,
    templates: Vec<Template>,
    state: Arc<Mutex<State>>,
    conn: Mutex<Connection>,
}

/// Validates every bucket, refuses duplicate names, and parses the scopes.
fn templates(buckets: &[BucketConfig]) -> Result<Vec<Template>, QuotaError> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(buckets.len());
    for cfg in buckets {
        cfg.validate()?;
        if !names.insert(cfg.name.as_str()) {
            return Err(QuotaError::DuplicateBucket(cfg.name.clone()));
        }
        out.push(Template::parse(&cfg.name, &cfg.scope)?);
    }
    Ok(out)
}

impl Quotas {
    /// Opens state at `db` (creating the tables if needed), loads persisted levels (rows
    /// of buckets no longer configured are ignored, and kept), and applies refills queued
    /// while no agent ran. Validates every bucket and refuses duplicate names.
    pub fn open(buckets: Vec<BucketConfig>, db: &Path) -> Result<Quotas, QuotaError> {
        let templates = templates(&buckets)?;
        let conn = persist::open_writer(db)?;
        let state = State::load(&buckets, persist::load_levels(&conn)?);
        let quotas = Quotas { buckets, templates, state: Arc::new(Mutex::new(state)), conn: Mutex::new(conn) };
        quotas.sync(SystemTime::now())?;
        Ok(quotas)
    }

    /// The configured buckets, in config order; `reserve` takes indexes into this.
    pub fn buckets(&self) -> &[BucketConfig] {
        &self.buckets
    }

    /// Locks the state.
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The index of bucket `name`.
    fn index(&self, name: &str) -> Result<usize, QuotaError> {
        self.buckets.iter().position(|b| b.name == name).ok_or_else(|| QuotaError::UnknownBucket(name.to_owned()))
    }

    /// What a request would hold: each instance of each applicable bucket, once.
    fn holds(&self, applicable: &[usize], scope: &ScopeValues, estimate: Estimate) -> Vec<Hold> {
        let mut holds: Vec<Hold> = Vec::new();
        for &index in applicable {
            let (Some(cfg), Some(template)) = (self.buckets.get(index), self.templates.get(index)) else {
                warn!(index, "quota reserve: no bucket at this index");
                continue;
            };
            for instance in template.expand(scope) {
                if holds.iter().any(|h| h.bucket == index && h.instance == instance) {
                    continue;
                }
                let amount = estimated(cfg.unit, estimate);
                holds.push(Hold { bucket: index, name: cfg.name.clone(), instance, unit: cfg.unit, amount });
            }
        }
        holds
    }

    /// Charges `estimate` to every instance of the buckets at `applicable` (indexes into
    /// [`Quotas::buckets`], those whose matcher the caller found to match) expanded with
    /// `scope`. All-or-nothing: if any `reject` bucket instance has less available than
    /// the estimate (level less outstanding reservations, after refill to `now`; an empty
    /// bucket refuses even a zero estimate), nothing is reserved and the first such
    /// instance is returned. `alert` buckets never reject: when exceeded they are still
    /// charged, and listed in [`Reservation::alerts`].
    pub fn reserve(
        &self,
        applicable: &[usize],
        scope: &ScopeValues,
        estimate: Estimate,
        now: SystemTime,
    ) -> Result<Reservation, Exceeded> {
        let holds = self.holds(applicable, scope, estimate);
        let now = unix(now);
        let mut state = self.lock();
        let mut alerts = Vec::new();
        for hold in &holds {
            let cfg = &self.buckets[hold.bucket];
            let instance = state.instance(hold.bucket, &hold.instance, cfg, now);
            if !bucket::exceeds(instance.available(), hold.amount, cfg.capacity) {
                continue;
            }
            let exceeded = exceeded(cfg, hold, instance);
            match cfg.on_exceed {
                OnExceed::Reject => return Err(exceeded),
                OnExceed::Alert => alerts.push(exceeded),
            }
        }
        for hold in &holds {
            if let Some(instance) = state.instances[hold.bucket].get_mut(&hold.instance) {
                instance.reserve(hold.amount);
            }
        }
        drop(state);
        Ok(Reservation { holds, alerts, state: Arc::downgrade(&self.state) })
    }

    /// After the response: replaces each reservation with the actual cost (level −=
    /// actual, outstanding −= estimate). An unknown actual (`None`) charges the estimate.
    /// Returns the charges made, for the audit record.
    pub fn settle(&self, mut reservation: Reservation, actual: Actual, now: SystemTime) -> Vec<Charge> {
        let holds = std::mem::take(&mut reservation.holds);
        let now = unix(now);
        let mut state = self.lock();
        holds.iter().map(|hold| state.settle(&self.buckets[hold.bucket], hold, actual, now)).collect()
    }

    /// The request was never sent (blocked by a later hook, upstream failed before
    /// sending): drops the reservation without charging. Dropping it does the same.
    pub fn release(&self, reservation: Reservation) {
        drop(reservation);
    }

    /// For cutting long streams: the name of the first bucket with `cut_streams` set whose
    /// instance would go below zero if `spent_so_far` were charged now, counting the
    /// request's own reservation as spendable and other requests' as taken. A unit with
    /// no figure in `spent_so_far` counts as nothing spent. `on_exceed` is not consulted.
    pub fn would_exceed(&self, reservation: &Reservation, spent_so_far: Actual, now: SystemTime) -> Option<String> {
        let now = unix(now);
        let state = self.lock();
        let over = |hold: &&Hold| {
            let cfg = &self.buckets[hold.bucket];
            let Some(instance) = state.instances[hold.bucket].get(&hold.instance) else {
                return false;
            };
            let available = instance.at(cfg.capacity, cfg.rate(), now).available() + hold.amount;
            let spent = actually(hold.unit, spent_so_far).unwrap_or(0.0);
            cfg.cut_streams && bucket::overdraws(available, spent, cfg.capacity)
        };
        reservation.holds.iter().find(over).map(|hold| hold.name.clone())
    }

    /// Sets every instance of bucket `name` (or only `instance` if given) to level +
    /// `amount` (`None`: full capacity), capped at capacity. Returns the number of
    /// instances refilled: 0 for an instance never seen (or forgotten), which is full already.
    pub fn refill(
        &self,
        name: &str,
        instance: Option<&str>,
        amount: Option<f64>,
        now: SystemTime,
    ) -> Result<usize, QuotaError> {
        let index = self.index(name)?;
        let amount = check_amount(amount)?;
        Ok(self.lock().refill(index, &self.buckets[index], instance, amount, unix(now)))
    }

    /// Current levels of all instances in memory, by bucket in config order then instance,
    /// plus one row at full capacity for each bucket with none (yet, or any more).
    pub fn levels(&self, now: SystemTime) -> Vec<Level> {
        self.lock().levels(&self.buckets, unix(now))
    }

    /// Applies refill requests queued by the CLI and forgets the instances back at full
    /// capacity with nothing reserved, then writes the changed instances, deletes the rows
    /// of the forgotten ones and the applied requests, in one short transaction. The state
    /// mutex is held only to apply, prune and copy, never across I/O. Called every second
    /// by the agent's quota thread and at shutdown. May wait up to 5 s on a busy database;
    /// on failure what was not written (or deleted) is kept for the next call.
    pub fn sync(&self, now: SystemTime) -> Result<(), QuotaError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let pending = persist::pending_refills(&conn)?;
        let snapshot = {
            let mut state = self.lock();
            state.apply_refills(&self.buckets, &pending, unix(now));
            state.prune(&self.buckets, unix(now));
            state.snapshot(&self.buckets)
        };
        match persist::save(&mut conn, &snapshot.rows, &snapshot.gone, &snapshot.applied) {
            Ok(()) => {
                let mut state = self.lock();
                for id in &snapshot.applied {
                    state.applied.remove(id);
                }
                Ok(())
            }
            Err(e) => {
                self.lock().dirty.extend(snapshot.keys);
                Err(e)
            }
        }
    }
}

/// The [`Exceeded`] for `hold` against `instance`.
fn exceeded(cfg: &BucketConfig, hold: &Hold, instance: &Instance) -> Exceeded {
    let available = instance.available();
    Exceeded {
        bucket: cfg.name.clone(),
        instance: hold.instance.clone(),
        unit: cfg.unit,
        available,
        needed: hold.amount,
        refill_in_secs: bucket::secs_until(available, hold.amount, cfg.capacity, cfg.rate()),
    }
}

/// Levels as persisted in `db`, refilled to `now` by the configured rates, for the CLI
/// (read-only; no agent needed, and the agent may be writing). Reserved is 0; refills
/// still queued are not counted; a missing database or table means every bucket is full.
pub fn stored_levels(db: &Path, buckets: &[BucketConfig], now: SystemTime) -> Result<Vec<Level>, QuotaError> {
    let rows = if db.exists() {
        let conn = persist::open_reader(db)?;
        if persist::has_tables(&conn)? { persist::load_levels(&conn)? } else { Vec::new() }
    } else {
        Vec::new()
    };
    Ok(State::load(buckets, rows).levels(buckets, unix(now)))
}

/// Queues a refill of `bucket` (one `instance`, or all; by `amount`, or to capacity) in
/// `db`, creating the file and tables if needed. The running agent applies it at its next
/// [`Quotas::sync`]; if none runs, the next [`Quotas::open`] does. The bucket is not
/// checked here (the agent drops requests for unknown buckets): check it against the
/// config first. Returns the request id, for [`refill_applied`].
pub fn request_refill(db: &Path, bucket: &str, instance: Option<&str>, amount: Option<f64>) -> Result<i64, QuotaError> {
    let amount = check_amount(amount)?;
    let conn = persist::open_writer(db)?;
    persist::insert_refill(&conn, bucket, instance, amount)
}

/// Whether refill request `id` has been applied (its row is gone).
pub fn refill_applied(db: &Path, id: i64) -> Result<bool, QuotaError> {
    let conn = persist::open_reader(db)?;
    Ok(!persist::has_tables(&conn)? || !persist::refill_pending(&conn, id)?)
}
