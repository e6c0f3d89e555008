//! Policy before data leaves the host: quotas reserve, then the hook chain runs, then the
//! request is sent as the hooks left it — or refused in the provider's own error format.
//!
//! The proxy asks [`Policy::plan`] per request with what is known before the body (the
//! person, the device, the client, the provider). When no hook and no bucket can apply,
//! the request goes on untouched and unread: policy costs it nothing. Otherwise the body
//! is read whole (up to `[policy] max_body_mb`) and [`Policy::apply`] decides, handing
//! back the body to send, what the record should keep, and a [`PolicyRecord`].
use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use regex::Regex;
use serde_json::{Value, json};

pub mod audit;
pub mod chain;
pub mod config;
pub mod glob;
pub mod matcher;
pub mod pii;
pub mod reply;
pub mod strip_tools;
pub mod subject;
pub mod webhook;

pub use audit::PolicyRecord;
use config::{HookConfig, HookKind, PolicySettings};
use matcher::Match;
use subject::{RequestFacts, Subject};

use crate::{
    capture::{
        cost::Pricing,
        usage::{ApiKind, Usage},
    },
    identity::{Device, IdentityConfig, ProcessSnapshot},
    quota::{BucketConfig, Estimate, Quotas},
};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("invalid hook: {0}")]
    Hook(String),
    #[error("invalid pii hook {0}")]
    Pii(String, #[source] pii::PiiError),
    #[error("invalid quota bucket {0}: match: {1}")]
    BucketMatch(String, String),
}

/// Output tokens assumed for a request that sets no limit, when reserving quota.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 4_096;

/// One compiled hook.
pub(crate) struct Hook {
    pub config: HookConfig,
    pub action: Action,
}

pub(crate) enum Action {
    Pii(pii::Scrubber),
    Block(Option<Regex>),
    StripTools,
    Webhook(webhook::Webhook),
}

/// Everything configured under `[[hooks]]`, `[[quotas]]` and `[policy]`, compiled.
pub struct Policy {
    hooks: Vec<Hook>,
    quotas: Option<Arc<Quotas>>,
    bucket_matches: Vec<Match>,
    identity: IdentityConfig,
    device: Device,
    pricing: Arc<Pricing>,
    max_body: usize,
}

/// Which hooks and buckets may apply to one request, decided before its body is read.
pub struct Plan {
    hooks: Vec<usize>,
    buckets: Vec<usize>,
    facts: RequestFacts,
}

/// The request as policy sees it.
pub struct RequestInfo<'a> {
    pub provider: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a http::HeaderMap,
}

/// What policy decided for one request.
pub struct Applied {
    /// The body to record as the client's request (scrubbed when a pii hook said not to
    /// keep the original).
    pub stored: Bytes,
    pub record: PolicyRecord,
    pub verdict: Verdict,
}

pub enum Verdict {
    /// Send `body`; `reservation` is settled by the capture thread with the real cost.
    Forward { body: Bytes, modified: bool, reservation: Option<crate::quota::Reservation> },
    /// Answer the client with this instead.
    Refuse(http::Response<Bytes>),
}

