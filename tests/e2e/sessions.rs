//! Sessions: which calls belong together. curl sends what coding agents send — Claude
//! Code's session header, Codex's `session-id` / `thread-id` / legacy `session_id`,
//! Claude's `metadata.user_id` in its legacy and JSON forms, opencode's and the generic
//! session headers, `prompt_cache_key`, `previous_response_id` chains — and plain calls
//! fall back to their process tree, split by an inactivity gap. Each record names its
//! session and the rule that decided it; `sessions --json` sums each session's requests,
//! tokens and cost, and `session ID --json` lists its requests in order.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use glassbox_tests::check::{assert_field, field, is_rfc3339};
use glassbox_tests::fixtures::{read, read_replacing};
use glassbox_tests::{Canned, ClientOutput, FakeProvider};
use http::Method;
use serde_json::{Value, json};

use crate::calls::post;
use crate::world::{ANTHROPIC, CHAT_PATH, CHAT_URL, CURL, OPENAI, World, chat_body};

const MESSAGES_URL: &str = "https://api.anthropic.com/v1/messages";
const RESPONSES_URL: &str = "https://api.openai.com/v1/responses";
const ANTHROPIC_HEADERS: [(&str, &str); 3] = [
    ("content-type", "application/json"),
    ("x-api-key", "sk-ant-api03-glassbox-session-test"),
    ("anthropic-version", "2023-06-01"),
];
const OPENAI_HEADERS: [(&str, &str); 2] =
    [("content-type", "application/json"), ("authorization", "Bearer sk-proj-glassbox-session-test")];
/// The response id in `openai_responses.json`, replaced by a fresh one per call.
const FIXTURE_RESPONSE_ID: &str = "resp_67ccd2bed1ec8190";

/// A fake answering Messages with `anthropic_message.json` and Responses with
/// `openai_responses.json` under a fresh id per call (`resp_sessions_<n>`).
fn fake() -> FakeProvider {
    let n = Arc::new(AtomicUsize::new(0));
    FakeProvider::new()
        .sse_delay(Duration::from_millis(2))
        .route(Method::POST, "/v1/messages", Canned::json(200, read("anthropic_message.json")))
        .route_fn(Method::POST, "/v1/responses", move |_| {
            let id = format!("resp_sessions_{}", n.fetch_add(1, Ordering::Relaxed) + 1);
            Canned::json(200, read_replacing("openai_responses.json", FIXTURE_RESPONSE_ID, &id))
        })
}

fn world(name: &str) -> World {
    World::build(name, fake(), |agent| agent.provider("openai", &[OPENAI]).provider("anthropic", &[ANTHROPIC]))
}

/// A Messages request body, with `metadata` if given.
fn messages_body(metadata: Option<Value>) -> String {
    let mut body = json!({
        "model": "claude-sonnet-4-5-20250929", "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Check the weather, then file an issue."}],
    });
    if let Some(metadata) = metadata {
        body["metadata"] = metadata;
    }
    body.to_string()
}

/// A Responses request body with `extra` fields merged in.
fn responses_body(extra: Value) -> String {
    let mut body = json!({"model": "o4-mini", "input": "What is the weather in Paris and Bogotá?"});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body.to_string()
}

/// POSTs `body` with the usual headers plus `extra`; panics unless curl succeeds.
fn call(w: &World, url: &str, extra: &[(&str, &str)], body: &str) -> ClientOutput {
    let base: &[(&str, &str)] = if url.contains(ANTHROPIC) { &ANTHROPIC_HEADERS } else { &OPENAI_HEADERS };
    let headers: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
    let out = post(w, url, &headers, body.as_bytes());
    out.assert_success();
    out
}

/// The record of the call curl made as process `pid`.
fn record_of(w: &World, out: &ClientOutput) -> Value {
    w.agent.wait_for_request(&format!("`{}` (pid {})", out.command, out.pid), |r| r["process"]["pid"] == out.pid)
}

/// The `id` in a JSON response curl printed.
fn response_id(out: &ClientOutput) -> String {
    let body: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("`{}` printed no JSON ({e}): {}", out.command, out.stdout_str()));
    body["id"].as_str().unwrap_or_else(|| panic!("response has no id: {body}")).to_owned()
}

#[track_caller]
fn assert_session(record: &Value, id: &str, rule: &str) {
    assert_field(record, "/session/id", id);
    assert_field(record, "/session/rule", rule);
}

