//! Starting and stopping a node (this process): open the store, bind,
//! serve, drain, flush.

pub mod gauges;

use crate::config::Config;
use crate::live::{ConfigSource, Live};
use crate::proxy::Pipeline;
use crate::server::front_end::FrontEnd;
use crate::server::{admin, listener};
use crate::services::Services;
use crate::target::Scheme;
use crate::tls;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use storage::{Store, StoreConfig};

/// Open the object store described by `cfg`.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    let st = &cfg.storage;
    let store_cfg = StoreConfig {
        dir: cfg.server.data_dir.join("objects"),
        memory_bytes: st.memory_bytes as usize,
        disk_bytes: st.disk_bytes as usize,
        block_bytes: st.block_bytes as usize,
        write_policy: st.write_policy.into(),
        eviction: st.eviction.into(),
    };
    Store::open_or_memory(store_cfg)
        .await
        .with_context(|| format!("cannot open the store in {}", cfg.server.data_dir.display()))
}

/// A bound, ready node.
pub struct Running {
    /// The address the public listener is bound to.
    pub addr: SocketAddr,
    /// The address the admin listener (purge API, metrics) is bound to.
    pub admin_addr: SocketAddr,
    /// The addresses of the `[[https]]` listeners, in config order.
    pub https_addrs: Vec<SocketAddr>,
    live: Arc<Live>,
    listener: tokio::net::TcpListener,
    admin: tokio::net::TcpListener,
    https: Vec<HttpsListener>,
}

/// One bound `[[https]]` listener.
struct HttpsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
    alt_svc: Option<http::HeaderValue>,
    /// The HTTP/3 endpoint on the same address, when `http3` is on.
    quic: Option<quinn::Endpoint>,
    /// Its certificates.
    certs: Arc<tls::resolver::Resolver>,
}

/// Bind `[[https]]` listener `i` and load its certificates (start-up
/// errors name the file or address at fault).
async fn bind_https(
    cfg: &Config,
    i: usize,
) -> anyhow::Result<(HttpsListener, Arc<tls::resolver::Resolver>)> {
    let h = &cfg.https[i];
    let mut extra = Vec::new();
    if h.self_signed {
        extra.push(tls::self_signed::load_or_create(
            &cfg.server.data_dir.join("tls"),
        )?);
    }
    let resolver = Arc::new(
        tls::resolver::Resolver::load(format!("https[{i}]"), h.certificates.clone(), extra)
            .with_context(|| format!("https[{i}].certificates"))?,
    );
    let server_cfg =
        tls::server_config::build(h, resolver.clone(), &tls::server_config::ALPN_TCP, false)
            .with_context(|| format!("https[{i}]"))?;
    let tcp = tokio::net::TcpListener::bind(h.listen)
        .await
        .with_context(|| format!("cannot listen on {} (https[{i}].listen)", h.listen))?;
    let alt_svc = h
        .alt_svc(tcp.local_addr()?.port())
        .and_then(|v| http::HeaderValue::from_str(&v).ok());
    let quic = if h.http3 {
        let addr = tcp.local_addr()?;
        let streams = cfg.server.h2_max_concurrent_streams;
        Some(
            crate::server::h3::bind(h, addr, resolver.clone(), streams)
                .with_context(|| format!("cannot listen on UDP {addr} for HTTP/3 (https[{i}])"))?,
        )
    } else {
        None
    };
    let listener = HttpsListener {
        quic,
        certs: resolver.clone(),
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg)),
        handshake_timeout: Duration::from_secs(h.handshake_timeout_secs),
        alt_svc,
    };
    Ok((listener, resolver))
}

/// Open the store and bind the listener. Errors here are start-up errors.
/// A reload re-applies `cfg` as it is (see [`start_reloadable`]).
pub async fn start(cfg: Config) -> anyhow::Result<Running> {
    let fixed = cfg.clone();
    start_reloadable(cfg, Box::new(move || Ok(fixed.clone()))).await
}

