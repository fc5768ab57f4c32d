//! Waiting for something a test can observe, and addresses that refuse.
//!
//! `wait_until` polls a condition and panics, naming what it waited for,
//! when the time runs out: a wait that times out fails the test instead of
//! letting it carry on as if the condition had come true.
//!
//! `Reserved` holds a loopback port for as long as the test needs it: a
//! bound socket that does not listen. Connecting to it is refused, and no
//! other socket in this process (or any other) that asks the kernel for a
//! free port gets it, so a "dead" address stays dead for the whole test,
//! even while the other tests of the one parallel binary bind ports.
//! `listen()` puts a listener on the same port (both sockets have
//! SO_REUSEADDR, and the held one does not listen); when that listener is
//! dropped, the port refuses again and is still held.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

/// Poll `cond` every 5 ms until it holds; panic naming `what` after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        if tokio::time::Instant::now() >= end {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// As [`wait_until`], for a condition that must itself await (a metrics
/// scrape, a connection attempt). Polled every 20 ms.
pub async fn wait_until_async(what: &str, timeout: Duration, mut cond: impl AsyncFnMut() -> bool) {
    let end = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return;
        }
        if tokio::time::Instant::now() >= end {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A loopback port held by a bound socket that does not listen: connecting
/// is refused, and the port is not handed to anyone else while this lives.
pub struct Reserved {
    pub addr: SocketAddr,
    _socket: tokio::net::TcpSocket,
}

impl Reserved {
    /// Reserve a free loopback port.
    pub fn new() -> Reserved {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind a reserved port");
        let addr = socket.local_addr().expect("addr");
        Reserved {
            addr,
            _socket: socket,
        }
    }

    /// `http://127.0.0.1:<port>`: an origin that refuses every connection.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A listener on the reserved port (the port stays held after it is dropped).
    pub async fn listen(&self) -> tokio::net::TcpListener {
        tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("listen on the reserved port")
    }

    /// As [`Reserved::listen`], a std listener.
    pub fn listen_std(&self) -> std::net::TcpListener {
        std::net::TcpListener::bind(self.addr).expect("listen on the reserved port")
    }
}

impl Default for Reserved {
    fn default() -> Self {
        Reserved::new()
    }
}
