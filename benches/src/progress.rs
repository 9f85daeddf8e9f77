//! [`Progress`]: a counter of applied watch events that a benchmark can wait on, and
//! [`time_rounds`], the timed part of every watch variant.
//!
//! Contract: `bump` is cheap (one atomic add, one load; a wake-up only when the awaited target
//! is reached); `wait_for(t)` returns once at least `t` events were counted, and never misses a
//! wake-up (tokio's `Notify` keeps a permit).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::{BenchError, Result, WatchArgs};

/// How long one round may take before the benchmark fails instead of hanging.
pub const ROUND_TIMEOUT: Duration = Duration::from_secs(180);

/// Counts events a cache has applied.
#[derive(Debug, Default)]
pub struct Progress {
    count: AtomicU64,
    target: AtomicU64,
    notify: Notify,
}

impl Progress {
    /// One more event applied.
    pub fn bump(&self) {
        let c = self.count.fetch_add(1, Ordering::AcqRel) + 1;
        let t = self.target.load(Ordering::Acquire);
        if t != 0 && c >= t {
            self.notify.notify_one();
        }
    }

    /// Events applied so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Waits until at least `target` events were applied (or [`ROUND_TIMEOUT`]).
    pub async fn wait_for(&self, target: u64) -> Result<()> {
        self.target.store(target, Ordering::Release);
        let deadline = tokio::time::Instant::now() + ROUND_TIMEOUT;
        loop {
            if self.count() >= target {
                self.target.store(0, Ordering::Release);
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, self.notify.notified()).await.is_err() {
                return Err(BenchError(format!(
                    "timed out after {ROUND_TIMEOUT:?}: {} of {target} events applied",
                    self.count()
                )));
            }
        }
    }
}

/// The timed part of a watch variant: `args.rounds` times, trigger `args.events` MODIFIED
/// events and wait until `progress` has counted them all; returns the summed round times.
pub async fn time_rounds(progress: &Progress, args: &WatchArgs) -> Result<Duration> {
    let mut total = Duration::ZERO;
    for _ in 0..args.rounds {
        let target = progress.count() + args.events as u64;
        let start = Instant::now();
        let (triggered, applied) = tokio::join!((args.trigger)(args.events), progress.wait_for(target));
        triggered?;
        applied?;
        total += start.elapsed();
    }
    Ok(total)
}
