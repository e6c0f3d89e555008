//! Bodies as glassbox stores them: byte for byte over HTTP/1.1 and h2 (an SSE stream
//! reassembled in order from its events); past `max_body_mb` the stored copy is cut and
//! marked truncated while the client and the provider still get every byte; a stream the
//! provider cuts is recorded as incomplete with every event before the cut kept; a chunked
//! upload streams upstream whole over either protocol.

use glassbox_tests::check::{assert_bytes_eq, assert_fields};
use glassbox_tests::fixtures::read;
use glassbox_tests::{Canned, FakeProvider};
use http::Method;
use serde_json::json;

use crate::calls::{self, post_with, recorded};
use crate::usage::usage;
use crate::world::{ANTHROPIC, CHAT_PATH, OPENAI};

const MESSAGES: &str = "/v1/messages";
const ANTHROPIC_HEADERS: &[(&str, &str)] = &[
    ("content-type", "application/json"),
    ("x-api-key", "sk-ant-api03-glassbox-capture-test"),
    ("anthropic-version", "2023-06-01"),
];
const OPENAI_HEADERS: &[(&str, &str)] =
    &[("content-type", "application/json"), ("authorization", "Bearer sk-proj-glassbox-capture-test")];

fn messages_request(stream: bool) -> String {
    json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 1024,
        "stream": stream,
        "messages": [{"role": "user", "content": "Read src/main.rs and file an issue."}],
    })
    .to_string()
}

#[test]
fn bodies_are_stored_byte_for_byte_over_http1_and_h2() {
    let json_answer = Canned::json(200, read("openai_chat_tool_calls.json"));
    let sse_answer = Canned::sse(read("anthropic_stream.sse"));
    let fake = FakeProvider::new().route(Method::POST, CHAT_PATH, json_answer.clone()).route(
        Method::POST,
        MESSAGES,
        sse_answer.clone(),
    );
    let w = calls::world("bodies_exact", fake, "");
    let chat = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Weather in Paris?"}]}).to_string();
    let stream = messages_request(true);
    for (n, version) in ["--http1.1", "--http2"].into_iter().enumerate() {
        let url = format!("https://{OPENAI}{CHAT_PATH}");
        let out = post_with(&w, &[version], &url, OPENAI_HEADERS, chat.as_bytes());
        out.assert_success();
        assert_bytes_eq(&out.stdout, json_answer.body(), &format!("{version}: what curl received (JSON)"));
        let rec = recorded(&w, &format!("{version} JSON chat"), CHAT_PATH, n);
        assert_bytes_eq(rec.request_body().as_bytes(), chat.as_bytes(), &format!("{version}: stored JSON request"));
        assert_bytes_eq(
            rec.response_body().as_bytes(),
            json_answer.body(),
            &format!("{version}: stored JSON response"),
        );

        let url = format!("https://{ANTHROPIC}{MESSAGES}");
        let out = post_with(&w, &[version], &url, ANTHROPIC_HEADERS, stream.as_bytes());
        out.assert_success();
        assert_bytes_eq(&out.stdout, sse_answer.body(), &format!("{version}: what curl received (SSE)"));
        let rec = recorded(&w, &format!("{version} SSE messages"), MESSAGES, n);
        assert_bytes_eq(rec.request_body().as_bytes(), stream.as_bytes(), &format!("{version}: stored SSE request"));
        // The fake wrote the 18 events one by one, 20 ms apart: the store joins them in order.
        assert_bytes_eq(rec.response_body().as_bytes(), sse_answer.body(), &format!("{version}: stored SSE response"));
        let want_version = if version == "--http1.1" { "HTTP/1.1" } else { "HTTP/2" };
        assert_fields(&rec.record, &json!({"http_version": want_version, "stream": true, "stream_events": 18}));
    }
}

const MIB: usize = 1024 * 1024;

/// A valid chat completion of about `size` bytes: its content is a long run of text.
fn large_completion(size: usize) -> String {
    let head = r#"{"id":"chatcmpl-large","object":"chat.completion","created":1767225600,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":""#;
    let tail = r#""},"finish_reason":"stop"}]}"#;
    let filler: String = (0..size - head.len() - tail.len()).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    format!("{head}{filler}{tail}")
}

