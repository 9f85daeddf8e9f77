//! `ListerWatcher`: how a reflector lists and watches one collection.
//!
//! Contract: `list` returns one page (honouring `limit`/`continue` in the options) with the
//! list's resourceVersion (`list_shared`: the same with the items in `Arc`s, made on the
//! decode threads by the `Api` implementation); `watch` returns a stream of events that ends
//! when the server ends the watch (`watch_shared`: objects in `Arc`s, likewise), with ERROR
//! events surfaced as `Err` items (see `rudder_client::watch_stream`).
//! Implementations exist for the typed and dynamic `Api` (any kind, any view) and for
//! metadata-only access; selectors and namespace are fixed when the lister-watcher is built.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde::de::DeserializeOwned;

use rudder_apimachinery::list::ObjectList;
use rudder_apimachinery::options::ListOptions;
use rudder_apimachinery::watch::WatchEvent;
use rudder_client::Error;

/// A function run on every object before it is cached (for example to drop `managedFields`):
/// the informer's transform hook, run by the lister-watcher where objects are decoded.
pub type Transform<K> = rudder_client::decode::ItemTransform<K>;

/// A stream of watch events.
pub type WatchEvents<K> = BoxStream<'static, Result<WatchEvent<K>, Error>>;

/// A stream of watch events whose objects are in `Arc`s (what [`ListerWatcher::watch_shared`]
/// gives the reflector).
pub type SharedWatchEvents<K> = WatchEvents<Arc<K>>;

/// Lists and watches one collection of `K`.
pub trait ListerWatcher<K>: Send + Sync + 'static {
    /// Lists (one page when `opts.limit` is set).
    fn list<'a>(&'a self, opts: &'a ListOptions) -> BoxFuture<'a, Result<ObjectList<K>, Error>>;
    /// Starts a watch.
    fn watch<'a>(&'a self, opts: &'a ListOptions) -> BoxFuture<'a, Result<WatchEvents<K>, Error>>;

    /// Lists, running `transform` on every item. Implementations that decode items one by one
    /// override this to transform each item as it is decoded (on the decoding thread), so the
    /// untransformed list never exists in full (the default transforms after the whole page is
    /// decoded).
    fn list_transformed<'a>(
        &'a self,
        opts: &'a ListOptions,
        transform: &'a Transform<K>,
    ) -> BoxFuture<'a, Result<ObjectList<K>, Error>>
    where
        K: Send + 'a,
    {
        Box::pin(async move { Ok(transform_items(self.list(opts).await?, transform)) })
    }

    /// Lists (one page when `opts.limit` is set) with every item transformed (when
    /// `transform` is given) and in an `Arc`: what the reflector caches. The default lists with
    /// [`list`](Self::list) / [`list_transformed`](Self::list_transformed) and wraps the items;
    /// implementations that decode on the pool override it to wrap each item on the thread that
    /// decoded it, so the page never exists as a `Vec` of whole objects.
    fn list_shared<'a>(
        &'a self,
        opts: &'a ListOptions,
        transform: Option<&'a Transform<K>>,
    ) -> BoxFuture<'a, Result<ObjectList<Arc<K>>, Error>>
    where
        K: Send + Sync + 'a,
    {
        Box::pin(list_then_wrap(self, opts, transform))
    }

    /// Watches with the object of every event transformed (when `transform` is given) and in
    /// an `Arc`: what the reflector caches. The default watches with [`watch`](Self::watch) /
    /// [`watch_transformed`](Self::watch_transformed) and wraps each object as it comes;
    /// implementations that decode on the pool override it to wrap on the decoding thread.
    fn watch_shared<'a>(
        &'a self,
        opts: &'a ListOptions,
        transform: Option<&'a Transform<K>>,
    ) -> BoxFuture<'a, Result<SharedWatchEvents<K>, Error>>
    where
        K: Send + Sync + 'static,
    {
        Box::pin(watch_then_wrap(self, opts, transform))
    }

    /// Watches, running `transform` on the object of every ADDED, MODIFIED and DELETED event.
    /// Implementations that decode events in parallel override this to transform on the
    /// decoding thread (the default maps the stream).
    fn watch_transformed<'a>(
        &'a self,
        opts: &'a ListOptions,
        transform: &'a Transform<K>,
    ) -> BoxFuture<'a, Result<WatchEvents<K>, Error>>
    where
        K: Send + 'static,
    {
        Box::pin(async move {
            let t = transform.clone();
            let events = self.watch(opts).await?;
            Ok(events.map(move |ev| ev.map(|e| e.map(|o| t(o)))).boxed())
        })
    }
}

/// [`ListerWatcher::list_shared`] done on top of `list` / `list_transformed`: the page's
/// items are wrapped in `Arc`s on this thread.
async fn list_then_wrap<K, L>(
    lw: &L,
    opts: &ListOptions,
    transform: Option<&Transform<K>>,
) -> Result<ObjectList<Arc<K>>, Error>
where
    K: Send + Sync,
    L: ListerWatcher<K> + ?Sized,
{
    let page = match transform {
        Some(t) => lw.list_transformed(opts, t).await?,
        None => lw.list(opts).await?,
    };
    Ok(ObjectList { metadata: page.metadata, items: ArcMaker::new().wrap_all(page.items) })
}

