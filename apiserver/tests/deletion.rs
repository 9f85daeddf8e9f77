//! Graceful deletion of pods and namespace termination, over real sockets.
//!
//! No recording covers these; the real server's source does: `rest.BeforeDelete` (a DELETE of
//! a pod already being deleted may only shorten its grace period), the pod strategy's
//! `CheckGracefulDelete` (grace = request, else `spec.terminationGracePeriodSeconds`; 0 for
//! unbound or finished pods), `Store.Delete` (the pod is updated with `deletionTimestamp` and
//! `deletionGracePeriodSeconds`, then removed at once only when the grace period is 0),
//! `ShouldDeleteDuringUpdate` (removing the last finalizer removes the object only once its
//! grace period is 0), the namespace registry's `Delete`, the NamespaceLifecycle admission
//! plugin and the namespace controller's conditions.

mod common;
use common::*;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";

fn pod(name: &str, node: Option<&str>, extra_spec: Value) -> Value {
    let mut p =
        json!({"metadata":{"name":name,"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i"}]}});
    if let Some(n) = node {
        p["spec"]["nodeName"] = json!(n);
    }
    if let (Some(spec), Value::Object(extra)) = (p["spec"].as_object_mut(), extra_spec) {
        spec.extend(extra);
    }
    p
}

fn time(v: &Value) -> jiff::Timestamp {
    v.as_str().unwrap().parse().unwrap()
}

async fn create(h: &Http, path: &str, body: &Value) -> Value {
    let r = h.post(path, body).await;
    assert_eq!(r.code, 201, "{}", r.body);
    r.json()
}

#[tokio::test]
async fn a_bound_pod_stays_terminating_until_its_kubelet_confirms() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let created = create(&h, PODS, &pod("p", Some("n1"), json!({}))).await;
    let rv = created["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let mut w = h.watch(&format!("{PODS}?watch=1&resourceVersion={rv}")).await;
    let before = jiff::Timestamp::now();
    let r = h.delete(&format!("{PODS}/p")).await;
    assert_eq!(r.code, 200, "{}", r.body);
    let d = r.json();
    assert_eq!(d["kind"], "Pod", "a pod DELETE answers the pod");
    assert_eq!(d["metadata"]["deletionGracePeriodSeconds"], 30, "the defaulted terminationGracePeriodSeconds");
    let deadline = time(&d["metadata"]["deletionTimestamp"]);
    let ahead = deadline.as_second() - before.as_second();
    assert!((29..=31).contains(&ahead), "deletionTimestamp is now + grace: {ahead}s ahead");
    assert_eq!(d["metadata"]["generation"], created["metadata"]["generation"].as_i64().unwrap() + 1);
    let e = w.next().await;
    assert_eq!(e["type"], "MODIFIED");
    assert_eq!(e["object"]["metadata"]["deletionGracePeriodSeconds"], 30);
    assert_eq!(h.get(&format!("{PODS}/p")).await.code, 200, "the pod stays");

    // A longer grace period, or none, changes nothing; a shorter one moves the deadline.
    let same = h.delete(&format!("{PODS}/p?gracePeriodSeconds=60")).await.json();
    assert_eq!(same["metadata"]["resourceVersion"], d["metadata"]["resourceVersion"]);
    let same = h.delete(&format!("{PODS}/p")).await.json();
    assert_eq!(same["metadata"]["resourceVersion"], d["metadata"]["resourceVersion"]);
    let shorter = h.delete(&format!("{PODS}/p?gracePeriodSeconds=10")).await.json();
    assert_eq!(shorter["metadata"]["deletionGracePeriodSeconds"], 10);
    assert_eq!(deadline.as_second() - time(&shorter["metadata"]["deletionTimestamp"]).as_second(), 20);
    assert_eq!(w.next().await["type"], "MODIFIED");

    // The kubelet's confirmation removes it.
    assert!(s.control().finish_deletion("default", "p"));
    assert_eq!(h.get(&format!("{PODS}/p")).await.code, 404);
    let e = w.next().await;
    assert_eq!(
        (e["type"].as_str(), &e["object"]["metadata"]["deletionGracePeriodSeconds"]),
        (Some("MODIFIED"), &json!(0))
    );
    assert_eq!(w.next().await["type"], "DELETED");
    assert!(!s.control().finish_deletion("default", "p"), "nothing left to confirm");
}

