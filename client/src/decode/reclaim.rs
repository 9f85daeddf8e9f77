//! Dropping decoded objects on the decode thread whose heap holds them.
//!
//! Why: an informer decodes objects on the pool's threads and frees them elsewhere (the
//! handler thread drops the replaced Pod of every MODIFIED event). With glibc malloc each
//! thread allocates from its own arena, and a chunk is freed back into the arena it came
//! from, under that arena's lock. A Pod is hundreds of allocations, so the handler thread
//! freeing one held the decode thread's arena lock hundreds of times while that thread was
//! allocating the next Pod: in the 50,000-event watch benchmark the handler thread slept on
//! the arena lock about 6,000 times a second, and the futex wake-ups and preemptions took
//! over a tenth of both cores. Handing the object to the thread that allocated it makes
//! every free local (and the freed memory is reused while it is still in that core's cache):
//! the watch went from 14.7k to 18.2k events/s (medians of three alternating runs).
//!
//! Contract:
//! - [`drop_where_decoded`] changes only which thread runs a drop, and delays it by at most
//!   one decode batch: it drops at once, on the calling thread, unless it holds the last
//!   reference and a running worker of the global [`DecodePool`] owns the heap region the
//!   object's metadata strings live in; then that worker drops it between two batches, or
//!   is woken to drop it if it sleeps.
//! - Nothing waits in a bin while its worker sleeps (the first object handed to a sleeping
//!   worker wakes it; a busy one is not disturbed), and a stopped worker takes nothing.
//! - A worker that dropped anything settles its heap before it sleeps (one large allocation,
//!   which makes glibc merge the freed small chunks then instead of at the next decode; see
//!   `Bins::settle`). [`reclaimed`] waits until every worker has dropped what it was handed
//!   and settled.
//! - Which worker owns which region is learnt from the blocks each worker reserves before it
//!   decodes (glibc gives every thread arena heaps aligned to 64 MiB). With another
//!   allocator the guess may be wrong; the object is then dropped on another decode thread
//!   or on the caller, which is only a matter of speed.
//!
//! [`DecodePool`]: super::DecodePool

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rudder_apimachinery::meta::HasMetadata;

/// log2 of the heap-region size: glibc's `HEAP_MAX_SIZE` (64 MiB on 64-bit targets).
const REGION_SHIFT: u32 = if cfg!(target_pointer_width = "64") { 26 } else { 20 };

type Garbage = Box<dyn Send>;

struct Bin {
    items: Vec<Garbage>,
    /// The worker waits for work: the first item handed to it must wake it.
    sleeping: bool,
    /// The worker has stopped: it takes nothing.
    stopped: bool,
    /// Something was handed to the worker since it last settled its heap (see
    /// [`Bins::settle`]); cleared only when it has dropped everything and settled.
    unsettled: bool,
}

/// What became of an item handed to a worker.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Handed {
    /// Queued; the worker drops it after its current batch.
    Queued,
    /// Queued for a sleeping worker that must be woken.
    QueuedWake,
}

/// What an idle worker does (see [`Bins::when_idle`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Idle {
    /// Drop what was handed to it.
    Drain,
    /// Settle its heap.
    Settle,
    /// Sleep until woken; marked asleep.
    Sleep,
}

/// The per-worker bins of one pool and the map of heap regions to workers.
pub(crate) struct Bins {
    bins: Box<[Mutex<Bin>]>,
    regions: RwLock<HashMap<usize, usize>>,
    /// Woken whenever a worker has settled (for [`reclaimed`]).
    settled: tokio::sync::Notify,
}

