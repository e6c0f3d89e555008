use serde_json::{Value, json};

use super::super::tests::{call, data_events, names, run, some};
use super::super::{Analysis, ApiKind, ProviderError, ResponseBody, Usage, analyze};

const CHAT: &str = "/v1/chat/completions";

fn weather_request(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
        "messages": [{"role": "user", "content": "Weather and time in Paris?"}],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": if stream { "get_time" } else { "mcp__github__create_issue" }}},
        ],
    })
}

#[test]
fn chat_with_parallel_tool_calls_and_cached_tokens() {
    let got = run(ApiKind::OpenAiChat, CHAT, &weather_request("gpt-4o", false), 200, "openai_chat_tool_calls.json");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::OpenAiChat),
            model_requested: some("gpt-4o"),
            model_answered: some("gpt-4o-2024-08-06"),
            response_id: some("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"),
            stream: false,
            usage: Usage {
                input_tokens: Some(2006),
                output_tokens: Some(300),
                cache_read_tokens: Some(1920),
                cache_creation_tokens: None,
                reasoning_tokens: Some(0),
            },
            tools_declared: names(&["get_weather", "mcp__github__create_issue"]),
            tool_calls: vec![
                call(Some("call_kwDvNQ8sDrj9D3kXQWL6tPpE"), "get_weather", r#"{"location":"Paris, France"}"#),
                call(
                    Some("call_Xq3TAnB6kpSLkE3rjphHWn6P"),
                    "mcp__github__create_issue",
                    r#"{"repo":"acme/app","title":"Weather"}"#,
                ),
            ],
            error: None,
            finish_reason: some("tool_calls"),
        }
    );
}

#[test]
fn chat_reasoning_tokens_are_part_of_output() {
    let request = json!({"model": "o3-mini", "messages": [{"role": "user", "content": "?"}]});
    let got = run(ApiKind::OpenAiChat, CHAT, &request, 200, "openai_chat_reasoning.json");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::OpenAiChat),
            model_requested: some("o3-mini"),
            model_answered: some("o3-mini-2025-01-31"),
            response_id: some("chatcmpl-AyPp2"),
            stream: false,
            usage: Usage {
                input_tokens: Some(24),
                output_tokens: Some(1450),
                cache_read_tokens: Some(0),
                cache_creation_tokens: None,
                reasoning_tokens: Some(1408),
            },
            tools_declared: vec![],
            tool_calls: vec![],
            error: None,
            finish_reason: some("stop"),
        }
    );
}

#[test]
fn chat_error_body() {
    let got = run(ApiKind::OpenAiChat, CHAT, &json!({"model": "gpt-4o"}), 401, "openai_chat_error.json");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::OpenAiChat),
            model_requested: some("gpt-4o"),
            error: Some(ProviderError {
                kind: some("invalid_request_error"),
                message: some(
                    "Incorrect API key provided: sk-abc***xyz. You can find your API key at \
                     https://platform.openai.com/account/api-keys."
                ),
            }),
            ..Analysis::default()
        }
    );
}

#[test]
fn chat_stream_with_include_usage_reassembles_parallel_tool_calls() {
    let request = weather_request("gpt-4o-mini", true);
    let got = run(ApiKind::OpenAiChat, CHAT, &request, 200, "openai_chat_stream_tools_usage.sse");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::OpenAiChat),
            model_requested: some("gpt-4o-mini"),
            model_answered: some("gpt-4o-mini-2024-07-18"),
            response_id: some("chatcmpl-BdQp8"),
            stream: true,
            usage: Usage {
                input_tokens: Some(82),
                output_tokens: Some(53),
                cache_read_tokens: Some(0),
                cache_creation_tokens: None,
                reasoning_tokens: Some(0),
            },
            tools_declared: names(&["get_weather", "get_time"]),
            tool_calls: vec![
                call(Some("call_AAA"), "get_weather", r#"{"location": "Paris"}"#),
                call(Some("call_BBB"), "get_time", r#"{"tz": "Europe/Paris"}"#),
            ],
            error: None,
            finish_reason: some("tool_calls"),
        }
    );
}

#[test]
fn chat_stream_without_include_usage_leaves_usage_unknown() {
    let request = json!({"model": "gpt-4o", "stream": true, "messages": []});
    let got = run(ApiKind::OpenAiChat, CHAT, &request, 200, "openai_chat_stream_no_usage.sse");
    assert!(got.usage.is_unknown());
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::OpenAiChat),
            model_requested: some("gpt-4o"),
            model_answered: some("gpt-4o-2024-08-06"),
            response_id: some("chatcmpl-Cq1"),
            stream: true,
            usage: Usage::default(),
            tools_declared: vec![],
            tool_calls: vec![],
            error: None,
            finish_reason: some("stop"),
        }
    );
}

