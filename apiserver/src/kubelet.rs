//! A kubelet stand-in, the way kwok simulates nodes and pods without kubelets: registered nodes
//! report `Ready` and renew their Lease, and pods bound to them start, run and stop.
//!
//! Contract:
//! - A node is *registered* (simulated) when it was created through [`Control::add_node`], or
//!   created by anyone while the stand-in is on ([`crate::ApiServerBuilder::kubelet`]). A
//!   registered node gets, once, the status a real kubelet posts (conditions with `Ready=True`,
//!   capacity and allocatable, addresses, nodeInfo, daemon endpoints), and its Lease in
//!   `kube-node-lease` is renewed every [`KubeletOptions::lease_interval`].
//! - A pod bound to a registered, running node goes Pending (`ContainerCreating`, host IP, start
//!   time) then Running (pod IP, container statuses, the 1.32 conditions), in two status writes
//!   made as a kubelet's `PATCH pods/status` would be (manager `kubelet`, watch events). A test
//!   sets, per container, log lines, an exit code (the container terminates, or restarts as the
//!   pod's `restartPolicy` says; the pod turns Succeeded or Failed once every container is
//!   terminated) and readiness.
//! - [`Control::add_node`] creates the Node as a kubelet registers it: with its status
//!   (capacity, allocatable, conditions) in the create itself.
//! - [`Control::stop_kubelet`] stops one node's kubelet: its Lease is no longer renewed and its
//!   pods are no longer updated; its `Ready` condition is left as it is (marking it `Unknown` is
//!   the node lifecycle controller's job). [`Control::start_kubelet`] brings it back: status
//!   posted at once (`Ready` True again), Lease renewed, pods updated.
//! - A pod being deleted gracefully on a running node is confirmed after its grace period
//!   (`confirm_pod_termination`).
//! - The simulation is one task driven by the store's events on pods and nodes (no polling);
//!   each event costs one pod's or one node's work. It re-lists once when its watches are
//!   dropped ([`Control::drop_watches`]) or fall behind, and ends when the server is dropped.
//!   While it runs it holds two of the store's watches ([`Control::open_watches`] counts them).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod logs;
mod status;

pub(crate) use logs::serve as serve_log;

use status::{container_id, node_status, pod_status};

use crate::control::Control;
use crate::server::{now_rfc3339, Shared, State, Target};
use crate::store::{EventKind, ResKey};

/// The namespace of node Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The field manager of the stand-in's writes.
pub const MANAGER: &str = "kubelet";
/// The Lease duration a kubelet asks for (`nodeLeaseDurationSeconds`).
const LEASE_DURATION_SECONDS: i64 = 40;

/// Options of the kubelet stand-in.
#[derive(Debug, Clone)]
pub struct KubeletOptions {
    /// Interval between Lease renewals (default 10 s, the real kubelet's: a quarter of the
    /// 40 s lease duration).
    pub lease_interval: Duration,
}

impl Default for KubeletOptions {
    fn default() -> Self {
        Self { lease_interval: Duration::from_secs(10) }
    }
}

impl KubeletOptions {
    /// Sets the interval between Lease renewals.
    pub fn lease_interval(mut self, d: Duration) -> Self {
        self.lease_interval = d.max(Duration::from_millis(1));
        self
    }
}

/// One simulated node.
#[derive(Debug, Clone)]
struct NodeSim {
    /// The machine's identity (`nodeInfo.systemUUID` and the ids derived from it): the Node's
    /// uid when the stand-in adopted a Node someone else created, a fresh one when
    /// [`Control::add_node`] created it with its status.
    uid: String,
    /// The uid of the Node object this kubelet registered (a recreated Node registers anew).
    node_uid: String,
    index: u32,
    stopped: bool,
    /// Bumped when a stopped kubelet starts again: Lease renewals of an older run are dropped.
    run: u64,
    /// When the kubelet (re)started: its conditions' heartbeat, and the transition time of
    /// those that changed then.
    registered_at: String,
    capacity: Map<String, Value>,
    next_pod_ip: u32,
}

impl NodeSim {
    fn host_ip(&self) -> String {
        format!("172.18.{}.{}", self.index / 250, self.index % 250 + 2)
    }
}

