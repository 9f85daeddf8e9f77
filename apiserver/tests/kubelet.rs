//! The kubelet stand-in (`rudder_apiserver::kubelet`): registered nodes report Ready and renew
//! their Lease, pods bound to them run, and tests drive containers (logs, exit codes,
//! readiness) and kubelets (stop).
//!
//! There is no recording of a kubelet's writes in `testdata/recorded`; the shapes asserted here
//! follow the kubelet's source (pkg/kubelet/kubelet_node_status.go `setNodeStatus` and
//! pkg/kubelet/nodestatus/setters.go for nodes; pkg/kubelet/status/generate.go and
//! kubelet_pods.go `generateAPIPodStatus` for pods; pkg/kubelet/nodelease for the Lease:
//! 40 s duration, renewed every quarter of it).

mod common;

use std::time::Duration;

use common::{condition, ApiServer, Http};
use rudder_apiserver::KubeletOptions;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";

async fn server() -> ApiServer {
    ApiServer::builder()
        .kubelet(KubeletOptions::default().lease_interval(Duration::from_millis(100)))
        .start()
        .await
        .unwrap()
}

fn pod(name: &str, node: &str, policy: &str, containers: &[&str]) -> Value {
    let cs: Vec<Value> = containers.iter().map(|c| json!({"name": c, "image": "nginx:1.27"})).collect();
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": node, "restartPolicy": policy, "containers": cs}})
}

#[tokio::test]
async fn created_nodes_report_ready_and_renew_their_lease() {
    let s = server().await;
    let h = Http::new(&s);
    let r = h.post("/api/v1/nodes", &json!({"metadata": {"name": "n1"}})).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let node = h.eventually("/api/v1/nodes/n1", "node Ready", |v| v["status"]["conditions"].is_array()).await;
    assert_eq!(condition(&node, "Ready")["status"], "True");
    assert_eq!(condition(&node, "Ready")["reason"], "KubeletReady");
    for kind in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert_eq!(condition(&node, kind)["status"], "False");
    }
    assert_eq!(node["status"]["capacity"]["cpu"], "4");
    assert_eq!(node["status"]["allocatable"]["pods"], "110");
    assert_eq!(node["status"]["addresses"][1], json!({"type": "Hostname", "address": "n1"}));
    let version = h.get("/version").await.json()["gitVersion"].clone();
    assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], version, "the kubelet runs the server's version");
    assert_eq!(node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
    let managers: Vec<&Value> =
        node["metadata"]["managedFields"].as_array().unwrap().iter().filter(|m| m["manager"] == "kubelet").collect();
    assert_eq!(managers[0]["subresource"], "status", "the status is written through nodes/status");

    let lease_path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1";
    let lease = h.eventually(lease_path, "lease", |v| v["kind"] == "Lease").await;
    assert_eq!(lease["spec"]["holderIdentity"], "n1");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    assert_eq!(lease["metadata"]["ownerReferences"][0]["kind"], "Node");
    assert_eq!(lease["metadata"]["ownerReferences"][0]["uid"], node["metadata"]["uid"]);
    let first = lease["spec"]["renewTime"].as_str().unwrap().to_string();
    h.eventually(lease_path, "lease renewal", |v| v["spec"]["renewTime"].as_str().is_some_and(|t| t != first)).await;
}

