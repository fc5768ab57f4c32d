//! A raw TCP origin for faults hyper would refuse to produce: it reads one
//! request head per connection, then writes whatever the script returns for
//! that request's number (nothing at all: the connection is dropped).
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Start it; returns its URL and the number of request heads received so far.
pub async fn start(
    script: impl Fn(usize) -> Option<Vec<u8>> + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind raw origin");
    let addr = listener.local_addr().expect("addr");
    let conns = Arc::new(AtomicUsize::new(0));
    let (c, script) = (conns.clone(), Arc::new(script));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (c, script) = (c.clone(), script.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => seen.extend_from_slice(&buf[..k]),
                    }
                }
                let n = c.fetch_add(1, Ordering::SeqCst);
                if let Some(response) = script(n) {
                    let _ = s.write_all(&response).await;
                    let _ = s.shutdown().await;
                }
            });
        }
    });
    (format!("http://{addr}"), conns)
}
