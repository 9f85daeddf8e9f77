//! Objects leaving the cache (the old state of an update, a deleted object, the whole cache
//! when the informer is dropped) are freed once no one holds them, although the informer hands
//! them back to the decode threads to drop: with and without handlers, for both queue kinds,
//! against the embedded API server.

mod informer_common;

use std::sync::{Arc, Weak};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use parking_lot::Mutex;

use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::{CreateOptions, DeleteOptions, UpdateOptions};
use rudder_apiserver::ApiServer;
use rudder_client::api::Api;
use rudder_informer::processor::HandlerFns;
use rudder_informer::shared_informer::QueueKind;
use rudder_informer::SharedInformerFactory;

use informer_common::eventually;

const OBJECTS: usize = 200;

fn cm(name: &str, value: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.into());
    // Big enough that lists and watch bursts are decoded in batches on the pool.
    c.data = Some([("k".to_string(), value.repeat(100))].into());
    c
}

fn alive(weaks: &[Weak<ConfigMap>]) -> usize {
    weaks.iter().filter(|w| w.strong_count() > 0).count()
}

#[tokio::test]
async fn replaced_and_deleted_objects_are_freed_once_released() {
    for (queue, with_handler) in
        [(QueueKind::DeltaFifo, true), (QueueKind::DeltaFifo, false), (QueueKind::RealFifo, true)]
    {
        let case = format!("{queue:?}, handler: {with_handler}");
        let s = ApiServer::builder().start().await.expect("server starts");
        let api = Api::<ConfigMap>::namespaced(s.client(), "default");
        for i in 0..OBJECTS {
            api.create(&CreateOptions::default(), &cm(&format!("c{i}"), "a")).await.unwrap();
        }
        let f = SharedInformerFactory::new(s.client()).namespace("default").queue(queue);
        let inf = f.informer::<ConfigMap>();
        // What the handler saw leave the cache; it keeps only weak references.
        let retired = Arc::new(Mutex::new(Vec::<Weak<ConfigMap>>::new()));
        if with_handler {
            let (r1, r2) = (retired.clone(), retired.clone());
            inf.add_event_handler(
                HandlerFns::new()
                    .on_update(move |old: &Arc<ConfigMap>, _| r1.lock().push(Arc::downgrade(old)))
                    .on_delete(move |d| r2.lock().push(Arc::downgrade(d.object()))),
            )
            .unwrap();
        }
        f.start();
        f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
        let listed: Vec<Weak<ConfigMap>> = inf.indexer().list().iter().map(Arc::downgrade).collect();
        assert_eq!(listed.len(), OBJECTS, "{case}");

        for i in 0..OBJECTS {
            let name = format!("c{i}");
            if i % 4 == 0 {
                api.delete(&name, &DeleteOptions::default()).await.unwrap();
            } else {
                api.replace(&name, &UpdateOptions::default(), &cm(&name, "b")).await.unwrap();
            }
        }
        let updated = |o: &Arc<ConfigMap>| o.data.as_ref().and_then(|d| d.get("k")).is_some_and(|v| v.starts_with('b'));
        eventually(&format!("{case}: the cache to apply every change"), || {
            let now = inf.indexer().list();
            now.len() == OBJECTS - OBJECTS / 4 && now.iter().all(updated)
        })
        .await;
        eventually(&format!("{case}: every listed object to be freed"), || alive(&listed) == 0).await;
        if with_handler {
            eventually(&format!("{case}: the handler to see every change"), || retired.lock().len() == OBJECTS).await;
            eventually(&format!("{case}: what the handler saw to be freed"), || alive(&retired.lock()) == 0).await;
        }
        // What is cached now stays alive and readable.
        let cached = inf.indexer().list();
        assert!(cached.iter().all(|o| !o.name().is_empty() && updated(o)), "{case}");
        f.shutdown().await;

        // Dropping the informer hands its cache to the decode threads; once `reclaimed`
        // returns, every object is freed.
        let cached: Vec<Weak<ConfigMap>> = cached.into_iter().map(|o| Arc::downgrade(&o)).collect();
        assert!(alive(&cached) > 0, "{case}");
        drop((inf, f));
        rudder_client::decode::reclaimed().await;
        assert_eq!(alive(&cached), 0, "{case}: objects left after the informer was dropped");
    }
}

/// Records the thread that drops it.
#[derive(Default)]
struct DropProbe;

static DROPPED_ON: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl Drop for DropProbe {
    fn drop(&mut self) {
        DROPPED_ON.lock().push(std::thread::current().name().unwrap_or("").to_string());
    }
}

/// A view of ConfigMap whose drops are recorded.
#[derive(serde::Deserialize)]
struct ProbedConfigMap {
    metadata: rudder_apimachinery::ObjectMeta,
    #[serde(skip)]
    _probe: DropProbe,
}
rudder_apimachinery::view!(ProbedConfigMap => ConfigMap);

#[tokio::test]
async fn a_dropped_informer_frees_its_cache_on_the_decode_threads() {
    let s = ApiServer::builder().start().await.expect("server starts");
    let api = Api::<ConfigMap>::namespaced(s.client(), "default");
    for i in 0..OBJECTS {
        api.create(&CreateOptions::default(), &cm(&format!("p{i}"), "a")).await.unwrap();
    }
    let f = SharedInformerFactory::new(s.client()).namespace("default");
    let inf = f.informer::<ProbedConfigMap>();
    f.start();
    f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
    assert_eq!(inf.indexer().len(), OBJECTS);
    f.shutdown().await;
    // Only this test makes ProbedConfigMaps.
    DROPPED_ON.lock().clear();

    drop((inf, f));
    rudder_client::decode::reclaimed().await;
    let on = std::mem::take(&mut *DROPPED_ON.lock());
    assert_eq!(on.len(), OBJECTS, "every cached object is freed once `reclaimed` returns");
    // The list was decoded on the pool, so its objects go back there.
    let elsewhere: Vec<&String> = on.iter().filter(|t| !t.starts_with("rudder-decode-")).collect();
    assert!(
        elsewhere.is_empty(),
        "{} of {} dropped off the decode threads, e.g. on {:?}",
        elsewhere.len(),
        on.len(),
        elsewhere.first()
    );
}