#[test]
fn chat_error_inside_a_stream() {
    let request = json!({"model": "gpt-4o", "stream": true});
    let got = run(ApiKind::OpenAiChat, CHAT, &request, 200, "openai_chat_stream_error.sse");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::OpenAiChat),
            model_requested: some("gpt-4o"),
            model_answered: some("gpt-4o-2024-08-06"),
            response_id: some("chatcmpl-Err"),
            stream: true,
            error: Some(ProviderError {
                kind: some("server_error"),
                message: some("The server had an error while processing your request. Sorry about that!"),
            }),
            ..Analysis::default()
        }
    );
}

#[test]
fn embeddings_report_input_only() {
    let request = json!({"model": "text-embedding-3-small", "input": "The food was delicious"});
    let got = run(ApiKind::OpenAiEmbeddings, "/v1/embeddings", &request, 200, "openai_embeddings.json");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::OpenAiEmbeddings),
            model_requested: some("text-embedding-3-small"),
            model_answered: some("text-embedding-3-small"),
            usage: Usage { input_tokens: Some(8), ..Usage::default() },
            ..Analysis::default()
        }
    );
}

#[test]
fn xai_reasoning_outside_completion_tokens_is_added_to_output() {
    let body = json!({
        "id": "a1b2", "object": "chat.completion", "model": "grok-3-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 32, "completion_tokens": 9, "total_tokens": 135,
                  "prompt_tokens_details": {"cached_tokens": 6},
                  "completion_tokens_details": {"reasoning_tokens": 94}},
    })
    .to_string();
    let got = analyze(ApiKind::OpenAiChat, CHAT, b"{}", 200, ResponseBody::Json(body.as_bytes()));
    let want = Usage {
        input_tokens: Some(32),
        output_tokens: Some(103),
        cache_read_tokens: Some(6),
        cache_creation_tokens: None,
        reasoning_tokens: Some(94),
    };
    assert_eq!(got.usage, want);
}

#[test]
fn compatible_provider_quirks() {
    // groq: usage in `x_groq`; DeepSeek: cache hits as `prompt_cache_hit_tokens`; a provider
    // that numbers every call `index: 0` and sends each whole, told apart by id; the
    // legacy `function_call` delta.
    let chunk = |delta: Value, extra: Value| {
        let mut chunk =
            json!({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": null}]});
        if let (Some(chunk), Some(extra)) = (chunk.as_object_mut(), extra.as_object()) {
            chunk.extend(extra.clone());
        }
        chunk
    };
    let one = |id: &str, name: &str| json!({"tool_calls": [{"index": 0, "id": id, "function": {"name": name, "arguments": "{}"}}]});
    let events = data_events(&[
        chunk(one("a", "first"), json!({})),
        chunk(one("b", "second"), json!({})),
        chunk(
            json!({}),
            json!({"x_groq": {"usage": {"prompt_tokens": 10, "completion_tokens": 2, "prompt_cache_hit_tokens": 4}}}),
        ),
    ]);
    let got = analyze(ApiKind::OpenAiChat, CHAT, b"{}", 200, ResponseBody::Sse(&events));
    assert_eq!(got.tool_calls, vec![call(Some("a"), "first", "{}"), call(Some("b"), "second", "{}")]);
    let want = Usage { input_tokens: Some(10), output_tokens: Some(2), cache_read_tokens: Some(4), ..Usage::default() };
    assert_eq!(got.usage, want);

    let legacy = data_events(&[
        chunk(json!({"function_call": {"name": "lookup", "arguments": ""}}), json!({})),
        chunk(json!({"function_call": {"arguments": "{\"q\":1}"}}), json!({})),
    ]);
    let got =
        analyze(ApiKind::OpenAiChat, CHAT, br#"{"functions":[{"name":"lookup"}]}"#, 200, ResponseBody::Sse(&legacy));
    assert_eq!(got.tool_calls, vec![call(None, "lookup", r#"{"q":1}"#)]);
    assert_eq!(got.tools_declared, names(&["lookup"]));
}

#[test]
fn legacy_completions_json() {
    let body = br#"{"id":"cmpl-1","object":"text_completion","model":"gpt-3.5-turbo-instruct",
        "choices":[{"text":"Hi","index":0,"finish_reason":"length"}],
        "usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#;
    let got = analyze(ApiKind::OpenAiCompletions, "/v1/completions", b"{}", 200, ResponseBody::Json(body));
    assert_eq!(got.finish_reason, some("length"));
    assert_eq!(got.usage, Usage { input_tokens: Some(5), output_tokens: Some(7), ..Usage::default() });
}
