//! Self-checks of the harness, with no agent: a confined client runs inside the test's
//! cgroup, resolves provider names to the fake through its private /etc/hosts (the
//! host's file untouched), and reaches the fake over TLS trusting the test CA. When an
//! end-to-end test fails, these say whether the harness or the agent is at fault.

use glassbox_tests::check::assert_bytes_eq;
use glassbox_tests::{Cgroup, Client, FakeProvider, certs};

use crate::world::{CHAT_URL, CURL, OPENAI, chat_body};

#[test]
fn confined_client_runs_in_cgroup_with_private_hosts() {
    let cgroup = Cgroup::new("harness_confine");
    let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    let out = Client::new(&cgroup)
        .hosts(&[(OPENAI, "127.0.9.9")])
        .cmd("sh", ["-c", "cat /proc/self/cgroup; getent hosts api.openai.com; echo pid=$$"])
        .output();
    out.assert_success();
    let text = out.stdout_str();
    let name = cgroup.path().file_name().unwrap().to_string_lossy().into_owned();
    assert!(text.lines().any(|l| l.starts_with("0::") && l.ends_with(&name)), "not in the cgroup: {text}");
    assert!(text.contains("127.0.9.9") && text.contains(OPENAI), "hosts mapping not seen: {text}");
    assert!(text.contains(&format!("pid={}", out.pid)), "reported pid is not the client's: {text}");
    assert_eq!(std::fs::read_to_string("/etc/hosts").unwrap(), host_hosts, "the host's /etc/hosts changed");
}

#[test]
fn confined_curl_reaches_fake_directly() {
    let cgroup = Cgroup::new("harness_direct");
    let fake = FakeProvider::new().start();
    let test_ca = certs::test_ca();
    let out = Client::new(&cgroup)
        .hosts(&fake.hosts(&[OPENAI]))
        .cmd(
            CURL,
            ["-sS", "--max-time", "10", "--cacert", test_ca.to_str().unwrap(), "-d", &chat_body(false), CHAT_URL],
        )
        .output();
    out.assert_success();
    assert_bytes_eq(&out.stdout, &fake.chat_completion(), "curl's stdout vs the fake's JSON body");
    let seen = fake.requests();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0].sni.as_deref(), Some(OPENAI));
}
