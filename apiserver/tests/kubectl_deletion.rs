//! kubectl 1.32 against the embedded server's deletion behaviour: a deleted pod bound to a
//! node shows Terminating until its kubelet confirms (or `--force --grace-period=0`), and
//! `kubectl drain` is refused while a PodDisruptionBudget protects the node's pods and
//! succeeds once it allows the evictions.

mod common;
#[path = "common/kubectl.rs"]
mod kubectl;

use common::{ApiServer, Http};
use kubectl::Env;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";

async fn create(h: &Http, path: &str, body: &Value) -> Value {
    let r = h.post(path, body).await;
    assert_eq!(r.code, 201, "{}", r.body);
    r.json()
}

/// A ready pod on n1 owned by `rs`, with a 1 s grace period.
async fn ready_pod(h: &Http, name: &str, rs: &Value) {
    create(h, PODS, &json!({"metadata":{"name":name,"labels":{"app":"web"},"ownerReferences":[{"apiVersion":"apps/v1",
        "kind":"ReplicaSet","name":rs["metadata"]["name"],"uid":rs["metadata"]["uid"],"controller":true,"blockOwnerDeletion":true}]},
        "spec":{"nodeName":"n1","terminationGracePeriodSeconds":1,"containers":[{"name":"c","image":"i"}]}}))
    .await;
    let status = json!({"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}});
    let r = h.patch(&format!("{PODS}/{name}/status"), "application/merge-patch+json", &status).await;
    assert_eq!(r.code, 200, "{}", r.body);
}

#[tokio::test]
async fn deleting_a_bound_pod_shows_terminating() {
    let server = ApiServer::start().await.unwrap();
    let Some(k) = Env::new(server) else { return };
    let h = Http::new(&k.server);
    create(
        &h,
        PODS,
        &json!({"metadata":{"name":"bound"},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"i"}]}}),
    )
    .await;
    let out = k.ok(&["delete", "pod", "bound", "--wait=false"]).await;
    assert!(out.contains("pod \"bound\" deleted"), "{out}");
    let table = k.ok(&["get", "pod", "bound"]).await;
    assert!(table.lines().nth(1).is_some_and(|l| l.contains("Terminating")), "{table}");
    let forced = k.run(&["delete", "pod", "bound", "--force", "--grace-period=0"], None).await;
    assert!(forced.ok, "{forced:?}");
    assert!(forced.stderr.contains("Immediate deletion does not wait"), "{forced:?}");
    let gone = k.run(&["get", "pod", "bound"], None).await;
    assert!(!gone.ok && gone.stderr.contains("NotFound"), "{gone:?}");
}

#[tokio::test]
async fn drain_honours_the_disruption_budget() {
    let server = ApiServer::builder().finish_deletions_after_grace().start().await.unwrap();
    let Some(k) = Env::new(server) else { return };
    let h = Http::new(&k.server);
    create(&h, "/api/v1/nodes", &json!({"metadata":{"name":"n1"}})).await;
    let rs = create(
        &h,
        "/apis/apps/v1/namespaces/default/replicasets",
        &json!({"metadata":{"name":"web-1"},
        "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
        "spec":{"containers":[{"name":"c","image":"i"}]}}}}),
    )
    .await;
    for name in ["a", "b"] {
        ready_pod(&h, name, &rs).await;
    }
    let pdbs = "/apis/policy/v1/namespaces/default/poddisruptionbudgets";
    create(
        &h,
        pdbs,
        &json!({"metadata":{"name":"web"},"spec":{"minAvailable":2,"selector":{"matchLabels":{"app":"web"}}}}),
    )
    .await;

    let refused = k.run(&["drain", "n1", "--timeout=2s"], None).await;
    assert!(!refused.ok, "{refused:?}");
    assert!(
        refused.stderr.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{refused:?}"
    );
    assert_eq!(h.get(&format!("{PODS}/a")).await.code, 200);
    let node = h.get("/api/v1/nodes/n1").await.json();
    assert_eq!(node["spec"]["unschedulable"], true, "drain cordoned the node first");

    // Once the budget allows both evictions, the drain evicts, waits for the pods to go (their
    // 1 s grace periods end by themselves here) and succeeds.
    let r = h.patch(&format!("{pdbs}/web"), "application/merge-patch+json", &json!({"spec":{"minAvailable":0}})).await;
    assert_eq!(r.code, 200, "{}", r.body);
    let out = k.ok(&["drain", "n1", "--timeout=20s"]).await;
    assert!(out.contains("pod/a evicted") && out.contains("pod/b evicted"), "{out}");
    assert!(out.contains("node/n1 drained"), "{out}");
    assert_eq!(h.get(&format!("{PODS}/a")).await.code, 404);
}
