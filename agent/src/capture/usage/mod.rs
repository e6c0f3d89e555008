//! Usage: what one completed LLM call was about, read from its request and response
//! bodies by API family. It takes the API kind (from [`api_kind`]), the request path and
//! body, the status and the response (a JSON body or the parsed SSE events) and hands on
//! an [`Analysis`]: models, response id, token usage normalised across providers, tools
//! declared and called, the provider's error and the finish reason.
//!
//! It is pure and never panics: whatever cannot be parsed stays `None` or empty, and a
//! count the provider did not report stays `None`, never 0. How each provider's counts
//! map onto [`Usage`] is described there and in `docs/usage.md`.
use serde::Serialize;
use serde_json::Value;

use super::sse::{SseEvent, SseParser};

mod anthropic;
mod calls;
mod gemini;
mod json;
mod kind;
mod openai;
mod realtime;
mod responses;

pub(crate) use gemini::model_from_path;
pub use kind::{ApiKind, api_kind, requests_stream};

/// Tokens by type, normalised so the same field means the same thing for every provider.
/// Each is `None` when the provider did not report it (never 0 for unknown).
///
/// - `input_tokens`: ALL input tokens, including cache reads and cache writes. OpenAI's
///   `prompt_tokens` / `input_tokens` and Gemini's `promptTokenCount` already include
///   cached tokens; Anthropic's `input_tokens` exclude `cache_read_input_tokens` and
///   `cache_creation_input_tokens`, so those are added.
/// - `output_tokens`: all output, reasoning included. OpenAI's `completion_tokens` /
///   `output_tokens` include reasoning; Gemini's `candidatesTokenCount` excludes
///   `thoughtsTokenCount`, and so do xAI-style `completion_tokens` (recognised when
///   prompt + completion + reasoning = total), so reasoning is added there.
/// - `cache_read_tokens`: input served from a prompt cache (a part of `input_tokens`):
///   OpenAI `prompt_tokens_details.cached_tokens` / `input_tokens_details.cached_tokens`
///   (DeepSeek `prompt_cache_hit_tokens`), Anthropic `cache_read_input_tokens`, Gemini
///   `cachedContentTokenCount`.
/// - `cache_creation_tokens`: input written to a prompt cache (a part of `input_tokens`):
///   Anthropic `cache_creation_input_tokens`; `None` elsewhere (nobody else reports it).
/// - `reasoning_tokens`: hidden reasoning (a part of `output_tokens`): OpenAI
///   `completion_tokens_details.reasoning_tokens` / `output_tokens_details.reasoning_tokens`,
///   Gemini `thoughtsTokenCount`; Anthropic reports none, so `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_creation_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// True when the provider reported no count at all.
    pub fn is_unknown(&self) -> bool {
        *self == Self::default()
    }
}

/// A tool call made by the model, whole (streamed deltas reassembled).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ToolCall {
    /// The id the client answers with (`call_id` in the Responses API); Gemini often sends none.
    pub id: Option<String>,
    /// The tool's name; MCP tools keep their full name (`mcp__github__create_issue`).
    pub name: String,
    /// The arguments as sent: OpenAI's JSON string verbatim, or for Anthropic and Gemini
    /// (which send an object) its compact JSON with keys sorted; empty when none was sent.
    pub arguments: String,
}

/// The provider's own account of a failure.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ProviderError {
    /// The error type or code (`rate_limit_error`, `RESOURCE_EXHAUSTED`, …).
    pub kind: Option<String>,
    pub message: Option<String>,
}

