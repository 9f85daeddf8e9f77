//! `kubectl top pod` and `kubectl top node` (kubectl 1.32) against the embedded server's
//! `metrics.k8s.io`: kubectl checks the group in discovery, reads PodMetrics/NodeMetrics, and
//! for nodes lists the Nodes for their allocatable resources. Skips without kubectl.

#[path = "common/kubectl.rs"]
mod kubectl;

use std::time::Duration;

use kubectl::Env;
use rudder_apiserver::{ApiServer, KubeletOptions};
use rudder_client::api::Api;
use rudder_client::apimachinery::options::CreateOptions;

#[tokio::test]
async fn kubectl_top_pod_and_node() {
    let server = ApiServer::builder()
        .tls()
        .token("kubectl-top-token")
        .kubelet(KubeletOptions::default().lease_interval(Duration::from_millis(200)))
        .start()
        .await
        .expect("server starts");
    let Some(env) = Env::new(server) else { return };
    let c = env.server.control();
    c.add_node("node-a", &[("cpu", "4"), ("memory", "8Gi")]);
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(env.server.client(), "default");
    for name in ["web", "db"] {
        let p = serde_json::from_value(serde_json::json!({"metadata": {"name": name, "labels": {"app": name}},
            "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "nginx"}]}}))
        .unwrap();
        pods.create(&CreateOptions::default(), &p).await.unwrap();
    }
    c.set_container_usage("default", "web", "c", &[("cpu", "250m"), ("memory", "64Mi")]).unwrap();
    c.set_container_usage("default", "db", "c", &[("cpu", "1"), ("memory", "512Mi")]).unwrap();

    let out = env.ok(&["top", "pod"]).await;
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["NAME", "CPU(cores)", "MEMORY(bytes)"], "{out}");
    assert!(rows.contains(&vec!["web", "250m", "64Mi"]), "{out}");
    assert!(rows.contains(&vec!["db", "1000m", "512Mi"]), "{out}");
    let out = env.ok(&["top", "pod", "-l", "app=web", "--no-headers"]).await;
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["web", "250m", "64Mi"]);
    let out = env.ok(&["top", "pod", "db", "--containers", "--no-headers"]).await;
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["db", "c", "1000m", "512Mi"]);

    c.set_node_usage("node-a", &[("cpu", "2"), ("memory", "2Gi")]).unwrap();
    let out = env.ok(&["top", "node"]).await;
    let row: Vec<&str> = out.lines().find(|l| l.starts_with("node-a")).unwrap_or_default().split_whitespace().collect();
    assert_eq!(row, ["node-a", "2000m", "50%", "2048Mi", "25%"], "{out}");

    // A namespace without metrics: kubectl's own message.
    let none = env.run(&["top", "pod", "-n", "kube-system"], None).await;
    assert!(none.ok && none.stderr.contains("No resources found in kube-system namespace."), "{}", none.stderr);
}
