//! IPv6 paths of connect6: a dual-stack client that connects to a v4-mapped address
//! (`::ffff:a.b.c.d`) and a pure IPv6 client are both intercepted and recorded with the
//! original destination.

use std::net::{Ipv6Addr, SocketAddr};

use glassbox_tests::check::assert_field;
use glassbox_tests::{Agent, Cgroup, FakeProvider, Hosts};

use crate::world::{CURL, MODELS_URL, OPENAI, World, assert_openai_record};

/// Opens an AF_INET6 socket to argv[1]:443, speaks TLS with SNI api.openai.com, sends one
/// GET and prints the status line.
const V6_SOCKET_CLIENT: &str = r#"
import socket, ssl, sys
sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
sock.settimeout(20)
sock.connect((sys.argv[1], 443))
tls = ssl.create_default_context().wrap_socket(sock, server_hostname="api.openai.com")
tls.sendall(b"GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = tls.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.split(b"\r\n", 1)[0].decode())
"#;

#[test]
fn v4_mapped_connect6_is_intercepted() {
    let w = World::new("v4_mapped");
    let mapped = format!("::ffff:{}", w.fake.ip());
    let out = w.client().cmd("python3", ["-c", V6_SOCKET_CLIENT, &mapped]).output();
    out.assert_success();
    assert_eq!(out.stdout_str().trim(), "HTTP/1.1 200 OK", "a v4-mapped client should get the fake's answer");
    let record = w.agent.wait_for_request("GET /v1/models over a v4-mapped socket", |r| r["path"] == "/v1/models");
    assert_field(&record, "/process/pid", out.pid);
    assert_field(&record, "/dst", format!("{}:443", w.fake.ip()));
}

#[test]
fn ipv6_client_is_intercepted() {
    // [::1]:443 is the only IPv6 loopback provider address; one test uses it.
    let addr = SocketAddr::from((Ipv6Addr::LOCALHOST, 443));
    let cgroup = Cgroup::new("ipv6");
    let fake = FakeProvider::new().addr(addr).start();
    let hosts = Hosts::from_pairs(&fake.hosts(&[OPENAI]));
    let agent = Agent::new().cgroup(&cgroup).hosts_from(&hosts).start();
    let bundle = agent.ca_bundle(false);
    let client = glassbox_tests::Client::new(&cgroup).hosts_from(&hosts).env("CURL_CA_BUNDLE", &bundle);
    let out = client
        .cmd(CURL, ["-sS", "-6", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}", MODELS_URL])
        .output();
    out.assert_success();
    assert_eq!(out.stdout_str().trim(), "200", "curl -6 should reach the fake through glassbox");
    let record = agent.wait_for_request("GET /v1/models over IPv6", |r| r["path"] == "/v1/models");
    assert_openai_record(&record, "GET", "/v1/models", out.pid, CURL);
    assert_field(&record, "/dst", "[::1]:443");
    assert_eq!(fake.requests().len(), 1, "the fake should see the request once");
    drop(agent);
}
