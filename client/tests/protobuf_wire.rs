//! `Config::content_type(ContentType::Protobuf)` against the embedded API server: built-in kinds
//! travel as protobuf (gets, lists, watches, write bodies, errors), custom resources and
//! metadata-only requests stay JSON, and views decode from protobuf.

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use rudder_apimachinery::options::{ListOptions, WriteOptions};
use rudder_apimachinery::{ApiResource, DynamicObject, GroupVersionKind, HasMetadata, Scope, WatchEvent};
use rudder_apiserver::ApiServer;
use rudder_client::api::{Api, Decoding};
use rudder_client::config::ContentType;
use rudder_client::Client;
use serde_json::json;

fn protobuf_client(s: &ApiServer) -> Client {
    Client::new(s.config().content_type(ContentType::Protobuf)).unwrap()
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "x"}}, "data": {"k": "v"},
        "binaryData": {"b": "AQID"}}))
    .unwrap()
}

#[tokio::test]
async fn built_in_kinds_travel_as_protobuf_both_ways() {
    let s = ApiServer::start().await.unwrap();
    let client = protobuf_client(&s);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    assert!(cms.request_builder().is_protobuf());

    // The request body is protobuf, and so is the server's answer to it.
    let req = cms.request_builder().create(&WriteOptions::default(), &cm("raw")).unwrap();
    assert_eq!(req.headers()["content-type"], "application/vnd.kubernetes.protobuf");
    assert!(req.body().starts_with(b"k8s\0"));
    let answer = client.request_bytes(req).await.unwrap();
    assert!(answer.starts_with(b"k8s\0"), "the server answered {answer:?}");

    let created = cms.create(&WriteOptions::default(), &cm("a")).await.unwrap();
    assert_eq!((created.name(), created.data.as_ref().unwrap()["k"].as_str()), ("a", "v"));
    assert_eq!(created.binary_data.as_ref().unwrap()["b"].0, vec![1, 2, 3]);
    let mut got = cms.get("a").await.unwrap();
    assert_eq!(got.metadata.labels.as_ref().unwrap()["app"], "x");
    got.data.as_mut().unwrap().insert("k".into(), "w".into());
    let replaced = cms.replace("a", &Default::default(), &got).await.unwrap();
    assert_eq!(replaced.data.unwrap()["k"], "w");

    // Errors come back as protobuf Status and classify as usual.
    let missing = cms.get("nope").await.unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");
    assert!(cms.get_opt("nope").await.unwrap().is_none());
    let conflict = cms.create(&WriteOptions::default(), &cm("a")).await.unwrap_err();
    assert!(conflict.is_already_exists(), "{conflict:?}");

    // Lists: streamed protobuf, items typed, metadata read.
    let list = cms.list(&ListOptions::default()).await.unwrap();
    let names: Vec<&str> = list.items.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["a", "raw"]);
    assert!(list.metadata.resource_version.is_some());
    let raw_list = client.request_bytes(cms.request_builder().list(&ListOptions::default()).unwrap()).await.unwrap();
    assert!(raw_list.starts_with(b"k8s\0"));
    // Paged.
    let page = cms.list(&ListOptions::default().limit(1)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.metadata.continue_.is_some());

    // Watches: frames from the list's resourceVersion on.
    let rv = list.metadata.resource_version.clone().unwrap();
    let mut events = cms
        .watch_with(&ListOptions { resource_version: Some(rv), ..Default::default() }, Decoding::default().shared())
        .await
        .unwrap();
    cms.create(&WriteOptions::default(), &cm("b")).await.unwrap();
    cms.delete("raw", &Default::default()).await.unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), events.next()).await.unwrap().unwrap().unwrap();
    let WatchEvent::Added(b) = first else { panic!("{first:?}") };
    assert_eq!((b.name(), b.data.as_ref().unwrap()["k"].as_str()), ("b", "v"));
    let second =
        tokio::time::timeout(std::time::Duration::from_secs(5), events.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(&second, WatchEvent::Deleted(o) if o.name() == "raw"), "{second:?}");
}

