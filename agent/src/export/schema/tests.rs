use ring::digest::{SHA256, digest};
use serde_json::{Value, json};

use super::*;
use crate::{
    capture::usage::{ProviderError, ToolCall, Usage},
    identity::{CiContext, ClientInfo, Container, Parent},
    ledger::{Chain, DeviceKey},
    policy::{PolicyRecord, audit::HookDecision},
    record::{Detail, Identity, Record},
    session::SessionRef,
};

const DEVICE: &str = "5f2c0e1a9b7d4c3e8f6a1b2c3d4e5f60";
const REQUEST: &[u8] = br#"{"model":"claude-sonnet-4-5","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
const RESPONSE: &[u8] = b"event: message_start\ndata: {}\n\n";

/// A record with every field set, as the capture thread would write it.
fn full_record() -> Record {
    let mut r = Record {
        id: 7,
        time: "2026-11-25T23:45:40.123Z".into(),
        provider: "anthropic".into(),
        host: "api.anthropic.com".into(),
        method: "POST".into(),
        path: "/v1/messages?beta=true".into(),
        status: Some(200),
        duration_ms: 1834.6,
        ttfb_ms: Some(412.4),
        bytes_sent: 85_012,
        bytes_received: 9_301,
        http_version: "HTTP/1.1".into(),
        upstream_version: Some("HTTP/2".into()),
        dst: "160.79.104.10:443".into(),
        user: "alice".into(),
        identity: Identity {
            login: "alice@example.com".into(),
            user: "alice".into(),
            uid: 1000,
            euid: 1000,
            via_sudo: false,
            device_id: DEVICE.into(),
            hostname: "dev-laptop".into(),
            tags: vec!["tag:dev".into()],
        },
        ci: Some(CiContext {
            system: "github_actions".into(),
            repository: Some("acme/app".into()),
            workflow: Some("ci".into()),
            job: Some("test".into()),
            run_id: Some("123".into()),
            attempt: Some("1".into()),
            url: Some("https://github.com/acme/app/actions/runs/123".into()),
        }),
        client: Some(ClientInfo { name: "claude-code".into(), version: Some("2.0.14".into()) }),
        session: Some(SessionRef { id: "4b1e6c1e-sess".into(), rule: "claude_code_header".into() }),
        outcome: "complete".into(),
        error: None,
        api: Some("anthropic_messages".into()),
        model: Some("claude-sonnet-4-5".into()),
        response_model: Some("claude-sonnet-4-5-20250929".into()),
        stream: true,
        usage: Usage {
            input_tokens: Some(12_000),
            output_tokens: Some(350),
            cache_read_tokens: Some(10_000),
            cache_creation_tokens: Some(1_500),
            reasoning_tokens: None,
        },
        cost_usd: Some(0.0123),
        policy: Some(PolicyRecord {
            hooks: vec![HookDecision {
                hook: "scrub".into(),
                kind: "pii".into(),
                action: "allow".into(),
                ..HookDecision::default()
            }],
            original_kept: true,
            elapsed_ms: 0.4,
            ..PolicyRecord::default()
        }),
        detail: Detail {
            response_id: Some("msg_01XYZ".into()),
            stream_complete: Some(true),
            stream_events: Some(42),
            tools_declared: vec!["Bash".into(), "mcp__github__create_issue".into()],
            tool_calls: vec![ToolCall {
                id: Some("toolu_01".into()),
                name: "Bash".into(),
                arguments: r#"{"command":"ls"}"#.into(),
            }],
            provider_error: None,
            finish_reason: Some("tool_use".into()),
            request_headers: vec![
                ("user-agent".into(), "claude-cli/2.0.14".into()),
                ("x-api-key".into(), "[REDACTED hmac:0123456789ab]".into()),
            ],
            response_headers: vec![("content-type".into(), "text/event-stream".into())],
            request_truncated: false,
            response_truncated: true,
        },
        ..Record::default()
    };
    let p = &mut r.process;
    p.pid = 4242;
    p.tid = 4243;
    p.uid = 1000;
    p.gid = 1000;
    p.euid = 1000;
    p.ppid = 4200;
    p.comm = "node".into();
    p.exe = "/usr/bin/node".into();
    p.exe_sha256 = Some("ab".repeat(32));
    p.cmdline = vec!["node".into(), "/usr/lib/claude/cli.js".into()];
    p.cwd = "/home/alice/app".into();
    p.start_time = "2026-11-25T23:40:00Z".into();
    p.cgroup = "/user.slice".into();
    p.cgroup_id = 99;
    p.parents = vec![
        Parent { pid: 4200, comm: "bash".into(), exe: "/usr/bin/bash".into() },
        Parent { pid: 1, comm: "systemd".into(), exe: String::new() },
    ];
    p.container = Some(Container { runtime: "docker".into(), id: "c".repeat(64) });
    r
}

