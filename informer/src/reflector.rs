//! `Reflector`: keeps a store in step with one collection on the API server, by listing and
//! then watching, with client-go's rules.
//!
//! Contract (client-go `tools/cache/reflector.go`):
//! - The first list asks for resourceVersion "0" (the server may answer from its cache); later
//!   lists ask for the last-synced resourceVersion; "" (a consistent read) only after a list or
//!   watch failed with 410 Expired/Gone or "too large resource version". A list that gets 410 is
//!   retried at once with "".
//! - Lists are paged (500 per page) when listing at "" or "0"; at a specific resourceVersion
//!   paging is off so the server's cache can answer. An expired continue token falls back to
//!   one full list at the same resourceVersion (client-go's pager `FullListIfExpired`).
//! - After a list, the store is replaced with the items and the list's resourceVersion.
//! - A relist holds one copy of each unchanged object, not two: every listed object the store
//!   already holds at the same uid and resourceVersion is swapped for the store's copy as it
//!   is decoded, and the new copy is dropped then ([`ReflectorStore::cached`], handed to the
//!   lister-watcher in [`ItemOptions`]). A resourceVersion names one state of one object, so the two
//!   are equal; only the allocation differs. Without this a relist after a 410 holds the old
//!   cache and the whole new list at once (client-go and kube-rs do), twice the steady state.
//! - Watches start at the last-synced resourceVersion with bookmarks on and a server timeout
//!   drawn uniformly from [min, 2*min) (min = 5 minutes). ADDED/MODIFIED/DELETED go to the
//!   store; BOOKMARK only advances the last-synced resourceVersion; an ERROR ends the watch.
//! - A watch that ends normally is resumed WITHOUT a new list; one that ends within 1 s with no
//!   events counts as a failure (backoff, then resume). 410 on a watch relists at the
//!   last-synced resourceVersion ("too large resource version": at ""). Connection refused and
//!   429 back off and retry the watch only. Any other failure backs off and relists.
//! - Backoff: [`Backoff`] (800 ms doubling, jittered, capped at 30 s, reset after 2 minutes).
//! - Streaming lists (watch with sendInitialEvents=true, resourceVersionMatch=NotOlderThan,
//!   collecting events until the bookmark annotated `k8s.io/initial-events-end`, then replacing
//!   the store and continuing on the same stream) are used by default; when the server refuses
//!   them (400/403/404/405/406/415/422) the reflector falls back to list+watch for good, on any
//!   other failure for that attempt only.
//! - A watch that delivers nothing (no event, no bookmark; headers included, when starting)
//!   for `watch_idle_timeout` is treated as dead: it is dropped and resumed at once from the
//!   last-synced resourceVersion, without a list and without backoff (a half-open connection
//!   cannot freeze the reflector). The error handler and [`ReflectorStatus::last_error`] see
//!   it as [`Error::WatchIdle`] naming the reflector and the idle limit. During a streaming list it fails that attempt (list+watch follows).
//!   Default [`DEFAULT_WATCH_IDLE_TIMEOUT`], 5 minutes: kube-apiserver sends a bookmark to
//!   watchers that allow them about every minute (and 2 s before `timeoutSeconds`), so a
//!   healthy watch is never silent that long; a server without bookmarks ends every watch
//!   within its `timeoutSeconds` (5-10 minutes), so at worst a quiet watch there is resumed
//!   once early. Progress is counted in whole events: the bytes of an event still arriving
//!   do not count.
//! - Every `resync_period`, if `should_resync` says so, the store is told to resync.
//! - The last-synced resourceVersion and the last error are observable at any time
//!   ([`ReflectorStatus`]); cancelling the token stops the reflector promptly.

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use parking_lot::RwLock;
use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use rudder_apimachinery::keys::key_of;
use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::{ListOptions, ResourceVersionMatch};
use rudder_apimachinery::status::ReasonKind;
use rudder_apimachinery::watch::WatchEvent;
use rudder_client::Error;

use crate::backoff::Backoff;
use crate::list_watch::{Cached, ItemOptions, ListerWatcher, WatchEvents};
use crate::reflector_metrics::{ListDone, ReflectorMetricsSink, WatchDone};

