//! Gemini `generateContent`, `streamGenerateContent` and `embedContent`. The model is
//! named in the URL (`/v1beta/models/{model}:generateContent`), not the body. A stream
//! comes as SSE with `?alt=sse`, otherwise as one JSON array of chunks; every chunk is a
//! `GenerateContentResponse` whose `usageMetadata` is the running total, so the last one
//! counts. Function calls come whole, as `functionCall` parts.
//!
//! `promptTokenCount` includes `cachedContentTokenCount`; `candidatesTokenCount` excludes
//! `thoughtsTokenCount`, so output adds them. Gemini's JSON omits zero counts (proto3):
//! once a `usageMetadata` reports anything, a missing candidates or thoughts count is 0.
use serde_json::Value;

use super::{Analysis, Decoded, ToolCall, Usage, json};

pub(super) fn analyze(path: &str, request: &Value, body: &Decoded, analysis: &mut Analysis) {
    if let Some(model) = model_from_path(path) {
        analysis.model_requested = Some(model);
    }
    analysis.tools_declared = declared_tools(request);
    let chunks: &[Value] = match body {
        Decoded::Whole(Value::Array(chunks)) => chunks,
        Decoded::Whole(value) => std::slice::from_ref(value),
        Decoded::Stream(chunks) => chunks,
        Decoded::Nothing => &[],
    };
    for chunk in chunks {
        self::chunk(chunk, analysis);
    }
}

/// `…/models/gemini-2.5-pro:generateContent?alt=sse` → `gemini-2.5-pro`.
pub(crate) fn model_from_path(path: &str) -> Option<String> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let (model, _verb) = path.rsplit('/').next()?.split_once(':')?;
    (!model.is_empty()).then(|| model.to_owned())
}

/// `functionDeclarations[].name` of each tool; a built-in tool (`googleSearch`,
/// `codeExecution`, `urlContext`, …) by its key. Both JSON spellings are accepted.
fn declared_tools(request: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for tool in json::array(request, &["tools"]) {
        let Some(tool) = tool.as_object() else { continue };
        for (key, value) in tool {
            if key == "functionDeclarations" || key == "function_declarations" {
                let declarations = value.as_array().map_or(&[][..], Vec::as_slice);
                names.extend(declarations.iter().filter_map(|d| json::non_empty(d, &["name"])));
            } else {
                names.push(key.clone());
            }
        }
    }
    names
}

fn usage(metadata: &Value) -> Usage {
    let field = |name: &str| json::count(metadata, &[name]);
    let (prompt, candidates, thoughts) =
        (field("promptTokenCount"), field("candidatesTokenCount"), field("thoughtsTokenCount"));
    let reported = prompt.is_some() || field("totalTokenCount").is_some();
    let output = json::add(candidates, thoughts).or(reported.then_some(0));
    Usage {
        input_tokens: prompt,
        output_tokens: output,
        cache_read_tokens: field("cachedContentTokenCount"),
        cache_creation_tokens: None,
        reasoning_tokens: thoughts,
    }
}

fn chunk(chunk: &Value, analysis: &mut Analysis) {
    if let Some(error) = json::error_member(chunk) {
        analysis.error = Some(error);
    }
    analysis.response_id = analysis.response_id.take().or_else(|| json::non_empty(chunk, &["responseId"]));
    analysis.model_answered = analysis.model_answered.take().or_else(|| json::non_empty(chunk, &["modelVersion"]));
    if let Some(metadata) = chunk.get("usageMetadata").filter(|m| m.is_object()) {
        analysis.usage = usage(metadata);
    }
    let candidates = json::array(chunk, &["candidates"]);
    if candidates.is_empty()
        && let Some(blocked) = json::non_empty(chunk, &["promptFeedback", "blockReason"])
    {
        analysis.finish_reason = Some(blocked);
    }
    for (position, candidate) in (0u64..).zip(candidates) {
        if let Some(reason) = json::non_empty(candidate, &["finishReason"])
            && (json::count(candidate, &["index"]).unwrap_or(position) == 0 || analysis.finish_reason.is_none())
        {
            analysis.finish_reason = Some(reason);
        }
        for part in json::array(candidate, &["content", "parts"]) {
            let Some(call) = part.get("functionCall").or_else(|| part.get("function_call")) else { continue };
            analysis.tool_calls.push(ToolCall {
                id: json::non_empty(call, &["id"]),
                name: json::string(call, &["name"]).unwrap_or_default(),
                arguments: json::compact(call.get("args")),
            });
        }
    }
}

#[cfg(test)]
mod tests;
