//! # rudder-controller
//!
//! The reconcile runtime: what every controller otherwise writes by hand around rudder's
//! informers and workqueues. A [`Controller`] watches a primary kind, the kinds it
//! [owns](Controller::owns) (events map to the controller owner through ownerReferences) and any
//! other kind [with a mapper](Controller::watches); each event becomes the [`ObjectKey`] of a
//! primary object in a rate-limited, deduplicating queue; a bounded pool of workers runs the
//! reconcile function on those keys, with the caches of every watched kind at hand in its
//! [`Context`].
//!
//! ```text
//! SharedIndexInformer<K> ─┐ handler: predicate, key of the object
//! SharedIndexInformer<C> ─┼ handler: predicate, key of the controller owner   ─> queue of ObjectKey
//! SharedIndexInformer<W> ─┘ handler: predicate, mapper                           (dedup, dirty set,
//!                                                                                debounce, back-off)
//!    max_concurrent_reconciles workers: key ─> reconcile(key, Context) ─> Action | error | panic
//! ```
//!
//! Guarantees (each tested in `tests/`): one key is never reconciled by two workers at once;
//! events during a reconcile cause exactly one more reconcile after it; a key holds at most one
//! place in the queue, and with a debounce window a burst of events causes one reconcile; a
//! long reconcile holds only its own worker; reconciles start after every cache synced; a
//! panicking reconcile is caught, counted and retried; shutdown stops taking keys, waits for
//! in-flight reconciles up to a deadline, then stops the informers. The modules say how.
//!
//! A [`Manager`] runs several controllers and tasks over one shared informer factory, with
//! optional leader election on a Lease (a warm standby can keep its caches synced; losing the
//! Lease stops reconciling at once), graceful shutdown on SIGTERM/SIGINT, and
//! [`/healthz`, `/readyz` and `/metrics`](endpoints) (controller-runtime's metric names: the
//! reconciles, the workqueues and the client's requests, through hooks the informer and client
//! crates offer without depending on a metrics crate).
//!
//! Helpers: [`finalizer`](finalizer::finalizer), [ownerReference builders](owner),
//! [`retry_on_conflict`](retry::retry_on_conflict), [`poll_until`](wait::poll_until),
//! [field selector builders](fields), and [`CancellationToken`] re-exported. [`webhook`] serves
//! admission webhooks over HTTPS (typed `AdmissionReview`s from `rudder_apimachinery::admission`).
//!
//! ```no_run
//! use std::time::Duration;
//! use k8s_openapi::api::core::v1::{ConfigMap, Secret};
//! use rudder_controller::{fields, Action, CancellationToken, Context, Controller, ObjectKey, WatchOptions};
//!
//! async fn reconcile(key: ObjectKey, ctx: Context<String>) -> Result<Action, rudder_client::Error> {
//!     let Some(cm) = ctx.get::<ConfigMap>(&key) else { return Ok(Action::done()) }; // deleted
//!     let secrets = ctx.lister::<Secret>().map(|l| l.namespace(key.namespace().unwrap_or("")).list(&Default::default()));
//!     println!("{} {key}: {} owned secrets", ctx.state(), secrets.map_or(0, |s| s.len()));
//!     let _ = cm;
//!     Ok(Action::requeue_after(Duration::from_secs(300)))
//! }
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let client = rudder_client::Client::new(rudder_client::Config::infer().await?)?;
//! let shutdown = CancellationToken::new();
//! Controller::<ConfigMap>::new(client, WatchOptions::new().labels("app=demo"))
//!     .owns::<Secret>(WatchOptions::new().fields(fields::one_term_not_equal("type", "kubernetes.io/service-account-token")))
//!     .max_concurrent_reconciles(4)
//!     .debounce(Duration::from_millis(500))
//!     .run(reconcile, "demo".to_string(), shutdown.clone())
//!     .await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod action;
mod context;
mod controller;
pub mod endpoints;
mod error;
mod key;
mod manager;
mod metrics;
mod predicate;
mod prometheus;
pub mod queue;
mod source;

pub mod fields;
pub mod finalizer;
pub mod owner;
pub mod retry;
pub mod wait;
pub mod webhook;

pub use action::Action;
pub use context::Context;
pub use controller::{Controller, DEFAULT_CACHE_SYNC_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT};
pub use error::{CacheSyncFailure, ControllerError};
pub use key::ObjectKey;
pub use manager::{Bound, BoundAddresses, LeaderStatus, Manager, ManagerError};
pub use metrics::{ControllerMetrics, MetricsSnapshot};
pub use predicate::Predicate;
pub use queue::{default_rate_limiter, DEFAULT_ERROR_BACKOFF_BASE, DEFAULT_ERROR_BACKOFF_MAX};
pub use source::WatchOptions;
pub use tokio_util::sync::CancellationToken;
