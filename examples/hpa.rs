//! A horizontal pod autoscaler for CPU utilization targets: a controller over `autoscaling/v2`
//! HorizontalPodAutoscaler objects, as kube-controller-manager's, for their `Resource` `cpu`
//! `Utilization` metric. Every `sync_period` it reads the target's `scale` subresource (any kind
//! that has one: Deployments, custom resources), the pods its selector picks (a shared
//! informer) and their PodMetrics (`metrics.k8s.io`, the typed `Api<PodMetrics>`), and
//!
//! - computes the desired replicas as upstream's replica calculator does: the ratio of mean
//!   usage to mean request over the target utilization, no change within `tolerance` (10 %);
//!   pods being deleted or Failed are ignored; Pending pods, and pods not Ready (or, within
//!   `cpu_initialization_period` of their start, whose sample predates readiness) are unready;
//!   pods without metrics are missing. On a scale-up unready pods count as using 0 and missing
//!   pods 0; on a scale-down missing pods count as using their request (100 %, or the target if
//!   higher); a recount that flips the direction changes nothing;
//! - keeps the highest recommendation of the scale-down stabilization window (the HPA's
//!   `behavior.scaleDown.stabilizationWindowSeconds`, else `downscale_stabilization`, 5 min) and
//!   the lowest of the scale-up one (`behavior.scaleUp`, default 0), then clamps to
//!   `minReplicas` (default 1) and `maxReplicas`;
//! - writes `spec.replicas` through the `scale` subresource when it changes, and the HPA's
//!   status (`currentReplicas`, `desiredReplicas`, `currentMetrics`, `lastScaleTime`,
//!   `observedGeneration`).
//!
//! Not done: other metric types, the scaling rate policies of `behavior`, conditions.
//!
//! `cargo run --example hpa [-- --for N]`. On the embedded server it creates a Deployment and
//! a custom resource with a scale subresource (`Worker`), their pods on a simulated node, and an
//! HPA for each; it raises the pods' CPU usage (replicas go up), lowers it (replicas stay for the
//! stabilization window, then go down), then runs N more seconds. On a real cluster
//! (`-- --yes`) it runs the controller for N seconds (default 30) on the HPAs of the context's
//! namespace: the cluster's own HPA controller acts on them too.

mod common;
pub use common::wait_for; // tests/hpa.rs waits with it too

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use rudder_apimachinery::dynamic::DynamicObject;
use rudder_apimachinery::labels::Selector;
use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::metrics_api::PodMetrics;
use rudder_apimachinery::options::{DeleteOptions, ListOptions, PatchOptions};
use rudder_apimachinery::quantity::Quantity;
use rudder_apimachinery::resource::{ApiResource, Scope};
use rudder_apimachinery::schema::GroupVersionKind;
use rudder_apimachinery::Patch;
use rudder_client::restmapper::RestMapper;
use rudder_client::{api::Api, clientset::ClientSet, Client};
use rudder_controller::{Action, CancellationToken, Context, Controller, ControllerError};
use rudder_controller::{ObjectKey, WatchOptions};
use rudder_informer::record::EventType;
use serde_json::json;
use tokio::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How the autoscaler works (upstream's kube-controller-manager flags in brackets).
#[derive(Debug, Clone)]
pub struct Options {
    /// Only the HPAs of this namespace (default: every namespace).
    pub namespace: Option<String>,
    /// How often each HPA is evaluated (`--horizontal-pod-autoscaler-sync-period`, 15 s).
    pub sync_period: Duration,
    /// No change while the usage ratio is within this of 1 (`--horizontal-pod-autoscaler-tolerance`, 0.1).
    pub tolerance: f64,
    /// The scale-down stabilization window of HPAs that set none
    /// (`--horizontal-pod-autoscaler-downscale-stabilization`, 5 min).
    pub downscale_stabilization: Duration,
    /// After a pod's start, a CPU sample counts only if taken after the pod became Ready
    /// (`--horizontal-pod-autoscaler-cpu-initialization-period`, 5 min).
    pub cpu_initialization_period: Duration,
    /// After that, a pod not Ready is unready if it went not-Ready within this of its start
    /// (`--horizontal-pod-autoscaler-initial-readiness-delay`, 30 s).
    pub initial_readiness_delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            namespace: None,
            sync_period: Duration::from_secs(15),
            tolerance: 0.1,
            downscale_stabilization: Duration::from_secs(300),
            cpu_initialization_period: Duration::from_secs(300),
            initial_readiness_delay: Duration::from_secs(30),
        }
    }
}