#[test]
fn bodies_past_the_cap_are_truncated_in_the_store_only() {
    let response = large_completion(3 * MIB);
    let fake = FakeProvider::new().route(Method::POST, CHAT_PATH, Canned::json(200, response.clone()));
    let w = calls::world("body_cap", fake, "[capture]\nmax_body_mb = 1\n");
    let prompt: String = (0..2 * MIB).map(|i| char::from(b'A' + (i % 26) as u8)).collect();
    let request = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}).to_string();
    let url = format!("https://{OPENAI}{CHAT_PATH}");
    let out = post_with(&w, &[], &url, OPENAI_HEADERS, request.as_bytes());
    out.assert_success();
    assert_bytes_eq(&out.stdout, response.as_bytes(), "the client must receive all 3 MiB despite the cap");
    let seen = w.fake.requests();
    assert_eq!(seen.len(), 1, "the fake should see one request");
    assert_bytes_eq(&seen[0].body, request.as_bytes(), "the provider must receive the whole 2 MiB request");

    let rec = recorded(&w, "the 3 MiB response", CHAT_PATH, 0);
    assert_fields(
        &rec.record,
        &json!({
            "status": 200, "outcome": "complete",
            "bytes_sent": request.len(), "bytes_received": response.len(),
            "request_truncated": true, "response_truncated": true,
        }),
    );
    for (what, stored, full) in
        [("request", rec.request_body(), request.as_str()), ("response", rec.response_body(), response.as_str())]
    {
        assert!(
            !stored.is_empty() && stored.len() <= MIB && full.starts_with(stored),
            "the stored {what} should be a non-empty prefix of at most 1 MiB of the {} bytes sent; it has {} bytes",
            full.len(),
            stored.len()
        );
    }
}

/// Events of `anthropic_stream.sse` the fake sends before it cuts the stream.
const BEFORE_CUT: usize = 6;

/// The provider sends [`BEFORE_CUT`] events, then abandons the response: over h2 a reset
/// stream, over HTTP/1.1 a connection closed inside the chunked body.
fn cut_stream(name: &str, fake: FakeProvider, upstream_version: &str) {
    let answer = Canned::sse(read("anthropic_stream.sse")).cut_after(BEFORE_CUT);
    let w = calls::world(name, fake.route(Method::POST, MESSAGES, answer.clone()), "");
    let request = messages_request(true);
    let out = post_with(&w, &[], &format!("https://{ANTHROPIC}{MESSAGES}"), ANTHROPIC_HEADERS, &request.into_bytes());
    assert!(!out.success(), "curl should report the cut stream as a failed transfer; it exited 0");
    assert_bytes_eq(&out.stdout, &answer.sent(), "the client should get every event sent before the cut");

    let rec = recorded(&w, "the cut stream", MESSAGES, 0);
    assert_fields(
        &rec.record,
        &json!({
            "status": 200, "upstream_version": upstream_version,
            "outcome": "upstream_error", "stream": true, "stream_complete": false, "stream_events": BEFORE_CUT,
            "bytes_received": answer.sent().len(), "response_truncated": false,
            "response_id": "msg_01Stream", "response_model": "claude-sonnet-4-5-20250929",
            // message_start's counts, the only ones sent before the cut.
            "usage": usage([Some(83_980), Some(1), Some(81_920), Some(2048), None]),
        }),
    );
    let error = rec.record["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "a cut stream should carry a transport error: {}", rec.record);
    assert_bytes_eq(rec.response_body().as_bytes(), &answer.sent(), "stored body vs every event before the cut");
}

#[test]
fn cut_stream_over_h2_keeps_every_event_before_the_cut() {
    cut_stream("cut_h2", FakeProvider::new(), "HTTP/2");
}

#[test]
fn cut_stream_over_http1_keeps_every_event_before_the_cut() {
    cut_stream("cut_http1", FakeProvider::new().http1_only(), "HTTP/1.1");
}

/// A chunked request body (no declared length) streams upstream through the tee: over h2
/// the proxy pipes it frame by frame within the provider's flow-control window, over
/// HTTP/1.1 hyper re-chunks it. The provider gets every byte and so does the record.
fn chunked_upload(name: &str, fake: FakeProvider, upstream_version: &str) {
    let answer = Canned::json(200, read("openai_chat_tool_calls.json"));
    let w = calls::world(name, fake.route(Method::POST, CHAT_PATH, answer.clone()), "");
    // 300 KB: past the 64 KB that is sent whole, and past h2's default 64 KB window.
    let prompt: String = (0..300_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let request = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}).to_string();
    let headers = [OPENAI_HEADERS, &[("transfer-encoding", "chunked")]].concat();
    let url = format!("https://{OPENAI}{CHAT_PATH}");
    let out = post_with(&w, &["--http1.1"], &url, &headers, request.as_bytes());
    out.assert_success();
    assert_bytes_eq(&out.stdout, answer.body(), "what curl received");
    let seen = w.fake.requests();
    assert_eq!(seen.len(), 1, "the fake should see one request");
    assert_bytes_eq(&seen[0].body, request.as_bytes(), "what the provider received of the chunked body");
    let rec = recorded(&w, "the chunked upload", CHAT_PATH, 0);
    assert_fields(
        &rec.record,
        &json!({"status": 200, "outcome": "complete", "upstream_version": upstream_version, "bytes_sent": request.len()}),
    );
    assert_bytes_eq(rec.request_body().as_bytes(), request.as_bytes(), "the stored chunked request");
}

#[test]
fn chunked_request_body_streams_upstream_over_h2() {
    chunked_upload("chunked_h2", FakeProvider::new(), "HTTP/2");
}

#[test]
fn chunked_request_body_streams_upstream_over_http1() {
    chunked_upload("chunked_http1", FakeProvider::new().http1_only(), "HTTP/1.1");
}
