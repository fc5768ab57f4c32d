//! The access log: one line per request, written by a thread of its own.
//! The request path only hands a [`Record`] to a bounded queue; when the
//! queue is full the line is dropped and counted, never waited for. The
//! file is reopened on request (SIGHUP, SIGUSR1, a reload), so logrotate's
//! rename-then-signal works.

mod record;
// Also writes Cache-Status numbers (http_cache::cache_status).
pub(crate) mod text;
mod writer;

pub use record::Record;

use crate::config::{AccessLogConfig, LogFormat};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};

/// Where lines go and how they look; swapped at a reload.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The file, `None` for standard output.
    pub file: Option<std::path::PathBuf>,
    /// The line format.
    pub format: LogFormat,
}

/// The access log's queue and counters.
pub struct AccessLog {
    queue: OnceLock<SyncSender<Record>>,
    queue_lines: usize,
    shared: Arc<Shared>,
}

/// What the request path and the writer thread share.
pub(crate) struct Shared {
    pub(crate) target: Mutex<Target>,
    /// Set to have the writer reopen its file before the next line.
    pub(crate) reopen: AtomicBool,
    /// Lines written.
    pub(crate) written: AtomicU64,
    /// Lines dropped because the queue was full.
    pub(crate) dropped: AtomicU64,
    /// Lines lost to write errors (a full disk, a removed directory).
    pub(crate) failed: AtomicU64,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("target", &*self.shared.target.lock())
            .finish_non_exhaustive()
    }
}

impl AccessLog {
    /// An access log per `cfg`. Its thread starts with the first line, so a
    /// node that logs nothing runs no thread.
    pub fn start(cfg: &AccessLogConfig) -> Arc<AccessLog> {
        Arc::new(AccessLog {
            queue: OnceLock::new(),
            queue_lines: cfg.queue_lines,
            shared: Arc::new(Shared {
                target: Mutex::new(Target {
                    file: cfg.file().map(ToOwned::to_owned),
                    format: cfg.format,
                }),
                reopen: AtomicBool::new(false),
                written: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        })
    }

    /// Queue a line; never blocks.
    pub fn log(&self, record: Record) {
        let queue = self
            .queue
            .get_or_init(|| writer::spawn(self.queue_lines, self.shared.clone()));
        match queue.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Reopen the file before the next line (logrotate moved it).
    pub fn reopen(&self) {
        self.shared.reopen.store(true, Ordering::Release);
    }

    /// Apply a reloaded `[access_log]`: a new path or format takes effect
    /// with the next line (the queue size stays as started).
    pub fn configure(&self, cfg: &AccessLogConfig) {
        let target = Target {
            file: cfg.file().map(ToOwned::to_owned),
            format: cfg.format,
        };
        let mut t = self.shared.target.lock();
        if *t != target {
            *t = target;
            self.shared.reopen.store(true, Ordering::Release);
        }
    }

    /// (written, dropped for a full queue, lost to write errors).
    pub fn counts(&self) -> (u64, u64, u64) {
        let s = &self.shared;
        (
            s.written.load(Ordering::Relaxed),
            s.dropped.load(Ordering::Relaxed),
            s.failed.load(Ordering::Relaxed),
        )
    }
}
