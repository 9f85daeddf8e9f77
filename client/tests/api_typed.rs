//! Every verb of `Api<K>` on typed kinds (ConfigMap, Pod, Deployment) against the embedded API
//! server over a real socket.

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use rudder_apimachinery::options::{DeleteOptions, ListOptions, PatchOptions, WriteOptions};
use rudder_apimachinery::{ApiResource, DynamicObject, HasMetadata, Patch, WatchEvent};
use rudder_apiserver::ApiServer;
use rudder_client::api::{Api, Decoding};
use rudder_client::clientset::ClientSet;
use rudder_client::{Error, ObjectOrStatus};
use serde_json::json;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})).unwrap()
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "main", "image": "nginx"}]}
    }))
    .unwrap()
}

pub fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
        }
    }))
    .unwrap()
}

async fn server() -> ApiServer {
    ApiServer::start().await.expect("embedded API server starts")
}

#[tokio::test]
async fn configmap_create_get_replace_patch_delete() {
    let s = server().await;
    let cms = ClientSet::new(s.client()).core_v1().config_maps("default");

    let created = cms.create(&WriteOptions::default(), &cm("a", json!({"app": "x"}))).await.unwrap();
    assert_eq!(created.name(), "a");
    assert!(created.uid().is_some_and(|u| !u.is_empty()));
    let rv1 = created.resource_version().unwrap().to_string();

    let again = cms.create(&WriteOptions::default(), &cm("a", json!({}))).await.unwrap_err();
    assert!(again.is_already_exists(), "{again}");

    let got = cms.get("a").await.unwrap();
    assert_eq!(got.data.as_ref().unwrap()["k"], "v");
    assert!(cms.get_opt("missing").await.unwrap().is_none());
    assert!(cms.get("missing").await.unwrap_err().is_not_found());

    let mut changed = got.clone();
    changed.data.as_mut().unwrap().insert("k".into(), "v2".into());
    let replaced = cms.replace("a", &WriteOptions::default(), &changed).await.unwrap();
    assert_eq!(replaced.data.as_ref().unwrap()["k"], "v2");
    assert_ne!(replaced.resource_version().unwrap(), rv1);
    // The stale object is refused: resourceVersion is a compare-and-swap token.
    let stale = cms.replace("a", &WriteOptions::default(), &changed).await.unwrap_err();
    assert!(stale.is_conflict(), "{stale}");

    let merged = cms.patch("a", &PatchOptions::default(), &Patch::Merge(json!({"data": {"m": "1"}}))).await.unwrap();
    assert_eq!(merged.data.as_ref().unwrap()["m"], "1");
    let sm = cms
        .patch("a", &PatchOptions::default(), &Patch::Strategic(json!({"metadata": {"labels": {"s": "1"}}})))
        .await
        .unwrap();
    assert_eq!(sm.labels()["s"], "1");

    // dryRun changes nothing.
    let dry = WriteOptions { dry_run: true, ..Default::default() };
    cms.create(&dry, &cm("dry", json!({}))).await.unwrap();
    assert!(cms.get_opt("dry").await.unwrap().is_none());

    match cms.delete("a", &DeleteOptions::default()).await.unwrap() {
        ObjectOrStatus::Status(st) => assert_eq!(st.status, "Success"),
        ObjectOrStatus::Object(o) => assert_eq!(o.name(), "a"),
    }
    assert!(cms.get_opt("a").await.unwrap().is_none());
    assert!(cms.delete("a", &DeleteOptions::default()).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn json_patch_on_a_typed_object() {
    let s = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    cms.create(&WriteOptions::default(), &cm("j", json!({}))).await.unwrap();
    let jp = cms
        .patch("j", &PatchOptions::default(), &Patch::Json(json!([{"op": "remove", "path": "/data/k"}])))
        .await
        .unwrap();
    assert!(!jp.data.as_ref().unwrap().contains_key("k"));
    let bad = cms
        .patch("j", &PatchOptions::default(), &Patch::Json(json!([{"op": "test", "path": "/data/k", "value": "x"}])))
        .await
        .unwrap_err();
    assert_eq!(bad.status().map(|s| s.code), Some(422), "{bad}");
}

#[tokio::test]
async fn delete_preconditions_are_checked() {
    let s = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    let c = cms.create(&Default::default(), &cm("p", json!({}))).await.unwrap();
    let wrong = DeleteOptions::default().with_uid("not-the-uid");
    assert!(cms.delete("p", &wrong).await.unwrap_err().is_conflict());
    let right =
        DeleteOptions::default().with_uid(c.uid().unwrap()).with_resource_version(c.resource_version().unwrap());
    cms.delete("p", &right).await.unwrap();
}

#[tokio::test]
async fn list_in_one_and_all_namespaces() {
    let s = server().await;
    let client = s.client();
    for (ns, name) in [("default", "a"), ("default", "b"), ("kube-system", "c")] {
        Api::<ConfigMap>::namespaced(client.clone(), ns)
            .create(&Default::default(), &cm(name, json!({})))
            .await
            .unwrap();
    }
    let names = |l: rudder_apimachinery::ObjectList<ConfigMap>| {
        let mut v: Vec<String> = l.items.iter().map(|c| c.name().to_string()).collect();
        v.sort();
        v
    };
    let all = Api::<ConfigMap>::all(client.clone()).list(&ListOptions::default()).await.unwrap();
    assert!(!all.resource_version().is_empty());
    assert_eq!(names(all), ["a", "b", "c"]);
    let default_ns = Api::<ConfigMap>::default_namespaced(client.clone());
    assert_eq!(default_ns.namespace(), Some("default"));
    assert_eq!(names(default_ns.list(&ListOptions::default()).await.unwrap()), ["a", "b"]);
    let nss = ClientSet::new(client).core_v1().namespaces().list(&ListOptions::default()).await.unwrap();
    let nss: Vec<String> = nss.items.iter().map(|n: &Namespace| n.name().to_string()).collect();
    assert!(nss.contains(&"default".to_string()) && nss.contains(&"kube-system".to_string()), "{nss:?}");
}

#[tokio::test]
async fn list_with_selectors_and_all_namespaces() {
    let s = server().await;
    let client = s.client();
    for (ns, name, app) in [("default", "a", "web"), ("default", "b", "db"), ("kube-system", "c", "web")] {
        Api::<ConfigMap>::namespaced(client.clone(), ns)
            .create(&Default::default(), &cm(name, json!({"app": app})))
            .await
            .unwrap();
    }
    let names = |l: rudder_apimachinery::ObjectList<ConfigMap>| {
        let mut v: Vec<String> = l.items.iter().map(|c| c.name().to_string()).collect();
        v.sort();
        v
    };
    let web = Api::<ConfigMap>::all(client.clone()).list(&ListOptions::default().labels("app=web")).await.unwrap();
    assert!(!web.resource_version().is_empty());
    assert_eq!(names(web), ["a", "c"]);
    let default_ns = Api::<ConfigMap>::default_namespaced(client.clone());
    assert_eq!(default_ns.namespace(), Some("default"));
    let l = default_ns.list(&ListOptions::default().labels("app in (web,db)")).await.unwrap();
    assert_eq!(names(l), ["a", "b"]);
    let by_field = default_ns.list(&ListOptions::default().fields("metadata.name=b")).await.unwrap();
    assert_eq!(names(by_field), ["b"]);
    // Cluster-scoped: namespaces.
    let nss = ClientSet::new(client).core_v1().namespaces().list(&ListOptions::default()).await.unwrap();
    let nss: Vec<String> = nss.items.iter().map(|n: &Namespace| n.name().to_string()).collect();
    assert!(nss.contains(&"default".to_string()) && nss.contains(&"kube-system".to_string()), "{nss:?}");
}

#[tokio::test]
async fn delete_collection_deletes_one_namespace() {
    let s = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    for n in ["x1", "x2"] {
        cms.create(&Default::default(), &cm(n, json!({}))).await.unwrap();
    }
    let other: Api<ConfigMap> = Api::namespaced(s.client(), "kube-system");
    other.create(&Default::default(), &cm("keep", json!({}))).await.unwrap();
    match cms.delete_collection(&ListOptions::default(), &DeleteOptions::default()).await.unwrap() {
        ObjectOrStatus::Object(list) => {
            let mut n: Vec<&str> = list.items.iter().map(|c| c.name()).collect();
            n.sort();
            assert_eq!(n, ["x1", "x2"]);
        }
        ObjectOrStatus::Status(st) => assert_eq!(st.status, "Success"),
    }
    assert!(cms.list(&ListOptions::default()).await.unwrap().items.is_empty());
    assert_eq!(other.list(&ListOptions::default()).await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn delete_collection_returns_the_deleted_items() {
    let s = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    for (n, app) in [("x1", "gone"), ("x2", "gone"), ("keep", "stay")] {
        cms.create(&Default::default(), &cm(n, json!({"app": app}))).await.unwrap();
    }
    let out =
        cms.delete_collection(&ListOptions::default().labels("app=gone"), &DeleteOptions::default()).await.unwrap();
    if let ObjectOrStatus::Object(list) = out {
        let mut n: Vec<&str> = list.items.iter().map(|c| c.name()).collect();
        n.sort();
        assert_eq!(n, ["x1", "x2"]);
    }
    let left: Vec<String> =
        cms.list(&ListOptions::default()).await.unwrap().items.iter().map(|c| c.name().to_string()).collect();
    assert_eq!(left, ["keep"]);
}

#[tokio::test]
async fn watch_sees_added_modified_deleted() {
    let s = server().await;
    let pods: Api<Pod> = ClientSet::new(s.client()).core_v1().pods("default");
    let start = pods.list(&ListOptions::default()).await.unwrap();
    let mut w = pods
        .watch(&ListOptions {
            resource_version: Some(start.resource_version().to_string()),
            timeout_seconds: Some(30),
            ..Default::default()
        })
        .await
        .unwrap();
    pods.create(&Default::default(), &pod("w")).await.unwrap();
    pods.patch("w", &PatchOptions::default(), &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})))
        .await
        .unwrap();
    pods.delete("w", &DeleteOptions { grace_period_seconds: Some(0), ..Default::default() }).await.unwrap();
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("DELETED") {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(10), w.next()).await.expect("event in time");
        let ev = ev.expect("stream open").expect("event decodes");
        if let WatchEvent::Added(p) | WatchEvent::Modified(p) | WatchEvent::Deleted(p) = &ev {
            assert_eq!(p.name(), "w");
        }
        if !matches!(ev, WatchEvent::Bookmark(_)) {
            seen.push(ev.type_name().to_string());
        }
    }
    assert_eq!(seen.first().map(String::as_str), Some("ADDED"));
    assert!(seen.contains(&"MODIFIED".to_string()), "{seen:?}");
}

