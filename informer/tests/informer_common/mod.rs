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

/// A watch stream of plain objects, before a lister-watcher wraps them in `Arc`s.
pub type PlainEvents<K> =
    futures::stream::BoxStream<'static, Result<rudder_apimachinery::watch::WatchEvent<K>, rudder_client::Error>>;

/// Implements `ListerWatcher<$k>` for a test double with inherent `plain_list` / `plain_watch`
/// methods returning plain objects: the trait's methods hand them out transformed and in `Arc`s
/// (`share_list` / `share_events`), as a real lister-watcher does.
#[allow(unused_macros)] // Each test binary uses part of this module.
macro_rules! plain_lister_watcher {
    ($ty:ty, $k:ty) => {
        impl rudder_informer::list_watch::ListerWatcher<$k> for $ty {
            fn list<'a>(
                &'a self,
                o: &'a rudder_apimachinery::options::ListOptions,
                t: &'a rudder_informer::list_watch::ItemOptions<$k>,
            ) -> futures::future::BoxFuture<
                'a,
                Result<rudder_apimachinery::list::ObjectList<std::sync::Arc<$k>>, rudder_client::Error>,
            > {
                Box::pin(async move { Ok(rudder_informer::list_watch::share_list(self.plain_list(o).await?, t)) })
            }
            fn watch<'a>(
                &'a self,
                o: &'a rudder_apimachinery::options::ListOptions,
                t: &'a rudder_informer::list_watch::ItemOptions<$k>,
            ) -> futures::future::BoxFuture<
                'a,
                Result<rudder_informer::list_watch::WatchEvents<$k>, rudder_client::Error>,
            > {
                Box::pin(async move { Ok(rudder_informer::list_watch::share_events(self.plain_watch(o).await?, t)) })
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use plain_lister_watcher;
