//! The embedded API server's label and field selectors (list and watch, including objects
//! moving in and out of a watch's selection) and JSON Patch, over real sockets, with the error
//! bodies of `testdata/recorded` (03c_list_selectors, 04b_watch_variants, 02b_update_patch).

mod common;
use common::*;
use serde_json::{json, Value};

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const PODS: &str = "/api/v1/namespaces/default/pods";

fn names(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_string()).collect()
}

async fn seed_items(h: &Http) {
    for i in 0..5 {
        let parity = if i % 2 == 0 { "even" } else { "odd" };
        let r = h.post(CMS, &cm(&format!("item{i}"), json!({"parity": parity, "idx": i.to_string()}))).await;
        assert_eq!(r.code, 201);
    }
    assert_eq!(h.post(CMS, &cm("bare", json!({}))).await.code, 201);
}

async fn list_names(h: &Http, query: &str) -> Vec<String> {
    let r = h.get(&format!("{CMS}?{query}")).await;
    assert_eq!(r.code, 200, "{query}: {}", r.body);
    names(&r.json())
}

#[tokio::test]
async fn list_with_label_and_field_selectors() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    seed_items(&h).await;
    assert_eq!(list_names(&h, "labelSelector=parity%3Deven").await, ["item0", "item2", "item4"]);
    assert_eq!(list_names(&h, "labelSelector=parity%3Deven%2Cidx%21%3D0").await, ["item2", "item4"]);
    assert_eq!(list_names(&h, "labelSelector=idx+in+%281%2C3%29").await, ["item1", "item3"]);
    assert_eq!(list_names(&h, "labelSelector=idx+notin+%281%2C3%29").await, ["bare", "item0", "item2", "item4"]);
    assert_eq!(list_names(&h, "labelSelector=parity").await.len(), 5);
    assert_eq!(list_names(&h, "labelSelector=%21parity").await, ["bare"]);
    assert_eq!(list_names(&h, "fieldSelector=metadata.name%3Ditem3").await, ["item3"]);
    assert_eq!(list_names(&h, "fieldSelector=metadata.namespace%3Ddefault").await.len(), 6);
    assert_eq!(list_names(&h, "fieldSelector=metadata.namespace%3Dother").await.len(), 0);
    assert_eq!(list_names(&h, "fieldSelector=metadata.name%21%3Ditem3&labelSelector=parity%3Dodd").await, ["item1"]);
    // Selectors with paging: the continue token resumes after the last match; no
    // remainingItemCount with selectors.
    let r = h.get(&format!("{CMS}?labelSelector=parity%3Deven&limit=1")).await.json();
    assert_eq!(names(&r), ["item0"]);
    assert!(r["metadata"].get("remainingItemCount").is_none(), "{r}");
    let cont = r["metadata"]["continue"].as_str().unwrap();
    assert_eq!(
        list_names(&h, &format!("labelSelector=parity%3Deven&limit=5&continue={cont}")).await,
        ["item2", "item4"]
    );
    // Cluster-wide with a namespace field selector.
    let r = h.get("/api/v1/configmaps?fieldSelector=metadata.namespace%3Ddefault,metadata.name%3Ditem0").await;
    assert_eq!(names(&r.json()), ["item0"]);
}

#[tokio::test]
async fn bad_selectors_answer_400_as_recorded() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let cases = [
        ("labelSelector=a%3D%3D%3Db", "unable to parse requirement: found '=', expected: identifier"),
        ("labelSelector=%21%21x", "unable to parse requirement: found '!', expected: identifier"),
        ("labelSelector=key%3Dval%20ue", "found 'ue', expected: ',' or 'end of string'"),
        ("labelSelector=%3D%3D", "found '==', expected: !, identifier, or 'end of string'"),
        (
            "fieldSelector=spec.reference%3Dx",
            "\"spec.reference\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
        ),
        ("fieldSelector=metadata.name%3D%3D%3Dx", "invalid field selector: unescaped character in value: 61"),
        (
            "fieldSelector=metadata.uid%3Dx",
            "\"metadata.uid\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
        ),
    ];
    for (q, msg) in cases {
        for path in [format!("{CMS}?{q}"), format!("{CMS}?watch=true&resourceVersion=0&timeoutSeconds=3&{q}")] {
            let r = h.get(&path).await;
            assert_eq!(r.code, 400, "{path}: {}", r.body);
            let expected = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":msg,"reason":"BadRequest","code":400});
            assert_eq!(r.json(), expected, "{path}");
        }
    }
    // Pods know more fields, and say so differently.
    let r = h.get(&format!("{PODS}?fieldSelector=spec.bogus%3Dx")).await;
    assert_eq!(r.code, 400);
    assert_eq!(r.json()["message"], "field label not supported: spec.bogus");
}