/// What the replica calculator knows of one pod.
#[derive(Debug, Clone, Default)]
pub struct PodSample {
    /// The pod's name.
    pub name: String,
    /// `status.phase`.
    pub phase: String,
    /// Being deleted.
    pub deleting: bool,
    /// The Ready condition: status and last transition.
    pub ready: Option<(bool, Timestamp)>,
    /// `status.startTime`.
    pub start: Option<Timestamp>,
    /// Sum of the containers' CPU requests in millicores (`None`: a container has none).
    pub request_milli: Option<i64>,
    /// CPU usage in millicores, with the sample's end and window, when metrics exist.
    pub usage: Option<(i64, Timestamp, SignedDuration)>,
}

/// The calculator's answer: replicas, and the mean utilization (percent of request) measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recommendation {
    /// Desired replicas before stabilization and bounds.
    pub replicas: i32,
    /// Mean utilization of the pods with metrics, in percent of their request.
    pub utilization: i32,
    /// Mean usage of those pods, in millicores.
    pub average_milli: i64,
}

/// Upstream's `GetResourceReplicas` for CPU (see the module docs).
pub fn cpu_replicas(
    current: i32,
    target_utilization: i32,
    pods: &[PodSample],
    now: Timestamp,
    opts: &Options,
) -> Result<Recommendation, String> {
    if pods.is_empty() {
        return Err("no pods returned by selector while calculating replica count".into());
    }
    let mut metrics: HashMap<&str, i64> = HashMap::new();
    let (mut ready, mut unready, mut missing) = (0usize, HashSet::new(), HashSet::new());
    let init_period = SignedDuration::try_from(opts.cpu_initialization_period).unwrap_or(SignedDuration::MAX);
    let readiness_delay = SignedDuration::try_from(opts.initial_readiness_delay).unwrap_or(SignedDuration::MAX);
    for p in pods {
        if p.deleting || p.phase == "Failed" {
            continue; // ignored
        }
        if p.phase == "Pending" {
            unready.insert(p.name.as_str());
            continue;
        }
        let Some((usage, sampled, window)) = p.usage else {
            missing.insert(p.name.as_str());
            continue;
        };
        let is_unready = match (p.ready, p.start) {
            (None, _) | (_, None) => true,
            (Some((ok, since)), Some(start)) if plus(start, init_period) > now => !ok || sampled < plus(since, window),
            (Some((ok, since)), Some(start)) => !ok && plus(start, readiness_delay) > since,
        };
        if is_unready {
            unready.insert(p.name.as_str());
            continue;
        }
        metrics.insert(p.name.as_str(), usage);
        ready += 1;
    }
    if metrics.is_empty() {
        return Err("did not receive metrics for targeted pods (pods might be unready)".into());
    }
    let mut requests: HashMap<&str, i64> = HashMap::new();
    for p in pods {
        let r = p.request_milli.ok_or_else(|| format!("missing request for cpu in pod {}", p.name))?;
        requests.insert(p.name.as_str(), r);
    }
    let ratio = |metrics: &HashMap<&str, i64>| -> Result<(f64, i32, i64), String> {
        let (mut usage, mut request) = (0i64, 0i64);
        for (name, u) in metrics {
            usage = usage.saturating_add(*u);
            request = request.saturating_add(requests.get(name).copied().unwrap_or(0));
        }
        if request == 0 {
            return Err("no metrics returned matched known pods".into());
        }
        let utilization = (usage.saturating_mul(100) / request) as i32;
        let average = usage / metrics.len() as i64;
        Ok((f64::from(utilization) / f64::from(target_utilization.max(1)), utilization, average))
    };
    let (usage_ratio, utilization, average_milli) = ratio(&metrics)?;
    let answer = |replicas: i32| Recommendation { replicas, utilization, average_milli };
    let scale_up_with_unready = !unready.is_empty() && usage_ratio > 1.0;
    if !scale_up_with_unready && missing.is_empty() {
        if (1.0 - usage_ratio).abs() <= opts.tolerance {
            return Ok(answer(current));
        }
        return Ok(answer((usage_ratio * ready as f64).ceil() as i32));
    }
    if usage_ratio < 1.0 {
        let fallback = i64::from(target_utilization.max(100));
        for name in &missing {
            metrics.insert(name, requests.get(name).copied().unwrap_or(0) * fallback / 100);
        }
    } else if usage_ratio > 1.0 {
        for name in &missing {
            metrics.insert(name, 0);
        }
    }
    if scale_up_with_unready {
        for name in &unready {
            metrics.insert(name, 0);
        }
    }
    let (new_ratio, _, _) = ratio(&metrics)?;
    if (1.0 - new_ratio).abs() <= opts.tolerance
        || (usage_ratio < 1.0 && new_ratio > 1.0)
        || (usage_ratio > 1.0 && new_ratio < 1.0)
    {
        return Ok(answer(current));
    }
    let replicas = (new_ratio * metrics.len() as f64).ceil() as i32;
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(answer(current));
    }
    Ok(answer(replicas))
}

