//! The agent's own life: its upstream connections are never redirected even when it runs
//! inside the attached cgroup (the loop counter stays 0), and killing it removes the
//! redirect so clients reach the provider directly.

use std::time::Duration;

use glassbox_tests::agent::poll;
use glassbox_tests::certs::{self, TEST_CA_CN};
use glassbox_tests::check::{assert_bytes_eq, assert_field, leaf_issuer};
use glassbox_tests::{Client, ClientOutput};

use crate::world::{CHAT_PATH, CHAT_URL, CURL, MODELS_URL, World, assert_openai_record, chat_body, http_code};

#[test]
fn agent_inside_attached_cgroup_makes_no_loops() {
    let w = World::with("loop", |agent| agent.in_cgroup(true));
    let agent_pid = i32::try_from(w.agent.pid()).unwrap();
    assert!(w.cgroup.procs().contains(&agent_pid), "the agent should run inside the attached cgroup");

    let out = w.curl(&["-H", "content-type: application/json", "-d", &chat_body(false), CHAT_URL]);
    out.assert_success();
    assert_bytes_eq(&out.stdout, &w.fake.chat_completion(), "curl's stdout vs the fake's JSON body");
    assert_eq!(w.fake.requests().len(), 1, "the request should reach the fake exactly once");
    let record = w.agent.wait_for_request("curl's chat completion", |r| r["path"] == CHAT_PATH);
    assert_openai_record(&record, "POST", CHAT_PATH, out.pid, CURL);

    // Counters are published periodically: wait until they include this connection.
    let status = w.agent.wait_for_status("the intercepted connection", |s| {
        s["connections"]["intercepted"].as_u64().is_some_and(|n| n >= 1)
    });
    assert_field(&status, "/loops", 0);
}

#[test]
fn killed_agent_leaves_traffic_direct() {
    let mut w = World::new("kill");
    let args = ["-o", "/dev/null", "-w", "%{http_code}\n%{certs}", MODELS_URL];
    let before = w.curl(&args);
    before.assert_success();
    let issuer = leaf_issuer(&before.stdout_str()).map(str::to_owned);
    assert!(
        issuer.as_deref().is_some_and(|i| !i.contains(TEST_CA_CN)),
        "while the agent runs, curl should see glassbox's certificate; issuer {issuer:?}"
    );

    w.agent.kill();

    // Trusting only the test CA: success means the fake itself answered the handshake.
    let test_ca = certs::test_ca();
    let direct = || {
        let client = Client::new(&w.cgroup).hosts_from(&w.hosts);
        let mut direct_args = vec!["--cacert", test_ca.to_str().unwrap()];
        direct_args.extend(args);
        w.curl_with(client, &direct_args)
    };
    // The links go with the agent's fds; allow the kernel a moment to release them.
    let out = poll(Duration::from_secs(3), || Some(direct()).filter(ClientOutput::success)).unwrap_or_else(|| {
        let o = direct();
        panic!("after the agent died, curl should reach the fake directly: {} {}", o.status, o.stderr)
    });
    assert_eq!(http_code(&out), "200");
    let issuer = leaf_issuer(&out.stdout_str()).map(str::to_owned);
    assert!(
        issuer.as_deref().is_some_and(|i| i.contains(TEST_CA_CN)),
        "after the agent died, curl should see the fake's certificate; issuer {issuer:?}"
    );
    assert_eq!(w.fake.requests().len(), 2, "one request through glassbox, one direct");
}
