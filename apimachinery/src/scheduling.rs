//! Scheduling predicates over core/v1 objects: what `k8s.io/component-helpers` gives Go
//! schedulers and controllers (`scheduling/corev1`, `scheduling/corev1/nodeaffinity`,
//! `resource`). Pure functions, no I/O.
//!
//! Contract (each item follows the upstream function named in its docs):
//! - [`tolerates`]: a toleration tolerates a taint when its effect is empty or equal, its key is
//!   empty or equal, and its operator is `Exists`, or `Equal`/empty with an equal value (an
//!   empty key with `Exists` therefore tolerates every taint). Unknown operators tolerate
//!   nothing. [`find_untolerated_taint`] returns the first taint passing a filter that no
//!   toleration tolerates; [`schedule_blocking`] is the scheduler's filter (`NoSchedule` and
//!   `NoExecute`).
//! - [`NodeSelectorTerms`]: `nodeSelectorTerms` are ORed, the requirements of one term ANDed;
//!   a term with neither expressions nor fields matches nothing; a term with an invalid
//!   requirement (wrong number of values, a non-integer `Gt`/`Lt` value, an unknown operator,
//!   a field other than `metadata.name`) matches nothing, and its error is reported only when
//!   no other term matched. `Gt`/`Lt` compare the label's value as a 64-bit integer (a label
//!   that is not one does not match); `NotIn` and `DoesNotExist` match an absent label.
//! - [`pod_matches_node`]: `spec.nodeSelector` (every label equal) and the required node
//!   affinity (`requiredDuringSchedulingIgnoredDuringExecution`) both hold.
//! - [`pod_requests`]: the requests a pod needs on a node, as upstream's `PodRequests`: the sum
//!   over app containers and sidecars (restartable init containers), against the largest need
//!   of any single plain init container (plus the sidecars started before it), whichever is
//!   larger per resource, plus `spec.overhead`. Options add per-container defaults for missing
//!   requests (the scheduler's scoring uses 100m CPU and 200Mi memory) or leave overhead out.
//!   Quantities that do not parse, and sums that overflow, are a [`RequestsError`].
//!
//! Not covered: pod-level `spec.resources` (alpha in 1.32), in-place resize status, and the
//! `Gt`/`Lt` toleration operators (alpha after 1.32).

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{
    Container, Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, Taint, Toleration,
};

use crate::quantity::{ParseQuantityError, Quantity};

/// Resource name -> quantity (a `v1.ResourceList` with exact arithmetic).
pub type ResourceList = BTreeMap<String, Quantity>;

/// The taint key of `spec.unschedulable` nodes (`node.kubernetes.io/unschedulable`).
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// The scheduler's CPU request for a container that states none, in millicores (scoring only).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The scheduler's memory request for a container that states none, in bytes (200Mi; scoring only).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Whether `toleration` tolerates `taint` (upstream `Toleration.ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

/// Whether any of `tolerations` tolerates `taint` (upstream `TolerationsTolerateTaint`).
pub fn tolerated_by(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The first of `taints` that passes `filter` and that no toleration tolerates (upstream
/// `FindMatchingUntoleratedTaint`).
pub fn find_untolerated_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints.iter().find(|t| filter(t) && !tolerated_by(tolerations, t))
}

/// The scheduler's taint filter: effects `NoSchedule` and `NoExecute` keep a pod off a node
/// (`PreferNoSchedule` only lowers its score).
pub fn schedule_blocking(taint: &Taint) -> bool {
    taint.effect == "NoSchedule" || taint.effect == "NoExecute"
}

/// A requirement that cannot be evaluated; the term holding it matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid node selector requirement {key:?} {operator}: {reason}")]
pub struct NodeSelectorError {
    /// The label or field key.
    pub key: String,
    /// The operator.
    pub operator: String,
    /// What is wrong.
    pub reason: String,
}

/// `nodeSelectorTerms` ready to match nodes (upstream `nodeaffinity.NodeSelector`, lazy errors).
#[derive(Debug, Clone, Copy)]
pub struct NodeSelectorTerms<'a> {
    terms: &'a [NodeSelectorTerm],
}

impl<'a> NodeSelectorTerms<'a> {
    /// The terms of `selector`.
    pub fn new(selector: &'a NodeSelector) -> Self {
        Self { terms: &selector.node_selector_terms }
    }

