//! Hooks before data leaves the host, through the real path: curl in the cgroup posts to
//! api.openai.com / api.anthropic.com (the fake), glassbox runs the configured chain.
//! The `pii` hook scrubs every class before the provider sees the body, which stays valid
//! JSON of the same shape, and the record keeps classes and counts (the original only
//! with `keep_original`); `block` refuses by model glob and body pattern with an error in
//! the provider's own format, nothing sent; `strip_tools` removes exactly the matching
//! tools; a webhook that allows, blocks, modifies, hangs, refuses connections or answers
//! garbage gives the documented outcome under `fail_open` and `fail_closed`.

use glassbox_tests::fixtures::read;
use glassbox_tests::guardrail::{self, Guardrail, Mode};
use glassbox_tests::{Canned, FakeProvider};
use http::Method;
use serde_json::{Value, json};

use crate::calls::{self, post, recorded};
use crate::world::{CHAT_PATH, CHAT_URL, World};

const MESSAGES_URL: &str = "https://api.anthropic.com/v1/messages";

/// A fake answering chat completions and Anthropic messages with fixed JSON.
fn fake() -> FakeProvider {
    FakeProvider::new()
        .route(Method::POST, CHAT_PATH, Canned::json(200, glassbox_tests::fake::responses::chat_completion().clone()))
        .route(Method::POST, "/v1/messages", Canned::json(200, read("anthropic_message.json")))
}

/// Each PII class, a value of it, and its placeholder label.
const PLANTED: [(&str, &str); 14] = [
    ("EMAIL", "jane.roe@example.org"),
    ("PHONE", "+1 415 555 0132"),
    ("CARD", "4111 1111 1111 1111"),
    ("SSN", "123-45-6789"),
    ("IBAN", "DE89 3704 0044 0532 0130 00"),
    ("IP", "203.0.113.77"),
    ("AWS_KEY", "AKIAIOSFODNN7EXAMPLE"),
    ("GITHUB_TOKEN", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("GITLAB_TOKEN", "glpat-abcdefghij0123456789"),
    ("SLACK_TOKEN", "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx"),
    ("OPENAI_KEY", "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"),
    ("ANTHROPIC_KEY", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789-ABCDEFGH"),
    (
        "JWT",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ),
    (
        "PRIVATE_KEY",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----",
    ),
];

/// A chat body whose user message carries every planted value, and a tool result too.
fn pii_body() -> Value {
    let text: Vec<String> = PLANTED.iter().map(|(label, value)| format!("{label}: {value}")).collect();
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": format!("Please look at this.\n{}", text.join("\n"))},
            {"role": "tool", "tool_call_id": "call_1", "content": "owner: jane.roe@example.org"},
        ],
    })
}

fn pii_world(name: &str, keep_original: bool) -> World {
    calls::world(
        name,
        fake(),
        &format!("[[hooks]]\nname = \"scrub\"\nkind = \"pii\"\nkeep_original = {keep_original}\n"),
    )
}

#[test]
fn pii_hook_scrubs_every_class_before_the_provider_sees_it() {
    let w = pii_world("policy_pii", false);
    let out = post(&w, CHAT_URL, &[("content-type", "application/json")], pii_body().to_string().as_bytes());
    out.assert_success();
    let seen = w.fake.requests();
    assert_eq!(seen.len(), 1, "the provider should get the request once");
    let sent = String::from_utf8_lossy(&seen[0].body).into_owned();
    let sent_json: Value =
        serde_json::from_str(&sent).unwrap_or_else(|e| panic!("scrubbed body is not JSON ({e}): {sent}"));
    assert_eq!(sent_json["messages"].as_array().map(Vec::len), Some(3), "same shape: {sent}");
    assert_eq!(sent_json["messages"][2]["tool_call_id"], "call_1", "structural fields untouched: {sent}");
    for (label, value) in PLANTED {
        let needle = value.lines().next().unwrap_or(value);
        assert!(!sent.contains(needle), "{label} value {value:?} reached the provider: {sent}");
        assert!(sent.contains(&format!("[{label}_1]")), "no [{label}_1] placeholder in {sent}");
    }
    assert_eq!(sent_json["messages"][2]["content"], "owner: [EMAIL_1]", "the same e-mail gets the same placeholder");

    let r = recorded(&w, "scrubbed chat", CHAT_PATH, 0);
    let hook = &r.record["policy"]["hooks"][0];
    assert_eq!(hook["action"], "modify", "{}", r.record);
    for (label, _) in PLANTED {
        let want = if label == "EMAIL" { 2 } else { 1 };
        assert_eq!(hook["replaced"][label], want, "{label} count in {hook}");
    }
    assert_eq!(r.record["policy"]["original_kept"], false);
    for (label, value) in PLANTED {
        let needle = value.lines().next().unwrap_or(value);
        assert!(!r.request_body().contains(needle), "{label} value kept in the record: {}", r.request_body());
        assert!(!r.shown.to_string().contains(needle), "{label} value somewhere in the record");
    }
    assert_eq!(r.request_body(), sent, "the record holds the body as sent");
    assert!(r.upstream_body().is_none(), "no second body when the stored one is what was sent");
    assert_eq!(r.record["status"], 200);
}

