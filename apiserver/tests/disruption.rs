//! PodDisruptionBudget status and the eviction subresource, over real sockets.
//!
//! No recording covers these; the bodies follow the real server's source:
//! `pkg/registry/core/pod/storage/eviction.go` (429 "Cannot evict pod as it would violate the
//! pod's disruption budget." with a `DisruptionBudget` cause "The disruption budget NAME needs
//! N healthy pods and has M currently"; 500 "This pod has more than one PodDisruptionBudget,
//! which the eviction subresource does not support."; pods that are Pending, finished or
//! already deleting skip the budgets) and `pkg/controller/disruption` (status fields, the
//! `DisruptionAllowed` condition, "found no controllers for pod" on a scale-based budget).

mod common;
use common::*;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";
const PDBS: &str = "/apis/policy/v1/namespaces/default/poddisruptionbudgets";
const MERGE: &str = "application/merge-patch+json";

async fn create(h: &Http, path: &str, body: &Value) -> Value {
    let r = h.post(path, body).await;
    assert_eq!(r.code, 201, "{}", r.body);
    r.json()
}

/// A running pod bound to n1, ready or not, optionally owned.
async fn running_pod(h: &Http, name: &str, ready: bool, owner: Option<&Value>) {
    let mut p = json!({"metadata":{"name":name,"labels":{"app":"web"}},
        "spec":{"nodeName":"n1","containers":[{"name":"c","image":"i"}]}});
    if let Some(o) = owner {
        p["metadata"]["ownerReferences"] = json!([{"apiVersion": o["apiVersion"], "kind": o["kind"],
            "name": o["metadata"]["name"], "uid": o["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]);
    }
    create(h, PODS, &p).await;
    let status = if ready { "True" } else { "False" };
    let r = h
        .patch(
            &format!("{PODS}/{name}/status"),
            MERGE,
            &json!({"status":{"phase":"Running","conditions":[{"type":"Ready","status":status}]}}),
        )
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
}

fn eviction(name: &str) -> Value {
    json!({"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":name,"namespace":"default"}})
}

async fn evict(h: &Http, name: &str) -> Resp {
    h.post(&format!("{PODS}/{name}/eviction"), &eviction(name)).await
}

async fn status(h: &Http, pdb: &str) -> Value {
    h.get(&format!("{PDBS}/{pdb}")).await.json()["status"].clone()
}

fn counts(s: &Value) -> [i64; 4] {
    ["currentHealthy", "desiredHealthy", "disruptionsAllowed", "expectedPods"].map(|k| s[k].as_i64().unwrap())
}

#[tokio::test]
async fn min_available_budget_status_and_evictions() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    for n in ["a", "b", "c"] {
        running_pod(&h, n, true, None).await;
    }
    running_pod(&h, "unready", false, None).await;
    let pdb = create(
        &h,
        PDBS,
        &json!({"metadata":{"name":"web"},"spec":{"minAvailable":2,"selector":{"matchLabels":{"app":"web"}}}}),
    )
    .await;
    assert!(
        pdb.get("status").is_none_or(|s| s.get("currentHealthy").is_none()),
        "the create answers before the controller"
    );
    let st = status(&h, "web").await;
    assert_eq!(counts(&st), [3, 2, 1, 4]);
    assert_eq!(st["observedGeneration"], 1);
    let cond = &st["conditions"][0];
    assert_eq!(
        (&cond["type"], &cond["status"], &cond["reason"], &cond["message"]),
        (&json!("DisruptionAllowed"), &json!("True"), &json!("SufficientPods"), &json!(""))
    );

    // An unready pod goes without spending the budget (it is already met).
    assert_eq!(evict(&h, "unready").await.code, 201);
    assert_eq!(counts(&status(&h, "web").await), [3, 2, 1, 4], "still expected: the pod is only terminating");

    let ok = evict(&h, "a").await;
    assert_eq!(ok.code, 201, "{}", ok.body);
    assert_eq!(ok.json(), json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}));
    let a = h.get(&format!("{PODS}/a")).await.json();
    assert_eq!(a["metadata"]["deletionGracePeriodSeconds"], 30, "evicted pods delete gracefully");
    let st = status(&h, "web").await;
    assert_eq!(counts(&st), [2, 2, 0, 4]);
    assert_eq!(
        (&st["conditions"][0]["status"], &st["conditions"][0]["reason"]),
        (&json!("False"), &json!("InsufficientPods"))
    );

    let refused = evict(&h, "b").await;
    assert_eq!(refused.code, 429);
    assert!(!refused.headers.contains_key("retry-after"));
    assert_eq!(
        refused.json(),
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"Cannot evict pod as it would violate the pod's disruption budget.","reason":"TooManyRequests",
            "details":{"causes":[{"reason":"DisruptionBudget","message":"The disruption budget web needs 2 healthy pods and has 2 currently"}]},
            "code":429})
    );
    assert!(h.get(&format!("{PODS}/b")).await.json()["metadata"].get("deletionTimestamp").is_none());

    // A new ready pod makes room again; a second budget makes eviction impossible.
    running_pod(&h, "d", true, None).await;
    assert_eq!(counts(&status(&h, "web").await), [3, 2, 1, 5]);
    create(
        &h,
        PDBS,
        &json!({"metadata":{"name":"also"},"spec":{"maxUnavailable":"50%","selector":{"matchLabels":{"app":"web"}}}}),
    )
    .await;
    let two = evict(&h, "b").await;
    assert_eq!(two.code, 500);
    assert_eq!(
        two.json(),
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.","code":500})
    );
    // Pods without a controller cannot be scaled: the scale-based budget fails safe.
    let also = status(&h, "also").await;
    assert_eq!(also["disruptionsAllowed"], 0);
    assert_eq!(
        (&also["conditions"][0]["reason"], &also["conditions"][0]["status"]),
        (&json!("SyncFailed"), &json!("False"))
    );
    assert!(also["conditions"][0]["message"].as_str().unwrap().starts_with("found no controllers for pod"), "{also}");
}

