//! The scheduler example against the embedded server: where pods land (recomputed from the API),
//! taints, node selectors, the FailedScheduling event, retries when a node joins, and the assume
//! cache under quick successive decisions.

#[path = "../examples/scheduler.rs"]
#[allow(dead_code)]
mod example;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use rudder::apimachinery::quantity::Quantity;
use rudder::apimachinery::scheduling::{requests_of, tolerated_by, ResourceList};
use rudder::apimachinery::{HasMetadata, Patch};
use rudder::client::{api::Api, Client};
use rudder::controller::CancellationToken;
use rudder_apiserver::ApiServer;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const NS: &str = "default";
const DEADLINE: Duration = Duration::from_secs(15);

/// Polls `check` every 50 ms until it returns a value, for at most [`DEADLINE`].
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, BoxError>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match check().await {
            Ok(Some(v)) => return v,
            Ok(None) => {}
            Err(e) => panic!("while waiting for {what}: {e}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create(client: &Client, pods: Vec<Pod>) {
    let api = Api::<Pod>::namespaced(client.clone(), NS);
    for p in pods {
        api.create(&Default::default(), &p).await.unwrap();
    }
}

/// The messages of the events about pod `name` with `reason`.
async fn events(client: &Client, name: &str, reason: &str) -> Result<Vec<String>, BoxError> {
    let list = Api::<Event>::namespaced(client.clone(), NS).list(&Default::default()).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name) && e.reason.as_deref() == Some(reason))
        .filter_map(|e| e.message)
        .collect())
}

/// Checks from the API that every bound pod fits its node: the sum of requests of each node's
/// pods stays within its allocatable, and no pod sits on a tainted node it does not tolerate.
async fn assert_every_node_fits(client: &Client) {
    let nodes = Api::<Node>::all(client.clone()).list(&Default::default()).await.unwrap().items;
    let pods = Api::<Pod>::namespaced(client.clone(), NS).list(&Default::default()).await.unwrap().items;
    for node in &nodes {
        let on_node: Vec<&Pod> =
            pods.iter().filter(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some(node.name())).collect();
        let mut used = ResourceList::new();
        for p in &on_node {
            rudder::apimachinery::scheduling::add(&mut used, &requests_of(p).unwrap()).unwrap();
            let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
            let tolerations = p.spec.as_ref().unwrap().tolerations.clone().unwrap_or_default();
            for t in &taints {
                assert!(tolerated_by(&tolerations, t), "{} on {} does not tolerate {t:?}", p.name(), node.name());
            }
        }
        let alloc = node.status.as_ref().unwrap().allocatable.as_ref().unwrap();
        for (resource, q) in &used {
            let have = Quantity::try_from(&alloc[resource]).unwrap();
            assert!(*q <= have, "node {} overcommitted: {resource} {q} > {have}", node.name());
        }
    }
}

/// Retries come only from cluster events: a back-off this long never fires within a test.
fn events_only() -> example::Options {
    let long = Duration::from_secs(600);
    example::Options { initial_backoff: long, max_backoff: long, ..Default::default() }
}

fn with_node_selector(mut pod: Pod, node: &str) -> Pod {
    let selector = BTreeMap::from([("kubernetes.io/hostname".to_owned(), node.to_owned())]);
    pod.spec.as_mut().unwrap().node_selector = Some(selector);
    pod
}