/// A container's terminated instance.
#[derive(Debug, Clone)]
struct Terminated {
    code: i32,
    started: String,
    finished: String,
    id: String,
}

/// One log line with the time it was written.
#[derive(Debug, Clone)]
pub(crate) struct LogLine {
    pub(crate) time: String,
    pub(crate) text: String,
}

/// What a test set for one container, and its simulated runtime state.
#[derive(Debug, Clone)]
struct ContainerSim {
    logs: Vec<LogLine>,
    previous_logs: Option<Vec<LogLine>>,
    exit: Option<Terminated>,
    last: Option<Terminated>,
    restarts: i64,
    started_at: Option<String>,
    ready: bool,
}

impl Default for ContainerSim {
    fn default() -> Self {
        Self {
            logs: Vec::new(),
            previous_logs: None,
            exit: None,
            last: None,
            restarts: 0,
            started_at: None,
            ready: true,
        }
    }
}

/// One pod as its kubelet sees it.
#[derive(Debug, Clone, Default)]
struct PodSim {
    uid: String,
    node: String,
    pod_ip: Option<String>,
    start_time: Option<String>,
    /// The first (ContainerCreating) status was written.
    created: bool,
    /// Termination is scheduled.
    terminating: bool,
    containers: BTreeMap<String, ContainerSim>,
}

/// Work due at a time.
#[derive(Debug, Clone)]
enum Timer {
    /// Renew a node's Lease, for the kubelet's run of that number.
    RenewLease(String, u64),
    ConfirmTermination {
        ns: String,
        name: String,
        uid: String,
    },
}

/// The stand-in's state, kept in the server's [`State`] (under the store lock).
#[derive(Debug, Default)]
pub struct Kubelet {
    /// Every node created is registered.
    adopt_all: bool,
    opts: KubeletOptions,
    nodes: BTreeMap<String, NodeSim>,
    pods: HashMap<(String, String), PodSim>,
    timers: BTreeMap<(Instant, u64), Timer>,
    timer_seq: u64,
    next_node_index: u32,
    /// Wakes the task when a timer was added.
    wake: Arc<Notify>,
    /// Bumped on every log change (followed logs wait on it).
    logs_version: Option<watch::Sender<u64>>,
    /// Set while the task runs.
    running: Option<CancellationToken>,
}

impl Kubelet {
    fn schedule(&mut self, at: Instant, t: Timer) {
        self.timer_seq += 1;
        self.timers.insert((at, self.timer_seq), t);
        self.wake.notify_one();
    }

    fn bump_logs(&mut self) {
        self.logs_version.get_or_insert_with(|| watch::channel(0).0).send_modify(|v| *v += 1);
    }

    /// The simulated node a pod is bound to, if its kubelet runs.
    fn running_node(&self, name: &str) -> Option<&NodeSim> {
        self.nodes.get(name).filter(|n| !n.stopped)
    }

    /// Whether a pod is simulated (bound to a registered node).
    pub(crate) fn simulates_pod(&self, ns: &str, name: &str) -> bool {
        self.pods.get(&(ns.to_string(), name.to_string())).is_some_and(|p| self.nodes.contains_key(&p.node))
    }

