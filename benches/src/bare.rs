//! The floor: a bare hyper + serde_json loop with no informer machinery. A paged list
//! (`limit=500`, following `continue`) decoded into a `HashMap<String, K>`, then one watch from
//! the list's resourceVersion, each line decoded into a `WatchEvent<K>` and applied to the map.
//! A watch that ends is resumed from the last resourceVersion seen; one answered with 410
//! Expired relists in place (each listed object replaces its old one as it is decoded, then the
//! keys the list did not contain are removed), the least memory a relist can take. No rate
//! limiter, backoff, Arc, transform hooks or other error classification: what any informer
//! costs on top of this is its machinery.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::FutureExt;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use rudder_apimachinery::keys::key_of;
use rudder_apimachinery::meta::HasMetadata;

use crate::pods::{strip_managed_fields, PodView};
use crate::progress::{next_count, time_rounds, Progress};
use crate::{BenchError, Result, Shape, SyncArgs, Synced, WatchArgs};

type Http = HyperClient<HttpConnector, Empty<Bytes>>;

#[derive(Deserialize)]
struct List<K> {
    metadata: ListMeta,
    items: Vec<K>,
}

#[derive(Deserialize)]
#[serde(tag = "type", content = "object")]
enum Event<K> {
    #[serde(rename = "ADDED")]
    Added(K),
    #[serde(rename = "MODIFIED")]
    Modified(K),
    #[serde(rename = "DELETED")]
    Deleted(K),
    #[serde(rename = "BOOKMARK")]
    Bookmark(serde::de::IgnoredAny),
    #[serde(rename = "ERROR")]
    Error(serde_json::Value),
}

type Map<K> = Arc<Mutex<HashMap<String, K>>>;

async fn get(http: &Http, url: String) -> Result<hyper::Response<hyper::body::Incoming>> {
    let uri: http::Uri = url.parse().map_err(|e| BenchError::ctx(&url, e))?;
    let resp = http.get(uri).await.map_err(|e| BenchError::ctx(&url, e))?;
    if !resp.status().is_success() {
        return Err(BenchError(format!("{url}: HTTP {}", resp.status())));
    }
    Ok(resp)
}

/// Lists everything into `map`; returns the list's resourceVersion. With `seen`, the keys
/// listed are collected there (a relist, which then removes the others).
async fn list<K: DeserializeOwned + HasMetadata>(
    http: &Http,
    base: &str,
    map: &Map<K>,
    fix: fn(K) -> K,
    mut seen: Option<&mut HashSet<String>>,
) -> Result<String> {
    let mut cont: Option<String> = None;
    let mut rv = String::new();
    loop {
        let url = match &cont {
            None => format!("{base}/api/v1/pods?limit=500"),
            Some(c) => format!("{base}/api/v1/pods?limit=500&continue={c}"),
        };
        let body = get(http, url.clone()).await?.into_body().collect().await.map_err(|e| BenchError::ctx(&url, e))?;
        let page: List<K> = serde_json::from_slice(&body.to_bytes()).map_err(|e| BenchError::ctx(&url, e))?;
        if rv.is_empty() {
            rv = page.metadata.resource_version.unwrap_or_default();
        }
        {
            let mut m = map.lock();
            for item in page.items {
                let item = fix(item);
                let key = key_of(&item);
                if let Some(seen) = seen.as_deref_mut() {
                    seen.insert(key.clone());
                }
                m.insert(key, item);
            }
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => cont = Some(c),
            None => return Ok(rv),
        }
    }
}

/// Relists in place: every listed object replaces its old one, then the keys the list did not
/// contain are removed. Returns the list's resourceVersion.
async fn relist<K: DeserializeOwned + HasMetadata>(
    http: &Http,
    base: &str,
    map: &Map<K>,
    fix: fn(K) -> K,
) -> Result<String> {
    let mut seen = HashSet::new();
    let rv = list(http, base, map, fix, Some(&mut seen)).await?;
    map.lock().retain(|k, _| seen.contains(k));
    Ok(rv)
}

/// How a watch ended without failing.
enum WatchEnd {
    /// The server ended the stream: resume from the last resourceVersion.
    Closed,
    /// 410 Expired: relist.
    Expired,
}

