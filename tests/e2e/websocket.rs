//! WebSocket upgrades through the agent, as Codex opens one to the Responses API: a
//! client in the cgroup (`ws-client`, tokio-tungstenite) upgrades `GET /v1/responses`;
//! the agent passes the upgrade to the fake provider and relays the messages both ways
//! unchanged, recording each turn with its bodies, usage and process. A provider that
//! refuses the upgrade is answered as usual, and when a policy hook applies to the caller
//! the upgrade is not passed on.

use std::time::Duration;

use glassbox_tests::check::assert_field;
use glassbox_tests::fake::assistant::{self, REALTIME_USAGE, REPLY, RESPONSES_USAGE};
use glassbox_tests::{ClientOutput, FakeProvider, SeenRequest};
use serde_json::Value;

use crate::world::{World, describe_seen};

const URL: &str = "wss://api.openai.com/v1/responses";
const PATH: &str = "/v1/responses";
const WS_CLIENT: &str = env!("CARGO_BIN_EXE_ws-client");

fn ask(input: &str) -> String {
    format!(
        r#"{{"type":"response.create","model":"gpt-5-codex","input":"{input}","tools":[{{"type":"function","name":"shell"}}]}}"#
    )
}

/// Runs ws-client in the cgroup, offering compression, sending `messages` in turn.
fn ws_client(w: &World, messages: &[String]) -> ClientOutput {
    ws_client_with(w, &[], messages)
}

fn ws_client_with(w: &World, options: &[&str], messages: &[String]) -> ClientOutput {
    ws_client_to(w, URL, options, messages)
}

fn ws_client_to(w: &World, url: &str, options: &[&str], messages: &[String]) -> ClientOutput {
    let bundle = w.bundle.to_str().unwrap().to_owned();
    let mut args = vec!["--cacert".to_owned(), bundle, "--offer-deflate".to_owned()];
    args.extend(options.iter().map(|o| (*o).to_owned()));
    args.push(url.to_owned());
    args.extend(messages.iter().cloned());
    w.client().timeout(Duration::from_secs(60)).cmd(WS_CLIENT, args).output()
}

fn upgrades(seen: &[SeenRequest]) -> Vec<&SeenRequest> {
    seen.iter().filter(|r| r.path == PATH && r.method == http::Method::GET).collect()
}

fn websocket_records(w: &World) -> Vec<Value> {
    w.agent.requests_json().into_iter().filter(|r| r["http_version"] == "websocket").collect()
}

#[test]
fn websocket_turns_are_relayed_unchanged_and_recorded_each() {
    let fake = assistant::responses_websocket(FakeProvider::new().sse_delay(Duration::from_millis(2)));
    let w = World::build("websocket", fake, |a| a);
    let asks = [ask("say hi"), ask("say bye")];
    let out = ws_client(&w, &asks);
    let seen = w.fake.requests();
    assert!(out.success(), "ws-client failed: {}\nthe fake saw:\n{}", out.stderr, describe_seen(&seen));

    // Both ways, every message arrived unchanged and in order.
    assert_eq!(w.fake.websocket_messages(), asks, "what the provider received");
    let sent = w.fake.websocket_sent();
    assert_eq!(sent.len(), 18, "the fake answers each ask with 9 events");
    let received: Vec<String> = out.stdout_str().lines().map(str::to_owned).collect();
    assert_eq!(received, sent, "what the client received is what the provider sent");
    assert!(sent[8].contains(REPLY) && sent[17].contains("response.completed"));

    // The upgrade reached the provider without the compression offer.
    let upgrade = upgrades(&seen);
    assert_eq!(upgrade.len(), 1, "one upgrade request:\n{}", describe_seen(&seen));
    assert_eq!(upgrade[0].header("upgrade"), Some("websocket"));
    assert_eq!(upgrade[0].header("sec-websocket-extensions"), None, "the agent removes the compression offer");

    let records = w.agent.wait_for_requests("the two WebSocket turns", 2, |r| r["http_version"] == "websocket");
    for (i, record) in records.iter().enumerate() {
        assert_field(record, "/method", "GET");
        assert_field(record, "/path", PATH);
        assert_field(record, "/status", 101);
        assert_field(record, "/api", "openai_responses");
        assert_field(record, "/model", "gpt-5-codex");
        assert_field(record, "/stream", true);
        assert_field(record, "/stream_complete", true);
        assert_field(record, "/tools_declared/0", "shell");
        assert_field(record, "/outcome", "complete");
        assert_field(record, "/usage/input_tokens", RESPONSES_USAGE.0);
        assert_field(record, "/usage/output_tokens", RESPONSES_USAGE.1);
        assert_field(record, "/process/pid", out.pid);
        assert_field(record, "/process/exe", WS_CLIENT);
        assert_field(record, "/bytes_sent", asks[i].len());
        let turn = &sent[i * 9..(i + 1) * 9];
        assert_field(record, "/bytes_received", turn.iter().map(String::len).sum::<usize>());
        assert_field(record, "/response_id", format!("resp_glassbox_{}", i + 1).as_str());

        let shown = w.agent.show_json(&record["id"], true);
        assert_field(&shown, "/request_body", format!("{}\n", asks[i]).as_str());
        let events: String = turn.iter().map(|m| format!("data: {m}\n\n")).collect();
        assert_field(&shown, "/response_body", events.as_str());
    }
    // Every message belonged to a turn: the connection's end adds no record of its own.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(websocket_records(&w).len(), 2, "no record beyond the two turns");
}

