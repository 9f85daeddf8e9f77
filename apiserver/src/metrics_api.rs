//! The resource metrics API, `metrics.k8s.io/v1beta1`, as metrics-server serves it: PodMetrics
//! and NodeMetrics for `kubectl top` and the Horizontal Pod Autoscaler.
//!
//! Contract:
//! - Served at the real paths (`/apis/metrics.k8s.io/v1beta1/nodes[/name]`,
//!   `.../namespaces/{ns}/pods[/name]`, `.../pods` across namespaces), in legacy and aggregated
//!   discovery (verbs `get` and `list` only; metrics-server names no singular); every other
//!   verb answers 405.
//! - An object is listed only while what it measures exists and has usage: a pod or node whose
//!   usage a test set ([`Control::set_container_usage`], [`Control::set_node_usage`]), or, with
//!   the kubelet stand-in, a running container of a simulated pod (1m CPU, 4Mi memory) and a
//!   registered node whose kubelet runs (50m, 512Mi plus its pods' usage). Its metadata is the
//!   measured object's name, namespace and labels, with `creationTimestamp` the time of the
//!   request; `timestamp` and `window` (15 s) describe the sample, as metrics-server's do.
//! - Lists are sorted by namespace then name and filtered by `labelSelector` (the measured
//!   object's labels) and `fieldSelector` (`metadata.name`, `metadata.namespace`); a missing
//!   object is metrics-server's 404: `pods "p" not found` when the pod does not exist,
//!   `podmetrics.metrics.k8s.io "ns/p" not found` when it has no metrics (nodes likewise).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rudder_apimachinery::quantity::{ParseQuantityError, Quantity};
use rudder_apimachinery::resource::{ApiResource, Scope};
use rudder_apimachinery::schema::GroupVersionKind;
use rudder_apimachinery::status::{ReasonKind, Status, StatusDetails};
use serde_json::{json, Map, Value};

use crate::control::Control;
use crate::errors::{ApiError, ApiResult};
use crate::handlers::{Filter, Resp};
use crate::registry::ResourceInfo;
use crate::server::{json_value, now_rfc3339, Ctx, Shared, State, Target};
use crate::store::Obj;

/// The API group.
pub const GROUP: &str = "metrics.k8s.io";
/// The served version.
pub const VERSION: &str = "v1beta1";
/// The sampling window reported.
const WINDOW: &str = "15s";

/// Usage by resource name.
type Usage = BTreeMap<String, Quantity>;

/// The usage tests set.
#[derive(Debug, Default)]
pub struct MetricsStore {
    pods: HashMap<(String, String), BTreeMap<String, Usage>>,
    nodes: HashMap<String, Usage>,
}

/// The two resources, as the registry serves them.
pub fn resources() -> Vec<ResourceInfo> {
    [("PodMetrics", "pods", Scope::Namespaced), ("NodeMetrics", "nodes", Scope::Cluster)]
        .into_iter()
        .map(|(kind, plural, scope)| {
            let mut info =
                ResourceInfo::new(ApiResource::from_gvk(&GroupVersionKind::new(GROUP, VERSION, kind), plural, scope));
            info.singular = String::new();
            info.verbs = vec!["get".into(), "list".into()];
            info
        })
        .collect()
}

/// Whether a target is a metrics resource.
pub fn serves(t: &Target) -> bool {
    t.info.api.group == GROUP && !t.info.custom
}

fn parse_usage(usage: &[(&str, &str)]) -> Result<Usage, ParseQuantityError> {
    usage.iter().map(|(k, v)| Ok((k.to_string(), Quantity::parse(v)?))).collect()
}

fn usage_json(u: &Usage) -> Value {
    Value::Object(u.iter().map(|(k, q)| (k.clone(), Value::from(q.to_string()))).collect())
}

fn add(into: &mut Usage, u: &Usage) {
    for (k, q) in u {
        let sum = match into.get(k) {
            Some(cur) => cur.checked_add(q).unwrap_or(*cur),
            None => *q,
        };
        into.insert(k.clone(), sum);
    }
}

fn default_container_usage() -> Usage {
    parse_usage(&[("cpu", "1m"), ("memory", "4Mi")]).unwrap_or_default()
}

fn node_base_usage() -> Usage {
    parse_usage(&[("cpu", "50m"), ("memory", "512Mi")]).unwrap_or_default()
}

