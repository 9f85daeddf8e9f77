//! kubectl 1.32's imperative creates against the embedded server: its typed clients send
//! built-in objects as `application/vnd.kubernetes.protobuf` (and ask for protobuf answers), so
//! each must succeed and the object must read back as kubectl meant it.
//!
//! Skips (prints "kubectl not found: skipping") when kubectl is not on PATH.

#[path = "common/kubectl.rs"]
mod kubectl;

use rudder_apiserver::ApiServer;
use rudder_client::apimachinery::schema::GroupVersionResource;
use serde_json::Value;

fn get(env: &kubectl::Env, gvr: (&str, &str, &str), ns: &str, name: &str) -> Value {
    let gvr = GroupVersionResource::new(gvr.0, gvr.1, gvr.2);
    env.server
        .control()
        .objects(&gvr)
        .into_iter()
        .find(|o| o["metadata"]["name"] == name && o["metadata"]["namespace"].as_str().unwrap_or_default() == ns)
        .unwrap_or_else(|| panic!("{gvr:?} {ns}/{name} was not stored"))
}

#[tokio::test]
async fn kubectl_imperative_creates_send_protobuf_and_succeed() {
    let Some(env) = kubectl::Env::start(ApiServer::builder()).await else { return };
    let run = |args: &'static [&'static str]| {
        let env = &env;
        async move { env.run(args, None).await.ok() }
    };

    // The request really is protobuf: kubectl -v=8 prints its request headers.
    let out = env.run(&["create", "namespace", "probe", "-v=8"], None).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stderr.contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "kubectl did not send protobuf:\n{}",
        out.stderr
    );
    assert!(out.stdout.contains("namespace/probe created"), "{}", out.stdout);
    assert_eq!(get(&env, ("", "v1", "namespaces"), "", "probe")["status"]["phase"], "Active");

    run(&["create", "configmap", "cm", "-n", "probe", "--from-literal=a=b", "--from-literal=c=d"]).await;
    let cm = get(&env, ("", "v1", "configmaps"), "probe", "cm");
    assert_eq!(cm["data"], serde_json::json!({"a": "b", "c": "d"}));

    run(&["create", "secret", "generic", "s", "-n", "probe", "--from-literal=password=hunter2"]).await;
    let secret = get(&env, ("", "v1", "secrets"), "probe", "s");
    // bytes fields travel raw in protobuf and are base64 in JSON.
    assert_eq!(secret["data"]["password"], "aHVudGVyMg==");
    assert_eq!(secret["type"], "Opaque");

    run(&["create", "deployment", "web", "-n", "probe", "--image=nginx:1.27", "--replicas=3", "--port=80"]).await;
    let d = get(&env, ("apps", "v1", "deployments"), "probe", "web");
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "web");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!((c["image"].as_str(), c["ports"][0]["containerPort"].as_i64()), (Some("nginx:1.27"), Some(80)));

    run(&["create", "service", "clusterip", "svc", "-n", "probe", "--tcp=80:8080"]).await;
    let svc = get(&env, ("", "v1", "services"), "probe", "svc");
    let port = &svc["spec"]["ports"][0];
    assert_eq!((port["port"].as_i64(), port["targetPort"].as_i64()), (Some(80), Some(8080)));
    assert_eq!(svc["spec"]["type"], "ClusterIP");

    run(&["create", "job", "once", "-n", "probe", "--image=busybox", "--", "echo", "hi"]).await;
    let job = get(&env, ("batch", "v1", "jobs"), "probe", "once");
    assert_eq!(job["spec"]["template"]["spec"]["containers"][0]["command"], serde_json::json!(["echo", "hi"]));

    run(&["create", "cronjob", "tick", "-n", "probe", "--image=busybox", "--schedule=*/5 * * * *"]).await;
    assert_eq!(get(&env, ("batch", "v1", "cronjobs"), "probe", "tick")["spec"]["schedule"], "*/5 * * * *");

    run(&["create", "role", "reader", "-n", "probe", "--verb=get,list", "--resource=pods"]).await;
    let role = get(&env, ("rbac.authorization.k8s.io", "v1", "roles"), "probe", "reader");
    assert_eq!(role["rules"][0]["verbs"], serde_json::json!(["get", "list"]));
    assert_eq!(role["rules"][0]["resources"], serde_json::json!(["pods"]));

    run(&["create", "rolebinding", "read", "-n", "probe", "--role=reader", "--user=alice"]).await;
    let rb = get(&env, ("rbac.authorization.k8s.io", "v1", "rolebindings"), "probe", "read");
    assert_eq!((rb["roleRef"]["name"].as_str(), rb["subjects"][0]["name"].as_str()), (Some("reader"), Some("alice")));

    run(&["create", "serviceaccount", "robot", "-n", "probe"]).await;
    get(&env, ("", "v1", "serviceaccounts"), "probe", "robot");

    run(&["create", "quota", "q", "-n", "probe", "--hard=pods=10,requests.cpu=2"]).await;
    let q = get(&env, ("", "v1", "resourcequotas"), "probe", "q");
    assert_eq!(q["spec"]["hard"], serde_json::json!({"pods": "10", "requests.cpu": "2"}));

    run(&["create", "priorityclass", "high", "--value=1000", "--description=important"]).await;
    let pc = get(&env, ("scheduling.k8s.io", "v1", "priorityclasses"), "", "high");
    assert_eq!((pc["value"].as_i64(), pc["description"].as_str()), (Some(1000), Some("important")));

    run(&["create", "poddisruptionbudget", "pdb", "-n", "probe", "--selector=app=web", "--min-available=50%"]).await;
    let pdb = get(&env, ("policy", "v1", "poddisruptionbudgets"), "probe", "pdb");
    assert_eq!(pdb["spec"]["minAvailable"], "50%");

    // kubectl reads them back (its get asks for Tables, which stay JSON).
    let listed = env.run(&["get", "deployments,services,configmaps", "-n", "probe", "-o", "name"], None).await.ok();
    for name in ["deployment.apps/web", "service/svc", "configmap/cm"] {
        assert!(listed.contains(name), "{listed}");
    }
}