/// [`start`], with reloads reading their config from `source` (the config
/// file and the command-line overrides, validated).
pub async fn start_reloadable(cfg: Config, source: ConfigSource) -> anyhow::Result<Running> {
    let listen = cfg.server.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let admin_listen = cfg.admin.listen;
    let admin = tokio::net::TcpListener::bind(admin_listen)
        .await
        .with_context(|| format!("cannot listen on {admin_listen} (admin.listen)"))?;
    let admin_addr = admin.local_addr()?;
    let mut https = Vec::new();
    let mut resolvers = Vec::new();
    for i in 0..cfg.https.len() {
        let (l, r) = bind_https(&cfg, i).await?;
        https.push(l);
        resolvers.push(r);
    }
    let https_addrs = https
        .iter()
        .map(|l| l.tcp.local_addr())
        .collect::<Result<Vec<_>, _>>()?;
    let store = open_store(&cfg).await?;
    let purge = storage::PurgeStore::open(&cfg.server.data_dir.join("purge.redb"))?;
    let mut services = Services::start(&cfg, store, Arc::new(purge), resolvers);
    if cfg.fleet.enabled() {
        let fleet = crate::fleet::Fleet::start(
            &cfg.fleet,
            services.purge.clone(),
            services.store.clone(),
            services.metrics.fleet_propagation.clone(),
        )
        .await?;
        services.fleet = Some(fleet);
    }
    let pipeline = Arc::new(Pipeline::new(cfg, services)?);
    watch_origins(&pipeline, true);
    let metrics = pipeline.services.metrics.clone();
    let live = Live::new(
        pipeline,
        source,
        Box::new(|pipeline: &Arc<Pipeline>| {
            watch_origins(pipeline, false);
            pipeline
                .services
                .access_log
                .configure(&pipeline.cfg.access_log);
        }),
    );
    metrics.node.watch(gauges::pipeline(Arc::downgrade(&live)));
    Ok(Running {
        addr,
        admin_addr,
        https_addrs,
        live,
        listener,
        admin,
        https,
    })
}

impl Running {
    /// The pipeline this process runs now (for benchmarks and embedding).
    pub fn pipeline(&self) -> Arc<Pipeline> {
        self.live.pipeline()
    }

    /// The pipeline in force and its reload (SIGHUP, `POST /admin/reload`).
    pub fn live(&self) -> Arc<Live> {
        self.live.clone()
    }

    /// Reload every listener's certificates from their files (`POST
    /// /admin/tls/reload`); see [`Services::reload_certificates`].
    pub fn reload_certificates(&self) -> Vec<(String, Result<usize, String>)> {
        self.live.pipeline().services.reload_certificates()
    }

