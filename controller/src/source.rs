//! Watched kinds: how each kind a controller watches is listed, filtered and mapped to keys of
//! the primary kind.
//!
//! Contract:
//! - Every watched kind uses the factory's shared informer for the kind in the
//!   [`WatchOptions`]' scope (`SharedInformerFactory::informer_in`): without a namespace or
//!   selector the one cache shared with everything else built on that factory; with them a cache
//!   of only what matches, shared by every controller on the factory asking for the same scope.
//! - Each source registers one event handler. Adds and deletes always reach the mapper; updates
//!   only when the predicate passes; for updates both the old and the new object are mapped (an
//!   object that changed owner affects both owners). Every key the mapper returns is enqueued.
//! - A source is synced when its informer has synced *and* its handler has processed the
//!   informer's initial list, so the queue already holds every initial key when reconciles
//!   start and they coalesce there.
//! - Selectors are checked before anything starts; a bad one is a typed error naming the kind.

use std::any::{Any, TypeId};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

use rudder_apimachinery::fields::FieldSelector;
use rudder_apimachinery::labels::Selector;
use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::resource::Resource;
use rudder_informer::processor::{DeletedObject, HandlerFns};
use rudder_informer::{InformerScope, Registration, SharedIndexInformer, SharedInformerFactory};

use crate::error::{CacheSyncFailure, ControllerError};
use crate::key::ObjectKey;
use crate::predicate::Predicate;
use crate::queue::Scheduler;

/// How one watched kind is listed and filtered. `Default` watches every object the factory
/// covers with the kind's default predicate.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    pub(crate) namespace: Option<String>,
    pub(crate) label_selector: Option<String>,
    pub(crate) field_selector: Option<String>,
    pub(crate) predicate: Option<Predicate>,
}

impl WatchOptions {
    /// Every object, default predicate.
    pub fn new() -> Self {
        Self::default()
    }
    /// Only objects in `namespace`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
    /// Only objects whose labels match `selector` (e.g. `app=web,tier!=db`), filtered by the API
    /// server. Accepts a string or a parsed `Selector`.
    pub fn labels(mut self, selector: impl std::fmt::Display) -> Self {
        self.label_selector = Some(selector.to_string());
        self
    }
    /// Only objects whose fields match `selector` (see [`crate::fields`]), filtered by the API
    /// server. Accepts a string or a [`crate::fields`] builder's selector.
    pub fn fields(mut self, selector: impl std::fmt::Display) -> Self {
        self.field_selector = Some(selector.to_string());
        self
    }
    /// Which updates reach the queue (default: [`Predicate::generation_changed`] for the primary
    /// kind, every update for other kinds).
    pub fn predicate(mut self, predicate: Predicate) -> Self {
        self.predicate = Some(predicate);
        self
    }

    fn scope(&self) -> InformerScope {
        InformerScope {
            namespace: self.namespace.clone(),
            labels: self.label_selector.clone(),
            fields: self.field_selector.clone(),
        }
    }
}

/// Maps an object of a watched kind to the primary keys it affects.
pub(crate) type Mapper<X> = Arc<dyn Fn(&X) -> Vec<ObjectKey> + Send + Sync>;

/// What the controller needs of a watched kind, whatever its type.
pub(crate) trait Source: Send + Sync {
    /// The kind, for errors and logs.
    fn kind(&self) -> &'static str;
    /// Checks the selectors.
    fn validate(&self) -> Result<(), ControllerError>;
    /// Registers the event handler feeding `scheduler`.
    fn register(&mut self, scheduler: Scheduler) -> Result<(), ControllerError>;
    /// Waits until the informer and the handler have synced.
    fn wait_synced(&self, timeout: Duration) -> BoxFuture<'_, Result<(), CacheSyncFailure>>;
    /// Removes the handler (the informer belongs to the factory).
    fn stop(&mut self) -> BoxFuture<'_, ()>;
    /// The informer, for the reconcile context's type map.
    fn informer_any(&self) -> (TypeId, Arc<dyn Any + Send + Sync>);
}

pub(crate) struct Watched<X> {
    informer: SharedIndexInformer<X>,
    options: WatchOptions,
    predicate: Predicate,
    mapper: Mapper<X>,
    registration: Option<Registration>,
}