#[tokio::test]
async fn metadata_only_list_get_and_watch() {
    let s = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    cms.create(&Default::default(), &cm("meta", json!({"app": "m"}))).await.unwrap();
    let l = cms.metadata().list(&ListOptions::default()).await.unwrap();
    let item = l.items.iter().find(|m| m.name() == "meta").expect("listed");
    assert_eq!(item.labels()["app"], "m");
    let one = cms.metadata().get("meta").await.unwrap();
    assert_eq!(one.types.as_ref().map(|t| t.kind.as_str()), Some("PartialObjectMetadata"));
    let mut w = cms
        .metadata()
        .watch(&ListOptions { resource_version: Some(l.resource_version().to_string()), ..Default::default() })
        .await
        .unwrap();
    cms.patch("meta", &PatchOptions::default(), &Patch::Merge(json!({"metadata": {"labels": {"app": "n"}}})))
        .await
        .unwrap();
    let ev = tokio::time::timeout(std::time::Duration::from_secs(10), w.next()).await.unwrap().unwrap().unwrap();
    match ev {
        WatchEvent::Modified(m) => assert_eq!(m.labels()["app"], "n"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn server_side_apply_creates_and_conflicts() {
    let s = server().await;
    let deploys: Api<Deployment> = ClientSet::new(s.client()).apps_v1().deployments("default");
    let intent = |replicas: i32| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ssa"},
               "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "ssa"}},
                        "template": {"metadata": {"labels": {"app": "ssa"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    };
    let d = deploys.patch("ssa", &PatchOptions::apply("alice"), &Patch::Apply(intent(2))).await.unwrap();
    assert_eq!(d.spec.replicas, Some(2));
    assert!(d.metadata.managed_fields.iter().flatten().any(|m| m.manager.as_deref() == Some("alice")));
    let conflict = deploys.patch("ssa", &PatchOptions::apply("bob"), &Patch::Apply(intent(3))).await.unwrap_err();
    assert!(conflict.is_conflict(), "{conflict}");
    let forced = deploys.patch("ssa", &PatchOptions::apply("bob").force(), &Patch::Apply(intent(3))).await.unwrap();
    assert_eq!(forced.spec.replicas, Some(3));
    // No field manager: refused before sending.
    let e = deploys.patch("ssa", &PatchOptions::default(), &Patch::Apply(intent(1))).await.unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e}");
}

#[tokio::test]
async fn views_read_patch_and_delete_as_their_kind() {
    #[derive(serde::Serialize, serde::Deserialize, Debug)]
    struct CmView {
        metadata: rudder_apimachinery::ObjectMeta,
        #[serde(default)]
        data: std::collections::BTreeMap<String, String>,
    }
    rudder_apimachinery::view!(CmView => ConfigMap);
    let s = server().await;
    let typed: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    let mut full = cm("view", json!({"app": "x"}));
    full.data = Some([("a".to_string(), "b".to_string())].into());
    full.binary_data = Some([("bin".to_string(), k8s_openapi::ByteString(vec![1, 2, 3]))].into());
    typed.create(&Default::default(), &full).await.unwrap();

    let views: Api<CmView> = Api::namespaced(s.client(), "default");
    assert_eq!(views.get("view").await.unwrap().data["a"], "b");
    assert_eq!(views.list(&ListOptions::default()).await.unwrap().items.len(), 1);
    // Writes through a view are patches of what it declares (create/replace do not compile for
    // a view: see tests/ui); the fields it does not declare survive.
    let patched =
        views.patch("view", &PatchOptions::default(), &Patch::Merge(json!({"data": {"a": "c"}}))).await.unwrap();
    assert_eq!(patched.data["a"], "c");
    let after = typed.get("view").await.unwrap();
    assert_eq!(after.binary_data.unwrap()["bin"].0, vec![1, 2, 3]);
    assert_eq!(after.metadata.labels.unwrap()["app"], "x");
    views.delete("view", &Default::default()).await.unwrap();
    assert!(typed.get_opt("view").await.unwrap().is_none());
}

#[tokio::test]
async fn empty_names_fail_before_sending() {
    let s = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "");
    assert!(matches!(cms.list(&ListOptions::default()).await, Err(Error::InvalidRequest(_))));
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    assert!(matches!(cms.get("").await, Err(Error::InvalidRequest(_))));
}

#[tokio::test]
async fn list_with_shared_decoding_gives_the_list_in_arcs_transformed_and_typed() {
    use std::sync::Arc;
    let s = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    for i in 0..300 {
        cms.create(&WriteOptions::default(), &cm(&format!("c{i:03}"), json!({"app": "x"}))).await.unwrap();
    }
    let plain = cms.list(&ListOptions::default()).await.unwrap();
    let strip: rudder_client::decode::ItemTransform<ConfigMap> = Arc::new(|mut c: ConfigMap| {
        c.data = None;
        c
    });
    let shared = cms.list_with(&ListOptions::default(), Decoding::default().transform(strip).shared()).await.unwrap();
    assert_eq!(shared.resource_version(), plain.resource_version());
    assert_eq!(shared.items.len(), 300);
    for (a, p) in shared.items.iter().zip(&plain.items) {
        assert_eq!(a.metadata, p.metadata, "same objects in the same order");
        assert_eq!(a.data, None, "the transform ran");
        assert_eq!(Arc::strong_count(a), 1);
    }

    // Dynamic items get the list's apiVersion and kind, as with `list`.
    let dynamic = Api::<DynamicObject>::with_resource(s.client(), &ApiResource::of::<ConfigMap>(), Some("default"));
    let shared = dynamic.list_with(&ListOptions::default(), Decoding::default().shared()).await.unwrap();
    assert_eq!(shared.items.len(), 300);
    assert!(shared.items.iter().all(|o| o.api_version() == "v1" && o.kind() == "ConfigMap"));
}

#[tokio::test]
async fn watch_with_shared_decoding_gives_transformed_objects_in_arcs() {
    use std::sync::Arc;
    let s = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    let rv = cms.list(&ListOptions::default()).await.unwrap().resource_version().to_string();
    let strip: rudder_client::decode::ItemTransform<ConfigMap> = Arc::new(|mut c: ConfigMap| {
        c.data = None;
        c
    });
    let opts = ListOptions { resource_version: Some(rv), ..ListOptions::default() };
    let mut events = cms.watch_with(&opts, Decoding::default().transform(strip).shared()).await.unwrap();
    cms.create(&WriteOptions::default(), &cm("w", json!({"app": "x"}))).await.unwrap();
    cms.delete("w", &DeleteOptions::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let ev =
            tokio::time::timeout(std::time::Duration::from_secs(10), events.next()).await.unwrap().unwrap().unwrap();
        match ev {
            WatchEvent::Added(o) | WatchEvent::Deleted(o) => {
                assert_eq!(o.name(), "w");
                assert_eq!(o.data, None, "the transform ran");
                assert_eq!(Arc::strong_count(&o), 1);
                seen.push(o);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn decoding_on_the_callers_task_gives_what_the_pool_gives() {
    use rudder_client::decode::DecodePool;
    let s = server().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    for i in 0..40 {
        cms.create(&WriteOptions::default(), &cm(&format!("i{i:02}"), json!({"app": "x"}))).await.unwrap();
    }
    let pooled = cms.list(&ListOptions::default()).await.unwrap();
    let inline = cms.list_with(&ListOptions::default(), Decoding::default().pool(DecodePool::new(0))).await.unwrap();
    assert_eq!(inline.resource_version(), pooled.resource_version());
    let names = |l: &[ConfigMap]| l.iter().map(|c| c.metadata.name.clone().unwrap()).collect::<Vec<_>>();
    assert_eq!(names(&inline.items), names(&pooled.items));
    assert_eq!(inline.items.len(), 40);

    // A watch decoded inline delivers events in order, items of a dynamic list get their type.
    let opts = ListOptions { resource_version: Some(pooled.resource_version().to_string()), ..Default::default() };
    let mut events = cms.watch_with(&opts, Decoding::default().pool(DecodePool::new(0))).await.unwrap();
    cms.create(&WriteOptions::default(), &cm("late", json!({"app": "x"}))).await.unwrap();
    let first =
        tokio::time::timeout(std::time::Duration::from_secs(10), events.next()).await.unwrap().unwrap().unwrap();
    match first {
        WatchEvent::Added(c) => assert_eq!(c.metadata.name.as_deref(), Some("late")),
        other => panic!("{other:?}"),
    }
    let dynamic = Api::<DynamicObject>::with_resource(s.client(), &ApiResource::of::<ConfigMap>(), Some("default"));
    let d = dynamic.list_with(&ListOptions::default(), Decoding::default().pool(DecodePool::new(0))).await.unwrap();
    assert!(d.items.iter().all(|o| o.api_version() == "v1" && o.kind() == "ConfigMap"));
}
