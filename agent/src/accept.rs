//! Accepts redirected connections and routes each one: find its origin in the eBPF map
//! (none: close, never guess), read the ClientHello, then terminate TLS for a provider
//! SNI or splice the bytes untouched to the original destination for anything else.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
};
use tracing::{debug, error, warn};

use crate::{
    agent::Shared,
    identity,
    origin::{OrigDst, OriginInfo},
    proxy,
    sni::read_hello,
    status::Counters,
    upstream::Upstream,
};

/// How long a client may take to send its ClientHello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(listener: TcpListener, shared: Arc<Shared>, upstream: Arc<Upstream>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(handle(stream, peer, shared.clone(), upstream.clone()));
            }
            Err(error) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(message = "Accept failed.", %error);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, upstream: Arc<Upstream>) {
    let counters = &shared.counters;
    let _ = stream.set_nodelay(true);
    let Some(mut origin) = shared.take_origin(peer) else {
        Counters::bump(&counters.failed);
        warn!(message = "No origin for connection; closing it.", %peer);
        return;
    };
    if origin.process.pid == std::process::id() {
        Counters::bump(&counters.loops);
        error!(message = "The agent's own connection was redirected to itself; closing it.", dst = %origin.dst.0);
        return;
    }
    // /proc is read now, while the caller surely lives, on a blocking thread and while
    // the ClientHello is on its way.
    let pid = origin.process.pid;
    let snapshot = tokio::task::spawn_blocking(move || identity::snapshot(pid));
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, read_hello(&mut stream)).await {
        Ok(Ok(hello)) => hello,
        Ok(Err(error)) => {
            Counters::bump(&counters.failed);
            debug!(message = "No ClientHello.", %peer, %error);
            return;
        }
        Err(_) => {
            Counters::bump(&counters.failed);
            debug!(message = "ClientHello timed out.", %peer);
            return;
        }
    };
    match hello.sni.as_deref().and_then(|sni| shared.config.provider_for(sni)) {
        Some(provider) => {
            Counters::bump(&counters.intercepted);
            let snapshot = snapshot.await.unwrap_or_default();
            // The record's full process (parents, cmdline, …) is filled in off the request
            // path from this snapshot; requests only copy the kernel's few ids.
            origin.process.exe.clone_from(&snapshot.exe);
            let snapshot = Arc::new(snapshot);
            let sni = hello.sni.clone().unwrap_or_default();
            let provider = provider.name.clone();
            proxy::serve(stream, hello.bytes, proxy::Conn::new(sni, provider, origin, snapshot, upstream), shared)
                .await;
        }
        None => {
            Counters::bump(&counters.passed_through);
            debug!(message = "Not a provider SNI; splicing.", sni = ?hello.sni, dst = %origin.dst.0);
            if let Err(error) = splice(stream, &hello.bytes, origin).await {
                debug!(message = "Splice ended with an error.", %error);
            }
        }
    }
}

/// Copies bytes both ways between the client and its original destination, starting with
/// what was already read. The agent's own connect is exempt from redirection.
async fn splice(mut client: TcpStream, prefix: &[u8], origin: OriginInfo) -> std::io::Result<()> {
    let OrigDst(dst) = origin.dst;
    let mut upstream = TcpStream::connect(dst).await?;
    let _ = upstream.set_nodelay(true);
    upstream.write_all(prefix).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
