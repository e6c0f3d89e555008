//! A real S3 for the agent to export to: a moto server on its own loopback port, with SigV4
//! enforced for one IAM user who may do anything in S3, one bucket, and a TCP relay in front
//! that the test can take down (live connections closed, new ones refused) and bring back
//! while moto, and every object in it, lives on. The agent is pointed at the relay
//! ([`S3Server::export_config`]); the test reads, tampers with and deletes objects through
//! moto directly, so that works while the relay is down.
//!
//! ```no_run
//! # use glassbox_tests::s3::{S3Server, gunzip_lines};
//! let s3 = S3Server::start();
//! let config = format!("[export.s3]\n{}", s3.export_config("host-a/"));
//! // … run an agent with `config` …
//! s3.go_down();
//! s3.come_up();
//! for (key, bytes) in s3.objects("host-a/") {
//!     let records = gunzip_lines(&bytes);
//! }
//! ```
//!
//! moto (`moto.server` run by python3, installed by `cargo xtask setup`) checks no signature by
//! default. With `INITIAL_NO_AUTH_ACTION_COUNT=3` it lets exactly three actions through
//! unchecked, which [`iam_user`] spends on creating the user, its access key and its policy;
//! from the fourth on, every request must carry a valid SigV4 signature of a known key and be
//! allowed by IAM. `start` checks that a bad signature is refused before handing the server out.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use tokio::runtime::Runtime;

use crate::agent::poll;
use crate::scratch::TempDir;
use crate::unique;

/// How long `start` waits for moto to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const REGION: &str = "us-east-1";
const BUCKET: &str = "glassbox-export";
const USER: &str = "glassbox-agent";
/// Unchecked actions moto allows before enforcing SigV4: the three of [`iam_user`].
const NO_AUTH_ACTIONS: &str = "3";
/// `python3 -m moto.server`, with its signature check fixed to see the request target as
/// sent. moto rebuilds the URL it checks from werkzeug's `request.url`, which decodes `%2F`,
/// `%3A`, `%40`, `%7E` (werkzeug `uri_to_iri`), so any signed request with such a character
/// escaped in its query or path fails with SignatureDoesNotMatch: a `ListObjectsV2` with
/// `prefix=a%2F`, or a key with a `:` in it (getmoto/moto#5948). Real S3 checks the bytes the
/// client signed; so does this, from werkzeug's `RAW_URI`. Fails loudly if moto changes.
const MOTO_MAIN: &str = r#"
from moto.core.authorization import ActionAuthenticatorMixin as Auth
check = Auth._authenticate_and_authorize_action

def check_as_sent(self, *args, **kwargs):
    raw = getattr(getattr(self, "request", None), "environ", {}).get("RAW_URI")
    if not raw:
        return check(self, *args, **kwargs)
    decoded, self.uri = self.uri, raw
    try:
        return check(self, *args, **kwargs)
    finally:
        self.uri = decoded

Auth._authenticate_and_authorize_action = check_as_sent
from moto.server import main
main()
"#;
/// How often the relay looks for new connections (its listener is non-blocking, so that
/// going down is just dropping it).
const ACCEPT_TICK: Duration = Duration::from_millis(10);

/// A moto S3 server with a relay in front; both stop on drop.
pub struct S3Server {
    moto: Child,
    moto_addr: SocketAddr,
    relay: Relay,
    access_key_id: String,
    secret_access_key: String,
    runtime: Runtime,
    /// Signed as the IAM user, straight to moto.
    client: Client,
    /// Holds moto's log (`moto.log`); kept when the test fails.
    dir: TempDir,
}

/// What a listing through the relay got (see [`S3Server::list_through_relay`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Reach {
    /// S3 answered: the keys under the prefix, sorted.
    Listed(Vec<String>),
    /// S3 answered with an error: its code, such as `SignatureDoesNotMatch`.
    Refused(String),
    /// S3 did not answer: the connection failed or timed out.
    Unreachable(String),
}