#[tokio::test]
async fn max_unavailable_counts_the_controllers_scale() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let dep = create(
        &h,
        "/apis/apps/v1/namespaces/default/deployments",
        &json!({"metadata":{"name":"web"},
        "spec":{"replicas":4,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
        "spec":{"containers":[{"name":"c","image":"i"}]}}}}),
    )
    .await;
    let rs = create(&h, "/apis/apps/v1/namespaces/default/replicasets", &json!({"metadata":{"name":"web-1",
        "ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":dep["metadata"]["uid"],"controller":true}]},
        "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
        "spec":{"containers":[{"name":"c","image":"i"}]}}}})).await;
    for n in ["a", "b", "c"] {
        running_pod(&h, n, true, Some(&rs)).await;
    }
    create(
        &h,
        PDBS,
        &json!({"metadata":{"name":"web"},"spec":{"maxUnavailable":"25%","selector":{"matchLabels":{"app":"web"}}}}),
    )
    .await;
    // The Deployment's 4 replicas (not the ReplicaSet's 3) are expected; 25% of 4 is 1.
    assert_eq!(counts(&status(&h, "web").await), [3, 3, 0, 4]);
    assert_eq!(evict(&h, "a").await.code, 429);
    h.patch("/apis/apps/v1/namespaces/default/deployments/web", MERGE, &json!({"spec":{"replicas":3}})).await;
    assert_eq!(counts(&status(&h, "web").await), [3, 2, 1, 3], "a scale change updates the budget");
    // A dry run changes nothing.
    let dry = h.post(&format!("{PODS}/a/eviction?dryRun=All"), &eviction("a")).await;
    assert_eq!(dry.code, 201, "{}", dry.body);
    assert_eq!(counts(&status(&h, "web").await), [3, 2, 1, 3]);
    assert_eq!(h.post(&format!("{PODS}/a/eviction"), &eviction("b")).await.code, 400, "names must match");
    assert_eq!(evict(&h, "a").await.code, 201);
    assert_eq!(evict(&h, "b").await.code, 429);
    // A Pending pod is evicted whatever the budget says.
    create(
        &h,
        PODS,
        &json!({"metadata":{"name":"pending","labels":{"app":"web"},"ownerReferences":[{"apiVersion":"apps/v1",
        "kind":"ReplicaSet","name":"web-1","uid":rs["metadata"]["uid"],"controller":true}]},
        "spec":{"nodeName":"n1","containers":[{"name":"c","image":"i"}]}}),
    )
    .await;
    assert_eq!(evict(&h, "pending").await.code, 201);
}