#[test]
fn pii_hook_with_keep_original_records_both_bodies() {
    let w = pii_world("policy_pii_keep", true);
    let body = pii_body().to_string();
    post(&w, CHAT_URL, &[("content-type", "application/json")], body.as_bytes()).assert_success();
    let r = recorded(&w, "scrubbed chat", CHAT_PATH, 0);
    assert_eq!(r.record["policy"]["original_kept"], true);
    assert_eq!(r.request_body(), body, "the client's original is kept");
    let upstream = r.upstream_body().unwrap_or_else(|| panic!("no upstream body: {}", r.shown));
    assert_eq!(upstream.as_bytes(), &w.fake.requests()[0].body[..], "the upstream body is what the provider got");
    assert!(upstream.contains("[CARD_1]") && !upstream.contains("4111 1111"), "{upstream}");
}

#[test]
fn block_hook_refuses_by_model_and_body_in_the_providers_format() {
    let config = r#"
[[hooks]]
name = "no-gpt5"
kind = "block"
match = { models = ["openai/gpt-5*"] }
reason = "gpt-5 is not approved here"

[[hooks]]
name = "no-secrets-project"
kind = "block"
match = { models = ["anthropic/**"] }
body_pattern = "(?i)project nightingale"
"#;
    let w = calls::world("policy_block", fake(), config);
    let json_h = [("content-type", "application/json")];
    let out = post(&w, CHAT_URL, &json_h, br#"{"model":"gpt-5-mini","messages":[{"role":"user","content":"hi"}]}"#);
    let error: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout_str()));
    assert_eq!(error["error"]["code"], "glassbox_blocked", "{error}");
    assert!(error["error"]["message"].as_str().unwrap_or_default().contains("gpt-5 is not approved here"), "{error}");

    let anthropic_h = [("content-type", "application/json"), ("anthropic-version", "2023-06-01")];
    let body = br#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"status of Project NIGHTINGALE?"}]}"#;
    let out = post(&w, MESSAGES_URL, &anthropic_h, body);
    let error: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout_str()));
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["error"]["type"], "permission_error", "{error}");
    assert!(w.fake.requests().is_empty(), "a blocked request reached the provider");

    // Neither hook matches these: they pass.
    post(&w, CHAT_URL, &json_h, br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#).assert_success();
    let ok = br#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}"#;
    post(&w, MESSAGES_URL, &anthropic_h, ok).assert_success();
    assert_eq!(w.fake.requests().len(), 2);

    let blocked = recorded(&w, "blocked gpt-5", CHAT_PATH, 0);
    assert_eq!(blocked.record["status"], 403);
    assert_eq!(blocked.record["outcome"], "refused");
    assert_eq!(blocked.record["bytes_sent"], 0);
    assert_eq!(blocked.record["policy"]["refused_by"], "hook:no-gpt5");
    assert_eq!(blocked.record["policy"]["hooks"][0]["action"], "block");
    assert!(blocked.request_body().contains("gpt-5-mini"), "the refused request is kept");
    assert!(blocked.response_body().contains("glassbox_blocked"), "the refusal is the recorded response");
    let anthropic = recorded(&w, "blocked anthropic", "/v1/messages", 0);
    assert_eq!(anthropic.record["policy"]["refused_by"], "hook:no-secrets-project");
    let passed = recorded(&w, "gpt-4o", CHAT_PATH, 1);
    assert!(passed.record.get("policy").is_none(), "no hook applied to gpt-4o, so no policy part: {}", passed.record);
}

