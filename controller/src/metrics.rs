//! Counters a controller keeps about itself, named after controller-runtime's metrics
//! (`controller_runtime_reconcile_total{result}`, `..._reconcile_errors_total`,
//! `..._reconcile_panics_total`, `..._active_workers`, `..._max_concurrent_reconciles`) and
//! client-go's workqueue metrics (`workqueue_*`), fed by the queue's
//! [`QueueMetrics`] hooks.
//!
//! Contract: every counter only grows, except the gauges `active_workers` (reconciles running
//! now), `queue_depth` (keys added and not yet taken by a worker: client-go's
//! `workqueue_depth`, which counts a key re-added while it is reconciled), `queue_delayed`
//! (keys waiting for a delay: debounce, back-off, requeue-after) and the unfinished-work
//! durations. A reconcile is counted once it has ended, under exactly one result, after its key
//! was handed back to the queue; `enqueued` counts every key an event handler handed to the
//! queue (before deduplication), once the queue has it; `adds` counts what the queue accepted
//! (after deduplication: client-go's `workqueue_adds_total`); `retries` counts requeues with a
//! delay or back-off (errors, panics, `requeue_after`: what controller-runtime's
//! `workqueue_retries_total` counts; debounced event adds are not retries); `filtered` counts
//! updates a predicate dropped. A worker takes a key and counts itself active without yielding
//! in between, so on a current-thread runtime `active_workers == 0`, `queue_depth == 0` and
//! `queue_delayed == 0` together mean no reconcile is running or due.
//! [`ControllerMetrics::snapshot`] reads them all; the handle is cheap to clone and may be read
//! from any thread while the controller runs.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::metrics::histogram::Histogram;
use rudder_informer::workqueue::{QueueMetrics, RateLimitingQueue};

use crate::key::ObjectKey;

/// Bucket bounds of `controller_runtime_reconcile_time_seconds` (controller-runtime's).
pub const RECONCILE_TIME_BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5,
    1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
];

/// Bucket bounds of `workqueue_queue_duration_seconds` and `workqueue_work_duration_seconds`
/// (controller-runtime's `ExponentialBuckets(10e-9, 10, 12)`: 10 ns to 1000 s).
pub const WORKQUEUE_DURATION_BUCKETS: [f64; 12] =
    [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0];

#[derive(Debug)]
struct Counters {
    reconcile_time: Histogram,
    queue_duration: Histogram,
    work_duration: Histogram,
    adds: AtomicU64,
    depth: AtomicI64,
    retries: AtomicU64,
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
            queue_duration: Histogram::new(WORKQUEUE_DURATION_BUCKETS),
            work_duration: Histogram::new(WORKQUEUE_DURATION_BUCKETS),
            adds: AtomicU64::default(),
            depth: AtomicI64::default(),
            retries: AtomicU64::default(),
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
    /// Keys the queue accepted (after deduplication; `workqueue_adds_total`).
    pub adds: u64,
    /// Requeues with a delay or back-off (`workqueue_retries_total`).
    pub retries: u64,
    /// Updates a predicate dropped.
    pub filtered: u64,
    /// Keys added and not yet taken by a worker (`workqueue_depth`).
    pub queue_depth: usize,
    /// Keys waiting for a delay to pass.
    pub queue_delayed: usize,
    /// Reconciles running now.
    pub active_workers: usize,
    /// How long the running reconciles have run, summed (`workqueue_unfinished_work_seconds`).
    pub unfinished_work: Duration,
    /// How long the oldest running reconcile has run
    /// (`workqueue_longest_running_processor_seconds`).
    pub longest_running: Duration,
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
        let (queue_delayed, work) =
            c.queue.lock().as_ref().map_or((0, Default::default()), |q| (q.waiting(), q.unfinished_work()));
        MetricsSnapshot {
            filtered: c.filtered.load(Ordering::SeqCst),
            adds: c.adds.load(Ordering::SeqCst),
            retries: c.retries.load(Ordering::SeqCst),
            queue_depth: usize::try_from(c.depth.load(Ordering::SeqCst)).unwrap_or(0),
            unfinished_work: work.total,
            longest_running: work.longest,
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
    /// The depth starts again from zero: a new queue is empty, and a stopped controller's
    /// queue hands nothing more out.
    pub(crate) fn set_queue(&self, queue: Option<RateLimitingQueue<ObjectKey>>) {
        let mut q = self.counters.queue.lock();
        *q = queue;
        self.counters.depth.store(0, Ordering::SeqCst);
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

    /// How long keys waited in the queue, in seconds.
    pub(crate) fn queue_duration(&self) -> &Histogram {
        &self.counters.queue_duration
    }

    /// How long workers held keys, in seconds.
    pub(crate) fn work_duration(&self) -> &Histogram {
        &self.counters.work_duration
    }

    /// A key was requeued with a delay or back-off.
    pub(crate) fn retried(&self) {
        self.counters.retries.fetch_add(1, Ordering::SeqCst);
    }

    /// The hooks the controller's queue reports to.
    pub(crate) fn queue_hooks(&self) -> Arc<dyn QueueMetrics> {
        Arc::new(QueueHooks(self.counters.clone()))
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

/// The queue's hooks, feeding the counters. `retry` is left out: the controller counts its own
/// requeues (the queue would also count debounced event adds, which are not retries).
struct QueueHooks(Arc<Counters>);

impl QueueMetrics for QueueHooks {
    fn add(&self) {
        self.0.adds.fetch_add(1, Ordering::SeqCst);
        self.0.depth.fetch_add(1, Ordering::SeqCst);
    }
    fn get(&self, waited: Duration) {
        self.0.depth.fetch_sub(1, Ordering::SeqCst);
        self.0.queue_duration.observe(waited.as_secs_f64());
    }
    fn done(&self, worked: Duration) {
        self.0.work_duration.observe(worked.as_secs_f64());
    }
}
