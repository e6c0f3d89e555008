//! OpenAI Chat Completions, legacy Completions and Embeddings, as OpenAI and the
//! OpenAI-compatible providers (groq, mistral, openrouter, deepseek, xai, …) send them:
//! one JSON object, or `data:` chunks ending in `[DONE]` when streamed.
//!
//! A stream carries usage only when the client set `stream_options.include_usage` (a
//! final chunk with empty `choices`; groq puts it in `x_groq.usage`); without it usage
//! stays unknown. Tool calls arrive as `delta.tool_calls[]` fragments keyed by `index`,
//! the name and id on the first, the `arguments` text spread over the rest.
use serde_json::Value;

use super::calls::Calls;
use super::{Analysis, Decoded, ToolCall, Usage, json};

pub(super) fn analyze(request: &Value, body: &Decoded, analysis: &mut Analysis) {
    analysis.tools_declared = declared_tools(request);
    match body {
        Decoded::Whole(value) => whole(value, analysis),
        Decoded::Stream(chunks) => stream(chunks, analysis),
        Decoded::Nothing => {}
    }
}

/// Tool names from `tools` (Chat `function.name`, Responses `name`; a built-in tool by its
/// `type`; an MCP server as `mcp__{server_label}`) and legacy `functions[].name`.
pub(super) fn declared_tools(request: &Value) -> Vec<String> {
    let tools = json::array(request, &["tools"]).iter().filter_map(|tool| {
        if json::string(tool, &["type"]).as_deref() == Some("mcp") {
            return json::non_empty(tool, &["server_label"]).map(|label| format!("mcp__{label}"));
        }
        json::non_empty(tool, &["function", "name"])
            .or_else(|| json::non_empty(tool, &["custom", "name"]))
            .or_else(|| json::non_empty(tool, &["name"]))
            .or_else(|| json::non_empty(tool, &["type"]))
    });
    let functions = json::array(request, &["functions"]).iter().filter_map(|f| json::non_empty(f, &["name"]));
    tools.chain(functions).collect()
}

/// A `usage` object of any OpenAI API (Chat/Completions/Embeddings names, or the
/// Responses API's); `None` if it reports nothing.
pub(super) fn usage(usage: &Value) -> Option<Usage> {
    let first = |paths: &[&[&str]]| paths.iter().find_map(|path| json::count(usage, path));
    let input = first(&[&["prompt_tokens"], &["input_tokens"]]);
    let completion = first(&[&["completion_tokens"], &["output_tokens"]]);
    let reasoning =
        first(&[&["completion_tokens_details", "reasoning_tokens"], &["output_tokens_details", "reasoning_tokens"]]);
    let total = json::count(usage, &["total_tokens"]);
    // OpenAI counts reasoning inside completion_tokens. xAI does not (its total is
    // prompt + completion + reasoning): add it there, so output means the same everywhere.
    let output = match (input, completion, reasoning, total) {
        (Some(i), Some(c), Some(r), Some(t))
            if r > 0 && i.checked_add(c) != Some(t) && i.checked_add(c).and_then(|s| s.checked_add(r)) == Some(t) =>
        {
            Some(c + r)
        }
        _ => completion,
    };
    let usage = Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: first(&[
            &["prompt_tokens_details", "cached_tokens"],
            &["input_tokens_details", "cached_tokens"],
            // The Realtime API's spelling.
            &["input_token_details", "cached_tokens"],
            &["prompt_cache_hit_tokens"],
        ]),
        cache_creation_tokens: None,
        reasoning_tokens: reasoning,
    };
    (!usage.is_unknown()).then_some(usage)
}

fn whole(value: &Value, analysis: &mut Analysis) {
    analysis.error = json::any_error(value);
    analysis.response_id = json::non_empty(value, &["id"]);
    analysis.model_answered = json::non_empty(value, &["model"]);
    analysis.usage = value.get("usage").and_then(usage).unwrap_or_default();
    for choice in json::array(value, &["choices"]) {
        if analysis.finish_reason.is_none() {
            analysis.finish_reason = json::non_empty(choice, &["finish_reason"]);
        }
        let message = json::at(choice, &["message"]).unwrap_or(&Value::Null);
        analysis.tool_calls.extend(json::array(message, &["tool_calls"]).iter().map(|call| ToolCall {
            id: json::non_empty(call, &["id"]),
            name: call_name(call).unwrap_or_default(),
            arguments: call_arguments(call).unwrap_or_default(),
        }));
        if let Some(call) = message.get("function_call").filter(|c| c.is_object()) {
            analysis.tool_calls.push(ToolCall {
                id: None,
                name: json::string(call, &["name"]).unwrap_or_default(),
                arguments: json::string(call, &["arguments"]).unwrap_or_default(),
            });
        }
    }
}

fn stream(chunks: &[Value], analysis: &mut Analysis) {
    let mut calls = Calls::default();
    for chunk in chunks {
        if let Some(error) = json::error_member(chunk) {
            analysis.error = Some(error);
        }
        analysis.response_id = analysis.response_id.take().or_else(|| json::non_empty(chunk, &["id"]));
        analysis.model_answered = analysis.model_answered.take().or_else(|| json::non_empty(chunk, &["model"]));
        for found in [json::at(chunk, &["usage"]), json::at(chunk, &["x_groq", "usage"])] {
            if let Some(found) = found.and_then(usage) {
                analysis.usage = found;
            }
        }
        for choice in json::array(chunk, &["choices"]) {
            let index = json::count(choice, &["index"]).unwrap_or(0);
            if let Some(reason) = json::non_empty(choice, &["finish_reason"])
                && (index == 0 || analysis.finish_reason.is_none())
            {
                analysis.finish_reason = Some(reason);
            }
            let delta = json::at(choice, &["delta"]).unwrap_or(&Value::Null);
            for (position, call) in (0u64..).zip(json::array(delta, &["tool_calls"])) {
                let key = (index, json::count(call, &["index"]).unwrap_or(position));
                calls.start(key, json::non_empty(call, &["id"]), call_name(call), String::new());
                if let Some(fragment) = call_arguments(call) {
                    calls.append(key, &fragment);
                }
            }
            if let Some(call) = delta.get("function_call").filter(|c| c.is_object()) {
                calls.start((index, 0), None, json::non_empty(call, &["name"]), String::new());
                calls.append((index, 0), &json::string(call, &["arguments"]).unwrap_or_default());
            }
        }
    }
    analysis.tool_calls = calls.finish();
}

/// A call's name: `function.name`, or `custom.name` for GPT-5 custom tools.
fn call_name(call: &Value) -> Option<String> {
    json::non_empty(call, &["function", "name"]).or_else(|| json::non_empty(call, &["custom", "name"]))
}

/// A call's arguments (or a custom tool's free-form `input`), or a fragment of them.
fn call_arguments(call: &Value) -> Option<String> {
    json::string(call, &["function", "arguments"]).or_else(|| json::string(call, &["custom", "input"]))
}

#[cfg(test)]
mod tests;
