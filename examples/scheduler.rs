//! A small kube-scheduler: it binds the pods that name it in `spec.schedulerName` (default
//! `rudder-scheduler`) to nodes, with upstream's default filters and the least-allocated score.
//!
//! - Watches: the unscheduled pods that name it (field selector `spec.nodeName=` and
//!   `spec.schedulerName=<name>`, the controller's queue), every pod (a shared informer: what
//!   nodes already run) and the nodes (a shared informer).
//! - Filters, in upstream's plugin order (the predicates are `rudder::apimachinery::scheduling`):
//!   `spec.unschedulable` (unless the pod tolerates `node.kubernetes.io/unschedulable`), taints
//!   with effect NoSchedule/NoExecute against the pod's tolerations, `nodeSelector` and required
//!   node affinity, then the requests (cpu, memory, any other requested resource, and the pod
//!   count) against the node's allocatable minus what its pods (not Succeeded or Failed)
//!   request.
//! - Scores: upstream's LeastAllocated, the mean over cpu and memory of
//!   `(allocatable - requested) * 100 / allocatable` (requests counted with the scheduler's
//!   defaults, 100m and 200Mi, for containers that state none); the highest wins, ties go to the
//!   first name.
//! - Binds through `pods/binding` and records a `Scheduled` event. Between the decision and the
//!   moment the pod informer shows the binding, the pod is *assumed* on its node (counted there),
//!   so quick successive decisions never overcommit a node.
//! - A pod that fits nowhere gets a `FailedScheduling` Warning event with upstream's message
//!   ("0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu.") and
//!   is retried with back-off (1 s doubling to 10 s, upstream's pod back-off), and at once when a
//!   node is added or changes, or when a pod bound to a node goes away or terminates.
//!
//! `cargo run --example scheduler [-- --for N]`. On the embedded server it seeds three nodes
//! (one tainted) and a few pods, shows where they land, shows a pod that fits nowhere, adds a
//! bigger node and shows that pod scheduled, then keeps scheduling for N more seconds (default
//! 0). Against a real cluster it schedules, for N seconds, the pods that name it; it creates
//! nothing itself.

mod common;
use common::wait_for;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod, Taint};
use rudder::apimachinery::meta::HasMetadata;
use rudder::apimachinery::quantity::Quantity;
use rudder::apimachinery::scheduling::{
    self, find_untolerated_taint, pod_matches_node, pod_requests, schedule_blocking, tolerated_by, RequestsOptions,
    ResourceList,
};
use rudder::client::{api::Api, Client};
use rudder::controller::{
    Action, CancellationToken, Context, Controller, ControllerError, ObjectKey, Predicate, WatchOptions,
};
use rudder::informer::record::EventType;
use rudder::informer::workqueue::ItemExponentialFailureRateLimiter;
use rudder::informer::{Indexer, Lister, SharedInformerFactory};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The scheduler name pods ask for by default.
pub const DEFAULT_NAME: &str = "rudder-scheduler";

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `spec.schedulerName` it serves, also its event source (default [`DEFAULT_NAME`]).
    pub name: String,
    /// First retry of an unschedulable pod (default 1 s, upstream's `podInitialBackoffSeconds`).
    pub initial_backoff: Duration,
    /// Longest retry interval (default 10 s, upstream's `podMaxBackoffSeconds`).
    pub max_backoff: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            name: DEFAULT_NAME.into(),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// Runs the scheduler until `shutdown` is cancelled.
