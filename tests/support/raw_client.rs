//! A raw TCP client for requests hyper's client would refuse to send: it
//! writes bytes as given and reads the responses until the node closes the
//! connection, with a deadline so a hang is a failure, not a stuck test.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One response as read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What happened on one connection.
#[derive(Debug)]
pub struct Exchange {
    /// Every complete response, in order.
    pub responses: Vec<RawResponse>,
    /// The node closed the connection (EOF or reset) before the deadline.
    pub closed: bool,
    /// Bytes after the last complete response.
    pub leftover: Vec<u8>,
}

/// Write `bytes`, then read until the node closes the connection or
/// `deadline` passes, and parse the responses read.
pub async fn exchange(addr: SocketAddr, bytes: &[u8], deadline: Duration) -> Exchange {
    let mut s = TcpStream::connect(addr).await.expect("connect to node");
    // The node may close before reading all of it; that is not an error here.
    let _ = s.write_all(bytes).await;
    let (raw, closed) = read_until_closed(&mut s, deadline).await;
    let (responses, leftover) = parse_responses(&raw);
    Exchange {
        responses,
        closed,
        leftover,
    }
}

/// Read until EOF/reset (true) or the deadline (false).
pub async fn read_until_closed(s: &mut TcpStream, deadline: Duration) -> (Vec<u8>, bool) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let end = tokio::time::Instant::now() + deadline;
    loop {
        match tokio::time::timeout_at(end, s.read(&mut buf)).await {
            Err(_) => return (raw, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (raw, true),
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

/// Parse as many complete responses as `raw` holds (Content-Length or
/// chunked bodies; 1xx, 204 and 304 have none).
pub fn parse_responses(raw: &[u8]) -> (Vec<RawResponse>, Vec<u8>) {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some((resp, used)) = parse_one(rest) {
        rest = &rest[used..];
        if resp.status >= 200 {
            out.push(resp);
        }
    }
    (out, rest.to_vec())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_one(raw: &[u8]) -> Option<(RawResponse, usize)> {
    let head_end = find(raw, b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut resp = RawResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let body = &raw[head_end..];
    if status < 200 || status == 204 || status == 304 {
        return Some((resp, head_end));
    }
    if resp.header("transfer-encoding") == Some("chunked") {
        let mut pos = 0;
        loop {
            let line_end = find(&body[pos..], b"\r\n")? + pos;
            let size_text = String::from_utf8_lossy(&body[pos..line_end]);
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            pos = line_end + 2;
            if size == 0 {
                let end = find(&body[pos - 2..], b"\r\n\r\n")? + pos + 2;
                return Some((resp, head_end + end));
            }
            resp.body.extend_from_slice(body.get(pos..pos + size)?);
            pos += size + 2;
        }
    }
    let len: usize = resp
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    resp.body = body.get(..len)?.to_vec();
    Some((resp, head_end + len))
}

/// One keep-alive HTTP/1.1 connection driven by hand: each request waits
/// for its whole response on the same socket. Unlike a pooled client, it
/// never reconnects, so a connection the node drops is an error here.
pub struct KeepAlive {
    s: TcpStream,
    buf: Vec<u8>,
    /// Responses read on this connection so far.
    pub answered: usize,
}

impl KeepAlive {
    pub async fn connect(addr: SocketAddr) -> KeepAlive {
        KeepAlive {
            s: TcpStream::connect(addr).await.expect("connect to node"),
            buf: Vec::new(),
            answered: 0,
        }
    }

    /// `GET path` on this connection; the response, or what went wrong
    /// (closed by the node, an error, or no answer within `deadline`).
    pub async fn get(&mut self, path: &str, deadline: Duration) -> Result<RawResponse, String> {
        let head = format!("GET {path} HTTP/1.1\r\nHost: keepalive.test\r\n\r\n");
        self.s
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("write after {} responses: {e}", self.answered))?;
        let end = tokio::time::Instant::now() + deadline;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let (mut responses, rest) = parse_responses(&self.buf);
            if !responses.is_empty() {
                self.buf = rest;
                self.answered += 1;
                return Ok(responses.remove(0));
            }
            match tokio::time::timeout_at(end, self.s.read(&mut chunk)).await {
                Err(_) => return Err(format!("no answer within {deadline:?}")),
                Ok(Ok(0)) => {
                    return Err(format!(
                        "connection closed by the node after {} responses",
                        self.answered
                    ));
                }
                Ok(Err(e)) => return Err(format!("read after {} responses: {e}", self.answered)),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}
