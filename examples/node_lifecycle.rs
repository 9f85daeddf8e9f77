//! A node lifecycle controller, like kube-controller-manager's: it watches Nodes, their Leases
//! in `kube-node-lease`, Pods and DaemonSets (one shared informer each) and
//!
//! - marks a node whose Lease (or Ready heartbeat) has not changed for `grace_period` as
//!   unreachable: its kubelet's conditions (`Ready`, the pressure conditions) turn `Unknown` with
//!   reason `NodeStatusUnknown` (`NodeStatusNeverUpdated` for those it never posted) through the
//!   status subresource;
//! - keeps the condition taints in step with `Ready`: `node.kubernetes.io/unreachable` (Unknown)
//!   or `node.kubernetes.io/not-ready` (False), each as NoSchedule and NoExecute (the latter with
//!   `timeAdded`), none once `Ready` is True again (the kubelet sets it when it is back);
//! - evicts, through the eviction API (PodDisruptionBudgets apply: a 429 is retried after
//!   `eviction_retry`), the pods on a node with NoExecute taints once their tolerations run out:
//!   at once without a matching toleration, after the smallest `tolerationSeconds` from the
//!   taint's `timeAdded` (such as the 300 s the DefaultTolerationSeconds admission adds), never
//!   with a toleration without seconds. DaemonSet pods are spared;
//! - at a rate per zone (`topology.kubernetes.io/zone`): `eviction_qps` normally,
//!   `secondary_eviction_qps` when more than two and at least `unhealthy_zone_threshold` of the
//!   zone's nodes are not Ready (partial disruption), `eviction_qps` again when a whole zone is
//!   down (full disruption) unless every zone is, when nothing is evicted.
//!
//! `cargo run --example node_lifecycle [-- --for N]`. On the embedded server it plays two fake
//! kubelets (a Node whose Lease it renews) in two zones with a few pods, stops one kubelet,
//! shows the node turn Unknown, tainted and drained (a pod tolerating the taint forever and a
//! DaemonSet pod stay), brings it back and shows the taints go; then runs N more seconds. On a
//! real cluster (`-- --yes`) it runs the controller alone for N seconds (default 30): beware
//! that it writes node status and taints, as the cluster's own controller does.

mod common;
pub use common::wait_for; // tests/node_lifecycle.rs waits with it too

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint, Toleration};
use k8s_openapi::api::policy::v1::Eviction;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::{DeleteOptions, PatchOptions};
use rudder_apimachinery::Patch;
use rudder_client::{api::Api, Client};
use rudder_controller::{Action, CancellationToken, Context, Controller, ObjectKey, Predicate};
use rudder_controller::{ControllerError, Manager, WatchOptions};
use rudder_informer::record::EventType;
use rudder_informer::workqueue::TokenBuckets;
use serde_json::json;
use tokio::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The namespace of node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// The taint of a node whose kubelet stopped reporting.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint of a node whose kubelet reports `Ready=False`.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The zone label.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// The conditions a kubelet posts, set Unknown when it stops.
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// What the controller does and how fast (upstream's flags in brackets).
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a node may go without a Lease renewal or heartbeat before it is Unknown
    /// (`--node-monitor-grace-period`, 40 s).
    pub grace_period: Duration,
    /// Evictions per second in a healthy zone (`--node-eviction-rate`, 0.1).
    pub eviction_qps: f64,
    /// Evictions per second in a partially disrupted zone (`--secondary-node-eviction-rate`,
    /// 0.01; upstream uses 0 in clusters of at most 50 nodes).
    pub secondary_eviction_qps: f64,
    /// The share of not-Ready nodes that makes a zone partially disrupted
    /// (`--unhealthy-zone-threshold`, 0.55).
    pub unhealthy_zone_threshold: f64,
    /// How long a node waits before it is checked again when nothing it watches changes:
    /// a rate-limited or PDB-blocked eviction, other zones' health (`--node-monitor-period`, 5 s).
    pub monitor_period: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            grace_period: Duration::from_secs(40),
            eviction_qps: 0.1,
            secondary_eviction_qps: 0.01,
            unhealthy_zone_threshold: 0.55,
            monitor_period: Duration::from_secs(5),
        }
    }
}

/// The controller's memory between reconciles.
struct State {
    opts: Options,
    /// Per node: the last Lease renewTime and Ready heartbeat seen, and when they last changed
    /// (this process's clock, so the cluster's clock skew does not matter).
    probes: Mutex<HashMap<String, Probe>>,
    /// One eviction bucket per zone (burst 1).
    zones: TokenBuckets<String>,
}

