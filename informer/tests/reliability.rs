//! Informer reliability against the embedded API server over real sockets, with its fault
//! injection. Every test ends by asserting that the informer's cache equals the server's state
//! (nothing lost, no ghosts) and uses the server's request counts to assert how it got there.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use parking_lot::Mutex;

use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::{CreateOptions, DeleteOptions};
use rudder_apimachinery::resource::Resource;
use rudder_apiserver::ApiServer;
use rudder_client::api::Api;
use rudder_client::Error;
use rudder_informer::processor::{DeletedObject, HandlerFns};
use rudder_informer::{SharedIndexInformer, SharedInformerFactory};

async fn server() -> ApiServer {
    ApiServer::builder().bookmark_interval(Duration::from_millis(200)).start().await.expect("server starts")
}

fn cm(name: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.into());
    c.data = Some([("k".to_string(), name.to_string())].into());
    c
}

async fn create(api: &Api<ConfigMap>, name: &str) {
    api.create(&CreateOptions::default(), &cm(name)).await.expect("create");
}

/// The server's configmaps in `default` as name -> resourceVersion.
fn server_state(s: &ApiServer) -> BTreeMap<String, String> {
    s.control()
        .objects(&ConfigMap::api_resource().gvr())
        .into_iter()
        .filter(|o| o["metadata"]["namespace"] == "default")
        .map(|o| {
            (
                o["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                o["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn cache_state(inf: &SharedIndexInformer<ConfigMap>) -> BTreeMap<String, String> {
    inf.indexer()
        .list()
        .into_iter()
        .map(|o| (o.name().to_string(), o.resource_version().unwrap_or_default().to_string()))
        .collect()
}

async fn converges(s: &ApiServer, inf: &SharedIndexInformer<ConfigMap>) {
    for _ in 0..2000 {
        if cache_state(inf) == server_state(s) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(cache_state(inf), server_state(s), "cache never converged to the server's state");
}

fn informer(s: &ApiServer) -> (SharedInformerFactory, SharedIndexInformer<ConfigMap>) {
    let f = SharedInformerFactory::new(s.client()).namespace("default");
    let inf = f.informer::<ConfigMap>();
    (f, inf)
}

fn counts(s: &ApiServer) -> (u64, u64) {
    (s.control().request_count("list", "configmaps"), s.control().request_count("watch", "configmaps"))
}

#[tokio::test]
async fn dropped_watch_resumes_without_a_new_list() {
    let s = server().await;
    let api = Api::<ConfigMap>::namespaced(s.client(), "default");
    for i in 0..20 {
        create(&api, &format!("a{i}")).await;
    }
    let (f, inf) = informer(&s);
    f.start();
    f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
    converges(&s, &inf).await;
    let (lists, watches) = counts(&s);
    s.control().drop_watches();
    create(&api, "after-drop").await;
    converges(&s, &inf).await;
    let (lists2, watches2) = counts(&s);
    assert_eq!(lists2, lists, "no relist after a dropped watch");
    assert!(watches2 > watches, "the watch was re-established");
    f.shutdown().await;
}

#[tokio::test]
async fn gone_on_watch_relists_and_deletes_in_the_gap_are_tombstones() {
    for streaming in [false, true] {
        let s = server().await;
        let api = Api::<ConfigMap>::namespaced(s.client(), "default");
        for n in ["keep", "victim"] {
            create(&api, n).await;
        }
        let f = SharedInformerFactory::new(s.client()).namespace("default").use_watch_list(streaming);
        let inf = f.informer::<ConfigMap>();
        let deletes = Arc::new(Mutex::new(Vec::new()));
        let d2 = deletes.clone();
        inf.add_event_handler(HandlerFns::new().on_delete(move |d: &DeletedObject<ConfigMap>| {
            d2.lock().push((d.object().name().to_string(), d.is_tombstone()))
        }))
        .unwrap();
        f.start();
        f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
        let (lists, watches) = counts(&s);
        // The informer misses what happens next: its watch is stalled, then history is lost.
        s.control().stall_watches();
        api.delete("victim", &DeleteOptions::default()).await.unwrap();
        create(&api, "newcomer").await;
        s.control().compact();
        s.control().drop_watches();
        s.control().release_watches();
        converges(&s, &inf).await;
        if streaming {
            assert!(counts(&s).1 >= watches + 2, "a failed resume, then a streaming relist");
        } else {
            assert_eq!(counts(&s).0, lists + 1, "one relist");
        }
        for _ in 0..200 {
            if !deletes.lock().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            deletes.lock().clone(),
            [("victim".to_string(), true)],
            "the missed delete is a tombstone (streaming {streaming})"
        );
        f.shutdown().await;
    }
}

#[tokio::test]
async fn list_failures_back_off_and_retry() {
    let s = server().await;
    let api = Api::<ConfigMap>::namespaced(s.client(), "default");
    create(&api, "x").await;
    s.control().fail_next(2, "list", "configmaps", 500);
    let f = SharedInformerFactory::new(s.client()).namespace("default").use_watch_list(false);
    let inf = f.informer::<ConfigMap>();
    f.start();
    f.wait_for_cache_sync(Duration::from_secs(15)).await.unwrap();
    converges(&s, &inf).await;
    assert_eq!(counts(&s).0, 3, "two failed lists, then one that worked");
    f.shutdown().await;
}

#[tokio::test]
async fn throttled_list_is_retried() {
    let s = server().await;
    let api = Api::<ConfigMap>::namespaced(s.client(), "default");
    create(&api, "x").await;
    s.control().throttle_next(1, "list", "configmaps", 1);
    let f = SharedInformerFactory::new(s.client()).namespace("default").use_watch_list(false);
    let inf = f.informer::<ConfigMap>();
    f.start();
    f.wait_for_cache_sync(Duration::from_secs(15)).await.unwrap();
    converges(&s, &inf).await;
    assert_eq!(counts(&s).0, 2);
    f.shutdown().await;
}

#[tokio::test]
async fn lost_history_forces_a_relist_and_the_cache_converges() {
    let s = server().await;
    let api = Api::<ConfigMap>::namespaced(s.client(), "default");
    for i in 0..10 {
        create(&api, &format!("h{i}")).await;
    }
    let f = SharedInformerFactory::new(s.client()).namespace("default").use_watch_list(false);
    let inf = f.informer::<ConfigMap>();
    f.start();
    f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
    let lists_before = counts(&s).0;
    s.control().stall_watches();
    for i in 0..5 {
        api.delete(&format!("h{i}"), &DeleteOptions::default()).await.unwrap();
    }
    s.control().compact();
    s.control().drop_watches();
    s.control().release_watches();
    converges(&s, &inf).await;
    assert!(counts(&s).0 > lists_before, "the informer relisted");
    assert_eq!(inf.indexer().len(), 5);
    f.shutdown().await;
}

#[tokio::test]
async fn streaming_list_is_used_when_the_server_has_it() {
    let s = server().await;
    let api = Api::<ConfigMap>::namespaced(s.client(), "default");
    for i in 0..30 {
        create(&api, &format!("s{i}")).await;
    }
    let (f, inf) = informer(&s);
    f.start();
    f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
    converges(&s, &inf).await;
    assert_eq!(counts(&s).0, 0, "no list: the initial state came from the watch");
    create(&api, "live").await;
    converges(&s, &inf).await;
    f.shutdown().await;
}

#[tokio::test]
async fn sync_failure_names_the_cause() {
    let s = server().await;
    s.control().fail_next(1000, "*", "configmaps", 403);
    let (f, _inf) = informer(&s);
    f.start();
    let err = f.wait_for_cache_sync(Duration::from_secs(2)).await.unwrap_err();
    assert!(err.failures[0].cause().is_some_and(|e| e.is_forbidden()), "{err}");
    f.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_every_task() {
    let s = server().await;
    let (f, inf) = informer(&s);
    f.start();
    f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), f.shutdown()).await.expect("shutdown joins promptly");
    let before = counts(&s);
    s.control().drop_watches();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(counts(&s), before, "a stopped informer makes no more requests");
    assert!(inf.add_event_handler(HandlerFns::new()).is_err());
}

/// Records the idle limit of every idle-watch error the informer reports.
fn idle_errors(inf: &SharedIndexInformer<ConfigMap>) -> Arc<Mutex<Vec<Duration>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    inf.set_watch_error_handler(move |e: &Error| {
        if let Error::WatchIdle { idle, .. } = e {
            s2.lock().push(*idle);
        }
    })
    .unwrap();
    seen
}

#[tokio::test]
async fn stalled_watch_is_restarted_and_resumes_from_the_last_resource_version() {
    let s = server().await;
    let api = Api::<ConfigMap>::namespaced(s.client(), "default");
    for i in 0..5 {
        create(&api, &format!("b{i}")).await;
    }
    let idle = Duration::from_millis(300);
    let f = SharedInformerFactory::new(s.client())
        .namespace("default")
        .use_watch_list(false)
        .watch_idle_timeout(Some(idle));
    let inf = f.informer::<ConfigMap>();
    let errors = idle_errors(&inf);
    f.start();
    f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
    converges(&s, &inf).await;
    let (lists, watches) = counts(&s);
    // The open watch goes silent (a half-open connection, as far as the client can tell).
    s.control().stall_watches();
    create(&api, "after-stall").await;
    api.delete("b0", &DeleteOptions::default()).await.unwrap();
    // Every watch stays stalled: only a new watch replaying the history after the informer's
    // last resourceVersion can bring these changes.
    converges(&s, &inf).await;
    let (lists2, watches2) = counts(&s);
    assert_eq!(lists2, lists, "no relist");
    assert!(watches2 > watches, "a new watch was started");
    assert!(errors.lock().contains(&idle), "the error handler was told: {:?}", errors.lock());
    s.control().release_watches();
    f.shutdown().await;
}

#[tokio::test]
async fn quiet_watch_with_bookmarks_is_not_restarted() {
    let s = ApiServer::builder().bookmark_interval(Duration::from_millis(100)).start().await.expect("server starts");
    let api = Api::<ConfigMap>::namespaced(s.client(), "default");
    create(&api, "q").await;
    let f = SharedInformerFactory::new(s.client())
        .namespace("default")
        .watch_idle_timeout(Some(Duration::from_millis(500)));
    let inf = f.informer::<ConfigMap>();
    let errors = idle_errors(&inf);
    f.start();
    f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
    let before = counts(&s);
    // Three idle limits without a change: only bookmarks arrive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(counts(&s), before, "the watch was kept");
    assert!(errors.lock().is_empty(), "{:?}", errors.lock());
    create(&api, "live").await;
    converges(&s, &inf).await;
    f.shutdown().await;
}

#[tokio::test]
async fn a_relist_keeps_the_cached_copy_of_every_unchanged_object() {
    for streaming in [false, true] {
        let s = server().await;
        let api = Api::<ConfigMap>::namespaced(s.client(), "default");
        for i in 0..5 {
            create(&api, &format!("same{i}")).await;
        }
        create(&api, "changed").await;
        let f = SharedInformerFactory::new(s.client()).namespace("default").use_watch_list(streaming);
        let inf = f.informer::<ConfigMap>();
        f.start();
        f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
        converges(&s, &inf).await;
        let before: BTreeMap<String, Arc<ConfigMap>> =
            inf.indexer().list().into_iter().map(|o| (o.name().to_string(), o)).collect();
        let (lists, watches) = counts(&s);
        // Missed while the watch is stalled, then history is lost: the informer must relist.
        s.control().stall_watches();
        let mut c = cm("changed");
        c.data = Some([("k".to_string(), "new".to_string())].into());
        api.replace("changed", &Default::default(), &c).await.expect("replace");
        s.control().compact();
        s.control().drop_watches();
        s.control().release_watches();
        converges(&s, &inf).await;
        let (lists2, watches2) = counts(&s);
        assert!(lists2 > lists || watches2 > watches + 1, "the informer relisted (streaming {streaming})");
        for (name, old) in &before {
            let now = inf.indexer().get_by_key(&format!("default/{name}")).expect("still cached");
            if name == "changed" {
                assert!(!Arc::ptr_eq(old, &now), "the changed object is the listed copy");
                assert_eq!(now.data.as_ref().and_then(|d| d.get("k")).map(String::as_str), Some("new"));
            } else {
                assert!(Arc::ptr_eq(old, &now), "{name}: the relist kept the cached copy (streaming {streaming})");
            }
        }
        f.shutdown().await;
    }
}