impl Bins {
    /// Bins for `workers` workers.
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            bins: (0..workers)
                .map(|_| Mutex::new(Bin { items: Vec::new(), sleeping: false, stopped: false, unsettled: false }))
                .collect(),
            regions: RwLock::new(HashMap::new()),
            settled: tokio::sync::Notify::new(),
        }
    }

    /// Drops what was handed to worker `index` (called by that worker).
    pub(crate) fn drain(&self, index: usize) {
        let Some(bin) = self.bins.get(index) else { return };
        let items = std::mem::take(&mut bin.lock().items);
        drop(items);
    }

    /// Whether worker `index` has something to drop.
    #[cfg(test)]
    pub(crate) fn has_items(&self, index: usize) -> bool {
        self.bins.get(index).is_some_and(|b| !b.lock().items.is_empty())
    }

    /// What worker `index` does when it has no job (called by that worker, under the queue
    /// lock): drop what it holds, settle its heap, or sleep, in which case it is marked
    /// asleep in the same step, so that whatever is handed to it afterwards wakes it.
    pub(crate) fn when_idle(&self, index: usize) -> Idle {
        let Some(bin) = self.bins.get(index) else { return Idle::Sleep };
        let mut b = bin.lock();
        if !b.items.is_empty() {
            Idle::Drain
        } else if b.unsettled {
            Idle::Settle
        } else {
            b.sleeping = true;
            Idle::Sleep
        }
    }

    /// Records that worker `index` is awake (called by that worker).
    pub(crate) fn set_awake(&self, index: usize) {
        if let Some(bin) = self.bins.get(index) {
            bin.lock().sleeping = false;
        }
    }

    /// Tidies the heap of worker `index` (called by that worker, once its bin is drained and
    /// before it sleeps), then tells [`reclaimed`] waiters.
    ///
    /// Why: glibc keeps small freed chunks (up to 128 bytes, most of a Pod's allocations) in
    /// "fastbins" and merges them only when the arena next serves a large request. After an
    /// informer's cache of 10,000 Pods was dropped, that merge (millions of chunks) ran at the
    /// start of the next sync's first decode, ~80 ms on each decode thread. One large
    /// allocation made while the worker is idle does the same merge then, off the next
    /// decode's path; with other allocators it is one malloc/free pair.
    pub(crate) fn settle(&self, index: usize) {
        super::parallel::reserve_heap_bytes(super::parallel::HEAP_RESERVE_MAX);
        let Some(bin) = self.bins.get(index) else { return };
        {
            let mut b = bin.lock();
            if !b.items.is_empty() {
                // Handed more meanwhile: drained and settled again before it sleeps.
                return;
            }
            b.unsettled = false;
        }
        self.settled.notify_waiters();
    }

    /// Whether every worker has dropped what it was handed and settled its heap.
    pub(crate) fn all_settled(&self) -> bool {
        self.bins.iter().all(|b| !b.lock().unsettled)
    }

    /// Worker `index` has stopped: drops its bin and takes nothing more.
    pub(crate) fn stop(&self, index: usize) {
        if let Some(bin) = self.bins.get(index) {
            bin.lock().stopped = true;
        }
        // Nothing is handed to a stopped worker, so this empties the bin for good.
        self.drain(index);
        if let Some(bin) = self.bins.get(index) {
            bin.lock().unsettled = false;
        }
        self.settled.notify_waiters();
    }

    /// Hands `item` to the running worker owning the region of `addr`; gives it back when no
    /// worker takes it (the caller then drops it, outside any lock).
    pub(crate) fn give(&self, addr: usize, item: Garbage) -> Result<Handed, Garbage> {
        let Some(owner) = self.regions.read().get(&(addr >> REGION_SHIFT)).copied() else { return Err(item) };
        if current_worker() == Some(owner) {
            return Err(item);
        }
        let Some(bin) = self.bins.get(owner) else { return Err(item) };
        let mut b = bin.lock();
        if b.stopped {
            return Err(item);
        }
        let wake = b.sleeping && b.items.is_empty();
        b.items.push(item);
        b.unsettled = true;
        Ok(if wake { Handed::QueuedWake } else { Handed::Queued })
    }
}

struct Identity {
    bins: Arc<Bins>,
    index: usize,
    last_region: Option<usize>,
}

thread_local! {
    static WORKER: RefCell<Option<Identity>> = const { RefCell::new(None) };
}

/// Makes this thread worker `index` of the pool owning `bins`.
pub(crate) fn enter_worker(bins: Arc<Bins>, index: usize) {
    let _ = WORKER.try_with(|w| {
        if let Ok(mut w) = w.try_borrow_mut() {
            *w = Some(Identity { bins, index, last_region: None });
        }
    });
}

fn current_worker() -> Option<usize> {
    // `try_`: never a panic, also while the thread's locals are being torn down.
    WORKER.try_with(|w| w.try_borrow().ok().and_then(|id| id.as_ref().map(|id| id.index))).ok().flatten()
}

