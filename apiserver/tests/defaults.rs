//! The embedded API server fills defaults as kube-apiserver does, and field selectors compare
//! defaulted and boolean fields as it does.

mod common;
use common::*;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";

fn names(list: &Value) -> Vec<String> {
    let mut n: Vec<String> = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn written_objects_carry_their_defaults() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    let created = h.post(PODS, &pod).await;
    assert_eq!(created.code, 201, "{}", created.body);
    let got = h.get(&format!("{PODS}/p")).await.json();
    let spec = &got["spec"];
    for (field, want) in [
        ("schedulerName", json!("default-scheduler")),
        ("restartPolicy", json!("Always")),
        ("dnsPolicy", json!("ClusterFirst")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("enableServiceLinks", json!(true)),
        ("serviceAccountName", json!("default")),
        ("securityContext", json!({})),
    ] {
        assert_eq!(spec[field], want, "spec.{field}");
    }
    assert_eq!(spec["containers"][0]["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(spec["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(got["status"], json!({"phase": "Pending", "qosClass": "BestEffort"}));

    // An update that leaves a default out gets it back; a value the client sets is kept.
    let mut next = got.clone();
    next["spec"].as_object_mut().unwrap().remove("dnsPolicy");
    next["spec"]["restartPolicy"] = json!("Never");
    let updated = h.put(&format!("{PODS}/p"), &next).await.json();
    assert_eq!(
        (updated["spec"]["dnsPolicy"].as_str(), updated["spec"]["restartPolicy"].as_str()),
        (Some("ClusterFirst"), Some("Never"))
    );

    let deploy = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}});
    let d = h.post("/apis/apps/v1/namespaces/default/deployments", &deploy).await.json();
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"], json!({"maxUnavailable": "25%", "maxSurge": "25%"}));
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");

    let svc = h
        .post(
            "/api/v1/namespaces/default/services",
            &json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}),
        )
        .await
        .json();
    let ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert_eq!(
        (svc["spec"]["type"].as_str(), svc["spec"]["ports"][0]["targetPort"].as_i64()),
        (Some("ClusterIP"), Some(80))
    );
    let mut again = svc.clone();
    again["spec"].as_object_mut().unwrap().remove("clusterIP");
    let kept = h.put("/api/v1/namespaces/default/services/s", &again).await.json();
    assert_eq!(kept["spec"]["clusterIP"], ip.as_str(), "an update keeps the allocated IP");
}

#[tokio::test]
async fn field_selectors_compare_defaults_and_booleans() {
    let s = ApiServer::start().await.unwrap();
    let h = Http::new(&s);
    let c = json!([{"name": "c", "image": "i"}]);
    assert_eq!(h.post(PODS, &json!({"metadata": {"name": "plain"}, "spec": {"containers": c}})).await.code, 201);
    let host =
        json!({"metadata": {"name": "host"}, "spec": {"containers": c, "hostNetwork": true, "restartPolicy": "Never"}});
    assert_eq!(h.post(PODS, &host).await.code, 201);
    let list = |sel: &str| {
        let path = format!("{PODS}?fieldSelector={sel}");
        let h = &h;
        async move { h.get(&path).await }
    };
    assert_eq!(names(&list("spec.schedulerName=default-scheduler").await.json()), ["host", "plain"]);
    assert_eq!(names(&list("spec.serviceAccountName=default").await.json()), ["host", "plain"]);
    assert_eq!(names(&list("spec.hostNetwork=false").await.json()), ["plain"]);
    assert_eq!(names(&list("spec.hostNetwork!=false").await.json()), ["host"]);
    assert_eq!(names(&list("spec.restartPolicy=Always").await.json()), ["plain"]);
    assert_eq!(names(&list("spec.host=").await.json()), ["host", "plain"], "spec.host is spec.nodeName");

    let nodes = "/api/v1/nodes";
    assert_eq!(h.post(nodes, &json!({"metadata": {"name": "n1"}})).await.code, 201);
    assert_eq!(h.post(nodes, &json!({"metadata": {"name": "n2"}, "spec": {"unschedulable": true}})).await.code, 201);
    assert_eq!(names(&h.get(&format!("{nodes}?fieldSelector=spec.unschedulable=false")).await.json()), ["n1"]);
    assert_eq!(names(&h.get(&format!("{nodes}?fieldSelector=spec.unschedulable=true")).await.json()), ["n2"]);

    let secrets = "/api/v1/namespaces/default/secrets";
    assert_eq!(h.post(secrets, &json!({"metadata": {"name": "s"}})).await.code, 201);
    assert_eq!(names(&h.get(&format!("{secrets}?fieldSelector=type=Opaque")).await.json()), ["s"]);
    let jobs = "/apis/batch/v1/namespaces/default/jobs";
    let job =
        json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": c, "restartPolicy": "Never"}}}});
    assert_eq!(h.post(jobs, &job).await.code, 201);
    assert_eq!(names(&h.get(&format!("{jobs}?fieldSelector=status.successful=0")).await.json()), ["j"]);
    let j = h.get(&format!("{jobs}/j")).await.json();
    let uid = j["metadata"]["uid"].as_str().unwrap();
    assert_eq!(j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"], uid);
    assert_eq!(j["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"], "j");

    // Anything else is refused as the real server words it.
    let bad = list("spec.containers=x").await;
    assert_eq!((bad.code, bad.json()["message"].as_str()), (400, Some("field label not supported: spec.containers")));
    let bad = h.get(&format!("{nodes}?fieldSelector=metadata.namespace=x")).await;
    assert_eq!(
        (bad.code, bad.json()["message"].as_str()),
        (400, Some("field label not supported: metadata.namespace"))
    );
    let bad = h.get("/api/v1/namespaces/default/configmaps?fieldSelector=data.k=v").await;
    assert_eq!(bad.code, 400);
    assert_eq!(
        bad.json()["message"],
        "\"data.k\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );

    // Watches select the same way.
    let rv = s.control().current_resource_version();
    let mut w = h.watch(&format!("{PODS}?watch=1&resourceVersion={rv}&fieldSelector=spec.hostNetwork=false")).await;
    assert_eq!(h.post(PODS, &json!({"metadata": {"name": "later"}, "spec": {"containers": c}})).await.code, 201);
    let ev = w.next().await;
    assert_eq!((ev["type"].as_str(), ev["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("later")));
}
