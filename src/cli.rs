//! The operator subcommands of the `edgecache` binary: `purge`, `stats`,
//! `reload` and `health` talk to a running node's admin listener over
//! HTTP/1.1; `check-config` reads a file. Exit codes: 0 done, 1 the node
//! answered with an error, 2 bad usage or config, 3 admin listener
//! unreachable or too slow, 4 token missing or refused.

mod admin_client;
mod check_config;
mod error;
mod health;
mod prom_text;
mod purge;
mod reload;
mod stats;

use error::CliError;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// An operator subcommand.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Validate a config file (and load its certificates) and exit; errors
    /// name the field at fault.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
    /// Purge cached content on a running node (purge API, needs a token).
    Purge(purge::PurgeArgs),
    /// A short summary of a running node's /metrics.
    Stats(stats::StatsArgs),
    /// Make a running node re-read its config file (needs a token for "*").
    Reload(reload::ReloadArgs),
    /// Exit 0 if a running node answers /health, non-zero otherwise.
    Health(health::HealthArgs),
}

/// Run `cmd`; `config` is the global `--config`, where the admin address
/// comes from when `--admin` is not given. Errors go to stderr.
pub fn run(cmd: &Command, config: Option<&Path>) -> ExitCode {
    let outcome = match cmd {
        Command::CheckConfig { file } => check_config::run(file),
        Command::Purge(a) => on_runtime(purge::run(a, config)),
        Command::Stats(a) => on_runtime(stats::run(a, config)),
        Command::Reload(a) => on_runtime(reload::run(a, config)),
        Command::Health(a) => on_runtime(health::run(a, config)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgecache: {e}");
            e.exit_code()
        }
    }
}

fn on_runtime(
    job: impl std::future::Future<Output = Result<(), CliError>>,
) -> Result<(), CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the runtime: {e}")))?
        .block_on(job)
}
