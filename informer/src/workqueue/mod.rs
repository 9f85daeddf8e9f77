//! Work queues for controllers, with client-go's `util/workqueue` semantics.
//!
//! - [`WorkQueue`]: a deduplicating FIFO of work items. An item queued twice is processed once;
//!   an item re-added while a worker processes it is processed again after [`WorkQueue::done`],
//!   never by two workers at once. Shutting down stops accepting items and lets workers drain.
//! - [`DelayingQueue`]: adds [`DelayingQueue::add_after`]; of two delayed adds of one item the
//!   earliest wins.
//! - [`RateLimitingQueue`]: adds [`RateLimitingQueue::add_rate_limited`], `forget` and
//!   `num_requeues`, driven by a [`RateLimiter`] ([`default_controller_rate_limiter`] unless
//!   told otherwise).
//! - [`QueueMetrics`]: hooks a queue built `with_metrics` calls where client-go's queue updates
//!   its `workqueue_*` metrics; [`WorkQueue::unfinished_work`] reads the work in progress.
//!
//! A typical worker:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use rudder_informer::workqueue::RateLimitingQueue;
//! let q = RateLimitingQueue::<String>::with_default_rate_limiter();
//! q.add("ns/a".to_string());
//! q.shut_down(); // queued items still drain
//! while let Some(key) = q.get().await {
//!     let ok = !key.is_empty(); // reconcile(key)
//!     if ok { q.forget(&key) } else { q.add_rate_limited(key.clone()) }
//!     q.done(&key);
//! }
//! # }
//! ```
//!
//! Every queue is a cheap-to-clone handle; clones share the queue. Items are generic over
//! `T: Hash + Eq + Clone + Send + Sync + 'static` (typically a `namespace/name` key).

mod delaying;
mod metrics;
mod queue;
mod rate_limiters;
mod rate_limiting;
mod token_buckets;

pub use delaying::DelayingQueue;
pub use metrics::{QueueMetrics, UnfinishedWork};
pub use queue::WorkQueue;
pub use rate_limiters::{
    default_controller_rate_limiter, BucketRateLimiter, ItemExponentialFailureRateLimiter, ItemFastSlowRateLimiter,
    MaxOfRateLimiter, RateLimiter,
};
pub use rate_limiting::RateLimitingQueue;
pub use token_buckets::TokenBuckets;

/// The bound every work item satisfies.
pub trait WorkItem: std::hash::Hash + Eq + Clone + Send + Sync + 'static {}
impl<T: std::hash::Hash + Eq + Clone + Send + Sync + 'static> WorkItem for T {}
