//! The EndpointSlice controller (kube-controller-manager's, emulated), switched on by
//! [`crate::ApiServerBuilder::endpoint_slices`] (off by default, like the kubelet stand-in).
//!
//! Contract (pkg/controller/endpointslice and staging/src/k8s.io/endpointslice, simplified):
//! - A Service with a non-empty `spec.selector` owns EndpointSlices named `<service>-<hash>`,
//!   labelled `kubernetes.io/service-name: <service>` and
//!   `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io` (plus the
//!   Service's own labels, and `service.kubernetes.io/headless` for a headless one), with an
//!   ownerReference to the Service (controller, blockOwnerDeletion) and `addressType` the
//!   Service's first IP family (IPv4 by default).
//! - Its endpoints are the pods in its namespace that match the selector, have an IP and are
//!   not terminal (`ShouldPodBeInEndpoints`: neither Succeeded nor Failed; terminating pods
//!   stay); each with the pod's IP, `conditions` (`serving`: the pod is
//!   Ready; `terminating`: it is being deleted; `ready`: serving and not terminating, or the
//!   Service publishes not-ready addresses), `nodeName`, the node's
//!   `topology.kubernetes.io/zone` as `zone`, and a `targetRef` to the pod. Endpoints are
//!   sorted by pod name.
//! - Ports are the Service's ports with each `targetPort` resolved against the pod (a named
//!   target port through the pod's container ports; a port the pod does not have is left
//!   out), so pods resolving to different ports land in different slices; a slice holds at
//!   most [`MAX_ENDPOINTS_PER_SLICE`] endpoints. A selected Service without endpoints gets one
//!   placeholder slice (`endpoints` and `ports` null).
//! - It reacts, through the after-commit hook of every write, to Services (created, changed,
//!   deleted: its slices go) and to pods (`GetPodServiceMemberships`, with the old labels read
//!   from the slices since the hook sees only the new or deleted pod): a pod's write syncs
//!   the Services with a selector in its namespace that select it now or whose managed
//!   slices hold an endpoint for it (`targetRef` naming it: kind Pod, its name, and its uid
//!   when the reference has one), which covers a pod relabelled away from a Service and a
//!   deleted pod; other Services are not synced. Finding them reads the selectors of the
//!   namespace's Services and scans the namespace's slices (parsing only those whose body
//!   names the pod); one sync lists that namespace's pods (a range of the pods table, which
//!   is ordered by namespace) and its slices. Slices are created, updated in place (nothing
//!   is written when unchanged) and deleted as the desired set changes; changes to a slice by
//!   others are not undone until its Service's next sync, and a Service's slices are found
//!   by their labels. Node label changes (zones) show at the next sync; no
//!   `last-change-trigger-time` annotation is set.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::handlers::{controller_update, create_internal, delete_object, target_of, DeleteOpts};
use crate::registry::ResourceInfo;
use crate::server::{Shared, State, Target};
use crate::store::{EventKind, Obj, ResKey};

/// The label naming a slice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming a slice's manager.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`MANAGED_BY_LABEL`].
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// The most endpoints one slice holds (kube-controller-manager's `--max-endpoints-per-slice`
/// default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The node label whose value becomes an endpoint's `zone`.
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

fn services_res() -> ResKey {
    (String::new(), "services".into())
}

fn pods_res() -> ResKey {
    (String::new(), "pods".into())
}

fn slices_res() -> ResKey {
    ("discovery.k8s.io".into(), "endpointslices".into())
}

