//! HTTP versions towards glassbox: curl over HTTP/1.1 and over h2 both get through and
//! are recorded, and a HEAD passes through.

use glassbox_tests::check::assert_field;

use crate::world::{CURL, MODELS_URL, World, assert_openai_record};

/// `curl <version>` for /v1/models; checks curl's negotiated version, the fake and the record.
fn models_over(name: &str, flag: &str, want_version: &str, want_record_version: &str) {
    let w = World::new(name);
    let out = w.curl(&[flag, "-o", "/dev/null", "-w", "%{http_version}", MODELS_URL]);
    out.assert_success();
    assert_eq!(out.stdout_str().trim(), want_version, "curl {flag} should speak HTTP/{want_version} to glassbox");

    let seen = w.fake.requests();
    assert!(
        seen.iter().any(|r| r.method == "GET" && r.path == "/v1/models"),
        "the fake should see GET /v1/models: {seen:#?}"
    );
    let record = w.agent.wait_for_request("GET /v1/models", |r| r["path"] == "/v1/models");
    assert_openai_record(&record, "GET", "/v1/models", out.pid, CURL);
    assert_field(&record, "/http_version", want_record_version);
}

#[test]
fn http1_1_client_works() {
    models_over("http1", "--http1.1", "1.1", "HTTP/1.1");
}

#[test]
fn h2_client_works() {
    models_over("h2", "--http2", "2", "HTTP/2");
}

#[test]
fn head_passes_through() {
    let w = World::new("head");
    let out = w.curl(&["-I", "https://api.openai.com/"]);
    out.assert_success();
    let headers = out.stdout_str().to_ascii_lowercase();
    let status = headers.lines().next().unwrap_or_default();
    assert!(status.starts_with("http/") && status.contains(" 200"), "HEAD / should get 200: {headers}");
    assert!(headers.contains("x-fake-provider: 1"), "the response should come from the fake: {headers}");

    let seen = w.fake.requests();
    assert!(seen.iter().any(|r| r.method == "HEAD" && r.path == "/"), "the fake should see HEAD /: {seen:#?}");
    let record = w.agent.wait_for_request("HEAD /", |r| r["method"] == "HEAD");
    assert_field(&record, "/status", 200);
    assert_field(&record, "/process/pid", out.pid);
}
