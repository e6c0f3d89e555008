use serde_json::json;

use super::super::tests::{call, data_events, names, run, some};
use super::super::{Analysis, ApiKind, ProviderError, ResponseBody, Usage, analyze};

const PATH: &str = "/v1/messages";

#[test]
fn message_with_parallel_tool_use_and_cache_reads_and_writes() {
    let request = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "tools": [
            {"name": "get_weather", "input_schema": {"type": "object"}},
            {"name": "mcp__github__create_issue", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "mcp_servers": [{"type": "url", "url": "https://mcp.example.com/sse", "name": "example"}],
        "messages": [{"role": "user", "content": "Weather in SF, and file an issue."}],
    });
    let got = run(ApiKind::AnthropicMessages, PATH, &request, 200, "anthropic_message.json");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::AnthropicMessages),
            model_requested: some("claude-sonnet-4-5"),
            model_answered: some("claude-sonnet-4-5-20250929"),
            response_id: some("msg_01Aq9w938a90dw8q"),
            stream: false,
            // input_tokens 42 exclude the cache: 42 + 12000 read + 1500 written.
            usage: Usage {
                input_tokens: Some(13_542),
                output_tokens: Some(180),
                cache_read_tokens: Some(12_000),
                cache_creation_tokens: Some(1_500),
                reasoning_tokens: None,
            },
            tools_declared: names(&["get_weather", "mcp__github__create_issue", "web_search", "mcp__example"]),
            tool_calls: vec![
                call(
                    Some("toolu_01A09q90qw90lq917835lq9"),
                    "get_weather",
                    r#"{"location":"San Francisco, CA","unit":"celsius"}"#
                ),
                call(Some("toolu_01B7c2"), "mcp__github__create_issue", r#"{"title":"Weather","repo":"acme/app"}"#),
            ],
            error: None,
            finish_reason: some("tool_use"),
        }
    );
}

#[test]
fn stream_reassembles_interleaved_tool_input_and_takes_the_final_usage() {
    let request = json!({
        "model": "claude-sonnet-4-5-20250929",
        "stream": true,
        "tools": [{"name": "Read"}, {"name": "mcp__github__create_issue"}, {"name": "TodoRead"}],
    });
    let got = run(ApiKind::AnthropicMessages, "/v1/messages?beta=true", &request, 200, "anthropic_stream.sse");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::AnthropicMessages),
            model_requested: some("claude-sonnet-4-5-20250929"),
            model_answered: some("claude-sonnet-4-5-20250929"),
            response_id: some("msg_01Stream"),
            stream: true,
            usage: Usage {
                input_tokens: Some(12 + 2_048 + 81_920),
                output_tokens: Some(89),
                cache_read_tokens: Some(81_920),
                cache_creation_tokens: Some(2_048),
                reasoning_tokens: None,
            },
            tools_declared: names(&["Read", "mcp__github__create_issue", "TodoRead"]),
            tool_calls: vec![
                call(Some("toolu_01Read"), "Read", r#"{"file_path": "/src/main.rs"}"#),
                call(Some("toolu_01Issue"), "mcp__github__create_issue", r#"{"title": "Bug"}"#),
                // No input deltas: the input it was announced with.
                call(Some("toolu_01Todo"), "TodoRead", "{}"),
            ],
            error: None,
            finish_reason: some("tool_use"),
        }
    );
}

#[test]
fn an_error_event_inside_the_stream() {
    let request = json!({"model": "claude-opus-4-1", "stream": true});
    let got = run(ApiKind::AnthropicMessages, PATH, &request, 200, "anthropic_stream_error.sse");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::AnthropicMessages),
            model_requested: some("claude-opus-4-1"),
            model_answered: some("claude-sonnet-4-5-20250929"),
            response_id: some("msg_01Err"),
            stream: true,
            usage: Usage { input_tokens: Some(25), output_tokens: Some(1), ..Usage::default() },
            tools_declared: vec![],
            tool_calls: vec![],
            error: Some(ProviderError { kind: some("overloaded_error"), message: some("Overloaded") }),
            finish_reason: None,
        }
    );
}

#[test]
fn an_error_body() {
    let got = run(ApiKind::AnthropicMessages, PATH, &json!({"model": "claude-haiku-4-5"}), 529, "anthropic_error.json");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::AnthropicMessages),
            model_requested: some("claude-haiku-4-5"),
            error: Some(ProviderError { kind: some("overloaded_error"), message: some("Overloaded") }),
            ..Analysis::default()
        }
    );
}

#[test]
fn message_delta_usage_is_cumulative_not_added() {
    // Server tools can send several message_delta events; each carries running totals.
    let events = data_events(&[
        json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-haiku-4-5", "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        json!({"type": "message_delta", "delta": {"stop_reason": null}, "usage": {"output_tokens": 5}}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
               "usage": {"input_tokens": 10, "cache_read_input_tokens": 0, "output_tokens": 12}}),
    ]);
    let got = analyze(ApiKind::AnthropicMessages, PATH, b"{}", 200, ResponseBody::Sse(&events));
    assert_eq!(
        got.usage,
        Usage { input_tokens: Some(10), output_tokens: Some(12), cache_read_tokens: Some(0), ..Usage::default() }
    );
    assert_eq!(got.finish_reason, some("end_turn"));
}

#[test]
fn mcp_connector_calls_carry_their_server() {
    let body = json!({
        "id": "msg_2", "type": "message", "model": "claude-sonnet-4-5", "stop_reason": "end_turn",
        "content": [
            {"type": "mcp_tool_use", "id": "mcptoolu_1", "name": "echo", "server_name": "example", "input": {"text": "hi"}},
            {"type": "mcp_tool_result", "tool_use_id": "mcptoolu_1", "content": []},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "rust"}},
        ],
        "usage": {"input_tokens": 3, "output_tokens": 4},
    })
    .to_string();
    let got = analyze(ApiKind::AnthropicMessages, PATH, b"{}", 200, ResponseBody::Json(body.as_bytes()));
    assert_eq!(
        got.tool_calls,
        vec![
            call(Some("mcptoolu_1"), "mcp__example__echo", r#"{"text":"hi"}"#),
            call(Some("srvtoolu_1"), "web_search", r#"{"query":"rust"}"#),
        ]
    );
    assert_eq!(got.usage, Usage { input_tokens: Some(3), output_tokens: Some(4), ..Usage::default() });
}