#[tokio::test]
async fn off_by_default_but_add_node_registers_one_node() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    h.post("/api/v1/nodes", &json!({"metadata": {"name": "plain"}})).await;
    s.control().add_node("sim", &[("cpu", "8"), ("memory", "32Gi")]);
    let sim = h.get("/api/v1/nodes/sim").await.json();
    assert_eq!(condition(&sim, "Ready")["status"], "True", "add_node registers at once");
    assert_eq!(sim["status"]["capacity"]["cpu"], "8");
    assert_eq!(sim["status"]["capacity"]["memory"], "32Gi");
    assert_eq!(sim["metadata"]["labels"]["kubernetes.io/hostname"], "sim");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let plain = h.get("/api/v1/nodes/plain").await.json();
    assert!(plain["status"].get("conditions").is_none(), "without the stand-in a created node stays as it is");
    assert_eq!(h.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/plain").await.code, 404);
    assert_eq!(h.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/sim").await.code, 200);
}

#[tokio::test]
async fn a_bound_pod_goes_pending_then_running_in_watch_events() {
    let s = server().await;
    s.control().add_node("n1", &[]);
    let h = Http::new(&s);
    let rv = h.get(PODS).await.json()["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let mut w = h.watch(&format!("{PODS}?watch=1&resourceVersion={rv}")).await;
    assert_eq!(h.post(PODS, &pod("p", "n1", "Always", &["web", "side"])).await.code, 201);
    assert_eq!(w.next().await["type"], "ADDED");
    let pending = w.next().await;
    assert_eq!(pending["type"], "MODIFIED");
    let p = &pending["object"];
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
    assert!(p["status"]["hostIP"].is_string() && p["status"]["startTime"].is_string());
    let running = w.next().await;
    let p = &running["object"];
    assert_eq!(p["status"]["phase"], "Running", "{}", p["status"]);
    let types: Vec<&str> =
        p["status"]["conditions"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]);
    for c in p["status"]["conditions"].as_array().unwrap() {
        assert_eq!(c["status"], "True", "{c}");
    }
    let ip = p["status"]["podIP"].as_str().unwrap();
    assert!(ip.starts_with("10.244."), "{ip}");
    assert_eq!(p["status"]["podIPs"], json!([{"ip": ip}]));
    assert_eq!(p["status"]["hostIPs"][0]["ip"], p["status"]["hostIP"]);
    let c = &p["status"]["containerStatuses"][0];
    assert_eq!(c["name"], "web");
    assert_eq!(
        (c["ready"].as_bool(), c["started"].as_bool(), c["restartCount"].as_i64()),
        (Some(true), Some(true), Some(0))
    );
    assert!(c["state"]["running"]["startedAt"].is_string());
    assert_eq!(c["image"], "docker.io/library/nginx:1.27");
    assert!(c["imageID"].as_str().unwrap().starts_with("docker.io/library/nginx@sha256:"));
    assert!(c["containerID"].as_str().unwrap().starts_with("containerd://"));
    assert_eq!(p["status"]["containerStatuses"].as_array().unwrap().len(), 2);
    // Its own events do not make it write again: nothing more comes.
    w.quiet(0.2).await;
    // Field selectors see the new phase and IP.
    let l = h.get(&format!("{PODS}?fieldSelector=status.phase%3DRunning")).await.json();
    assert_eq!(l["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn pods_of_other_nodes_and_unbound_pods_stay_pending() {
    let s = server().await;
    s.control().add_node("n1", &[]);
    let h = Http::new(&s);
    h.post(PODS, &pod("unbound", "", "Always", &["c"])).await;
    h.post(PODS, &pod("elsewhere", "ghost", "Always", &["c"])).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    for name in ["unbound", "elsewhere"] {
        let p = h.get(&format!("{PODS}/{name}")).await.json();
        assert_eq!(p["status"]["phase"], "Pending");
        assert!(p["status"].get("podIP").is_none());
    }
    // Binding the unbound pod to the simulated node starts it.
    let b = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "unbound"}, "target": {"kind": "Node", "name": "n1"}});
    assert_eq!(h.post(&format!("{PODS}/unbound/binding"), &b).await.code, 201);
    h.eventually(&format!("{PODS}/unbound"), "running after binding", |v| v["status"]["phase"] == "Running").await;
}

