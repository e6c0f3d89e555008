//! A fake guardrail service for webhook hooks: plain HTTP/1.1 on a fresh loopback port,
//! answering each POST as its [`Mode`] says and keeping what it was sent. Threads and
//! blocking sockets: one connection at a time is all a hook test needs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
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
}

/// One call the guardrail received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub authorization: Option<String>,
    pub document: Value,
}

impl Guardrail {
    pub fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind guardrail");
        let addr = listener.local_addr().expect("guardrail address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (mode, log) = (mode.clone(), log.clone());
                thread::spawn(move || serve(stream, &mode, &log));
            }
        });
        Guardrail { addr, seen }
    }

    /// `http://127.0.0.1:PORT/check`.
    pub fn url(&self) -> String {
        format!("http://{}/check", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("guardrail log").clone()
    }
}

/// A URL on which nothing listens (connection refused).
pub fn refused_url() -> String {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}/check")
}

fn serve(stream: TcpStream, mode: &Mode, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let (mut length, mut authorization) = (0usize, None);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
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
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let document: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let request_body = document["body"].clone();
    log.lock().expect("guardrail log").push(Seen { authorization, document });
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
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        answer.len()
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(answer.as_bytes()));
}
