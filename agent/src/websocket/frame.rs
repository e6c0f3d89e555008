//! A WebSocket frame reader (RFC 6455 §5) for one direction of a relayed connection: fed
//! the bytes as they pass, in pieces of any size, it unmasks payloads and joins fragments
//! into whole messages. It only watches; the bytes themselves are relayed unchanged.
use bytes::{Bytes, BytesMut};

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;

/// What the stream carried, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole text or binary message. `data` holds at most the reader's limit; `len` is
    /// the message's full length.
    Message { text: bool, data: Bytes, len: u64 },
    /// A close frame: the sender ends the conversation.
    Close,
}

/// The stream broke the framing rules; nothing after this point can be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("reserved bits set without a negotiated extension")]
    Reserved,
    #[error("unknown opcode {0:#x}")]
    Opcode(u8),
    #[error("control frame of {0} bytes or fragmented")]
    Control(u64),
    #[error("continuation frame without a message to continue")]
    Continuation,
    #[error("new message before the previous one ended")]
    Interleaved,
}

#[derive(Debug)]
enum State {
    /// Reading a frame header; `head` holds the bytes read so far.
    Head,
    /// Reading `left` payload bytes of the current frame.
    Payload { left: u64 },
    /// The framing broke; the rest is ignored.
    Broken,
}

#[derive(Debug)]
pub struct FrameReader {
    limit: usize,
    state: State,
    head: Vec<u8>,
    /// The current frame's opcode, FIN bit, mask key and position in the key.
    opcode: u8,
    fin: bool,
    mask: Option<[u8; 4]>,
    mask_at: usize,
    /// The data message being assembled: text?, kept bytes, full length.
    message: Option<(bool, BytesMut, u64)>,
}

impl FrameReader {
    /// A reader keeping at most `limit` bytes of each message.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            state: State::Head,
            head: Vec::with_capacity(14),
            opcode: 0,
            fin: false,
            mask: None,
            mask_at: 0,
            message: None,
        }
    }

    /// Reads `bytes`, appending every event they complete to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Event>) -> Result<(), FrameError> {
        while !bytes.is_empty() {
            match self.state {
                State::Broken => return Ok(()),
                State::Head => {
                    let need = header_len(&self.head);
                    let take = (need - self.head.len()).min(bytes.len());
                    self.head.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if self.head.len() == header_len(&self.head) {
                        let result = self.start_frame(out);
                        self.head.clear();
                        if let Err(e) = result {
                            self.state = State::Broken;
                            return Err(e);
                        }
                    }
                }
                State::Payload { left } => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    self.payload(&bytes[..take]);
                    bytes = &bytes[take..];
                    let left = left - take as u64;
                    self.state = State::Payload { left };
                    if left == 0 {
                        self.end_frame(out);
                    }
                }
            }
        }
        Ok(())
    }

    /// Parses the complete header in `self.head`.
    fn start_frame(&mut self, out: &mut Vec<Event>) -> Result<(), FrameError> {
        let (b0, b1) = (self.head[0], self.head[1]);
        if b0 & 0x70 != 0 {
            return Err(FrameError::Reserved);
        }
        let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0f);
        let len = match b1 & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            127 => u64::from_be_bytes(self.head[2..10].try_into().expect("8 bytes")),
            n => u64::from(n),
        };
        self.mask = (b1 & 0x80 != 0).then(|| {
            let at = self.head.len() - 4;
            self.head[at..].try_into().expect("4 bytes")
        });
        match opcode {
            OP_TEXT | OP_BINARY if self.message.is_some() => return Err(FrameError::Interleaved),
            OP_TEXT | OP_BINARY => self.message = Some((opcode == OP_TEXT, BytesMut::new(), 0)),
            OP_CONTINUATION if self.message.is_none() => return Err(FrameError::Continuation),
            OP_CONTINUATION => {}
            0x8..=0xa if !fin || len > 125 => return Err(FrameError::Control(len)),
            0x8..=0xa => {}
            other => return Err(FrameError::Opcode(other)),
        }
        (self.opcode, self.fin, self.mask_at) = (opcode, fin, 0);
        self.state = State::Payload { left: len };
        if len == 0 {
            self.end_frame(out);
        }
        Ok(())
    }

    /// Keeps a data frame's payload (unmasked) in the message, up to the limit. A control
    /// frame's payload (a close code, a ping's bytes) is not recorded.
    fn payload(&mut self, data: &[u8]) {
        let Some((_, kept, len)) = self.message.as_mut().filter(|_| self.opcode < 0x8) else { return };
        *len += data.len() as u64;
        let room = self.limit.saturating_sub(kept.len()).min(data.len());
        let start = kept.len();
        kept.extend_from_slice(&data[..room]);
        if let Some(mask) = self.mask {
            unmask(&mut kept[start..], mask, self.mask_at);
        }
        self.mask_at = (self.mask_at + data.len()) % 4;
    }

    fn end_frame(&mut self, out: &mut Vec<Event>) {
        self.state = State::Head;
        match self.opcode {
            OP_CLOSE => out.push(Event::Close),
            0x9 | 0xa => {}
            _ if self.fin => {
                if let Some((text, data, len)) = self.message.take() {
                    out.push(Event::Message { text, data: data.freeze(), len });
                }
            }
            _ => {}
        }
    }
}

/// The length of the header that starts with `head` (2 until the length byte is known).
fn header_len(head: &[u8]) -> usize {
    let Some(&b1) = head.get(1) else { return 2 };
    let extended = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + extended + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// XORs `data` with `mask`, starting `at` bytes into the key.
fn unmask(data: &mut [u8], mask: [u8; 4], at: usize) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= mask[(at + i) % 4];
    }
}

#[cfg(test)]
mod tests;
