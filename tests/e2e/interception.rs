//! Interception of an unchanged curl: it reaches the fake through glassbox for a JSON
//! answer and an SSE stream, receives exactly the provider's bytes, events arrive as they
//! are sent, and each request is recorded against curl's process.

use std::time::Duration;

use glassbox_tests::FakeProvider;
use glassbox_tests::check::{assert_bytes_eq, assert_field};
use glassbox_tests::fake::responses;

use crate::world::{
    CHAT_PATH, CHAT_URL, CURL, MODELS_URL, OPENAI, World, assert_bytes_counted, assert_openai_record, chat_body,
    http_code,
};

#[test]
fn curl_json_is_intercepted_and_recorded() {
    let w = World::new("curl_json");
    let body = chat_body(false);
    let out = w.curl(&["-H", "content-type: application/json", "-d", &body, CHAT_URL]);
    out.assert_success();
    assert_bytes_eq(&out.stdout, &w.fake.chat_completion(), "curl's stdout vs the fake's JSON body");

    let seen = w.fake.requests();
    assert_eq!(seen.len(), 1, "the fake should see exactly one request: {seen:#?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, CHAT_PATH);
    assert_eq!(seen[0].sni.as_deref(), Some(OPENAI), "glassbox should send the provider's SNI upstream");
    assert_bytes_eq(&seen[0].body, body.as_bytes(), "request body the fake received vs what curl sent");

    let record = w.agent.wait_for_request("curl's JSON chat completion", |r| r["path"] == CHAT_PATH);
    assert_openai_record(&record, "POST", CHAT_PATH, out.pid, CURL);
    assert_bytes_counted(&record);
    assert_field(&record, "/bytes_sent", body.len());
    assert_field(&record, "/bytes_received", w.fake.chat_completion().len());
}

#[test]
fn curl_sse_is_intercepted_and_recorded() {
    let w = World::new("curl_sse");
    let body = chat_body(true);
    let out = w.curl(&["-N", "-H", "content-type: application/json", "-d", &body, CHAT_URL]);
    out.assert_success();
    assert_bytes_eq(&out.stdout, &w.fake.chat_stream(), "curl's stdout vs the fake's SSE stream");
    assert_eq!(w.fake.requests().len(), 1, "the fake should see exactly one request");

    let record = w.agent.wait_for_request("curl's streamed chat completion", |r| r["path"] == CHAT_PATH);
    assert_openai_record(&record, "POST", CHAT_PATH, out.pid, CURL);
    assert_bytes_counted(&record);
    assert_field(&record, "/bytes_sent", body.len());
    assert_field(&record, "/bytes_received", w.fake.chat_stream().len());
}

/// Reads the stream line by line with Python's stdlib and notes when each event arrives.
const TIMED_SSE: &str = r#"
import http.client, json, ssl, sys, time
conn = http.client.HTTPSConnection(sys.argv[1], 443, context=ssl.create_default_context(), timeout=20)
start = time.monotonic()
conn.request("POST", "/v1/chat/completions", body=sys.argv[2], headers={"content-type": "application/json"})
resp = conn.getresponse()
arrivals = []
while True:
    line = resp.readline()
    if not line:
        break
    if line.startswith(b"data: "):
        arrivals.append((time.monotonic() - start) * 1000.0)
print(json.dumps({"status": resp.status, "arrivals_ms": arrivals}))
"#;

#[test]
fn sse_events_are_forwarded_as_they_arrive() {
    let delay = Duration::from_millis(100);
    let w = World::build("sse_timing", FakeProvider::new().sse_delay(delay), |a| a);
    let out = w.client().cmd("python3", ["-c", TIMED_SSE, OPENAI, &chat_body(true)]).output();
    out.assert_success();
    let result: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("timing script printed no JSON ({e}): {}", out.stdout_str()));
    assert_eq!(result["status"], 200, "{result}");
    let arrivals: Vec<f64> =
        result["arrivals_ms"].as_array().expect("arrivals").iter().filter_map(serde_json::Value::as_f64).collect();
    let events = responses::chat_chunks().len();
    assert_eq!(arrivals.len(), events, "every SSE event should arrive: {result}");
    // The fake spaces events `delay` apart; a proxy that buffers delivers them together.
    let spread = arrivals[events - 1] - arrivals[0];
    let sent_over = (events - 1) as f64 * delay.as_secs_f64() * 1000.0;
    assert!(
        spread >= sent_over * 0.6,
        "events arrived within {spread:.0} ms but were sent over {sent_over:.0} ms: the stream was buffered ({result})"
    );
}

#[test]
fn host_header_other_than_sni_gets_421() {
    let w = World::new("misdirected");
    for version in ["--http1.1", "--http2"] {
        let out =
            w.curl(&[version, "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: api.anthropic.com", MODELS_URL]);
        out.assert_success();
        assert_eq!(http_code(&out), "421", "{version}: SNI api.openai.com with Host api.anthropic.com");
    }
    assert!(
        w.fake.requests().is_empty(),
        "a misdirected request must not reach the provider: {:#?}",
        w.fake.requests()
    );
}
