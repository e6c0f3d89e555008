//! Usage by token type, models, tools, errors and cost, recorded for each provider API.
//!
//! Each test is one [`Case`]: the fake answers the API's real path with a fixture from
//! `agent/src/capture/usage/fixtures/`, curl posts a realistic request body there through
//! glassbox, and the record must hold the expected fields, compared field by field. Every
//! case also checks that curl got every byte the fake sent and that the stored bodies are
//! exactly the request curl sent and the response the fake sent. Costs are computed by
//! hand from `agent/pricing.toml` (USD per million tokens), the arithmetic shown beside.

mod anthropic;
mod gemini;
mod openai_chat;
mod openai_responses;

use std::time::Duration;

use glassbox_tests::check::{assert_bytes_eq, assert_fields};
use glassbox_tests::{Canned, FakeProvider};
use http::Method;
use serde_json::Value;

use crate::calls::{self, Recorded};
use crate::world::World;

/// One call and what its record must say.
pub struct Case<'a> {
    /// The test's name, for its cgroup.
    pub name: &'a str,
    /// The provider host, e.g. `api.openai.com`.
    pub host: &'a str,
    /// Path and query as the client asks for them.
    pub path: &'a str,
    /// Request headers besides `content-type: application/json`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The request body the client sends.
    pub request: Value,
    /// What the fake answers.
    pub answer: Canned,
    /// Fields the record must have, as `requests --json` prints them; see [`want`].
    pub want: Value,
}

/// Runs the case; panics naming the first field that differs. Returns the world (its
/// agent still running) and the record.
pub fn check(case: &Case<'_>) -> (World, Recorded) {
    let route = case.path.split('?').next().unwrap_or_default();
    let fake = FakeProvider::new().sse_delay(Duration::from_millis(5)).route(Method::POST, route, case.answer.clone());
    let w = calls::world(case.name, fake, "");
    let request = case.request.to_string();
    let mut headers = vec![("content-type", "application/json")];
    headers.extend_from_slice(case.headers);
    let out = calls::post(&w, &format!("https://{}{}", case.host, case.path), &headers, request.as_bytes());
    out.assert_success();
    let sent = case.answer.sent();
    assert_bytes_eq(&out.stdout, &sent, "what curl received vs what the fake sent");

    let seen = w.fake.requests();
    assert_eq!(seen.len(), 1, "the fake should see exactly one request: {seen:#?}");
    assert_bytes_eq(&seen[0].body, request.as_bytes(), "request body the fake received vs what curl sent");

    let recorded = calls::recorded(&w, case.name, route, 0);
    assert_fields(&recorded.record, &case.want);
    assert_bytes_eq(recorded.request_body().as_bytes(), request.as_bytes(), "stored request body vs what curl sent");
    assert_bytes_eq(recorded.response_body().as_bytes(), &sent, "stored response body vs what the fake sent");
    (w, recorded)
}

/// The expected record: `fields` over what every complete call of these tests has
/// (outcome complete, no transport error, nothing truncated).
pub fn want(fields: Value) -> Value {
    let mut want = serde_json::json!({
        "outcome": "complete",
        "error": null,
        "request_truncated": false,
        "response_truncated": false,
    });
    let (Value::Object(base), Value::Object(fields)) = (&mut want, fields) else {
        panic!("want() takes a JSON object");
    };
    base.extend(fields);
    want
}

/// The record's `usage` object: input, output, cache read, cache creation, reasoning.
pub fn usage(counts: [Option<u64>; 5]) -> Value {
    let [input, output, cache_read, cache_creation, reasoning] = counts;
    serde_json::json!({
        "input_tokens": input,
        "output_tokens": output,
        "cache_read_tokens": cache_read,
        "cache_creation_tokens": cache_creation,
        "reasoning_tokens": reasoning,
    })
}

/// A usage the provider did not report: every count null, never 0.
pub fn unknown_usage() -> Value {
    usage([None; 5])
}

/// A tool call as recorded: `{id, name, arguments}`.
pub fn call(id: Option<&str>, name: &str, arguments: &str) -> Value {
    serde_json::json!({"id": id, "name": name, "arguments": arguments})
}
