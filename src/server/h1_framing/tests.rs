use super::*;

fn tracker() -> FramingTracker {
    FramingTracker::new(TrailerLimits {
        max_bytes: 1024,
        max_fields: 10,
    })
}

/// Feed `bytes` one byte at a time and in one piece; both must agree.
fn scan(bytes: &[u8]) -> Result<u64, Violation> {
    let mut whole = tracker();
    let a = whole.scan(bytes).map(|()| whole.heads());
    let mut split = tracker();
    let mut b = Ok(());
    for (i, byte) in bytes.iter().enumerate() {
        if let Err(mut v) = split.scan(std::slice::from_ref(byte)) {
            v.at = i;
            b = Err(v);
            break;
        }
    }
    let b = b.map(|()| split.heads());
    assert_eq!(a, b, "split reads agree");
    a
}

#[test]
fn valid_pipelined_requests_are_followed_through_their_bodies() {
    let bytes = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\n\r\n\n\nGET / x\r\n\r\n\
POST /b HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  chunked \r\n\r\n\
5;ext=1\r\nhe\nlo\r\n0\r\nX-T: 1\r\n\r\n\
\r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(scan(bytes), Ok(3));
}

#[test]
fn a_bare_lf_in_a_head_is_found_at_its_byte() {
    let bytes = b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n";
    let v = scan(bytes).expect_err("bare LF");
    assert_eq!(v.at, 23);
    assert!(!v.in_body);
}

#[test]
fn head_grammar_violations_are_reported() {
    for bytes in [
        &b"GET / HTTP/1.1\nHost: a\n\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: b\0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n",
        b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let v = scan(bytes).expect_err("violation");
        assert!(!v.in_body, "{v:?}");
    }
}

#[test]
fn a_head_after_a_body_is_checked_too() {
    let bytes = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\nHost: a\r\n\r\n";
    let v = scan(bytes).expect_err("second head");
    assert_eq!(v.at, 55);
    let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\n\n";
    assert!(scan(chunked).is_err());
}

#[test]
fn body_bytes_that_look_like_heads_are_not_checked() {
    let bytes = b"POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\n\n\0\n \r\rGET / HTTP/1.1\r\n\r\n";
    assert_eq!(scan(bytes), Ok(2));
}

#[test]
fn malformed_chunk_framing_is_reported_as_a_body_violation() {
    for body in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"5\r\nhelloXX0\r\n\r\n",
        b"fffffffffffffffff1\r\nhello\r\n0\r\n\r\n",
        b"5\nhello\n0\n\n",
        b"5;a\nb\r\nhello\r\n0\r\n\r\n",
        b"5 x\r\nhello\r\n0\r\n\r\n",
    ] {
        let mut bytes = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        bytes.extend_from_slice(body);
        let v = scan(&bytes).expect_err("chunk violation");
        assert!(v.in_body, "{v:?} for {body:?}");
        assert!(v.at >= 47, "{v:?}");
    }
}

#[test]
fn ambiguous_framing_is_refused_at_the_end_of_its_head() {
    for head in [
        &b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        let v = scan(head).expect_err("ambiguous");
        assert_eq!(v.at, head.len() - 1);
        assert!(!v.in_body);
    }
}

#[test]
fn an_overlong_framing_field_is_refused() {
    let head = format!(
        "POST / HTTP/1.1\r\nContent-Length: {}3\r\n\r\n",
        " ".repeat(80)
    );
    assert!(scan(head.as_bytes()).is_err());
}

#[test]
fn trailer_limits_mirror_hyper() {
    let mut bytes = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
    for i in 0..11 {
        bytes.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    assert!(scan(&bytes).expect_err("too many").in_body);
}