    /// The log of a simulated container: its lines (the previous instance's with `previous`),
    /// or the message of the 400 the real server answers.
    pub(crate) fn container_log(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<Vec<LogLine>, String> {
        let c = self.pods.get(&(ns.to_string(), pod.to_string())).and_then(|p| p.containers.get(container));
        match (c, previous) {
            (Some(c), true) => c
                .previous_logs
                .clone()
                .ok_or_else(|| format!("previous terminated container {container:?} in pod {pod:?} not found")),
            (Some(c), false) => Ok(c.logs.clone()),
            (None, true) => Err(format!("previous terminated container {container:?} in pod {pod:?} not found")),
            (None, false) => Ok(Vec::new()),
        }
    }

    /// The instance of a simulated container: its restart count and whether it has ended.
    pub(crate) fn container_instance(&self, ns: &str, pod: &str, container: &str) -> Option<(i64, bool)> {
        let p = self.pods.get(&(ns.to_string(), pod.to_string()))?;
        p.containers.get(container).map(|c| (c.restarts, c.exit.is_some()))
    }

    /// Whether a simulated container has started (init containers: once any container has).
    pub(crate) fn container_started(&self, ns: &str, pod: &str, container: &str) -> bool {
        self.pods.get(&(ns.to_string(), pod.to_string())).filter(|p| p.created).is_some_and(|p| {
            match p.containers.get(container) {
                Some(c) => c.started_at.is_some() || c.exit.is_some(),
                None => p.containers.values().any(|c| c.started_at.is_some()),
            }
        })
    }

    /// A receiver woken on every log change.
    pub(crate) fn logs_changed(&mut self) -> watch::Receiver<u64> {
        self.logs_version.get_or_insert_with(|| watch::channel(0).0).subscribe()
    }

    /// Whether a simulated container is running now.
    pub(crate) fn container_running(&self, ns: &str, pod: &str, container: &str) -> bool {
        self.pods
            .get(&(ns.to_string(), pod.to_string()))
            .filter(|p| p.created && self.running_node(&p.node).is_some())
            .and_then(|p| p.containers.get(container))
            .is_some_and(|c| c.started_at.is_some() && c.exit.is_none())
    }

    /// The names of the registered nodes whose kubelet runs.
    pub(crate) fn running_nodes(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().filter(|(_, n)| !n.stopped).map(|(k, _)| k.as_str())
    }
}

/// Turns the stand-in on at server start: every node created is registered.
pub(crate) fn enable(shared: &Arc<Shared>, opts: KubeletOptions) {
    {
        let mut st = shared.state.lock();
        st.kubelet.adopt_all = true;
        st.kubelet.opts = opts;
        ensure_lease_namespace(shared, &mut st);
    }
    ensure_running(shared);
}

/// Ends the task (the server is being dropped).
pub(crate) fn stop(shared: &Shared) {
    if let Some(t) = shared.state.lock().kubelet.running.take() {
        t.cancel();
    }
}

/// Starts the task unless it runs (needs a tokio runtime; without one, the writes that
/// [`Control`] makes still happen, but nothing reacts to events or timers).
fn ensure_running(shared: &Arc<Shared>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
    let token = {
        let mut st = shared.state.lock();
        if st.kubelet.running.is_some() {
            return;
        }
        let t = CancellationToken::new();
        st.kubelet.running = Some(t.clone());
        t
    };
    rt.spawn(run(Arc::downgrade(shared), token));
}

fn pods_res() -> ResKey {
    (String::new(), "pods".into())
}

fn nodes_res() -> ResKey {
    (String::new(), "nodes".into())
}

/// The task: store events on pods and nodes, and timers.
async fn run(weak: Weak<Shared>, cancel: CancellationToken) {
    let wake = match weak.upgrade() {
        Some(s) => s.state.lock().kubelet.wake.clone(),
        None => return,
    };
    'subscribe: loop {
        let (mut pods_rx, mut nodes_rx, pods_closed, nodes_closed) = {
            let Some(shared) = weak.upgrade() else { return };
            let mut st = shared.state.lock();
            let (_, p, pc) = st.store.add_watcher(&pods_res());
            let (_, n, nc) = st.store.add_watcher(&nodes_res());
            resync(&shared, &mut st);
            (p, n, pc, nc)
        };
        loop {
            let next = weak.upgrade().and_then(|s| s.state.lock().kubelet.timers.keys().next().map(|k| k.0));
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = pods_closed.cancelled() => continue 'subscribe,
                _ = nodes_closed.cancelled() => continue 'subscribe,
                ev = pods_rx.recv() => {
                    let Some(ev) = ev else { continue 'subscribe };
                    let Some(shared) = weak.upgrade() else { return };
                    let mut st = shared.state.lock();
                    if ev.kind == EventKind::Deleted {
                        let key = (ev.obj.ns.clone(), ev.obj.name.clone());
                        if st.kubelet.pods.get(&key).is_some_and(|p| p.uid == ev.obj.uid) {
                            st.kubelet.pods.remove(&key);
                        }
                    } else {
                        sync_pod(&shared, &mut st, &ev.obj.ns, &ev.obj.name);
                    }
                }
                ev = nodes_rx.recv() => {
                    let Some(ev) = ev else { continue 'subscribe };
                    let Some(shared) = weak.upgrade() else { return };
                    let mut st = shared.state.lock();
                    match ev.kind {
                        EventKind::Deleted => { st.kubelet.nodes.remove(&ev.obj.name); }
                        EventKind::Added if st.kubelet.adopt_all => register_node(&shared, &mut st, &ev.obj.name, None),
                        _ => {}
                    }
                }
                _ = wake.notified() => {}
                _ = sleep => {
                    let Some(shared) = weak.upgrade() else { return };
                    let mut st = shared.state.lock();
                    let now = Instant::now();
                    // Bounded work per wake-up: at most 64 timers, the rest on the next turn.
                    for _ in 0..64 {
                        let Some((&key, _)) = st.kubelet.timers.iter().next() else { break };
                        if key.0 > now {
                            break;
                        }
                        let Some(t) = st.kubelet.timers.remove(&key) else { break };
                        fire(&shared, &mut st, t);
                    }
                }
            }
        }
    }
}

/// Re-reads every node and pod (at start, and after the watches were dropped).
fn resync(shared: &Arc<Shared>, st: &mut State) {
    let nodes: Vec<String> = st
        .store
        .tables
        .get(&nodes_res())
        .map(|t| t.objects.values().map(|o| o.name.clone()).collect())
        .unwrap_or_default();
    for n in nodes {
        if st.kubelet.adopt_all || st.kubelet.nodes.contains_key(&n) {
            register_node(shared, st, &n, None);
        }
    }
    let pods: Vec<(String, String)> = st
        .store
        .tables
        .get(&pods_res())
        .map(|t| t.objects.values().filter(|o| st.kubelet.nodes.contains_key(&node_of(o))).map(|o| o.key()).collect())
        .unwrap_or_default();
    for (ns, name) in pods {
        sync_pod(shared, st, &ns, &name);
    }
}

fn node_of(o: &crate::store::Obj) -> String {
    o.field("spec.nodeName").unwrap_or_default()
}

fn fire(shared: &Arc<Shared>, st: &mut State, t: Timer) {
    match t {
        Timer::RenewLease(node, run) => {
            if st.kubelet.running_node(&node).is_none_or(|n| n.run != run) {
                return;
            }
            renew_lease(shared, st, &node);
            let at = Instant::now() + st.kubelet.opts.lease_interval;
            st.kubelet.schedule(at, Timer::RenewLease(node, run));
        }
        Timer::ConfirmTermination { ns, name, uid } => {
            let node = st.kubelet.pods.get(&(ns.clone(), name.clone())).map(|p| p.node.clone()).unwrap_or_default();
            if st.kubelet.running_node(&node).is_some() {
                confirm_pod_termination(shared, st, &ns, &name, &uid);
            }
        }
    }
}

/// A target for an in-process write.
fn target(st: &State, group: &str, plural: &str, ns: Option<&str>, name: &str, sub: Option<&str>) -> Option<Target> {
    let info = st.registry.get(group, "v1", plural)?.clone();
    Some(Target {
        res: crate::server::res_key(&info),
        info,
        ns: ns.map(String::from),
        name: Some(name.to_string()),
        sub: sub.map(String::from),
        watch_prefix: false,
    })
}

fn ensure_lease_namespace(shared: &Arc<Shared>, st: &mut State) {
    if st.store.get(&(String::new(), "namespaces".into()), "", NODE_LEASE_NAMESPACE).is_some() {
        return;
    }
    if let Some(t) = target(st, "", "namespaces", None, NODE_LEASE_NAMESPACE, None) {
        let v = json!({"metadata": {"name": NODE_LEASE_NAMESPACE}});
        if let Err(e) = crate::handlers::create_internal(shared, st, &t, v, "kube-apiserver") {
            tracing::debug!("kubelet stand-in: creating namespace {NODE_LEASE_NAMESPACE}: {}", e.status.message);
        }
    }
}

/// Default capacity of a simulated node.
fn default_capacity() -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in [
        ("cpu", "4"),
        ("ephemeral-storage", "102400Mi"),
        ("hugepages-1Gi", "0"),
        ("hugepages-2Mi", "0"),
        ("memory", "16Gi"),
        ("pods", "110"),
    ] {
        m.insert(k.into(), Value::from(v));
    }
    m
}

