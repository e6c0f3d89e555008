//! External guardrail webhooks: POSTs the decision document (identity, provider, model,
//! the request body as the earlier hooks left it, the session) to the configured URL and
//! reads the answer — `{"action":"allow"}`, `{"action":"block","reason":…}` or
//! `{"action":"modify","body":{…}}`. Anything else, a refused connection, a non-2xx
//! status or no answer within the hook's timeout is an error, which the chain turns into
//! allow or block by the hook's fail policy. https URLs are verified like upstreams:
//! system roots plus `[upstream] extra_ca_file`, never weakened. Connections are kept
//! alive and reused, each by the worker thread that opened it; one found closed when a
//! call tries it is replaced once.
use std::{
    sync::{Arc, Mutex},
    thread::{self, ThreadId},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, pki_types::ServerName};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::config::HookConfig;

/// The largest answer read from a guardrail (a modified body can be large).
const MAX_ANSWER: usize = 64 << 20;
/// Idle connections kept per webhook, over all worker threads.
const MAX_IDLE: usize = 16;

type Sender = SendRequest<Full<Bytes>>;
/// Idle kept-alive connections, each with the worker thread whose runtime drives it.
type Pool = Arc<Mutex<Vec<(ThreadId, Sender)>>>;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("failed to connect to {0}")]
    Connect(String, #[source] std::io::Error),
    #[error("tls handshake with {0} failed")]
    Tls(String, #[source] std::io::Error),
    #[error("http exchange failed")]
    Http(#[source] hyper::Error),
    #[error("the connection closed before the request was sent")]
    Closed,
    #[error("answer body unreadable: {0}")]
    Body(String),
    #[error("answered status {0}")]
    Status(u16),
    #[error("answer is not a verdict: {0}")]
    BadAnswer(String),
}

/// What the guardrail decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Allow,
    Block(String),
    /// Send this body instead.
    Modify(Value),
}

/// One configured webhook, ready to call.
pub struct Webhook {
    uri: Uri,
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    headers: HeaderMap,
    timeout_ms: u64,
    idle: Pool,
}

impl Webhook {
    pub fn new(config: &HookConfig, tls: &Arc<ClientConfig>) -> Result<Self, String> {
        let bad = |why: &str| format!("hook {}: {why}", config.name);
        let uri: Uri = config.url.parse().map_err(|e| bad(&format!("url {:?}: {e}", config.url)))?;
        let https = uri.scheme_str() == Some("https");
        let host = uri.host().ok_or_else(|| bad("url has no host"))?.trim_matches(['[', ']']).to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            let name = ServerName::try_from(host.clone()).map_err(|e| bad(&format!("host {host:?}: {e}")))?;
            Some((TlsConnector::from(tls.clone()), name))
        } else {
            None
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::try_from(name.as_str()).map_err(|e| bad(&format!("header {name:?}: {e}")))?;
            let value = HeaderValue::try_from(value.as_str()).map_err(|e| bad(&format!("header {name}: {e}")))?;
            headers.insert(name, value);
        }
        Ok(Self { uri, host, port, tls, headers, timeout_ms: config.timeout_ms, idle: Arc::default() })
    }

    /// Sends `document` and reads the verdict, all within the hook's timeout.
    pub async fn ask(&self, document: &Value) -> Result<Verdict, WebhookError> {
        let call = self.call(Bytes::from(document.to_string()));
        match tokio::time::timeout(Duration::from_millis(self.timeout_ms), call).await {
            Ok(result) => result,
            Err(_) => Err(WebhookError::Timeout(self.timeout_ms)),
        }
    }

    async fn call(&self, body: Bytes) -> Result<Verdict, WebhookError> {
        let req = self.request(body)?;
        let answer = match self.checkout() {
            Some(sender) => match self.exchange(sender, req).await {
                Err(ExchangeError::Unsent(req)) => {
                    // The kept connection had closed: nothing was sent; once more, on a new one.
                    self.exchange(self.connect().await?, *req).await
                }
                other => other,
            },
            None => self.exchange(self.connect().await?, req).await,
        };
        match answer {
            Ok(answer) => parse_verdict(&answer),
            Err(ExchangeError::Unsent(_)) => Err(WebhookError::Closed),
            Err(ExchangeError::Failed(error)) => Err(error),
        }
    }

    /// A kept connection of this thread, ready for a request.
    fn checkout(&self) -> Option<Sender> {
        let me = thread::current().id();
        let mut idle = self.idle.lock().expect("webhook pool poisoned");
        while let Some(at) = idle.iter().rposition(|(owner, _)| *owner == me) {
            let (_, sender) = idle.swap_remove(at);
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    /// A new connection, driven by this thread's runtime.
    async fn connect(&self) -> Result<Sender, WebhookError> {
        let addr = format!("{}:{}", self.host, self.port);
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| WebhookError::Connect(addr.clone(), e))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), tcp).await.map_err(|e| WebhookError::Tls(addr, e))?;
                handshake(TokioIo::new(tls)).await
            }
            None => handshake(TokioIo::new(tcp)).await,
        }
    }

    fn request(&self, body: Bytes) -> Result<Request<Full<Bytes>>, WebhookError> {
        let path = self.uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
        let mut req = Request::post(path).body(Full::new(body)).map_err(|e| WebhookError::BadAnswer(e.to_string()))?;
        let host = if self.uri.port().is_some() { format!("{}:{}", self.host, self.port) } else { self.host.clone() };
        let headers = req.headers_mut();
        headers.insert(header::HOST, HeaderValue::try_from(host).map_err(|e| WebhookError::BadAnswer(e.to_string()))?);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::USER_AGENT, HeaderValue::from_static(concat!("glassbox/", env!("CARGO_PKG_VERSION"))));
        headers.extend(self.headers.clone());
        Ok(req)
    }

    /// Sends `req` on `sender` and reads the whole answer; the connection is kept for the
    /// next call once it is ready again.
    async fn exchange(&self, mut sender: Sender, req: Request<Full<Bytes>>) -> Result<Bytes, ExchangeError> {
        let resp = match sender.try_send_request(req).await {
            Ok(resp) => resp,
            Err(mut error) => {
                return Err(match error.take_message() {
                    Some(req) => ExchangeError::Unsent(Box::new(req)),
                    None => ExchangeError::Failed(WebhookError::Http(error.into_error())),
                });
            }
        };
        if !resp.status().is_success() {
            return Err(ExchangeError::Failed(WebhookError::Status(resp.status().as_u16())));
        }
        let collected = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| ExchangeError::Failed(WebhookError::Body(e.to_string())))?;
        let idle = self.idle.clone();
        let me = thread::current().id();
        tokio::spawn(async move {
            if sender.ready().await.is_ok() {
                let mut idle = idle.lock().expect("webhook pool poisoned");
                if idle.len() < MAX_IDLE {
                    idle.push((me, sender));
                }
            }
        });
        Ok(collected.to_bytes())
    }
}

