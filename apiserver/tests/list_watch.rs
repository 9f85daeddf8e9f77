//! The embedded API server over real sockets: list (paging, resourceVersion rules, 410s) and
//! watch (replay, bookmarks, initial events, compaction, timeouts), plus fault injection.

mod common;
use common::*;
use serde_json::json;
use std::time::Duration;

const CMS: &str = "/api/v1/namespaces/default/configmaps";

async fn five(h: &Http) {
    for i in 0..5 {
        assert_eq!(h.post(CMS, &cm(&format!("item{i}"), json!({"i": i.to_string()}))).await.code, 201);
    }
}

#[tokio::test]
async fn paginated_list_is_a_consistent_snapshot() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    five(&h).await;
    let p1 = h.get(&format!("{CMS}?limit=2")).await.json();
    assert_eq!(p1["kind"], "ConfigMapList");
    assert!(p1["items"][0].get("kind").is_none(), "built-in list items carry no kind");
    let rv = p1["metadata"]["resourceVersion"].clone();
    assert_eq!(p1["metadata"]["remainingItemCount"], 3);
    let token = p1["metadata"]["continue"].as_str().unwrap().to_string();
    use base64::Engine;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&token).unwrap();
    let rv_s = rv.as_str().unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        format!("{{\"v\":\"meta.k8s.io/v1\",\"rv\":{rv_s},\"start\":\"item1\\u0000\"}}")
    );
    // A change between pages is not visible in later pages.
    h.delete(&format!("{CMS}/item3")).await;
    let p2 = h.get(&format!("{CMS}?limit=2&continue={token}")).await.json();
    assert_eq!(p2["metadata"]["resourceVersion"], rv);
    let names: Vec<&str> =
        p2["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["item2", "item3"]);
    assert_eq!(p2["metadata"]["remainingItemCount"], 1);
    let t2 = p2["metadata"]["continue"].as_str().unwrap();
    let p3 = h.get(&format!("{CMS}?limit=2&continue={t2}")).await.json();
    assert_eq!(p3["items"].as_array().unwrap().len(), 1);
    assert!(p3["metadata"].get("continue").is_none());
    assert!(p3["metadata"].get("remainingItemCount").is_none());

    let bad = h.get(&format!("{CMS}?limit=2&continue=garbage!")).await;
    assert_eq!(bad.code, 400);
    assert!(bad.json()["message"].as_str().unwrap().starts_with("invalid continue token: "));
    let both = h.get(&format!("{CMS}?continue={token}&resourceVersion=3")).await;
    assert_eq!(both.json()["message"], "specifying resource version is not allowed when using continue");

    // After compaction the token expires, with a fresh token that continues at the latest state.
    s.control().compact();
    let gone = h.get(&format!("{CMS}?limit=2&continue={token}")).await;
    assert_eq!(gone.code, 410);
    let g = gone.json();
    assert_eq!(g["reason"], "Expired");
    let fresh = g["metadata"]["continue"].as_str().unwrap();
    let raw = String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(fresh).unwrap()).unwrap();
    assert!(raw.contains("\"rv\":-1"), "{raw}");
    let rest = h.get(&format!("{CMS}?limit=10&continue={fresh}")).await.json();
    assert_eq!(rest["items"].as_array().unwrap().len(), 2, "item2 and item4 remain");
}

