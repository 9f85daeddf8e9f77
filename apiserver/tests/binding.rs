//! `pods/binding` as the real BindingREST answers it (pkg/registry/core/pod/storage/storage.go;
//! no recording covers it): the Binding's uid and resourceVersion are preconditions of the
//! storage update (a 409 on `pods` worded as storage words it), a pod being deleted, already
//! bound or carrying scheduling gates is a 409 on `pods/binding`, and binding sets `PodScheduled`
//! True (`podutil.UpdatePodCondition`: the condition replaced whole, lastTransitionTime now) in
//! the same write as `spec.nodeName`, leaving the pod's managedFields alone.

mod common;

use common::{ApiServer, Http};
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";

fn pod(name: &str) -> Value {
    json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
}

fn binding(meta: Value, node: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Binding", "metadata": meta, "target": {"kind": "Node", "name": node}})
}

fn scheduled(p: &Value) -> Option<Value> {
    p["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "PodScheduled").cloned()
}

#[tokio::test]
async fn binding_sets_the_node_and_pod_scheduled_in_one_write() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let created = h.post(PODS, &pod("p")).await.json();
    // A scheduler that found no node first reports it in the status.
    let mut unschedulable = created.clone();
    unschedulable["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "False", "lastProbeTime": null,
        "lastTransitionTime": "2024-01-01T00:00:00Z", "reason": "Unschedulable", "message": "0/1 nodes are available"}]);
    let r = h.put(&format!("{PODS}/p/status"), &unschedulable).await;
    assert_eq!(r.code, 200, "{}", r.body);
    let before = r.json();
    let rv = before["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let mut w = h.watch(&format!("{PODS}?watch=1&resourceVersion={rv}")).await;

    let started = jiff::Timestamp::now().as_second();
    let r = h
        .post(&format!("{PODS}/p/binding"), &binding(json!({"name": "p", "uid": created["metadata"]["uid"]}), "n1"))
        .await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(r.json()["status"], "Success");

    let ev = w.next().await;
    assert_eq!(ev["type"], "MODIFIED");
    let p = &ev["object"];
    assert_eq!(p["spec"]["nodeName"], "n1", "one event carries the node ...");
    let c = scheduled(p).expect("... and PodScheduled");
    assert_eq!(c["status"], "True");
    assert_eq!(c.get("reason"), None, "the condition is replaced whole: {c}");
    assert_eq!(c.get("message"), None, "{c}");
    let since: jiff::Timestamp = c["lastTransitionTime"].as_str().unwrap().parse().unwrap();
    assert!(since.as_second() >= started, "the transition is now: {c}");
    assert_eq!(p["metadata"]["managedFields"], before["metadata"]["managedFields"], "no field manager runs");
    w.quiet(0.2).await;
}

#[tokio::test]
async fn a_new_pod_gets_the_condition_appended() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    h.post(PODS, &pod("fresh")).await;
    let r = h.post(&format!("{PODS}/fresh/binding"), &binding(json!({"name": "fresh"}), "n1")).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let p = h.get(&format!("{PODS}/fresh")).await.json();
    let c = scheduled(&p).expect("PodScheduled");
    assert_eq!((c["status"].as_str(), c["lastProbeTime"].is_null()), (Some("True"), true), "{c}");
    assert!(c["lastTransitionTime"].is_string(), "{c}");
    assert_eq!(p["status"]["phase"], "Pending", "the rest of the status stays");
}

#[tokio::test]
async fn uid_and_resource_version_are_preconditions() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let created = h.post(PODS, &pod("p")).await.json();
    let uid = created["metadata"]["uid"].as_str().unwrap();
    let r = h.post(&format!("{PODS}/p/binding"), &binding(json!({"name": "p", "uid": "0000-other"}), "n1")).await;
    assert_eq!(r.code, 409, "{}", r.body);
    let st = r.json();
    assert_eq!(st["reason"], "Conflict");
    assert_eq!(
        st["message"],
        format!(
            "Operation cannot be fulfilled on pods \"p\": StorageError: invalid object, Code: 4, Key: /registry/pods/default/p, \
             ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: 0000-other, UID in object meta: {uid}"
        )
    );
    assert_eq!(st["details"], json!({"name": "p", "kind": "pods"}));

    let rv = created["metadata"]["resourceVersion"].as_str().unwrap();
    h.patch(&format!("{PODS}/p"), "application/merge-patch+json", &json!({"metadata": {"labels": {"a": "b"}}})).await;
    let r = h.post(&format!("{PODS}/p/binding"), &binding(json!({"name": "p", "resourceVersion": rv}), "n1")).await;
    assert_eq!(r.code, 409, "{}", r.body);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains(&format!("Precondition failed: ResourceVersion in precondition: {rv}, ")),
        "{}",
        r.body
    );
    assert_eq!(h.get(&format!("{PODS}/p")).await.json()["spec"].get("nodeName"), None, "nothing was bound");
}

#[tokio::test]
async fn bound_and_gated_pods_are_conflicts() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    h.post(PODS, &pod("p")).await;
    assert_eq!(h.post(&format!("{PODS}/p/binding"), &binding(json!({"name": "p"}), "n1")).await.code, 201);
    let r = h.post(&format!("{PODS}/p/binding"), &binding(json!({"name": "p"}), "n2")).await;
    assert_eq!(r.code, 409, "{}", r.body);
    let st = r.json();
    assert_eq!(
        st["message"],
        "Operation cannot be fulfilled on pods/binding \"p\": pod p is already assigned to node \"n1\""
    );
    assert_eq!(st["details"], json!({"name": "p", "kind": "pods/binding"}));

    let mut gated = pod("gated");
    gated["spec"]["schedulingGates"] = json!([{"name": "example.com/wait"}]);
    h.post(PODS, &gated).await;
    let r = h.post(&format!("{PODS}/gated/binding"), &binding(json!({"name": "gated"}), "n1")).await;
    assert_eq!(r.code, 409, "{}", r.body);
    assert_eq!(
        r.json()["message"],
        "Operation cannot be fulfilled on pods/binding \"gated\": pod gated has non-empty .spec.schedulingGates"
    );
}
