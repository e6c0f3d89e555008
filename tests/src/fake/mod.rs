//! A native fake OpenAI-compatible provider for tests: TLS with a fixture certificate,
//! HTTP/1.1 and h2, canned JSON and SSE responses, and a record of every request it saw.
//!
//! ```no_run
//! # use glassbox_tests::{FakeProvider, CertSet};
//! let fake = FakeProvider::new().cert(CertSet::Trusted).start();
//! // … point a client at fake.addr() …
//! assert!(fake.requests().is_empty());
//! ```
//!
//! Routes: first the test's own, registered with [`FakeProvider::route`] (a [`Canned`]
//! answer per method and path) or [`FakeProvider::route_fn`] (an answer made from each
//! request, as [`assistant`] does for real coding agents); then `POST
//! /v1/chat/completions` (SSE when the JSON body has `"stream": true`, else
//! [`responses::chat_completion`]), `GET /v1/models`, any `HEAD` → 200 without a body,
//! anything else → 404. Every response carries `x-fake-provider: 1`.

pub mod assistant;
mod body;
mod canned;
pub mod responses;
pub mod server;
pub mod tls;
pub mod websocket;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Version};
use tokio::net::{TcpListener, TcpSocket};
use tokio::runtime::Runtime;
use tokio_rustls::TlsAcceptor;

use crate::certs::{self, CertSet};
use crate::unique;

pub use canned::{Canned, split_events};

/// One request as the fake provider received it.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub method: Method,
    /// Path and query, e.g. `/v1/chat/completions`.
    pub path: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The SNI of the TLS connection the request came on.
    pub sni: Option<String>,
    /// Which connection the request came on: 1 for the first the fake accepted, and so on.
    pub connection: usize,
}

impl SeenRequest {
    /// The body parsed as JSON; panics if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} {} body is not JSON ({e}): {:?}", self.method, self.path, self.body))
    }

    /// A header as a string, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Builder of a fake provider.
#[derive(Debug)]
pub struct FakeProvider {
    addr: Option<SocketAddr>,
    cert: CertSet,
    cert_dir: Option<PathBuf>,
    sse_delay: Duration,
    routes: Vec<server::Route>,
    websockets: Vec<websocket::WsRoute>,
    http1_only: bool,
    requests_per_connection: Option<NonZeroUsize>,
}

impl Default for FakeProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeProvider {
    /// A fake on a fresh 127.0.x.y:443 with the trusted certificate, 20 ms between SSE events.
    pub fn new() -> Self {
        FakeProvider {
            addr: None,
            cert: CertSet::Trusted,
            cert_dir: None,
            sse_delay: Duration::from_millis(20),
            routes: Vec::new(),
            websockets: Vec::new(),
            http1_only: false,
            requests_per_connection: None,
        }
    }

    /// Listen on this address instead of a fresh one.
    #[must_use]
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// Present this certificate set.
    #[must_use]
    pub fn cert(mut self, cert: CertSet) -> Self {
        self.cert = cert;
        self
    }