#[tokio::test]
async fn grace_zero_unbound_and_finished_pods_go_at_once() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    create(&h, PODS, &pod("forced", Some("n1"), json!({}))).await;
    create(&h, PODS, &pod("unbound", None, json!({}))).await;
    let done = create(&h, PODS, &pod("done", Some("n1"), json!({}))).await;
    let mut finished = done.clone();
    finished["status"] = json!({"phase": "Succeeded"});
    let r = h.put(&format!("{PODS}/done/status"), &finished).await;
    assert_eq!(r.code, 200, "{}", r.body);
    let rv = s.control().current_resource_version();
    let mut w = h.watch(&format!("{PODS}?watch=1&resourceVersion={rv}")).await;
    for (name, query) in [("forced", "?gracePeriodSeconds=0"), ("unbound", ""), ("done", "")] {
        let r = h.delete(&format!("{PODS}/{name}{query}")).await;
        assert_eq!(r.code, 200, "{}", r.body);
        assert_eq!(r.json()["metadata"]["deletionGracePeriodSeconds"], 0, "{name}");
        assert_eq!(h.get(&format!("{PODS}/{name}")).await.code, 404, "{name} is gone at once");
        // The update with the deletion timestamp, then the removal.
        let m = w.next().await;
        assert_eq!((m["type"].as_str(), m["object"]["metadata"]["name"].as_str()), (Some("MODIFIED"), Some(name)));
        assert_eq!(w.next().await["type"], "DELETED", "{name}");
    }
}

#[tokio::test]
async fn finalizers_hold_a_pod_after_its_grace_period() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let mut p = pod("held", Some("n1"), json!({}));
    p["metadata"]["finalizers"] = json!(["example.com/hold"]);
    create(&h, PODS, &p).await;
    create(&h, PODS, &pod("other", Some("n1"), json!({}))).await;
    h.delete(&format!("{PODS}/held")).await;
    h.delete(&format!("{PODS}/other")).await;
    // Dropping the finalizer during the grace period does not remove the pod.
    let merge = "application/merge-patch+json";
    let r = h.patch(&format!("{PODS}/held"), merge, &json!({"metadata":{"finalizers":null}})).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(h.get(&format!("{PODS}/held")).await.code, 200, "the grace period is not over");
    let r = h.patch(&format!("{PODS}/held"), merge, &json!({"metadata":{"finalizers":["example.com/hold"]}})).await;
    assert_eq!(r.code, 422, "no new finalizers on an object being deleted: {}", r.body);
    let mut q = pod("held2", Some("n1"), json!({}));
    q["metadata"]["finalizers"] = json!(["example.com/hold"]);
    create(&h, PODS, &q).await;
    h.delete(&format!("{PODS}/held2")).await;

    assert_eq!(s.control().finish_all_deletions(), 3);
    assert_eq!(h.get(&format!("{PODS}/other")).await.code, 404);
    assert_eq!(h.get(&format!("{PODS}/held")).await.code, 404, "no finalizer left");
    let held = h.get(&format!("{PODS}/held2")).await.json();
    assert_eq!(held["metadata"]["deletionGracePeriodSeconds"], 0, "confirmed, but the finalizer holds it");
    let r = h.patch(&format!("{PODS}/held2"), merge, &json!({"metadata":{"finalizers":null}})).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(h.get(&format!("{PODS}/held2")).await.code, 404);
}

