//! Running the real `edgecache` binary as a child process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub log: std::sync::Arc<parking_lot::Mutex<String>>,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_edgecache")
}

/// Start the binary with `args` plus `--listen 127.0.0.1:0`, and wait until
/// it logs its bound address.
pub fn spawn(args: &[&str], data_dir: &Path) -> Proc {
    let mut child = Command::new(bin())
        .args(args)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("EDGECACHE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn edgecache");
    let stderr = child.stderr.take().expect("stderr");
    let log = std::sync::Arc::new(parking_lot::Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let log2 = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listening") {
                for tag in ["addr=", "admin="] {
                    if let Some(a) = line.split(tag).nth(1) {
                        let _ = tx.send((tag, a.trim().to_string()));
                    }
                }
            }
            log2.lock().push_str(&line);
            log2.lock().push('\n');
        }
    });
    let (mut addr, mut admin_addr) = (None, None);
    while addr.is_none() || admin_addr.is_none() {
        let (tag, a) = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("node did not start: {}", log.lock()));
        let parsed: SocketAddr = a.parse().expect("address");
        if tag == "addr=" {
            addr = Some(parsed);
        } else {
            admin_addr = Some(parsed);
        }
    }
    Proc {
        child,
        addr: addr.expect("addr"),
        admin_addr: admin_addr.expect("admin"),
        log,
    }
}

impl Proc {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// Wait for exit, at most `secs`.
    pub fn wait(&mut self, secs: u64) -> std::process::ExitStatus {
        for _ in 0..secs * 20 {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!(
            "edgecache did not exit within {secs} s; log:\n{}",
            self.log.lock()
        );
    }

    /// Peak resident set size (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("proc status");
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .expect("VmHWM")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
