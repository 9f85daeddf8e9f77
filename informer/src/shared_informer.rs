//! `SharedIndexInformer`: one reflector, one queue and one indexer shared by any number of
//! event handlers (client-go's `sharedIndexInformer`).
//!
//! Contract:
//! - Every popped item is applied to the [`Indexer`] first, then dispatched to handlers:
//!   `on_add(obj, is_initial_list)`, `on_update(old, new)`, `on_delete(DeletedObject)`.
//! - Updates whose old and new objects have the same resourceVersion (resyncs, and relisted
//!   objects that did not change) go only to handlers whose resync period is due.
//! - Each handler has its own unbounded buffer and thread ([`crate::processor`]).
//! - A handler added after start first receives an add for every object already cached
//!   (flagged as initial list), then live events; every registration has its own HasSynced;
//!   handlers can be removed, and removal can wait for the handler to finish.
//! - The transform hook and indexers can be set before start; indexers also after.
//! - [`SharedIndexInformer::wait_for_cache_sync`] returns the cause (403, unknown resource,
//!   unreachable server ...) when the informer cannot sync in time, never hangs.
//! - [`SharedIndexInformer::shutdown`] stops the reflector, drains and closes the queue, stops
//!   every handler and joins every task and thread. Start and shutdown may be called any number
//!   of times from any task, concurrently: a start either completes before a shutdown begins
//!   (and that shutdown stops what it started) or does nothing; every shutdown, when it
//!   returns, has seen every task and handler thread finish.
//! - The queue is a [`DeltaFIFO`] (the design card's pipeline, the default) or the in-order
//!   [`RealFIFO`] (client-go 1.36's default), chosen with [`QueueKind`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use rudder_apimachinery::meta::HasMetadata;
use rudder_client::Error;

use crate::delta_fifo::{DeltaFIFO, DeltaObject, DeltaType};
use crate::indexer::{IndexError, IndexFunc, Indexer};
use crate::list_watch::ListerWatcher;
use crate::processor::{ChannelHandler, DeletedObject, Notification, Processor, Registration, ResourceEventHandler};
use crate::real_fifo::RealFIFO;
use crate::reflector::{
    ErrorHandler, Reflector, ReflectorOptions, ReflectorStatus, Transform, DEFAULT_WATCH_IDLE_TIMEOUT,
};
use crate::reflector_metrics::ReflectorMetricsSink;
use crate::store::{apply_delta, sync_all, KeyListerGetter, PopError, Popped, ProcessError, Queue, StoreChange};

/// Which queue sits between the reflector and the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueKind {
    /// Per-key delta lists with client-go's DeltaFIFO semantics (compresses bursts per key).
    #[default]
    DeltaFifo,
    /// Every event in arrival order; relists applied atomically (client-go 1.36's default).
    RealFifo,
}

/// Informer settings.
#[derive(Clone)]
pub struct InformerOptions<K> {
    /// Name in logs, e.g. `pods`.
    pub name: String,
    /// Default resync period of handlers added without one (`None`: no resync).
    pub resync_period: Option<Duration>,
    /// The queue.
    pub queue: QueueKind,
    /// Try streaming lists first.
    pub use_watch_list: bool,
    /// Page size of paged lists.
    pub page_size: i64,
    /// Runs on every object before it is cached.
    pub transform: Option<Transform<K>>,
    /// Drops every object's `metadata.managedFields` before caching, skipped unparsed while
    /// decoding JSON (default false; see
    /// [`SharedInformerFactory::strip_managed_fields`](crate::SharedInformerFactory::strip_managed_fields)).
    pub strip_managed_fields: bool,
    /// A watch that delivers no event and no bookmark for this long is restarted from the last
    /// resourceVersion (`None` or zero: never; default
    /// [`DEFAULT_WATCH_IDLE_TIMEOUT`], 5 minutes;
    /// see [`crate::reflector`]).
    pub watch_idle_timeout: Option<Duration>,
    /// Where the reflector reports its lists and watches (nothing by default; a factory's
    /// informers share the factory's, see
    /// [`SharedInformerFactory::set_reflector_metrics`](crate::SharedInformerFactory::set_reflector_metrics)).
    pub metrics: ReflectorMetricsSink,
}

impl<K> Default for InformerOptions<K> {
    fn default() -> Self {
        Self {
            name: "informer".into(),
            resync_period: None,
            queue: QueueKind::default(),
            use_watch_list: true,
            page_size: 500,
            transform: None,
            strip_managed_fields: false,
            watch_idle_timeout: Some(DEFAULT_WATCH_IDLE_TIMEOUT),
            metrics: ReflectorMetricsSink::default(),
        }
    }
}

