//! Shared test helpers, plus the tests of what is common to every family: the API kind,
//! body decoding, fallback errors, and that no input makes `analyze` panic.
use std::path::Path;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// A fixture's bytes (see `fixtures/README.md`).
pub(super) fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/capture/usage/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// An event stream parsed whole; it must end cleanly.
pub(super) fn events(bytes: &[u8]) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let events = parser.feed(bytes);
    assert!(parser.finish().complete, "the stream ends with a blank line");
    events
}

/// Events carrying each value as data, as a provider would stream them.
pub(super) fn data_events(values: &[Value]) -> Vec<SseEvent> {
    values.iter().map(|v| SseEvent { event: None, data: v.to_string(), id: None }).collect()
}

/// Analyses the fixture `name` (`.sse`: an event stream, else JSON) as the answer to `request`.
pub(super) fn run(api: ApiKind, path: &str, request: &Value, status: u16, name: &str) -> Analysis {
    let body = fixture(name);
    let request = request.to_string().into_bytes();
    if name.ends_with(".sse") {
        analyze(api, path, &request, status, ResponseBody::Sse(&events(&body)))
    } else {
        analyze(api, path, &request, status, ResponseBody::Json(&body))
    }
}

pub(super) fn call(id: Option<&str>, name: &str, arguments: &str) -> ToolCall {
    ToolCall { id: id.map(str::to_owned), name: name.to_owned(), arguments: arguments.to_owned() }
}

pub(super) fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

pub(super) fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

#[test]
fn api_kind_from_method_and_path() {
    use ApiKind::*;
    let cases = [
        ("POST", "/v1/chat/completions", OpenAiChat),
        ("post", "/v1/chat/completions", OpenAiChat),
        ("POST", "/openai/v1/chat/completions", OpenAiChat),
        ("POST", "/api/v1/chat/completions", OpenAiChat),
        ("POST", "/v1beta/openai/chat/completions", OpenAiChat),
        ("POST", "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21", OpenAiChat),
        ("POST", "/chat/completions/", OpenAiChat),
        ("POST", "/v1/completions", OpenAiCompletions),
        ("POST", "/v1/fim/completions", OpenAiCompletions),
        ("POST", "/v1/responses", OpenAiResponses),
        ("POST", "/openai/v1/responses", OpenAiResponses),
        ("POST", "/v1/responses/resp_1/cancel", Unknown),
        ("POST", "/v1/realtime?model=gpt-realtime", OpenAiRealtime),
        ("POST", "/v1/realtime/client_secrets", Unknown),
        ("GET", "/v1/realtime", Unknown),
        ("GET", "/v1/responses/resp_1", Unknown),
        ("POST", "/v1/embeddings", OpenAiEmbeddings),
        ("POST", "/v1/messages?beta=true", AnthropicMessages),
        ("POST", "/v1/messages/count_tokens", Unknown),
        ("POST", "/v1/threads/thread_1/messages", Unknown),
        ("POST", "/v1beta/models/gemini-2.5-flash:generateContent", GeminiGenerate),
        ("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", GeminiStreamGenerate),
        ("POST", "/v1/models/text-embedding-004:embedContent", GeminiEmbed),
        ("POST", "/v1beta/models/gemini-embedding-001:batchEmbedContents", GeminiEmbed),
        ("POST", "/v1beta/models/gemini-2.5-flash:countTokens", Unknown),
        ("HEAD", "/", Unknown),
        ("GET", "/v1/models", Unknown),
        ("POST", "", Unknown),
    ];
    for (method, path, want) in cases {
        assert_eq!(api_kind(method, path), want, "{method} {path}");
    }
}

#[test]
fn api_kind_names_match_their_json() {
    use ApiKind::*;
    let all = [
        OpenAiChat,
        OpenAiResponses,
        OpenAiRealtime,
        OpenAiEmbeddings,
        OpenAiCompletions,
        AnthropicMessages,
        GeminiGenerate,
        GeminiStreamGenerate,
        GeminiEmbed,
        Unknown,
    ];
    for kind in all {
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        assert_eq!(serde_json::from_value::<ApiKind>(json!(kind.as_str())).unwrap(), kind);
    }
}