impl Policy {
    /// Compiles the configured hooks and buckets; `None` when there are neither, so the
    /// proxy skips policy entirely.
    pub fn new(
        hooks: &[HookConfig],
        quotas: Option<Arc<Quotas>>,
        settings: &PolicySettings,
        identity: IdentityConfig,
        device: Device,
        pricing: Arc<Pricing>,
        webhook_tls: &Arc<rustls::ClientConfig>,
    ) -> Result<Option<Self>, PolicyError> {
        let no_buckets = quotas.as_ref().is_none_or(|q| q.buckets().is_empty());
        if hooks.is_empty() && no_buckets {
            return Ok(None);
        }
        let compiled = hooks.iter().map(|h| compile(h, webhook_tls)).collect::<Result<Vec<_>, _>>()?;
        let bucket_matches = match &quotas {
            Some(q) => q.buckets().iter().map(bucket_match).collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        Ok(Some(Self {
            hooks: compiled,
            quotas,
            bucket_matches,
            identity,
            device,
            pricing,
            max_body: usize::try_from(settings.max_body_mb << 20).unwrap_or(usize::MAX),
        }))
    }

    /// The subject of a connection, built once per connection.
    pub fn subject(&self, snapshot: &ProcessSnapshot) -> Subject {
        Subject::new(&self.identity, &self.device, snapshot)
    }

    /// The largest body policy reads.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// The hooks and buckets that may apply, from everything but the body; `None`: none
    /// can, send the request on untouched.
    pub fn plan(&self, subject: &Subject, headers: &http::HeaderMap, provider: &str) -> Option<Plan> {
        let facts = RequestFacts::new(subject, headers);
        let hooks: Vec<usize> = (0..self.hooks.len())
            .filter(|&i| self.hooks[i].config.matcher.matches_without_model(subject, &facts, provider))
            .collect();
        let buckets: Vec<usize> = (0..self.bucket_matches.len())
            .filter(|&i| self.bucket_matches[i].matches_without_model(subject, &facts, provider))
            .collect();
        (!hooks.is_empty() || !buckets.is_empty()).then_some(Plan { hooks, buckets, facts })
    }

    /// Reserves quota and runs the chain over `body`.
    pub async fn apply(&self, plan: Plan, subject: &Subject, req: &RequestInfo<'_>, body: Bytes) -> Applied {
        let started = Instant::now();
        let mut value: Option<Value> = serde_json::from_slice(&body).ok();
        let api = crate::capture::usage::api_kind(req.method, req.path);
        let model = request_model(value.as_ref(), req.path);
        let mut facts = plan.facts;
        facts.session = subject::session(subject, req.headers, value.as_ref());
        let mut record = PolicyRecord { original_kept: true, ..PolicyRecord::default() };

        // Only model calls spend: a models list or a HEAD probe is never charged.
        let spends = api != ApiKind::Unknown;
        let buckets: Vec<usize> = plan
            .buckets
            .into_iter()
            .filter(|&i| spends && self.bucket_matches[i].matches_model(req.provider, model.as_deref()))
            .collect();
        let reservation = match (&self.quotas, buckets.is_empty()) {
            (Some(quotas), false) => {
                let estimate = estimate(&self.pricing, req.provider, model.as_deref(), value.as_ref(), body.len());
                match chain::reserve(quotas, &buckets, subject, &facts, estimate, &mut record) {
                    Ok(reservation) => Some(reservation),
                    Err(response) => {
                        let response = response.into_response(api, req.provider);
                        record.elapsed_ms = ms(started);
                        return Applied { stored: body, record, verdict: Verdict::Refuse(response) };
                    }
                }
            }
            _ => None,
        };

        let hooks: Vec<&Hook> = plan
            .hooks
            .iter()
            .map(|&i| &self.hooks[i])
            .filter(|h| h.config.matcher.matches_model(req.provider, model.as_deref()))
            .collect();
        let ctx = chain::Context { subject, facts: &facts, req, model: model.as_deref(), api };
        let outcome = chain::run(&hooks, &ctx, &body, &mut value, &mut record).await;
        record.elapsed_ms = ms(started);
        let stored = outcome.stored.unwrap_or_else(|| body.clone());
        match outcome.refusal {
            Some(refusal) => {
                if let (Some(quotas), Some(reservation)) = (&self.quotas, reservation) {
                    quotas.release(reservation);
                }
                let response = reply::refusal(api, req.provider, reply::Refusal::Blocked, &refusal, None);
                Applied { stored, record, verdict: Verdict::Refuse(response) }
            }
            None => {
                let modified = record.body_modified;
                let sent = match (&value, modified) {
                    (Some(v), true) => Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
                    _ => body,
                };
                Applied { stored, record, verdict: Verdict::Forward { body: sent, modified, reservation } }
            }
        }
    }

    /// The request is refused before policy could read it: too large to check.
    pub fn too_large(&self, api: ApiKind, provider: &str) -> http::Response<Bytes> {
        let message = format!("request body larger than {} MiB cannot be checked by policy", self.max_body >> 20);
        reply::refusal(api, provider, reply::Refusal::TooLarge, &message, None)
    }

    pub fn quotas(&self) -> Option<&Arc<Quotas>> {
        self.quotas.as_ref()
    }
}

fn compile(config: &HookConfig, tls: &Arc<rustls::ClientConfig>) -> Result<Hook, PolicyError> {
    config.validate().map_err(PolicyError::Hook)?;
    let action = match config.kind {
        HookKind::Pii => {
            let classes = config.classes.clone().unwrap_or_else(|| pii::PiiClass::ALL.to_vec());
            let extra: Vec<(String, String)> = config.patterns.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            Action::Pii(pii::Scrubber::new(&classes, &extra).map_err(|e| PolicyError::Pii(config.name.clone(), e))?)
        }
        HookKind::Block if config.body_pattern.is_empty() => Action::Block(None),
        HookKind::Block => Action::Block(Some(Regex::new(&config.body_pattern).map_err(|e| {
            PolicyError::Hook(format!("hook {}: body_pattern is not a valid regex: {e}", config.name))
        })?)),
        HookKind::StripTools => Action::StripTools,
        HookKind::Webhook => Action::Webhook(webhook::Webhook::new(config, tls).map_err(PolicyError::Hook)?),
    };
    Ok(Hook { config: config.clone(), action })
}

fn bucket_match(bucket: &BucketConfig) -> Result<Match, PolicyError> {
    Match::deserialize(toml::Value::Table(bucket.matcher.clone()))
        .map_err(|e| PolicyError::BucketMatch(bucket.name.clone(), e.to_string()))
}

use serde::Deserialize as _;

/// The model a request names: the body's `model`, or Gemini's in the URL path.
fn request_model(body: Option<&Value>, path: &str) -> Option<String> {
    match body.and_then(|b| b.get("model")).and_then(Value::as_str) {
        Some(model) => Some(model.to_owned()),
        None => crate::capture::usage::model_from_path(path),
    }
}

/// What a request may cost at most, before it is sent: input ≈ body bytes / 4 tokens,
/// output = the request's own limit (or [`DEFAULT_MAX_OUTPUT_TOKENS`]), priced by the
/// pricing table when the model is known.
pub fn estimate(pricing: &Pricing, provider: &str, model: Option<&str>, body: Option<&Value>, len: usize) -> Estimate {
    let input = (len as u64).div_ceil(4);
    let limit = |path: &[&str]| {
        let mut v = body?;
        for key in path {
            v = v.get(key)?;
        }
        v.as_u64()
    };
    let output = limit(&["max_tokens"])
        .or_else(|| limit(&["max_output_tokens"]))
        .or_else(|| limit(&["max_completion_tokens"]))
        .or_else(|| limit(&["generationConfig", "maxOutputTokens"]))
        .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS);
    let usage = Usage { input_tokens: Some(input), output_tokens: Some(output), ..Usage::default() };
    Estimate { tokens: input + output, usd: model.and_then(|m| pricing.cost(provider, m, &usage)) }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The document a webhook receives.
pub(crate) fn webhook_document(ctx: &chain::Context<'_>, hook: &str, body: &Value) -> Value {
    json!({
        "version": 1,
        "hook": hook,
        "identity": {
            "login": ctx.subject.login,
            "user": ctx.subject.user,
            "groups": ctx.subject.groups,
            "device_id": ctx.subject.device_id,
            "hostname": ctx.subject.hostname,
            "tags": ctx.subject.tags,
        },
        "process": { "pid": ctx.subject.pid, "exe": ctx.subject.exe, "comm": ctx.subject.comm },
        "client": ctx.facts.client,
        "ci_run": ctx.subject.run,
        "session": ctx.facts.session,
        "provider": ctx.req.provider,
        "api": ctx.api.as_str(),
        "model": ctx.model,
        "method": ctx.req.method,
        // The query can carry a key (Gemini's `?key=`): the path alone goes out.
        "path": ctx.req.path.split(['?', '#']).next().unwrap_or_default(),
        "body": body,
    })
}

#[cfg(test)]
mod tests;
