//! PodDisruptionBudgets: their `status`, kept current as the disruption controller
//! (kube-controller-manager's, emulated) keeps it, and the eviction subresource's decision
//! (`pods/eviction`, as kube-apiserver's `EvictionREST`).
//!
//! Contract:
//! - A budget selects the pods of its namespace that match `spec.selector` (absent: none; an
//!   empty selector: all, as in policy/v1). `expectedPods`/`desiredHealthy`: with an integer
//!   `minAvailable`, the number of selected pods and that integer; with a percentage
//!   `minAvailable` or any `maxUnavailable`, the scale of the pods' controllers (ReplicaSet, or
//!   the Deployment owning it, ReplicationController, StatefulSet, or any kind with a `scale`
//!   subresource; each counted once) and the value scaled from it, rounding up
//!   (`desiredHealthy` = scale - maxUnavailable, at least 0). `currentHealthy` counts the
//!   selected pods whose `Ready` condition is True, that are not being deleted and that no
//!   eviction is still expected to delete; `disruptionsAllowed` is `currentHealthy -
//!   desiredHealthy` (0 when negative or when no pod is expected); `observedGeneration` is the
//!   budget's generation; the `DisruptionAllowed` condition says `SufficientPods` or
//!   `InsufficientPods`. A selected pod without a controller under a scale-based budget makes
//!   the sync fail as the real controller's does: `disruptionsAllowed: 0`, reason `SyncFailed`.
//! - Status is recomputed whenever a pod, a budget or a workload controller of the namespace
//!   changes (see [`crate::gc`]), so it is always current.
//! - Eviction: pods that are Pending, Succeeded, Failed or already being deleted are deleted
//!   without looking at budgets. More than one budget: 500 with the real message. One budget
//!   with no disruption allowed: 429 `TooManyRequests`, cause `DisruptionBudget`. Otherwise the
//!   budget is decremented (the pod is recorded in `disruptedPods`), and the pod is deleted with
//!   the eviction's DeleteOptions (so gracefully). An unready pod is evicted without spending
//!   the budget when the budget is already met (or its `unhealthyPodEvictionPolicy` is
//!   `AlwaysAllow`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use rudder_apimachinery::labels::Selector;
use rudder_apimachinery::status::{ReasonKind, Status, StatusCause, StatusDetails};
use serde_json::{json, Map, Value};

use crate::errors::ApiResult;
use crate::field_selectors::selectable;
use crate::gc::{refs_of_obj, resolve_owner, OwnerRef};
use crate::handlers::{delete_object, DeleteOpts};
use crate::server::{now_rfc3339, res_key, Shared, State, Target};
use crate::store::{encode, EventKind, Obj, ResKey};

/// How long an eviction's entry in `disruptedPods` counts before the pod must be deleting
/// (the disruption controller's `DeletionTimeout`).
const DELETION_TIMEOUT_SECS: i64 = 120;

/// The message of every 429 an eviction gets.
pub const VIOLATION: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

fn pdbs_key() -> ResKey {
    ("policy".into(), "poddisruptionbudgets".into())
}

fn pods_key() -> ResKey {
    (String::new(), "pods".into())
}

/// Whether a change to this table can change a budget's status.
pub(crate) fn affects(res: &ResKey) -> bool {
    matches!(
        (res.0.as_str(), res.1.as_str()),
        ("", "pods" | "replicationcontrollers")
            | ("policy", "poddisruptionbudgets")
            | ("apps", "deployments" | "replicasets" | "statefulsets")
    )
}

fn objects_in(st: &State, res: &ResKey, ns: &str) -> Vec<Arc<Obj>> {
    st.store.snapshot(res, Some(ns), st.store.rv, None).unwrap_or_default()
}

