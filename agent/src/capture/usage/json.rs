//! Small, total readers over `serde_json::Value` shared by the API families: a field by
//! path, a count, the error shapes providers use, and the fallback error for a failed
//! call whose body says nothing recognisable.
use serde_json::Value;

use super::{ProviderError, ResponseBody};

/// The value at `path`, if every step exists.
pub(super) fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// A string at `path`; numbers are rendered (some providers send numeric error codes).
pub(super) fn string(value: &Value, path: &[&str]) -> Option<String> {
    match at(value, path)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A non-empty string at `path`.
pub(super) fn non_empty(value: &Value, path: &[&str]) -> Option<String> {
    string(value, path).filter(|s| !s.is_empty())
}

/// A token count at `path`: a non-negative integer, else `None`.
pub(super) fn count(value: &Value, path: &[&str]) -> Option<u64> {
    at(value, path)?.as_u64()
}

/// The elements of an array at `path`; empty when absent or not an array.
pub(super) fn array<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    at(value, path).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Compact JSON of an object sent as tool input (Anthropic `input`, Gemini `args`).
pub(super) fn compact(value: Option<&Value>) -> String {
    value.filter(|v| !v.is_null()).map(Value::to_string).unwrap_or_default()
}

/// `a + b` where either may be unknown: known if either is.
pub(super) fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

/// An `error` member as OpenAI-style providers send it: `{"error": {"type", "code",
/// "message"}}` (Gemini: `code`, `status`, `message`; some send `"error": "text"`).
pub(super) fn error_member(value: &Value) -> Option<ProviderError> {
    match value.get("error")? {
        Value::String(message) => Some(ProviderError { kind: None, message: Some(message.clone()) }),
        error @ Value::Object(_) => Some(ProviderError {
            kind: non_empty(error, &["type"])
                .or_else(|| non_empty(error, &["status"]))
                .or_else(|| string(error, &["code"])),
            message: string(error, &["message"]),
        }),
        _ => None,
    }
}

/// Any recognisable error in a body of unknown family.
pub(super) fn any_error(value: &Value) -> Option<ProviderError> {
    error_member(value).or_else(|| value.as_array()?.iter().find_map(error_member))
}

/// Longest message kept from an unrecognised error body.
const FALLBACK_MESSAGE_CHARS: usize = 512;

/// For a status ≥ 400 whose body holds no recognisable error: the start of the body as
/// text (an HTML page from a gateway, a plain-text message), or nothing if it is empty.
pub(super) fn fallback_error(response: ResponseBody<'_>) -> ProviderError {
    let text = match response {
        ResponseBody::Json(bytes) | ResponseBody::Other(bytes) => {
            String::from_utf8_lossy(&bytes[..bytes.len().min(FALLBACK_MESSAGE_CHARS * 4)])
        }
        ResponseBody::Sse(_) => "".into(),
    };
    let text = text.trim();
    let message = (!text.is_empty()).then(|| text.chars().take(FALLBACK_MESSAGE_CHARS).collect());
    ProviderError { kind: None, message }
}