/// Everything read from one request/response pair.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Analysis {
    /// The API family; `None` when the path matched none.
    pub api: Option<ApiKind>,
    /// The request body's `model` (Gemini: the model in the URL path).
    pub model_requested: Option<String>,
    /// The model the provider says answered (OpenAI `model`, Gemini `modelVersion`).
    pub model_answered: Option<String>,
    pub response_id: Option<String>,
    /// The request asked for a stream, or the response came as one.
    pub stream: bool,
    pub usage: Usage,
    /// Tool names offered in the request, in order. Built-in tools without a name are
    /// recorded by type (`web_search`, Gemini `googleSearch`); an OpenAI MCP server as
    /// `mcp__{server_label}`.
    pub tools_declared: Vec<String>,
    /// Tool calls in the response, in index order (parallel calls each whole).
    pub tool_calls: Vec<ToolCall>,
    /// The provider's error, from an error body or an error sent inside a stream; for a
    /// status ≥ 400 with no recognisable error, the start of the body as the message.
    pub error: Option<ProviderError>,
    /// Why generation stopped, in the provider's words (`stop`, `tool_use`, `STOP`, …).
    pub finish_reason: Option<String>,
}

/// The response body as the capture task holds it.
#[derive(Debug, Clone, Copy)]
pub enum ResponseBody<'a> {
    Json(&'a [u8]),
    Sse(&'a [SseEvent]),
    Other(&'a [u8]),
}

/// The response decoded: one JSON value, or the JSON data of each event of a stream.
enum Decoded {
    Whole(Value),
    Stream(Vec<Value>),
    Nothing,
}

/// Analyses one call. `path` is the request path with its query (Gemini names the model
/// there). Never panics on any input; unparseable parts simply stay `None`/empty.
pub fn analyze(api: ApiKind, path: &str, request_body: &[u8], status: u16, response: ResponseBody<'_>) -> Analysis {
    let request: Value = serde_json::from_slice(request_body).unwrap_or(Value::Null);
    let body = decode(response);
    let mut analysis = Analysis {
        api: (api != ApiKind::Unknown).then_some(api),
        model_requested: json::string(&request, &["model"]),
        stream: kind::stream_requested(api, &request) || matches!(body, Decoded::Stream(_)),
        ..Analysis::default()
    };
    match api {
        ApiKind::OpenAiChat | ApiKind::OpenAiCompletions | ApiKind::OpenAiEmbeddings => {
            openai::analyze(&request, &body, &mut analysis);
        }
        ApiKind::OpenAiResponses => responses::analyze(&request, &body, &mut analysis),
        ApiKind::OpenAiRealtime => realtime::analyze(request_body, path, &body, &mut analysis),
        ApiKind::AnthropicMessages => anthropic::analyze(&request, &body, &mut analysis),
        ApiKind::GeminiGenerate | ApiKind::GeminiStreamGenerate | ApiKind::GeminiEmbed => {
            gemini::analyze(path, &request, &body, &mut analysis);
        }
        ApiKind::Unknown => {
            if let Decoded::Whole(value) = &body {
                analysis.error = json::any_error(value);
            }
        }
    }
    if status >= 400 && analysis.error.is_none() {
        analysis.error = Some(json::fallback_error(response));
    }
    analysis
}

/// Parses the body: JSON as JSON; SSE events' data as JSON (skipping `[DONE]` and anything
/// else that is not JSON); a body labelled otherwise is tried as JSON, then as SSE.
fn decode(response: ResponseBody<'_>) -> Decoded {
    let events_data = |events: &[SseEvent]| -> Vec<Value> {
        events.iter().filter_map(|e| serde_json::from_str(&e.data).ok()).collect()
    };
    match response {
        ResponseBody::Sse(events) => Decoded::Stream(events_data(events)),
        ResponseBody::Json(bytes) | ResponseBody::Other(bytes) => {
            if let Ok(value) = serde_json::from_slice(bytes) {
                return Decoded::Whole(value);
            }
            let head = bytes.trim_ascii_start();
            if head.starts_with(b"data:") || head.starts_with(b"event:") || head.starts_with(b":") {
                let mut parser = SseParser::new();
                let mut events = parser.feed(bytes);
                events.extend(parser.feed(b"\n\n"));
                return Decoded::Stream(events_data(&events));
            }
            Decoded::Nothing
        }
    }
}

#[cfg(test)]
mod tests;
