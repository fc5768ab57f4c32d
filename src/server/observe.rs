//! Counting, logging and tracing every request once its response has been
//! sent: the front end notes when a request began ([`begin`]), and wraps the
//! response body ([`finish`]) in the one response-body observer, so that,
//! when the body ends or the client goes away, the site's metrics are
//! counted, the access-log line is queued and the server span ends. Both are off the request's critical path: atomics, and a
//! non-blocking queue.

use crate::access_log::Record;
use crate::body::Body;
use crate::clock;
use crate::http_cache::outcome::Outcome;
use crate::metrics::{Protocol, SiteMetrics, Source};
use crate::proxy::Pipeline;
use crate::proxy::served::Served;
use crate::trace::SpanEnd;
use crate::trace::record::BodyEnd;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What is noted when a request arrives.
pub struct Start {
    at: Instant,
    protocol: Protocol,
    /// The request line and fields for the log; only when logging is on.
    log: Option<Box<LogStart>>,
}

struct LogStart {
    time: std::time::SystemTime,
    client: SocketAddr,
    host: Option<http::HeaderValue>,
    method: http::Method,
    target: http::Uri,
    bytes_in: u64,
    referer: Option<http::HeaderValue>,
    user_agent: Option<http::HeaderValue>,
    tls: Option<&'static str>,
    trace_id: Option<String>,
}

impl Start {
    /// Note the request's trace id (from its server span) for its log line.
    pub fn note_trace(&mut self, span: Option<&crate::trace::ServerSpan>) {
        if let Some(log) = &mut self.log
            && let Some(span) = span
        {
            log.trace_id = Some(format!("{:032x}", span.context().trace_id.0));
        }
    }
}

/// Note a request's arrival. `tls`: the connection's TLS version, if any.
pub fn begin<B>(
    pipeline: &Pipeline,
    req: &Request<B>,
    client: SocketAddr,
    tls: Option<&'static str>,
) -> Start {
    let log = pipeline.logs_any.then(|| {
        let h = req.headers();
        Box::new(LogStart {
            time: clock::now(),
            client,
            host: req
                .uri()
                .authority()
                .and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
                .or_else(|| h.get(http::header::HOST).cloned()),
            method: req.method().clone(),
            target: req.uri().clone(),
            bytes_in: h
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(0),
            referer: h.get(http::header::REFERER).cloned(),
            user_agent: h.get(http::header::USER_AGENT).cloned(),
            tls,
            trace_id: None,
        })
    });
    Start {
        at: clock::instant(),
        protocol: Protocol::of(req.version()),
        log,
    }
}

/// Wrap `resp` so that it is counted, logged and its span (if any) ended
/// when its body ends.
pub fn finish(
    pipeline: &Pipeline,
    start: Start,
    mut resp: Response<Body>,
    span: Option<Box<SpanEnd>>,
) -> Response<Observed> {
    let first_byte = clock::instant().saturating_duration_since(start.at);
    let served = resp.extensions_mut().remove::<Served>();
    let (site, rule, outcome, reason, source, origin) = match served {
        Some(s) => (
            s.site.unwrap_or_else(|| pipeline.unrouted.clone()),
            s.log.unwrap_or(pipeline.unrouted_log),
            s.outcome,
            s.reason,
            s.source,
            s.origin_first_byte,
        ),
        // The front end's own answers (400, 421, 431...).
        None => (
            pipeline.unrouted.clone(),
            pipeline.unrouted_log,
            Outcome::Error,
            "refused",
            Source::Generated,
            None,
        ),
    };
    let log = match start.log {
        Some(l) if rule.enabled => Some(Box::new(Pending {
            start: l,
            cache_status: resp.headers().get("cache-status").cloned(),
            access_log: pipeline.services.access_log.clone(),
            sample: rule.sample,
        })),
        _ => None,
    };
    let done = Done {
        site,
        status: resp.status(),
        protocol: start.protocol,
        outcome,
        reason,
        source,
        at: start.at,
        first_byte,
        origin,
        log,
    };
    resp.map(|inner| Observed {
        inner,
        sent: 0,
        done: Some(done),
        span,
    })
}

/// The log line's makings, held until the body ends.
struct Pending {
    start: Box<LogStart>,
    cache_status: Option<http::HeaderValue>,
    access_log: Arc<crate::access_log::AccessLog>,
    sample: f64,
}

struct Done {
    site: Arc<SiteMetrics>,
    status: StatusCode,
    protocol: Protocol,
    outcome: Outcome,
    reason: &'static str,
    source: Source,
    at: Instant,
    first_byte: Duration,
    origin: Option<Duration>,
    log: Option<Box<Pending>>,
}

impl Done {
    fn record(self, sent: u64, aborted: bool) {
        let duration = clock::instant().saturating_duration_since(self.at);
        let site = &self.site;
        site.request(self.protocol, self.status);
        site.result(self.outcome.as_str(), self.reason);
        site.bytes(self.source, sent);
        site.request_duration.observe(duration.as_secs_f64());
        let Some(p) = self.log else {
            return;
        };
        if !self.status.is_server_error() && !sampled(p.sample) {
            return;
        }
        let l = *p.start;
        p.access_log.log(Record {
            time: l.time,
            client: l.client,
            host: l.host,
            method: l.method,
            target: l.target,
            status: self.status.as_u16(),
            bytes_in: l.bytes_in,
            bytes_out: sent,
            duration,
            first_byte: self.first_byte,
            origin: self.origin,
            cache_status: p.cache_status,
            site: self.site.label.clone(),
            trace_id: l.trace_id,
            protocol: self.protocol.as_str(),
            tls: l.tls,
            referer: l.referer,
            user_agent: l.user_agent,
            aborted,
        });
    }
}

/// Is this request in the sampled fraction?
fn sampled(fraction: f64) -> bool {
    if fraction >= 1.0 {
        return true;
    }
    if fraction <= 0.0 {
        return false;
    }
    let r = crate::random::next_u64();
    ((r >> 11) as f64 / (1u64 << 53) as f64) < fraction
}

/// A response body that counts what it sends and, when it ends (or is
/// dropped unfinished: the client went away), records the request.
pub struct Observed {
    inner: Body,
    sent: u64,
    done: Option<Done>,
    span: Option<Box<SpanEnd>>,
}

impl Observed {
    /// A body counted for nobody (the front end's own refusals after the
    /// fact, e.g. a malformed request body).
    pub fn plain(inner: Body) -> Observed {
        Observed {
            inner,
            sent: 0,
            done: None,
            span: None,
        }
    }

    fn end(&mut self, end: BodyEnd) {
        let aborted = !matches!(end, BodyEnd::Complete);
        if let Some(done) = self.done.take() {
            done.record(self.sent, aborted);
        }
        if let Some(span) = self.span.take() {
            span.end(self.sent, end);
        }
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        // A body the server never polled because it was empty ended well.
        let end = if http_body::Body::is_end_stream(&self.inner) {
            BodyEnd::Complete
        } else {
            BodyEnd::Aborted
        };
        self.end(end);
    }
}

impl http_body::Body for Observed {
    type Data = Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.sent += d.len() as u64;
                }
                if this.inner.is_end_stream() {
                    this.end(BodyEnd::Complete);
                }
            }
            Poll::Ready(None) => this.end(BodyEnd::Complete),
            Poll::Ready(Some(Err(e))) => this.end(BodyEnd::Failed(e.to_string())),
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