/// The containers' usage of a pod, in spec order, or `None` when it has no metrics.
fn pod_usage(st: &State, pod: &Obj, v: &Value) -> Option<Vec<(String, Usage)>> {
    let set = st.metrics.pods.get(&(pod.ns.clone(), pod.name.clone()));
    let names: Vec<String> = v
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from)).collect())
        .unwrap_or_default();
    let out: Vec<(String, Usage)> = names
        .into_iter()
        .filter_map(|c| {
            let u = set
                .and_then(|s| s.get(&c))
                .cloned()
                .or_else(|| st.kubelet.container_running(&pod.ns, &pod.name, &c).then(default_container_usage))?;
            Some((c, u))
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

fn pods_res() -> (String, String) {
    (String::new(), "pods".into())
}

fn node_usage(st: &State, node: &Obj) -> Option<Usage> {
    if let Some(u) = st.metrics.nodes.get(&node.name) {
        return Some(u.clone());
    }
    if !st.kubelet.running_nodes().any(|n| n == node.name) {
        return None;
    }
    let mut total = node_base_usage();
    if let Some(t) = st.store.tables.get(&pods_res()) {
        for p in t.objects.values().filter(|p| p.field("spec.nodeName").as_deref() == Some(node.name.as_str())) {
            for (_, u) in pod_usage(st, p, &p.value()).unwrap_or_default() {
                add(&mut total, &u);
            }
        }
    }
    Some(total)
}

fn meta(o: &Obj, now: &str) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::from(o.name.clone()));
    if !o.ns.is_empty() {
        m.insert("namespace".into(), Value::from(o.ns.clone()));
    }
    m.insert("creationTimestamp".into(), Value::from(now));
    if !o.labels.is_empty() {
        m.insert("labels".into(), json!(&*o.labels));
    }
    Value::Object(m)
}

fn pod_metrics(st: &State, o: &Obj, now: &str) -> Option<Value> {
    let containers = pod_usage(st, o, &o.value())?;
    let cs: Vec<Value> = containers.iter().map(|(n, u)| json!({"name": n, "usage": usage_json(u)})).collect();
    Some(json!({"kind": "PodMetrics", "apiVersion": format!("{GROUP}/{VERSION}"), "metadata": meta(o, now),
        "timestamp": now, "window": WINDOW, "containers": cs}))
}

fn node_metrics(st: &State, o: &Obj, now: &str) -> Option<Value> {
    let usage = node_usage(st, o)?;
    Some(json!({"kind": "NodeMetrics", "apiVersion": format!("{GROUP}/{VERSION}"), "metadata": meta(o, now),
        "timestamp": now, "window": WINDOW, "usage": usage_json(&usage)}))
}

fn not_found(resource: &str, group: &str, name: &str) -> ApiError {
    let qualified = if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") };
    Status::failure(404, ReasonKind::NotFound, format!("{qualified} {name:?} not found"))
        .with_details(StatusDetails {
            name: name.to_string(),
            group: group.to_string(),
            kind: resource.to_string(),
            ..Default::default()
        })
        .into()
}

/// Answers a request for a metrics resource.
pub(crate) fn handle(shared: &Arc<Shared>, ctx: &Ctx, t: &Target, verb: &str) -> ApiResult<Resp> {
    let pods = t.info.api.plural == "pods";
    let now = now_rfc3339();
    let st = shared.state.lock();
    let measured = if pods { pods_res() } else { (String::new(), "nodes".into()) };
    let render = |o: &Obj| if pods { pod_metrics(&st, o, &now) } else { node_metrics(&st, o, &now) };
    match (verb, &t.name) {
        ("get", Some(name)) => {
            let ns = t.ns.clone().unwrap_or_default();
            let shown = if pods { format!("{ns}/{name}") } else { name.clone() };
            let Some(o) = st.store.get(&measured, &ns, name) else {
                return Err(not_found(&measured.1, "", name));
            };
            let kind = if pods { "podmetrics" } else { "nodemetrics" };
            render(&o).map(|v| json_value(200, &v)).ok_or_else(|| not_found(kind, GROUP, &shown))
        }
        ("list", None) => {
            let filter = Filter::parse(ctx, t)?;
            let items: Vec<Value> = st
                .store
                .tables
                .get(&measured)
                .map(|tb| tb.objects.values().filter(|o| filter.matches(o)).filter_map(|o| render(o)).collect())
                .unwrap_or_default();
            let kind = if pods { "PodMetricsList" } else { "NodeMetricsList" };
            Ok(json_value(
                200,
                &json!({"kind": kind, "apiVersion": format!("{GROUP}/{VERSION}"), "metadata": {}, "items": items}),
            ))
        }
        _ => Err(ApiError::method_not_allowed(ctx.method.as_str())),
    }
}

/// Setting usage for `metrics.k8s.io`.
impl Control {
    /// Sets a container's usage (for example `[("cpu", "250m"), ("memory", "64Mi")]`), served
    /// in its pod's PodMetrics (and counted in its node's default NodeMetrics) while the pod
    /// exists. Replaces what was set before for that container.
    pub fn set_container_usage(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        usage: &[(&str, &str)],
    ) -> Result<(), ParseQuantityError> {
        let u = parse_usage(usage)?;
        let mut st = self.shared.state.lock();
        st.metrics.pods.entry((namespace.to_string(), pod.to_string())).or_default().insert(container.to_string(), u);
        Ok(())
    }

    /// Sets a node's usage, served as its NodeMetrics while the node exists (instead of the
    /// kubelet stand-in's default).
    pub fn set_node_usage(&self, node: &str, usage: &[(&str, &str)]) -> Result<(), ParseQuantityError> {
        let u = parse_usage(usage)?;
        self.shared.state.lock().metrics.nodes.insert(node.to_string(), u);
        Ok(())
    }
}
