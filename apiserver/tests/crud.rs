//! The embedded API server over real sockets: create/get/update/patch/delete and their errors.

mod common;
use common::*;
use serde_json::json;

const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn create_get_and_errors() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let r = h.post(CMS, &cm("a", json!({"app":"x"}))).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["cache-control"], "no-cache, private");
    assert!(r.headers.contains_key("audit-id"));
    assert!(r.body.ends_with("}\n"));
    let o = r.json();
    assert_eq!(o["kind"], "ConfigMap");
    assert_eq!(o["apiVersion"], "v1");
    assert_eq!(o["metadata"]["namespace"], "default");
    assert_eq!(o["metadata"]["uid"].as_str().unwrap().len(), 36);
    assert_eq!(o["metadata"]["managedFields"][0]["manager"], "rudder-test");
    assert_eq!(o["metadata"]["managedFields"][0]["operation"], "Update");
    let rv: u64 = o["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert_eq!(rv, s.control().current_resource_version());

    let g = h.get(&format!("{CMS}/a")).await;
    assert_eq!(g.code, 200);
    assert_eq!(g.json(), o);

    let dup = h.post(CMS, &cm("a", json!({}))).await;
    assert_eq!(dup.code, 409);
    assert_eq!(
        dup.body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"configmaps \\\"a\\\" already exists\",\"reason\":\"AlreadyExists\",\"details\":{\"name\":\"a\",\"kind\":\"configmaps\"},\"code\":409}\n"
    );
    let nf = h.get(&format!("{CMS}/nope")).await;
    assert_eq!(nf.code, 404);
    assert_eq!(nf.json()["message"], "configmaps \"nope\" not found");
    assert_eq!(nf.json()["details"], json!({"name":"nope","kind":"configmaps"}));

    let gen = h.post(CMS, &json!({"metadata":{"generateName":"gen-"}})).await;
    assert_eq!(gen.code, 201);
    let name = gen.json()["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let dry =
        h.req("POST", &format!("{CMS}?dryRun=All"), Some("application/json"), &cm("dry", json!({})).to_string()).await;
    assert_eq!(dry.code, 201);
    assert!(dry.json()["metadata"].get("resourceVersion").is_none());
    assert_eq!(h.get(&format!("{CMS}/dry")).await.code, 404);

    let bad = h.req("POST", CMS, Some("application/json"), "{not json").await;
    assert_eq!(bad.code, 400);
    assert!(bad.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("the object provided is unrecognized (must be of type ConfigMap)"));
    let wrong_ns = h.post(CMS, &json!({"metadata":{"name":"x","namespace":"other"}})).await;
    assert_eq!(wrong_ns.code, 400);
    let no_ns = h.post("/api/v1/namespaces/missing/configmaps", &cm("x", json!({}))).await;
    assert_eq!(no_ns.code, 404);
    assert_eq!(no_ns.json()["message"], "namespaces \"missing\" not found");
    let ct = h.req("POST", CMS, Some("text/csv"), "a,b").await;
    assert_eq!(ct.code, 415);
    let unnamed = h.post(CMS, &json!({"metadata":{}})).await;
    assert_eq!(unnamed.code, 422);
    let big = h.req("POST", CMS, Some("application/json"), &"x".repeat(3 * 1024 * 1024 + 10)).await;
    assert_eq!(big.code, 413);
    assert_eq!(h.get("/api/v1/namespaces/default/nothings").await.code, 404);
    let health = h.get("/healthz").await;
    assert_eq!((health.code, health.body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn update_patch_and_conflicts() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let o = h.post(CMS, &cm("u", json!({"a":"1"}))).await.json();
    let rv = o["metadata"]["resourceVersion"].as_str().unwrap().to_string();

    let mut next = o.clone();
    next["data"]["k"] = json!("v2");
    let r = h.put(&format!("{CMS}/u"), &next).await;
    assert_eq!(r.code, 200, "{}", r.body);
    let updated = r.json();
    assert_ne!(updated["metadata"]["resourceVersion"], json!(rv));
    assert_eq!(updated["metadata"]["uid"], o["metadata"]["uid"]);

    // Stale resourceVersion.
    let stale = h.put(&format!("{CMS}/u"), &next).await;
    assert_eq!(stale.code, 409);
    assert_eq!(
        stale.json()["message"],
        "Operation cannot be fulfilled on configmaps \"u\": the object has been modified; please apply your changes to the latest version and try again"
    );
    // Name mismatch.
    let mut other = updated.clone();
    other["metadata"]["name"] = json!("other");
    let mm = h.put(&format!("{CMS}/u"), &other).await;
    assert_eq!(mm.code, 400);
    assert_eq!(mm.json()["message"], "the name of the object (other) does not match the name on the URL (u)");
    // Missing object.
    assert_eq!(h.put(&format!("{CMS}/none"), &cm("none", json!({}))).await.code, 404);
    // Unchanged update: no new resourceVersion.
    let same = h.put(&format!("{CMS}/u"), &updated).await.json();
    assert_eq!(same["metadata"]["resourceVersion"], updated["metadata"]["resourceVersion"]);

    let mp = h
        .patch(&format!("{CMS}/u"), "application/merge-patch+json", &json!({"metadata":{"labels":{"a":null,"b":"2"}}}))
        .await;
    assert_eq!(mp.code, 200, "{}", mp.body);
    assert_eq!(mp.json()["metadata"]["labels"], json!({"b":"2"}));
    let smp = h.patch(&format!("{CMS}/u"), "application/strategic-merge-patch+json", &json!({"data":{"z":"9"}})).await;
    assert_eq!(smp.json()["data"], json!({"k":"v2","z":"9"}));
    let wrong = h.patch(&format!("{CMS}/u"), "application/json", &json!({})).await;
    assert_eq!(wrong.code, 415);
    assert_eq!(wrong.json()["message"], "415: Unsupported Media Type");
    let bad = h.req("PATCH", &format!("{CMS}/u"), Some("application/merge-patch+json"), "{bad").await;
    assert_eq!(bad.code, 400);
    assert!(bad.json()["message"].as_str().unwrap().starts_with("error decoding patch: "));
    let stale_patch = h
        .patch(&format!("{CMS}/u"), "application/merge-patch+json", &json!({"metadata":{"resourceVersion":"1"}}))
        .await;
    assert_eq!(stale_patch.code, 409);
    let force = h.req("PATCH", &format!("{CMS}/u?force=true"), Some("application/merge-patch+json"), "{}").await;
    assert_eq!(force.code, 422);
    assert_eq!(
        force.json()["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch"
    );
}

#[tokio::test]
async fn strategic_merge_of_pod_containers_and_status_subresource() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let pods = "/api/v1/namespaces/default/pods";
    let pod = json!({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]},
        "status":{"phase":"Running"}});
    let created = h.post(pods, &pod).await.json();
    assert_eq!(created["status"]["phase"], "Pending", "status is reset on create");
    assert_eq!(created["metadata"]["generation"], 1);
    let p = h
        .patch(
            &format!("{pods}/p"),
            "application/strategic-merge-patch+json",
            &json!({"spec":{"containers":[{"name":"a","image":"a:2"},{"name":"b","$patch":"delete"}]},"status":{"phase":"Failed"}}),
        )
        .await
        .json();
    let containers = p["spec"]["containers"].as_array().unwrap();
    assert_eq!(
        containers.iter().map(|c| (&c["name"], &c["image"])).collect::<Vec<_>>(),
        [(&json!("a"), &json!("a:2"))]
    );
    assert_eq!(containers[0]["terminationMessagePath"], "/dev/termination-log", "defaults survive the patch");
    assert_eq!(p["status"]["phase"], "Pending", "status changes are ignored on the main resource");
    assert_eq!(p["metadata"]["generation"], 2);
    let st = h
        .patch(
            &format!("{pods}/p/status"),
            "application/merge-patch+json",
            &json!({"status":{"phase":"Running"},"spec":{"nodeName":"x"}}),
        )
        .await;
    assert_eq!(st.code, 200, "{}", st.body);
    let st = st.json();
    assert_eq!(st["status"]["phase"], "Running");
    assert!(st["spec"].get("nodeName").is_none(), "spec changes are ignored on status");
    assert_eq!(st["metadata"]["generation"], 2);
    let got = h.get(&format!("{pods}/p/status")).await.json();
    assert_eq!(got["status"]["phase"], "Running");
}

#[tokio::test]
async fn delete_with_finalizers_preconditions_and_policies() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let o = h.post(CMS, &cm("d", json!({}))).await.json();
    let uid = o["metadata"]["uid"].as_str().unwrap().to_string();
    let pre = h
        .req(
            "DELETE",
            &format!("{CMS}/d"),
            Some("application/json"),
            &json!({"preconditions":{"uid":"nope"}}).to_string(),
        )
        .await;
    assert_eq!(pre.code, 409);
    assert_eq!(
        pre.json()["message"],
        format!("Operation cannot be fulfilled on ConfigMap \"d\": the UID in the precondition (nope) does not match the UID in record ({uid}). The object might have been deleted and then recreated")
    );
    let pre_rv = h.delete(&format!("{CMS}/d?preconditions.resourceVersion=1")).await;
    assert_eq!(pre_rv.code, 409);
    let bad = h.delete(&format!("{CMS}/d?propagationPolicy=Bogus")).await;
    assert_eq!(bad.code, 422);
    let dry = h.delete(&format!("{CMS}/d?dryRun=All")).await;
    assert_eq!(dry.code, 200);
    assert_eq!(h.get(&format!("{CMS}/d")).await.code, 200);
    let gone = h.delete(&format!("{CMS}/d")).await;
    assert_eq!(gone.code, 200);
    assert_eq!(
        gone.json(),
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"d","kind":"configmaps","uid":uid}})
    );
    assert_eq!(h.delete(&format!("{CMS}/d")).await.code, 404);

    // Finalizers hold the object.
    h.post(CMS, &json!({"metadata":{"name":"f","finalizers":["example.com/hold"]}})).await;
    let held = h.delete(&format!("{CMS}/f")).await;
    assert_eq!(held.code, 200);
    let held = held.json();
    assert_eq!(held["kind"], "ConfigMap");
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(held["metadata"]["deletionGracePeriodSeconds"], 0);
    let again = h.delete(&format!("{CMS}/f")).await.json();
    assert_eq!(again["metadata"]["resourceVersion"], held["metadata"]["resourceVersion"]);
    let add = h
        .patch(
            &format!("{CMS}/f"),
            "application/merge-patch+json",
            &json!({"metadata":{"finalizers":["example.com/hold","x/y"]}}),
        )
        .await;
    assert_eq!(add.code, 422);
    let last =
        h.patch(&format!("{CMS}/f"), "application/merge-patch+json", &json!({"metadata":{"finalizers":null}})).await;
    assert_eq!(last.code, 200);
    assert_eq!(h.get(&format!("{CMS}/f")).await.code, 404);

    // Foreground adds the foregroundDeletion finalizer (then the emulated GC removes it).
    h.post(CMS, &cm("fg", json!({}))).await;
    let fg = h.delete(&format!("{CMS}/fg?propagationPolicy=Foreground")).await.json();
    assert_eq!(fg["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    for _ in 0..50 {
        if h.get(&format!("{CMS}/fg")).await.code == 404 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the foreground-deleted object was never removed");
}

#[tokio::test]
async fn deletecollection_returns_the_deleted_items() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    for n in ["a", "b"] {
        h.post(CMS, &cm(n, json!({}))).await;
    }
    let r = h.delete(CMS).await;
    assert_eq!(r.code, 200);
    let l = r.json();
    assert_eq!(l["kind"], "ConfigMapList");
    assert_eq!(l["items"].as_array().unwrap().len(), 2);
    assert!(l["items"][0].get("kind").is_none());
    assert_eq!(h.get(CMS).await.json()["items"], json!([]));
    // Namespaces cannot be deleted by collection (nor does discovery offer it).
    let r = h.delete("/api/v1/namespaces").await;
    assert_eq!(r.code, 405, "{}", r.body);
    let core = h.get("/api/v1").await.json();
    let ns = core["resources"].as_array().unwrap().iter().find(|r| r["name"] == "namespaces").unwrap().clone();
    assert!(!ns["verbs"].as_array().unwrap().contains(&json!("deletecollection")), "{ns}");
    assert_eq!(h.get("/api/v1/namespaces").await.json()["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn custom_resource_definitions_serve_their_versions() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let crd = json!({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
        "metadata":{"name":"crontabs.stable.example.com"},
        "spec":{"group":"stable.example.com","scope":"Namespaced","names":{"plural":"crontabs","kind":"CronTab","singular":"crontab"},
            "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}}},{"name":"v2","served":true,"storage":false}]}});
    let r = h.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", &crd).await;
    assert_eq!(r.code, 201, "{}", r.body);
    // Accepted and established at once, as kubectl wait --for=condition=Established expects.
    let st = &r.json()["status"];
    let conds: Vec<(&str, &str)> = st["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(conds, [("NamesAccepted", "True"), ("Established", "True")]);
    assert_eq!(st["acceptedNames"]["listKind"], "CronTabList");
    assert_eq!(st["storedVersions"], json!(["v1"]));
    let path = "/apis/stable.example.com/v1/namespaces/default/crontabs";
    let c = h
        .post(
            path,
            &json!({"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"c"},"spec":{"x":1}}),
        )
        .await;
    assert_eq!(c.code, 201, "{}", c.body);
    let l = h.get(path).await.json();
    assert_eq!(l["kind"], "CronTabList");
    assert_eq!(l["items"][0]["kind"], "CronTab", "custom resource list items keep their kind");
    let v2 = h.get("/apis/stable.example.com/v2/namespaces/default/crontabs/c").await.json();
    assert_eq!(v2["apiVersion"], "stable.example.com/v2");
    // Unconditional update is refused for custom resources.
    let put = h
        .put(
            &format!("{path}/c"),
            &json!({"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"c"},"spec":{"x":2}}),
        )
        .await;
    assert_eq!(put.code, 422);
    assert_eq!(put.json()["message"], "crontabs.stable.example.com \"c\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update");
    let smp = h.patch(&format!("{path}/c"), "application/strategic-merge-patch+json", &json!({})).await;
    assert_eq!(smp.code, 415);
    let d = h.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/crontabs.stable.example.com").await;
    assert_eq!(d.code, 200);
    assert_eq!(h.get(path).await.code, 404);
}

#[tokio::test]
async fn server_side_apply_tracks_managers() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let apply = "application/apply-patch+yaml";
    let p = |m: &str, force: bool| format!("{CMS}/ssa?fieldManager={m}{}", if force { "&force=true" } else { "" });
    let cfg1 = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa","labels":{"owner":"mgr1"}},"data":{"ref":"one"}});
    let r = h.patch(&p("mgr1", false), apply, &cfg1).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let first = r.json();
    assert_eq!(first["metadata"]["managedFields"][0]["operation"], "Apply");
    let again = h.patch(&p("mgr1", false), apply, &cfg1).await;
    assert_eq!(again.code, 200);
    assert_eq!(again.json()["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"]);
    let none = h.patch(&format!("{CMS}/ssa"), apply, &cfg1).await;
    assert_eq!(none.code, 422);
    let cfg2 = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa","labels":{"owner":"mgr2"}},"data":{"ref":"two"}});
    let c = h.patch(&p("mgr2", false), apply, &cfg2).await;
    assert_eq!(c.code, 409);
    assert_eq!(
        c.json()["message"],
        "Apply failed with 2 conflicts: conflicts with \"mgr1\":\n- .data.ref\n- .metadata.labels.owner"
    );
    assert_eq!(c.json()["details"]["causes"][0]["reason"], "FieldManagerConflict");
    let f = h.patch(&p("mgr2", true), apply, &cfg2).await;
    assert_eq!(f.code, 200);
    let f = f.json();
    assert_eq!(f["data"]["ref"], "two");
    assert_eq!(f["metadata"]["managedFields"].as_array().unwrap().len(), 1);
    // mgr2 stops applying its label: it is removed.
    let cfg3 = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"ref":"two"}});
    let r3 = h.patch(&p("mgr2", false), apply, &cfg3).await.json();
    assert!(r3["metadata"].get("labels").is_none_or(|l| l.get("owner").is_none()), "{r3}");
    let wrong = h.patch(&p("mgr2", false), apply, &json!({"metadata":{"name":"ssa"}})).await;
    assert_eq!(wrong.code, 400);
}

/// `metadata.generation` as kube-apiserver's strategies keep it: only the kinds whose strategy
/// sets it (workloads, pods, custom resources ...) have one, bumped by spec changes; a
/// ConfigMap, Secret or Service never gets one, whatever changes.
#[tokio::test]
async fn only_kinds_whose_strategy_tracks_it_have_a_generation() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let merge = "application/merge-patch+json";
    for (path, body, change) in [
        (
            "/api/v1/namespaces/default/configmaps",
            json!({"metadata": {"name": "g"}, "data": {"a": "1"}}),
            json!({"data": {"a": "2"}}),
        ),
        (
            "/api/v1/namespaces/default/secrets",
            json!({"metadata": {"name": "g"}, "stringData": {"a": "1"}}),
            json!({"data": {"a": "Mg=="}}),
        ),
        (
            "/api/v1/namespaces/default/services",
            json!({"metadata": {"name": "g"}, "spec": {"ports": [{"port": 80}]}}),
            json!({"spec": {"ports": [{"port": 81}]}}),
        ),
    ] {
        let created = h.post(path, &body).await;
        assert_eq!(created.code, 201, "{}", created.body);
        assert!(created.json()["metadata"].get("generation").is_none(), "{path}: {}", created.body);
        let patched = h.patch(&format!("{path}/g"), merge, &change).await;
        assert_eq!(patched.code, 200, "{}", patched.body);
        assert!(patched.json()["metadata"].get("generation").is_none(), "{path}: {}", patched.body);
    }

    let deployments = "/apis/apps/v1/namespaces/default/deployments";
    let d = json!({"metadata": {"name": "g"}, "spec": {"selector": {"matchLabels": {"app": "g"}},
        "template": {"metadata": {"labels": {"app": "g"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    let created = h.post(deployments, &d).await;
    assert_eq!(created.code, 201, "{}", created.body);
    assert_eq!(created.json()["metadata"]["generation"], 1);
    let labelled = h.patch(&format!("{deployments}/g"), merge, &json!({"metadata": {"labels": {"x": "y"}}})).await;
    assert_eq!(labelled.json()["metadata"]["generation"], 1, "metadata changes leave it");
    let scaled = h.patch(&format!("{deployments}/g"), merge, &json!({"spec": {"replicas": 3}})).await;
    assert_eq!(scaled.json()["metadata"]["generation"], 2, "spec changes bump it");
}

/// A new object's `status` as kube-apiserver writes it: a built-in kind's strategy resets it to
/// the zero struct, which Go always writes (`{}`, a Service's `{"loadBalancer": {}}`), whatever
/// the request said; a custom resource with a status subresource starts without one.
#[tokio::test]
async fn new_objects_carry_the_status_go_writes() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let template = json!({"metadata": {"labels": {"app": "s"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    for (path, body, want) in [
        (
            "/apis/apps/v1/namespaces/default/deployments",
            json!({"metadata": {"name": "s"}, "spec": {"selector": {"matchLabels": {"app": "s"}}, "template": template},
                "status": {"replicas": 7}}),
            json!({}),
        ),
        (
            "/api/v1/namespaces/default/services",
            json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]},
                "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}),
            json!({"loadBalancer": {}}),
        ),
    ] {
        let r = h.post(path, &body).await;
        assert_eq!(r.code, 201, "{}", r.body);
        assert_eq!(r.json()["status"], want, "{path}");
        assert_eq!(h.get(&format!("{path}/s")).await.json()["status"], want, "{path}");
    }
    let cm = h.post("/api/v1/namespaces/default/configmaps", &json!({"metadata": {"name": "s"}})).await;
    assert!(cm.json().get("status").is_none(), "a ConfigMap has no status: {}", cm.body);

    let crd = json!({"metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "singular": "widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}}]}});
    let r = h.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", &crd).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let w = h
        .post(
            "/apis/example.com/v1/namespaces/default/widgets",
            &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"x": 1}}),
        )
        .await;
    assert_eq!(w.code, 201, "{}", w.body);
    assert!(w.json().get("status").is_none(), "{}", w.body);
}
