//! The intercepting HTTP proxy for one client connection: terminates TLS with the minted
//! leaf, serves HTTP/1.1 or h2 as ALPN chose, checks each request's Host against the SNI,
//! forwards it upstream with hop-by-hop headers removed, streams the response back as it
//! arrives, and hands a record to the store when the response ends.
use std::{
    convert::Infallible,
    sync::{Arc, Mutex, OnceLock},
    time::Instant,
};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited, combinators::BoxBody};
use hyper::{
    body::Incoming,
    server::conn::{http1, http2},
    service::service_fn,
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use crate::{
    agent::Shared,
    body::{End, ReqBody, Tee, Watched},
    capture::{buffer::BodyBuf, worker::Exchange},
    identity::ProcessSnapshot,
    origin::OriginInfo,
    policy::{Plan, Policy, RequestInfo, Verdict, subject::Subject},
    record::{Record, version_name},
    rewind::Rewind,
    status::Counters,
    tls::ALPN_H2,
    upstream::{BoxError, RespBody, Upstream},
    websocket,
};

pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// What every request on one client connection shares.
pub struct Conn {
    sni: Arc<str>,
    provider: String,
    origin: OriginInfo,
    /// What /proc said about the caller at accept.
    snapshot: Arc<ProcessSnapshot>,
    /// The upstream pool of the worker thread this connection runs on.
    upstream: Arc<Upstream>,
    /// Who the caller is, for policy; built on the first request policy looks at.
    subject: OnceLock<Arc<Subject>>,
}

impl Conn {
    pub fn new(
        sni: String,
        provider: String,
        origin: OriginInfo,
        snapshot: Arc<ProcessSnapshot>,
        upstream: Arc<Upstream>,
    ) -> Self {
        Self { sni: sni.into(), provider, origin, snapshot, upstream, subject: OnceLock::new() }
    }

    pub fn subject(&self, policy: &Policy) -> Arc<Subject> {
        self.subject.get_or_init(|| Arc::new(policy.subject(&self.snapshot))).clone()
    }

    pub fn sni(&self) -> &Arc<str> {
        &self.sni
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    pub fn origin(&self) -> &OriginInfo {
        &self.origin
    }

    pub fn snapshot(&self) -> &Arc<ProcessSnapshot> {
        &self.snapshot
    }

    pub fn upstream(&self) -> &Arc<Upstream> {
        &self.upstream
    }
}

pub async fn serve(stream: TcpStream, hello: BytesMut, conn: Conn, shared: Arc<Shared>) {
    let acceptor = TlsAcceptor::from(shared.server_tls.clone());
    let tls = match acceptor.accept(Rewind::new(hello, stream)).await {
        Ok(tls) => tls,
        Err(error) => {
            Counters::bump(&shared.counters.failed);
            debug!(message = "Client TLS handshake failed.", sni = %conn.sni, %error);
            return;
        }
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(ALPN_H2);
    let conn = Arc::new(conn);
    let conn_info = conn.clone();
    let service_shared = shared.clone();
    let service = service_fn(move |req| handle(req, conn.clone(), service_shared.clone()));
    let io = TokioIo::new(tls);
    let result = if h2 {
        http2::Builder::new(TokioExecutor::new()).serve_connection(io, service).await
    } else {
        http1::Builder::new().serve_connection(io, service).with_upgrades().await
    };
    match result {
        // hyper has already answered 400 (HTTP/1.1) or reset the stream (h2).
        Err(error) if error.is_parse() || error.is_parse_too_large() => {
            Counters::bump(&shared.counters.malformed);
            warn!(message = "Malformed request from client.", host = %conn_info.sni, pid = conn_info.origin.process.pid, exe = %conn_info.origin.process.exe, %error);
        }
        Err(error) => debug!(message = "Client connection ended with an error.", %error),
        Ok(()) => {}
    }
}

async fn handle(
    req: Request<Incoming>,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    // `time` is set from the exchange's arrival instant on the capture thread.
    let record = Record {
        provider: conn.provider.clone(),
        host: conn.sni.to_string(),
        method: req.method().to_string(),
        path: req.uri().path_and_query().map_or_else(|| "/".to_owned(), ToString::to_string),
        http_version: version_name(req.version()).to_owned(),
        dst: conn.origin.dst.0.to_string(),
        process: conn.origin.process.clone(),
        ..Record::default()
    };

    if let Some(host) = request_host(&req)
        && !host.eq_ignore_ascii_case(&conn.sni)
    {
        let reason = format!("request for {host} on a connection for {}", conn.sni);
        let exchange = Exchange::new(record, conn.snapshot.clone(), req.headers().clone(), None);
        return Ok(fail(&shared, exchange, started, StatusCode::MISDIRECTED_REQUEST, reason));
    }

    if websocket::is_upgrade(&req) && !websocket::policy_applies(&conn, &shared, req.headers()) {
        return Ok(websocket::proxy(req, conn, shared, record, started).await);
    }

    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let request_buf = Arc::new(Mutex::new(shared.body_buf()));
    let mut exchange = Exchange::new(record, conn.snapshot.clone(), parts.headers.clone(), Some(request_buf.clone()));
    if let Some(policy) = &shared.policy {
        let subject = conn.subject(policy);
        if let Some(plan) = policy.plan(&subject, &parts.headers, &conn.provider) {
            let applied = apply_policy(policy, plan, &subject, &mut parts, body, &mut exchange, &request_buf).await;
            return Ok(match applied {
                Ok(body) => forward(&conn, &shared, exchange, parts, body, started).await,
                Err(Stop::Refuse(response)) => refuse(&shared, exchange, started, response),
                Err(Stop::Fail(reason)) => fail(&shared, exchange, started, StatusCode::BAD_REQUEST, reason),
            });
        }
    }
    let body = match declared_length(&parts.headers) {
        Some(len) if len <= WHOLE_BODY_MAX => match body.collect().await {
            Ok(collected) => {
                let bytes = collected.to_bytes();
                request_buf.lock().expect("tee buffer poisoned").push(&bytes);
                ReqBody::Whole((!bytes.is_empty()).then_some(bytes))
            }
            Err(error) => {
                let reason = format!("the client's request body failed: {error}");
                return Ok(fail(&shared, exchange, started, StatusCode::BAD_REQUEST, reason));
            }
        },
        _ => ReqBody::Stream(Tee::new(body, request_buf)),
    };
    Ok(forward(&conn, &shared, exchange, parts, body, started).await)
}

/// Why a request policy looked at goes no further.
enum Stop {
    /// Policy refused it: answer this.
    Refuse(Response<Bytes>),
    /// The client's body could not be read.
    Fail(String),
}

/// Reads the whole body (up to the policy cap) and lets policy decide: the body to send,
/// or the response that refuses the request.
async fn apply_policy(
    policy: &Policy,
    plan: Plan,
    subject: &Subject,
    parts: &mut http::request::Parts,
    body: Incoming,
    exchange: &mut Exchange,
    request_buf: &Mutex<BodyBuf>,
) -> Result<ReqBody, Stop> {
    let bytes = match Limited::new(body, policy.max_body()).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            let api = crate::capture::usage::api_kind(parts.method.as_str(), &exchange.record.path);
            exchange.record.error = Some("request body too large for policy to check".to_owned());
            return Err(Stop::Refuse(policy.too_large(api, &exchange.record.provider)));
        }
        Err(error) => return Err(Stop::Fail(format!("the client's request body failed: {error}"))),
    };
    let path = parts.uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
    let info = RequestInfo {
        provider: &exchange.record.provider,
        method: parts.method.as_str(),
        path,
        headers: &parts.headers,
    };
    let applied = policy.apply(plan, subject, &info, bytes).await;
    request_buf.lock().expect("tee buffer poisoned").push(&applied.stored);
    exchange.record.policy = (!applied.record.is_empty()).then_some(applied.record);
    match applied.verdict {
        Verdict::Refuse(resp) => {
            exchange.record.error = exchange.record.policy.as_ref().and_then(|p| p.refused_by.clone());
            Err(Stop::Refuse(resp))
        }
        Verdict::Forward { body, modified, reservation } => {
            // The body goes whole now: its length is known (chunked framing was a hop's).
            if !body.is_empty() || parts.headers.contains_key(header::CONTENT_LENGTH) {
                parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            }
            if modified && body != applied.stored {
                exchange.upstream_body = Some(body.clone());
            }
            exchange.reservation = reservation;
            Ok(ReqBody::Whole((!body.is_empty()).then_some(body)))
        }
    }
}

/// Sends the request upstream and streams the response back, recording it at its end.
async fn forward(
    conn: &Conn,
    shared: &Arc<Shared>,
    exchange: Exchange,
    parts: http::request::Parts,
    body: ReqBody,
    started: Instant,
) -> Response<ProxyBody> {
    let upstream_req = Request::from_parts(parts, body);

    let (resp, version) = match conn.upstream.send(conn.origin.dst, &conn.sni, upstream_req).await {
        Ok(ok) => ok,
        Err(error) => {
            let reason = crate::error_chain(&error);
            warn!(message = "Upstream request failed.", host = %conn.sni, dst = %conn.origin.dst.0, error = %reason, before_request = error.before_request());
            return fail(shared, exchange, started, StatusCode::BAD_GATEWAY, reason);
        }
    };
    let mut exchange = exchange;
    exchange.record.ttfb_ms = Some(ms(started));
    respond(shared, exchange, started, resp, version)
}

/// Streams the provider's response back to the client, recording the exchange at its end.
pub fn respond(
    shared: &Arc<Shared>,
    mut exchange: Exchange,
    started: Instant,
    resp: Response<RespBody>,
    version: http::Version,
) -> Response<ProxyBody> {
    exchange.record.status = Some(resp.status().as_u16());
    exchange.record.upstream_version = Some(version_name(version).to_owned());

    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    exchange.response_headers = Some(parts.headers.clone());
    let capture = shared.capture.clone();
    let on_end = move |end: End, buf: BodyBuf| {
        let sent = sent_bytes(&exchange);
        let record = &mut exchange.record;
        record.duration_ms = ms(started);
        record.bytes_received = buf.seen();
        record.bytes_sent = sent;
        (record.outcome, record.error) = match end {
            End::Complete => ("complete".to_owned(), None),
            End::UpstreamError(e) => ("upstream_error".to_owned(), Some(e)),
            End::Abandoned => ("abandoned".to_owned(), Some("client went away before the end".to_owned())),
        };
        exchange.response_body = Some(buf);
        capture.submit(exchange);
    };
    Response::from_parts(parts, Watched::new(body, shared.body_buf(), on_end).boxed())
}

/// Request body bytes that went upstream: the body policy sent, else what the client sent.
fn sent_bytes(exchange: &Exchange) -> u64 {
    match &exchange.upstream_body {
        Some(body) => body.len() as u64,
        None => exchange.request_body.as_ref().map_or(0, |b| b.lock().map_or(0, |b| b.seen())),
    }
}

/// Answers the client with policy's refusal and records it, the refusal as the response;
/// nothing was sent upstream.
fn refuse(shared: &Shared, mut exchange: Exchange, started: Instant, resp: Response<Bytes>) -> Response<ProxyBody> {
    let record = &mut exchange.record;
    record.status = Some(resp.status().as_u16());
    record.duration_ms = ms(started);
    record.bytes_sent = 0;
    record.bytes_received = resp.body().len() as u64;
    record.outcome = "refused".to_owned();
    exchange.response_headers = Some(resp.headers().clone());
    let mut buf = shared.body_buf();
    buf.push(resp.body());
    exchange.response_body = Some(buf);
    shared.capture.submit(exchange);
    resp.map(|b| Full::new(b).map_err(|never| match never {}).boxed())
}

/// Answers the client with `status` and records why.
pub fn fail(
    shared: &Shared,
    mut exchange: Exchange,
    started: Instant,
    status: StatusCode,
    reason: String,
) -> Response<ProxyBody> {
    let body = Bytes::from(format!("glassbox: {reason}\n"));
    let record = &mut exchange.record;
    record.status = Some(status.as_u16());
    record.duration_ms = ms(started);
    record.bytes_received = body.len() as u64;
    record.bytes_sent = exchange.request_body.as_ref().map_or(0, |b| b.lock().map_or(0, |b| b.seen()));
    record.outcome = "failed".to_owned();
    record.error = Some(reason);
    shared.capture.submit(exchange);
    let mut resp = Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// Request bodies of a declared length up to this are collected before they are sent
/// (they arrive in a TLS record or two); longer or chunked ones stream.
const WHOLE_BODY_MAX: u64 = 64 * 1024;

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

pub fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The host a request names: :authority for h2, else the Host header; port and a trailing
/// dot removed.
fn request_host<B>(req: &Request<B>) -> Option<String> {
    let raw = match req.uri().authority() {
        Some(authority) => authority.host().to_owned(),
        None => {
            let value = req.headers().get(header::HOST)?.to_str().ok()?;
            value.parse::<http::uri::Authority>().ok()?.host().to_owned()
        }
    };
    Some(raw.trim_end_matches('.').to_ascii_lowercase())
}

/// The comma-separated tokens of every `name` header, trimmed (`Connection: keep-alive,
/// Upgrade` gives `keep-alive`, `Upgrade`).
pub fn header_tokens<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> impl Iterator<Item = &'a str> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim)
}

/// Removes the headers that belong to one hop (RFC 9110 §7.6.1), including any the
/// Connection header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = header_tokens(headers, &header::CONNECTION)
        .filter(|name| !name.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::TRAILER,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    // TE may only say "trailers" once it leaves this hop.
    if headers.get(header::TE).is_some_and(|te| te.as_bytes().eq_ignore_ascii_case(b"trailers")) {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    } else {
        headers.remove(header::TE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed_and_end_to_end_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, X-Hop"));
        headers.insert("x-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(header::TE, HeaderValue::from_static("gzip"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer sk"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<_> = headers.keys().map(http::HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, vec!["authorization", "content-type"]);
    }

    #[test]
    fn te_trailers_survives() {
        let mut headers = HeaderMap::new();
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.get(header::TE).unwrap(), "trailers");
    }

    #[test]
    fn request_host_comes_from_authority_or_host() {
        let req = Request::get("https://API.openai.com:443/v1").body(()).unwrap();
        assert_eq!(request_host(&req).as_deref(), Some("api.openai.com"));
        let req = Request::get("/v1").header("host", "api.anthropic.com.").body(()).unwrap();
        assert_eq!(request_host(&req).as_deref(), Some("api.anthropic.com"));
        let req = Request::get("/v1").body(()).unwrap();
        assert_eq!(request_host(&req), None);
    }
}