#[test]
fn stream_requested_by_body_or_by_gemini_method() {
    assert!(requests_stream(ApiKind::OpenAiChat, br#"{"model":"m","stream":true}"#));
    assert!(!requests_stream(ApiKind::OpenAiChat, br#"{"model":"m","stream":false}"#));
    assert!(!requests_stream(ApiKind::AnthropicMessages, br#"{"model":"m"}"#));
    assert!(!requests_stream(ApiKind::OpenAiChat, b"not json"));
    assert!(requests_stream(ApiKind::GeminiStreamGenerate, b""));
}

#[test]
fn an_sse_body_labelled_json_is_read_as_a_stream() {
    let body = fixture("anthropic_stream_error.sse");
    let got = analyze(ApiKind::AnthropicMessages, "/v1/messages", b"{}", 200, ResponseBody::Json(&body));
    assert!(got.stream);
    assert_eq!(got.response_id.as_deref(), Some("msg_01Err"));
    assert_eq!(got.error.and_then(|e| e.kind).as_deref(), Some("overloaded_error"));
}

#[test]
fn a_failure_without_a_recognisable_error_keeps_the_start_of_the_body() {
    let html = format!("<html><body>502 Bad Gateway{}</body></html>", " ".repeat(600));
    let got = analyze(ApiKind::OpenAiChat, "/v1/chat/completions", b"", 502, ResponseBody::Other(html.as_bytes()));
    let message = got.error.and_then(|e| e.message).unwrap();
    assert!(message.starts_with("<html><body>502 Bad Gateway"));
    assert_eq!(message.chars().count(), 512);

    let got = analyze(ApiKind::OpenAiChat, "/v1/chat/completions", b"", 503, ResponseBody::Other(b""));
    assert_eq!(got.error, Some(ProviderError { kind: None, message: None }));

    let got = analyze(ApiKind::OpenAiChat, "/v1/chat/completions", b"", 200, ResponseBody::Other(b"<html>"));
    assert_eq!(got.error, None, "a success is not an error");
}

#[test]
fn an_unknown_api_still_yields_model_and_error() {
    let body = br#"{"error":{"type":"not_found_error","message":"no such route"}}"#;
    let got = analyze(ApiKind::Unknown, "/v1/other", br#"{"model":"m1"}"#, 404, ResponseBody::Json(body));
    assert_eq!(
        got,
        Analysis {
            model_requested: some("m1"),
            error: Some(ProviderError { kind: some("not_found_error"), message: some("no such route") }),
            ..Analysis::default()
        }
    );
}

/// JSON built from the keys and values the extractors look for, with hostile numbers.
fn provider_json() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "type",
        "id",
        "model",
        "usage",
        "choices",
        "index",
        "delta",
        "message",
        "tool_calls",
        "function",
        "name",
        "arguments",
        "error",
        "content",
        "content_block",
        "input",
        "partial_json",
        "response",
        "output",
        "item",
        "output_index",
        "item_id",
        "candidates",
        "parts",
        "functionCall",
        "args",
        "usageMetadata",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "reasoning_tokens",
        "completion_tokens_details",
        "promptTokenCount",
        "candidatesTokenCount",
        "thoughtsTokenCount",
        "tools",
        "stream",
        "status",
        "finish_reason",
        "stop_reason",
    ]);
    let text = prop::sample::select(vec![
        "message_start",
        "content_block_start",
        "content_block_delta",
        "message_delta",
        "input_json_delta",
        "tool_use",
        "mcp_tool_use",
        "function_call",
        "web_search_call",
        "response.completed",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "error",
        "mcp",
        "",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        prop_oneof![Just(u64::MAX), Just(0u64), any::<u64>()].prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text.prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

const KINDS: [ApiKind; 9] = [
    ApiKind::OpenAiChat,
    ApiKind::OpenAiResponses,
    ApiKind::OpenAiEmbeddings,
    ApiKind::OpenAiCompletions,
    ApiKind::AnthropicMessages,
    ApiKind::GeminiGenerate,
    ApiKind::GeminiStreamGenerate,
    ApiKind::GeminiEmbed,
    ApiKind::Unknown,
];

proptest! {
    #[test]
    fn analyze_never_panics_on_bytes(
        request in prop::collection::vec(any::<u8>(), 0..256),
        response in prop::collection::vec(any::<u8>(), 0..256),
        status in any::<u16>(),
        path in "[a-z/:.?=]{0,40}",
    ) {
        for api in KINDS {
            analyze(api, &path, &request, status, ResponseBody::Json(&response));
            analyze(api, &path, &request, status, ResponseBody::Other(&response));
            let mut parser = SseParser::new();
            let events = parser.feed(&response);
            analyze(api, &path, &request, status, ResponseBody::Sse(&events));
        }
    }

    #[test]
    fn analyze_never_panics_on_provider_shaped_json(request in provider_json(), body in provider_json(), status in any::<u16>()) {
        let request = request.to_string().into_bytes();
        let whole = body.to_string().into_bytes();
        let events = data_events(body.as_array().map_or(&[][..], Vec::as_slice));
        for api in KINDS {
            let got = analyze(api, "/v1beta/models/m:generateContent", &request, status, ResponseBody::Json(&whole));
            prop_assert_eq!(got.api, (api != ApiKind::Unknown).then_some(api));
            analyze(api, "/v1/x", &request, status, ResponseBody::Sse(&events));
        }
    }
}