/// Where a reflector puts what it sees (a DeltaFIFO, an in-order FIFO, or a plain store).
pub trait ReflectorStore<K>: Send + Sync {
    /// An object was added (watch ADDED).
    fn add(&self, obj: Arc<K>);
    /// An object was modified (watch MODIFIED).
    fn update(&self, obj: Arc<K>);
    /// An object was deleted (watch DELETED); `obj` is its last state.
    fn delete(&self, obj: Arc<K>);
    /// The whole collection as of `resource_version` (after a list or a streaming list).
    fn replace(&self, objs: Vec<Arc<K>>, resource_version: &str);
    /// Periodic resync.
    fn resync(&self);
    /// The copy of `obj` this store already holds, when it holds the same object (same uid)
    /// at the same resourceVersion; the reflector keeps that copy instead of a newly listed
    /// one, so a relist does not hold two copies of every unchanged object. The default
    /// holds nothing (a store that keeps no objects, or one that wants every copy).
    fn cached(&self, obj: &K) -> Option<Arc<K>> {
        let _ = obj;
        None
    }
}

/// `known` when it is the same object as `obj` (uid) at the same resourceVersion; both must
/// have a resourceVersion (an object without one is never treated as unchanged).
pub(crate) fn same_version<K: HasMetadata>(known: Option<Arc<K>>, obj: &K) -> Option<Arc<K>> {
    let known = known?;
    let (a, b) = (known.metadata(), obj.metadata());
    let rv = a.resource_version.as_deref().filter(|rv| !rv.is_empty())?;
    (Some(rv) == b.resource_version.as_deref() && a.uid == b.uid).then_some(known)
}

pub use crate::list_watch::Transform;
/// Decides at each resync tick whether to resync.
pub type ShouldResync = Arc<dyn Fn() -> bool + Send + Sync>;
/// Called with every list/watch error (client-go's WatchErrorHandler).
pub type ErrorHandler = Arc<dyn Fn(&Error) + Send + Sync>;

/// How long a watch may deliver nothing before it is restarted (see the module docs).
pub const DEFAULT_WATCH_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Reflector settings.
#[derive(Clone)]
pub struct ReflectorOptions<K> {
    /// Name for logs.
    pub name: String,
    /// Page size of paged lists (client-go: 500).
    pub page_size: i64,
    /// Try streaming lists first (client-go 1.35+ default).
    pub use_watch_list: bool,
    /// Watch timeouts are drawn from `[min_watch_timeout, 2 * min_watch_timeout)`.
    pub min_watch_timeout: Duration,
    /// A watch that delivers no event and no bookmark for this long is restarted from the
    /// last-synced resourceVersion (`None` or zero: never; default [`DEFAULT_WATCH_IDLE_TIMEOUT`]).
    pub watch_idle_timeout: Option<Duration>,
    /// Resync period (`None`: never).
    pub resync_period: Option<Duration>,
    /// Backoff between failed attempts.
    pub backoff: Backoff,
    /// Runs on every object before it is stored.
    pub transform: Option<Transform<K>>,
    /// Drops every object's `metadata.managedFields` before the transform (skipped unparsed
    /// while decoding JSON; see [`ItemOptions`]). Default false.
    pub strip_managed_fields: bool,
    /// Decides whether a resync tick resyncs (default: always).
    pub should_resync: Option<ShouldResync>,
    /// Called with every list/watch error.
    pub error_handler: Option<ErrorHandler>,
    /// Where lists and watches are reported (nothing by default; see
    /// [`crate::reflector_metrics`]).
    pub metrics: ReflectorMetricsSink,
}

impl<K> Default for ReflectorOptions<K> {
    fn default() -> Self {
        Self {
            name: "reflector".into(),
            page_size: 500,
            use_watch_list: true,
            min_watch_timeout: Duration::from_secs(300),
            watch_idle_timeout: Some(DEFAULT_WATCH_IDLE_TIMEOUT),
            resync_period: None,
            backoff: Backoff::default(),
            transform: None,
            strip_managed_fields: false,
            should_resync: None,
            error_handler: None,
            metrics: ReflectorMetricsSink::default(),
        }
    }
}

/// What a reflector has achieved, readable while it runs.
#[derive(Debug, Default)]
pub struct ReflectorStatus {
    inner: RwLock<StatusInner>,
}

#[derive(Debug, Default)]
struct StatusInner {
    last_sync_resource_version: String,
    last_error: Option<Arc<Error>>,
    synced_once: bool,
    watch_list_refused: bool,
}

