//! TLS load client for `benches/load/tls.sh` (not part of the node).
//!
//! Two modes:
//!
//! - `handshake`: `--concurrency` tasks each loop for `--duration` seconds:
//!   new TCP connection, **full** TLS 1.3 handshake (resumption disabled, no
//!   session cache, no tickets kept), one `GET` with `Connection: close`,
//!   read the whole response and wait for the server to close. Prints the
//!   connection rate and latency percentiles.
//! - `hold`: opens `--count` connections (`--concurrency` at a time), each a
//!   full handshake and one keep-alive `GET` read to its end, then keeps the
//!   TCP sockets open and idle (the client's TLS state is dropped, the server
//!   sees an idle keep-alive TLS connection). Prints `READY` once all are
//!   open, holds them `--hold-secs`, then reports how many are still open.
//!
//! The key-exchange group is forced with `--group` (`x25519`, `p256` or
//! `x25519mlkem768`), so both servers do the same key exchange.
//!
//! **Certificate checks are off in this client** (`--verify-signature`
//! turns the handshake-signature check back on): it is a load tool for a
//! local self-signed certificate, and skipping the client's signature
//! verification keeps the client cheaper than the server, so the server's
//! core is the bottleneck. The server's work is the same either way.
//!
//! `--sources N` spreads connections over the source addresses 127.0.0.2 ..
//! 127.0.0.(N+1), so that 10,000 connections do not count as one client
//! address against a per-IP connection cap.
//!
//! Output ends with one `RESULT key=value ...` line for scripts.

#[path = "support/no_cert_check.rs"]
mod no_cert_check;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use no_cert_check::NoCertCheck;
use rustls::pki_types::ServerName;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

#[derive(Parser)]
#[command(about = "TLS handshake and idle-connection load client (benches/load/tls.sh)")]
struct Args {
    /// Server address (IP:port).
    #[arg(long, default_value = "127.0.0.1:18443")]
    addr: SocketAddr,
    /// SNI and Host header.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Request path.
    #[arg(long, default_value = "/obj/1k")]
    path: String,
    /// Key-exchange group offered (the only one): x25519, p256, x25519mlkem768.
    #[arg(long, default_value = "x25519")]
    group: String,
    /// Verify the server's handshake signature (CertificateVerify).
    #[arg(long)]
    verify_signature: bool,
    /// Spread connections over this many source addresses 127.0.0.2.. (0: the kernel's choice).
    #[arg(long, default_value_t = 0)]
    sources: u32,
    /// Connections in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// New connection + full handshake + one request per iteration.
    Handshake {
        /// Seconds to run.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// Open `count` keep-alive connections and hold them idle.
    Hold {
        /// Plain TCP (no TLS): the same connections without TLS, for comparison.
        #[arg(long)]
        plain: bool,
        /// Send no request: hold the connection right after the handshake.
        #[arg(long)]
        no_request: bool,
        /// Connections to open.
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Seconds to hold them after READY.
        #[arg(long, default_value_t = 10.0)]
        hold_secs: f64,
    },
}

/// A TLS 1.3-only client config offering exactly one key-exchange group,
/// with resumption disabled (every handshake is a full one).
fn client_config(
    group: &str,
    verify_signature: bool,
    alpn: &[&[u8]],
) -> Result<rustls::ClientConfig> {
    let provider = no_cert_check::provider_with_group(group)?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 config")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoCertCheck {
            provider,
            verify_signature,
        }))
        .with_no_client_auth();
    cfg.resumption = rustls::client::Resumption::disabled();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(cfg)
}

struct Target {
    addr: SocketAddr,
    name: ServerName<'static>,
    connector: TlsConnector,
    request: Vec<u8>,
    request_keepalive: Vec<u8>,
    sources: u32,
}

impl Target {
    async fn tcp(&self, n: u64) -> Result<TcpStream> {
        let sock = TcpSocket::new_v4()?;
        if self.sources > 0 {
            let last = 2 + (n % u64::from(self.sources)) as u32;
            let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + last);
            sock.set_reuseaddr(true)?;
            sock.bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
        }
        let s = sock.connect(self.addr).await?;
        s.set_nodelay(true)?;
        Ok(s)
    }
}

/// Reads one HTTP/1.1 response (head and Content-Length body); returns the
/// status code.
async fn read_response<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
) -> Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed before the response head");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).context("non-UTF-8 head")?;
    let status: u16 = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .context("no status code")?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .context("no Content-Length")?;
    let mut have = buf.len() - head_end;
    while have < len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed inside the body");
        }
        have += n;
    }
    Ok(status)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
    f64::from(sorted[i]) / 1000.0
}

