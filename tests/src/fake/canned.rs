//! Canned answers a test registers on the fake provider for one method and path: a status,
//! a content type, extra headers and a body fixed byte for byte. An event stream is sent
//! one event per write (split after each blank line, `\n\n` or `\r\n\r\n`), and can be cut:
//! after N events the body fails, so the fake abandons the response mid-stream (HTTP/1.1:
//! the connection closes inside the chunked body; h2: the stream is reset).
//!
//! ```
//! # use glassbox_tests::fake::Canned;
//! let cut = Canned::sse("data: 1\n\ndata: 2\n\ndata: 3\n\n").cut_after(2);
//! assert_eq!(&cut.sent()[..], b"data: 1\n\ndata: 2\n\n");
//! ```

use bytes::Bytes;
use http::StatusCode;

/// How the body leaves the fake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    /// In one piece.
    Whole,
    /// One event per write, paced by the fake's SSE delay.
    Events,
    /// The first N events, then the stream fails.
    CutAfter(usize),
}

/// One canned response.
#[derive(Clone, Debug)]
pub struct Canned {
    pub(super) status: StatusCode,
    pub(super) content_type: String,
    pub(super) headers: Vec<(String, String)>,
    body: Bytes,
    delivery: Delivery,
}

impl Canned {
    /// Any body with this status and content type, sent whole.
    pub fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or_else(|e| panic!("status {status}: {e}"));
        Canned {
            status,
            content_type: content_type.to_owned(),
            headers: Vec::new(),
            body: body.into(),
            delivery: Delivery::Whole,
        }
    }

    /// `application/json` with this status, sent whole.
    pub fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status, "application/json", body)
    }

    /// A 200 `text/event-stream`, sent event by event.
    pub fn sse(body: impl Into<Bytes>) -> Self {
        Canned { delivery: Delivery::Events, ..Self::new(200, "text/event-stream", body) }
    }

    /// Adds a response header (e.g. `set-cookie`).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends only the first `events` events, then fails the stream. Panics unless the body
    /// has more events than that.
    #[must_use]
    pub fn cut_after(mut self, events: usize) -> Self {
        let total = split_events(&self.body).len();
        assert!(events < total, "cannot cut after {events} events: the body has only {total}");
        self.delivery = Delivery::CutAfter(events);
        self
    }

    /// The whole body as registered.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The bytes a client receives: the whole body, or the events before the cut.
    pub fn sent(&self) -> Bytes {
        self.pieces().concat().into()
    }

    /// The writes the fake makes, in order.
    pub(super) fn pieces(&self) -> Vec<Bytes> {
        match self.delivery {
            Delivery::Whole => vec![self.body.clone()],
            Delivery::Events => split_events(&self.body),
            Delivery::CutAfter(n) => split_events(&self.body).into_iter().take(n).collect(),
        }
    }

    /// True when the body fails after [`Canned::pieces`].
    pub(super) fn is_cut(&self) -> bool {
        matches!(self.delivery, Delivery::CutAfter(_))
    }

    /// True when the pieces are paced as events.
    pub(super) fn is_paced(&self) -> bool {
        self.delivery != Delivery::Whole
    }
}

/// Splits an event stream after each blank line, keeping every byte: the pieces concatenate
/// to `body`. Text after the last blank line, if any, is a last piece of its own.
pub fn split_events(body: &[u8]) -> Vec<Bytes> {
    let mut pieces = Vec::new();
    let (mut start, mut line_start) = (0, 0);
    for (i, &b) in body.iter().enumerate() {
        if b != b'\n' {
            continue;
        }
        let line = &body[line_start..i];
        if line.is_empty() || line == b"\r" {
            pieces.push(Bytes::copy_from_slice(&body[start..=i]));
            start = i + 1;
        }
        line_start = i + 1;
    }
    if start < body.len() {
        pieces.push(Bytes::copy_from_slice(&body[start..]));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_after_blank_lines_and_keep_every_byte() {
        let lf = b"event: a\ndata: 1\n\ndata: 2\n\n";
        assert_eq!(
            split_events(lf),
            vec![Bytes::from_static(b"event: a\ndata: 1\n\n"), Bytes::from_static(b"data: 2\n\n")]
        );
        let crlf = b"data: 1\r\n\r\ndata: 2\r\n\r\ntail";
        let pieces = split_events(crlf);
        assert_eq!(pieces.len(), 3, "{pieces:?}");
        assert_eq!(&pieces[0][..], b"data: 1\r\n\r\n");
        assert_eq!(pieces.concat(), crlf);
    }

    #[test]
    fn a_cut_stream_sends_the_events_before_the_cut() {
        let canned = Canned::sse("data: 1\n\ndata: 2\n\ndata: 3\n\n").cut_after(1);
        assert!(canned.is_cut());
        assert_eq!(&canned.sent()[..], b"data: 1\n\n");
        assert_eq!(Canned::json(200, "{}").sent(), "{}");
    }
}
