//! The pooled upstream client: connects to a request's original destination (never a
//! re-resolved or guessed one), verifies the provider's certificate for the SNI host,
//! speaks h2 where the provider offers it (one multiplexed connection per destination,
//! [`http2`]) and pooled HTTP/1.1 otherwise (hyper), and reuses connections.
mod http2;
mod response;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{Request, Response, Uri, Version, header::HOST, uri::PathAndQuery};
use hyper::{body::Incoming, client::conn::http1};
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, pki_types::ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::debug;

use crate::{
    origin::OrigDst,
    tls::{ALPN_H2, ALPN_HTTP1},
};

pub use crate::body::ReqBody;
pub use response::{BoxError, RespBody};

/// Idle HTTP/1.1 connections kept per destination.
const MAX_IDLE_H1: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connect to {0} timed out")]
    ConnectTimeout(SocketAddr),
    #[error("connect to {addr} failed")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS handshake with {host} failed")]
    Tls {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid server name {0}")]
    ServerName(String),
    #[error("HTTP handshake with {host} failed")]
    Handshake {
        host: String,
        #[source]
        source: hyper::Error,
    },
    #[error("HTTP/2 handshake with {host} failed")]
    H2Handshake {
        host: String,
        #[source]
        source: h2::Error,
    },
    #[error("upstream request failed")]
    Request(#[source] hyper::Error),
    #[error("upstream connection refused the request")]
    H2Refused(#[source] h2::Error),
    #[error("upstream request failed")]
    H2Request(#[source] h2::Error),
    #[error("invalid upstream request")]
    Build(#[from] http::Error),
}

impl UpstreamError {
    /// Whether no byte of the request can have reached the provider.
    pub fn before_request(&self) -> bool {
        !matches!(self, Self::Request(_) | Self::H2Request(_))
    }
}

/// The authority a request to `host` at `dst` names: the port only when it is not 443.
fn authority(dst: OrigDst, host: &str) -> String {
    if dst.0.port() == 443 { host.to_owned() } else { format!("{host}:{}", dst.0.port()) }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    dst: OrigDst,
    host: Arc<str>,
}

enum Conn {
    H1(http1::SendRequest<ReqBody>),
    H2(http2::Sender),
}

#[derive(Default)]
struct Pool {
    h2: Option<http2::Sender>,
    idle_h1: Vec<http1::SendRequest<ReqBody>>,
}

pub struct Upstream {
    tls: TlsConnector,
    /// The same trust, offering HTTP/1.1 only: for upgrades, which h2 cannot carry here.
    tls_http1: TlsConnector,
    connect_timeout: Duration,
    pools: Mutex<HashMap<Key, Pool>>,
}

impl Upstream {
    pub fn new(tls: Arc<ClientConfig>, connect_timeout: Duration) -> Arc<Self> {
        let mut http1_only = (*tls).clone();
        http1_only.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Arc::new(Self {
            tls: TlsConnector::from(tls),
            tls_http1: TlsConnector::from(Arc::new(http1_only)),
            connect_timeout,
            pools: Mutex::default(),
        })
    }

    /// Sends `req` (origin-form or absolute URI, any version) to `host` at `dst`.
    /// Returns the response and whether it came over h2.
    pub async fn send(
        self: &Arc<Self>,
        dst: OrigDst,
        host: &Arc<str>,
        mut req: Request<ReqBody>,
    ) -> Result<(Response<RespBody>, Version), UpstreamError> {
        let key = Key { dst, host: host.clone() };
        let authority = authority(dst, host);
        let path = req.uri().path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
        let mut fresh = false;
        loop {
            let conn = match self.checkout(&key) {
                Some(conn) => conn,
                None => {
                    fresh = true;
                    self.connect(&key).await?
                }
            };
            match conn {
                Conn::H2(sender) => {
                    *req.uri_mut() = Uri::builder()
                        .scheme("https")
                        .authority(authority.as_str())
                        .path_and_query(path.clone())
                        .build()?;
                    *req.version_mut() = Version::HTTP_2;
                    req.headers_mut().remove(HOST);
                    match http2::send(&sender, req).await {
                        Ok(resp) => return Ok((resp, Version::HTTP_2)),
                        Err(http2::SendError::Unusable(error, back)) if !fresh => {
                            debug!(message = "Pooled h2 connection is closed; retrying on a new one.", %error);
                            self.forget_h2(&key);
                            req = *back;
                        }
                        Err(http2::SendError::Unusable(error, _) | http2::SendError::Refused(error)) => {
                            return Err(UpstreamError::H2Refused(error));
                        }
                        Err(http2::SendError::Failed(error)) => return Err(UpstreamError::H2Request(error)),
                    }
                }
                Conn::H1(mut sender) => {
                    *req.uri_mut() = Uri::from(path.clone());
                    *req.version_mut() = Version::HTTP_11;
                    req.headers_mut().insert(HOST, authority.parse().map_err(http::Error::from)?);
                    match sender.try_send_request(req).await {
                        Ok(resp) => {
                            let resp = resp.map(RespBody::H1);
                            let this = self.clone();
                            tokio::spawn(async move {
                                // Ready again once this response has been read to the end.
                                if sender.ready().await.is_ok() {
                                    this.checkin(key, sender);
                                }
                            });
                            return Ok((resp, Version::HTTP_11));
                        }
                        Err(mut err) => match err.take_message() {
                            Some(back) if !fresh => {
                                debug!(message = "Pooled connection was closed; retrying on a new one.");
                                req = back;
                            }
                            _ => return Err(UpstreamError::Request(err.into_error())),
                        },
                    }
                }
            }
        }
    }

    fn checkout(&self, key: &Key) -> Option<Conn> {
        let mut pools = self.pools.lock().expect("pool poisoned");
        let pool = pools.get_mut(key)?;
        if let Some(h2) = &pool.h2 {
            // A closed connection shows when a request tries it: send retries then.
            return Some(Conn::H2(h2.clone()));
        }
        while let Some(h1) = pool.idle_h1.pop() {
            if h1.is_ready() {
                return Some(Conn::H1(h1));
            }
        }
        None
    }

    fn checkin(&self, key: Key, sender: http1::SendRequest<ReqBody>) {
        let mut pools = self.pools.lock().expect("pool poisoned");
        let pool = pools.entry(key).or_default();
        if pool.idle_h1.len() < MAX_IDLE_H1 {
            pool.idle_h1.push(sender);
        }
    }

    fn forget_h2(&self, key: &Key) {
        if let Some(pool) = self.pools.lock().expect("pool poisoned").get_mut(key) {
            pool.h2 = None;
        }
    }

    /// Sends the upgrade request `req` (a WebSocket's) to `host` at `dst` on a new
    /// HTTP/1.1 connection of its own, never pooled: if the provider switches protocols,
    /// the connection becomes the response's upgrade (`hyper::upgrade::on`).
    pub async fn upgrade(
        &self,
        dst: OrigDst,
        host: &Arc<str>,
        mut req: Request<ReqBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let key = Key { dst, host: host.clone() };
        let tls = self.tls_stream(&self.tls_http1, &key).await?;
        let handshake = http1::Builder::new().handshake(TokioIo::new(tls)).await;
        let (mut sender, conn) =
            handshake.map_err(|source| UpstreamError::Handshake { host: host.to_string(), source })?;
        tokio::spawn(async move {
            if let Err(error) = conn.with_upgrades().await {
                debug!(message = "Upstream upgrade connection ended.", %error);
            }
        });
        let path = req.uri().path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
        *req.uri_mut() = Uri::from(path);
        *req.version_mut() = Version::HTTP_11;
        req.headers_mut().insert(HOST, authority(dst, host).parse().map_err(http::Error::from)?);
        sender.send_request(req).await.map_err(UpstreamError::Request)
    }

    /// A verified TLS connection to the key's destination, within the connect timeout.
    async fn tls_stream(
        &self,
        connector: &TlsConnector,
        key: &Key,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, UpstreamError> {
        let addr = key.dst.0;
        let host = key.host.to_string();
        let name = ServerName::try_from(host.clone()).map_err(|_| UpstreamError::ServerName(host.clone()))?;
        let handshake = async {
            let tcp = TcpStream::connect(addr).await.map_err(|source| UpstreamError::Connect { addr, source })?;
            let _ = tcp.set_nodelay(true);
            connector.connect(name, tcp).await.map_err(|source| UpstreamError::Tls { host: host.clone(), source })
        };
        tokio::time::timeout(self.connect_timeout, handshake).await.map_err(|_| UpstreamError::ConnectTimeout(addr))?
    }

    async fn connect(&self, key: &Key) -> Result<Conn, UpstreamError> {
        let host = key.host.to_string();
        let tls = self.tls_stream(&self.tls, key).await?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(ALPN_H2);
        if h2 {
            let sender = http2::handshake(tls)
                .await
                .map_err(|source| UpstreamError::H2Handshake { host: host.clone(), source })?;
            let mut pools = self.pools.lock().expect("pool poisoned");
            pools.entry(key.clone()).or_default().h2 = Some(sender.clone());
            Ok(Conn::H2(sender))
        } else {
            let handshake = http1::Builder::new().handshake(TokioIo::new(tls)).await;
            let (sender, conn) = handshake.map_err(|source| UpstreamError::Handshake { host: host.clone(), source })?;
            tokio::spawn(async move {
                if let Err(error) = conn.await {
                    debug!(message = "Upstream connection ended.", %error);
                }
            });
            Ok(Conn::H1(sender))
        }
    }
}
