//! The fake provider's server: accept TCP (nodelay) → TLS → HTTP/1.1 or h2 (hyper-util
//! auto) → route: a test's [`Canned`] routes first, then the built-in ones. Shared by the
//! in-process [`super::FakeProvider`] and the standalone `fake-provider` binary; only the
//! former records requests. Either can end each connection gracefully after a number of
//! requests (h2: GOAWAY; HTTP/1.1: `connection: close`), as providers do.

use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio_rustls::TlsAcceptor;

use super::SeenRequest;
use super::body::FakeBody;
use super::canned::Canned;
use super::responses;
use super::websocket::{self, WsRoute};

/// Chooses the canned answer to one request from what the request says.
pub type Answer = Arc<dyn Fn(&SeenRequest) -> Canned + Send + Sync>;

/// A test's own route: a method and a path (query ignored), and how it answers.
#[derive(Clone)]
pub struct Route {
    pub method: Method,
    pub path: String,
    pub answer: Answer,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Route({} {})", self.method, self.path)
    }
}

/// How a server behaves: what it records, how it paces streams, what it answers.
#[derive(Debug, Default)]
pub struct Options {
    /// Where requests are recorded; `None` for the benchmark binary.
    pub record: Option<Arc<Mutex<Vec<SeenRequest>>>>,
    /// Pause between two SSE events (the first is sent at once).
    pub sse_delay: Duration,
    /// Answers by method and path, tried before the built-in routes; the first wins.
    pub routes: Vec<Route>,
    /// Paths that accept a WebSocket upgrade, and how they answer its messages.
    pub websockets: Vec<WsRoute>,
    /// Once a connection has received this many requests it is shut down gracefully: the
    /// requests already received are answered, no new one is taken. `None`: never.
    pub requests_per_connection: Option<NonZeroUsize>,
    /// Connections accepted so far (TLS handshake done); each request records the number
    /// of the connection it came on.
    pub connections: AtomicUsize,
}

/// Accepts connections until the runtime is dropped. Errors of one connection (a failed
/// handshake, a client that vanishes) end that connection only.
pub async fn serve(listener: TcpListener, tls: TlsAcceptor, options: Arc<Options>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            // Out of file descriptors or a similar transient: back off, keep serving.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        let options = options.clone();
        tokio::spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else { return };
            let sni: Option<Arc<str>> = stream.get_ref().1.server_name().map(Arc::from);
            let connection = options.connections.fetch_add(1, Ordering::Relaxed) + 1;
            let limit = options.requests_per_connection;
            let received = AtomicUsize::new(0);
            let (enough, closing) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
            let service = service_fn({
                let (enough, closing) = (enough.clone(), closing.clone());
                move |req| {
                    let last = limit.is_some_and(|l| received.fetch_add(1, Ordering::Relaxed) + 1 == l.get());
                    let (options, sni, enough, closing) =
                        (options.clone(), sni.clone(), enough.clone(), closing.clone());
                    async move {
                        if last {
                            // Answered once the connection is closing: the GOAWAY leaves first.
                            enough.notify_one();
                            closing.notified().await;
                        }
                        handle(req, options, sni, connection).await
                    }
                }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let serving = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::pin!(serving);
            tokio::select! {
                _ = serving.as_mut() => return,
                () = enough.notified() => {}
            }
            // Queues GOAWAY (h2) or ends keep-alive (HTTP/1.1); what was taken is answered.
            serving.as_mut().graceful_shutdown();
            closing.notify_one();
            let _ = serving.await;
        });
    }
}