/// The record's signed form, as the store makes it: JSON without the row id, plus its
/// body chunk ids, canonicalised.
fn canonical(record: &Record, request: &[u8], response: &[u8]) -> String {
    let ids = |body: &[u8]| chunk::split(body).iter().map(|c| hex(&chunk::id(c))).collect::<String>();
    let mut value = serde_json::to_value(record).expect("a record serialises");
    let object = value.as_object_mut().expect("a record is an object");
    object.remove("id");
    object.insert("body_chunks".into(), json!({ "request": ids(request), "response": ids(response) }));
    String::from_utf8(crate::ledger::canonical(&value)).expect("canonical JSON is UTF-8")
}

/// A line for `record` with a fixed, made-up link.
fn line_for<'a>(record: &'a Record, canonical: &'a str) -> RecordLine<'a> {
    RecordLine {
        record,
        seq: 17,
        prev_hash: &[0x11; 32],
        hash: &[0x22; 32],
        signature: &[0x33; 64],
        canonical,
        request_body: REQUEST,
        response_body: RESPONSE,
        upstream_body: None,
        device_id: DEVICE,
    }
}

fn keys(value: &Value) -> Vec<&str> {
    value.as_object().expect("an object").keys().map(String::as_str).collect()
}

const RECORD_KEYS: &[&str] = &[
    "schema",
    "type",
    "time",
    "glassbox",
    "gen_ai.provider.name",
    "gen_ai.operation.name",
    "gen_ai.request.model",
    "gen_ai.request.stream",
    "gen_ai.response.model",
    "gen_ai.response.id",
    "gen_ai.response.finish_reasons",
    "gen_ai.conversation.id",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "duration_ms",
    "ttfb_ms",
    "status",
    "outcome",
    "error",
    "cost_usd",
    "api",
    "stream_complete",
    "stream_events",
    "http",
    "truncated",
    "identity",
    "process",
    "ci",
    "client",
    "session",
    "policy",
    "provider_error",
    "tools",
    "ocsf",
    "bodies",
];

