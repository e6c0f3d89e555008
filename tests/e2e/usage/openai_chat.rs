//! OpenAI Chat Completions through glassbox: JSON with parallel tool calls and cached
//! tokens, reasoning tokens, an unknown model (usage but no cost), streams with and
//! without `include_usage`, errors in the body and inside a stream.

use glassbox_tests::Canned;
use glassbox_tests::fixtures::{read, read_replacing};
use serde_json::{Value, json};

use super::{Case, call, check, unknown_usage, usage, want};
use crate::world::OPENAI;

const CHAT: &str = "/v1/chat/completions";
const AUTH: &[(&str, &str)] = &[("authorization", "Bearer sk-proj-glassbox-usage-test")];

/// Function tools in the Chat Completions shape, one of them named as an MCP tool.
fn chat_tools(names: &[&str]) -> Value {
    let tools: Vec<Value> = names
        .iter()
        .map(|name| {
            json!({"type": "function", "function": {
                "name": name,
                "description": format!("The {name} tool."),
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
            }})
        })
        .collect();
    Value::Array(tools)
}

fn chat_request(model: &str, stream: Option<bool>, tools: &[&str]) -> Value {
    let mut request = json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the weather in Paris? File an issue about it."},
        ],
    });
    if let Some(stream) = stream {
        request["stream"] = json!(stream);
    }
    if !tools.is_empty() {
        request["tools"] = chat_tools(tools);
        request["tool_choice"] = json!("auto");
        request["parallel_tool_calls"] = json!(true);
    }
    request
}

fn chat_case<'a>(name: &'a str, request: Value, answer: Canned, want: Value) -> Case<'a> {
    Case { name, host: OPENAI, path: CHAT, headers: AUTH, request, answer, want }
}

