//! An event recorder, as client-go's `tools/record`: controllers report what they did to an
//! object as core/v1 Events, without ever blocking on the API server.
//!
//! Contract:
//! - [`EventRecorder::event`] never blocks and never fails: it builds the Event (in the object's
//!   namespace, `default` for cluster-scoped objects; firstTimestamp = lastTimestamp = now,
//!   count 1, source, reportingComponent = source component, reportingInstance = source host)
//!   and enqueues it on a bounded queue. When the queue is full the event is dropped with a
//!   warning, as client-go drops.
//! - One background task correlates queued events in order, as client-go's `EventCorrelator`
//!   (aggregation of similar events into one "(combined from similar events)" event, counting
//!   of identical ones, a per-object token-bucket spam filter; the exact rules open
//!   `correlator.rs`) and writes them: a new Event is created named `<object name>.<hex unix nanoseconds>`; a repeat
//!   is a merge PATCH of `count`, `lastTimestamp` and `message` on the earlier Event (created
//!   afresh if that one is gone).
//! - A write failing with 429, 5xx or a transport error is retried up to
//!   [`RecorderOptions::max_tries`] times, [`RecorderOptions::retry_interval`] apart (the first
//!   wait randomised), then the event is dropped with a warning. Other failures (invalid, 403 ...)
//!   drop it at once; AlreadyExists counts as written. Nothing panics. (client-go retries only
//!   transport errors; retrying server errors too is deliberate here.)
//! - [`EventRecorder::flush`] waits until everything enqueued before it is written or dropped;
//!   [`EventRecorder::shutdown`] does the same, then stops the task; later events are dropped.
//!
//! ```no_run
//! # async fn f(client: rudder_client::Client, pod: k8s_openapi::api::core::v1::Pod) {
//! use rudder_informer::record::{object_reference, EventRecorder, EventType};
//! let recorder = EventRecorder::new(client, "my-controller", None);
//! recorder.event(&object_reference(&pod), EventType::Normal, "Synced", "pod synced");
//! recorder.eventf(&object_reference(&pod), EventType::Warning, "Failed", format_args!("{} retries", 3));
//! recorder.shutdown().await;
//! # }
//! ```

mod correlator;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::PatchOptions;
use rudder_apimachinery::patch::Patch;
use rudder_apimachinery::resource::Resource;
use rudder_client::api::{Api, CreateOptions};
use rudder_client::Client;

pub use correlator::COMBINED_PREFIX;
use correlator::{Correlated, Correlator};

/// The namespace of events about cluster-scoped objects.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The type of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something may need attention.
    Warning,
}

impl EventType {
    /// `Normal` or `Warning`, as the API stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference to `obj` for [`EventRecorder::event`]: kind, apiVersion, namespace, name, uid
/// and resourceVersion.
pub fn object_reference<K: Resource + HasMetadata>(obj: &K) -> ObjectReference {
    let m = obj.metadata();
    ObjectReference {
        api_version: Some(K::API_VERSION.to_owned()),
        kind: Some(K::KIND.to_owned()),
        name: m.name.clone(),
        namespace: m.namespace.clone(),
        uid: m.uid.clone(),
        resource_version: m.resource_version.clone(),
        field_path: None,
    }
}

/// Tuning of an [`EventRecorder`]; the defaults are client-go's.
#[derive(Debug, Clone, PartialEq)]
pub struct RecorderOptions {
    /// Events that may wait for the writer before new ones are dropped (1000).
    pub queue_capacity: usize,
    /// Attempts to write one event before dropping it (12).
    pub max_tries: u32,
    /// Wait between attempts (10 s; the first wait is a random fraction of it).
    pub retry_interval: Duration,
    /// Events per object allowed at once by the spam filter (25).
    pub spam_burst: u32,
    /// Time for the spam filter to regain one event (5 minutes).
    pub spam_refill_interval: Duration,
    /// Distinct messages of similar events after which they are combined (10).
    pub aggregate_max_events: usize,
    /// How long similar events are remembered for aggregation (10 minutes).
    pub aggregate_interval: Duration,
    /// Keys each correlation cache holds (4096, least recently used evicted).
    pub cache_size: usize,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 1000,
            max_tries: 12,
            retry_interval: Duration::from_secs(10),
            spam_burst: 25,
            spam_refill_interval: Duration::from_secs(300),
            aggregate_max_events: 10,
            aggregate_interval: Duration::from_secs(600),
            cache_size: 4096,
        }
    }
}

enum Msg {
    Event(Box<Event>),
    Flush(oneshot::Sender<()>),
    Shutdown,
}

/// Records events (see the module docs). Cheap to clone; clones share the queue and writer.
#[derive(Clone)]
pub struct EventRecorder {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Msg>,
    source: EventSource,
    closed: AtomicBool,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for EventRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRecorder").field("source", &self.inner.source).finish_non_exhaustive()
    }
}

impl EventRecorder {
    /// A recorder writing through `client` as `component` (on `host`, if given), with the
    /// default options. Spawns the writer task: call it inside a tokio runtime.
    pub fn new(client: Client, component: &str, host: Option<&str>) -> Self {
        let source = EventSource { component: Some(component.to_owned()), host: host.map(str::to_owned) };
        Self::with_options(client, source, RecorderOptions::default())
    }