/// `t + d`, saturating.
fn plus(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(if d.is_negative() { Timestamp::MIN } else { Timestamp::MAX })
}

/// Recent recommendations of one HPA, for the stabilization windows.
#[derive(Debug, Default)]
pub struct Stabilizer {
    recent: Vec<(Instant, i32)>,
}

impl Stabilizer {
    /// Records `raw` and returns the stabilized replicas: no lower than the lowest of the
    /// scale-up window, no higher than the highest of the scale-down window (each including
    /// `raw`), starting from `current`.
    pub fn stabilize(&mut self, current: i32, raw: i32, up: Duration, down: Duration, now: Instant) -> i32 {
        let keep = up.max(down);
        self.recent.retain(|(at, _)| now.saturating_duration_since(*at) <= keep);
        self.recent.push((now, raw));
        let within = |w: Duration| self.recent.iter().filter(move |(at, _)| now.saturating_duration_since(*at) <= w);
        let up_rec = within(up).map(|(_, r)| *r).min().unwrap_or(raw);
        let down_rec = within(down).map(|(_, r)| *r).max().unwrap_or(raw);
        current.max(up_rec).min(down_rec)
    }
}

struct State {
    opts: Options,
    mapper: RestMapper,
    stabilizers: Mutex<HashMap<ObjectKey, Stabilizer>>,
}

/// Runs the autoscaler until `shutdown` is cancelled.
pub async fn run(client: Client, opts: Options, shutdown: CancellationToken) -> Result<(), ControllerError> {
    let scope = |o: WatchOptions| match &opts.namespace {
        Some(ns) => o.namespace(ns.clone()),
        None => o,
    };
    let controller = Controller::<HorizontalPodAutoscaler>::new(client.clone(), scope(WatchOptions::new()))
        .watches::<Pod>(scope(WatchOptions::new()), |_| Vec::new()) // a cache of the targets' pods
        .max_concurrent_reconciles(2)
        .name("horizontal-pod-autoscaler");
    let state = State { mapper: RestMapper::new(client), opts, stabilizers: Mutex::new(HashMap::new()) };
    controller.run(reconcile, state, shutdown).await
}

async fn reconcile(key: ObjectKey, ctx: Context<State>) -> Result<Action, BoxError> {
    let state = ctx.state();
    let Some(hpa) = ctx.get::<HorizontalPodAutoscaler>(&key) else {
        state.stabilizers.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        return Ok(Action::done());
    };
    let again = Action::requeue_after(state.opts.sync_period);
    match autoscale(&key, &hpa, &ctx).await {
        Ok(()) => Ok(again),
        Err(e) => {
            ctx.recorder().event_for(&*hpa, EventType::Warning, "FailedComputeMetricsReplicas", &e.to_string());
            Err(e)
        }
    }
}

