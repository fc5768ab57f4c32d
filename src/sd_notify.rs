//! systemd readiness notification (sd_notify(3)) without libsystemd: when
//! `NOTIFY_SOCKET` is set, send `READY=1` once the node serves, `STOPPING=1`
//! when it starts draining, and `RELOADING=1` / `READY=1` around a reload,
//! as datagrams to that Unix socket (a path, or an abstract name starting
//! with `@`). Without `NOTIFY_SOCKET` (not under systemd, or `Type=simple`)
//! every call does nothing. A failure to notify is logged, never fatal.

use std::ffi::OsStr;
use std::future::Future;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

/// The node is serving: listeners bound, store open (also ends a reload).
/// At start, [`serving_until`] sends it.
pub fn ready() {
    send_logged(&format!(
        "READY=1\nSTATUS=serving\nMAINPID={}",
        std::process::id()
    ));
}

/// A reload has started; call [`ready`] when it is done.
pub fn reloading() {
    send_logged(&format!(
        "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC={}",
        monotonic_usec()
    ));
}

/// Run `reload` between `RELOADING=1` and `READY=1` (READY=1 also when it
/// fails: the node keeps serving with the config it had), e.g.
/// `sd_notify::reloading_while(live.reload()).await`.
pub async fn reloading_while<T>(reload: impl Future<Output = T>) -> T {
    reloading();
    let outcome = reload.await;
    ready();
    outcome
}

/// The node has begun to drain and will exit.
pub fn stopping() {
    send_logged("STOPPING=1\nSTATUS=draining");
}

/// Wrap the node's shutdown future: `READY=1` on its first poll, which
/// comes when the public listener starts accepting (every other listener
/// is serving by then), and `STOPPING=1` when it completes, as the drain
/// starts. The inner future is polled once before READY=1, so the signal
/// handlers it installs (SIGTERM, SIGINT) are in place before systemd may
/// send them.
pub async fn serving_until(shutdown: impl Future<Output = ()>) {
    let mut shutdown = std::pin::pin!(shutdown);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(shutdown.as_mut().poll(cx))).await;
    if first.is_pending() {
        ready();
        shutdown.await;
    }
    stopping();
}

fn send_logged(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    match send(&socket, state) {
        Ok(()) => tracing::debug!(state, "notified systemd"),
        Err(e) => tracing::warn!(
            error = %e,
            socket = %socket.to_string_lossy(),
            "cannot notify systemd (NOTIFY_SOCKET)"
        ),
    }
}

/// Send `state` as one datagram to `socket` (`NOTIFY_SOCKET`'s value).
pub fn send(socket: &OsStr, state: &str) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    // A full receive queue must never block the node.
    sock.set_nonblocking(true)?;
    let bytes = socket.as_bytes();
    let sent = match bytes.first() {
        Some(b'@') => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(&bytes[1..])?;
            sock.send_to_addr(state.as_bytes(), &addr)?
        }
        Some(b'/') => sock.send_to(state.as_bytes(), socket)?,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "only absolute paths and @abstract names are supported",
            ));
        }
    };
    if sent != state.len() {
        return Err(io::Error::other("short datagram write"));
    }
    Ok(())
}

/// CLOCK_MONOTONIC in microseconds, which systemd compares against the
/// time it sent SIGHUP (only systemd reads this value; no decision of the
/// node depends on it).
fn monotonic_usec() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64) * 1_000_000 + (t.tv_nsec as u64) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_and_to_an_abstract_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let rx = UnixDatagram::bind(&path).expect("bind");
        send(path.as_os_str(), "READY=1").expect("send to path");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("edgecache-sd-notify-unit-{}", std::process::id());
        let addr =
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
        let rx = UnixDatagram::bind_addr(&addr).expect("bind abstract");
        send(OsStr::new(&format!("@{name}")), "STOPPING=1").expect("send abstract");
        let n = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn refuses_relative_paths_and_reports_a_missing_socket() {
        assert_eq!(
            send(OsStr::new("relative.sock"), "READY=1")
                .expect_err("relative")
                .kind(),
            io::ErrorKind::Unsupported
        );
        assert!(send(OsStr::new("/nonexistent/edgecache/notify.sock"), "READY=1").is_err());
    }

    #[test]
    fn monotonic_time_moves_forward() {
        let a = monotonic_usec();
        let b = monotonic_usec();
        assert!(a > 0 && b >= a);
    }
}
