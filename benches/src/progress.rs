//! [`Progress`]: a counter of applied watch events that a benchmark can wait on, and
//! [`time_rounds`], the timed part of every watch variant.
//!
//! Contract: `bump` is cheap (one atomic add, one load; a wake-up only when the awaited target
//! is reached); `wait_for(t)` returns once at least `t` events were counted, and never misses a
//! wake-up (tokio's `Notify` keeps a permit).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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
    failure: parking_lot::Mutex<Option<String>>,
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

    /// The event source stopped for good (`why`): the waiting round fails at once with it
    /// instead of timing out.
    pub fn fail(&self, why: String) {
        self.failure.lock().get_or_insert(why);
        self.notify.notify_one();
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
            if let Some(why) = self.failure.lock().clone() {
                return Err(BenchError(format!("{why} ({} of {target} events applied)", self.count())));
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

/// Resolves once `lists` has counted one more than now (the count is read when this is
/// called): [`crate::Cache::next_relist`] for a cache that counts its completed lists.
pub fn next_count(lists: &Arc<Progress>) -> futures::future::BoxFuture<'static, Result<()>> {
    let lists = lists.clone();
    let target = lists.count() + 1;
    Box::pin(async move { lists.wait_for(target).await })
}

/// The timed part of a watch variant: `args.rounds` times, trigger `args.events` MODIFIED
/// events and wait until `progress` has counted them all; returns the summed round times.
pub async fn time_rounds(progress: &Progress, args: &WatchArgs) -> Result<Duration> {
    // Untimed: one event through the cache first, so the rounds never start before the watch
    // is established. Events made faster than a late watch connects fall out of the server's
    // history, and that watch then fails with 410 Expired (it happened to the bare loop, which
    // does not relist, after four rounds of one criterion run).
    let target = progress.count() + 1;
    let (triggered, applied) = tokio::join!((args.trigger)(1), progress.wait_for(target));
    triggered?;
    applied?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_source_ends_the_wait_at_once_with_its_cause() {
        let p = Arc::new(Progress::default());
        let q = p.clone();
        tokio::spawn(async move {
            q.bump();
            q.fail("the watch failed: 410".into());
        });
        let waited = tokio::time::timeout(Duration::from_secs(10), p.wait_for(5)).await;
        let err = waited.expect("wait_for returned before the timeout").expect_err("a failure");
        assert!(err.to_string().contains("the watch failed: 410 (1 of 5 events applied)"), "{err}");
    }

    #[tokio::test]
    async fn reaching_the_target_ends_the_wait() {
        let p = Arc::new(Progress::default());
        let q = p.clone();
        tokio::spawn(async move { (0..3).for_each(|_| q.bump()) });
        tokio::time::timeout(Duration::from_secs(10), p.wait_for(3)).await.expect("in time").expect("no failure");
    }
}
