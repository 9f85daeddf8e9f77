//! Garbage collection through ownerReferences, over real sockets.
//!
//! No recording covers the collector; its behaviour follows the real one
//! (`pkg/controller/garbagecollector`: `attemptToDeleteItem`, `processDeletingDependentsItem`,
//! `orphanDependents`) and the registry's default propagation per kind
//! (`DefaultGarbageCollectionPolicy`: `Orphan` for batch/v1 Jobs and v1 ReplicationControllers,
//! `Background` for apps/v1 and everything else).

mod common;
use common::*;
use serde_json::{json, Value};

const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";
const RSS: &str = "/apis/apps/v1/namespaces/default/replicasets";
const PODS: &str = "/api/v1/namespaces/default/pods";
const CMS: &str = "/api/v1/namespaces/default/configmaps";
const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";

async fn create(h: &Http, path: &str, body: &Value) -> Value {
    let r = h.post(path, body).await;
    assert_eq!(r.code, 201, "{}", r.body);
    r.json()
}

fn owned_by(owner: &Value, block: bool) -> Value {
    json!([{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": block}])
}

fn template() -> Value {
    json!({"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i"}]}})
}

/// Deployment "web" -> ReplicaSet "web-1" -> pods "bound" (on n1) and "unbound".
async fn chain(h: &Http) -> (Value, Value) {
    let sel = json!({"matchLabels":{"app":"web"}});
    let dep = create(
        h,
        DEPLOYS,
        &json!({"metadata":{"name":"web"},"spec":{"replicas":2,"selector":sel,"template":template()}}),
    )
    .await;
    let rs = create(
        h,
        RSS,
        &json!({"metadata":{"name":"web-1","ownerReferences":owned_by(&dep, true)},
        "spec":{"replicas":2,"selector":sel,"template":template()}}),
    )
    .await;
    for (name, node) in [("bound", Some("n1")), ("unbound", None)] {
        let mut p = json!({"metadata":{"name":name,"labels":{"app":"web"},"ownerReferences":owned_by(&rs, true)},
            "spec":{"containers":[{"name":"c","image":"i"}]}});
        if let Some(n) = node {
            p["spec"]["nodeName"] = json!(n);
        }
        create(h, PODS, &p).await;
    }
    (dep, rs)
}

async fn code(h: &Http, path: &str) -> u16 {
    h.get(path).await.code
}

#[tokio::test]
async fn background_deletes_the_chain_after_the_owner() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    chain(&h).await;
    let rv = s.control().current_resource_version();
    let mut w = h.watch(&format!("{RSS}?watch=1&resourceVersion={rv}")).await;
    let r = h.delete(&format!("{DEPLOYS}/web")).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["kind"], "Status", "apps/v1 defaults to Background: gone at once");
    assert_eq!(code(&h, &format!("{DEPLOYS}/web")).await, 404);
    assert_eq!(w.next().await["type"], "DELETED", "the ReplicaSet follows its owner");
    assert_eq!(code(&h, &format!("{RSS}/web-1")).await, 404);
    assert_eq!(code(&h, &format!("{PODS}/unbound")).await, 404);
    let bound = h.get(&format!("{PODS}/bound")).await.json();
    assert!(bound["metadata"]["deletionTimestamp"].is_string(), "a bound pod terminates gracefully");
    assert!(s.control().finish_deletion("default", "bound"));
    assert_eq!(code(&h, &format!("{PODS}/bound")).await, 404);
}

#[tokio::test]
async fn foreground_keeps_the_owner_until_blocking_dependents_are_gone() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let (_, rs) = chain(&h).await;
    // A dependent that does not block its owner is deleted but not waited for.
    let mut loose = json!({"metadata":{"name":"loose","ownerReferences":owned_by(&rs, false)},"data":{}});
    loose["metadata"]["ownerReferences"][0]["controller"] = json!(false);
    create(&h, CMS, &loose).await;
    let r = h.delete(&format!("{DEPLOYS}/web?propagationPolicy=Foreground")).await;
    assert_eq!(r.code, 200);
    let d = r.json();
    assert_eq!(d["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    assert!(d["metadata"]["deletionTimestamp"].is_string());
    // The ReplicaSet has dependents of its own: it is deleted in the foreground too.
    let rs_now = h.get(&format!("{RSS}/web-1")).await.json();
    assert_eq!(rs_now["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    assert_eq!(code(&h, &format!("{PODS}/unbound")).await, 404);
    assert_eq!(code(&h, &format!("{CMS}/loose")).await, 404);
    assert_eq!(code(&h, &format!("{DEPLOYS}/web")).await, 200, "the terminating pod blocks the chain");
    assert!(s.control().finish_deletion("default", "bound"));
    assert_eq!(code(&h, &format!("{RSS}/web-1")).await, 404);
    assert_eq!(code(&h, &format!("{DEPLOYS}/web")).await, 404);
}

#[tokio::test]
async fn orphan_removes_the_owners_references_and_leaves_dependents() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let (dep, rs) = chain(&h).await;
    let r = h.delete(&format!("{DEPLOYS}/web?propagationPolicy=Orphan")).await;
    assert_eq!(r.code, 200);
    assert_eq!(r.json()["metadata"]["finalizers"], json!(["orphan"]), "the answer is the object the finalizer holds");
    assert_eq!(code(&h, &format!("{DEPLOYS}/web")).await, 404, "the collector orphaned the dependents and let it go");
    let rs_now = h.get(&format!("{RSS}/web-1")).await.json();
    assert!(rs_now["metadata"].get("ownerReferences").is_none(), "{rs_now}");
    assert!(rs_now["metadata"].get("deletionTimestamp").is_none());
    let pod = h.get(&format!("{PODS}/unbound")).await.json();
    assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], rs["metadata"]["uid"], "grandchildren keep their owner");
    let _ = dep;
    // orphanDependents: true in the body is the same.
    let r = h
        .req(
            "DELETE",
            &format!("{RSS}/web-1"),
            Some("application/json"),
            &json!({"orphanDependents": true}).to_string(),
        )
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(code(&h, &format!("{RSS}/web-1")).await, 404);
    assert!(h.get(&format!("{PODS}/unbound")).await.json()["metadata"].get("ownerReferences").is_none());
}

