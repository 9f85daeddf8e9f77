//! The delaying work queue (client-go's `workqueue.TypedDelayingInterface`).
//!
//! Contract:
//! - `add_after(item, d)` adds `item` to the queue once `d` has elapsed (at once if `d` is
//!   zero). While an item waits, a second `add_after` moves its deadline only if it is earlier:
//!   the earliest deadline wins.
//! - Timing uses `tokio::time`, so tests can drive it with a paused clock.
//! - After shutdown, `add_after` is ignored and waiting items are dropped.
//! - A background task (one per queue, spawned by [`DelayingQueue::new`]) moves due items into
//!   the queue; it ends when the queue shuts down or its last handle is dropped.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{QueueMetrics, WorkItem, WorkQueue};

struct Waiting<T> {
    ready_at: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Waiting<T> {
    fn eq(&self, other: &Self) -> bool {
        self.ready_at == other.ready_at && self.seq == other.seq
    }
}
impl<T> Eq for Waiting<T> {}
impl<T> PartialOrd for Waiting<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Waiting<T> {
    /// Reversed, so the max-heap pops the earliest deadline (then the earliest added).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.ready_at, other.seq).cmp(&(self.ready_at, self.seq))
    }
}

struct DelayState<T> {
    /// May hold stale entries; `live` says which one counts for an item.
    heap: BinaryHeap<Waiting<T>>,
    live: HashMap<T, (Instant, u64)>,
    next_seq: u64,
    stopped: bool,
}

struct DelayShared<T> {
    state: Mutex<DelayState<T>>,
    wake: Notify,
}

impl<T> DelayShared<T> {
    fn stop(&self) {
        self.state.lock().stopped = true;
        self.wake.notify_one();
    }
}

/// Stops the background task when the last queue handle goes away.
struct LoopGuard<T>(Arc<DelayShared<T>>);

impl<T> Drop for LoopGuard<T> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// A [`WorkQueue`] with delayed adds; dereferences to the [`WorkQueue`]. Clones share it.
pub struct DelayingQueue<T> {
    queue: WorkQueue<T>,
    shared: Arc<DelayShared<T>>,
    _guard: Arc<LoopGuard<T>>,
}

impl<T> Clone for DelayingQueue<T> {
    fn clone(&self) -> Self {
        Self { queue: self.queue.clone(), shared: self.shared.clone(), _guard: self._guard.clone() }
    }
}

impl<T> std::fmt::Debug for DelayingQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelayingQueue")
            .field("queue", &self.queue)
            .field("waiting", &self.shared.state.lock().live.len())
            .finish()
    }
}

impl<T> Deref for DelayingQueue<T> {
    type Target = WorkQueue<T>;
    fn deref(&self) -> &WorkQueue<T> {
        &self.queue
    }
}

impl<T: WorkItem> DelayingQueue<T> {
    /// An empty queue and its timer task.
    ///
    /// # Panics
    /// Outside a Tokio runtime (it spawns a task, as `tokio::spawn` does).
    pub fn new() -> Self {
        let queue = WorkQueue::new();
        let shared = Arc::new(DelayShared {
            state: Mutex::new(DelayState {
                heap: BinaryHeap::new(),
                live: HashMap::new(),
                next_seq: 0,
                stopped: false,
            }),
            wake: Notify::new(),
        });
        tokio::spawn(waiting_loop(shared.clone(), queue.clone()));
        Self { queue, shared: shared.clone(), _guard: Arc::new(LoopGuard(shared)) }
    }

    /// Reports this queue's events to `metrics`, each `add_after` as a retry (see
    /// [`QueueMetrics`]); builder style, before the queue is used.
    pub fn with_metrics(self, metrics: Arc<dyn QueueMetrics>) -> Self {
        Self { queue: self.queue.with_metrics(metrics), ..self }
    }

    /// Adds `item` once `delay` has elapsed; see the module docs.
    pub fn add_after(&self, item: T, delay: Duration) {
        if self.queue.shutting_down() {
            return;
        }
        if let Some(m) = self.queue.metrics() {
            m.retry();
        }
        if delay.is_zero() {
            self.queue.add(item);
            return;
        }
        let ready_at = Instant::now() + delay;
        {
            let mut s = self.shared.state.lock();
            if s.stopped {
                return;
            }
            if let Some((at, _)) = s.live.get(&item) {
                if *at <= ready_at {
                    return;
                }
            }
            let seq = s.next_seq;
            s.next_seq += 1;
            s.live.insert(item.clone(), (ready_at, seq));
            s.heap.push(Waiting { ready_at, seq, item });
        }
        self.shared.wake.notify_one();
    }

    /// Number of items waiting for their delay to pass.
    pub fn waiting(&self) -> usize {
        self.shared.state.lock().live.len()
    }

    /// Shuts the queue down (see [`WorkQueue::shut_down`]) and stops the timer task.
    pub fn shut_down(&self) {
        self.queue.shut_down();
        self.shared.stop();
    }

    /// Shuts down, stops the timer task and waits for in-flight items
    /// (see [`WorkQueue::shut_down_with_drain`]).
    pub async fn shut_down_with_drain(&self) {
        self.shared.stop();
        self.queue.shut_down_with_drain().await;
    }
}

impl<T: WorkItem> Default for DelayingQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

async fn waiting_loop<T: WorkItem>(shared: Arc<DelayShared<T>>, queue: WorkQueue<T>) {
    loop {
        let notified = shared.wake.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        let mut ready = Vec::new();
        let next = {
            let mut s = shared.state.lock();
            if s.stopped || queue.shutting_down() {
                s.heap.clear();
                s.live.clear();
                return;
            }
            let now = Instant::now();
            while s.heap.peek().is_some_and(|w| w.ready_at <= now) {
                let Some(w) = s.heap.pop() else { break };
                if s.live.get(&w.item).is_some_and(|(_, seq)| *seq == w.seq) {
                    s.live.remove(&w.item);
                    ready.push(w.item);
                }
            }
            s.heap.peek().map(|w| w.ready_at)
        };
        for item in ready {
            queue.add(item);
        }
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = &mut notified => {}
                }
            }
            None => notified.await,
        }
    }
}
