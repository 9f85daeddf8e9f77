//! Waiting for a condition (client-go's `wait.PollUntilContextTimeout` with `immediate`).
//!
//! Contract of [`poll_until`]: the condition is checked at once, then every `interval` after
//! the previous check ended, until it yields a value (returned), fails (its error is returned,
//! no more checks), or `timeout` passes ([`WaitError::Timeout`]; a check still running at the
//! deadline is abandoned, so the whole wait is bounded by `timeout`). Time is `tokio::time`.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Why [`poll_until`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum WaitError<E> {
    /// The condition did not hold within the timeout.
    #[error("condition not met within {0:?}")]
    Timeout(Duration),
    /// The condition failed.
    #[error("condition failed: {0}")]
    Condition(#[source] E),
}

/// Checks `condition` until it returns `Ok(Some(value))`; see the module docs.
pub async fn poll_until<T, E, F, Fut>(
    interval: Duration,
    timeout: Duration,
    mut condition: F,
) -> Result<T, WaitError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
{
    let deadline = Instant::now().checked_add(timeout);
    let bounded = async {
        loop {
            match condition().await {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => tokio::time::sleep(interval).await,
                Err(e) => return Err(WaitError::Condition(e)),
            }
        }
    };
    match deadline {
        Some(at) => tokio::time::timeout_at(at, bounded).await.unwrap_or(Err(WaitError::Timeout(timeout))),
        None => bounded.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_value_error_or_timeout() {
        let mut n = 0;
        let v: Result<u32, WaitError<&str>> = poll_until(Duration::from_millis(10), Duration::from_secs(1), || {
            n += 1;
            let n = n;
            async move { Ok((n == 3).then_some(n)) }
        })
        .await;
        assert_eq!(v.ok(), Some(3));
        let e: Result<(), _> =
            poll_until(Duration::from_millis(10), Duration::from_secs(1), || async { Err("boom") }).await;
        assert!(matches!(e, Err(WaitError::Condition("boom"))));
        let t: Result<(), WaitError<&str>> =
            poll_until(Duration::from_millis(10), Duration::from_millis(100), || async { Ok(None) }).await;
        assert!(matches!(t, Err(WaitError::Timeout(_))));
        // A check that hangs is abandoned at the deadline.
        let h: Result<(), WaitError<&str>> =
            poll_until(Duration::from_millis(10), Duration::from_millis(100), std::future::pending).await;
        assert!(matches!(h, Err(WaitError::Timeout(_))));
    }
}
