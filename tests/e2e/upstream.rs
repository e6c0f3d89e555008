//! The agent's pooled h2 connections to a provider that ends them: when the provider
//! sends GOAWAY after a number of requests, the next request goes out on a fresh
//! connection and succeeds, and no request reaches the provider twice.

use glassbox_tests::check::assert_bytes_eq;
use glassbox_tests::{FakeProvider, SeenRequest};
use http::Version;

use crate::world::{CHAT_PATH, CHAT_URL, CURL, World, assert_openai_record, describe_seen};

/// A chat completion body that names request `i`, so the fake's log shows which arrived.
fn numbered_body(i: usize) -> String {
    format!(r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"Say hello, request {i}."}}]}}"#)
}

/// curl arguments for one POST of request `i`, followed by `\n<status> <connects>\n`.
fn chat_args(i: usize) -> Vec<String> {
    let w = "\n%{http_code} %{num_connects}\n";
    ["-w", w, "-H", "content-type: application/json", "-d", &numbered_body(i), CHAT_URL].map(String::from).to_vec()
}

/// Which request (by [`numbered_body`]) each request the fake saw was.
fn numbers(seen: &[SeenRequest]) -> Vec<usize> {
    seen.iter()
        .map(|r| {
            let content = r.json()["messages"][0]["content"].as_str().unwrap_or_default().to_owned();
            let n = content.strip_prefix("Say hello, request ").and_then(|s| s.strip_suffix('.'));
            n.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("not a numbered request: {content:?}"))
        })
        .collect()
}

/// Checks that the fake saw requests 1..=n once each, in order, all over h2, on the
/// connections `want_connections` (the fake's numbering, one entry per request).
#[track_caller]
fn assert_each_seen_once(w: &World, n: usize, want_connections: &[usize]) {
    let seen = w.fake.requests();
    let described = describe_seen(&seen);
    assert_eq!(numbers(&seen), (1..=n).collect::<Vec<_>>(), "each request exactly once, in order:\n{described}");
    assert!(seen.iter().all(|r| r.version == Version::HTTP_2), "the agent should speak h2 upstream:\n{described}");
    let connections: Vec<usize> = seen.iter().map(|r| r.connection).collect();
    assert_eq!(connections, want_connections, "the connection each request came on");
    assert_eq!(w.fake.connections(), *want_connections.last().unwrap(), "connections the fake accepted");
}

#[test]
fn pooled_h2_connection_ended_by_goaway_is_replaced() {
    const N: usize = 4;
    let w = World::build("goaway_each", FakeProvider::new().requests_per_connection(1), |a| a);
    let mut pids = Vec::new();
    for i in 1..=N {
        // A new client each time: the agent's upstream connection is the only one reused.
        let out = w.curl(&chat_args(i).iter().map(String::as_str).collect::<Vec<_>>());
        out.assert_success();
        let want = [&w.fake.chat_completion()[..], b"\n200 1\n"].concat();
        assert_bytes_eq(&out.stdout, &want, &format!("request {i}: curl's body and status"));
        pids.push(out.pid);
    }
    // The fake said GOAWAY after each request, so each came on a connection of its own.
    assert_each_seen_once(&w, N, &[1, 2, 3, 4]);
    for pid in pids {
        let record = w.agent.wait_for_request(&format!("the POST of curl {pid}"), |r| r["process"]["pid"] == pid);
        assert_openai_record(&record, "POST", CHAT_PATH, pid, CURL);
    }
}

#[test]
fn keep_alive_client_outlives_goaway_upstream() {
    const N: usize = 5;
    let w = World::build("goaway_keepalive", FakeProvider::new().requests_per_connection(2), |a| a);
    // One curl, one connection to glassbox, the requests back to back: each is forwarded
    // as soon as the previous response has been read, right after the fake's GOAWAY.
    let mut args = Vec::new();
    for i in 1..=N {
        if i > 1 {
            args.push("--next".to_owned());
        }
        args.extend(chat_args(i));
    }
    let out = w.curl(&args.iter().map(String::as_str).collect::<Vec<_>>());
    out.assert_success();
    let mut want = Vec::new();
    for i in 1..=N {
        want.extend_from_slice(&w.fake.chat_completion());
        want.extend_from_slice(if i == 1 { b"\n200 1\n" } else { b"\n200 0\n" });
    }
    assert_bytes_eq(&out.stdout, &want, "curl's bodies, statuses and connects");
    // Two requests per connection: the pooled one is reused once, then replaced.
    assert_each_seen_once(&w, N, &[1, 1, 2, 2, 3]);
    let records = w.agent.wait_for_requests("the POSTs of one curl", N, |r| r["process"]["pid"] == out.pid);
    assert_eq!(records.len(), N, "one record per request: {records:#?}");
    for record in &records {
        assert_openai_record(record, "POST", CHAT_PATH, out.pid, CURL);
    }
}
