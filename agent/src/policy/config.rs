//! The `[[hooks]]` tables of the configuration file: an ordered chain of pre-request
//! hooks, each with a kind, a `match` table and the settings of its kind. Parsed by the
//! agent's config loader, checked here by [`HookConfig::validate`] and compiled by
//! [`super::Policy`].
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{matcher::Match, pii::PiiClass};

/// What a hook does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    /// Replace personal data and secrets in the body's JSON strings with placeholders.
    Pii,
    /// Refuse the request (optionally only when the body matches `body_pattern`).
    Block,
    /// Remove tool declarations whose names match `tools`.
    StripTools,
    /// Ask an external guardrail service: allow, block or modify.
    Webhook,
}

impl HookKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pii => "pii",
            Self::Block => "block",
            Self::StripTools => "strip_tools",
            Self::Webhook => "webhook",
        }
    }
}

/// What happens when a webhook cannot give an answer (unreachable, slow, garbage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailPolicy {
    /// Send the request on as the earlier hooks left it.
    FailOpen,
    /// Refuse the request.
    #[default]
    FailClosed,
}

impl FailPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FailOpen => "fail_open",
            Self::FailClosed => "fail_closed",
        }
    }
}

/// One `[[hooks]]` table. Fields that do not belong to the hook's kind are refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// Unique name, recorded with each decision.
    pub name: String,
    pub kind: HookKind,
    /// Which requests the hook applies to; empty: all.
    #[serde(rename = "match", default)]
    pub matcher: Match,
    /// pii: the classes to replace; default all (email, phone, card, ssn, iban, ip,
    /// aws_key, github_token, gitlab_token, slack_token, openai_key, anthropic_key,
    /// private_key, jwt).
    pub classes: Option<Vec<PiiClass>>,
    /// pii: extra patterns, name → regex; the placeholder is the name upper-cased.
    #[serde(default)]
    pub patterns: BTreeMap<String, String>,
    /// pii: keep the client's original body in the record (default false: the record
    /// holds the scrubbed body; classes and counts are always recorded).
    #[serde(default)]
    pub keep_original: bool,
    /// block: the reason given to the client and recorded.
    #[serde(default)]
    pub reason: String,
    /// block: refuse only when the request body matches this regex.
    #[serde(default)]
    pub body_pattern: String,
    /// strip_tools: globs of tool names to remove (`mcp__github__*`).
    #[serde(default)]
    pub tools: Vec<String>,
    /// webhook: `http://` or `https://` URL that receives the decision document.
    #[serde(default)]
    pub url: String,
    /// webhook: headers sent with each call (e.g. `Authorization = "Bearer …"`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// webhook: the whole call, connect to answer, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// webhook: `fail_open` or `fail_closed` (default) when no valid answer comes.
    #[serde(default)]
    pub fail_policy: FailPolicy,
}

fn default_timeout_ms() -> u64 {
    2_000
}

impl HookConfig {
    /// Checks what serde cannot: a usable name, and only the settings of this kind.
    pub fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(format!("hooks: name {name:?} must be letters, digits, '-', '_' or '.'"));
        }
        let kind = self.kind;
        let stray = |field: &str, set: bool| {
            if set { Err(format!("hook {name}: `{field}` does not apply to kind {}", kind.as_str())) } else { Ok(()) }
        };
        let is = |k: HookKind| kind == k;
        stray("classes", self.classes.is_some() && !is(HookKind::Pii))?;
        stray("patterns", !self.patterns.is_empty() && !is(HookKind::Pii))?;
        stray("keep_original", self.keep_original && !is(HookKind::Pii))?;
        stray("reason", !self.reason.is_empty() && !is(HookKind::Block))?;
        stray("body_pattern", !self.body_pattern.is_empty() && !is(HookKind::Block))?;
        stray("tools", !self.tools.is_empty() && !is(HookKind::StripTools))?;
        stray("url", !self.url.is_empty() && !is(HookKind::Webhook))?;
        stray("headers", !self.headers.is_empty() && !is(HookKind::Webhook))?;
        match kind {
            HookKind::StripTools if self.tools.is_empty() => Err(format!("hook {name}: strip_tools needs `tools`")),
            HookKind::Webhook if !(self.url.starts_with("http://") || self.url.starts_with("https://")) => {
                Err(format!("hook {name}: webhook needs an http:// or https:// `url`"))
            }
            HookKind::Webhook if self.timeout_ms == 0 => Err(format!("hook {name}: timeout_ms must be at least 1")),
            _ => Ok(()),
        }
    }
}

/// The `[policy]` table: limits of the policy path itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    /// Largest request body a hook or quota will read, in MiB; a larger one is refused
    /// with 413 when a hook or bucket applies to it (it cannot be checked).
    pub max_body_mb: u64,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self { max_body_mb: 32 }
    }
}
