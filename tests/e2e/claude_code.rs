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
    run_claude_with(w, prompt, &[], &[], &TempDir::new("claude-home"))
}

fn run_claude_with(w: &World, prompt: &str, args: &[&str], env: &[(&str, &str)], home: &TempDir) -> ClientOutput {
    let claude = npm::CLAUDE_CODE.ensure();
    let ca = home.join("glassbox-ca.pem");
    std::fs::write(&ca, w.agent.ca_pem()).expect("write glassbox's CA");
    let client = Client::new(&w.cgroup)
        .hosts_from(&w.hosts)
        .env("HOME", home.path())
        .env("ANTHROPIC_API_KEY", "sk-ant-api03-glassbox-fake-key-0123456789")
        .env("NODE_EXTRA_CA_CERTS", &ca)
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .current_dir(home.path())
        .timeout(Duration::from_secs(180));
    let client = env.iter().fold(client, |client, (key, value)| client.env(key, value));
    client.cmd(&claude, ["-p", prompt, "--output-format", "json"].iter().chain(args)).output()
}

/// A minimal MCP server over stdio (newline-delimited JSON-RPC) offering `tools`: enough
/// for Claude Code to declare them to the model as `mcp__<server>__<tool>`.
const MCP_SERVER: &str = r#"
import json, sys
tools = sys.argv[1].split(",")
for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    method = msg.get("method")
    if method == "initialize":
        result = {"protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
                  "serverInfo": {"name": "glassbox-test", "version": "1"}}
    elif method == "tools/list":
        result = {"tools": [{"name": t, "description": "Test tool " + t,
                             "inputSchema": {"type": "object", "properties": {}}} for t in tools]}
    else:
        print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "no"}}), flush=True)
        continue
    print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}), flush=True)
"#;

/// strip_tools on the real Claude Code request: with two MCP servers attached (github and
/// linear), a hook stripping `mcp__github__*` and `Write` removes exactly those from
/// every Messages request before the provider sees it; everything else it declared
/// arrives, and the record names what was removed.
#[test]
fn strip_tools_removes_exactly_the_matched_tools_from_claude_code() {
    let fake = assistant::anthropic(FakeProvider::new().sse_delay(Duration::from_millis(2)));
    let config = "[[hooks]]\nname = \"no-github\"\nkind = \"strip_tools\"\ntools = [\"mcp__github__*\", \"Write\"]\n";
    let w = World::build("claude_code_strip", fake, |agent| agent.config(config));
    let home = TempDir::new("claude-home");
    let server = home.join("mcp_server.py");
    std::fs::write(&server, MCP_SERVER).expect("write the MCP server");
    let python = "/usr/bin/python3";
    let mcp = json!({"mcpServers": {
        "github": {"type": "stdio", "command": python, "args": [&server, "create_issue,list_pull_requests,get_file_contents"]},
        "linear": {"type": "stdio", "command": python, "args": [&server, "search_issues,create_issue"]},
    }});
    let mcp_file = home.join("mcp.json");
    std::fs::write(&mcp_file, mcp.to_string()).expect("write the MCP config");
    let mcp_path = mcp_file.display().to_string();
    // Claude Code defers MCP tools behind its ToolSearch tool unless told not to; declared
    // up front they are what a real MCP setup without tool search sends every turn.
    let args = ["--mcp-config", &mcp_path, "--strict-mcp-config"];
    let out = run_claude_with(&w, "say hi", &args, &[("ENABLE_TOOL_SEARCH", "false")], &home);
    let seen = w.fake.requests();
    assert!(
        out.success(),
        "claude -p failed with {}\nstderr:\n{}\nstdout:\n{}",
        out.status,
        out.stderr,
        out.stdout_str()
    );
    let messages: Vec<&SeenRequest> = seen.iter().filter(|r| is_messages(r)).collect();
    assert!(!messages.is_empty(), "claude sent no Messages request; the fake saw:\n{}", describe_seen(&seen));

    let records = w.agent.wait_for_requests("claude's Messages requests", messages.len(), |r| {
        r["path"].as_str().is_some_and(|p| p.starts_with(MESSAGES)) && r["method"] == "POST"
    });
    for (sent, record) in messages.iter().zip(&records) {
        let sent: Value = serde_json::from_slice(&sent.body).expect("Messages body is JSON");
        let names: Vec<&str> =
            sent["tools"].as_array().map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect()).unwrap_or_default();
        assert!(
            !names.iter().any(|n| n.starts_with("mcp__github__") || *n == "Write"),
            "stripped tools reached the provider: {names:?}"
        );
        let shown = w.agent.show_json(&record["id"], true);
        let original: Value =
            serde_json::from_str(shown["request_body"].as_str().unwrap_or_default()).expect("stored body");
        let declared: Vec<&str> = original["tools"]
            .as_array()
            .expect("claude declared tools")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        let want_removed: Vec<&str> =
            declared.iter().copied().filter(|n| n.starts_with("mcp__github__") || *n == "Write").collect();
        assert_eq!(want_removed.len(), 4, "claude should declare 3 github tools and Write: {declared:?}");
        assert!(declared.contains(&"mcp__linear__search_issues"), "linear's tools are declared: {declared:?}");
        let kept: Vec<&str> = declared.iter().copied().filter(|n| !want_removed.contains(n)).collect();
        assert_eq!(names, kept, "exactly the matched tools are gone, the rest in order");
        let decision = &record["policy"]["hooks"][0];
        assert_eq!(decision["action"], "modify", "{decision}");
        assert_eq!(decision["stripped"], json!(want_removed), "{decision}");
        let upstream: Value = serde_json::from_str(shown["upstream_body"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("the record holds the body sent upstream ({e}): {shown}"));
        assert_eq!(upstream, sent, "the stored upstream body is what the provider got");
    }
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