#[tokio::test]
async fn list_resource_version_rules() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    five(&h).await;
    let old_rv = s.control().current_resource_version();
    h.patch(&format!("{CMS}/item0"), "application/merge-patch+json", &json!({"data":{"k":"changed"}})).await;
    // RV=0: served from the cache, limit ignored.
    let any = h.get(&format!("{CMS}?resourceVersion=0&limit=2")).await.json();
    assert_eq!(any["items"].as_array().unwrap().len(), 5);
    assert!(any["metadata"].get("continue").is_none());
    // Exact: the historical state.
    let exact = h.get(&format!("{CMS}?resourceVersion={old_rv}&resourceVersionMatch=Exact")).await.json();
    assert_eq!(exact["metadata"]["resourceVersion"], old_rv.to_string());
    assert_eq!(exact["items"][0]["data"]["k"], "v");
    let not_older = h.get(&format!("{CMS}?resourceVersion={old_rv}&resourceVersionMatch=NotOlderThan")).await.json();
    assert_eq!(not_older["items"][0]["data"]["k"], "changed");
    // Validation.
    let r = h.get(&format!("{CMS}?resourceVersion=0&resourceVersionMatch=Exact")).await;
    assert_eq!(r.code, 422);
    assert_eq!(r.json()["message"], "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"");
    assert_eq!(h.get(&format!("{CMS}?resourceVersionMatch=Exact")).await.code, 422);
    assert_eq!(h.get(&format!("{CMS}?resourceVersion=1&resourceVersionMatch=Bogus")).await.code, 422);
    let abc = h.get(&format!("{CMS}?resourceVersion=abc")).await;
    assert_eq!(abc.code, 500);
    assert_eq!(
        abc.json()["message"],
        "resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": invalid syntax"
    );
    let future = h.get(&format!("{CMS}?resourceVersion=999999999")).await;
    assert_eq!(future.code, 504);
    assert_eq!(future.headers["retry-after"], "1");
    assert!(future.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("Timeout: Too large resource version: 999999999, current: "));
    let future_exact = h.get(&format!("{CMS}?resourceVersion=999999999&resourceVersionMatch=Exact")).await;
    assert_eq!(future_exact.code, 500);
    s.control().compact();
    let compacted = h.get(&format!("{CMS}?resourceVersion={old_rv}&resourceVersionMatch=Exact")).await;
    assert_eq!(compacted.code, 410);
    assert_eq!(compacted.json()["message"], "The resourceVersion for the provided list is too old.");
    // Field selectors: only known fields.
    let unknown = h.get(&format!("{CMS}?fieldSelector=")).await;
    assert_eq!(unknown.code, 200);
    // Metadata-only lists.
    let r = h.raw("GET", CMS, None, "").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn partial_object_metadata_lists_and_gets() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    five(&h).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let req = http::Request::get(format!("{}{CMS}", h.base))
        .header("accept", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    use http_body_util::BodyExt;
    let body = client.request(req).await.unwrap().into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["kind"], "PartialObjectMetadataList");
    assert_eq!(v["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(v["items"][0]["kind"], "PartialObjectMetadata");
    assert!(v["items"][0].get("data").is_none());
    assert_eq!(v["items"][0]["metadata"]["name"], "item0");
}

#[tokio::test]
async fn watch_replays_from_a_resource_version_and_streams_live() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    h.post(CMS, &cm("before", json!({}))).await;
    let rv = s.control().current_resource_version();
    h.post(CMS, &cm("w1", json!({}))).await;
    let mut w = h.watch(&format!("{CMS}?watch=true&resourceVersion={rv}")).await;
    let e = w.next().await;
    assert_eq!(e["type"], "ADDED");
    assert_eq!(e["object"]["metadata"]["name"], "w1");
    assert_eq!(e["object"]["kind"], "ConfigMap");
    h.patch(&format!("{CMS}/w1"), "application/merge-patch+json", &json!({"metadata":{"labels":{"step":"2"}}})).await;
    let e = w.next().await;
    assert_eq!(e["type"], "MODIFIED");
    assert_eq!(e["object"]["metadata"]["labels"]["step"], "2");
    h.delete(&format!("{CMS}/w1")).await;
    let e = w.next().await;
    assert_eq!(e["type"], "DELETED");
    let deleted_rv: u64 = e["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert_eq!(deleted_rv, s.control().current_resource_version());
    // Other namespaces are not seen.
    h.post("/api/v1/namespaces/kube-system/configmaps", &cm("elsewhere", json!({}))).await;
    w.quiet(0.2).await;
    assert_eq!(s.control().request_count("watch", "configmaps"), 1);
}

#[tokio::test]
async fn watch_without_rv_sends_synthetic_adds_and_ends_at_timeout() {
    let s = ApiServer::builder().bookmark_interval(Duration::from_millis(150)).start().await.unwrap();
    let h = Http::new(&s);
    h.post(CMS, &cm("a", json!({}))).await;
    h.post(CMS, &cm("b", json!({}))).await;
    let mut w = h.watch("/api/v1/watch/namespaces/default/configmaps?allowWatchBookmarks=true&timeoutSeconds=1").await;
    assert_eq!(w.next().await["type"], "ADDED");
    assert_eq!(w.next().await["type"], "ADDED");
    let b = w.next().await;
    assert_eq!(b["type"], "BOOKMARK");
    assert_eq!(b["object"]["metadata"]["creationTimestamp"], serde_json::Value::Null);
    assert_eq!(b["object"]["metadata"]["resourceVersion"], s.control().current_resource_version().to_string());
    // The stream ends cleanly at the timeout.
    let mut n = 0;
    while let Some(e) = w.next_within(3.0).await {
        assert_eq!(e["type"], "BOOKMARK");
        n += 1;
    }
    assert!(n >= 2, "periodic bookmarks");
}

#[tokio::test]
async fn pod_bookmarks_have_zero_valued_spec() {
    let s = ApiServer::builder().bookmark_interval(Duration::from_millis(50)).start().await.unwrap();
    let h = Http::new(&s);
    let mut w = h.watch("/api/v1/namespaces/default/pods?watch=1&allowWatchBookmarks=true&resourceVersion=1").await;
    let b = w.next().await;
    let expected = json!({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":s.control().current_resource_version().to_string(),"creationTimestamp":null},"spec":{"containers":null},"status":{}}});
    assert_eq!(b, expected);
}

#[tokio::test]
async fn streaming_list_ends_initial_events_with_an_annotated_bookmark() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    h.post(CMS, &cm("a", json!({}))).await;
    let mut w = h
        .watch(&format!(
            "{CMS}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
        ))
        .await;
    assert_eq!(w.next().await["type"], "ADDED");
    let b = w.next().await;
    assert_eq!(b["type"], "BOOKMARK");
    assert_eq!(b["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
    let r = h.get(&format!("{CMS}?watch=1&resourceVersion=1&resourceVersionMatch=NotOlderThan")).await;
    assert_eq!(r.code, 422);
    assert_eq!(r.json()["message"], "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch");
}

#[tokio::test]
async fn watch_from_a_compacted_rv_gets_410_error_event() {
    let s = ApiServer::builder().history_limit(2).start().await.unwrap();
    let h = Http::new(&s);
    for i in 0..4 {
        h.post(CMS, &cm(&format!("c{i}"), json!({}))).await;
    }
    let mut w = h.watch(&format!("{CMS}?watch=1&resourceVersion=2")).await;
    let e = w.next().await;
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["code"], 410);
    assert_eq!(e["object"]["reason"], "Expired");
    assert!(e["object"]["message"].as_str().unwrap().starts_with("too old resource version: 2 ("));
    assert!(w.next_within(2.0).await.is_none(), "the stream ends after the error");
}

#[tokio::test]
async fn faults_drop_watches_and_counters() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let c = s.control();
    c.throttle_next(1, "list", "configmaps", 3);
    let r = h.get(CMS).await;
    assert_eq!(r.code, 429);
    assert_eq!(r.headers["retry-after"], "3");
    assert_eq!(r.json()["details"]["retryAfterSeconds"], 3);
    assert_eq!(h.get(CMS).await.code, 200);
    c.fail_next(2, "*", "configmaps", 500);
    assert_eq!(h.get(CMS).await.code, 500);
    assert_eq!(h.post(CMS, &cm("x", json!({}))).await.code, 500);
    assert_eq!(h.post(CMS, &cm("x", json!({}))).await.code, 201);
    c.fail_next(1, "watch", "configmaps", 410);
    let mut w = h.watch(&format!("{CMS}?watch=1")).await;
    assert_eq!(w.next().await["type"], "ERROR");
    assert_eq!(c.request_count("list", "configmaps"), 3);
    assert_eq!(c.request_count("create", "configmaps"), 2);

    let mut w = h.watch(&format!("{CMS}?watch=1&resourceVersion={}", c.current_resource_version())).await;
    c.stall_watches();
    h.post(CMS, &cm("y", json!({}))).await;
    w.quiet(0.2).await;
    c.release_watches();
    assert_eq!(w.next().await["object"]["metadata"]["name"], "y");
    c.drop_watches();
    assert!(w.next_within(2.0).await.is_none());
    let mut w = h.watch(&format!("{CMS}?watch=1&resourceVersion={}", c.current_resource_version())).await;
    c.restart();
    assert!(w.next_within(2.0).await.is_none());
    // Data survives a restart, on the same port.
    assert_eq!(h.get(&format!("{CMS}/y")).await.code, 200);
    c.set_latency(Duration::from_millis(100));
    let t = std::time::Instant::now();
    h.get(CMS).await;
    assert!(t.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn bulk_helpers_and_subresources() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let c = s.control();
    let gvr = rudder_client::apimachinery::schema::GroupVersionResource::new("", "v1", "pods");
    let pods: Vec<_> = (0..50)
        .map(|i| json!({"metadata":{"name":format!("p{i}"),"namespace":"default"},"spec":{"containers":[{"name":"c","image":"i"}]}}))
        .collect();
    let rv = c.insert_many(&gvr, pods);
    let mut w = h.watch(&format!("/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}")).await;
    c.modify_many(&gvr, 3);
    for _ in 0..3 {
        assert_eq!(w.next().await["type"], "MODIFIED");
    }
    assert_eq!(c.objects(&gvr).len(), 50);
    assert_eq!(c.objects(&gvr)[0]["kind"], "Pod");
    // Binding.
    let b = h
        .post(
            "/api/v1/namespaces/default/pods/p1/binding",
            &json!({"apiVersion":"v1","kind":"Binding","metadata":{"name":"p1"},"target":{"kind":"Node","name":"n1"}}),
        )
        .await;
    assert_eq!(b.code, 201, "{}", b.body);
    assert_eq!(h.get("/api/v1/namespaces/default/pods/p1").await.json()["spec"]["nodeName"], "n1");
    let again = h.post("/api/v1/namespaces/default/pods/p1/binding", &json!({"target":{"name":"n2"}})).await;
    assert_eq!(again.code, 409);
    // Eviction deletes.
    let e = h
        .post(
            "/api/v1/namespaces/default/pods/p2/eviction",
            &json!({"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"p2"}}),
        )
        .await;
    assert_eq!(e.code, 201);
    assert_eq!(h.get("/api/v1/namespaces/default/pods/p2").await.code, 404);
    // Graceful pod deletion returns the pod.
    let d = h.delete("/api/v1/namespaces/default/pods/p1").await.json();
    assert_eq!(d["kind"], "Pod");
    assert!(d["metadata"]["deletionTimestamp"].is_string());
    // Logs.
    let l = h.get("/api/v1/namespaces/default/pods/p3/log?tailLines=2").await;
    assert_eq!(l.body.lines().count(), 2);
    let follow = h.raw("GET", "/api/v1/namespaces/default/pods/p3/log?follow=true&tailLines=0", None, "").await;
    let mut body = follow.into_body();
    use http_body_util::BodyExt;
    let first = tokio::time::timeout(Duration::from_secs(2), body.frame()).await.unwrap().unwrap().unwrap();
    assert!(String::from_utf8_lossy(first.data_ref().unwrap()).starts_with("log line 10 from p3/c"));
    // drop_watches() ends followed logs too (the body ends cleanly).
    s.control().drop_watches();
    let ended = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(f) = body.frame().await {
            f.unwrap();
        }
    })
    .await;
    assert!(ended.is_ok(), "the followed log did not end after drop_watches()");
    // Scale.
    let deps = "/apis/apps/v1/namespaces/default/deployments";
    h.post(
        deps,
        &json!({"metadata":{"name":"d"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"d"}},"template":{}}}),
    )
    .await;
    let sc = h.get(&format!("{deps}/d/scale")).await.json();
    assert_eq!(sc["kind"], "Scale");
    assert_eq!(sc["spec"]["replicas"], 1);
    assert_eq!(sc["status"]["selector"], "app=d");
    let p = h.patch(&format!("{deps}/d/scale"), "application/merge-patch+json", &json!({"spec":{"replicas":4}})).await;
    assert_eq!(p.json()["spec"]["replicas"], 4);
    assert_eq!(h.get(&format!("{deps}/d")).await.json()["spec"]["replicas"], 4);
}
