//! The DefaultTolerationSeconds admission plugin, on by default in kube-apiserver: a created pod
//! that does not tolerate the not-ready and unreachable `NoExecute` taints gets tolerations for
//! them (operator Exists, 300 s), after its own, in that order. No recording covers it; the
//! expected pods follow plugin/pkg/admission/defaulttolerationseconds/admission.go, and
//! `kubectl get pod -o yaml` shows them as it does on a real cluster.

mod common;
#[path = "common/kubectl.rs"]
mod kubectl;

use common::{ApiServer, Http};
use rudder_client::apimachinery::schema::GroupVersionResource;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";
const NOT_READY: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

fn pod(name: &str, tolerations: Option<Value>) -> Value {
    let mut p = json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    if let Some(t) = tolerations {
        p["spec"]["tolerations"] = t;
    }
    p
}

fn default_toleration(key: &str, secs: i64) -> Value {
    json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs})
}

#[tokio::test]
async fn created_pods_tolerate_not_ready_and_unreachable_for_300s() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let r = h.post(PODS, &pod("plain", None)).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let want = json!([default_toleration(NOT_READY, 300), default_toleration(UNREACHABLE, 300)]);
    assert_eq!(r.json()["spec"]["tolerations"], want, "the answer to the create shows them");
    assert_eq!(h.get(&format!("{PODS}/plain")).await.json()["spec"]["tolerations"], want, "and they are stored");
    // The plugin runs after the field manager: the added tolerations belong to nobody.
    let managed = r.json()["metadata"]["managedFields"].to_string();
    assert!(!managed.contains("f:tolerations"), "{managed}");

    // The pod's own come first; a taint it tolerates already (any seconds, or none) is left alone.
    let own = json!([{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]);
    let r = h.post(PODS, &pod("own", Some(own.clone()))).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let mut want = own.as_array().unwrap().clone();
    want.push(default_toleration(NOT_READY, 300));
    assert_eq!(r.json()["spec"]["tolerations"], Value::from(want));

    // A wildcard toleration (no key, no effect) tolerates both: nothing is added.
    let wildcard = json!([{"operator": "Exists"}]);
    let r = h.post(PODS, &pod("wildcard", Some(wildcard.clone()))).await;
    assert_eq!(r.json()["spec"]["tolerations"], wildcard);

    // A dry run shows what would be stored.
    let r = h.post(&format!("{PODS}?dryRun=All"), &pod("dry", None)).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(r.json()["spec"]["tolerations"].as_array().map(Vec::len), Some(2));

    // Other kinds are not touched.
    let r = h.post("/api/v1/namespaces/default/configmaps", &json!({"metadata": {"name": "c"}})).await;
    assert_eq!(r.json().get("spec"), None);
}

#[tokio::test]
async fn updated_pods_get_them_too_but_subresources_do_not() {
    // A pod stored without them (written past admission, as one created before the plugin was
    // switched on) gets them on its next update, as the plugin admits updates too.
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let pods = GroupVersionResource::new("", "v1", "pods");
    let mut stored = pod("old", None);
    stored["metadata"]["namespace"] = json!("default");
    s.control().insert_many(&pods, vec![stored]);
    let status = h
        .patch(&format!("{PODS}/old/status"), "application/merge-patch+json", &json!({"status": {"message": "m"}}))
        .await;
    assert_eq!(status.code, 200, "{}", status.body);
    assert_eq!(status.json()["spec"].get("tolerations"), None, "a status write is not admitted by the plugin");
    let r = h
        .patch(&format!("{PODS}/old"), "application/merge-patch+json", &json!({"metadata": {"labels": {"a": "b"}}}))
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    let want = json!([default_toleration(NOT_READY, 300), default_toleration(UNREACHABLE, 300)]);
    assert_eq!(r.json()["spec"]["tolerations"], want);
    // Once there, an update adds nothing more.
    let r = h
        .patch(&format!("{PODS}/old"), "application/merge-patch+json", &json!({"metadata": {"labels": {"a": "c"}}}))
        .await;
    assert_eq!(r.json()["spec"]["tolerations"], want);
}

#[tokio::test]
async fn the_plugin_follows_the_servers_configuration() {
    let s = ApiServer::builder().default_toleration_seconds(Some(60)).start().await.unwrap();
    let r = Http::new(&s).post(PODS, &pod("p", None)).await;
    assert_eq!(
        r.json()["spec"]["tolerations"],
        json!([default_toleration(NOT_READY, 60), default_toleration(UNREACHABLE, 60)])
    );

    let s = ApiServer::builder().default_toleration_seconds(None).start().await.unwrap();
    let r = Http::new(&s).post(PODS, &pod("p", None)).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(r.json()["spec"].get("tolerations"), None, "switched off, as --disable-admission-plugins");
}

#[tokio::test]
async fn kubectl_shows_the_default_tolerations() {
    let Some(env) = kubectl::Env::start(ApiServer::builder()).await else { return };
    env.run(&["run", "web", "--image=nginx"], None).await.ok();
    let out = env
        .run(
            &[
                "get",
                "pod",
                "web",
                "-o",
                "jsonpath={range .spec.tolerations[*]}{.key} {.operator} {.effect} {.tolerationSeconds}{\"\\n\"}{end}",
            ],
            None,
        )
        .await
        .ok();
    assert_eq!(
        out,
        format!("{NOT_READY} Exists NoExecute 300\n{UNREACHABLE} Exists NoExecute 300\n"),
        "as `kubectl get pod -o yaml` shows them on a real cluster"
    );
}
