//! Counters a controller keeps about itself, named after controller-runtime's metrics
//! (`controller_runtime_reconcile_total{result}`, `..._reconcile_errors_total`,
//! `..._reconcile_panics_total`, `..._active_workers`, `..._max_concurrent_reconciles`).
//!
//! Contract: every counter only grows, except the gauges `active_workers` (reconciles running
//! now), `queue_depth` (keys waiting for a worker) and `queue_delayed` (keys waiting for a
//! delay: debounce, back-off, requeue-after). A reconcile is counted once it has ended, under
//! exactly one result, after its key was handed back to the queue; `enqueued` counts every key an
//! event handler handed to the queue (before deduplication), once the queue has it; `filtered`
//! counts updates a predicate dropped. A worker takes a key and counts itself active without
//! yielding in between, so on a current-thread runtime `active_workers == 0`, `queue_depth == 0`
//! and `queue_delayed == 0` together mean no reconcile is running or due.
//! [`ControllerMetrics::snapshot`] reads them all; the handle is cheap to clone and may be read
//! from any thread while the controller runs.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::metrics::histogram::Histogram;
use rudder_informer::workqueue::RateLimitingQueue;

use crate::key::ObjectKey;

/// Bucket bounds of `controller_runtime_reconcile_time_seconds` (controller-runtime's).
pub const RECONCILE_TIME_BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5,
    1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
];

#[derive(Debug)]
struct Counters {
    reconcile_time: Histogram,
    queue: Mutex<Option<RateLimitingQueue<ObjectKey>>>,
    filtered: AtomicU64,
    synced: std::sync::atomic::AtomicBool,
    success: AtomicU64,
    requeue_after: AtomicU64,
    error: AtomicU64,
    panic: AtomicU64,
    enqueued: AtomicU64,
    active: AtomicUsize,
    max_concurrent: AtomicUsize,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            reconcile_time: Histogram::new(RECONCILE_TIME_BUCKETS),
            queue: Mutex::default(),
            filtered: AtomicU64::default(),
            synced: std::sync::atomic::AtomicBool::default(),
            success: AtomicU64::default(),
            requeue_after: AtomicU64::default(),
            error: AtomicU64::default(),
            panic: AtomicU64::default(),
            enqueued: AtomicU64::default(),
            active: AtomicUsize::default(),
            max_concurrent: AtomicUsize::default(),
        }
    }
}

/// A live view of one controller's counters; see the module docs. Clones share the counters.
#[derive(Debug, Clone, Default)]
pub struct ControllerMetrics {
    counters: Arc<Counters>,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// Reconciles that returned [`Action::done`](crate::Action::done).
    pub success: u64,
    /// Reconciles that returned [`Action::requeue_after`](crate::Action::requeue_after).
    pub requeue_after: u64,
    /// Reconciles that returned an error (requeued through the rate limiter).
    pub errors: u64,
    /// Reconciles that panicked (caught, counted, requeued through the rate limiter).
    pub panics: u64,
    /// Keys handed to the queue by event handlers (before deduplication).
    pub enqueued: u64,
    /// Updates a predicate dropped.
    pub filtered: u64,
    /// Keys waiting for a worker.
    pub queue_depth: usize,
    /// Keys waiting for a delay to pass.
    pub queue_delayed: usize,
    /// Reconciles running now.
    pub active_workers: usize,
    /// The controller's `max_concurrent_reconciles`.
    pub max_concurrent_reconciles: usize,
    /// Every cache synced and the workers started (false again once the controller stopped).
    pub caches_synced: bool,
}

impl MetricsSnapshot {
    /// Every reconcile that has ended, whatever its result.
    pub fn reconciles(&self) -> u64 {
        self.success + self.requeue_after + self.errors + self.panics
    }
}

/// How one reconcile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    RequeueAfter,
    Error,
    Panic,
}

impl ControllerMetrics {
    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let c = &self.counters;
        let (queue_depth, queue_delayed) = c.queue.lock().as_ref().map_or((0, 0), |q| (q.len(), q.waiting()));
        MetricsSnapshot {
            filtered: c.filtered.load(Ordering::SeqCst),
            queue_depth,
            queue_delayed,
            success: c.success.load(Ordering::SeqCst),
            requeue_after: c.requeue_after.load(Ordering::SeqCst),
            errors: c.error.load(Ordering::SeqCst),
            panics: c.panic.load(Ordering::SeqCst),
            enqueued: c.enqueued.load(Ordering::SeqCst),
            active_workers: c.active.load(Ordering::SeqCst),
            max_concurrent_reconciles: c.max_concurrent.load(Ordering::SeqCst),
            caches_synced: c.synced.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn set_max_concurrent(&self, n: usize) {
        self.counters.max_concurrent.store(n, Ordering::SeqCst);
    }

    /// The queue whose depth to report (`None` once the controller stopped).
    pub(crate) fn set_queue(&self, queue: Option<RateLimitingQueue<ObjectKey>>) {
        *self.counters.queue.lock() = queue;
    }

    pub(crate) fn set_synced(&self, synced: bool) {
        self.counters.synced.store(synced, Ordering::SeqCst);
    }

    pub(crate) fn filtered(&self) {
        self.counters.filtered.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn enqueued(&self) {
        self.counters.enqueued.fetch_add(1, Ordering::SeqCst);
    }

    /// A reconcile starts; it counts as active until the guard is dropped (also when its
    /// future is abandoned at a shutdown deadline).
    pub(crate) fn started(&self) -> ActiveGuard {
        self.counters.active.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(self.counters.clone())
    }

    /// How long reconciles took, in seconds (the histogram shares its data with this handle).
    pub(crate) fn reconcile_time(&self) -> &Histogram {
        &self.counters.reconcile_time
    }

    pub(crate) fn ended(&self, outcome: Outcome, seconds: f64) {
        let c = &self.counters;
        c.reconcile_time.observe(seconds);
        let counter = match outcome {
            Outcome::Success => &c.success,
            Outcome::RequeueAfter => &c.requeue_after,
            Outcome::Error => &c.error,
            Outcome::Panic => &c.panic,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// Counts one running reconcile while it lives.
pub(crate) struct ActiveGuard(Arc<Counters>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}