#[tokio::test]
async fn schedules_thirty_pods_respecting_fit_taints_and_selectors() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client();
    let control = server.control();
    control.add_node("n-small", &[("cpu", "2"), ("memory", "4Gi")]);
    control.add_node("n-medium", &[("cpu", "4"), ("memory", "8Gi")]);
    control.add_node("n-large", &[("cpu", "8"), ("memory", "16Gi")]);
    let taint =
        serde_json::json!({"spec": {"taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]}});
    Api::<Node>::all(client.clone()).patch("n-small", &Default::default(), &Patch::Merge(taint)).await.unwrap();

    let name = example::DEFAULT_NAME;
    let mut pods = Vec::new();
    pods.extend((0..12).map(|i| example::pod(&format!("web-{i}"), name, "500m", "512Mi")));
    pods.extend((0..4).map(|i| example::pod(&format!("api-{i}"), name, "750m", "1Gi")));
    pods.extend(
        (0..4).map(|i| example::tolerating(example::pod(&format!("batch-{i}"), name, "500m", "1Gi"), "dedicated")),
    );
    pods.extend((0..7).map(|i| example::pod(&format!("tiny-{i}"), name, "0", "0")));
    pods.extend(
        (0..2).map(|i| with_node_selector(example::pod(&format!("pinned-{i}"), name, "10m", "8Mi"), "n-medium")),
    );
    pods.push(example::pod("huge", name, "10", "1Gi"));
    // Asks another scheduler: never touched.
    pods.push(example::pod("other", "default-scheduler", "100m", "1Mi"));
    assert_eq!(pods.len(), 31);
    create(&client, pods).await;

    let shutdown = CancellationToken::new();
    let scheduler = tokio::spawn(example::run(client.clone(), events_only(), shutdown.clone()));

    let placed = wait_for("30 of 31 pods bound", || async {
        let p = example::placements(&client, NS).await?;
        Ok(Some(p).filter(|p| p.values().filter(|n| n.is_some()).count() == 29))
    })
    .await;
    assert_eq!(placed["huge"], None);
    assert_eq!(placed["other"], None);
    for (pod, node) in &placed {
        if pod.starts_with("pinned-") {
            assert_eq!(node.as_deref(), Some("n-medium"), "{pod}");
        }
    }
    assert_every_node_fits(&client).await;

    let expected = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: batch}, 2 Insufficient cpu.";
    let failed = wait_for("FailedScheduling for huge", || async {
        Ok(events(&client, "huge", "FailedScheduling").await?.into_iter().next())
    })
    .await;
    assert_eq!(failed, expected);
    let scheduled = wait_for("Scheduled for web-0", || async {
        Ok(events(&client, "web-0", "Scheduled").await?.into_iter().next())
    })
    .await;
    assert_eq!(scheduled, format!("Successfully assigned {NS}/web-0 to {}", placed["web-0"].as_deref().unwrap()));

    // A node big enough joins: the waiting pod is retried at once (not after its back-off).
    control.add_node("n-xlarge", &[("cpu", "16"), ("memory", "32Gi")]);
    let node =
        wait_for("huge bound", || async { Ok(example::placements(&client, NS).await?.remove("huge").flatten()) }).await;
    assert_eq!(node, "n-xlarge");
    assert_every_node_fits(&client).await;
    assert_eq!(example::placements(&client, NS).await.unwrap()["other"], None);

    shutdown.cancel();
    scheduler.await.unwrap().unwrap();
}

#[tokio::test]
async fn quick_decisions_do_not_overcommit_and_deletions_requeue() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client();
    server.control().add_node("only", &[("cpu", "2"), ("memory", "4Gi")]);
    let name = example::DEFAULT_NAME;
    // Six pods of 500m for 2 CPUs, all waiting before the scheduler starts: it decides for them
    // one after the other, faster than its pod cache shows the bindings.
    create(&client, (0..6).map(|i| example::pod(&format!("p-{i}"), name, "500m", "64Mi")).collect()).await;
    let shutdown = CancellationToken::new();
    let scheduler = tokio::spawn(example::run(client.clone(), events_only(), shutdown.clone()));

    let pending = wait_for("every pod bound or refused", || async {
        let p = example::placements(&client, NS).await?;
        let pending: Vec<String> = p.iter().filter(|(_, n)| n.is_none()).map(|(p, _)| p.clone()).collect();
        let mut refused = 0;
        for pod in &pending {
            refused += usize::from(!events(&client, pod, "FailedScheduling").await?.is_empty());
        }
        Ok(Some(pending).filter(|pending| pending.len() == refused))
    })
    .await;
    assert_every_node_fits(&client).await;
    assert_eq!(pending.len(), 2, "pending: {pending:?}");
    let message = events(&client, &pending[0], "FailedScheduling").await.unwrap().remove(0);
    assert_eq!(message, "0/1 nodes are available: 1 Insufficient cpu.");

    // Deleting a bound pod frees room: one waiting pod gets it, the other still waits.
    let placed = example::placements(&client, NS).await.unwrap();
    let bound = placed.iter().find(|(_, n)| n.is_some()).map(|(p, _)| p.clone()).unwrap();
    let grace = rudder::apimachinery::DeleteOptions { grace_period_seconds: Some(0), ..Default::default() };
    Api::<Pod>::namespaced(client.clone(), NS).delete(&bound, &grace).await.unwrap();
    wait_for("one of the waiting pods bound", || async {
        let p = example::placements(&client, NS).await?;
        Ok(Some(()).filter(|_| pending.iter().filter(|n| p[*n].is_some()).count() == 1))
    })
    .await;
    assert_every_node_fits(&client).await;

    shutdown.cancel();
    scheduler.await.unwrap().unwrap();
}
