//! One recorded request: what was asked of which provider, by which process, and how it
//! went. Built on the request path from cheap copies, written to the store off it.
use serde::{Deserialize, Serialize};

use crate::{
    capture::usage::{ProviderError, ToolCall, Usage},
    identity::{CiContext, ClientInfo},
    origin::Process,
    policy::PolicyRecord,
    session::SessionRef,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// Row id, assigned by the store; 0 before it is written.
    pub id: i64,
    /// When the request arrived, RFC 3339 with milliseconds, UTC.
    pub time: String,
    pub provider: String,
    /// The SNI / Host the client addressed.
    pub host: String,
    pub method: String,
    /// Path and query as the client sent them, secret parameters redacted.
    pub path: String,
    /// HTTP status returned to the client; null if none was (client vanished first).
    pub status: Option<u16>,
    /// From request arrival to the last response byte (or the failure).
    pub duration_ms: f64,
    /// From request arrival to the response head.
    pub ttfb_ms: Option<f64>,
    /// Request body bytes forwarded upstream.
    pub bytes_sent: u64,
    /// Response body bytes returned to the client.
    pub bytes_received: u64,
    /// Client-facing protocol: "HTTP/1.1" or "HTTP/2".
    pub http_version: String,
    /// Provider-facing protocol, if a connection was made.
    pub upstream_version: Option<String>,
    /// Original destination address:port.
    pub dst: String,
    pub process: Process,
    /// Local login name of the person the call is attributed to (the sudo caller, if any).
    pub user: String,
    /// Who, on which device: docs/records.md.
    pub identity: Identity,
    /// CI context from the caller's environment or its nearest ancestor's.
    pub ci: Option<CiContext>,
    /// The calling tool, recognised from headers and the executable.
    pub client: Option<ClientInfo>,
    /// The session the request belongs to, and the rule that decided it.
    pub session: Option<SessionRef>,
    /// "complete", "upstream_error", "abandoned" (client left), "failed" (no response), or
    /// "refused" (policy answered in the provider's place; nothing was sent upstream).
    pub outcome: String,
    /// What went wrong in transport, if anything.
    pub error: Option<String>,
    /// API kind (`openai_chat`, `anthropic_messages`, …), from the path.
    pub api: Option<String>,
    /// Model named in the request.
    pub model: Option<String>,
    /// Model named in the response.
    pub response_model: Option<String>,
    /// Whether the response was a stream (SSE).
    pub stream: bool,
    /// Tokens by type, normalised (docs/records.md); null where the provider reported none.
    pub usage: Usage,
    /// Cost in USD from the pricing table; null for an unknown model or unknown usage.
    pub cost_usd: Option<f64>,
    /// What hooks and quotas decided; absent when none applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyRecord>,
    #[serde(flatten)]
    pub detail: Detail,
}

/// The person and device behind a request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Identity {
    /// Organisation identity (`[identity] domain` / `users`), e.g. alice@example.com.
    pub login: String,
    /// Local login name.
    pub user: String,
    /// uid of the person (the sudo caller's, when the process ran through sudo).
    pub uid: u32,
    /// uid the process ran as.
    pub euid: u32,
    pub via_sudo: bool,
    /// Stable device id, derived from /etc/machine-id.
    pub device_id: String,
    pub hostname: String,
    /// Device tags from config, Tailscale tags, and `tag:ci` for calls with CI context.
    pub tags: Vec<String>,
}

/// Further details of a record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Detail {
    /// The provider's response id.
    pub response_id: Option<String>,
    /// For streams: whether the stream ended cleanly (false: cut, see bytes_received).
    pub stream_complete: Option<bool>,
    /// SSE events received (streams only).
    pub stream_events: Option<u64>,
    /// Names of the tools the request declared.
    pub tools_declared: Vec<String>,
    /// Tool calls in the response, streamed deltas reassembled.
    pub tool_calls: Vec<ToolCall>,
    /// The provider's error type and message, when it answered with one.
    pub provider_error: Option<ProviderError>,
    /// Why the model stopped (`stop`, `end_turn`, `tool_use`, …).
    pub finish_reason: Option<String>,
    /// Request headers as sent upstream, secrets redacted.
    pub request_headers: Vec<(String, String)>,
    /// Response headers as received, secrets redacted.
    pub response_headers: Vec<(String, String)>,
    /// The stored request body is shorter than what was sent (cap or budget reached).
    pub request_truncated: bool,
    /// The stored response body is shorter than what was received.
    pub response_truncated: bool,
}

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&fmt).unwrap_or_default()
}

pub fn version_name(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "unknown",
    }
}
