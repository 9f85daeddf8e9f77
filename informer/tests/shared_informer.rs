//! SharedIndexInformer contracts (handlers, late handlers, tombstones, resync routing, sync
//! errors, streams, shutdown), driven by a lister-watcher whose watch events the test sends.

mod informer_common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use informer_common::PlainEvents;
use rudder_apimachinery::list::ObjectList;
use rudder_apimachinery::meta::{HasMetadata, ListMeta};
use rudder_apimachinery::options::ListOptions;
use rudder_apimachinery::status::{ReasonKind, Status};
use rudder_apimachinery::watch::WatchEvent;
use rudder_client::Error;

use rudder_informer::processor::{DeletedObject, HandlerFns, Notification};
use rudder_informer::shared_informer::{InformerOptions, QueueKind, SharedIndexInformer, SyncError};

fn cm(ns: &str, name: &str, rv: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.into());
    c.metadata.namespace = Some(ns.into());
    c.metadata.resource_version = Some(rv.into());
    c
}

fn list(items: Vec<ConfigMap>, rv: &str) -> Result<ObjectList<ConfigMap>, Error> {
    Ok(ObjectList { metadata: ListMeta { resource_version: Some(rv.into()), ..Default::default() }, items })
}

type Sender = mpsc::UnboundedSender<Result<WatchEvent<ConfigMap>, Error>>;

/// Lists come from a queue; each watch gets a fresh channel whose sender the test takes.
#[derive(Default)]
struct Fake {
    lists: Mutex<VecDeque<Result<ObjectList<ConfigMap>, Error>>>,
    watch_senders: Mutex<VecDeque<Sender>>,
    list_calls: AtomicUsize,
}

impl Fake {
    async fn next_watch(&self) -> Sender {
        for _ in 0..2000 {
            if let Some(s) = self.watch_senders.lock().pop_front() {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("no watch was started");
    }
}

informer_common::plain_lister_watcher!(Fake, ConfigMap);

impl Fake {
    fn plain_list<'a>(&'a self, _o: &'a ListOptions) -> BoxFuture<'a, Result<ObjectList<ConfigMap>, Error>> {
        self.list_calls.fetch_add(1, Ordering::SeqCst);
        let next = self.lists.lock().pop_front();
        Box::pin(async move {
            match next {
                Some(r) => r,
                None => std::future::pending().await,
            }
        })
    }
    fn plain_watch<'a>(&'a self, _o: &'a ListOptions) -> BoxFuture<'a, Result<PlainEvents<ConfigMap>, Error>> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.watch_senders.lock().push_back(tx);
        Box::pin(async move {
            let s = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
            Ok(s.boxed())
        })
    }
}

fn informer(fake: &Arc<Fake>, queue: QueueKind) -> SharedIndexInformer<ConfigMap> {
    let opts = InformerOptions { name: "configmaps".into(), use_watch_list: false, queue, ..Default::default() };
    SharedIndexInformer::from_arc(fake.clone(), opts)
}

/// Records what a handler saw, as strings.
fn recorder() -> (HandlerFns<ConfigMap>, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, u, d) = (log.clone(), log.clone(), log.clone());
    let h = HandlerFns::new()
        .on_add(move |o: &Arc<ConfigMap>, initial| a.lock().push(format!("add {} {initial}", o.name())))
        .on_update(move |old: &Arc<ConfigMap>, new: &Arc<ConfigMap>| {
            u.lock().push(format!(
                "update {} {}->{}",
                new.name(),
                old.resource_version().unwrap_or(""),
                new.resource_version().unwrap_or("")
            ))
        })
        .on_delete(move |obj: &DeletedObject<ConfigMap>| {
            let kind = if obj.is_tombstone() { "tombstone" } else { "final" };
            d.lock().push(format!("delete {} {kind}", obj.object().name()))
        });
    (h, log)
}

