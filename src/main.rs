//! The `edgecache` binary: arguments -> config -> start -> wait for a signal -> drain.

mod cli;
mod sd_notify;

use clap::Parser;
use edgecache::config::Config;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// edgecache: a caching CDN node (RFC 9111 reverse proxy cache).
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
struct Args {
    /// Config file (TOML). See docs/config.md.
    #[arg(long, short = 'c', env = "EDGECACHE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Default origin, e.g. http://127.0.0.1:8000 (overrides `origin`).
    #[arg(long)]
    origin: Option<String>,
    /// Listen address, e.g. 127.0.0.1:8080 (overrides `server.listen`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Admin listen address for the purge API and metrics (overrides `admin.listen`).
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    /// Directory for the disk store and other state (overrides `server.data_dir`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Add an HTTPS listener (HTTP/1.1, h2 and HTTP/3) at this address with
    /// a self-signed certificate for localhost, generated into the data dir
    /// on first start: for local trial.
    #[arg(long)]
    https_listen: Option<SocketAddr>,
    #[command(subcommand)]
    command: Option<cli::Command>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(cmd) = &args.command {
        return cli::run(cmd, args.config.as_deref());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EDGECACHE_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "info,foyer=warn,foyer_storage=warn,rustls=error,quinn=warn,quinn_proto=warn",
                )
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cfg = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("edgecache: {e}");
            return ExitCode::from(2);
        }
    };
    let mut builder = if cfg.server.runtime == edgecache::config::Runtime::CurrentThread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if cfg.server.worker_threads > 0 {
            b.worker_threads(cfg.server.worker_threads);
        }
        b
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("edgecache: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cfg, args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgecache: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(args: &Args) -> Result<Config, edgecache::config::ConfigError> {
    let mut cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(o) = &args.origin {
        cfg.origin = Some(o.clone());
    }
    if let Some(l) = args.listen {
        cfg.server.listen = l;
    }
    if let Some(a) = args.admin_listen {
        cfg.admin.listen = a;
    }
    if let Some(d) = &args.data_dir {
        cfg.server.data_dir = d.clone();
    }
    if let Some(a) = args.https_listen {
        let mut h = edgecache::config::HttpsConfig::self_signed(a);
        h.http3 = true;
        cfg.https.push(h);
    }
    cfg.validate()?;
    Ok(cfg)
}

async fn run(cfg: Config, args: Args) -> anyhow::Result<()> {
    // A reload reads the file again and re-applies the command line.
    let source = Box::new(move || load_config(&args));
    let running = edgecache::node::start_reloadable(cfg, source).await?;
    let live = running.live();
    let hup_live = live.clone();
    // Installed before READY=1: systemd (or logrotate) may signal right after
    // it, and the default action of SIGHUP and SIGUSR1 ends the process.
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1());
    tokio::spawn(async move {
        let Ok(mut hup) = hup else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!(
                "SIGHUP received: reloading the configuration and certificates, reopening the access log"
            );
            hup_live.pipeline().services.access_log.reopen();
            if let Err(e) = sd_notify::reloading_while(hup_live.reload()).await {
                tracing::error!(error = %e, "configuration reload refused; the running configuration stays");
            }
        }
    });
    tokio::spawn(async move {
        let Ok(mut usr1) = usr1 else {
            return;
        };
        while usr1.recv().await.is_some() {
            tracing::info!("SIGUSR1 received: reopening the access log");
            live.pipeline().services.access_log.reopen();
        }
    });
    running
        .run(sd_notify::serving_until(shutdown_signal()))
        .await
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, fall back to Ctrl-C only.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
