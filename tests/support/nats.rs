//! A real `nats-server` with JetStream, on a free loopback port, its store
//! in a temporary directory; killed by pid when dropped. It can be stopped
//! and started again on the same port and store (a NATS outage).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Nats {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

impl Nats {
    /// Start `nats-server -js`. Panics with the fix when it is not installed
    /// (`scripts/test-all.sh` installs it).
    pub async fn start() -> Nats {
        let mut n = Nats {
            addr: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
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
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("nats-server did not listen on {}", self.addr);
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