struct Probe {
    seen: (Option<MicroTime>, Option<Time>),
    at: Instant,
}

/// Runs the controller until `shutdown` is cancelled.
pub async fn run(client: Client, opts: Options, shutdown: CancellationToken) -> Result<(), ControllerError> {
    let state = State::new(opts);
    controller(Controller::<Node>::new(client, watch_nodes())).run(reconcile, state, shutdown).await
}

/// Adds the controller to `manager` (which then runs it only while it leads, with leader
/// election), sharing the manager's informers.
pub fn add_to(manager: &mut Manager, opts: Options) {
    let c = controller(manager.controller::<Node>(watch_nodes()));
    manager.add(c, reconcile, State::new(opts));
}

/// Status changes matter here, so every Node update reconciles (the default predicate would
/// skip them).
fn watch_nodes() -> WatchOptions {
    WatchOptions::new().predicate(Predicate::resource_version_changed())
}

fn controller(c: Controller<Node>) -> Controller<Node> {
    c.watches::<Lease>(WatchOptions::new().namespace(LEASE_NAMESPACE), |l| vec![ObjectKey::cluster(l.name())])
        .watches::<Pod>(WatchOptions::new(), |p| {
            p.spec.as_ref().and_then(|s| s.node_name.clone()).map(ObjectKey::cluster).into_iter().collect()
        })
        .watches::<DaemonSet>(WatchOptions::new(), |_| Vec::new()) // a cache to recognise DaemonSet pods
        .name("node-lifecycle")
}

impl State {
    fn new(opts: Options) -> Self {
        State { zones: TokenBuckets::new(opts.eviction_qps, 1), opts, probes: Mutex::new(HashMap::new()) }
    }
}

