//! OpenAI's Responses API (function and built-in tool calls, a Codex-like stream whose
//! usage comes in `response.completed`, a failed stream, an error) and Embeddings
//! (input tokens only) through glassbox.

use glassbox_tests::Canned;
use glassbox_tests::fixtures::read;
use serde_json::{Value, json};

use super::{Case, call, check, unknown_usage, usage, want};
use crate::world::OPENAI;

const RESPONSES: &str = "/v1/responses";
const AUTH: &[(&str, &str)] = &[("authorization", "Bearer sk-proj-glassbox-usage-test")];

fn responses_case<'a>(name: &'a str, request: Value, answer: Canned, want: Value) -> Case<'a> {
    Case { name, host: OPENAI, path: RESPONSES, headers: AUTH, request, answer, want }
}

#[test]
fn openai_responses_function_and_builtin_calls_cache_and_reasoning() {
    let request = json!({
        "model": "o4-mini",
        "input": "What is the weather in Paris and Bogotá?",
        "tools": [
            {"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
            {"type": "web_search"},
            {"type": "mcp", "server_label": "github", "server_url": "https://api.githubcopilot.com/mcp/"},
        ],
    });
    check(&responses_case(
        "responses_json",
        request,
        Canned::json(200, read("openai_responses.json")),
        want(json!({
            "status": 200, "api": "openai_responses", "model": "o4-mini", "response_model": "o4-mini-2025-04-16",
            "stream": false, "stream_complete": null, "response_id": "resp_67ccd2bed1ec8190",
            "usage": usage([Some(1523), Some(650), Some(1024), None, Some(448)]),
            // o4-mini: input 1.10, cache_read 0.275, output 4.40.
            // (1523 − 1024) × 1.10 + 1024 × 0.275 + 650 × 4.40 = 548.9 + 281.6 + 2860 = 3690.5 µ$
            "cost_usd": 0.003_690_5,
            "tools_declared": ["get_weather", "web_search", "mcp__github"],
            "tool_calls": [
                call(Some("ws_1"), "web_search", r#"{"type":"search","query":"weather Paris"}"#),
                call(Some("call_12345xyz"), "get_weather", r#"{"location":"Paris, France"}"#),
                call(Some("call_67890abc"), "get_weather", r#"{"location":"Bogotá, Colombia"}"#),
            ],
            "provider_error": null, "finish_reason": "completed",
        })),
    ));
}

/// A Codex-like streamed Responses request.
fn codex_request() -> Value {
    json!({
        "model": "gpt-5-codex",
        "stream": true,
        "instructions": "You are Codex, a coding agent.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "list files, then patch"}]}],
        "tools": [
            {"type": "function", "name": "shell", "parameters": {"type": "object"}},
            {"type": "function", "name": "apply_patch", "parameters": {"type": "object"}},
            {"type": "function", "name": "mcp__github__create_issue", "parameters": {"type": "object"}},
        ],
    })
}

#[test]
fn openai_responses_stream_usage_from_response_completed() {
    let answer = Canned::sse(read("openai_responses_stream.sse"));
    check(&responses_case(
        "responses_stream",
        codex_request(),
        answer,
        want(json!({
            "status": 200, "api": "openai_responses", "model": "gpt-5-codex", "response_model": "gpt-5-codex",
            "stream": true, "stream_complete": true, "stream_events": 15, "response_id": "resp_68a1c2",
            "usage": usage([Some(10240), Some(310), Some(8064), None, Some(192)]),
            // gpt-5-codex: input 1.25, cache_read 0.125, output 10.00.
            // (10240 − 8064) × 1.25 + 8064 × 0.125 + 310 × 10.00 = 2720 + 1008 + 3100 = 6828 µ$
            "cost_usd": 0.006828,
            "tools_declared": ["shell", "apply_patch", "mcp__github__create_issue"],
            "tool_calls": [
                call(Some("call_1"), "shell", r#"{"command":["ls","-la"]}"#),
                call(Some("call_2"), "apply_patch", r#"{"patch":"*** Begin Patch"}"#),
            ],
            "provider_error": null, "finish_reason": "completed",
        })),
    ));
}

#[test]
fn openai_responses_failed_stream() {
    let answer = Canned::sse(read("openai_responses_stream_failed.sse"));
    check(&responses_case(
        "responses_failed",
        codex_request(),
        answer,
        want(json!({
            "status": 200, "api": "openai_responses", "model": "gpt-5-codex", "response_model": "gpt-5-codex",
            "stream": true, "stream_complete": true, "stream_events": 3, "response_id": "resp_68a1c2",
            "usage": unknown_usage(), "cost_usd": null, "tool_calls": [],
            "provider_error": {"kind": "server_error", "message": "The model failed to generate a response."},
            "finish_reason": "failed",
        })),
    ));
}

#[test]
fn openai_responses_error_body() {
    let request = json!({"model": "gpt-9", "input": "Hello"});
    check(&responses_case(
        "responses_error",
        request,
        Canned::json(404, read("openai_responses_error.json")),
        want(json!({
            "status": 404, "api": "openai_responses", "model": "gpt-9", "response_model": null,
            "usage": unknown_usage(), "cost_usd": null,
            "provider_error": {"kind": "invalid_request_error", "message": "The requested model 'gpt-9' does not exist."},
        })),
    ));
}

#[test]
fn openai_embeddings_input_tokens_only() {
    let request =
        json!({"model": "text-embedding-3-small", "input": "The food was delicious.", "encoding_format": "float"});
    check(&Case {
        name: "embeddings",
        host: OPENAI,
        path: "/v1/embeddings",
        headers: AUTH,
        request,
        answer: Canned::json(200, read("openai_embeddings.json")),
        want: want(json!({
            "status": 200, "api": "openai_embeddings", "model": "text-embedding-3-small",
            "response_model": "text-embedding-3-small", "stream": false, "response_id": null,
            "usage": usage([Some(8), None, None, None, None]),
            // text-embedding-3-small: input 0.02, no output price. 8 × 0.02 = 0.16 µ$
            "cost_usd": 0.000_000_16,
            "tools_declared": [], "tool_calls": [], "provider_error": null, "finish_reason": null,
        })),
    });
}
