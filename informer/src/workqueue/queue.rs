//! The plain work queue (client-go's `workqueue.Typed`).
//!
//! Contract:
//! - `add` of an item already waiting does nothing (dedup); of an item being processed marks it
//!   dirty, and `done` queues it again, so it is processed again but never concurrently.
//! - `get` waits for an item and marks it processing; after shutdown it keeps handing out
//!   queued items and returns `None` once the queue is empty.
//! - `shut_down` stops accepting adds and wakes every waiting `get`;
//!   `shut_down_with_drain` additionally waits until no item is being processed.
//! - With [`WorkQueue::with_metrics`], every add, get, done (and a delaying queue's
//!   `add_after`) is reported as client-go's queue metrics count them (see
//!   [`QueueMetrics`]); [`WorkQueue::unfinished_work`] reads the work in progress.
//!   Times use `tokio::time`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::metrics::{QueueMetrics, UnfinishedWork};
use super::WorkItem;

struct State<T> {
    queue: VecDeque<T>,
    /// Items added and not yet handed out, with when they were added.
    dirty: HashMap<T, Instant>,
    /// Items handed out and not yet done, with when they were handed out.
    processing: HashMap<T, Instant>,
    shutting_down: bool,
    drain: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    metrics: OnceLock<Arc<dyn QueueMetrics>>,
    /// Wakes `get`ters.
    items: Notify,
    /// Wakes a draining `shut_down_with_drain`.
    idle: Notify,
}

/// A deduplicating work queue; see the module docs. Clones share the queue.
pub struct WorkQueue<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<T> std::fmt::Debug for WorkQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.shared.state.lock();
        f.debug_struct("WorkQueue")
            .field("len", &s.queue.len())
            .field("processing", &s.processing.len())
            .field("shutting_down", &s.shutting_down)
            .finish()
    }
}

impl<T: WorkItem> Default for WorkQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: WorkItem> WorkQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    dirty: HashMap::new(),
                    processing: HashMap::new(),
                    shutting_down: false,
                    drain: false,
                }),
                metrics: OnceLock::new(),
                items: Notify::new(),
                idle: Notify::new(),
            }),
        }
    }

    /// Reports this queue's events to `metrics` (see [`QueueMetrics`]); builder style, call it
    /// before the queue is used. A queue reports to one sink: a second call is ignored.
    pub fn with_metrics(self, metrics: Arc<dyn QueueMetrics>) -> Self {
        let _ = self.shared.metrics.set(metrics);
        self
    }

    pub(super) fn metrics(&self) -> Option<&dyn QueueMetrics> {
        self.shared.metrics.get().map(|m| &**m)
    }

    /// Marks `item` as needing processing. Ignored after shutdown.
    pub fn add(&self, item: T) {
        let queued = {
            let mut s = self.shared.state.lock();
            if s.shutting_down || s.dirty.contains_key(&item) {
                return;
            }
            s.dirty.insert(item.clone(), Instant::now());
            if s.processing.contains_key(&item) {
                false
            } else {
                s.queue.push_back(item);
                true
            }
        };
        if let Some(m) = self.metrics() {
            m.add();
        }
        if queued {
            self.shared.items.notify_one();
        }
    }

    /// Number of items waiting (not counting those being processed).
    pub fn len(&self) -> usize {
        self.shared.state.lock().queue.len()
    }

    /// Whether no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn try_get(&self) -> Option<Option<T>> {
        let (item, waited) = {
            let mut s = self.shared.state.lock();
            match s.queue.pop_front() {
                Some(item) => {
                    let now = Instant::now();
                    let added = s.dirty.remove(&item).unwrap_or(now);
                    s.processing.insert(item.clone(), now);
                    (item, now.saturating_duration_since(added))
                }
                None if s.shutting_down => return Some(None),
                None => return None,
            }
        };
        if let Some(m) = self.metrics() {
            m.get(waited);
        }
        Some(Some(item))
    }

    /// Waits for the next item and marks it processing; the caller must call
    /// [`done`](Self::done) with it. `None` once shut down and empty.
    pub async fn get(&self) -> Option<T> {
        loop {
            let notified = self.shared.items.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.try_get() {
                if r.is_some() {
                    // Pass the wake-up on if more work is waiting (a notify_one may have been
                    // consumed by this getter for an item another getter took).
                    if !self.is_empty() {
                        self.shared.items.notify_one();
                    }
                }
                return r;
            }
            notified.await;
        }
    }

    /// Marks `item` processed; if it was added meanwhile, it is queued again.
    pub fn done(&self, item: &T) {
        let (requeued, idle, started) = {
            let mut s = self.shared.state.lock();
            let started = s.processing.remove(item);
            if s.dirty.contains_key(item) {
                s.queue.push_back(item.clone());
                (true, false, started)
            } else {
                (false, s.processing.is_empty(), started)
            }
        };
        if let (Some(m), Some(started)) = (self.metrics(), started) {
            m.done(started.elapsed());
        }
        if requeued {
            self.shared.items.notify_one();
        } else if idle {
            self.shared.idle.notify_waiters();
        }
    }

    /// Stops accepting items and wakes every waiting `get`; queued items are still handed out.
    /// Also ends a pending drain wait.
    pub fn shut_down(&self) {
        {
            let mut s = self.shared.state.lock();
            s.drain = false;
            s.shutting_down = true;
        }
        self.shared.items.notify_waiters();
        self.shared.idle.notify_waiters();
    }

    /// Like [`shut_down`](Self::shut_down), then waits until no item is being processed
    /// (or a plain `shut_down` ends the wait).
    pub async fn shut_down_with_drain(&self) {
        {
            let mut s = self.shared.state.lock();
            s.drain = true;
            s.shutting_down = true;
        }
        self.shared.items.notify_waiters();
        loop {
            let notified = self.shared.idle.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            {
                let s = self.shared.state.lock();
                if s.processing.is_empty() || !s.drain {
                    return;
                }
            }
            notified.await;
        }
    }

    /// The items being processed now and for how long (client-go's unfinished-work and
    /// longest-running-processor gauges).
    pub fn unfinished_work(&self) -> UnfinishedWork {
        let s = self.shared.state.lock();
        let now = Instant::now();
        let mut out = UnfinishedWork { items: s.processing.len(), ..UnfinishedWork::default() };
        for started in s.processing.values() {
            let age = now.saturating_duration_since(*started);
            out.total += age;
            out.longest = out.longest.max(age);
        }
        out
    }

    /// Whether shutdown was requested.
    pub fn shutting_down(&self) -> bool {
        self.shared.state.lock().shutting_down
    }
}
