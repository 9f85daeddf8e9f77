//! The factory's informers for kinds known at run time (`dynamic_informer`), metadata-only
//! informers (`metadata_informer`) and the `Lister` over their caches, against the embedded API
//! server: what a controller watching CRDs or many kinds relies on.

mod informer_common;

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::json;

use rudder_apimachinery::labels::Selector;
use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::{CreateOptions, DeleteOptions};
use rudder_apimachinery::ApiResource;
use rudder_apiserver::ApiServer;
use rudder_client::api::Api;
use rudder_informer::{InformerScope, SharedInformerFactory};

use informer_common::eventually;

fn cm(ns: &str, name: &str, app: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
        "data": {"k": name},
    }))
    .unwrap()
}

async fn seeded() -> ApiServer {
    let s = ApiServer::start().await.unwrap();
    for ns in ["a", "b"] {
        let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(s.client());
        let mut n = k8s_openapi::api::core::v1::Namespace::default();
        n.metadata.name = Some(ns.into());
        nss.create(&CreateOptions::default(), &n).await.unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(s.client(), ns);
        for (name, app) in [("web", "web"), ("db", "db")] {
            cms.create(&CreateOptions::default(), &cm(ns, name, app)).await.unwrap();
        }
    }
    s
}

#[tokio::test]
async fn a_dynamic_informer_caches_typed_fields_and_the_kind_of_every_item() {
    let s = seeded().await;
    let factory = SharedInformerFactory::new(s.client());
    let inf = factory.dynamic_informer(&ApiResource::of::<ConfigMap>());
    factory.start();
    factory.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();

    let lister = inf.lister();
    let all = lister.list(&Selector::everything());
    assert_eq!(all.len(), 4);
    // Items of a ConfigMapList carry no apiVersion/kind on the wire; the cache has them.
    assert!(all.iter().all(|o| o.api_version() == "v1" && o.kind() == "ConfigMap"), "{all:?}");
    let web_a = lister.namespace("a").get("web").expect("a/web cached");
    assert_eq!(web_a.data.get("data").and_then(|d| d.get("k")).and_then(|v| v.as_str()), Some("web"));

    // A watch event reaches the dynamic cache.
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "b");
    cms.create(&CreateOptions::default(), &cm("b", "cache", "web")).await.unwrap();
    eventually("b/cache in the dynamic cache", || lister.namespace("b").get("cache").is_some()).await;
    factory.shutdown().await;
}

#[tokio::test]
async fn a_metadata_informer_caches_metadata_only_and_follows_deletes() {
    let s = seeded().await;
    let factory = SharedInformerFactory::new(s.client());
    let inf = factory.metadata_informer(&ApiResource::of::<ConfigMap>());
    factory.start();
    factory.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();

    let lister = inf.lister();
    let db_b = lister.namespace("b").get("db").expect("b/db cached");
    assert_eq!(db_b.labels().get("app").map(String::as_str), Some("db"));
    assert!(db_b.resource_version().is_some_and(|rv| !rv.is_empty()));
    // The server was asked for metadata only: every list and watch carried the
    // PartialObjectMetadata Accept header, so no data was cached (the type has none to hold).
    assert_eq!(lister.list(&Selector::everything()).len(), 4);

    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "b");
    cms.delete("db", &DeleteOptions::default()).await.unwrap();
    eventually("b/db gone from the metadata cache", || lister.namespace("b").get("db").is_none()).await;
    factory.shutdown().await;
}

#[tokio::test]
async fn the_lister_selects_by_labels_and_namespace() {
    let s = seeded().await;
    let factory = SharedInformerFactory::new(s.client());
    let inf = factory.informer::<ConfigMap>();
    factory.start();
    factory.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();
    let lister = inf.lister();

    let web: Selector = "app=web".parse().unwrap();
    let mut names: Vec<String> =
        lister.list(&web).iter().map(|c| format!("{}/{}", c.namespace().unwrap(), c.name())).collect();
    names.sort();
    assert_eq!(names, ["a/web", "b/web"]);
    assert_eq!(lister.namespace("a").list(&Selector::everything()).len(), 2);
    assert_eq!(lister.namespace("a").list(&"app=db".parse().unwrap()).len(), 1);
    assert!(lister.namespace("c").list(&Selector::everything()).is_empty());
    assert_eq!(lister.get("a/db").map(|c| c.name().to_string()).as_deref(), Some("db"));
    assert!(lister.namespace("a").get("nope").is_none());
    factory.shutdown().await;
}

#[tokio::test]
async fn scoped_informers_hold_only_their_scope_and_equal_scopes_share_one_cache() {
    let s = seeded().await;
    let factory = SharedInformerFactory::new(s.client());
    let web_in_a = InformerScope { namespace: Some("a".into()), labels: Some("app=web".into()), fields: None };
    let first = factory.informer_in::<ConfigMap>(&web_in_a);
    let second = factory.informer_in::<ConfigMap>(&web_in_a.clone());
    let not_db = InformerScope { fields: Some("metadata.name!=db".into()), ..InformerScope::default() };
    let other = factory.informer_in::<ConfigMap>(&not_db);
    s.control().reset_counts();
    factory.start();
    factory.wait_for_cache_sync(Duration::from_secs(10)).await.unwrap();

    let names = |inf: &rudder_informer::SharedIndexInformer<ConfigMap>| {
        let mut n: Vec<String> = inf
            .lister()
            .list(&Selector::everything())
            .iter()
            .map(|c| format!("{}/{}", c.namespace().unwrap_or_default(), c.name()))
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&first), ["a/web"]);
    assert_eq!(names(&second), ["a/web"]);
    assert_eq!(names(&other), ["a/web", "b/web"]);
    // Two scopes, two caches: one list (or streaming-list watch) each, not three.
    let requests = s.control().request_count("list", "configmaps") + s.control().request_count("watch", "configmaps");
    assert_eq!(requests, 2, "{:?}", s.control().request_counts());

    // A change in scope reaches the shared cache once; one out of scope does not.
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "a");
    cms.create(&CreateOptions::default(), &cm("a", "web2", "web")).await.unwrap();
    cms.create(&CreateOptions::default(), &cm("a", "db2", "db")).await.unwrap();
    eventually("a/web2 in the scoped cache", || first.lister().namespace("a").get("web2").is_some()).await;
    eventually("a/db2 in the field-scoped cache", || other.lister().namespace("a").get("db2").is_some()).await;
    assert!(second.lister().namespace("a").get("db2").is_none(), "db2 does not match app=web");
    factory.shutdown().await;
}