fn selector_of(pdb: &Value) -> Result<Selector, String> {
    let sel: Option<LabelSelector> = match pdb.pointer("/spec/selector") {
        None | Some(Value::Null) => None,
        Some(s) => Some(serde_json::from_value(s.clone()).map_err(|e| e.to_string())?),
    };
    Selector::from_label_selector(sel.as_ref()).map_err(|e| e.to_string())
}

fn selected_pods(st: &State, pdb: &Value, ns: &str) -> Result<Vec<Arc<Obj>>, String> {
    let sel = selector_of(pdb)?;
    Ok(objects_in(st, &pods_key(), ns).into_iter().filter(|p| sel.matches(&p.labels)).collect())
}

/// Whether the pod's `Ready` condition is True.
pub(crate) fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| {
        cs.iter().any(|c| {
            c.get("type").and_then(Value::as_str) == Some("Ready")
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
    })
}

/// `GetScaledValueFromIntOrPercent` (rounding up).
fn scaled(v: &Value, total: i64) -> Result<i64, String> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| format!("invalid value for IntOrString: {n}")),
        Value::String(s) => {
            let p: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| "invalid value for IntOrString: invalid type: string is not a percentage".to_string())?;
            Ok((p * total + 99).div_euclid(100))
        }
        _ => Err("invalid value for IntOrString: invalid type".into()),
    }
}

fn replicas(o: &Obj) -> i64 {
    o.value().pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
}

/// The summed scale of the selected pods' controllers (each once).
fn expected_scale(st: &State, pods: &[Arc<Obj>], ns: &str) -> Result<i64, String> {
    let mut seen = HashSet::new();
    let mut total = 0;
    for pod in pods {
        let controller = refs_of_obj(pod).into_iter().find(|r| r.controller == Some(true));
        let found = controller.and_then(|r| scale_controller(st, &r, ns));
        let Some((uid, scale)) = found else { return Err(format!("found no controllers for pod {:?}", pod.name)) };
        if seen.insert(uid) {
            total += scale;
        }
    }
    Ok(total)
}

/// The controller an ownerReference names and its scale: a ReplicaSet owned by a Deployment
/// answers for the Deployment.
fn scale_controller(st: &State, r: &OwnerRef, ns: &str) -> Option<(String, i64)> {
    let owner = resolve_owner(st, r, ns).ok()??;
    let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    match (group, r.kind.as_str()) {
        ("apps", "ReplicaSet") => {
            let dep = refs_of_obj(&owner)
                .into_iter()
                .find(|d| d.controller == Some(true) && d.kind == "Deployment")
                .and_then(|d| resolve_owner(st, &d, ns).ok().flatten());
            let o = dep.unwrap_or(owner);
            Some((o.uid.clone(), replicas(&o)))
        }
        ("", "ReplicationController") | ("apps", "StatefulSet") => Some((owner.uid.clone(), replicas(&owner))),
        _ => {
            let info = st.registry.iter().find(|i| i.api.group == group && i.api.kind == r.kind)?;
            info.subresources.iter().any(|s| s == "scale").then(|| (owner.uid.clone(), replicas(&owner)))
        }
    }
}

