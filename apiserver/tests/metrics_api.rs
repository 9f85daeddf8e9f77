//! `metrics.k8s.io/v1beta1` (`rudder_apiserver::metrics_api`): discovery, PodMetrics and
//! NodeMetrics read through the typed client (`rudder_apimachinery::metrics_api`), usage set
//! by tests and the kubelet stand-in's defaults.
//!
//! No recording of metrics-server exists in `testdata/recorded`; the shapes follow
//! metrics-server's source (pkg/api/pod.go, node.go and pkg/storage: metadata is the measured
//! object's name, namespace and labels with `creationTimestamp` now, lists sorted by namespace
//! and name, 404s `podmetrics.metrics.k8s.io "ns/name" not found`, verbs get and list only).

mod common;

use std::time::Duration;

use common::{ApiServer, Http};
use rudder_apiserver::KubeletOptions;
use rudder_client::api::Api;
use rudder_client::apimachinery::metrics_api::{NodeMetrics, PodMetrics};
use rudder_client::apimachinery::options::ListOptions;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";
const GV: &str = "/apis/metrics.k8s.io/v1beta1";

fn pod(name: &str, node: &str, labels: Value) -> Value {
    json!({"metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "x:1"}, {"name": "side", "image": "y:1"}]}})
}

#[tokio::test]
async fn discovery_serves_get_and_list_only() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let groups = h.get("/apis").await.json();
    let g = groups["groups"].as_array().unwrap().iter().find(|g| g["name"] == "metrics.k8s.io").expect("group listed");
    assert_eq!(g["preferredVersion"]["groupVersion"], "metrics.k8s.io/v1beta1");
    let doc = h.get(GV).await.json();
    let by_name = |n: &str| doc["resources"].as_array().unwrap().iter().find(|r| r["name"] == n).cloned().unwrap();
    let pods = by_name("pods");
    assert_eq!((pods["kind"].as_str(), pods["namespaced"].as_bool()), (Some("PodMetrics"), Some(true)));
    assert_eq!(pods["verbs"], json!(["get", "list"]));
    assert_eq!(pods["singularName"], "");
    let nodes = by_name("nodes");
    assert_eq!((nodes["kind"].as_str(), nodes["namespaced"].as_bool()), (Some("NodeMetrics"), Some(false)));
    let agg =
        h.get_accept("/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList").await.json();
    let m = agg["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "metrics.k8s.io")
        .expect("aggregated");
    let kinds: Vec<&str> = m["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["responseKind"]["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"PodMetrics") && kinds.contains(&"NodeMetrics"), "{kinds:?}");
    // Read-only: no watch, no writes.
    assert_eq!(h.get(&format!("{GV}/nodes?watch=1")).await.code, 405);
    assert_eq!(h.post(&format!("{GV}/nodes"), &json!({"metadata": {"name": "n"}})).await.code, 405);
}

#[tokio::test]
async fn usage_set_by_tests_is_read_through_the_typed_client() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let c = s.control();
    for (name, app) in [("b", "web"), ("a", "web"), ("c", "db")] {
        assert_eq!(h.post(PODS, &pod(name, "", json!({"app": app}))).await.code, 201);
    }
    c.set_container_usage("default", "a", "app", &[("cpu", "250m"), ("memory", "64Mi")]).unwrap();
    c.set_container_usage("default", "a", "side", &[("cpu", "0.1"), ("memory", "1048576")]).unwrap();
    c.set_container_usage("default", "b", "app", &[("cpu", "1"), ("memory", "1Gi")]).unwrap();
    assert!(c.set_container_usage("default", "b", "app", &[("cpu", "lots")]).is_err(), "quantities are parsed");

    let api: Api<PodMetrics> = Api::namespaced(s.client(), "default");
    let a = api.get("a").await.unwrap();
    assert_eq!(a.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(a.metadata.labels.as_ref().unwrap()["app"], "web", "the pod's labels");
    assert!(a.metadata.creation_timestamp.is_some() && a.timestamp.is_some());
    assert_eq!(a.window, "15s");
    assert_eq!(a.containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["app", "side"]);
    assert_eq!(a.total("cpu").unwrap().to_string(), "350m");
    assert_eq!(a.containers[1].usage["cpu"].to_string(), "100m", "served in canonical form");

    // Pods without usage are not listed; the list is sorted and filtered by the pods' labels.
    let all = api.list(&ListOptions::default()).await.unwrap();
    assert_eq!(all.items.iter().map(|m| m.metadata.name.as_deref().unwrap()).collect::<Vec<_>>(), ["a", "b"]);
    let web = api.list(&ListOptions { label_selector: Some("app=web".into()), ..Default::default() }).await.unwrap();
    assert_eq!(web.items.len(), 2);
    let db = api.list(&ListOptions { label_selector: Some("app=db".into()), ..Default::default() }).await.unwrap();
    assert!(db.items.is_empty());
    let raw = h.get(&format!("{GV}/namespaces/default/pods")).await.json();
    assert_eq!((raw["kind"].as_str(), raw["metadata"].clone()), (Some("PodMetricsList"), json!({})));
    assert_eq!(h.get(&format!("{GV}/pods")).await.json()["items"].as_array().unwrap().len(), 2, "across namespaces");

    // metrics-server's 404s.
    let missing = h.get(&format!("{GV}/namespaces/default/pods/c")).await;
    assert_eq!(
        (missing.code, missing.json()["message"].as_str()),
        (404, Some("podmetrics.metrics.k8s.io \"default/c\" not found"))
    );
    let gone = h.get(&format!("{GV}/namespaces/default/pods/zz")).await;
    assert_eq!(gone.json()["message"], "pods \"zz\" not found");

    // Nodes.
    assert_eq!(h.post("/api/v1/nodes", &json!({"metadata": {"name": "n1", "labels": {"zone": "a"}}})).await.code, 201);
    let nodes: Api<NodeMetrics> = Api::all(s.client());
    assert!(nodes.list(&ListOptions::default()).await.unwrap().items.is_empty(), "no usage, no kubelet: no metrics");
    c.set_node_usage("n1", &[("cpu", "1500m"), ("memory", "3Gi")]).unwrap();
    let n1 = nodes.get("n1").await.unwrap();
    assert_eq!(n1.usage["cpu"].milli_value(), 1500);
    assert_eq!(n1.metadata.labels.as_ref().unwrap()["zone"], "a");
    assert_eq!(h.get(&format!("{GV}/nodes/nope")).await.json()["message"], "nodes \"nope\" not found");
}

#[tokio::test]
async fn the_kubelet_stand_in_reports_a_small_default_usage() {
    let s = ApiServer::builder()
        .kubelet(KubeletOptions::default().lease_interval(Duration::from_millis(100)))
        .start()
        .await
        .unwrap();
    let h = Http::new(&s);
    s.control().add_node("n1", &[]);
    h.post(PODS, &pod("p", "n1", json!({}))).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while h.get(&format!("{PODS}/p")).await.json()["status"]["phase"] != "Running" {
        assert!(tokio::time::Instant::now() < deadline, "the pod never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let api: Api<PodMetrics> = Api::namespaced(s.client(), "default");
    let p = api.get("p").await.unwrap();
    assert_eq!(p.containers.len(), 2);
    assert_eq!(p.total("cpu").unwrap().to_string(), "2m");
    assert_eq!(p.total("memory").unwrap().to_string(), "8Mi");
    let n = Api::<NodeMetrics>::all(s.client()).get("n1").await.unwrap();
    assert_eq!(n.usage["cpu"].to_string(), "52m", "the node's base usage plus its pods'");
    // A stopped kubelet reports nothing.
    s.control().stop_kubelet("n1");
    assert_eq!(h.get(&format!("{GV}/nodes/n1")).await.code, 404);
    assert_eq!(h.get(&format!("{GV}/namespaces/default/pods/p")).await.code, 404);
}
