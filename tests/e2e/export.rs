//! Export to a real S3-compatible server (moto, SigV4 enforced) through the real path:
//! curl in the cgroup makes provider calls, the agent records them and uploads signed
//! gzip JSON Lines batches. Every record arrives exactly once and decodes to the
//! documented schema; an S3 outage, and a SIGKILL while a batch waits, lose and
//! duplicate nothing; zero-day retention leaves no record or body on the device while
//! the trail verifies from S3 alone; an altered object or manifest is named by the
//! verifier; wrong credentials or a missing bucket show in `export status` while records
//! wait.

use std::collections::BTreeMap;
use std::time::Duration;

use glassbox_tests::agent::poll;
use glassbox_tests::s3::{S3Server, gunzip_lines};
use glassbox_tests::{Canned, FakeProvider};
use http::Method;
use serde_json::Value;

use crate::calls::{self, post};
use crate::world::{CHAT_PATH, CHAT_URL, World};

const PREFIX: &str = "trail";

fn fake() -> FakeProvider {
    FakeProvider::new().route(
        Method::POST,
        CHAT_PATH,
        Canned::json(200, glassbox_tests::fake::responses::chat_completion().clone()),
    )
}

/// Small batches, uploaded within a second.
fn export_config(s3: &S3Server, extra: &str) -> String {
    format!(
        "[export]\nbatch_records = 3\ninterval_secs = 1\nmax_backoff_secs = 2\n{extra}\n[export.s3]\n{}",
        s3.export_config(PREFIX)
    )
}

fn chat(w: &World, n: usize) {
    for i in 0..n {
        let body = format!(r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"request {i}"}}]}}"#);
        post(w, CHAT_URL, &[("content-type", "application/json")], body.as_bytes()).assert_success();
    }
}

fn export_status(w: &World) -> Value {
    let out = w.agent.cli(&["export", "status", "--json"]);
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("export status --json ({e}): {}", String::from_utf8_lossy(&out)))
}

/// Waits until `n` records are recorded and S3 has acknowledged all of them, and the
/// agent's events too: until then an upload may be half done (an object without its
/// manifest), which `verify --s3` rightly reports.
fn wait_exported(w: &World, n: usize, timeout: Duration) {
    w.agent.wait_for_requests("records", n, |_| true);
    poll(timeout * 2, || {
        let status = export_status(w);
        (status["backlog"] == 0 && status["events_backlog"] == 0).then_some(())
    })
    .unwrap_or_else(|| panic!("backlog not empty after {timeout:?}: {}\nlog:\n{}", export_status(w), w.agent.log()));
}

/// Every record line in the bucket, by seq; panics on a seq seen twice.
fn exported_records(s3: &S3Server) -> BTreeMap<u64, Value> {
    let mut by_seq = BTreeMap::new();
    for (key, bytes) in s3.objects(PREFIX) {
        if !key.ends_with(".jsonl.gz") {
            continue;
        }
        for line in gunzip_lines(&bytes) {
            if line["type"] != "record" {
                continue;
            }
            let seq = line["glassbox"]["seq"].as_u64().unwrap_or_else(|| panic!("line without seq in {key}: {line}"));
            assert!(by_seq.insert(seq, line).is_none(), "record {seq} exported twice (again in {key})");
        }
    }
    by_seq
}

/// Every agent event line in the bucket, in key order.
fn exported_events(s3: &S3Server) -> Vec<Value> {
    s3.objects(PREFIX)
        .into_iter()
        .filter(|(key, _)| {
            key.rsplit('/').next().is_some_and(|name| name.starts_with("events-")) && key.ends_with(".jsonl.gz")
        })
        .flat_map(|(_, bytes)| gunzip_lines(&bytes))
        .collect()
}

