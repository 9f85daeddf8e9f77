//! The node lifecycle example's controller against the embedded server and its kubelet
//! stand-in: an unreachable node turns Unknown, is tainted and drained as its pods' tolerations,
//! PodDisruptionBudgets and owners say, recovers when its kubelet is back, and evictions are
//! paced per zone.

#[path = "../examples/node_lifecycle.rs"]
#[allow(dead_code)]
mod example;

use std::time::Duration;

use example::{condition_taints, fake_kubelet, wait_for, Options, UNREACHABLE, ZONE_LABEL};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::{DeleteOptions, PatchOptions};
use rudder_apimachinery::Patch;
use rudder_apiserver::kubelet::KubeletOptions;
use rudder_apiserver::ApiServer;
use rudder_client::{api::Api, Client};
use rudder_controller::CancellationToken;
use serde_json::{json, Value};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const NS: &str = "default";
const DEADLINE: Duration = Duration::from_secs(15);

fn options() -> Options {
    Options {
        grace_period: Duration::from_millis(2500), // a dozen 200 ms renewals, so a loaded machine does not miss them all
        eviction_qps: 100.0,
        secondary_eviction_qps: 0.0,
        monitor_period: Duration::from_millis(200),
        ..Default::default()
    }
}

/// A server whose kubelet stand-in renews leases every 200 ms, with `nodes` (name, zone).
async fn server(nodes: &[(&str, &str)]) -> Result<(ApiServer, Client), BoxError> {
    // Pods here mean exactly the tolerations they declare: without the DefaultTolerationSeconds
    // plugin's 300 s not-ready/unreachable tolerations (a real cluster adds them).
    let server = ApiServer::builder()
        .default_toleration_seconds(None)
        .kubelet(KubeletOptions::default().lease_interval(Duration::from_millis(200)))
        .start()
        .await?;
    let client = server.client();
    let api = Api::<Node>::all(client.clone());
    for (name, zone) in nodes {
        server.control().add_node(name, &[]);
        api.patch(name, &PatchOptions::default(), &Patch::Merge(json!({"metadata": {"labels": {ZONE_LABEL: zone}}})))
            .await?;
    }
    Ok((server, client))
}

async fn create_pod(client: &Client, name: &str, node: &str, extra: Value) -> Result<Pod, BoxError> {
    let mut v = json!({"metadata": {"name": name, "labels": {"app": name}}, "spec": {"nodeName": node,
        "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}});
    merge(&mut v, extra);
    Ok(Api::<Pod>::namespaced(client.clone(), NS).create(&Default::default(), &serde_json::from_value(v)?).await?)
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            b.into_iter().for_each(|(k, v)| merge(a.entry(k).or_insert(Value::Null), v))
        }
        (a, b) => *a = b,
    }
}

/// The second at which a pod's eviction was asked for (its deletionTimestamp less its grace
/// period), when it was.
async fn evicted_at(client: &Client, name: &str) -> Result<Option<Timestamp>, rudder_client::Error> {
    let Some(p) = Api::<Pod>::namespaced(client.clone(), NS).get_opt(name).await? else {
        return Ok(Some(Timestamp::UNIX_EPOCH)); // gone altogether
    };
    let grace = p.metadata.deletion_grace_period_seconds.unwrap_or(0);
    Ok(p.metadata.deletion_timestamp.map(|t| t.0 - SignedDuration::from_secs(grace)))
}

async fn wait_evicted(client: &Client, name: &str) -> Result<Timestamp, BoxError> {
    wait_for(&format!("{name} evicted"), DEADLINE, || async { Ok(evicted_at(client, name).await?.is_some()) }).await?;
    Ok(evicted_at(client, name).await?.unwrap_or(Timestamp::UNIX_EPOCH))
}

async fn assert_not_evicted(client: &Client, names: &[&str]) -> Result<(), BoxError> {
    for name in names {
        assert_eq!(evicted_at(client, name).await?, None, "{name} must not be evicted");
    }
    Ok(())
}

async fn wait_unreachable(client: &Client, node: &str) -> Result<Node, BoxError> {
    let nodes = Api::<Node>::all(client.clone());
    wait_for(&format!("{node} Unknown and tainted"), DEADLINE, || async {
        let n = nodes.get(node).await?;
        Ok(ready(&n).is_some_and(|c| c.status == "Unknown") && condition_taints(&n).len() == 2)
    })
    .await?;
    Ok(nodes.get(node).await?)
}

fn ready(n: &Node) -> Option<&k8s_openapi::api::core::v1::NodeCondition> {
    n.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")
}

/// On a1: pods without toleration, tolerating the taint 2 s, forever, guarded by a PDB, of a
/// DaemonSet; on a2 a bystander. Waits until they run.
async fn seed_drain_scenario(client: &Client) -> Result<Api<PodDisruptionBudget>, BoxError> {
    let ds: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "agent"}]}}}}))?;
    let ds = Api::<DaemonSet>::namespaced(client.clone(), NS).create(&Default::default(), &ds).await?;
    let owner = json!({"metadata": {"labels": {"app": "agent"}, "ownerReferences": [{"apiVersion": "apps/v1",
        "kind": "DaemonSet", "name": "agent", "uid": ds.uid(), "controller": true}]}});
    let tolerate = |secs: Option<i64>| json!({"spec": {"tolerations": [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs}]}});
    create_pod(client, "plain", "a1", json!({})).await?;
    create_pod(client, "tolerant", "a1", tolerate(Some(2))).await?;
    create_pod(client, "forever", "a1", tolerate(None)).await?;
    create_pod(client, "guarded", "a1", json!({})).await?;
    create_pod(client, "agent-a1", "a1", owner).await?;
    create_pod(client, "bystander", "a2", json!({})).await?;
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({"metadata": {"name": "guarded"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}}}))?;
    let pdbs = Api::<PodDisruptionBudget>::namespaced(client.clone(), NS);
    pdbs.create(&Default::default(), &pdb).await?;
    let pods = Api::<Pod>::namespaced(client.clone(), NS);
    wait_for("the pods running", DEADLINE, || async {
        let list = pods.list(&Default::default()).await?;
        Ok(list.items.len() == 6
            && list.items.iter().all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")))
    })
    .await?;

    Ok(pdbs)
}

