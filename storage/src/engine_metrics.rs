//! foyer's own counters, captured through its metrics-registry hook so the
//! store can report what foyer does silently: disk writes it dropped because
//! its queue or buffers were full, and writes it skipped.

use mixtrics::metrics::{
    BoxedCounter, BoxedCounterVec, BoxedGauge, BoxedGaugeVec, BoxedHistogram, BoxedHistogramVec,
    CounterOps, CounterVecOps, GaugeOps, GaugeVecOps, HistogramOps, HistogramVecOps, RegistryOps,
};
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The foyer counters edgecache reports.
#[derive(Debug, Default)]
pub(crate) struct EngineCounters {
    /// Disk writes dropped: the submit queue was over its size threshold.
    pub queue_overflow: AtomicU64,
    /// Disk writes dropped: the flusher's buffer had no room.
    pub buffer_overflow: AtomicU64,
    /// Entries submitted for a disk write.
    pub enqueued: AtomicU64,
}

impl EngineCounters {
    /// Disk writes foyer dropped.
    pub fn dropped(&self) -> u64 {
        self.queue_overflow.load(Relaxed) + self.buffer_overflow.load(Relaxed)
    }
}

/// A registry handed to foyer; every counter it asks for is a no-op except
/// the ones mapped onto [`EngineCounters`].
#[derive(Debug, Clone)]
pub(crate) struct Registry(pub Arc<EngineCounters>);

#[derive(Debug)]
struct Noop;

#[derive(Debug)]
struct Counter(Arc<EngineCounters>, Which);

#[derive(Debug, Clone, Copy)]
enum Which {
    QueueOverflow,
    BufferOverflow,
    Enqueue,
}

#[derive(Debug)]
struct CounterVec(Arc<EngineCounters>, Cow<'static, str>);

impl CounterOps for Counter {
    fn increase(&self, val: u64) {
        let c = match self.1 {
            Which::QueueOverflow => &self.0.queue_overflow,
            Which::BufferOverflow => &self.0.buffer_overflow,
            Which::Enqueue => &self.0.enqueued,
        };
        c.fetch_add(val, Relaxed);
    }
}

impl CounterOps for Noop {
    fn increase(&self, _: u64) {}
}

impl CounterVecOps for CounterVec {
    fn counter(&self, labels: &[Cow<'static, str>]) -> BoxedCounter {
        // foyer labels its counters [cache name, operation].
        let op = labels.get(1).map(|l| l.as_ref()).unwrap_or("");
        let which = match (self.1.as_ref(), op) {
            ("foyer_storage_inner_op_total", "channel_overflow") => Which::QueueOverflow,
            ("foyer_storage_inner_op_total", "buffer_overflow") => Which::BufferOverflow,
            ("foyer_storage_op_total", "enqueue") => Which::Enqueue,
            _ => return Box::new(Noop),
        };
        Box::new(Counter(self.0.clone(), which))
    }
}

impl GaugeOps for Noop {
    fn increase(&self, _: u64) {}
    fn decrease(&self, _: u64) {}
    fn absolute(&self, _: u64) {}
}

impl GaugeVecOps for Noop {
    fn gauge(&self, _: &[Cow<'static, str>]) -> BoxedGauge {
        Box::new(Noop)
    }
}

impl HistogramOps for Noop {
    fn record(&self, _: f64) {}
}

impl HistogramVecOps for Noop {
    fn histogram(&self, _: &[Cow<'static, str>]) -> BoxedHistogram {
        Box::new(Noop)
    }
}

impl RegistryOps for Registry {
    fn register_counter_vec(
        &self,
        name: Cow<'static, str>,
        _desc: Cow<'static, str>,
        _labels: &'static [&'static str],
    ) -> BoxedCounterVec {
        Box::new(CounterVec(self.0.clone(), name))
    }

    fn register_gauge_vec(
        &self,
        _: Cow<'static, str>,
        _: Cow<'static, str>,
        _: &'static [&'static str],
    ) -> BoxedGaugeVec {
        Box::new(Noop)
    }

    fn register_histogram_vec(
        &self,
        _: Cow<'static, str>,
        _: Cow<'static, str>,
        _: &'static [&'static str],
    ) -> BoxedHistogramVec {
        Box::new(Noop)
    }

    fn register_histogram_vec_with_buckets(
        &self,
        _: Cow<'static, str>,
        _: Cow<'static, str>,
        _: &'static [&'static str],
        _: Vec<f64>,
    ) -> BoxedHistogramVec {
        Box::new(Noop)
    }
}