async fn eventually(what: &str, f: impl Fn() -> bool) {
    informer_common::poll_until(what, 3000, Duration::from_millis(5), f).await
}

#[tokio::test]
async fn handlers_see_initial_list_then_live_events_in_order() {
    for queue in [QueueKind::DeltaFifo, QueueKind::RealFifo] {
        let fake = Arc::new(Fake::default());
        fake.lists.lock().push_back(list(vec![cm("a", "x", "1"), cm("b", "y", "2")], "5"));
        let inf = informer(&fake, queue);
        let (h, log) = recorder();
        let reg = inf.add_event_handler(h).unwrap();
        inf.start();
        inf.wait_for_cache_sync(Duration::from_secs(5)).await.unwrap();
        eventually("registration synced", || reg.has_synced()).await;
        let w = fake.next_watch().await;
        w.send(Ok(WatchEvent::Modified(cm("a", "x", "6")))).unwrap();
        w.send(Ok(WatchEvent::Added(cm("a", "z", "7")))).unwrap();
        w.send(Ok(WatchEvent::Deleted(cm("b", "y", "8")))).unwrap();
        eventually("3 live events", || log.lock().len() == 5).await;
        let mut got = log.lock().clone();
        got[..2].sort();
        assert_eq!(got, ["add x true", "add y true", "update x 1->6", "add z false", "delete y final"], "{queue:?}");
        let keys = inf.indexer().list_keys();
        assert_eq!(keys.len(), 2);
        assert_eq!(inf.indexer().by_index(rudder_informer::NAMESPACE_INDEX, "a").unwrap().len(), 2);
        assert_eq!(inf.last_sync_resource_version(), "8");
        inf.shutdown().await;
    }
}

#[tokio::test]
async fn late_handler_receives_the_store_first_then_live_events() {
    let fake = Arc::new(Fake::default());
    fake.lists.lock().push_back(list((0..50).map(|i| cm("ns", &format!("c{i}"), "1")).collect(), "1"));
    let inf = informer(&fake, QueueKind::DeltaFifo);
    inf.start();
    inf.wait_for_cache_sync(Duration::from_secs(5)).await.unwrap();
    let w = fake.next_watch().await;
    let (h, log) = recorder();
    let reg = inf.add_event_handler(h).unwrap();
    w.send(Ok(WatchEvent::Added(cm("ns", "late", "2")))).unwrap();
    eventually("51 events", || log.lock().len() == 51).await;
    let got = log.lock().clone();
    assert!(got[..50].iter().all(|l| l.ends_with(" true")), "synthetic adds are initial");
    assert_eq!(got[50], "add late false");
    assert!(reg.has_synced());
    inf.shutdown().await;
}

#[tokio::test]
async fn relist_after_gone_surfaces_missed_deletes_as_tombstones() {
    let fake = Arc::new(Fake::default());
    fake.lists.lock().push_back(list(vec![cm("ns", "keep", "1"), cm("ns", "gone", "2")], "2"));
    fake.lists.lock().push_back(list(vec![cm("ns", "keep", "1"), cm("ns", "new", "9")], "9"));
    let inf = informer(&fake, QueueKind::DeltaFifo);
    let (h, log) = recorder();
    inf.add_event_handler(h).unwrap();
    inf.start();
    inf.wait_for_cache_sync(Duration::from_secs(5)).await.unwrap();
    let w = fake.next_watch().await;
    w.send(Err(Error::Api {
        status: Box::new(Status::failure(410, ReasonKind::Expired, "too old")),
        method: "GET".into(),
        url: "/".into(),
    }))
    .unwrap();
    eventually("relist applied", || log.lock().len() == 4).await;
    let got = log.lock().clone();
    assert!(got.contains(&"delete gone tombstone".to_string()), "{got:?}");
    assert!(got.contains(&"add new false".to_string()), "{got:?}");
    assert!(!got.iter().any(|l| l.starts_with("update keep")), "unchanged objects are resyncs, not updates: {got:?}");
    assert_eq!(fake.list_calls.load(Ordering::SeqCst), 2);
    let mut keys = inf.indexer().list_keys();
    keys.sort();
    assert_eq!(keys, ["ns/keep", "ns/new"]);
    inf.shutdown().await;
}

