//! The canned responses of the fake provider, fixed byte for byte so a test can compare
//! what a client received with what the provider sent.

use std::sync::OnceLock;

use bytes::Bytes;

/// Model named in every response.
pub const MODEL: &str = "gpt-4o-mini-2024-07-18";

/// `choices[0].message.content` of the non-streamed chat completion.
pub const CHAT_TEXT: &str = "Hello from the glassbox fake provider. This reply is a fixed \
fixture: it has no meaning beyond its size and its shape, which follow a real OpenAI chat \
completion closely enough for the official SDKs to parse it. Each byte of it is known in \
advance, so an end-to-end test can check that a client behind the transparent proxy \
received exactly what the provider sent, no more and no less, and that nothing was \
reordered, re-encoded or truncated on the way through.";

/// The `delta.content` of each streamed chunk, in order.
pub const STREAM_DELTAS: [&str; 8] =
    ["Hello", " from", " the", " streaming", " fake", " provider", ",", " event by event."];

/// The text a streaming client assembles from [`STREAM_DELTAS`].
pub fn stream_text() -> String {
    STREAM_DELTAS.concat()
}

/// Body of `POST /v1/chat/completions` without `"stream": true` (about 1 KB).
pub fn chat_completion() -> &'static Bytes {
    static BODY: OnceLock<Bytes> = OnceLock::new();
    BODY.get_or_init(|| {
        let content = serde_json::to_string(CHAT_TEXT).unwrap();
        Bytes::from(format!(
            r#"{{"id":"chatcmpl-glassboxfixture0001","object":"chat.completion","created":1767225600,"model":"{MODEL}","choices":[{{"index":0,"message":{{"role":"assistant","content":{content},"refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":25,"completion_tokens":92,"total_tokens":117,"prompt_tokens_details":{{"cached_tokens":0,"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}},"service_tier":"default","system_fingerprint":"fp_glassbox"}}"#
        ))
    })
}

/// The SSE events of a streamed chat completion, each one `data: …\n\n`, sent one by one:
/// a role chunk, one chunk per delta, a finish chunk, a usage chunk, then `[DONE]`.
pub fn chat_chunks() -> &'static [Bytes] {
    static CHUNKS: OnceLock<Vec<Bytes>> = OnceLock::new();
    CHUNKS.get_or_init(|| {
        let chunk = |choices: &str, usage: &str| {
            Bytes::from(format!(
                "data: {{\"id\":\"chatcmpl-glassboxfixture0002\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,\"model\":\"{MODEL}\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_glassbox\",\"choices\":[{choices}],\"usage\":{usage}}}\n\n"
            ))
        };
        let choice = |delta: &str, finish: &str| {
            format!(r#"{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}"#)
        };
        let mut chunks = vec![chunk(
            &choice(r#"{"role":"assistant","content":"","refusal":null}"#, "null"),
            "null",
        )];
        for text in STREAM_DELTAS {
            let delta = format!(r#"{{"content":{}}}"#, serde_json::to_string(text).unwrap());
            chunks.push(chunk(&choice(&delta, "null"), "null"));
        }
        chunks.push(chunk(&choice("{}", r#""stop""#), "null"));
        chunks.push(chunk(
            "",
            r#"{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#,
        ));
        chunks.push(Bytes::from_static(b"data: [DONE]\n\n"));
        chunks
    })
}

/// All of [`chat_chunks`] concatenated: the exact body a streaming client receives.
pub fn chat_stream() -> Bytes {
    chat_chunks().concat().into()
}

/// Body of `GET /v1/models`.
pub fn models() -> &'static Bytes {
    static BODY: OnceLock<Bytes> = OnceLock::new();
    BODY.get_or_init(|| {
        Bytes::from_static(
            br#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"},{"id":"o3-mini","object":"model","created":1737146383,"owned_by":"system"}]}"#,
        )
    })
}

/// Body of any route the fake does not know, with status 404.
pub fn not_found() -> Bytes {
    Bytes::from_static(
        br#"{"error":{"message":"Unknown route on the glassbox fake provider.","type":"invalid_request_error","param":null,"code":"unknown_url"}}"#,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_completion_is_valid_and_about_a_kilobyte() {
        let body: serde_json::Value = serde_json::from_slice(chat_completion()).unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], CHAT_TEXT);
        let len = chat_completion().len();
        assert!((900..1400).contains(&len), "chat completion is {len} bytes");
    }

    #[test]
    fn chunks_are_valid_sse_and_assemble_the_stream_text() {
        let mut text = String::new();
        for chunk in chat_chunks() {
            let line = std::str::from_utf8(chunk).unwrap();
            let data = line.strip_prefix("data: ").unwrap().strip_suffix("\n\n").unwrap();
            if data == "[DONE]" {
                continue;
            }
            let event: serde_json::Value = serde_json::from_str(data).unwrap();
            if let Some(t) = event["choices"][0]["delta"]["content"].as_str() {
                text.push_str(t);
            }
        }
        assert_eq!(text, stream_text());
        assert!(chat_chunks().last().unwrap().ends_with(b"data: [DONE]\n\n"));
    }
}