/// A new simulated node (not yet registered): the default resources under `stored` (a status
/// capacity someone posted), then `given`.
fn new_sim(st: &mut State, uid: String, stored: Option<&Value>, given: &[(&str, &str)]) -> NodeSim {
    let index = st.kubelet.next_node_index;
    st.kubelet.next_node_index += 1;
    let mut capacity = default_capacity();
    if let Some(Value::Object(posted)) = stored {
        capacity.extend(posted.clone());
    }
    for (k, v) in given {
        capacity.insert(k.to_string(), Value::from(*v));
    }
    NodeSim {
        uid,
        node_uid: String::new(),
        index,
        stopped: false,
        run: 0,
        registered_at: now_rfc3339(),
        capacity,
        next_pod_ip: 2,
    }
}

/// Starts a node's kubelet: its Lease is renewed now and every lease interval.
fn start_sim(shared: &Arc<Shared>, st: &mut State, name: &str, sim: NodeSim) {
    let run = sim.run;
    st.kubelet.nodes.insert(name.to_string(), sim);
    ensure_lease_namespace(shared, st);
    let interval = st.kubelet.opts.lease_interval;
    renew_lease(shared, st, name);
    st.kubelet.schedule(Instant::now() + interval, Timer::RenewLease(name.to_string(), run));
}

