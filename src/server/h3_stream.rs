//! One HTTP/3 request stream: its request body as a [`Body`] for the
//! pipeline, and the response written back frame by frame (data, then
//! trailers), each write bounded by `send_timeout_secs`.

use crate::body::{self, Body};
use bytes::{Buf, Bytes};
use h3::server::RequestStream;
use http::{HeaderMap, Response};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use std::time::Duration;

type RecvStream = RequestStream<h3_quinn::RecvStream, Bytes>;
type SendStream = RequestStream<h3_quinn::SendStream<Bytes>, Bytes>;

/// Fields that are connection-specific and must not appear in HTTP/3
/// (RFC 9114 §4.2).
const CONNECTION_SPECIFIC: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
];

/// The request body read from `recv`: data frames, then trailers.
pub fn request_body(recv: RecvStream) -> Body {
    enum State {
        Data(RecvStream),
        Done,
    }
    let frames = futures_util::stream::unfold(State::Data(recv), |state| async move {
        match state {
            State::Data(mut recv) => match recv.recv_data().await {
                Ok(Some(mut chunk)) => {
                    let bytes = chunk.copy_to_bytes(chunk.remaining());
                    Some((Ok(Frame::data(bytes)), State::Data(recv)))
                }
                Ok(None) => match recv.recv_trailers().await {
                    Ok(Some(t)) => Some((Ok(Frame::trailers(t)), State::Done)),
                    Ok(None) => None,
                    Err(e) => Some((Err(stream_error(e)), State::Done)),
                },
                Err(e) => Some((Err(stream_error(e)), State::Done)),
            },
            State::Done => None,
        }
    });
    body::boxed(StreamBody::new(frames))
}

fn stream_error(e: h3::error::StreamError) -> std::io::Error {
    std::io::Error::other(format!("HTTP/3 request stream: {e}"))
}

/// Why writing a response stopped.
#[derive(Debug)]
pub enum SendFailure {
    /// The client reset the stream or the connection went away.
    Stream(h3::error::StreamError),
    /// The client did not take a write within the send timeout.
    Timeout,
    /// The response body failed (origin cut short): the stream is reset.
    Body(String),
}

impl std::fmt::Display for SendFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendFailure::Stream(e) => write!(f, "{e}"),
            SendFailure::Timeout => f.write_str("send timeout"),
            SendFailure::Body(e) => write!(f, "response body failed: {e}"),
        }
    }
}

/// Write `resp` on `send`: head, data, trailers, end of stream.
pub async fn send_response<B>(
    send: &mut SendStream,
    resp: Response<B>,
    send_timeout: Duration,
) -> Result<(), SendFailure>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let (mut parts, mut body) = resp.into_parts();
    strip_connection_specific(&mut parts.headers);
    let head = Response::from_parts(parts, ());
    bounded(send_timeout, send.send_response(head)).await?;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                send.stop_stream(h3::error::Code::H3_INTERNAL_ERROR);
                return Err(SendFailure::Body(e.to_string()));
            }
        };
        match frame.into_data() {
            Ok(data) if data.is_empty() => {}
            Ok(data) => bounded(send_timeout, send.send_data(data)).await?,
            Err(frame) => {
                if let Ok(mut trailers) = frame.into_trailers() {
                    strip_connection_specific(&mut trailers);
                    bounded(send_timeout, send.send_trailers(trailers)).await?;
                    return Ok(());
                }
            }
        }
    }
    bounded(send_timeout, send.finish()).await
}

async fn bounded(
    limit: Duration,
    write: impl Future<Output = Result<(), h3::error::StreamError>>,
) -> Result<(), SendFailure> {
    match tokio::time::timeout(limit, write).await {
        Ok(r) => r.map_err(SendFailure::Stream),
        Err(_) => Err(SendFailure::Timeout),
    }
}

fn strip_connection_specific(headers: &mut HeaderMap) {
    crate::proxy::forwarding::remove_hop_by_hop(headers);
    for name in CONNECTION_SPECIFIC {
        headers.remove(name);
    }
}
