//! One access-log line: what is known of a request when its response has
//! been sent, and its two renderings (JSON, combined log format).

use super::text;
use crate::config::LogFormat;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What one line says. Built on the request path from values already at
/// hand (cheap clones); rendered by the writer thread.
#[derive(Debug, Clone)]
pub struct Record {
    /// When the request arrived.
    pub time: SystemTime,
    /// The client's address.
    pub client: SocketAddr,
    /// The Host (or :authority) the client asked for.
    pub host: Option<http::HeaderValue>,
    /// The request method.
    pub method: http::Method,
    /// The request target as received.
    pub target: http::Uri,
    /// The response status.
    pub status: u16,
    /// Request body bytes received.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// From arrival to the last byte sent (or the client going away).
    pub duration: Duration,
    /// From arrival to the response head.
    pub first_byte: Duration,
    /// From sending to the origin to its response head, when it was asked.
    pub origin: Option<Duration>,
    /// The response's Cache-Status field.
    pub cache_status: Option<http::HeaderValue>,
    /// The site's label.
    pub site: Arc<str>,
    /// The W3C trace id, when the request was traced.
    pub trace_id: Option<String>,
    /// `http/1.1`, `h2` or `h3`.
    pub protocol: &'static str,
    /// The TLS version, on TLS connections.
    pub tls: Option<&'static str>,
    /// The Referer field.
    pub referer: Option<http::HeaderValue>,
    /// The User-Agent field.
    pub user_agent: Option<http::HeaderValue>,
    /// The response ended before all of the body was sent.
    pub aborted: bool,
}

impl Record {
    /// The line, newline included.
    pub fn render(&self, format: LogFormat, out: &mut String) {
        self.render_with(format, out, &mut (0, String::new()));
    }

    /// [`Record::render`], with the time's text up to the second kept in
    /// `second` from one line to the next (the writer renders many lines
    /// in the same second).
    pub fn render_with(&self, format: LogFormat, out: &mut String, second: &mut (u64, String)) {
        match format {
            LogFormat::Json => self.json(out, second),
            LogFormat::Combined => self.combined(out),
        }
        out.push('\n');
    }

    fn json(&self, out: &mut String, second: &mut (u64, String)) {
        out.push_str("{\"time\":\"");
        text::rfc3339_cached(out, self.time, second);
        out.push_str("\",\"client\":\"");
        text::ip(out, self.client.ip());
        out.push_str("\",\"host\":\"");
        text::json_str(out, &lossy(self.host.as_ref()));
        out.push_str("\",\"method\":\"");
        text::json_str(out, self.method.as_str());
        out.push_str("\",\"target\":\"");
        text::json_str(out, &target(&self.target));
        out.push_str("\",\"status\":");
        text::num(out, u64::from(self.status));
        out.push_str(",\"bytes_in\":");
        text::num(out, self.bytes_in);
        out.push_str(",\"bytes_out\":");
        text::num(out, self.bytes_out);
        out.push_str(",\"duration_ms\":");
        text::millis(out, self.duration);
        out.push_str(",\"ttfb_ms\":");
        text::millis(out, self.first_byte);
        out.push_str(",\"origin_ms\":");
        match self.origin {
            Some(d) => text::millis(out, d),
            None => out.push_str("null"),
        }
        let strings = [
            ("cache_status", lossy(self.cache_status.as_ref())),
            ("site", Cow::Borrowed(&*self.site)),
            (
                "trace_id",
                Cow::Borrowed(self.trace_id.as_deref().unwrap_or("")),
            ),
            ("protocol", Cow::Borrowed(self.protocol)),
            ("tls", Cow::Borrowed(self.tls.unwrap_or(""))),
            ("referer", lossy(self.referer.as_ref())),
            ("user_agent", lossy(self.user_agent.as_ref())),
        ];
        for (name, value) in strings {
            out.push_str(",\"");
            out.push_str(name);
            out.push_str("\":\"");
            text::json_str(out, &value);
            out.push('"');
        }
        out.push_str(if self.aborted {
            ",\"aborted\":true}"
        } else {
            ",\"aborted\":false}"
        });
    }