/// The status this kubelet posts for its node: [`node_status`], keeping the
/// `lastTransitionTime` of every condition whose status it does not change.
fn kubelet_node_status(name: &str, sim: &NodeSim, old: Option<&Value>) -> Value {
    let mut status = node_status(name, sim, old);
    let before = old.and_then(|o| o.get("conditions")).and_then(Value::as_array).cloned().unwrap_or_default();
    for c in status.get_mut("conditions").and_then(Value::as_array_mut).into_iter().flatten() {
        let same = before.iter().find(|b| b.get("type") == c.get("type") && b.get("status") == c.get("status"));
        if let Some(since) = same.and_then(|b| b.get("lastTransitionTime")) {
            c["lastTransitionTime"] = since.clone();
        }
    }
    status
}

/// Registers a node with the stand-in (idempotent) and posts its status; `capacity` overrides
/// the default resources.
fn register_node(shared: &Arc<Shared>, st: &mut State, name: &str, capacity: Option<&[(&str, &str)]>) {
    let Some(cur) = st.store.get(&nodes_res(), "", name) else { return };
    let fresh = match st.kubelet.nodes.get(name) {
        Some(n) => n.node_uid != cur.uid,
        None => true,
    };
    if fresh {
        let stored = cur.value();
        let mut sim = new_sim(st, cur.uid.clone(), stored.pointer("/status/capacity"), &[]);
        sim.node_uid = cur.uid.clone();
        start_sim(shared, st, name, sim);
    }
    if let (Some(n), Some(c)) = (st.kubelet.nodes.get_mut(name), capacity) {
        for (k, v) in c {
            n.capacity.insert(k.to_string(), Value::from(*v));
        }
    }
    post_node_status(shared, st, name);
}

/// Posts a registered, running node's status (nothing is written when it is unchanged).
fn post_node_status(shared: &Arc<Shared>, st: &mut State, name: &str) {
    let Some(cur) = st.store.get(&nodes_res(), "", name) else { return };
    let Some(sim) = st.kubelet.nodes.get(name).cloned() else { return };
    if sim.stopped {
        return;
    }
    let mut v = cur.value();
    let status = kubelet_node_status(name, &sim, v.get("status"));
    v["status"] = status;
    if let Some(t) = target(st, "", "nodes", None, name, Some("status")) {
        if let Err(e) = crate::handlers::write_internal(shared, st, &t, &cur, v, MANAGER) {
            tracing::debug!("kubelet stand-in: node {name} status: {}", e.status.message);
        }
    }
}

