//! The DynamicClient on a custom resource: register a CRD, then every verb on its objects,
//! against the embedded API server over a real socket.

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use rudder_apimachinery::options::{DeleteOptions, ListOptions, PatchOptions, WriteOptions};
use rudder_apimachinery::{ApiResource, DynamicObject, GroupVersionResource, HasMetadata, Patch, Scope, WatchEvent};
use rudder_apiserver::ApiServer;
use rudder_client::clientset::ClientSet;
use rudder_client::dynamic::DynamicClient;
use rudder_client::{Client, ObjectOrStatus};
use serde_json::json;

async fn register_crontab(client: &Client) {
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "listKind": "CronTabList", "shortNames": ["ct"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                          "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    }))
    .unwrap();
    ClientSet::new(client.clone())
        .apiextensions_v1()
        .custom_resource_definitions()
        .create(&Default::default(), &crd)
        .await
        .unwrap();
}

fn crontab(name: &str, spec: &str, ar: &ApiResource) -> DynamicObject {
    DynamicObject::new(name, ar).with_field("spec", json!({"cronSpec": spec, "image": "img"}))
}

#[tokio::test]
async fn every_verb_on_a_custom_resource() {
    let s = ApiServer::start().await.unwrap();
    let client = s.client();
    register_crontab(&client).await;
    let dc = DynamicClient::new(client.clone());
    let res = dc.resource_gvr(&GroupVersionResource::new("stable.example.com", "v1", "crontabs")).await.unwrap();
    assert_eq!((res.api_resource().kind.as_ref(), res.api_resource().scope), ("CronTab", Scope::Namespaced));
    let ar = res.api_resource().clone();
    let cts = res.namespace("default");

    let start = cts.list(&ListOptions::default()).await.unwrap();
    let mut w = cts
        .watch(&ListOptions { resource_version: Some(start.resource_version().to_string()), ..Default::default() })
        .await
        .unwrap();

    let created = cts.create(&WriteOptions::default(), &crontab("a", "* * * * *", &ar)).await.unwrap();
    assert_eq!((created.api_version(), created.kind()), ("stable.example.com/v1", "CronTab"));
    assert!(created.uid().is_some());
    cts.create(&WriteOptions::default(), &crontab("b", "0 * * * *", &ar)).await.unwrap();

    let got = cts.get("a").await.unwrap();
    assert_eq!(got.data["spec"]["cronSpec"], "* * * * *");

    let list = cts.list(&ListOptions::default()).await.unwrap();
    assert_eq!(list.items.len(), 2);
    for i in &list.items {
        assert_eq!((i.api_version(), i.kind()), ("stable.example.com/v1", "CronTab"));
    }

    let mut changed = got.clone();
    changed.data.insert("spec".into(), json!({"cronSpec": "*/5 * * * *", "image": "img"}));
    let replaced = cts.replace("a", &WriteOptions::default(), &changed).await.unwrap();
    assert_eq!(replaced.data["spec"]["cronSpec"], "*/5 * * * *");
    assert!(cts.replace("a", &WriteOptions::default(), &changed).await.unwrap_err().is_conflict());

    let merged =
        cts.patch("a", &PatchOptions::default(), &Patch::Merge(json!({"spec": {"image": "img2"}}))).await.unwrap();
    assert_eq!(merged.data["spec"]["image"], "img2");
    // Strategic merge patch is not supported for custom resources (415).
    let smp = cts.patch("a", &PatchOptions::default(), &Patch::Strategic(json!({"spec": {}}))).await.unwrap_err();
    assert_eq!(smp.status().map(|s| s.code), Some(415), "{smp}");
    let applied = cts
        .patch(
            "c",
            &PatchOptions::apply("me"),
            &Patch::Apply(serde_json::to_value(crontab("c", "1 * * * *", &ar)).unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(applied.name(), "c");

    let st = cts
        .patch_status("a", &PatchOptions::default(), &Patch::Merge(json!({"status": {"lastRun": "now"}})))
        .await
        .unwrap();
    assert_eq!(st.data["status"]["lastRun"], "now");

    match cts.delete("b", &DeleteOptions::default()).await.unwrap() {
        ObjectOrStatus::Status(s) => assert_eq!(s.status, "Success"),
        ObjectOrStatus::Object(o) => assert_eq!(o.name(), "b"),
    }
    cts.delete_collection(&ListOptions::default(), &DeleteOptions::default()).await.unwrap();
    assert!(cts.list(&ListOptions::default()).await.unwrap().items.is_empty());

    let mut types = Vec::new();
    while let Some(ev) = tokio::time::timeout(std::time::Duration::from_secs(5), w.next()).await.ok().flatten() {
        let ev = ev.unwrap();
        if let WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) = &ev {
            assert_eq!(o.kind(), "CronTab");
        }
        types.push(ev.type_name());
        if types.iter().filter(|t| **t == "DELETED").count() == 3 {
            break;
        }
    }
    assert_eq!(types.iter().filter(|t| **t == "ADDED").count(), 3, "{types:?}");
}

#[tokio::test]
async fn builtin_lists_through_the_dynamic_client_get_item_types() {
    let s = ApiServer::start().await.unwrap();
    let client = s.client();
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    ClientSet::new(client.clone()).core_v1().config_maps("default").create(&Default::default(), &cm).await.unwrap();
    let dc = DynamicClient::new(client);
    let cms = dc.resource(&ApiResource::of::<ConfigMap>()).namespace("default");
    let l = cms.list(&ListOptions::default()).await.unwrap();
    assert!(!l.items.is_empty());
    for i in &l.items {
        assert_eq!((i.api_version(), i.kind()), ("v1", "ConfigMap"));
    }
    let by_name = dc.resource_named("cm").await.unwrap().all().list(&ListOptions::default()).await.unwrap();
    assert!(by_name.items.iter().any(|i| i.name() == "x"));
    let back: ConfigMap = cms.get("x").await.unwrap().try_into_typed().unwrap();
    assert_eq!(back.metadata.name.as_deref(), Some("x"));
}

#[tokio::test]
async fn json_patch_on_a_custom_resource() {
    let s = ApiServer::start().await.unwrap();
    register_crontab(&s.client()).await;
    let dc = DynamicClient::new(s.client());
    let res = dc.resource_gvr(&GroupVersionResource::new("stable.example.com", "v1", "crontabs")).await.unwrap();
    let cts = res.namespace("default");
    cts.create(&WriteOptions::default(), &crontab("a", "* * * * *", res.api_resource())).await.unwrap();
    let jp = cts
        .patch(
            "a",
            &PatchOptions::default(),
            &Patch::Json(json!([{"op": "replace", "path": "/spec/image", "value": "img3"}])),
        )
        .await
        .unwrap();
    assert_eq!(jp.data["spec"]["image"], "img3");
}
