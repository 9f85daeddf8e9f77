//! [`Controller`]: informers feeding a rate-limited queue of keys, worked by a bounded pool of
//! reconciles (controller-runtime's `Controller`, kube-rs's `runtime::Controller`), on
//! rudder-informer's shared informers, listers and workqueue.
//!
//! Contract of [`Controller::run`]:
//! - **Start**: selectors are checked, every watched kind's event handler is registered, the
//!   informers are started, and reconciles start only once every informer has synced and every
//!   handler has processed its initial list (else [`ControllerError::CacheSync`] after
//!   `cache_sync_timeout`, default [`DEFAULT_CACHE_SYNC_TIMEOUT`], and no reconcile ran).
//! - **Queue**: see [`crate::queue`]: one place per key, dirty keys reconciled once more after
//!   the running reconcile, never by two workers at once; the debounce window (default zero)
//!   folds a burst of events for one key into one reconcile.
//! - **Workers**: `max_concurrent_reconciles` workers (default 1) each take the next key, so a
//!   long reconcile holds only its own worker: other keys proceed while any worker is free.
//! - **Results**: `Ok(Action)` forgets the key's back-off (and requeues after the asked delay);
//!   `Err(e)` is logged and requeued through the rate limiter (default
//!   [`default_rate_limiter`](crate::default_rate_limiter)); a panic is caught, logged, counted
//!   ([`MetricsSnapshot::panics`](crate::MetricsSnapshot)) and requeued likewise: the worker
//!   survives.
//! - **Shutdown** (when the token given to `run` is cancelled): workers stop taking keys and the
//!   queue drops pending and delayed keys; in-flight reconciles get `shutdown_timeout` (default
//!   [`DEFAULT_SHUTDOWN_TIMEOUT`]) to finish, after which they are abandoned
//!   ([`ControllerError::ShutdownTimedOut`]); then the event recorder is flushed (bounded by the
//!   same timeout), the handlers are removed, and the factory's informers are stopped when the
//!   controller created the factory ([`Controller::new`]; a factory passed to
//!   [`Controller::with_factory`] belongs to the caller, and so do the informers the controller
//!   asked it for, selector-scoped ones included).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use serde::de::DeserializeOwned;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::resource::Resource;
use rudder_client::Client;
use rudder_informer::record::EventRecorder;
use rudder_informer::workqueue::RateLimiter;
use rudder_informer::SharedInformerFactory;

use crate::action::Action;
use crate::context::Context;
use crate::error::ControllerError;
use crate::key::ObjectKey;
use crate::metrics::{ControllerMetrics, Outcome};
use crate::predicate::Predicate;
use crate::queue::{default_rate_limiter, Scheduler};
use crate::source::{owner_mapper, self_mapper, Source, WatchOptions, Watched};

/// How long [`Controller::run`] waits for the caches by default (controller-runtime's
/// `CacheSyncTimeout` default).
pub const DEFAULT_CACHE_SYNC_TIMEOUT: Duration = Duration::from_secs(120);
/// How long in-flight reconciles may run after shutdown starts, by default
/// (controller-runtime's `GracefulShutdownTimeout` default).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// A controller for the primary kind `K`; see the module docs.
///
/// ```no_run
/// # async fn f(client: rudder_client::Client) -> Result<(), rudder_controller::ControllerError> {
/// use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
/// use rudder_controller::{Action, CancellationToken, Context, Controller, ObjectKey, WatchOptions};
///
/// async fn reconcile(key: ObjectKey, ctx: Context<()>) -> Result<Action, rudder_client::Error> {
///     let Some(deploy) = ctx.get::<Deployment>(&key) else { return Ok(Action::done()) };
///     let owned = ctx.lister::<ReplicaSet>().map(|l| l.list(&Default::default())).unwrap_or_default();
///     println!("{key}: generation {:?}, {} replica sets cached", deploy.metadata.generation, owned.len());
///     Ok(Action::done())
/// }
///
/// let shutdown = CancellationToken::new();
/// Controller::<Deployment>::new(client, WatchOptions::new())
///     .owns::<ReplicaSet>(WatchOptions::new())
///     .max_concurrent_reconciles(4)
///     .run(reconcile, (), shutdown)
///     .await
/// # }
/// ```
pub struct Controller<K> {
    name: String,
    client: Client,
    factory: SharedInformerFactory,
    owns_factory: bool,
    sources: Vec<Box<dyn Source>>,
    max_concurrent: usize,
    debounce: Duration,
    limiter: Arc<dyn RateLimiter<ObjectKey>>,
    cache_sync_timeout: Duration,
    shutdown_timeout: Duration,
    metrics: ControllerMetrics,
    _k: PhantomData<fn() -> K>,
}