pub async fn run(client: Client, opts: Options, shutdown: CancellationToken) -> Result<(), ControllerError> {
    let factory = SharedInformerFactory::new(client.clone());
    let all_pods = factory.informer::<Pod>();
    let nodes = factory.informer::<Node>();
    let unschedulable: Arc<Mutex<BTreeSet<ObjectKey>>> = Arc::default();
    let state = State {
        pods: all_pods.lister(),
        nodes: nodes.lister(),
        assumed: Mutex::default(),
        unschedulable: unschedulable.clone(),
    };

    let retry_all = {
        let unschedulable = unschedulable.clone();
        move || lock(&unschedulable).iter().cloned().collect::<Vec<_>>()
    };
    let retry_on_node = retry_all.clone();
    let pods_cache = all_pods.indexer().clone();
    // Every change of a waiting pod (tolerations, labels ...) is worth another attempt.
    let queue = WatchOptions::new()
        .fields(format!("spec.nodeName=,spec.schedulerName={}", opts.name))
        .predicate(Predicate::resource_version_changed());
    let limiter = ItemExponentialFailureRateLimiter::<ObjectKey>::new(opts.initial_backoff, opts.max_backoff);
    let controller = Controller::<Pod>::with_factory(client, &factory, queue)
        // A node added or changed may fit what did not fit before.
        .watches::<Node>(WatchOptions::new(), move |_| retry_on_node())
        // So may a bound pod that went away or finished.
        .watches::<Pod>(
            WatchOptions::new(),
            move |pod| if frees_resources(pod, &pods_cache) { retry_all() } else { vec![] },
        )
        .rate_limiter(Arc::new(limiter))
        .name(opts.name);
    let result = controller.run(schedule, state, shutdown).await;
    factory.shutdown().await;
    result
}

/// Locks a mutex held only for short, non-async sections (a poisoned one is still consistent:
/// every section leaves it whole).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether a pod event may have freed room on a node: the pod was bound and is now gone (the
/// cache no longer holds it) or finished.
fn frees_resources(pod: &Pod, cache: &Indexer<Pod>) -> bool {
    let bound = pod.spec.as_ref().is_some_and(|s| s.node_name.is_some());
    let gone = cache.get_by_key(&ObjectKey::of(pod).to_string()).is_none_or(|p| p.uid() != pod.uid());
    bound && (gone || terminal(pod))
}

fn terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// What a reconcile reads and the decisions it remembers.
struct State {
    pods: Lister<Pod>,
    nodes: Lister<Node>,
    /// Pods bound by this scheduler whose binding the pod cache does not show yet.
    assumed: Mutex<HashMap<ObjectKey, Assumed>>,
    /// Pods that fit nowhere at their last attempt: retried when the cluster changes.
    unschedulable: Arc<Mutex<BTreeSet<ObjectKey>>>,
}

struct Assumed {
    uid: Option<String>,
    node: String,
    usage: Usage,
}

/// Why a pod was not bound.
#[derive(Debug, thiserror::Error)]
enum ScheduleError {
    #[error("{0}")]
    Unschedulable(String),
    #[error("binding to {node}: {source}")]
    Bind { node: String, source: rudder::client::Error },
}

/// One reconcile: schedule the pod at `key`, if it still waits for a node.
async fn schedule(key: ObjectKey, ctx: Context<State>) -> Result<Action, ScheduleError> {
    let state = ctx.state();
    let pod = ctx.get::<Pod>(&key).filter(|p| p.metadata.deletion_timestamp.is_none());
    let Some(pod) = pod.filter(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_none())) else {
        lock(&state.unschedulable).remove(&key);
        return Ok(Action::done()); // gone, being deleted, or bound
    };
    let node = match state.decide_and_assume(&key, &pod) {
        Ok(node) => node,
        Err(message) => {
            ctx.recorder().event_for(&*pod, EventType::Warning, "FailedScheduling", &message);
            lock(&state.unschedulable).insert(key);
            return Err(ScheduleError::Unschedulable(message)); // retried with back-off
        }
    };
    lock(&state.unschedulable).remove(&key);
    let binding = Binding {
        metadata: rudder::apimachinery::ObjectMeta {
            name: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            uid: pod.metadata.uid.clone(), // the server refuses to bind a pod re-created meanwhile
            ..Default::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.clone()),
            ..Default::default()
        },
    };
    let pods = Api::<Pod>::namespaced(ctx.client().clone(), key.namespace().unwrap_or_default());
    match pods.create_binding(pod.name(), &binding).await {
        Ok(()) => {
            let message = format!("Successfully assigned {key} to {node}");
            ctx.recorder().event_for(&*pod, EventType::Normal, "Scheduled", &message);
            Ok(Action::done())
        }
        Err(e) => {
            lock(&state.assumed).remove(&key);
            if e.is_not_found() {
                return Ok(Action::done()); // deleted meanwhile
            }
            Err(ScheduleError::Bind { node, source: e }) // a bound pod leaves the queue; others retry
        }
    }
}

