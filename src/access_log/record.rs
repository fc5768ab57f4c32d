//! One access-log line: what is known of a request when its response has
//! been sent, and its two renderings (JSON, combined log format).

use crate::config::LogFormat;
use std::fmt::Write;
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
        match format {
            LogFormat::Json => self.json(out),
            LogFormat::Combined => self.combined(out),
        }
        out.push('\n');
    }

    fn json(&self, out: &mut String) {
        out.push_str("{\"time\":\"");
        rfc3339(self.time, out);
        let _ = write!(out, "\",\"client\":\"{}\",", self.client.ip());
        field(out, "host", &lossy(self.host.as_ref()));
        out.push(',');
        field(out, "method", self.method.as_str());
        out.push(',');
        field(out, "target", &target(&self.target));
        let _ = write!(
            out,
            ",\"status\":{},\"bytes_in\":{},\"bytes_out\":{},\"duration_ms\":{:.3},\"ttfb_ms\":{:.3},\"origin_ms\":",
            self.status,
            self.bytes_in,
            self.bytes_out,
            ms(self.duration),
            ms(self.first_byte),
        );
        match self.origin {
            Some(d) => {
                let _ = write!(out, "{:.3}", ms(d));
            }
            None => out.push_str("null"),
        }
        out.push(',');
        field(out, "cache_status", &lossy(self.cache_status.as_ref()));
        out.push(',');
        field(out, "site", &self.site);
        out.push(',');
        field(out, "trace_id", self.trace_id.as_deref().unwrap_or(""));
        out.push(',');
        field(out, "protocol", self.protocol);
        out.push(',');
        field(out, "tls", self.tls.unwrap_or(""));
        out.push(',');
        field(out, "referer", &lossy(self.referer.as_ref()));
        out.push(',');
        field(out, "user_agent", &lossy(self.user_agent.as_ref()));
        let _ = write!(out, ",\"aborted\":{}}}", self.aborted);
    }

    /// `client - - [time] "METHOD target PROTO" status bytes "referer" "ua"`,
    /// then `"cache-status" duration_ms site`.
    fn combined(&self, out: &mut String) {
        let _ = write!(
            out,
            "{} - - [{}] \"{} {} {}\" {} {} \"{}\" \"{}\" \"{}\" {:.3} \"{}\"",
            self.client.ip(),
            clf_time(self.time),
            self.method,
            quoted(&target(&self.target)),
            match self.protocol {
                "h2" => "HTTP/2.0",
                "h3" => "HTTP/3.0",
                _ => "HTTP/1.1",
            },
            self.status,
            self.bytes_out,
            quoted(&lossy(self.referer.as_ref())),
            quoted(&lossy(self.user_agent.as_ref())),
            quoted(&lossy(self.cache_status.as_ref())),
            ms(self.duration),
            quoted(&self.site),
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn lossy(v: Option<&http::HeaderValue>) -> std::borrow::Cow<'_, str> {
    v.map_or(std::borrow::Cow::Borrowed(""), |v| {
        String::from_utf8_lossy(v.as_bytes())
    })
}

/// The request target as received, without copying it when it is in
/// origin form (as almost every one is).
fn target(uri: &http::Uri) -> std::borrow::Cow<'_, str> {
    match (uri.scheme(), uri.path_and_query()) {
        (None, Some(pq)) => std::borrow::Cow::Borrowed(pq.as_str()),
        _ => std::borrow::Cow::Owned(uri.to_string()),
    }
}

/// `"name":"value"` with the value escaped for JSON.
fn field(out: &mut String, name: &str, value: &str) {
    out.push('"');
    out.push_str(name);
    out.push_str("\":\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A value fit to sit between double quotes in a combined-format line:
/// quotes, backslashes and control characters escaped (as nginx does), so
/// a hostile client cannot forge fields or lines.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn split(t: SystemTime) -> (i64, u32, u32, u64, u32) {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = civil((secs / 86_400) as i64);
    (y, m, d, secs % 86_400, since.subsec_millis())
}

/// `2026-12-01T18:25:55.123Z`, appended to `out`.
fn rfc3339(t: SystemTime, out: &mut String) {
    let (y, m, d, s, ms) = split(t);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
}

/// `01/Dec/2026:18:25:55 +0000`.
fn clf_time(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, s, _) = split(t);
    format!(
        "{d:02}/{}/{y:04}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
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

    #[test]
    fn civil_dates() {
        for (days, date) in [
            (0, (1970, 1, 1)),
            (11_016, (2000, 2, 29)),
            (20_423, (2025, 12, 1)),
        ] {
            assert_eq!(civil(days), date);
        }
    }
}