impl S3Server {
    /// Starts moto with SigV4 enforced, creates the IAM user and the bucket, and starts the
    /// relay. Panics (with moto's log) if moto is missing or does not come up in time.
    pub fn start() -> S3Server {
        let dir = TempDir::new("s3");
        let log_path = dir.join("moto.log");
        let log = std::fs::File::create(&log_path).expect("moto log file");
        let moto_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, unique::port()));
        let moto = Command::new("python3")
            .args(["-c", MOTO_MAIN, "-H", "127.0.0.1", "-p", &moto_addr.port().to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", NO_AUTH_ACTIONS)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("moto log file"))
            .stderr(log)
            // Its own process group, so that drop kills whatever it started too.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 for moto ({e}); `cargo xtask setup` installs it"));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        // Made before moto is up, keyless, so that a failed start still kills moto on drop.
        let mut server = S3Server {
            moto,
            moto_addr,
            relay: Relay::start(moto_addr),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            client: client(&format!("http://{moto_addr}"), "", "", true),
            runtime,
            dir,
        };
        server.wait_listening();
        (server.access_key_id, server.secret_access_key) = iam_user(moto_addr);
        server.client = client(&server.moto_url(), &server.access_key_id, &server.secret_access_key, true);
        server.check_sigv4_enforced();
        server.create_bucket(BUCKET);
        server
    }

    /// `http://127.0.0.1:<relay port>`: where the agent should send its requests.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.relay.addr)
    }

    pub fn region(&self) -> &str {
        REGION
    }

    pub fn bucket(&self) -> &str {
        BUCKET
    }

    /// The IAM user's access key id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The body of an `[export.s3]` table (without the header) for the agent's config:
    /// the relay's endpoint, region, bucket, `prefix`, path-style addressing, the user's keys.
    pub fn export_config(&self, prefix: &str) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let mut toml = String::new();
        let _ = writeln!(toml, "endpoint = {}", q(&self.endpoint()));
        let _ = writeln!(toml, "region = {}", q(REGION));
        let _ = writeln!(toml, "bucket = {}", q(BUCKET));
        let _ = writeln!(toml, "prefix = {}", q(prefix));
        toml.push_str("path_style = true\n");
        let _ = writeln!(toml, "access_key_id = {}", q(&self.access_key_id));
        let _ = writeln!(toml, "secret_access_key = {}", q(&self.secret_access_key));
        toml
    }

    /// Makes S3 unreachable through [`endpoint`](Self::endpoint): live connections are shut
    /// down and new ones refused. moto keeps running.
    pub fn go_down(&self) {
        self.relay.down();
    }

    /// Makes S3 reachable again, with every object it held before.
    pub fn come_up(&self) {
        self.relay.up();
    }

    /// Every object under `prefix`, as (key, bytes), sorted by key.
    pub fn objects(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        self.keys(prefix).into_iter().map(|key| (key.clone(), self.get(&key))).collect()
    }

    /// Every key under `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        list(&self.runtime, &self.client, prefix).unwrap_or_else(|e| {
            panic!("listing s3://{BUCKET}/{prefix}: {}\n{}", DisplayErrorContext(&*e), self.log_hint())
        })
    }

    /// An object's bytes; panics if it does not exist.
    pub fn get(&self, key: &str) -> Vec<u8> {
        let fail = |e: &dyn std::error::Error| {
            format!("getting s3://{BUCKET}/{key}: {}\n{}", DisplayErrorContext(e), self.log_hint())
        };
        let get = self.client.get_object().bucket(BUCKET).key(key).send();
        let out = self.runtime.block_on(get).unwrap_or_else(|e| panic!("{}", fail(&e)));
        let body = self.runtime.block_on(out.body.collect()).unwrap_or_else(|e| panic!("{}", fail(&e)));
        body.into_bytes().to_vec()
    }

    /// Writes (or overwrites) an object.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        let put = self.client.put_object().bucket(BUCKET).key(key).body(ByteStream::from(bytes.to_vec())).send();
        self.runtime.block_on(put).unwrap_or_else(|e| {
            panic!("putting s3://{BUCKET}/{key}: {}\n{}", DisplayErrorContext(&e), self.log_hint())
        });
    }

    pub fn delete(&self, key: &str) {
        let delete = self.client.delete_object().bucket(BUCKET).key(key).send();
        self.runtime.block_on(delete).unwrap_or_else(|e| {
            panic!("deleting s3://{BUCKET}/{key}: {}\n{}", DisplayErrorContext(&e), self.log_hint())
        });
    }

    /// Creates a bucket (in the server's region).
    pub fn create_bucket(&self, name: &str) {
        let create = self.client.create_bucket().bucket(name).send();
        self.runtime
            .block_on(create)
            .unwrap_or_else(|e| panic!("creating bucket {name}: {}\n{}", DisplayErrorContext(&e), self.log_hint()));
    }

    /// Lists the bucket under `prefix` through [`endpoint`](Self::endpoint), as the IAM user
    /// but signing with `secret`, on a fresh connection, without retries, giving up after 5 s:
    /// what a client of the relay gets right now.
    pub fn list_through_relay(&self, prefix: &str, secret: &str) -> Reach {
        let client = client(&self.endpoint(), &self.access_key_id, secret, false);
        let error = match list(&self.runtime, &client, prefix) {
            Ok(keys) => return Reach::Listed(keys),
            Err(error) => *error,
        };
        match error {
            SdkError::ServiceError(e) => Reach::Refused(e.err().code().unwrap_or("(no code)").to_owned()),
            e => Reach::Unreachable(DisplayErrorContext(&e).to_string()),
        }
    }

    fn moto_url(&self) -> String {
        format!("http://{}", self.moto_addr)
    }

    /// Waits until moto accepts connections; panics with its log if it exits or takes too long.
    fn wait_listening(&mut self) {
        let (addr, moto) = (self.moto_addr, &mut self.moto);
        let outcome = poll(START_TIMEOUT, || {
            if let Ok(Some(status)) = moto.try_wait() {
                return Some(Err(status));
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok().map(|_| Ok(()))
        });
        match outcome {
            Some(Ok(())) => {}
            Some(Err(status)) => panic!(
                "moto exited ({status}) before listening on {addr} (`cargo xtask setup` installs moto)\n{}",
                self.log()
            ),
            None => panic!("moto did not listen on {addr} within {START_TIMEOUT:?}\n{}", self.log()),
        }
    }

    /// Sends a request with the user's key but a made-up signature; moto must refuse it.
    fn check_sigv4_enforced(&self) {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/20250101/{REGION}/s3/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={}",
            self.access_key_id,
            "0".repeat(64)
        );
        let request = format!(
            "GET /{BUCKET}?list-type=2 HTTP/1.1\r\nHost: {}\r\nX-Amz-Date: 20250101T000000Z\r\n\
             Authorization: {auth}\r\nConnection: close\r\n\r\n",
            self.moto_addr
        );
        let (status, body) = http(self.moto_addr, &request);
        assert!(
            status == 403 && body.contains("SignatureDoesNotMatch"),
            "moto did not refuse a bad signature (status {status}): SigV4 is not enforced\n{body}\n{}",
            self.log()
        );
    }

    /// moto's log, for panic messages.
    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("moto.log")).unwrap_or_default();
        format!("--- moto log ({}) ---\n{}", self.dir.join("moto.log").display(), text.trim_end())
    }

    /// Where moto's log is, for panic messages of calls that may fail for the caller's reasons.
    fn log_hint(&self) -> String {
        format!("(moto log: {})", self.dir.join("moto.log").display())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.relay.stop();
        let pgid = i32::try_from(self.moto.id()).expect("pid fits i32");
        // SAFETY: kill has no memory preconditions; the group is moto's own, made at spawn,
        // and its leader is not reaped until the wait below.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.moto.wait();
    }
}

