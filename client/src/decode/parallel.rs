//! Order-preserving parallel decoding of byte records on a small pool of plain threads.
//!
//! Contract:
//! - [`DecodePool`] is a set of std threads (never tokio workers: decoding is CPU work) that run
//!   decode batches. [`DecodePool::global`] is created lazily once per process with one thread
//!   per available core and is shared by every decoder; no thread is spawned per request.
//! - [`OrderedDecode`] pulls records from a stream, groups them into batches (up to
//!   [`DecodeOptions::batch_records`] records or [`DecodeOptions::batch_bytes`] bytes, or fewer
//!   when the source has nothing more ready), decodes the batches on the pool and yields the
//!   results **in input order**. Errors from the source are yielded in their place in the order.
//! - Memory is bounded: at most [`DecodeOptions::max_in_flight`] records (and about
//!   [`DecodeOptions::max_in_flight_bytes`] undecoded bytes) are held between being pulled from
//!   the source and being yielded; beyond that the source is not polled (backpressure).
//! - Small inputs stay cheap: when nothing is in flight and the source has nothing more ready,
//!   one record (or a few small ones) is decoded inline on the polling task instead of paying a
//!   thread hand-off.
//! - Dropping the stream cancels its queued work: workers skip every record not yet started.
//! - A panic in the decode function is resumed on the consumer, as inline decoding would.
//! - Between batches, and before it sleeps, a worker drops the objects other threads handed
//!   back to it with [`super::drop_where_decoded`], and settles its heap before it sleeps
//!   (see [`super::reclaim`]).

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use super::reclaim::{self, Bins, Handed, Idle};

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    bins: Arc<Bins>,
}

struct Queue {
    jobs: VecDeque<Job>,
    shutdown: bool,
}

/// Owned by the `DecodePool` handles (not by the workers): the last drop stops the threads.
struct PoolHandle {
    shared: Arc<Shared>,
    threads: usize,
}

impl Drop for PoolHandle {
    fn drop(&mut self) {
        self.shared.queue.lock().shutdown = true;
        self.shared.wake.notify_all();
    }
}

static GLOBAL: OnceLock<DecodePool> = OnceLock::new();

/// The global pool, if it was started.
pub(super) fn global_if_started() -> Option<&'static DecodePool> {
    GLOBAL.get()
}

/// A pool of decode threads. Cheap to clone; threads stop when the last clone is dropped.
#[derive(Clone)]
pub struct DecodePool {
    handle: Arc<PoolHandle>,
}

impl std::fmt::Debug for DecodePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodePool").field("threads", &self.handle.threads).finish()
    }
}

impl DecodePool {
    /// A pool of `threads` threads named `rudder-decode-N`. With 0 threads (or if no thread
    /// could be started) every batch is decoded inline by the consumer.
    pub fn new(threads: usize) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { jobs: VecDeque::new(), shutdown: false }),
            wake: Condvar::new(),
            bins: Arc::new(Bins::new(threads)),
        });
        let mut started = 0;
        for i in 0..threads {
            let s = shared.clone();
            let spawned = std::thread::Builder::new().name(format!("rudder-decode-{i}")).spawn(move || worker(&s, i));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => {
                    tracing::warn!("cannot start decode thread {i}: {e}; continuing with {started}");
                    break;
                }
            }
        }
        Self { handle: Arc::new(PoolHandle { shared, threads: started }) }
    }

    /// The process-wide pool, created on first use with one thread per available core.
    pub fn global() -> &'static DecodePool {
        GLOBAL.get_or_init(|| DecodePool::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)))
    }

    /// Number of worker threads (0: inline decoding).
    pub fn threads(&self) -> usize {
        self.handle.threads
    }

    /// This pool's bins of objects handed back to its workers.
    pub(super) fn bins(&self) -> &Bins {
        &self.handle.shared.bins
    }

    /// Has the worker owning the heap region of `addr` drop `item`, waking it if it sleeps;
    /// drops it here when no running worker owns that region.
    pub(super) fn hand_back(&self, addr: usize, item: Box<dyn Send>) {
        match self.bins().give(addr, item) {
            Ok(Handed::Queued) => {}
            Ok(Handed::QueuedWake) => {
                // Under the queue lock: the worker is either before its bin check or waiting.
                let _q = self.handle.shared.queue.lock();
                self.handle.shared.wake.notify_all();
            }
            Err(item) => drop(item),
        }
    }

    /// Queues a job; `false` when the pool has no threads (the job is dropped).
    pub(super) fn execute(&self, job: Job) -> bool {
        if self.handle.threads == 0 {
            return false;
        }
        self.handle.shared.queue.lock().jobs.push_back(job);
        self.handle.shared.wake.notify_one();
        true
    }
}