/// [`ListerWatcher::watch_shared`] done on top of `watch` / `watch_transformed`: each event's
/// object is wrapped in an `Arc` as it comes.
async fn watch_then_wrap<K, L>(
    lw: &L,
    opts: &ListOptions,
    transform: Option<&Transform<K>>,
) -> Result<SharedWatchEvents<K>, Error>
where
    K: Send + Sync + 'static,
    L: ListerWatcher<K> + ?Sized,
{
    let events = match transform {
        Some(t) => lw.watch_transformed(opts, t).await?,
        None => lw.watch(opts).await?,
    };
    let mut arcs = ArcMaker::new();
    Ok(events.map(move |ev| ev.map(|e| e.map(|o| arcs.wrap(o)))).boxed())
}

/// Runs `transform` on every item of a decoded page.
fn transform_items<K>(mut page: ObjectList<K>, transform: &Transform<K>) -> ObjectList<K> {
    page.items = page.items.into_iter().map(|o| transform(o)).collect();
    page
}

use rudder_client::api::Api;

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

    /// Every object of `page`, wrapped.
    fn wrap_all(&mut self, page: Vec<K>) -> Vec<Arc<K>> {
        page.into_iter().map(|o| self.wrap(o)).collect()
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
    sequential: bool,
}

impl<K> ApiListWatch<K> {
    /// Lists and watches everything `api` covers. Lists and watch streams are split while they
    /// arrive and decoded on all cores, in order (`rudder_client::decode`).
    pub fn new(api: Api<K>) -> Self {
        Self { api, tweak: None, label_selector: None, field_selector: None, sequential: false }
    }
    /// Decodes on the calling task instead (collect the whole list body, then decode; watch
    /// events one at a time), as a plain client would.
    pub fn sequential_decode(mut self) -> Self {
        self.sequential = true;
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

impl<K> ListerWatcher<K> for ApiListWatch<K>
where
    K: DeserializeOwned + Send + Sync + 'static,
{
    fn list<'a>(&'a self, opts: &'a ListOptions) -> BoxFuture<'a, Result<ObjectList<K>, Error>> {
        let o = self.options(opts);
        Box::pin(async move {
            if self.sequential {
                self.api.list(&o).await
            } else {
                self.api.list_streaming(&o).await
            }
        })
    }

    fn list_transformed<'a>(
        &'a self,
        opts: &'a ListOptions,
        transform: &'a Transform<K>,
    ) -> BoxFuture<'a, Result<ObjectList<K>, Error>>
    where
        K: Send + 'a,
    {
        let o = self.options(opts);
        Box::pin(async move {
            if self.sequential {
                Ok(transform_items(self.api.list(&o).await?, transform))
            } else {
                self.api.list_streaming_transformed(&o, Some(transform.clone())).await
            }
        })
    }

    fn list_shared<'a>(
        &'a self,
        opts: &'a ListOptions,
        transform: Option<&'a Transform<K>>,
    ) -> BoxFuture<'a, Result<ObjectList<Arc<K>>, Error>>
    where
        K: Send + Sync + 'a,
    {
        Box::pin(async move {
            if self.sequential {
                list_then_wrap(self, opts, transform).await
            } else {
                self.api.list_streaming_shared(&self.options(opts), transform.cloned()).await
            }
        })
    }

    fn watch_shared<'a>(
        &'a self,
        opts: &'a ListOptions,
        transform: Option<&'a Transform<K>>,
    ) -> BoxFuture<'a, Result<SharedWatchEvents<K>, Error>>
    where
        K: Send + Sync + 'static,
    {
        Box::pin(async move {
            if self.sequential {
                watch_then_wrap(self, opts, transform).await
            } else {
                Ok(self.api.watch_streaming_shared(&self.options(opts), transform.cloned()).await?.boxed())
            }
        })
    }

    fn watch<'a>(&'a self, opts: &'a ListOptions) -> BoxFuture<'a, Result<WatchEvents<K>, Error>> {
        let o = self.options(opts);
        Box::pin(async move {
            if self.sequential {
                Ok(self.api.watch(&o).await?.boxed())
            } else {
                Ok(self.api.watch_streaming(&o).await?.boxed())
            }
        })
    }

    fn watch_transformed<'a>(
        &'a self,
        opts: &'a ListOptions,
        transform: &'a Transform<K>,
    ) -> BoxFuture<'a, Result<WatchEvents<K>, Error>>
    where
        K: Send + 'static,
    {
        let o = self.options(opts);
        Box::pin(async move {
            if self.sequential {
                let t = transform.clone();
                Ok(self.api.watch(&o).await?.map(move |ev| ev.map(|e| e.map(|o| t(o)))).boxed())
            } else {
                Ok(self.api.watch_streaming_transformed(&o, Some(transform.clone())).await?.boxed())
            }
        })
    }
}
