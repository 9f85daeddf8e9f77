//! `Registration::synced` (client-go's `ResourceEventHandlerRegistration.HasSynced`, as a
//! wait): it resolves once the informer has synced and the handler has taken its initial
//! list, without polling, and resolves `false` when the handler stops before that.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use parking_lot::Mutex;
use rudder_apimachinery::list::ObjectList;
use rudder_apimachinery::meta::ListMeta;
use rudder_apimachinery::options::ListOptions;
use rudder_client::Error;
use rudder_informer::list_watch::{share_list, ItemOptions, ListerWatcher, WatchEvents};
use rudder_informer::processor::HandlerFns;
use rudder_informer::shared_informer::{InformerOptions, SharedIndexInformer};

const WAIT: Duration = Duration::from_secs(5);

/// Lists what it holds (or never answers when `None`); watches never send anything.
struct Fake(Mutex<Option<Vec<ConfigMap>>>);

impl ListerWatcher<ConfigMap> for Fake {
    fn list<'a>(
        &'a self,
        _o: &'a ListOptions,
        t: &'a ItemOptions<ConfigMap>,
    ) -> BoxFuture<'a, Result<ObjectList<Arc<ConfigMap>>, Error>> {
        let items = self.0.lock().clone();
        Box::pin(async move {
            let Some(items) = items else { return std::future::pending().await };
            let page =
                ObjectList { metadata: ListMeta { resource_version: Some("1".into()), ..Default::default() }, items };
            Ok(share_list(page, t))
        })
    }
    fn watch<'a>(
        &'a self,
        _o: &'a ListOptions,
        _t: &'a ItemOptions<ConfigMap>,
    ) -> BoxFuture<'a, Result<WatchEvents<ConfigMap>, Error>> {
        Box::pin(async { Ok(futures::stream::pending().boxed()) })
    }
}

fn informer(items: Option<Vec<ConfigMap>>) -> SharedIndexInformer<ConfigMap> {
    let opts = InformerOptions { name: "configmaps".into(), use_watch_list: false, ..Default::default() };
    SharedIndexInformer::from_arc(Arc::new(Fake(Mutex::new(items))), opts)
}

fn cm(name: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.into());
    c.metadata.namespace = Some("ns".into());
    c.metadata.resource_version = Some("1".into());
    c
}

#[tokio::test]
async fn synced_waits_for_the_handler_to_take_its_initial_list() {
    let inf = informer(Some(vec![cm("a"), cm("b"), cm("c")]));
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let reg = inf
        .add_event_handler(HandlerFns::new().on_add(move |_: &Arc<ConfigMap>, _| {
            let _ = gate.lock().recv_timeout(WAIT);
        }))
        .unwrap();
    inf.start();
    // The store syncs; the handler, held at its first add, has not.
    let started = tokio::time::Instant::now();
    while !inf.has_synced() {
        assert!(started.elapsed() < WAIT, "the store never synced");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // So the informer's wait, which covers handlers too, does not return yet.
    assert!(tokio::time::timeout(Duration::from_millis(50), inf.wait_for_cache_sync(WAIT)).await.is_err());
    let waiter = tokio::spawn({
        let reg = reg.clone();
        async move { reg.synced().await }
    });
    // A cancelled wait loses nothing.
    assert!(tokio::time::timeout(Duration::from_millis(20), reg.synced()).await.is_err());
    assert!(!waiter.is_finished(), "the handler has not taken its initial list");
    for _ in 0..3 {
        release.send(()).unwrap();
    }
    assert!(tokio::time::timeout(WAIT, waiter).await.expect("synced resolves").unwrap());
    assert!(reg.has_synced());
    inf.shutdown().await;
}

#[tokio::test]
async fn synced_resolves_on_an_empty_first_list() {
    let inf = informer(Some(Vec::new()));
    let reg = inf.add_event_handler(HandlerFns::new()).unwrap();
    let waiter = tokio::spawn({
        let reg = reg.clone();
        async move { reg.synced().await }
    });
    inf.start();
    assert!(tokio::time::timeout(WAIT, waiter).await.expect("synced resolves").unwrap());
    inf.shutdown().await;
}

#[tokio::test]
async fn synced_is_false_when_the_handler_stops_first() {
    let inf = informer(None); // the list never answers
    let reg = inf.add_event_handler(HandlerFns::new()).unwrap();
    inf.start();
    let waiter = tokio::spawn({
        let reg = reg.clone();
        async move { reg.synced().await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiter.is_finished());
    assert!(inf.remove_event_handler(&reg));
    assert!(!tokio::time::timeout(WAIT, waiter).await.expect("synced resolves").unwrap());

    let reg2 = inf.add_event_handler(HandlerFns::new()).unwrap();
    let waiter = tokio::spawn(async move { reg2.synced().await });
    inf.shutdown().await;
    assert!(!tokio::time::timeout(WAIT, waiter).await.expect("synced resolves at shutdown").unwrap());
}

#[tokio::test]
async fn wait_for_cache_sync_returns_once_every_handler_has_its_initial_list() {
    let items: Vec<ConfigMap> = (0..50).map(|i| cm(&format!("c{i}"))).collect();
    let inf = informer(Some(items));
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    inf.add_event_handler(HandlerFns::new().on_add(move |_: &Arc<ConfigMap>, _| {
        // A handler slower than the store: the count lags behind the cache.
        std::thread::sleep(Duration::from_millis(2));
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }))
    .unwrap();
    inf.start();
    inf.wait_for_cache_sync(WAIT).await.unwrap();
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 50, "the handler saw the whole initial list");
    inf.shutdown().await;
}