fn pod(name: &str, node: Option<&str>, phase: &str, scheduler: Option<&str>) -> Value {
    let mut spec = json!({"containers":[{"name":"c","image":"busybox"}]});
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    if let Some(s) = scheduler {
        spec["schedulerName"] = json!(s);
    }
    json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":name,"namespace":"default"},"spec":spec,
        "status":{"phase":phase}})
}

#[tokio::test]
async fn pod_field_selectors() {
    let s = ApiServer::start().await.unwrap();
    let gvr = rudder_client::apimachinery::schema::GroupVersionResource::new("", "v1", "pods");
    s.control().insert_many(
        &gvr,
        vec![
            pod("a", Some("n1"), "Running", None),
            pod("b", Some("n2"), "Running", Some("custom")),
            pod("c", None, "Pending", None),
            pod("d", Some("n1"), "Succeeded", Some("custom")),
        ],
    );
    let h = Http::new(&s);
    let q = |sel: &str| {
        let h = &h;
        let sel = sel.to_string();
        async move {
            let r = h.get(&format!("{PODS}?fieldSelector={sel}")).await;
            assert_eq!(r.code, 200, "{sel}: {}", r.body);
            names(&r.json())
        }
    };
    assert_eq!(q("spec.nodeName%3Dn1").await, ["a", "d"]);
    assert_eq!(q("spec.nodeName%3D").await, ["c"], "unscheduled pods have an empty nodeName");
    assert_eq!(q("spec.nodeName%21%3D").await, ["a", "b", "d"]);
    assert_eq!(q("status.phase%3DRunning").await, ["a", "b"]);
    assert_eq!(q("status.phase%21%3DRunning,status.phase%21%3DSucceeded").await, ["c"]);
    assert_eq!(q("spec.schedulerName%3Dcustom").await, ["b", "d"]);
    assert_eq!(q("spec.nodeName%3Dn1,status.phase%3DRunning").await, ["a"]);
    // The same over the realistic seed: every pod on one node and nothing else.
    s.control().insert_realistic_pods("seeded", 200);
    let all = h.get("/api/v1/namespaces/seeded/pods").await.json();
    let all = all["items"].as_array().unwrap();
    let node = all[0]["spec"]["nodeName"].as_str().unwrap();
    let expected: Vec<&str> =
        all.iter().filter(|p| p["spec"]["nodeName"] == node).map(|p| p["metadata"]["name"].as_str().unwrap()).collect();
    assert!(expected.len() > 1 && expected.len() < all.len());
    let r = h.get(&format!("/api/v1/namespaces/seeded/pods?fieldSelector=spec.nodeName%3D{node}")).await.json();
    assert_eq!(names(&r), expected);
}

