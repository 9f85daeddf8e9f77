//! The kube-rs peer (feature `kube-rs`): a `kube::runtime::reflector` store fed by
//! `kube::runtime::watcher` for all pods, with the watcher's default config (paged lists of
//! 500, then watch) or its streaming-list mode (`sendInitialEvents`). The "no managedFields"
//! shape uses `WatchStreamExt::modify`; the view shape implements `kube::Resource` for
//! [`PodView`], the same partial struct rudder's view uses.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Config};
use serde::de::DeserializeOwned;
use std::sync::Arc;

use crate::pods::PodView;
use crate::progress::{next_count, time_rounds, Progress};
use crate::{BenchError, Result, Shape, SyncArgs, Synced, WatchArgs};

impl kube::Resource for PodView {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("Pod")
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("v1")
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("pods")
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A running kube-rs reflector: its store, and the task driving it (aborted on drop).
pub struct Running<K: kube::Resource<DynamicType = ()> + 'static> {
    /// The cache.
    pub store: Store<K>,
    /// Applied-event counter (watch events after the initial list).
    pub progress: Arc<Progress>,
    /// Completed lists (`InitDone`: the store has swapped in the listed objects).
    pub lists: Arc<Progress>,
    task: tokio::task::JoinHandle<()>,
}

impl<K: kube::Resource<DynamicType = ()> + 'static> Drop for Running<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<K: kube::Resource<DynamicType = ()> + Send + Sync + 'static> crate::Cache for Running<K> {
    fn stop(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            self.task.abort();
            let _ = (&mut self.task).await;
            drop(self);
        })
    }

    fn next_relist(&self) -> BoxFuture<'static, Result<()>> {
        next_count(&self.lists)
    }
}

async fn start<K>(url: &str, n: usize, streaming: bool, strip: bool) -> Result<Running<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + DeserializeOwned + Send + Sync + 'static,
{
    let uri: http::Uri = url.parse().map_err(|e| BenchError::ctx("server URL", e))?;
    let client = Client::try_from(Config::new(uri)).map_err(|e| BenchError::ctx("kube client", e))?;
    let api: Api<K> = Api::all(client);
    let cfg = if streaming { watcher::Config::default().streaming_lists() } else { watcher::Config::default() };
    let (store, writer) = reflector::store::<K>();
    let progress = Arc::new(Progress::default());
    let lists = Arc::new(Progress::default());
    let (counter, list_counter) = (progress.clone(), lists.clone());
    let stream = watcher::watcher(api, cfg).modify(move |o: &mut K| {
        if strip {
            o.meta_mut().managed_fields = None;
        }
    });
    let task = tokio::spawn(async move {
        let mut s = std::pin::pin!(reflector::reflector(writer, stream));
        while let Some(ev) = s.next().await {
            match ev {
                Ok(Event::Apply(_) | Event::Delete(_)) => counter.bump(),
                Ok(Event::InitDone) => list_counter.bump(),
                Ok(_) => {}
                Err(e) => eprintln!("kube-rs watcher error: {e}"),
            }
        }
    });
    let running = Running { store, progress, lists, task };
    tokio::time::timeout(crate::progress::ROUND_TIMEOUT, running.store.wait_until_ready())
        .await
        .map_err(|_| BenchError(format!("kube-rs did not sync {n} pods")))?
        .map_err(|e| BenchError::ctx("kube-rs store", e))?;
    if running.store.len() < n {
        return Err(BenchError(format!("kube-rs synced {} pods, expected {n}", running.store.len())));
    }
    Ok(running)
}

async fn sync_impl(args: SyncArgs, streaming: bool) -> Result<Synced> {
    let t = Instant::now();
    let (cached, keep_alive): (usize, Box<dyn crate::Cache>) = match args.shape {
        Shape::Full | Shape::NoManagedFields => {
            let r = start::<Pod>(&args.url, args.n, streaming, args.shape == Shape::NoManagedFields).await?;
            (r.store.len(), Box::new(r))
        }
        Shape::View => {
            let r = start::<PodView>(&args.url, args.n, streaming, false).await?;
            (r.store.len(), Box::new(r))
        }
    };
    Ok(Synced { elapsed: t.elapsed(), cached, keep_alive })
}

async fn watch_impl(args: WatchArgs, streaming: bool) -> Result<Duration> {
    match args.shape {
        Shape::Full | Shape::NoManagedFields => {
            let r = start::<Pod>(&args.url, args.n_pods, streaming, args.shape == Shape::NoManagedFields).await?;
            time_rounds(&r.progress, &args).await
        }
        Shape::View => {
            let r = start::<PodView>(&args.url, args.n_pods, streaming, false).await?;
            time_rounds(&r.progress, &args).await
        }
    }
}

/// Sync with the watcher's default config (paged list, then watch).
pub fn sync_paged(args: SyncArgs) -> BoxFuture<'static, Result<Synced>> {
    sync_impl(args, false).boxed()
}

/// Watch throughput after a default-config sync.
pub fn watch_paged(args: WatchArgs) -> BoxFuture<'static, Result<Duration>> {
    watch_impl(args, false).boxed()
}

/// Sync with `streaming_lists()` (sendInitialEvents).
pub fn sync_streaming(args: SyncArgs) -> BoxFuture<'static, Result<Synced>> {
    sync_impl(args, true).boxed()
}

/// Watch throughput after a streaming-list sync.
pub fn watch_streaming(args: WatchArgs) -> BoxFuture<'static, Result<Duration>> {
    watch_impl(args, true).boxed()
}
