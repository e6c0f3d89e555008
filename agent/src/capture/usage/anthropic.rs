//! Anthropic Messages (`POST /v1/messages`): one message object, or a stream of
//! `message_start` (id, model, usage so far), `content_block_start` / `_delta` / `_stop`
//! (a `tool_use` block's input arrives as `input_json_delta.partial_json` fragments),
//! `message_delta` (stop reason and cumulative usage: its counts replace earlier ones)
//! and `message_stop`; errors come as `{"type": "error", "error": {…}}`, as a body or as
//! an `error` event inside the stream.
//!
//! Anthropic's `input_tokens` exclude cache reads and writes; [`usage`] adds them so that
//! `input_tokens` means all input, as for every other provider.
use serde_json::Value;

use super::calls::Calls;
use super::{Analysis, Decoded, ToolCall, Usage, json};

pub(super) fn analyze(request: &Value, body: &Decoded, analysis: &mut Analysis) {
    analysis.tools_declared = declared_tools(request);
    match body {
        Decoded::Whole(value) => whole(value, analysis),
        Decoded::Stream(events) => stream(events, analysis),
        Decoded::Nothing => {}
    }
}

/// Tool names (client tools, server tools such as `web_search`, MCP tools named like
/// `mcp__github__create_issue`), then MCP connector servers as `mcp__{name}`.
fn declared_tools(request: &Value) -> Vec<String> {
    let tools = json::array(request, &["tools"])
        .iter()
        .filter_map(|tool| json::non_empty(tool, &["name"]).or_else(|| json::non_empty(tool, &["type"])));
    let servers = json::array(request, &["mcp_servers"])
        .iter()
        .filter_map(|server| json::non_empty(server, &["name"]).map(|name| format!("mcp__{name}")));
    tools.chain(servers).collect()
}

/// The counts as Anthropic reports them; a later report's fields replace earlier ones.
#[derive(Default)]
struct Counts {
    input: Option<u64>,
    output: Option<u64>,
    cache_read: Option<u64>,
    cache_creation: Option<u64>,
}

impl Counts {
    fn update(&mut self, usage: &Value) {
        let field = |name: &str| json::count(usage, &[name]);
        self.input = field("input_tokens").or(self.input);
        self.output = field("output_tokens").or(self.output);
        self.cache_read = field("cache_read_input_tokens").or(self.cache_read);
        self.cache_creation = field("cache_creation_input_tokens").or(self.cache_creation);
    }

    /// Normalised: input includes cache reads and writes; no reasoning count is reported.
    fn usage(&self) -> Usage {
        let cached = json::add(self.cache_read, self.cache_creation);
        Usage {
            input_tokens: self.input.map(|input| input.saturating_add(cached.unwrap_or(0))),
            output_tokens: self.output,
            cache_read_tokens: self.cache_read,
            cache_creation_tokens: self.cache_creation,
            reasoning_tokens: None,
        }
    }
}

/// A tool call in a content block: client `tool_use`, `server_tool_use`, and the MCP
/// connector's `mcp_tool_use` (named `mcp__{server_name}__{name}`).
fn block_call(block: &Value) -> Option<ToolCall> {
    let name = json::string(block, &["name"]).unwrap_or_default();
    let name = match json::string(block, &["type"])?.as_str() {
        "tool_use" | "server_tool_use" => name,
        "mcp_tool_use" => format!("mcp__{}__{name}", json::string(block, &["server_name"]).unwrap_or_default()),
        _ => return None,
    };
    Some(ToolCall { id: json::non_empty(block, &["id"]), name, arguments: json::compact(block.get("input")) })
}

fn whole(value: &Value, analysis: &mut Analysis) {
    analysis.error = json::any_error(value);
    analysis.response_id = json::non_empty(value, &["id"]);
    analysis.model_answered = json::non_empty(value, &["model"]);
    analysis.finish_reason = json::non_empty(value, &["stop_reason"]);
    if let Some(usage) = value.get("usage").filter(|u| u.is_object()) {
        let mut counts = Counts::default();
        counts.update(usage);
        analysis.usage = counts.usage();
    }
    analysis.tool_calls = json::array(value, &["content"]).iter().filter_map(block_call).collect();
}

fn stream(events: &[Value], analysis: &mut Analysis) {
    let mut counts = Counts::default();
    let mut reported = false;
    let mut calls = Calls::default();
    for event in events {
        match json::string(event, &["type"]).as_deref() {
            Some("message_start") => {
                let message = event.get("message").unwrap_or(&Value::Null);
                analysis.response_id = json::non_empty(message, &["id"]);
                analysis.model_answered = json::non_empty(message, &["model"]);
                if let Some(usage) = message.get("usage").filter(|u| u.is_object()) {
                    counts.update(usage);
                    reported = true;
                }
            }
            Some("content_block_start") => {
                let index = json::count(event, &["index"]).unwrap_or(0);
                if let Some(call) = event.get("content_block").and_then(block_call) {
                    calls.start((0, index), call.id, Some(call.name), call.arguments);
                }
            }
            Some("content_block_delta") => {
                let index = json::count(event, &["index"]).unwrap_or(0);
                if json::string(event, &["delta", "type"]).as_deref() == Some("input_json_delta") {
                    calls.append((0, index), &json::string(event, &["delta", "partial_json"]).unwrap_or_default());
                }
            }
            Some("message_delta") => {
                if let Some(reason) = json::non_empty(event, &["delta", "stop_reason"]) {
                    analysis.finish_reason = Some(reason);
                }
                if let Some(usage) = event.get("usage").filter(|u| u.is_object()) {
                    counts.update(usage);
                    reported = true;
                }
            }
            Some("error") => analysis.error = json::error_member(event),
            _ => {}
        }
    }
    if reported {
        analysis.usage = counts.usage();
    }
    analysis.tool_calls = calls.finish();
}

#[cfg(test)]
mod tests;
