//! Rate limiters deciding how long a failed item waits before it is retried (client-go's
//! `workqueue/default_rate_limiters.go`).
//!
//! Contract:
//! - [`RateLimiter::when`] records one more attempt for the item and returns its delay;
//!   [`RateLimiter::forget`] clears the item's history; [`RateLimiter::num_requeues`] counts
//!   attempts since the last forget (0 for limiters that keep no per-item history).
//! - [`ItemExponentialFailureRateLimiter`]: `base * 2^failures`, capped at `max` (also when the
//!   product overflows). [`BucketRateLimiter`]: a token bucket shared by all items
//!   (golang.org/x/time/rate semantics: starts full, each `when` takes a token and waits for
//!   the debt). [`ItemFastSlowRateLimiter`]: `fast` for the first attempts, then `slow`.
//!   [`MaxOfRateLimiter`]: the longest delay of several limiters.
//! - Time is `tokio::time::Instant`, so a paused test clock drives the token bucket.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// Decides retry delays for work items.
pub trait RateLimiter<T>: Send + Sync {
    /// Records an attempt for `item` and returns how long it must wait.
    fn when(&self, item: &T) -> Duration;
    /// Forgets `item`'s history (call it once the item succeeded).
    fn forget(&self, item: &T);
    /// Attempts recorded for `item` since the last forget.
    fn num_requeues(&self, item: &T) -> usize;
}

/// Per-item exponential back-off: `base * 2^failures`, capped at `max`.
pub struct ItemExponentialFailureRateLimiter<T> {
    failures: Mutex<HashMap<T, u32>>,
    base: Duration,
    max: Duration,
}

impl<T> std::fmt::Debug for ItemExponentialFailureRateLimiter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemExponentialFailureRateLimiter").field("base", &self.base).field("max", &self.max).finish()
    }
}

impl<T: Hash + Eq + Clone + Send + Sync> ItemExponentialFailureRateLimiter<T> {
    /// Back-off from `base` doubling up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { failures: Mutex::new(HashMap::new()), base, max }
    }
}

impl<T: Hash + Eq + Clone + Send + Sync> Default for ItemExponentialFailureRateLimiter<T> {
    /// client-go's default for controllers: 5 ms doubling up to 1000 s.
    fn default() -> Self {
        Self::new(Duration::from_millis(5), Duration::from_secs(1000))
    }
}

impl<T: Hash + Eq + Clone + Send + Sync> RateLimiter<T> for ItemExponentialFailureRateLimiter<T> {
    fn when(&self, item: &T) -> Duration {
        let exp = {
            let mut f = self.failures.lock();
            let n = f.entry(item.clone()).or_insert(0);
            let exp = *n;
            *n = n.saturating_add(1);
            exp
        };
        let backoff = self.base.as_nanos() as f64 * 2f64.powf(f64::from(exp));
        if !backoff.is_finite() || backoff > i64::MAX as f64 {
            return self.max;
        }
        Duration::from_nanos(backoff as u64).min(self.max)
    }
    fn forget(&self, item: &T) {
        self.failures.lock().remove(item);
    }
    fn num_requeues(&self, item: &T) -> usize {
        self.failures.lock().get(item).map_or(0, |n| *n as usize)
    }
}

/// Fast delay for the first `max_fast_attempts` attempts of an item, slow delay after.
pub struct ItemFastSlowRateLimiter<T> {
    attempts: Mutex<HashMap<T, usize>>,
    fast: Duration,
    slow: Duration,
    max_fast_attempts: usize,
}

impl<T: Hash + Eq + Clone + Send + Sync> ItemFastSlowRateLimiter<T> {
    /// `fast` for attempts `1..=max_fast_attempts`, then `slow`.
    pub fn new(fast: Duration, slow: Duration, max_fast_attempts: usize) -> Self {
        Self { attempts: Mutex::new(HashMap::new()), fast, slow, max_fast_attempts }
    }
}

impl<T: Hash + Eq + Clone + Send + Sync> RateLimiter<T> for ItemFastSlowRateLimiter<T> {
    fn when(&self, item: &T) -> Duration {
        let mut a = self.attempts.lock();
        let n = a.entry(item.clone()).or_insert(0);
        *n += 1;
        if *n <= self.max_fast_attempts {
            self.fast
        } else {
            self.slow
        }
    }
    fn forget(&self, item: &T) {
        self.attempts.lock().remove(item);
    }
    fn num_requeues(&self, item: &T) -> usize {
        self.attempts.lock().get(item).copied().unwrap_or(0)
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket shared by all items: `qps` tokens per second, at most `burst` stored.
#[derive(Debug)]
pub struct BucketRateLimiter {
    qps: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
}

impl BucketRateLimiter {
    /// A full bucket of `burst` tokens refilled at `qps` per second. An infinite `qps` never
    /// delays; a zero, negative or NaN `qps` gives `Duration::MAX` once the burst is spent.
    pub fn new(qps: f64, burst: u32) -> Self {
        Self {
            qps,
            burst: f64::from(burst),
            bucket: Mutex::new(Bucket { tokens: f64::from(burst), last: Instant::now() }),
        }
    }

    fn reserve(&self) -> Duration {
        if self.qps == f64::INFINITY {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let mut b = self.bucket.lock();
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        let refills = self.qps > 0.0;
        let refill = if refills { elapsed * self.qps } else { 0.0 };
        let tokens = (b.tokens + refill).min(self.burst) - 1.0;
        if tokens < 0.0 && !refills {
            // No refill will ever pay the debt; do not record it (x/time/rate: not ok).
            return Duration::MAX;
        }
        b.tokens = tokens;
        b.last = now;
        if tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-tokens / self.qps).unwrap_or(Duration::MAX)
        }
    }
}

impl<T> RateLimiter<T> for BucketRateLimiter {
    fn when(&self, _item: &T) -> Duration {
        self.reserve()
    }
    fn forget(&self, _item: &T) {}
    fn num_requeues(&self, _item: &T) -> usize {
        0
    }
}

/// The longest delay of several limiters; `forget` forgets in all, `num_requeues` is the
/// largest count.
pub struct MaxOfRateLimiter<T> {
    limiters: Vec<Arc<dyn RateLimiter<T>>>,
}

impl<T> MaxOfRateLimiter<T> {
    /// Combines `limiters`.
    pub fn new(limiters: Vec<Arc<dyn RateLimiter<T>>>) -> Self {
        Self { limiters }
    }
}

impl<T> RateLimiter<T> for MaxOfRateLimiter<T> {
    fn when(&self, item: &T) -> Duration {
        self.limiters.iter().map(|l| l.when(item)).max().unwrap_or(Duration::ZERO)
    }
    fn forget(&self, item: &T) {
        for l in &self.limiters {
            l.forget(item);
        }
    }
    fn num_requeues(&self, item: &T) -> usize {
        self.limiters.iter().map(|l| l.num_requeues(item)).max().unwrap_or(0)
    }
}

/// client-go's `DefaultControllerRateLimiter`: the max of per-item exponential back-off
/// (5 ms .. 1000 s) and an overall token bucket (10 qps, burst 100).
pub fn default_controller_rate_limiter<T: Hash + Eq + Clone + Send + Sync + 'static>() -> MaxOfRateLimiter<T> {
    MaxOfRateLimiter::new(vec![
        Arc::new(ItemExponentialFailureRateLimiter::<T>::default()),
        Arc::new(BucketRateLimiter::new(10.0, 100)),
    ])
}