    /// Whether some term matches `node`; `Err` only when none matched and some term was invalid
    /// (the first such error). An empty term list matches nothing.
    pub fn matches(&self, node: &Node) -> Result<bool, NodeSelectorError> {
        let mut first_error = None;
        for term in self.terms {
            match term_matches(term, node) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(false), Err)
    }
}

fn term_matches(term: &NodeSelectorTerm, node: &Node) -> Result<bool, NodeSelectorError> {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return Ok(false);
    }
    let labels = node.metadata.labels.as_ref();
    // Validate every requirement first, as upstream parses the whole term before matching.
    let mut matched = true;
    for r in exprs {
        matched &= label_requirement_matches(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str))?;
    }
    for r in fields {
        matched &= field_requirement_matches(r, node)?;
    }
    Ok(matched)
}

fn invalid(r: &NodeSelectorRequirement, reason: impl Into<String>) -> NodeSelectorError {
    NodeSelectorError { key: r.key.clone(), operator: r.operator.clone(), reason: reason.into() }
}

fn label_requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> Result<bool, NodeSelectorError> {
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" | "NotIn" => {
            if values.is_empty() {
                return Err(invalid(r, "values must be non-empty"));
            }
            let found = value.is_some_and(|v| values.iter().any(|x| x == v));
            Ok(found == (r.operator == "In"))
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                return Err(invalid(r, "values must be empty"));
            }
            Ok(value.is_some() == (r.operator == "Exists"))
        }
        "Gt" | "Lt" => {
            let [bound] = values else { return Err(invalid(r, "exactly one value is required")) };
            let bound: i64 = bound.parse().map_err(|_| invalid(r, format!("{bound:?} is not an integer")))?;
            let Some(v) = value.and_then(|v| v.parse::<i64>().ok()) else { return Ok(false) };
            Ok(if r.operator == "Gt" { v > bound } else { v < bound })
        }
        _ => Err(invalid(r, "unknown operator")),
    }
}

fn field_requirement_matches(r: &NodeSelectorRequirement, node: &Node) -> Result<bool, NodeSelectorError> {
    if r.key != "metadata.name" {
        return Err(invalid(r, "the only supported field is metadata.name"));
    }
    let values = r.values.as_deref().unwrap_or_default();
    let [value] = values else { return Err(invalid(r, "exactly one value is required")) };
    let name = node.metadata.name.as_deref().unwrap_or("");
    match r.operator.as_str() {
        "In" => Ok(name == value),
        "NotIn" => Ok(name != value),
        _ => Err(invalid(r, "fields support only In and NotIn")),
    }
}

/// Whether `pod` may run on `node` by its `nodeSelector` and required node affinity (upstream
/// `nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)`).
pub fn pod_matches_node(pod: &PodSpec, node: &Node) -> Result<bool, NodeSelectorError> {
    if let Some(selector) = &pod.node_selector {
        let labels = node.metadata.labels.as_ref();
        if !selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)) {
            return Ok(false);
        }
    }
    let required = pod
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| n.required_during_scheduling_ignored_during_execution.as_ref());
    match required {
        Some(selector) => NodeSelectorTerms::new(selector).matches(node),
        None => Ok(true),
    }
}

/// Why a pod's requests could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestsError {
    /// A request or overhead is not a quantity.
    #[error("resource {resource}: {source}")]
    Quantity {
        /// The resource name.
        resource: String,
        /// The parse error.
        source: ParseQuantityError,
    },
    /// A sum needs more than 38 significant digits.
    #[error("resource {resource}: the sum of requests overflows")]
    Overflow {
        /// The resource name.
        resource: String,
    },
}

/// Options of [`pod_requests`] (upstream `PodResourcesOptions`).
#[derive(Debug, Clone, Default)]
pub struct RequestsOptions {
    /// Leave `spec.overhead` out.
    pub exclude_overhead: bool,
    /// Requests assumed for a container that states none of these resources (upstream
    /// `NonMissingContainerRequests`); see [`scoring_defaults`].
    pub container_defaults: ResourceList,
}

