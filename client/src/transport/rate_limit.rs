//! Client-side rate limiting: a token bucket, as client-go's `flowcontrol` token-bucket limiter.
//!
//! Contract:
//! - The bucket holds at most `burst` tokens and refills at `qps` tokens per second; it starts
//!   full. Each request takes one token, waiting (asynchronously, on tokio's clock) until one is
//!   available.
//! - Waiters are served in the order they arrived: a caller reserves the next token at once
//!   (the bucket may go negative) and sleeps until that token exists, so a later caller never
//!   overtakes an earlier one. A caller dropped while waiting gives its token back.
//! - `qps <= 0` (or not finite) disables limiting; a `burst` of 0 counts as 1.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// A token-bucket rate limiter shared by all requests of one transport.
///
/// ```
/// # async fn demo() {
/// use rudder_client::transport::rate_limit::RateLimiter;
/// let limiter = RateLimiter::new(5.0, 10); // client-go's defaults
/// for _ in 0..10 {
///     limiter.acquire().await; // the first 10 pass at once, then one every 200 ms
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    qps: f64,
    burst: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Available tokens; negative when callers hold reservations for future tokens.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl RateLimiter {
    /// A limiter allowing `qps` requests per second with bursts of `burst`.
    pub fn new(qps: f32, burst: u32) -> Self {
        let qps = if qps.is_finite() && qps > 0.0 { f64::from(qps) } else { 0.0 };
        let burst = f64::from(burst.max(1));
        Self { qps, burst, state: Mutex::new(State { tokens: burst, at: Instant::now() }) }
    }

    /// The limiter for a config's `qps`/`burst`, or `None` when limiting is disabled.
    pub fn from_config(qps: Option<f32>, burst: u32) -> Option<Self> {
        match qps {
            Some(q) if q.is_finite() && q > 0.0 => Some(Self::new(q, burst)),
            _ => None,
        }
    }

    /// Waits until the request may go.
    pub async fn acquire(&self) {
        if self.qps <= 0.0 {
            return;
        }
        let wait = {
            let mut s = self.state.lock();
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(s.at).as_secs_f64();
            s.tokens = (s.tokens + elapsed * self.qps).min(self.burst);
            s.at = now;
            s.tokens -= 1.0;
            if s.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-s.tokens / self.qps)
            }
        };
        if wait.is_zero() {
            return;
        }
        let mut refund = Refund { limiter: self, armed: true };
        tokio::time::sleep(wait).await;
        refund.armed = false;
    }

    /// Takes a token if one is available now, without waiting.
    pub fn try_acquire(&self) -> bool {
        if self.qps <= 0.0 {
            return true;
        }
        let mut s = self.state.lock();
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(s.at).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.qps).min(self.burst);
        s.at = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Gives a reserved token back when a waiting `acquire` is cancelled.
struct Refund<'a> {
    limiter: &'a RateLimiter,
    armed: bool,
}

impl Drop for Refund<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut s = self.limiter.state.lock();
            s.tokens = (s.tokens + 1.0).min(self.limiter.burst);
        }
    }
}