async fn autoscale(key: &ObjectKey, hpa: &HorizontalPodAutoscaler, ctx: &Context<State>) -> Result<(), BoxError> {
    let state = ctx.state();
    let ns = key.namespace().unwrap_or_default();
    let spec = &hpa.spec;
    let target_ref = &spec.scale_target_ref;
    let gvk = GroupVersionKind::from_api_version_kind(
        target_ref.api_version.as_deref().unwrap_or_default(),
        &target_ref.kind,
    )?;
    let resource = state.mapper.resource_for_kind(&gvk).await?;
    let targets = Api::<DynamicObject>::with_resource(ctx.client().clone(), &resource, Some(ns));
    let scale = targets.get_scale(&target_ref.name).await?;
    let current = scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let min = spec.min_replicas.unwrap_or(1);
    if current == 0 && min != 0 {
        return Ok(()); // scaled to zero by hand: autoscaling is off until it is scaled up
    }
    let target_utilization = spec
        .metrics
        .iter()
        .flatten()
        .filter(|m| m.type_ == "Resource")
        .filter_map(|m| m.resource.as_ref())
        .find(|r| r.name == "cpu" && r.target.type_ == "Utilization")
        .and_then(|r| r.target.average_utilization)
        .ok_or("only a Resource cpu Utilization metric is supported")?;
    let selector_text = scale.status.as_ref().and_then(|s| s.selector.clone()).unwrap_or_default();
    if selector_text.is_empty() {
        return Err(format!("the scale of {} {} has no selector", target_ref.kind, target_ref.name).into());
    }
    let selector = Selector::parse(&selector_text)?;
    let pods = ctx.lister::<Pod>().map(|l| l.namespace(ns).list(&selector)).unwrap_or_default();
    let metrics = Api::<PodMetrics>::namespaced(ctx.client().clone(), ns)
        .list(&ListOptions { label_selector: Some(selector_text), ..Default::default() })
        .await?;
    let now = Timestamp::now();
    let usage: HashMap<&str, (i64, Timestamp, SignedDuration)> = metrics
        .items
        .iter()
        .filter_map(|m| {
            let cpu = m.containers.iter().filter_map(|c| c.usage.get("cpu")).map(Quantity::milli_value).sum();
            let window = m.window.strip_suffix('s').and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
            let sampled = m.timestamp.as_ref().map_or(now, |t| t.0);
            Some((m.name(), (cpu, sampled, SignedDuration::try_from_secs_f64(window).ok()?)))
        })
        .collect();
    let samples: Vec<PodSample> = pods.iter().map(|p| sample(p, usage.get(p.name()).copied())).collect();
    let rec = cpu_replicas(current, target_utilization, &samples, now, &state.opts)?;

    let window = |rules: Option<&k8s_openapi::api::autoscaling::v2::HPAScalingRules>, default: Duration| {
        rules.and_then(|r| r.stabilization_window_seconds).map_or(default, |s| Duration::from_secs(s.max(0) as u64))
    };
    let behavior = spec.behavior.as_ref();
    let up = window(behavior.and_then(|b| b.scale_up.as_ref()), Duration::ZERO);
    let down = window(behavior.and_then(|b| b.scale_down.as_ref()), state.opts.downscale_stabilization);
    let stabilized = state
        .stabilizers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.clone())
        .or_default()
        .stabilize(current, rec.replicas, up, down, Instant::now());
    let desired = stabilized.clamp(min.min(spec.max_replicas), spec.max_replicas);

    let status = hpa.status.as_ref();
    let mut last_scale_time = status.and_then(|s| s.last_scale_time.clone());
    if desired != current {
        let patch = Patch::Merge(json!({"spec": {"replicas": desired}}));
        targets.patch_scale(&target_ref.name, &PatchOptions::default(), &patch).await?;
        let message = format!(
            "New size: {desired}; reason: cpu resource utilization (percentage of request) {} target",
            if desired > current { "above" } else { "below" }
        );
        ctx.recorder().event_for(hpa, EventType::Normal, "SuccessfulRescale", &message);
        last_scale_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
    }
    let new_status = json!({
        "observedGeneration": hpa.metadata.generation,
        "currentReplicas": scale.status.as_ref().map_or(0, |s| s.replicas),
        "desiredReplicas": desired,
        "lastScaleTime": last_scale_time,
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": rec.utilization,
            "averageValue": format!("{}m", rec.average_milli)}}}],
    });
    if status
        .map(|s| serde_json::to_value(s).unwrap_or_default())
        .as_ref()
        .is_none_or(|old| !contains(old, &new_status))
    {
        let hpas = Api::<HorizontalPodAutoscaler>::namespaced(ctx.client().clone(), ns);
        hpas.patch_status(hpa.name(), &PatchOptions::default(), &Patch::Merge(json!({"status": new_status}))).await?;
    }
    Ok(())
}