/// Watches from `rv`, applying every event to `map` and counting it in `progress`; `rv`
/// follows the events.
async fn watch_once<K: DeserializeOwned + HasMetadata>(
    http: &Http,
    base: &str,
    rv: &mut String,
    map: &Map<K>,
    progress: &Progress,
    fix: fn(K) -> K,
) -> Result<WatchEnd> {
    let url = format!("{base}/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion={rv}");
    let mut body = get(http, url.clone()).await?.into_body();
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BenchError::ctx(&url, e))?;
        let Ok(data) = frame.into_data() else { continue };
        buf.extend_from_slice(&data);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line = buf.split_to(pos);
            buf.advance(1);
            if line.is_empty() {
                continue;
            }
            let ev: Event<K> = serde_json::from_slice(&line).map_err(|e| BenchError::ctx(&url, e))?;
            let obj_rv = |o: &K| o.resource_version().map(str::to_string);
            match ev {
                Event::Added(o) | Event::Modified(o) => {
                    let o = fix(o);
                    *rv = obj_rv(&o).unwrap_or_else(|| rv.clone());
                    map.lock().insert(key_of(&o), o);
                }
                Event::Deleted(o) => {
                    *rv = obj_rv(&o).unwrap_or_else(|| rv.clone());
                    map.lock().remove(&key_of(&o));
                }
                Event::Bookmark(_) => continue,
                Event::Error(s) if s["code"] == 410 => return Ok(WatchEnd::Expired),
                Event::Error(s) => return Err(BenchError(format!("{url}: watch error {s}"))),
            }
            progress.bump();
        }
    }
    Ok(WatchEnd::Closed)
}

/// Watches from `rv` for good: resumes a watch that ends, relists (counted in `lists`) when
/// one is answered with 410 Expired; returns only on an error.
async fn watch_loop<K: DeserializeOwned + HasMetadata>(
    http: Http,
    base: String,
    mut rv: String,
    map: Map<K>,
    progress: Arc<Progress>,
    lists: Arc<Progress>,
    fix: fn(K) -> K,
) -> Result<()> {
    loop {
        match watch_once(&http, &base, &mut rv, &map, &progress, fix).await? {
            WatchEnd::Closed => {}
            WatchEnd::Expired => {
                rv = relist(&http, &base, &map, fix).await?;
                lists.bump();
            }
        }
    }
}

/// A synced bare cache with its watch task (aborted on drop).
pub struct Running<K> {
    /// The cache.
    pub map: Map<K>,
    /// Applied-event counter.
    pub progress: Arc<Progress>,
    /// Completed lists (the first included).
    pub lists: Arc<Progress>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl<K> Drop for Running<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<K: Send + 'static> crate::Cache for Running<K> {
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

async fn start<K>(url: &str, fix: fn(K) -> K) -> Result<Running<K>>
where
    K: DeserializeOwned + HasMetadata + Send + 'static,
{
    let http: Http = HyperClient::builder(TokioExecutor::new()).build_http();
    let map: Map<K> = Arc::new(Mutex::new(HashMap::new()));
    let rv = list(&http, url, &map, fix, None).await?;
    let progress = Arc::new(Progress::default());
    let lists = Arc::new(Progress::default());
    lists.bump();
    let (p, l) = (progress.clone(), lists.clone());
    let watch = watch_loop(http, url.to_string(), rv, map.clone(), progress.clone(), lists.clone(), fix);
    let task = tokio::spawn(async move {
        let res = watch.await;
        match &res {
            Ok(()) => p.fail("the watch ended".into()),
            Err(e) => {
                p.fail(format!("the watch failed: {e}"));
                l.fail(format!("the watch failed: {e}"));
            }
        }
        res
    });
    Ok(Running { map, progress, lists, task })
}

fn keep<K>(obj: K) -> K {
    obj
}

async fn sync_impl(args: SyncArgs) -> Result<Synced> {
    let t = Instant::now();
    let (cached, keep_alive): (usize, Box<dyn crate::Cache>) = match args.shape {
        Shape::Full => {
            let r = start::<Pod>(&args.url, keep).await?;
            {
                let len = r.map.lock().len();
                (len, Box::new(r))
            }
        }
        Shape::NoManagedFields => {
            let r = start::<Pod>(&args.url, strip_managed_fields).await?;
            {
                let len = r.map.lock().len();
                (len, Box::new(r))
            }
        }
        Shape::View => {
            let r = start::<PodView>(&args.url, keep).await?;
            {
                let len = r.map.lock().len();
                (len, Box::new(r))
            }
        }
    };
    if cached < args.n {
        return Err(BenchError(format!("bare loop listed {cached} pods, expected {}", args.n)));
    }
    Ok(Synced { elapsed: t.elapsed(), cached, keep_alive })
}

async fn watch_impl(args: WatchArgs) -> Result<Duration> {
    match args.shape {
        Shape::Full => time_rounds(&start::<Pod>(&args.url, keep).await?.progress, &args).await,
        Shape::NoManagedFields => {
            time_rounds(&start::<Pod>(&args.url, strip_managed_fields).await?.progress, &args).await
        }
        Shape::View => time_rounds(&start::<PodView>(&args.url, keep).await?.progress, &args).await,
    }
}

/// Paged list into a map (the watch starts after, untimed).
pub fn sync(args: SyncArgs) -> BoxFuture<'static, Result<Synced>> {
    sync_impl(args).boxed()
}

/// Watch throughput of the bare loop.
pub fn watch(args: WatchArgs) -> BoxFuture<'static, Result<Duration>> {
    watch_impl(args).boxed()
}
