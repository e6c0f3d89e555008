//! A fake assistant for real coding agents (Claude Code, Codex): routes that answer every
//! turn with one short text reply, valid enough for the CLIs to finish a non-interactive
//! run. The reply follows the request: streamed as SSE when the body asks for a stream,
//! one JSON object otherwise; the model named is the model asked for; every response gets
//! a fresh id (`msg_glassbox_<n>`, `resp_glassbox_<n>`), so `previous_response_id` chains
//! stay unambiguous. A text reply with no tool use ends the agent's turn: the CLI never
//! runs a tool on this machine.
//!
//! ```no_run
//! # use glassbox_tests::FakeProvider;
//! # use glassbox_tests::fake::assistant;
//! let fake = assistant::responses(assistant::anthropic(FakeProvider::new())).start();
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::Method;
use serde_json::{Value, json};

use super::{Canned, FakeProvider, SeenRequest};

/// What the assistant says, every turn.
pub const REPLY: &str = "Hi from the glassbox fake assistant.";

/// Input and output tokens reported for every Anthropic reply.
pub const ANTHROPIC_USAGE: (u64, u64) = (25, 9);

/// Input and output tokens reported for every Responses reply.
pub const RESPONSES_USAGE: (u64, u64) = (40, 11);

/// Adds Anthropic's `POST /v1/messages` (stream or JSON) and `POST
/// /v1/messages/count_tokens`.
pub fn anthropic(fake: FakeProvider) -> FakeProvider {
    let n = Arc::new(AtomicUsize::new(0));
    fake.route_fn(Method::POST, "/v1/messages", move |seen| {
        let id = format!("msg_glassbox_{}", n.fetch_add(1, Ordering::Relaxed) + 1);
        anthropic_reply(seen, &id)
    })
    .route_fn(Method::POST, "/v1/messages/count_tokens", |_| {
        Canned::json(200, json!({"input_tokens": ANTHROPIC_USAGE.0}).to_string())
    })
}

/// Adds OpenAI's `POST /v1/responses` (stream or JSON).
pub fn responses(fake: FakeProvider) -> FakeProvider {
    let n = Arc::new(AtomicUsize::new(0));
    fake.route_fn(Method::POST, "/v1/responses", move |seen| {
        let id = format!("resp_glassbox_{}", n.fetch_add(1, Ordering::Relaxed) + 1);
        responses_reply(seen, &id)
    })
}

/// The request body as JSON, or Null.
fn body(seen: &SeenRequest) -> Value {
    serde_json::from_slice(&seen.body).unwrap_or(Value::Null)
}

fn model(body: &Value, default: &str) -> String {
    body["model"].as_str().unwrap_or(default).to_owned()
}

/// One Anthropic Messages reply with id `id`.
pub fn anthropic_reply(seen: &SeenRequest, id: &str) -> Canned {
    let body = body(seen);
    let model = model(&body, "claude-sonnet-4-5-20250929");
    let (input, output) = ANTHROPIC_USAGE;
    let usage = json!({
        "input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
        "output_tokens": output,
    });
    if body["stream"] != true {
        let message = json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": REPLY}],
            "stop_reason": "end_turn", "stop_sequence": null, "usage": usage,
        });
        return Canned::json(200, message.to_string()).header("request-id", &format!("req_{id}"));
    }
    let start = json!({"type": "message_start", "message": {
        "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1},
    }});
    let events = [
        ("message_start", start),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": REPLY}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": output}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    Canned::sse(sse(&events)).header("request-id", &format!("req_{id}"))
}

/// One OpenAI Responses reply with id `id`.
pub fn responses_reply(seen: &SeenRequest, id: &str) -> Canned {
    let body = body(seen);
    match responses_events(&body, id) {
        Ok(events) => Canned::sse(sse(&events)),
        Err(whole) => Canned::json(200, whole.to_string()),
    }
}

/// Adds OpenAI's Responses API over a WebSocket (`GET /v1/responses`, as Codex asks for
/// it): each `response.create` message is answered with the events of one streamed reply,
/// one message each.
pub fn responses_websocket(fake: FakeProvider) -> FakeProvider {
    on_response_create(fake, "/v1/responses", "resp_glassbox", |mut body, id| {
        body["stream"] = Value::Bool(true);
        responses_events(&body, id).unwrap_or_default().into_iter().map(|(_, data)| data).collect()
    })
}

