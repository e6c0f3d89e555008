//! This node as tailscaled sees it, from its LocalAPI on a unix socket:
//! `GET /localapi/v0/status?peers=false` answers with an `ipnstate.Status` whose `Self`
//! is a `PeerStatus` (`ID` stable node id, `HostName`, `DNSName` with a trailing dot,
//! `Tags` when tagged, `UserID`) and whose `User` map, keyed by the decimal user id,
//! holds `UserProfile`s with `LoginName`. tailscaled rejects requests whose Host is not
//! `local-tailscaled.sock`, and its clients mark themselves with `Sec-Tailscale:
//! localapi`. Any failure (no socket, no daemon, logged out, odd JSON) yields `None`:
//! without tailscaled nothing changes.
use std::{collections::BTreeMap, path::Path, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};

/// What tailscaled says about this node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailscaleNode {
    /// The stable node id (`Self.ID`), e.g. `nKqc8W3CNTRL`.
    pub stable_id: String,
    /// The MagicDNS name without the trailing dot, else the host name.
    pub name: String,
    /// ACL tags of the node; empty for a node owned by a user.
    pub tags: Vec<String>,
    /// The owner's LoginName; `tagged-devices` for tagged nodes.
    pub login: Option<String>,
}

const STATUS_PATH: &str = "/localapi/v0/status?peers=false";
const HOST: &str = "local-tailscaled.sock";
const TIMEOUT: Duration = Duration::from_secs(2);
/// Without peers the status is a few KiB; this only stops a misbehaving socket.
const MAX_BODY: usize = 4 << 20;

/// Asks tailscaled at `socket` about this node, giving up after 2 s.
pub async fn tailscale_status(socket: &Path) -> Option<TailscaleNode> {
    match tokio::time::timeout(TIMEOUT, fetch_status(socket)).await {
        Ok(Ok(body)) => {
            let node = parse_status(&body);
            if node.is_none() {
                tracing::debug!(message = "Tailscale status names no node.", socket = %socket.display());
            }
            node
        }
        Ok(Err(error)) => {
            tracing::debug!(message = "Tailscale LocalAPI unavailable.", socket = %socket.display(), %error);
            None
        }
        Err(_) => {
            tracing::debug!(message = "Tailscale LocalAPI timed out.", socket = %socket.display());
            None
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One HTTP/1.1 GET over the unix socket; the body of a 2xx answer.
async fn fetch_status(socket: &Path) -> Result<Bytes, BoxError> {
    let stream = tokio::net::UnixStream::connect(socket).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let request = http::Request::get(STATUS_PATH)
        .header(http::header::HOST, HOST)
        .header("sec-tailscale", "localapi")
        .header(http::header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())?;
    // `sender` moves into the exchange and drops at its end, which lets `connection` finish.
    let exchange = async move {
        let response = sender.send_request(request).await?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()).into());
        }
        let body = Limited::new(response.into_body(), MAX_BODY).collect().await?;
        Ok::<_, BoxError>(body.to_bytes())
    };
    let (connection, body) = tokio::join!(connection, exchange);
    let body = body?;
    connection?;
    Ok(body)
}

#[derive(Deserialize)]
struct Status {
    #[serde(rename = "Self")]
    self_node: Option<PeerStatus>,
    #[serde(rename = "User", default)]
    users: Option<BTreeMap<String, UserProfile>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PeerStatus {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(default)]
    host_name: String,
    #[serde(rename = "DNSName", default)]
    dns_name: String,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(rename = "UserID", default)]
    user_id: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UserProfile {
    #[serde(default)]
    login_name: String,
}

/// The node in a status document; `None` when the node has no stable id yet (logged out,
/// `NeedsLogin`, `Stopped` before first login).
pub(crate) fn parse_status(body: &[u8]) -> Option<TailscaleNode> {
    let status: Status = serde_json::from_slice(body).ok()?;
    let node = status.self_node?;
    if node.id.is_empty() {
        return None;
    }
    let dns_name = node.dns_name.trim_end_matches('.');
    let login = status
        .users
        .unwrap_or_default()
        .remove(&node.user_id.to_string())
        .map(|profile| profile.login_name)
        .filter(|login| !login.is_empty());
    Some(TailscaleNode {
        stable_id: node.id,
        name: if dns_name.is_empty() { node.host_name } else { dns_name.to_owned() },
        tags: node.tags.unwrap_or_default(),
        login,
    })
}

#[cfg(test)]
mod tests;