async fn handle(
    mut req: Request<Incoming>,
    options: Arc<Options>,
    sni: Option<Arc<str>>,
    connection: usize,
) -> Result<Response<FakeBody>, Infallible> {
    let ws_route = options
        .websockets
        .iter()
        .find(|r| req.method() == Method::GET && r.path == req.uri().path() && websocket::is_upgrade(&req));
    let switched = ws_route.and_then(|route| websocket::accept(&mut req, route.clone(), options.sse_delay));
    let (parts, body) = req.into_parts();
    // A client that vanishes mid-body leaves what arrived; the route then decides.
    let body = body.collect().await.map(http_body_util::Collected::to_bytes).unwrap_or_default();
    let own = options.routes.iter().find(|r| r.method == parts.method && r.path == parts.uri.path());
    let seen = SeenRequest {
        path: parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        method: parts.method,
        version: parts.version,
        headers: parts.headers,
        body,
        sni: sni.as_deref().map(str::to_owned),
        connection,
    };
    let response = match (switched, own) {
        (Some(switched), _) => switched.map(|()| FakeBody::empty()),
        (None, own) => match own {
            Some(r) => serve_canned(&(r.answer)(&seen), options.sse_delay),
            None => route(&seen.method, seen.path.split('?').next().unwrap_or("/"), &seen.body, options.sse_delay),
        },
    };
    if let Some(record) = &options.record {
        record.lock().unwrap().push(seen);
    }
    Ok(response)
}

fn route(method: &Method, path: &str, body: &[u8], sse_delay: Duration) -> Response<FakeBody> {
    const JSON: &str = "application/json";
    if method == Method::HEAD {
        return respond(StatusCode::OK, JSON, FakeBody::empty());
    }
    match (method, path) {
        (&Method::POST, "/v1/chat/completions") if wants_stream(body) => {
            let mut response = respond(StatusCode::OK, "text/event-stream", stream(sse_delay));
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        (&Method::POST, "/v1/chat/completions") => {
            respond(StatusCode::OK, JSON, FakeBody::full(responses::chat_completion().clone()))
        }
        (&Method::GET, "/v1/models") => respond(StatusCode::OK, JSON, FakeBody::full(responses::models().clone())),
        _ => respond(StatusCode::NOT_FOUND, JSON, FakeBody::full(responses::not_found())),
    }
}

/// A canned answer: its status and headers, its body in one piece or event by event, and
/// a failed body after the last piece when it is cut.
fn serve_canned(canned: &Canned, delay: Duration) -> Response<FakeBody> {
    let body = if canned.is_paced() {
        let cut = canned.is_cut().then(|| std::io::Error::other("the fake provider cuts this stream"));
        paced(canned.pieces(), cut, delay)
    } else {
        FakeBody::full(canned.body().clone())
    };
    let mut response = respond(canned.status, "application/json", body);
    let headers = response.headers_mut();
    let value = |v: &str| HeaderValue::from_str(v).unwrap_or_else(|e| panic!("header value {v:?}: {e}"));
    headers.insert(header::CONTENT_TYPE, value(&canned.content_type));
    for (name, v) in &canned.headers {
        let name = header::HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|e| panic!("header {name:?}: {e}"));
        headers.append(name, value(v));
    }
    response
}

fn respond(status: StatusCode, content_type: &'static str, body: FakeBody) -> Response<FakeBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-fake-provider", HeaderValue::from_static("1"));
    headers.insert("x-request-id", HeaderValue::from_static("req_glassboxfixture"));
    response
}

/// True when the request body is JSON with `"stream": true`.
fn wants_stream(body: &[u8]) -> bool {
    // Fast path for the benchmark's plain requests: no "stream" key, no JSON parse.
    const KEY: &[u8] = b"\"stream\"";
    if !body.windows(KEY.len()).any(|w| w == KEY) {
        return false;
    }
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|v| v.get("stream") == Some(&serde_json::Value::Bool(true)))
}

/// The built-in chat stream, event by event, `delay` apart.
fn stream(delay: Duration) -> FakeBody {
    paced(responses::chat_chunks().to_vec(), None, delay)
}

/// Feeds `pieces` into a body one by one, `delay` apart, then `cut` (if any) after another
/// `delay`, so everything before it has been flushed when the body fails.
fn paced(pieces: Vec<Bytes>, cut: Option<std::io::Error>, delay: Duration) -> FakeBody {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    tokio::spawn(async move {
        let items = pieces.into_iter().map(Ok).chain(cut.map(Err));
        for (i, item) in items.enumerate() {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if tx.send(item).await.is_err() {
                return; // the client went away
            }
        }
    });
    FakeBody::Stream(rx)
}