#[test]
fn webhook_outcomes_under_both_fail_policies() {
    let allow = Guardrail::start(Mode::Allow);
    let block = Guardrail::start(Mode::Block("contains customer data"));
    let modify = Guardrail::start(Mode::Modify(|mut body| {
        body["messages"][0]["content"] = json!("rewritten by guardrail");
        body
    }));
    let slow = Guardrail::start(Mode::Slow(std::time::Duration::from_secs(5)));
    let garbage = Guardrail::start(Mode::Garbage);
    let refused = guardrail::refused_url();
    let cases: [(&str, String); 6] = [
        ("allow", allow.url()),
        ("block", block.url()),
        ("modify", modify.url()),
        ("slow", slow.url()),
        ("refused", refused),
        ("garbage", garbage.url()),
    ];
    // One hook per case and fail policy, each selected by its own model name.
    let mut config = String::new();
    for (case, url) in &cases {
        for policy in ["fail_open", "fail_closed"] {
            config.push_str(&format!(
                "[[hooks]]\nname = \"{case}-{policy}\"\nkind = \"webhook\"\nurl = \"{url}\"\ntimeout_ms = 400\n\
                 fail_policy = \"{policy}\"\nheaders = {{ Authorization = \"Bearer guardrail-token\" }}\n\
                 match = {{ models = [\"openai/{case}-{policy}\"] }}\n\n"
            ));
        }
    }
    let w = calls::world("policy_webhook", fake(), &config);
    let json_h = [("content-type", "application/json")];
    for (case, _) in &cases {
        for policy in ["fail_open", "fail_closed"] {
            let model = format!("{case}-{policy}");
            let before = w.fake.requests().len();
            let body = json!({"model": model, "messages": [{"role": "user", "content": "original text"}]}).to_string();
            let out = post(&w, &format!("{CHAT_URL}?case={model}"), &json_h, body.as_bytes());
            let reached = w.fake.requests().len() > before;
            let answer = out.stdout_str();
            let should_pass = match *case {
                "allow" | "modify" => true,
                "block" => false,
                _ => policy == "fail_open",
            };
            assert_eq!(reached, should_pass, "{model}: provider reached = {reached}; client got {answer}");
            if should_pass {
                assert!(answer.contains("chatcmpl-"), "{model}: client should get the provider's answer: {answer}");
                let sent: Value = serde_json::from_slice(&w.fake.requests()[before].body).expect("sent body is JSON");
                let want = if *case == "modify" { "rewritten by guardrail" } else { "original text" };
                assert_eq!(sent["messages"][0]["content"], want, "{model}");
            } else {
                let error: Value =
                    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{model}: not JSON ({e}): {answer}"));
                assert_eq!(error["error"]["code"], "glassbox_blocked", "{model}: {error}");
                if *case == "block" {
                    assert!(answer.contains("contains customer data"), "{model}: the guardrail's reason: {answer}");
                }
            }
            let r = recorded(&w, &model, &format!("{CHAT_PATH}?case={model}"), 0);
            let decision = &r.record["policy"]["hooks"][0];
            let want_action = match (*case, policy) {
                ("allow", _) => "allow",
                ("block", _) => "block",
                ("modify", _) => "modify",
                (_, "fail_open") => "error",
                _ => "block",
            };
            assert_eq!(decision["action"], want_action, "{model}: {decision}");
            if !["allow", "block", "modify"].contains(case) {
                assert!(decision["error"].is_string(), "{model}: the failure is recorded: {decision}");
                assert_eq!(decision["fail_policy"], policy, "{model}: {decision}");
            }
        }
    }
    let calls = allow.seen();
    assert_eq!(calls.len(), 2, "the allow guardrail was asked once per fail policy");
    assert_eq!(calls[0].authorization.as_deref(), Some("Bearer guardrail-token"));
    let doc = &calls[0].document;
    assert_eq!(doc["provider"], "openai", "{doc}");
    assert!(doc["model"].as_str().is_some_and(|m| m.starts_with("allow-")), "{doc}");
    assert_eq!(doc["identity"]["user"], "root", "{doc}");
    assert_eq!(doc["client"], "curl", "{doc}");
    assert!(doc["session"].as_str().is_some_and(|s| s.starts_with("tree:")), "{doc}");
    assert_eq!(doc["body"]["messages"][0]["content"], "original text", "{doc}");
    assert_eq!(doc["path"], CHAT_PATH, "the query never goes to the guardrail: {doc}");
}

/// Sends `calls` chat requests through a webhook hook asking `guardrail`; checks that
/// every call was let through and asked the guardrail once, in order.
fn calls_through(name: &str, guardrail: &Guardrail, calls: usize) {
    let config =
        format!("[[hooks]]\nname = \"guard\"\nkind = \"webhook\"\nurl = \"{}\"\ntimeout_ms = 2000\n", guardrail.url());
    let w = calls::world(name, fake(), &config);
    let json_h = [("content-type", "application/json")];
    for i in 0..calls {
        let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": format!("call {i}")}]});
        let out = post(&w, CHAT_URL, &json_h, body.to_string().as_bytes());
        assert!(out.stdout_str().contains("chatcmpl-"), "call {i}: {}", out.stdout_str());
    }
    let seen = guardrail.seen();
    assert_eq!(seen.len(), calls, "the guardrail was asked once per call");
    let contents: Vec<String> = seen
        .iter()
        .map(|s| s.document["body"]["messages"][0]["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(contents, (0..calls).map(|i| format!("call {i}")).collect::<Vec<_>>());
}

#[test]
fn webhook_connections_are_kept_and_reused() {
    const CALLS: usize = 6;
    let allow = Guardrail::start(Mode::Allow);
    calls_through("policy_webhook_pool", &allow, CALLS);
    // Each proxy worker keeps its connection: one per worker at most, not one per call.
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    assert!(
        allow.connections() <= workers.min(CALLS - 1),
        "{} connections for {CALLS} calls with {workers} workers",
        allow.connections()
    );
}

#[test]
fn a_webhook_connection_dropped_while_idle_is_replaced() {
    const CALLS: usize = 4;
    let allow = Guardrail::start_dropping(Mode::Allow);
    calls_through("policy_webhook_dropped", &allow, CALLS);
    assert_eq!(allow.connections(), CALLS, "a new connection for each call, none failed");
}
