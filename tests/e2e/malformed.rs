//! Bad input from a client: a malformed request gets 400, is counted, and the agent keeps
//! serving everyone else.

use crate::world::{MODELS_URL, World, http_code};

/// Speaks TLS to api.openai.com and sends bytes that are not HTTP; prints the reply's
/// first line.
const GARBAGE_CLIENT: &str = r#"
import socket, ssl
sock = socket.create_connection(("api.openai.com", 443), timeout=20)
tls = ssl.create_default_context().wrap_socket(sock, server_hostname="api.openai.com")
tls.sendall(b"\x00\x01 this is not HTTP \xff\r\n\r\n")
data = b""
while True:
    chunk = tls.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.split(b"\r\n", 1)[0].decode(errors="replace"))
"#;

#[test]
fn malformed_request_gets_400_and_others_are_served() {
    let w = World::new("malformed");
    let out = w.client().cmd("python3", ["-c", GARBAGE_CLIENT]).output();
    out.assert_success();
    assert!(out.stdout_str().starts_with("HTTP/1.1 400"), "a malformed request should get 400: {}", out.stdout_str());
    assert!(w.fake.requests().is_empty(), "nothing malformed may reach the provider: {:#?}", w.fake.requests());
    w.agent.wait_for_status("the malformed request counted", |s| s["malformed_requests"].as_u64() >= Some(1));

    let ok = w.curl(&["-o", "/dev/null", "-w", "%{http_code}", MODELS_URL]);
    ok.assert_success();
    assert_eq!(http_code(&ok), "200", "the agent should keep serving after a malformed request");
}
