//! Ranges that fill the cache.
//!
//! A GET with Range that misses is sent to the origin without its Range
//! (and If-Range), so the origin's complete response is stored while it
//! streams; the client gets only the range it asked for, each byte as soon
//! as it arrives ([`RangeBody`]), and the next ranges of the object are hits.
//! Once the client's range is sent, the rest of the object is still read
//! into the store in the background, also when the client goes away.
//!
//! An object larger than `cache.slice_above_bytes` is not fetched whole for a
//! range: it is fetched in fixed-size slices ([`super::slices`]).

use super::super::exchange::Exchange;
use crate::body::{self, Body, BoxError};
use crate::http_cache::range::{self, RangeAnswer};
use bytes::Bytes;
use http::header;
use http::{HeaderMap, Method, StatusCode};
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Does this miss fetch the whole object for a range? (GET with a Range
/// field, `cache.range_fill` on.)
pub fn fills(ex: &Exchange) -> bool {
    ex.parts.method == Method::GET
        && ex.pipeline.cfg.cache.range_fill
        && ex.parts.headers.contains_key(header::RANGE)
}

/// The complete length a response announces (Content-Length of a 200).
pub fn complete_length(status: StatusCode, headers: &HeaderMap) -> Option<u64> {
    if status != StatusCode::OK {
        return None;
    }
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Answer the client's Range from a complete response that is still
/// streaming: 206 with the one range asked for, 416, or (several ranges, no
/// Content-Length, not a 200) the whole response, which RFC 9110 §14.2
/// allows. `body` is read to its end either way, so the fill completes.
pub fn answer(
    request: &HeaderMap,
    status: StatusCode,
    headers: &mut HeaderMap,
    body: Body,
) -> (StatusCode, Body) {
    let Some(len) = complete_length(status, headers) else {
        return (status, body);
    };
    match range::answer_for(&Method::GET, request, status, headers, len) {
        RangeAnswer::Partial(ranges) if ranges.len() == 1 => {
            let (start, end) = ranges[0];
            range::set_part_fields(headers, start, end, len);
            let part = RangeBody::new(body, start, end);
            (StatusCode::PARTIAL_CONTENT, body::boxed(part))
        }
        RangeAnswer::Unsatisfiable => {
            range::set_unsatisfiable_fields(headers, len);
            finish_in_background(body);
            (StatusCode::RANGE_NOT_SATISFIABLE, body::empty())
        }
        RangeAnswer::Partial(_) | RangeAnswer::Full => (status, body),
    }
}

/// Read `body` to its end on the runtime (if there is one), dropping the
/// bytes: the store copy it feeds then completes.
fn finish_in_background(body: Body) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(super::super::origin_send::drain(body));
    }
}

/// Bytes `[start, end]` of a streaming body. When they have been sent (or
/// the client goes away), the rest of the inner body is read in the
/// background so that what it feeds (the store) still gets all of it.
pub struct RangeBody {
    inner: Option<Body>,
    /// Bytes of the inner body seen so far.
    pos: u64,
    start: u64,
    end: u64,
}

impl RangeBody {
    /// The bytes `[start, end]` (inclusive) of `inner`.
    pub fn new(inner: Body, start: u64, end: u64) -> Self {
        RangeBody {
            inner: Some(inner),
            pos: 0,
            start,
            end,
        }
    }

    /// The part of `data` (which starts at `self.pos`) inside the range.
    fn part(&self, data: &Bytes) -> Option<Bytes> {
        let (from, to) = (self.pos, self.pos + data.len() as u64);
        let s = self.start.max(from);
        let e = (self.end + 1).min(to);
        (s < e).then(|| data.slice((s - from) as usize..(e - from) as usize))
    }
}

impl http_body::Body for RangeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            if self.pos > self.end {
                if let Some(rest) = self.inner.take() {
                    finish_in_background(rest);
                }
                return Poll::Ready(None);
            }
            let Some(inner) = self.inner.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.inner = None;
                    // Shorter than its Content-Length: the client's
                    // framing cannot be met, so this is an error.
                    return Poll::Ready(Some(Err("origin body ended before the range".into())));
                }
                Poll::Ready(Some(Err(e))) => {
                    self.inner = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers: not part of a 206
                    };
                    let part = self.part(&data);
                    self.pos += data.len() as u64;
                    if let Some(part) = part {
                        return Poll::Ready(Some(Ok(Frame::data(part))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let left = (self.end + 1).saturating_sub(self.pos.max(self.start));
        SizeHint::with_exact(left)
    }
}

impl Drop for RangeBody {
    fn drop(&mut self) {
        if let Some(rest) = self.inner.take() {
            finish_in_background(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;
    use http_body_util::BodyExt;

    fn chunked(parts: &[&'static str]) -> Body {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        body::boxed(http_body_util::StreamBody::new(futures_util::stream::iter(
            frames,
        )))
    }

    /// RFC 9110 §14.1.2: the bytes of one range, across frame boundaries.
    #[tokio::test]
    async fn range_body_cuts_the_range_out_of_a_stream() {
        let cases: &[(&[&'static str], u64, u64, &str)] = &[
            (&["0123456789"], 0, 9, "0123456789"),
            (&["0123456789"], 2, 4, "234"),
            (&["012", "345", "6789"], 2, 7, "234567"),
            (&["012", "345", "6789"], 3, 5, "345"),
            (&["012", "345", "6789"], 9, 9, "9"),
            (&["0", "1", "2"], 1, 1, "1"),
        ];
        for (parts, s, e, want) in cases {
            let got = RangeBody::new(chunked(parts), *s, *e)
                .collect()
                .await
                .expect("body")
                .to_bytes();
            assert_eq!(got, Bytes::from(want.to_string()), "{parts:?} {s}-{e}");
        }
        let short = RangeBody::new(chunked(&["0123"]), 2, 8).collect().await;
        assert!(short.is_err(), "a body shorter than the range is an error");
    }

    /// RFC 9110 §14: 206 with Content-Range, 416 with `*/len`, or the whole response.
    #[tokio::test]
    async fn answers_a_range_from_a_streaming_response() {
        let req = |r: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::RANGE, r.parse().expect("value"));
            h
        };
        let resp = || {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(10));
            h
        };
        let mut h = resp();
        let (status, b) = answer(
            &req("bytes=2-4"),
            StatusCode::OK,
            &mut h,
            chunked(&["0123456789"]),
        );
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(h[header::CONTENT_RANGE], "bytes 2-4/10");
        assert_eq!(h[header::CONTENT_LENGTH], "3");
        assert_eq!(b.collect().await.expect("body").to_bytes(), "234");
        let mut h = resp();
        let (status, _) = answer(
            &req("bytes=20-"),
            StatusCode::OK,
            &mut h,
            chunked(&["0123456789"]),
        );
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(h[header::CONTENT_RANGE], "bytes */10");
        let mut h = resp();
        let (status, _) = answer(
            &req("bytes=0-1,5-6"),
            StatusCode::OK,
            &mut h,
            chunked(&["0123456789"]),
        );
        assert_eq!(status, StatusCode::OK, "several ranges: the whole response");
        let mut h = HeaderMap::new();
        let (status, _) = answer(&req("bytes=0-1"), StatusCode::OK, &mut h, chunked(&["01"]));
        assert_eq!(
            status,
            StatusCode::OK,
            "no Content-Length: the whole response"
        );
        let mut h = resp();
        let (status, _) = answer(
            &req("bytes=0-1"),
            StatusCode::NOT_FOUND,
            &mut h,
            chunked(&["01"]),
        );
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
