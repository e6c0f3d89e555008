//! WebSocket upgrades (RFC 6455 over HTTP/1.1), such as Codex's Responses API socket:
//! the upgrade goes to the provider on a connection of its own; once both sides have
//! switched protocols, the bytes are relayed unchanged both ways, as they arrive, while a
//! reader on each side follows the frames and records each turn ([`turns`]) as it ends.
//! The offer of compression (`Sec-WebSocket-Extensions`) is removed from the upgrade, so
//! every message can be read. Policy cannot read messages before they leave: when a hook
//! or quota applies to the caller, the upgrade is not passed on (the provider then gets a
//! plain GET, and clients fall back to HTTP, where policy runs).
mod frame;
mod turns;

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::{body::Incoming, upgrade::OnUpgrade};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{debug, warn};

use crate::{
    agent::Shared,
    body::ReqBody,
    capture::worker::Exchange,
    identity::ProcessSnapshot,
    proxy::{self, Conn, ProxyBody},
    record::Record,
};
use frame::FrameReader;
use turns::{Direction, Turn, Turns};

/// What a turn record says for `http_version`: the turn went over a WebSocket.
pub const WEBSOCKET: &str = "websocket";

/// Bytes read from one side at a time.
const READ_BUF: usize = 16 * 1024;

/// Whether `req` asks to switch an HTTP/1.1 connection to a WebSocket.
pub fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.version() == http::Version::HTTP_11
        && has_token(req.headers(), &header::CONNECTION, "upgrade")
        && has_token(req.headers(), &header::UPGRADE, "websocket")
}

fn has_token(headers: &HeaderMap, name: &header::HeaderName, token: &str) -> bool {
    proxy::header_tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// Names the upgrade in `headers` again, after the hop-by-hop headers were removed.
fn mark_upgrade(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
}

/// Whether policy must see this caller's requests: then no upgrade is passed on.
pub fn policy_applies(conn: &Conn, shared: &Shared, headers: &HeaderMap) -> bool {
    shared.policy.as_ref().is_some_and(|policy| policy.plan(&conn.subject(policy), headers, conn.provider()).is_some())
}

/// Passes the upgrade `req` upstream. A provider that switches protocols gets the client
/// relayed to it, and its 101 goes back; any other answer goes back as a plain response.
pub async fn proxy(
    mut req: Request<Incoming>,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
    record: Record,
    started: Instant,
) -> Response<ProxyBody> {
    let client_side = hyper::upgrade::on(&mut req);
    let (mut parts, _) = req.into_parts();
    proxy::strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::SEC_WEBSOCKET_EXTENSIONS);
    let request_headers = parts.headers.clone();
    let mut exchange = Exchange::new(record.clone(), conn.snapshot().clone(), request_headers.clone(), None);
    mark_upgrade(&mut parts.headers);

    let upstream_req = Request::from_parts(parts, ReqBody::Whole(None));
    let resp = match conn.upstream().upgrade(conn.origin().dst, conn.sni(), upstream_req).await {
        Ok(resp) => resp,
        Err(error) => {
            let reason = crate::error_chain(&error);
            warn!(message = "Upstream WebSocket upgrade failed.", host = %conn.sni(), error = %reason);
            return proxy::fail(&shared, exchange, started, StatusCode::BAD_GATEWAY, reason);
        }
    };
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        exchange.record.ttfb_ms = Some(proxy::ms(started));
        let resp = resp.map(crate::upstream::RespBody::H1);
        return proxy::respond(&shared, exchange, started, resp, http::Version::HTTP_11);
    }

    let mut resp = resp;
    let upstream_side = hyper::upgrade::on(&mut resp);
    let (mut parts, _) = resp.into_parts();
    proxy::strip_hop_by_hop(&mut parts.headers);
    let response_headers = parts.headers.clone();
    mark_upgrade(&mut parts.headers);

    let mut template = record;
    template.http_version = WEBSOCKET.to_owned();
    template.upstream_version = Some("HTTP/1.1".to_owned());
    template.status = Some(StatusCode::SWITCHING_PROTOCOLS.as_u16());
    let recorder = Recorder {
        template,
        snapshot: conn.snapshot().clone(),
        request_headers,
        response_headers,
        shared: shared.clone(),
    };
    tokio::spawn(relay(client_side, upstream_side, recorder));
    Response::from_parts(parts, Empty::new().map_err(|never| match never {}).boxed())
}

