//! What a work queue reports about itself, for metrics, without depending on a metrics crate
//! (client-go's `workqueue.MetricsProvider`).
//!
//! Contract: a queue built with `with_metrics(m)` calls `m` exactly where client-go's
//! `workqueue` updates its metrics:
//! - [`QueueMetrics::add`]: an `add` that was not dropped as a duplicate of an item still
//!   waiting (nor ignored after shutdown). client-go's `workqueue_adds_total` and the `+1` of
//!   `workqueue_depth`. An add of an item being processed counts (it will be handed out again).
//! - [`QueueMetrics::get`]: a worker took an item; `waited` is the time since the add that
//!   queued it (`workqueue_queue_duration_seconds`, and the `-1` of `workqueue_depth`).
//! - [`QueueMetrics::done`]: a worker finished an item it took `worked` ago
//!   (`workqueue_work_duration_seconds`).
//! - [`QueueMetrics::retry`]: an `add_after` (delayed or not) of a delaying or rate-limited
//!   queue (`workqueue_retries_total`).
//!
//! `workqueue_unfinished_work_seconds` and `workqueue_longest_running_processor_seconds` are
//! read from the queue when wanted ([`WorkQueue::unfinished_work`](super::WorkQueue::unfinished_work)),
//! not pushed. Hooks run outside the queue's lock, on the caller's thread; they must be short
//! and must not block. Items are not passed: a label per item would be unbounded.

use std::time::Duration;

/// Receives a work queue's events; see the module docs. Every method defaults to doing nothing.
pub trait QueueMetrics: Send + Sync + 'static {
    /// An item was added and was not already waiting.
    fn add(&self) {}
    /// A worker took an item that had waited `waited` since it was added.
    fn get(&self, waited: Duration) {
        let _ = waited;
    }
    /// A worker finished an item after `worked`.
    fn done(&self, worked: Duration) {
        let _ = worked;
    }
    /// An `add_after` call.
    fn retry(&self) {}
}

/// Work in progress at one moment (client-go's `updateUnfinishedWork`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnfinishedWork {
    /// Items being processed now.
    pub items: usize,
    /// The sum of how long each has been processed so far
    /// (`workqueue_unfinished_work_seconds`).
    pub total: Duration,
    /// How long the oldest has been processed (`workqueue_longest_running_processor_seconds`).
    pub longest: Duration,
}
