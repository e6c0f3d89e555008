//! The real Claude Code CLI, installed from npm and unchanged, runs one non-interactive
//! turn (`claude -p`) inside the test cgroup. api.anthropic.com resolves to the fake
//! (no base-URL change), and the CLI trusts glassbox's CA through NODE_EXTRA_CA_CERTS.
//! Every Messages request it makes lands in one session keyed by its
//! `X-Claude-Code-Session-Id` header, recorded with client claude-code; `sessions` lists
//! that session with the right count and token sums, and `session ID` its requests.
//! Claude Code 2.1 also sends `HEAD /` and GETs of `/api/claude_code/*` without that
//! header (the fake answers those 404, which it tolerates): they are recorded with
//! client claude-code too.

use std::time::Duration;

use glassbox_tests::check::assert_field;
use glassbox_tests::fake::assistant::{self, ANTHROPIC_USAGE, REPLY};
use glassbox_tests::{Client, ClientOutput, FakeProvider, SeenRequest, TempDir, npm};
use serde_json::{Value, json};

use crate::sessions::{assert_from_process, assert_session_listed};
use crate::world::{World, describe_seen};

const MESSAGES: &str = "/v1/messages";

/// Runs `claude -p PROMPT --output-format json` with a fake key and a scratch HOME. The
/// only trust it is given is glassbox's CA in NODE_EXTRA_CA_CERTS (no SSL_CERT_FILE).
fn run_claude(w: &World, prompt: &str) -> ClientOutput {
    let claude = npm::CLAUDE_CODE.ensure();
    let home = TempDir::new("claude-home");
    let ca = home.join("glassbox-ca.pem");
    std::fs::write(&ca, w.agent.ca_pem()).expect("write glassbox's CA");
    Client::new(&w.cgroup)
        .hosts_from(&w.hosts)
        .env("HOME", home.path())
        .env("ANTHROPIC_API_KEY", "sk-ant-api03-glassbox-fake-key-0123456789")
        .env("NODE_EXTRA_CA_CERTS", &ca)
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .current_dir(home.path())
        .timeout(Duration::from_secs(180))
        .cmd(&claude, ["-p", prompt, "--output-format", "json"])
        .output()
}

fn is_messages(r: &SeenRequest) -> bool {
    r.method == http::Method::POST && r.path.split('?').next() == Some(MESSAGES)
}

#[test]
fn claude_code_turn_is_one_session_by_its_header() {
    let fake = assistant::anthropic(FakeProvider::new().sse_delay(Duration::from_millis(2)));
    let w = World::build("claude_code", fake, |agent| agent);
    let out = run_claude(&w, "say hi");
    let seen = w.fake.requests();
    assert!(
        out.success(),
        "claude -p failed with {}\nstderr:\n{}\nstdout:\n{}\nthe fake saw:\n{}",
        out.status,
        out.stderr,
        out.stdout_str(),
        describe_seen(&seen)
    );
    let printed: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("claude printed no JSON ({e}): {}", out.stdout_str()));
    assert_eq!(printed["result"], REPLY, "claude's result vs the fake's reply: {printed}");

    // What the CLI sent: one session id, in the header of every Messages request, the
    // same that it printed.
    let messages: Vec<&SeenRequest> = seen.iter().filter(|r| is_messages(r)).collect();
    assert!(!messages.is_empty(), "claude sent no Messages request; the fake saw:\n{}", describe_seen(&seen));
    let header = messages[0]
        .header("x-claude-code-session-id")
        .unwrap_or_else(|| panic!("claude sent no X-Claude-Code-Session-Id; the fake saw:\n{}", describe_seen(&seen)))
        .to_owned();
    assert!(
        messages.iter().all(|r| r.header("x-claude-code-session-id") == Some(header.as_str())),
        "claude's Messages requests carry different session ids:\n{}",
        describe_seen(&seen)
    );
    assert_eq!(printed["session_id"], header.as_str(), "the session id claude printed vs its header");

    let records = w.agent.wait_for_requests("claude's Messages requests", messages.len(), |r| {
        r["path"].as_str().is_some_and(|p| p.starts_with(MESSAGES)) && r["method"] == "POST"
    });
    assert_eq!(records.len(), messages.len(), "one record per Messages request the fake saw");
    let session = format!("claude:{header}");
    for record in &records {
        assert_field(record, "/session/id", session.as_str());
        assert_field(record, "/session/rule", "claude_code_header");
        assert_field(record, "/client/name", "claude-code");
        assert_field(record, "/provider", "anthropic");
        assert_field(record, "/usage/input_tokens", ANTHROPIC_USAGE.0);
        assert_field(record, "/usage/output_tokens", ANTHROPIC_USAGE.1);
        assert_from_process(record, out.pid);
    }
    assert_session_listed(&w, &session, "claude_code_header", &records);

    // Its other calls (`HEAD /` first, sent by its Bun runtime with a Bun User-Agent, then
    // settings and policy fetches) carry no session header, but the executable is Claude
    // Code's (`…/claude-code/bin/claude.exe`), so the client is still claude-code.
    let all = w.agent.wait_for_requests("all of claude's requests", seen.len(), |r| r["process"]["pid"] == out.pid);
    for record in &all {
        assert_field(record, "/client/name", "claude-code");
    }
}

/// Claude Code's first call is `HEAD /` over HTTP/1.1, which glassbox passes through: a
/// HEAD answer has headers only, so the exchange is complete once they arrive.
#[test]
fn head_probe_is_recorded_complete() {
    let w = World::new("head_probe");
    let mut wrong = Vec::new();
    for version in ["--http1.1", "--http2"] {
        let out = w.curl(&["-I", version, "https://api.anthropic.com/"]);
        out.assert_success();
        let record = w.agent.wait_for_request(&format!("curl -I {version}"), |r| r["process"]["pid"] == out.pid);
        let got: Vec<&Value> = ["method", "path", "status", "outcome", "error"].iter().map(|k| &record[*k]).collect();
        if got != [&json!("HEAD"), &json!("/"), &json!(200), &json!("complete"), &Value::Null] {
            wrong.push(format!("{version}: method, path, status, outcome, error = {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "HEAD / should be recorded as a complete 200:\n{}", wrong.join("\n"));
}
