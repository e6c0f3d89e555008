//! The official `openai` Python SDK, unchanged but for SSL_CERT_FILE, reaches the fake
//! through glassbox for a plain and a streamed chat completion, and is recorded against
//! the Python process.

use std::process::Command;

use glassbox_tests::fake::responses;

use crate::world::{CHAT_PATH, World, assert_bytes_counted, assert_openai_record};

/// Prints `{"pid", "exe", "content"}` after one chat completion (argv[1]: json|stream).
const CHAT: &str = r#"
import json, os, sys
import openai
client = openai.OpenAI(api_key="sk-test", max_retries=0, timeout=20)
messages = [{"role": "user", "content": "Say hello."}]
if sys.argv[1] == "stream":
    content = ""
    for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            content += chunk.choices[0].delta.content
else:
    content = client.chat.completions.create(model="gpt-4o-mini", messages=messages).choices[0].message.content
print(json.dumps({"pid": os.getpid(), "exe": os.readlink("/proc/self/exe"), "content": content}))
"#;

/// Fails (never skips) when the SDK is missing.
fn require_openai_sdk() {
    let out = Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3: {e}"));
    assert!(
        out.status.success(),
        "the openai Python SDK is not installed for python3 (`pip install openai`; the set-up command installs it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sdk_chat(name: &str, mode: &str, want: &str, want_stream: bool) {
    require_openai_sdk();
    let w = World::new(name);
    let out = w.client().cmd("python3", ["-c", CHAT, mode]).output();
    out.assert_success();
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("SDK script printed no JSON ({e}): {}", out.stdout_str()));
    assert_eq!(printed["content"], want, "content the SDK parsed vs what the fake sent");

    let seen = w.fake.requests();
    assert_eq!(seen.len(), 1, "the fake should see exactly one request: {seen:#?}");
    assert_eq!(seen[0].path, CHAT_PATH);
    let stream = seen[0].json()["stream"] == true;
    assert_eq!(stream, want_stream, "the SDK's request body: {:?}", seen[0].body);
    let agent = seen[0].header("user-agent").unwrap_or_default();
    assert!(agent.starts_with("OpenAI/Python"), "the SDK's user-agent should pass unchanged: {agent:?}");

    let pid = u32::try_from(printed["pid"].as_u64().expect("pid")).unwrap();
    let exe = printed["exe"].as_str().expect("exe");
    let record = w.agent.wait_for_request("the SDK's chat completion", |r| r["path"] == CHAT_PATH);
    assert_openai_record(&record, "POST", CHAT_PATH, pid, exe);
    assert_bytes_counted(&record);
}

#[test]
fn openai_sdk_json() {
    sdk_chat("sdk_json", "json", responses::CHAT_TEXT, false);
}

#[test]
fn openai_sdk_stream() {
    sdk_chat("sdk_stream", "stream", &responses::stream_text(), true);
}
