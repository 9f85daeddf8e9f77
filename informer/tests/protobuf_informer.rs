//! Informers over protobuf: a client configured with `ContentType::Protobuf` lists and watches
//! through the one `Api` path, so the cache fills and follows changes exactly as over JSON, with
//! a paged list and with a streaming list (watch-list's initial events and its
//! `initial-events-end` bookmark as protobuf frames), for full kinds and for views.

mod informer_common;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use parking_lot::Mutex;

use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::{CreateOptions, DeleteOptions, UpdateOptions};
use rudder_apiserver::ApiServer;
use rudder_client::api::Api;
use rudder_client::config::ContentType;
use rudder_client::Client;
use rudder_informer::processor::{DeletedObject, HandlerFns};
use rudder_informer::SharedInformerFactory;

use informer_common::eventually;

fn cm(name: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.into());
    c.data = Some([("k".to_string(), name.repeat(20))].into());
    c
}

#[tokio::test]
async fn informers_sync_and_follow_over_protobuf() {
    for streaming in [false, true] {
        let s = ApiServer::builder().start().await.expect("server starts");
        let client = Client::new(s.config().content_type(ContentType::Protobuf)).unwrap();
        let api = Api::<ConfigMap>::namespaced(client.clone(), "default");
        assert!(api.request_builder().is_protobuf());
        for i in 0..200 {
            api.create(&CreateOptions::default(), &cm(&format!("c{i}"))).await.unwrap();
        }
        let f = SharedInformerFactory::new(client.clone()).namespace("default").use_watch_list(streaming);
        let inf = f.informer::<ConfigMap>();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s1, s2, s3) = (seen.clone(), seen.clone(), seen.clone());
        inf.add_event_handler(
            HandlerFns::new()
                .on_add(move |o: &Arc<ConfigMap>, _| s1.lock().push(format!("add {}", o.name())))
                .on_update(move |_, n: &Arc<ConfigMap>| s2.lock().push(format!("update {}", n.name())))
                .on_delete(move |d: &DeletedObject<ConfigMap>| s3.lock().push(format!("delete {}", d.object().name()))),
        )
        .unwrap();
        f.start();
        f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
        assert_eq!(inf.indexer().list().len(), 200, "streaming={streaming}");
        let c7 = inf.indexer().get_by_key("default/c7").unwrap();
        assert_eq!(c7.data.as_ref().unwrap()["k"], "c7".repeat(20));

        api.create(&CreateOptions::default(), &cm("new")).await.unwrap();
        let mut changed = api.get("c1").await.unwrap();
        changed.data = Some([("k".to_string(), "changed".to_string())].into());
        api.replace("c1", &UpdateOptions::default(), &changed).await.unwrap();
        api.delete("c2", &DeleteOptions::default()).await.unwrap();
        eventually("the watch events", || seen.lock().iter().any(|l| l == "delete c2")).await;
        let log = seen.lock().clone();
        for want in ["add new", "update c1", "delete c2"] {
            assert!(log.iter().any(|l| l == want), "streaming={streaming}: no {want:?} in {:?}", &log[200..]);
        }
        assert_eq!(inf.indexer().get_by_key("default/c1").map(|o| o.data.clone()), Some(changed.data));
        f.shutdown().await;
    }
}

#[tokio::test]
async fn view_informers_cache_what_they_declare_over_protobuf() {
    #[derive(serde::Deserialize, Debug)]
    struct PodView {
        metadata: rudder_apimachinery::ObjectMeta,
    }
    rudder_apimachinery::view!(PodView => Pod);
    let s = ApiServer::builder().start().await.expect("server starts");
    s.control().insert_realistic_pods("default", 300);
    let client = Client::new(s.config().content_type(ContentType::Protobuf)).unwrap();
    let f = SharedInformerFactory::new(client).namespace("default");
    let inf = f.informer::<PodView>();
    f.start();
    f.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
    let cached = inf.indexer().list();
    assert_eq!(cached.len(), 300);
    assert!(cached.iter().all(|p| p.uid().is_some_and(|u| !u.is_empty())));
    f.shutdown().await;
}