#[test]
fn openai_chat_parallel_tool_calls_and_cached_tokens() {
    let request = chat_request("gpt-4o", Some(false), &["get_weather", "mcp__github__create_issue"]);
    check(&chat_case(
        "chat_tools",
        request,
        Canned::json(200, read("openai_chat_tool_calls.json")),
        want(json!({
            "provider": "openai", "host": OPENAI, "path": CHAT, "status": 200,
            "api": "openai_chat", "model": "gpt-4o", "response_model": "gpt-4o-2024-08-06",
            "stream": false, "stream_complete": null, "stream_events": null,
            "response_id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
            "usage": usage([Some(2006), Some(300), Some(1920), None, Some(0)]),
            // gpt-4o: input 2.50, cache_read 1.25, output 10.00.
            // (2006 − 1920) × 2.50 + 1920 × 1.25 + 300 × 10.00 = 215 + 2400 + 3000 = 5615 µ$
            "cost_usd": 0.005615,
            "tools_declared": ["get_weather", "mcp__github__create_issue"],
            "tool_calls": [
                call(Some("call_kwDvNQ8sDrj9D3kXQWL6tPpE"), "get_weather", r#"{"location":"Paris, France"}"#),
                call(Some("call_Xq3TAnB6kpSLkE3rjphHWn6P"), "mcp__github__create_issue", r#"{"repo":"acme/app","title":"Weather"}"#),
            ],
            "provider_error": null, "finish_reason": "tool_calls",
        })),
    ));
}

#[test]
fn openai_chat_reasoning_tokens() {
    let mut request = chat_request("o3-mini", None, &[]);
    request["reasoning_effort"] = json!("high");
    check(&chat_case(
        "chat_reasoning",
        request,
        Canned::json(200, read("openai_chat_reasoning.json")),
        want(json!({
            "status": 200, "api": "openai_chat", "model": "o3-mini", "response_model": "o3-mini-2025-01-31",
            "stream": false, "response_id": "chatcmpl-AyPp2",
            "usage": usage([Some(24), Some(1450), Some(0), None, Some(1408)]),
            // o3-mini: input 1.10, cache_read 0.55, output 4.40 (reasoning is billed as output).
            // 24 × 1.10 + 1450 × 4.40 = 26.4 + 6380 = 6406.4 µ$
            "cost_usd": 0.006_406_4,
            "tools_declared": [], "tool_calls": [], "provider_error": null, "finish_reason": "stop",
        })),
    ));
}

#[test]
fn openai_chat_unknown_model_has_usage_but_no_cost() {
    let body = read_replacing("openai_chat_reasoning.json", "o3-mini-2025-01-31", "o9-glassbox-nonexistent");
    let request = chat_request("o9-glassbox-nonexistent", None, &[]);
    let (w, _) = check(&chat_case(
        "chat_unknown_model",
        request,
        Canned::json(200, body),
        want(json!({
            "status": 200, "model": "o9-glassbox-nonexistent", "response_model": "o9-glassbox-nonexistent",
            "usage": usage([Some(24), Some(1450), Some(0), None, Some(1408)]),
            "cost_usd": null,
        })),
    ));
    // An unknown model is a counted warning, never a guess.
    let log = w.agent.log();
    let warned = log.lines().any(|l| l.contains("o9-glassbox-nonexistent") && l.contains("WARN"));
    assert!(warned, "the agent should warn about the unpriced model o9-glassbox-nonexistent; log:\n{log}");
}

#[test]
fn openai_chat_stream_with_usage_reassembles_parallel_tool_calls() {
    let mut request = chat_request("gpt-4o-mini", Some(true), &["get_weather", "get_time"]);
    request["stream_options"] = json!({"include_usage": true});
    let answer = Canned::sse(read("openai_chat_stream_tools_usage.sse"));
    check(&chat_case(
        "chat_stream_tools",
        request,
        answer,
        want(json!({
            "status": 200, "api": "openai_chat", "model": "gpt-4o-mini", "response_model": "gpt-4o-mini-2024-07-18",
            "stream": true, "stream_complete": true, "stream_events": 8, "response_id": "chatcmpl-BdQp8",
            "usage": usage([Some(82), Some(53), Some(0), None, Some(0)]),
            // gpt-4o-mini: input 0.15, cache_read 0.075, output 0.60.
            // 82 × 0.15 + 53 × 0.60 = 12.3 + 31.8 = 44.1 µ$
            "cost_usd": 0.000_044_1,
            "tools_declared": ["get_weather", "get_time"],
            "tool_calls": [
                call(Some("call_AAA"), "get_weather", r#"{"location": "Paris"}"#),
                call(Some("call_BBB"), "get_time", r#"{"tz": "Europe/Paris"}"#),
            ],
            "provider_error": null, "finish_reason": "tool_calls",
        })),
    ));
}

#[test]
fn openai_chat_stream_without_include_usage_leaves_usage_unknown() {
    // aider streams without stream_options.include_usage: the provider reports no usage.
    let request = chat_request("gpt-4o", Some(true), &[]);
    let answer = Canned::sse(read("openai_chat_stream_no_usage.sse"));
    check(&chat_case(
        "chat_stream_no_usage",
        request,
        answer,
        want(json!({
            "status": 200, "api": "openai_chat", "model": "gpt-4o", "response_model": "gpt-4o-2024-08-06",
            "stream": true, "stream_complete": true, "stream_events": 5, "response_id": "chatcmpl-Cq1",
            "usage": unknown_usage(), "cost_usd": null,
            "tools_declared": [], "tool_calls": [], "provider_error": null, "finish_reason": "stop",
        })),
    ));
}

#[test]
fn openai_chat_error_body() {
    let request = chat_request("gpt-4o", None, &[]);
    check(&chat_case(
        "chat_error",
        request,
        Canned::json(401, read("openai_chat_error.json")),
        want(json!({
            "status": 401, "api": "openai_chat", "model": "gpt-4o", "response_model": null, "stream": false,
            "response_id": null, "usage": unknown_usage(), "cost_usd": null, "tool_calls": [],
            "provider_error": {
                "kind": "invalid_request_error",
                "message": "Incorrect API key provided: sk-abc***xyz. You can find your API key at https://platform.openai.com/account/api-keys.",
            },
            "finish_reason": null,
        })),
    ));
}

#[test]
fn openai_chat_error_inside_a_stream() {
    let request = chat_request("gpt-4o", Some(true), &[]);
    let answer = Canned::sse(read("openai_chat_stream_error.sse"));
    check(&chat_case(
        "chat_stream_error",
        request,
        answer,
        want(json!({
            "status": 200, "api": "openai_chat", "model": "gpt-4o", "response_model": "gpt-4o-2024-08-06",
            // The provider ended the stream itself: an error, but not a cut.
            "stream": true, "stream_complete": true, "stream_events": 2, "response_id": "chatcmpl-Err",
            "usage": unknown_usage(), "cost_usd": null, "tool_calls": [],
            "provider_error": {
                "kind": "server_error",
                "message": "The server had an error while processing your request. Sorry about that!",
            },
        })),
    ));
}
