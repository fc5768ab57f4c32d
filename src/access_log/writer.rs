//! The access log's writer thread: takes lines off the queue, renders them,
//! and appends them to the file (or standard output), flushing whenever the
//! queue runs dry.

use super::{Record, Shared, Target};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::time::Duration;

enum Sink {
    Stdout(std::io::Stdout),
    File(BufWriter<File>),
    /// The file could not be opened: lines are counted as failed until a
    /// reopen succeeds.
    Broken,
}

impl Sink {
    fn open(target: &Target) -> Sink {
        let Some(path) = &target.file else {
            return Sink::Stdout(std::io::stdout());
        };
        match OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => Sink::File(BufWriter::with_capacity(64 << 10, f)),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot open the access log; lines are dropped until it can be reopened");
                Sink::Broken
            }
        }
    }

    fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout(s) => s.lock().write_all(line),
            Sink::File(f) => f.write_all(line),
            Sink::Broken => Err(std::io::Error::other("access log not open")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(s) => s.lock().flush(),
            Sink::File(f) => f.flush(),
            Sink::Broken => Ok(()),
        }
    }
}

/// Start the thread; returns the queue's sending end.
pub(super) fn spawn(queue_lines: usize, shared: Arc<Shared>) -> SyncSender<Record> {
    let (tx, rx) = std::sync::mpsc::sync_channel(queue_lines);
    let spawned = std::thread::Builder::new()
        .name("edgecache-access-log".into())
        .spawn(move || run(rx, &shared));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the access log thread; lines are dropped");
    }
    tx
}

fn run(rx: Receiver<Record>, shared: &Shared) {
    let mut w = Writer {
        target: shared.target.lock().clone(),
        sink: Sink::Broken,
        line: String::with_capacity(512),
        second: (0, String::new()),
        warned: false,
    };
    w.sink = Sink::open(&w.target);
    loop {
        if shared.reopen.swap(false, Ordering::AcqRel) {
            let _ = w.sink.flush();
            w.target = shared.target.lock().clone();
            w.sink = Sink::open(&w.target);
            w.warned = false;
        }
        // Take what is queued, then flush once: one write per batch, not
        // per line. The thread polls rather than blocking on the queue, so
        // a request never pays for waking it.
        let mut wrote = false;
        loop {
            match rx.try_recv() {
                Ok(r) => {
                    w.write(&r, shared);
                    wrote = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    let _ = w.sink.flush();
                    return;
                }
            }
        }
        if wrote && w.sink.flush().is_err() {
            shared.failed.fetch_add(1, Ordering::Relaxed);
        }
        std::thread::sleep(POLL);
    }
}

/// How often the writer takes the queued lines: the longest a line waits.
const POLL: Duration = Duration::from_millis(50);

struct Writer {
    target: Target,
    sink: Sink,
    line: String,
    /// The time's text up to the second, reused within a second.
    second: (u64, String),
    warned: bool,
}

impl Writer {
    fn write(&mut self, record: &Record, shared: &Shared) {
        self.line.clear();
        record.render_with(self.target.format, &mut self.line, &mut self.second);
        match self.sink.write(self.line.as_bytes()) {
            Ok(()) => {
                shared.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                if !self.warned {
                    tracing::error!(error = %e, "access log write failed; counting lost lines in edgecache_access_log_failed_total");
                    self.warned = true;
                }
            }
        }
    }
}