/// The disruption controller's status for one budget.
fn compute_status(st: &State, pdb: &Value, ns: &str) -> Value {
    let old = pdb.get("status").cloned().unwrap_or_else(|| json!({}));
    let generation = pdb.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
    let computed = (|| -> Result<Value, String> {
        let pods = selected_pods(st, pdb, ns)?;
        let (expected, desired) = match (pdb.pointer("/spec/maxUnavailable"), pdb.pointer("/spec/minAvailable")) {
            (Some(max), _) if !max.is_null() => {
                let expected = expected_scale(st, &pods, ns)?;
                (expected, (expected - scaled(max, expected)?).max(0))
            }
            (_, Some(Value::Number(n))) => (pods.len() as i64, n.as_i64().unwrap_or(0)),
            (_, Some(min)) if !min.is_null() => {
                let expected = expected_scale(st, &pods, ns)?;
                (expected, scaled(min, expected)?)
            }
            _ => (pods.len() as i64, 0),
        };
        // disruptedPods: evictions not yet seen as deletions, for at most DeletionTimeout.
        let now = jiff::Timestamp::now();
        let mut disrupted = Map::new();
        let old_disrupted = old.get("disruptedPods").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut current = 0;
        for pod in &pods {
            let v = pod.value();
            if crate::graceful::is_deleting(&v) {
                continue;
            }
            if let Some(at) = old_disrupted.get(&pod.name) {
                let live = crate::graceful::parse_time(at)
                    .is_some_and(|t| t.as_second() + DELETION_TIMEOUT_SECS > now.as_second());
                if live {
                    disrupted.insert(pod.name.clone(), at.clone());
                    continue;
                }
            }
            if is_ready(&v) {
                current += 1;
            }
        }
        let allowed = if expected <= 0 || current - desired <= 0 { 0 } else { current - desired };
        let mut s = json!({
            "observedGeneration": generation,
            "disruptionsAllowed": allowed,
            "currentHealthy": current,
            "desiredHealthy": desired,
            "expectedPods": expected,
        });
        if !disrupted.is_empty() {
            s["disruptedPods"] = Value::Object(disrupted);
        }
        Ok(s)
    })();
    let (mut status, cond) = match computed {
        Ok(s) => {
            let ok = s["disruptionsAllowed"].as_i64().unwrap_or(0) > 0;
            let cond = if ok {
                ("True", "SufficientPods", String::new())
            } else {
                ("False", "InsufficientPods", String::new())
            };
            (s, cond)
        }
        Err(message) => {
            // failSafe: the last status, no disruption allowed.
            let mut s = old.clone();
            s["disruptionsAllowed"] = json!(0);
            for k in ["currentHealthy", "desiredHealthy", "expectedPods"] {
                if s.get(k).is_none() {
                    s[k] = json!(0);
                }
            }
            (s, ("False", "SyncFailed", message))
        }
    };
    status["conditions"] = json!([condition(&old, generation, cond)]);
    status
}

/// `SetStatusCondition` for `DisruptionAllowed`: the transition time moves only when the
/// status does.
fn condition(old_status: &Value, generation: i64, (status, reason, message): (&str, &str, String)) -> Value {
    let old = old_status
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("DisruptionAllowed")));
    let since = match old {
        Some(c) if c.get("status").and_then(Value::as_str) == Some(status) => {
            c.get("lastTransitionTime").cloned().unwrap_or_else(|| json!(now_rfc3339()))
        }
        _ => json!(now_rfc3339()),
    };
    json!({"type": "DisruptionAllowed", "status": status, "observedGeneration": generation,
        "lastTransitionTime": since, "reason": reason, "message": message})
}

/// Stores a budget's new status (watchers see a MODIFIED event); nothing when it is the same.
fn write_status(st: &mut State, pdb: &Arc<Obj>, status: Value) {
    let mut v = pdb.value();
    if v.get("status") == Some(&status) {
        return;
    }
    v["status"] = status;
    let Some(info) = st.registry.iter().find(|i| res_key(i) == pdbs_key()).cloned() else { return };
    let rv = st.store.next_rv();
    st.store.commit(&pdbs_key(), EventKind::Modified, encode(&v, rv, selectable(&info)));
}

/// The disruption controller's sync of every budget in a namespace.
pub(crate) fn sync_namespace(st: &mut State, ns: &str) {
    for pdb in objects_in(st, &pdbs_key(), ns) {
        let v = pdb.value();
        let status = compute_status(st, &v, ns);
        write_status(st, &pdb, status);
    }
}

fn too_many_requests(cause: String, retry_after: Option<u32>) -> Status {
    Status::failure(429, ReasonKind::TooManyRequests, VIOLATION).with_details(StatusDetails {
        causes: vec![StatusCause { reason: "DisruptionBudget".into(), message: cause, field: String::new() }],
        retry_after_seconds: retry_after,
        ..Default::default()
    })
}