/// Whether every field of `part` has the same value in `whole`.
fn contains(whole: &serde_json::Value, part: &serde_json::Value) -> bool {
    match part {
        serde_json::Value::Object(p) => {
            p.iter().all(|(k, v)| contains(whole.get(k).unwrap_or(&serde_json::Value::Null), v))
        }
        _ => whole == part,
    }
}

/// What the calculator needs of a pod.
fn sample(pod: &Pod, usage: Option<(i64, Timestamp, SignedDuration)>) -> PodSample {
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready"))
        .map(|c| (c.status == "True", c.last_transition_time.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0)));
    let request_milli = pod.spec.as_ref().map_or(Some(0), |s| {
        s.containers.iter().try_fold(0i64, |sum, c| {
            let cpu = c.resources.as_ref()?.requests.as_ref()?.get("cpu")?;
            Some(sum + Quantity::try_from(cpu).ok()?.milli_value())
        })
    });
    PodSample {
        name: pod.name().to_owned(),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        ready,
        start: status.and_then(|s| s.start_time.as_ref()).map(|t| t.0),
        request_milli,
        usage,
    }
}

// ---- Shared with the test: a custom resource with a scale subresource ----

/// The custom resource the example scales (`demo.rudder.dev/v1` `Worker`).
pub fn worker_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::new("demo.rudder.dev", "v1", "Worker"), "workers", Scope::Namespaced)
}

/// Its CRD: `spec.replicas`, `status.replicas` and `status.selector` back the scale subresource.
pub fn worker_crd() -> Result<CustomResourceDefinition, serde_json::Error> {
    serde_json::from_value(json!({
        "metadata": {"name": "workers.demo.rudder.dev"},
        "spec": {"group": "demo.rudder.dev", "scope": "Namespaced",
            "names": {"plural": "workers", "singular": "worker", "kind": "Worker"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {
                        "replicas": {"type": "integer"}, "selector": {"type": "string"}}}}}}}]}
    }))
}

/// An HPA of `kind`/`name` (`apiVersion`) for a CPU utilization target.
pub fn cpu_hpa(
    name: &str,
    api_version: &str,
    kind: &str,
    max: i32,
    utilization: i32,
    down_window_secs: Option<i64>,
) -> Result<HorizontalPodAutoscaler, serde_json::Error> {
    let mut spec = json!({"scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": name},
        "minReplicas": 1, "maxReplicas": max,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": utilization}}}]});
    if let Some(w) = down_window_secs {
        spec["behavior"] = json!({"scaleDown": {"stabilizationWindowSeconds": w}});
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec}))
}

/// A pod of `app` on `node` whose one container `c` requests `request` CPU.
pub fn app_pod(name: &str, app: &str, node: &str, request: &str) -> Result<Pod, serde_json::Error> {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": app}}, "spec": {"nodeName": node,
        "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10", "resources": {"requests": {"cpu": request}}}]}}))
}

// ---- The example ----

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("hpa", example().await)
}