#[test]
fn client_session_ids_decide_the_session_and_are_summed() {
    let w = world("sessions_client_ids");

    // Claude Code's header: two calls, one session.
    let claude = [("x-claude-code-session-id", "5f0c7a7e-0d35-4b8e-9f3a-6c1b2d3e4f50")];
    let claude_records: Vec<Value> =
        (0..2).map(|_| record_of(&w, &call(&w, MESSAGES_URL, &claude, &messages_body(None)))).collect();
    for r in &claude_records {
        assert_session(r, "claude:5f0c7a7e-0d35-4b8e-9f3a-6c1b2d3e4f50", "claude_code_header");
    }

    // Claude's metadata.user_id, legacy then JSON form, naming the same session.
    let uuid = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    let hash = "a".repeat(64);
    let legacy = json!({"user_id": format!("user_{hash}_account__session_{uuid}")});
    let json_form = json!({"user_id": json!({"device_id": hash, "account_uuid": "", "session_id": uuid}).to_string()});
    let metadata_records: Vec<Value> = [legacy, json_form]
        .into_iter()
        .map(|m| record_of(&w, &call(&w, MESSAGES_URL, &[], &messages_body(Some(m)))))
        .collect();
    for r in &metadata_records {
        assert_session(r, &format!("claude:{uuid}"), "anthropic_metadata_user_id");
    }

    // Codex: session-id twice, thread-id alone, the legacy session_id.
    let codex_records: Vec<Value> = (0..2)
        .map(|_| record_of(&w, &call(&w, RESPONSES_URL, &[("session-id", "codex-c1")], &responses_body(json!({})))))
        .collect();
    for r in &codex_records {
        assert_session(r, "codex:codex-c1", "codex_session_header");
    }
    let thread = record_of(&w, &call(&w, RESPONSES_URL, &[("thread-id", "codex-c2")], &responses_body(json!({}))));
    assert_session(&thread, "codex:codex-c2", "codex_thread_header");
    let legacy = record_of(&w, &call(&w, RESPONSES_URL, &[("session_id", "codex-c3")], &responses_body(json!({}))));
    assert_session(&legacy, "codex:codex-c3", "codex_legacy_header");

    // opencode's header, the generic one, and prompt_cache_key.
    let opencode =
        record_of(&w, &call(&w, RESPONSES_URL, &[("x-opencode-session", "oc-1")], &responses_body(json!({}))));
    assert_field(&opencode, "/session/rule", "opencode_header");
    let generic = record_of(&w, &call(&w, RESPONSES_URL, &[("x-session-id", "generic-1")], &responses_body(json!({}))));
    assert_field(&generic, "/session/rule", "session_header");
    let cached = record_of(&w, &call(&w, RESPONSES_URL, &[], &responses_body(json!({"prompt_cache_key": "key-1"}))));
    assert_field(&cached, "/session/rule", "prompt_cache_key");
    let ids: BTreeSet<&str> =
        [&opencode, &generic, &cached].iter().map(|r| field(r, "/session/id").as_str().unwrap_or_default()).collect();
    assert_eq!(ids.len(), 3, "opencode, generic and cache-key sessions should differ: {ids:?}");

    // The listing: hand-computed sums for two sessions, then every session against its records.
    // anthropic_message.json twice: input 13542 (42 + 12000 read + 1500 written), output
    // 180, cache read 12000, cache creation 1500; cost 0.012051 each.
    let claude_summary =
        assert_session_listed(&w, "claude:5f0c7a7e-0d35-4b8e-9f3a-6c1b2d3e4f50", "claude_code_header", &claude_records);
    assert_field(&claude_summary, "/usage/input_tokens", 27_084);
    assert_field(&claude_summary, "/usage/output_tokens", 360);
    assert_field(&claude_summary, "/usage/cache_read_tokens", 24_000);
    assert_field(&claude_summary, "/usage/cache_creation_tokens", 3000);
    assert_field(&claude_summary, "/usage/reasoning_tokens", Value::Null);
    assert_close(&claude_summary, "/cost_usd", 0.024_102);
    assert_eq!(set(&claude_summary["tools"]), set(&json!(["get_weather", "mcp__github__create_issue"])));
    // openai_responses.json twice: input 1523, output 650, cache read 1024, reasoning 448;
    // cost 0.0036905 each.
    let codex_summary = assert_session_listed(&w, "codex:codex-c1", "codex_session_header", &codex_records);
    assert_field(&codex_summary, "/usage/input_tokens", 3046);
    assert_field(&codex_summary, "/usage/output_tokens", 1300);
    assert_field(&codex_summary, "/usage/cache_read_tokens", 2048);
    assert_field(&codex_summary, "/usage/cache_creation_tokens", Value::Null);
    assert_field(&codex_summary, "/usage/reasoning_tokens", 896);
    assert_close(&codex_summary, "/cost_usd", 0.007_381);
    assert_eq!(set(&codex_summary["tools"]), set(&json!(["web_search", "get_weather"])));
    assert_session_listed(&w, &format!("claude:{uuid}"), "anthropic_metadata_user_id", &metadata_records);
    assert_session_listed(&w, "codex:codex-c2", "codex_thread_header", &[thread]);
    assert_session_listed(&w, "codex:codex-c3", "codex_legacy_header", &[legacy]);
}

