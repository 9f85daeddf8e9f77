//! `ListerWatcher`: how a reflector lists and watches one collection.
//!
//! Contract: [`ListerWatcher::list`] returns one page (honouring `limit`/`continue` in the
//! options) with the list's resourceVersion, every item transformed (when a transform is given)
//! and in an `Arc`: what the reflector caches. [`ListerWatcher::watch`] returns a stream of
//! events, objects likewise, that ends when the server ends the watch, with ERROR events
//! surfaced as `Err` items. Both take the reflector's [`ItemOptions`]: the transform, and the
//! cache's copy to hand out instead of a decoded object that is unchanged (same uid and
//! resourceVersion), so a relist never holds two copies of the cache. [`ApiListWatch`] (typed
//! kinds, views, dynamic objects and metadata-only access, over an `Api`) does both on the
//! decode thread that decoded the object, which also drops the unneeded copy; other
//! implementations can use [`share_list`] and [`share_events`].
//! Selectors and namespace are fixed when the lister-watcher is built.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde::de::DeserializeOwned;

use rudder_apimachinery::list::ObjectList;
use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::ListOptions;
use rudder_apimachinery::watch::WatchEvent;
use rudder_client::api::{Api, Decoding};
use rudder_client::decode::DecodePool;
use rudder_client::Error;

/// A function run on every object before it is cached (for example to drop `managedFields`):
/// the informer's transform hook, run by the lister-watcher where objects are decoded.
pub type Transform<K> = rudder_client::decode::ItemTransform<K>;

/// The cache's copy of an object the cache holds unchanged (same uid and resourceVersion), to
/// hand out instead of the newly decoded one; `None` for anything else.
pub type Cached<K> = Arc<dyn Fn(&K) -> Option<Arc<K>> + Send + Sync>;

/// What a [`ListerWatcher`] does with every object it decodes, in this order: `transform` it,
/// then hand out `cached`'s answer when there is one (dropping the new object), else the object
/// in a new `Arc`. The reflector fills both: its options' transform and its store's
/// [`cached`](crate::reflector::ReflectorStore::cached).
pub struct ItemOptions<K> {
    /// Run on every object before it is cached.
    pub transform: Option<Transform<K>>,
    /// The copy to keep instead of an unchanged object.
    pub cached: Option<Cached<K>>,
    /// Drop every object's `metadata.managedFields` (first of all, before the transform);
    /// [`ApiListWatch`] skips them unparsed while decoding JSON.
    pub strip_managed_fields: bool,
}

impl<K> Default for ItemOptions<K> {
    fn default() -> Self {
        Self { transform: None, cached: None, strip_managed_fields: false }
    }
}

impl<K> Clone for ItemOptions<K> {
    fn clone(&self) -> Self {
        Self {
            transform: self.transform.clone(),
            cached: self.cached.clone(),
            strip_managed_fields: self.strip_managed_fields,
        }
    }
}

impl<K> std::fmt::Debug for ItemOptions<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemOptions")
            .field("transform", &self.transform.is_some())
            .field("cached", &self.cached.is_some())
            .field("strip_managed_fields", &self.strip_managed_fields)
            .finish()
    }
}

impl<K: HasMetadata> ItemOptions<K> {
    /// One object through the steps, on this thread (for lister-watchers that decode
    /// elsewhere; see [`share_list`]).
    fn finish(&self, mut obj: K, arcs: &mut ArcMaker<K>) -> Arc<K> {
        if self.strip_managed_fields {
            obj.metadata_mut().managed_fields = None;
        }
        let obj = match &self.transform {
            Some(t) => t(obj),
            None => obj,
        };
        match self.cached.as_ref().and_then(|c| c(&obj)) {
            Some(known) => known,
            None => arcs.wrap(obj),
        }
    }
}

/// A stream of watch events whose objects are in `Arc`s (what [`ListerWatcher::watch`] gives the
/// reflector).
pub type WatchEvents<K> = BoxStream<'static, Result<WatchEvent<Arc<K>>, Error>>;

/// Lists and watches one collection of `K`, handing out objects in `Arc`s.
pub trait ListerWatcher<K>: Send + Sync + 'static {
    /// Lists one page (when `opts.limit` is set) with every item through `items` (transformed,
    /// then the cache's copy or a new `Arc`).
    fn list<'a>(
        &'a self,
        opts: &'a ListOptions,
        items: &'a ItemOptions<K>,
    ) -> BoxFuture<'a, Result<ObjectList<Arc<K>>, Error>>;

    /// Starts a watch whose events' objects (of ADDED, MODIFIED and DELETED events) go through
    /// `items` like listed ones.
    fn watch<'a>(
        &'a self,
        opts: &'a ListOptions,
        items: &'a ItemOptions<K>,
    ) -> BoxFuture<'a, Result<WatchEvents<K>, Error>>;
}

/// A page as [`ListerWatcher::list`] hands it out: every item through `items` on this thread.
/// For implementations that decode elsewhere.
pub fn share_list<K: HasMetadata>(page: ObjectList<K>, items: &ItemOptions<K>) -> ObjectList<Arc<K>> {
    let mut arcs = ArcMaker::new();
    let shared = page.items.into_iter().map(|o| items.finish(o, &mut arcs)).collect();
    ObjectList { metadata: page.metadata, items: shared }
}

/// A watch stream as [`ListerWatcher::watch`] hands it out: each event's object through
/// `items` as it comes.
pub fn share_events<K, S>(events: S, items: &ItemOptions<K>) -> WatchEvents<K>
where
    K: HasMetadata + Send + Sync + 'static,
    S: futures::Stream<Item = Result<WatchEvent<K>, Error>> + Send + 'static,
{
    let items = items.clone();
    let mut arcs = ArcMaker::new();
    events.map(move |ev| ev.map(|e| e.map(|o| items.finish(o, &mut arcs)))).boxed()
}