/// A WebSocket route on `path` answering each `response.create` message with the events
/// `reply` makes of it and a fresh id (`{prefix}_<n>`); other messages get no answer.
fn on_response_create(
    fake: FakeProvider,
    path: &str,
    prefix: &'static str,
    reply: impl Fn(Value, &str) -> Vec<Value> + Send + Sync + 'static,
) -> FakeProvider {
    let n = AtomicUsize::new(0);
    fake.websocket(path, move |message| {
        let Ok(event) = serde_json::from_str::<Value>(message) else { return Vec::new() };
        if event["type"] != "response.create" {
            return Vec::new();
        }
        let id = format!("{prefix}_{}", n.fetch_add(1, Ordering::Relaxed) + 1);
        reply(event, &id).iter().map(Value::to_string).collect()
    })
}

/// Input and output tokens of every Realtime reply.
pub const REALTIME_USAGE: (u64, u64) = (120, 30);

/// Adds OpenAI's Realtime API (`GET /v1/realtime`, a WebSocket): each `response.create`
/// is answered with a text reply's events, ending with `response.done` and its usage.
pub fn realtime_websocket(fake: FakeProvider) -> FakeProvider {
    on_response_create(fake, "/v1/realtime", "resp_rt", |_, id| {
        let (input, output) = REALTIME_USAGE;
        let item = json!({"id": format!("item_{id}"), "type": "message", "role": "assistant",
            "content": [{"type": "output_text", "text": REPLY}]});
        vec![
            json!({"type": "response.created", "response": {"id": id, "object": "realtime.response", "status": "in_progress", "output": []}}),
            json!({"type": "response.output_text.delta", "response_id": id, "item_id": format!("item_{id}"), "delta": REPLY}),
            json!({"type": "response.done", "response": {"id": id, "object": "realtime.response", "status": "completed",
                "output": [item],
                "usage": {"total_tokens": input + output, "input_tokens": input, "output_tokens": output,
                    "input_token_details": {"cached_tokens": 0, "text_tokens": input, "audio_tokens": 0},
                    "output_token_details": {"text_tokens": output, "audio_tokens": 0}}}}),
        ]
    })
}

/// The events of one streamed Responses reply with id `id` to the request `body`; the
/// whole response instead when the body does not ask for a stream.
fn responses_events(body: &Value, id: &str) -> Result<Vec<(&'static str, Value)>, Value> {
    let model = model(body, "gpt-5-codex");
    let (input, output) = RESPONSES_USAGE;
    let item_id = format!("msg_{id}");
    let text = json!({"type": "output_text", "text": REPLY, "annotations": []});
    let item = json!({"id": item_id, "type": "message", "status": "completed", "role": "assistant", "content": [text]});
    let usage = json!({
        "input_tokens": input, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    });
    let response = |status: &str, output: Value, usage: Value| {
        json!({
            "id": id, "object": "response", "created_at": 1_767_225_600, "status": status, "model": model,
            "output": output, "usage": usage, "error": null, "incomplete_details": null,
            "previous_response_id": body["previous_response_id"],
        })
    };
    if body["stream"] != true {
        return Err(response("completed", json!([item]), usage));
    }
    Ok(vec![
        (
            "response.created",
            json!({"type": "response.created", "sequence_number": 0, "response": response("in_progress", json!([]), Value::Null)}),
        ),
        (
            "response.in_progress",
            json!({"type": "response.in_progress", "sequence_number": 1, "response": response("in_progress", json!([]), Value::Null)}),
        ),
        (
            "response.output_item.added",
            json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
            "item": {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
        ),
        (
            "response.content_part.added",
            json!({"type": "response.content_part.added", "sequence_number": 3, "item_id": item_id,
            "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        ),
        (
            "response.output_text.delta",
            json!({"type": "response.output_text.delta", "sequence_number": 4, "item_id": item_id,
            "output_index": 0, "content_index": 0, "delta": REPLY}),
        ),
        (
            "response.output_text.done",
            json!({"type": "response.output_text.done", "sequence_number": 5, "item_id": item_id,
            "output_index": 0, "content_index": 0, "text": REPLY}),
        ),
        (
            "response.content_part.done",
            json!({"type": "response.content_part.done", "sequence_number": 6, "item_id": item_id,
            "output_index": 0, "content_index": 0, "part": text}),
        ),
        (
            "response.output_item.done",
            json!({"type": "response.output_item.done", "sequence_number": 7, "output_index": 0, "item": item}),
        ),
        (
            "response.completed",
            json!({"type": "response.completed", "sequence_number": 8, "response": response("completed", json!([item]), usage)}),
        ),
    ])
}

/// `event: NAME\ndata: JSON\n\n` for each event.
fn sse(events: &[(&str, Value)]) -> String {
    events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect()
}
