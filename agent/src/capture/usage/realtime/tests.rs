use serde_json::json;

use super::super::{ApiKind, ResponseBody, ToolCall, Usage, analyze};

/// A turn as the WebSocket recorder stores it: client events one per line, server
/// events as SSE data.
fn turn(client: &[serde_json::Value], server: &[serde_json::Value]) -> (Vec<u8>, Vec<u8>) {
    let request = client.iter().map(|e| format!("{e}\n")).collect::<String>().into_bytes();
    let response = server.iter().map(|e| format!("data: {e}\n\n")).collect::<String>().into_bytes();
    (request, response)
}

#[test]
fn a_realtime_turn_gives_model_tools_usage_and_calls() {
    let (request, response) = turn(
        &[
            json!({"type": "session.update", "session": {"type": "realtime", "model": "gpt-realtime",
                "tools": [{"type": "function", "name": "get_weather"}, {"type": "function", "name": "lookup"}]}}),
            json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "Weather in Paris?"}]}}),
            json!({"type": "response.create"}),
        ],
        &[
            json!({"type": "session.updated", "session": {"model": "gpt-realtime-2025-08-28"}}),
            json!({"type": "response.created", "response": {"id": "resp_rt1", "status": "in_progress"}}),
            json!({"type": "response.done", "response": {"id": "resp_rt1", "status": "completed",
                "output": [{"type": "function_call", "name": "get_weather", "call_id": "call_1", "arguments": "{\"city\":\"Paris\"}"}],
                "usage": {"total_tokens": 260, "input_tokens": 200, "output_tokens": 60,
                    "input_token_details": {"cached_tokens": 128, "text_tokens": 200, "audio_tokens": 0},
                    "output_token_details": {"text_tokens": 60, "audio_tokens": 0}}}}),
        ],
    );
    let a = analyze(
        ApiKind::OpenAiRealtime,
        "/v1/realtime?model=gpt-realtime",
        &request,
        101,
        ResponseBody::Other(&response),
    );
    assert_eq!(a.api, Some(ApiKind::OpenAiRealtime));
    assert_eq!(a.model_requested.as_deref(), Some("gpt-realtime"));
    assert_eq!(a.model_answered.as_deref(), Some("gpt-realtime-2025-08-28"));
    assert!(a.stream);
    assert_eq!(a.tools_declared, vec!["get_weather", "lookup"]);
    assert_eq!(a.response_id.as_deref(), Some("resp_rt1"));
    assert_eq!(a.finish_reason.as_deref(), Some("completed"));
    assert_eq!(
        a.usage,
        Usage {
            input_tokens: Some(200),
            output_tokens: Some(60),
            cache_read_tokens: Some(128),
            cache_creation_tokens: None,
            reasoning_tokens: None
        }
    );
    assert_eq!(
        a.tool_calls,
        vec![ToolCall {
            id: Some("call_1".into()),
            name: "get_weather".into(),
            arguments: "{\"city\":\"Paris\"}".into()
        }]
    );
    assert!(a.error.is_none());
}

#[test]
fn the_model_comes_from_the_clients_events_without_a_query_and_failures_are_errors() {
    let (request, response) = turn(
        &[
            json!({"type": "response.create", "response": {"model": "gpt-4o-realtime-preview", "tools": [{"name": "t"}]}}),
        ],
        &[json!({"type": "response.done", "response": {"id": "resp_2", "status": "failed",
            "status_details": {"type": "failed", "reason": "rate_limited",
                "error": {"type": "rate_limit_error", "message": "slow down"}}}})],
    );
    let a = analyze(ApiKind::OpenAiRealtime, "/v1/realtime", &request, 101, ResponseBody::Other(&response));
    assert_eq!(a.model_requested.as_deref(), Some("gpt-4o-realtime-preview"));
    assert_eq!(a.tools_declared, vec!["t"]);
    assert_eq!(a.finish_reason.as_deref(), Some("rate_limited"));
    let error = a.error.expect("the failure is the provider's error");
    assert_eq!(error.kind.as_deref(), Some("rate_limit_error"));
    assert_eq!(error.message.as_deref(), Some("slow down"));
    assert!(a.usage.is_unknown());
}

#[test]
fn an_error_event_is_the_providers_error() {
    let (request, response) = turn(
        &[json!({"type": "response.create"})],
        &[json!({"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}})],
    );
    let a = analyze(ApiKind::OpenAiRealtime, "/v1/realtime?model=m", &request, 101, ResponseBody::Other(&response));
    assert_eq!(a.error.and_then(|e| e.message).as_deref(), Some("bad"));
}