fn worker(shared: &Shared, index: usize) {
    reclaim::enter_worker(shared.bins.clone(), index);
    loop {
        // Objects handed back are dropped outside the queue lock.
        shared.bins.drain(index);
        let next = {
            let mut q = shared.queue.lock();
            loop {
                if let Some(j) = q.jobs.pop_front() {
                    break Next::Job(j);
                }
                if q.shutdown {
                    break Next::Stop;
                }
                match shared.bins.when_idle(index) {
                    Idle::Drain => break Next::Drain,
                    Idle::Settle => break Next::Settle,
                    Idle::Sleep => {}
                }
                shared.wake.wait(&mut q);
                shared.bins.set_awake(index);
            }
        };
        match next {
            // Jobs catch their own panics; this guard only keeps the thread alive regardless.
            Next::Job(job) => drop(catch_unwind(AssertUnwindSafe(job))),
            Next::Drain => {}
            Next::Settle => shared.bins.settle(index),
            Next::Stop => return shared.bins.stop(index),
        }
    }
}

/// What a worker does next.
enum Next {
    Job(Job),
    /// Drop what was handed back.
    Drain,
    /// Tidy the heap after dropping what was handed back, before sleeping.
    Settle,
    Stop,
}

/// Most [`reserve_heap_bytes`] asks for: below glibc's smallest mmap threshold (128 KiB), so the
/// block comes from the thread's heap and not from a mapping of its own.
pub(super) const HEAP_RESERVE_MAX: usize = 60 << 10;

/// How many heap bytes decoding one byte of JSON is assumed to allocate (a k8s-openapi object
/// takes 7-8x its JSON size).
const HEAP_PER_JSON_BYTE: usize = 8;

/// Allocates and frees a block about the size the next record's decode will allocate.
///
/// Why: glibc grows a thread's arena by what one allocation needs, one `mprotect` call per
/// page, and a decode is thousands of small allocations. Filling a cache of 100k Pods
/// (4.5 GB) from two decode threads made about a million `mprotect` calls, which serialise
/// on the process's memory-map lock: 13 % of the sync's CPU. Asking for one block first grows
/// the arena in one step; freeing it hands it back to the arena's top, where the decode's
/// small allocations then find room (the count fell to 170k). It changes no result, and with
/// any other allocator it costs one malloc/free pair per record.
fn reserve_heap(record_len: usize) {
    reserve_heap_bytes(record_len.saturating_mul(HEAP_PER_JSON_BYTE));
}

/// Allocates and frees a block of `bytes` (at most 60 KiB) so that the allocations this thread
/// makes next find room in its arena: with glibc the arena grows once by the block instead of
/// once per page (see the pool's decode loop for the measurement). Useful before allocating
/// many objects in a row on one thread, e.g. wrapping a decoded list's items in `Arc`s.
///
/// On a decode pool thread this also records which heap region the thread is allocating in,
/// so that [`super::drop_where_decoded`] can hand objects back to it.
pub fn reserve_heap_bytes(bytes: usize) {
    let block = std::hint::black_box(Vec::<u8>::with_capacity(bytes.min(HEAP_RESERVE_MAX)));
    reclaim::note_heap(block.as_ptr() as usize);
    drop(block);
}

