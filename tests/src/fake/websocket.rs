//! The fake provider's WebSocket routes (tokio-tungstenite, independent of the agent's
//! own frame reader): a `GET` upgrade to a route's path switches protocols, and each text
//! message the client sends is recorded and answered with the route's messages, the
//! provider's pause between two of them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Answers one client text message with the messages to send back, in order.
pub type Reply = Arc<dyn Fn(&str) -> Vec<String> + Send + Sync>;

/// A WebSocket route: the path it upgrades, how it answers, what it received and what
/// it sent.
#[derive(Clone)]
pub struct WsRoute {
    pub path: String,
    pub reply: Reply,
    pub received: Arc<Mutex<Vec<String>>>,
    pub sent: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for WsRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WsRoute({})", self.path)
    }
}

/// Whether `req` asks to become a WebSocket.
pub fn is_upgrade<B>(req: &Request<B>) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// The 101 that accepts the upgrade `req`; the conversation starts once the connection
/// has switched. None when the request lacks its key.
pub fn accept<B>(req: &mut Request<B>, route: WsRoute, delay: Duration) -> Option<Response<()>> {
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY)?;
    let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes())).ok()?;
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    headers.insert("x-fake-provider", HeaderValue::from_static("1"));
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(converse(upgrade, route, delay));
    Some(response)
}

async fn converse(upgrade: OnUpgrade, route: WsRoute, delay: Duration) {
    let Ok(io) = upgrade.await else { return };
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, None).await;
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Text(text) => {
                route.received.lock().unwrap().push(text.to_string());
                for (i, reply) in (route.reply)(&text).into_iter().enumerate() {
                    if i > 0 && !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    route.sent.lock().unwrap().push(reply.clone());
                    if ws.send(Message::text(reply)).await.is_err() {
                        return;
                    }
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    // Answers the client's close (tungstenite queued the reply) and ends the connection.
    let _ = ws.close(None).await;
}