/// Polls `probe` every half second (listing the bucket is work for moto) until it
/// returns `Some`, or `None` after `timeout`.
fn poll_bucket<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn verify_s3(w: &World) -> (bool, String) {
    let out = w.agent.cli_output(&["verify", "--s3"]);
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn every_record_arrives_once_in_the_documented_schema() {
    let s3 = S3Server::start();
    let w = calls::world("export_once", fake(), &export_config(&s3, ""));
    chat(&w, 7);
    wait_exported(&w, 7, Duration::from_secs(30));
    let records = exported_records(&s3);
    assert_eq!(records.keys().copied().collect::<Vec<_>>(), (1..=7).collect::<Vec<_>>());
    let line = &records[&1];
    assert_eq!(line["schema"], "glassbox.export.v1", "{line}");
    assert_eq!(line["gen_ai.provider.name"], "openai", "{line}");
    assert_eq!(line["gen_ai.request.model"], "gpt-4o-mini", "{line}");
    assert_eq!(line["gen_ai.usage.input_tokens"], 25, "{line}");
    assert_eq!(line["gen_ai.usage.output_tokens"], 92, "{line}");
    assert_eq!(line["ocsf"]["class_uid"], 6003, "{line}");
    assert!(line["bodies"]["request"].as_str().is_some_and(|b| b.contains("request 0")), "{line}");
    let device = w.agent.identity_json()["device_id"].as_str().expect("device id").to_owned();
    let keys = s3.keys(PREFIX);
    assert!(keys.iter().all(|k| k.starts_with(&format!("{PREFIX}/{device}/"))), "{keys:?}");
    let manifests = keys.iter().filter(|k| k.ends_with(".manifest.json")).count();
    let objects = keys.iter().filter(|k| k.ends_with(".jsonl.gz")).count();
    assert_eq!(manifests, objects, "one manifest per object: {keys:?}");
    let (ok, out) = verify_s3(&w);
    assert!(ok, "verify --s3 should pass: {out}");
    assert!(out.contains("7 records"), "{out}");

    // Agent events go into the same trail: the start now, the stop on SIGTERM.
    poll_bucket(Duration::from_secs(60), || exported_events(&s3).iter().any(|e| e["event"] == "start").then_some(()))
        .unwrap_or_else(|| panic!("no start event exported: {:?}", s3.keys(PREFIX)));
    let mut w = w;
    w.agent.terminate();
    let events = exported_events(&s3);
    let stop = events.iter().find(|e| e["event"] == "stop").unwrap_or_else(|| panic!("no stop event: {events:?}"));
    assert_eq!(stop["schema"], "glassbox.export.v1", "{stop}");
    assert_eq!(stop["device_id"], device.as_str(), "{stop}");
    let (ok, out) = verify_s3(&w);
    assert!(ok, "events manifests verify too: {out}");
}

#[test]
fn an_s3_outage_loses_and_duplicates_nothing() {
    let s3 = S3Server::start();
    let w = calls::world("export_outage", fake(), &export_config(&s3, ""));
    chat(&w, 2);
    wait_exported(&w, 2, Duration::from_secs(30));
    s3.go_down();
    chat(&w, 5);
    let status = poll(Duration::from_secs(40), || {
        let s = export_status(&w);
        (s["backlog"] == 5 && s["last_error"].is_string()).then_some(s)
    })
    .unwrap_or_else(|| panic!("export status should show 5 waiting and the error: {}", export_status(&w)));
    assert!(status["last_error"].as_str().unwrap_or_default().contains("put"), "{status}");
    let agent_status = w.agent.status_json();
    assert_eq!(agent_status["export"]["backlog"], 5, "`status` shows the backlog too: {agent_status}");
    s3.come_up();
    wait_exported(&w, 7, Duration::from_secs(60));
    assert_eq!(exported_records(&s3).keys().copied().collect::<Vec<_>>(), (1..=7).collect::<Vec<_>>());
    assert!(export_status(&w)["last_error"].is_null(), "a success clears the error");
    let (ok, out) = verify_s3(&w);
    assert!(ok, "{out}");
}

#[test]
fn a_sigkill_while_a_batch_waits_loses_nothing() {
    let s3 = S3Server::start();
    let mut w = calls::world("export_kill", fake(), &export_config(&s3, ""));
    s3.go_down();
    chat(&w, 4);
    // The first batch is planned and failing: the agent dies in the middle of it.
    poll(Duration::from_secs(40), || export_status(&w)["pending_batch"].is_string().then_some(()))
        .unwrap_or_else(|| panic!("no batch pending: {}", export_status(&w)));
    w.agent.kill();
    s3.come_up();
    w.agent.restart();
    chat(&w, 2);
    wait_exported(&w, 6, Duration::from_secs(60));
    // The time the agent was dead, when traffic went direct, is in the trail.
    let gap = poll_bucket(Duration::from_secs(60), || {
        exported_events(&s3).into_iter().find(|e| e["event"] == "fail_open_gap")
    })
    .unwrap_or_else(|| panic!("no fail_open_gap event: {:?}", s3.keys(PREFIX)));
    assert_eq!(gap["detail"]["clean_stop"], false, "a SIGKILL is no clean stop: {gap}");
    assert_eq!(exported_records(&s3).keys().copied().collect::<Vec<_>>(), (1..=6).collect::<Vec<_>>());
    let (ok, out) = verify_s3(&w);
    assert!(ok, "{out}");
}

#[test]
fn zero_retention_keeps_nothing_local_and_the_trail_verifies_from_s3() {
    let s3 = S3Server::start();
    let w = calls::world(
        "export_zero",
        fake(),
        &export_config(&s3, "").replace("[export.s3]", "[retention]\ndays = 0\n\n[export.s3]"),
    );
    // While S3 is unreachable nothing may be purged: the records are not exported yet.
    s3.go_down();
    chat(&w, 2);
    std::thread::sleep(Duration::from_secs(3));
    let held = w.agent.db_python("print(db.execute('SELECT count(*) FROM requests').fetchone()[0])", &[]);
    assert_eq!(held.trim(), "2", "unexported records stay with zero retention");
    s3.come_up();
    chat(&w, 3);
    poll_bucket(Duration::from_secs(90), || (exported_records(&s3).len() == 5).then_some(()))
        .unwrap_or_else(|| panic!("5 records should be exported: {}\nlog:\n{}", export_status(&w), w.agent.log()));
    let left = poll(Duration::from_secs(30), || {
        let counts = w.agent.db_python(
            "print(db.execute('SELECT count(*) FROM requests').fetchone()[0], db.execute('SELECT count(*) FROM chunks').fetchone()[0])",
            &[],
        );
        (counts.trim() == "0 0").then_some(())
    });
    assert!(left.is_some(), "the database should hold no record and no body chunk after export");
    let (ok, out) = verify_s3(&w);
    assert!(ok, "the trail verifies from S3 alone: {out}");
    let local = w.agent.cli_output(&["verify"]);
    assert!(local.status.success(), "local verify after purge: {}", String::from_utf8_lossy(&local.stdout));

    // The same response again: its chunks were purged with the records that had them,
    // though the capture thread remembers them as stored. They are stored again.
    chat(&w, 2);
    poll_bucket(Duration::from_secs(90), || (exported_records(&s3).len() == 7).then_some(()))
        .unwrap_or_else(|| panic!("7 records should be exported: {}\nlog:\n{}", export_status(&w), w.agent.log()));
    let records = exported_records(&s3);
    assert!(records[&7]["bodies"]["response"].as_str().is_some_and(|b| b.contains("chatcmpl-")), "{}", records[&7]);
    let (ok, out) = verify_s3(&w);
    assert!(ok, "{out}");
}

#[test]
fn an_altered_object_or_manifest_is_detected() {
    let s3 = S3Server::start();
    let w = calls::world("export_tamper", fake(), &export_config(&s3, ""));
    chat(&w, 6);
    wait_exported(&w, 6, Duration::from_secs(30));
    assert!(verify_s3(&w).0, "untouched trail verifies");
    let keys = s3.keys(PREFIX);
    let object = keys.iter().find(|k| k.ends_with(".jsonl.gz")).expect("an object").clone();
    let original = s3.get(&object);
    // Re-compress the lines with one record's model changed: a valid object, wrong content.
    let lines: Vec<String> = gunzip_lines(&original)
        .into_iter()
        .map(|mut l| {
            l["gen_ai.request.model"] = "gpt-4o".into();
            l.to_string()
        })
        .collect();
    s3.put(&object, &glassbox_tests::s3::gzip(format!("{}\n", lines.join("\n")).as_bytes()));
    let (ok, out) = verify_s3(&w);
    assert!(!ok && out.contains(&object), "an altered object should be named: {out}");
    s3.put(&object, &original);
    let manifest = keys.iter().find(|k| k.ends_with(".manifest.json")).expect("a manifest").clone();
    let mut m: Value = serde_json::from_slice(&s3.get(&manifest)).expect("manifest JSON");
    m["last_seq"] = (m["last_seq"].as_u64().unwrap_or(0) + 1).into();
    s3.put(&manifest, m.to_string().as_bytes());
    let (ok, out) = verify_s3(&w);
    assert!(!ok && out.contains(&manifest) && out.contains("altered"), "an altered manifest should be named: {out}");
    s3.delete(&manifest);
    let (ok, out) = verify_s3(&w);
    assert!(!ok && out.contains("no valid manifest"), "a missing manifest leaves its object unproven: {out}");
}

#[test]
fn wrong_credentials_or_a_missing_bucket_show_and_records_wait() {
    let s3 = S3Server::start();
    let config = export_config(&s3, "").replace(s3.secret_access_key(), "not-the-secret-0000000000000000000000000");
    let w = calls::world("export_badcreds", fake(), &config);
    chat(&w, 2);
    let status = poll(Duration::from_secs(40), || {
        let s = export_status(&w);
        s["last_error"].is_string().then_some(s)
    })
    .unwrap_or_else(|| panic!("no error in export status: {}", export_status(&w)));
    let error = status["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("SignatureDoesNotMatch") || error.contains("InvalidAccessKeyId"), "a clear error: {status}");
    assert_eq!(status["backlog"], 2, "records keep waiting: {status}");
    assert!(w.agent.log().contains(error.split(':').next().unwrap_or("s3")), "the log says it too");
    assert!(s3.keys(PREFIX).is_empty());
    drop(w);

    let config = export_config(&s3, "")
        .replace(&format!("bucket = \"{}\"", s3.bucket()), "bucket = \"no-such-bucket-glassbox\"");
    let w = calls::world("export_nobucket", fake(), &config);
    chat(&w, 1);
    let status = poll(Duration::from_secs(40), || {
        let s = export_status(&w);
        s["last_error"].is_string().then_some(s)
    })
    .unwrap_or_else(|| panic!("no error in export status: {}", export_status(&w)));
    assert!(status["last_error"].as_str().unwrap_or_default().contains("NoSuchBucket"), "{status}");
    assert_eq!(status["backlog"], 1);
    let human = String::from_utf8_lossy(&w.agent.cli(&["export", "status"])).into_owned();
    assert!(human.contains("NoSuchBucket") && human.contains("backlog: 1"), "{human}");
}
