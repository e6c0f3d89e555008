//! The real Codex CLI, installed from npm and unchanged, runs one non-interactive turn
//! (`codex exec`) inside the test cgroup against a fake Responses API: api.openai.com
//! resolves to the fake, and Codex trusts glassbox's CA through SSL_CERT_FILE. Every
//! request it makes to the Responses API lands in one session keyed by its session
//! header, recorded with client codex.
//!
//! Codex 0.169 first asks to upgrade `GET /v1/responses` to a WebSocket
//! (`openai-beta: responses_websockets=…`); the fake answers 404, and after seven tries
//! (about ten seconds) Codex falls back to a streamed `POST /v1/responses`. The failed
//! upgrades carry the same session header, so they belong to the session too. A fake
//! that accepts the WebSocket gets Codex's turns on the socket, through the agent, and
//! each is recorded like a streamed POST.

use std::time::Duration;

use glassbox_tests::check::assert_field;
use glassbox_tests::fake::assistant::{self, REPLY, RESPONSES_USAGE};
use glassbox_tests::{ClientOutput, FakeProvider, SeenRequest, TempDir, npm};

use crate::sessions::{assert_from_process, assert_session_listed};
use crate::world::{World, describe_seen};

const RESPONSES: &str = "/v1/responses";

/// Runs `codex exec PROMPT` with a fake key and a scratch HOME and CODEX_HOME.
fn run_codex(w: &World, prompt: &str) -> ClientOutput {
    let codex = npm::CODEX.ensure();
    let home = TempDir::new("codex-home");
    let codex_home = home.join(".codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    w.client()
        .env("HOME", home.path())
        .env("CODEX_HOME", &codex_home)
        .env("OPENAI_API_KEY", "sk-proj-glassbox-fake-key-0123456789")
        .env("CODEX_API_KEY", "sk-proj-glassbox-fake-key-0123456789")
        .current_dir(home.path())
        .timeout(Duration::from_secs(180))
        .cmd(&codex, ["exec", "--skip-git-repo-check", "--sandbox", "read-only", prompt])
        .output()
}

fn is_responses(r: &SeenRequest) -> bool {
    r.path.split('?').next() == Some(RESPONSES)
}

#[test]
fn codex_exec_turn_is_one_session_by_its_header() {
    let fake = assistant::responses(FakeProvider::new().sse_delay(Duration::from_millis(2)));
    let w = World::build("codex", fake, |agent| agent);
    let out = run_codex(&w, "say hi");
    let seen = w.fake.requests();
    assert!(
        out.success(),
        "codex exec failed with {}\nstderr:\n{}\nstdout:\n{}\nthe fake saw:\n{}",
        out.status,
        out.stderr,
        out.stdout_str(),
        describe_seen(&seen)
    );
    assert!(out.stdout_str().contains(REPLY), "codex should print the fake's reply: {}", out.stdout_str());

    let turns: Vec<&SeenRequest> = seen.iter().filter(|r| is_responses(r)).collect();
    assert!(!turns.is_empty(), "codex sent no Responses request; the fake saw:\n{}", describe_seen(&seen));
    let header = |r: &SeenRequest| r.header("session-id").or_else(|| r.header("session_id")).map(str::to_owned);
    let id = header(turns[0])
        .unwrap_or_else(|| panic!("codex sent no session-id header; the fake saw:\n{}", describe_seen(&seen)));
    assert!(
        turns.iter().all(|r| header(r).as_deref() == Some(id.as_str())),
        "codex's Responses requests carry different session ids:\n{}",
        describe_seen(&seen)
    );

    let posts = turns.iter().filter(|r| r.method == http::Method::POST).count();
    assert_eq!(posts, 1, "codex should make one streamed turn; the fake saw:\n{}", describe_seen(&seen));
    let records = w.agent.wait_for_requests("codex's Responses requests", turns.len(), |r| {
        r["path"].as_str().is_some_and(|p| p.starts_with(RESPONSES))
    });
    assert_eq!(records.len(), turns.len(), "one record per Responses request the fake saw");
    let session = format!("codex:{id}");
    let rule = if turns[0].header("session-id").is_some() { "codex_session_header" } else { "codex_legacy_header" };
    for record in &records {
        assert_field(record, "/session/id", session.as_str());
        assert_field(record, "/session/rule", rule);
        assert_field(record, "/client/name", "codex");
        assert_field(record, "/provider", "openai");
        assert_from_process(record, out.pid);
    }
    let turn = records.iter().find(|r| r["method"] == "POST").expect("the POST's record");
    assert_field(turn, "/usage/input_tokens", RESPONSES_USAGE.0);
    assert_field(turn, "/usage/output_tokens", RESPONSES_USAGE.1);
    assert_session_listed(&w, &session, rule, &records);
}

/// With a provider that speaks the Responses API over a WebSocket, Codex runs its turn
/// on the socket through the agent, at once (no fallback), and the turn is recorded with
/// its usage, in Codex's session.
#[test]
fn codex_exec_turn_runs_over_a_websocket_and_is_recorded() {
    let fake =
        assistant::responses_websocket(assistant::responses(FakeProvider::new().sse_delay(Duration::from_millis(2))));
    let w = World::build("codex_ws", fake, |agent| agent);
    let out = run_codex(&w, "say hi");
    let seen = w.fake.requests();
    assert!(
        out.success(),
        "codex exec failed with {}\nstderr:\n{}\nthe fake saw:\n{}",
        out.status,
        out.stderr,
        describe_seen(&seen)
    );
    assert!(out.stdout_str().contains(REPLY), "codex should print the fake's reply: {}", out.stdout_str());
    let asks = w.fake.websocket_messages();
    assert!(
        asks.iter().any(|m| m.contains("\"response.create\"")),
        "codex sent no response.create on the socket ({:?}); the fake saw:\n{}",
        asks,
        describe_seen(&seen)
    );
    let posts = seen.iter().filter(|r| is_responses(r) && r.method == http::Method::POST).count();
    assert_eq!(posts, 0, "the turn went over the socket, not a POST fallback:\n{}", describe_seen(&seen));

    let asked = asks.iter().filter(|m| m.contains("\"response.create\"")).count();
    let turns = w.agent.wait_for_requests("codex's WebSocket turns", asked, |r| r["http_version"] == "websocket");
    assert_eq!(turns.len(), asked, "one record per response.create");
    for turn in &turns {
        assert_field(turn, "/path", RESPONSES);
        assert_field(turn, "/status", 101);
        assert_field(turn, "/outcome", "complete");
        assert_field(turn, "/client/name", "codex");
        let session = turn["session"]["id"].as_str().unwrap_or_default();
        assert!(session.starts_with("codex:"), "a turn in Codex's own session, not {session:?}");
        assert_field(turn, "/usage/input_tokens", RESPONSES_USAGE.0);
        assert_field(turn, "/usage/output_tokens", RESPONSES_USAGE.1);
        assert_from_process(turn, out.pid);
    }
}