impl<X> Watched<X>
where
    X: Resource + HasMetadata + DeserializeOwned + Send + Sync + 'static,
{
    pub(crate) fn new(
        factory: &SharedInformerFactory,
        options: WatchOptions,
        default_predicate: Predicate,
        mapper: Mapper<X>,
    ) -> Self {
        let informer = factory.informer_in::<X>(&options.scope());
        let predicate = options.predicate.clone().unwrap_or(default_predicate);
        Self { informer, options, predicate, mapper, registration: None }
    }
}

fn enqueue_all(scheduler: &Scheduler, keys: impl IntoIterator<Item = ObjectKey>) {
    for key in keys {
        scheduler.enqueue(key);
    }
}

impl<X> Source for Watched<X>
where
    X: Resource + HasMetadata + DeserializeOwned + Send + Sync + 'static,
{
    fn kind(&self) -> &'static str {
        X::KIND
    }

    fn validate(&self) -> Result<(), ControllerError> {
        if let Some(l) = &self.options.label_selector {
            Selector::parse(l)
                .map_err(|e| ControllerError::InvalidSelector { kind: X::KIND, message: e.to_string() })?;
        }
        if let Some(f) = &self.options.field_selector {
            FieldSelector::parse(f)
                .map_err(|e| ControllerError::InvalidSelector { kind: X::KIND, message: e.to_string() })?;
        }
        Ok(())
    }

    fn register(&mut self, scheduler: Scheduler) -> Result<(), ControllerError> {
        let (m1, m2, m3) = (self.mapper.clone(), self.mapper.clone(), self.mapper.clone());
        let (s1, s2, s3) = (scheduler.clone(), scheduler.clone(), scheduler);
        let predicate = self.predicate.clone();
        let handler = HandlerFns::<X>::new()
            .on_add(move |obj, _| enqueue_all(&s1, m1(obj)))
            .on_update(move |old, new| {
                if !predicate.update(old.metadata(), new.metadata()) {
                    s2.filtered();
                    return;
                }
                let mut keys = m2(new);
                let extra: Vec<ObjectKey> = m2(old).into_iter().filter(|k| !keys.contains(k)).collect();
                keys.extend(extra);
                enqueue_all(&s2, keys);
            })
            .on_delete(move |d: &DeletedObject<X>| enqueue_all(&s3, m3(d.object())));
        self.registration = Some(
            self.informer
                .add_event_handler(handler)
                .map_err(|e| ControllerError::Informer { kind: X::KIND, source: e })?,
        );
        Ok(())
    }

    fn wait_synced(&self, timeout: Duration) -> BoxFuture<'_, Result<(), CacheSyncFailure>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            self.informer
                .wait_for_cache_sync(timeout)
                .await
                .map_err(|e| CacheSyncFailure { kind: X::KIND, cause: Some(e) })?;
            let Some(reg) = &self.registration else { return Ok(()) };
            match tokio::time::timeout_at(deadline, reg.synced()).await {
                Ok(true) => Ok(()),
                Ok(false) | Err(_) => Err(CacheSyncFailure { kind: X::KIND, cause: None }),
            }
        })
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(reg) = self.registration.take() {
                self.informer.remove_event_handler(&reg);
                reg.stopped().await;
            }
        })
    }

    fn informer_any(&self) -> (TypeId, Arc<dyn Any + Send + Sync>) {
        (TypeId::of::<X>(), Arc::new(self.informer.clone()))
    }
}

/// The primary kind: an object is its own key.
pub(crate) fn self_mapper<X: HasMetadata>() -> Mapper<X> {
    Arc::new(|obj: &X| vec![ObjectKey::of(obj)])
}

/// An owned kind: the key of the object's controller owner when that owner is of kind `K`.
pub(crate) fn owner_mapper<K: Resource, X: HasMetadata>() -> Mapper<X> {
    Arc::new(|obj: &X| {
        let mut keys = Vec::new();
        let mut seen = HashSet::new();
        for r in obj.owner_references() {
            if r.controller != Some(true) || r.kind != K::KIND || group_of(&r.api_version) != K::GROUP {
                continue;
            }
            let key = match K::SCOPE {
                rudder_apimachinery::resource::Scope::Namespaced => {
                    ObjectKey { namespace: obj.namespace().map(str::to_owned), name: r.name.clone() }
                }
                rudder_apimachinery::resource::Scope::Cluster => ObjectKey::cluster(r.name.clone()),
            };
            if seen.insert(key.clone()) {
                keys.push(key);
            }
        }
        keys
    })
}

/// The group of an `apiVersion` (`""` for the core group's `v1`).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}