/// Why an informer could not be used as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InformerError {
    /// The informer has already been started (transform and queue are fixed by then).
    #[error("informer {0} has already started")]
    AlreadyStarted(String),
    /// The informer has been shut down.
    #[error("informer {0} has been shut down")]
    Stopped(String),
    /// An index operation failed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Why `wait_for_cache_sync` gave up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The informer did not sync in time; `last_error` is what its lists and watches failed
    /// with (403 Forbidden, 404 for an unknown resource, connection refused ...).
    #[error("informer {name} did not sync within {after:?}{}", match last_error { Some(e) => format!(": {e}"), None => String::new() })]
    Timeout {
        /// The informer.
        name: String,
        /// How long it waited.
        after: Duration,
        /// The last list/watch error, if any.
        last_error: Option<Arc<Error>>,
    },
    /// The informer was never started.
    #[error("informer {0} was not started")]
    NotStarted(String),
    /// The informer was shut down before it synced.
    #[error("informer {0} was shut down before it synced")]
    Stopped(String),
}

impl SyncError {
    /// The last list/watch error behind a timeout.
    pub fn cause(&self) -> Option<&Error> {
        match self {
            SyncError::Timeout { last_error: Some(e), .. } => Some(e),
            _ => None,
        }
    }
}

struct Setup<K> {
    transform: Option<Transform<K>>,
    error_handler: Option<ErrorHandler>,
}

struct Inner<K> {
    name: String,
    lw: Arc<dyn ListerWatcher<K>>,
    opts: InformerOptions<K>,
    indexer: Arc<Indexer<K>>,
    processor: Arc<Processor<K>>,
    synced: Arc<AtomicBool>,
    synced_notify: tokio::sync::Notify,
    /// Changed only under `lifecycle`.
    started: AtomicBool,
    /// Changed only under `lifecycle`; read under `dispatch_lock` by registration.
    stopped: AtomicBool,
    /// Serialises handler registration against the dispatch of popped items, so a late handler
    /// sees every object exactly once (client-go's `blockDeltas`).
    dispatch_lock: Mutex<()>,
    setup: Mutex<Setup<K>>,
    status: Mutex<Option<Arc<ReflectorStatus>>>,
    cancel: CancellationToken,
    /// Start and shutdown hold it while they change `started` / `stopped`, so a start either
    /// has spawned everything before a shutdown begins or sees `stopped` and does nothing.
    /// Holds how to close the running queue.
    lifecycle: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
    /// The reflector, pop and sync-watch tasks (their join handles, awaitable by any number of
    /// shutdowns); every shutdown waits for all of them.
    tasks: Mutex<Vec<Shared<BoxFuture<'static, ()>>>>,
    /// Every registration a shutdown stopped; every shutdown waits for all of their threads.
    stopped_handlers: Mutex<Vec<Registration>>,
}

