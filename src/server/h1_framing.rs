//! A byte-level tracker of HTTP/1.1 request framing on one connection
//! (RFC 9112 §2.2, §6, §7.1), run on every byte read from the client before
//! hyper parses it.
//!
//! hyper's parser accepts bare LF line endings in a request head; RFC 9112
//! §2.2 lets a server do so, but a hop in front of or behind the node may
//! read the same bytes differently, which is where request smuggling lives.
//! The tracker finds every request head (so it must follow each body to its
//! end: `Content-Length` bytes, or chunked framing mirrored byte for byte
//! from hyper's own decoder) and reports the first byte that breaks the
//! strict grammar: a bare LF or a CR not followed by LF in a head, NUL, or
//! obs-fold. A chunked body that hyper would reject is reported at the same
//! byte, so the caller can tell that the body, not the origin, failed.
//!
//! A head whose framing is ambiguous is a violation too, reported at its
//! last byte: `Transfer-Encoding` and `Content-Length` together, several
//! of either, a `Transfer-Encoding` other than exactly `chunked`, or a
//! `Content-Length` that is not plain digits (RFC 9112 §6.1, §6.3). hyper
//! cannot refuse these itself: it drops the `Content-Length` of a chunked
//! request and duplicates of an equal one before the service sees them.

/// How far the tracker may read a framing field's line.
const LINE_KEPT: usize = 64;
/// hyper's cap on the bytes of chunk extensions in one body.
const CHUNK_EXTENSIONS_LIMIT: u64 = 16 * 1024;

/// Where and why the strict grammar was broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Offset in the bytes passed to [`FramingTracker::scan`] of the first
    /// offending byte.
    pub at: usize,
    /// Whether the bytes were a request body (else a request head).
    pub in_body: bool,
    /// What was wrong, for the log.
    pub reason: &'static str,
}

/// Caps mirrored from hyper's configuration.
#[derive(Clone, Copy, Debug)]
pub struct TrailerLimits {
    /// Most bytes of trailer fields in one body (hyper's max header size).
    pub max_bytes: usize,
    /// Most trailer fields in one body (hyper's max headers).
    pub max_fields: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    Start,
    Size,
    SizeLws,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    EndCr,
    Trailer,
    TrailerLf,
    EndLf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before a request line: empty lines (CRLF) are skipped, as hyper does.
    HeadStart,
    HeadStartLf,
    Head,
    Fixed,
    Chunked(Chunk),
    Failed,
}

/// The framing fields seen in the current head.
#[derive(Clone, Copy, Debug, Default)]
struct HeadFraming {
    te_fields: u8,
    te_chunked: bool,
    cl_fields: u8,
    cl: Option<u64>,
}

/// Follows request heads and bodies on one HTTP/1.1 connection.
#[derive(Debug)]
pub struct FramingTracker {
    state: State,
    limits: TrailerLimits,
    /// Remaining bytes of a fixed-length body or of the current chunk.
    remaining: u64,
    extensions: u64,
    trailer_bytes: usize,
    trailer_fields: usize,
    line_len: usize,
    line: [u8; LINE_KEPT],
    cr: bool,
    request_line: bool,
    framing: HeadFraming,
    heads: u64,
}

// === impl FramingTracker ===

impl FramingTracker {
    /// A tracker at the start of a connection.
    pub fn new(limits: TrailerLimits) -> Self {
        FramingTracker {
            state: State::HeadStart,
            limits,
            remaining: 0,
            extensions: 0,
            trailer_bytes: 0,
            trailer_fields: 0,
            line_len: 0,
            line: [0; LINE_KEPT],
            cr: false,
            request_line: true,
            framing: HeadFraming::default(),
            heads: 0,
        }
    }

    /// Request heads completed so far; the body being read belongs to head
    /// number `heads()` (1-based).
    pub fn heads(&self) -> u64 {
        self.heads
    }