#[tokio::test]
async fn unreachable_node_is_tainted_and_drained_then_recovers() -> Result<(), BoxError> {
    let (server, client) = server(&[("a1", "zone-a"), ("a2", "zone-a"), ("b1", "zone-b")]).await?;
    let pdbs = Box::pin(seed_drain_scenario(&client)).await?;
    let shutdown = CancellationToken::new();
    let controller = tokio::spawn(example::run(client.clone(), options(), shutdown.clone()));
    server.control().stop_kubelet("a1");

    let a1 = wait_unreachable(&client, "a1").await?;
    let cond = ready(&a1).ok_or("no Ready condition")?;
    assert_eq!(cond.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(cond.message.as_deref(), Some("Kubelet stopped posting node status."));
    let taints = a1.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let no_execute =
        taints.iter().find(|t| t.key == UNREACHABLE && t.effect == "NoExecute").ok_or("no NoExecute taint")?;
    let added = no_execute.time_added.as_ref().ok_or("the NoExecute taint has no timeAdded")?.0;
    assert!(taints.iter().any(|t| t.key == UNREACHABLE && t.effect == "NoSchedule"), "{taints:?}");

    wait_evicted(&client, "plain").await?;
    let tolerant = wait_evicted(&client, "tolerant").await?;
    assert!(
        tolerant >= added + SignedDuration::from_secs(2),
        "evicted at {tolerant}, before tolerationSeconds after {added}"
    );
    // By now every pod on a1 was due at least once: the PDB holds one, the others are spared.
    assert_not_evicted(&client, &["guarded", "forever", "agent-a1", "bystander"]).await?;
    pdbs.delete("guarded", &DeleteOptions::default()).await?;
    wait_evicted(&client, "guarded").await?;
    assert_not_evicted(&client, &["forever", "agent-a1", "bystander"]).await?;

    // The kubelet is back (played by the test: Lease renewed, Ready posted): the taints go.
    let kubelet = CancellationToken::new();
    let beat = fake_kubelet(client.clone(), "a1", "zone-a", Duration::from_millis(200), kubelet.clone());
    let nodes = Api::<Node>::all(client.clone());
    wait_for("a1's taints removed", DEADLINE, || async {
        let n = nodes.get("a1").await?;
        Ok(ready(&n).is_some_and(|c| c.status == "True") && condition_taints(&n).is_empty())
    })
    .await?;
    for healthy in ["a2", "b1"] {
        let n = nodes.get(healthy).await?;
        assert_eq!(ready(&n).map(|c| c.status.as_str()), Some("True"), "{healthy}");
        assert!(condition_taints(&n).is_empty(), "{healthy}: {:?}", condition_taints(&n));
    }
    kubelet.cancel();
    shutdown.cancel();
    beat.await?;
    controller.await??;
    Ok(())
}

/// Sleeps until `t` has passed.
async fn sleep_past(t: Timestamp) {
    if let Ok(d) = Duration::try_from(t.duration_since(Timestamp::now())) {
        tokio::time::sleep(d).await;
    }
}

/// When `node`'s NoExecute unreachable taint was added.
fn tainted_at(node: &Node) -> Timestamp {
    let taints = node.spec.iter().flat_map(|s| s.taints.iter().flatten());
    taints
        .filter(|t| t.key == UNREACHABLE && t.effect == "NoExecute")
        .find_map(|t| Some(t.time_added.as_ref()?.0))
        .unwrap_or_else(Timestamp::now)
}

/// Pods `paced` on b1 without tolerations; one on each of a1..a3 tolerating the taint 2 s,
/// and b2-0 tolerating it 3 s.
async fn seed_zone_scenario(client: &Client, paced: &[&str]) -> Result<(), BoxError> {
    for name in paced {
        create_pod(client, name, "b1", json!({})).await?;
    }
    // Tolerations give the controller time to see all of a node group down before a pod is due
    // (the zone's state is judged at the time of each eviction).
    let tolerate = |secs: i64| json!({"spec": {"tolerations": [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs}]}});
    for node in ["a1", "a2", "a3"] {
        create_pod(client, &format!("{node}-0"), node, tolerate(2)).await?;
    }
    create_pod(client, "b2-0", "b2", tolerate(3)).await?;

    Ok(())
}