/// The after-commit hook: a committed write of a Service or a Pod syncs the Services it
/// concerns. Does nothing while the controller is off.
pub(crate) fn observe(shared: &Arc<Shared>, st: &mut State, info: &ResourceInfo, v: &Value, kind: EventKind) {
    if !shared.opts.endpoint_slices || !info.api.group.is_empty() {
        return;
    }
    let ns = v.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default().to_string();
    match info.api.plural.as_ref() {
        "services" => {
            let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
            if kind == EventKind::Deleted {
                reconcile(shared, st, &ns, name, BTreeMap::new());
            } else {
                sync_service(shared, st, &ns, name);
            }
        }
        "pods" => {
            for name in services_of_pod(st, &ns, v) {
                sync_service(shared, st, &ns, &name);
            }
        }
        _ => {}
    }
}

/// The Services a pod's write concerns, in name order: those with a selector in its namespace
/// that select it now, or whose managed slices hold an endpoint for it (its labels may have
/// changed away from their selector, or it is gone).
fn services_of_pod(st: &State, ns: &str, pod: &Value) -> BTreeSet<String> {
    let labels: BTreeMap<&str, &str> = pod
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))).collect())
        .unwrap_or_default();
    let held = services_holding(st, ns, pod);
    let Some(services) = st.store.tables.get(&services_res()) else { return BTreeSet::new() };
    services
        .in_namespace(ns)
        .filter(|svc| {
            let selector = selector_of(svc);
            !selector.is_empty()
                && (held.contains(&svc.name)
                    || selector.iter().all(|(k, v)| labels.get(k.as_str()) == Some(&v.as_str())))
        })
        .map(|svc| svc.name.clone())
        .collect()
}

/// The names of the Services whose managed slices in `ns` hold an endpoint for `pod`.
fn services_holding(st: &State, ns: &str, pod: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(name) = pod.pointer("/metadata/name").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
        return out;
    };
    let uid = pod.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
    let Some(slices) = st.store.tables.get(&slices_res()) else { return out };
    // The name as the stored JSON spells it: a slice whose body lacks it does not hold the pod.
    let Ok(needle) = serde_json::to_vec(name) else { return out };
    for slice in slices.in_namespace(ns) {
        if slice.labels.get(MANAGED_BY_LABEL).map(String::as_str) != Some(CONTROLLER_NAME) {
            continue;
        }
        let Some(service) = slice.labels.get(SERVICE_NAME_LABEL) else { continue };
        if out.contains(service) || memchr::memmem::find(&slice.body, &needle).is_none() {
            continue;
        }
        let s = slice.value();
        let holds = s.get("endpoints").and_then(Value::as_array).into_iter().flatten().any(|e| {
            let Some(r) = e.get("targetRef") else { return false };
            let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
            field("kind") == "Pod"
                && field("name") == name
                && (field("namespace").is_empty() || field("namespace") == ns)
                && (field("uid").is_empty() || field("uid") == uid)
        });
        if holds {
            out.insert(service.clone());
        }
    }
    out
}

