//! Cuts a WebSocket conversation with a model API into turns, each recorded like one
//! HTTP exchange: a turn starts when the client asks for a response (`response.create`,
//! in OpenAI's Responses and Realtime APIs) and ends with the server's last event for it
//! (`response.completed`, `.failed`, `.incomplete`, `.done` or `error`). A turn's request
//! body is the client's messages since the previous turn, one per line; its response
//! body is the server's messages as SSE `data:` events, so usage, tools and cost are read
//! from it as from a streamed HTTP response. Messages outside any turn are kept for the
//! connection's last record: nothing that passed goes unrecorded.
use std::{
    borrow::Cow,
    time::{Instant, SystemTime},
};

use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;

use super::frame::Event;
use crate::capture::buffer::BodyBuf;

/// The client message that asks for a response.
const START: &str = "response.create";
/// Server events that end a response.
const END: [&str; 5] = ["response.completed", "response.failed", "response.incomplete", "response.done", "error"];

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    FromClient,
    FromServer,
}

/// One finished (or cut-off) turn, ready to become a record.
#[derive(Debug)]
pub struct Turn {
    pub at: SystemTime,
    pub started: Instant,
    pub first_answer: Option<Instant>,
    pub request: BodyBuf,
    pub response: BodyBuf,
    /// Message payload bytes each way (whole messages, kept or not).
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// The client asked for a response in it.
    pub asked: bool,
    /// The server ended it with one of END; false when the connection ended first.
    pub ended: bool,
    /// Messages in the turn, each way.
    pub messages: (u64, u64),
}

pub struct Turns {
    make_buf: Box<dyn Fn() -> BodyBuf + Send>,
    current: Option<Turn>,
    /// Turns emitted so far.
    emitted: u64,
}

#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
}

/// The `type` of a JSON message, if it has one.
fn kind(data: &[u8]) -> Option<Cow<'_, str>> {
    serde_json::from_slice::<Kind<'_>>(data).ok()?.kind
}

impl Turns {
    /// `make_buf` makes the bounded buffer a body is captured into.
    pub fn new(make_buf: impl Fn() -> BodyBuf + Send + 'static) -> Self {
        Self { make_buf: Box::new(make_buf), current: None, emitted: 0 }
    }

    fn turn(&mut self) -> &mut Turn {
        let make = &self.make_buf;
        self.current.get_or_insert_with(|| Turn {
            at: SystemTime::now(),
            started: Instant::now(),
            first_answer: None,
            request: make(),
            response: make(),
            bytes_sent: 0,
            bytes_received: 0,
            asked: false,
            ended: false,
            messages: (0, 0),
        })
    }

    /// Takes one event; returns the turn it ends, if any.
    pub fn event(&mut self, direction: Direction, event: &Event) -> Option<Turn> {
        let Event::Message { text, data, len } = event else { return None };
        let kind = if *text { kind(data) } else { None };
        match direction {
            Direction::FromClient => {
                let starts = kind.as_deref() == Some(START);
                let turn = self.turn();
                if starts && !turn.asked {
                    // The turn is timed from the ask, not from context sent before it.
                    (turn.at, turn.started) = (SystemTime::now(), Instant::now());
                }
                turn.bytes_sent += len;
                turn.messages.0 += 1;
                turn.request.push(&line(*text, data, *len));
                turn.asked |= starts;
                None
            }
            Direction::FromServer => {
                let turn = self.turn();
                if turn.asked && turn.first_answer.is_none() {
                    turn.first_answer = Some(Instant::now());
                }
                turn.bytes_received += len;
                turn.messages.1 += 1;
                turn.response.push(&sse_event(*text, data, *len));
                let ends = turn.asked && kind.as_deref().is_some_and(|k| END.contains(&k));
                ends.then(|| {
                    self.emitted += 1;
                    let mut turn = self.current.take().expect("made above");
                    turn.ended = true;
                    turn
                })
            }
        }
    }

    /// The connection ended: what is left, if anything passed since the last turn or no
    /// turn was recorded at all (the connection itself is then the record).
    pub fn finish(mut self) -> Option<Turn> {
        if self.current.is_none() && self.emitted == 0 {
            self.turn();
        }
        self.current.take()
    }
}

/// A client message as a line of the request body; a binary one as a JSON note.
fn line(text: bool, data: &Bytes, len: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 1);
    if text {
        out.put_slice(data);
    } else {
        out.put_slice(format!("{{\"binary_message_bytes\":{len}}}").as_bytes());
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// A server message as one SSE event: each of its lines a `data:` line; a binary one as
/// an SSE comment.
fn sse_event(text: bool, data: &Bytes, len: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 16);
    if text {
        for line in data.split(|&b| b == b'\n') {
            out.put_slice(b"data: ");
            out.put_slice(line.strip_suffix(b"\r").unwrap_or(line));
            out.put_u8(b'\n');
        }
    } else {
        out.put_slice(format!(": binary message of {len} bytes\n").as_bytes());
    }
    out.put_u8(b'\n');
    out.freeze()
}

#[cfg(test)]
mod tests;