#[tokio::test]
async fn evictions_are_paced_per_zone_and_stop_when_every_node_is_down() -> Result<(), BoxError> {
    let nodes =
        [("a1", "zone-a"), ("a2", "zone-a"), ("a3", "zone-a"), ("a4", "zone-a"), ("b1", "zone-b"), ("b2", "zone-b")];
    let (server, client) = server(&nodes).await?;
    let paced = ["b1-0", "b1-1", "b1-2", "b1-3"];
    Box::pin(seed_zone_scenario(&client, &paced)).await?;
    let shutdown = CancellationToken::new();
    let opts = Options { eviction_qps: 1.0, ..options() };
    let controller = tokio::spawn(example::run(client.clone(), opts, shutdown.clone()));
    for node in ["a1", "a2", "a3", "b1"] {
        server.control().stop_kubelet(node);
    }

    // zone-b (one of two nodes down) evicts at 1/s with a burst of 1: four evictions span at
    // least 3 s, so at least 2 whole seconds between the first and the last.
    let mut times = Vec::new();
    for name in paced {
        times.push(wait_evicted(&client, name).await?);
    }
    times.sort();
    let span = times[3].duration_since(times[0]);
    assert!(span >= SignedDuration::from_secs(2), "4 evictions at 1/s within {span}: {times:?}");
    // zone-a (three of four nodes down: partial disruption) evicts at the secondary rate, 0 here.
    let mut due = Timestamp::UNIX_EPOCH;
    for node in ["a1", "a2", "a3"] {
        due = due.max(tainted_at(&wait_unreachable(&client, node).await?) + SignedDuration::from_secs(2 + 2));
    }
    sleep_past(due).await;
    assert_not_evicted(&client, &["a1-0", "a2-0", "a3-0"]).await?;

    // Every node down: nothing is evicted (b2-0's toleration ends well after both are down).
    server.control().stop_kubelet("a4");
    server.control().stop_kubelet("b2");
    wait_unreachable(&client, "a4").await?;
    let b2 = wait_unreachable(&client, "b2").await?;
    sleep_past(tainted_at(&b2) + SignedDuration::from_secs(3 + 2)).await;
    assert_not_evicted(&client, &["b2-0"]).await?;

    // b1 is back: zone-b is partly up, zone-a fully down (not every zone): both evict at 1/s.
    let kubelet = CancellationToken::new();
    let beat = fake_kubelet(client.clone(), "b1", "zone-b", Duration::from_millis(200), kubelet.clone());
    for name in ["b2-0", "a1-0", "a2-0", "a3-0"] {
        wait_evicted(&client, name).await?;
    }
    kubelet.cancel();
    shutdown.cancel();
    beat.await?;
    controller.await??;
    Ok(())
}