/// How one exchange on a connection failed.
enum ExchangeError {
    /// The connection was closed before the request left: it comes back unsent.
    Unsent(Box<Request<Full<Bytes>>>),
    Failed(WebhookError),
}

async fn handshake<T>(io: TokioIo<T>) -> Result<Sender, WebhookError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(io).await.map_err(WebhookError::Http)?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Reads `{"action": "allow" | "block" | "modify", "reason"?, "body"?}`.
pub fn parse_verdict(answer: &[u8]) -> Result<Verdict, WebhookError> {
    let bad = |why: &str| WebhookError::BadAnswer(why.to_owned());
    let mut value: Value = serde_json::from_slice(answer).map_err(|e| bad(&format!("not JSON ({e})")))?;
    let action = value.get("action").and_then(Value::as_str).ok_or_else(|| bad("no \"action\""))?;
    match action {
        "allow" => Ok(Verdict::Allow),
        "block" => {
            let reason = value.get("reason").and_then(Value::as_str).unwrap_or("blocked by guardrail");
            Ok(Verdict::Block(reason.to_owned()))
        }
        "modify" => match value.get_mut("body").map(Value::take) {
            Some(body @ (Value::Object(_) | Value::Array(_))) => Ok(Verdict::Modify(body)),
            _ => Err(bad("\"modify\" without a JSON object \"body\"")),
        },
        other => Err(bad(&format!("unknown action {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_parse() {
        assert_eq!(parse_verdict(br#"{"action":"allow"}"#).unwrap(), Verdict::Allow);
        assert_eq!(parse_verdict(br#"{"action":"block","reason":"no"}"#).unwrap(), Verdict::Block("no".into()));
        assert_eq!(
            parse_verdict(br#"{"action":"modify","body":{"model":"m"}}"#).unwrap(),
            Verdict::Modify(serde_json::json!({"model": "m"}))
        );
    }

    #[test]
    fn garbage_is_an_error() {
        for answer in [&b"<html>"[..], b"{}", br#"{"action":"maybe"}"#, br#"{"action":"modify","body":"x"}"#, b""] {
            assert!(matches!(parse_verdict(answer), Err(WebhookError::BadAnswer(_))), "{answer:?}");
        }
    }
}
