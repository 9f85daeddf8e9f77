//! The "rudder informer" variants: the whole pipeline a controller uses — `Api<K>` lister-
//! watcher, Reflector, DeltaFIFO, Indexer (namespace index built in) and one event handler —
//! built with `SharedIndexInformer`, for full pods, pods without managedFields
//! (`InformerOptions::strip_managed_fields`: skipped while decoding) and
//! a partial `PodView`.
//!
//! Contract: synced means the handler has received an add for every pod (so every object went
//! through reflector, queue, indexer and handler thread); watch rounds count handler updates.
//! A relist of unchanged objects reaches no handler (same resourceVersion, no resync due) and
//! leaves the cache's objects in place (the reflector keeps the cached copy of every object
//! listed at the same resourceVersion), so a relist is complete when the reflector reports a
//! complete list through the informer's reflector metrics ([`ListCounter`]); the queue then
//! applies it (same `Arc`s) within milliseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use k8s_openapi::api::core::v1::Pod;
use serde::de::DeserializeOwned;

use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::resource::Resource;
use rudder_client::api::Api;
use rudder_client::{Client, Config};
use rudder_informer::list_watch::ApiListWatch;
use rudder_informer::processor::HandlerFns;
use rudder_informer::reflector_metrics::{ListDone, ReflectorMetrics, ReflectorMetricsSink};
use rudder_informer::{InformerOptions, SharedIndexInformer};

use crate::pods::PodView;
use crate::progress::{time_rounds, Progress, ROUND_TIMEOUT};
use crate::{BenchError, Result, Shape, SyncArgs, Synced, WatchArgs};

/// How a variant lists and decodes.
#[derive(Clone, Copy)]
struct Mode {
    streaming_list: bool,
    sequential_decode: bool,
}

/// A running informer; dropped without [`crate::Cache::stop`], it shuts down in the
/// background.
pub struct RunningInformer<K: HasMetadata + Send + Sync + 'static> {
    /// The informer.
    pub informer: SharedIndexInformer<K>,
    /// Handler event counter.
    pub progress: Arc<Progress>,
    /// Complete lists the reflector reported.
    lists: Arc<ListCounter>,
    stopped: bool,
}

/// Counts the complete lists a reflector reports (initial list and relists).
#[derive(Default)]
pub struct ListCounter(tokio::sync::watch::Sender<u64>);

impl ReflectorMetrics for ListCounter {
    fn list(&self, _name: &str, done: &ListDone) {
        if done.ok {
            self.0.send_modify(|n| *n += 1);
        }
    }
}

impl ListCounter {
    /// Resolves at the next complete list after this call, or fails after `limit`.
    fn next_list(&self, limit: Duration) -> BoxFuture<'static, Result<()>> {
        let mut rx = self.0.subscribe();
        let seen = *rx.borrow_and_update();
        async move {
            tokio::time::timeout(limit, rx.wait_for(|n| *n > seen))
                .await
                .map_err(|_| BenchError(format!("the informer did not relist within {limit:?}")))?
                .map_err(|_| BenchError("the informer's reflector is gone".into()))?;
            Ok(())
        }
        .boxed()
    }
}

impl<K: HasMetadata + Send + Sync + 'static> crate::Cache for RunningInformer<K> {
    fn stop(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            self.informer.shutdown().await;
            self.stopped = true;
            // Every task is joined: this is the last reference to the cache. Its objects go
            // back to the decode threads that allocated them; wait until they are freed.
            drop(self);
            rudder_client::decode::reclaimed().await;
        })
    }

    fn next_relist(&self) -> BoxFuture<'static, Result<()>> {
        self.lists.next_list(ROUND_TIMEOUT)
    }
}

impl<K: HasMetadata + Send + Sync + 'static> Drop for RunningInformer<K> {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let inf = self.informer.clone();
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn(async move { inf.shutdown().await });
        }
    }
}

