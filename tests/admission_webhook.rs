//! The admission webhook example (`examples/admission_webhook.rs`) against the embedded server,
//! which calls registered webhooks as kube-apiserver does: the mutating webhook's JSON Patch
//! labels new Pods, the validating webhook's denial reaches the client with the real message
//! and code, the namespaceSelector keeps other namespaces out, and a webhook that cannot be
//! reached fails the write (failurePolicy Fail) or is skipped (Ignore).

#[path = "../examples/admission_webhook.rs"]
#[allow(dead_code)]
mod example;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use rudder::apimachinery::options::WriteOptions;
use rudder::apimachinery::Patch;
use rudder::client::api::Api;
use rudder_apiserver::ApiServer;
use serde_json::json;

#[tokio::test]
async fn webhooks_mutate_and_validate_pod_creates_in_their_namespace() {
    let server = ApiServer::start().await.expect("server");
    let client = server.client();
    let served = example::serve("127.0.0.1", ([127, 0, 0, 1], 0).into()).await.expect("webhooks");
    example::register(&client, &served, "default").await.expect("registered");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let created = pods.create(&WriteOptions::default(), &example::pod("limited", true)).await.expect("admitted");
    let labels = created.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get(example::LABEL.0).map(String::as_str), Some(example::LABEL.1), "{labels:?}");
    assert_eq!(labels.get("app").map(String::as_str), Some("demo"), "the Pod's own labels stay");
    let stored = pods.get("limited").await.expect("stored");
    assert_eq!(stored.metadata.labels, created.metadata.labels, "the mutation is what was stored");

    let err = pods.create(&WriteOptions::default(), &example::pod("unlimited", false)).await.expect_err("denied");
    assert_eq!(err.status().map(|s| s.code), Some(403), "{err}");
    assert!(
        err.to_string().contains(
            r#"admission webhook "limits.pods.rudder.example.com" denied the request: containers without resource limits: app"#
        ),
        "{err}"
    );
    assert!(pods.get_opt("unlimited").await.expect("get").is_none(), "nothing stored");

    // Updates are not in the rules: a label change passes untouched.
    let patched = pods
        .patch("limited", &Default::default(), &Patch::Merge(json!({"metadata": {"labels": {"tier": "x"}}})))
        .await
        .expect("patch");
    assert_eq!(patched.metadata.labels.unwrap_or_default().get("tier").map(String::as_str), Some("x"));

    // Another namespace is outside the namespaceSelector.
    let mut ns = Namespace::default();
    ns.metadata.name = Some("other".into());
    Api::<Namespace>::all(client.clone()).create(&WriteOptions::default(), &ns).await.expect("namespace");
    let other: Api<Pod> = Api::namespaced(client.clone(), "other");
    let free = other.create(&WriteOptions::default(), &example::pod("unlimited", false)).await.expect("not selected");
    assert!(!free.metadata.labels.unwrap_or_default().contains_key(example::LABEL.0), "not mutated either");

    // The webhook server goes away: failurePolicy Fail refuses writes with the real 500 ...
    served.server.stop().await;
    let err = pods.create(&WriteOptions::default(), &example::pod("limited2", true)).await.expect_err("fails closed");
    assert_eq!(err.status().map(|s| s.code), Some(500), "{err}");
    assert!(err.to_string().contains(r#"failed calling webhook "label.pods.rudder.example.com""#), "{err}");
    // ... and Ignore lets them through.
    let hooks = Api::<k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration>::all(client.clone());
    let ignore = json!([{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}]);
    hooks.patch("rudder-example-pod-policy", &Default::default(), &Patch::Json(ignore.clone())).await.expect("ignore");
    let validating = Api::<ValidatingWebhookConfiguration>::all(client.clone());
    validating.patch("rudder-example-pod-policy", &Default::default(), &Patch::Json(ignore)).await.expect("ignore");
    let through = pods.create(&WriteOptions::default(), &example::pod("unlimited2", false)).await.expect("fails open");
    assert!(!through.metadata.labels.unwrap_or_default().contains_key(example::LABEL.0));
    example::unregister(&client).await;
}
