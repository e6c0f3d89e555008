//! Body wrappers on the hot path: they pass frames through untouched, tee a copy of each
//! into capture buffers, and notice the end (or the abandonment) of a stream.
use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::capture::buffer::BodyBuf;

/// The request side of the tee: frames pass through to the upstream connection untouched
/// and are captured into a buffer shared with the proxy (the upstream task polls this).
pub struct Tee<B> {
    inner: B,
    buf: Arc<Mutex<BodyBuf>>,
}

impl<B> Tee<B> {
    pub fn new(inner: B, buf: Arc<Mutex<BodyBuf>>) -> Self {
        Self { inner, buf }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Tee<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.buf.lock().expect("tee buffer poisoned").push(data);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body on its way upstream: small bodies of declared length whole, so the
/// upstream connection sends them in one go (hyper's h2 client then spawns no task to
/// pipe them); anything else streamed through the tee.
pub enum ReqBody {
    Whole(Option<Bytes>),
    Stream(Tee<hyper::body::Incoming>),
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Self::Whole(bytes) => Poll::Ready(bytes.take().map(|data| Ok(Frame::data(data)))),
            Self::Stream(tee) => Pin::new(tee).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Whole(bytes) => bytes.is_none(),
            Self::Stream(tee) => tee.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Whole(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Stream(tee) => tee.size_hint(),
        }
    }
}

/// How a response body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Every byte reached the client.
    Complete,
    /// The upstream stream failed.
    UpstreamError(String),
    /// The client went away before the end.
    Abandoned,
}

/// The response side of the tee: passes the body through, captures its frames, then
/// calls `on_end` exactly once with how it ended and what was captured.
pub struct Watched<B: Body, F: FnOnce(End, BodyBuf)> {
    inner: B,
    buf: Option<BodyBuf>,
    on_end: Option<F>,
}

impl<B: Body, F: FnOnce(End, BodyBuf)> Watched<B, F> {
    pub fn new(inner: B, buf: BodyBuf, on_end: F) -> Self {
        Self { inner, buf: Some(buf), on_end: Some(on_end) }
    }

    fn finish(&mut self, end: End) {
        if let (Some(on_end), Some(buf)) = (self.on_end.take(), self.buf.take()) {
            on_end(end, buf);
        }
    }
}

impl<B, F> Body for Watched<B, F>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
    F: FnOnce(End, BodyBuf) + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(buf)) = (frame.data_ref(), self.buf.as_mut()) {
                    buf.push(data);
                }
                if self.inner.is_end_stream() {
                    self.finish(End::Complete);
                }
            }
            Poll::Ready(Some(Err(error))) => {
                let end = End::UpstreamError(error.to_string());
                self.finish(end);
            }
            Poll::Ready(None) => self.finish(End::Complete),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Body, F: FnOnce(End, BodyBuf)> Drop for Watched<B, F> {
    fn drop(&mut self) {
        // A body with nothing left (HEAD, 204, 304: hyper never polls those) is complete.
        let end = if self.inner.is_end_stream() { End::Complete } else { End::Abandoned };
        self.finish(end);
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

    use crate::capture::buffer::Budget;

    fn buf() -> BodyBuf {
        BodyBuf::new(1 << 20, Budget::new(1 << 20))
    }

    #[tokio::test]
    async fn tee_passes_and_captures_request_bytes() {
        let shared = Arc::new(Mutex::new(buf()));
        let body = Tee::new(Full::new(Bytes::from_static(b"hello")), shared.clone());
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"hello");
        let captured = shared.lock().unwrap();
        assert_eq!(captured.seen(), 5);
        assert_eq!(&captured.to_bytes()[..], b"hello");
    }

    fn chunks() -> Vec<Result<Frame<Bytes>, std::convert::Infallible>> {
        vec![Ok(Frame::data(Bytes::from_static(b"ab"))), Ok(Frame::data(Bytes::from_static(b"cde")))]
    }

    #[tokio::test]
    async fn watched_reports_completion_once_with_the_capture() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let on_end = move |end, buf: BodyBuf| s.lock().unwrap().push((end, buf.seen(), buf.to_bytes()));
        let body = Watched::new(StreamBody::new(futures_stream(chunks())), buf(), on_end);
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"abcde");
        assert_eq!(*seen.lock().unwrap(), vec![(End::Complete, 5, Bytes::from_static(b"abcde"))]);
    }

    #[tokio::test]
    async fn watched_reports_an_abandoned_stream() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let on_end = move |end, buf: BodyBuf| s.lock().unwrap().push((end, buf.seen()));
        let mut body = Watched::new(StreamBody::new(futures_stream(chunks())), buf(), on_end);
        let _ = body.frame().await;
        drop(body);
        assert_eq!(*seen.lock().unwrap(), vec![(End::Abandoned, 2)]);
    }

    #[tokio::test]
    async fn an_empty_body_dropped_unpolled_is_complete() {
        // hyper never polls the body of a HEAD, 204 or 304 response.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let body = Watched::new(http_body_util::Empty::<Bytes>::new(), buf(), move |end, b: BodyBuf| {
            s.lock().unwrap().push((end, b.seen()));
        });
        drop(body);
        assert_eq!(*seen.lock().unwrap(), vec![(End::Complete, 0)]);
    }

    /// A stream over a Vec, enough to feed `StreamBody` in these tests.
    struct Iter<T>(std::vec::IntoIter<T>);

    impl<T: Unpin> futures_core::Stream for Iter<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<T>> {
            Poll::Ready(self.0.next())
        }
    }

    fn futures_stream<T: Unpin>(items: Vec<T>) -> Iter<T> {
        Iter(items.into_iter())
    }
}
