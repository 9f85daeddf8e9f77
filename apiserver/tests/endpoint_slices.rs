//! The emulated EndpointSlice controller (`ApiServerBuilder::endpoint_slices`, off by default).
//! No recording covers it; the slices asserted here follow kube-controller-manager's
//! (staging/src/k8s.io/endpointslice: `podToEndpoint`, `getEndpointPorts`,
//! `ShouldPodBeInEndpoints`, the placeholder slice of a Service without endpoints, and
//! `setEndpointSliceLabels`).

mod common;

use std::time::Duration;

use common::{ApiServer, Http};
use rudder_apiserver::KubeletOptions;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";
const SERVICES: &str = "/api/v1/namespaces/default/services";
const SLICES: &str = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";

async fn slices_of(h: &Http, service: &str) -> Vec<Value> {
    let path = format!("{SLICES}?labelSelector=kubernetes.io%2Fservice-name%3D{service}");
    h.get(&path).await.json()["items"].as_array().cloned().unwrap_or_default()
}

fn web_pod(name: &str) -> Value {
    json!({"metadata": {"name": name, "labels": {"app": "web"}}, "spec": {"nodeName": "n1",
        "containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}]}})
}

/// Polls until `ok` holds for the service's slices (every 20 ms, at most 5 s).
async fn slices_until(h: &Http, service: &str, what: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let s = slices_of(h, service).await;
        if ok(&s) {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: never happened; last slices: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn endpoint<'a>(slice: &'a Value, pod: &str) -> &'a Value {
    slice["endpoints"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["targetRef"]["name"] == pod))
        .unwrap_or_else(|| panic!("no endpoint for {pod} in {slice}"))
}

#[tokio::test]
async fn services_get_slices_of_their_pods() {
    let s = ApiServer::builder()
        .endpoint_slices()
        .kubelet(KubeletOptions::default().lease_interval(Duration::from_millis(100)))
        .start()
        .await
        .unwrap();
    let h = Http::new(&s);
    s.control().add_node("n1", &[]);
    h.patch(
        "/api/v1/nodes/n1",
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"topology.kubernetes.io/zone": "z1"}}}),
    )
    .await;
    let svc = json!({"metadata": {"name": "web", "labels": {"team": "a"}}, "spec": {"selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}});
    let created = h.post(SERVICES, &svc).await;
    assert_eq!(created.code, 201, "{}", created.body);
    let uid = created.json()["metadata"]["uid"].clone();

    // No pods yet: one placeholder slice.
    let placeholder = slices_of(&h, "web").await;
    assert_eq!(placeholder.len(), 1, "{placeholder:?}");
    let p = &placeholder[0];
    assert!(p["metadata"]["name"].as_str().unwrap().starts_with("web-"), "{p}");
    assert_eq!((p["endpoints"].is_null(), p["ports"].is_null()), (true, true), "{p}");
    assert_eq!(p["addressType"], "IPv4");
    assert_eq!(
        p["metadata"]["labels"],
        json!({"team": "a", "kubernetes.io/service-name": "web",
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"})
    );
    assert_eq!(
        p["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": uid, "controller": true, "blockOwnerDeletion": true}])
    );

    for name in ["web-0", "web-1"] {
        assert_eq!(h.post(PODS, &web_pod(name)).await.code, 201);
    }
    let other = json!({"metadata": {"name": "db", "labels": {"app": "db"}}, "spec": {"nodeName": "n1",
        "containers": [{"name": "c", "image": "postgres"}]}});
    h.post(PODS, &other).await;
    let slices = slices_until(&h, "web", "two ready endpoints", |s| {
        s.len() == 1
            && s[0]["endpoints"]
                .as_array()
                .is_some_and(|e| e.len() == 2 && e.iter().all(|e| e["conditions"]["ready"] == true))
    })
    .await;
    let slice = &slices[0];
    assert_eq!(
        slice["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
        "the named targetPort resolved"
    );
    let pod = h.get(&format!("{PODS}/web-0")).await.json();
    let e = endpoint(slice, "web-0");
    assert_eq!(e["addresses"], json!([pod["status"]["podIP"]]));
    assert_eq!(e["conditions"], json!({"ready": true, "serving": true, "terminating": false}));
    assert_eq!((e["nodeName"].as_str(), e["zone"].as_str()), (Some("n1"), Some("z1")));
    assert_eq!(
        e["targetRef"],
        json!({"kind": "Pod", "namespace": "default", "name": "web-0", "uid": pod["metadata"]["uid"]})
    );

    // A pod that is not ready is neither ready nor serving.
    s.control().set_container_ready("default", "web-1", "c", false);
    let slices = slices_until(&h, "web", "web-1 not ready", |s| {
        s.len() == 1
            && s[0]["endpoints"].as_array().is_some_and(|es| {
                es.iter().any(|e| e["targetRef"]["name"] == "web-1" && e["conditions"]["serving"] == false)
            })
    })
    .await;
    assert_eq!(
        endpoint(&slices[0], "web-1")["conditions"],
        json!({"ready": false, "serving": false, "terminating": false})
    );

    // A pod being deleted stays, terminating: serving but not ready.
    assert_eq!(h.delete(&format!("{PODS}/web-0")).await.code, 200);
    let slices = slices_until(&h, "web", "web-0 terminating", |s| {
        s.len() == 1
            && s[0]["endpoints"].as_array().is_some_and(|es| es.iter().any(|e| e["conditions"]["terminating"] == true))
    })
    .await;
    assert_eq!(
        endpoint(&slices[0], "web-0")["conditions"],
        json!({"ready": false, "serving": true, "terminating": true})
    );

    // Without a selector the Service has no managed slices.
    let r =
        h.patch(&format!("{SERVICES}/web"), "application/merge-patch+json", &json!({"spec": {"selector": null}})).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(slices_of(&h, "web").await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_deleted_service_takes_its_slices_and_the_controller_is_off_by_default() {
    let s = ApiServer::builder().endpoint_slices().start().await.unwrap();
    let h = Http::new(&s);
    let svc = json!({"metadata": {"name": "api"}, "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}});
    h.post(SERVICES, &svc).await;
    // A pod with an IP (no kubelet here: the test posts its status).
    let mut pod = h
        .post(
            PODS,
            &json!({"metadata": {"name": "api-0", "labels": {"app": "api"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
        )
        .await
        .json();
    pod["status"] = json!({"phase": "Running", "podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}],
        "conditions": [{"type": "Ready", "status": "True"}]});
    assert_eq!(h.put(&format!("{PODS}/api-0/status"), &pod).await.code, 200);
    let slices = slices_of(&h, "api").await;
    assert_eq!(slices.len(), 1, "{slices:?}");
    assert_eq!(slices[0]["ports"], json!([{"name": "", "port": 80, "protocol": "TCP"}]), "targetPort defaults to port");
    assert_eq!(slices[0]["endpoints"][0]["addresses"], json!(["10.0.0.7"]));
    assert_eq!(slices[0]["endpoints"][0].get("nodeName"), None, "an unbound pod names no node");
    // A Succeeded pod is no endpoint.
    pod = h.get(&format!("{PODS}/api-0")).await.json();
    pod["status"]["phase"] = json!("Succeeded");
    assert_eq!(h.put(&format!("{PODS}/api-0/status"), &pod).await.code, 200);
    assert_eq!(slices_of(&h, "api").await[0]["endpoints"], Value::Null, "back to the placeholder");

    assert_eq!(h.delete(&format!("{SERVICES}/api")).await.code, 200);
    assert_eq!(slices_of(&h, "api").await, Vec::<Value>::new());

    let off = ApiServer::start().await.unwrap();
    let h = Http::new(&off);
    h.post(SERVICES, &svc).await;
    assert_eq!(slices_of(&h, "api").await, Vec::<Value>::new(), "off by default");
}

// Pod events sync the Services that select the pod now and those whose slices hold it. These
// tests run without a kubelet and write pod status themselves: the controller runs in the
// write's after-commit hook, so the slices are settled when the write answers.

fn pods_in(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/pods")
}

fn slices_in(ns: &str) -> String {
    format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices")
}

async fn service_in(h: &Http, ns: &str, name: &str, selector: Value) {
    let svc = json!({"metadata": {"name": name}, "spec": {"selector": selector, "ports": [{"port": 80}]}});
    let r = h.post(&format!("/api/v1/namespaces/{ns}/services"), &svc).await;
    assert_eq!(r.code, 201, "{}", r.body);
}

/// Creates an unbound pod and reports it Running and Ready at `ip`.
async fn running_pod(h: &Http, ns: &str, name: &str, labels: Value, ip: &str) {
    let pod = json!({"metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    let r = h.post(&pods_in(ns), &pod).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let mut pod = r.json();
    pod["status"] = json!({"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True"}]});
    let r = h.put(&format!("{}/{name}/status", pods_in(ns)), &pod).await;
    assert_eq!(r.code, 200, "{}", r.body);
}

async fn service_slices(h: &Http, ns: &str, service: &str) -> Vec<Value> {
    let path = format!("{}?labelSelector=kubernetes.io%2Fservice-name%3D{service}", slices_in(ns));
    h.get(&path).await.json()["items"].as_array().cloned().unwrap_or_default()
}

/// The `namespace/name` of every pod the Service's slices hold, sorted.
async fn endpoint_pods(h: &Http, ns: &str, service: &str) -> Vec<String> {
    let slices = service_slices(h, ns, service).await;
    assert!(!slices.is_empty(), "{ns}/{service} has no slices");
    let mut pods: Vec<String> = slices
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            format!("{}/{}", e["targetRef"]["namespace"].as_str().unwrap(), e["targetRef"]["name"].as_str().unwrap())
        })
        .collect();
    pods.sort();
    pods
}

#[tokio::test]
async fn a_relabelled_pod_leaves_the_old_services_slice_and_joins_the_new_ones() {
    let s = ApiServer::builder().endpoint_slices().start().await.unwrap();
    let h = Http::new(&s);
    service_in(&h, "default", "a", json!({"app": "a"})).await;
    service_in(&h, "default", "b", json!({"app": "b"})).await;
    running_pod(&h, "default", "p", json!({"app": "a"}), "10.0.0.1").await;
    running_pod(&h, "default", "q", json!({"app": "a"}), "10.0.0.2").await;
    assert_eq!(endpoint_pods(&h, "default", "a").await, ["default/p", "default/q"]);
    assert_eq!(endpoint_pods(&h, "default", "b").await, Vec::<String>::new());

    let r = h
        .patch(&format!("{PODS}/p"), "application/merge-patch+json", &json!({"metadata": {"labels": {"app": "b"}}}))
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(endpoint_pods(&h, "default", "a").await, ["default/q"], "p left a's slice");
    assert_eq!(endpoint_pods(&h, "default", "b").await, ["default/p"], "p joined b's slice");

    // Relabelled away from every Service: a's only endpoint goes, a keeps a placeholder.
    let r = h
        .patch(&format!("{PODS}/q"), "application/merge-patch+json", &json!({"metadata": {"labels": {"app": "none"}}}))
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    let a = service_slices(&h, "default", "a").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!((a[0]["endpoints"].is_null(), a[0]["ports"].is_null()), (true, true), "the placeholder: {}", a[0]);
    assert_eq!(endpoint_pods(&h, "default", "b").await, ["default/p"]);
}

#[tokio::test]
async fn a_deleted_pod_leaves_every_slice_that_held_it() {
    let s = ApiServer::builder().endpoint_slices().start().await.unwrap();
    let h = Http::new(&s);
    service_in(&h, "default", "a", json!({"app": "a"})).await;
    service_in(&h, "default", "t", json!({"tier": "t"})).await;
    running_pod(&h, "default", "p", json!({"app": "a", "tier": "t"}), "10.0.0.1").await;
    running_pod(&h, "default", "q", json!({"app": "a", "tier": "t"}), "10.0.0.2").await;
    assert_eq!(endpoint_pods(&h, "default", "a").await, ["default/p", "default/q"]);
    assert_eq!(endpoint_pods(&h, "default", "t").await, ["default/p", "default/q"]);

    let r = h.delete(&format!("{PODS}/p?gracePeriodSeconds=0")).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(h.get(&format!("{PODS}/p")).await.code, 404, "gone, not terminating");
    assert_eq!(endpoint_pods(&h, "default", "a").await, ["default/q"]);
    assert_eq!(endpoint_pods(&h, "default", "t").await, ["default/q"]);
}

#[tokio::test]
async fn pods_of_another_namespace_are_never_endpoints() {
    let s = ApiServer::builder().endpoint_slices().start().await.unwrap();
    let h = Http::new(&s);
    let r = h.post("/api/v1/namespaces", &json!({"metadata": {"name": "other"}})).await;
    assert_eq!(r.code, 201, "{}", r.body);
    // The same Service in both namespaces, and a Service whose only matching pod is elsewhere.
    service_in(&h, "default", "a", json!({"app": "a"})).await;
    service_in(&h, "other", "a", json!({"app": "a"})).await;
    service_in(&h, "default", "lonely", json!({"app": "o"})).await;
    // The pods of "other" (listed after "default") first, then a write in "default".
    running_pod(&h, "other", "o-0", json!({"app": "a"}), "10.0.1.1").await;
    running_pod(&h, "other", "o-1", json!({"app": "o"}), "10.0.1.2").await;
    running_pod(&h, "default", "d-0", json!({"app": "a"}), "10.0.0.1").await;

    assert_eq!(endpoint_pods(&h, "default", "a").await, ["default/d-0"]);
    assert_eq!(endpoint_pods(&h, "other", "a").await, ["other/o-0"]);
    assert_eq!(endpoint_pods(&h, "default", "lonely").await, Vec::<String>::new());
    // Relabelling the other namespace's pod to match "lonely" changes nothing here.
    let r = h
        .patch(
            &format!("{}/o-0", pods_in("other")),
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"app": "o"}}}),
        )
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(endpoint_pods(&h, "default", "lonely").await, Vec::<String>::new());
    assert_eq!(endpoint_pods(&h, "default", "a").await, ["default/d-0"]);
    assert_eq!(endpoint_pods(&h, "other", "a").await, Vec::<String>::new());
}

#[tokio::test]
async fn every_service_selecting_a_pod_lists_it() {
    let s = ApiServer::builder().endpoint_slices().start().await.unwrap();
    let h = Http::new(&s);
    service_in(&h, "default", "a", json!({"app": "a"})).await;
    service_in(&h, "default", "w", json!({"tier": "web"})).await;
    service_in(&h, "default", "both", json!({"app": "a", "tier": "web"})).await;
    running_pod(&h, "default", "p", json!({"app": "a", "tier": "web"}), "10.0.0.1").await;
    for svc in ["a", "w", "both"] {
        assert_eq!(endpoint_pods(&h, "default", svc).await, ["default/p"], "{svc}");
    }
    // A status change shows in every one of them.
    let mut pod = h.get(&format!("{PODS}/p")).await.json();
    pod["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
    assert_eq!(h.put(&format!("{PODS}/p/status"), &pod).await.code, 200);
    for svc in ["a", "w", "both"] {
        let slices = service_slices(&h, "default", svc).await;
        assert_eq!(slices.len(), 1, "{slices:?}");
        assert_eq!(
            endpoint(&slices[0], "p")["conditions"],
            json!({"ready": false, "serving": false, "terminating": false}),
            "{svc}"
        );
    }
}

#[tokio::test]
async fn a_pod_event_leaves_unrelated_services_slices_alone() {
    let s = ApiServer::builder().endpoint_slices().start().await.unwrap();
    let h = Http::new(&s);
    service_in(&h, "default", "a", json!({"app": "a"})).await;
    service_in(&h, "default", "u", json!({"app": "u"})).await;
    running_pod(&h, "default", "u-0", json!({"app": "u"}), "10.0.0.9").await;
    // Someone else edits u's slice: only a sync of u would undo that.
    let u = service_slices(&h, "default", "u").await;
    assert_eq!(u.len(), 1, "{u:?}");
    let path = format!("{SLICES}/{}", u[0]["metadata"]["name"].as_str().unwrap());
    let r =
        h.patch(&path, "application/merge-patch+json", &json!({"metadata": {"labels": {"edited": "by-hand"}}})).await;
    assert_eq!(r.code, 200, "{}", r.body);
    let edited = r.json();

    // A pod of a comes, changes, is relabelled and goes.
    running_pod(&h, "default", "a-0", json!({"app": "a"}), "10.0.0.1").await;
    assert_eq!(endpoint_pods(&h, "default", "a").await, ["default/a-0"]);
    let r = h
        .patch(&format!("{PODS}/a-0"), "application/merge-patch+json", &json!({"metadata": {"labels": {"app": "x"}}}))
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(endpoint_pods(&h, "default", "a").await, Vec::<String>::new());
    assert_eq!(h.delete(&format!("{PODS}/a-0?gracePeriodSeconds=0")).await.code, 200);

    let now = h.get(&path).await.json();
    assert_eq!(now["metadata"]["resourceVersion"], edited["metadata"]["resourceVersion"], "u's slice untouched");
    assert_eq!(now["metadata"]["labels"]["edited"], "by-hand");
    assert_eq!(endpoint_pods(&h, "default", "u").await, ["default/u-0"]);

    // u's own pods still sync it (and its sync restores the labels it manages).
    running_pod(&h, "default", "u-1", json!({"app": "u"}), "10.0.0.10").await;
    assert_eq!(endpoint_pods(&h, "default", "u").await, ["default/u-0", "default/u-1"]);
    assert_eq!(h.get(&path).await.json()["metadata"]["labels"].get("edited"), None);
}