#[test]
fn a_full_record_line_has_every_documented_key_and_value() {
    let record = full_record();
    let canonical = canonical(&record, REQUEST, RESPONSE);
    let line = record_line(&line_for(&record, &canonical), BodyMode::Full);

    assert_eq!(keys(&line), RECORD_KEYS);
    let expected = json!({
        "schema": "glassbox.export.v1",
        "type": "record",
        "time": "2026-11-25T23:45:40.123Z",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.request.stream": true,
        "gen_ai.response.model": "claude-sonnet-4-5-20250929",
        "gen_ai.response.id": "msg_01XYZ",
        "gen_ai.response.finish_reasons": ["tool_use"],
        "gen_ai.conversation.id": "4b1e6c1e-sess",
        "gen_ai.usage.input_tokens": 12_000,
        "gen_ai.usage.output_tokens": 350,
        "gen_ai.usage.cache_read.input_tokens": 10_000,
        "gen_ai.usage.cache_creation.input_tokens": 1_500,
        "gen_ai.usage.reasoning.output_tokens": null,
        "duration_ms": 1834.6,
        "ttfb_ms": 412.4,
        "status": 200,
        "outcome": "complete",
        "error": null,
        "cost_usd": 0.0123,
        "api": "anthropic_messages",
        "stream_complete": true,
        "stream_events": 42,
    });
    let groups = json!({
        "http": {
            "method": "POST",
            "host": "api.anthropic.com",
            "path": "/v1/messages?beta=true",
            "version": "HTTP/1.1",
            "upstream_version": "HTTP/2",
            "dst": "160.79.104.10:443",
            "bytes_sent": 85_012,
            "bytes_received": 9_301,
            "request_headers": [["user-agent", "claude-cli/2.0.14"], ["x-api-key", "[REDACTED hmac:0123456789ab]"]],
            "response_headers": [["content-type", "text/event-stream"]],
        },
        "truncated": { "request": false, "response": true },
    });
    let who = json!({
        "identity": {
            "login": "alice@example.com",
            "user": "alice",
            "uid": 1000,
            "euid": 1000,
            "via_sudo": false,
            "device_id": DEVICE,
            "hostname": "dev-laptop",
            "tags": ["tag:dev"],
        },
        "process": {
            "pid": 4242, "tid": 4243, "ppid": 4200, "uid": 1000, "gid": 1000, "euid": 1000,
            "comm": "node", "exe": "/usr/bin/node", "exe_sha256": "ab".repeat(32),
            "cmdline": ["node", "/usr/lib/claude/cli.js"], "cwd": "/home/alice/app",
            "start_time": "2026-11-25T23:40:00Z", "cgroup": "/user.slice", "cgroup_id": 99,
            "parent_exes": ["/usr/bin/bash", "systemd"],
            "container": { "runtime": "docker", "id": "c".repeat(64) },
        },
        "ci": {
            "system": "github_actions", "repository": "acme/app", "workflow": "ci", "job": "test",
            "run_id": "123", "attempt": "1", "url": "https://github.com/acme/app/actions/runs/123",
        },
    });
    let context = json!({
        "client": { "name": "claude-code", "version": "2.0.14" },
        "session": { "id": "4b1e6c1e-sess", "rule": "claude_code_header" },
        "provider_error": null,
        "tools": {
            "declared": ["Bash", "mcp__github__create_issue"],
            "called": ["Bash"],
            "calls": [{ "id": "toolu_01", "name": "Bash", "arguments": "{\"command\":\"ls\"}" }],
        },
    });
    for part in [expected, groups, who, context] {
        for (key, want) in part.as_object().expect("an object") {
            assert_eq!(&line[key], want, "{key}");
        }
    }
    assert_eq!(line["policy"], serde_json::to_value(record.policy.as_ref()).expect("policy serialises"));
    assert_eq!(line["policy"]["hooks"][0]["hook"], "scrub");
}

#[test]
fn the_glassbox_part_carries_what_a_verifier_checks() {
    let record = full_record();
    let canonical = canonical(&record, REQUEST, RESPONSE);
    let line = record_line(&line_for(&record, &canonical), BodyMode::None);
    assert_eq!(
        line["glassbox"],
        json!({
            "seq": 17,
            "prev_hash": "11".repeat(32),
            "hash": "22".repeat(32),
            "signature": "33".repeat(64),
            "record": canonical,
            "device_id": DEVICE,
        })
    );
    // The canonical record holds every field of docs/records.md itself.
    let signed: Value = serde_json::from_str(line["glassbox"]["record"].as_str().expect("a string")).expect("JSON");
    assert_eq!(signed["process"]["cwd"], "/home/alice/app");
    assert_eq!(signed["usage"]["cache_creation_tokens"], 1_500);
}

