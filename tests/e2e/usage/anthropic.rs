//! Anthropic Messages through glassbox: a JSON answer with parallel `tool_use` and cache
//! reads and writes, a stream (usage from `message_start` and `message_delta`, interleaved
//! `input_json_delta`s), an `event: error` inside a stream, and an overloaded error.
//! Anthropic's `input_tokens` exclude cached tokens; the record's include them.

use glassbox_tests::Canned;
use glassbox_tests::fixtures::read;
use serde_json::{Value, json};

use super::{Case, call, check, unknown_usage, usage, want};
use crate::world::ANTHROPIC;

const MESSAGES: &str = "/v1/messages";
const HEADERS: &[(&str, &str)] =
    &[("x-api-key", "sk-ant-api03-glassbox-usage-test"), ("anthropic-version", "2023-06-01")];
const MODEL: &str = "claude-sonnet-4-5-20250929";

/// A Claude Code-like request: cached system prompt, client tools and an MCP tool.
fn request(stream: bool, tools: &[&str]) -> Value {
    let tools: Vec<Value> = tools
        .iter()
        .map(|name| {
            json!({
                "name": name,
                "description": format!("The {name} tool."),
                "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
            })
        })
        .collect();
    json!({
        "model": MODEL,
        "max_tokens": 32000,
        "stream": stream,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "tools": tools,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Check the weather, then file an issue."}]}],
    })
}

fn case<'a>(name: &'a str, request: Value, answer: Canned, want: Value) -> Case<'a> {
    Case { name, host: ANTHROPIC, path: MESSAGES, headers: HEADERS, request, answer, want }
}

#[test]
fn anthropic_message_parallel_tool_use_and_cache() {
    let request = request(false, &["get_weather", "mcp__github__create_issue"]);
    check(&case(
        "anthropic_json",
        request,
        Canned::json(200, read("anthropic_message.json")),
        want(json!({
            "provider": "anthropic", "host": ANTHROPIC, "path": MESSAGES, "status": 200,
            "api": "anthropic_messages", "model": MODEL, "response_model": MODEL,
            "stream": false, "stream_complete": null, "stream_events": null, "response_id": "msg_01Aq9w938a90dw8q",
            // input = 42 + cache reads 12000 + cache writes 1500.
            "usage": usage([Some(13_542), Some(180), Some(12_000), Some(1500), None]),
            // claude-sonnet-4-5: input 3.00, cache_creation 3.75, cache_read 0.30, output 15.00.
            // 42 × 3.00 + 12000 × 0.30 + 1500 × 3.75 + 180 × 15.00 = 126 + 3600 + 5625 + 2700 = 12051 µ$
            "cost_usd": 0.012_051,
            "tools_declared": ["get_weather", "mcp__github__create_issue"],
            "tool_calls": [
                call(Some("toolu_01A09q90qw90lq917835lq9"), "get_weather", r#"{"location":"San Francisco, CA","unit":"celsius"}"#),
                call(Some("toolu_01B7c2"), "mcp__github__create_issue", r#"{"title":"Weather","repo":"acme/app"}"#),
            ],
            "provider_error": null, "finish_reason": "tool_use",
        })),
    ));
}

#[test]
fn anthropic_stream_usage_and_interleaved_tool_use() {
    let request = request(true, &["Read", "mcp__github__create_issue", "TodoRead"]);
    check(&case(
        "anthropic_stream",
        request,
        Canned::sse(read("anthropic_stream.sse")),
        want(json!({
            "status": 200, "api": "anthropic_messages", "model": MODEL, "response_model": MODEL,
            "stream": true, "stream_complete": true, "stream_events": 18, "response_id": "msg_01Stream",
            // input = 12 + cache reads 81920 + cache writes 2048; output from the last message_delta.
            "usage": usage([Some(83_980), Some(89), Some(81_920), Some(2048), None]),
            // 12 × 3.00 + 81920 × 0.30 + 2048 × 3.75 + 89 × 15.00 = 36 + 24576 + 7680 + 1335 = 33627 µ$
            "cost_usd": 0.033_627,
            "tools_declared": ["Read", "mcp__github__create_issue", "TodoRead"],
            "tool_calls": [
                call(Some("toolu_01Read"), "Read", r#"{"file_path": "/src/main.rs"}"#),
                call(Some("toolu_01Issue"), "mcp__github__create_issue", r#"{"title": "Bug"}"#),
                call(Some("toolu_01Todo"), "TodoRead", "{}"),
            ],
            "provider_error": null, "finish_reason": "tool_use",
        })),
    ));
}

#[test]
fn anthropic_error_event_inside_a_stream() {
    let request = request(true, &[]);
    check(&case(
        "anthropic_stream_error",
        request,
        Canned::sse(read("anthropic_stream_error.sse")),
        want(json!({
            "status": 200, "api": "anthropic_messages", "model": MODEL, "response_model": MODEL,
            "stream": true, "stream_complete": true, "stream_events": 4, "response_id": "msg_01Err",
            "usage": usage([Some(25), Some(1), None, None, None]),
            // 25 × 3.00 + 1 × 15.00 = 90 µ$: what message_start reported before the error.
            "cost_usd": 0.000_09,
            "tool_calls": [],
            "provider_error": {"kind": "overloaded_error", "message": "Overloaded"},
            "finish_reason": null,
        })),
    ));
}

#[test]
fn anthropic_overloaded_error() {
    let request = request(false, &[]);
    check(&case(
        "anthropic_error",
        request,
        Canned::json(529, read("anthropic_error.json")),
        want(json!({
            "status": 529, "api": "anthropic_messages", "model": MODEL, "response_model": null,
            "stream": false, "response_id": null, "usage": unknown_usage(), "cost_usd": null, "tool_calls": [],
            "provider_error": {"kind": "overloaded_error", "message": "Overloaded"},
            "finish_reason": null,
        })),
    ));
}
