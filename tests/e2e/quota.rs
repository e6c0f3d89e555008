//! Spend quotas through the real path. Per-user and per-run token buckets under 20
//! concurrent streaming requests: each reserves its estimate before it is sent, so the charges never
//! pass the capacity even though, unreserved, every request would have gone through; the
//! rest get 429 in OpenAI's format naming the bucket. A per-run bucket keeps CI runs
//! apart, is refilled by `glassbox quota refill`, and its level survives a restart.

use std::thread;
use std::time::Duration;

use glassbox_tests::fake::responses::chat_stream;
use glassbox_tests::{Canned, FakeProvider};
use http::Method;
use serde_json::Value;

use crate::calls::{self, post};
use crate::world::{CHAT_PATH, CHAT_URL, CURL, World};

/// Tokens the fake's stream reports: 100 in, 80 out.
const STREAM_TOKENS: f64 = 180.0;

/// A streamed chat completion whose usage chunk says 100 + 80 tokens.
fn fake() -> FakeProvider {
    let stream = String::from_utf8(chat_stream().to_vec()).expect("utf-8 stream").replace(
        r#""prompt_tokens":12,"completion_tokens":8,"total_tokens":20"#,
        r#""prompt_tokens":100,"completion_tokens":80,"total_tokens":180"#,
    );
    assert!(stream.contains("\"total_tokens\":180"), "the fixture's usage changed; update this test");
    FakeProvider::new().sse_delay(Duration::from_millis(60)).route(Method::POST, CHAT_PATH, Canned::sse(stream))
}

/// ~170 bytes (≈ 43 tokens) + max_tokens 150: an estimate of about 193 ≥ the 180 charged.
fn body() -> &'static [u8] {
    br#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"max_tokens":150,"messages":[{"role":"user","content":"Say hello."}]}"#
}