/// The scheduler's per-container defaults for scoring: 100m CPU and 200Mi memory.
pub fn scoring_defaults() -> ResourceList {
    ResourceList::from([
        ("cpu".to_owned(), Quantity::from_milli(DEFAULT_MILLI_CPU_REQUEST, crate::quantity::Format::DecimalSI)),
        ("memory".to_owned(), Quantity::from_int(DEFAULT_MEMORY_REQUEST, crate::quantity::Format::BinarySI)),
    ])
}

/// The resources `pod` requests of a node (upstream `resource.PodRequests`; see the module docs).
pub fn pod_requests(pod: &PodSpec, opts: &RequestsOptions) -> Result<ResourceList, RequestsError> {
    let mut total = ResourceList::new();
    for c in &pod.containers {
        add(&mut total, &container_requests(c, opts)?)?;
    }
    let mut sidecars = ResourceList::new();
    let mut init_max = ResourceList::new();
    for c in pod.init_containers.as_deref().unwrap_or_default() {
        let own = container_requests(c, opts)?;
        let need = if c.restart_policy.as_deref() == Some("Always") {
            // A sidecar runs beside the app containers and beside every later init container.
            add(&mut total, &own)?;
            add(&mut sidecars, &own)?;
            sidecars.clone()
        } else {
            let mut need = own;
            add(&mut need, &sidecars)?;
            need
        };
        max_into(&mut init_max, &need);
    }
    max_into(&mut total, &init_max);
    if !opts.exclude_overhead {
        if let Some(overhead) = &pod.overhead {
            add(&mut total, &parse_list(overhead)?)?;
        }
    }
    Ok(total)
}

/// [`pod_requests`] of a whole pod with default options.
pub fn requests_of(pod: &Pod) -> Result<ResourceList, RequestsError> {
    pod.spec.as_ref().map_or(Ok(ResourceList::new()), |s| pod_requests(s, &RequestsOptions::default()))
}

fn container_requests(c: &Container, opts: &RequestsOptions) -> Result<ResourceList, RequestsError> {
    let mut list = match c.resources.as_ref().and_then(|r| r.requests.as_ref()) {
        Some(r) => parse_list(r)?,
        None => ResourceList::new(),
    };
    for (name, q) in &opts.container_defaults {
        list.entry(name.clone()).or_insert(*q);
    }
    Ok(list)
}

fn parse_list(
    list: &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
) -> Result<ResourceList, RequestsError> {
    list.iter()
        .map(|(name, q)| {
            Quantity::try_from(q)
                .map(|q| (name.clone(), q))
                .map_err(|source| RequestsError::Quantity { resource: name.clone(), source })
        })
        .collect()
}

/// `into += other`, per resource.
pub fn add(into: &mut ResourceList, other: &ResourceList) -> Result<(), RequestsError> {
    for (name, q) in other {
        let sum = match into.get(name) {
            Some(have) => have.checked_add(q).ok_or_else(|| RequestsError::Overflow { resource: name.clone() })?,
            None => *q,
        };
        into.insert(name.clone(), sum);
    }
    Ok(())
}

fn max_into(into: &mut ResourceList, other: &ResourceList) {
    for (name, q) in other {
        match into.get_mut(name) {
            Some(have) if *have >= *q => {}
            Some(have) => *have = *q,
            None => {
                into.insert(name.clone(), *q);
            }
        }
    }
}

/// Prints a resource list as `cpu=500m, memory=1Gi` (for messages and logs).
pub struct DisplayList<'a>(pub &'a ResourceList);

