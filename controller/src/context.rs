//! [`Context`]: what a reconcile is given besides its key.
//!
//! Contract: the context is shared by every reconcile of one controller run (cloning it is one
//! reference count). It gives the client, the controller's event recorder, the user's state and
//! the informer of every watched kind, so reconciles read from the caches (listers and indexers,
//! no API call) and write through the client. A kind watched twice (say as owned and with a
//! mapper) is found under its first registration. [`Context::shutdown`] is cancelled when the
//! controller starts shutting down, for reconciles that can stop early.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use rudder_apimachinery::meta::HasMetadata;
use rudder_client::Client;
use rudder_informer::record::EventRecorder;
use rudder_informer::{Indexer, Lister, SharedIndexInformer};
use tokio_util::sync::CancellationToken;

use crate::key::ObjectKey;

struct Inner<S> {
    client: Client,
    recorder: EventRecorder,
    informers: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    state: S,
    shutdown: CancellationToken,
}

/// The reconcile context; see the module docs. Cheap to clone.
pub struct Context<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Context<S> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl<S> std::fmt::Debug for Context<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("watched_kinds", &self.inner.informers.len()).finish_non_exhaustive()
    }
}

impl<S> Context<S> {
    pub(crate) fn new(
        client: Client,
        recorder: EventRecorder,
        informers: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
        state: S,
        shutdown: CancellationToken,
    ) -> Self {
        Self { inner: Arc::new(Inner { client, recorder, informers, state, shutdown }) }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The controller's event recorder (source component: the controller's name).
    pub fn recorder(&self) -> &EventRecorder {
        &self.inner.recorder
    }

    /// The state given to [`Controller::run`](crate::Controller::run).
    pub fn state(&self) -> &S {
        &self.inner.state
    }

    /// Cancelled once the controller stops taking keys.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// The informer of a watched kind (`None` if the controller does not watch `X`).
    pub fn informer<X: Send + Sync + 'static>(&self) -> Option<SharedIndexInformer<X>> {
        self.inner.informers.get(&TypeId::of::<X>())?.downcast_ref::<SharedIndexInformer<X>>().cloned()
    }

    /// A lister over the cache of a watched kind.
    pub fn lister<X: HasMetadata + Send + Sync + 'static>(&self) -> Option<Lister<X>> {
        self.informer::<X>().map(|i| i.lister())
    }

    /// The cache of a watched kind, with its indexes.
    pub fn indexer<X: HasMetadata + Send + Sync + 'static>(&self) -> Option<Arc<Indexer<X>>> {
        self.informer::<X>().map(|i| i.indexer().clone())
    }

    /// The cached object of a watched kind at `key` (`None` if absent or the kind is not watched).
    pub fn get<X: HasMetadata + Send + Sync + 'static>(&self, key: &ObjectKey) -> Option<Arc<X>> {
        self.informer::<X>()?.indexer().get_by_key(&key.to_string())
    }
}
