//! Helpers shared by the controller tests: objects on the embedded API server, a probing
//! reconciler whose behaviour each test sets per key, and waits on the controller's counters.
//!
//! Tests run on tokio's current-thread runtime (`#[tokio::test]`'s default): the controller's
//! workers and the test then never run at the same instant, so "no reconcile is running or due"
//! can be read from the counters (see `rudder_controller::ControllerMetrics`).
// Each test binary uses only part of this module.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use rudder_apimachinery::options::PatchOptions;
use rudder_apimachinery::patch::Patch;
use rudder_client::api::{Api, CreateOptions};
use rudder_client::Client;
use rudder_controller::owner::set_controller_reference;
use rudder_controller::{
    Action, CancellationToken, Context, Controller, ControllerError, ControllerMetrics, MetricsSnapshot, ObjectKey,
};

pub const NS: &str = "default";
/// The longest any single wait may take before the test fails (never reached when it passes).
pub const GUARD: Duration = Duration::from_secs(10);

pub fn cms(client: &Client) -> Api<ConfigMap> {
    Api::namespaced(client.clone(), NS)
}

pub fn secrets(client: &Client) -> Api<Secret> {
    Api::namespaced(client.clone(), NS)
}

pub async fn create_cm(client: &Client, name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.into());
    c.metadata.namespace = Some(NS.into());
    if !labels.is_empty() {
        c.metadata.labels = Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    }
    c.data = Some(BTreeMap::from([("v".to_string(), "0".to_string())]));
    cms(client).create(&CreateOptions::default(), &c).await.expect("create configmap")
}

/// Changes the ConfigMap's data (ConfigMaps have no generation, so `generation_changed` passes
/// the update).
pub async fn touch_cm(client: &Client, name: &str, value: &str) {
    let patch = Patch::Merge(json!({"data": {"v": value}}));
    cms(client).patch(name, &PatchOptions::default(), &patch).await.expect("patch configmap");
}

/// A Secret controlled by `owner`.
pub async fn create_owned_secret(client: &Client, name: &str, owner: &ConfigMap) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.metadata.namespace = Some(NS.into());
    set_controller_reference(owner, &mut s).expect("owner reference");
    secrets(client).create(&CreateOptions::default(), &s).await.expect("create secret")
}

/// What a probed reconcile reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    /// A reconcile of the key's name started; the Secrets the cache held then.
    Start { name: String, cached_secrets: usize },
    /// A reconcile of the key's name is about to return.
    End(String),
}

/// Per-key behaviour of [`probe_reconcile`], and what it observed.
#[derive(Default)]
pub struct Probe {
    tx: Mutex<Option<mpsc::UnboundedSender<Ev>>>,
    gates: Mutex<HashMap<String, Arc<Semaphore>>>,
    running: Mutex<HashMap<String, usize>>,
    /// Set if two reconciles of one key ever overlapped.
    pub overlapped: Mutex<Vec<String>>,
    panics: Mutex<HashMap<String, usize>>,
    failures: Mutex<HashMap<String, usize>>,
    requeue_after: Mutex<HashMap<String, Duration>>,
    /// Names whose reconcile saw the shutdown token cancelled.
    pub saw_shutdown: Mutex<Vec<String>>,
}

impl Probe {
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<Ev>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let p = Probe::default();
        *p.tx.lock() = Some(tx);
        (Arc::new(p), rx)
    }
    /// Reconciles of `name` wait for [`Probe::release`] (one permit each).
    pub fn close_gate(&self, name: &str) -> Arc<Semaphore> {
        self.gates.lock().entry(name.to_string()).or_insert_with(|| Arc::new(Semaphore::new(0))).clone()
    }
    /// Lets one waiting (or the next) reconcile of `name` through.
    pub fn release(&self, name: &str) {
        self.close_gate(name).add_permits(1);
    }
    pub fn panic_times(&self, name: &str, n: usize) {
        self.panics.lock().insert(name.to_string(), n);
    }
    pub fn fail_times(&self, name: &str, n: usize) {
        self.failures.lock().insert(name.to_string(), n);
    }
    pub fn requeue_once_after(&self, name: &str, d: Duration) {
        self.requeue_after.lock().insert(name.to_string(), d);
    }
    fn send(&self, ev: Ev) {
        if let Some(tx) = &*self.tx.lock() {
            let _ = tx.send(ev);
        }
    }
    fn take(map: &Mutex<HashMap<String, usize>>, name: &str) -> bool {
        let mut m = map.lock();
        match m.get_mut(name) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
}