/// Tuning of an [`OrderedDecode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Most records held between the source and the consumer (default 256).
    pub max_in_flight: usize,
    /// Most undecoded bytes held (default 16 MiB); one record is always admitted.
    pub max_in_flight_bytes: usize,
    /// Records per batch (default 64).
    pub batch_records: usize,
    /// Bytes per batch (default 256 KiB).
    pub batch_bytes: usize,
    /// A pending group of at most this many bytes is decoded inline when nothing is in flight
    /// and the source has nothing more ready (default 4 KiB; a single record always is).
    pub inline_bytes: usize,
    /// The largest record the list and watch sources of [`crate::decode`] accept: one list
    /// item or one watch event (default [`crate::config::DEFAULT_MAX_OBJECT_BYTES`]; `Api`
    /// passes `Config.max_object_bytes`). A larger one is [`crate::Error::TooLarge`].
    pub max_object_bytes: usize,
    /// Skip every object's `metadata.managedFields` while decoding JSON (default false; see
    /// `rudder_apimachinery::json::JsonOptions`). Protobuf is decoded whole.
    pub skip_managed_fields: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_in_flight: 256,
            max_in_flight_bytes: 16 << 20,
            batch_records: 64,
            batch_bytes: 256 << 10,
            inline_bytes: 4 << 10,
            max_object_bytes: crate::config::DEFAULT_MAX_OBJECT_BYTES,
            skip_managed_fields: false,
        }
    }
}

/// A decode function: the record's position in the input (from 0) and its bytes.
pub type DecodeFn<T, E> = Arc<dyn Fn(u64, Bytes) -> Result<T, E> + Send + Sync + 'static>;

type BatchResult<T, E> = std::thread::Result<Vec<Result<T, E>>>;

enum Slot<T, E> {
    Batch { rx: oneshot::Receiver<BatchResult<T, E>>, bytes: usize },
    Done { results: Vec<Result<T, E>>, bytes: usize },
    Failed(E),
}

/// Decodes a stream of records in parallel, yielding results in input order. See the module
/// docs; build one with [`decode_ordered`] or [`OrderedDecode::new`].
pub struct OrderedDecode<S, T, E> {
    source: S,
    map: DecodeFn<T, E>,
    pool: DecodePool,
    opts: DecodeOptions,
    batch: Vec<Bytes>,
    batch_bytes: usize,
    next_index: u64,
    slots: VecDeque<Slot<T, E>>,
    ready: std::vec::IntoIter<Result<T, E>>,
    held_records: usize,
    held_bytes: usize,
    source_done: bool,
    cancel: Arc<AtomicBool>,
}

/// Decodes `records` with `map` on the global pool, in order, with default options.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use bytes::Bytes;
/// use futures::StreamExt;
/// use rudder_client::decode::parallel::decode_ordered;
///
/// let records = futures::stream::iter((0..100).map(|i| Ok::<_, serde_json::Error>(Bytes::from(i.to_string()))));
/// let out: Vec<u32> = decode_ordered(records, |_, b| serde_json::from_slice::<u32>(&b))
///     .map(|r| r.unwrap())
///     .collect()
///     .await;
/// assert_eq!(out, (0..100).collect::<Vec<u32>>());
/// # }
/// ```
pub fn decode_ordered<S, T, E, F>(records: S, map: F) -> OrderedDecode<S, T, E>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    F: Fn(u64, Bytes) -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    OrderedDecode::new(records, Arc::new(map), DecodePool::global().clone(), DecodeOptions::default())
}

