//! The embedded API server resists abuse as kube-apiserver does: bounded JSON patches, request
//! bodies and stored objects, watchers that fall behind are closed, and built-in objects must
//! decode as their kind.

mod common;
use common::*;
use rudder_apimachinery::resource::{ApiResource, Scope};
use rudder_apimachinery::schema::{GroupVersionKind, GroupVersionResource};
use rudder_apiserver::ResourceInfo;
use serde_json::{json, Value};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

/// The Status kube-apiserver sends for a JSON patch that does not apply (testdata/recorded).
const PATCH_FAILED: &str = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"the server rejected our request due to an error in our request\",\"reason\":\"Invalid\",\"details\":{},\"code\":422}\n";

#[tokio::test]
async fn json_patch_copies_and_operations_are_bounded() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let created = h.post(CMS, &json!({"metadata": {"name": "c"}, "data": {"k": "x".repeat(700)}})).await;
    assert_eq!(created.code, 201, "{}", created.body);
    let rv = created.json()["metadata"]["resourceVersion"].clone();
    // Each copy of the whole object doubles it: 13 copies would make ~6 MB from 750 bytes.
    let ops: Vec<Value> = (0..13).map(|i| json!({"op": "copy", "from": "", "path": format!("/x{i}")})).collect();
    let r = h.patch(&format!("{CMS}/c"), "application/json-patch+json", &Value::Array(ops)).await;
    assert_eq!((r.code, r.body.as_str()), (422, PATCH_FAILED));
    assert_eq!(h.get(&format!("{CMS}/c")).await.json()["metadata"]["resourceVersion"], rv, "nothing was stored");
    // A few small copies are fine.
    let ops = json!([{"op": "copy", "from": "/data/k", "path": "/data/k2"}]);
    let r = h.patch(&format!("{CMS}/c"), "application/json-patch+json", &ops).await;
    assert_eq!(r.code, 200, "{}", r.body);

    let too_many: Vec<Value> =
        (0..10_001).map(|_| json!({"op": "test", "path": "/kind", "value": "ConfigMap"})).collect();
    let r = h.patch(&format!("{CMS}/c"), "application/json-patch+json", &Value::Array(too_many)).await;
    assert_eq!(r.code, 413, "{}", r.body);
    assert_eq!(
        r.body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001\",\"reason\":\"RequestEntityTooLarge\",\"code\":413}\n"
    );
    let big = h
        .req("PATCH", &format!("{CMS}/c"), Some("application/merge-patch+json"), &"x".repeat(3 * 1024 * 1024 + 1))
        .await;
    assert_eq!(big.code, 413);
    assert_eq!(big.json()["message"], "Request entity too large: limit is 3145728");
}

#[tokio::test]
async fn objects_larger_than_etcd_accepts_are_not_stored() {
    let s = ApiServer::start().await.unwrap();
    let api = ApiResource::from_gvk(&GroupVersionKind::new("example.com", "v1", "Blob"), "blobs", Scope::Namespaced);
    s.register(ResourceInfo::new(api));
    let h = Http::new(&s);
    let blobs = "/apis/example.com/v1/namespaces/default/blobs";
    let too_large = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"etcdserver: request is too large\",\"code\":500}\n";

    let r = h.post(blobs, &json!({"metadata": {"name": "big"}, "spec": {"x": "x".repeat(1_600_000)}})).await;
    assert_eq!((r.code, r.body.as_str()), (500, too_large));
    assert_eq!(h.get(&format!("{blobs}/big")).await.code, 404);

    // Patches that grow an object past the limit fail the same way and leave it as it was.
    let r = h.post(blobs, &json!({"metadata": {"name": "b"}, "spec": {"x": "x".repeat(1_000_000)}})).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let rv = r.json()["metadata"]["resourceVersion"].clone();
    let grow = json!({"spec": {"y": "y".repeat(1_000_000)}});
    let r = h.patch(&format!("{blobs}/b"), "application/merge-patch+json", &grow).await;
    assert_eq!((r.code, r.body.as_str()), (500, too_large));
    assert_eq!(h.get(&format!("{blobs}/b")).await.json()["metadata"]["resourceVersion"], rv);
    // Just under the limit is fine.
    let r = h
        .patch(&format!("{blobs}/b"), "application/merge-patch+json", &json!({"spec": {"y": "y".repeat(500_000)}}))
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
}

