use serde_json::json;

use super::super::tests::{call, names, run, some};
use super::super::{Analysis, ApiKind, ProviderError, ResponseBody, Usage, analyze};

#[test]
fn generate_with_parallel_function_calls_cache_and_thoughts() {
    let request = json!({
        "contents": [{"role": "user", "parts": [{"text": "Weather and time in Paris?"}]}],
        "tools": [
            {"functionDeclarations": [{"name": "get_weather"}, {"name": "get_time"}]},
            {"googleSearch": {}},
        ],
    });
    let path = "/v1beta/models/gemini-2.5-flash:generateContent";
    let got = run(ApiKind::GeminiGenerate, path, &request, 200, "gemini_generate.json");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::GeminiGenerate),
            model_requested: some("gemini-2.5-flash"),
            model_answered: some("gemini-2.5-flash"),
            response_id: some("mD2TaL_9F7-xz7IP5sGX8Ak"),
            stream: false,
            // Output adds the thoughts that candidatesTokenCount leaves out: 38 + 210.
            usage: Usage {
                input_tokens: Some(5312),
                output_tokens: Some(248),
                cache_read_tokens: Some(4096),
                cache_creation_tokens: None,
                reasoning_tokens: Some(210),
            },
            tools_declared: names(&["get_weather", "get_time", "googleSearch"]),
            tool_calls: vec![
                call(None, "get_weather", r#"{"location":"Paris"}"#),
                call(None, "get_time", r#"{"timezone":"Europe/Paris"}"#),
            ],
            error: None,
            finish_reason: some("STOP"),
        }
    );
}

#[test]
fn sse_stream_takes_the_last_running_usage() {
    let request = json!({"tools": [{"function_declarations": [{"name": "get_weather"}]}]});
    let path = "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse";
    let got = run(ApiKind::GeminiStreamGenerate, path, &request, 200, "gemini_stream.sse");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::GeminiStreamGenerate),
            model_requested: some("gemini-2.5-pro"),
            model_answered: some("gemini-2.5-pro"),
            response_id: some("rF2TaO3bA8i"),
            stream: true,
            usage: Usage {
                input_tokens: Some(9),
                output_tokens: Some(20 + 1024),
                cache_read_tokens: None,
                cache_creation_tokens: None,
                reasoning_tokens: Some(1024),
            },
            tools_declared: names(&["get_weather"]),
            tool_calls: vec![call(None, "get_weather", r#"{"city":"Paris"}"#)],
            error: None,
            finish_reason: some("STOP"),
        }
    );
}

#[test]
fn json_array_stream() {
    let path = "/v1beta/models/gemini-2.0-flash:streamGenerateContent";
    let got = run(ApiKind::GeminiStreamGenerate, path, &json!({"contents": []}), 200, "gemini_stream_array.json");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::GeminiStreamGenerate),
            model_requested: some("gemini-2.0-flash"),
            model_answered: some("gemini-2.0-flash"),
            response_id: None,
            stream: true,
            usage: Usage { input_tokens: Some(4), output_tokens: Some(2), ..Usage::default() },
            tools_declared: vec![],
            tool_calls: vec![],
            error: None,
            finish_reason: some("STOP"),
        }
    );
}

#[test]
fn error_body() {
    let path = "/v1beta/models/gemini-2.5-flash:generateContent";
    let got = run(ApiKind::GeminiGenerate, path, &json!({}), 400, "gemini_error.json");
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::GeminiGenerate),
            model_requested: some("gemini-2.5-flash"),
            error: Some(ProviderError {
                kind: some("INVALID_ARGUMENT"),
                message: some("API key not valid. Please pass a valid API key."),
            }),
            ..Analysis::default()
        }
    );
}

#[test]
fn embed_reports_no_usage() {
    let body = br#"{"embedding": {"values": [0.013, -0.008]}}"#;
    let path = "/v1beta/models/gemini-embedding-001:embedContent";
    let got =
        analyze(ApiKind::GeminiEmbed, path, br#"{"content":{"parts":[{"text":"hi"}]}}"#, 200, ResponseBody::Json(body));
    assert_eq!(
        got,
        Analysis {
            api: Some(ApiKind::GeminiEmbed),
            model_requested: some("gemini-embedding-001"),
            ..Analysis::default()
        }
    );
}

#[test]
fn a_blocked_prompt_reports_why_and_zero_output() {
    // Gemini omits zero counts: a usageMetadata without candidatesTokenCount means none.
    let body = br#"{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}"#;
    let path = "/v1beta/models/gemini-2.5-flash:generateContent";
    let got = analyze(ApiKind::GeminiGenerate, path, b"{}", 200, ResponseBody::Json(body));
    assert_eq!(got.finish_reason, some("SAFETY"));
    assert_eq!(got.usage, Usage { input_tokens: Some(7), output_tokens: Some(0), ..Usage::default() });
}