    /// Follow `bytes`, the next bytes read from the client. After a
    /// violation the tracker stays failed; the caller ends the connection.
    pub fn scan(&mut self, bytes: &[u8]) -> Result<(), Violation> {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Failed => {
                    return Err(self.fail(i, "connection already failed"));
                }
                State::Fixed => {
                    let take = self.skip(bytes.len() - i);
                    i += take;
                    if self.remaining == 0 {
                        self.state = State::HeadStart;
                    }
                    continue;
                }
                State::Chunked(Chunk::Data) => {
                    let take = self.skip(bytes.len() - i);
                    i += take;
                    if self.remaining == 0 {
                        self.state = State::Chunked(Chunk::DataCr);
                    }
                    continue;
                }
                State::Head if !self.cr => {
                    // Fast path: run over ordinary bytes to the next CR, LF or NUL.
                    let rest = &bytes[i..];
                    let plain = memchr::memchr3(b'\r', b'\n', 0, rest).unwrap_or(rest.len());
                    if plain == 0 {
                        self.head_byte(bytes[i]).map_err(|r| self.fail(i, r))?;
                        i += 1;
                        continue;
                    }
                    if self.line_len == 0 && !self.request_line && matches!(rest[0], b' ' | b'\t') {
                        let r = "obs-fold (a line starting with whitespace) in the request head";
                        return Err(self.fail(i, r));
                    }
                    if self.line_len < LINE_KEPT {
                        let n = plain.min(LINE_KEPT - self.line_len);
                        self.line[self.line_len..self.line_len + n].copy_from_slice(&rest[..n]);
                    }
                    self.line_len += plain;
                    i += plain;
                    continue;
                }
                State::HeadStart | State::HeadStartLf | State::Head => {
                    self.head_byte(bytes[i]).map_err(|r| self.fail(i, r))?;
                }
                State::Chunked(c) => {
                    self.chunk_byte(c, bytes[i]).map_err(|r| self.fail(i, r))?;
                }
            }
            i += 1;
        }
        Ok(())
    }

    fn fail(&mut self, at: usize, reason: &'static str) -> Violation {
        let in_body = matches!(self.state, State::Chunked(_));
        self.state = State::Failed;
        Violation {
            at,
            in_body,
            reason,
        }
    }

    fn skip(&mut self, available: usize) -> usize {
        let take = usize::try_from(self.remaining).map_or(available, |r| r.min(available));
        self.remaining -= take as u64;
        take
    }

    fn head_byte(&mut self, b: u8) -> Result<(), &'static str> {
        match self.state {
            State::HeadStart => match b {
                b'\r' => self.state = State::HeadStartLf,
                b'\n' => return Err("bare LF before the request line"),
                _ => {
                    self.state = State::Head;
                    self.request_line = true;
                    self.framing = HeadFraming::default();
                    self.line_len = 0;
                    self.cr = false;
                    return self.head_byte(b);
                }
            },
            State::HeadStartLf if b == b'\n' => self.state = State::HeadStart,
            State::HeadStartLf => return Err("CR not followed by LF before the request line"),
            _ if self.cr => {
                if b != b'\n' {
                    return Err("CR not followed by LF in the request head");
                }
                self.cr = false;
                self.end_line()?;
            }
            _ => match b {
                b'\r' => self.cr = true,
                b'\n' => return Err("bare LF in the request head"),
                0 => return Err("NUL in the request head"),
                b' ' | b'\t' if self.line_len == 0 && !self.request_line => {
                    return Err("obs-fold (a line starting with whitespace) in the request head");
                }
                _ => {
                    if let Some(slot) = self.line.get_mut(self.line_len) {
                        *slot = b;
                    }
                    self.line_len += 1;
                }
            },
        }
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), &'static str> {
        let len = self.line_len;
        self.line_len = 0;
        if self.request_line {
            self.request_line = false;
            return Ok(());
        }
        if len == 0 {
            self.heads += 1;
            return self.end_head();
        }
        let kept = &self.line[..len.min(LINE_KEPT)];
        let Some(colon) = kept.iter().position(|&c| c == b':') else {
            return Ok(());
        };
        let name = &kept[..colon];
        let is_te = name.eq_ignore_ascii_case(b"transfer-encoding");
        let is_cl = name.eq_ignore_ascii_case(b"content-length");
        if !is_te && !is_cl {
            return Ok(());
        }
        if len > LINE_KEPT {
            return Err("framing field too long");
        }
        let value = trim(&kept[colon + 1..]);
        let f = &mut self.framing;
        if is_te {
            f.te_fields = f.te_fields.saturating_add(1);
            f.te_chunked = value == b"chunked";
        } else {
            f.cl_fields = f.cl_fields.saturating_add(1);
            f.cl = parse_length(value);
        }
        Ok(())
    }

    /// Pick the body framing (RFC 9112 §6.3); anything but one
    /// `Transfer-Encoding: chunked` or one plain `Content-Length` is refused.
    fn end_head(&mut self) -> Result<(), &'static str> {
        let f = self.framing;
        self.state = match (f.te_fields, f.cl_fields) {
            (0, 0) => State::HeadStart,
            (1, 0) if f.te_chunked => {
                self.extensions = 0;
                self.trailer_bytes = 0;
                self.trailer_fields = 0;
                State::Chunked(Chunk::Start)
            }
            (1, 0) => return Err("Transfer-Encoding other than chunked"),
            (0, 1) => match f.cl {
                Some(0) => State::HeadStart,
                Some(n) => {
                    self.remaining = n;
                    State::Fixed
                }
                None => return Err("invalid Content-Length"),
            },
            (0, _) => return Err("more than one Content-Length field"),
            (1, _) => return Err("both Transfer-Encoding and Content-Length"),
            (_, _) => return Err("more than one Transfer-Encoding field"),
        };
        Ok(())
    }

    /// One byte of chunked framing, exactly as hyper's decoder reads it.
    fn chunk_byte(&mut self, c: Chunk, b: u8) -> Result<(), &'static str> {
        let next = match (c, b) {
            (Chunk::Start | Chunk::Size, _) if b.is_ascii_hexdigit() => {
                let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                if c == Chunk::Start {
                    self.remaining = 0;
                }
                self.remaining = self
                    .remaining
                    .checked_mul(16)
                    .and_then(|r| r.checked_add(digit))
                    .ok_or("chunk size overflows")?;
                Chunk::Size
            }
            (Chunk::Start, _) => return Err("chunk size line without a size digit"),
            (Chunk::Size | Chunk::SizeLws, b'\t' | b' ') => Chunk::SizeLws,
            (Chunk::Size | Chunk::SizeLws, b';') => Chunk::Ext,
            (Chunk::Size | Chunk::SizeLws | Chunk::Ext, b'\r') => Chunk::SizeLf,
            (Chunk::Size | Chunk::SizeLws, _) => return Err("invalid chunk size"),
            (Chunk::Ext, b'\n') => return Err("chunk extension contains LF"),
            (Chunk::Ext, _) => {
                self.extensions += 1;
                if self.extensions >= CHUNK_EXTENSIONS_LIMIT {
                    return Err("chunk extensions over the limit");
                }
                Chunk::Ext
            }
            (Chunk::SizeLf, b'\n') if self.remaining == 0 => Chunk::EndCr,
            (Chunk::SizeLf, b'\n') => Chunk::Data,
            (Chunk::SizeLf, _) => return Err("chunk size line not ended by CRLF"),
            (Chunk::DataCr, b'\r') => Chunk::DataLf,
            (Chunk::DataCr, _) => return Err("chunk data not followed by CRLF"),
            (Chunk::DataLf, b'\n') => Chunk::Start,
            (Chunk::DataLf, _) => return Err("chunk data not followed by CRLF"),
            (Chunk::EndCr, b'\r') => Chunk::EndLf,
            (Chunk::EndCr | Chunk::Trailer, _) => {
                self.trailer_bytes += 1;
                if self.trailer_bytes >= self.limits.max_bytes {
                    return Err("chunked trailers over the size limit");
                }
                if b == b'\r' {
                    Chunk::TrailerLf
                } else {
                    Chunk::Trailer
                }
            }
            (Chunk::TrailerLf, b'\n') => {
                if self.trailer_fields >= self.limits.max_fields {
                    return Err("too many chunked trailer fields");
                }
                self.trailer_fields += 1;
                Chunk::EndCr
            }
            (Chunk::TrailerLf, _) => return Err("trailer field not ended by CRLF"),
            (Chunk::EndLf, b'\n') => {
                self.state = State::HeadStart;
                return Ok(());
            }
            (Chunk::EndLf, _) => return Err("chunked body not ended by CRLF"),
            (Chunk::Data, _) => Chunk::Data,
        };
        self.state = State::Chunked(next);
        Ok(())
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// A `Content-Length` value: 1 to 19 digits, nothing else.
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

#[cfg(test)]
#[path = "h1_framing/tests.rs"]
mod tests;