/// Records that this thread (if it is a pool worker) allocated at `addr`: its arena owns the
/// region around it.
pub(crate) fn note_heap(addr: usize) {
    let _ = WORKER.try_with(|w| {
        let Ok(mut w) = w.try_borrow_mut() else { return };
        let Some(id) = w.as_mut() else { return };
        let region = addr >> REGION_SHIFT;
        if id.last_region != Some(region) {
            id.last_region = Some(region);
            id.bins.regions.write().insert(region, id.index);
        }
    });
}

/// Drops `obj`, on the decode thread that decoded it when that pays (see the module docs).
///
/// For code that retires objects decoded by rudder on another thread, such as an informer's
/// handler thread dropping the replaced state of an updated object. Holding other references
/// is fine: then this only releases the caller's one.
///
/// ```
/// use std::sync::Arc;
/// use k8s_openapi::api::core::v1::Pod;
///
/// let pod = Arc::new(Pod::default());
/// rudder_client::decode::drop_where_decoded(pod);
/// ```
pub fn drop_where_decoded<T: HasMetadata + Send + Sync + 'static>(obj: Arc<T>) {
    if Arc::strong_count(&obj) != 1 {
        return;
    }
    let Some(pool) = super::parallel::global_if_started() else { return };
    let meta = obj.metadata();
    let hint = meta.resource_version.as_deref().or(meta.name.as_deref()).filter(|s| !s.is_empty());
    let Some(addr) = hint.map(|s| s.as_ptr() as usize) else { return };
    pool.hand_back(addr, Box::new(obj));
}

/// Waits until every object handed to [`drop_where_decoded`] so far has been dropped and the
/// decode threads that dropped them have settled their heaps (see the module docs); returns at
/// once when nothing is pending.
///
/// For code that tears down a large cache and must not let the frees overlap what it does
/// next: a benchmark iteration, or a memory measurement. A decode thread settles when it
/// runs out of work, so while decoding continues this waits for that to end.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// rudder_client::decode::reclaimed().await;
/// # }
/// ```
pub async fn reclaimed() {
    if let Some(pool) = super::parallel::global_if_started() {
        settled(pool.bins()).await;
    }
}