    /// Read the certificate set from this directory instead of the workspace's `certs/`.
    #[must_use]
    pub fn cert_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cert_dir = Some(dir.into());
        self
    }

    /// Pause between two SSE events.
    #[must_use]
    pub fn sse_delay(mut self, delay: Duration) -> Self {
        self.sse_delay = delay;
        self
    }

    /// Offers only http/1.1 by ALPN (not h2), so clients and the agent talk HTTP/1.1 to it.
    #[must_use]
    pub fn http1_only(mut self) -> Self {
        self.http1_only = true;
        self
    }

    /// Ends each connection gracefully once it has received `n` requests, as providers
    /// recycle connections: h2 sends GOAWAY, HTTP/1.1 answers with `connection: close`.
    /// The requests already received are answered.
    #[must_use]
    pub fn requests_per_connection(mut self, n: usize) -> Self {
        self.requests_per_connection = Some(NonZeroUsize::new(n).expect("at least one request per connection"));
        self
    }

    /// Answers `method path` (the query is ignored) with `canned`, before the built-in
    /// routes; the first route registered for a method and path wins.
    #[must_use]
    pub fn route(self, method: Method, path: &str, canned: Canned) -> Self {
        self.route_fn(method, path, move |_| canned.clone())
    }

    /// Answers `method path` (the query is ignored) with whatever `answer` makes of each
    /// request, before the built-in routes: a reply that depends on the body (streamed or
    /// not, the model asked for) or on how many came before (fresh response ids).
    #[must_use]
    pub fn route_fn(
        mut self,
        method: Method,
        path: &str,
        answer: impl Fn(&SeenRequest) -> Canned + Send + Sync + 'static,
    ) -> Self {
        self.routes.push(server::Route { method, path: path.to_owned(), answer: Arc::new(answer) });
        self
    }

    /// Accepts a WebSocket upgrade of `GET path` and answers each text message the
    /// client sends with the messages `reply` makes of it (`sse_delay` apart).
    #[must_use]
    pub fn websocket(mut self, path: &str, reply: impl Fn(&str) -> Vec<String> + Send + Sync + 'static) -> Self {
        self.websockets.push(websocket::WsRoute {
            path: path.to_owned(),
            reply: Arc::new(reply),
            received: Arc::default(),
            sent: Arc::default(),
        });
        self
    }

    /// Binds and starts serving on a runtime of its own; panics if the address is taken.
    pub fn start(self) -> FakeHandle {
        let addr = self.addr.unwrap_or_else(|| SocketAddr::from((unique::ip(), 443)));
        let dir = self.cert_dir.unwrap_or_else(certs::dir);
        let mut config = tls::server_config(&dir, self.cert);
        if self.http1_only {
            Arc::make_mut(&mut config).alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        let tls = TlsAcceptor::from(config);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let options = Arc::new(server::Options {
            record: Some(seen.clone()),
            sse_delay: self.sse_delay,
            routes: self.routes,
            websockets: self.websockets,
            requests_per_connection: self.requests_per_connection,
            ..server::Options::default()
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-provider")
            .enable_all()
            .build()
            .expect("tokio runtime for the fake provider");
        let listener = runtime
            .block_on(async { listen(addr) })
            .unwrap_or_else(|e| panic!("fake provider cannot listen on {addr}: {e}"));
        runtime.spawn(server::serve(listener, tls, options.clone()));
        FakeHandle { addr, seen, options, runtime: Some(runtime) }
    }
}

/// A listening socket with a backlog large enough for benchmarks.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// A running fake provider; stops serving when dropped.
#[derive(Debug)]
pub struct FakeHandle {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    options: Arc<server::Options>,
    runtime: Option<Runtime>,
}

impl FakeHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }

    /// `(name, ip)` pairs mapping each name to this fake, for [`crate::Hosts`].
    pub fn hosts(&self, names: &[&str]) -> Vec<(String, IpAddr)> {
        names.iter().map(|n| ((*n).to_owned(), self.ip())).collect()
    }

    /// Every request seen so far, oldest first.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    /// The text messages received on WebSockets, oldest first.
    pub fn websocket_messages(&self) -> Vec<String> {
        self.options.websockets.iter().flat_map(|r| r.received.lock().unwrap().clone()).collect()
    }

    /// The text messages sent on WebSockets, oldest first.
    pub fn websocket_sent(&self) -> Vec<String> {
        self.options.websockets.iter().flat_map(|r| r.sent.lock().unwrap().clone()).collect()
    }

    /// How many connections the fake has accepted (TLS handshake done).
    pub fn connections(&self) -> usize {
        self.options.connections.load(Ordering::Relaxed)
    }

    /// The exact body sent for a non-streamed chat completion.
    pub fn chat_completion(&self) -> Bytes {
        responses::chat_completion().clone()
    }

    /// The exact body sent for a streamed chat completion (all SSE events).
    pub fn chat_stream(&self) -> Bytes {
        responses::chat_stream()
    }

    /// The exact body sent for `GET /v1/models`.
    pub fn models(&self) -> Bytes {
        responses::models().clone()
    }
}

impl Drop for FakeHandle {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