async fn start<K>(url: &str, n: usize, mode: Mode, strip_managed_fields: bool) -> Result<RunningInformer<K>>
where
    K: Resource + HasMetadata + DeserializeOwned + Send + Sync + 'static,
{
    let uri: http::Uri = url.parse().map_err(|e| BenchError::ctx("server URL", e))?;
    let client = Client::new(Config::new(uri).without_rate_limit()).map_err(|e| BenchError::ctx("rudder client", e))?;
    let mut lw = ApiListWatch::new(Api::<K>::all(client));
    if mode.sequential_decode {
        lw = lw.sequential_decode();
    }
    let lists = Arc::new(ListCounter::default());
    let metrics = ReflectorMetricsSink::default();
    metrics.set(lists.clone());
    let opts = InformerOptions {
        name: "bench-pods".into(),
        use_watch_list: mode.streaming_list,
        metrics,
        strip_managed_fields,
        ..Default::default()
    };
    let informer = SharedIndexInformer::new(lw, opts);
    let progress = Arc::new(Progress::default());
    let (p1, p2, p3) = (progress.clone(), progress.clone(), progress.clone());
    informer
        .add_event_handler(
            HandlerFns::new()
                .on_add(move |_o: &Arc<K>, _| p1.bump())
                .on_update(move |_o: &Arc<K>, _n: &Arc<K>| p2.bump())
                .on_delete(move |_d| p3.bump()),
        )
        .map_err(|e| BenchError::ctx("handler", e))?;
    informer.start();
    if let Err(e) = progress.wait_for(n as u64).await {
        return Err(BenchError(format!(
            "rudder informer did not sync: {e}; last error: {:?}",
            informer.last_error().map(|e| e.to_string())
        )));
    }
    Ok(RunningInformer { informer, progress, lists, stopped: false })
}

/// Starts the informer for `shape` and waits until it has synced `n` pods: the number cached,
/// the handler's counter, and what keeps the informer running.
async fn start_shape(
    url: &str,
    n: usize,
    mode: Mode,
    shape: Shape,
) -> Result<(usize, Arc<Progress>, Box<dyn crate::Cache>)> {
    fn parts<K: HasMetadata + Send + Sync + 'static>(
        r: RunningInformer<K>,
    ) -> (usize, Arc<Progress>, Box<dyn crate::Cache>) {
        (r.informer.indexer().len(), r.progress.clone(), Box::new(r))
    }
    Ok(match shape {
        Shape::Full => parts(start::<Pod>(url, n, mode, false).await?),
        // As a user asks for it: `strip_managed_fields` (skipped while decoding).
        Shape::NoManagedFields => parts(start::<Pod>(url, n, mode, true).await?),
        Shape::View => parts(start::<PodView>(url, n, mode, false).await?),
    })
}

async fn sync_shape(args: SyncArgs, mode: Mode) -> Result<Synced> {
    let start_at = Instant::now();
    let (cached, _, keep_alive) = start_shape(&args.url, args.n, mode, args.shape).await?;
    Ok(Synced { elapsed: start_at.elapsed(), cached, keep_alive })
}

async fn watch_shape(args: WatchArgs, mode: Mode) -> Result<Duration> {
    let (_, progress, _running) = start_shape(&args.url, args.n_pods, mode, args.shape).await?;
    time_rounds(&progress, &args).await
}

const PARALLEL: Mode = Mode { streaming_list: false, sequential_decode: false };
const SEQUENTIAL: Mode = Mode { streaming_list: false, sequential_decode: true };
const STREAMING: Mode = Mode { streaming_list: true, sequential_decode: false };

/// Full informer, list+watch, parallel streaming decode (rudder's defaults but for the list).
pub fn sync_parallel(args: SyncArgs) -> BoxFuture<'static, Result<Synced>> {
    sync_shape(args, PARALLEL).boxed()
}
/// Watch throughput of [`sync_parallel`]'s informer.
pub fn watch_parallel(args: WatchArgs) -> BoxFuture<'static, Result<Duration>> {
    watch_shape(args, PARALLEL).boxed()
}
/// Full informer, list+watch, decoding on the calling task.
pub fn sync_sequential(args: SyncArgs) -> BoxFuture<'static, Result<Synced>> {
    sync_shape(args, SEQUENTIAL).boxed()
}
/// Watch throughput of [`sync_sequential`]'s informer.
pub fn watch_sequential(args: WatchArgs) -> BoxFuture<'static, Result<Duration>> {
    watch_shape(args, SEQUENTIAL).boxed()
}
/// Full informer with a streaming list (rudder's default), parallel decode.
pub fn sync_streaming(args: SyncArgs) -> BoxFuture<'static, Result<Synced>> {
    sync_shape(args, STREAMING).boxed()
}
/// Watch throughput of [`sync_streaming`]'s informer.
pub fn watch_streaming(args: WatchArgs) -> BoxFuture<'static, Result<Duration>> {
    watch_shape(args, STREAMING).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_relist_is_the_next_complete_list() {
        let done = |ok| ListDone::new(10, Duration::from_millis(1), false, ok);
        let lists = ListCounter::default();
        lists.list("pods", &done(true)); // the initial list
        let limit = Duration::from_millis(100);
        let failed = lists.next_list(limit);
        lists.list("pods", &done(false));
        assert!(failed.await.is_err(), "a failed list is no relist");
        let next = lists.next_list(limit);
        lists.list("pods", &done(true));
        next.await.unwrap();
    }
}
