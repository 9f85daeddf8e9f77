//! kubectl against the embedded API server: the real Kubernetes CLI (client-go) must be able to
//! use it through the kubeconfig it writes — discovery, get/describe of built-in and custom
//! resources, client-side and server-side apply, delete, wait, watch and raw GETs.
//!
//! Most applies pass `--validate=false` for speed; `apply_with_client_validation` checks that
//! kubectl's default validation accepts the server's OpenAPI documents.
//!
//! Every test skips (prints "kubectl not found: skipping") when `kubectl` is not on PATH. Each
//! kubectl run has a timeout, so a hang fails the test instead of blocking CI.

#[path = "common/kubectl.rs"]
mod kubectl;

use std::time::Duration;

use kubectl::Env;
use rudder_apiserver::{kubeconfig, seed, ApiServer};
use rudder_client::apimachinery::schema::GroupVersionResource;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The bound on each kubectl run and on each wait for a watching kubectl's next line.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Starts a TLS + token server and points kubectl at it; `None` when kubectl is missing.
async fn env() -> Option<Env> {
    Some(Env::start(ApiServer::builder()).await?.with_timeout(TIMEOUT))
}

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              image: {type: string}
              replicas: {type: integer}
    additionalPrinterColumns:
    - name: Spec
      type: string
      jsonPath: .spec.cronSpec
"#;

const CRONTAB: &str = r#"
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: my-crontab
  namespace: default
spec:
  cronSpec: "* * * * */5"
  image: my-cron-image
  replicas: 2
"#;

fn configmap(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  key: \"{value}\"\n"
    )
}

#[tokio::test]
async fn discovery_version_and_raw_get() {
    let Some(env) = env().await else { return };
    let version = env.json(&["version", "-o", "json"]).await;
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.37.0-rudder", "{version}");

    let resources = env.ok(&["api-resources"]).await;
    for needle in ["pods", "po", "deployments", "deploy", "apps/v1", "customresourcedefinitions"] {
        assert!(resources.contains(needle), "api-resources lacks {needle}:\n{resources}");
    }
    let namespaced = env.ok(&["api-resources", "--namespaced=false", "-o", "name"]).await;
    assert!(namespaced.lines().any(|l| l == "namespaces"), "{namespaced}");
    assert!(!namespaced.lines().any(|l| l == "pods"), "{namespaced}");

    let raw = env.json(&["get", "--raw", "/api/v1/namespaces"]).await;
    assert_eq!(raw["kind"], "NamespaceList");
    let names: Vec<&str> =
        raw["items"].as_array().unwrap().iter().filter_map(|n| n["metadata"]["name"].as_str()).collect();
    assert!(names.contains(&"default") && names.contains(&"kube-system"), "{names:?}");

    let ns = env.ok(&["get", "namespaces", "-o", "name"]).await;
    assert!(ns.contains("namespace/default"), "{ns}");
}

#[tokio::test]
async fn get_and_describe_builtin_pods() {
    let Some(env) = env().await else { return };
    let pods = GroupVersionResource::new("", "v1", "pods");
    env.server.control().insert_many(&pods, seed::realistic_pods(10, "default"));
    let name = seed::realistic_pod(3, "default")["metadata"]["name"].as_str().unwrap().to_string();

    let table = env.ok(&["get", "pods"]).await;
    assert_eq!(table.lines().count(), 11, "{table}");
    assert!(table.contains(&name), "{table}");

    let one = env.json(&["get", "pod", &name, "-o", "json"]).await;
    assert_eq!(one["metadata"]["name"], name.as_str());
    assert_eq!(one["kind"], "Pod");
    let by_short_name = env.ok(&["get", "po", &name, "-o", "name"]).await;
    assert_eq!(by_short_name.trim(), format!("pod/{name}"));

    let describe = env.ok(&["describe", "pod", &name]).await;
    assert!(describe.contains("Name:") && describe.contains(&name), "{describe}");
    assert!(describe.contains("Namespace:") && describe.contains("default"), "{describe}");
}

#[tokio::test]
async fn table_output() {
    let Some(env) = env().await else { return };
    let pods = GroupVersionResource::new("", "v1", "pods");
    env.server.control().insert_many(&pods, seed::realistic_pods(3, "default"));
    let table = env.ok(&["get", "pods", "-o", "wide"]).await;
    let header = table.lines().next().unwrap_or_default();
    for column in ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"] {
        assert!(header.contains(column), "{table}");
    }
    assert!(table.contains("Running"), "{table}");
}

#[tokio::test]
async fn label_selectors() {
    let Some(env) = env().await else { return };
    let pods = GroupVersionResource::new("", "v1", "pods");
    env.server.control().insert_many(&pods, seed::realistic_pods(40, "default"));
    let out = env.ok(&["get", "po", "-l", "app=ratings", "-o", "name"]).await;
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.lines().all(|l| l.starts_with("pod/ratings-")), "{out}");
}

