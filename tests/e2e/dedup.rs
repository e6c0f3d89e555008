//! Bodies stored by content: two Claude Code-like requests that resend the same ~100 KB of
//! system prompt and tool definitions and differ only in the last message add far fewer
//! new bytes to the `chunks` table the second time, read with python3's sqlite3.

use glassbox_tests::check::assert_bytes_eq;
use glassbox_tests::fixtures::read;
use glassbox_tests::{Canned, FakeProvider};
use http::Method;
use serde_json::{Value, json};

use crate::calls::{self, post, recorded};
use crate::world::ANTHROPIC;

const MESSAGES: &str = "/v1/messages";

/// Deterministic prose that does not repeat itself (so the first body does not deduplicate
/// against itself): words of one to three syllables, commas and sentence ends, drawn by a
/// fixed linear congruential walk.
fn prose(seed: u64, bytes: usize) -> String {
    const SYLLABLES: [&str; 50] = [
        "ba", "be", "bi", "bo", "bu", "ca", "ce", "ci", "co", "cu", "da", "de", "di", "do", "du", "fa", "fe", "fi",
        "fo", "fu", "ga", "ge", "gi", "go", "gu", "ha", "he", "hi", "ho", "hu", "la", "le", "li", "lo", "lu", "ma",
        "me", "mi", "mo", "mu", "na", "ne", "ni", "no", "nu", "ra", "re", "ri", "ro", "ru",
    ];
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(state >> 33).unwrap()
    };
    let mut text = String::with_capacity(bytes + 16);
    while text.len() < bytes {
        for _ in 0..=next() % 3 {
            text.push_str(SYLLABLES[next() % SYLLABLES.len()]);
        }
        let r = next();
        text.push_str(if r % 13 == 0 {
            ".\n"
        } else if r % 7 == 0 {
            ", "
        } else {
            " "
        });
    }
    text
}

/// ~60 KB of system prompt, ~45 KB of tools (one an MCP tool), then the conversation ending
/// in `last`: the shape Claude Code resends every turn, its fields in Claude Code's order.
fn claude_code_request(last: &str) -> String {
    let tools: Vec<Value> = (0..20)
        .map(|i| {
            let name = if i == 0 { "mcp__github__create_issue".to_owned() } else { format!("Tool{i}") };
            json!({"name": name, "description": prose(100 + i, 2000), "input_schema": {"type": "object"}})
        })
        .collect();
    let system = json!([{"type": "text", "text": prose(1, 60_000), "cache_control": {"type": "ephemeral"}}]);
    let messages = json!([
        {"role": "user", "content": "Fix the failing test in src/lib.rs."},
        {"role": "assistant", "content": "I will read the file first."},
        {"role": "user", "content": last},
    ]);
    format!(
        r#"{{"model":"claude-sonnet-4-5-20250929","max_tokens":32000,"system":{system},"tools":{},"messages":{messages}}}"#,
        Value::Array(tools)
    )
}

#[test]
fn a_repeated_prompt_is_stored_once() {
    let fake = FakeProvider::new().route(Method::POST, MESSAGES, Canned::json(200, read("anthropic_message.json")));
    let w = calls::world("dedup", fake, "");
    let headers =
        [("content-type", "application/json"), ("x-api-key", "sk-ant-dedup"), ("anthropic-version", "2023-06-01")];
    let url = format!("https://{ANTHROPIC}{MESSAGES}");
    let bodies = [claude_code_request("Now run the tests."), claude_code_request("Now commit the fix, please.")];
    assert!(bodies[0].len() > 100_000, "the shared part should be about 100 KB: {}", bodies[0].len());

    let mut totals = vec![w.agent.chunk_totals()];
    for (n, body) in bodies.iter().enumerate() {
        post(&w, &url, &headers, body.as_bytes()).assert_success();
        let rec = recorded(&w, &format!("request {n}"), MESSAGES, n);
        assert_bytes_eq(rec.request_body().as_bytes(), body.as_bytes(), &format!("stored request {n}"));
        totals.push(w.agent.chunk_totals());
    }
    let added: Vec<u64> = totals.windows(2).map(|t| t[1].bytes - t[0].bytes).collect();
    let rows: Vec<u64> = totals.windows(2).map(|t| t[1].rows - t[0].rows).collect();
    let report =
        format!("chunk bytes added: first {} ({} rows), second {} ({} rows)", added[0], rows[0], added[1], rows[1]);
    assert!(added[0] as usize >= bodies[0].len(), "the first request's body should be stored whole; {report}");
    assert!(
        added[1] * 5 < added[0],
        "the second request should add far fewer bytes than the first (under a fifth): {report}"
    );
    assert!(rows[1] < rows[0], "the second request should add fewer chunks than the first: {report}");
}
