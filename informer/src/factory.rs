//! `SharedInformerFactory`: one shared informer per type (typed kinds and views), per
//! resource (dynamic), or per resource metadata-only, all started, synced and stopped together
//! (client-go's `informers.SharedInformerFactory` and `dynamicinformer`).
//!
//! Contract: asking twice for the same type (or the same GroupVersionResource), in the same
//! [`InformerScope`], returns the same informer; informers created after
//! [`SharedInformerFactory::start`] start at the next `start`; [`SharedInformerFactory::wait_for_cache_sync`] says which informers did not sync
//! and why; [`SharedInformerFactory::shutdown`] stops and joins every informer; every informer
//! reports its lists and watches to the factory's reflector metrics sink, set at any time.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;

use rudder_apimachinery::dynamic::DynamicObject;
use rudder_apimachinery::meta::{HasMetadata, PartialObjectMetadata};
use rudder_apimachinery::resource::{ApiResource, Resource};
use rudder_apimachinery::schema::GroupVersionResource;
use rudder_client::api::Api;
use rudder_client::Client;

use crate::list_watch::{ApiListWatch, TweakListOptions};
use crate::reflector_metrics::{ReflectorMetrics, ReflectorMetricsSink};
use crate::shared_informer::{InformerOptions, QueueKind, SharedIndexInformer, SyncError};

/// What the factory needs of any informer.
trait AnyInformer: Send + Sync {
    fn start(&self);
    fn wait(&self, timeout: Duration) -> BoxFuture<'_, Result<(), SyncError>>;
    fn shutdown(&self) -> BoxFuture<'_, ()>;
    fn as_any(&self) -> &dyn Any;
}

impl<K: HasMetadata + Send + Sync + 'static> AnyInformer for SharedIndexInformer<K> {
    fn start(&self) {
        SharedIndexInformer::start(self)
    }
    fn wait(&self, timeout: Duration) -> BoxFuture<'_, Result<(), SyncError>> {
        Box::pin(self.wait_for_cache_sync(timeout))
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(SharedIndexInformer::shutdown(self))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Which objects of a kind an informer holds, beyond the factory's own namespace and list
/// tweak: a namespace and server-side label and field selectors. The default scope is the
/// factory's. Informers in different scopes are different caches (each lists and watches);
/// asking twice for the same kind in an equal scope shares one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct InformerScope {
    /// Only this namespace (instead of the factory's).
    pub namespace: Option<String>,
    /// Only objects whose labels match (e.g. `app=web,tier!=db`).
    pub labels: Option<String>,
    /// Only objects whose fields match (e.g. `spec.nodeName=node-a`).
    pub fields: Option<String>,
}