#[tokio::test]
async fn exit_codes_follow_the_restart_policy() {
    let s = server().await;
    let c = s.control();
    c.add_node("n1", &[]);
    let h = Http::new(&s);
    for (name, policy) in [("never-ok", "Never"), ("never-bad", "Never"), ("always", "Always"), ("onfail", "OnFailure")]
    {
        h.post(PODS, &pod(name, "n1", policy, &["c"])).await;
        h.eventually(&format!("{PODS}/{name}"), "running", |v| v["status"]["phase"] == "Running").await;
    }
    c.set_container_exit("default", "never-ok", "c", 0);
    let p = h.get(&format!("{PODS}/never-ok")).await.json();
    assert_eq!(p["status"]["phase"], "Succeeded");
    let t = &p["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!((t["exitCode"].as_i64(), t["reason"].as_str()), (Some(0), Some("Completed")));
    assert!(t["startedAt"].is_string() && t["finishedAt"].is_string() && t["containerID"].is_string());
    assert_eq!(condition(&p, "Ready")["reason"], "PodCompleted");
    assert_eq!(condition(&p, "PodReadyToStartContainers")["status"], "False");

    c.set_container_exit("default", "never-bad", "c", 3);
    let p = h.get(&format!("{PODS}/never-bad")).await.json();
    assert_eq!(p["status"]["phase"], "Failed");
    assert_eq!(p["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], "Error");

    for name in ["always", "onfail"] {
        c.set_container_exit("default", name, "c", 1);
        let p = h.get(&format!("{PODS}/{name}")).await.json();
        assert_eq!(p["status"]["phase"], "Running", "{name} restarts");
        let cs = &p["status"]["containerStatuses"][0];
        assert_eq!(cs["restartCount"], 1);
        assert_eq!(cs["lastState"]["terminated"]["exitCode"], 1);
        assert!(cs["state"]["running"].is_object());
        assert_ne!(cs["containerID"], cs["lastState"]["terminated"]["containerID"]);
    }
    // OnFailure does not restart a successful container.
    c.set_container_exit("default", "onfail", "c", 0);
    assert_eq!(h.get(&format!("{PODS}/onfail")).await.json()["status"]["phase"], "Succeeded");
}

#[tokio::test]
async fn readiness_set_by_a_test_shows_in_conditions() {
    let s = server().await;
    s.control().add_node("n1", &[]);
    let h = Http::new(&s);
    h.post(PODS, &pod("p", "n1", "Always", &["a", "b"])).await;
    h.eventually(&format!("{PODS}/p"), "running", |v| v["status"]["phase"] == "Running").await;
    s.control().set_container_ready("default", "p", "b", false);
    let p = h.get(&format!("{PODS}/p")).await.json();
    let ready = condition(&p, "Ready");
    assert_eq!((ready["status"].as_str(), ready["reason"].as_str()), (Some("False"), Some("ContainersNotReady")));
    assert_eq!(ready["message"], "containers with unready status: [b]");
    assert_eq!(condition(&p, "ContainersReady")["status"], "False");
    assert_eq!(p["status"]["containerStatuses"][1]["ready"], false);
    s.control().set_container_ready("default", "p", "b", true);
    assert_eq!(condition(&h.get(&format!("{PODS}/p")).await.json(), "Ready")["status"], "True");
}

#[tokio::test]
async fn logs_serve_the_lines_a_test_set() {
    let s = server().await;
    let c = s.control();
    c.add_node("n1", &[]);
    let h = Http::new(&s);
    h.post(PODS, &pod("p", "n1", "Always", &["app", "side"])).await;
    h.eventually(&format!("{PODS}/p"), "running", |v| v["status"]["phase"] == "Running").await;
    c.append_container_logs("default", "p", "app", &["one", "two", "three"]);
    assert_eq!(h.get(&format!("{PODS}/p/log")).await.body, "one\ntwo\nthree\n", "the first container by default");
    assert_eq!(h.get(&format!("{PODS}/p/log?container=side")).await.body, "", "no output is an empty log");
    assert_eq!(h.get(&format!("{PODS}/p/log?tailLines=2")).await.body, "two\nthree\n");
    let ts = h.get(&format!("{PODS}/p/log?timestamps=true&tailLines=1")).await.body;
    let (time, line) = ts.trim_end().split_once(' ').unwrap();
    assert_eq!(line, "three");
    assert!(time.parse::<jiff::Timestamp>().is_ok(), "{time}");
    let bad = h.get(&format!("{PODS}/p/log?container=nope")).await;
    assert_eq!((bad.code, bad.json()["message"].as_str()), (400, Some("container nope is not valid for pod p")));
    let prev = h.get(&format!("{PODS}/p/log?previous=true")).await;
    assert_eq!(prev.code, 400);
    assert_eq!(prev.json()["message"], "previous terminated container \"app\" in pod \"p\" not found");

    // A followed log gets appended lines, and ends when the container exits.
    use http_body_util::BodyExt;
    let mut body = h.raw("GET", &format!("{PODS}/p/log?follow=true&tailLines=1"), None, "").await.into_body();
    async fn next(body: &mut hyper::body::Incoming) -> Option<String> {
        let f = tokio::time::timeout(Duration::from_secs(2), body.frame()).await.expect("no log frame in time");
        f.map(|f| String::from_utf8(f.unwrap().into_data().unwrap().to_vec()).unwrap())
    }
    assert_eq!(next(&mut body).await.unwrap(), "three\n");
    c.append_container_logs("default", "p", "app", &["four"]);
    assert_eq!(next(&mut body).await.unwrap(), "four\n");
    c.set_container_exit("default", "p", "app", 2);
    assert_eq!(next(&mut body).await, None, "the container restarted: the follow ends");
    // The ended instance's log is the previous log; the new instance starts empty.
    assert_eq!(h.get(&format!("{PODS}/p/log?previous=true")).await.body, "one\ntwo\nthree\nfour\n");
    assert_eq!(h.get(&format!("{PODS}/p/log")).await.body, "");
}

#[tokio::test]
async fn pods_the_stand_in_never_ran_keep_generated_logs() {
    let s = ApiServer::start().await.unwrap();
    let c = s.control();
    c.add_node("n1", &[]);
    c.stop_kubelet("n1");
    let h = Http::new(&s);
    h.post(PODS, &pod("p", "n1", "Always", &["app"])).await;
    // A pod the stand-in never ran keeps the server's generated log.
    assert_eq!(h.get(&format!("{PODS}/p/log")).await.code, 200);
}

#[tokio::test]
async fn a_stopped_kubelet_stops_renewing_and_keeps_its_ready_condition() {
    let s = server().await;
    let c = s.control();
    c.add_node("n1", &[]);
    let h = Http::new(&s);
    let path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1";
    let first = h.get(path).await.json()["spec"]["renewTime"].clone();
    h.eventually(path, "a renewal", |v| v["spec"]["renewTime"] != first).await;
    c.stop_kubelet("n1");
    let stopped = h.get(path).await.json();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let later = h.get(path).await.json();
    assert_eq!(later["spec"]["renewTime"], stopped["spec"]["renewTime"], "no renewal after stop");
    assert_eq!(later["metadata"]["resourceVersion"], stopped["metadata"]["resourceVersion"]);
    let node = h.get("/api/v1/nodes/n1").await.json();
    assert_eq!(
        condition(&node, "Ready")["status"],
        "True",
        "marking it Unknown is the node lifecycle controller's job"
    );
    // Its pods no longer start.
    h.post(PODS, &pod("p", "n1", "Always", &["c"])).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.get(&format!("{PODS}/p")).await.json()["status"]["phase"], "Pending");
}

#[tokio::test]
async fn a_graceful_deletion_is_confirmed_after_the_grace_period() {
    let s = server().await;
    let c = s.control();
    c.add_node("n1", &[]);
    let h = Http::new(&s);
    // A pod already terminating (as graceful deletion leaves it), stored directly.
    let since = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut p = pod("going", "n1", "Always", &["c"]);
    p["metadata"]["namespace"] = json!("default");
    p["metadata"]["deletionTimestamp"] = json!(since);
    p["metadata"]["deletionGracePeriodSeconds"] = json!(1);
    c.insert_many(&rudder_client::apimachinery::schema::GroupVersionResource::new("", "v1", "pods"), vec![p]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.get(&format!("{PODS}/going")).await.code, 200, "still terminating within its grace period");
    h.eventually(&format!("{PODS}/going"), "deleted after the grace period", |v| v["code"] == 404).await;
}

#[tokio::test]
async fn the_stand_in_survives_dropped_watches() {
    let s = server().await;
    let c = s.control();
    c.add_node("n1", &[]);
    // The stand-in watches pods and nodes once its task runs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while c.open_watches() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the stand-in never watched");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    c.drop_watches();
    let h = Http::new(&s);
    h.post(PODS, &pod("p", "n1", "Always", &["c"])).await;
    h.eventually(&format!("{PODS}/p"), "running after drop_watches", |v| v["status"]["phase"] == "Running").await;
}

#[tokio::test]
async fn an_added_ephemeral_container_runs() {
    let s = server().await;
    s.control().add_node("n1", &[]);
    let h = Http::new(&s);
    h.post(PODS, &pod("p", "n1", "Always", &["app"])).await;
    h.eventually(&format!("{PODS}/p"), "running", |v| v["status"]["phase"] == "Running").await;
    let patch = json!({"spec": {"ephemeralContainers": [{"name": "debugger", "image": "busybox", "targetContainerName": "app"}]}});
    let r = h.patch(&format!("{PODS}/p/ephemeralcontainers"), "application/strategic-merge-patch+json", &patch).await;
    assert_eq!(r.code, 200, "{}", r.body);
    let p = h
        .eventually(&format!("{PODS}/p"), "ephemeral status", |v| v["status"]["ephemeralContainerStatuses"].is_array())
        .await;
    let e = &p["status"]["ephemeralContainerStatuses"][0];
    assert_eq!(e["name"], "debugger");
    assert!(e["state"]["running"]["startedAt"].is_string(), "{e}");
    assert_eq!(p["status"]["phase"], "Running");
}