async fn example() -> Result<(), BoxError> {
    let keep_running = common::for_seconds()?;
    let (conn, ns) = common::connect_to_write().await.map_err(|e| e.to_string())?;
    let client = conn.client.clone();
    let shutdown = CancellationToken::new();
    let Some(server) = &conn.server else {
        let opts = Options { namespace: Some(ns), ..Default::default() };
        println!("running the autoscaler on the HPAs of namespace {:?}", opts.namespace.as_deref().unwrap_or_default());
        let controller = tokio::spawn(run(client, opts, shutdown.clone()));
        tokio::select! {
            _ = tokio::time::sleep(keep_running.unwrap_or(Duration::from_secs(30))) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        shutdown.cancel();
        return Ok(controller.await??);
    };

    // The embedded server: a simulated node runs the pods (a ReplicaSet controller would create
    // them; here the example does), metrics are set through the server's control.
    let control = server.control();
    control.add_node("node-1", &[("cpu", "16")]);
    let cs = ClientSet::new(client.clone());
    cs.apiextensions_v1().custom_resource_definitions().create(&Default::default(), &worker_crd()?).await?;
    let deployment: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}))?;
    Api::<Deployment>::namespaced(client.clone(), &ns).create(&Default::default(), &deployment).await?;
    let workers = Api::<DynamicObject>::with_resource(client.clone(), &worker_resource(), Some(&ns));
    let worker: DynamicObject = serde_json::from_value(json!({"apiVersion": "demo.rudder.dev/v1", "kind": "Worker",
        "metadata": {"name": "queue"}, "spec": {"replicas": 1}}))?;
    wait_for("the Worker resource to be served", Duration::from_secs(10), || async {
        match workers.create(&Default::default(), &worker).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    })
    .await?;
    workers
        .patch_status(
            "queue",
            &PatchOptions::default(),
            &Patch::Merge(json!({"status": {"replicas": 1, "selector": "app=queue"}})),
        )
        .await?;
    let pods = Api::<Pod>::namespaced(client.clone(), &ns);
    for (name, app) in [("web-0", "web"), ("web-1", "web"), ("queue-0", "queue")] {
        pods.create(&Default::default(), &app_pod(name, app, "node-1", "100m")?).await?;
    }
    let hpas = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns);
    hpas.create(&Default::default(), &cpu_hpa("web", "apps/v1", "Deployment", 10, 50, Some(3))?).await?;
    hpas.create(&Default::default(), &cpu_hpa("queue", "demo.rudder.dev/v1", "Worker", 5, 50, Some(3))?).await?;
    for pod in ["web-0", "web-1", "queue-0"] {
        control.set_container_usage(&ns, pod, "c", &[("cpu", "150m")])?;
    }
    let opts = Options {
        namespace: Some(ns.clone()),
        sync_period: Duration::from_millis(500),
        cpu_initialization_period: Duration::ZERO,
        ..Default::default()
    };
    println!("running the autoscaler (sync every {:?}); pods use 150m of 100m requested, target 50%", opts.sync_period);
    let controller = tokio::spawn(run(client.clone(), opts, shutdown.clone()));

    let web = Api::<DynamicObject>::with_resource(client.clone(), &ApiResource::of::<Deployment>(), Some(&ns));
    let deadline = Duration::from_secs(30);
    wait_for("web scaled to 6", deadline, || replicas_are(&web, "web", 6)).await?;
    println!("web: 2 pods at 300% of target -> 6 replicas");
    wait_for("the Worker scaled to 3", deadline, || replicas_are(&workers, "queue", 3)).await?;
    println!("Worker queue: 1 pod at 300% of target -> 3 replicas (through its scale subresource)");
    for pod in ["web-0", "web-1"] {
        control.set_container_usage(&ns, pod, "c", &[("cpu", "10m")])?;
    }
    let lowered = Instant::now();
    println!("web's pods now use 10m; the 3 s scale-down stabilization window holds 6 replicas");
    wait_for("web scaled down to 1", deadline, || replicas_are(&web, "web", 1)).await?;
    println!("web: scaled down to 1 after {:?}", lowered.elapsed());
    let hpa = hpas.get("web").await?;
    let status = hpa.status.unwrap_or_default();
    // currentReplicas is the scale's status.replicas, which a Deployment controller keeps (the
    // embedded server runs none, so it stays 0 there).
    println!(
        "HPA web status: currentReplicas {:?}, desiredReplicas {}",
        status.current_replicas, status.desired_replicas
    );
    if let Some(d) = keep_running.filter(|d| !d.is_zero()) {
        println!("running {d:?} more (Ctrl-C ends early)");
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    shutdown.cancel();
    let _ = pods.delete_collection(&ListOptions::default(), &DeleteOptions::default()).await;
    Ok(controller.await??)
}

/// Whether `name`'s scale subresource asks for `want` replicas.
pub async fn replicas_are(api: &Api<DynamicObject>, name: &str, want: i32) -> Result<bool, rudder_client::Error> {
    Ok(api.get_scale(name).await?.spec.and_then(|s| s.replicas) == Some(want))
}
