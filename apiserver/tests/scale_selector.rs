//! The Scale subresource's `status.selector`: the workload's `LabelSelector` as
//! `metav1.LabelSelectorAsSelector(...).String()` prints it (matchLabels and matchExpressions,
//! requirements sorted by key, set values sorted), as the apps registries' scale storage
//! (pkg/registry/apps/deployment/storage/storage.go `scaleFromDeployment`) answers; a
//! ReplicationController's map selector as `labels.SelectorFromSet(...).String()`. No
//! recording covers it; `kubectl get --raw .../scale` shows the same string.

mod common;
#[path = "common/kubectl.rs"]
mod kubectl;

use common::{ApiServer, Http};
use serde_json::{json, Value};

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn deployment(name: &str, selector: Value, labels: Value) -> Value {
    json!({"metadata": {"name": name}, "spec": {"replicas": 2, "selector": selector,
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
}

fn expressions_selector() -> Value {
    json!({"matchLabels": {"app": "x"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["b", "a"]},
        {"key": "gone", "operator": "DoesNotExist"},
        {"key": "env", "operator": "NotIn", "values": ["prod"]},
        {"key": "canary", "operator": "Exists"}]})
}

const EXPRESSIONS_STRING: &str = "app=x,canary,env notin (prod),!gone,tier in (a,b)";

#[tokio::test]
async fn scale_status_selector_renders_match_expressions() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let r = h
        .post(
            DEPLOYMENTS,
            &deployment("web", expressions_selector(), json!({"app": "x", "tier": "a", "canary": "true"})),
        )
        .await;
    assert_eq!(r.code, 201, "{}", r.body);
    let scale = h.get(&format!("{DEPLOYMENTS}/web/scale")).await.json();
    assert_eq!(scale["status"]["selector"], EXPRESSIONS_STRING);

    // Only matchLabels: sorted by key.
    let only_labels = json!({"matchLabels": {"tier": "a", "app": "y"}});
    h.post(DEPLOYMENTS, &deployment("api", only_labels, json!({"app": "y", "tier": "a"}))).await;
    assert_eq!(h.get(&format!("{DEPLOYMENTS}/api/scale")).await.json()["status"]["selector"], "app=y,tier=a");

    // A ReplicationController's selector is a label map.
    let rcs = "/api/v1/namespaces/default/replicationcontrollers";
    let rc = json!({"metadata": {"name": "rc"}, "spec": {"replicas": 1, "selector": {"z": "1", "a": "2"},
        "template": {"metadata": {"labels": {"z": "1", "a": "2"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
    assert_eq!(h.post(rcs, &rc).await.code, 201);
    assert_eq!(h.get(&format!("{rcs}/rc/scale")).await.json()["status"]["selector"], "a=2,z=1");

    // Writing the scale answers with the same selector.
    let r = h
        .patch(&format!("{DEPLOYMENTS}/web/scale"), "application/merge-patch+json", &json!({"spec": {"replicas": 5}}))
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["status"]["selector"], EXPRESSIONS_STRING);
}

#[tokio::test]
async fn kubectl_get_raw_scale_shows_the_selector() {
    let Some(env) = kubectl::Env::start(ApiServer::builder()).await else { return };
    let mut d = deployment("web", expressions_selector(), json!({"app": "x", "tier": "a", "canary": "true"}));
    d["apiVersion"] = json!("apps/v1");
    d["kind"] = json!("Deployment");
    env.run(&["apply", "-f", "-"], Some(&d.to_string())).await.ok();
    let raw = env.run(&["get", "--raw", "/apis/apps/v1/namespaces/default/deployments/web/scale"], None).await.ok();
    let scale: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(scale["status"]["selector"], EXPRESSIONS_STRING);
}
