//! The proxy's worker threads: one single-threaded runtime per core, each with its own
//! SO_REUSEPORT listeners on 127.0.0.1 and [::1] and its own upstream pool. The kernel
//! spreads connections across them, and a request, its upstream connection and its
//! response never cross threads: no cross-thread wake-ups on the request path.
use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Arc, mpsc},
    thread,
    time::Duration,
};

use rustls::ClientConfig;
use tokio::net::{TcpListener, TcpSocket};
use tracing::warn;

use crate::{accept, agent::Shared, upstream::Upstream};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("failed to bind {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to start a worker thread")]
    Spawn(#[source] std::io::Error),
    #[error("a worker thread ended before it was ready")]
    Died,
}

/// Lowers the calling thread's scheduling priority (nice 10): the capture and store
/// threads then yield the CPU to the proxy workers when both want it, so recording never
/// delays a response even on a busy 2-core machine.
pub fn lower_priority() {
    // SAFETY: gettid and setpriority have no memory effects; on Linux, PRIO_PROCESS with
    // a thread id sets that thread's nice value only.
    let result = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10)
    };
    if result != 0 {
        warn!(message = "Could not lower a recording thread's priority.", error = %std::io::Error::last_os_error());
    }
}

/// A listening socket that shares its port with the other workers' (SO_REUSEPORT).
fn listen(addr: SocketAddr) -> Result<TcpListener, WorkerError> {
    let bind = || -> std::io::Result<TcpListener> {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.set_nodelay(true)?;
        socket.bind(addr)?;
        socket.listen(1024)
    };
    bind().map_err(|source| WorkerError::Bind { addr, source })
}

/// Starts `count` workers on `port` and returns once every one of them is listening.
/// IPv6 loopback is optional: without it only IPv4 clients are intercepted (logged).
pub fn start(
    count: usize,
    port: u16,
    shared: &Arc<Shared>,
    client_tls: &Arc<ClientConfig>,
    connect_timeout: Duration,
) -> Result<(), WorkerError> {
    // SO_REUSEPORT would let a second agent share the port and steal connections whose
    // origins live in the first one's maps: a plain bind first fails if anyone holds it.
    for addr in [SocketAddr::from((Ipv4Addr::LOCALHOST, port)), SocketAddr::from((Ipv6Addr::LOCALHOST, port))] {
        match std::net::TcpListener::bind(addr) {
            Ok(_) => {}
            Err(e) if addr.is_ipv6() && e.kind() == std::io::ErrorKind::AddrNotAvailable => {}
            Err(source) => return Err(WorkerError::Bind { addr, source }),
        }
    }
    let (ready_tx, ready_rx) = mpsc::channel();
    for index in 0..count {
        let (shared, client_tls, ready) = (shared.clone(), client_tls.clone(), ready_tx.clone());
        thread::Builder::new()
            .name(format!("glassbox-proxy-{index}"))
            .spawn(move || run(port, shared, client_tls, connect_timeout, &ready))
            .map_err(WorkerError::Spawn)?;
    }
    drop(ready_tx);
    for _ in 0..count {
        ready_rx.recv().map_err(|_| WorkerError::Died)??;
    }
    Ok(())
}

fn run(
    port: u16,
    shared: Arc<Shared>,
    client_tls: Arc<ClientConfig>,
    connect_timeout: Duration,
    ready: &mpsc::Sender<Result<(), WorkerError>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(source) => {
            let _ = ready.send(Err(WorkerError::Spawn(source)));
            return;
        }
    };
    runtime.block_on(async move {
        let v4 = match listen(SocketAddr::from((Ipv4Addr::LOCALHOST, port))) {
            Ok(listener) => listener,
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        let v6 = listen(SocketAddr::from((Ipv6Addr::LOCALHOST, port)))
            .inspect_err(|error| {
                warn!(message = "IPv6 loopback unavailable; IPv6 clients will not be intercepted.", error = %crate::error_chain(error));
            })
            .ok();
        let upstream = Upstream::new(client_tls, connect_timeout);
        let _ = ready.send(Ok(()));
        match v6 {
            Some(v6) => {
                tokio::join!(
                    accept::serve(v4, shared.clone(), upstream.clone()),
                    accept::serve(v6, shared, upstream)
                );
            }
            None => accept::serve(v4, shared, upstream).await,
        }
    });
}
