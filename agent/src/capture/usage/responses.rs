//! The OpenAI Responses API (`POST /v1/responses`, what Codex sends): one response
//! object, or a stream of typed events. A stream announces the response
//! (`response.created`), adds output items (`response.output_item.added`) whose function
//! arguments arrive as `response.function_call_arguments.delta` keyed by `output_index`,
//! and ends with the whole response, usage included (`response.completed`,
//! `response.incomplete` or `response.failed`). The final response is authoritative; the
//! reassembled items stand in for it when the stream was cut before it.
use std::collections::HashMap;

use serde_json::Value;

use super::calls::{Calls, Key};
use super::{Analysis, Decoded, ProviderError, ToolCall, json, openai};

pub(super) fn analyze(request: &Value, body: &Decoded, analysis: &mut Analysis) {
    analysis.tools_declared = openai::declared_tools(request);
    match body {
        Decoded::Whole(value) => response(value, analysis),
        Decoded::Stream(events) => stream(events, analysis),
        Decoded::Nothing => {}
    }
}

/// Reads a response object (or an HTTP error body, `{"error": {…}}`) into `analysis`,
/// overriding what an earlier, partial copy of it said.
fn response(value: &Value, analysis: &mut Analysis) {
    if let Some(id) = json::non_empty(value, &["id"]) {
        analysis.response_id = Some(id);
    }
    if let Some(model) = json::non_empty(value, &["model"]) {
        analysis.model_answered = Some(model);
    }
    if let Some(usage) = value.get("usage").and_then(openai::usage) {
        analysis.usage = usage;
    }
    if let Some(error) = json::error_member(value) {
        analysis.error = Some(error);
    }
    // A response still `queued` or `in_progress` has not stopped: no finish reason yet.
    let status = json::non_empty(value, &["status"]).filter(|s| s != "queued" && s != "in_progress");
    let reason = json::non_empty(value, &["incomplete_details", "reason"]).or(status);
    if let Some(reason) = reason {
        analysis.finish_reason = Some(reason);
    }
    let calls: Vec<ToolCall> = json::array(value, &["output"]).iter().filter_map(output_call).collect();
    if !calls.is_empty() {
        analysis.tool_calls = calls;
    }
}

/// A tool call among the output items: function and custom tool calls by name, remote MCP
/// calls as `mcp__{server_label}__{name}`, built-in tools (`web_search_call`, …) by type.
pub(super) fn output_call(item: &Value) -> Option<ToolCall> {
    let kind = json::string(item, &["type"])?;
    let id = json::non_empty(item, &["call_id"]).or_else(|| json::non_empty(item, &["id"]));
    let text = |key: &str| json::string(item, &[key]).unwrap_or_default();
    let (name, arguments) = match kind.as_str() {
        "function_call" => (text("name"), text("arguments")),
        "custom_tool_call" => (text("name"), text("input")),
        "mcp_call" => (format!("mcp__{}__{}", text("server_label"), text("name")), text("arguments")),
        builtin => (builtin.strip_suffix("_call")?.to_owned(), json::compact(item.get("action"))),
    };
    Some(ToolCall { id, name, arguments })
}

fn stream(events: &[Value], analysis: &mut Analysis) {
    let mut calls = Calls::default();
    let mut item_index: HashMap<String, u64> = HashMap::new();
    for event in events {
        let kind = json::string(event, &["type"]).unwrap_or_default();
        let key = |item_index: &HashMap<String, u64>| -> Key {
            let by_item = json::string(event, &["item_id"]).and_then(|id| item_index.get(&id).copied());
            (0, json::count(event, &["output_index"]).or(by_item).unwrap_or(0))
        };
        match kind.as_str() {
            "response.created"
            | "response.in_progress"
            | "response.completed"
            | "response.incomplete"
            | "response.failed" => {
                if let Some(value) = event.get("response") {
                    response(value, analysis);
                }
            }
            "response.output_item.added" | "response.output_item.done" => {
                let item = event.get("item").unwrap_or(&Value::Null);
                let index = json::count(event, &["output_index"]).unwrap_or(0);
                if let Some(id) = json::non_empty(item, &["id"]) {
                    item_index.insert(id, index);
                }
                if let Some(call) = output_call(item) {
                    calls.start((0, index), call.id, Some(call.name), call.arguments.clone());
                    if kind.ends_with(".done") {
                        calls.set_arguments((0, index), call.arguments);
                    }
                }
            }
            k if k.ends_with("_arguments.delta") || k.ends_with("_input.delta") => {
                calls.append(key(&item_index), &json::string(event, &["delta"]).unwrap_or_default());
            }
            k if k.ends_with("_arguments.done") || k.ends_with("_input.done") => {
                let whole = json::string(event, &["arguments"]).or_else(|| json::string(event, &["input"]));
                if let Some(whole) = whole {
                    calls.set_arguments(key(&item_index), whole);
                }
            }
            "error" => {
                analysis.error = json::error_member(event).or_else(|| {
                    Some(ProviderError {
                        kind: json::string(event, &["code"]),
                        message: json::string(event, &["message"]),
                    })
                });
            }
            _ => {}
        }
    }
    if analysis.tool_calls.is_empty() && !calls.is_empty() {
        analysis.tool_calls = calls.finish();
    }
}

#[cfg(test)]
mod tests;