    /// `client - - [time] "METHOD target PROTO" status bytes "referer" "ua"`,
    /// then `"cache-status" duration_ms "site"`.
    fn combined(&self, out: &mut String) {
        text::ip(out, self.client.ip());
        out.push_str(" - - [");
        text::clf_time(out, self.time);
        out.push_str("] \"");
        text::clf_str(out, self.method.as_str());
        out.push(' ');
        text::clf_str(out, &target(&self.target));
        out.push_str(match self.protocol {
            "h2" => " HTTP/2.0\" ",
            "h3" => " HTTP/3.0\" ",
            _ => " HTTP/1.1\" ",
        });
        text::num(out, u64::from(self.status));
        out.push(' ');
        text::num(out, self.bytes_out);
        for v in [
            lossy(self.referer.as_ref()),
            lossy(self.user_agent.as_ref()),
            lossy(self.cache_status.as_ref()),
        ] {
            out.push_str(" \"");
            text::clf_str(out, &v);
            out.push('"');
        }
        out.push(' ');
        text::millis(out, self.duration);
        out.push_str(" \"");
        text::clf_str(out, &self.site);
        out.push('"');
    }
}

fn lossy(v: Option<&http::HeaderValue>) -> Cow<'_, str> {
    v.map_or(Cow::Borrowed(""), |v| String::from_utf8_lossy(v.as_bytes()))
}

/// The request target as received, without copying it when it is in
/// origin form (as almost every one is).
fn target(uri: &http::Uri) -> Cow<'_, str> {
    match (uri.scheme(), uri.path_and_query()) {
        (None, Some(pq)) => Cow::Borrowed(pq.as_str()),
        _ => Cow::Owned(uri.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_613_555_123),
            client: "192.0.2.7:5555".parse().expect("addr"),
            host: Some(http::HeaderValue::from_static("example.com")),
            method: http::Method::GET,
            target: "/a?b=c".parse().expect("uri"),
            status: 200,
            bytes_in: 0,
            bytes_out: 1234,
            duration: Duration::from_micros(1500),
            first_byte: Duration::from_micros(700),
            origin: None,
            cache_status: Some(http::HeaderValue::from_static("edgecache; hit; ttl=59")),
            site: Arc::from("example"),
            trace_id: None,
            protocol: "h2",
            tls: Some("TLSv1.3"),
            referer: None,
            user_agent: Some(http::HeaderValue::from_static("curl/8 \"x\"")),
            aborted: false,
        }
    }

    #[test]
    fn json_lines_parse_and_carry_every_field() {
        let mut line = String::new();
        record().render(LogFormat::Json, &mut line);
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(v["time"], "2025-12-01T18:25:55.123Z");
        assert_eq!(v["client"], "192.0.2.7");
        assert_eq!(v["host"], "example.com");
        assert_eq!(v["target"], "/a?b=c");
        assert_eq!(v["status"], 200);
        assert_eq!(v["bytes_out"], 1234);
        assert_eq!(v["duration_ms"], 1.5);
        assert_eq!(v["origin_ms"], serde_json::Value::Null);
        assert_eq!(v["cache_status"], "edgecache; hit; ttl=59");
        assert_eq!(v["protocol"], "h2");
        assert_eq!(v["tls"], "TLSv1.3");
        assert_eq!(v["user_agent"], "curl/8 \"x\"");
    }

    #[test]
    fn combined_lines_escape_what_could_forge_fields() {
        let mut line = String::new();
        let mut r = record();
        r.user_agent = Some(http::HeaderValue::from_static("a\" 200 \"b\\"));
        r.render(LogFormat::Combined, &mut line);
        assert_eq!(
            line,
            "192.0.2.7 - - [01/Dec/2025:18:25:55 +0000] \"GET /a?b=c HTTP/2.0\" 200 1234 \"\" \"a\\\" 200 \\\"b\\\\\" \"edgecache; hit; ttl=59\" 1.500 \"example\"\n"
        );
    }
}
