//! Self-checks of the S3 harness, with no agent: moto comes up with SigV4 enforced, objects
//! round-trip, and the relay in front goes down (refusing at once) and comes back with
//! moto's objects intact. When an export test fails, these say whether S3 is at fault.

use std::time::{Duration, Instant};

use glassbox_tests::s3::{Reach, S3Server, gunzip_lines, gzip};

#[test]
fn s3_objects_round_trip() {
    let s3 = S3Server::start();
    let gz = gzip(b"{\"n\":1}\n{\"n\":2}\n");

    s3.put("host/b.jsonl.gz", &gz);
    s3.put("host/a.txt", b"first");
    s3.put("other/c.txt", b"elsewhere");
    assert_eq!(s3.keys("host/"), ["host/a.txt", "host/b.jsonl.gz"]);
    assert_eq!(s3.get("host/a.txt"), b"first");

    s3.put("host/a.txt", b"tampered");
    let objects = s3.objects("host/");
    assert_eq!(objects[0], ("host/a.txt".to_owned(), b"tampered".to_vec()));
    let records = gunzip_lines(&objects[1].1);
    assert_eq!(records, [serde_json::json!({"n": 1}), serde_json::json!({"n": 2})]);

    // Escaped in the signed path and query: `:` and `/`, as in timestamped keys and prefixes.
    s3.put("host/2025-01-01T00:00:00Z/c~d@e+f g.txt", b"odd key");
    assert_eq!(s3.keys("host/2025-01-01T00:00:00Z/"), ["host/2025-01-01T00:00:00Z/c~d@e+f g.txt"]);
    assert_eq!(s3.get("host/2025-01-01T00:00:00Z/c~d@e+f g.txt"), b"odd key");
    s3.delete("host/2025-01-01T00:00:00Z/c~d@e+f g.txt");
    s3.delete("host/a.txt");
    assert_eq!(s3.keys(""), ["host/b.jsonl.gz", "other/c.txt"]);
    s3.create_bucket("glassbox-second");

    let config = s3.export_config("host/");
    assert!(config.starts_with(&format!("endpoint = \"{}\"\n", s3.endpoint())), "{config}");
    assert!(config.contains("path_style = true\n") && config.contains(s3.secret_access_key()), "{config}");
}

#[test]
fn s3_refuses_a_wrong_secret() {
    let s3 = S3Server::start();
    s3.put("p/x", b"x");
    assert_eq!(s3.list_through_relay("p/", s3.secret_access_key()), Reach::Listed(vec!["p/x".to_owned()]));
    let wrong = format!("{}x", s3.secret_access_key());
    assert_eq!(s3.list_through_relay("p/", &wrong), Reach::Refused("SignatureDoesNotMatch".to_owned()));
}

#[test]
fn s3_relay_goes_down_and_comes_back() {
    let s3 = S3Server::start();
    s3.put("p/before", b"kept");
    let secret = s3.secret_access_key().to_owned();
    assert_eq!(s3.list_through_relay("p/", &secret), Reach::Listed(vec!["p/before".to_owned()]));

    let port = s3.endpoint().rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let mut live = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connecting to the relay");
    std::thread::sleep(Duration::from_millis(100));

    s3.go_down();
    live.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let read = std::io::Read::read(&mut live, &mut [0; 16]);
    assert!(
        matches!(read, Ok(0)) || read.as_ref().is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock),
        "a live connection was not closed by go_down: {read:?}"
    );
    let started = Instant::now();
    let reach = s3.list_through_relay("p/", &secret);
    let took = started.elapsed();
    assert!(matches!(reach, Reach::Unreachable(_)), "S3 still reachable through the relay after go_down: {reach:?}");
    assert!(took < Duration::from_secs(2), "refusing took {took:?}, not at once: {reach:?}");
    let refused = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.kind());
    assert_eq!(refused.err(), Some(std::io::ErrorKind::ConnectionRefused), "relay port still open while down");
    // moto itself is still there.
    s3.put("p/while-down", b"direct");

    s3.come_up();
    let keys = vec!["p/before".to_owned(), "p/while-down".to_owned()];
    assert_eq!(s3.list_through_relay("p/", &secret), Reach::Listed(keys));
    assert_eq!(s3.get("p/before"), b"kept");
}