/// Microsecond time as `MicroTime` fields (a Lease's renewTime) carry it.
fn now_micro() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

/// Creates or renews a node's Lease.
fn renew_lease(shared: &Arc<Shared>, st: &mut State, node: &str) {
    let Some(sim) = st.kubelet.nodes.get(node).cloned() else { return };
    let Some(t) = target(st, "coordination.k8s.io", "leases", Some(NODE_LEASE_NAMESPACE), node, None) else {
        return;
    };
    let now = now_micro();
    let res = t.res.clone();
    let result = match st.store.get(&res, NODE_LEASE_NAMESPACE, node) {
        Some(cur) => {
            let mut v = cur.value();
            v["spec"]["renewTime"] = Value::String(now);
            v["spec"]["holderIdentity"] = Value::String(node.to_string());
            crate::handlers::write_internal(shared, st, &t, &cur, v, MANAGER)
        }
        None => {
            let v = json!({
                "metadata": {"name": node, "namespace": NODE_LEASE_NAMESPACE,
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": sim.node_uid}]},
                "spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": now},
            });
            crate::handlers::create_internal(shared, st, &t, v, MANAGER)
        }
    };
    if let Err(e) = result {
        tracing::debug!("kubelet stand-in: lease of {node}: {}", e.status.message);
    }
}

/// Confirms that a pod's containers are gone, as a kubelet does once the grace period of a
/// graceful deletion is over: the pod is removed now (unless finalizers keep it), through the
/// same confirmation as `Control::finish_deletion`.
pub(crate) fn confirm_pod_termination(shared: &Arc<Shared>, st: &mut State, ns: &str, name: &str, uid: &str) {
    let res = pods_res();
    if st.store.get(&res, ns, name).is_none_or(|cur| cur.uid != uid) {
        return;
    }
    // The kubelet's confirmation is the graceful-deletion confirmation (`graceful.rs`): DELETE
    // with grace 0 and the pod's uid as precondition; finalizers may still hold the pod.
    crate::graceful::confirm(shared, st, ns, name);
    if st.store.get(&res, ns, name).is_none() {
        st.kubelet.pods.remove(&(ns.to_string(), name.to_string()));
    }
}

/// Brings one pod's status one step closer to what its kubelet would report.
fn sync_pod(shared: &Arc<Shared>, st: &mut State, ns: &str, name: &str) {
    let key = (ns.to_string(), name.to_string());
    let Some(cur) = st.store.get(&pods_res(), ns, name) else { return };
    let node_name = node_of(&cur);
    let Some(node) = st.kubelet.running_node(&node_name).cloned() else { return };
    let v = cur.value();
    let sim = st.kubelet.pods.entry(key.clone()).or_default();
    if sim.uid != cur.uid {
        // A new pod (or a new incarnation of the name): keep what a test set, reset the rest.
        let settings: BTreeMap<String, ContainerSim> = std::mem::take(&mut sim.containers)
            .into_iter()
            .map(|(k, c)| (k, ContainerSim { logs: c.logs, ready: c.ready, exit: c.exit, ..Default::default() }))
            .collect();
        *sim = PodSim { uid: cur.uid.clone(), node: node_name.clone(), containers: settings, ..Default::default() };
    }
    if v.pointer("/metadata/deletionTimestamp").is_some() {
        if !sim.terminating {
            sim.terminating = true;
            let grace = v.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0);
            let at = Instant::now() + Duration::from_secs(grace.max(0) as u64);
            let t = Timer::ConfirmTermination { ns: ns.into(), name: name.into(), uid: cur.uid.clone() };
            st.kubelet.schedule(at, t);
        }
        return;
    }
    let phase = v.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default();
    if matches!(phase, "Succeeded" | "Failed") && !sim.created {
        // Terminal before this kubelet saw it: nothing runs.
        return;
    }
    let now = now_rfc3339();
    let host_network = v.pointer("/spec/hostNetwork").and_then(Value::as_bool).unwrap_or(false);
    let first = !sim.created;
    if first {
        sim.created = true;
        sim.start_time = Some(now.clone());
        sim.pod_ip = Some(if host_network {
            node.host_ip()
        } else {
            let n = st.kubelet.nodes.get_mut(&node_name).map_or(2, |n| {
                n.next_pod_ip += 1;
                n.next_pod_ip - 1
            });
            format!("10.{}.{}.{}", 244 + node.index / 250, node.index % 250, n % 254 + 1)
        });
    }
    let Some(sim) = st.kubelet.pods.get_mut(&key) else { return };
    let names = container_names(&v, "/spec/containers");
    let ephemeral = container_names(&v, "/spec/ephemeralContainers");
    for c in names.iter().chain(&ephemeral) {
        let cs = sim.containers.entry(c.clone()).or_default();
        if !first && cs.started_at.is_none() {
            cs.started_at = Some(now.clone());
        }
        if let Some(t) = &mut cs.exit {
            if t.started.is_empty() {
                t.started = cs.started_at.clone().unwrap_or_else(|| now.clone());
                t.finished = now.clone();
                t.id = container_id(&sim.uid, c, cs.restarts);
            }
        }
    }
    let status = pod_status(&v, sim, &node, &names, first, &now);
    let mut new = v.clone();
    new["status"] = status;
    if let Some(t) = target(st, "", "pods", Some(ns), name, Some("status")) {
        if let Err(e) = crate::handlers::write_internal(shared, st, &t, &cur, new, MANAGER) {
            tracing::debug!("kubelet stand-in: pod {ns}/{name} status: {}", e.status.message);
        }
    }
}