fn quota_levels(w: &World) -> Vec<Value> {
    String::from_utf8_lossy(&w.agent.cli(&["quota", "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("quota --json line {l:?}: {e}")))
        .collect()
}

fn level(w: &World, bucket: &str, instance: &str) -> f64 {
    let levels = quota_levels(w);
    levels
        .iter()
        .find(|l| l["bucket"] == bucket && l["instance"] == instance)
        .and_then(|l| l["level"].as_f64())
        .unwrap_or_else(|| panic!("no level for {bucket} / {instance} in {levels:?}"))
}

/// 20 streams at once from one CI run: both the person's bucket and the run's are charged,
/// and the smaller (the run's 700 tokens) decides; neither is overshot.
#[test]
fn concurrent_streams_never_overshoot_user_and_run_buckets() {
    let config = "[[quotas]]\nname = \"per-user\"\nscope = \"<user>\"\nunit = \"tokens\"\ncapacity = 1000\nrefill = 0\n\n\
                  [[quotas]]\nname = \"per-run\"\nscope = \"<run>\"\nunit = \"tokens\"\ncapacity = 700\nrefill = 0\n";
    let w = calls::world("quota_user", fake(), config);
    let outputs: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                s.spawn(|| {
                    let args = [
                        "-sS",
                        "--max-time",
                        "30",
                        "-N",
                        "-H",
                        "content-type: application/json",
                        "--data-binary",
                        "@-",
                        CHAT_URL,
                    ];
                    let client = w.client().env("GITHUB_ACTIONS", "true").env("GITHUB_RUN_ID", "2001");
                    client.stdin(body()).cmd(CURL, args).output().stdout_str()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("client thread")).collect()
    });
    let passed = outputs.iter().filter(|o| o.contains("[DONE]")).count();
    let refused: Vec<&String> = outputs.iter().filter(|o| o.contains("glassbox_quota_exceeded")).collect();
    assert_eq!(passed + refused.len(), 20, "every request either streamed or was refused: {outputs:?}");
    assert!(passed >= 1, "the first requests fit the bucket");
    let charged = passed as f64 * STREAM_TOKENS;
    assert!(charged <= 700.0, "{passed} streams charged {charged} tokens to a 700-token run bucket");
    assert_eq!(w.fake.requests().len(), passed, "refused requests never reached the provider");
    let error: Value = serde_json::from_str(refused[0]).expect("429 body is JSON");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("per-run") && message.contains("github_actions:2001"),
        "names bucket and instance: {error}"
    );

    w.agent.wait_for_requests("all 20", 20, |r| r["path"] == CHAT_PATH);
    let records = w.agent.requests_json();
    for bucket in ["per-user", "per-run"] {
        let charges: f64 = records
            .iter()
            .flat_map(|r| r["policy"]["quota"]["charges"].as_array().cloned().unwrap_or_default())
            .filter(|c| c["bucket"] == bucket)
            .map(|c| c["charged"].as_f64().unwrap_or_default())
            .sum();
        assert!((charges - charged).abs() < 1e-6, "records charge {bucket} {charges}, streams {charged}");
    }
    let refused_by_run = |r: &&Value| r["status"] == 429 && r["policy"]["refused_by"] == "quota:per-run";
    assert_eq!(records.iter().filter(refused_by_run).count(), refused.len());
    // Levels are saved within a second of the last charge.
    for (bucket, instance, capacity) in [("per-user", "root", 1000.0), ("per-run", "github_actions:2001", 700.0)] {
        let want = capacity - charged;
        glassbox_tests::agent::poll(Duration::from_secs(5), || {
            ((level(&w, bucket, instance) - want).abs() < 1e-6).then_some(())
        })
        .unwrap_or_else(|| panic!("{bucket} level should be {want}: {:?}", quota_levels(&w)));
    }
}

#[test]
fn run_buckets_refill_and_survive_a_restart() {
    let config = "[[quotas]]\nname = \"per-run\"\nscope = \"<run>\"\nunit = \"tokens\"\ncapacity = 500\nrefill = 0\n";
    let mut w = calls::world("quota_run", fake(), config);
    let in_run = |w: &World, run: &str| {
        let client =
            w.client().env("GITHUB_ACTIONS", "true").env("GITHUB_RUN_ID", run).env("GITHUB_REPOSITORY", "acme/app");
        let args =
            ["-sS", "--max-time", "30", "-N", "-H", "content-type: application/json", "--data-binary", "@-", CHAT_URL];
        client.stdin(body()).cmd(CURL, args).output().stdout_str()
    };
    // A models list is no model call: never charged (the level below proves it).
    let models = w.client().env("GITHUB_ACTIONS", "true").env("GITHUB_RUN_ID", "1001");
    let listed = models.cmd(CURL, ["-sS", "--max-time", "20", crate::world::MODELS_URL]).output().stdout_str();
    assert!(listed.contains("gpt-4o"), "{listed}");
    // 500 tokens hold two streams of 180; the third estimate no longer fits.
    assert!(in_run(&w, "1001").contains("[DONE]"));
    assert!(in_run(&w, "1001").contains("[DONE]"));
    let third = in_run(&w, "1001");
    assert!(third.contains("glassbox_quota_exceeded") && third.contains("per-run"), "{third}");
    assert!(in_run(&w, "1002").contains("[DONE]"), "another run has its own bucket");
    assert!(
        post(&w, CHAT_URL, &[("content-type", "application/json")], body()).stdout_str().contains("[DONE]"),
        "no run, no run bucket"
    );

    let instance = "github_actions:1001";
    glassbox_tests::agent::poll(Duration::from_secs(5), || {
        ((level(&w, "per-run", instance) - 140.0).abs() < 1e-6).then_some(())
    })
    .unwrap_or_else(|| panic!("per-run level for 1001 should be 140: {:?}", quota_levels(&w)));

    w.agent.terminate();
    w.agent.restart();
    assert!((level(&w, "per-run", instance) - 140.0).abs() < 1e-6, "the level survived the restart");
    assert!(in_run(&w, "1001").contains("glassbox_quota_exceeded"), "still empty after the restart");

    w.agent.cli(&["quota", "refill", "per-run", "--instance", instance]);
    // Back at capacity with nothing reserved, the instance is forgotten (a new one starts full).
    let levels = quota_levels(&w);
    let refilled = levels.iter().find(|l| l["bucket"] == "per-run" && l["instance"] == instance);
    assert!(
        refilled.is_none_or(|l| (l["level"].as_f64().unwrap_or_default() - 500.0).abs() < 1e-6),
        "refilled to capacity: {levels:?}"
    );
    assert!(in_run(&w, "1001").contains("[DONE]"), "a refilled bucket admits again");
}
