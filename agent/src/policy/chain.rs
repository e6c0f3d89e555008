//! The hook chain: runs the hooks that apply, in configured order, over the request
//! body, each seeing the changes of those before it, and stops at the first that blocks.
//! Also the quota step that runs before it: reserve on every applicable bucket or refuse.
use std::time::Instant;

use bytes::Bytes;
use serde_json::Value;

use super::{
    Action, Hook, RequestInfo,
    audit::{BucketState, HookDecision, PolicyRecord, QuotaRecord},
    config::FailPolicy,
    reply::{self, Refusal},
    strip_tools,
    subject::{RequestFacts, Subject},
    webhook::Verdict,
};
use crate::{
    capture::usage::ApiKind,
    quota::{Estimate, Exceeded, Quotas, Reservation, ScopeValues, Unit},
};

/// What every hook of one request can see.
pub struct Context<'a> {
    pub subject: &'a Subject,
    pub facts: &'a RequestFacts,
    pub req: &'a RequestInfo<'a>,
    pub model: Option<&'a str>,
    pub api: ApiKind,
}

/// The chain's result.
pub struct Outcome {
    /// The body the record should keep, when it is not the client's original.
    pub stored: Option<Bytes>,
    /// Why the request is refused, if a hook blocked it.
    pub refusal: Option<String>,
}

/// Runs `hooks` in order over `value` (the parsed body; `None` when it is not JSON, and
/// then only `block` and `webhook` can act on it). Fills in `record`.
pub(crate) async fn run(
    hooks: &[&Hook],
    ctx: &Context<'_>,
    raw: &Bytes,
    value: &mut Option<Value>,
    record: &mut PolicyRecord,
) -> Outcome {
    let mut stored = None;
    for hook in hooks {
        // Nothing to scrub or strip in an empty body (a HEAD, a models list): no decision.
        if raw.is_empty() && matches!(hook.action, Action::Pii(_) | Action::StripTools) {
            continue;
        }
        let started = Instant::now();
        let config = &hook.config;
        let mut decision = HookDecision {
            hook: config.name.clone(),
            kind: config.kind.as_str().to_owned(),
            action: "allow".to_owned(),
            ..HookDecision::default()
        };
        match &hook.action {
            Action::Pii(scrubber) => match value.as_mut() {
                Some(v) => {
                    let findings = scrubber.scrub_value(v);
                    if !findings.is_empty() {
                        decision.action = "modify".to_owned();
                        decision.replaced = findings.0;
                        record.body_modified = true;
                        if !config.keep_original {
                            record.original_kept = false;
                            stored = Some(Bytes::from(serde_json::to_vec(v).unwrap_or_default()));
                        }
                    }
                }
                None => decision.reason = Some("body is not JSON; nothing scrubbed".to_owned()),
            },
            Action::Block(pattern) => {
                let hit = match pattern {
                    None => true,
                    Some(re) => match (value.as_ref(), record.body_modified) {
                        (Some(v), true) => re.is_match(&v.to_string()),
                        _ => re.is_match(&String::from_utf8_lossy(raw)),
                    },
                };
                if hit {
                    decision.action = "block".to_owned();
                    decision.reason = Some(if config.reason.is_empty() {
                        format!("blocked by {}", config.name)
                    } else {
                        config.reason.clone()
                    });
                }
            }
            Action::StripTools => {
                if let Some(v) = value.as_mut() {
                    let removed = strip_tools::strip(v, &config.tools);
                    if !removed.is_empty() {
                        decision.action = "modify".to_owned();
                        decision.stripped = removed;
                        record.body_modified = true;
                    }
                }
            }
            Action::Webhook(webhook) => {
                let body = match value.as_ref() {
                    Some(v) => v.clone(),
                    None => Value::String(String::from_utf8_lossy(raw).into_owned()),
                };
                let document = super::webhook_document(ctx, &config.name, &body);
                match webhook.ask(&document).await {
                    Ok(Verdict::Allow) => {}
                    Ok(Verdict::Block(reason)) => {
                        decision.action = "block".to_owned();
                        decision.reason = Some(reason);
                    }
                    Ok(Verdict::Modify(new)) => {
                        decision.action = "modify".to_owned();
                        *value = Some(new);
                        record.body_modified = true;
                    }
                    Err(error) => {
                        let error = crate::error_chain(&error);
                        decision.fail_policy = Some(config.fail_policy.as_str().to_owned());
                        if config.fail_policy == FailPolicy::FailClosed {
                            decision.action = "block".to_owned();
                            decision.reason = Some(format!("guardrail {} gave no answer ({error})", config.name));
                        } else {
                            decision.action = "error".to_owned();
                        }
                        tracing::warn!(message = "Guardrail webhook failed.", hook = %config.name, %error, fail_policy = config.fail_policy.as_str());
                        decision.error = Some(error);
                    }
                }
            }
        }
        decision.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let blocked = (decision.action == "block").then(|| decision.reason.clone().unwrap_or_default());
        record.hooks.push(decision);
        if let Some(reason) = blocked {
            record.refused_by = Some(format!("hook:{}", config.name));
            return Outcome { stored, refusal: Some(reason) };
        }
    }
    Outcome { stored, refusal: None }
}

