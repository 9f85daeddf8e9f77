//! The interfaces between the informer's parts: the [`Store`] a cache implements, the
//! [`KeyListerGetter`] a FIFO consults to learn what the cache already knows, the [`Queue`] both
//! FIFOs implement, and the pure helpers that apply popped deltas to a store
//! ([`apply_delta`], [`sync_all`], [`ReplacedAll::apply`]).
//!
//! Contract (client-go's `Store`, `KeyListerGetter`, `Queue`, `PopProcessFunc`, `processDeltas`):
//! - A [`Queue`] is fed by one producer (the Reflector: add/update/delete/replace/resync) and
//!   drained by one consumer through [`Queue::pop`], whose handler runs *while the queue's lock
//!   is held*. The handler is therefore atomic with respect to every other queue operation: that
//!   is what keeps `replace`/`resync` (which read the store) consistent with what the handler
//!   writes into the store. The handler must be short, synchronous, and must not call back into
//!   the queue (it would deadlock). Lock order is always queue, then store.
//! - The handler's second argument, `is_in_initial_list`, is true while the first `replace`
//!   batch has not been fully popped (client-go's `isInInitialList`).
//! - A handler returning [`ProcessError::Requeue`] puts the popped item back (client-go's
//!   `ErrRequeue`); [`ProcessError::Failed`] drops it. Either way `pop` reports the error.
//! - [`apply_delta`] is client-go's `processDeltas` for one delta without the handler calls: an
//!   `Added`/`Updated`/`Replaced`/`Sync` delta upserts and reports `Added` or `Updated{old,new}`
//!   depending on whether the key was already stored; a `Deleted` delta removes the key and
//!   reports the deleted object as the delta carried it (possibly a tombstone).

use std::future::Future;
use std::sync::Arc;

use rudder_apimachinery::keys::key_of;
use rudder_apimachinery::meta::HasMetadata;

use crate::delta_fifo::{Delta, DeltaObject, DeltaType};
use crate::indexer::IndexError;
pub use crate::real_fifo::ReplacedAll;

/// What a FIFO needs from the cache it feeds (client-go's `KeyListerGetter`): which keys it
/// knows and the object under a key. [`Indexer`](crate::indexer::Indexer) implements it.
pub trait KeyListerGetter<K>: Send + Sync {
    /// All keys currently stored.
    fn list_keys(&self) -> Vec<String>;
    /// The object stored under `key`.
    fn get_by_key(&self, key: &str) -> Option<Arc<K>>;
}

/// A keyed object cache (client-go's `Store`), implemented by
/// [`Indexer`](crate::indexer::Indexer).
///
/// `add` and `update` are the same upsert and return the object they replaced, so a caller can
/// report `Updated{old,new}` without a racy get-then-put.
pub trait Store<K: HasMetadata>: KeyListerGetter<K> {
    /// Stores `obj` under its key; returns the object it replaced.
    fn add(&self, obj: Arc<K>) -> Result<Option<Arc<K>>, IndexError>;
    /// Same as `add`.
    fn update(&self, obj: Arc<K>) -> Result<Option<Arc<K>>, IndexError>;
    /// Removes the object stored under `key`; returns it.
    fn delete_key(&self, key: &str) -> Option<Arc<K>>;
    /// Removes the object stored under `obj`'s key; returns it.
    fn delete(&self, obj: &K) -> Option<Arc<K>> {
        self.delete_key(&key_of(obj))
    }
    /// The object stored under `obj`'s key.
    fn get(&self, obj: &K) -> Option<Arc<K>> {
        self.get_by_key(&key_of(obj))
    }
    /// All stored objects.
    fn list(&self) -> Vec<Arc<K>>;
    /// Replaces the whole content with `list`, as of `resource_version`.
    fn replace(&self, list: Vec<Arc<K>>, resource_version: &str) -> Result<(), IndexError>;
    /// A no-op for caches (kept for client-go parity; FIFOs resync, stores do not).
    fn resync(&self) -> Result<(), IndexError> {
        Ok(())
    }
}

/// A transformation applied to every object as it enters a FIFO (client-go's `TransformFunc`),
/// e.g. to drop `managedFields` before caching. It is not applied to tombstones nor to `Sync`
/// deltas (whose objects come from the cache and were transformed already).
pub type TransformFunc<K> =
    Arc<dyn Fn(Arc<K>) -> Result<Arc<K>, Box<dyn std::error::Error + Send + Sync>> + Send + Sync>;