/// What the pods on a node request: exactly (the fit) and with the scoring defaults.
#[derive(Default, Clone)]
struct Usage {
    requested: ResourceList,
    /// Millicores and bytes, with 100m / 200Mi for containers that state no request.
    scoring_cpu: i64,
    scoring_memory: i64,
    pods: i64,
}

impl Usage {
    fn of(pod: &Pod) -> Result<Usage, String> {
        let Some(spec) = pod.spec.as_ref() else { return Ok(Usage::default()) };
        let invalid = |e: scheduling::RequestsError| format!("invalid requests: {e}");
        let requested = pod_requests(spec, &RequestsOptions::default()).map_err(invalid)?;
        let defaults = RequestsOptions { container_defaults: scheduling::scoring_defaults(), ..Default::default() };
        let scoring = pod_requests(spec, &defaults).map_err(invalid)?;
        let get = |l: &ResourceList, r: &str| l.get(r).copied().unwrap_or_default();
        Ok(Usage {
            requested,
            scoring_cpu: get(&scoring, "cpu").milli_value(),
            scoring_memory: get(&scoring, "memory").value(),
            pods: 1,
        })
    }

    fn add(&mut self, other: &Usage) {
        // Sums that overflow 38 digits are left out: no real node gets there.
        let _ = scheduling::add(&mut self.requested, &other.requested);
        self.scoring_cpu = self.scoring_cpu.saturating_add(other.scoring_cpu);
        self.scoring_memory = self.scoring_memory.saturating_add(other.scoring_memory);
        self.pods += other.pods;
    }
}

impl State {
    /// Picks a node for `pod` and assumes it there, or says why none fits (upstream's message).
    /// One lock covers reading the usage and assuming, so concurrent decisions see each other.
    fn decide_and_assume(&self, key: &ObjectKey, pod: &Pod) -> Result<String, String> {
        let need = Usage::of(pod)?;
        let spec = pod.spec.clone().unwrap_or_default();
        let mut assumed = lock(&self.assumed);
        let usage = self.usage_by_node(&mut assumed);
        let nodes = self.nodes.list(&Default::default());
        if nodes.is_empty() {
            return Err("no nodes available to schedule pods".into());
        }
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut best: Option<(i64, &str)> = None;
        for node in &nodes {
            let used = usage.get(node.name()).cloned().unwrap_or_default();
            match filter(&spec, node, &used, &need) {
                Err(why) => why.into_iter().for_each(|r| *reasons.entry(r).or_default() += 1),
                Ok(alloc) => {
                    let score = least_allocated(&alloc, &used, &need);
                    // Highest score; on a tie the first name (nodes are visited in any order).
                    if best.is_none_or(|(s, n)| score > s || (score == s && node.name() < n)) {
                        best = Some((score, node.name()));
                    }
                }
            }
        }
        let Some((_, node)) = best else {
            let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
            parts.sort();
            return Err(format!("0/{} nodes are available: {}.", nodes.len(), parts.join(", ")));
        };
        assumed.insert(key.clone(), Assumed { uid: pod.uid().map(Into::into), node: node.into(), usage: need });
        Ok(node.to_owned())
    }

