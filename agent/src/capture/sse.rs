//! Server-Sent Events, parsed incrementally by the rules of the WHATWG HTML standard
//! ("Interpreting an event stream"), so a streamed LLM response can be stored event by
//! event and handed to the usage extractors.
//!
//! The parser takes the response bytes in whatever chunks the tee delivers and hands back
//! each event as soon as its terminating blank line arrives. Lines end in `\r\n`, `\n` or
//! `\r` (a `\r\n` split across two chunks counts once); `:` lines are comments; a field
//! without a colon has an empty value; one space after the colon is dropped; `data` lines
//! are joined with `\n`; `retry` and unknown fields are ignored. Lines are decoded as UTF-8
//! with replacement once whole, so a chunk boundary inside a character changes nothing.
//! At the end of the stream, per the standard, an event without its blank line is not
//! dispatched: [`SseParser::finish`] reports it (`complete: false`) so the record can say
//! the stream was cut, while every event completed before the cut has been returned.
//!
//! Memory: a line is buffered until its end arrives; the capture task caps the bytes it
//! feeds per record, which bounds the buffers here.
use serde::Serialize;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SseEvent {
    /// The `event:` field; `None` for the default type (`message`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last event id in force when the event was dispatched (the standard's
    /// `lastEventId`: it persists across events until another `id:` changes it); `None`
    /// while it is empty.
    pub id: Option<String>,
}

/// How the stream ended, from [`SseParser::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SseEnd {
    /// Nothing was left half-received: no partial line, and no field lines waiting for the
    /// blank line that would have dispatched them.
    pub complete: bool,
    /// Bytes received after the last event boundary that belong to no dispatched event
    /// (field lines and a partial line; comments excluded).
    pub pending_bytes: usize,
}

/// An incremental event-stream parser. Feed it bytes with [`feed`](Self::feed), then call
/// [`finish`](Self::finish) once at the end of the stream.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The current line so far, without its terminator.
    line: Vec<u8>,
    /// The previous line ended in `\r`: a `\n` that follows belongs to it.
    after_cr: bool,
    /// The first line has been seen (a leading byte-order mark is dropped from it only).
    started: bool,
    /// The data buffer: each `data` value followed by `\n`.
    data: String,
    /// The event type buffer.
    event: String,
    /// The last event id buffer; it outlives events.
    last_id: String,
    /// Bytes of field lines (with terminators) since the last blank line.
    pending: usize,
}

const BOM: &[u8] = "\u{feff}".as_bytes();

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes as they arrive; returns the events completed by them.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let mut rest = chunk;
        while !rest.is_empty() {
            if std::mem::take(&mut self.after_cr)
                && let [b'\n', tail @ ..] = rest
            {
                rest = tail;
                continue;
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.line.extend_from_slice(&rest[..end]);
                    self.after_cr = rest[end] == b'\r';
                    rest = &rest[end + 1..];
                    if let Some(event) = self.end_line() {
                        events.push(event);
                    }
                }
                None => {
                    self.line.extend_from_slice(rest);
                    rest = &[];
                }
            }
        }
        events
    }

    /// At the end of the stream: reports whether anything was left half-received, and
    /// discards it (the standard does not dispatch an event cut before its blank line).
    /// The parser is then empty, as if new.
    pub fn finish(&mut self) -> SseEnd {
        let pending_bytes = self.line.len() + self.pending;
        let end = SseEnd { complete: pending_bytes == 0, pending_bytes };
        *self = Self::default();
        end
    }

    /// Processes the line just completed; returns an event if it was a blank line ending one.
    fn end_line(&mut self) -> Option<SseEvent> {
        let mut line = std::mem::take(&mut self.line);
        if !std::mem::replace(&mut self.started, true) && line.starts_with(BOM) {
            line.drain(..BOM.len());
        }
        if line.is_empty() {
            self.pending = 0;
            return self.dispatch();
        }
        if line.starts_with(b":") {
            return None;
        }
        self.pending += line.len() + 1;
        let line = String::from_utf8_lossy(&line);
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (&*line, ""),
        };
        match name {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => value.clone_into(&mut self.last_id),
            // `retry` only steers a browser's reconnection; unknown fields are ignored.
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        let id = (!self.last_id.is_empty()).then(|| self.last_id.clone());
        Some(SseEvent { event: (!event.is_empty()).then_some(event), data, id })
    }
}

#[cfg(test)]
mod tests;
