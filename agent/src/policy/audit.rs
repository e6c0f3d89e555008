//! What policy did to one request, as stored on its record: each hook's decision, who
//! refused it if anyone did, whether the body sent upstream differs from the client's,
//! and what quotas reserved and charged. Values that were scrubbed are never recorded,
//! only their classes and counts.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Policy's part of a record; absent when no hook and no bucket applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyRecord {
    /// The decision of each hook that applied, in chain order.
    pub hooks: Vec<HookDecision>,
    /// `hook:<name>` or `quota:<bucket>` when the request was refused, else null.
    pub refused_by: Option<String>,
    /// The body sent upstream differs from the client's (the record then holds both,
    /// the sent one as the upstream body).
    pub body_modified: bool,
    /// False when a `pii` hook without `keep_original` changed the body: the record then
    /// holds the body as scrubbed by it, never the client's original.
    pub original_kept: bool,
    pub quota: Option<QuotaRecord>,
    /// Time spent in policy before the request was sent (or refused).
    pub elapsed_ms: f64,
}

impl PolicyRecord {
    /// True when no hook ran and no bucket applied (the model ruled them all out).
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty() && self.quota.is_none() && self.refused_by.is_none()
    }
}

/// One hook's decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HookDecision {
    pub hook: String,
    /// `pii`, `block`, `strip_tools` or `webhook`.
    pub kind: String,
    /// `allow`, `modify`, `block`, or `error` (a webhook gave no valid answer and its
    /// fail policy was `fail_open`; under `fail_closed` the action is `block`).
    pub action: String,
    pub reason: Option<String>,
    /// pii: placeholders by label and how many values each replaced.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub replaced: BTreeMap<String, u32>,
    /// strip_tools: the tool declarations removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stripped: Vec<String>,
    /// webhook: what went wrong, when no valid answer came.
    pub error: Option<String>,
    /// webhook: the fail policy that decided after an error.
    pub fail_policy: Option<String>,
    pub elapsed_ms: f64,
}

/// What quotas did with one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuotaRecord {
    /// The estimate reserved before sending.
    pub estimate_tokens: u64,
    pub estimate_usd: Option<f64>,
    /// The bucket that refused the request, if one did.
    pub rejected: Option<BucketState>,
    /// `alert` buckets the request ran past (it was sent anyway).
    pub alerts: Vec<BucketState>,
    /// Charges settled after the response, one per bucket instance.
    pub charges: Vec<ChargeRecord>,
}

/// A bucket instance that had too little left.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketState {
    pub bucket: String,
    pub instance: String,
    /// `usd` or `tokens`.
    pub unit: String,
    pub available: f64,
    pub needed: f64,
    pub refill_in_secs: Option<u64>,
}

/// One settled charge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChargeRecord {
    pub bucket: String,
    pub instance: String,
    pub unit: String,
    pub reserved: f64,
    pub charged: f64,
    pub level_after: f64,
}
