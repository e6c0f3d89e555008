//! The API family of a request, told from its method and path alone so that every
//! OpenAI-compatible provider (groq `/openai/v1/chat/completions`, openrouter
//! `/api/v1/chat/completions`, Gemini's `/v1beta/openai/…`, Azure deployments) is
//! recognised without a per-provider table; and whether the request asked for a stream.
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiKind {
    /// `POST …/chat/completions`
    #[serde(rename = "openai_chat")]
    OpenAiChat,
    /// `POST …/responses`
    #[serde(rename = "openai_responses")]
    OpenAiResponses,
    /// `…/realtime`: OpenAI's Realtime API, a WebSocket recorded turn by turn
    #[serde(rename = "openai_realtime")]
    OpenAiRealtime,
    /// `POST …/embeddings`
    #[serde(rename = "openai_embeddings")]
    OpenAiEmbeddings,
    /// `POST …/completions` (legacy text completions, Mistral FIM)
    #[serde(rename = "openai_completions")]
    OpenAiCompletions,
    /// `POST …/v1/messages`
    #[serde(rename = "anthropic_messages")]
    AnthropicMessages,
    /// `POST …/models/{model}:generateContent`
    #[serde(rename = "gemini_generate")]
    GeminiGenerate,
    /// `POST …/models/{model}:streamGenerateContent` (JSON array, or SSE with `?alt=sse`)
    #[serde(rename = "gemini_stream_generate")]
    GeminiStreamGenerate,
    /// `POST …/models/{model}:embedContent` or `:batchEmbedContents`
    #[serde(rename = "gemini_embed")]
    GeminiEmbed,
    #[serde(rename = "unknown")]
    Unknown,
}

impl ApiKind {
    /// The name used in records and JSON output (`openai_chat`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAiChat => "openai_chat",
            Self::OpenAiResponses => "openai_responses",
            Self::OpenAiRealtime => "openai_realtime",
            Self::OpenAiEmbeddings => "openai_embeddings",
            Self::OpenAiCompletions => "openai_completions",
            Self::AnthropicMessages => "anthropic_messages",
            Self::GeminiGenerate => "gemini_generate",
            Self::GeminiStreamGenerate => "gemini_stream_generate",
            Self::GeminiEmbed => "gemini_embed",
            Self::Unknown => "unknown",
        }
    }
}

/// The API family of a request. Only `POST` calls are analysed (a WebSocket turn counts
/// as the POST of its path); anything else (Claude
/// Code's `HEAD /`, `GET /v1/models`, `GET /v1/responses/{id}`) is `Unknown`. The query
/// (`?beta=true`, `?alt=sse`, `?api-version=`) does not change the family.
pub fn api_kind(method: &str, path: &str) -> ApiKind {
    if !method.eq_ignore_ascii_case("POST") {
        return ApiKind::Unknown;
    }
    let path = path.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
    let last = path.rsplit('/').next().unwrap_or_default();
    if let Some((_, verb)) = last.split_once(':') {
        return match verb {
            "generateContent" => ApiKind::GeminiGenerate,
            "streamGenerateContent" => ApiKind::GeminiStreamGenerate,
            "embedContent" | "batchEmbedContents" => ApiKind::GeminiEmbed,
            _ => ApiKind::Unknown,
        };
    }
    if path.ends_with("/chat/completions") {
        ApiKind::OpenAiChat
    } else if path.ends_with("/completions") {
        ApiKind::OpenAiCompletions
    } else if path.ends_with("/responses") {
        ApiKind::OpenAiResponses
    } else if path.ends_with("/realtime") {
        ApiKind::OpenAiRealtime
    } else if path.ends_with("/embeddings") {
        ApiKind::OpenAiEmbeddings
    } else if path.ends_with("/v1/messages") {
        // Not any `…/messages`: OpenAI's `/v1/threads/{id}/messages` is something else.
        ApiKind::AnthropicMessages
    } else {
        ApiKind::Unknown
    }
}

/// Whether the request asked for a streamed response: `"stream": true` in the body, or
/// Gemini's `streamGenerateContent`.
pub fn requests_stream(api: ApiKind, request_body: &[u8]) -> bool {
    let request: Value = serde_json::from_slice(request_body).unwrap_or(Value::Null);
    stream_requested(api, &request)
}

pub(super) fn stream_requested(api: ApiKind, request: &Value) -> bool {
    api == ApiKind::GeminiStreamGenerate || request.get("stream").and_then(Value::as_bool) == Some(true)
}
