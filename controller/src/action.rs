//! [`Action`]: what a successful reconcile asks for next.
//!
//! Contract: [`Action::done`] forgets the key's failure history and schedules nothing (the next
//! event will); [`Action::requeue_after`] forgets the history too and reconciles the key again
//! after the delay (earlier if an event arrives: the earliest scheduled time wins). An error
//! instead of an `Action` requeues through the rate limiter.
//!
//! There is no plain `requeue()`: `requeue_after(Duration::ZERO)` reconciles again at once,
//! and controller-runtime's `Requeue: true` (a requeue through the rate limiter, deprecated
//! there in favour of `RequeueAfter`) is what returning an error does. Nor is there an
//! error-policy hook: a reconcile that wants another policy for some error maps it to an
//! `Action` itself.

use std::time::Duration;

/// What to do after a successful reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Action {
    requeue_after: Option<Duration>,
}

impl Action {
    /// Nothing more until the next event.
    pub fn done() -> Self {
        Self { requeue_after: None }
    }

    /// Reconcile again after `delay` (periodic checks, waiting on something external).
    pub fn requeue_after(delay: Duration) -> Self {
        Self { requeue_after: Some(delay) }
    }

    /// The requested delay, if any.
    pub fn requeue_delay(&self) -> Option<Duration> {
        self.requeue_after
    }
}
