//! Helpers shared by the informer integration tests.
// Each test binary includes this module and uses only part of it.
#![allow(dead_code)]

use std::time::Duration;

/// Polls `f` every `every`, at most `attempts` times, until it holds; panics naming `what`.
pub async fn poll_until(what: &str, attempts: u32, every: Duration, mut f: impl FnMut() -> bool) {
    for _ in 0..attempts {
        if f() {
            return;
        }
        tokio::time::sleep(every).await;
    }
    panic!("timed out waiting for {what}");
}

/// [`poll_until`] every 10 ms for up to 10 s.
pub async fn eventually(what: &str, f: impl FnMut() -> bool) {
    poll_until(what, 1000, Duration::from_millis(10), f).await
}
