//! A real `nats-server` with JetStream, on a free loopback port, its store
//! in a temporary directory; killed by pid when dropped. It can be stopped
//! and started again on the same port and store (a NATS outage). The port
//! is held by a [`Reserved`] socket for the server's whole life, so no other
//! test can take it between the start and a restart (or between choosing
//! it and nats-server binding it).

use super::{Reserved, wait_until_async};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Nats {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Option<Child>,
    _port: Reserved,
}

impl Nats {
    /// Start `nats-server -js`. Panics with the fix when it is not installed
    /// (`scripts/test-all.sh` installs it).
    pub async fn start() -> Nats {
        let port = Reserved::new();
        let mut n = Nats {
            addr: port.addr,
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
            _port: port,
        };
        n.spawn().await;
        n
    }

    /// `nats://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("js")
    }

    async fn spawn(&mut self) {
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.addr.port().to_string())
            .arg("-sd")
            .arg(self.store())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run nats-server ({e}): `apt-get install nats-server`, or run scripts/test-all.sh, which installs it")
            });
        self.child = Some(child);
        let addr = self.addr;
        wait_until_async(
            &format!("nats-server to listen on {addr}"),
            Duration::from_secs(10),
            async || tokio::net::TcpStream::connect(addr).await.is_ok(),
        )
        .await;
    }

    /// Kill it (SIGKILL): an outage.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same port and store.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}