/// A Service's `spec.selector` (its string entries), read without parsing the rest.
fn selector_of(svc: &Obj) -> BTreeMap<String, String> {
    #[derive(Deserialize)]
    struct Service {
        #[serde(default)]
        spec: Option<Spec>,
    }
    #[derive(Deserialize)]
    struct Spec {
        #[serde(default)]
        selector: Option<Map<String, Value>>,
    }
    serde_json::from_slice::<Service>(&svc.body)
        .ok()
        .and_then(|s| s.spec?.selector)
        .map(|m| m.into_iter().filter_map(|(k, v)| Some((k, v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

/// Brings one Service's slices to what its pods say.
fn sync_service(shared: &Arc<Shared>, st: &mut State, ns: &str, name: &str) {
    let desired = match st.store.get(&services_res(), ns, name) {
        Some(svc) => desired_slices(st, &svc),
        None => BTreeMap::new(),
    };
    reconcile(shared, st, ns, name, desired);
}

/// The slices a Service should have, by name (empty when it has no selector).
fn desired_slices(st: &State, svc: &Obj) -> BTreeMap<String, Value> {
    let s = svc.value();
    let selector = selector_of(svc);
    if selector.is_empty() {
        return BTreeMap::new();
    }
    let publish_not_ready = s.pointer("/spec/publishNotReadyAddresses").and_then(Value::as_bool).unwrap_or(false);
    let headless = s.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
    let family = s.pointer("/spec/ipFamilies/0").and_then(Value::as_str).unwrap_or("IPv4").to_string();
    let service_ports = s.pointer("/spec/ports").and_then(Value::as_array).cloned().unwrap_or_default();

    // In name order (the namespace's range of the table).
    let pods: Vec<Arc<Obj>> = st
        .store
        .tables
        .get(&pods_res())
        .map(|t| {
            t.in_namespace(&svc.ns)
                .filter(|p| selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    // Endpoints grouped by their resolved ports (the real controller's port map key).
    let mut groups: BTreeMap<String, (Value, Vec<Value>)> = BTreeMap::new();
    for pod in pods {
        let p = pod.value();
        let Some(ip) = pod_ip(&p, &family) else { continue };
        if !should_be_in_endpoints(&p) {
            continue;
        }
        let ports = endpoint_ports(&service_ports, &p, headless);
        let key = ports.to_string();
        let endpoint = endpoint(st, &svc.name, &pod, &p, ip, publish_not_ready);
        groups.entry(key).or_insert_with(|| (ports, Vec::new())).1.push(endpoint);
    }
    let mut out = BTreeMap::new();
    if groups.is_empty() {
        let slice = slice(svc, &s, &family, headless, Value::Null, Value::Null);
        out.insert(slice_name(&svc.name, &svc.uid, "placeholder", 0), slice);
        return out;
    }
    for (key, (ports, endpoints)) in groups {
        for (i, chunk) in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE).enumerate() {
            let slice = slice(svc, &s, &family, headless, Value::from(chunk.to_vec()), ports.clone());
            out.insert(slice_name(&svc.name, &svc.uid, &key, i), slice);
        }
    }
    out
}

/// `<service>-<5 characters>`, stable for a Service (uid), port set and chunk.
fn slice_name(service: &str, uid: &str, ports_key: &str, chunk: usize) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (uid, ports_key, chunk).hash(&mut h);
    let mut n = h.finish();
    let suffix: String = (0..5)
        .map(|_| {
            let c = ALPHA[(n % ALPHA.len() as u64) as usize] as char;
            n /= ALPHA.len() as u64;
            c
        })
        .collect();
    // Names are at most 253 characters (the generated names' base is cut to 58 for 63).
    let base: String = service.chars().take(57).collect();
    format!("{base}-{suffix}")
}

fn slice(svc: &Obj, s: &Value, family: &str, headless: bool, endpoints: Value, ports: Value) -> Value {
    let mut labels: Map<String, Value> =
        s.pointer("/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default();
    labels.remove(SERVICE_NAME_LABEL);
    labels.remove(MANAGED_BY_LABEL);
    labels.insert(SERVICE_NAME_LABEL.into(), Value::from(svc.name.clone()));
    labels.insert(MANAGED_BY_LABEL.into(), Value::from(CONTROLLER_NAME));
    if headless {
        labels.insert("service.kubernetes.io/headless".into(), Value::from(""));
    }
    json!({
        "metadata": {
            "namespace": svc.ns,
            "labels": labels,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": svc.name, "uid": svc.uid,
                "controller": true, "blockOwnerDeletion": true}],
        },
        "addressType": family,
        "endpoints": endpoints,
        "ports": ports,
    })
}

/// The pod's IP of the slice's family.
fn pod_ip(p: &Value, family: &str) -> Option<String> {
    let v6 = family == "IPv6";
    let ips = p.pointer("/status/podIPs").and_then(Value::as_array).into_iter().flatten();
    let from_list = ips.filter_map(|i| i.get("ip").and_then(Value::as_str)).find(|ip| ip.contains(':') == v6);
    let single =
        p.pointer("/status/podIP").and_then(Value::as_str).filter(|ip| !ip.is_empty() && ip.contains(':') == v6);
    from_list.or(single).map(String::from)
}

/// `ShouldPodBeInEndpoints` with terminating pods included: a terminal pod (Succeeded or
/// Failed) is not an endpoint (the IP is checked by the caller).
fn should_be_in_endpoints(p: &Value) -> bool {
    !matches!(p.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"))
}

fn pod_ready(p: &Value) -> bool {
    p.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().any(|c| {
        c.get("type").and_then(Value::as_str) == Some("Ready")
            && c.get("status").and_then(Value::as_str) == Some("True")
    })
}

fn endpoint(st: &State, service: &str, pod: &Obj, p: &Value, ip: String, publish_not_ready: bool) -> Value {
    let serving = pod_ready(p);
    let terminating = p.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null());
    let ready = publish_not_ready || (serving && !terminating);
    let mut e = json!({
        "addresses": [ip],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": {"kind": "Pod", "namespace": pod.ns, "name": pod.name, "uid": pod.uid},
    });
    let node = p.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
    if !node.is_empty() {
        e["nodeName"] = Value::from(node);
        let zone =
            st.store.get(&(String::new(), "nodes".into()), "", node).and_then(|n| n.labels.get(ZONE_LABEL).cloned());
        if let Some(zone) = zone.filter(|z| !z.is_empty()) {
            e["zone"] = Value::from(zone);
        }
    }
    // `ShouldSetHostname`: the pod names a hostname and the Service as its subdomain.
    let hostname = p.pointer("/spec/hostname").and_then(Value::as_str).unwrap_or_default();
    if !hostname.is_empty() && p.pointer("/spec/subdomain").and_then(Value::as_str) == Some(service) {
        e["hostname"] = Value::from(hostname);
    }
    e
}

/// The Service's ports resolved against a pod (`getEndpointPorts` with `podutil.FindPort`).
fn endpoint_ports(service_ports: &[Value], p: &Value, headless: bool) -> Value {
    if service_ports.is_empty() && headless {
        return json!([]);
    }
    let mut out = Vec::new();
    for sp in service_ports {
        let protocol = sp.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
        let port = match sp.get("targetPort") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(name)) => match name.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => container_port(p, name, protocol),
            },
            _ => sp.get("port").and_then(Value::as_i64),
        };
        let Some(port) = port else { continue };
        let mut ep = json!({"name": sp.get("name").and_then(Value::as_str).unwrap_or_default(), "port": port,
            "protocol": protocol});
        if let Some(app) = sp.get("appProtocol").filter(|a| a.is_string()) {
            ep["appProtocol"] = app.clone();
        }
        out.push(ep);
    }
    Value::from(out)
}

/// The number of the container port named `name` with `protocol` (`podutil.FindPort`).
fn container_port(p: &Value, name: &str, protocol: &str) -> Option<i64> {
    p.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| c.get("ports").and_then(Value::as_array).into_iter().flatten())
        .find(|cp| {
            cp.get("name").and_then(Value::as_str) == Some(name)
                && cp.get("protocol").and_then(Value::as_str).unwrap_or("TCP") == protocol
        })
        .and_then(|cp| cp.get("containerPort").and_then(Value::as_i64))
}

/// Creates, updates and deletes a Service's managed slices so that they are `desired`.
fn reconcile(shared: &Arc<Shared>, st: &mut State, ns: &str, service: &str, desired: BTreeMap<String, Value>) {
    let Some(t) = target_of(st, &slices_res()) else { return };
    let existing: Vec<Arc<Obj>> = st
        .store
        .tables
        .get(&slices_res())
        .map(|table| {
            table
                .in_namespace(ns)
                .filter(|o| {
                    o.labels.get(SERVICE_NAME_LABEL).map(String::as_str) == Some(service)
                        && o.labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(CONTROLLER_NAME)
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let keep: BTreeSet<&String> = desired.keys().collect();
    for old in existing.iter().filter(|o| !keep.contains(&o.name)) {
        if let Err(e) = delete_object(shared, st, &t, ns, &old.name, &DeleteOpts::default()) {
            tracing::debug!("endpointslice controller: deleting {ns}/{}: {}", old.name, e.status.message);
        }
    }
    let target = Target { ns: Some(ns.to_string()), ..t.clone() };
    for (name, mut want) in desired {
        want["metadata"]["name"] = Value::from(name.clone());
        let result = match existing.iter().find(|o| o.name == name) {
            Some(cur) => {
                let mut next = cur.value();
                for k in ["addressType", "endpoints", "ports"] {
                    next[k] = want[k].clone();
                }
                next["metadata"]["labels"] = want["metadata"]["labels"].clone();
                next["metadata"]["ownerReferences"] = want["metadata"]["ownerReferences"].clone();
                controller_update(shared, st, &Target { name: Some(name.clone()), ..target.clone() }, cur, next)
            }
            None => create_internal(shared, st, &target, want, "kube-controller-manager"),
        };
        if let Err(e) = result {
            tracing::debug!("endpointslice controller: writing {ns}/{name}: {}", e.status.message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_target_ports_resolve_through_the_pods_containers() {
        let pod = json!({"spec": {"containers": [{"name": "c", "ports": [
            {"name": "http", "containerPort": 8080}, {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]}});
        let ports = [
            json!({"name": "web", "port": 80, "targetPort": "http", "protocol": "TCP"}),
            json!({"name": "dns", "port": 53, "targetPort": "dns", "protocol": "TCP"}),
            json!({"name": "raw", "port": 9, "targetPort": 9090, "protocol": "TCP", "appProtocol": "h2c"}),
        ];
        assert_eq!(
            endpoint_ports(&ports, &pod, false),
            json!([{"name": "web", "port": 8080, "protocol": "TCP"},
                {"name": "raw", "port": 9090, "protocol": "TCP", "appProtocol": "h2c"}]),
            "dns/TCP has no container port: left out"
        );
    }

    #[test]
    fn selectors_are_read_from_the_stored_body_whatever_its_shape() {
        let sel = |v: Value| selector_of(&crate::store::encode(&v, 2, &[]));
        let svc =
            json!({"metadata": {"name": "s"}, "spec": {"selector": {"app": "a", "n": 1}, "ports": [{"port": 80}]}});
        assert_eq!(sel(svc), BTreeMap::from([("app".to_string(), "a".to_string())]), "non-strings are left out");
        assert!(sel(json!({"metadata": {"name": "s"}})).is_empty());
        assert!(sel(json!({"metadata": {"name": "s"}, "spec": "x"})).is_empty());
        assert!(sel(json!({"metadata": {"name": "s"}, "spec": {"selector": ["app"]}})).is_empty());
        assert!(sel(json!({"metadata": {"name": "s"}, "spec": {"selector": null}})).is_empty());
    }

    #[test]
    fn terminal_pods_are_not_endpoints() {
        let pod = |phase: &str| json!({"status": {"phase": phase}});
        assert!(!should_be_in_endpoints(&pod("Succeeded")));
        assert!(!should_be_in_endpoints(&pod("Failed")));
        assert!(should_be_in_endpoints(&pod("Running")));
        assert!(should_be_in_endpoints(&pod("Pending")));
    }

    #[test]
    fn slice_names_are_stable_per_service_ports_and_chunk() {
        let a = slice_name("web", "uid-1", "[80]", 0);
        assert!(a.starts_with("web-") && a.len() == 9, "{a}");
        assert_eq!(a, slice_name("web", "uid-1", "[80]", 0));
        assert_ne!(a, slice_name("web", "uid-1", "[80]", 1));
        assert_ne!(a, slice_name("web", "uid-2", "[80]", 0));
    }
}
