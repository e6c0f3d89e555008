//! The response body type of the fake provider: a whole buffer, or a channel the SSE
//! task feeds one event at a time so hyper writes (and flushes) each event on its own. An
//! error fed into the channel fails the body, which makes hyper abandon the response.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

/// Either a complete body (with a known length) or a stream of chunks, which an error ends.
#[derive(Debug)]
pub enum FakeBody {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Result<Bytes, std::io::Error>>),
}

impl FakeBody {
    pub fn full(bytes: Bytes) -> Self {
        FakeBody::Full(Some(bytes).filter(|b| !b.is_empty()))
    }

    pub fn empty() -> Self {
        FakeBody::Full(None)
    }
}

impl http_body::Body for FakeBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            FakeBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            FakeBody::Stream(rx) => rx.poll_recv(cx).map(|b| b.map(|b| b.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, FakeBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            FakeBody::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            FakeBody::Stream(_) => SizeHint::default(),
        }
    }
}