#[tokio::test]
async fn a_watcher_that_falls_behind_is_closed() {
    let s = ApiServer::builder().watch_queue_limit(64).history_limit(100).start().await.unwrap();
    let h = Http::new(&s);
    let created = h.post(CMS, &json!({"metadata": {"name": "big"}, "data": {"k": "x".repeat(100_000)}})).await;
    assert_eq!(created.code, 201);
    let rv = created.json()["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    // A client that stops reading: the socket, the response body and then the watcher's queue
    // fill up.
    let mut w = h.watch(&format!("{CMS}?watch=1&resourceVersion={rv}")).await;
    assert_eq!(s.control().open_watches(), 1);
    let gvr = GroupVersionResource::new("", "v1", "configmaps");
    let mut sent = 0;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while s.control().open_watches() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the watcher was never closed after {sent} events");
        s.control().modify_many(&gvr, 50);
        sent += 50;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // The client gets what was already on its way, then the end of the stream.
    let mut received = 0;
    while let Some(ev) = w.next_within(10.0).await {
        assert_eq!(ev["type"], "MODIFIED");
        received += 1;
    }
    assert!(received < sent, "received {received} of {sent}: the stream ended early");
    // Later watchers are served as usual.
    let mut w2 = h.watch(&format!("{CMS}?watch=1&resourceVersion={}", s.control().current_resource_version())).await;
    s.control().modify_many(&gvr, 1);
    assert_eq!(w2.next().await["type"], "MODIFIED");
}

#[tokio::test]
async fn built_in_objects_must_decode_as_their_kind() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let bad = json!({"metadata": {"name": "bad"}, "data": {"k": {"a": 1}}});
    let want = "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal object into Go struct field ConfigMap.data of type string";
    let r = h.post(CMS, &bad).await;
    assert_eq!(r.code, 400, "{}", r.body);
    assert_eq!(
        r.body,
        format!("{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Failure\",\"message\":{},\"reason\":\"BadRequest\",\"code\":400}}\n", json!(want))
    );
    assert_eq!(h.get(&format!("{CMS}/bad")).await.code, 404);

    let ok = h.post(CMS, &json!({"metadata": {"name": "ok"}, "data": {"k": "v"}})).await.json();
    let mut put = ok.clone();
    put["data"]["k"] = json!(5432);
    let r = h.put(&format!("{CMS}/ok"), &put).await;
    assert_eq!(r.code, 400);
    assert_eq!(
        r.json()["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
    );

    let merge = h.patch(&format!("{CMS}/ok"), "application/merge-patch+json", &json!({"data": {"k": {"a": 1}}})).await;
    assert_eq!(merge.code, 422, "{}", merge.body);
    let st = merge.json();
    assert_eq!((st["reason"].as_str(), st["details"]["causes"][0]["field"].as_str()), (Some("Invalid"), Some("patch")));
    assert_eq!(st["details"]["causes"][0]["reason"], "FieldValueInvalid");
    let msg = st["message"].as_str().unwrap();
    assert!(msg.starts_with("\"\" is invalid: patch: Invalid value: \"{"), "{msg}");
    assert!(
        msg.ends_with("\": json: cannot unmarshal object into Go struct field ConfigMap.data of type string"),
        "{msg}"
    );
    assert_eq!(format!("\"\" is invalid: patch: {}", st["details"]["causes"][0]["message"].as_str().unwrap()), msg);

    let jp = json!([{"op": "add", "path": "/data/n", "value": true}]);
    let r = h.patch(&format!("{CMS}/ok"), "application/json-patch+json", &jp).await;
    assert_eq!(r.code, 422);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .ends_with("cannot unmarshal bool into Go struct field ConfigMap.data of type string"));

    let smp = h
        .patch(&format!("{CMS}/ok"), "application/strategic-merge-patch+json", &json!({"data": {"k": {"a": 1}}}))
        .await;
    assert_eq!(smp.code, 422);
    assert_eq!(
        smp.json()["message"],
        "\"\" is invalid: patch: Invalid value: \"map[data:map[k:map[a:1]]]\": unrecognized type: string"
    );

    let apply = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}, "data": {"k": ["x"]}});
    let r = h.patch(&format!("{CMS}/ok?fieldManager=m"), "application/apply-patch+yaml", &apply).await;
    assert_eq!(r.code, 500, "{}", r.body);
    let msg = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with(
            "failed to create typed patch object (default/ok; /v1, Kind=ConfigMap): .data.k: expected string, got "
        ),
        "{msg}"
    );
    assert_eq!(h.get(&format!("{CMS}/ok")).await.json()["data"], json!({"k": "v"}), "nothing was stored");

    let svc = json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": "http"}]}});
    let r = h.post("/api/v1/namespaces/default/services", &svc).await;
    assert_eq!(
        r.json()["message"],
        "Service in version \"v1\" cannot be handled as a Service: json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32"
    );
    // What Go accepts still passes: numbers for quantities, nulls, unknown fields.
    let pod = json!({"metadata": {"name": "p", "labels": null}, "spec": {"containers": [{"name": "c", "image": "i",
        "resources": {"limits": {"cpu": 1}}}], "somethingNew": {"x": 1}}});
    let r = h.post("/api/v1/namespaces/default/pods", &pod).await;
    assert_eq!(r.code, 201, "{}", r.body);
}
