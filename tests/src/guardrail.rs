//! A fake guardrail service for webhook hooks: plain HTTP/1.1 with keep-alive on a fresh
//! loopback port, answering each POST as its [`Mode`] says and keeping what it was sent
//! and on which connection. Threads and blocking sockets, a thread per connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

/// How the guardrail answers.
#[derive(Clone)]
pub enum Mode {
    Allow,
    Block(&'static str),
    /// Answers `modify` with the body `edit` makes of the request body it was sent.
    Modify(fn(Value) -> Value),
    /// Waits this long, then allows (a timeout test).
    Slow(Duration),
    /// Answers 200 with a body that is not a verdict.
    Garbage,
}

/// A running guardrail; it stops with the test process.
pub struct Guardrail {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
}

/// One call the guardrail received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub authorization: Option<String>,
    pub document: Value,
    /// The connection it came on, numbered from 1 in the order they were accepted.
    pub connection: usize,
}

impl Guardrail {
    pub fn start(mode: Mode) -> Self {
        Self::serve(mode, false)
    }

    /// Like `start`, but each connection is closed right after its first answer, with no
    /// `connection: close` said: as a load balancer that drops idle connections does.
    pub fn start_dropping(mode: Mode) -> Self {
        Self::serve(mode, true)
    }

    fn serve(mode: Mode, drop_after_answer: bool) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind guardrail");
        let addr = listener.local_addr().expect("guardrail address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (log, count) = (seen.clone(), connections.clone());
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let connection = count.fetch_add(1, Ordering::Relaxed) + 1;
                let (mode, log) = (mode.clone(), log.clone());
                thread::spawn(move || serve(stream, connection, &mode, &log, drop_after_answer));
            }
        });
        Guardrail { addr, seen, connections }
    }

    /// `http://127.0.0.1:PORT/check`.
    pub fn url(&self) -> String {
        format!("http://{}/check", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("guardrail log").clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

/// A URL on which nothing listens (connection refused).
pub fn refused_url() -> String {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}/check")
}

/// Answers requests on one connection until the client closes it (or after the first,
/// if `drop_after_answer`).
fn serve(stream: TcpStream, connection: usize, mode: &Mode, log: &Mutex<Vec<Seen>>, drop_after_answer: bool) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut stream = stream;
    while let Some((authorization, body)) = read_request(&mut reader) {
        let document: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let request_body = document["body"].clone();
        log.lock().expect("guardrail log").push(Seen { authorization, document, connection });
        let answer = match mode {
            Mode::Allow => r#"{"action":"allow"}"#.to_owned(),
            Mode::Block(reason) => serde_json::json!({"action": "block", "reason": reason}).to_string(),
            Mode::Modify(edit) => serde_json::json!({"action": "modify", "body": edit(request_body)}).to_string(),
            Mode::Slow(wait) => {
                thread::sleep(*wait);
                r#"{"action":"allow"}"#.to_owned()
            }
            Mode::Garbage => "<html>this is not a verdict</html>".to_owned(),
        };
        let head =
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", answer.len());
        if stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(answer.as_bytes())).is_err()
            || drop_after_answer
        {
            return;
        }
    }
}

/// Reads one request: its Authorization header and its body. None once the connection ends.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(Option<String>, Vec<u8>)> {
    let (mut length, mut authorization) = (0usize, None);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((authorization, body))
}
