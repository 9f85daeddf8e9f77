//! # rudder-informer
//!
//! client-go's `tools/cache` and `util/workqueue` for Rust. The data path of an informer is
//!
//! ```text
//! Reflector --add/update/delete/replace/resync--> Queue (RealFIFO | DeltaFIFO)
//!     --pop(handler, under the queue lock)--> Indexer (the cache) + event handlers
//! ```
//!
//! The network-free parts:
//! - [`indexer`]: [`Indexer`], the thread-safe cache of `Arc<K>` objects keyed `namespace/name`
//!   with named secondary indices (the namespace index built in).
//! - [`store`]: the traits between the parts ([`Store`], [`KeyListerGetter`], [`Queue`]) and the
//!   pure helpers that apply popped items to a store ([`store::apply_delta`],
//!   [`store::sync_all`], [`ReplacedAll::apply`]).
//! - [`delta_fifo`]: [`DeltaFIFO`], per-key delta lists with client-go's exact semantics.
//! - [`real_fifo`]: [`RealFIFO`], the in-order event queue (client-go 1.36's default; rudder's
//!   informers default to [`DeltaFIFO`] and take `RealFIFO` through `InformerOptions.queue`);
//!   its module docs say when to pick which.
//! - [`workqueue`]: controller work queues (plain, delaying, rate-limited) and rate limiters.
//! - [`reflector`], [`list_watch`], [`shared_informer`], [`processor`], [`factory`], [`lister`]:
//!   the network side (list/watch rules, shared informers, handlers, factories, listers);
//!   [`reflector_metrics`]: the hook through which reflectors report lists and watches.
//! - [`leaderelection`]: leader election on Leases; [`record`]: the event recorder.
//!
//! Everything is generic over `K: HasMetadata + Send + Sync + 'static`: typed `k8s-openapi`
//! objects, dynamic objects and user-declared views alike.

#![warn(missing_docs)]

pub mod backoff;
pub mod delta_fifo;
pub mod factory;
pub mod indexer;
pub mod leaderelection;
pub mod list_watch;
pub mod lister;
pub mod processor;
pub mod real_fifo;
pub mod record;
pub mod reflector;
pub mod reflector_metrics;
pub mod shared_informer;
pub mod store;
pub mod workqueue;

#[cfg(test)]
mod test_util;

pub use delta_fifo::{Delta, DeltaFIFO, DeltaObject, DeltaType, Deltas};
pub use factory::{InformerScope, SharedInformerFactory};
pub use indexer::{IndexError, IndexFunc, IndexFuncError, Indexer, NAMESPACE_INDEX};
pub use lister::Lister;
pub use processor::{DeletedObject, HandlerFns, Notification, Registration, ResourceEventHandler};
pub use real_fifo::{RealFIFO, RealItem, ReplacedAll};
pub use shared_informer::{InformerOptions, QueueKind, SharedIndexInformer};
pub use store::{FifoError, KeyListerGetter, PopError, Popped, ProcessError, Queue, Store, StoreChange, TransformFunc};