impl<K> fmt::Debug for Controller<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller")
            .field("name", &self.name)
            .field("watched_kinds", &self.sources.iter().map(|s| s.kind()).collect::<Vec<_>>())
            .field("max_concurrent_reconciles", &self.max_concurrent)
            .field("debounce", &self.debounce)
            .finish_non_exhaustive()
    }
}

impl<K> Controller<K>
where
    K: Resource + HasMetadata + DeserializeOwned + Send + Sync + 'static,
{
    /// A controller of `K` with its own informer factory (stopped when the controller stops).
    /// `options` selects the primary objects; its default predicate is
    /// [`Predicate::generation_changed`] (status-only updates do not reconcile).
    pub fn new(client: Client, options: WatchOptions) -> Self {
        let factory = SharedInformerFactory::new(client.clone());
        let mut c = Self::with_factory(client, &factory, options);
        c.owns_factory = true;
        c
    }

    /// A controller of `K` sharing `factory`'s informers with other code; the caller starts
    /// nothing and stops the factory itself when every user of it is done.
    pub fn with_factory(client: Client, factory: &SharedInformerFactory, options: WatchOptions) -> Self {
        let primary = Watched::<K>::new(factory, options, Predicate::generation_changed(), self_mapper());
        Self {
            name: K::KIND.to_ascii_lowercase(),
            client,
            factory: factory.clone(),
            owns_factory: false,
            sources: vec![Box::new(primary)],
            max_concurrent: 1,
            debounce: Duration::ZERO,
            limiter: default_rate_limiter(),
            cache_sync_timeout: DEFAULT_CACHE_SYNC_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            metrics: ControllerMetrics::default(),
            _k: PhantomData,
        }
    }

    /// Also watches `C`: an event of a `C` reconciles its controller owner (the ownerReference
    /// with `controller: true` whose kind and group are `K`'s). Every update passes unless
    /// `options` sets a predicate.
    pub fn owns<C>(mut self, options: WatchOptions) -> Self
    where
        C: Resource + HasMetadata + DeserializeOwned + Send + Sync + 'static,
    {
        let source = Watched::<C>::new(&self.factory, options, Predicate::always(), owner_mapper::<K, C>());
        self.sources.push(Box::new(source));
        self
    }

    /// Also watches `W`: an event of a `W` reconciles the keys `mapper` returns for it (for an
    /// update, for the old and the new object). Every update passes unless `options` sets a
    /// predicate. The mapper runs on the informer's handler thread: keep it quick.
    pub fn watches<W>(
        mut self,
        options: WatchOptions,
        mapper: impl Fn(&W) -> Vec<ObjectKey> + Send + Sync + 'static,
    ) -> Self
    where
        W: Resource + HasMetadata + DeserializeOwned + Send + Sync + 'static,
    {
        let source = Watched::<W>::new(&self.factory, options, Predicate::always(), Arc::new(mapper));
        self.sources.push(Box::new(source));
        self
    }

    /// The controller's name, in logs and as the event recorder's source component (default:
    /// the kind in lower case).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How many reconciles may run at once (default 1; 0 counts as 1).
    pub fn max_concurrent_reconciles(mut self, n: usize) -> Self {
        self.max_concurrent = n.max(1);
        self
    }

    /// Folds the events of one key within `window` after the first into one reconcile
    /// (default zero: reconcile at once). See [`crate::queue`].
    pub fn debounce(mut self, window: Duration) -> Self {
        self.debounce = window;
        self
    }

    /// Paces retries of failed reconciles (default [`default_rate_limiter`]).
    pub fn rate_limiter(mut self, limiter: Arc<dyn RateLimiter<ObjectKey>>) -> Self {
        self.limiter = limiter;
        self
    }

    /// How long to wait for the caches before giving up (default [`DEFAULT_CACHE_SYNC_TIMEOUT`]).
    pub fn cache_sync_timeout(mut self, timeout: Duration) -> Self {
        self.cache_sync_timeout = timeout;
        self
    }

    /// How long in-flight reconciles may run once shutdown starts (default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`]).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The controller's counters (readable while it runs).
    pub fn metrics(&self) -> ControllerMetrics {
        self.metrics.clone()
    }

    /// Runs until `shutdown` is cancelled; see the module docs. `state` is reachable from every
    /// reconcile through [`Context::state`].
    pub async fn run<S, R, Fut, E>(
        self,
        reconcile: R,
        state: S,
        shutdown: CancellationToken,
    ) -> Result<(), ControllerError>
    where
        S: Send + Sync + 'static,
        R: Fn(ObjectKey, Context<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        self.run_until(reconcile, state, shutdown, CancellationToken::new()).await
    }

    /// Starts the informers without reconciling (a standby keeping its caches warm); `run`
    /// later finds them running.
    pub(crate) fn start_informers(&self) {
        self.factory.start();
    }

    /// The controller's name.
    pub(crate) fn controller_name(&self) -> &str {
        &self.name
    }

    /// [`Controller::run`], where `abandon` stops the controller as `shutdown` does but without
    /// waiting for in-flight reconciles (the manager's answer to a lost lease): no worker takes
    /// a key once it fired.
    pub(crate) async fn run_until<S, R, Fut, E>(
        mut self,
        reconcile: R,
        state: S,
        shutdown: CancellationToken,
        abandon: CancellationToken,
    ) -> Result<(), ControllerError>
    where
        S: Send + Sync + 'static,
        R: Fn(ObjectKey, Context<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        for s in &self.sources {
            s.validate()?;
        }
        self.metrics.set_max_concurrent(self.max_concurrent);
        let scheduler = Scheduler::new(self.limiter.clone(), self.debounce, self.metrics.clone());
        for i in 0..self.sources.len() {
            if let Err(e) = self.sources[i].register(scheduler.clone()) {
                self.stop(&scheduler).await;
                return Err(e);
            }
        }
        self.start_informers();

        let timeout = self.cache_sync_timeout;
        let synced = futures::future::join_all(self.sources.iter().map(|s| s.wait_synced(timeout)));
        let results = tokio::select! {
            r = synced => r,
            _ = shutdown.cancelled() => {
                self.stop(&scheduler).await;
                return Ok(());
            }
        };
        let failures: Vec<_> = results.into_iter().filter_map(Result::err).collect();
        if !failures.is_empty() {
            self.stop(&scheduler).await;
            return Err(ControllerError::CacheSync { failures });
        }

        // Cancelled with `abandon` too, so no worker takes a key once it fires.
        let stop_taking = abandon.child_token();
        let recorder = EventRecorder::new(self.client.clone(), &self.name, None);
        let informers = {
            let mut map = std::collections::HashMap::new();
            for s in &self.sources {
                let (id, informer) = s.informer_any();
                map.entry(id).or_insert(informer);
            }
            map
        };
        let ctx = Context::new(self.client.clone(), recorder.clone(), informers, state, stop_taking.child_token());
        let reconcile = Arc::new(reconcile);
        let name: Arc<str> = self.name.as_str().into();
        tracing::info!(controller = %name, workers = self.max_concurrent, "caches synced; starting workers");
        self.metrics.set_synced(true);
        let mut workers = JoinSet::new();
        for _ in 0..self.max_concurrent {
            workers.spawn(worker(
                scheduler.clone(),
                reconcile.clone(),
                ctx.clone(),
                self.metrics.clone(),
                name.clone(),
                stop_taking.clone(),
            ));
        }

        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = abandon.cancelled() => {}
        }
        tracing::info!(controller = %name, "shutting down: no more keys are taken");
        stop_taking.cancel();
        scheduler.queue.shut_down();
        let deadline = tokio::time::sleep(self.shutdown_timeout);
        tokio::pin!(deadline);
        let abandoned_by_caller = abandon.cancelled();
        tokio::pin!(abandoned_by_caller);
        let mut abandoned = None;
        loop {
            tokio::select! {
                r = workers.join_next() => if r.is_none() { break },
                _ = futures::future::select(&mut deadline, &mut abandoned_by_caller) => {
                    let in_flight = self.metrics.snapshot().active_workers;
                    workers.abort_all();
                    while workers.join_next().await.is_some() {}
                    // Abandoning on the caller's word (a lost lease) is what was asked for, not
                    // a missed deadline: the caller reports it.
                    if abandon.is_cancelled() {
                        tracing::warn!(controller = %name, in_flight, "abandoned in-flight reconciles as asked");
                    } else {
                        tracing::warn!(controller = %name, in_flight, "shutdown deadline passed; abandoning reconciles");
                        abandoned = (in_flight > 0).then_some(in_flight);
                    }
                    break;
                }
            }
        }
        drop(ctx);
        if tokio::time::timeout(self.shutdown_timeout, recorder.shutdown()).await.is_err() {
            tracing::warn!(controller = %name, "event recorder did not flush before the shutdown deadline");
        }
        self.stop(&scheduler).await;
        match abandoned {
            Some(in_flight) => Err(ControllerError::ShutdownTimedOut { in_flight, after: self.shutdown_timeout }),
            None => Ok(()),
        }
    }

    /// Removes the handlers, shuts the queue down and stops the informers the controller owns.
    async fn stop(&mut self, scheduler: &Scheduler) {
        scheduler.queue.shut_down();
        self.metrics.set_queue(None);
        self.metrics.set_synced(false);
        for s in &mut self.sources {
            s.stop().await;
        }
        if self.owns_factory {
            self.factory.shutdown().await;
        }
    }
}

