//! The embedded API server answers dry runs and metadata-only requests as kube-apiserver does.

mod common;
use common::*;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use rudder_apimachinery::options::{CreateOptions, ListOptions};
use rudder_client::api::Api;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";
const PARTIAL: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

/// A request with an `Accept` header; (code, body as JSON).
async fn with_accept(
    s: &ApiServer,
    method: &str,
    path: &str,
    ct: Option<&str>,
    body: &str,
    accept: &str,
) -> (u16, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", s.url().to_string().trim_end_matches('/')))
        .header("accept", accept);
    if let Some(ct) = ct {
        b = b.header("content-type", ct);
    }
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        client.request(b.body(Full::new(Bytes::from(body.to_string()))).unwrap()),
    )
    .await
    .unwrap()
    .unwrap();
    let code = r.status().as_u16();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}")))
}

#[tokio::test]
async fn dry_runs_store_nothing_and_invent_no_resource_version() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let dry = h.req("POST", &format!("{PODS}?dryRun=All"), Some("application/json"), &pod.to_string()).await;
    assert_eq!(dry.code, 201, "{}", dry.body);
    let meta = &dry.json()["metadata"];
    assert_eq!(meta["uid"].as_str().map(str::len), Some(36));
    assert!(meta["creationTimestamp"].is_string());
    assert!(meta.get("resourceVersion").is_none(), "{meta}");
    assert_eq!(h.get(&format!("{PODS}/p")).await.code, 404);

    // A client deciding between create and replace from the dry run creates, and succeeds.
    let api: Api<Pod> = Api::namespaced(s.client(), "default");
    let typed: Pod = serde_json::from_value(pod.clone()).unwrap();
    let checked = api.create(&CreateOptions { dry_run: true, ..Default::default() }, &typed).await.unwrap();
    assert!(checked.metadata.resource_version.is_none());
    let created = api.create(&CreateOptions::default(), &typed).await.unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();

    // Dry-run updates and patches answer the stored resourceVersion, not a new one.
    let mut next = serde_json::to_value(&created).unwrap();
    next["metadata"]["labels"] = json!({"dry": "yes"});
    let r = h.req("PUT", &format!("{PODS}/p?dryRun=All"), Some("application/json"), &next.to_string()).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(
        (r.json()["metadata"]["labels"]["dry"].as_str(), r.json()["metadata"]["resourceVersion"].as_str()),
        (Some("yes"), Some(rv.as_str()))
    );
    let r = h
        .req(
            "PATCH",
            &format!("{PODS}/p?dryRun=All"),
            Some("application/merge-patch+json"),
            r#"{"metadata":{"labels":{"x":"y"}}}"#,
        )
        .await;
    assert_eq!(r.json()["metadata"]["resourceVersion"], rv.as_str());
    assert_eq!(s.control().current_resource_version().to_string(), rv, "nothing was committed");
    assert!(h.get(&format!("{PODS}/p")).await.json()["metadata"].get("labels").is_none());
}

#[tokio::test]
async fn metadata_only_answers_for_every_resource_and_verb() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    assert_eq!(h.post(PODS, &json!({"metadata": {"name": "p", "labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}})).await.code, 201);
    assert_eq!(h.post("/api/v1/nodes", &json!({"metadata": {"name": "n"}})).await.code, 201);
    let is_partial = |v: &Value, name: &str| {
        assert_eq!(
            (v["kind"].as_str(), v["apiVersion"].as_str()),
            (Some("PartialObjectMetadata"), Some("meta.k8s.io/v1")),
            "{v}"
        );
        assert_eq!(v["metadata"]["name"], name);
        assert!(v.get("spec").is_none() && v.get("status").is_none(), "{v}");
    };
    for (path, name) in [
        (format!("{PODS}/p"), "p"),
        ("/api/v1/nodes/n".to_string(), "n"),
        ("/api/v1/namespaces/default".to_string(), "default"),
    ] {
        let r = h.get_accept(&path, PARTIAL).await;
        assert_eq!(r.code, 200);
        is_partial(&r.json(), name);
    }
    let list = h.get_accept(PODS, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1").await.json();
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    is_partial(&list["items"][0], "p");

    // Writes answer metadata too.
    let (code, v) = with_accept(
        &s,
        "PATCH",
        &format!("{PODS}/p"),
        Some("application/merge-patch+json"),
        r#"{"metadata":{"labels":{"c":"d"}}}"#,
        PARTIAL,
    )
    .await;
    assert_eq!(code, 200);
    is_partial(&v, "p");
    assert_eq!(v["metadata"]["labels"], json!({"a": "b", "c": "d"}));
    let cm = json!({"metadata": {"name": "cm"}, "data": {"k": "v"}}).to_string();
    let (code, v) =
        with_accept(&s, "POST", "/api/v1/namespaces/default/configmaps", Some("application/json"), &cm, PARTIAL).await;
    assert_eq!(code, 201);
    is_partial(&v, "cm");
    // A delete that answers a Status keeps it; one that answers the object gives its metadata.
    let (code, v) = with_accept(&s, "DELETE", "/api/v1/namespaces/default/configmaps/cm", None, "", PARTIAL).await;
    assert_eq!((code, v["kind"].as_str(), v["status"].as_str()), (200, Some("Status"), Some("Success")));
    let (code, v) = with_accept(&s, "DELETE", &format!("{PODS}/p"), None, "", PARTIAL).await;
    assert_eq!(code, 200);
    is_partial(&v, "p");
    // Errors stay Status.
    let (code, v) = with_accept(&s, "GET", &format!("{PODS}/gone"), None, "", PARTIAL).await;
    assert_eq!((code, v["kind"].as_str()), (404, Some("Status")));

    // The client's metadata-only paths work against it.
    let api: Api<ConfigMap> = Api::namespaced(s.client(), "default");
    api.create(
        &CreateOptions::default(),
        &serde_json::from_value(json!({"metadata": {"name": "m", "labels": {"x": "y"}}})).unwrap(),
    )
    .await
    .unwrap();
    let m = api.metadata().get("m").await.unwrap();
    assert_eq!(m.metadata.labels.as_ref().and_then(|l| l.get("x")).map(String::as_str), Some("y"));
    let l = api.metadata().list(&ListOptions::default()).await.unwrap();
    assert_eq!(l.items.len(), 1);
}
