//! The rate-limited work queue (client-go's `workqueue.TypedRateLimitingInterface`).
//!
//! Contract: `add_rate_limited(item)` adds `item` after the delay its [`RateLimiter`] gives
//! (which counts one more requeue); `forget(item)` resets the item's history (call it when the
//! item succeeded); `num_requeues(item)` reports the count. Everything else is the
//! [`DelayingQueue`]'s, reached through `Deref`.

use std::ops::Deref;
use std::sync::Arc;

use super::{default_controller_rate_limiter, DelayingQueue, QueueMetrics, RateLimiter, WorkItem};

/// A [`DelayingQueue`] with rate-limited re-adds; dereferences to it. Clones share the queue.
pub struct RateLimitingQueue<T> {
    queue: DelayingQueue<T>,
    limiter: Arc<dyn RateLimiter<T>>,
}

impl<T> Clone for RateLimitingQueue<T> {
    fn clone(&self) -> Self {
        Self { queue: self.queue.clone(), limiter: self.limiter.clone() }
    }
}

impl<T> std::fmt::Debug for RateLimitingQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitingQueue").field("queue", &self.queue).finish()
    }
}

impl<T> Deref for RateLimitingQueue<T> {
    type Target = DelayingQueue<T>;
    fn deref(&self) -> &DelayingQueue<T> {
        &self.queue
    }
}

impl<T: WorkItem> RateLimitingQueue<T> {
    /// A queue whose re-adds `limiter` paces.
    ///
    /// # Panics
    /// Outside a Tokio runtime (see [`DelayingQueue::new`]).
    pub fn new(limiter: Arc<dyn RateLimiter<T>>) -> Self {
        Self { queue: DelayingQueue::new(), limiter }
    }

    /// A queue with [`default_controller_rate_limiter`].
    ///
    /// # Panics
    /// Outside a Tokio runtime (see [`DelayingQueue::new`]).
    pub fn with_default_rate_limiter() -> Self {
        Self::new(Arc::new(default_controller_rate_limiter()))
    }

    /// Reports this queue's events to `metrics` (see [`QueueMetrics`]); builder style, before
    /// the queue is used.
    pub fn with_metrics(self, metrics: Arc<dyn QueueMetrics>) -> Self {
        Self { queue: self.queue.with_metrics(metrics), limiter: self.limiter }
    }

    /// Adds `item` once the rate limiter says it may be retried.
    pub fn add_rate_limited(&self, item: T) {
        let delay = self.limiter.when(&item);
        self.queue.add_after(item, delay);
    }

    /// Forgets `item`'s retry history.
    pub fn forget(&self, item: &T) {
        self.limiter.forget(item);
    }

    /// How many times `item` was rate-limited since it was last forgotten.
    pub fn num_requeues(&self, item: &T) -> usize {
        self.limiter.num_requeues(item)
    }
}