/// One worker: takes keys until told to stop or the queue is shut down and empty.
async fn worker<S, R, Fut, E>(
    scheduler: Scheduler,
    reconcile: Arc<R>,
    ctx: Context<S>,
    metrics: ControllerMetrics,
    name: Arc<str>,
    stop: CancellationToken,
) where
    S: Send + Sync + 'static,
    R: Fn(ObjectKey, Context<S>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    let queue = &scheduler.queue;
    loop {
        let key = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            key = queue.get() => match key {
                Some(key) => key,
                None => return,
            },
        };
        let active = metrics.started();
        let began = tokio::time::Instant::now();
        let result = AssertUnwindSafe(async { reconcile(key.clone(), ctx.clone()).await }).catch_unwind().await;
        let outcome = match result {
            Ok(Ok(action)) => {
                queue.forget(&key);
                match action.requeue_delay() {
                    Some(delay) => {
                        queue.add_after(key.clone(), delay);
                        metrics.retried();
                        Outcome::RequeueAfter
                    }
                    None => Outcome::Success,
                }
            }
            Ok(Err(e)) => {
                tracing::error!(controller = %name, %key, error = %e, "reconcile failed; requeued with back-off");
                queue.add_rate_limited(key.clone());
                metrics.retried();
                Outcome::Error
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_owned());
                tracing::error!(controller = %name, %key, panic = %message, "reconcile panicked; requeued with back-off");
                queue.add_rate_limited(key.clone());
                metrics.retried();
                Outcome::Panic
            }
        };
        queue.done(&key);
        metrics.ended(outcome, began.elapsed().as_secs_f64());
        drop(active);
        // A reconcile that awaits nothing and requeues at once must not monopolise the thread
        // (on a current-thread runtime it would starve everything else): count each round
        // against tokio's cooperative budget, which yields when it runs out.
        tokio::task::consume_budget().await;
    }
}
