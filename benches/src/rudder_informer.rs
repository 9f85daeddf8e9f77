//! The "rudder informer" variants: the whole pipeline a controller uses — `Api<K>` lister-
//! watcher, Reflector, DeltaFIFO, Indexer (namespace index built in) and one event handler —
//! built with `SharedIndexInformer`, for full pods, pods without managedFields (transform) and
//! a partial `PodView`.
//!
//! Contract: synced means the handler has received an add for every pod (so every object went
//! through reflector, queue, indexer and handler thread); watch rounds count handler updates.
//! A relist of unchanged objects reaches no handler (same resourceVersion, no resync due), so a
//! relist is complete when the indexer holds a new object under every key it held before
//! (see [`next_relist_of`]).

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
use rudder_informer::indexer::Indexer;
use rudder_informer::list_watch::ApiListWatch;
use rudder_informer::processor::HandlerFns;
use rudder_informer::{InformerOptions, SharedIndexInformer};

use crate::pods::{strip_managed_fields, PodView};
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
    stopped: bool,
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
        next_relist_of(self.informer.indexer().clone())
    }
}

/// How often [`next_relist_of`] looks at the indexer.
const RELIST_POLL: Duration = Duration::from_millis(2);

/// Resolves once every object `indexer` holds now has been replaced by another (a relist
/// applied to the cache, within [`RELIST_POLL`]).
///
/// Only addresses are kept, never the objects (that would keep the old cache alive and
/// change what is measured). A new object cannot have its predecessor's address: it is
/// allocated before the old one is released. The queue applies a relist in list order, which is
/// key order, so the last key is watched first and the whole cache checked only once it
/// changed.
pub fn next_relist_of<K: HasMetadata + Send + Sync + 'static>(
    indexer: Arc<Indexer<K>>,
) -> BoxFuture<'static, Result<()>> {
    replaced_within(indexer, ROUND_TIMEOUT)
}

/// [`next_relist_of`] with a time limit.
fn replaced_within<K: HasMetadata + Send + Sync + 'static>(
    indexer: Arc<Indexer<K>>,
    limit: Duration,
) -> BoxFuture<'static, Result<()>> {
    let addr = |o: Arc<K>| Arc::as_ptr(&o) as usize;
    let mut before: Vec<(String, usize)> =
        indexer.list_keys().into_iter().filter_map(|k| indexer.get_by_key(&k).map(|o| (k, addr(o)))).collect();
    // Key order as the server lists (namespace, then name).
    before.sort_unstable_by(|(a, _), (b, _)| a.split_once('/').cmp(&b.split_once('/')).then(a.cmp(b)));
    async move {
        let replaced = |(k, a): &(String, usize)| indexer.get_by_key(k).map(addr) != Some(*a);
        let deadline = Instant::now() + limit;
        loop {
            if before.last().is_none_or(replaced) && before.iter().all(replaced) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let left = before.iter().filter(|e| !replaced(e)).count();
                return Err(BenchError(format!(
                    "the informer did not relist within {limit:?}: {left} of {} objects not replaced",
                    before.len()
                )));
            }
            tokio::time::sleep(RELIST_POLL).await;
        }
    }
    .boxed()
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

async fn start<K>(url: &str, n: usize, mode: Mode, transform: Option<fn(K) -> K>) -> Result<RunningInformer<K>>
where
    K: Resource + HasMetadata + DeserializeOwned + Send + Sync + 'static,
{
    let uri: http::Uri = url.parse().map_err(|e| BenchError::ctx("server URL", e))?;
    let client = Client::new(Config::new(uri).without_rate_limit()).map_err(|e| BenchError::ctx("rudder client", e))?;
    let mut lw = ApiListWatch::new(Api::<K>::all(client));
    if mode.sequential_decode {
        lw = lw.sequential_decode();
    }
    let opts = InformerOptions { name: "bench-pods".into(), use_watch_list: mode.streaming_list, ..Default::default() };
    let informer = SharedIndexInformer::new(lw, opts);
    if let Some(t) = transform {
        informer.set_transform(t).map_err(|e| BenchError::ctx("transform", e))?;
    }
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
    Ok(RunningInformer { informer, progress, stopped: false })
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
        Shape::Full => parts(start::<Pod>(url, n, mode, None).await?),
        Shape::NoManagedFields => parts(start::<Pod>(url, n, mode, Some(strip_managed_fields::<Pod>)).await?),
        Shape::View => parts(start::<PodView>(url, n, mode, None).await?),
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
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn pod(ns: &str, name: &str) -> Arc<Pod> {
        let metadata = ObjectMeta { namespace: Some(ns.into()), name: Some(name.into()), ..Default::default() };
        Arc::new(Pod { metadata, ..Default::default() })
    }

    #[tokio::test]
    async fn a_relist_is_complete_when_every_cached_object_was_replaced() {
        let idx = Arc::new(Indexer::<Pod>::new());
        let keys = [("a", "x"), ("b", "y"), ("b", "z")];
        for (ns, name) in keys {
            idx.add(pod(ns, name)).unwrap();
        }
        let limit = Duration::from_millis(100);

        // The last key (what a relist applies last) replaced, an earlier one not: not complete.
        let wait = replaced_within(idx.clone(), limit);
        idx.add(pod("b", "z")).unwrap();
        idx.add(pod("a", "x")).unwrap();
        let err = wait.await.unwrap_err();
        assert!(err.to_string().contains("1 of 3 objects not replaced"), "{err}");

        let wait = replaced_within(idx.clone(), limit);
        for (ns, name) in keys {
            idx.add(pod(ns, name)).unwrap();
        }
        wait.await.unwrap();
    }
}