#[test]
fn a_realtime_turn_is_recorded_with_its_model_tools_and_usage() {
    let fake = assistant::realtime_websocket(FakeProvider::new().sse_delay(Duration::from_millis(2)));
    let w = World::build("websocket_realtime", fake, |a| a);
    let session =
        r#"{"type":"session.update","session":{"type":"realtime","tools":[{"type":"function","name":"get_weather"}]}}"#;
    let item = r#"{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"Hi"}]}}"#;
    let create = r#"{"type":"response.create"}"#;
    // The first two get no answer: the client sends them all before it waits, as one turn.
    let out = ws_client_to(
        &w,
        "wss://api.openai.com/v1/realtime?model=gpt-realtime",
        &["--no-wait", "2"],
        &[session.to_owned(), item.to_owned(), create.to_owned()],
    );
    assert!(out.success(), "ws-client failed: {}", out.stderr);
    assert_eq!(w.fake.websocket_messages(), [session, item, create]);
    let record = w.agent.wait_for_request("the Realtime turn", |r| r["http_version"] == "websocket");
    assert_field(&record, "/path", "/v1/realtime?model=gpt-realtime");
    assert_field(&record, "/api", "openai_realtime");
    assert_field(&record, "/model", "gpt-realtime");
    assert_field(&record, "/tools_declared/0", "get_weather");
    assert_field(&record, "/response_id", "resp_rt_1");
    assert_field(&record, "/finish_reason", "completed");
    assert_field(&record, "/usage/input_tokens", REALTIME_USAGE.0);
    assert_field(&record, "/usage/output_tokens", REALTIME_USAGE.1);
    assert_field(&record, "/outcome", "complete");
    let shown = w.agent.show_json(&record["id"], true);
    assert_field(&shown, "/request_body", format!("{session}\n{item}\n{create}\n").as_str());
}

#[test]
fn a_client_gone_mid_turn_leaves_an_abandoned_record_of_what_passed() {
    // 50 ms between events: the client is long gone before the turn could end.
    let fake = assistant::responses_websocket(FakeProvider::new().sse_delay(Duration::from_millis(50)));
    let w = World::build("websocket_gone", fake, |a| a);
    let out = ws_client_with(&w, &["--quit-after", "2"], &[ask("say hi")]);
    assert!(out.success(), "ws-client failed: {}", out.stderr);
    let got: Vec<String> = out.stdout_str().lines().map(str::to_owned).collect();
    assert_eq!(got.len(), 2);

    let record = w.agent.wait_for_request("the cut-off turn", |r| r["http_version"] == "websocket");
    assert_field(&record, "/outcome", "abandoned");
    assert_field(&record, "/error", "the WebSocket closed before the response ended");
    assert_field(&record, "/bytes_sent", ask("say hi").len());
    assert_field(&record, "/process/pid", out.pid);
    let shown = w.agent.show_json(&record["id"], true);
    let body = shown["response_body"].as_str().unwrap_or_default();
    let first_two: String = got.iter().map(|m| format!("data: {m}\n\n")).collect();
    assert!(body.starts_with(&first_two), "the record holds what the client got first:\n{body}");
    // The agent keeps serving: a new client's turn goes through whole.
    let again = ws_client(&w, &[ask("again")]);
    assert!(again.success(), "a second client failed: {}", again.stderr);
    w.agent
        .wait_for_request("the next client's turn", |r| r["outcome"] == "complete" && r["process"]["pid"] == again.pid);
}

#[test]
fn a_refused_upgrade_is_answered_and_recorded_as_a_response() {
    // No WebSocket route: the fake answers the upgrade 404, as Codex meets it when a
    // provider does not speak WebSocket.
    let w = World::new("websocket_refused");
    let out = ws_client(&w, &[ask("say hi")]);
    assert!(!out.success(), "the handshake should fail on a 404");
    assert!(out.stderr.contains("404"), "ws-client should report the 404: {}", out.stderr);
    let seen = w.fake.requests();
    let upgrade = upgrades(&seen);
    assert_eq!(upgrade.len(), 1, "the upgrade reached the provider:\n{}", describe_seen(&seen));
    assert_eq!(upgrade[0].header("upgrade"), Some("websocket"), "passed on as an upgrade");
    let record = w.agent.wait_for_request("the refused upgrade", |r| r["path"] == PATH);
    assert_field(&record, "/status", 404);
    assert_field(&record, "/http_version", "HTTP/1.1");
    assert_field(&record, "/process/pid", out.pid);
    assert!(websocket_records(&w).is_empty());
}

#[test]
fn with_a_policy_hook_the_upgrade_is_not_passed_on() {
    let fake = assistant::responses_websocket(FakeProvider::new());
    let w = World::build("websocket_policy", fake, |a| a.config("[[hooks]]\nname = \"scrub\"\nkind = \"pii\"\n"));
    let out = ws_client(&w, &[ask("my email is someone@example.com")]);
    assert!(!out.success(), "no WebSocket while policy must read every request");
    assert!(w.fake.websocket_messages().is_empty(), "no message reached the provider");
    let seen = w.fake.requests();
    let upgrade = upgrades(&seen);
    assert_eq!(upgrade.len(), 1, "a plain GET reached the provider:\n{}", describe_seen(&seen));
    assert_eq!(upgrade[0].header("upgrade"), None, "the upgrade was not passed on");
    let record = w.agent.wait_for_request("the plain GET", |r| r["path"] == PATH);
    assert_field(&record, "/status", 404);
    assert!(websocket_records(&w).is_empty());
}