/// An S3 client with static credentials and path-style addressing. Without `retries` it
/// also gives up quickly, to see what the endpoint does right now.
fn client(endpoint: &str, key: &str, secret: &str, retries: bool) -> Client {
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let mut config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(key, secret, None, None, "glassbox-tests"))
        .http_client(http);
    if !retries {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_timeout(Duration::from_secs(5))
            .build();
        config = config.retry_config(RetryConfig::disabled()).timeout_config(timeouts);
    }
    Client::from_conf(config.build())
}

/// Every key under `prefix` in the bucket, sorted, following continuation tokens.
fn list(runtime: &Runtime, client: &Client, prefix: &str) -> Result<Vec<String>, Box<SdkError<ListObjectsV2Error>>> {
    runtime.block_on(async {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = client
                .list_objects_v2()
                .bucket(BUCKET)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(Box::new)?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                keys.sort();
                return Ok(keys);
            }
        }
    })
}

/// Creates the IAM user, its access key and an inline policy allowing all of S3, spending
/// moto's unchecked actions; returns (access key id, secret). The IAM query API is spoken
/// by hand: moto routes a request by the service in its Authorization header's scope, and
/// checks no signature yet.
fn iam_user(moto: SocketAddr) -> (String, String) {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    iam(moto, &format!("Action=CreateUser&UserName={USER}"));
    let key = iam(moto, &format!("Action=CreateAccessKey&UserName={USER}"));
    iam(
        moto,
        &format!("Action=PutUserPolicy&UserName={USER}&PolicyName=s3-all&PolicyDocument={}", form_encode(policy)),
    );
    (xml_text(&key, "AccessKeyId"), xml_text(&key, "SecretAccessKey"))
}

