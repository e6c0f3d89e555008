//! The official `openai` and `anthropic` Python SDKs, unchanged, stream a reply with tool
//! calls through glassbox: the tool calls the SDK assembled, the tokens and the cost land
//! in the record against the Python process.

use std::process::Command;
use std::time::Duration;

use glassbox_tests::check::assert_fields;
use glassbox_tests::fixtures::read;
use glassbox_tests::{Canned, FakeProvider};
use http::Method;
use serde_json::{Value, json};

use crate::calls::{self, recorded};
use crate::usage::usage;
use crate::world::{ANTHROPIC, CHAT_PATH, OPENAI};

/// Streams one chat completion with two tools; prints pid, exe and the tool calls it
/// assembled from the deltas, and the usage it read from the final chunk.
const OPENAI_STREAM: &str = r#"
import json, os
import openai
client = openai.OpenAI(api_key="sk-test", max_retries=0, timeout=20)
tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in ("get_weather", "get_time")]
calls, usage = {}, None
stream = client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather and time in Paris?"}],
    tools=tools, stream=True, stream_options={"include_usage": True})
for chunk in stream:
    if chunk.usage:
        usage = {"input": chunk.usage.prompt_tokens, "output": chunk.usage.completion_tokens}
    for choice in chunk.choices:
        for d in choice.delta.tool_calls or []:
            c = calls.setdefault(d.index, {"id": None, "name": "", "arguments": ""})
            c["id"] = d.id or c["id"]
            c["name"] += (d.function.name or "") if d.function else ""
            c["arguments"] += (d.function.arguments or "") if d.function else ""
print(json.dumps({"pid": os.getpid(), "exe": os.readlink("/proc/self/exe"),
                  "tool_calls": [calls[i] for i in sorted(calls)], "usage": usage}))
"#;

/// Streams one message with three tools, one MCP-named; prints pid, exe, the tool_use
/// blocks of the final message and its usage.
const ANTHROPIC_STREAM: &str = r#"
import json, os
import anthropic
client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, timeout=20)
tools = [{"name": n, "input_schema": {"type": "object"}} for n in ("Read", "mcp__github__create_issue", "TodoRead")]
with client.messages.stream(model="claude-sonnet-4-5-20250929", max_tokens=1024, tools=tools,
                            messages=[{"role": "user", "content": "Read main.rs, then file a bug."}]) as stream:
    message = stream.get_final_message()
calls = [{"id": b.id, "name": b.name, "input": b.input} for b in message.content if b.type == "tool_use"]
u = message.usage
print(json.dumps({"pid": os.getpid(), "exe": os.readlink("/proc/self/exe"), "tool_calls": calls,
                  "usage": {"input": u.input_tokens, "output": u.output_tokens,
                            "cache_read": u.cache_read_input_tokens, "cache_creation": u.cache_creation_input_tokens}}))
"#;

/// Fails (never skips) when the SDK is missing.
fn require(module: &str) {
    let out = Command::new("python3").args(["-c", &format!("import {module}")]).output().expect("python3");
    assert!(
        out.status.success(),
        "the {module} Python SDK is not installed for python3 (`python3 -m pip install {module}`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `script` in a world whose fake answers `path` with `answer`; returns what it
/// printed and the record of its call.
fn run_sdk(name: &str, script: &str, path: &str, answer: Canned) -> (Value, Value) {
    let fake = FakeProvider::new().sse_delay(Duration::from_millis(5)).route(Method::POST, path, answer);
    let w = calls::world(name, fake, "");
    let out = w.client().cmd("python3", ["-c", script]).output();
    out.assert_success();
    let printed: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("SDK script printed no JSON ({e}): {}", out.stdout_str()));
    let record = recorded(&w, name, path, 0).record;
    assert_fields(&record, &json!({"process": {"pid": printed["pid"], "exe": printed["exe"]}}));
    (printed, record)
}

#[test]
fn openai_sdk_stream_with_tool_calls_lands_in_the_record() {
    require("openai");
    let answer = Canned::sse(read("openai_chat_stream_tools_usage.sse"));
    let (printed, record) = run_sdk("sdk_openai_tools", OPENAI_STREAM, CHAT_PATH, answer);
    assert_eq!(printed["usage"], json!({"input": 82, "output": 53}), "usage the SDK read: {printed}");
    assert_fields(
        &record,
        &json!({
            "host": OPENAI, "api": "openai_chat", "model": "gpt-4o-mini", "stream": true, "stream_complete": true,
            "usage": usage([Some(82), Some(53), Some(0), None, Some(0)]),
            "cost_usd": 0.000_044_1, // 82 × 0.15 + 53 × 0.60 µ$ (gpt-4o-mini)
            "tools_declared": ["get_weather", "get_time"],
            // The record's calls are the ones the SDK assembled from the same deltas.
            "tool_calls": printed["tool_calls"],
            "finish_reason": "tool_calls",
        }),
    );
}

#[test]
fn anthropic_sdk_stream_with_tool_use_lands_in_the_record() {
    require("anthropic");
    let answer = Canned::sse(read("anthropic_stream.sse"));
    let (printed, record) = run_sdk("sdk_anthropic_tools", ANTHROPIC_STREAM, "/v1/messages", answer);
    let sdk_usage = json!({"input": 12, "output": 89, "cache_read": 81_920, "cache_creation": 2048});
    assert_eq!(printed["usage"], sdk_usage, "usage the SDK read: {printed}");
    assert_fields(
        &record,
        &json!({
            "host": ANTHROPIC, "api": "anthropic_messages", "model": "claude-sonnet-4-5-20250929",
            "stream": true, "stream_complete": true,
            // The SDK's input_tokens (12) exclude cache reads and writes; the record's include them.
            "usage": usage([Some(83_980), Some(89), Some(81_920), Some(2048), None]),
            "cost_usd": 0.033_627, // 12 × 3.00 + 81920 × 0.30 + 2048 × 3.75 + 89 × 15.00 µ$ (claude-sonnet-4-5)
            "tools_declared": ["Read", "mcp__github__create_issue", "TodoRead"],
            "finish_reason": "tool_use",
        }),
    );
    let sdk_calls = printed["tool_calls"].as_array().expect("tool_calls printed");
    let calls = record["tool_calls"].as_array().unwrap_or_else(|| panic!("record has no tool_calls: {record}"));
    assert_eq!(calls.len(), sdk_calls.len(), "tool calls: record {calls:?} vs SDK {sdk_calls:?}");
    for (call, sdk) in calls.iter().zip(sdk_calls) {
        assert_eq!((&call["id"], &call["name"]), (&sdk["id"], &sdk["name"]), "a tool call's id and name");
        let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("recorded arguments are not JSON ({e}): {call}"));
        assert_eq!(arguments, sdk["input"], "the recorded arguments parse to the input the SDK assembled");
    }
}