    /// What each node's pods request: the bound pods in the cache (not Succeeded or Failed) and
    /// the assumed ones. Assumptions the cache has caught up with (bound, deleted or replaced)
    /// are dropped here.
    fn usage_by_node(&self, assumed: &mut HashMap<ObjectKey, Assumed>) -> HashMap<String, Usage> {
        let mut usage: HashMap<String, Usage> = HashMap::new();
        for pod in self.pods.list(&Default::default()) {
            let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else { continue };
            if terminal(&pod) {
                continue;
            }
            // A bound pod with unreadable requests counts as a pod requesting nothing.
            let need = Usage::of(&pod).unwrap_or(Usage { pods: 1, ..Default::default() });
            usage.entry(node.to_owned()).or_default().add(&need);
        }
        assumed.retain(|key, a| {
            let cached = self.pods.namespace(key.namespace().unwrap_or_default()).get(&key.name);
            let pending = cached
                .is_some_and(|p| p.uid() == a.uid.as_deref() && p.spec.as_ref().is_some_and(|s| s.node_name.is_none()));
            if pending {
                usage.entry(a.node.clone()).or_default().add(&a.usage);
            }
            pending
        });
        usage
    }
}

/// Upstream's filters for one node, in plugin order; `Ok` gives the node's allocatable,
/// `Err` the reasons it does not fit (as upstream words them).
fn filter(
    pod: &k8s_openapi::api::core::v1::PodSpec,
    node: &Node,
    used: &Usage,
    need: &Usage,
) -> Result<ResourceList, Vec<String>> {
    let tolerations = pod.tolerations.as_deref().unwrap_or_default();
    let node_spec = node.spec.clone().unwrap_or_default();
    if node_spec.unschedulable == Some(true) {
        let cordon = Taint {
            key: scheduling::TAINT_NODE_UNSCHEDULABLE.into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        if !tolerated_by(tolerations, &cordon) {
            return Err(vec!["node(s) were unschedulable".into()]);
        }
    }
    let taints = node_spec.taints.as_deref().unwrap_or_default();
    if let Some(t) = find_untolerated_taint(taints, tolerations, schedule_blocking) {
        return Err(vec![format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value.as_deref().unwrap_or(""))]);
    }
    if pod_matches_node(pod, node) != Ok(true) {
        return Err(vec!["node(s) didn't match Pod's node affinity/selector".into()]);
    }
    let alloc: ResourceList = node
        .status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|(name, q)| Some((name.clone(), Quantity::try_from(q).ok()?)))
        .collect();
    let mut reasons = Vec::new();
    let max_pods = alloc.get("pods").map_or(0, Quantity::value);
    if used.pods + 1 > max_pods {
        reasons.push("Too many pods".to_owned());
    }
    for (name, want) in &need.requested {
        if want.signum() <= 0 {
            continue;
        }
        let zero = Quantity::default();
        let free = alloc.get(name).unwrap_or(&zero).checked_sub(used.requested.get(name).unwrap_or(&zero));
        if free.is_none_or(|free| *want > free) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    if reasons.is_empty() {
        Ok(alloc)
    } else {
        Err(reasons)
    }
}

/// Upstream's NodeResourcesLeastAllocated score (0..=100): the mean over cpu and memory (weight
/// 1 each) of the share left free once the pod is added.
fn least_allocated(alloc: &ResourceList, used: &Usage, need: &Usage) -> i64 {
    let score = |capacity: i64, requested: i64| {
        if capacity <= 0 || requested > capacity {
            0
        } else {
            (capacity - requested) * 100 / capacity
        }
    };
    let get = |r: &str| alloc.get(r).copied().unwrap_or_default();
    let cpu = score(get("cpu").milli_value(), used.scoring_cpu.saturating_add(need.scoring_cpu));
    let memory = score(get("memory").value(), used.scoring_memory.saturating_add(need.scoring_memory));
    (cpu + memory) / 2
}

// ---- the self-driving demo (embedded server only) ----

/// A pod asking for `scheduler`, with one container requesting `cpu` and `memory`.
pub fn pod(name: &str, scheduler: &str, cpu: &str, memory: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {"schedulerName": scheduler, "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}
    }))
    .unwrap_or_default()
}

/// `pod` tolerating the taint `key` (any value, any effect).
pub fn tolerating(mut pod: Pod, key: &str) -> Pod {
    let toleration = serde_json::from_value(serde_json::json!({"key": key, "operator": "Exists"})).unwrap_or_default();
    if let Some(spec) = pod.spec.as_mut() {
        spec.tolerations.get_or_insert_with(Vec::new).push(toleration);
    }
    pod
}

