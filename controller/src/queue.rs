//! The controller's queue: rudder-informer's [`RateLimitingQueue`] of [`ObjectKey`]s plus the
//! debounce window.
//!
//! Contract (the queue's own, relied on here): a key waits in the queue at most once; a key
//! added while a worker reconciles it is marked dirty and queued again when that worker calls
//! `done`, so it is never reconciled by two workers at once and events during a reconcile cause
//! exactly one more. On top of it:
//! - An event handler's enqueue with a zero debounce adds the key at once; with a debounce `d` it
//!   adds it `d` after the *first* event of a burst (the delaying queue keeps the earliest
//!   deadline), so every event of the burst within `d` joins one reconcile, and a steady stream
//!   of events still reconciles at least once per `d` (no starvation, unlike a trailing timer).
//! - [`default_rate_limiter`] is the per-key exponential back-off of failed reconciles
//!   (5 ms doubling, capped at [`DEFAULT_ERROR_BACKOFF_MAX`]) combined with client-go's overall
//!   token bucket (10 per second, burst 100).

use std::sync::Arc;
use std::time::Duration;

use rudder_informer::workqueue::{
    BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter, RateLimiter, RateLimitingQueue,
};

use crate::key::ObjectKey;
use crate::metrics::ControllerMetrics;

/// First retry delay of a failing key.
pub const DEFAULT_ERROR_BACKOFF_BASE: Duration = Duration::from_millis(5);
/// Longest retry delay of a failing key: 5 minutes (client-go's default is 1000 s, ~16.7 min,
/// which leaves a fixed object unreconciled for a quarter of an hour).
pub const DEFAULT_ERROR_BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The rate limiter a controller uses unless told otherwise (see the module docs).
pub fn default_rate_limiter() -> Arc<dyn RateLimiter<ObjectKey>> {
    Arc::new(MaxOfRateLimiter::new(vec![
        Arc::new(ItemExponentialFailureRateLimiter::<ObjectKey>::new(
            DEFAULT_ERROR_BACKOFF_BASE,
            DEFAULT_ERROR_BACKOFF_MAX,
        )),
        Arc::new(BucketRateLimiter::new(10.0, 100)),
    ]))
}

/// The queue and how event handlers feed it. Clones share the queue.
#[derive(Clone)]
pub(crate) struct Scheduler {
    pub(crate) queue: RateLimitingQueue<ObjectKey>,
    debounce: Duration,
    metrics: ControllerMetrics,
}

impl Scheduler {
    /// A queue paced by `limiter`; needs a Tokio runtime (the delaying queue spawns its timer).
    pub(crate) fn new(
        limiter: Arc<dyn RateLimiter<ObjectKey>>,
        debounce: Duration,
        metrics: ControllerMetrics,
    ) -> Self {
        let queue = RateLimitingQueue::new(limiter).with_metrics(metrics.queue_hooks());
        metrics.set_queue(Some(queue.clone()));
        Self { queue, debounce, metrics }
    }

    /// A predicate dropped an update.
    pub(crate) fn filtered(&self) {
        self.metrics.filtered();
    }

    /// An event affects `key`: queue it (after the debounce window, if any).
    pub(crate) fn enqueue(&self, key: ObjectKey) {
        if self.debounce.is_zero() {
            self.queue.add(key);
        } else {
            self.queue.add_after(key, self.debounce);
        }
        self.metrics.enqueued();
    }
}
