//! Work queue behaviour controllers rely on: dedup, no concurrent processing of one item,
//! shutdown drain, delays on a paused clock, and rate-limiter sequences.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rudder_informer::workqueue::{
    default_controller_rate_limiter, BucketRateLimiter, DelayingQueue, ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter, MaxOfRateLimiter, QueueMetrics, RateLimiter, RateLimitingQueue, WorkQueue,
};

const MS: Duration = Duration::from_millis(1);

#[tokio::test]
async fn queued_items_are_deduplicated_and_fifo() {
    let q = WorkQueue::new();
    for i in ["a", "b", "a", "c", "b"] {
        q.add(i);
    }
    assert_eq!(q.len(), 3);
    for want in ["a", "b", "c"] {
        let got = q.get().await.unwrap();
        assert_eq!(got, want);
        q.done(&got);
    }
    assert!(q.is_empty());
}

#[tokio::test]
async fn item_readded_while_processing_is_processed_again_after_done() {
    let q = WorkQueue::new();
    q.add("a");
    let a = q.get().await.unwrap();
    q.add("a");
    q.add("a");
    assert_eq!(q.len(), 0, "not handed out while being processed");
    q.done(&a);
    assert_eq!(q.len(), 1, "queued once more after done");
    assert_eq!(q.get().await, Some("a"));
    q.done(&"a");
    assert!(q.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workers_never_process_one_item_twice_at_once() {
    let q = WorkQueue::<u32>::new();
    let in_flight = Arc::new(Mutex::new(HashSet::new()));
    let processed = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (q, in_flight, processed) = (q.clone(), in_flight.clone(), processed.clone());
        workers.push(tokio::spawn(async move {
            while let Some(item) = q.get().await {
                assert!(in_flight.lock().insert(item), "item {item} processed concurrently");
                tokio::task::yield_now().await;
                in_flight.lock().remove(&item);
                processed.fetch_add(1, Ordering::SeqCst);
                q.done(&item);
            }
        }));
    }
    for round in 0..200u32 {
        q.add(round % 5);
        if round % 7 == 0 {
            tokio::task::yield_now().await;
        }
    }
    q.shut_down_with_drain().await;
    for w in workers {
        w.await.unwrap();
    }
    assert!(processed.load(Ordering::SeqCst) >= 5);
    assert!(in_flight.lock().is_empty());
}

#[tokio::test]
async fn shutdown_stops_adds_but_drains_queued_items() {
    let q = WorkQueue::new();
    q.add(1);
    q.add(2);
    q.shut_down();
    assert!(q.shutting_down());
    q.add(3);
    assert_eq!(q.get().await, Some(1));
    assert_eq!(q.get().await, Some(2));
    assert_eq!(q.get().await, None);
    // A getter blocked on an empty queue is woken by shutdown.
    let q2 = WorkQueue::<u8>::new();
    let getter = tokio::spawn({
        let q2 = q2.clone();
        async move { q2.get().await }
    });
    tokio::task::yield_now().await;
    q2.shut_down();
    assert_eq!(getter.await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn shut_down_with_drain_waits_for_in_flight_items() {
    let q = WorkQueue::new();
    q.add("a");
    let item = q.get().await.unwrap();
    let drained = Arc::new(AtomicUsize::new(0));
    let drainer = tokio::spawn({
        let (q, drained) = (q.clone(), drained.clone());
        async move {
            q.shut_down_with_drain().await;
            drained.store(1, Ordering::SeqCst);
        }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(drained.load(Ordering::SeqCst), 0, "still processing");
    q.done(&item);
    drainer.await.unwrap();
    assert_eq!(drained.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn delayed_adds_arrive_after_their_delay_and_the_earliest_wins() {
    let q = DelayingQueue::new();
    q.add_after("late", Duration::from_secs(10));
    q.add_after("x", Duration::from_secs(5));
    q.add_after("x", Duration::from_secs(2)); // earlier: moves the deadline
    q.add_after("x", Duration::from_secs(8)); // later: ignored
    q.add_after("now", Duration::ZERO);
    assert_eq!(q.len(), 1);
    assert_eq!(q.waiting(), 2);
    tokio::time::sleep(Duration::from_millis(1999)).await;
    assert_eq!(q.len(), 1);
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(q.len(), 2, "x arrived at 2s");
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(q.len(), 2, "x did not come back at 5s or 8s; late not yet due");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(q.len(), 3);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(q.get().await.unwrap());
    }
    assert_eq!(got, ["now", "x", "late"]);
}

#[tokio::test(start_paused = true)]
async fn get_waits_for_a_delayed_item() {
    let q = DelayingQueue::new();
    let start = tokio::time::Instant::now();
    q.add_after(7u32, Duration::from_secs(3));
    assert_eq!(q.get().await, Some(7));
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    q.shut_down();
    q.add_after(8, Duration::from_secs(1));
    assert_eq!(q.waiting(), 0, "ignored after shutdown");
}

#[test]
fn exponential_failure_sequence_cap_and_forget() {
    let r = ItemExponentialFailureRateLimiter::new(MS, Duration::from_secs(1));
    let seq: Vec<Duration> = (0..12).map(|_| r.when(&"a")).collect();
    let want: Vec<Duration> = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000].iter().map(|m| MS * *m).collect();
    assert_eq!(seq, want);
    assert_eq!(r.num_requeues(&"a"), 12);
    assert_eq!(r.when(&"b"), MS, "per item");
    r.forget(&"a");
    assert_eq!(r.num_requeues(&"a"), 0);
    assert_eq!(r.when(&"a"), MS);
    // client-go's default: 5ms doubling; overflowing exponents give the cap, not a panic.
    let d = ItemExponentialFailureRateLimiter::<u8>::default();
    let first: Vec<Duration> = (0..4).map(|_| d.when(&1)).collect();
    assert_eq!(first, [MS * 5, MS * 10, MS * 20, MS * 40]);
    for _ in 0..2000 {
        d.when(&1);
    }
    assert_eq!(d.when(&1), Duration::from_secs(1000));
}

#[test]
fn fast_slow_sequence() {
    let r = ItemFastSlowRateLimiter::new(MS * 5, Duration::from_secs(10), 3);
    let seq: Vec<Duration> = (0..5).map(|_| r.when(&"one")).collect();
    assert_eq!(seq, [MS * 5, MS * 5, MS * 5, Duration::from_secs(10), Duration::from_secs(10)]);
    assert_eq!(r.num_requeues(&"one"), 5);
    r.forget(&"one");
    assert_eq!(r.when(&"one"), MS * 5);
}

#[tokio::test(start_paused = true)]
async fn token_bucket_burst_then_qps() {
    let r = BucketRateLimiter::new(10.0, 3);
    let first: Vec<Duration> = (0..5).map(|_| RateLimiter::<()>::when(&r, &())).collect();
    assert_eq!(first, [Duration::ZERO, Duration::ZERO, Duration::ZERO, MS * 100, MS * 200]);
    tokio::time::advance(Duration::from_secs(1)).await; // 10 tokens refilled, 2 owed, capped at 3
    let again: Vec<Duration> = (0..4).map(|_| RateLimiter::<()>::when(&r, &())).collect();
    assert_eq!(again, [Duration::ZERO, Duration::ZERO, Duration::ZERO, MS * 100]);
    assert_eq!(RateLimiter::<()>::num_requeues(&r, &()), 0);
}

#[tokio::test(start_paused = true)]
async fn max_of_and_default_controller_limiter() {
    let r: MaxOfRateLimiter<&str> = MaxOfRateLimiter::new(vec![
        Arc::new(ItemFastSlowRateLimiter::new(MS * 5, MS * 100, 2)),
        Arc::new(ItemExponentialFailureRateLimiter::new(MS, Duration::from_secs(1))),
    ]);
    let seq: Vec<Duration> = (0..5).map(|_| r.when(&"a")).collect();
    assert_eq!(seq, [MS * 5, MS * 5, MS * 100, MS * 100, MS * 100]);
    assert_eq!(r.num_requeues(&"a"), 5);
    r.forget(&"a");
    assert_eq!(r.num_requeues(&"a"), 0);

    let d = default_controller_rate_limiter::<String>();
    let per_item: Vec<Duration> = (0..3).map(|_| d.when(&"x".to_string())).collect();
    assert_eq!(per_item, [MS * 5, MS * 10, MS * 20]);
    // 97 more distinct items drain the burst of 100; the 101st waits for the 10 qps bucket.
    for i in 0..97 {
        assert_eq!(d.when(&format!("item-{i}")), MS * 5);
    }
    assert_eq!(d.when(&"over".to_string()), MS * 100);
}

#[tokio::test(start_paused = true)]
async fn rate_limited_queue_requeues_with_backoff_and_forget_resets() {
    let q = RateLimitingQueue::new(Arc::new(ItemExponentialFailureRateLimiter::new(MS * 10, Duration::from_secs(1))));
    let start = tokio::time::Instant::now();
    q.add_rate_limited("key");
    assert_eq!(q.get().await, Some("key"));
    assert_eq!(start.elapsed(), MS * 10);
    q.done(&"key");
    q.add_rate_limited("key");
    assert_eq!(q.get().await, Some("key"));
    assert_eq!(start.elapsed(), MS * 30);
    assert_eq!(q.num_requeues(&"key"), 2);
    q.forget(&"key");
    assert_eq!(q.num_requeues(&"key"), 0);
    q.done(&"key");
    q.shut_down();
    assert_eq!(q.get().await, None);
}

/// Records what a queue reports.
#[derive(Default)]
struct Recorded {
    adds: AtomicUsize,
    retries: AtomicUsize,
    waited: Mutex<Vec<Duration>>,
    worked: Mutex<Vec<Duration>>,
}

impl QueueMetrics for Recorded {
    fn add(&self) {
        self.adds.fetch_add(1, Ordering::SeqCst);
    }
    fn get(&self, waited: Duration) {
        self.waited.lock().push(waited);
    }
    fn done(&self, worked: Duration) {
        self.worked.lock().push(worked);
    }
    fn retry(&self) {
        self.retries.fetch_add(1, Ordering::SeqCst);
    }
}

/// client-go's `workqueue_adds_total` counts adds after deduplication (an add of an item
/// already waiting is not counted; one of an item being processed is), queue and work
/// durations are measured from the counted add and from the get, and every `add_after` is a
/// retry.
#[tokio::test(start_paused = true)]
async fn metrics_count_as_client_go_counts() {
    let rec = Arc::new(Recorded::default());
    let q = RateLimitingQueue::<&str>::with_default_rate_limiter().with_metrics(rec.clone());
    q.add("a");
    q.add("a");
    q.add("b");
    assert_eq!(rec.adds.load(Ordering::SeqCst), 2, "a duplicate of a waiting item is not an add");

    tokio::time::advance(3 * MS).await;
    let a = q.get().await.unwrap();
    q.add("a"); // while processing: counted, handed out again after done
    assert_eq!(rec.adds.load(Ordering::SeqCst), 3);
    tokio::time::advance(7 * MS).await;
    let w = q.unfinished_work();
    assert_eq!((w.items, w.total, w.longest), (1, 7 * MS, 7 * MS));
    q.done(&a);
    assert_eq!(*rec.waited.lock(), [3 * MS]);
    assert_eq!(*rec.worked.lock(), [7 * MS]);
    assert_eq!(q.unfinished_work().items, 0);

    q.add_after("c", 5 * MS);
    q.add_rate_limited("d");
    assert_eq!(rec.retries.load(Ordering::SeqCst), 2, "every add_after is a retry");
    let mut got = Vec::new();
    for _ in 0..4 {
        let k = q.get().await.unwrap();
        q.done(&k);
        got.push(k);
    }
    got.sort_unstable();
    assert_eq!(got, ["a", "b", "c", "d"]);
    assert_eq!(rec.adds.load(Ordering::SeqCst), 5, "delayed items count when they are added");
    assert_eq!(rec.waited.lock().len(), 5);
}