#[tokio::test]
async fn deletions_can_finish_by_themselves_after_the_grace_period() {
    let s = ApiServer::builder().finish_deletions_after_grace().start().await.unwrap();
    let h = Http::new(&s);
    create(&h, PODS, &pod("quick", Some("n1"), json!({"terminationGracePeriodSeconds": 1}))).await;
    create(&h, PODS, &pod("slow", Some("n1"), json!({"terminationGracePeriodSeconds": 600}))).await;
    h.delete(&format!("{PODS}/quick")).await;
    h.delete(&format!("{PODS}/slow")).await;
    assert_eq!(h.get(&format!("{PODS}/quick")).await.code, 200, "still in its grace period");
    let t = std::time::Instant::now();
    while h.get(&format!("{PODS}/quick")).await.code != 404 {
        assert!(t.elapsed() < std::time::Duration::from_secs(5), "the 1 s grace period never ended");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(h.get(&format!("{PODS}/slow")).await.code, 200);
}

#[tokio::test]
async fn a_namespace_terminates_its_contents_then_goes() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let ns = create(&h, "/api/v1/namespaces", &json!({"metadata":{"name":"doomed"}})).await;
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    let base = "/api/v1/namespaces/doomed";
    create(&h, &format!("{base}/configmaps"), &json!({"metadata":{"name":"plain"},"data":{}})).await;
    create(
        &h,
        &format!("{base}/configmaps"),
        &json!({"metadata":{"name":"held","finalizers":["example.com/hold"]},"data":{}}),
    )
    .await;
    create(&h, &format!("{base}/pods"), &pod("bound", Some("n1"), json!({}))).await;

    let r = h.delete(base).await;
    assert_eq!(r.code, 200, "{}", r.body);
    let d = r.json();
    assert_eq!(d["kind"], "Namespace");
    assert_eq!(d["status"]["phase"], "Terminating");
    assert!(d["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(d["spec"]["finalizers"], json!(["kubernetes"]));

    assert_eq!(h.get(&format!("{base}/configmaps/plain")).await.code, 404);
    assert!(h.get(&format!("{base}/configmaps/held")).await.json()["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(h.get(&format!("{base}/pods/bound")).await.json()["metadata"]["deletionGracePeriodSeconds"], 30);
    let now = h.get(base).await.json();
    let conditions: Vec<(String, String, String, String)> = now["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let f = |k: &str| c[k].as_str().unwrap().to_string();
            (f("type"), f("status"), f("reason"), f("message"))
        })
        .collect();
    let want = [
        ("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered", "All resources successfully discovered"),
        (
            "NamespaceDeletionGroupVersionParsingFailure",
            "False",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        (
            "NamespaceDeletionContentFailure",
            "False",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        (
            "NamespaceContentRemaining",
            "True",
            "SomeResourcesRemain",
            "Some resources are remaining: configmaps. has 1 resource instances, pods. has 1 resource instances",
        ),
        (
            "NamespaceFinalizersRemaining",
            "True",
            "SomeFinalizerRemain",
            "Some finalizers are remaining: example.com/hold in 1 resource instances",
        ),
    ]
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()));
    assert_eq!(conditions, want);

    // Nothing new may be created while it terminates.
    let refused = h.post(&format!("{base}/configmaps"), &json!({"metadata":{"name":"late"},"data":{}})).await;
    assert_eq!(refused.code, 403);
    assert_eq!(
        refused.json(),
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"configmaps \"late\" is forbidden: unable to create new content in namespace doomed because it is being terminated",
            "reason":"Forbidden","details":{"name":"late","kind":"configmaps","causes":[{"reason":"NamespaceTerminating",
            "message":"namespace doomed is being terminated","field":"metadata.namespace"}]},"code":403})
    );
    let again = h.delete(base).await;
    assert_eq!((again.code, again.json()["status"]["phase"].as_str()), (200, Some("Terminating")));

    assert!(s.control().finish_deletion("doomed", "bound"));
    assert_eq!(h.get(base).await.code, 200, "the held ConfigMap keeps the namespace");
    let r = h
        .patch(
            &format!("{base}/configmaps/held"),
            "application/merge-patch+json",
            &json!({"metadata":{"finalizers":null}}),
        )
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(h.get(base).await.code, 404, "empty: finalized and removed");
}

#[tokio::test]
async fn system_namespaces_cannot_be_deleted() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let r = h.delete("/api/v1/namespaces/default").await;
    assert_eq!(r.code, 403);
    assert_eq!(
        r.json(),
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"namespaces \"default\" is forbidden: this namespace may not be deleted","reason":"Forbidden",
            "details":{"name":"default","kind":"namespaces"},"code":403})
    );
}