impl ReflectorStatus {
    /// The resourceVersion of the last list, watch event or bookmark seen ("" before the first).
    pub fn last_sync_resource_version(&self) -> String {
        self.inner.read().last_sync_resource_version.clone()
    }
    /// The last list or watch error (cleared by the next successful list).
    pub fn last_error(&self) -> Option<Arc<Error>> {
        self.inner.read().last_error.clone()
    }
    /// Whether a list (or streaming list) has completed at least once.
    pub fn has_listed(&self) -> bool {
        self.inner.read().synced_once
    }
    /// Whether the server refused streaming lists and the reflector fell back to list+watch.
    pub fn watch_list_refused(&self) -> bool {
        self.inner.read().watch_list_refused
    }
}

/// How a watch ended.
enum WatchEnd {
    Cancelled,
    /// The server ended the stream (timeout) or the connection dropped.
    Closed {
        events: usize,
        elapsed: Duration,
    },
    /// An ERROR event or an unrecoverable stream error.
    Failed(Error),
    /// Nothing arrived for the idle limit.
    Idle(Duration),
}

/// Notices a watch that has delivered nothing for its idle limit. Progress is recorded with
/// [`IdleWatch::progress`] (one clock read per event); the timer is re-armed only when it
/// fires, not per event.
struct IdleWatch {
    limit: Option<Duration>,
    last: Instant,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl IdleWatch {
    fn new(limit: Option<Duration>) -> Self {
        // Zero means no limit (as a zero resync period means no resync), not a restart loop.
        let limit = limit.filter(|d| !d.is_zero());
        let last = Instant::now();
        // Without a limit the timer is never polled.
        let timer = Box::pin(tokio::time::sleep_until(last + limit.unwrap_or_default()));
        Self { limit, last, timer }
    }

    /// Something arrived: the watch is alive.
    fn progress(&mut self) {
        self.last = Instant::now();
    }

    /// Resolves with the limit once nothing has arrived for that long (never without a limit).
    /// Cancel-safe: dropping it keeps the timer.
    async fn expired(&mut self) -> Duration {
        let Some(limit) = self.limit else { return std::future::pending().await };
        loop {
            self.timer.as_mut().await;
            let due = self.last + limit;
            if Instant::now() >= due {
                return limit;
            }
            self.timer.as_mut().reset(due);
        }
    }
}

/// Keeps a [`ReflectorStore`] in step with a collection.
pub struct Reflector<K, L: ?Sized, S> {
    lw: Arc<L>,
    store: Arc<S>,
    opts: ReflectorOptions<K>,
    status: Arc<ReflectorStatus>,
    /// What the lister-watcher does with each object: the transform, and the store's copy of
    /// unchanged objects.
    items: ItemOptions<K>,
    /// Set after 410 / too-large-RV: the next list must be a consistent read ("").
    last_sync_rv_unavailable: bool,
}

impl<K, L, S> Reflector<K, L, S>
where
    K: HasMetadata + Send + Sync + 'static,
    L: ListerWatcher<K> + ?Sized,
    S: ReflectorStore<K> + 'static,
{
    /// A reflector feeding `store` from `lw`.
    pub fn new(lw: Arc<L>, store: Arc<S>, opts: ReflectorOptions<K>) -> Self {
        // Weak: decode work still queued when the informer goes must not keep its cache alive.
        let known = Arc::downgrade(&store);
        let cached: Cached<K> = Arc::new(move |obj: &K| known.upgrade()?.cached(obj));
        let items = ItemOptions {
            transform: opts.transform.clone(),
            cached: Some(cached),
            strip_managed_fields: opts.strip_managed_fields,
        };
        Self { lw, store, opts, status: Arc::new(ReflectorStatus::default()), items, last_sync_rv_unavailable: false }
    }

    /// The status handle (clone it before `run`).
    pub fn status(&self) -> Arc<ReflectorStatus> {
        self.status.clone()
    }

    fn record_error(&self, e: Error) {
        tracing::debug!(reflector = %self.opts.name, error = %e, "list/watch failed");
        if let Some(h) = &self.opts.error_handler {
            h(&e);
        }
        self.status.inner.write().last_error = Some(Arc::new(e));
    }

    fn set_rv(&self, rv: &str) {
        if !rv.is_empty() {
            self.status.inner.write().last_sync_resource_version = rv.to_string();
        }
    }

    fn last_rv(&self) -> String {
        self.status.last_sync_resource_version()
    }

    /// The resourceVersion the next list asks for (client-go's `relistResourceVersion`).
    fn relist_resource_version(&self) -> String {
        if self.last_sync_rv_unavailable {
            return String::new();
        }
        let rv = self.last_rv();
        if rv.is_empty() {
            "0".into()
        } else {
            rv
        }
    }

    /// Starts a watch; the lister-watcher runs the transform and makes the `Arc`s where it
    /// decodes.
    async fn start_watch(&self, opts: &ListOptions) -> Result<WatchEvents<K>, Error> {
        self.lw.watch(opts, &self.items).await
    }

    /// Hands a watched object to the store and advances the last-synced resourceVersion to
    /// the object's.
    fn apply(&self, obj: Arc<K>, op: fn(&S, Arc<K>)) {
        let rv = obj.resource_version().map(str::to_string);
        op(&self.store, obj);
        if let Some(rv) = rv {
            self.set_rv(&rv);
        }
    }

    /// The error an ERROR watch event stands for.
    fn error_event(&self, status: rudder_apimachinery::status::Status) -> Error {
        Error::Api { status: Box::new(status), method: "GET".into(), url: self.opts.name.clone() }
    }

    /// The error a watch that went silent for `idle` stands for.
    fn idle_error(&self, idle: Duration) -> Error {
        Error::WatchIdle { resource: self.opts.name.clone(), idle }
    }

    fn watch_timeout(&self) -> i64 {
        let min = self.opts.min_watch_timeout.as_secs_f64();
        (min * (1.0 + rand::rng().random::<f64>())) as i64
    }

    /// Sleeps for the next backoff delay; false when cancelled meanwhile.
    async fn back_off(&mut self, cancel: &CancellationToken) -> bool {
        let d = self.opts.backoff.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = cancel.cancelled() => false,
        }
    }

