//! The kubelet stand-in's node registration and restart (`Control::add_node`,
//! `Control::stop_kubelet`, `Control::start_kubelet`). A kubelet creates its Node with its
//! status (pkg/kubelet/kubelet_node_status.go `registerWithAPIServer` posts the node
//! `initialNode` built, capacity and conditions included, and the node strategy keeps a
//! status given on create), so a watcher never sees a registered node without capacity; a
//! kubelet that comes back posts its status (Ready True) and renews its Lease again.

mod common;

use std::time::Duration;

use common::{condition, ApiServer, Http};
use rudder_apiserver::KubeletOptions;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1";

async fn server() -> ApiServer {
    ApiServer::builder()
        .kubelet(KubeletOptions::default().lease_interval(Duration::from_millis(50)))
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn add_node_creates_the_node_with_its_capacity_in_one_write() {
    for s in [ApiServer::start().await.unwrap(), server().await] {
        let h = Http::new(&s);
        let rv = h.get("/api/v1/nodes").await.json()["metadata"]["resourceVersion"].as_str().unwrap().to_string();
        let mut w = h.watch(&format!("/api/v1/nodes?watch=1&resourceVersion={rv}")).await;
        s.control().add_node("n1", &[("cpu", "8")]);
        let ev = w.next().await;
        assert_eq!(ev["type"], "ADDED");
        let node = &ev["object"];
        assert_eq!(node["status"]["capacity"]["cpu"], "8", "{}", node["status"]);
        assert_eq!(node["status"]["capacity"]["memory"], "16Gi");
        assert_eq!(node["status"]["allocatable"]["cpu"], "8");
        assert_eq!(condition(node, "Ready")["status"], "True");
        assert_eq!(node["status"]["nodeInfo"]["operatingSystem"], "linux");
        w.quiet(0.3).await;

        // Registering again changes nothing; new capacity is posted as a status update.
        s.control().add_node("n1", &[("cpu", "8")]);
        w.quiet(0.1).await;
        s.control().add_node("n1", &[("cpu", "16")]);
        let ev = w.next().await;
        assert_eq!(
            (ev["type"].as_str(), ev["object"]["status"]["capacity"]["cpu"].as_str()),
            (Some("MODIFIED"), Some("16"))
        );
    }
}

#[tokio::test]
async fn a_stopped_kubelet_that_starts_again_is_ready_renews_and_runs_its_pods() {
    let s = server().await;
    let c = s.control();
    c.add_node("n1", &[]);
    let h = Http::new(&s);
    let registered = h.get("/api/v1/nodes/n1").await.json();
    c.stop_kubelet("n1");
    // The node lifecycle controller marks the silent node Unknown.
    let mut unknown = registered.clone();
    for cond in unknown["status"]["conditions"].as_array_mut().unwrap() {
        cond["status"] = json!("Unknown");
        cond["reason"] = json!("NodeStatusUnknown");
        cond["message"] = json!("Kubelet stopped posting node status.");
        cond["lastTransitionTime"] = json!("2024-01-01T00:00:00Z");
    }
    unknown["metadata"]["resourceVersion"] = Value::Null;
    let r = h.put("/api/v1/nodes/n1/status", &unknown).await;
    assert_eq!(r.code, 200, "{}", r.body);
    // A pod bound meanwhile does not start.
    let p =
        json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]}});
    assert_eq!(h.post(PODS, &p).await.code, 201);
    let stopped_lease = h.get(LEASE).await.json()["spec"]["renewTime"].clone();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(h.get(LEASE).await.json()["spec"]["renewTime"], stopped_lease, "stopped: no renewal");
    assert_eq!(h.get(&format!("{PODS}/p")).await.json()["status"]["phase"], "Pending");

    let restarted = jiff::Timestamp::now().as_second();
    c.start_kubelet("n1");
    let node = h.get("/api/v1/nodes/n1").await.json();
    let ready = condition(&node, "Ready");
    assert_eq!((ready["status"].as_str(), ready["reason"].as_str()), (Some("True"), Some("KubeletReady")), "{ready}");
    let since: jiff::Timestamp = ready["lastTransitionTime"].as_str().unwrap().parse().unwrap();
    assert!(since.as_second() >= restarted, "Ready turned True now: {ready}");
    assert_eq!(condition(&node, "MemoryPressure")["status"], "False");
    // The Lease is renewed at once and then every interval.
    let first = h.eventually(LEASE, "a renewal at start", |v| v["spec"]["renewTime"] != stopped_lease).await;
    let first = first["spec"]["renewTime"].clone();
    h.eventually(LEASE, "renewals again", |v| v["spec"]["renewTime"] != first).await;
    h.eventually(&format!("{PODS}/p"), "the pod running", |v| v["status"]["phase"] == "Running").await;

    // Starting a running kubelet again changes nothing.
    let rv = h.get("/api/v1/nodes/n1").await.json()["metadata"]["resourceVersion"].clone();
    c.start_kubelet("n1");
    assert_eq!(h.get("/api/v1/nodes/n1").await.json()["metadata"]["resourceVersion"], rv);
}

#[tokio::test]
async fn a_restart_keeps_the_transition_time_of_conditions_that_did_not_change() {
    let s = server().await;
    let c = s.control();
    c.add_node("n1", &[]);
    let h = Http::new(&s);
    let before = h.get("/api/v1/nodes/n1").await.json();
    c.stop_kubelet("n1");
    // Its last heartbeat was long ago; nobody marked it otherwise.
    let mut old = before.clone();
    for cond in old["status"]["conditions"].as_array_mut().unwrap() {
        cond["lastHeartbeatTime"] = json!("2024-01-01T00:00:00Z");
    }
    assert_eq!(h.put("/api/v1/nodes/n1/status", &old).await.code, 200);
    c.start_kubelet("n1");
    let after = h.get("/api/v1/nodes/n1").await.json();
    let ready = condition(&after, "Ready");
    assert_eq!(ready["status"], "True");
    assert_eq!(ready["lastTransitionTime"], condition(&before, "Ready")["lastTransitionTime"], "still Ready: {ready}");
    assert_ne!(ready["lastHeartbeatTime"], "2024-01-01T00:00:00Z", "a new heartbeat: {ready}");
}