async fn reconcile(key: ObjectKey, ctx: Context<State>) -> Result<Action, rudder_client::Error> {
    let state = ctx.state();
    let Some(cached) = ctx.get::<Node>(&key) else {
        state.probes.lock().unwrap_or_else(|e| e.into_inner()).remove(&key.name);
        return Ok(Action::done());
    };
    let mut node = (*cached).clone();
    let nodes = Api::<Node>::all(ctx.client().clone());

    // 1. Health: has the kubelet shown life within the grace period?
    let lease = ctx.get::<Lease>(&ObjectKey::namespaced(LEASE_NAMESPACE, &key.name));
    let seen = (
        lease.and_then(|l| l.spec.as_ref()?.renew_time.clone()),
        condition(&node, "Ready").and_then(|c| c.last_heartbeat_time.clone()),
    );
    let silent_for = {
        let mut probes = state.probes.lock().unwrap_or_else(|e| e.into_inner());
        let p = probes.entry(key.name.clone()).or_insert_with(|| Probe { seen: seen.clone(), at: Instant::now() });
        if p.seen != seen {
            *p = Probe { seen, at: Instant::now() };
        }
        p.at.elapsed()
    };
    // Checked again when the grace period would run out, or every monitor period once it has.
    let overdue = silent_for >= state.opts.grace_period;
    let next_check = if overdue { state.opts.monitor_period } else { state.opts.grace_period - silent_for };
    if overdue && ready_status(&node) != Some("Unknown") {
        mark_unknown(&mut node);
        node = nodes.replace_status(key.name.as_str(), &Default::default(), &node).await?;
        ctx.recorder().event_for(
            &node,
            EventType::Normal,
            "NodeNotReady",
            "Node is not ready: Kubelet stopped posting node status.",
        );
    }

    // 2. Taints follow the Ready condition.
    if let Some(taints) = wanted_taints(&node) {
        node.spec.get_or_insert_with(Default::default).taints = Some(taints);
        node = nodes.replace(key.name.as_str(), &Default::default(), &node).await?;
    }

    // 3. Evictions under NoExecute taints, paced per zone.
    let zone = zone_of(&node);
    let rate = zone_rate(&ctx, &state.opts, &zone);
    let now = Instant::now();
    state.zones.set_qps(&zone, rate, now);
    let mut requeue = Some(next_check);
    let mut soonest = |d: Duration| requeue = Some(requeue.map_or(d, |r: Duration| r.min(d)));
    let no_execute: Vec<&Taint> =
        node.spec.iter().flat_map(|s| s.taints.iter().flatten()).filter(|t| t.effect == "NoExecute").collect();
    if !no_execute.is_empty() {
        let pods = ctx.lister::<Pod>().map(|l| l.list(&Default::default())).unwrap_or_default();
        for pod in
            pods.iter().filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(key.name.as_str()))
        {
            if pod.metadata.deletion_timestamp.is_some() || is_daemonset_pod(&ctx, pod) {
                continue;
            }
            let Some(due) = eviction_due(pod, &no_execute) else { continue }; // tolerates forever
            let wait = Duration::try_from(due.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO);
            if !wait.is_zero() {
                soonest(wait);
                continue;
            }
            if !state.zones.try_accept(&zone, Instant::now()) {
                soonest(state.zones.next_token(&zone, Instant::now()).unwrap_or(state.opts.monitor_period));
                continue;
            }
            let pods = Api::<Pod>::namespaced(ctx.client().clone(), pod.namespace().unwrap_or_default());
            match pods.evict(pod.name(), &Eviction::default()).await {
                Ok(()) => ctx.recorder().event_for(
                    &**pod,
                    EventType::Normal,
                    "TaintManagerEviction",
                    &format!("Marking for deletion Pod {}", ObjectKey::of(&**pod)),
                ),
                Err(e) if e.is_not_found() => state.zones.give_back(&zone, Instant::now()),
                Err(e) if e.is_too_many_requests() => {
                    // A PodDisruptionBudget said no: not an eviction, so the token goes back.
                    state.zones.give_back(&zone, Instant::now());
                    soonest(state.opts.monitor_period);
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(requeue.map_or_else(Action::done, Action::requeue_after))
}

fn condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

fn ready_status(node: &Node) -> Option<&str> {
    condition(node, "Ready").map(|c| c.status.as_str())
}

/// Sets the kubelet's conditions Unknown, as upstream does when the kubelet goes quiet (or
/// never posted them: reason `NodeStatusNeverUpdated`).
fn mark_unknown(node: &mut Node) {
    let now = Time(Timestamp::now());
    let created = node.metadata.creation_timestamp.clone();
    let conditions = node.status.get_or_insert_with(Default::default).conditions.get_or_insert_with(Vec::new);
    for type_ in KUBELET_CONDITIONS {
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status != "Unknown" => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(now.clone());
            }
            Some(_) => {}
            None => conditions.push(NodeCondition {
                type_: type_.into(),
                status: "Unknown".into(),
                reason: Some("NodeStatusNeverUpdated".into()),
                message: Some("Kubelet never posted node status.".into()),
                last_heartbeat_time: created.clone(),
                last_transition_time: Some(now.clone()),
            }),
        }
    }
}

/// The node's taints with the condition taints as `Ready` wants them, or `None` when they
/// already are.
fn wanted_taints(node: &Node) -> Option<Vec<Taint>> {
    let want = match ready_status(node) {
        Some("Unknown") => Some(UNREACHABLE),
        Some("False") => Some(NOT_READY),
        _ => None,
    };
    let current: Vec<Taint> = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let ours = |t: &Taint| {
        (t.key == UNREACHABLE || t.key == NOT_READY) && (t.effect == "NoSchedule" || t.effect == "NoExecute")
    };
    let mut taints: Vec<Taint> = current.iter().filter(|t| !ours(t) || Some(t.key.as_str()) == want).cloned().collect();
    if let Some(key) = want {
        for effect in ["NoSchedule", "NoExecute"] {
            if !taints.iter().any(|t| t.key == key && t.effect == effect) {
                let time_added = (effect == "NoExecute").then(|| Time(Timestamp::now()));
                taints.push(Taint { key: key.into(), effect: effect.into(), time_added, value: None });
            }
        }
    }
    (taints != current).then_some(taints)
}

fn zone_of(node: &Node) -> String {
    node.labels().get(ZONE_LABEL).cloned().unwrap_or_default()
}

/// The eviction rate of `zone` given every node's Ready condition (upstream's zone states).
fn zone_rate(ctx: &Context<State>, opts: &Options, zone: &str) -> f64 {
    let nodes = ctx.lister::<Node>().map(|l| l.list(&Default::default())).unwrap_or_default();
    // Per zone: (ready, not ready).
    let mut zones: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for n in &nodes {
        let counts = zones.entry(zone_of(n)).or_default();
        if ready_status(n) == Some("True") {
            counts.0 += 1
        } else {
            counts.1 += 1
        }
    }
    let fully_disrupted = |(ready, not_ready): (usize, usize)| ready == 0 && not_ready > 0;
    if !zones.is_empty() && zones.values().all(|c| fully_disrupted(*c)) {
        return 0.0; // every node is down: more likely the network or this controller than the nodes
    }
    let (ready, not_ready) = zones.get(zone).copied().unwrap_or_default();
    let share = not_ready as f64 / (ready + not_ready).max(1) as f64;
    if !fully_disrupted((ready, not_ready)) && not_ready > 2 && share >= opts.unhealthy_zone_threshold {
        opts.secondary_eviction_qps
    } else {
        opts.eviction_qps
    }
}

fn is_daemonset_pod(ctx: &Context<State>, pod: &Pod) -> bool {
    pod.owner_references().iter().any(|o| {
        o.controller == Some(true)
            && o.kind == "DaemonSet"
            && o.api_version == "apps/v1"
            && ctx
                .get::<DaemonSet>(&ObjectKey::namespaced(pod.namespace().unwrap_or_default(), &o.name))
                .is_some_and(|ds| ds.uid() == Some(o.uid.as_str()))
    })
}

/// Whether a toleration tolerates a taint (key, operator, value, effect).
fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if t.effect.as_deref().is_some_and(|e| !e.is_empty() && e != taint.effect) {
        return false;
    }
    let key = t.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" => {
            key == taint.key && t.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

/// When `pod` must go under the NoExecute `taints`: now when one is not tolerated, each taint's
/// `timeAdded` plus the smallest `tolerationSeconds` of its tolerations, `None` when every
/// taint is tolerated without a limit.
fn eviction_due(pod: &Pod, taints: &[&Taint]) -> Option<Timestamp> {
    let tolerations: &[Toleration] = pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
    let mut due: Option<Timestamp> = None;
    for taint in taints {
        let matching: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        let limit =
            if matching.is_empty() { Some(0) } else { matching.iter().filter_map(|t| t.toleration_seconds).min() };
        let Some(secs) = limit else { continue }; // tolerated forever
        let added = taint.time_added.as_ref().map_or_else(Timestamp::now, |t| t.0);
        let at = added.checked_add(k8s_openapi::jiff::SignedDuration::from_secs(secs.max(0))).unwrap_or(added);
        due = Some(due.map_or(at, |d| d.min(at)));
    }
    due
}

// ---- A fake kubelet, for the embedded server's scenario and for tests ----

/// Acts once as a node's kubelet: creates the node (with `zone`) if missing, renews its Lease
/// and posts `Ready=True` unless it is.
pub async fn heartbeat(client: &Client, node: &str, zone: &str) -> Result<(), BoxError> {
    let nodes = Api::<Node>::all(client.clone());
    let mut n = match nodes.get_opt(node).await? {
        Some(n) => n,
        None => {
            let n: Node = serde_json::from_value(
                json!({"metadata": {"name": node, "labels": {ZONE_LABEL: zone, "kubernetes.io/hostname": node}}}),
            )?;
            nodes.create(&Default::default(), &n).await?
        }
    };
    let leases = Api::<Lease>::namespaced(client.clone(), LEASE_NAMESPACE);
    let now = MicroTime(Timestamp::now());
    let renew = json!({"spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now}});
    match leases.patch(node, &PatchOptions::default(), &Patch::Merge(renew.clone())).await {
        Err(e) if e.is_not_found() => {
            let mut lease: Lease = serde_json::from_value(renew)?;
            lease.metadata.name = Some(node.into());
            leases.create(&Default::default(), &lease).await?;
        }
        r => drop(r?),
    }
    if ready_status(&n) != Some("True") {
        let now = Time(Timestamp::now());
        let conditions = n.status.get_or_insert_with(Default::default).conditions.get_or_insert_with(Vec::new);
        conditions.retain(|c| c.type_ != "Ready");
        conditions.push(NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: Some("KubeletReady".into()),
            message: Some("kubelet is posting ready status".into()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: Some(now),
        });
        nodes.replace_status(node, &Default::default(), &n).await?;
    }
    Ok(())
}

/// Runs [`heartbeat`] every `every` until `stop` is cancelled (errors are retried next time).
pub fn fake_kubelet(
    client: Client,
    node: &str,
    zone: &str,
    every: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (node, zone) = (node.to_owned(), zone.to_owned());
    tokio::spawn(async move {
        loop {
            if let Err(e) = heartbeat(&client, &node, &zone).await {
                eprintln!("fake kubelet {node}: {e}");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    })
}

/// The node's condition taints, as `key:effect` strings.
pub fn condition_taints(node: &Node) -> Vec<String> {
    node.spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .filter(|t| t.key == UNREACHABLE || t.key == NOT_READY)
        .map(|t| format!("{}:{}", t.key, t.effect))
        .collect()
}

// ---- The example ----

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("node_lifecycle", example().await)
}

async fn example() -> Result<(), BoxError> {
    let keep_running = common::for_seconds()?;
    let (conn, ns) = common::connect_to_write().await.map_err(|e| e.to_string())?;
    let client = conn.client.clone();
    let shutdown = CancellationToken::new();
    if conn.server.is_none() {
        let opts = Options::default();
        println!("running the node lifecycle controller ({opts:?})");
        let controller = tokio::spawn(run(client, opts, shutdown.clone()));
        tokio::select! {
            _ = tokio::time::sleep(keep_running.unwrap_or(Duration::from_secs(30))) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        shutdown.cancel();
        return Ok(controller.await??);
    }

    // The embedded server: two fake kubelets in two zones, a few pods on the first node. (A
    // real cluster has the Lease namespace; this server makes it only with its kubelet stand-in.)
    let namespace: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": LEASE_NAMESPACE}}))?;
    match Api::all(client.clone()).create(&Default::default(), &namespace).await {
        Err(e) if !e.is_already_exists() => return Err(e.into()),
        _ => {}
    }
    let kubelets = CancellationToken::new();
    let every = Duration::from_millis(300);
    let a = fake_kubelet(client.clone(), "node-a", "zone-a", every, kubelets.clone());
    let _b = fake_kubelet(client.clone(), "node-b", "zone-b", every, shutdown.clone());
    let pods = Api::<Pod>::namespaced(client.clone(), &ns);
    let tolerate = |secs: Option<i64>| json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs}]);
    // Every pod states its unreachable toleration: the API server would otherwise add one of 300 s
    // (the DefaultTolerationSeconds admission plugin).
    for (name, tolerations) in
        [("web", tolerate(Some(0))), ("patient", tolerate(Some(2))), ("stubborn", tolerate(None))]
    {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"nodeName": "node-a",
            "tolerations": tolerations, "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}))?;
        pods.create(&Default::default(), &pod).await?;
    }
    let opts = Options {
        grace_period: Duration::from_secs(2),
        eviction_qps: 1.0,
        monitor_period: Duration::from_millis(500),
        ..Default::default()
    };
    println!("running the node lifecycle controller (grace period {:?}) with fake kubelets on node-a (zone-a) and node-b (zone-b)", opts.grace_period);
    let controller = tokio::spawn(run(client.clone(), opts, shutdown.clone()));

    let nodes = Api::<Node>::all(client.clone());
    let deadline = Duration::from_secs(30);
    wait_for("node-a to be Ready", deadline, || async {
        Ok(ready_status(&nodes.get("node-a").await?) == Some("True"))
    })
    .await?;
    kubelets.cancel();
    let _ = a.await;
    println!("stopped node-a's kubelet");
    wait_for("node-a Unknown and tainted", deadline, || async {
        let n = nodes.get("node-a").await?;
        Ok(ready_status(&n) == Some("Unknown") && condition_taints(&n).len() == 2)
    })
    .await?;
    println!("node-a: Ready=Unknown (NodeStatusUnknown), taints {:?}", condition_taints(&nodes.get("node-a").await?));
    let evicted = |name: &'static str| {
        let pods = pods.clone();
        async move { Ok(pods.get_opt(name).await?.is_none_or(|p| p.metadata.deletion_timestamp.is_some())) }
    };
    wait_for("web evicted", deadline, || evicted("web")).await?;
    println!("web (tolerationSeconds 0) evicted");
    wait_for("patient evicted", deadline, || evicted("patient")).await?;
    println!("patient (tolerationSeconds 2) evicted");
    if evicted("stubborn").await? {
        return Err("stubborn tolerates the taint forever but was evicted".into());
    }
    println!("stubborn (tolerates forever) stays");

    let restarted = fake_kubelet(client.clone(), "node-a", "zone-a", every, shutdown.clone());
    println!("restarted node-a's kubelet");
    wait_for("node-a's taints removed", deadline, || async {
        let n = nodes.get("node-a").await?;
        Ok(ready_status(&n) == Some("True") && condition_taints(&n).is_empty())
    })
    .await?;
    println!("node-a: Ready=True, no condition taints");
    if let Some(d) = keep_running.filter(|d| !d.is_zero()) {
        println!("running {d:?} more (Ctrl-C ends early)");
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    shutdown.cancel();
    let _ = restarted.await;
    for name in ["web", "patient", "stubborn"] {
        let _ = pods.delete(name, &DeleteOptions { grace_period_seconds: Some(0), ..Default::default() }).await;
    }
    Ok(controller.await??)
}