#[tokio::test]
async fn a_job_orphans_its_pods_unless_asked_to_propagate() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let job = |name: &str| {
        json!({"metadata":{"name":name},"spec":{"template":{"metadata":{"labels":{"job":name}},
            "spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"i"}]}}}})
    };
    for name in ["legacy", "modern"] {
        let j = create(&h, JOBS, &job(name)).await;
        create(
            &h,
            PODS,
            &json!({"metadata":{"name":format!("{name}-pod"),"ownerReferences":owned_by(&j, true)},
            "spec":{"containers":[{"name":"c","image":"i"}]}}),
        )
        .await;
    }
    // batch/v1 keeps its legacy default: Orphan.
    let r = h.delete(&format!("{JOBS}/legacy")).await;
    assert_eq!(r.json()["metadata"]["finalizers"], json!(["orphan"]));
    assert_eq!(code(&h, &format!("{JOBS}/legacy")).await, 404);
    let orphan = h.get(&format!("{PODS}/legacy-pod")).await.json();
    assert!(orphan["metadata"].get("ownerReferences").is_none(), "{orphan}");
    // kubectl asks for Background.
    assert_eq!(h.delete(&format!("{JOBS}/modern?propagationPolicy=Background")).await.code, 200);
    assert_eq!(code(&h, &format!("{PODS}/modern-pod")).await, 404);
}

#[tokio::test]
async fn a_configmap_owned_by_a_custom_object_goes_with_it() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    create(
        &h,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &json!({
        "metadata":{"name":"greetings.example.com"},
        "spec":{"group":"example.com","scope":"Namespaced","names":{"plural":"greetings","kind":"Greeting"},
            "versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object",
                "x-kubernetes-preserve-unknown-fields":true}}}]}}),
    )
    .await;
    let greetings = "/apis/example.com/v1/namespaces/default/greetings";
    let g =
        create(&h, greetings, &json!({"apiVersion":"example.com/v1","kind":"Greeting","metadata":{"name":"hi"}})).await;
    create(&h, CMS, &json!({"metadata":{"name":"hi","ownerReferences":owned_by(&g, true)},"data":{"k":"v"}})).await;
    assert_eq!(h.delete(&format!("{greetings}/hi")).await.code, 200);
    assert_eq!(code(&h, &format!("{CMS}/hi")).await, 404);
}

#[tokio::test]
async fn dangling_and_cross_namespace_references() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let owner = create(&h, CMS, &json!({"metadata":{"name":"owner"},"data":{}})).await;
    let ghost = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ghost","uid":"00000000-0000-4000-8000-000000000000"}});
    // Every owner absent: collected at once.
    let r =
        h.post(CMS, &json!({"metadata":{"name":"orphaned","ownerReferences":owned_by(&ghost, false)},"data":{}})).await;
    assert_eq!(r.code, 201);
    assert_eq!(code(&h, &format!("{CMS}/orphaned")).await, 404);
    // One live owner: only the dangling reference goes.
    let mut two = owned_by(&owner, false);
    two.as_array_mut().unwrap().push(owned_by(&ghost, false)[0].clone());
    two[1]["controller"] = json!(false);
    create(&h, CMS, &json!({"metadata":{"name":"kept","ownerReferences":two},"data":{}})).await;
    let kept = h.get(&format!("{CMS}/kept")).await.json();
    assert_eq!(kept["metadata"]["ownerReferences"].as_array().unwrap().len(), 1, "{kept}");
    assert_eq!(kept["metadata"]["ownerReferences"][0]["uid"], owner["metadata"]["uid"]);
    // A namespaced owner is looked up in the dependent's namespace: across namespaces it is absent.
    create(&h, "/api/v1/namespaces", &json!({"metadata":{"name":"other"}})).await;
    let r = h
        .post(
            "/api/v1/namespaces/other/configmaps",
            &json!({"metadata":{"name":"far","ownerReferences":owned_by(&owner, false)},"data":{}}),
        )
        .await;
    assert_eq!(r.code, 201);
    assert_eq!(code(&h, "/api/v1/namespaces/other/configmaps/far").await, 404);
    // References to kinds the server does not serve are left alone.
    let unknown = json!({"apiVersion":"nope.example.com/v1","kind":"Thing","metadata":{"name":"t","uid":"u"}});
    create(&h, CMS, &json!({"metadata":{"name":"unjudged","ownerReferences":owned_by(&unknown, false)},"data":{}}))
        .await;
    assert_eq!(code(&h, &format!("{CMS}/unjudged")).await, 200);
    // Deleting the owner takes "kept" with it.
    h.delete(&format!("{CMS}/owner")).await;
    assert_eq!(code(&h, &format!("{CMS}/kept")).await, 404);
}
