//! HTTP/3 load client for `benches/load/tls.sh` (not part of the node):
//! `--connections` QUIC connections (quinn + h3) with `--streams` requests in
//! flight on each, for `--duration` seconds; prints requests/s and latency
//! percentiles. Every response must be a 200 with `--expect-bytes` of body.
//!
//! **Certificate checks are off in this client**: it is a load tool for a
//! local self-signed certificate. The key-exchange group is forced with
//! `--group` (`x25519`, `p256`, `x25519mlkem768`).
//!
//! Output ends with one `RESULT key=value ...` line for scripts.

#[path = "support/no_cert_check.rs"]
mod no_cert_check;

use anyhow::{Context, Result};
use bytes::Buf;
use clap::Parser;
use no_cert_check::NoCertCheck;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "HTTP/3 load client (benches/load/tls.sh)")]
struct Args {
    /// Server address (IP:port, UDP).
    #[arg(long, default_value = "127.0.0.1:18443")]
    addr: SocketAddr,
    /// SNI and :authority.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Request path.
    #[arg(long, default_value = "/obj/1k")]
    path: String,
    /// QUIC connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 16)]
    streams: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Key-exchange group offered: x25519, p256, x25519mlkem768.
    #[arg(long, default_value = "x25519")]
    group: String,
    /// Body bytes every response must carry (0: any).
    #[arg(long, default_value_t = 0)]
    expect_bytes: usize,
}

fn client_config(group: &str) -> Result<quinn::ClientConfig> {
    let provider = no_cert_check::provider_with_group(group)?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 config")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoCertCheck {
            provider,
            verify_signature: false,
        }))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let quic =
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).context("QUIC client config")?;
    Ok(quinn::ClientConfig::new(Arc::new(quic)))
}

#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    bad: u64,
    lat_us: Vec<u32>,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
    f64::from(sorted[i]) / 1000.0
}

async fn run(args: Args) -> Result<()> {
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    endpoint.set_default_client_config(client_config(&args.group)?);
    let uri: http::Uri = format!("https://{}{}", args.host, args.path).parse()?;

    // Connect everything first; the measured window starts afterwards.
    let mut conns = Vec::new();
    let mut drivers = Vec::new();
    for _ in 0..args.connections {
        let conn = endpoint
            .connect(args.addr, &args.host)?
            .await
            .context("QUIC handshake")?;
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn))
            .await
            .context("HTTP/3 connection")?;
        drivers.push(tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        }));
        conns.push(send);
    }

    let start = edgecache::clock::instant();
    let end = start + Duration::from_secs_f64(args.duration);
    let mut tasks = Vec::new();
    for send in &conns {
        for _ in 0..args.streams {
            let mut send = send.clone();
            let uri = uri.clone();
            let expect = args.expect_bytes;
            tasks.push(tokio::spawn(async move {
                let mut t = Tally::default();
                while edgecache::clock::instant() < end {
                    let t0 = edgecache::clock::instant();
                    let r: Result<(u16, usize)> = async {
                        let req = http::Request::get(uri.clone()).body(())?;
                        let mut stream = send.send_request(req).await?;
                        stream.finish().await?;
                        let resp = stream.recv_response().await?;
                        let mut n = 0usize;
                        while let Some(mut chunk) = stream.recv_data().await? {
                            n += chunk.remaining();
                            chunk.advance(chunk.remaining());
                        }
                        Ok((resp.status().as_u16(), n))
                    }
                    .await;
                    match r {
                        Ok((200, n)) if expect == 0 || n == expect => {
                            t.ok += 1;
                            t.lat_us
                                .push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        }
                        Ok(_) => t.bad += 1,
                        Err(e) => {
                            t.error(format!("{e:#}"));
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                t
            }));
        }
    }
    let mut all = Tally::default();
    for task in tasks {
        let t = task.await?;
        all.ok += t.ok;
        all.errors += t.errors;
        all.bad += t.bad;
        all.lat_us.extend(t.lat_us);
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(conns);
    endpoint.close(0u32.into(), b"done");
    for d in drivers {
        d.abort();
    }
    all.lat_us.sort_unstable();
    if let Some(e) = &all.first_error {
        println!("first error: {e}");
    }
    println!(
        "RESULT requests={} errors={} bad={} secs={secs:.3} rps={:.1} p50_ms={:.3} p99_ms={:.3}",
        all.ok,
        all.errors,
        all.bad,
        all.ok as f64 / secs,
        percentile(&all.lat_us, 0.5),
        percentile(&all.lat_us, 0.99)
    );
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}