#[tokio::test]
async fn apply_with_client_validation() {
    let Some(env) = env().await else { return };
    let out = env.ok_stdin(&["apply", "-f", "-"], &configmap("validated", "1")).await;
    assert!(out.contains("configmap/validated created"), "{out}");
}

#[tokio::test]
async fn apply_client_side_server_side_and_delete() {
    let Some(env) = env().await else { return };
    // Client-side apply: create, then change.
    let out = env.ok_stdin(&["apply", "--validate=false", "-f", "-"], &configmap("csa", "one")).await;
    assert!(out.contains("configmap/csa created"), "{out}");
    let out = env.ok_stdin(&["apply", "--validate=false", "-f", "-"], &configmap("csa", "two")).await;
    assert!(out.contains("configmap/csa configured"), "{out}");
    assert_eq!(env.ok(&["get", "configmap", "csa", "-o", "jsonpath={.data.key}"]).await, "two");
    let cm = env.json(&["get", "cm", "csa", "-o", "json"]).await;
    assert!(
        cm["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].is_string(),
        "client-side apply records last-applied: {cm}"
    );

    // Server-side apply: create and update; kubectl is the field manager.
    let out = env.ok_stdin(&["apply", "--server-side", "--validate=false", "-f", "-"], &configmap("ssa", "one")).await;
    assert!(out.contains("configmap/ssa serverside-applied"), "{out}");
    env.ok_stdin(&["apply", "--server-side", "--validate=false", "-f", "-"], &configmap("ssa", "two")).await;
    let cm = env.json(&["get", "cm", "ssa", "-o", "json", "--show-managed-fields"]).await;
    assert_eq!(cm["data"]["key"], "two");
    let managers: Vec<&str> =
        cm["metadata"]["managedFields"].as_array().unwrap().iter().filter_map(|m| m["manager"].as_str()).collect();
    assert!(managers.contains(&"kubectl"), "{managers:?}");

    let describe = env.ok(&["describe", "configmap", "ssa", "--show-events=false"]).await;
    assert!(describe.contains("two"), "{describe}");

    // Delete, then the object is gone with kubectl's NotFound message.
    let out = env.ok(&["delete", "configmap", "csa", "ssa"]).await;
    assert!(out.contains("configmap \"csa\" deleted") && out.contains("configmap \"ssa\" deleted"), "{out}");
    let gone = env.run(&["get", "configmap", "csa"], None).await;
    assert!(!gone.ok);
    assert!(gone.stderr.contains("configmaps \"csa\" not found"), "{}", gone.stderr);
}

#[tokio::test]
async fn crd_becomes_established() {
    let Some(env) = env().await else { return };
    env.ok_stdin(&["apply", "--validate=false", "-f", "-"], CRD).await;
    let established = r#"jsonpath={.status.conditions[?(@.type=="Established")].status}"#;
    let mut tries = 0;
    while env.ok(&["get", "crd", "crontabs.stable.example.com", "-o", established]).await != "True" {
        tries += 1;
        assert!(tries < 20, "the CRD never became Established");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names =
        env.ok(&["get", "crd", "crontabs.stable.example.com", "-o", "jsonpath={.status.acceptedNames.kind}"]).await;
    assert_eq!(names, "CronTab");
    let out =
        env.ok(&["wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=10s"]).await;
    assert!(out.contains("condition met"), "{out}");
}

#[tokio::test]
async fn custom_resources() {
    let Some(env) = env().await else { return };
    let out = env.ok_stdin(&["apply", "--validate=false", "-f", "-"], CRD).await;
    assert!(out.contains("customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com created"), "{out}");
    let out = env.ok_stdin(&["apply", "--validate=false", "-f", "-"], CRONTAB).await;
    assert!(out.contains("crontab.stable.example.com/my-crontab created"), "{out}");
    let table = env.ok(&["get", "crontabs"]).await;
    assert!(table.contains("my-crontab"), "{table}");
    let by_short = env.json(&["get", "ct", "my-crontab", "-o", "json"]).await;
    assert_eq!(by_short["spec"]["replicas"], 2);
    assert_eq!(by_short["apiVersion"], "stable.example.com/v1");
    let describe = env.ok(&["describe", "crontab", "my-crontab", "--show-events=false"]).await;
    assert!(describe.contains("my-cron-image"), "{describe}");
    let resources = env.ok(&["api-resources", "--api-group=stable.example.com", "-o", "name"]).await;
    assert_eq!(resources.trim(), "crontabs.stable.example.com");

    // Switching to server-side apply conflicts with the client-side apply's Update manager, as
    // with a real API server; --force-conflicts takes the field over.
    let three = CRONTAB.replace("replicas: 2", "replicas: 3");
    let conflict = env.run(&["apply", "--server-side", "--validate=false", "-f", "-"], Some(&three)).await;
    assert!(!conflict.ok);
    assert!(
        conflict.stderr.contains("conflict with \"kubectl-client-side-apply\": .spec.replicas"),
        "{}",
        conflict.stderr
    );
    env.ok_stdin(&["apply", "--server-side", "--force-conflicts", "--validate=false", "-f", "-"], &three).await;
    assert_eq!(env.ok(&["get", "ct", "my-crontab", "-o", "jsonpath={.spec.replicas}"]).await, "3");
    env.ok(&["delete", "crontab", "my-crontab"]).await;
    assert!(env.ok(&["get", "crontabs", "-o", "name"]).await.trim().is_empty());
}

#[tokio::test]
async fn wait_for_condition_and_delete() {
    let Some(env) = env().await else { return };
    let pods = GroupVersionResource::new("", "v1", "pods");
    env.server.control().insert_many(&pods, vec![seed::realistic_pod(0, "default")]);
    let name = seed::realistic_pod(0, "default")["metadata"]["name"].as_str().unwrap().to_string();
    let out = env.ok(&["wait", "--for=condition=Ready", &format!("pod/{name}"), "--timeout=10s"]).await;
    assert!(out.contains("condition met"), "{out}");

    env.ok_stdin(&["apply", "--validate=false", "-f", "-"], &configmap("doomed", "x")).await;
    let waiter = {
        let child = env
            .command(&["wait", "--for=delete", "configmap/doomed", "--timeout=20s"])
            .spawn()
            .expect("spawning kubectl wait");
        tokio::spawn(async move { tokio::time::timeout(TIMEOUT, child.wait_with_output()).await })
    };
    // Let the waiter start watching before the delete (it also handles the other order).
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.ok(&["delete", "configmap", "doomed"]).await;
    let out = waiter.await.unwrap().expect("kubectl wait finished in time").unwrap();
    assert!(out.status.success(), "wait --for=delete: {}", String::from_utf8_lossy(&out.stderr));
}

async fn next_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    tokio::time::timeout(TIMEOUT, lines.next_line())
        .await
        .expect("a watch line in time")
        .expect("reading the watch")
        .expect("the watch is still open")
}

#[tokio::test]
async fn get_watch_streams_changes() {
    let Some(env) = env().await else { return };
    env.ok_stdin(&["apply", "--validate=false", "-f", "-"], &configmap("first", "1")).await;
    let mut child = env.command(&["get", "configmaps", "--watch", "-o", "name"]).spawn().expect("spawning watch");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    assert_eq!(next_line(&mut lines).await, "configmap/first");
    env.ok_stdin(&["apply", "--validate=false", "-f", "-"], &configmap("second", "2")).await;
    assert_eq!(next_line(&mut lines).await, "configmap/second");
    env.ok_stdin(&["apply", "--validate=false", "-f", "-"], &configmap("first", "changed")).await;
    assert_eq!(next_line(&mut lines).await, "configmap/first");
    child.kill().await.expect("killing the watch");
}

#[tokio::test]
async fn unauthenticated_kubectl_is_refused() {
    let Some(env) = env().await else { return };
    let path = env.dir.path().join("anonymous");
    let url = env.server.url().to_string();
    kubeconfig::write(&path, url.trim_end_matches('/'), env.server.ca_pem(), Some("wrong-token"), None).unwrap();
    let out = env.run(&["--kubeconfig", path.to_str().unwrap(), "get", "namespaces"], None).await;
    assert!(!out.ok);
    assert!(out.stderr.contains("Unauthorized") || out.stderr.contains("must be logged in"), "{}", out.stderr);
}

#[tokio::test]
async fn field_selectors_see_defaults() {
    let Some(env) = env().await else { return };
    let pods = GroupVersionResource::new("", "v1", "pods");
    env.server.control().insert_many(&pods, seed::realistic_pods(3, "default"));
    // Pods that never name a scheduler, a restart policy or a service account get the defaults.
    for name in ["plain-a", "plain-b"] {
        let pod = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  containers:\n  - name: c\n    image: busybox\n"
        );
        env.ok_stdin(&["create", "-f", "-"], &pod).await;
    }
    let every = env.ok(&["get", "pods", "-o", "name"]).await;
    assert_eq!(every.lines().count(), 5, "{every}");
    let by_scheduler =
        env.ok(&["get", "pods", "--field-selector", "spec.schedulerName=default-scheduler", "-o", "name"]).await;
    assert_eq!(by_scheduler, every);
    let not_host_network = env.ok(&["get", "pods", "--field-selector", "spec.hostNetwork=false", "-o", "name"]).await;
    assert!(not_host_network.contains("pod/plain-a") && not_host_network.contains("pod/plain-b"), "{not_host_network}");
    let out = env.run(&["get", "pods", "--field-selector", "spec.containers=x"], None).await;
    assert!(!out.ok);
    assert!(out.stderr.contains("field label not supported: spec.containers"), "{}", out.stderr);
}