/// A shared informer for `K`. Cheap to clone; clones share everything.
pub struct SharedIndexInformer<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for SharedIndexInformer<K> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl<K: HasMetadata + Send + Sync + 'static> SharedIndexInformer<K> {
    /// An informer over `lw` (not started).
    pub fn new(lw: impl ListerWatcher<K>, opts: InformerOptions<K>) -> Self {
        Self::from_arc(Arc::new(lw), opts)
    }

    /// An informer over a shared lister-watcher (not started).
    pub fn from_arc(lw: Arc<dyn ListerWatcher<K>>, opts: InformerOptions<K>) -> Self {
        let synced = Arc::new(AtomicBool::new(false));
        let transform = opts.transform.clone();
        Self {
            inner: Arc::new(Inner {
                name: opts.name.clone(),
                lw,
                opts,
                indexer: Arc::new(Indexer::new()),
                processor: Arc::new(Processor::new(synced.clone())),
                synced,
                synced_notify: tokio::sync::Notify::new(),
                started: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                dispatch_lock: Mutex::new(()),
                setup: Mutex::new(Setup { transform, error_handler: None }),
                status: Mutex::new(None),
                cancel: CancellationToken::new(),
                lifecycle: Mutex::new(None),
                tasks: Mutex::new(Vec::new()),
                stopped_handlers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The informer's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The cache.
    pub fn indexer(&self) -> &Arc<Indexer<K>> {
        &self.inner.indexer
    }

    /// A typed lister over the cache.
    pub fn lister(&self) -> crate::lister::Lister<K> {
        crate::lister::Lister::new(self.inner.indexer.clone())
    }

    /// Adds a named index (before or after start).
    pub fn add_indexer(
        &self,
        name: &str,
        f: impl Fn(&K) -> Result<Vec<String>, crate::indexer::IndexFuncError> + Send + Sync + 'static,
    ) -> Result<(), InformerError> {
        let func: IndexFunc<K> = Arc::new(f);
        let _g = self.inner.dispatch_lock.lock();
        self.inner.indexer.add_indexers([(name.to_string(), func)])?;
        Ok(())
    }

    /// Sets the transform run on every object before it is cached (before start only).
    pub fn set_transform(&self, f: impl Fn(K) -> K + Send + Sync + 'static) -> Result<(), InformerError> {
        // Checked under the setup lock: start sets `started` before it reads the setup.
        let mut setup = self.inner.setup.lock();
        if self.inner.started.load(Ordering::SeqCst) {
            return Err(InformerError::AlreadyStarted(self.inner.name.clone()));
        }
        setup.transform = Some(Arc::new(f));
        Ok(())
    }

    /// Sets a hook called with every list/watch error (before start only).
    pub fn set_watch_error_handler(&self, f: impl Fn(&Error) + Send + Sync + 'static) -> Result<(), InformerError> {
        let mut setup = self.inner.setup.lock();
        if self.inner.started.load(Ordering::SeqCst) {
            return Err(InformerError::AlreadyStarted(self.inner.name.clone()));
        }
        setup.error_handler = Some(Arc::new(f));
        Ok(())
    }

    /// Registers a handler with the informer's default resync period.
    pub fn add_event_handler(&self, handler: impl ResourceEventHandler<K>) -> Result<Registration, InformerError> {
        self.add_event_handler_with_resync(handler, self.inner.opts.resync_period)
    }

    /// Registers a handler with its own resync period (`None`: no resync; minimum 1 s).
    pub fn add_event_handler_with_resync(
        &self,
        handler: impl ResourceEventHandler<K>,
        resync_period: Option<Duration>,
    ) -> Result<Registration, InformerError> {
        self.register(Arc::new(handler), resync_period)
    }

    fn register(
        &self,
        handler: Arc<dyn ResourceEventHandler<K>>,
        resync_period: Option<Duration>,
    ) -> Result<Registration, InformerError> {
        // Checked under the dispatch lock, which shutdown takes to stop the handlers: a handler
        // registered here is one that shutdown stops.
        let _g = self.inner.dispatch_lock.lock();
        if self.inner.stopped.load(Ordering::SeqCst) {
            return Err(InformerError::Stopped(self.inner.name.clone()));
        }
        let initial = if self.inner.started.load(Ordering::SeqCst) { self.inner.indexer.list() } else { Vec::new() };
        Ok(self.inner.processor.add(handler, resync_period, initial))
    }

    /// Removes a handler; it receives nothing more. Await [`Registration::stopped`] to wait for
    /// its thread to finish.
    pub fn remove_event_handler(&self, reg: &Registration) -> bool {
        self.inner.processor.remove(reg)
    }

    /// The informer's events as an async stream (an alternative to handler callbacks).
    pub fn stream(&self) -> Result<EventStream<K>, InformerError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let registration = self.register(Arc::new(ChannelHandler(tx)), None)?;
        Ok(EventStream { rx, registration })
    }

    /// Whether the initial list has been fully delivered to the cache.
    pub fn has_synced(&self) -> bool {
        self.inner.synced.load(Ordering::SeqCst)
    }

    /// The resourceVersion the informer has reached ("" before the first list).
    pub fn last_sync_resource_version(&self) -> String {
        self.inner.status.lock().as_ref().map(|s| s.last_sync_resource_version()).unwrap_or_default()
    }

    /// The last list/watch error.
    pub fn last_error(&self) -> Option<Arc<Error>> {
        self.inner.status.lock().as_ref().and_then(|s| s.last_error())
    }

    /// Starts the reflector and the processing loop on the current tokio runtime. Calling it
    /// again, or after [`shutdown`](Self::shutdown) began, does nothing.
    pub fn start(&self) {
        let mut close_queue = self.inner.lifecycle.lock();
        if self.inner.stopped.load(Ordering::SeqCst) || self.inner.started.swap(true, Ordering::SeqCst) {
            return;
        }
        *close_queue = Some(match self.inner.opts.queue {
            QueueKind::DeltaFifo => {
                let known: Arc<dyn KeyListerGetter<K>> = self.inner.indexer.clone();
                self.spawn(Arc::new(DeltaFIFO::new(Some(known))))
            }
            QueueKind::RealFifo => self.spawn(Arc::new(RealFIFO::new())),
        });
    }

    /// Spawns the reflector, pop and sync-watch tasks on `queue`; returns how to close it.
    fn spawn<Q: Queue<K> + crate::reflector::ReflectorStore<K>>(&self, queue: Arc<Q>) -> Box<dyn Fn() + Send + Sync> {
        let (transform, error_handler) = {
            let s = self.inner.setup.lock();
            (s.transform.clone(), s.error_handler.clone())
        };
        let processor = self.inner.processor.clone();
        let opts = ReflectorOptions {
            name: self.inner.name.clone(),
            page_size: self.inner.opts.page_size,
            use_watch_list: self.inner.opts.use_watch_list,
            resync_period: self.inner.processor.min_resync_period().or(self.inner.opts.resync_period),
            transform,
            strip_managed_fields: self.inner.opts.strip_managed_fields,
            should_resync: Some(Arc::new(move || processor.should_resync())),
            error_handler,
            watch_idle_timeout: self.inner.opts.watch_idle_timeout,
            metrics: self.inner.opts.metrics.clone(),
            ..ReflectorOptions::default()
        };
        let reflector = Reflector::new(self.inner.lw.clone(), queue.clone(), opts);
        *self.inner.status.lock() = Some(reflector.status());
        let q2 = queue.clone();
        let mut tasks = self.inner.tasks.lock();
        let mut spawn = |task: BoxFuture<'static, ()>| {
            // A panic in a task is already reported by the runtime; joining only waits.
            tasks.push(tokio::spawn(task).map(|_| ()).boxed().shared());
        };
        spawn(reflector.run(self.inner.cancel.clone()).boxed());
        let inner = self.inner.clone();
        let q3 = queue.clone();
        spawn(process_loop(inner, queue).boxed());
        // HasSynced can become true without any pop (an empty first list): watch for it.
        let inner = self.inner.clone();
        spawn(Box::pin(async move {
            while !inner.synced.load(Ordering::SeqCst) && !inner.cancel.is_cancelled() {
                if q3.has_synced() {
                    mark_synced(&inner);
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                    _ = inner.cancel.cancelled() => return,
                }
            }
        }));
        Box::new(move || q2.close())
    }

    /// Waits until the cache has synced and every handler registered so far has received its
    /// initial list (client-go users wait on each registration's `HasSynced` for the second
    /// part), at most `timeout`; the error says why it did not. A handler removed or stopped
    /// meanwhile is not waited for.
    pub async fn wait_for_cache_sync(&self, timeout: Duration) -> Result<(), SyncError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.synced_notify.notified();
            if self.has_synced() {
                return self.wait_for_handlers(deadline, timeout).await;
            }
            if !self.inner.started.load(Ordering::SeqCst) {
                return Err(SyncError::NotStarted(self.inner.name.clone()));
            }
            if self.inner.stopped.load(Ordering::SeqCst) {
                return Err(SyncError::Stopped(self.inner.name.clone()));
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => {
                    if self.has_synced() {
                        return self.wait_for_handlers(deadline, timeout).await;
                    }
                    return Err(SyncError::Timeout { name: self.inner.name.clone(), after: timeout, last_error: self.last_error() });
                }
                // Wake up now and then to notice a shutdown.
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    /// The second half of [`wait_for_cache_sync`](Self::wait_for_cache_sync): every current
    /// handler has taken its initial list, by `deadline`.
    async fn wait_for_handlers(&self, deadline: tokio::time::Instant, timeout: Duration) -> Result<(), SyncError> {
        for reg in self.inner.processor.registrations() {
            if tokio::time::timeout_at(deadline, reg.synced()).await.is_err() {
                let name = format!("{} (a handler still taking its initial list)", self.inner.name);
                return Err(SyncError::Timeout { name, after: timeout, last_error: self.last_error() });
            }
        }
        Ok(())
    }

    /// Stops the informer: the reflector ends, queued items drain into the cache, handlers
    /// receive what was queued for them and stop; every task and thread is joined. Any number
    /// of calls may run at once: each returns only when everything has stopped. Cancel-safe:
    /// a later call still waits for everything.
    pub async fn shutdown(&self) {
        let close_queue = {
            let mut close_queue = self.inner.lifecycle.lock();
            self.inner.stopped.store(true, Ordering::SeqCst);
            close_queue.take()
        };
        self.inner.cancel.cancel();
        if let Some(close) = close_queue {
            close();
        }
        // Every task ever spawned: start spawns only before `stopped` is set, under the lock.
        let tasks = self.inner.tasks.lock().clone();
        futures::future::join_all(tasks).await;
        let regs = {
            let _g = self.inner.dispatch_lock.lock();
            let mut stopped = self.inner.stopped_handlers.lock();
            stopped.extend(self.inner.processor.shutdown());
            stopped.clone()
        };
        for r in &regs {
            r.stopped().await;
        }
        self.inner.synced_notify.notify_waiters();
    }
}

async fn process_loop<K: HasMetadata + Send + Sync + 'static, Q: Queue<K>>(inner: Arc<Inner<K>>, queue: Arc<Q>) {
    loop {
        let inner2 = inner.clone();
        let r = queue
            .pop(move |popped, is_in_initial_list| {
                let _g = inner2.dispatch_lock.lock();
                handle(&inner2, popped, is_in_initial_list)
            })
            .await;
        // Handlers are woken once per burst of items, not once per notification.
        if queue.is_empty() || r.is_err() {
            inner.processor.flush();
        }
        match r {
            Ok(()) => {}
            Err(PopError::Closed) => return,
            Err(PopError::Requeued(e)) | Err(PopError::Failed(e)) => {
                tracing::error!(informer = %inner.name, error = %e, "cannot apply an item to the cache");
            }
        }
        if queue.has_synced() {
            mark_synced(&inner);
        }
    }
}

fn mark_synced<K>(inner: &Inner<K>) {
    if !inner.synced.swap(true, Ordering::SeqCst) {
        inner.synced_notify.notify_waiters();
        inner.processor.notify_upstream_synced();
    }
}

fn same_rv<K: HasMetadata>(a: &K, b: &K) -> bool {
    matches!((a.resource_version(), b.resource_version()), (Some(x), Some(y)) if x == y)
}

fn handle<K: HasMetadata + Send + Sync + 'static>(
    inner: &Inner<K>,
    popped: Popped<'_, K>,
    is_in_initial_list: bool,
) -> Result<(), ProcessError<IndexError>> {
    let store = &*inner.indexer;
    match popped {
        Popped::Deltas(deltas) => {
            for d in deltas {
                let change = apply_delta(store, d).map_err(ProcessError::Failed)?;
                let force_sync = d.kind == DeltaType::Sync;
                let check_rv = d.kind == DeltaType::Replaced;
                dispatch(inner, change, is_in_initial_list, force_sync, check_rv);
            }
        }
        Popped::ReplacedAll(r) => {
            for change in r.apply(store).map_err(ProcessError::Failed)? {
                dispatch(inner, change, is_in_initial_list, false, true);
            }
        }
        Popped::SyncAll => {
            for change in sync_all(store) {
                dispatch(inner, change, false, true, false);
            }
        }
    }
    Ok(())
}

