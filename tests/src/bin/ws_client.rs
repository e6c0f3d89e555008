//! `ws-client`: a WebSocket client for the end-to-end tests (tokio-tungstenite over
//! tokio-rustls, independent of the agent's code). Connects to a `wss://` URL, sends each
//! MESSAGE in turn and, after each, prints every message it receives, one per line,
//! until one whose `type` ends a response; then closes the socket and waits for the
//! server's close.
//!
//! ```text
//! ws-client --cacert FILE [--offer-deflate] [--header NAME:VALUE]... [--quit-after N]
//!           [--no-wait N] URL MESSAGE...
//! ```
//!
//! `--quit-after N` drops the connection, with no close, once N messages have arrived.
//! `--no-wait N` sends the first N messages without waiting for an answer (context
//! events, such as the Realtime API's `session.update`).
//!
//! The host resolves through the system resolver (so /etc/hosts counts) and is the SNI.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const USAGE: &str = "usage: ws-client --cacert FILE [--offer-deflate] [--header NAME:VALUE]... [--quit-after N] [--no-wait N] URL MESSAGE...";
/// Event types that end a response.
const ENDS: [&str; 5] = ["response.completed", "response.failed", "response.incomplete", "response.done", "error"];
/// Bounds the whole conversation, so a stuck path fails the test instead of hanging it.
const TIMEOUT: Duration = Duration::from_secs(30);

struct Args {
    cacert: PathBuf,
    offer_deflate: bool,
    headers: Vec<(String, String)>,
    quit_after: Option<usize>,
    no_wait: usize,
    url: String,
    messages: Vec<String>,
}

fn parse() -> Result<Args, String> {
    let (mut cacert, mut quit_after, mut no_wait) = (None, None, 0);
    let (mut offer_deflate, mut headers, mut rest) = (false, Vec::new(), Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cacert" => cacert = Some(PathBuf::from(args.next().ok_or(USAGE)?)),
            "--offer-deflate" => offer_deflate = true,
            "--no-wait" => {
                let n = args.next().ok_or(USAGE)?;
                no_wait = n.parse().map_err(|e| format!("--no-wait {n}: {e}"))?;
            }
            "--quit-after" => {
                let n = args.next().ok_or(USAGE)?;
                quit_after = Some(n.parse().map_err(|e| format!("--quit-after {n}: {e}"))?);
            }
            "--header" => {
                let h = args.next().ok_or(USAGE)?;
                let (name, value) = h.split_once(':').ok_or(format!("--header {h}: NAME:VALUE"))?;
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            _ => rest.push(arg),
        }
    }
    let mut rest = rest.into_iter();
    let url = rest.next().ok_or(USAGE)?;
    Ok(Args {
        cacert: cacert.ok_or(USAGE)?,
        offer_deflate,
        headers,
        quit_after,
        no_wait,
        url,
        messages: rest.collect(),
    })
}

fn main() {
    let result = parse().and_then(|args| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(async { tokio::time::timeout(TIMEOUT, run(args)).await.map_err(|_| "timed out".to_owned())? })
    });
    if let Err(message) = result {
        eprintln!("ws-client: {message}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut request = args.url.as_str().into_client_request().map_err(|e| format!("{}: {e}", args.url))?;
    let host = request.uri().host().ok_or("the URL has no host")?.to_owned();
    let port = request.uri().port_u16().unwrap_or(443);
    if args.offer_deflate {
        let offer = HeaderValue::from_static("permessage-deflate; client_max_window_bits");
        request.headers_mut().insert("sec-websocket-extensions", offer);
    }
    for (name, value) in &args.headers {
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("{name}: {e}"))?;
        request.headers_mut().insert(name, HeaderValue::from_str(value).map_err(|e| format!("{value}: {e}"))?);
    }

    let tcp = TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("connect {host}:{port}: {e}"))?;
    let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
    let tls = TlsConnector::from(tls_config(&args.cacert)?)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake with {host}: {e}"))?;
    let (mut ws, response) =
        tokio_tungstenite::client_async(request, tls).await.map_err(|e| format!("WebSocket handshake: {e}"))?;
    eprintln!("ws-client: switched protocols ({})", response.status());

    let mut count = 0;
    for (i, message) in args.messages.into_iter().enumerate() {
        ws.send(Message::text(message)).await.map_err(|e| format!("send: {e}"))?;
        if i < args.no_wait {
            continue;
        }
        loop {
            let received = ws.next().await.ok_or("the server closed before the response ended")?;
            let Message::Text(text) = received.map_err(|e| format!("receive: {e}"))? else { continue };
            println!("{text}");
            count += 1;
            if args.quit_after == Some(count) {
                eprintln!("ws-client: quitting after {count} messages, without a close");
                return Ok(());
            }
            let kind = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_owned));
            if kind.is_some_and(|k| ENDS.contains(&k.as_str())) {
                break;
            }
        }
    }
    ws.close(None).await.map_err(|e| format!("close: {e}"))?;
    // Reads until the server's close arrives and the connection ends.
    while let Some(message) = ws.next().await {
        if message.is_err() {
            break;
        }
    }
    Ok(())
}

fn tls_config(cacert: &std::path::Path) -> Result<Arc<ClientConfig>, String> {
    glassbox_tests::certs::client_config(cacert).map(Arc::new)
}
