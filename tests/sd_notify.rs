//! systemd readiness of the real binary: with `NOTIFY_SOCKET` set (a path,
//! or an `@abstract` name), the node sends `READY=1` once its listeners
//! answer, `RELOADING=1` (with `MONOTONIC_USEC`) then `READY=1` around a
//! SIGHUP reload, and `STOPPING=1` when SIGTERM starts the drain, then
//! exits 0.

use crate::support::Reserved;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The next datagram, within 30 s; on failure, the node's log.
fn next_message(rx: &UnixDatagram, log: &std::path::Path) -> String {
    rx.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut buf = [0u8; 512];
    match rx.recv(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(e) => panic!(
            "no notification within 30 s ({e}); node log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        ),
    }
}

/// `GET /health` on the admin listener: its status line.
fn health_status(admin: SocketAddr) -> String {
    let mut s = TcpStream::connect_timeout(&admin, Duration::from_secs(5)).expect("admin answers");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /health HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines().next().unwrap_or("").to_string()
}

fn lifecycle(notify_socket: &str, rx: &UnixDatagram) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("node.log");
    // The node needs its ports before it starts, so that the test can
    // connect the instant READY=1 arrives (the log line with the bound
    // address comes only after it). They are held for the whole test (a
    // bound socket that does not listen; the node's listener binds beside
    // it), so no other test can take them in between. The origin is a held
    // port that refuses.
    let (public, admin, origin) = (Reserved::new(), Reserved::new(), Reserved::new());
    let (public, admin, origin_url, _held) = (
        public.addr,
        admin.addr,
        origin.url(),
        (public, admin, origin),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgecache"))
        .args(["--origin", &origin_url, "--listen"])
        .arg(public.to_string())
        .arg("--admin-listen")
        .arg(admin.to_string())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("NOTIFY_SOCKET", notify_socket)
        .env("EDGECACHE_LOG", "info")
        .env_remove("EDGECACHE_CONFIG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn edgecache");

    let pid = child.id().to_string();
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig}");
    };

    let ready = next_message(rx, &log);
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(
        ready.lines().any(|l| l == format!("MAINPID={pid}")),
        "{ready:?}"
    );
    // `systemctl reload` may come the instant READY=1 is in: the SIGHUP
    // handler must be installed by then (SIGHUP's default ends the process).
    signal("-HUP");
    // Both listeners answer.
    TcpStream::connect_timeout(&public, Duration::from_secs(5)).expect("public listener answers");
    assert_eq!(health_status(admin), "HTTP/1.1 200 OK");

    let reloading = next_message(rx, &log);
    assert!(
        reloading.lines().any(|l| l == "RELOADING=1"),
        "{reloading:?}"
    );
    let usec = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(usec.is_some_and(|u| u > 0), "{reloading:?}");
    let reloaded = next_message(rx, &log);
    assert!(reloaded.lines().any(|l| l == "READY=1"), "{reloaded:?}");
    assert_eq!(health_status(admin), "HTTP/1.1 200 OK", "still serving");
    assert!(child.try_wait().expect("wait").is_none(), "still running");

    signal("-TERM");
    let stopping = next_message(rx, &log);
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
    for _ in 0..200 {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "clean exit after the drain: {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!(
        "edgecache did not exit within 10 s of SIGTERM; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn notifies_ready_once_listening_and_stopping_on_sigterm_over_a_socket_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify.sock");
    let rx = UnixDatagram::bind(&path).expect("bind notify socket");
    lifecycle(path.to_str().expect("utf-8"), &rx);
}

#[test]
fn notifies_over_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let dir = tempfile::tempdir().expect("tempdir");
    // Unique per run: the temp dir's name.
    let name = format!(
        "edgecache-test-{}",
        dir.path()
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
    );
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
    let rx = UnixDatagram::bind_addr(&addr).expect("bind abstract socket");
    lifecycle(&format!("@{name}"), &rx);
}