    /// Serve until `shutdown`, drain, then flush and close the store.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let pipeline = self.live.pipeline();
        let drain = Duration::from_secs(pipeline.cfg.server.drain_timeout_secs);
        tracing::info!(addr = %self.addr, "edgecache listening (HTTP/1.1 and h2c)");
        tracing::info!(admin = %self.admin_addr, "admin listening (purge API, /metrics, /health)");
        let (stop_admin, mut admin_stopped) = tokio::sync::watch::channel(false);
        let admin = tokio::spawn(admin::serve(self.live.clone(), self.admin, async move {
            let _ = admin_stopped.changed().await;
        }));
        let limits = listener::limits(&pipeline);
        pipeline
            .services
            .metrics
            .node
            .watch_connections(gauges::connections(limits.clone()));
        let (stop_tls, tls_stopped) = tokio::sync::watch::channel(false);
        let mut tls_tasks = Vec::new();
        for (h, addr) in self.https.into_iter().zip(&self.https_addrs) {
            tracing::info!(%addr, "edgecache listening (HTTPS: HTTP/1.1 and h2 by ALPN)");
            if let Some(endpoint) = h.quic {
                tracing::info!(%addr, "edgecache listening (HTTP/3 over QUIC, UDP)");
                let fe = FrontEnd::new(
                    self.live.clone(),
                    Scheme::Https,
                    None,
                    Some(h.certs.clone()),
                );
                let mut stopped = tls_stopped.clone();
                let limits = limits.clone();
                tls_tasks.push(tokio::spawn(async move {
                    crate::server::h3::serve(
                        fe,
                        endpoint,
                        h.handshake_timeout,
                        limits,
                        async move {
                            let _ = stopped.wait_for(|s| *s).await;
                        },
                        drain,
                    )
                    .await;
                    true
                }));
            }
            let fe = FrontEnd::new(
                self.live.clone(),
                Scheme::Https,
                h.alt_svc,
                Some(h.certs.clone()),
            );
            let transport = listener::Transport::Tls {
                acceptor: h.acceptor,
                handshake_timeout: h.handshake_timeout,
            };
            let mut stopped = tls_stopped.clone();
            tls_tasks.push(tokio::spawn(listener::serve(
                fe,
                h.tcp,
                transport,
                limits.clone(),
                async move {
                    let _ = stopped.wait_for(|s| *s).await;
                },
                drain,
            )));
        }
        let fe = FrontEnd::new(self.live.clone(), Scheme::Http, None, None);
        let plain = listener::serve(
            fe,
            self.listener,
            listener::Transport::Plain,
            limits,
            async move {
                shutdown.await;
                let _ = stop_tls.send(true);
            },
            drain,
        );
        plain.await;
        for t in tls_tasks {
            let _ = t.await;
        }
        let _ = stop_admin.send(true);
        let _ = admin.await;
        // Every request is done: leave the fleet (the outbox and the
        // stream position stay on disk for the next start).
        if let Some(f) = &pipeline.services.fleet {
            f.stop();
        }
        // Every request is done: send the spans still queued.
        pipeline.services.tracer.shutdown().await;
        // Every node shares the one store.
        pipeline
            .services
            .store
            .close()
            .await
            .context("flushing the store")?;
        tracing::info!("store flushed; bye");
        Ok(())
    }
}

/// Start watching a node's origins: a reachability warning at start-up,
/// and active health checks when configured.
fn watch_origins(pipeline: &Arc<Pipeline>, at_start: bool) {
    crate::proxy::tier::health::spawn(Arc::downgrade(pipeline));
    for pool in pipeline.sites.pools() {
        if at_start {
            for server in pool.servers() {
                warn_if_unreachable(server.uri.clone());
            }
        }
        if let Some(path) = pipeline.cfg.upstream.health_check_path.clone() {
            spawn_health_checks(Arc::downgrade(pipeline), pool, path);
        }
    }
}

/// Active health checks: probe every server of `pool` at the configured
/// interval and feed the results to its circuit breaker, for as long as
/// its node serves requests (a reload replaces it).
fn spawn_health_checks(
    pipeline: std::sync::Weak<Pipeline>,
    pool: Arc<crate::upstream::origin::Origin>,
    path: String,
) {
    let Some(every) = pipeline
        .upgrade()
        .map(|n| Duration::from_secs(n.cfg.upstream.health_check_interval_secs.max(1)))
    else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Some(pipeline) = pipeline.upgrade() else {
                return;
            };
            for (i, server) in pool.servers().iter().enumerate() {
                let ok = pipeline.upstream.probe(server, &path).await;
                if ok != server.healthy() {
                    tracing::info!(server = %server.uri, healthy = ok, "health check");
                }
                pool.mark(i, ok, crate::clock::instant());
            }
        }
    });
}

/// An unreachable origin is not a start-up error: warn and carry on.
fn warn_if_unreachable(origin: http::Uri) {
    tokio::spawn(async move {
        let Some(auth) = origin.authority() else {
            return;
        };
        let default_port = if origin.scheme_str() == Some("https") {
            443
        } else {
            80
        };
        let port = auth.port_u16().unwrap_or(default_port);
        let addr = format!("{}:{port}", auth.host());
        let probe = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::TcpStream::connect(&addr),
        )
        .await;
        if !matches!(probe, Ok(Ok(_))) {
            tracing::warn!(%origin, "origin is not reachable now; answering 502 (or from cache) until it is");
        }
    });
}