#[test]
fn a_verifier_recomputes_the_hash_and_checks_the_signature_from_the_line_alone() {
    let dir = std::env::temp_dir().join(format!("glassbox-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let key = DeviceKey::load_or_create(&dir.join("device.key")).expect("device key");
    let record = full_record();
    let canonical = canonical(&record, REQUEST, RESPONSE);
    let mut chain = Chain::resume(Some((16, [0x11; 32])));
    let link = chain.append(&key, canonical.as_bytes());
    let mut line = line_for(&record, &canonical);
    (line.seq, line.prev_hash, line.hash, line.signature) = (link.seq, &link.prev_hash, &link.hash, &link.signature);
    let exported = record_line(&line, BodyMode::Hashes);
    std::fs::remove_dir_all(&dir).ok();

    // What a central verifier does, with the line as its only input.
    let part = &exported["glassbox"];
    let unhex = |key: &str| {
        let text = part[key].as_str().expect("hex");
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
            .collect::<Vec<u8>>()
    };
    let seq = part["seq"].as_u64().expect("seq");
    let preimage =
        [&seq.to_be_bytes()[..], &unhex("prev_hash"), part["record"].as_str().expect("record").as_bytes()].concat();
    assert_eq!(digest(&SHA256, &preimage).as_ref(), unhex("hash"));
    let public_hex = key.public_key_hex();
    let public_key: Vec<u8> =
        (0..public_hex.len()).step_by(2).map(|i| u8::from_str_radix(&public_hex[i..i + 2], 16).expect("hex")).collect();
    let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key);
    public
        .verify(&[&b"glassbox ledger link v1\0"[..], &unhex("hash")].concat(), &unhex("signature"))
        .expect("the signature verifies");
}

#[test]
fn body_modes_full_hashes_and_none() {
    let record = full_record();
    let canonical = canonical(&record, REQUEST, RESPONSE);
    let line = line_for(&record, &canonical);
    let per_body = |name: &str| [format!("{name}_sha256"), format!("{name}_length"), format!("{name}_chunk_lengths")];

    let full = record_line(&line, BodyMode::Full);
    let bodies = &full["bodies"];
    let [rs, rl, rc] = per_body("request");
    let [ps, pl, pc] = per_body("response");
    assert_eq!(keys(bodies), ["mode", "request", &rs, &rl, &rc, "response", &ps, &pl, &pc, "encoding"]);
    assert_eq!(bodies["mode"], "full");
    assert_eq!(bodies["encoding"], "utf8");
    assert_eq!(bodies["request"], std::str::from_utf8(REQUEST).expect("UTF-8"));
    assert_eq!(bodies["request_sha256"], hex(digest(&SHA256, REQUEST).as_ref()));
    assert_eq!(bodies["request_length"], REQUEST.len());
    assert_eq!(bodies["request_chunk_lengths"], json!([REQUEST.len()]));
    assert_eq!(bodies["response"], "event: message_start\ndata: {}\n\n");
    assert_eq!(bodies["response_sha256"], hex(digest(&SHA256, RESPONSE).as_ref()));
    assert_eq!(bodies["response_length"], RESPONSE.len());

    let hashes = record_line(&line, BodyMode::Hashes);
    assert_eq!(keys(&hashes["bodies"]), ["mode", &rs, &rl, &rc, &ps, &pl, &pc]);
    assert_eq!(hashes["bodies"]["mode"], "hashes");
    for key in [&rs, &rl, &rc, &ps, &pl, &pc] {
        assert_eq!(hashes["bodies"][key], bodies[key], "{key}");
    }

    let none = record_line(&line, BodyMode::None);
    assert!(none.get("bodies").is_none());
    assert_eq!(keys(&none), RECORD_KEYS[..RECORD_KEYS.len() - 1]);
}

#[test]
fn the_upstream_body_appears_only_when_policy_changed_it() {
    let record = full_record();
    let canonical = canonical(&record, REQUEST, RESPONSE);
    let line = RecordLine { upstream_body: Some(b"{\"model\":\"x\"}"), ..line_for(&record, &canonical) };
    let full = record_line(&line, BodyMode::Full);
    assert_eq!(full["bodies"]["upstream"], "{\"model\":\"x\"}");
    assert_eq!(full["bodies"]["upstream_length"], 13);
    assert_eq!(full["bodies"]["upstream_sha256"], hex(digest(&SHA256, b"{\"model\":\"x\"}").as_ref()));
    let hashes = record_line(&line, BodyMode::Hashes);
    assert!(hashes["bodies"].get("upstream").is_none());
    assert_eq!(hashes["bodies"]["upstream_length"], 13);
    let without = record_line(&line_for(&record, &canonical), BodyMode::Full);
    assert!(keys(&without["bodies"]).iter().all(|k| !k.starts_with("upstream")));
}

#[test]
fn a_non_utf8_body_is_exported_lossily_and_says_so() {
    let record = full_record();
    let raw: &[u8] = b"ok \xff\xfe tail";
    let canonical = canonical(&record, raw, RESPONSE);
    let line = RecordLine { request_body: raw, ..line_for(&record, &canonical) };
    let bodies = record_line(&line, BodyMode::Full)["bodies"].clone();
    assert_eq!(bodies["encoding"], "utf8-lossy");
    assert_eq!(bodies["request"], "ok \u{fffd}\u{fffd} tail");
    // The hash and length are of the stored bytes, not of the lossy text; the response,
    // which was UTF-8, still matches its hash, which is how a reader tells which text is exact.
    assert_eq!(bodies["request_sha256"], hex(digest(&SHA256, raw).as_ref()));
    assert_eq!(bodies["request_length"], raw.len());
    let text_hash = |key: &str| hex(digest(&SHA256, bodies[key].as_str().expect("text").as_bytes()).as_ref());
    assert_ne!(text_hash("request"), bodies["request_sha256"]);
    assert_eq!(text_hash("response"), bodies["response_sha256"]);
    // Hashes mode never carries text, so says nothing about encoding.
    assert!(record_line(&line, BodyMode::Hashes)["bodies"].get("encoding").is_none());
}

#[test]
fn chunk_lengths_let_a_verifier_match_bodies_to_the_signed_chunk_ids() {
    let big: Vec<u8> = (0..200_000u32).map(|i| b"abcdefghij \n{}"[(i * 7 % 13) as usize] ^ (i % 251) as u8).collect();
    let record = full_record();
    let canonical = canonical(&record, &big, RESPONSE);
    let line = RecordLine { request_body: &big, ..line_for(&record, &canonical) };
    let out = record_line(&line, BodyMode::Hashes);
    let lengths: Vec<usize> = out["bodies"]["request_chunk_lengths"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|n| usize::try_from(n.as_u64().expect("a length")).expect("fits"))
        .collect();
    assert!(lengths.len() > 1, "a 200 KB body is several chunks");
    assert_eq!(lengths.iter().sum::<usize>(), big.len());
    let mut at = 0;
    let ids: String = lengths
        .iter()
        .map(|len| {
            let piece = &big[at..at + len];
            at += len;
            hex(digest(&SHA256, piece).as_ref())
        })
        .collect();
    let signed: Value = serde_json::from_str(&canonical).expect("JSON");
    assert_eq!(signed["body_chunks"]["request"], ids);
}

#[test]
fn ocsf_maps_a_successful_post_onto_api_activity_create() {
    let record = full_record();
    let canonical = canonical(&record, REQUEST, RESPONSE);
    let ocsf = record_line(&line_for(&record, &canonical), BodyMode::None)["ocsf"].clone();
    assert_eq!(
        keys(&ocsf),
        [
            "class_uid",
            "class_name",
            "category_uid",
            "category_name",
            "activity_id",
            "activity_name",
            "type_uid",
            "type_name",
            "severity_id",
            "severity",
            "status_id",
            "status",
            "status_code",
            "status_detail",
            "message",
            "time",
            "start_time",
            "end_time",
            "duration",
            "metadata",
            "actor",
            "device",
            "src_endpoint",
            "dst_endpoint",
            "api",
            "http_request",
            "http_response",
            "ai_model",
            "message_context",
        ]
    );
    let classification = json!({
        "class_uid": 6003,
        "class_name": "API Activity",
        "category_uid": 6,
        "category_name": "Application Activity",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 600_301,
        "type_name": "API Activity: Create",
        "severity_id": 1,
        "severity": "Informational",
        "status_id": 1,
        "status": "Success",
        "status_code": "200",
        "status_detail": "complete",
        "message": "POST api.anthropic.com/v1/messages 200 complete",
        "time": 1_795_650_340_123_i64,
        "start_time": 1_795_650_340_123_i64,
        "end_time": 1_795_650_341_958_i64,
        "duration": 1835,
    });
    let context = json!({
        "metadata": {
            "version": "1.8.0",
            "product": { "name": "glassbox", "vendor_name": "glassbox", "version": env!("CARGO_PKG_VERSION") },
            "uid": "22".repeat(32),
            "sequence": 17,
            "original_time": "2026-11-25T23:45:40.123Z",
            "profiles": ["host", "ai_operation"],
        },
        "device": { "hostname": "dev-laptop", "uid": DEVICE, "type_id": 0, "type": "Unknown" },
        "src_endpoint": { "hostname": "dev-laptop", "uid": DEVICE },
        "dst_endpoint": { "hostname": "api.anthropic.com", "ip": "160.79.104.10", "port": 443 },
    });
    let request = json!({
        "api": {
            "operation": "anthropic_messages",
            "service": { "name": "anthropic" },
            "request": { "uid": "17" },
            "response": { "code": 200 },
        },
        "http_request": {
            "http_method": "POST",
            "version": "HTTP/1.1",
            "user_agent": "claude-cli/2.0.14",
            "url": {
                "scheme": "https", "hostname": "api.anthropic.com", "port": 443, "path": "/v1/messages",
                "query_string": "beta=true", "url_string": "https://api.anthropic.com/v1/messages?beta=true",
            },
        },
        "http_response": { "code": 200, "length": 9_301, "latency": 412, "content_type": "text/event-stream" },
    });
    let ai = json!({
        "ai_model": { "name": "claude-sonnet-4-5-20250929", "ai_provider": "anthropic" },
        "message_context": {
            "uid": "4b1e6c1e-sess",
            "prompt_tokens": 12_000,
            "completion_tokens": 350,
            "total_tokens": 12_350,
            "service": { "name": "anthropic" },
            "application": { "name": "claude-code", "version": "2.0.14" },
        },
    });
    for part in [classification, context, request, ai] {
        for (key, want) in part.as_object().expect("an object") {
            assert_eq!(&ocsf[key], want, "{key}");
        }
    }
    let user = json!({
        "name": "alice@example.com",
        "uid": "1000",
        "email_addr": "alice@example.com",
        "account": { "name": "alice", "uid": "1000" },
    });
    let process = json!({
        "pid": 4242,
        "name": "node",
        "cmd_line": "node /usr/lib/claude/cli.js",
        "working_directory": "/home/alice/app",
        "created_time": 1_795_650_000_000_i64,
        "file": {
            "path": "/usr/bin/node", "name": "node", "type_id": 1, "type": "Regular File",
            "hashes": [{ "algorithm_id": 3, "algorithm": "SHA-256", "value": "ab".repeat(32) }],
        },
        "parent_process": {
            "pid": 4200, "name": "bash",
            "file": { "path": "/usr/bin/bash", "name": "bash", "type_id": 1, "type": "Regular File" },
        },
        "container": { "uid": "c".repeat(64), "runtime": "docker" },
    });
    assert_eq!(ocsf["actor"], json!({ "user": user, "process": process, "app_name": "claude-code" }));
}

#[test]
fn ocsf_status_and_severity_for_a_request_refused_by_policy() {
    let mut record = full_record();
    record.status = Some(403);
    record.outcome = "refused".into();
    record.policy = Some(PolicyRecord { refused_by: Some("hook:no-gpt5".into()), ..PolicyRecord::default() });
    record.detail.provider_error =
        Some(ProviderError { kind: Some("permission_error".into()), message: Some("blocked by policy".into()) });
    let canonical = canonical(&record, REQUEST, RESPONSE);
    let line = record_line(&line_for(&record, &canonical), BodyMode::None);
    let ocsf = &line["ocsf"];
    assert_eq!((ocsf["status_id"].clone(), ocsf["status"].clone()), (json!(2), json!("Failure")));
    assert_eq!((ocsf["severity_id"].clone(), ocsf["severity"].clone()), (json!(3), json!("Medium")));
    assert_eq!(ocsf["status_code"], "403");
    assert_eq!(ocsf["status_detail"], "refused");
    assert_eq!(
        ocsf["api"]["response"],
        json!({ "code": 403, "error": "permission_error", "error_message": "blocked by policy" })
    );
    assert_eq!(line["provider_error"], json!({ "kind": "permission_error", "message": "blocked by policy" }));
    assert_eq!(line["policy"]["refused_by"], "hook:no-gpt5");
}

#[test]
fn ocsf_status_is_failure_for_errors_and_success_for_redirects() {
    let cases: &[(Option<u16>, &str, u64)] =
        &[(Some(302), "Success", 1), (Some(429), "Failure", 2), (None, "Failure", 2)];
    for &(status, name, id) in cases {
        let record = Record { status, method: "POST".into(), time: "2026-01-01T00:00:00Z".into(), ..Record::default() };
        let canonical = canonical(&record, b"", b"");
        let ocsf = record_line(&line_for(&record, &canonical), BodyMode::None)["ocsf"].clone();
        assert_eq!(ocsf["status"], name, "{status:?}");
        assert_eq!(ocsf["status_id"], id, "{status:?}");
        assert_eq!(ocsf["severity_id"], 1, "{status:?}");
        assert_eq!(ocsf.get("http_response").is_some(), status.is_some(), "{status:?}");
    }
}

#[test]
fn ocsf_activity_and_type_uid_follow_the_method() {
    let cases = [
        ("POST", 1, "Create"),
        ("GET", 2, "Read"),
        ("HEAD", 2, "Read"),
        ("PUT", 3, "Update"),
        ("patch", 3, "Update"),
        ("DELETE", 4, "Delete"),
        ("OPTIONS", 99, "Other"),
    ];
    for (method, id, name) in cases {
        let record = Record { method: method.into(), path: "/".into(), ..Record::default() };
        let ocsf = record_line(&line_for(&record, "{}"), BodyMode::None)["ocsf"].clone();
        assert_eq!(ocsf["activity_id"], id, "{method}");
        assert_eq!(ocsf["activity_name"], name, "{method}");
        assert_eq!(ocsf["type_uid"], 600_300 + id, "{method}");
        assert_eq!(ocsf["type_name"], format!("API Activity: {name}"), "{method}");
    }
}

#[test]
fn an_empty_record_keeps_every_key_and_its_ocsf_has_no_nulls_or_blanks() {
    let record = Record { method: "HEAD".into(), path: "/".into(), ..Record::default() };
    let line = record_line(&line_for(&record, "{}"), BodyMode::None);
    assert_eq!(keys(&line), RECORD_KEYS[..RECORD_KEYS.len() - 1]);
    for key in ["gen_ai.operation.name", "gen_ai.request.model", "gen_ai.usage.input_tokens", "ci", "client", "session"]
    {
        assert_eq!(line[key], Value::Null, "{key}");
    }
    assert_eq!(line["gen_ai.response.finish_reasons"], json!([]));
    assert_eq!(line["policy"], Value::Null);
    assert_eq!(line["ocsf"]["api"]["operation"], "HEAD /");
    fn no_nulls(value: &Value, at: &str) {
        match value {
            Value::Null => panic!("null at {at}"),
            Value::String(s) if s.is_empty() => panic!("empty string at {at}"),
            Value::Object(map) => map.iter().for_each(|(k, v)| no_nulls(v, &format!("{at}.{k}"))),
            Value::Array(items) => items.iter().for_each(|v| no_nulls(v, at)),
            _ => {}
        }
    }
    no_nulls(&line["ocsf"], "ocsf");
    assert!(line["ocsf"].get("ai_model").is_none());
    assert!(line["ocsf"]["actor"]["user"].get("email_addr").is_none());
    assert!(line["ocsf"].get("device").is_some_and(|d| d.get("hostname").is_none()), "{}", line["ocsf"]);
}

#[test]
fn provider_names_map_to_opentelemetry_well_known_values() {
    let cases = [
        ("openai", "openai"),
        ("anthropic", "anthropic"),
        ("gemini", "gcp.gemini"),
        ("mistral", "mistral_ai"),
        ("groq", "groq"),
        ("deepseek", "deepseek"),
        ("xai", "x_ai"),
        ("cohere", "cohere"),
        ("perplexity", "perplexity"),
        ("azure", "azure.ai.openai"),
        ("bedrock", "aws.bedrock"),
        ("vertex", "gcp.vertex_ai"),
        ("x_ai", "x_ai"),
        ("OpenAI", "openai"),
        ("openrouter", "openrouter"),
        ("Internal-LLM", "Internal-LLM"),
    ];
    for (ours, otel) in cases {
        assert_eq!(otel_provider(ours), otel, "{ours}");
    }
}

#[test]
fn api_kinds_map_to_opentelemetry_operation_names() {
    let cases = [
        ("openai_chat", "chat"),
        ("openai_responses", "chat"),
        ("anthropic_messages", "chat"),
        ("openai_completions", "text_completion"),
        ("openai_embeddings", "embeddings"),
        ("gemini_embed", "embeddings"),
        ("gemini_generate", "generate_content"),
        ("gemini_stream_generate", "generate_content"),
        ("some_future_kind", "some_future_kind"),
    ];
    for (api, operation) in cases {
        assert_eq!(otel_operation(api), operation, "{api}");
    }
}

#[test]
fn rfc3339_times_become_epoch_milliseconds() {
    let cases = [
        ("1970-01-01T00:00:00Z", Some(0)),
        ("2026-11-25T23:45:40.123Z", Some(1_795_650_340_123)),
        ("2026-11-25T23:45:40.1Z", Some(1_795_650_340_100)),
        ("2026-11-25T23:45:40.123456789Z", Some(1_795_650_340_123)),
        ("2026-11-26T00:45:40.123+01:00", Some(1_795_650_340_123)),
        ("2026-11-25T18:15:40.123-05:30", Some(1_795_650_340_123)),
        ("2026-11-25t23:45:40z", Some(1_795_650_340_000)),
        ("2026-11-25T23:45:40", None),
        ("2026-11-25T23:45:40.Z", None),
        ("2026-13-25T23:45:40Z", None),
        ("2026-11-25T23:45:40+1:00", None),
        ("2026-11-25T23:45:40Z trailing", None),
        ("+026-11-25T23:45:40Z", None),
        ("", None),
        ("not a time at all, no", None),
    ];
    for (text, ms) in cases {
        assert_eq!(epoch_ms(text), ms, "{text}");
    }
}

#[test]
fn body_mode_reads_from_config_names() {
    #[derive(serde::Deserialize)]
    struct Export {
        #[serde(default)]
        bodies: BodyMode,
    }
    let read = |text: &str| toml::from_str::<Export>(text).map(|e| e.bodies).ok();
    assert_eq!(read(""), Some(BodyMode::Full));
    assert_eq!(read("bodies = \"full\""), Some(BodyMode::Full));
    assert_eq!(read("bodies = \"hashes\""), Some(BodyMode::Hashes));
    assert_eq!(read("bodies = \"none\""), Some(BodyMode::None));
    assert_eq!(read("bodies = \"Full\""), None);
}

#[test]
fn start_and_stop_events_are_ocsf_application_lifecycle() {
    let detail = json!({ "version": "0.1.0", "pid": 77 });
    let event = EventLine {
        kind: "start",
        time: "2026-11-25T23:45:40.123Z",
        device_id: DEVICE,
        hostname: "dev-laptop",
        detail: &detail,
    };
    let line = event_line(&event);
    assert_eq!(keys(&line), ["schema", "type", "event", "time", "device_id", "hostname", "detail", "ocsf"]);
    assert_eq!(line["schema"], SCHEMA);
    assert_eq!(line["type"], "event");
    assert_eq!(line["event"], "start");
    assert_eq!(line["time"], "2026-11-25T23:45:40.123Z");
    assert_eq!(line["detail"], detail);
    let ocsf = &line["ocsf"];
    assert_eq!(ocsf["class_uid"], 6002);
    assert_eq!(ocsf["category_uid"], 6);
    assert_eq!(ocsf["activity_id"], 3);
    assert_eq!(ocsf["type_uid"], 600_203);
    assert_eq!(ocsf["type_name"], "Application Lifecycle: Start");
    assert_eq!(ocsf["severity_id"], 1);
    assert_eq!(ocsf["time"], 1_795_650_340_123_i64);
    assert_eq!(ocsf["app"]["name"], "glassbox");
    assert_eq!(ocsf["metadata"]["event_code"], "start");
    assert_eq!(ocsf["device"], json!({ "hostname": "dev-laptop", "uid": DEVICE, "type_id": 0, "type": "Unknown" }));

    let stop = event_line(&EventLine { kind: "stop", ..event });
    assert_eq!(stop["ocsf"]["type_uid"], 600_204);
}

#[test]
fn other_events_are_ocsf_base_events_with_a_fitting_severity() {
    let detail = json!({});
    let cases =
        [("fail_open_gap", 3), ("captures_dropped", 3), ("captures_truncated", 2), ("admin_read", 1), ("whatever", 1)];
    for (kind, severity) in cases {
        let event = EventLine { kind, time: "bad time", device_id: "d", hostname: "h", detail: &detail };
        let ocsf = event_line(&event)["ocsf"].clone();
        assert_eq!(ocsf["class_uid"], 0, "{kind}");
        assert_eq!(ocsf["class_name"], "Base Event", "{kind}");
        assert_eq!(ocsf["activity_id"], 99, "{kind}");
        assert_eq!(ocsf["type_uid"], 99, "{kind}");
        assert_eq!(ocsf["severity_id"], severity, "{kind}");
        assert_eq!(ocsf["metadata"]["event_code"], kind);
        assert!(ocsf.get("time").is_none(), "an unreadable time is left out, not invented");
        assert!(ocsf.get("app").is_none());
    }
}
