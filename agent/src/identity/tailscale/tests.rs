use std::{
    convert::Infallible,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use http_body_util::Full;
use hyper::{Request, Response, body::Incoming, service::service_fn};

use super::*;
use crate::identity::testing::TempDir;

/// `tailscale status --json --peers=false` of a user-owned laptop (trimmed of the fields
/// that change per run, which the parser ignores anyway).
const USER_NODE: &str = r#"{
  "Version": "1.78.1-t1ad8a8d5e-g0a3b5c1e3",
  "TUN": true,
  "BackendState": "Running",
  "HaveNodeKey": true,
  "AuthURL": "",
  "TailscaleIPs": ["100.101.102.103", "fd7a:115c:a1e0::1f01:6667"],
  "Self": {
    "ID": "nKqc8W3CNTRL",
    "PublicKey": "nodekey:8f0e1c2a3b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7",
    "HostName": "alice-laptop",
    "DNSName": "alice-laptop.tail1234.ts.net.",
    "OS": "linux",
    "UserID": 5732198240716523,
    "TailscaleIPs": ["100.101.102.103", "fd7a:115c:a1e0::1f01:6667"],
    "Addrs": ["192.168.1.20:41641"],
    "CurAddr": "",
    "Relay": "fra",
    "RxBytes": 0,
    "TxBytes": 0,
    "Created": "2024-03-11T09:12:44.913255012Z",
    "LastWrite": "0001-01-01T00:00:00Z",
    "LastSeen": "0001-01-01T00:00:00Z",
    "LastHandshake": "0001-01-01T00:00:00Z",
    "Online": true,
    "ExitNode": false,
    "ExitNodeOption": false,
    "Active": false,
    "PeerAPIURL": ["http://100.101.102.103:46123"],
    "Capabilities": ["https://tailscale.com/cap/file-sharing"],
    "InNetworkMap": true,
    "InMagicSock": false,
    "InEngine": false,
    "KeyExpiry": "2024-09-07T09:12:44Z"
  },
  "Health": [],
  "MagicDNSSuffix": "tail1234.ts.net",
  "CurrentTailnet": {"Name": "example.com", "MagicDNSSuffix": "tail1234.ts.net", "MagicDNSEnabled": true},
  "CertDomains": ["alice-laptop.tail1234.ts.net"],
  "Peer": null,
  "User": {
    "5732198240716523": {
      "ID": 5732198240716523,
      "LoginName": "alice@example.com",
      "DisplayName": "Alice Example",
      "ProfilePicURL": "https://lh3.googleusercontent.com/a/abc"
    }
  },
  "ClientVersion": null
}"#;

/// A tagged CI runner: the owner is the `tagged-devices` pseudo-user.
const TAGGED_NODE: &str = r#"{
  "BackendState": "Running",
  "Self": {
    "ID": "nT4gg3dCNTRL",
    "HostName": "runner-7",
    "DNSName": "runner-7.tail1234.ts.net.",
    "UserID": 100,
    "Tags": ["tag:ci-runner", "tag:prod"]
  },
  "User": {"100": {"ID": 100, "LoginName": "tagged-devices", "DisplayName": "tagged-devices"}}
}"#;

#[test]
fn parses_a_user_owned_node() {
    let node = parse_status(USER_NODE.as_bytes()).unwrap();
    assert_eq!(
        node,
        TailscaleNode {
            stable_id: "nKqc8W3CNTRL".into(),
            name: "alice-laptop.tail1234.ts.net".into(),
            tags: vec![],
            login: Some("alice@example.com".into()),
        }
    );
}

#[test]
fn parses_a_tagged_node() {
    let node = parse_status(TAGGED_NODE.as_bytes()).unwrap();
    assert_eq!(node.tags, ["tag:ci-runner", "tag:prod"]);
    assert_eq!(node.login.as_deref(), Some("tagged-devices"));
    assert_eq!(node.name, "runner-7.tail1234.ts.net");
}

#[test]
fn logged_out_or_odd_documents_give_none() {
    assert_eq!(parse_status(br#"{"BackendState":"NeedsLogin","Self":null,"User":null}"#), None);
    assert_eq!(parse_status(br#"{"BackendState":"NeedsLogin","Self":{"ID":"","HostName":"x"}}"#), None);
    assert_eq!(parse_status(b"not json"), None);
    assert_eq!(parse_status(b""), None);
    // No MagicDNS name, no user map: the host name and no login.
    let bare = parse_status(br#"{"Self":{"ID":"n1","HostName":"box","DNSName":"","UserID":1}}"#).unwrap();
    assert_eq!((bare.name.as_str(), bare.login), ("box", None));
}

/// Request target, Host and Sec-Tailscale of one request the fake saw.
type Seen = (String, Option<String>, Option<String>);

/// A fake tailscaled: serves `body` with `status` on a unix socket and records the
/// request line and headers it saw.
struct FakeTailscaled {
    socket: PathBuf,
    seen: Arc<Mutex<Vec<Seen>>>,
    _dir: TempDir,
}

impl FakeTailscaled {
    fn start(name: &str, status: u16, body: &'static str) -> Self {
        let dir = TempDir::new(name);
        let socket = dir.path().join("tailscaled.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                let service = service_fn(move |request: Request<Incoming>| {
                    let header =
                        |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                    log.lock().unwrap().push((request.uri().to_string(), header("host"), header("sec-tailscale")));
                    let response = Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(body.as_bytes())))
                        .unwrap();
                    async move { Ok::<_, Infallible>(response) }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Self { socket, seen, _dir: dir }
    }
}

#[tokio::test]
async fn reads_the_node_from_a_fake_local_api() {
    let fake = FakeTailscaled::start("ts-ok", 200, USER_NODE);
    let node = tailscale_status(&fake.socket).await.expect("a node from the fake LocalAPI");
    assert_eq!(node.stable_id, "nKqc8W3CNTRL");
    assert_eq!(node.login.as_deref(), Some("alice@example.com"));
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [("/localapi/v0/status?peers=false".to_owned(), Some(HOST.to_owned()), Some("localapi".to_owned()))]
    );
}

#[tokio::test]
async fn an_error_status_gives_none() {
    let fake = FakeTailscaled::start("ts-403", 403, "invalid localapi request\n");
    assert_eq!(tailscale_status(&fake.socket).await, None);
    assert_eq!(fake.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_absent_socket_gives_none() {
    let dir = TempDir::new("ts-absent");
    assert_eq!(tailscale_status(&dir.path().join("tailscaled.sock")).await, None);
    assert_eq!(tailscale_status(Path::new("/nonexistent/tailscaled.sock")).await, None);
}

#[tokio::test]
async fn a_silent_daemon_times_out() {
    let dir = TempDir::new("ts-silent");
    let socket = dir.path().join("tailscaled.sock");
    // Accepts and never answers.
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let started = std::time::Instant::now();
    assert_eq!(tailscale_status(&socket).await, None);
    let waited = started.elapsed();
    assert!(waited >= TIMEOUT && waited < TIMEOUT + Duration::from_secs(2), "waited {waited:?}");
}
