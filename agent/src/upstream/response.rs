//! The response body from the provider, whichever protocol carried it: hyper's HTTP/1.1
//! body, or an h2 stream whose flow-control window is released as the client takes the
//! data (a slow client slows the provider down instead of filling memory).
use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use h2::{Reason, RecvStream};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// The error a response body ends with: hyper's or h2's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub enum RespBody {
    H1(Incoming),
    H2(H2Body),
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::H1(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Self::H2(body) => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::H1(body) => body.is_end_stream(),
            Self::H2(body) => body.state == H2State::Done || body.recv.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::H1(body) => body.size_hint(),
            Self::H2(_) => SizeHint::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum H2State {
    Data,
    Trailers,
    Done,
}

/// An h2 response stream as a body: DATA frames, then trailers if any.
pub struct H2Body {
    recv: RecvStream,
    state: H2State,
}

impl H2Body {
    pub fn new(recv: RecvStream) -> Self {
        Self { recv, state: H2State::Data }
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.state == H2State::Data {
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // The client has it now: let the provider send as much again.
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(error)) => return self.fail(error),
                None => self.state = H2State::Trailers,
            }
        }
        if self.state == H2State::Trailers {
            let polled = ready!(self.recv.poll_trailers(cx));
            self.state = H2State::Done;
            return match polled {
                Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
                Ok(None) => Poll::Ready(None),
                Err(error) => self.fail(error),
            };
        }
        Poll::Ready(None)
    }

    /// A reset with NO_ERROR after the data is how a server says it needs no more of the
    /// request (RFC 9113 §8.1): the response is complete. Anything else is an error.
    fn fail(&mut self, error: h2::Error) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.state = H2State::Done;
        if error.reason() == Some(Reason::NO_ERROR) {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Err(error.into())))
    }
}
