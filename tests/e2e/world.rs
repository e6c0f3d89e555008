//! The usual set-up of one test: a cgroup; a fake provider answering for api.openai.com,
//! api.anthropic.com, generativelanguage.googleapis.com and other.example on its own
//! address; an agent attached to the cgroup that intercepts the first two (openai,
//! anthropic) unless told otherwise; a CA bundle trusting the system roots plus
//! glassbox's CA; and clients confined to the cgroup.

use std::path::PathBuf;

use glassbox_tests::check::{assert_field, assert_positive, field, is_rfc3339};
use glassbox_tests::{Agent, AgentHandle, Cgroup, Client, ClientOutput, FakeHandle, FakeProvider, Hosts, SeenRequest};
use serde_json::Value;

pub const OPENAI: &str = "api.openai.com";
pub const ANTHROPIC: &str = "api.anthropic.com";
pub const GEMINI: &str = "generativelanguage.googleapis.com";
/// Not a provider, but served by the same fake on the same address.
pub const OTHER: &str = "other.example";
pub const CHAT_PATH: &str = "/v1/chat/completions";
pub const CHAT_URL: &str = "https://api.openai.com/v1/chat/completions";
pub const MODELS_URL: &str = "https://api.openai.com/v1/models";
/// Run by absolute path so the record's exe is known.
pub const CURL: &str = "/usr/bin/curl";

/// One test's cgroup, fake provider and agent. Fields drop in order: the agent dies
/// before its cgroup is removed.
pub struct World {
    pub agent: AgentHandle,
    pub fake: FakeHandle,
    pub hosts: Hosts,
    /// System roots + glassbox CA (not the test CA).
    pub bundle: PathBuf,
    pub cgroup: Cgroup,
}

impl World {
    pub fn new(name: &str) -> Self {
        Self::build(name, FakeProvider::new(), |agent| agent)
    }

    /// Like `new`, with the agent builder adjusted by `configure`.
    pub fn with(name: &str, configure: impl FnOnce(Agent) -> Agent) -> Self {
        Self::build(name, FakeProvider::new(), configure)
    }

    pub fn build(name: &str, fake: FakeProvider, configure: impl FnOnce(Agent) -> Agent) -> Self {
        let cgroup = Cgroup::new(name);
        let fake = fake.start();
        let hosts = Hosts::from_pairs(&fake.hosts(&[OPENAI, ANTHROPIC, GEMINI, OTHER]));
        let agent = configure(Agent::new().cgroup(&cgroup).hosts_from(&hosts)).start();
        let bundle = agent.ca_bundle(false);
        World { agent, fake, hosts, bundle, cgroup }
    }

    /// A client in the cgroup with the hosts mapping, trusting `bundle` through the usual
    /// variables (CURL_CA_BUNDLE, SSL_CERT_FILE).
    pub fn client_trusting(&self, bundle: &std::path::Path) -> Client {
        Client::new(&self.cgroup).hosts_from(&self.hosts).env("CURL_CA_BUNDLE", bundle).env("SSL_CERT_FILE", bundle)
    }

    /// A client trusting the system roots plus glassbox's CA.
    pub fn client(&self) -> Client {
        self.client_trusting(&self.bundle)
    }

    /// `curl -sS --max-time 20 ARGS…` as a confined client.
    pub fn curl(&self, args: &[&str]) -> ClientOutput {
        self.curl_with(self.client(), args)
    }

    pub fn curl_with(&self, client: Client, args: &[&str]) -> ClientOutput {
        let base = ["-sS", "--max-time", "20"];
        client.cmd(CURL, base.iter().chain(args)).output()
    }
}

/// A chat completion request body as a client would send it.
pub fn chat_body(stream: bool) -> String {
    format!(
        r#"{{"model":"gpt-4o-mini","stream":{stream},"messages":[{{"role":"system","content":"You are terse."}},{{"role":"user","content":"Say hello."}}]}}"#
    )
}

/// Checks the fields every record of an intercepted api.openai.com request must carry.
#[track_caller]
pub fn assert_openai_record(record: &Value, method: &str, path: &str, pid: u32, exe: &str) {
    assert_field(record, "/method", method);
    assert_field(record, "/path", path);
    assert_field(record, "/status", 200);
    assert_field(record, "/host", OPENAI);
    assert_field(record, "/provider", "openai");
    assert_field(record, "/process/pid", pid);
    assert_field(record, "/process/uid", 0);
    assert_field(record, "/process/exe", exe);
    assert!(!field(record, "/id").is_null(), "record has no id: {record}");
    assert!(field(record, "/duration_ms").is_number(), "record has no duration_ms: {record}");
    let time = field(record, "/time").as_str().unwrap_or_default();
    assert!(is_rfc3339(time), "record time {time:?} is not RFC 3339: {record}");
}

/// Checks that a request with a body and a response body counted bytes both ways.
#[track_caller]
pub fn assert_bytes_counted(record: &Value) {
    assert_positive(record, "/bytes_received");
    assert_positive(record, "/bytes_sent");
}

/// The `-w '%{http_code}'` part of an output written as `%{http_code}\n…`.
pub fn http_code(out: &ClientOutput) -> String {
    out.stdout_str().lines().next().unwrap_or_default().trim().to_owned()
}

/// One line per request the fake saw: method, path, SNI, headers and the start of the
/// body, for failure messages about what a real client sent.
pub fn describe_seen(seen: &[SeenRequest]) -> String {
    let mut text = String::new();
    for r in seen {
        let headers: Vec<String> =
            r.headers.iter().map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes()))).collect();
        let body = String::from_utf8_lossy(&r.body[..r.body.len().min(300)]).into_owned();
        text.push_str(&format!(
            "{} {} (sni {:?}, {} body bytes)\n  {}\n  body: {body}\n",
            r.method,
            r.path,
            r.sni,
            r.body.len(),
            headers.join("\n  ")
        ));
    }
    if text.is_empty() { "nothing".to_owned() } else { text }
}
