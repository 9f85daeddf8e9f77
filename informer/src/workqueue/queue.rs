//! The plain work queue (client-go's `workqueue.Typed`).
//!
//! Contract:
//! - `add` of an item already waiting does nothing (dedup); of an item being processed marks it
//!   dirty, and `done` queues it again, so it is processed again but never concurrently.
//! - `get` waits for an item and marks it processing; after shutdown it keeps handing out
//!   queued items and returns `None` once the queue is empty.
//! - `shut_down` stops accepting adds and wakes every waiting `get`;
//!   `shut_down_with_drain` additionally waits until no item is being processed.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::WorkItem;

struct State<T> {
    queue: VecDeque<T>,
    dirty: HashSet<T>,
    processing: HashSet<T>,
    shutting_down: bool,
    drain: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
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
                    dirty: HashSet::new(),
                    processing: HashSet::new(),
                    shutting_down: false,
                    drain: false,
                }),
                items: Notify::new(),
                idle: Notify::new(),
            }),
        }
    }

    /// Marks `item` as needing processing. Ignored after shutdown.
    pub fn add(&self, item: T) {
        {
            let mut s = self.shared.state.lock();
            if s.shutting_down || s.dirty.contains(&item) {
                return;
            }
            s.dirty.insert(item.clone());
            if s.processing.contains(&item) {
                return;
            }
            s.queue.push_back(item);
        }
        self.shared.items.notify_one();
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
        let mut s = self.shared.state.lock();
        match s.queue.pop_front() {
            Some(item) => {
                s.dirty.remove(&item);
                s.processing.insert(item.clone());
                Some(Some(item))
            }
            None if s.shutting_down => Some(None),
            None => None,
        }
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
        let (requeued, idle) = {
            let mut s = self.shared.state.lock();
            s.processing.remove(item);
            if s.dirty.contains(item) {
                s.queue.push_back(item.clone());
                (true, false)
            } else {
                (false, s.processing.is_empty())
            }
        };
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

    /// Whether shutdown was requested.
    pub fn shutting_down(&self) -> bool {
        self.shared.state.lock().shutting_down
    }
}
