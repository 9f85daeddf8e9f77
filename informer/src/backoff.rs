//! Backoff between failed list/watch attempts, as client-go's reflector configures it:
//! 800 ms initial, doubling, capped at 30 s, jittered, reset after 2 minutes without failures.
//!
//! Contract: `next_delay` returns the delay to wait before the next attempt and advances the
//! backoff; a call more than `reset_after` after the previous failure starts again from the
//! initial delay. The jitter is client-go's `wait.Jitter(d, 1.0)`: uniform in `[d, 2d)`, then
//! capped at `max`. Time comes from tokio, so tests drive it with a paused clock.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// Exponential backoff with jitter and reset.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    reset_after: Duration,
    current: Duration,
    last_failure: Option<Instant>,
    jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(800), Duration::from_secs(30), Duration::from_secs(120))
    }
}

impl Backoff {
    /// A backoff starting at `initial`, doubling up to `max`, reset after `reset_after` of quiet.
    pub fn new(initial: Duration, max: Duration, reset_after: Duration) -> Self {
        Self { initial, max, reset_after, current: initial, last_failure: None, jitter: true }
    }

    /// Disables jitter (for deterministic tests).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The delay before the next attempt; advances the backoff.
    pub fn next_delay(&mut self) -> Duration {
        let now = Instant::now();
        if let Some(last) = self.last_failure {
            if now.duration_since(last) > self.reset_after {
                self.current = self.initial;
            }
        }
        self.last_failure = Some(now);
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        let d = if self.jitter { base + base.mul_f64(rand::rng().random::<f64>()) } else { base };
        d.min(self.max)
    }

    /// Forgets past failures.
    pub fn reset(&mut self) {
        self.current = self.initial;
        self.last_failure = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn doubles_caps_and_resets() {
        let mut b = Backoff::default().without_jitter();
        let got: Vec<u64> = (0..8).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(got, [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
        tokio::time::advance(Duration::from_secs(121)).await;
        assert_eq!(b.next_delay(), Duration::from_millis(800));
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_stays_in_range() {
        let mut b = Backoff::default();
        for want in [800u128, 1600, 3200] {
            let d = b.next_delay().as_millis();
            assert!(d >= want && d < 2 * want, "{d} for base {want}");
        }
        for _ in 0..10 {
            assert!(b.next_delay() <= Duration::from_secs(30));
        }
    }
}