/// Makes records of turns: the upgrade's record with a turn's timing, bytes and bodies.
struct Recorder {
    template: Record,
    snapshot: Arc<ProcessSnapshot>,
    request_headers: HeaderMap,
    response_headers: HeaderMap,
    shared: Arc<Shared>,
}

impl Recorder {
    fn submit(&self, turn: Turn, broken: Option<&str>) {
        let mut record = self.template.clone();
        record.duration_ms = turn.started.elapsed().as_secs_f64() * 1000.0;
        record.ttfb_ms = turn.first_answer.map(|t| t.duration_since(turn.started).as_secs_f64() * 1000.0);
        record.bytes_sent = turn.bytes_sent;
        record.bytes_received = turn.bytes_received;
        (record.outcome, record.error) = match (turn.ended, turn.asked, broken) {
            (true, _, _) => ("complete".to_owned(), None),
            (false, _, Some(why)) => ("upstream_error".to_owned(), Some(why.to_owned())),
            (false, true, None) => {
                ("abandoned".to_owned(), Some("the WebSocket closed before the response ended".to_owned()))
            }
            (false, false, None) => ("complete".to_owned(), None),
        };
        let request = Arc::new(Mutex::new(turn.request));
        let mut exchange = Exchange::new(record, self.snapshot.clone(), self.request_headers.clone(), Some(request));
        exchange.at = turn.at;
        exchange.response_headers = Some(self.response_headers.clone());
        exchange.response_body = Some(turn.response);
        self.shared.capture.submit(exchange);
    }
}

/// Relays both ways until both sides are done, recording turns as they end.
async fn relay(client: OnUpgrade, upstream: OnUpgrade, recorder: Recorder) {
    let shared = recorder.shared.clone();
    let turns = Turns::new(move || shared.body_buf());
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(error) => {
            debug!(message = "A WebSocket upgrade did not complete.", %error);
            if let Some(turn) = turns.finish() {
                recorder.submit(turn, Some(&format!("the WebSocket upgrade did not complete: {error}")));
            }
            return;
        }
    };
    let turns = Mutex::new(turns);
    let broken = Mutex::new(None::<String>);
    let (client_read, client_write) = tokio::io::split(TokioIo::new(client));
    let (upstream_read, upstream_write) = tokio::io::split(TokioIo::new(upstream));
    let limit = usize::try_from(recorder.shared.config.capture.max_body_mb << 20).unwrap_or(usize::MAX);
    let side = |direction| Side { direction, turns: &turns, broken: &broken, recorder: &recorder, limit };
    tokio::join!(
        side(Direction::FromClient).pump(client_read, upstream_write),
        side(Direction::FromServer).pump(upstream_read, client_write),
    );
    let broken = broken.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let turns = turns.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(left) = turns.finish() {
        recorder.submit(left, broken.as_deref());
    }
}

/// One direction of the relay.
struct Side<'a> {
    direction: Direction,
    turns: &'a Mutex<Turns>,
    broken: &'a Mutex<Option<String>>,
    recorder: &'a Recorder,
    limit: usize,
}

impl Side<'_> {
    /// Copies `from` to `to` until `from` ends or either fails, reading the frames after
    /// each piece has been passed on; then ends the write side of `to`.
    async fn pump<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(self, mut from: R, mut to: W) {
        let mut reader = Some(FrameReader::new(self.limit));
        let mut buf = vec![0u8; READ_BUF];
        let mut events = Vec::new();
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if to.write_all(&buf[..n]).await.is_err() {
                break;
            }
            let Some(frames) = reader.as_mut() else { continue };
            if let Err(error) = frames.feed(&buf[..n], &mut events) {
                let why = format!("the WebSocket framing broke ({error}); later messages were not recorded");
                warn!(message = "Cannot follow a WebSocket's frames; relaying it unread.", direction = ?self.direction, %error);
                *self.broken.lock().expect("broken poisoned") = Some(why);
                reader = None;
            }
            for event in events.drain(..) {
                let ended = self.turns.lock().expect("turns poisoned").event(self.direction, &event);
                if let Some(turn) = ended {
                    self.recorder.submit(turn, None);
                }
            }
        }
        let _ = to.shutdown().await;
    }
}
