//! Reads a TLS ClientHello from a fresh connection without consuming it for good: the
//! bytes read are kept so they can be replayed into rustls or spliced upstream untouched.
//! Only the SNI is extracted; anything that is not a well-formed ClientHello has none.
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest ClientHello record we wait for (TLS caps a record at 16 KiB + header).
const MAX_RECORD: usize = 5 + 16_384;

#[derive(Debug, thiserror::Error)]
pub enum SniError {
    #[error("connection closed before a ClientHello arrived")]
    Closed,
    #[error("failed to read the ClientHello")]
    Io(#[from] std::io::Error),
}

/// What the first bytes of a connection said.
pub struct Hello {
    /// Every byte read so far; replay these first.
    pub bytes: BytesMut,
    /// The server name, lowercased, if the bytes were a ClientHello carrying one.
    pub sni: Option<String>,
}

/// Reads until the first TLS record is complete (or clearly not TLS) and parses it.
pub async fn read_hello<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Hello, SniError> {
    let mut bytes = BytesMut::with_capacity(2048);
    loop {
        if let Some(needed) = record_len(&bytes) {
            if bytes.len() >= needed {
                let sni = parse_sni(&bytes[5..needed]);
                return Ok(Hello { bytes, sni });
            }
        } else if bytes.len() >= 5 {
            return Ok(Hello { bytes, sni: None });
        }
        if stream.read_buf(&mut bytes).await? == 0 {
            return if bytes.is_empty() { Err(SniError::Closed) } else { Ok(Hello { bytes, sni: None }) };
        }
    }
}

/// Length of the first record when it is a handshake record of sane size.
fn record_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 5 || buf[0] != 0x16 || buf[1] != 0x03 {
        return None;
    }
    let len = 5 + usize::from(u16::from_be_bytes([buf[3], buf[4]]));
    (len <= MAX_RECORD).then_some(len)
}

/// A cursor over a byte slice that fails softly.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3).map(|b| usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

/// The host_name of the server_name extension in a ClientHello handshake message.
fn parse_sni(handshake: &[u8]) -> Option<String> {
    let mut r = Reader(handshake);
    if r.u8()? != 1 {
        return None; // not a ClientHello
    }
    let body_len = r.u24()?;
    let mut r = Reader(r.take(body_len)?);
    r.take(2 + 32)?; // legacy_version, random
    r.vec8()?; // session id
    r.vec16()?; // cipher suites
    r.vec8()?; // compression methods
    let mut exts = Reader(r.vec16()?);
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let data = exts.vec16()?;
        if kind != 0 {
            continue;
        }
        let mut names = Reader(Reader(data).vec16()?);
        while !names.0.is_empty() {
            let name_type = names.u8()?;
            let name = names.vec16()?;
            if name_type == 0 {
                let name = std::str::from_utf8(name).ok()?;
                return Some(name.trim_end_matches('.').to_ascii_lowercase());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
