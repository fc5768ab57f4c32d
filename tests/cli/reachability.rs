//! An admin listener that is not there, or does not answer.

use crate::{OPERATOR, edgecache};

#[tokio::test]
async fn an_unreachable_admin_listener_is_a_clear_error() {
    // A port held for the test by a bound socket that does not listen:
    // connecting is refused, and no other test's listener can be given the
    // port meanwhile (a port bound and released could be).
    let held = tokio::net::TcpSocket::new_v4().expect("socket");
    held.bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let port = held.local_addr().expect("addr").port();
    let admin = format!("127.0.0.1:{port}");
    for args in [
        vec!["stats", "--admin", &admin],
        vec!["health", "--admin", &admin],
        vec![
            "purge", "all", "--host", "x.test", "--admin", &admin, "--token", OPERATOR,
        ],
        vec!["reload", "--admin", &admin, "--token", OPERATOR],
    ] {
        let out = edgecache(&args).await;
        assert_eq!(out.code, Some(3), "{args:?}: {out:?}");
        assert_eq!(
            out.stderr.trim(),
            format!(
                "edgecache: cannot reach the admin listener at {admin}: connection refused — is the node running? (admin.listen / --admin)"
            ),
            "{args:?}"
        );
    }
}

#[tokio::test]
async fn a_silent_admin_listener_times_out_within_the_bound() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    // Accept and hold every connection without answering.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let started = edgecache::clock::instant();
    let out = edgecache(&["health", "--admin", &addr, "--timeout", "1"]).await;
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "the admin listener at {addr} did not answer within 1 s"
        )),
        "{out:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    holder.abort();
}
