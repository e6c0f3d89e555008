//! One provider call through the real interception path, for the capture tests: a world
//! whose agent intercepts openai, anthropic and gemini (with extra config) and whose fake
//! answers canned routes; curl posting a body from stdin; and the record glassbox kept of
//! it, as `requests --json` lists it and as `show --json --bodies` prints it.

use std::time::Duration;

use glassbox_tests::agent::poll;
use glassbox_tests::check::assert_field;
use glassbox_tests::{ClientOutput, FakeProvider};
use serde_json::Value;

use crate::world::{ANTHROPIC, GEMINI, OPENAI, World};

/// A world for capture tests: the fake as given, an agent intercepting the three
/// providers with `config` (TOML, e.g. a `[capture]` section) appended to its config.
pub fn world(name: &str, fake: FakeProvider, config: &str) -> World {
    World::build(name, fake, |agent| {
        agent
            .provider("openai", &[OPENAI])
            .provider("anthropic", &[ANTHROPIC])
            .provider("gemini", &[GEMINI])
            .config(config)
    })
}

/// `curl -sS -N -X POST -H … --data-binary @- URL` in the cgroup, the body on stdin (no
/// argv limit, no newline stripping), the response body on stdout. Not checked for success.
pub fn post(w: &World, url: &str, headers: &[(&str, &str)], body: &[u8]) -> ClientOutput {
    post_with(w, &[], url, headers, body)
}

/// [`post`] with more curl options first, e.g. `--http1.1`.
pub fn post_with(w: &World, options: &[&str], url: &str, headers: &[(&str, &str)], body: &[u8]) -> ClientOutput {
    let mut args: Vec<String> = ["-sS", "--max-time", "20", "-N", "-X", "POST"].map(String::from).to_vec();
    args.extend(options.iter().map(|o| (*o).to_owned()));
    for (name, value) in headers {
        args.push("-H".into());
        args.push(format!("{name}: {value}"));
    }
    args.extend(["--data-binary".into(), "@-".into(), url.into()]);
    w.client().stdin(body).cmd(crate::world::CURL, &args).output()
}

/// How long a record may take to be written (asynchronously, after the response).
const RECORD_TIMEOUT: Duration = Duration::from_secs(10);

/// What glassbox kept of one call.
pub struct Recorded {
    /// The record as `requests --json` lists it.
    pub record: Value,
    /// `show ID --json --bodies`: the record plus `request_body` and `response_body`.
    pub shown: Value,
}

impl Recorded {
    /// The stored request body.
    pub fn request_body(&self) -> &str {
        body(&self.shown, "request_body")
    }

    /// The stored response body.
    pub fn response_body(&self) -> &str {
        body(&self.shown, "response_body")
    }

    /// The body sent upstream, stored when policy changed it to differ from the stored
    /// request body.
    pub fn upstream_body(&self) -> Option<&str> {
        self.shown["upstream_body"].as_str()
    }
}

fn body<'a>(shown: &'a Value, field: &str) -> &'a str {
    shown[field].as_str().unwrap_or_else(|| panic!("`show --json --bodies` has no string {field}: {shown}"))
}

/// Waits for the record of the `nth` (0-based) request whose path starts with `path`, then
/// reads it again with `show`; `show`'s record must be the listed record plus the bodies.
pub fn recorded(w: &World, what: &str, path: &str, nth: usize) -> Recorded {
    let matches = |r: &Value| r["path"].as_str().is_some_and(|p| p.starts_with(path));
    let mut all = Vec::new();
    let record = poll(RECORD_TIMEOUT, || {
        all = w.agent.requests_json();
        all.iter().filter(|r| matches(r)).nth(nth).cloned()
    })
    .unwrap_or_else(|| {
        let all: Vec<String> = all.iter().map(Value::to_string).collect();
        panic!("no record #{nth} for {what} (path {path}…) within {RECORD_TIMEOUT:?}; records:\n{}", all.join("\n"))
    });
    let shown = w.agent.show_json(&record["id"], true);
    let mut plain = shown.clone();
    if let Some(object) = plain.as_object_mut() {
        object.remove("request_body");
        object.remove("response_body");
        object.remove("upstream_body");
    }
    assert_eq!(plain, record, "`show --json --bodies` minus the bodies should be the record `requests --json` lists");
    assert_field(&record, "/method", "POST");
    Recorded { record, shown }
}
