//! Retrying writes that lost an optimistic-concurrency race (client-go's `util/retry`).
//!
//! Contract:
//! - [`retry_on_conflict`] runs the closure, and while it fails with 409 Conflict runs it again
//!   after the next back-off step, at most [`Backoff::steps`] attempts in all; it returns the
//!   first success, the first other error, or the last conflict once the steps are used up
//!   (client-go's `RetryOnConflict`). [`on_error`] does the same for any retriable test.
//! - The closure must re-read the object each time (from the API server or a fresh cache
//!   read), or it will conflict again.
//! - [`Backoff`] is client-go's `wait.Backoff`: delay `duration`, multiplied by `factor` after
//!   each step, up to `cap` if set, each delay stretched by a random fraction up to `jitter`.
//!   [`Backoff::DEFAULT_RETRY`] (5 attempts, 10 ms apart, jitter 0.1) is `retry.DefaultRetry`,
//!   the back-off client-go recommends for conflicts; [`Backoff::DEFAULT_BACKOFF`] (4 attempts
//!   from 10 ms, factor 5) is `retry.DefaultBackoff`. Waiting uses `tokio::time`.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

/// Exponential back-off with jitter (client-go's `wait.Backoff`); see the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Attempts in all (0 counts as 1).
    pub steps: u32,
    /// First delay.
    pub duration: Duration,
    /// Multiplier applied after each step (1.0: constant).
    pub factor: f64,
    /// Each delay is stretched by a random fraction in `[0, jitter)` of itself.
    pub jitter: f64,
    /// Longest delay, if any.
    pub cap: Option<Duration>,
}

impl Backoff {
    /// client-go's `retry.DefaultRetry`: 5 attempts, 10 ms apart, jitter 0.1.
    pub const DEFAULT_RETRY: Backoff =
        Backoff { steps: 5, duration: Duration::from_millis(10), factor: 1.0, jitter: 0.1, cap: None };
    /// client-go's `retry.DefaultBackoff`: 4 attempts, from 10 ms, factor 5, jitter 0.1.
    pub const DEFAULT_BACKOFF: Backoff =
        Backoff { steps: 4, duration: Duration::from_millis(10), factor: 5.0, jitter: 0.1, cap: None };

    /// The delays between attempts (one fewer than the attempts).
    fn delays(self) -> impl Iterator<Item = Duration> {
        let mut next = self.duration;
        (1..self.steps.max(1)).map(move |_| {
            let d = next;
            let grown = d.as_secs_f64() * self.factor;
            next = Duration::try_from_secs_f64(grown).unwrap_or(Duration::MAX);
            if let Some(cap) = self.cap {
                next = next.min(cap);
            }
            if self.jitter > 0.0 && self.jitter.is_finite() {
                let stretch = rand::rng().random_range(0.0..self.jitter);
                Duration::try_from_secs_f64(d.as_secs_f64() * (1.0 + stretch)).unwrap_or(d)
            } else {
                d
            }
        })
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::DEFAULT_RETRY
    }
}

/// Runs `f` until it succeeds or fails with something other than 409 Conflict; see the module
/// docs.
pub async fn retry_on_conflict<T, F, Fut>(backoff: Backoff, f: F) -> Result<T, rudder_client::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, rudder_client::Error>>,
{
    on_error(backoff, rudder_client::Error::is_conflict, f).await
}

/// Runs `f` until it succeeds or fails with an error `retriable` rejects, at most
/// `backoff.steps` times; see the module docs.
pub async fn on_error<T, E, F, Fut>(backoff: Backoff, retriable: impl Fn(&E) -> bool, mut f: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delays = backoff.delays();
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if !retriable(&e) => return Err(e),
            Err(e) => match delays.next() {
                Some(d) => tokio::time::sleep(d).await,
                None => return Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_client_go() {
        let no_jitter = Backoff { jitter: 0.0, ..Backoff::DEFAULT_BACKOFF };
        let ms: Vec<u128> = no_jitter.delays().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![10, 50, 250]);
        let capped = Backoff { cap: Some(Duration::from_millis(40)), ..no_jitter };
        assert_eq!(capped.delays().map(|d| d.as_millis()).collect::<Vec<_>>(), vec![10, 40, 40]);
        let retry: Vec<Duration> = Backoff::DEFAULT_RETRY.delays().collect();
        assert_eq!(retry.len(), 4, "5 attempts, 4 waits");
        assert!(retry.iter().all(|d| *d >= Duration::from_millis(10) && *d < Duration::from_millis(11)));
    }

    #[tokio::test(start_paused = true)]
    async fn on_error_stops_at_success_other_error_or_last_step() {
        let mut calls = 0;
        let r: Result<u32, &str> = on_error(
            Backoff::DEFAULT_RETRY,
            |e| *e == "conflict",
            || {
                calls += 1;
                let n = calls;
                async move {
                    if n < 3 {
                        Err("conflict")
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(r, Ok(3));
        let mut calls = 0;
        let r: Result<(), &str> = on_error(
            Backoff::DEFAULT_RETRY,
            |e| *e == "conflict",
            || {
                calls += 1;
                async { Err("conflict") }
            },
        )
        .await;
        assert_eq!((r, calls), (Err("conflict"), 5));
        let mut calls = 0;
        let r: Result<(), &str> = on_error(
            Backoff::DEFAULT_RETRY,
            |e| *e == "conflict",
            || {
                calls += 1;
                async { Err("forbidden") }
            },
        )
        .await;
        assert_eq!((r, calls), (Err("forbidden"), 1));
    }
}