/// One IAM query action; panics unless it succeeds. Returns the response body.
fn iam(moto: SocketAddr, form: &str) -> String {
    let body = format!("{form}&Version=2010-05-08");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {moto}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nAuthorization: AWS4-HMAC-SHA256 \
         Credential=AKIAIOSFODNN7EXAMPLE/20250101/{REGION}/iam/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, response) = http(moto, &request);
    assert_eq!(status, 200, "moto IAM {form}: {response}");
    response
}

/// Sends a raw HTTP/1.1 request (with `Connection: close`); returns the status and body.
fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to moto at {addr}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    stream.write_all(request.as_bytes()).unwrap_or_else(|e| panic!("writing to moto at {addr}: {e}"));
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap_or_else(|e| panic!("reading from moto at {addr}: {e}"));
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status = status.unwrap_or_else(|| panic!("moto at {addr} answered no HTTP status: {response:?}"));
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

/// The text of the first `<tag>` element; panics if there is none.
fn xml_text(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).map(|i| i + open.len());
    let text = start.and_then(|s| xml[s..].find(&format!("</{tag}>")).map(|len| &xml[s..s + len]));
    text.unwrap_or_else(|| panic!("no <{tag}> in moto's answer: {xml}")).to_owned()
}

/// Percent-encodes everything but unreserved characters.
fn form_encode(s: &str) -> String {
    s.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

/// Decompresses a `.jsonl.gz` object (one or more gzip members) into its lines, each parsed
/// as JSON; panics naming the line that is not.
pub fn gunzip_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("not gzip-compressed UTF-8 ({e}), {} bytes", bytes.len()));
    let lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    lines
        .map(|(n, line)| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {line}", n + 1))
        })
        .collect()
}