#[tokio::test]
async fn a_stalled_handler_does_not_delay_another() {
    let fake = Arc::new(Fake::default());
    fake.lists.lock().push_back(list(vec![], "1"));
    let inf = informer(&fake, QueueKind::DeltaFifo);
    let gate = Arc::new(std::sync::Barrier::new(2));
    let g2 = gate.clone();
    let stalled_seen = Arc::new(AtomicUsize::new(0));
    let s2 = stalled_seen.clone();
    inf.add_event_handler(HandlerFns::new().on_add(move |_o: &Arc<ConfigMap>, _| {
        s2.fetch_add(1, Ordering::SeqCst);
        g2.wait(); // blocks this handler's thread until the test releases it
    }))
    .unwrap();
    let (h, log) = recorder();
    inf.add_event_handler(h).unwrap();
    inf.start();
    inf.wait_for_cache_sync(Duration::from_secs(5)).await.unwrap();
    let w = fake.next_watch().await;
    for i in 0..100 {
        w.send(Ok(WatchEvent::Added(cm("ns", &format!("c{i}"), &format!("{}", i + 2))))).unwrap();
    }
    eventually("the fast handler saw all 100", || log.lock().len() == 100).await;
    assert_eq!(stalled_seen.load(Ordering::SeqCst), 1, "the stalled handler is still on its first event");
    // Release the stalled handler for every event so shutdown can join it.
    let releaser = std::thread::spawn(move || {
        for _ in 0..100 {
            gate.wait();
        }
    });
    inf.shutdown().await;
    releaser.join().unwrap();
    assert_eq!(stalled_seen.load(Ordering::SeqCst), 100, "shutdown drained the stalled handler's buffer");
}

#[tokio::test]
async fn wait_for_cache_sync_reports_the_cause() {
    let fake = Arc::new(Fake::default());
    let forbidden =
        Status::failure(403, ReasonKind::Forbidden, "pods is forbidden: User \"x\" cannot list resource \"pods\"");
    for _ in 0..5 {
        fake.lists.lock().push_back(Err(Error::Api {
            status: Box::new(forbidden.clone()),
            method: "GET".into(),
            url: "/api/v1/pods".into(),
        }));
    }
    let inf = informer(&fake, QueueKind::DeltaFifo);
    assert!(matches!(inf.wait_for_cache_sync(Duration::from_millis(10)).await, Err(SyncError::NotStarted(_))));
    inf.start();
    let err = inf.wait_for_cache_sync(Duration::from_millis(300)).await.unwrap_err();
    assert!(err.cause().is_some_and(|e| e.is_forbidden()), "{err}");
    assert!(err.to_string().contains("forbidden"), "{err}");
    inf.shutdown().await;
}

#[tokio::test]
async fn resync_goes_only_to_handlers_that_are_due() {
    let fake = Arc::new(Fake::default());
    fake.lists.lock().push_back(list(vec![cm("ns", "a", "1")], "1"));
    let inf = informer(&fake, QueueKind::DeltaFifo);
    let (fast, fast_log) = recorder();
    let (none, none_log) = recorder();
    inf.add_event_handler_with_resync(fast, Some(Duration::from_secs(1))).unwrap();
    inf.add_event_handler_with_resync(none, None).unwrap();
    inf.start();
    inf.wait_for_cache_sync(Duration::from_secs(5)).await.unwrap();
    eventually("a resync", || fast_log.lock().iter().any(|l| l == "update a 1->1")).await;
    assert_eq!(none_log.lock().clone(), ["add a true"], "a handler without resync gets none");
    inf.shutdown().await;
}