#[test]
fn previous_response_id_joins_the_earlier_session() {
    let w = world("sessions_chain");
    let first = call(&w, RESPONSES_URL, &[("x-session-id", "chain-1")], &responses_body(json!({})));
    let head = record_of(&w, &first);
    assert_session(&head, "session:chain-1", "session_header");

    // Two turns that name only the response before them: a chain of chains.
    let mut records = vec![head];
    let mut previous = response_id(&first);
    for _ in 0..2 {
        let next = call(&w, RESPONSES_URL, &[], &responses_body(json!({"previous_response_id": previous})));
        let record = record_of(&w, &next);
        assert_session(&record, "session:chain-1", "previous_response_id");
        records.push(record);
        previous = response_id(&next);
    }
    // A response id nobody saw starts nothing: the call falls back to its process tree.
    let orphan = call(&w, RESPONSES_URL, &[], &responses_body(json!({"previous_response_id": "resp_never_seen"})));
    assert_field(&record_of(&w, &orphan), "/session/rule", "process_tree");

    let summary = w.agent.session_summary("session:chain-1");
    let rule = summary["rule"].as_str().unwrap_or_default();
    assert!(
        ["session_header", "previous_response_id"].contains(&rule),
        "the chain's session rule should be the one that started it or the chain: {summary}"
    );
    assert_session_listed(&w, "session:chain-1", rule, &records);
}