impl<S, T, E> OrderedDecode<S, T, E>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    T: Send + 'static,
    E: Send + 'static,
{
    /// Decodes `source` with `map` on `pool`.
    pub fn new(source: S, map: DecodeFn<T, E>, pool: DecodePool, opts: DecodeOptions) -> Self {
        Self {
            source,
            map,
            pool,
            opts,
            batch: Vec::new(),
            batch_bytes: 0,
            next_index: 0,
            slots: VecDeque::new(),
            ready: Vec::new().into_iter(),
            held_records: 0,
            held_bytes: 0,
            source_done: false,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The source.
    pub fn get_ref(&self) -> &S {
        &self.source
    }

    /// The source, mutably (to drive it ahead, e.g. to read a list's metadata).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// Records pulled from the source and not yet yielded.
    pub fn in_flight(&self) -> usize {
        self.held_records
    }

    fn has_room(&self) -> bool {
        self.held_records == 0
            || (self.held_records < self.opts.max_in_flight.max(1) && self.held_bytes < self.opts.max_in_flight_bytes)
    }

    fn batch_full(&self) -> bool {
        self.batch.len() >= self.opts.batch_records.max(1) || self.batch_bytes >= self.opts.batch_bytes
    }

    /// Decodes the pending batch on this task.
    fn run_inline(&mut self) {
        let first = self.next_index - self.batch.len() as u64;
        let bytes = std::mem::take(&mut self.batch_bytes);
        let results: Vec<Result<T, E>> =
            self.batch.drain(..).enumerate().map(|(i, r)| (self.map)(first + i as u64, r)).collect();
        self.slots.push_back(Slot::Done { results, bytes });
    }

    /// Sends the pending batch to the pool.
    fn submit(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        if self.pool.threads() == 0 {
            return self.run_inline();
        }
        let first = self.next_index - self.batch.len() as u64;
        let records = std::mem::replace(&mut self.batch, Vec::with_capacity(self.opts.batch_records.min(1024)));
        let bytes = std::mem::take(&mut self.batch_bytes);
        let (tx, rx) = oneshot::channel();
        let map = self.map.clone();
        let cancel = self.cancel.clone();
        let job: Job = Box::new(move || {
            let out = catch_unwind(AssertUnwindSafe(|| {
                let mut v = Vec::with_capacity(records.len());
                for (i, r) in records.into_iter().enumerate() {
                    if cancel.load(Ordering::Relaxed) {
                        return None;
                    }
                    reserve_heap(r.len());
                    v.push(map(first + i as u64, r));
                }
                Some(v)
            }));
            match out {
                Ok(Some(v)) => {
                    let _ = tx.send(Ok(v));
                }
                Ok(None) => {}
                Err(panic) => {
                    let _ = tx.send(Err(panic));
                }
            }
        });
        self.pool.execute(job);
        self.slots.push_back(Slot::Batch { rx, bytes });
    }
}

// Results are only moved, never pinned.
impl<S: Unpin, T, E> Unpin for OrderedDecode<S, T, E> {}

impl<S, T, E> Drop for OrderedDecode<S, T, E> {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

impl<S, T, E> Stream for OrderedDecode<S, T, E>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    T: Send + 'static,
    E: Send + 'static,
{
    type Item = Result<T, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(r) = this.ready.next() {
                this.held_records -= 1;
                return Poll::Ready(Some(r));
            }
            let mut source_pending = false;
            while !this.source_done && this.has_room() {
                match Pin::new(&mut this.source).poll_next(cx) {
                    Poll::Ready(Some(Ok(rec))) => {
                        this.held_records += 1;
                        this.held_bytes += rec.len();
                        this.batch_bytes += rec.len();
                        this.batch.push(rec);
                        this.next_index += 1;
                        if this.batch_full() {
                            this.submit();
                        }
                    }
                    Poll::Ready(Some(Err(e))) => {
                        this.submit();
                        this.held_records += 1;
                        this.next_index += 1;
                        this.slots.push_back(Slot::Failed(e));
                    }
                    Poll::Ready(None) => this.source_done = true,
                    Poll::Pending => {
                        source_pending = true;
                        break;
                    }
                }
            }
            if !this.batch.is_empty() {
                // Nothing more is coming right now (or there is no room): do not sit on records.
                let idle = this.slots.is_empty() && (source_pending || this.source_done);
                if idle && (this.batch.len() == 1 || this.batch_bytes <= this.opts.inline_bytes) {
                    this.run_inline();
                } else {
                    this.submit();
                }
            }
            match this.slots.front_mut() {
                None => {
                    if this.source_done {
                        return Poll::Ready(None);
                    }
                    // The source returned Pending and will wake us.
                    return Poll::Pending;
                }
                Some(Slot::Batch { rx, bytes }) => match Pin::new(rx).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(Ok(results))) => {
                        this.held_bytes -= *bytes;
                        this.ready = results.into_iter();
                        this.slots.pop_front();
                    }
                    Poll::Ready(Ok(Err(panic))) => std::panic::resume_unwind(panic),
                    // Workers always answer unless cancelled, and only our drop cancels; a
                    // missing answer is a broken invariant of this module, not bad input.
                    Poll::Ready(Err(_)) => unreachable!("a decode batch was dropped by the pool"),
                },
                Some(Slot::Done { .. }) | Some(Slot::Failed(_)) => match this.slots.pop_front() {
                    Some(Slot::Done { results, bytes }) => {
                        this.held_bytes -= bytes;
                        this.ready = results.into_iter();
                    }
                    Some(Slot::Failed(e)) => {
                        this.held_records -= 1;
                        return Poll::Ready(Some(Err(e)));
                    }
                    _ => {}
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::atomic::AtomicUsize;

    fn num_records(n: usize) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        futures::stream::iter((0..n).map(|i| Ok(Bytes::from(i.to_string()))))
    }

    fn parse(i: u64, b: Bytes) -> Result<u64, String> {
        let v: u64 = std::str::from_utf8(&b).map_err(|e| e.to_string())?.parse().map_err(|e| format!("{e}"))?;
        if v != i {
            return Err(format!("record {i} holds {v}"));
        }
        Ok(v)
    }

    fn opts(max: usize, batch: usize) -> DecodeOptions {
        DecodeOptions { max_in_flight: max, batch_records: batch, ..DecodeOptions::default() }
    }

    #[tokio::test]
    async fn order_is_kept_across_pools_and_batch_sizes() {
        for threads in [0, 1, 2, 3] {
            let pool = DecodePool::new(threads);
            for (max, batch) in [(1, 1), (7, 3), (256, 64), (1000, 1)] {
                let out: Vec<u64> =
                    OrderedDecode::new(num_records(5000), Arc::new(parse), pool.clone(), opts(max, batch))
                        .map(|r| r.unwrap())
                        .collect()
                        .await;
                assert_eq!(out, (0..5000).collect::<Vec<u64>>(), "threads {threads} max {max} batch {batch}");
            }
        }
    }

    #[tokio::test]
    async fn source_errors_and_decode_errors_come_in_place() {
        let src = futures::stream::iter(vec![
            Ok(Bytes::from("0")),
            Ok(Bytes::from("x")),
            Err("broken".to_string()),
            Ok(Bytes::from("3")),
        ]);
        let out: Vec<Result<u64, String>> =
            OrderedDecode::new(src, Arc::new(parse), DecodePool::new(2), opts(256, 2)).collect().await;
        assert_eq!(out.len(), 4);
        assert_eq!(out[0], Ok(0));
        assert!(out[1].as_ref().unwrap_err().contains("invalid digit"));
        assert_eq!(out[2], Err("broken".to_string()));
        assert_eq!(out[3], Ok(3));
    }

    /// A source that counts how many records were pulled from it.
    struct Counting {
        pulled: Arc<AtomicUsize>,
    }
    impl Stream for Counting {
        type Item = Result<Bytes, String>;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            let n = self.pulled.fetch_add(1, Ordering::SeqCst);
            Poll::Ready(Some(Ok(Bytes::from(n.to_string()))))
        }
    }

    #[tokio::test]
    async fn in_flight_cap_bounds_what_is_pulled() {
        let pulled = Arc::new(AtomicUsize::new(0));
        let mut s =
            OrderedDecode::new(Counting { pulled: pulled.clone() }, Arc::new(parse), DecodePool::new(2), opts(100, 16));
        for i in 0..1000u64 {
            assert_eq!(s.next().await.unwrap().unwrap(), i);
            assert!(s.in_flight() < 100);
            assert!(
                pulled.load(Ordering::SeqCst) <= i as usize + 100,
                "pulled {} at {i}",
                pulled.load(Ordering::SeqCst)
            );
        }
        // The byte budget also holds the source back.
        let pulled = Arc::new(AtomicUsize::new(0));
        let o = DecodeOptions { max_in_flight_bytes: 10, batch_records: 4, ..DecodeOptions::default() };
        let mut s = OrderedDecode::new(Counting { pulled: pulled.clone() }, Arc::new(parse), DecodePool::new(1), o);
        assert_eq!(s.next().await.unwrap().unwrap(), 0);
        assert!(pulled.load(Ordering::SeqCst) <= 11, "pulled {}", pulled.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn dropping_the_stream_stops_queued_work() {
        let pool = DecodePool::new(1);
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let slow = move |i: u64, b: Bytes| {
            c.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(1));
            parse(i, b)
        };
        let mut s = OrderedDecode::new(num_records(10_000), Arc::new(slow), pool.clone(), opts(1000, 10));
        assert_eq!(s.next().await.unwrap().unwrap(), 0);
        drop(s);
        // Jobs run in order on one thread: once this one runs, every earlier job has finished.
        let (tx, rx) = oneshot::channel();
        assert!(pool.execute(Box::new(move || {
            let _ = tx.send(());
        })));
        rx.await.unwrap();
        let n = calls.load(Ordering::SeqCst);
        assert!(n < 100, "{n} records decoded after the stream was dropped (1000 were queued)");
    }

    #[tokio::test]
    async fn a_lone_record_is_decoded_inline_without_the_pool() {
        // A pool whose only thread is busy: inline decoding must not wait for it.
        let pool = DecodePool::new(1);
        let (block_tx, block_rx) = std::sync::mpsc::channel::<()>();
        pool.execute(Box::new(move || {
            let _ = block_rx.recv();
        }));
        let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, String>>(4);
        let mut s = OrderedDecode::new(rx, Arc::new(parse), pool.clone(), DecodeOptions::default());
        tx.try_send(Ok(Bytes::from("0"))).unwrap();
        assert_eq!(s.next().await.unwrap().unwrap(), 0);
        tx.try_send(Ok(Bytes::from("1"))).unwrap();
        assert_eq!(s.next().await.unwrap().unwrap(), 1);
        drop(tx);
        assert!(s.next().await.is_none());
        block_tx.send(()).unwrap();
    }

    #[tokio::test]
    async fn a_panicking_decoder_panics_the_consumer_and_the_pool_survives() {
        let pool = DecodePool::new(1);
        let boom = |i: u64, b: Bytes| -> Result<u64, String> {
            if i == 70 {
                panic!("boom");
            }
            parse(i, b)
        };
        let s = OrderedDecode::new(num_records(200), Arc::new(boom), pool.clone(), opts(256, 64));
        let h = tokio::spawn(s.collect::<Vec<_>>());
        assert!(h.await.unwrap_err().is_panic());
        let out: Vec<u64> = OrderedDecode::new(num_records(300), Arc::new(parse), pool, opts(256, 64))
            .map(|r| r.unwrap())
            .collect()
            .await;
        assert_eq!(out.len(), 300);
    }
}