/// `EvictionREST.Create` after the request was decoded: the code and body of the answer.
pub(crate) fn evict(
    shared: &Arc<Shared>,
    st: &mut State,
    t: &Target,
    ns: &str,
    name: &str,
    mut o: DeleteOpts,
) -> ApiResult<(u16, Bytes)> {
    let pod = st.store.get(&t.res, ns, name).ok_or_else(|| crate::errors::ApiError::not_found(&t.info, name))?;
    let pv = pod.value();
    let phase = pv.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default();
    let deleting = crate::graceful::is_deleting(&pv);
    let success = || {
        (
            201,
            Bytes::from_static(
                b"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\",\"code\":201}\n",
            ),
        )
    };
    // Pods that cannot disrupt anything more go without looking at budgets.
    if matches!(phase, "Pending" | "Succeeded" | "Failed") || deleting {
        if !matches!(phase, "Succeeded" | "Failed") && !deleting && o.rv.is_none() {
            o.rv = Some(pod.rv.to_string());
        }
        delete_object(shared, st, t, ns, name, &o)?;
        return Ok(success());
    }
    let budgets: Vec<Arc<Obj>> = objects_in(st, &pdbs_key(), ns)
        .into_iter()
        .filter(|b| selector_of(&b.value()).is_ok_and(|s| s.matches(&pod.labels)))
        .collect();
    if budgets.len() > 1 {
        let body = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.","code":500});
        return Ok((500, Bytes::from(format!("{body}\n"))));
    }
    if let Some(pdb) = budgets.first() {
        let bv = pdb.value();
        let s = bv.get("status").cloned().unwrap_or_else(|| json!({}));
        let int = |k: &str| s.get(k).and_then(Value::as_i64).unwrap_or(0);
        let ready = is_ready(&pv);
        let always_allow =
            bv.pointer("/spec/unhealthyPodEvictionPolicy").and_then(Value::as_str) == Some("AlwaysAllow");
        let spend = !(!ready
            && (always_allow || (int("currentHealthy") >= int("desiredHealthy") && int("desiredHealthy") > 0)));
        if spend {
            let generation = bv.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            if int("observedGeneration") < generation {
                let cause = format!("The disruption budget {} is still being processed by the server.", pdb.name);
                return Err(too_many_requests(cause, Some(10)).into());
            }
            if int("disruptionsAllowed") <= 0 {
                let cause = format!(
                    "The disruption budget {} needs {} healthy pods and has {} currently",
                    pdb.name,
                    int("desiredHealthy"),
                    int("currentHealthy")
                );
                return Err(too_many_requests(cause, None).into());
            }
            if !o.dry_run {
                let mut ns_status = s.clone();
                let allowed = int("disruptionsAllowed") - 1;
                ns_status["disruptionsAllowed"] = json!(allowed);
                if allowed == 0 {
                    ns_status["conditions"] =
                        json!([condition(&s, int("observedGeneration"), ("False", "InsufficientPods", String::new()))]);
                }
                let mut disrupted: BTreeMap<String, Value> = s
                    .get("disruptedPods")
                    .and_then(Value::as_object)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                disrupted.insert(name.to_string(), json!(now_rfc3339()));
                ns_status["disruptedPods"] = json!(disrupted);
                write_status(st, pdb, ns_status);
            }
        } else if o.rv.is_none() {
            o.rv = Some(pod.rv.to_string());
        }
    }
    delete_object(shared, st, t, ns, name, &o)?;
    Ok(success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled(&json!("50%"), 3), Ok(2));
        assert_eq!(scaled(&json!("10%"), 10), Ok(1));
        assert_eq!(scaled(&json!(2), 10), Ok(2));
        assert!(scaled(&json!("two"), 10).is_err());
    }
}
