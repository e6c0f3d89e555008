//! Failures handled as the contract says: a bad upstream certificate gives 502 and
//! nothing reaches the provider; a connection with no recorded origin is closed; UDP to a
//! target's port 443 is refused so QUIC clients fall back to TCP.

use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use glassbox_tests::{CertSet, FakeProvider};

use crate::world::{CHAT_URL, World, chat_body, http_code};

#[test]
fn bad_upstream_certificate_gives_502() {
    let w = World::build("bad_cert", FakeProvider::new().cert(CertSet::Untrusted), |a| a);
    let out = w.curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "content-type: application/json",
        "-d",
        &chat_body(false),
        CHAT_URL,
    ]);
    out.assert_success();
    assert_eq!(http_code(&out), "502", "an upstream with an untrusted certificate should give 502");
    let seen = w.fake.requests();
    assert!(seen.is_empty(), "no request may reach an upstream that failed verification: {seen:#?}");
}

#[test]
fn connection_without_origin_is_closed() {
    let w = World::new("no_origin");
    // From the test process, which is outside the cgroup: no eBPF origin exists.
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, w.agent.port()))
        .unwrap_or_else(|e| panic!("agent should listen on 127.0.0.1:{}: {e}", w.agent.port()));
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {}
        Ok(n) => panic!("the agent sent {n} bytes on a connection without origin: {:?}", &buf[..n]),
        Err(e) => panic!("the agent kept a connection without origin open: {e}"),
    }
    w.agent.wait_for_status("a failed connection", |s| s["connections"]["failed"].as_u64().is_some_and(|n| n >= 1));
}

/// Sends one datagram per (way, port) and prints the errno name or "ok" for each.
const UDP_PROBE: &str = r#"
import errno, json, socket, sys
ip, result = sys.argv[1], {}
for port in (443, 444):
    for way in ("sendto", "connect"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if way == "sendto":
                s.sendto(b"q", (ip, port))
            else:
                s.connect((ip, port))
                s.send(b"q")
            result[f"{way}:{port}"] = "ok"
        except OSError as e:
            result[f"{way}:{port}"] = errno.errorcode.get(e.errno, str(e.errno))
        finally:
            s.close()
print(json.dumps(result, sort_keys=True))
"#;

#[test]
fn udp_to_target_port_443_is_refused() {
    let w = World::new("udp");
    let ip = w.fake.ip().to_string();
    let out = w.client().cmd("python3", ["-c", UDP_PROBE, &ip]).output();
    out.assert_success();
    let got: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("UDP probe printed no JSON ({e}): {}", out.stdout_str()));
    // Both unconnected sendto (quinn, quiche) and connect+send (Chrome) must be refused.
    let want = serde_json::json!({
        "sendto:443": "EPERM", "connect:443": "EPERM",
        "sendto:444": "ok", "connect:444": "ok",
    });
    assert_eq!(got, want, "UDP to {ip}:443 (a target) should fail with EPERM, to port 444 succeed");
}
