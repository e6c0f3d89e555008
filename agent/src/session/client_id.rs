//! Session ids that clients send themselves, in headers or in the request body: the
//! rules that come before any guessing. Takes the request's headers and parsed body;
//! hands on the first id found, prefixed by whose id space it is in, and the rule.
use http::HeaderMap;
use serde_json::Value;

use super::Rule;

/// Longest client-given id kept; anything longer is not taken for a session id.
const MAX_ID_LEN: usize = 256;

/// A header that carries a session id: its name, the rule it stands for, and the
/// prefix of the id space it belongs to.
struct HeaderRule {
    name: &'static str,
    rule: Rule,
    space: &'static str,
}

/// The headers that come before `metadata.user_id`, in order. Codex's headers share one
/// id space: each is a conversation or thread uuid, so equal values are one conversation.
const CLIENT_HEADERS: [HeaderRule; 5] = [
    HeaderRule { name: "x-claude-code-session-id", rule: Rule::ClaudeCodeHeader, space: "claude" },
    HeaderRule { name: "session-id", rule: Rule::CodexSessionHeader, space: "codex" },
    HeaderRule { name: "thread-id", rule: Rule::CodexThreadHeader, space: "codex" },
    HeaderRule { name: "session_id", rule: Rule::CodexLegacyHeader, space: "codex" },
    HeaderRule { name: "conversation_id", rule: Rule::CodexLegacyHeader, space: "codex" },
];

/// The generic headers, after `metadata.user_id`.
const GENERIC_HEADERS: [HeaderRule; 2] = [
    HeaderRule { name: "x-opencode-session", rule: Rule::OpencodeHeader, space: "opencode" },
    HeaderRule { name: "x-session-id", rule: Rule::SessionHeader, space: "session" },
];

/// The first session id the client gave, by the rules in order; `user` scopes
/// `prompt_cache_key`, which is a cache key rather than a session id and is often one
/// constant per application.
pub(super) fn find(headers: &HeaderMap, body: Option<&Value>, user: &str) -> Option<(Rule, String)> {
    let from_headers = |rules: &[HeaderRule]| {
        rules.iter().find_map(|r| {
            let value = headers.get(r.name)?.to_str().ok().and_then(clean)?;
            Some((r.rule, format!("{}:{value}", r.space)))
        })
    };
    if let Some(found) = from_headers(&CLIENT_HEADERS) {
        return Some(found);
    }
    if let Some(id) = body.and_then(anthropic_metadata_session) {
        // Claude Code puts the same id here as in its session header: one id space.
        return Some((Rule::AnthropicMetadataUserId, format!("claude:{id}")));
    }
    if let Some(found) = from_headers(&GENERIC_HEADERS) {
        return Some(found);
    }
    let key = body?.get("prompt_cache_key")?.as_str().and_then(clean)?;
    Some((Rule::PromptCacheKey, format!("cache:{user}:{key}")))
}

/// The session uuid in an Anthropic `metadata.user_id`, in either of Claude Code's forms:
/// a JSON object in the string (`{"device_id":…,"account_uuid":…,"session_id":…}`, since
/// 2.1.78) or the legacy `user_<hash>_account_<uuid or empty>_session_<uuid>`. Any other
/// user id (a plain end-user id from an SDK caller) names a person, not a session.
fn anthropic_metadata_session(body: &Value) -> Option<String> {
    let user_id = body.get("metadata")?.get("user_id")?.as_str()?.trim();
    if user_id.starts_with('{') {
        let parsed: Value = serde_json::from_str(user_id).ok()?;
        return parsed.get("session_id")?.as_str().and_then(clean).map(str::to_owned);
    }
    let rest = user_id.strip_prefix("user_")?;
    let (_, account_on) = rest.split_once("_account_")?;
    let (_, session) = account_on.rsplit_once("_session_")?;
    clean(session).map(str::to_owned)
}

/// `value` trimmed, if it can serve as an id: not empty, not too long, no control
/// characters (a header value is already visible ASCII; a body string may be anything).
pub(super) fn clean(value: &str) -> Option<&str> {
    let value = value.trim();
    let usable = !value.is_empty() && value.len() <= MAX_ID_LEN && !value.chars().any(char::is_control);
    usable.then_some(value)
}