impl InformerScope {
    fn describe(&self) -> String {
        let parts: Vec<String> = [("namespace", &self.namespace), ("labels", &self.labels), ("fields", &self.fields)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();
        parts.join(" ")
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Type(TypeId, InformerScope),
    Dynamic(GroupVersionResource),
    Metadata(GroupVersionResource),
}

/// Hands out shared informers. Cheap to clone; clones share the informers.
#[derive(Clone)]
pub struct SharedInformerFactory {
    client: Client,
    namespace: Option<String>,
    tweak: Option<TweakListOptions>,
    resync_period: Option<Duration>,
    queue: QueueKind,
    use_watch_list: bool,
    watch_idle_timeout: Option<Duration>,
    strip_managed_fields: bool,
    informers: Arc<Mutex<HashMap<Key, Arc<dyn AnyInformer>>>>,
    metrics: ReflectorMetricsSink,
}

/// Why some informers did not sync.
#[derive(Debug, thiserror::Error)]
#[error("{} informer(s) did not sync: {}", failures.len(), failures.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct FactorySyncError {
    /// One error per informer that did not sync.
    pub failures: Vec<SyncError>,
}

impl SharedInformerFactory {
    /// A factory for every namespace.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            namespace: None,
            tweak: None,
            resync_period: None,
            queue: QueueKind::default(),
            use_watch_list: true,
            watch_idle_timeout: Some(crate::reflector::DEFAULT_WATCH_IDLE_TIMEOUT),
            strip_managed_fields: false,
            informers: Arc::new(Mutex::new(HashMap::new())),
            metrics: ReflectorMetricsSink::default(),
        }
    }

    /// Restricts namespaced informers to one namespace (builder style; before creating any).
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// Tweaks the options of every list and watch (selectors ...), as client-go's
    /// `WithTweakListOptions`.
    pub fn tweak_list_options(
        mut self,
        f: impl Fn(&mut rudder_apimachinery::options::ListOptions) + Send + Sync + 'static,
    ) -> Self {
        self.tweak = Some(Arc::new(f));
        self
    }

    /// Default resync period of handlers.
    pub fn resync_period(mut self, period: Duration) -> Self {
        self.resync_period = Some(period);
        self
    }

    /// Which queue informers use.
    pub fn queue(mut self, queue: QueueKind) -> Self {
        self.queue = queue;
        self
    }

    /// Whether informers try streaming lists first (default true; they fall back by themselves).
    pub fn use_watch_list(mut self, on: bool) -> Self {
        self.use_watch_list = on;
        self
    }

    /// Whether informers drop every object's `metadata.managedFields` (default false, as in
    /// client-go, whose `TransformStripManagedFields` does this after decoding). rudder skips
    /// them unparsed while decoding JSON, so it saves their decode time as well as their
    /// memory: about half of a realistic Pod's heap. Server-side apply bookkeeping is all they
    /// are; controllers almost never read them, and an update sent without them leaves the
    /// server's copy unchanged.
    pub fn strip_managed_fields(mut self, on: bool) -> Self {
        self.strip_managed_fields = on;
        self
    }

    /// How long an informer's watch may deliver no event and no bookmark before it is restarted
    /// from the last resourceVersion (`None` or zero: never; default 5 minutes, see
    /// [`crate::reflector`]).
    pub fn watch_idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.watch_idle_timeout = idle;
        self
    }

    /// Reports every informer's lists and watches (those built before and after this call) to
    /// `metrics`, replacing what was set before; see [`crate::reflector_metrics`].
    pub fn set_reflector_metrics(&self, metrics: Arc<dyn ReflectorMetrics>) {
        self.metrics.set(metrics);
    }

    fn options<K>(&self, name: String) -> InformerOptions<K> {
        InformerOptions {
            name,
            resync_period: self.resync_period,
            queue: self.queue,
            use_watch_list: self.use_watch_list,
            watch_idle_timeout: self.watch_idle_timeout,
            strip_managed_fields: self.strip_managed_fields,
            metrics: self.metrics.clone(),
            ..InformerOptions::default()
        }
    }

    fn lw<K>(&self, api: Api<K>) -> ApiListWatch<K> {
        let lw = ApiListWatch::new(api);
        match &self.tweak {
            Some(t) => lw.tweak(t.clone()),
            None => lw,
        }
    }

    fn get_or_insert<K: HasMetadata + Send + Sync + 'static>(
        &self,
        key: Key,
        make: impl FnOnce() -> SharedIndexInformer<K>,
    ) -> SharedIndexInformer<K> {
        let mut map = self.informers.lock();
        if let Some(existing) = map.get(&key) {
            if let Some(inf) = existing.as_any().downcast_ref::<SharedIndexInformer<K>>() {
                return inf.clone();
            }
        }
        let inf = make();
        map.insert(key, Arc::new(inf.clone()));
        inf
    }

    /// The shared informer for `K`: any k8s-openapi kind, custom resource type or view.
    pub fn informer<K>(&self) -> SharedIndexInformer<K>
    where
        K: Resource + HasMetadata + DeserializeOwned + Send + Sync + 'static,
    {
        self.informer_in(&InformerScope::default())
    }

    /// The shared informer for `K` holding only the objects in `scope` (one per distinct
    /// scope; see [`InformerScope`]). Selectors are passed to the server as they are: check
    /// them first (`Selector::parse`, `FieldSelector::parse`) to fail early rather than in the
    /// informer's list.
    pub fn informer_in<K>(&self, scope: &InformerScope) -> SharedIndexInformer<K>
    where
        K: Resource + HasMetadata + DeserializeOwned + Send + Sync + 'static,
    {
        self.get_or_insert(Key::Type(TypeId::of::<K>(), scope.clone()), || {
            let api = match scope.namespace.as_ref().or(self.namespace.as_ref()) {
                Some(ns) => Api::<K>::namespaced(self.client.clone(), ns),
                None => Api::<K>::all(self.client.clone()),
            };
            let mut lw = self.lw(api);
            if let Some(l) = &scope.labels {
                lw = lw.labels(l.clone());
            }
            if let Some(f) = &scope.fields {
                lw = lw.fields(f.clone());
            }
            let name = match scope.describe() {
                d if d.is_empty() => K::PLURAL.to_string(),
                d => format!("{} ({d})", K::PLURAL),
            };
            SharedIndexInformer::new(lw, self.options(name))
        })
    }

    /// The shared informer for a resource known at run time (CRDs included).
    pub fn dynamic_informer(&self, resource: &ApiResource) -> SharedIndexInformer<DynamicObject> {
        self.get_or_insert(Key::Dynamic(resource.gvr()), || {
            let api = Api::<DynamicObject>::with_resource(self.client.clone(), resource, self.namespace.as_deref());
            SharedIndexInformer::new(self.lw(api), self.options(resource.gvr().to_string()))
        })
    }

    /// A metadata-only informer for a resource: caches `PartialObjectMetadata`, asking the
    /// server for metadata only (the cheapest way to track many objects).
    pub fn metadata_informer(&self, resource: &ApiResource) -> SharedIndexInformer<PartialObjectMetadata> {
        self.get_or_insert(Key::Metadata(resource.gvr()), || {
            let api = Api::<DynamicObject>::with_resource(self.client.clone(), resource, self.namespace.as_deref())
                .metadata();
            SharedIndexInformer::new(self.lw(api), self.options(format!("{} (metadata)", resource.gvr())))
        })
    }

    /// Starts every informer created so far that is not running yet.
    pub fn start(&self) {
        let all: Vec<Arc<dyn AnyInformer>> = self.informers.lock().values().cloned().collect();
        for i in all {
            i.start();
        }
    }

    /// Waits until every started informer has synced; the error lists those that did not and
    /// why (each with its last list/watch error).
    pub async fn wait_for_cache_sync(&self, timeout: Duration) -> Result<(), FactorySyncError> {
        let all: Vec<Arc<dyn AnyInformer>> = self.informers.lock().values().cloned().collect();
        let results = futures::future::join_all(all.iter().map(|i| i.wait(timeout))).await;
        let failures: Vec<SyncError> = results.into_iter().filter_map(Result::err).collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(FactorySyncError { failures })
        }
    }

    /// Stops every informer and waits for all their tasks and handler threads.
    pub async fn shutdown(&self) {
        let all: Vec<Arc<dyn AnyInformer>> = self.informers.lock().values().cloned().collect();
        futures::future::join_all(all.iter().map(|i| i.shutdown())).await;
    }
}