    /// A recorder with explicit source and options.
    pub fn with_options(client: Client, source: EventSource, options: RecorderOptions) -> Self {
        let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
        let writer = Writer { client, correlator: Correlator::new(&options), options };
        let handle = tokio::spawn(writer.run(rx));
        Self { inner: Arc::new(Inner { tx, source, closed: AtomicBool::new(false), writer: Mutex::new(Some(handle)) }) }
    }

    /// The source events are attributed to.
    pub fn source(&self) -> &EventSource {
        &self.inner.source
    }

    /// Records an event about the object `reference` points to (never blocks; see the module
    /// docs for when it is dropped).
    pub fn event(&self, reference: &ObjectReference, type_: EventType, reason: &str, message: &str) {
        if self.inner.closed.load(Ordering::Acquire) {
            tracing::debug!(reason, "event recorder shut down; event dropped");
            return;
        }
        let event = self.make_event(reference, type_, reason, message);
        match self.inner.tx.try_send(Msg::Event(Box::new(event))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(reason, object = ?reference.name, "event queue full; event dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!(reason, "event writer gone; event dropped");
            }
        }
    }

    /// [`EventRecorder::event`] with a formatted message: `eventf(&r, t, "Reason", format_args!("{n} pods"))`.
    pub fn eventf(&self, reference: &ObjectReference, type_: EventType, reason: &str, args: fmt::Arguments<'_>) {
        match args.as_str() {
            Some(s) => self.event(reference, type_, reason, s),
            None => self.event(reference, type_, reason, &args.to_string()),
        }
    }

    /// [`EventRecorder::event`] about `obj` itself.
    pub fn event_for<K: Resource + HasMetadata>(&self, obj: &K, type_: EventType, reason: &str, message: &str) {
        self.event(&object_reference(obj), type_, reason, message);
    }

    fn make_event(&self, reference: &ObjectReference, type_: EventType, reason: &str, message: &str) -> Event {
        let now = Time(Timestamp::now());
        let namespace = reference.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(DEFAULT_NAMESPACE);
        Event {
            metadata: ObjectMeta { namespace: Some(namespace.to_owned()), ..Default::default() },
            involved_object: reference.clone(),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            type_: Some(type_.as_str().to_owned()),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            source: Some(self.inner.source.clone()),
            reporting_component: self.inner.source.component.clone(),
            reporting_instance: self.inner.source.host.clone(),
            ..Default::default()
        }
    }

    /// Waits until every event enqueued before this call is written or dropped.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.inner.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Flushes, then stops the writer; events recorded afterwards are dropped. Idempotent.
    pub async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let _ = self.inner.tx.send(Msg::Shutdown).await;
        let handle = self.inner.writer.lock().take();
        if let Some(handle) = handle {
            if let Err(e) = handle.await {
                tracing::warn!(error = %e, "event writer task failed");
            }
        }
    }
}

/// The background task: correlates and writes events in order.
struct Writer {
    client: Client,
    correlator: Correlator,
    options: RecorderOptions,
}

/// Whether a failed write may succeed later.
fn retriable(e: &rudder_client::Error) -> bool {
    use rudder_client::Error as E;
    match e {
        E::RetriesExhausted { last, .. } => retriable(last),
        E::Api { status, .. } => status.code == 429 || status.code >= 500,
        E::Connect { .. } | E::Timeout { .. } | E::Body { .. } => true,
        _ => false,
    }
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Event(event) => self.record(*event).await,
                Msg::Flush(done) => {
                    let _ = done.send(());
                }
                Msg::Shutdown => break,
            }
        }
    }

    async fn record(&mut self, mut event: Event) {
        let wall = Timestamp::now();
        let object_name = event.involved_object.name.clone().unwrap_or_default();
        event.metadata.name = Some(self.correlator.unique_name(&object_name, wall));
        let Some(correlated) = self.correlator.correlate(event, tokio::time::Instant::now(), wall) else {
            tracing::debug!(object = %object_name, "event dropped by the spam filter");
            return;
        };
        let tries = self.options.max_tries.max(1);
        for attempt in 1..=tries {
            match self.write(&correlated).await {
                Ok(stored) => {
                    self.correlator.update_state(&correlated.key, &stored);
                    return;
                }
                Err(e) if e.is_already_exists() => {
                    tracing::debug!(error = %e, "event already exists");
                    return;
                }
                Err(e) if retriable(&e) && attempt < tries => {
                    tracing::debug!(error = %e, attempt, "writing event failed; will retry");
                    let wait = if attempt == 1 {
                        self.options.retry_interval.mul_f64(rand::random::<f64>())
                    } else {
                        self.options.retry_interval
                    };
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempts = attempt, reason = ?correlated.event.reason, "event dropped");
                    return;
                }
            }
        }
    }

    async fn write(&self, c: &Correlated) -> rudder_client::Result<Event> {
        let namespace = c.event.metadata.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        if let (Some(patch), Some(name)) = (&c.patch, c.event.metadata.name.as_deref()) {
            match api.patch(name, &PatchOptions::default(), &Patch::Merge(patch.clone())).await {
                Err(e) if e.is_not_found() => {}
                other => return other,
            }
        }
        let mut event = c.event.clone();
        event.metadata.resource_version = None;
        api.create(&CreateOptions::default(), &event).await
    }
}