async fn handshake_mode(t: Arc<Target>, concurrency: usize, duration: f64) -> Result<()> {
    let start = edgecache::clock::instant();
    let end = start + Duration::from_secs_f64(duration);
    let counter = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let t = t.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            let mut errors = 0u64;
            let mut non200 = 0u64;
            let mut lat: Vec<u32> = Vec::new();
            let mut first_error: Option<String> = None;
            let mut negotiated: Option<String> = None;
            let mut buf = Vec::with_capacity(8192);
            while edgecache::clock::instant() < end {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t0 = edgecache::clock::instant();
                let r: Result<u16> = async {
                    let tcp = t.tcp(n).await?;
                    let mut tls = t.connector.connect(t.name.clone(), tcp).await?;
                    if negotiated.is_none() {
                        let (_, c) = tls.get_ref();
                        negotiated = Some(format!(
                            "version={:?} suite={:?} group={:?}",
                            c.protocol_version(),
                            c.negotiated_cipher_suite().map(|s| s.suite()),
                            c.negotiated_key_exchange_group().map(|g| g.name()),
                        ));
                    }
                    tls.write_all(&t.request).await?;
                    let status = read_response(&mut tls, &mut buf).await?;
                    // Let the server close (Connection: close); whatever it
                    // sends after the response (close_notify) is drained.
                    let mut sink = [0u8; 1024];
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        while let Ok(n) = tls.read(&mut sink).await {
                            if n == 0 {
                                break;
                            }
                        }
                    })
                    .await;
                    Ok(status)
                }
                .await;
                match r {
                    Ok(200) => {
                        ok += 1;
                        lat.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    }
                    Ok(_) => non200 += 1,
                    Err(e) => {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(format!("{e:#}"));
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (ok, errors, non200, lat, first_error, negotiated)
        }));
    }
    let (mut ok, mut errors, mut non200) = (0u64, 0u64, 0u64);
    let mut lat = Vec::new();
    let mut first_error = None;
    let mut negotiated = None;
    for task in tasks {
        let (o, e, n, l, fe, ng) = task.await?;
        ok += o;
        errors += e;
        non200 += n;
        lat.extend(l);
        first_error = first_error.or(fe);
        negotiated = negotiated.or(ng);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    println!("negotiated: {}", negotiated.unwrap_or_else(|| "-".into()));
    if let Some(e) = first_error {
        println!("first error: {e}");
    }
    println!(
        "RESULT connections={ok} errors={errors} non200={non200} secs={secs:.3} rate={:.1} p50_ms={:.3} p99_ms={:.3}",
        ok as f64 / secs,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    Ok(())
}

async fn hold_mode(
    t: Arc<Target>,
    concurrency: usize,
    count: usize,
    hold_secs: f64,
    plain: bool,
    no_request: bool,
) -> Result<()> {
    let start = edgecache::clock::instant();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let t = t.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut held = Vec::new();
            let mut errors = 0u64;
            let mut first_error: Option<String> = None;
            let mut buf = Vec::with_capacity(8192);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count as u64 {
                    break;
                }
                let r: Result<TcpStream> = async {
                    let mut tcp = t.tcp(n).await?;
                    if plain {
                        if !no_request {
                            tcp.write_all(&t.request_keepalive).await?;
                            let status = read_response(&mut tcp, &mut buf).await?;
                            if status != 200 {
                                bail!("status {status}");
                            }
                        }
                        return Ok(tcp);
                    }
                    let mut tls = t.connector.connect(t.name.clone(), tcp).await?;
                    if no_request {
                        // The handshake is complete once connect returns;
                        // the server's tickets stay unread in the socket.
                        let (tcp, _client_state) = tls.into_inner();
                        return Ok(tcp);
                    }
                    tls.write_all(&t.request_keepalive).await?;
                    let status = read_response(&mut tls, &mut buf).await?;
                    if status != 200 {
                        bail!("status {status}");
                    }
                    // Keep the socket, drop the client's TLS state: the
                    // server holds an idle keep-alive TLS connection.
                    let (tcp, _client_state) = tls.into_inner();
                    Ok(tcp)
                }
                .await;
                match r {
                    Ok(s) => held.push(s),
                    Err(e) => {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(format!("{e:#}"));
                        }
                    }
                }
            }
            (held, errors, first_error)
        }));
    }
    let mut held = Vec::with_capacity(count);
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        let (h, e, fe) = task.await?;
        held.extend(h);
        errors += e;
        first_error = first_error.or(fe);
    }
    let open_secs = start.elapsed().as_secs_f64();
    if let Some(e) = &first_error {
        println!("first error: {e}");
    }
    println!(
        "READY opened={} errors={errors} secs={open_secs:.3}",
        held.len()
    );
    tokio::time::sleep(Duration::from_secs_f64(hold_secs)).await;
    // Still open: nothing to read and no EOF.
    let mut alive = 0usize;
    let mut probe = [0u8; 64];
    for s in &held {
        if let Err(e) = s.try_read(&mut probe)
            && e.kind() == std::io::ErrorKind::WouldBlock
        {
            alive += 1;
        }
    }
    println!(
        "RESULT opened={} errors={errors} open_secs={open_secs:.3} alive_after_hold={alive}",
        held.len()
    );
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let cfg = client_config(&args.group, args.verify_signature, &[b"http/1.1"])?;
        let name = ServerName::try_from(args.host.clone())?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            args.path, args.host
        );
        let request_keepalive =
            format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", args.path, args.host);
        let t = Arc::new(Target {
            addr: args.addr,
            name,
            connector: TlsConnector::from(Arc::new(cfg)),
            request: request.into_bytes(),
            request_keepalive: request_keepalive.into_bytes(),
            sources: args.sources,
        });
        match args.mode {
            Mode::Handshake { duration } => handshake_mode(t, args.concurrency, duration).await,
            Mode::Hold {
                count,
                hold_secs,
                plain,
                no_request,
            } => hold_mode(t, args.concurrency, count, hold_secs, plain, no_request).await,
        }
    })
}
