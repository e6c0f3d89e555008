//! Gemini through glassbox: generateContent with parallel function calls, cached content
//! and thoughts; streamGenerateContent as SSE (`?alt=sse`, CRLF framing) and as a JSON
//! array; an error. The model requested is the one in the URL; thoughts count as output.

use glassbox_tests::Canned;
use glassbox_tests::fixtures::read;
use serde_json::{Value, json};

use super::{Case, call, check, unknown_usage, usage, want};
use crate::world::GEMINI;

const HEADERS: &[(&str, &str)] = &[("x-goog-api-key", "AIzaSy-glassbox-usage-test")];

/// A request with function declarations (one an MCP tool) and thinking enabled.
fn request(functions: &[&str]) -> Value {
    let declarations: Vec<Value> = functions
        .iter()
        .map(|name| json!({"name": name, "description": format!("The {name} tool."), "parameters": {"type": "object"}}))
        .collect();
    let mut request = json!({
        "contents": [{"role": "user", "parts": [{"text": "Weather and time in Paris?"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}},
    });
    if !declarations.is_empty() {
        request["tools"] = json!([{"functionDeclarations": declarations}]);
    }
    request
}

fn case<'a>(name: &'a str, path: &'a str, request: Value, answer: Canned, want: Value) -> Case<'a> {
    Case { name, host: GEMINI, path, headers: HEADERS, request, answer, want }
}

#[test]
fn gemini_generate_parallel_function_calls_cache_and_thoughts() {
    let path = "/v1beta/models/gemini-2.5-flash:generateContent";
    let request = request(&["get_weather", "get_time", "mcp__github__create_issue"]);
    check(&case(
        "gemini_generate",
        path,
        request,
        Canned::json(200, read("gemini_generate.json")),
        want(json!({
            "provider": "gemini", "host": GEMINI, "path": path, "status": 200,
            "api": "gemini_generate", "model": "gemini-2.5-flash", "response_model": "gemini-2.5-flash",
            "stream": false, "stream_complete": null, "stream_events": null, "response_id": "mD2TaL_9F7-xz7IP5sGX8Ak",
            // output = candidates 38 + thoughts 210.
            "usage": usage([Some(5312), Some(248), Some(4096), None, Some(210)]),
            // gemini-2.5-flash: input 0.30, cache_read 0.03, output 2.50.
            // (5312 − 4096) × 0.30 + 4096 × 0.03 + 248 × 2.50 = 364.8 + 122.88 + 620 = 1107.68 µ$
            "cost_usd": 0.001_107_68,
            "tools_declared": ["get_weather", "get_time", "mcp__github__create_issue"],
            "tool_calls": [
                call(None, "get_weather", r#"{"location":"Paris"}"#),
                call(None, "get_time", r#"{"timezone":"Europe/Paris"}"#),
            ],
            "provider_error": null, "finish_reason": "STOP",
        })),
    ));
}

#[test]
fn gemini_stream_sse_with_crlf_framing() {
    let path = "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse";
    let request = request(&["get_weather"]);
    check(&case(
        "gemini_stream_sse",
        path,
        request,
        Canned::sse(read("gemini_stream.sse")),
        want(json!({
            "path": path, "status": 200, "api": "gemini_stream_generate",
            "model": "gemini-2.5-pro", "response_model": "gemini-2.5-pro",
            "stream": true, "stream_complete": true, "stream_events": 3, "response_id": "rF2TaO3bA8i",
            // The last chunk's running totals: output = candidates 20 + thoughts 1024.
            "usage": usage([Some(9), Some(1044), None, None, Some(1024)]),
            // gemini-2.5-pro (under 200K input): input 1.25, output 10.00.
            // 9 × 1.25 + 1044 × 10.00 = 11.25 + 10440 = 10451.25 µ$
            "cost_usd": 0.010_451_25,
            "tools_declared": ["get_weather"],
            "tool_calls": [call(None, "get_weather", r#"{"city":"Paris"}"#)],
            "provider_error": null, "finish_reason": "STOP",
        })),
    ));
}

#[test]
fn gemini_stream_as_json_array() {
    let path = "/v1beta/models/gemini-2.0-flash:streamGenerateContent";
    let answer = Canned::json(200, read("gemini_stream_array.json"));
    check(&case(
        "gemini_stream_array",
        path,
        request(&[]),
        answer,
        want(json!({
            "status": 200, "api": "gemini_stream_generate", "model": "gemini-2.0-flash",
            "response_model": "gemini-2.0-flash", "stream": true, "response_id": null,
            // Gemini omits zero counts: no thoughts, no cache.
            "usage": usage([Some(4), Some(2), None, None, None]),
            // gemini-2.0-flash: input 0.10, output 0.40. 4 × 0.10 + 2 × 0.40 = 1.2 µ$
            "cost_usd": 0.000_001_2,
            "tools_declared": [], "tool_calls": [], "provider_error": null, "finish_reason": "STOP",
        })),
    ));
}

#[test]
fn gemini_invalid_argument_error() {
    let path = "/v1beta/models/gemini-2.5-flash:generateContent";
    let answer = Canned::json(400, read("gemini_error.json"));
    check(&case(
        "gemini_error",
        path,
        request(&[]),
        answer,
        want(json!({
            "status": 400, "api": "gemini_generate", "model": "gemini-2.5-flash", "response_model": null,
            "usage": unknown_usage(), "cost_usd": null, "tool_calls": [],
            "provider_error": {"kind": "INVALID_ARGUMENT", "message": "API key not valid. Please pass a valid API key."},
            "finish_reason": null,
        })),
    ));
}
