//! Sessions: which requests belong together (one coding-agent task, one CI job).
//!
//! Takes one request's headers, parsed body, response id, process-tree root, user and
//! time; hands on a [`SessionRef`]: the session's id and the rule that decided it. The
//! rules, first match wins (DESIGN.md, "Sessions"):
//!
//! 1. `X-Claude-Code-Session-Id` → `claude:<id>`
//! 2. Codex `session-id`, then `thread-id`, then the older `session_id` / `conversation_id`
//!    → `codex:<id>`
//! 3. Anthropic body `metadata.user_id`, legacy `user_<hash>_account_<uuid>_session_<uuid>`
//!    or the JSON string `{"device_id":…,"account_uuid":…,"session_id":…}` → `claude:<id>`
//!    (the same id as Claude Code's header, so old and new clients agree)
//! 4. `x-opencode-session` → `opencode:<id>`, then `x-session-id` → `session:<id>`
//! 5. body `prompt_cache_key` → `cache:<user>:<key>` (scoped by user: apps often send one
//!    constant key for everyone)
//! 6. body `previous_response_id` naming a response seen before → that request's session
//! 7. the process tree: the same root and user within the inactivity gap of the tree's
//!    last request → the same session, else a new `tree:<root>:<user>:<unix ms>`.
//!
//! The tracker lives on the capture thread and sees exchanges as they finish. A response
//! is finished before a client can name it in `previous_response_id`, so chains resolve
//! in that order; a long request may finish after later ones, so request times can step
//! back a little, and a time before the tree's last request counts as within the gap.
//! Memory is bounded: idle trees are dropped once past the gap, and both maps forget
//! their least recently used entry when full (a forgotten tree or response only means
//! the next request starts a new session).
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod client_id;
mod lru;

use lru::Lru;

/// Process trees remembered at once.
pub const TREES: usize = 4_096;
/// Response ids remembered for `previous_response_id` chains. Only the latest response
/// of each conversation is ever named again, so this is the number of conversations
/// that can be chained at once.
pub const RESPONSES: usize = 16_384;

/// The session id the client itself declared (rules 1–5), if any: what policy can know
/// before the request is sent, without the capture thread's history.
pub fn declared(headers: &HeaderMap, body: Option<&Value>, user: &str) -> Option<String> {
    client_id::find(headers, body, user).map(|(_, id)| id)
}

/// The session a request belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRef {
    pub id: String,
    /// Which rule decided: one of [`Rule::as_str`].
    pub rule: String,
}

/// The rules that can decide a session, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    ClaudeCodeHeader,
    CodexSessionHeader,
    CodexThreadHeader,
    CodexLegacyHeader,
    AnthropicMetadataUserId,
    OpencodeHeader,
    SessionHeader,
    PromptCacheKey,
    PreviousResponseId,
    ProcessTree,
}

impl Rule {
    /// The name stored with the record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClaudeCodeHeader => "claude_code_header",
            Self::CodexSessionHeader => "codex_session_header",
            Self::CodexThreadHeader => "codex_thread_header",
            Self::CodexLegacyHeader => "codex_legacy_header",
            Self::AnthropicMetadataUserId => "anthropic_metadata_user_id",
            Self::OpencodeHeader => "opencode_header",
            Self::SessionHeader => "session_header",
            Self::PromptCacheKey => "prompt_cache_key",
            Self::PreviousResponseId => "previous_response_id",
            Self::ProcessTree => "process_tree",
        }
    }
}

impl SessionRef {
    fn new(rule: Rule, id: String) -> Self {
        Self { id, rule: rule.as_str().to_owned() }
    }
}

/// A process tree's current session, keyed by (tree root, user).
struct TreeSession {
    id: String,
    last: SystemTime,
}

/// Resolves the session of each request; one per capture thread.
pub struct SessionTracker {
    gap: Duration,
    trees: Lru<(String, String), TreeSession>,
    /// Response id → the session of the request that produced it.
    responses: Lru<String, String>,
}

impl SessionTracker {
    pub fn new(inactivity_gap: Duration) -> Self {
        Self::with_capacity(inactivity_gap, TREES, RESPONSES)
    }

    /// As [`new`](Self::new), remembering at most `trees` process trees and `responses`
    /// response ids.
    pub fn with_capacity(inactivity_gap: Duration, trees: usize, responses: usize) -> Self {
        Self { gap: inactivity_gap, trees: Lru::new(trees), responses: Lru::new(responses) }
    }

    /// Resolves the session of one request. `body` is the request JSON if it parsed;
    /// `response_id` the provider's id of this response (remembered for chains);
    /// `tree_root` names the root of the process tree the request came from; `at` is
    /// when the request arrived.
    pub fn resolve(
        &mut self,
        headers: &HeaderMap,
        body: Option<&Value>,
        response_id: Option<&str>,
        tree_root: &str,
        user: &str,
        at: SystemTime,
    ) -> SessionRef {
        let session = match client_id::find(headers, body, user) {
            Some((rule, id)) => SessionRef::new(rule, id),
            None => match self.chained(body) {
                Some(id) => SessionRef::new(Rule::PreviousResponseId, id),
                None => SessionRef::new(Rule::ProcessTree, self.tree(tree_root, user, at)),
            },
        };
        if let Some(response_id) = response_id.and_then(client_id::clean) {
            self.responses.insert(response_id.to_owned(), session.id.clone());
        }
        session
    }

    /// The session of the response this request continues, if it was seen.
    fn chained(&mut self, body: Option<&Value>) -> Option<String> {
        let previous = body?.get("previous_response_id")?.as_str().and_then(client_id::clean)?;
        self.responses.get_mut(previous).cloned()
    }

    /// The current session of (`root`, `user`), or a new one if the tree has been idle
    /// longer than the gap.
    fn tree(&mut self, root: &str, user: &str, at: SystemTime) -> String {
        self.forget_idle_trees(at);
        let key = (root.to_owned(), user.to_owned());
        if let Some(session) = self.trees.get_mut(&key)
            && within(session.last, at, self.gap)
        {
            session.last = session.last.max(at);
            return session.id.clone();
        }
        let ms = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        let id = format!("tree:{root}:{user}:{ms}");
        self.trees.insert(key, TreeSession { id: id.clone(), last: at });
        id
    }

    /// Drops trees idle past the gap, oldest first. Recency order is close to time order
    /// (times step back only as far as one request's duration), so stopping at the first
    /// live tree leaves at most a few idle ones for a later call.
    fn forget_idle_trees(&mut self, at: SystemTime) {
        while let Some(oldest) = self.trees.oldest()
            && !within(oldest.last, at, self.gap)
        {
            self.trees.pop_oldest();
        }
    }

    /// How many process trees and response ids are remembered now.
    pub fn remembered(&self) -> (usize, usize) {
        (self.trees.len(), self.responses.len())
    }
}

/// Whether `at` is no more than `gap` after `last` (any time before `last` is within).
fn within(last: SystemTime, at: SystemTime, gap: Duration) -> bool {
    match at.duration_since(last) {
        Ok(idle) => idle <= gap,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests;
