//! Body wrappers on the hot path: they pass frames through untouched and only count bytes
//! and notice the end (or the abandonment) of a stream.
use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Counts the data bytes that pass through into a shared counter.
pub struct Counted<B> {
    inner: B,
    count: Arc<AtomicU64>,
}

impl<B> Counted<B> {
    pub fn new(inner: B, count: Arc<AtomicU64>) -> Self {
        Self { inner, count }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Counted<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.count.fetch_add(data.len() as u64, Ordering::Relaxed);
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

/// Passes a response body through, then calls `on_end` exactly once with how it ended
/// and the bytes passed.
pub struct Watched<B, F: FnOnce(End, u64)> {
    inner: B,
    bytes: u64,
    on_end: Option<F>,
}

impl<B, F: FnOnce(End, u64)> Watched<B, F> {
    pub fn new(inner: B, on_end: F) -> Self {
        Self { inner, bytes: 0, on_end: Some(on_end) }
    }

    fn finish(&mut self, end: End) {
        if let Some(on_end) = self.on_end.take() {
            on_end(end, self.bytes);
        }
    }
}

impl<B, F> Body for Watched<B, F>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
    F: FnOnce(End, u64) + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
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

impl<B, F: FnOnce(End, u64)> Drop for Watched<B, F> {
    fn drop(&mut self) {
        self.finish(End::Abandoned);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

    #[tokio::test]
    async fn counted_counts_data_bytes() {
        let count = Arc::new(AtomicU64::new(0));
        let body = Counted::new(Full::new(Bytes::from_static(b"hello")), count.clone());
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"hello");
        assert_eq!(count.load(Ordering::Relaxed), 5);
    }

    #[tokio::test]
    async fn watched_reports_completion_once() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
            vec![Ok(Frame::data(Bytes::from_static(b"ab"))), Ok(Frame::data(Bytes::from_static(b"cde")))];
        let body =
            Watched::new(StreamBody::new(futures_stream(chunks)), move |end, n| s.lock().unwrap().push((end, n)));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"abcde");
        assert_eq!(*seen.lock().unwrap(), vec![(End::Complete, 5)]);
    }

    #[tokio::test]
    async fn watched_reports_an_abandoned_stream() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
            vec![Ok(Frame::data(Bytes::from_static(b"ab"))), Ok(Frame::data(Bytes::from_static(b"cde")))];
        let mut body =
            Watched::new(StreamBody::new(futures_stream(chunks)), move |end, n| s.lock().unwrap().push((end, n)));
        let _ = body.frame().await;
        drop(body);
        assert_eq!(*seen.lock().unwrap(), vec![(End::Abandoned, 2)]);
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
