//! The "rudder reflector" variants: rudder's [`Reflector`] over a minimal [`ListerWatcher`]
//! written on [`rudder_client::Client`], feeding a `HashMap`-backed [`ReflectorStore`]. This is
//! where rudder stands before the typed `Api<K>` and the SharedIndexInformer land; those become
//! new variants next to these.
//!
//! Contract: the lister-watcher lists `GET /api/v1/pods` (decoding `ObjectList<K>`) and watches
//! with `Client::request_watch::<K>`; the store counts every add/update/delete in a
//! [`Progress`], signals the first `replace` (the reflector's "synced") and counts every
//! `replace` (a relist is complete when the store has swapped in the new list).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use k8s_openapi::api::core::v1::Pod;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use rudder_apimachinery::keys::key_of;
use rudder_apimachinery::list::ObjectList;
use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::ListOptions;
use rudder_client::{Client, Config, Error};
use rudder_informer::list_watch::{share_events, share_list, ItemOptions, ListerWatcher, WatchEvents};
use rudder_informer::reflector::{Reflector, ReflectorOptions, ReflectorStore, Transform};

use crate::pods::{strip_managed_fields, PodView};
use crate::progress::{next_count, time_rounds, Progress};
use crate::{BenchError, Result, Shape, SyncArgs, Synced, WatchArgs};

/// Lists and watches all pods (any namespace) through a rudder [`Client`].
pub struct PodListerWatcher {
    client: Client,
}

impl PodListerWatcher {
    /// Over `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn get(path: &str, query: Vec<(&'static str, String)>) -> Result<http::Request<Bytes>, Error> {
    let q = form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
    let uri = if q.is_empty() { path.to_string() } else { format!("{path}?{q}") };
    http::Request::get(uri)
        .header(http::header::ACCEPT, "application/json")
        .body(Bytes::new())
        .map_err(|e| Error::InvalidRequest(format!("GET {path}: {e}")))
}

impl<K> ListerWatcher<K> for PodListerWatcher
where
    K: DeserializeOwned + HasMetadata + Send + Sync + 'static,
{
    fn list<'a>(
        &'a self,
        opts: &'a ListOptions,
        items: &'a ItemOptions<K>,
    ) -> BoxFuture<'a, Result<ObjectList<Arc<K>>, Error>> {
        async move {
            let page = self.client.request::<ObjectList<K>>(get("/api/v1/pods", opts.list_query())?).await?;
            Ok(share_list(page, items))
        }
        .boxed()
    }

    fn watch<'a>(
        &'a self,
        opts: &'a ListOptions,
        items: &'a ItemOptions<K>,
    ) -> BoxFuture<'a, Result<WatchEvents<K>, Error>> {
        async move {
            let s = self.client.request_watch::<K>(get("/api/v1/pods", opts.watch_query())?).await?;
            Ok(share_events(s, items))
        }
        .boxed()
    }
}

/// A `HashMap` cache that counts applied events and signals the first replace.
pub struct MapStore<K> {
    items: Mutex<HashMap<String, Arc<K>>>,
    progress: Arc<Progress>,
    lists: Arc<Progress>,
    synced: Notify,
}

impl<K> MapStore<K> {
    fn new(progress: Arc<Progress>) -> Self {
        Self { items: Mutex::new(HashMap::new()), progress, lists: Arc::default(), synced: Notify::new() }
    }

    /// Objects cached.
    pub fn len(&self) -> usize {
        self.items.lock().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: HasMetadata + Send + Sync> ReflectorStore<K> for MapStore<K> {
    fn add(&self, obj: Arc<K>) {
        self.items.lock().insert(key_of(obj.as_ref()), obj);
        self.progress.bump();
    }
    fn update(&self, obj: Arc<K>) {
        self.items.lock().insert(key_of(obj.as_ref()), obj);
        self.progress.bump();
    }
    fn delete(&self, obj: Arc<K>) {
        self.items.lock().remove(&key_of(obj.as_ref()));
        self.progress.bump();
    }
    fn replace(&self, objs: Vec<Arc<K>>, _resource_version: &str) {
        let map: HashMap<String, Arc<K>> = objs.into_iter().map(|o| (key_of(o.as_ref()), o)).collect();
        *self.items.lock() = map;
        self.lists.bump();
        self.synced.notify_one();
    }
    fn resync(&self) {}
}

/// A running reflector: its store, and its task (cancelled when dropped).
pub struct Running<K> {
    /// The cache.
    pub store: Arc<MapStore<K>>,
    /// Applied-event counter.
    pub progress: Arc<Progress>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl<K> Drop for Running<K> {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl<K: Send + Sync + 'static> crate::Cache for Running<K> {
    fn stop(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            self.cancel.cancel();
            let _ = (&mut self.task).await;
            drop(self);
        })
    }

    fn next_relist(&self) -> BoxFuture<'static, Result<()>> {
        next_count(&self.store.lists)
    }
}

