use serde_json::{Value, json};

use super::super::tests::{call, data_events, events, fixture, names, run, some};
use super::super::{Analysis, ApiKind, ProviderError, ResponseBody, Usage, analyze};

const PATH: &str = "/v1/responses";

fn codex_request() -> Value {
    json!({
        "model": "gpt-5-codex",
        "stream": true,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "list files, then patch"}]}],
        "tools": [
            {"type": "function", "name": "shell", "parameters": {"type": "object"}},
            {"type": "function", "name": "apply_patch", "parameters": {"type": "object"}},
        ],
    })
}

fn codex_calls() -> Vec<super::super::ToolCall> {
    vec![
        call(Some("call_1"), "shell", r#"{"command":["ls","-la"]}"#),
        call(Some("call_2"), "apply_patch", r#"{"patch":"*** Begin Patch"}"#),
    ]
}

#[test]
fn response_with_function_calls_builtin_tools_cache_and_reasoning() {
    let request = json!({
        "model": "o4-mini",
        "input": "What is the weather in Paris and Bogotá?",
        "tools": [
            {"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
            {"type": "web_search"},
            {"type": "mcp", "server_label": "github", "server_url": "https://api.githubcopilot.com/mcp/"},
        ],
    });
    let got = run(ApiKind::OpenAiResponses, PATH, &request, 200, "openai_responses.json");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::OpenAiResponses),
            model_requested: some("o4-mini"),
            model_answered: some("o4-mini-2025-04-16"),
            response_id: some("resp_67ccd2bed1ec8190"),
            stream: false,
            usage: Usage {
                input_tokens: Some(1523),
                output_tokens: Some(650),
                cache_read_tokens: Some(1024),
                cache_creation_tokens: None,
                reasoning_tokens: Some(448),
            },
            tools_declared: names(&["get_weather", "web_search", "mcp__github"]),
            tool_calls: vec![
                call(Some("ws_1"), "web_search", r#"{"type":"search","query":"weather Paris"}"#),
                call(Some("call_12345xyz"), "get_weather", r#"{"location":"Paris, France"}"#),
                call(Some("call_67890abc"), "get_weather", r#"{"location":"Bogotá, Colombia"}"#),
            ],
            error: None,
            finish_reason: some("completed"),
        }
    );
}

#[test]
fn stream_ends_with_the_completed_response() {
    let got = run(ApiKind::OpenAiResponses, PATH, &codex_request(), 200, "openai_responses_stream.sse");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::OpenAiResponses),
            model_requested: some("gpt-5-codex"),
            model_answered: some("gpt-5-codex"),
            response_id: some("resp_68a1c2"),
            stream: true,
            usage: Usage {
                input_tokens: Some(10240),
                output_tokens: Some(310),
                cache_read_tokens: Some(8064),
                cache_creation_tokens: None,
                reasoning_tokens: Some(192),
            },
            tools_declared: names(&["shell", "apply_patch"]),
            tool_calls: codex_calls(),
            error: None,
            finish_reason: some("completed"),
        }
    );
}

#[test]
fn a_stream_cut_before_completion_keeps_the_reassembled_calls() {
    // Up to the last argument delta: no `.done`, no `response.completed`.
    let all = events(&fixture("openai_responses_stream.sse"));
    let cut = &all[..10];
    let request = codex_request().to_string();
    let got = analyze(ApiKind::OpenAiResponses, PATH, request.as_bytes(), 200, ResponseBody::Sse(cut));
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::OpenAiResponses),
            model_requested: some("gpt-5-codex"),
            model_answered: some("gpt-5-codex"),
            response_id: some("resp_68a1c2"),
            stream: true,
            usage: Usage::default(),
            tools_declared: names(&["shell", "apply_patch"]),
            tool_calls: codex_calls(),
            error: None,
            finish_reason: None,
        }
    );
}

#[test]
fn a_failed_stream_reports_the_error() {
    let got = run(ApiKind::OpenAiResponses, PATH, &codex_request(), 200, "openai_responses_stream_failed.sse");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::OpenAiResponses),
            model_requested: some("gpt-5-codex"),
            model_answered: some("gpt-5-codex"),
            response_id: some("resp_68a1c2"),
            stream: true,
            usage: Usage::default(),
            tools_declared: names(&["shell", "apply_patch"]),
            tool_calls: vec![],
            error: Some(ProviderError {
                kind: some("server_error"),
                message: some("The model failed to generate a response.")
            }),
            finish_reason: some("failed"),
        }
    );
}

#[test]
fn error_body_and_error_event() {
    let got = run(ApiKind::OpenAiResponses, PATH, &json!({"model": "gpt-9"}), 404, "openai_responses_error.json");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::OpenAiResponses),
            model_requested: some("gpt-9"),
            error: Some(ProviderError {
                kind: some("invalid_request_error"),
                message: some("The requested model 'gpt-9' does not exist."),
            }),
            ..Analysis::default()
        }
    );

    let stream = data_events(&[
        json!({"type": "error", "code": "ERR_SOMETHING", "message": "Something went wrong", "param": null, "sequence_number": 1}),
    ]);
    let got = analyze(ApiKind::OpenAiResponses, PATH, b"{}", 200, ResponseBody::Sse(&stream));
    assert_eq!(got.error, Some(ProviderError { kind: some("ERR_SOMETHING"), message: some("Something went wrong") }));
}

#[test]
fn incomplete_response_gives_its_reason_and_custom_and_mcp_calls_are_named() {
    let body = json!({
        "id": "resp_1", "object": "response", "status": "incomplete", "model": "gpt-5",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [
            {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_c", "name": "code_exec", "input": "print(1)"},
            {"type": "mcp_call", "id": "mcp_1", "server_label": "github", "name": "create_issue", "arguments": "{}"},
            {"type": "message", "id": "msg_1", "content": []},
        ],
        "usage": null,
    })
    .to_string();
    let got = analyze(ApiKind::OpenAiResponses, PATH, b"{}", 200, ResponseBody::Json(body.as_bytes()));
    assert_eq!(got.finish_reason, some("max_output_tokens"));
    assert_eq!(
        got.tool_calls,
        vec![call(Some("call_c"), "code_exec", "print(1)"), call(Some("mcp_1"), "mcp__github__create_issue", "{}")]
    );
    assert!(got.usage.is_unknown());
}