    /// Runs until `cancel` fires.
    pub async fn run(mut self, cancel: CancellationToken) {
        'relist: loop {
            if cancel.is_cancelled() {
                return;
            }
            let mut pending: Option<WatchEvents<K>> = None;
            let mut listed = false;
            if self.opts.use_watch_list && !self.status.watch_list_refused() {
                match self.watch_list(&cancel).await {
                    Err(WatchListFailure::Cancelled) => return,
                    Ok(stream) => {
                        pending = Some(stream);
                        listed = true;
                    }
                    Err(WatchListFailure::Refused(e)) => {
                        tracing::info!(reflector = %self.opts.name, error = %e, "streaming list refused; using list+watch");
                        self.status.inner.write().watch_list_refused = true;
                        self.record_error(e);
                    }
                    Err(WatchListFailure::Failed(e)) => {
                        self.record_error(e);
                    }
                }
            }
            if !listed {
                let listing = tokio::select! {
                    r = self.list() => r,
                    _ = cancel.cancelled() => return,
                };
                if let Err(e) = listing {
                    self.record_error(e);
                    if !self.back_off(&cancel).await {
                        return;
                    }
                    continue 'relist;
                }
            }
            // Watch, resuming as long as the rules allow.
            loop {
                let stream = match pending.take() {
                    Some(s) => s,
                    None => {
                        let opts = ListOptions {
                            resource_version: Some(self.last_rv()),
                            timeout_seconds: Some(self.watch_timeout()),
                            allow_watch_bookmarks: true,
                            ..ListOptions::default()
                        };
                        let mut idle = IdleWatch::new(self.opts.watch_idle_timeout);
                        let started = tokio::select! {
                            r = self.start_watch(&opts) => r,
                            _ = cancel.cancelled() => return,
                            d = idle.expired() => {
                                // No response head in time: start again.
                                self.record_error(self.idle_error(d));
                                continue;
                            }
                        };
                        match started {
                            Ok(s) => s,
                            Err(e) => {
                                let retry_watch = e.is_connect() || e.is_too_many_requests();
                                let expired = e.is_expired();
                                if e.is_too_large_resource_version() {
                                    self.last_sync_rv_unavailable = true;
                                }
                                self.record_error(e);
                                if expired {
                                    continue 'relist;
                                }
                                if !self.back_off(&cancel).await {
                                    return;
                                }
                                if retry_watch {
                                    continue;
                                }
                                continue 'relist;
                            }
                        }
                    }
                };
                match self.handle_watch(stream, &cancel).await {
                    WatchEnd::Cancelled => return,
                    WatchEnd::Closed { events, elapsed } => {
                        if events == 0 && elapsed < Duration::from_secs(1) {
                            self.record_error(Error::Body {
                                url: self.opts.name.clone(),
                                message: "very short watch: the watch ended within 1s without events".into(),
                            });
                            if !self.back_off(&cancel).await {
                                return;
                            }
                        }
                        continue;
                    }
                    WatchEnd::Idle(d) => {
                        // A dead connection: resume from the last resourceVersion, no backoff
                        // (a silent watch already waited its idle limit).
                        tracing::info!(reflector = %self.opts.name, idle = ?d, "watch delivered nothing; restarting it");
                        self.record_error(self.idle_error(d));
                        continue;
                    }
                    WatchEnd::Failed(e) => {
                        let expired = e.is_expired();
                        if e.is_too_large_resource_version() {
                            self.last_sync_rv_unavailable = true;
                        }
                        let body_error = matches!(e, Error::Body { .. } | Error::Connect { .. });
                        self.record_error(e);
                        if body_error {
                            // The connection broke mid-stream: resume the watch.
                            if !self.back_off(&cancel).await {
                                return;
                            }
                            continue;
                        }
                        if !expired && !self.back_off(&cancel).await {
                            return;
                        }
                        continue 'relist;
                    }
                }
            }
        }
    }

    /// Lists (at the relist resourceVersion; on 410 again at "") and replaces the store.
    async fn list(&mut self) -> Result<(), Error> {
        let start = Instant::now();
        let rv = self.relist_resource_version();
        let result = match self.list_at(&rv).await {
            Err(e) if (e.is_expired() || e.is_too_large_resource_version()) && !rv.is_empty() => {
                self.record_error(e);
                self.last_sync_rv_unavailable = true;
                self.list_at("").await
            }
            other => other,
        };
        let done = |items: usize, ok: bool| ListDone { items, duration: start.elapsed(), streaming: false, ok };
        let (items, list_rv) = match result {
            Ok(r) => r,
            Err(e) => {
                self.opts.metrics.list(&self.opts.name, done(0, false));
                return Err(e);
            }
        };
        self.opts.metrics.list(&self.opts.name, done(items.len(), true));
        self.store.replace(items, &list_rv);
        self.set_rv(&list_rv);
        self.last_sync_rv_unavailable = false;
        let mut st = self.status.inner.write();
        st.synced_once = true;
        st.last_error = None;
        Ok(())
    }

    /// One complete list at `rv`, following continue tokens.
    async fn list_at(&self, rv: &str) -> Result<(Vec<Arc<K>>, String), Error> {
        let paged = rv.is_empty() || rv == "0";
        let mut opts = ListOptions {
            resource_version: (!rv.is_empty()).then(|| rv.to_string()),
            limit: (paged && self.opts.page_size > 0).then_some(self.opts.page_size),
            ..ListOptions::default()
        };
        let mut items: Vec<Arc<K>> = Vec::new();
        let mut list_rv = String::new();
        // Items arrive in `Arc`s (made where they were decoded) and transformed.
        let list = |o: ListOptions| async move { self.lw.list(&o, &self.items).await };
        loop {
            let page = match list(opts.clone()).await {
                Ok(p) => p,
                Err(e) if e.is_expired() && opts.continue_token.is_some() => {
                    // The continue token expired: one full list at the original resourceVersion.
                    let full = ListOptions {
                        resource_version: (!rv.is_empty()).then(|| rv.to_string()),
                        ..Default::default()
                    };
                    let p = list(full).await?;
                    list_rv = p.resource_version().to_string();
                    return Ok((p.items, list_rv));
                }
                Err(e) => return Err(e),
            };
            if list_rv.is_empty() {
                list_rv = page.resource_version().to_string();
            }
            let next = page.continue_token().map(str::to_string);
            if items.is_empty() {
                items = page.items;
            } else {
                items.extend(page.items);
            }
            match next {
                Some(c) => {
                    opts.continue_token = Some(c);
                    opts.resource_version = None;
                }
                None => return Ok((items, list_rv)),
            }
        }
    }

    /// A streaming list: returns the watch stream positioned after the initial events, with
    /// the store replaced.
    async fn watch_list(&mut self, cancel: &CancellationToken) -> Result<WatchEvents<K>, WatchListFailure> {
        let start = Instant::now();
        let result = self.watch_list_inner(cancel, start).await;
        if let Err(WatchListFailure::Refused(_) | WatchListFailure::Failed(_)) = &result {
            let done = ListDone { items: 0, duration: start.elapsed(), streaming: true, ok: false };
            self.opts.metrics.list(&self.opts.name, done);
        }
        result
    }

    async fn watch_list_inner(
        &mut self,
        cancel: &CancellationToken,
        start: Instant,
    ) -> Result<WatchEvents<K>, WatchListFailure> {
        let rv = if self.last_sync_rv_unavailable { String::new() } else { self.last_rv() };
        let opts = ListOptions {
            resource_version: Some(rv),
            resource_version_match: Some(ResourceVersionMatch::NotOlderThan),
            send_initial_events: Some(true),
            allow_watch_bookmarks: true,
            timeout_seconds: Some(self.watch_timeout()),
            ..ListOptions::default()
        };
        let mut idle = IdleWatch::new(self.opts.watch_idle_timeout);
        let started = tokio::select! {
            r = self.start_watch(&opts) => r,
            _ = cancel.cancelled() => return Err(WatchListFailure::Cancelled),
            d = idle.expired() => return Err(WatchListFailure::Failed(self.idle_error(d))),
        };
        let mut stream = match started {
            Ok(s) => s,
            Err(e) => {
                let refused = matches!(
                    e.reason_kind(),
                    Some(
                        ReasonKind::BadRequest
                            | ReasonKind::Forbidden
                            | ReasonKind::NotFound
                            | ReasonKind::MethodNotAllowed
                            | ReasonKind::NotAcceptable
                            | ReasonKind::UnsupportedMediaType
                            | ReasonKind::Invalid
                    )
                );
                if e.is_too_large_resource_version() || e.is_expired() {
                    self.last_sync_rv_unavailable = true;
                }
                return Err(if refused { WatchListFailure::Refused(e) } else { WatchListFailure::Failed(e) });
            }
        };
        // Initial events are almost always ADDED; a key index is built only when a MODIFIED or
        // DELETED arrives, so those stay O(1) without costing the common case anything.
        let mut items: Vec<Option<Arc<K>>> = Vec::new();
        let mut index: Option<std::collections::HashMap<String, usize>> = None;
        fn index_of<K: HasMetadata>(
            items: &[Option<Arc<K>>],
            index: &mut Option<std::collections::HashMap<String, usize>>,
        ) -> std::collections::HashMap<String, usize> {
            match index.take() {
                Some(i) => i,
                None => {
                    items.iter().enumerate().filter_map(|(n, o)| o.as_ref().map(|o| (key_of(o.as_ref()), n))).collect()
                }
            }
        }
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                _ = cancel.cancelled() => return Err(WatchListFailure::Cancelled),
                d = idle.expired() => match stream.next().now_or_never() {
                    // Waiting (this task was starved, not the watch): carry on.
                    Some(n) => n,
                    None => return Err(WatchListFailure::Failed(self.idle_error(d))),
                },
            };
            idle.progress();
            match next {
                None => {
                    return Err(WatchListFailure::Failed(Error::Body {
                        url: self.opts.name.clone(),
                        message: "streaming list ended before the initial-events-end bookmark".into(),
                    }))
                }
                Some(Err(e)) => {
                    if e.is_expired() || e.is_too_large_resource_version() {
                        self.last_sync_rv_unavailable = true;
                    }
                    return Err(WatchListFailure::Failed(e));
                }
                Some(Ok(WatchEvent::Added(o))) => {
                    if let Some(idx) = index.as_mut() {
                        idx.insert(key_of(o.as_ref()), items.len());
                    }
                    items.push(Some(o));
                }
                Some(Ok(WatchEvent::Modified(o))) => {
                    let mut idx = index_of(&items, &mut index);
                    let key = key_of(o.as_ref());
                    match idx.get(&key) {
                        Some(&n) => items[n] = Some(o),
                        None => {
                            idx.insert(key, items.len());
                            items.push(Some(o));
                        }
                    }
                    index = Some(idx);
                }
                Some(Ok(WatchEvent::Deleted(o))) => {
                    let mut idx = index_of(&items, &mut index);
                    if let Some(n) = idx.remove(&key_of(o.as_ref())) {
                        items[n] = None;
                    }
                    index = Some(idx);
                }
                Some(Ok(WatchEvent::Bookmark(b))) => {
                    if b.is_initial_events_end() {
                        let rv = b.metadata.resource_version;
                        let items: Vec<Arc<K>> = std::mem::take(&mut items).into_iter().flatten().collect();
                        let done =
                            ListDone { items: items.len(), duration: start.elapsed(), streaming: true, ok: true };
                        self.opts.metrics.list(&self.opts.name, done);
                        self.store.replace(items, &rv);
                        self.set_rv(&rv);
                        self.last_sync_rv_unavailable = false;
                        let mut st = self.status.inner.write();
                        st.synced_once = true;
                        st.last_error = None;
                        return Ok(stream);
                    }
                }
                Some(Ok(WatchEvent::Error(s))) => return Err(WatchListFailure::Failed(self.error_event(s))),
            }
        }
    }

    /// Feeds watch events into the store until the stream ends, fails or is cancelled.
    async fn handle_watch(&mut self, mut stream: WatchEvents<K>, cancel: &CancellationToken) -> WatchEnd {
        self.opts.metrics.watch_started(&self.opts.name);
        let start = Instant::now();
        let mut events = 0usize;
        let resync_every = self.opts.resync_period.filter(|d| !d.is_zero());
        let mut next_resync = resync_every.map(|d| Instant::now() + d);
        let mut idle = IdleWatch::new(self.opts.watch_idle_timeout);
        let end = loop {
            let resync_at = next_resync;
            let next = tokio::select! {
                n = stream.next() => n,
                _ = cancel.cancelled() => break WatchEnd::Cancelled,
                d = idle.expired() => match stream.next().now_or_never() {
                    // Waiting (this task was starved, not the watch): carry on.
                    Some(n) => n,
                    None => break WatchEnd::Idle(d),
                },
                _ = async {
                    match resync_at {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => {
                    if self.opts.should_resync.as_ref().is_none_or(|f| f()) {
                        self.store.resync();
                    }
                    next_resync = resync_every.map(|d| Instant::now() + d);
                    continue;
                }
            };
            idle.progress();
            match next {
                None => break WatchEnd::Closed { events, elapsed: start.elapsed() },
                Some(Err(e)) => break WatchEnd::Failed(e),
                Some(Ok(ev)) => {
                    events += 1;
                    match ev {
                        WatchEvent::Added(o) => self.apply(o, ReflectorStore::add),
                        WatchEvent::Modified(o) => self.apply(o, ReflectorStore::update),
                        WatchEvent::Deleted(o) => self.apply(o, ReflectorStore::delete),
                        WatchEvent::Bookmark(b) => self.set_rv(&b.metadata.resource_version),
                        WatchEvent::Error(s) => break WatchEnd::Failed(self.error_event(s)),
                    }
                }
            }
        };
        self.opts.metrics.watch(&self.opts.name, WatchDone { events, duration: start.elapsed() });
        end
    }
}

enum WatchListFailure {
    Cancelled,
    Refused(Error),
    Failed(Error),
}

/// Both FIFOs are reflector stores; a write the queue rejects (its transform failed) is
/// logged and dropped.
macro_rules! queue_is_reflector_store {
    ($q:ident) => {
        impl<K: HasMetadata + Send + Sync + 'static> ReflectorStore<K> for crate::$q<K> {
            fn add(&self, obj: Arc<K>) {
                if let Err(e) = crate::store::Queue::add(self, obj) {
                    tracing::error!(error = %e, "queue rejected an added object");
                }
            }
            fn update(&self, obj: Arc<K>) {
                if let Err(e) = crate::store::Queue::update(self, obj) {
                    tracing::error!(error = %e, "queue rejected an updated object");
                }
            }
            fn delete(&self, obj: Arc<K>) {
                if let Err(e) = crate::store::Queue::delete(self, obj) {
                    tracing::error!(error = %e, "queue rejected a deleted object");
                }
            }
            fn replace(&self, objs: Vec<Arc<K>>, resource_version: &str) {
                if let Err(e) = crate::store::Queue::replace(self, objs, resource_version) {
                    tracing::error!(error = %e, "queue rejected a list");
                }
            }
            fn resync(&self) {
                if let Err(e) = crate::store::Queue::resync(self) {
                    tracing::error!(error = %e, "queue rejected a resync");
                }
            }
            fn cached(&self, obj: &K) -> Option<Arc<K>> {
                self.cached(obj)
            }
        }
    };
}
queue_is_reflector_store!(DeltaFIFO);
queue_is_reflector_store!(RealFIFO);