/// Waits until every worker of `bins` has settled.
async fn settled(bins: &Bins) {
    loop {
        let notified = bins.settled.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if bins.all_settled() {
            return;
        }
        notified.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts drops and records the thread that ran them.
    struct Tracked {
        drops: Arc<AtomicUsize>,
        dropped_on: Arc<Mutex<Vec<String>>>,
    }
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
            let name = std::thread::current().name().unwrap_or("").to_string();
            self.dropped_on.lock().push(name);
        }
    }

    fn tracked() -> (Tracked, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
        let drops = Arc::new(AtomicUsize::new(0));
        let on = Arc::new(Mutex::new(Vec::new()));
        (Tracked { drops: drops.clone(), dropped_on: on.clone() }, drops, on)
    }

    #[test]
    fn unknown_regions_and_stopped_workers_give_the_object_back() {
        let bins = Bins::new(2);
        let (t, drops, _) = tracked();
        // No region is known yet.
        let back = bins.give(0x1234_5678, Box::new(t)).unwrap_err();
        drop(back);
        assert_eq!(drops.load(Ordering::SeqCst), 1);

        bins.regions.write().insert(0x1234_5678 >> REGION_SHIFT, 1);
        bins.stop(1);
        let (t, drops, _) = tracked();
        assert!(bins.give(0x1234_5678, Box::new(t)).is_err());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_worker_keeps_the_object_until_it_drains_and_only_the_first_one_wakes_it() {
        let bins = Bins::new(2);
        bins.regions.write().insert(7, 0);
        let addr = 7usize << REGION_SHIFT;
        let (t, drops, _) = tracked();
        assert_eq!(bins.give(addr + 100, Box::new(t)).ok(), Some(Handed::Queued), "busy: no wake-up");
        assert_eq!(drops.load(Ordering::SeqCst), 0, "held for the worker");
        assert!(bins.has_items(0));
        bins.drain(0);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(!bins.has_items(0));

        assert_eq!(bins.when_idle(0), Idle::Settle, "dropped things: settles before sleeping");
        assert!(!bins.all_settled());
        bins.settle(0);
        assert!(bins.all_settled());
        assert_eq!(bins.when_idle(0), Idle::Sleep);
        let (t, _, _) = tracked();
        assert_eq!(bins.give(addr, Box::new(t)).ok(), Some(Handed::QueuedWake));
        let (t, drops, _) = tracked();
        assert_eq!(bins.give(addr, Box::new(t)).ok(), Some(Handed::Queued), "already woken");
        bins.stop(0);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "stopping empties the bin");
    }

    #[test]
    fn a_worker_learns_its_regions_from_what_it_allocates() {
        let bins = Arc::new(Bins::new(1));
        let b = bins.clone();
        std::thread::spawn(move || {
            enter_worker(b.clone(), 0);
            let block = vec![0u8; 1000];
            note_heap(block.as_ptr() as usize);
            assert_eq!(b.regions.read().get(&(block.as_ptr() as usize >> REGION_SHIFT)), Some(&0));
            // Its own objects are dropped by the caller: it is the owner.
            let (t, _, _) = tracked();
            assert!(b.give(block.as_ptr() as usize, Box::new(t)).is_err());
        })
        .join()
        .unwrap();
        assert_eq!(bins.regions.read().len(), 1);
    }

    #[test]
    fn a_pool_worker_drops_what_it_is_handed_busy_or_asleep() {
        let pool = super::super::DecodePool::new(1);
        let block = allocated_by_worker(&pool);
        let go_tx = keep_busy(&pool);
        let (t, drops, on) = tracked();
        pool.hand_back(block.as_ptr() as usize, Box::new(t));
        assert_eq!(drops.load(Ordering::SeqCst), 0, "the busy owner keeps it for later");
        go_tx.send(()).unwrap();
        wait_for(|| drops.load(Ordering::SeqCst) == 1);
        assert_eq!(*on.lock(), vec!["rudder-decode-0".to_string()]);

        // Once the worker sleeps, what it is handed wakes it.
        wait_for(|| pool.bins().bins[0].lock().sleeping);
        let (t, drops, on) = tracked();
        pool.hand_back(block.as_ptr() as usize, Box::new(t));
        wait_for(|| drops.load(Ordering::SeqCst) == 1);
        assert_eq!(*on.lock(), vec!["rudder-decode-0".to_string()]);
    }

    #[tokio::test]
    async fn reclaimed_waits_until_the_worker_has_dropped_and_settled() {
        let pool = super::super::DecodePool::new(1);
        let block = allocated_by_worker(&pool);
        // Nothing handed back yet: settled at once.
        settled(pool.bins()).await;

        let go_tx = keep_busy(&pool);
        let (t, drops, _) = tracked();
        pool.hand_back(block.as_ptr() as usize, Box::new(t));
        let wait = settled(pool.bins());
        tokio::pin!(wait);
        assert!(futures::poll!(wait.as_mut()).is_pending(), "the busy worker still holds the object");
        go_tx.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), wait).await.expect("settled");
        assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped before the wait ended");
        assert!(pool.bins().all_settled());
    }

    /// A block the pool's worker allocated, which also tells the pool the worker's region.
    fn allocated_by_worker(pool: &super::super::DecodePool) -> Vec<u8> {
        let (tx, rx) = std::sync::mpsc::channel();
        assert!(pool.execute(Box::new(move || {
            super::super::reserve_heap_bytes(64);
            let _ = tx.send(vec![1u8; 64]);
        })));
        rx.recv().unwrap()
    }

    /// Keeps the pool's (only) worker busy with a job until the returned sender sends.
    fn keep_busy(pool: &super::super::DecodePool) -> std::sync::mpsc::Sender<()> {
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        assert!(pool.execute(Box::new(move || {
            let _ = started_tx.send(());
            let _ = go_rx.recv();
        })));
        started_rx.recv().unwrap();
        go_tx
    }

    fn wait_for(cond: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !cond() {
            assert!(std::time::Instant::now() < deadline, "timed out");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn objects_others_hold_are_only_released() {
        let pod = Arc::new(k8s_openapi::api::core::v1::Pod::default());
        let other = pod.clone();
        drop_where_decoded(pod);
        assert_eq!(Arc::strong_count(&other), 1);
    }
}
