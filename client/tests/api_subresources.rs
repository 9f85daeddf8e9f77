//! Subresources through `Api<K>`: status, scale, pods/binding, pods/eviction, pods/log,
//! against the embedded API server over a real socket.

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::{Binding, Pod};
use k8s_openapi::api::policy::v1::Eviction;
use rudder_apimachinery::options::{PatchOptions, WriteOptions};
use rudder_apimachinery::{HasMetadata, Patch};
use rudder_apiserver::ApiServer;
use rudder_client::api::Api;
use rudder_client::clientset::ClientSet;
use rudder_client::request::LogOptions;
use serde_json::json;

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "nginx"}]}
    }))
    .unwrap()
}

fn deployment(name: &str, replicas: i32) -> Deployment {
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
async fn status_subresource_get_replace_patch() {
    let s = server().await;
    let pods: Api<Pod> = ClientSet::new(s.client()).core_v1().pods("default");
    pods.create(&Default::default(), &pod("st")).await.unwrap();

    let patched = pods
        .patch_status("st", &PatchOptions::default(), &Patch::Merge(json!({"status": {"phase": "Running"}})))
        .await
        .unwrap();
    assert_eq!(patched.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Running"));
    let got = pods.get_status("st").await.unwrap();
    assert_eq!(got.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Running"));

    let mut next = got.clone();
    next.status.as_mut().unwrap().phase = Some("Succeeded".into());
    // A spec change sent to /status is ignored.
    next.metadata.labels = Some([("ignored".to_string(), "yes".to_string())].into());
    let replaced = pods.replace_status("st", &WriteOptions::default(), &next).await.unwrap();
    assert_eq!(replaced.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded"));
    assert!(!replaced.labels().contains_key("ignored"));
}

#[tokio::test]
async fn scale_subresource() {
    let s = server().await;
    let deploys: Api<Deployment> = ClientSet::new(s.client()).apps_v1().deployments("default");
    deploys.create(&Default::default(), &deployment("api", 1)).await.unwrap();

    let sc: Scale = deploys.get_scale("api").await.unwrap();
    assert_eq!(sc.spec.as_ref().and_then(|s| s.replicas), Some(1));
    let patched = deploys
        .patch_scale("api", &PatchOptions::default(), &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await
        .unwrap();
    assert_eq!(patched.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(deploys.get("api").await.unwrap().spec.replicas, Some(3));

    let mut sc = deploys.get_scale("api").await.unwrap();
    sc.spec.as_mut().unwrap().replicas = Some(5);
    let replaced = deploys.replace_scale("api", &WriteOptions::default(), &sc).await.unwrap();
    assert_eq!(replaced.spec.and_then(|s| s.replicas), Some(5));
    assert_eq!(deploys.get("api").await.unwrap().spec.replicas, Some(5));
}

#[tokio::test]
async fn binding_sets_the_node() {
    let s = server().await;
    let pods: Api<Pod> = ClientSet::new(s.client()).core_v1().pods("default");
    pods.create(&Default::default(), &pod("b")).await.unwrap();
    let binding: Binding = serde_json::from_value(json!({
        "metadata": {"name": "b"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"}
    }))
    .unwrap();
    pods.create_binding("b", &binding).await.unwrap();
    let p = pods.get("b").await.unwrap();
    assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("node-a"));
    // Binding an already bound pod is refused.
    assert!(pods.create_binding("b", &binding).await.is_err());
}

#[tokio::test]
async fn eviction_deletes_the_pod() {
    let s = server().await;
    let pods: Api<Pod> = ClientSet::new(s.client()).core_v1().pods("default");
    pods.create(&Default::default(), &pod("e")).await.unwrap();
    let ev: Eviction = serde_json::from_value(json!({"metadata": {"name": "e", "namespace": "default"}})).unwrap();
    pods.evict("e", &ev).await.unwrap();
    // Gone, or going (graceful deletion sets deletionTimestamp).
    if let Some(p) = pods.get_opt("e").await.unwrap() {
        assert!(p.deletion_timestamp().is_some());
    }
    let missing: Eviction = serde_json::from_value(json!({"metadata": {"name": "missing"}})).unwrap();
    assert!(pods.evict("missing", &missing).await.unwrap_err().is_not_found());
    // An Eviction that leaves its name out gets the pod's (the server refuses a mismatch).
    pods.create(&Default::default(), &pod("unnamed")).await.unwrap();
    pods.evict("unnamed", &Eviction::default()).await.unwrap();
    if let Some(p) = pods.get_opt("unnamed").await.unwrap() {
        assert!(p.deletion_timestamp().is_some());
    }
}

#[tokio::test]
async fn logs_as_text_and_as_a_stream() {
    let s = server().await;
    let pods: Api<Pod> = ClientSet::new(s.client()).core_v1().pods("default");
    pods.create(&Default::default(), &pod("l")).await.unwrap();
    let text = pods.logs("l", &LogOptions { container: Some("main".into()), ..Default::default() }).await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut stream = pods.log_stream("l", &LogOptions { follow: false, ..Default::default() }).await.unwrap();
    let mut streamed = Vec::new();
    while let Some(line) = stream.next().await {
        streamed.push(String::from_utf8(line.unwrap().to_vec()).unwrap());
    }
    let nonempty: Vec<&str> = lines.iter().copied().filter(|l| !l.is_empty()).collect();
    assert_eq!(streamed, nonempty);
    let tail = pods.logs("l", &LogOptions { tail_lines: Some(1), ..Default::default() }).await.unwrap();
    assert!(tail.lines().count() <= 1);
    assert!(pods.logs("missing", &LogOptions::default()).await.unwrap_err().is_not_found());
}