/// A quota refusal, to be answered in the provider's format.
pub struct QuotaRefusal(Exceeded);

impl QuotaRefusal {
    pub fn into_response(self, api: ApiKind, provider: &str) -> http::Response<Bytes> {
        let e = self.0;
        let when = e
            .refill_in_secs
            .map_or_else(|| "it is not refilled automatically".to_owned(), |s| format!("it refills enough in {s} s"));
        let message = format!(
            "quota {} ({}) has {:.4} {} left, this request may need {:.4}; {when}",
            e.bucket,
            e.instance,
            e.available.max(0.0),
            unit_name(e.unit),
            e.needed
        );
        reply::refusal(api, provider, Refusal::Quota, &message, e.refill_in_secs)
    }
}

/// Reserves `estimate` on the applicable buckets, or says which one refuses.
pub fn reserve(
    quotas: &Quotas,
    buckets: &[usize],
    subject: &Subject,
    facts: &RequestFacts,
    estimate: Estimate,
    record: &mut PolicyRecord,
) -> Result<Reservation, QuotaRefusal> {
    let scope = ScopeValues {
        user: subject.login.clone(),
        groups: subject.groups.clone(),
        tags: subject.tags.clone(),
        device: subject.device_id.clone(),
        client: facts.client.clone(),
        run: subject.run.clone(),
        session: Some(facts.session.clone()),
    };
    let mut quota =
        QuotaRecord { estimate_tokens: estimate.tokens, estimate_usd: estimate.usd, ..QuotaRecord::default() };
    let result = quotas.reserve(buckets, &scope, estimate, std::time::SystemTime::now());
    match result {
        Ok(reservation) => {
            quota.alerts = reservation.alerts().iter().map(state).collect();
            for alert in reservation.alerts() {
                tracing::warn!(message = "Quota exceeded (alert only).", bucket = %alert.bucket, instance = %alert.instance);
            }
            record.quota = Some(quota);
            Ok(reservation)
        }
        Err(exceeded) => {
            quota.rejected = Some(state(&exceeded));
            record.quota = Some(quota);
            record.refused_by = Some(format!("quota:{}", exceeded.bucket));
            Err(QuotaRefusal(exceeded))
        }
    }
}

fn state(e: &Exceeded) -> BucketState {
    BucketState {
        bucket: e.bucket.clone(),
        instance: e.instance.clone(),
        unit: unit_name(e.unit).to_owned(),
        available: e.available,
        needed: e.needed,
        refill_in_secs: e.refill_in_secs,
    }
}

pub fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Usd => "usd",
        Unit::Tokens => "tokens",
    }
}