/// Where each pod of `namespace` is bound (`None`: pending), by name.
pub async fn placements(
    client: &Client,
    namespace: &str,
) -> Result<BTreeMap<String, Option<String>>, rudder::client::Error> {
    let pods = Api::<Pod>::namespaced(client.clone(), namespace).list(&Default::default()).await?;
    Ok(pods.items.into_iter().map(|p| (p.name().to_owned(), p.spec.and_then(|s| s.node_name))).collect())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("scheduler", example().await)
}

async fn example() -> Result<(), BoxError> {
    // A pod that fits nowhere is a failed reconcile, which the controller logs at error level;
    // the FailedScheduling events say the same, so those logs are off unless RUST_LOG asks.
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,rudder_controller=off".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let keep_running = common::for_seconds()?.unwrap_or_default();
    let conn = common::connect().await.map_err(|e| e.to_string())?;
    let client = conn.client.clone();
    let shutdown = CancellationToken::new();
    let scheduler = tokio::spawn(run(client.clone(), Options::default(), shutdown.clone()));
    println!("scheduling pods with spec.schedulerName={DEFAULT_NAME}");

    let demo = match &conn.server {
        Some(server) => demo(&client, &server.control()).await,
        None => Ok(()),
    };
    if demo.is_ok() && !keep_running.is_zero() {
        println!("running {keep_running:?} more (Ctrl-C ends early)");
        tokio::select! {
            _ = tokio::time::sleep(keep_running) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    shutdown.cancel();
    scheduler.await??;
    demo
}

/// How long the demo waits for each thing the scheduler should do.
const WAIT: Duration = Duration::from_secs(20);

/// Three nodes (the small one tainted), pods of mixed sizes, one too big for any node until a
/// bigger node joins.
async fn demo(client: &Client, control: &rudder_apiserver::Control) -> Result<(), BoxError> {
    let ns = client.default_namespace().to_owned();
    control.add_node("small", &[("cpu", "2"), ("memory", "4Gi")]);
    control.add_node("medium", &[("cpu", "4"), ("memory", "8Gi")]);
    control.add_node("large", &[("cpu", "8"), ("memory", "16Gi")]);
    let taint =
        serde_json::json!({"spec": {"taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]}});
    let nodes = Api::<Node>::all(client.clone());
    nodes.patch("small", &Default::default(), &rudder::apimachinery::Patch::Merge(taint)).await?;

    let pods = Api::<Pod>::namespaced(client.clone(), &ns);
    for (name, cpu, memory) in
        [("web-1", "500m", "512Mi"), ("web-2", "500m", "512Mi"), ("db", "2", "4Gi"), ("huge", "12", "1Gi")]
    {
        pods.create(&Default::default(), &pod(name, DEFAULT_NAME, cpu, memory)).await?;
    }
    pods.create(&Default::default(), &tolerating(pod("batch", DEFAULT_NAME, "1", "1Gi"), "dedicated")).await?;
    let settled = |p: &BTreeMap<String, Option<String>>| p.iter().all(|(n, node)| node.is_some() == (n != "huge"));
    let placed = wait_for("every pod but huge bound", WAIT, || async {
        Ok(Some(placements(client, &ns).await?).filter(settled))
    })
    .await?;
    for (pod, node) in &placed {
        println!("  {pod:<6} -> {}", node.as_deref().unwrap_or("(pending)"));
    }
    let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), &ns);
    let failed = wait_for("a FailedScheduling event", WAIT, || async {
        let list = events.list(&Default::default()).await?;
        Ok(list.items.into_iter().find(|e| e.reason.as_deref() == Some("FailedScheduling")).and_then(|e| e.message))
    })
    .await?;
    println!("huge: FailedScheduling: {failed}");
    control.add_node("xlarge", &[("cpu", "16"), ("memory", "64Gi")]);
    println!("added node xlarge (16 cpu)");
    let placed =
        wait_for("huge bound", WAIT, || async { Ok(placements(client, &ns).await?.remove("huge").flatten()) }).await?;
    println!("  huge   -> {placed}");
    Ok(())
}