/// Errors of FIFO writes.
#[derive(Debug, thiserror::Error)]
pub enum FifoError {
    /// The transform function rejected an object; the FIFO is unchanged.
    #[error("transform failed for object {key:?}: {source}")]
    Transform {
        /// Key of the object.
        key: String,
        /// The transform's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What a pop handler is given.
#[derive(Debug)]
pub enum Popped<'a, K> {
    /// Deltas of one key, oldest first. From a [`DeltaFIFO`](crate::delta_fifo::DeltaFIFO): all
    /// that accumulated for the key; from a [`RealFIFO`](crate::real_fifo::RealFIFO): exactly one.
    Deltas(&'a [Delta<K>]),
    /// A relist to apply atomically (RealFIFO only); see [`ReplacedAll::apply`].
    ReplacedAll(&'a ReplacedAll<K>),
    /// A resync of every cached object (RealFIFO only); see [`sync_all`].
    SyncAll,
}

/// What a pop handler reports when it could not process an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessError<E> {
    /// Put the item back (client-go's `ErrRequeue`) and report `E`.
    Requeue(E),
    /// Drop the item and report `E`.
    Failed(E),
}

/// The outcome of a [`Queue::pop`] that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PopError<E> {
    /// The queue is closed and empty (client-go's `ErrFIFOClosed`).
    #[error("queue is closed")]
    Closed,
    /// The handler failed and asked for the item to be requeued, which was done.
    #[error("processing failed, item requeued: {0}")]
    Requeued(E),
    /// The handler failed; the item was dropped.
    #[error("processing failed: {0}")]
    Failed(E),
}

/// The queue between a Reflector and an informer's cache (client-go's `Queue`), implemented by
/// [`DeltaFIFO`](crate::delta_fifo::DeltaFIFO) and [`RealFIFO`](crate::real_fifo::RealFIFO).
pub trait Queue<K>: Send + Sync + 'static {
    /// Queues an `Added` event.
    fn add(&self, obj: Arc<K>) -> Result<(), FifoError>;
    /// Queues an `Updated` event.
    fn update(&self, obj: Arc<K>) -> Result<(), FifoError>;
    /// Queues a `Deleted` event.
    fn delete(&self, obj: Arc<K>) -> Result<(), FifoError>;
    /// Queues the result of a full list as of `resource_version`.
    fn replace(&self, list: Vec<Arc<K>>, resource_version: &str) -> Result<(), FifoError>;
    /// Queues a resync of the cached objects.
    fn resync(&self) -> Result<(), FifoError>;
    /// Waits for an item and hands it to `process` under the queue lock (see the module docs).
    /// After [`close`](Self::close), queued items are still handed out; then `Err(Closed)`.
    fn pop<E, F>(&self, process: F) -> impl Future<Output = Result<(), PopError<E>>> + Send
    where
        E: Send,
        F: for<'a> FnOnce(Popped<'a, K>, bool) -> Result<(), ProcessError<E>> + Send;
    /// True once the first `replace` batch has been popped, or at once if an
    /// add/update/delete came before any `replace`.
    fn has_synced(&self) -> bool;
    /// Closes the queue: blocked and future `pop`s return `Closed` once it is empty.
    fn close(&self);
    /// Whether [`close`](Self::close) was called.
    fn is_closed(&self) -> bool;
    /// Number of queued items (keys for DeltaFIFO, events for RealFIFO).
    fn len(&self) -> usize;
    /// Whether nothing is queued.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A change made to a store by applying a delta: what event handlers are told.
#[derive(Debug)]
pub enum StoreChange<K> {
    /// The key was not stored before.
    Added(Arc<K>),
    /// The key was stored; `old` is the object it held (for a resync, `old` and `new` are the
    /// same object).
    Updated {
        /// The object replaced.
        old: Arc<K>,
        /// The object now stored.
        new: Arc<K>,
    },
    /// The key was removed; the object as the delete carried it (possibly a tombstone).
    Deleted(DeltaObject<K>),
}

impl<K> Clone for StoreChange<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Added(o) => Self::Added(o.clone()),
            Self::Updated { old, new } => Self::Updated { old: old.clone(), new: new.clone() },
            Self::Deleted(d) => Self::Deleted(d.clone()),
        }
    }
}

/// Applies one delta to `store` (client-go's `processDeltas` for one delta, minus the handler
/// calls) and says what changed.
pub fn apply_delta<K, S>(store: &S, delta: &Delta<K>) -> Result<StoreChange<K>, IndexError>
where
    K: HasMetadata,
    S: Store<K> + ?Sized,
{
    match (delta.kind, delta.object.object()) {
        (DeltaType::Deleted, _) | (_, None) => {
            store.delete_key(&delta.object.key());
            Ok(StoreChange::Deleted(delta.object.clone()))
        }
        (_, Some(obj)) => Ok(match store.update(obj.clone())? {
            Some(old) => StoreChange::Updated { old, new: obj.clone() },
            None => StoreChange::Added(obj.clone()),
        }),
    }
}

/// What a `SyncAll` item means: an `Updated{old: o, new: o}` for every cached object.
pub fn sync_all<K, S>(store: &S) -> Vec<StoreChange<K>>
where
    K: HasMetadata,
    S: Store<K> + ?Sized,
{
    store.list().into_iter().map(|o| StoreChange::Updated { old: o.clone(), new: o }).collect()
}
