//! Errors glassbox answers in place of the provider, in the provider's own format and
//! status, so that SDKs and agent CLIs show a readable message instead of failing to
//! parse: Anthropic's `{"type":"error","error":{…}}`, Gemini's `{"error":{"code",
//! "status"…}}`, and OpenAI's `{"error":{…}}` for everyone else (the OpenAI-compatible
//! providers).
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::capture::usage::ApiKind;

/// Why glassbox refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A hook blocked it (403).
    Blocked,
    /// A quota bucket is empty (429).
    Quota,
    /// The body is too large for policy to read (413).
    TooLarge,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Self::Blocked => StatusCode::FORBIDDEN,
            Self::Quota => StatusCode::TOO_MANY_REQUESTS,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

/// Which error format a provider's clients expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Anthropic,
    Gemini,
    OpenAi,
}

fn format_for(api: ApiKind, provider: &str) -> Format {
    match api {
        ApiKind::AnthropicMessages => Format::Anthropic,
        ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate | ApiKind::GeminiEmbed => Format::Gemini,
        _ if provider == "anthropic" => Format::Anthropic,
        _ if provider == "gemini" || provider == "google" => Format::Gemini,
        _ => Format::OpenAi,
    }
}

/// The response for a refused request: status, headers and a JSON body in the format of
/// `api` (or of `provider`, for a path no API kind names).
pub fn refusal(
    api: ApiKind,
    provider: &str,
    refusal: Refusal,
    message: &str,
    retry_after_secs: Option<u64>,
) -> http::Response<Bytes> {
    let status = refusal.status();
    let message = format!("glassbox: {message}");
    let body = match format_for(api, provider) {
        Format::Anthropic => {
            let kind = match refusal {
                Refusal::Blocked => "permission_error",
                Refusal::Quota => "rate_limit_error",
                Refusal::TooLarge => "request_too_large",
            };
            json!({ "type": "error", "error": { "type": kind, "message": message } })
        }
        Format::Gemini => {
            let kind = match refusal {
                Refusal::Blocked => "PERMISSION_DENIED",
                Refusal::Quota => "RESOURCE_EXHAUSTED",
                Refusal::TooLarge => "INVALID_ARGUMENT",
            };
            json!({ "error": { "code": status.as_u16(), "message": message, "status": kind } })
        }
        Format::OpenAi => {
            let (kind, code) = match refusal {
                Refusal::Blocked => ("invalid_request_error", "glassbox_blocked"),
                Refusal::Quota => ("rate_limit_exceeded", "glassbox_quota_exceeded"),
                Refusal::TooLarge => ("invalid_request_error", "glassbox_request_too_large"),
            };
            json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })
        }
    };
    let mut resp = http::Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-glassbox-refused", HeaderValue::from_static("true"));
    if let Some(secs) = retry_after_secs {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(resp: &http::Response<Bytes>) -> serde_json::Value {
        serde_json::from_slice(resp.body()).unwrap()
    }

    #[test]
    fn anthropic_gets_its_error_envelope() {
        let resp = refusal(ApiKind::AnthropicMessages, "anthropic", Refusal::Blocked, "no", None);
        assert_eq!(resp.status(), 403);
        let v = body(&resp);
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "permission_error");
        assert_eq!(v["error"]["message"], "glassbox: no");
    }

    #[test]
    fn openai_compatible_quota_error_says_when() {
        let resp = refusal(ApiKind::OpenAiChat, "groq", Refusal::Quota, "bucket team is empty", Some(90));
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "90");
        let v = body(&resp);
        assert_eq!(v["error"]["code"], "glassbox_quota_exceeded");
        assert!(v["error"]["message"].as_str().unwrap().contains("team"));
    }

    #[test]
    fn gemini_and_unknown_paths_follow_the_provider() {
        let v = body(&refusal(ApiKind::GeminiGenerate, "gemini", Refusal::Blocked, "x", None));
        assert_eq!(v["error"]["status"], "PERMISSION_DENIED");
        assert_eq!(v["error"]["code"], 403);
        let v = body(&refusal(ApiKind::Unknown, "anthropic", Refusal::TooLarge, "x", None));
        assert_eq!(v["error"]["type"], "request_too_large");
    }
}