/// Gzip-compresses `bytes` (one member), as the agent writes `.jsonl.gz` objects: for tests
/// that put back a tampered object.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// A TCP forwarder from a fixed loopback port to moto that can refuse connections on demand.
struct Relay {
    addr: SocketAddr,
    state: Arc<Mutex<RelayState>>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct RelayState {
    /// `None` while down: the port is closed, so connecting is refused.
    listener: Option<TcpListener>,
    /// Sockets of live connections by id: the client's, then moto's once connected.
    conns: HashMap<u64, Vec<TcpStream>>,
    next_id: u64,
    stopped: bool,
}

impl Relay {
    fn start(target: SocketAddr) -> Relay {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, unique::port()));
        let state = Arc::new(Mutex::new(RelayState { listener: Some(listen(addr)), ..RelayState::default() }));
        let shared = Arc::clone(&state);
        let accept = std::thread::Builder::new()
            .name("s3-relay".into())
            .spawn(move || accept_loop(&shared, target))
            .expect("relay thread");
        Relay { addr, state, accept: Some(accept) }
    }

    /// Closes the listener and shuts every live connection down.
    fn down(&self) {
        let mut state = lock(&self.state);
        state.listener = None;
        for socket in state.conns.drain().flat_map(|(_, sockets)| sockets) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Listens again on the same port.
    fn up(&self) {
        let mut state = lock(&self.state);
        if state.listener.is_none() {
            state.listener = Some(listen(self.addr));
        }
    }

    fn stop(&mut self) {
        self.down();
        lock(&self.state).stopped = true;
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// A non-blocking listener on `addr` (std sets SO_REUSEADDR, so the port is free to bind
/// again at once after going down).
fn listen(addr: SocketAddr) -> TcpListener {
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("s3 relay cannot listen on {addr}: {e}"));
    listener.set_nonblocking(true).expect("non-blocking relay listener");
    listener
}

fn lock(state: &Mutex<RelayState>) -> MutexGuard<'_, RelayState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Accepts while up, registering each connection before anyone can take the relay down,
/// and hands it to a thread of its own.
fn accept_loop(state: &Arc<Mutex<RelayState>>, target: SocketAddr) {
    loop {
        let accepted = {
            let mut guard = lock(state);
            if guard.stopped {
                return;
            }
            match guard.listener.as_ref().map(TcpListener::accept) {
                Some(Ok((client, _))) => match client.try_clone() {
                    Ok(clone) => {
                        let id = guard.next_id;
                        guard.next_id += 1;
                        guard.conns.insert(id, vec![clone]);
                        Some((id, client))
                    }
                    Err(e) => {
                        eprintln!("s3 relay: cannot clone an accepted socket: {e}");
                        None
                    }
                },
                Some(Err(e)) if e.kind() != std::io::ErrorKind::WouldBlock => {
                    eprintln!("s3 relay: accept failed: {e}");
                    None
                }
                _ => None,
            }
        };
        match accepted {
            Some((id, client)) => {
                let state = Arc::clone(state);
                std::thread::spawn(move || forward(&state, id, &client, target));
            }
            None => std::thread::sleep(ACCEPT_TICK),
        }
    }
}

/// Connects to moto and copies both ways until both sides are done or the relay goes down.
fn forward(state: &Mutex<RelayState>, id: u64, client: &TcpStream, target: SocketAddr) {
    let _ = client.set_nonblocking(false);
    let upstream = match TcpStream::connect_timeout(&target, Duration::from_secs(2)) {
        Ok(upstream) => upstream,
        Err(e) => {
            eprintln!("s3 relay: cannot connect to moto at {target}: {e}");
            lock(state).conns.remove(&id);
            return;
        }
    };
    {
        let mut guard = lock(state);
        // Gone: the relay went down while we connected, and shut the client's socket.
        let Some(sockets) = guard.conns.get_mut(&id) else { return };
        match upstream.try_clone() {
            Ok(clone) => sockets.push(clone),
            Err(e) => {
                eprintln!("s3 relay: cannot clone a socket to moto: {e}");
                guard.conns.remove(&id);
                return;
            }
        }
    }
    std::thread::scope(|s| {
        s.spawn(|| pipe(client, &upstream));
        pipe(&upstream, client);
    });
    lock(state).conns.remove(&id);
}

/// Copies `from` to `to` until end of stream, then passes the end on.
fn pipe(mut from: &TcpStream, mut to: &TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}