#[tokio::test]
async fn stream_and_transform_and_indexers() {
    let fake = Arc::new(Fake::default());
    let mut labelled = cm("ns", "a", "1");
    labelled.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
    labelled.metadata.annotations = Some([("big".to_string(), "x".repeat(1000))].into());
    fake.lists.lock().push_back(list(vec![labelled, cm("ns", "b", "2")], "2"));
    let inf = informer(&fake, QueueKind::RealFifo);
    inf.set_transform(|mut c: ConfigMap| {
        c.metadata.annotations = None;
        c
    })
    .unwrap();
    inf.add_indexer("app", |c: &ConfigMap| Ok(c.labels().get("app").cloned().into_iter().collect())).unwrap();
    let mut events = inf.stream().unwrap();
    inf.start();
    assert!(inf.set_transform(|c| c).is_err(), "transform is fixed once started");
    let mut names = Vec::new();
    for _ in 0..2 {
        match events.next().await.unwrap() {
            Notification::Add { obj, is_initial_list } => {
                assert!(is_initial_list);
                assert!(obj.metadata.annotations.is_none(), "transform ran before caching");
                names.push(obj.name().to_string());
            }
            other => panic!("{other:?}"),
        }
    }
    names.sort();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(inf.indexer().by_index("app", "web").unwrap().len(), 1);
    inf.shutdown().await;
}

/// Lists one object at once; its watches never deliver anything.
struct Quiet;

impl Quiet {
    fn plain_list<'a>(&'a self, _o: &'a ListOptions) -> BoxFuture<'a, Result<ObjectList<ConfigMap>, Error>> {
        Box::pin(async { list(vec![cm("ns", "a", "1")], "1") })
    }
    fn plain_watch<'a>(&'a self, _o: &'a ListOptions) -> BoxFuture<'a, Result<PlainEvents<ConfigMap>, Error>> {
        Box::pin(async { Ok(futures::stream::pending().boxed()) })
    }
}

informer_common::plain_lister_watcher!(Quiet, ConfigMap);

/// Waits (briefly) until `rt` runs no task at all: a finished task leaves the runtime's books
/// a moment after whoever awaited it was woken.
fn no_task_alive(rt: &tokio::runtime::Runtime) -> bool {
    for _ in 0..100 {
        if rt.metrics().num_alive_tasks() == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// Many start() and shutdown() calls at once, from threads released together, on a runtime of
/// their own; some starts land while a shutdown is joining (its handler is slow). Once any
/// shutdown returns its handler has finished; once all calls returned, no task of the informer
/// runs; nothing panics; a start after shutdown does nothing.
#[test]
fn concurrent_starts_and_shutdowns_leave_nothing_running() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for round in 0..ROUNDS {
        let opts = InformerOptions { name: "configmaps".into(), use_watch_list: false, ..Default::default() };
        let inf = SharedIndexInformer::new(Quiet, opts);
        let reg = inf
            .add_event_handler(
                HandlerFns::new().on_add(|_: &Arc<ConfigMap>, _| std::thread::sleep(Duration::from_millis(1))),
            )
            .unwrap();
        let go = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let (inf, reg, go, rt) = (inf.clone(), reg.clone(), go.clone(), rt.handle().clone());
                std::thread::spawn(move || {
                    let _entered = rt.enter();
                    while !go.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    if i % 2 == 0 {
                        inf.start();
                    } else {
                        rt.block_on(inf.shutdown());
                        assert!(reg.stopped().now_or_never().is_some(), "round {round}: a handler outlived shutdown");
                        inf.start();
                    }
                })
            })
            .collect();
        go.store(true, Ordering::Release);
        for t in threads {
            t.join().expect("start and shutdown never panic");
        }
        assert!(no_task_alive(&rt), "round {round}: an informer task outlived shutdown");
        assert!(
            inf.add_event_handler(HandlerFns::new()).is_err(),
            "round {round}: a stopped informer takes no handler"
        );
    }
}

const ROUNDS: usize = 300;