/// Brings every stored pod bound to `node` up to date (its kubelet just registered or came back).
fn sync_node_pods(shared: &Arc<Shared>, st: &mut State, node: &str) {
    let pods: Vec<(String, String)> = st
        .store
        .tables
        .get(&pods_res())
        .map(|t| t.objects.values().filter(|o| node_of(o) == node).map(|o| o.key()).collect())
        .unwrap_or_default();
    for (ns, pod) in pods {
        sync_pod(shared, st, &ns, &pod);
    }
}

fn container_names(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from)).collect())
        .unwrap_or_default()
}

/// Whether a container that exited with `code` is started again under `policy`.
fn restarts(policy: &str, code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    }
}

/// The kubelet stand-in's controls (see the module docs).
impl Control {
    /// Creates a Node (if absent) run by a simulated kubelet, with `capacity` (for example
    /// `[("cpu", "8"), ("memory", "32Gi")]`) over the default 4 CPUs, 16Gi, 110 pods. Works
    /// whether or not the stand-in adopts every node ([`crate::ApiServerBuilder::kubelet`]).
    pub fn add_node(&self, name: &str, capacity: &[(&str, &str)]) {
        let shared = &self.shared;
        {
            let mut st = shared.state.lock();
            if st.store.get(&nodes_res(), "", name).is_none() {
                // A kubelet registers its Node with its status (capacity, allocatable, Ready) in
                // the create itself: no watcher sees the node without them.
                let Some(t) = target(&st, "", "nodes", None, name, None) else { return };
                let mut sim = new_sim(&mut st, crate::server::new_uid(), None, capacity);
                let v = json!({"metadata": {"name": name, "labels": {
                    "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                    "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}},
                    "status": kubelet_node_status(name, &sim, None)});
                if let Err(e) = crate::handlers::create_internal(shared, &mut st, &t, v, MANAGER) {
                    tracing::debug!("kubelet stand-in: creating node {name}: {}", e.status.message);
                    return;
                }
                let Some(created) = st.store.get(&nodes_res(), "", name) else { return };
                sim.node_uid = created.uid.clone();
                start_sim(shared, &mut st, name, sim);
            }
            register_node(shared, &mut st, name, Some(capacity));
            // Pods bound before the node registered.
            sync_node_pods(shared, &mut st, name);
        }
        ensure_running(shared);
    }

    /// Stops a node's simulated kubelet: its Lease is no longer renewed and its pods no longer
    /// change; its `Ready` condition is left as it is. [`Control::start_kubelet`] undoes it.
    pub fn stop_kubelet(&self, node: &str) {
        if let Some(n) = self.shared.state.lock().kubelet.nodes.get_mut(node) {
            n.stopped = true;
        }
    }

