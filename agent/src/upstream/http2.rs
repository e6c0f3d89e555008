//! HTTP/2 to the provider on the h2 crate directly. A request's HEADERS and a body of
//! known size are queued together, before the connection task runs, so they leave in one
//! TLS record and one write. (hyper's h2 client sends the body only once the new stream
//! has been given capacity: a second write, and a second wake-up of the provider, for
//! every request.) Streamed bodies are piped by a task that respects flow control.
use std::{future::poll_fn, pin::Pin};

use bytes::Bytes;
use h2::{Reason, SendStream, client::SendRequest};
use http::{Request, Response};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::debug;

use super::response::{H2Body, RespBody};
use crate::body::ReqBody;

/// Flow-control windows and limits, as hyper's h2 client sets them: large enough that a
/// long response is never held back waiting for WINDOW_UPDATEs on a fast link.
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
const CONN_WINDOW: u32 = 5 * 1024 * 1024;
const MAX_SEND_BUFFER: usize = 1024 * 1024;
const MAX_HEADER_LIST: u32 = 16 * 1024;

pub type Sender = SendRequest<Bytes>;

/// Runs the HTTP/2 handshake on `io` and spawns the connection task on this thread.
pub async fn handshake<T>(io: T) -> Result<Sender, h2::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW)
        .max_send_buffer_size(MAX_SEND_BUFFER)
        .max_header_list_size(MAX_HEADER_LIST)
        .enable_push(false)
        .handshake(io)
        .await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            debug!(message = "Upstream h2 connection ended.", %error);
        }
    });
    Ok(sender)
}

/// How sending a request failed.
pub enum SendError {
    /// The connection can take no new stream (closed, or going away); nothing was sent,
    /// so the request comes back to be tried on a new connection.
    Unusable(h2::Error, Box<Request<ReqBody>>),
    /// The connection refused the request's head: nothing was sent.
    Refused(h2::Error),
    /// The request failed after it was handed to the connection.
    Failed(h2::Error),
}

/// Sends `req` (absolute URI, no connection-specific headers) on the connection of
/// `sender` and waits for the response head.
pub async fn send(sender: &Sender, req: Request<ReqBody>) -> Result<Response<RespBody>, SendError> {
    let mut sender = match sender.clone().ready().await {
        Ok(sender) => sender,
        Err(error) => return Err(SendError::Unusable(error, Box::new(req))),
    };
    let (parts, body) = req.into_parts();
    let end_of_stream = body.is_end_stream();
    let (response, mut stream) =
        sender.send_request(Request::from_parts(parts, ()), end_of_stream).map_err(SendError::Refused)?;
    match body {
        // Queued now, in the same flush as the HEADERS frame.
        ReqBody::Whole(Some(bytes)) => stream.send_data(bytes, true).map_err(SendError::Failed)?,
        ReqBody::Whole(None) => {}
        body @ ReqBody::Stream(_) if !end_of_stream => {
            tokio::spawn(pipe(body, stream));
        }
        ReqBody::Stream(_) => {}
    }
    let response = response.await.map_err(SendError::Failed)?;
    Ok(response.map(|recv| RespBody::H2(H2Body::new(recv))))
}

/// Copies a streamed request body to its h2 stream, one frame at a time, waiting for
/// window capacity before each so a large upload is never buffered whole.
async fn pipe(mut body: ReqBody, mut stream: SendStream<Bytes>) {
    loop {
        stream.reserve_capacity(1);
        while stream.capacity() == 0 {
            match poll_fn(|cx| stream.poll_capacity(cx)).await {
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    debug!(message = "Upstream h2 stream closed while the request body was sent.", %error);
                    return;
                }
                None => return,
            }
        }
        let frame = match poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => {
                debug!(message = "The client's request body failed; resetting the upstream stream.", %error);
                stream.send_reset(Reason::CANCEL);
                return;
            }
            None => {
                let _ = stream.send_data(Bytes::new(), true);
                return;
            }
        };
        let sent = match frame.into_data() {
            Ok(data) => stream.send_data(data, body.is_end_stream()),
            Err(frame) => match frame.into_trailers() {
                Ok(trailers) => {
                    stream.reserve_capacity(0);
                    let _ = stream.send_trailers(trailers);
                    return;
                }
                Err(_) => Ok(()),
            },
        };
        if let Err(error) = sent {
            debug!(message = "Upstream h2 stream refused request body data.", %error);
            return;
        }
        if body.is_end_stream() {
            return;
        }
    }
}