#[test]
fn plain_calls_group_by_process_tree() {
    let w = world("sessions_tree");
    // Two calls from one parent shell, moments apart.
    let script = format!(
        r#"{CURL} -sS --max-time 20 -d "$BODY" {CHAT_URL}; {CURL} -sS --max-time 20 -d "$BODY" {CHAT_URL}; true"#
    );
    let out = w.client().env("BODY", chat_body(false)).cmd("sh", ["-c", &script]).output();
    out.assert_success();
    let records = w.agent.wait_for_requests("the shell's two calls", 2, |r| r["path"] == CHAT_PATH);
    assert_eq!(records.len(), 2, "{records:#?}");
    let session = field(&records[0], "/session/id").as_str().unwrap_or_default().to_owned();
    assert!(session.starts_with("tree:"), "a plain call's session should be its process tree's: {}", records[0]);
    for r in &records {
        assert_session(r, &session, "process_tree");
        assert_field(r, "/process/ppid", out.pid);
    }
    assert_session_listed(&w, &session, "process_tree", &records);

    // A call from a process tree of its own: a shell that detaches, so its parent is
    // pid 1, then calls.
    let detached = format!(r#"sh -c 'sleep 0.3; {CURL} -sS --max-time 20 -d "$BODY" {CHAT_URL}; true' &"#);
    let out = w.client().env("BODY", chat_body(false)).cmd("sh", ["-c", &detached]).output();
    out.assert_success();
    let all = w.agent.wait_for_requests("the detached call", 3, |r| r["path"] == CHAT_PATH);
    let other = all
        .iter()
        .find(|r| records.iter().all(|first| first["process"]["pid"] != r["process"]["pid"]))
        .unwrap_or_else(|| panic!("no record of the detached call: {all:#?}"));
    let parents = other["process"]["parents"].as_array().map_or(0, Vec::len);
    assert_eq!(
        parents, 2,
        "harness: the detached call's parents should be its shell and pid 1 (a subreaper?): {other}"
    );
    assert_field(other, "/session/rule", "process_tree");
    assert_ne!(
        field(other, "/session/id"),
        &json!(session),
        "a separate process tree should be a separate session: {other}"
    );
}

#[test]
fn process_tree_session_splits_after_the_inactivity_gap() {
    // The shortest gap the config allows is one minute: this test waits it out.
    let w = World::build("sessions_gap", fake(), |agent| agent.config("[sessions]\ninactivity_gap_mins = 1\n"));
    let chat = |w: &World| record_of(w, &call(w, CHAT_URL, &[], &chat_body(false)));
    let before = chat(&w);
    std::thread::sleep(Duration::from_secs(65));
    let after = chat(&w);
    let soon_after = chat(&w);
    for r in [&before, &after, &soon_after] {
        assert_field(r, "/session/rule", "process_tree");
    }
    assert_ne!(before["session"]["id"], after["session"]["id"], "65 s of silence should start a new session: {after}");
    assert_eq!(
        after["session"]["id"], soon_after["session"]["id"],
        "calls moments apart share a session: {soon_after}"
    );
}

/// The names in a JSON array, as a set.
fn set(v: &Value) -> BTreeSet<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

#[track_caller]
fn assert_close(v: &Value, ptr: &str, want: f64) {
    let got = field(v, ptr).as_f64();
    assert!(got.is_some_and(|g| (g - want).abs() <= want.abs() * 1e-9), "{ptr} is {got:?}, want {want}: {v}");
}

/// Panics unless `record` came from process `pid` or one of its children.
#[track_caller]
pub fn assert_from_process(record: &Value, pid: u32) {
    let own = record["process"]["pid"] == pid;
    let child = record["process"]["parents"].as_array().is_some_and(|p| p.iter().any(|p| p["pid"] == pid));
    assert!(own || child, "record should come from pid {pid} or a child of it: {record}");
}

/// The name of a session's or record's client, whether given as an object or a string.
pub fn client_name(client: &Value) -> Option<&str> {
    client.as_str().or_else(|| client["name"].as_str())
}

/// Checks the `sessions --json` entry for session `id` against `records`, the records
/// that belong to it: rule, request count, token sums by type (null when no record
/// reported that type), cost, models, tools called, user, device, client, first and last
/// time; and that `session ID --json` lists exactly those records in time order.
/// Returns the entry.
#[track_caller]
pub fn assert_session_listed(w: &World, id: &str, rule: &str, records: &[Value]) -> Value {
    let summary = w.agent.session_summary(id);
    assert_field(&summary, "/rule", rule);
    assert_field(&summary, "/requests", records.len());
    for kind in ["input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "reasoning_tokens"] {
        let counts: Vec<u64> = records.iter().filter_map(|r| r["usage"][kind].as_u64()).collect();
        let want = if counts.is_empty() { Value::Null } else { json!(counts.iter().sum::<u64>()) };
        assert_eq!(
            summary["usage"][kind], want,
            "session {id}: usage.{kind} should sum its records'; summary: {summary}"
        );
    }
    let costs: Vec<f64> = records.iter().filter_map(|r| r["cost_usd"].as_f64()).collect();
    if costs.is_empty() {
        assert_field(&summary, "/cost_usd", Value::Null);
    } else {
        assert_close(&summary, "/cost_usd", costs.iter().sum());
    }
    let models = set(&summary["models"]);
    for r in records {
        let model = r["response_model"].as_str().or_else(|| r["model"].as_str());
        if let Some(model) = model {
            let named = models.contains(model) || r["model"].as_str().is_some_and(|m| models.contains(m));
            assert!(named, "session {id}: models should name {model}: {summary}");
        }
    }
    let tools: BTreeSet<String> = records
        .iter()
        .flat_map(|r| r["tool_calls"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(set(&summary["tools"]), tools, "session {id}: tools should be the tools called; summary: {summary}");
    assert_eq!(summary["user"], records[0]["identity"]["login"], "session {id}: user is the login; summary: {summary}");
    assert_eq!(summary["device_id"], records[0]["identity"]["device_id"], "session {id}: device; summary: {summary}");
    assert_eq!(
        client_name(&summary["client"]),
        client_name(&records[0]["client"]),
        "session {id}: client; summary: {summary}"
    );
    let (first, last) = (summary["first"].as_str().unwrap_or_default(), summary["last"].as_str().unwrap_or_default());
    assert!(is_rfc3339(first) && is_rfc3339(last) && first <= last, "session {id}: first/last: {summary}");
    let earliest = records.iter().filter_map(|r| r["time"].as_str()).min().unwrap_or_default();
    assert_eq!(first, earliest, "session {id}: first should be its first request's time; summary: {summary}");

    let listed = w.agent.session_json(id);
    let listed_ids: Vec<&Value> = listed.iter().map(|r| &r["id"]).collect();
    let mut want = records.to_vec();
    want.sort_by(|a, b| (a["time"].as_str(), a["id"].as_i64()).cmp(&(b["time"].as_str(), b["id"].as_i64())));
    let want_ids: Vec<&Value> = want.iter().map(|r| &r["id"]).collect();
    assert_eq!(listed_ids, want_ids, "`session {id} --json` should list the session's records in time order");
    for r in &listed {
        assert_field(r, "/session/id", id);
    }
    summary
}
