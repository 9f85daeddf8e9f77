//! Token buckets by key: one rate per key that the caller may change at any time (the per-zone
//! eviction limiters of kube-controller-manager's node lifecycle controller, which client-go's
//! `flowcontrol.NewTokenBucketRateLimiter` gives one bucket at a time).
//!
//! Contract:
//! - Each key has its own bucket of at most `burst` tokens, refilled at its rate (tokens per
//!   second); a key seen for the first time starts with a full bucket at the default rate.
//! - [`TokenBuckets::try_accept`] takes a token when one is there and never waits or records
//!   debt (`TryAccept` semantics, unlike [`super::BucketRateLimiter`], which reserves).
//!   [`TokenBuckets::give_back`] returns one (an attempt that did not happen after all).
//! - [`TokenBuckets::set_qps`] changes a key's rate from now on; the tokens already earned stay
//!   (so a rate that flaps does not hand out a fresh burst). A rate of zero (or negative, or
//!   NaN) accepts nothing, stored tokens included, until the rate rises (client-go's answer to
//!   a zero rate, a limiter that always refuses).
//! - Every method takes the current time, so a test drives the buckets with instants it makes
//!   up; time going backwards refills nothing.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    qps: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Adds what accrued since `last` at the bucket's rate.
    fn refill(&mut self, now: Instant, burst: f64) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        if self.qps > 0.0 {
            self.tokens = (self.tokens + elapsed * self.qps).min(burst);
        }
        self.last = self.last.max(now);
    }
}

/// Token buckets by key, each with its own rate; see the module docs.
#[derive(Debug)]
pub struct TokenBuckets<K> {
    default_qps: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> TokenBuckets<K> {
    /// Buckets holding at most `burst` tokens (at least 1), refilled at `default_qps` per second
    /// until [`set_qps`](Self::set_qps) changes a key's rate.
    pub fn new(default_qps: f64, burst: u32) -> Self {
        Self { default_qps: sanitize(default_qps), burst: f64::from(burst.max(1)), buckets: Mutex::new(HashMap::new()) }
    }

    fn with_bucket<T>(&self, key: &K, now: Instant, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let mut buckets = self.buckets.lock();
        let b = buckets.entry(key.clone()).or_insert(Bucket { qps: self.default_qps, tokens: self.burst, last: now });
        b.refill(now, self.burst);
        f(b)
    }

    /// Sets `key`'s rate (tokens per second) from `now` on.
    pub fn set_qps(&self, key: &K, qps: f64, now: Instant) {
        self.with_bucket(key, now, |b| b.qps = sanitize(qps));
    }

    /// `key`'s rate (the default for a key never seen).
    pub fn qps(&self, key: &K) -> f64 {
        self.buckets.lock().get(key).map_or(self.default_qps, |b| b.qps)
    }

    /// Takes one of `key`'s tokens if there is one at `now`.
    pub fn try_accept(&self, key: &K, now: Instant) -> bool {
        self.with_bucket(key, now, |b| {
            let ok = b.qps > 0.0 && b.tokens >= 1.0;
            if ok {
                b.tokens -= 1.0;
            }
            ok
        })
    }

    /// Returns one token to `key`'s bucket (never beyond `burst`).
    pub fn give_back(&self, key: &K, now: Instant) {
        let burst = self.burst;
        self.with_bucket(key, now, |b| b.tokens = (b.tokens + 1.0).min(burst));
    }

    /// How long after `now` `key` has a token again: zero when it has one, `None` while its
    /// rate is zero.
    pub fn next_token(&self, key: &K, now: Instant) -> Option<Duration> {
        self.with_bucket(key, now, |b| {
            if b.qps <= 0.0 {
                None
            } else if b.tokens >= 1.0 {
                Some(Duration::ZERO)
            } else {
                Duration::try_from_secs_f64((1.0 - b.tokens) / b.qps).ok()
            }
        })
    }

    /// Forgets `key` (it starts over with a full bucket at the default rate).
    pub fn remove(&self, key: &K) {
        self.buckets.lock().remove(key);
    }
}

/// A usable rate: NaN and negatives are zero.
fn sanitize(qps: f64) -> f64 {
    if qps > 0.0 {
        qps
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn each_key_starts_full_and_refills_at_its_own_rate() {
        let t0 = Instant::now();
        let b = TokenBuckets::new(1.0, 1);
        assert!(b.try_accept(&"a", t0));
        assert!(!b.try_accept(&"a", t0));
        assert!(b.try_accept(&"b", t0), "another key has its own bucket");
        assert_eq!(b.next_token(&"a", t0), Some(secs(1.0)));
        assert!(!b.try_accept(&"a", t0 + secs(0.5)));
        assert!(b.try_accept(&"a", t0 + secs(1.0)));
        // Ten seconds idle earn one token, not ten (burst 1).
        assert!(b.try_accept(&"a", t0 + secs(11.0)));
        assert!(!b.try_accept(&"a", t0 + secs(11.0)));
    }

    #[test]
    fn accepted_count_over_time_is_bounded_by_rate_and_burst() {
        let t0 = Instant::now();
        let b = TokenBuckets::new(0.125, 1);
        // Try every 500 ms for 64 s: 1 (the burst) + 64 s * 0.125/s = 9.
        let accepted = (0..=128u32).filter(|i| b.try_accept(&"zone", t0 + Duration::from_millis(500) * *i)).count();
        assert_eq!(accepted, 9);
    }

    #[test]
    fn rate_changes_keep_earned_tokens_and_zero_stops() {
        let t0 = Instant::now();
        let b = TokenBuckets::new(1.0, 2);
        assert!(b.try_accept(&"z", t0) && b.try_accept(&"z", t0));
        b.set_qps(&"z", 0.0, t0 + secs(0.5)); // half a token earned at 1/s
        assert_eq!(b.qps(&"z"), 0.0);
        assert_eq!(b.next_token(&"z", t0 + secs(100.0)), None, "no refill at rate zero");
        assert!(!b.try_accept(&"z", t0 + secs(100.0)));
        b.set_qps(&"z", 0.01, t0 + secs(100.0));
        assert_eq!(b.next_token(&"z", t0 + secs(100.0)), Some(secs(50.0)), "the half token stays");
        assert!(b.try_accept(&"z", t0 + secs(150.0)));
        b.set_qps(&"z", f64::NAN, t0 + secs(150.0));
        assert_eq!(b.qps(&"z"), 0.0);

        // A full bucket at rate zero refuses too, and keeps its token for later.
        b.set_qps(&"full", 0.0, t0);
        assert!(!b.try_accept(&"full", t0));
        assert_eq!(b.next_token(&"full", t0), None);
        b.set_qps(&"full", 1.0, t0);
        assert!(b.try_accept(&"full", t0) && b.try_accept(&"full", t0));
        assert!(!b.try_accept(&"full", t0));
    }

    #[test]
    fn give_back_is_capped_at_burst_and_time_going_back_refills_nothing() {
        let t0 = Instant::now() + secs(10.0);
        let b = TokenBuckets::new(1.0, 1);
        b.give_back(&"k", t0);
        assert!(b.try_accept(&"k", t0));
        assert!(!b.try_accept(&"k", t0), "give_back on a full bucket adds nothing");
        assert!(!b.try_accept(&"k", t0 - secs(5.0)));
        b.give_back(&"k", t0);
        assert!(b.try_accept(&"k", t0));
        b.remove(&"k");
        assert!(b.try_accept(&"k", t0), "a removed key starts over full");
    }
}