#[tokio::test]
async fn views_and_dynamic_objects_of_built_in_kinds_decode_from_protobuf() {
    #[derive(serde::Deserialize, Debug)]
    struct PodView {
        metadata: rudder_apimachinery::ObjectMeta,
        spec: Option<PodSpecView>,
    }
    #[derive(serde::Deserialize, Debug)]
    struct PodSpecView {
        #[serde(rename = "nodeName")]
        node_name: Option<String>,
    }
    rudder_apimachinery::view!(PodView => Pod);
    let s = ApiServer::start().await.unwrap();
    s.control().insert_realistic_pods("default", 20);
    let client = protobuf_client(&s);
    let views: Api<PodView> = Api::namespaced(client.clone(), "default");
    assert!(views.request_builder().is_protobuf());
    let list = views.list(&ListOptions::default()).await.unwrap();
    assert_eq!(list.items.len(), 20);
    assert!(list.items.iter().all(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_some())));
    // The same pods as JSON.
    let json_pods: Api<Pod> = Api::namespaced(s.client(), "default");
    let as_json = json_pods.list(&ListOptions::default()).await.unwrap();
    let proto_pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let as_proto = proto_pods.list(&ListOptions::default()).await.unwrap();
    assert_eq!(as_json.items, as_proto.items);

    let dynamic: Api<DynamicObject> = Api::with_resource(client, &ApiResource::of::<Pod>(), Some("default"));
    assert!(dynamic.request_builder().is_protobuf());
    let first = &dynamic.list(&ListOptions::default()).await.unwrap().items[0];
    assert_eq!(first.types.as_ref().map(|t| t.kind.as_str()), Some("Pod"));
    assert_eq!(first.data["spec"]["containers"][0]["name"], as_json.items[0].spec.as_ref().unwrap().containers[0].name);
}

#[tokio::test]
async fn custom_resources_and_metadata_requests_stay_json() {
    let s = ApiServer::start().await.unwrap();
    let client = protobuf_client(&s);
    let crds: Api<DynamicObject> = Api::with_resource(
        client.clone(),
        &ApiResource::of::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>(
        ),
        None,
    );
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    // The CRD itself is a built-in kind: sent as protobuf.
    crds.create(&WriteOptions::default(), &crd).await.unwrap();
    let widgets =
        ApiResource::from_gvk(&GroupVersionKind::new("example.com", "v1", "Widget"), "widgets", Scope::Namespaced);
    let api: Api<DynamicObject> = Api::with_resource(client.clone(), &widgets, Some("default"));
    assert!(!api.request_builder().is_protobuf());
    let w: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}
    }))
    .unwrap();
    api.create(&WriteOptions::default(), &w).await.unwrap();
    let listed = api.list(&ListOptions::default()).await.unwrap();
    assert_eq!(listed.items[0].data["spec"]["size"], 3);

    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    cms.create(&WriteOptions::default(), &cm("m")).await.unwrap();
    let meta = cms.metadata().list(&ListOptions::default()).await.unwrap();
    assert_eq!(meta.items[0].name(), "m");
}

#[tokio::test]
async fn a_list_the_server_streams_in_chunks_decodes_as_its_json_twin() {
    // 400 realistic pods are well over the size (1 MiB) from which the server streams a
    // protobuf list in chunks.
    let s = ApiServer::start().await.unwrap();
    let pods = rudder_client::apimachinery::schema::GroupVersionResource::new("", "v1", "pods");
    s.control().insert_many(&pods, rudder_apiserver::seed::realistic_pods(400, "default"));
    let proto: Api<Pod> = Api::all(protobuf_client(&s));
    let json: Api<Pod> = Api::all(Client::new(s.config()).unwrap());
    let raw =
        proto.client().request_bytes(proto.request_builder().list(&ListOptions::default()).unwrap()).await.unwrap();
    assert!(raw.starts_with(b"k8s\0") && raw.len() > 1 << 20, "{} bytes", raw.len());
    let from_proto = proto.list(&ListOptions::default()).await.unwrap();
    let from_json = json.list(&ListOptions::default()).await.unwrap();
    assert_eq!(from_proto.items.len(), 400);
    assert_eq!(from_proto.items, from_json.items);
    assert_eq!(from_proto.metadata.resource_version, from_json.metadata.resource_version);
}