/// Wraps objects in `Arc`s (a move, not a copy of their contents), asking the heap for room
/// a few dozen objects ahead.
///
/// A list's `Arc`s are thousands of same-sized allocations in a row on this thread; reserving
/// ahead lets glibc grow the arena in steps of tens of KB instead of page by page (see
/// `rudder_client::decode::reserve_heap_bytes`; this thread's `mprotect` calls while syncing
/// 100k Pods fell from 68k to 13k).
struct ArcMaker<K> {
    made: usize,
    _objects: std::marker::PhantomData<fn(K) -> Arc<K>>,
}

impl<K> ArcMaker<K> {
    const AHEAD: usize = 48 << 10;
    /// Objects per reservation: as many `Arc<K>` allocations as fit in [`Self::AHEAD`].
    const EVERY: usize = {
        let per = std::mem::size_of::<K>() + 2 * std::mem::size_of::<usize>();
        let n = Self::AHEAD / per;
        if n == 0 {
            1
        } else {
            n
        }
    };

    fn new() -> Self {
        Self { made: 0, _objects: std::marker::PhantomData }
    }

    fn wrap(&mut self, obj: K) -> Arc<K> {
        if self.made % Self::EVERY == 0 {
            rudder_client::decode::reserve_heap_bytes(Self::AHEAD);
        }
        self.made += 1;
        Arc::new(obj)
    }
}

/// Changes the options of every list and watch (selectors, ...): client-go's
/// `TweakListOptionsFunc`.
pub type TweakListOptions = Arc<dyn Fn(&mut ListOptions) + Send + Sync>;

/// A [`ListerWatcher`] over an [`Api`]: typed kinds, views, dynamic objects
/// (`Api<DynamicObject>`) and metadata-only access (`api.metadata()`).
///
/// ```no_run
/// # async fn f(client: rudder_client::Client) {
/// use k8s_openapi::api::core::v1::Pod;
/// use rudder_client::api::Api;
/// use rudder_informer::list_watch::ApiListWatch;
/// let lw = ApiListWatch::new(Api::<Pod>::namespaced(client, "default")).labels("app=web");
/// # }
/// ```
pub struct ApiListWatch<K> {
    api: Api<K>,
    tweak: Option<TweakListOptions>,
    label_selector: Option<String>,
    field_selector: Option<String>,
    pool: Option<DecodePool>,
}

impl<K> ApiListWatch<K> {
    /// Lists and watches everything `api` covers. Lists and watch streams are split while they
    /// arrive and decoded on all cores, in order (`rudder_client::decode`).
    pub fn new(api: Api<K>) -> Self {
        Self { api, tweak: None, label_selector: None, field_selector: None, pool: None }
    }
    /// Decodes on the task that polls the list or watch instead, one object at a time, as a
    /// plain client would (a [`DecodePool`] of no threads).
    pub fn sequential_decode(mut self) -> Self {
        self.pool = Some(DecodePool::new(0));
        self
    }
    /// Only objects matching this label selector.
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }
    /// Only objects matching this field selector.
    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }
    /// Runs `tweak` on the options of every list and watch.
    pub fn tweak(mut self, tweak: TweakListOptions) -> Self {
        self.tweak = Some(tweak);
        self
    }
    /// The underlying `Api`.
    pub fn api(&self) -> &Api<K> {
        &self.api
    }

    fn options(&self, opts: &ListOptions) -> ListOptions {
        let mut o = opts.clone();
        if self.label_selector.is_some() {
            o.label_selector = self.label_selector.clone();
        }
        if self.field_selector.is_some() {
            o.field_selector = self.field_selector.clone();
        }
        if let Some(t) = &self.tweak {
            t(&mut o);
        }
        o
    }
}

impl<K> ApiListWatch<K> {
    fn decoding(&self, items: &ItemOptions<K>) -> Decoding<K, Arc<K>>
    where
        K: HasMetadata + 'static,
    {
        let mut d = Decoding::default();
        let user = items.transform.clone();
        if items.strip_managed_fields {
            // JSON never builds them; a protobuf body is decoded whole, so they go here.
            let strip: Transform<K> = Arc::new(move |mut obj: K| {
                obj.metadata_mut().managed_fields = None;
                match &user {
                    Some(t) => t(obj),
                    None => obj,
                }
            });
            d = d.skip_managed_fields().transform(strip);
        } else if let Some(t) = user {
            d = d.transform(t);
        }
        if let Some(p) = &self.pool {
            d = d.pool(p.clone());
        }
        let d = d.shared();
        match &items.cached {
            Some(c) => d.reuse(c.clone()),
            None => d,
        }
    }
}

impl<K> ListerWatcher<K> for ApiListWatch<K>
where
    K: DeserializeOwned + HasMetadata + Send + Sync + 'static,
{
    fn list<'a>(
        &'a self,
        opts: &'a ListOptions,
        items: &'a ItemOptions<K>,
    ) -> BoxFuture<'a, Result<ObjectList<Arc<K>>, Error>> {
        Box::pin(async move { self.api.list_with(&self.options(opts), self.decoding(items)).await })
    }

    fn watch<'a>(
        &'a self,
        opts: &'a ListOptions,
        items: &'a ItemOptions<K>,
    ) -> BoxFuture<'a, Result<WatchEvents<K>, Error>> {
        Box::pin(async move { Ok(self.api.watch_with(&self.options(opts), self.decoding(items)).await?.boxed()) })
    }
}