fn dispatch<K: HasMetadata + Send + Sync + 'static>(
    inner: &Inner<K>,
    change: StoreChange<K>,
    is_in_initial_list: bool,
    force_sync: bool,
    check_rv: bool,
) {
    let p = &inner.processor;
    match change {
        StoreChange::Added(obj) => p.distribute(Notification::Add { obj, is_initial_list: is_in_initial_list }, false),
        StoreChange::Updated { old, new } => {
            let is_sync = force_sync || (check_rv && same_rv(&*old, &*new));
            p.distribute(Notification::Update { old, new }, is_sync)
        }
        StoreChange::Deleted(DeltaObject::Object(o)) => {
            p.distribute(Notification::Delete(DeletedObject::Final(o)), false)
        }
        StoreChange::Deleted(DeltaObject::DeletedFinalStateUnknown { key, obj: Some(last_known) }) => {
            p.distribute(Notification::Delete(DeletedObject::Unknown { key, last_known }), false)
        }
        StoreChange::Deleted(DeltaObject::DeletedFinalStateUnknown { key, obj: None }) => {
            tracing::warn!(informer = %inner.name, %key, "tombstone without a last known state; handlers not told");
        }
    }
}

/// The informer's events as a `Stream` (see [`SharedIndexInformer::stream`]). Dropping it
/// does not unregister the handler; call [`EventStream::registration`] and remove it.
pub struct EventStream<K> {
    rx: tokio::sync::mpsc::UnboundedReceiver<Notification<K>>,
    registration: Registration,
}

impl<K> EventStream<K> {
    /// The registration behind the stream (HasSynced, removal).
    pub fn registration(&self) -> &Registration {
        &self.registration
    }
}

impl<K> futures::Stream for EventStream<K> {
    type Item = Notification<K>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
