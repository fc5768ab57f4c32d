//! The pipeline in force, swapped whole at a config reload. Each request takes
//! the pipeline current when it starts and keeps it to the end, so requests in
//! flight finish with the config they started with; the next request sees
//! the new one. What must outlive a config (store, purge state,
//! certificates, tunnels, counters) is the process's
//! [`Services`](crate::services::Services), handed from pipeline to pipeline.

pub mod restart_only;

pub use restart_only::Report;

use crate::config::{Config, ConfigError};
use crate::proxy::Pipeline;
use arc_swap::ArcSwap;
use std::sync::Arc;

/// Where a reload reads its config from: the file and the command-line
/// overrides, validated.
pub type ConfigSource = Box<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// The pipeline in force and how to replace it.
pub struct Live {
    pipeline: ArcSwap<Pipeline>,
    source: ConfigSource,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    /// Runs when a new pipeline takes over (health checks for its pools).
    on_swap: Box<dyn Fn(&Arc<Pipeline>) + Send + Sync>,
}

/// Why a reload was refused; the running config stays.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config failed to load or validate (the message names the field).
    #[error("{0}")]
    Config(#[from] ConfigError),
}

impl Live {
    /// `pipeline` in force; reloads read `source`; `on_swap` runs for every
    /// pipeline that takes over (and not for `pipeline` itself).
    pub fn new(
        pipeline: Arc<Pipeline>,
        source: ConfigSource,
        on_swap: Box<dyn Fn(&Arc<Pipeline>) + Send + Sync>,
    ) -> Arc<Live> {
        Arc::new(Live {
            pipeline: ArcSwap::new(pipeline),
            source,
            reloading: tokio::sync::Mutex::new(()),
            on_swap,
        })
    }

    /// The pipeline in force now.
    pub fn pipeline(&self) -> Arc<Pipeline> {
        self.pipeline.load_full()
    }

    /// Re-read the config and swap in a pipeline built from it. Fields that
    /// cannot change while running keep their running values and are
    /// listed in the report; certificates are reloaded from their files.
    pub async fn reload(&self) -> Result<Report, ReloadError> {
        let _one = self.reloading.lock().await;
        let old = self.pipeline();
        let mut cfg = (self.source)()?;
        let restart_needed = restart_only::keep_restart_only(&old.cfg, &mut cfg);
        let pipeline = Arc::new(Pipeline::new(cfg, old.services.clone())?);
        let certificates = pipeline
            .services
            .reload_certificates()
            .into_iter()
            .filter_map(|(listener, r)| r.err().map(|e| format!("{listener}: {e}")))
            .collect();
        self.pipeline.store(pipeline.clone());
        (self.on_swap)(&pipeline);
        let report = Report {
            restart_needed,
            certificate_errors: certificates,
        };
        tracing::info!(
            restart_needed = ?report.restart_needed,
            "configuration reloaded"
        );
        Ok(report)
    }
}