    /// Starts a stopped node's kubelet again, as a kubelet that comes back does: it posts its
    /// status at once (every condition's heartbeat now; `Ready` True again, with a new
    /// `lastTransitionTime` when someone had marked it otherwise, for example `Unknown`), renews
    /// its Lease now and every lease interval, and updates its pods again (graceful deletions
    /// requested meanwhile are confirmed after their grace period, counted from now). Does
    /// nothing for a node that is not registered or not stopped.
    pub fn start_kubelet(&self, node: &str) {
        let shared = &self.shared;
        {
            let mut st = shared.state.lock();
            let Some(n) = st.kubelet.nodes.get(node).filter(|n| n.stopped) else { return };
            let mut sim = n.clone();
            sim.stopped = false;
            sim.run += 1;
            sim.registered_at = now_rfc3339();
            start_sim(shared, &mut st, node, sim);
            post_node_status(shared, &mut st, node);
            // A confirmation due while the kubelet was away was dropped: plan it again.
            for p in st.kubelet.pods.values_mut().filter(|p| p.node == node) {
                p.terminating = false;
            }
            sync_node_pods(shared, &mut st, node);
        }
        ensure_running(shared);
    }

    /// Appends lines to a container's log (served by the `log` subresource, followers included).
    pub fn append_container_logs(&self, namespace: &str, pod: &str, container: &str, lines: &[&str]) {
        let mut st = self.shared.state.lock();
        let time = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S.%fZ").to_string();
        let c = container_entry(&mut st, namespace, pod, container);
        c.logs.extend(lines.iter().map(|l| LogLine { time: time.clone(), text: l.trim_end_matches('\n').to_string() }));
        st.kubelet.bump_logs();
    }

    /// Makes a container exit with `code`: under the pod's `restartPolicy` it restarts (restart
    /// count + 1, the ended instance in `lastState`, its log becomes the `previous` log) or stays
    /// terminated; once every container is terminated the pod is Succeeded (all 0) or Failed.
    pub fn set_container_exit(&self, namespace: &str, pod: &str, container: &str, code: i32) {
        let shared = &self.shared;
        let mut st = shared.state.lock();
        let policy = st
            .store
            .get(&pods_res(), namespace, pod)
            .and_then(|o| o.value().pointer("/spec/restartPolicy").and_then(Value::as_str).map(String::from))
            .unwrap_or_else(|| "Always".into());
        let now = now_rfc3339();
        let uid =
            st.kubelet.pods.get(&(namespace.to_string(), pod.to_string())).map(|p| p.uid.clone()).unwrap_or_default();
        let c = container_entry(&mut st, namespace, pod, container);
        let ended = Terminated {
            code,
            started: c.started_at.clone().unwrap_or_default(),
            finished: now.clone(),
            id: container_id(&uid, container, c.restarts),
        };
        if c.started_at.is_some() && restarts(&policy, code) {
            c.last = Some(ended);
            c.restarts += 1;
            c.started_at = Some(now);
            c.previous_logs = Some(std::mem::take(&mut c.logs));
        } else {
            c.exit = Some(ended);
        }
        st.kubelet.bump_logs();
        sync_pod(shared, &mut st, namespace, pod);
    }

    /// Sets whether a container reports ready (default: ready once running).
    pub fn set_container_ready(&self, namespace: &str, pod: &str, container: &str, ready: bool) {
        let shared = &self.shared;
        let mut st = shared.state.lock();
        container_entry(&mut st, namespace, pod, container).ready = ready;
        sync_pod(shared, &mut st, namespace, pod);
    }
}

fn container_entry<'a>(st: &'a mut State, ns: &str, pod: &str, container: &str) -> &'a mut ContainerSim {
    st.kubelet
        .pods
        .entry((ns.to_string(), pod.to_string()))
        .or_default()
        .containers
        .entry(container.to_string())
        .or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policy_decides_restarts() {
        assert!(restarts("Always", 0));
        assert!(restarts("OnFailure", 1));
        assert!(!restarts("OnFailure", 0));
        assert!(!restarts("Never", 3));
    }
}