impl fmt::Display for DisplayList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, q)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}={q}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint { key: key.into(), value: value.map(Into::into), effect: effect.into(), time_added: None }
    }

    fn tol(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).unwrap()
    }

    fn node(name: &str, labels: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn list(pairs: &[(&str, &str)]) -> ResourceList {
        pairs.iter().map(|(k, v)| (k.to_string(), Quantity::parse(v).unwrap())).collect()
    }

    #[test]
    fn tolerations_follow_upstream() {
        let t = taint("dedicated", Some("gpu"), "NoSchedule");
        assert!(tolerates(&tol(json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"})), &t));
        assert!(tolerates(&tol(json!({"key": "dedicated", "operator": "Equal", "value": "gpu"})), &t));
        assert!(!tolerates(&tol(json!({"key": "dedicated", "operator": "Equal", "value": "cpu"})), &t));
        assert!(tolerates(&tol(json!({"key": "dedicated", "operator": "Exists"})), &t));
        assert!(!tolerates(&tol(json!({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"})), &t));
        assert!(!tolerates(&tol(json!({"key": "other", "operator": "Exists"})), &t));
        // An empty key with Exists tolerates everything; an unknown operator nothing.
        assert!(tolerates(&tol(json!({"operator": "Exists"})), &t));
        assert!(!tolerates(&tol(json!({"key": "dedicated", "operator": "Gt", "value": "gpu"})), &t));
        // A taint without a value is matched by an Equal toleration without a value.
        assert!(tolerates(&tol(json!({"key": "k"})), &taint("k", None, "NoExecute")));

        let taints = [taint("soft", None, "PreferNoSchedule"), taint("a", None, "NoExecute"), t.clone()];
        let tols = [tol(json!({"key": "a", "operator": "Exists"}))];
        let first = find_untolerated_taint(&taints, &tols, schedule_blocking);
        assert_eq!(first.map(|t| t.key.as_str()), Some("dedicated"));
        assert_eq!(find_untolerated_taint(&taints, &[tol(json!({"operator": "Exists"}))], schedule_blocking), None);
    }

    #[test]
    fn node_selector_terms_or_of_ands() {
        let n = node("n1", json!({"zone": "a", "cpus": "8", "gpu": "x"}));
        let sel = |terms: serde_json::Value| -> NodeSelector {
            serde_json::from_value(json!({"nodeSelectorTerms": terms})).unwrap()
        };
        let m = |terms| NodeSelectorTerms::new(&sel(terms)).matches(&n);
        let expr = |key: &str, op: &str, values: &[&str]| json!({"key": key, "operator": op, "values": values});
        assert_eq!(m(json!([{"matchExpressions": [expr("zone", "In", &["a", "b"])]}])), Ok(true));
        assert_eq!(m(json!([{"matchExpressions": [expr("zone", "NotIn", &["a"])]}])), Ok(false));
        assert_eq!(m(json!([{"matchExpressions": [expr("absent", "NotIn", &["a"])]}])), Ok(true));
        assert_eq!(m(json!([{"matchExpressions": [expr("gpu", "Exists", &[])]}])), Ok(true));
        assert_eq!(m(json!([{"matchExpressions": [expr("gpu", "DoesNotExist", &[])]}])), Ok(false));
        assert_eq!(m(json!([{"matchExpressions": [expr("cpus", "Gt", &["4"])]}])), Ok(true));
        assert_eq!(m(json!([{"matchExpressions": [expr("cpus", "Lt", &["4"])]}])), Ok(false));
        assert_eq!(m(json!([{"matchExpressions": [expr("zone", "Gt", &["4"])]}])), Ok(false)); // not an integer label
        assert_eq!(m(json!([{"matchFields": [expr("metadata.name", "In", &["n1"])]}])), Ok(true));
        assert_eq!(m(json!([{"matchFields": [expr("metadata.name", "NotIn", &["n1"])]}])), Ok(false));
        // Within a term: AND. Between terms: OR. An empty term or list matches nothing.
        let both = json!([{"matchExpressions": [expr("zone", "In", &["a"])],
                           "matchFields": [expr("metadata.name", "In", &["n2"])]}]);
        assert_eq!(m(both), Ok(false));
        let either = json!([{"matchExpressions": [expr("zone", "In", &["b"])]},
                            {"matchExpressions": [expr("zone", "In", &["a"])]}]);
        assert_eq!(m(either), Ok(true));
        assert_eq!(m(json!([{}])), Ok(false));
        assert_eq!(m(json!([])), Ok(false));
        // An invalid term matches nothing; its error shows only when no other term matched.
        let bad = expr("cpus", "Gt", &["x"]);
        assert!(m(json!([{"matchExpressions": [bad]}])).is_err());
        assert_eq!(
            m(json!([{"matchExpressions": [bad]}, {"matchExpressions": [expr("zone", "In", &["a"])]}])),
            Ok(true)
        );
        assert!(m(json!([{"matchExpressions": [expr("zone", "In", &[])]}])).is_err());
        assert!(m(json!([{"matchExpressions": [expr("zone", "Exists", &["a"])]}])).is_err());
        assert!(m(json!([{"matchExpressions": [expr("zone", "Like", &["a"])]}])).is_err());
        assert!(m(json!([{"matchFields": [expr("metadata.uid", "In", &["x"])]}])).is_err());
        assert!(m(json!([{"matchFields": [expr("metadata.name", "In", &["n1", "n2"])]}])).is_err());
        assert!(m(json!([{"matchFields": [expr("metadata.name", "Exists", &[])]}])).is_err());
    }

    #[test]
    fn pod_matches_node_selector_and_required_affinity() {
        let n = node("n1", json!({"disk": "ssd", "zone": "a"}));
        let ok = |s: serde_json::Value| pod_matches_node(&spec(s), &n);
        assert_eq!(ok(json!({"containers": []})), Ok(true));
        assert_eq!(ok(json!({"containers": [], "nodeSelector": {"disk": "ssd"}})), Ok(true));
        assert_eq!(ok(json!({"containers": [], "nodeSelector": {"disk": "hdd"}})), Ok(false));
        let affinity = |zone: &str| {
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": [zone]}]}]}}})
        };
        assert_eq!(ok(json!({"containers": [], "affinity": affinity("a")})), Ok(true));
        assert_eq!(ok(json!({"containers": [], "affinity": affinity("b")})), Ok(false));
        // Both must hold.
        assert_eq!(
            ok(json!({"containers": [], "nodeSelector": {"disk": "hdd"}, "affinity": affinity("a")})),
            Ok(false)
        );
    }

    #[test]
    fn pod_requests_follow_upstream() {
        let c = |name: &str, cpu: &str, mem: &str| json!({"name": name, "resources": {"requests": {"cpu": cpu, "memory": mem}}});
        let d = RequestsOptions::default();
        // App containers add up.
        let s = spec(json!({"containers": [c("a", "100m", "1Gi"), c("b", "250m", "512Mi")]}));
        assert_eq!(pod_requests(&s, &d), Ok(list(&[("cpu", "350m"), ("memory", "1536Mi")])));
        // A bigger init container wins per resource; overhead is added on top.
        let s = spec(json!({"containers": [c("a", "100m", "1Gi")], "initContainers": [c("i", "2", "64Mi")],
                            "overhead": {"cpu": "10m"}}));
        assert_eq!(pod_requests(&s, &d), Ok(list(&[("cpu", "2010m"), ("memory", "1Gi")])));
        let no_overhead = RequestsOptions { exclude_overhead: true, ..Default::default() };
        assert_eq!(pod_requests(&s, &no_overhead), Ok(list(&[("cpu", "2"), ("memory", "1Gi")])));
        // A sidecar adds to the app containers and to every later init container.
        let mut sidecar = c("side", "500m", "100Mi");
        sidecar["restartPolicy"] = json!("Always");
        let s = spec(json!({"containers": [c("a", "1", "1Gi")],
                            "initContainers": [sidecar, c("i", "1600m", "10Mi")]}));
        // app + sidecar = 1500m; init after sidecar = 2100m: the init phase wins for cpu.
        assert_eq!(pod_requests(&s, &d), Ok(list(&[("cpu", "2100m"), ("memory", "1124Mi")])));
        // Scoring defaults fill what a container leaves out.
        let s = spec(json!({"containers": [{"name": "a"}, {"name": "b", "resources": {"requests": {"cpu": "1"}}}]}));
        let scoring = RequestsOptions { container_defaults: scoring_defaults(), ..Default::default() };
        assert_eq!(pod_requests(&s, &scoring), Ok(list(&[("cpu", "1100m"), ("memory", "400Mi")])));
        assert_eq!(pod_requests(&s, &d), Ok(list(&[("cpu", "1")])));
        // Bad quantities are errors, not panics.
        let s = spec(json!({"containers": [c("a", "lots", "1Gi")]}));
        assert!(matches!(pod_requests(&s, &d), Err(RequestsError::Quantity { resource, .. }) if resource == "cpu"));
        assert_eq!(requests_of(&Pod::default()), Ok(ResourceList::new()));
        assert_eq!(DisplayList(&list(&[("cpu", "1"), ("memory", "1Gi")])).to_string(), "cpu=1, memory=1Gi");
    }
}