#[tokio::test]
async fn watch_with_label_selector_sees_objects_enter_and_leave() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    assert_eq!(h.post(CMS, &cm("x", json!({"app":"a"}))).await.code, 201);
    assert_eq!(h.post(CMS, &cm("other", json!({"app":"b"}))).await.code, 201);
    let mut w = h.watch(&format!("{CMS}?watch=true&labelSelector=app%3Da")).await;
    let ev = w.next().await;
    assert_eq!((ev["type"].as_str(), ev["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("x")));
    let merge = "application/merge-patch+json";
    let set = |name: &str, app: &str| {
        let h = &h;
        let path = format!("{CMS}/{name}");
        let body = json!({"metadata":{"labels":{"app":app}}});
        async move { assert_eq!(h.patch(&path, "application/merge-patch+json", &body).await.code, 200) }
    };
    // Leaves the selection: DELETED carrying the new state.
    set("x", "b").await;
    let ev = w.next().await;
    assert_eq!(ev["type"], "DELETED");
    assert_eq!(ev["object"]["metadata"]["labels"]["app"], "b");
    // Changes outside the selection are not sent; entering it is ADDED.
    assert_eq!(h.patch(&format!("{CMS}/other"), merge, &json!({"data":{"k":"2"}})).await.code, 200);
    set("other", "a").await;
    let ev = w.next().await;
    assert_eq!((ev["type"].as_str(), ev["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("other")));
    // A change inside the selection is MODIFIED; deleting a non-matching object sends nothing.
    assert_eq!(h.patch(&format!("{CMS}/other"), merge, &json!({"data":{"k":"3"}})).await.code, 200);
    let ev = w.next().await;
    assert_eq!((ev["type"].as_str(), ev["object"]["data"]["k"].as_str()), (Some("MODIFIED"), Some("3")));
    assert_eq!(h.delete(&format!("{CMS}/x")).await.code, 200);
    assert_eq!(h.delete(&format!("{CMS}/other")).await.code, 200);
    let ev = w.next().await;
    assert_eq!((ev["type"].as_str(), ev["object"]["metadata"]["name"].as_str()), (Some("DELETED"), Some("other")));
    w.quiet(0.2).await;

    // Replay from a resourceVersion applies the same translation.
    let rv = s.control().current_resource_version();
    assert_eq!(h.post(CMS, &cm("y", json!({"app":"b"}))).await.code, 201);
    set("y", "a").await;
    set("y", "c").await;
    let mut w = h.watch(&format!("{CMS}?watch=true&labelSelector=app%3Da&resourceVersion={rv}")).await;
    assert_eq!(w.next().await["type"], "ADDED");
    assert_eq!(w.next().await["type"], "DELETED");
    w.quiet(0.2).await;
}

#[tokio::test]
async fn watch_with_field_selectors() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    // kubectl wait watches one object by name.
    assert_eq!(h.post(CMS, &cm("pre1", json!({}))).await.code, 201);
    assert_eq!(h.post(CMS, &cm("pre2", json!({}))).await.code, 201);
    let mut w = h.watch(&format!("{CMS}?watch=true&fieldSelector=metadata.name%3Dpre1")).await;
    assert_eq!(w.next().await["object"]["metadata"]["name"], "pre1");
    assert_eq!(h.delete(&format!("{CMS}/pre2")).await.code, 200);
    assert_eq!(h.delete(&format!("{CMS}/pre1")).await.code, 200);
    let ev = w.next().await;
    assert_eq!((ev["type"].as_str(), ev["object"]["metadata"]["name"].as_str()), (Some("DELETED"), Some("pre1")));

    // A kubelet's watch: pods bound to its node appear as ADDED when scheduled.
    let mut w = h.watch(&format!("{PODS}?watch=true&fieldSelector=spec.nodeName%3Dn1")).await;
    assert_eq!(h.post(PODS, &pod("p", None, "Pending", None)).await.code, 201);
    let binding =
        json!({"apiVersion":"v1","kind":"Binding","metadata":{"name":"p"},"target":{"kind":"Node","name":"n1"}});
    let r = h.post(&format!("{PODS}/p/binding"), &binding).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let ev = w.next().await;
    assert_eq!((ev["type"].as_str(), ev["object"]["spec"]["nodeName"].as_str()), (Some("ADDED"), Some("n1")));
    // status.phase transitions.
    let mut phase = h.watch(&format!("{PODS}?watch=true&fieldSelector=status.phase%21%3DSucceeded")).await;
    assert_eq!(phase.next().await["type"], "ADDED");
    let r = h
        .patch(&format!("{PODS}/p/status"), "application/merge-patch+json", &json!({"status":{"phase":"Succeeded"}}))
        .await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(phase.next().await["type"], "DELETED");
    assert_eq!(w.next().await["type"], "MODIFIED");
}

#[tokio::test]
async fn json_patch_applies_and_failing_test_op_is_422() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    assert_eq!(h.post(CMS, &cm("f1", json!({"app":"demo"}))).await.code, 201);
    let jp = "application/json-patch+json";
    let ok = json!([
        {"op":"replace","path":"/data/k","value":"jsonpatch"},
        {"op":"add","path":"/metadata/labels/jp","value":"yes"},
        {"op":"test","path":"/data/k","value":"jsonpatch"},
        {"op":"copy","from":"/data/k","path":"/data/k2"},
        {"op":"remove","path":"/metadata/labels/app"}
    ]);
    let r = h.patch(&format!("{CMS}/f1"), jp, &ok).await;
    assert_eq!(r.code, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["data"], json!({"k":"jsonpatch","k2":"jsonpatch"}));
    assert_eq!(v["metadata"]["labels"], json!({"jp":"yes"}));
    let rv = v["metadata"]["resourceVersion"].clone();
    let invalid = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message":"the server rejected our request due to an error in our request","reason":"Invalid","details":{},"code":422});
    for bad in [
        json!([{"op":"test","path":"/data/k","value":"WRONG"}]),
        json!([{"op":"replace","path":"/spec/nothere/x","value":1}]),
    ] {
        let r = h.patch(&format!("{CMS}/f1"), jp, &bad).await;
        assert_eq!(r.code, 422, "{}", r.body);
        assert_eq!(r.json(), invalid);
    }
    // Nothing was committed by the failures.
    assert_eq!(h.get(&format!("{CMS}/f1")).await.json()["metadata"]["resourceVersion"], rv);
}

#[tokio::test]
async fn table_responses_for_get_list_and_watch() {
    let s = ApiServer::start().await.unwrap();
    s.control().insert_realistic_pods("default", 3);
    let h = Http::new(&s);
    let table_req = |path: String| {
        let h = &h;
        async move {
            let r = h
                .get_accept(&path, "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
                .await;
            assert_eq!(r.code, 200, "{}", r.body);
            r.json()
        }
    };
    let t = table_req(PODS.to_string()).await;
    assert_eq!((t["kind"].as_str(), t["apiVersion"].as_str()), (Some("Table"), Some("meta.k8s.io/v1")));
    let cols: Vec<&str> =
        t["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(cols, ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]);
    let rows = t["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let pod = &h.get(PODS).await.json()["items"][0];
    let cells = rows[0]["cells"].as_array().unwrap();
    assert_eq!(cells[0], pod["metadata"]["name"]);
    assert_eq!(cells[2], "Running");
    assert_eq!(cells[5], pod["status"]["podIP"]);
    assert_eq!(cells[6], pod["spec"]["nodeName"]);
    assert_eq!(rows[0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(rows[0]["object"]["metadata"]["uid"], pod["metadata"]["uid"]);
    assert!(t["metadata"]["resourceVersion"].is_string());
    // One object, whole objects, other kinds.
    let name = pod["metadata"]["name"].as_str().unwrap();
    let one = table_req(format!("{PODS}/{name}?includeObject=Object")).await;
    assert_eq!(one["rows"][0]["object"]["kind"], "Pod");
    assert_eq!(one["rows"][0]["object"]["spec"], pod["spec"]);
    assert_eq!(h.post(CMS, &cm("c1", json!({}))).await.code, 201);
    let cms = table_req(CMS.to_string()).await;
    let cells = &cms["rows"][0]["cells"];
    assert_eq!((&cells[0], &cells[1]), (&json!("c1"), &json!(1)));
    assert!(cells[2].as_str().unwrap().ends_with('s'), "{cells}");
    let ns = table_req("/api/v1/namespaces".into()).await;
    assert_eq!(ns["rows"][0]["cells"][1], "Active");
    // Watch events carry one-row Tables; only the first has the column definitions.
    let mut w = h.watch_accept(&format!("{CMS}?watch=true"), "application/json;as=Table;v=v1;g=meta.k8s.io").await;
    let ev = w.next().await;
    assert_eq!((ev["type"].as_str(), ev["object"]["kind"].as_str()), (Some("ADDED"), Some("Table")));
    assert_eq!(ev["object"]["columnDefinitions"].as_array().unwrap().len(), 3);
    assert_eq!(ev["object"]["rows"][0]["cells"][0], "c1");
    assert_eq!(h.post(CMS, &cm("c2", json!({}))).await.code, 201);
    let ev = w.next().await;
    assert!(ev["object"]["columnDefinitions"].is_null(), "{ev}");
    assert_eq!(ev["object"]["rows"][0]["cells"][0], "c2");
}

#[tokio::test]
async fn bindings_check_target_kind_and_uid_and_copy_annotations() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    assert_eq!(h.post(PODS, &pod("b", None, "Pending", None)).await.code, 201);
    let bind = |meta: Value, kind: &str| json!({"apiVersion":"v1","kind":"Binding","metadata":meta,"target":{"kind":kind,"name":"n1"}});
    let r = h.post(&format!("{PODS}/b/binding"), &bind(json!({"name":"b"}), "Service")).await;
    assert_eq!(r.code, 422, "only Nodes are targets: {}", r.body);
    let r = h.post(&format!("{PODS}/b/binding"), &bind(json!({"name":"b","uid":"not-its-uid"}), "Node")).await;
    assert_eq!(r.code, 409, "a uid in the Binding is a precondition: {}", r.body);
    assert!(r.body.contains("Precondition failed: UID in precondition: not-its-uid"), "{}", r.body);
    let uid = h.get(&format!("{PODS}/b")).await.json()["metadata"]["uid"].clone();
    let meta = json!({"name":"b","uid":uid,"annotations":{"scheduler.example.com/score":"7"}});
    let r = h.post(&format!("{PODS}/b/binding"), &bind(meta, "Node")).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let p = h.get(&format!("{PODS}/b")).await.json();
    assert_eq!(p["spec"]["nodeName"], "n1");
    assert_eq!(
        p["metadata"]["annotations"]["scheduler.example.com/score"], "7",
        "the Binding's annotations are copied"
    );
}