/// Starts a reflector for `K` against `url` and waits until its store holds `n` objects.
async fn start<K>(url: &str, n: usize, streaming: bool, transform: Option<Transform<K>>) -> Result<Running<K>>
where
    K: HasMetadata + DeserializeOwned + Send + Sync + 'static,
{
    let uri: http::Uri = url.parse().map_err(|e| BenchError::ctx("server URL", e))?;
    let client = Client::new(Config::new(uri).without_rate_limit()).map_err(|e| BenchError::ctx("rudder client", e))?;
    let progress = Arc::new(Progress::default());
    let store = Arc::new(MapStore::new(progress.clone()));
    let opts =
        ReflectorOptions { name: "bench-pods".into(), use_watch_list: streaming, transform, ..Default::default() };
    let reflector = Reflector::new(Arc::new(PodListerWatcher::new(client)), store.clone(), opts);
    let status = reflector.status();
    let cancel = CancellationToken::new();
    let run = reflector.run(cancel.clone());
    let task = tokio::spawn(async move {
        let _ = run.await;
    });
    let deadline = tokio::time::Instant::now() + crate::progress::ROUND_TIMEOUT;
    while store.len() < n {
        if tokio::time::timeout_at(deadline, store.synced.notified()).await.is_err() {
            return Err(BenchError(format!(
                "rudder reflector did not sync {n} pods (has {}; last error: {:?})",
                store.len(),
                status.last_error().map(|e| e.to_string())
            )));
        }
    }
    Ok(Running { store, progress, cancel, task })
}

async fn sync_shape(args: SyncArgs, streaming: bool) -> Result<Synced> {
    let start_at = Instant::now();
    let (cached, keep_alive): (usize, Box<dyn crate::Cache>) = match args.shape {
        Shape::Full => {
            let r = start::<Pod>(&args.url, args.n, streaming, None).await?;
            (r.store.len(), Box::new(r))
        }
        Shape::NoManagedFields => {
            let t: Transform<Pod> = Arc::new(strip_managed_fields::<Pod>);
            let r = start::<Pod>(&args.url, args.n, streaming, Some(t)).await?;
            (r.store.len(), Box::new(r))
        }
        Shape::View => {
            let r = start::<PodView>(&args.url, args.n, streaming, None).await?;
            (r.store.len(), Box::new(r))
        }
    };
    Ok(Synced { elapsed: start_at.elapsed(), cached, keep_alive })
}

async fn watch_shape(args: WatchArgs, streaming: bool) -> Result<Duration> {
    match args.shape {
        Shape::Full => {
            let r = start::<Pod>(&args.url, args.n_pods, streaming, None).await?;
            time_rounds(&r.progress, &args).await
        }
        Shape::NoManagedFields => {
            let t: Transform<Pod> = Arc::new(strip_managed_fields::<Pod>);
            let r = start::<Pod>(&args.url, args.n_pods, streaming, Some(t)).await?;
            time_rounds(&r.progress, &args).await
        }
        Shape::View => {
            let r = start::<PodView>(&args.url, args.n_pods, streaming, None).await?;
            time_rounds(&r.progress, &args).await
        }
    }
}

/// Sync with paged list + watch (`use_watch_list: false`).
pub fn sync_list_watch(args: SyncArgs) -> BoxFuture<'static, Result<Synced>> {
    sync_shape(args, false).boxed()
}

/// Watch throughput after a paged list + watch sync.
pub fn watch_list_watch(args: WatchArgs) -> BoxFuture<'static, Result<Duration>> {
    watch_shape(args, false).boxed()
}

/// Sync with a streaming list (`sendInitialEvents=true`), the reflector's default.
pub fn sync_streaming(args: SyncArgs) -> BoxFuture<'static, Result<Synced>> {
    sync_shape(args, true).boxed()
}

/// Watch throughput after a streaming-list sync.
pub fn watch_streaming(args: WatchArgs) -> BoxFuture<'static, Result<Duration>> {
    watch_shape(args, true).boxed()
}