/// The reconcile every controller test runs: reports start and end, waits at the key's gate,
/// and panics, fails or requeues as the probe says.
pub async fn probe_reconcile(key: ObjectKey, ctx: Context<Arc<Probe>>) -> Result<Action, String> {
    let probe = ctx.state().clone();
    let name = key.name.clone();
    {
        let mut running = probe.running.lock();
        let n = running.entry(name.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            probe.overlapped.lock().push(name.clone());
        }
    }
    let cached_secrets = ctx.lister::<Secret>().map_or(0, |l| l.list(&Default::default()).len());
    probe.send(Ev::Start { name: name.clone(), cached_secrets });
    let gate = probe.gates.lock().get(&name).cloned();
    if let Some(gate) = gate {
        gate.acquire().await.expect("gate open").forget();
    }
    if ctx.shutdown().is_cancelled() {
        probe.saw_shutdown.lock().push(name.clone());
    }
    *probe.running.lock().get_mut(&name).expect("counted") -= 1;
    probe.send(Ev::End(name.clone()));
    if Probe::take(&probe.panics, &name) {
        panic!("probe panics for {name}");
    }
    if Probe::take(&probe.failures, &name) {
        return Err(format!("probe fails for {name}"));
    }
    if let Some(d) = probe.requeue_after.lock().remove(&name) {
        return Ok(Action::requeue_after(d));
    }
    Ok(Action::done())
}

/// A controller running [`probe_reconcile`] on a task.
pub struct Running {
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), ControllerError>>,
    pub metrics: ControllerMetrics,
    pub probe: Arc<Probe>,
    pub rx: mpsc::UnboundedReceiver<Ev>,
}

pub fn run<K>(controller: Controller<K>, probe: Arc<Probe>, rx: mpsc::UnboundedReceiver<Ev>) -> Running
where
    K: rudder_apimachinery::resource::Resource
        + rudder_apimachinery::meta::HasMetadata
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let shutdown = CancellationToken::new();
    let metrics = controller.metrics();
    let task = tokio::spawn(controller.run(probe_reconcile, probe.clone(), shutdown.clone()));
    Running { shutdown, task, metrics, probe, rx }
}

impl Running {
    /// The next probe event.
    pub async fn next(&mut self) -> Ev {
        match tokio::time::timeout(GUARD, self.rx.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) => panic!("probe channel closed"),
            Err(_) => panic!("no reconcile event within {GUARD:?}; metrics {:?}", self.metrics.snapshot()),
        }
    }

    /// The next probe event, which must be the start of a reconcile of `name`.
    pub async fn expect_start(&mut self, name: &str) -> usize {
        match self.next().await {
            Ev::Start { name: n, cached_secrets } if n == name => cached_secrets,
            other => panic!("expected the start of {name}, got {other:?}"),
        }
    }

    /// The next probe event, which must be the end of a reconcile of `name`.
    pub async fn expect_end(&mut self, name: &str) {
        match self.next().await {
            Ev::End(n) if n == name => {}
            other => panic!("expected the end of {name}, got {other:?}"),
        }
    }

    /// Waits until `f` holds for the counters.
    pub async fn until(&self, what: &str, f: impl Fn(&MetricsSnapshot) -> bool) -> MetricsSnapshot {
        let end = tokio::time::Instant::now() + GUARD;
        loop {
            let s = self.metrics.snapshot();
            if f(&s) {
                return s;
            }
            assert!(tokio::time::Instant::now() < end, "timed out waiting for {what}: {s:?}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits until no reconcile is running or due, and returns the counters then.
    pub async fn idle(&self) -> MetricsSnapshot {
        self.until("idle", |s| s.active_workers == 0 && s.queue_depth == 0 && s.queue_delayed == 0).await
    }

    /// Every probe event received so far without waiting.
    pub fn drain(&mut self) -> Vec<Ev> {
        let mut out = Vec::new();
        while let Ok(ev) = self.rx.try_recv() {
            out.push(ev);
        }
        out
    }

    /// Stops the controller and returns what `run` returned.
    pub async fn stop(self) -> Result<(), ControllerError> {
        self.shutdown.cancel();
        tokio::time::timeout(GUARD, self.task).await.expect("run returns after shutdown").expect("run task")
    }
}
