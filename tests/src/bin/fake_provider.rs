//! `fake-provider`: the tests' fake OpenAI-compatible provider as a standalone server,
//! for benchmarks. Nothing is logged or recorded per request; sockets are TCP_NODELAY.
//!
//! ```text
//! fake-provider [--addr 127.0.0.77:443] [--cert-dir certs] [--untrusted]
//!               [--sse-delay-ms 20] [--threads N] [--requests-per-connection N]
//! ```
//!
//! `--requests-per-connection N` ends each connection gracefully after its Nth request
//! (h2: GOAWAY), as providers recycle connections.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use glassbox_tests::CertSet;
use glassbox_tests::fake::{self, server};
use tokio_rustls::TlsAcceptor;

const USAGE: &str = "usage: fake-provider [--addr IP:PORT] [--cert-dir DIR] [--untrusted] \
                     [--sse-delay-ms MS] [--threads N] [--requests-per-connection N]";

struct Args {
    addr: SocketAddr,
    cert_dir: PathBuf,
    cert: CertSet,
    sse_delay: Duration,
    threads: Option<usize>,
    requests_per_connection: Option<NonZeroUsize>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.77:443".parse().unwrap(),
        cert_dir: glassbox_tests::certs::dir(),
        cert: CertSet::Trusted,
        sse_delay: Duration::from_millis(20),
        threads: None,
        requests_per_connection: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--cert-dir" => args.cert_dir = value()?.into(),
            "--untrusted" => args.cert = CertSet::Untrusted,
            "--sse-delay-ms" => {
                let ms = value()?.parse().map_err(|e| format!("--sse-delay-ms: {e}"))?;
                args.sse_delay = Duration::from_millis(ms);
            }
            "--threads" => args.threads = Some(value()?.parse().map_err(|e| format!("--threads: {e}"))?),
            "--requests-per-connection" => {
                let n = value()?.parse().map_err(|e| format!("--requests-per-connection: {e}"))?;
                args.requests_per_connection = Some(n);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = parse().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let tls = TlsAcceptor::from(fake::tls::server_config(&args.cert_dir, args.cert));
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        runtime.worker_threads(n);
    }
    let runtime = runtime.enable_all().build().expect("tokio runtime");
    runtime.block_on(async {
        let listener = fake::listen(args.addr).unwrap_or_else(|e| {
            eprintln!("fake-provider: cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        });
        eprintln!("fake-provider: listening on https://{}", args.addr);
        let options = Arc::new(server::Options {
            record: None,
            sse_delay: args.sse_delay,
            routes: Vec::new(),
            requests_per_connection: args.requests_per_connection,
            ..server::Options::default()
        });
        tokio::select! {
            () = server::serve(listener, tls, options) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
}
