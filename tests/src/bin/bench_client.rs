//! `bench_client`: the benchmark's time-to-first-event probe. Sends `-n` streamed chat
//! completion requests one after another on one kept-alive HTTP/1.1 TLS connection and
//! prints the distribution of the time from sending a request to receiving its first SSE
//! `data:` event. `cargo xtask bench` runs it direct, inside glassbox's cgroup, and
//! against nginx.
//!
//! ```text
//! bench_client --url https://api.openai.com/v1/chat/completions --cacert FILE
//!              --body FILE [-n 100] [--warmup 5]
//! ```
//!
//! The host name resolves through the system resolver (so /etc/hosts counts) and is the
//! SNI. Output, one JSON line, microseconds:
//! `{"n":100,"min_us":…,"p50_us":…,"p90_us":…,"p99_us":…,"max_us":…}`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const USAGE: &str = "usage: bench_client --url URL --cacert FILE --body FILE [-n N] [--warmup N]";

/// Bounds one request, so a stuck path fails the run instead of hanging it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

struct Args {
    url: Uri,
    cacert: PathBuf,
    body: Bytes,
    count: usize,
    warmup: usize,
}

fn parse() -> Result<Args, String> {
    let (mut url, mut cacert, mut body, mut count, mut warmup) = (None, None, None, 100, 5);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => url = Some(value()?.parse::<Uri>().map_err(|e| format!("--url: {e}"))?),
            "--cacert" => cacert = Some(PathBuf::from(value()?)),
            "--body" => {
                let path = value()?;
                body = Some(std::fs::read(&path).map_err(|e| format!("--body {path}: {e}"))?);
            }
            "-n" => count = value()?.parse().map_err(|e| format!("-n: {e}"))?,
            "--warmup" => warmup = value()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let missing = |what: &str| format!("{what} is required\n{USAGE}");
    if count == 0 {
        return Err("-n must be at least 1".to_owned());
    }
    Ok(Args {
        url: url.ok_or_else(|| missing("--url"))?,
        cacert: cacert.ok_or_else(|| missing("--cacert"))?,
        body: body.ok_or_else(|| missing("--body"))?.into(),
        count,
        warmup,
    })
}

fn main() {
    let args = parse().unwrap_or_else(|e| fail(&e));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let samples = runtime.block_on(measure(&args)).unwrap_or_else(|e| fail(&e));
    println!("{}", summary(samples));
}

fn fail(message: &str) -> ! {
    eprintln!("bench_client: {message}");
    std::process::exit(1);
}

/// Connects once, runs the warm-up requests, then returns one sample per measured request.
async fn measure(args: &Args) -> Result<Vec<Duration>, String> {
    let host = args.url.host().ok_or("--url has no host")?.to_owned();
    let port = args.url.port_u16().unwrap_or(443);
    let path = args.url.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut sender = connect(&host, port, &args.cacert).await?;
    let mut samples = Vec::with_capacity(args.count);
    for i in 0..args.warmup + args.count {
        let request = Request::post(path.as_str())
            .header(header::HOST, host.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, "Bearer sk-glassbox-bench")
            .header(header::ACCEPT, "text/event-stream")
            .body(Full::new(args.body.clone()))
            .map_err(|e| format!("bad request: {e}"))?;
        let elapsed = tokio::time::timeout(REQUEST_TIMEOUT, first_event(&mut sender, request))
            .await
            .map_err(|_| format!("request {i} timed out after {REQUEST_TIMEOUT:?}"))??;
        if i >= args.warmup {
            samples.push(elapsed);
        }
    }
    Ok(samples)
}

/// TCP (nodelay) → TLS (ALPN http/1.1, trusting only `cacert`) → an HTTP/1.1 connection.
async fn connect(host: &str, port: u16, cacert: &std::path::Path) -> Result<SendRequest<Full<Bytes>>, String> {
    let addr: SocketAddr = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to nothing"))?;
    let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| format!("TCP_NODELAY: {e}"))?;
    let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("server name {host}: {e}"))?;
    let tls = TlsConnector::from(tls_config(cacert)?)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake with {host} at {addr}: {e}"))?;
    let (sender, conn) =
        http1::handshake(TokioIo::new(tls)).await.map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("bench_client: connection ended: {e}");
        }
    });
    Ok(sender)
}

fn tls_config(cacert: &std::path::Path) -> Result<Arc<ClientConfig>, String> {
    let mut config = glassbox_tests::certs::client_config(cacert)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Sends one request and returns the time until the first `data:` line of its body has
/// arrived; then reads the rest of the stream so the connection can be reused.
async fn first_event(sender: &mut SendRequest<Full<Bytes>>, request: Request<Full<Bytes>>) -> Result<Duration, String> {
    sender.ready().await.map_err(|e| format!("connection lost: {e}"))?;
    let sent = Instant::now();
    let response = sender.send_request(request).await.map_err(|e| format!("request failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let mut body = response.into_body();
    let mut seen = Vec::new();
    let mut first = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("stream failed: {e}"))?;
        let Some(data) = frame.data_ref() else { continue };
        if first.is_none() {
            seen.extend_from_slice(data);
            if has_data_line(&seen) {
                first = Some(sent.elapsed());
            }
        }
    }
    first.ok_or_else(|| "the stream ended without a data: event".to_owned())
}

/// Whether `bytes` hold a complete SSE line starting with `data:`.
fn has_data_line(bytes: &[u8]) -> bool {
    bytes.split(|&b| b == b'\n').rev().skip(1).any(|line| line.starts_with(b"data:"))
}

/// The one JSON line printed: count and nearest-rank percentiles in microseconds.
fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort_unstable();
    let at = |q: f64| {
        // Nearest rank: the smallest sample with at least q of the samples at or below it.
        let rank = (q * samples.len() as f64).ceil().max(1.0) as usize;
        samples[rank.min(samples.len()) - 1].as_secs_f64() * 1e6
    };
    format!(
        r#"{{"n":{},"min_us":{:.1},"p50_us":{:.1},"p90_us":{:.1},"p99_us":{:.1},"max_us":{:.1}}}"#,
        samples.len(),
        at(0.0),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}
