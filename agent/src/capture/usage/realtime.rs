//! OpenAI's Realtime API (`wss://…/v1/realtime?model=…`), recorded turn by turn from its
//! WebSocket (`websocket/turns.rs`): the request body holds the client's events, one per
//! line (`session.update` sets the model and declares tools, `response.create` asks and
//! may override both), the response body the server's events as SSE data. The model
//! asked for is the URL's `model`, or the last one the client's events set; the one that
//! answered is the session's (`session.created`, `session.updated`). `response.done`
//! carries the whole response: its id, status, output items and usage.
use serde_json::Value;

use super::{Analysis, Decoded, ProviderError, json, openai, responses};

pub(super) fn analyze(request: &[u8], path: &str, body: &Decoded, analysis: &mut Analysis) {
    let sent: Vec<Value> =
        request.split(|&b| b == b'\n').filter_map(|line| serde_json::from_slice(line).ok()).collect();
    let configs = || {
        sent.iter().filter_map(|event| match json::string(event, &["type"]).as_deref() {
            Some("session.update") => event.get("session"),
            Some("response.create") => event.get("response"),
            _ => None,
        })
    };
    analysis.model_requested =
        query_model(path).or_else(|| configs().rev().find_map(|c| json::non_empty(c, &["model"])));
    for config in configs() {
        for tool in json::array(config, &["tools"]) {
            if let Some(name) = json::non_empty(tool, &["name"])
                && !analysis.tools_declared.contains(&name)
            {
                analysis.tools_declared.push(name);
            }
        }
    }
    let Decoded::Stream(events) = body else { return };
    for event in events {
        match json::string(event, &["type"]).unwrap_or_default().as_str() {
            "session.created" | "session.updated" => {
                if let Some(model) = json::non_empty(event, &["session", "model"]) {
                    analysis.model_answered = Some(model);
                }
            }
            "response.done" => response(event.get("response").unwrap_or(&Value::Null), analysis),
            "error" => {
                analysis.error = json::error_member(event);
            }
            _ => {}
        }
    }
}

/// The finished response: id, usage, why it stopped, tool calls, a failure's error.
fn response(value: &Value, analysis: &mut Analysis) {
    analysis.response_id = json::non_empty(value, &["id"]).or(analysis.response_id.take());
    if let Some(usage) = value.get("usage").and_then(openai::usage) {
        analysis.usage = usage;
    }
    let reason = json::non_empty(value, &["status_details", "reason"]).or_else(|| json::non_empty(value, &["status"]));
    if reason.is_some() {
        analysis.finish_reason = reason;
    }
    if let Some(error) = json::at(value, &["status_details", "error"]).filter(|e| !e.is_null()) {
        analysis.error =
            Some(ProviderError { kind: json::string(error, &["type"]), message: json::string(error, &["message"]) });
    }
    let calls: Vec<_> = json::array(value, &["output"]).iter().filter_map(responses::output_call).collect();
    if !calls.is_empty() {
        analysis.tool_calls = calls;
    }
}

/// `model` from the path's query (`/v1/realtime?model=gpt-realtime`).
fn query_model(path: &str) -> Option<String> {
    let (_, query) = path.split_once('?')?;
    query.split('&').find_map(|pair| pair.strip_prefix("model=")).filter(|m| !m.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests;
