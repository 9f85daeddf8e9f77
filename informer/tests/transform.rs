//! The informer's transform hook against the embedded API server: it runs exactly once on
//! every object that enters the cache (initial list, streaming list, watch adds, updates and
//! deletes), and it runs on the decode threads, where the object was decoded.

mod informer_common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use parking_lot::Mutex;

use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::{CreateOptions, DeleteOptions, PatchOptions, UpdateOptions};
use rudder_apimachinery::Patch;
use rudder_apiserver::ApiServer;
use rudder_client::api::Api;
use rudder_informer::processor::{DeletedObject, HandlerFns};
use rudder_informer::SharedInformerFactory;

use informer_common::eventually;

fn cm(name: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.into());
    // Big enough that a list of a few hundred is decoded in batches on the pool.
    c.data = Some([("k".to_string(), name.repeat(50))].into());
    c
}

/// Appends "+" to annotation `t`: run twice, an object would carry "++".
fn mark(mut c: ConfigMap) -> ConfigMap {
    let a = c.metadata.annotations.get_or_insert_with(Default::default);
    a.entry("t".to_string()).or_default().push('+');
    c
}

fn marks(c: &ConfigMap) -> &str {
    c.annotations().get("t").map(String::as_str).unwrap_or("")
}

#[tokio::test]
async fn transform_runs_once_per_object_on_the_decode_threads() {
    for streaming in [false, true] {
        let s = ApiServer::builder().start().await.expect("server starts");
        let api = Api::<ConfigMap>::namespaced(s.client(), "default");
        for i in 0..300 {
            api.create(&CreateOptions::default(), &cm(&format!("c{i}"))).await.unwrap();
        }
        let f = SharedInformerFactory::new(s.client()).namespace("default").use_watch_list(streaming);
        let inf = f.informer::<ConfigMap>();
        let threads = Arc::new(Mutex::new(BTreeSet::new()));
        let t2 = threads.clone();
        inf.set_transform(move |c: ConfigMap| {
            t2.lock().insert(std::thread::current().name().unwrap_or("").to_string());
            mark(c)
        })
        .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s1, s2, s3) = (seen.clone(), seen.clone(), seen.clone());
        inf.add_event_handler(
            HandlerFns::new()
                .on_add(move |o: &Arc<ConfigMap>, _| s1.lock().push(format!("add {} {}", o.name(), marks(o))))
                .on_update(move |_, n: &Arc<ConfigMap>| s2.lock().push(format!("update {} {}", n.name(), marks(n))))
                .on_delete(move |d: &DeletedObject<ConfigMap>| {
                    s3.lock().push(format!("delete {} {}", d.object().name(), marks(d.object())))
                }),
        )
        .unwrap();
        f.start();
        f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
        assert_eq!(inf.indexer().list().len(), 300);
        assert!(inf.indexer().list().iter().all(|o| marks(o) == "+"), "every listed object transformed once");

        // Watch: an add, an update and a delete.
        api.create(&CreateOptions::default(), &cm("new")).await.unwrap();
        let mut changed = api.get("c1").await.unwrap();
        changed.data = Some([("k".to_string(), "changed".to_string())].into());
        api.replace("c1", &UpdateOptions::default(), &changed).await.unwrap();
        api.delete("c2", &DeleteOptions::default()).await.unwrap();
        eventually("the watch events", || seen.lock().iter().any(|l| l.starts_with("delete c2"))).await;
        let log = seen.lock().clone();
        for want in ["add new +", "update c1 +", "delete c2 +"] {
            assert!(log.iter().any(|l| l == want), "streaming={streaming}: no {want:?} in {:?}", &log[300..]);
        }
        assert!(log.iter().all(|l| l.ends_with(" +")), "streaming={streaming}: every event's object transformed once");
        assert_eq!(inf.indexer().get_by_key("default/c1").map(|o| o.data.clone()), Some(changed.data));
        let threads = threads.lock().clone();
        assert!(
            threads.iter().any(|t| t.starts_with("rudder-decode-")),
            "streaming={streaming}: the transform ran on {threads:?}, not on the decode pool"
        );
        f.shutdown().await;
    }
}

#[tokio::test]
async fn strip_managed_fields_caches_objects_without_them_and_keeps_everything_else() {
    for streaming in [false, true] {
        let s = ApiServer::builder().start().await.expect("server starts");
        let api = Api::<ConfigMap>::namespaced(s.client(), "default");
        let apply = |name: &str| {
            let mut c = cm(name);
            c.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
            Patch::Apply(serde_json::to_value(&c).unwrap())
        };
        for i in 0..50 {
            api.patch(&format!("a{i}"), &PatchOptions::apply("tester"), &apply(&format!("a{i}"))).await.unwrap();
        }
        let full = SharedInformerFactory::new(s.client()).namespace("default").use_watch_list(streaming);
        let stripped = SharedInformerFactory::new(s.client())
            .namespace("default")
            .use_watch_list(streaming)
            .strip_managed_fields(true);
        let (keep, strip) = (full.informer::<ConfigMap>(), stripped.informer::<ConfigMap>());
        let marked = Arc::new(Mutex::new(0usize));
        let m2 = marked.clone();
        strip
            .set_transform(move |c: ConfigMap| {
                // The transform sees the object already stripped.
                if c.metadata.managed_fields.is_none() {
                    *m2.lock() += 1;
                }
                c
            })
            .unwrap();
        for f in [&full, &stripped] {
            f.start();
            f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
        }
        // A watched object too.
        api.patch("late", &PatchOptions::apply("tester"), &apply("late")).await.unwrap();
        eventually("the watched object in both caches", || {
            keep.indexer().get_by_key("default/late").is_some() && strip.indexer().get_by_key("default/late").is_some()
        })
        .await;
        assert_eq!(strip.indexer().len(), 51);
        for kept in keep.indexer().list() {
            assert!(kept.metadata.managed_fields.is_some(), "the server tracks fields of {}", kept.name());
            let got = strip.indexer().get_by_key(&format!("default/{}", kept.name())).expect("in both caches");
            let mut want = (*kept).clone();
            want.metadata.managed_fields = None;
            assert_eq!(*got, want, "streaming={streaming}: only managedFields differ");
        }
        assert_eq!(*marked.lock(), 51, "the transform ran after stripping, once per object");
        full.shutdown().await;
        stripped.shutdown().await;
    }
}
