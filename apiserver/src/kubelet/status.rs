//! What a kubelet reports: a registered node's status, and a pod's status from its
//! containers' simulated states, in the shapes and orders a 1.32 kubelet writes them.
//!
//! Contract: pure functions of the stored object and the simulation; timestamps already
//! reported are kept (a condition's `lastTransitionTime` changes only with its status), so
//! reporting twice in the same state writes nothing.

use std::hash::{Hash, Hasher};

use serde_json::{json, Value};

use super::{container_names, NodeSim, PodSim, Terminated};

pub(super) fn condition(kind: &str, status: &str, reason: &str, message: &str, at: &str) -> Value {
    json!({"type": kind, "status": status, "lastHeartbeatTime": at, "lastTransitionTime": at,
        "reason": reason, "message": message})
}

/// The status a kubelet posts for its node (keeping what others set: images, volumes, etc.).
pub(super) fn node_status(name: &str, n: &NodeSim, old: Option<&Value>) -> Value {
    let mut s = old.and_then(Value::as_object).cloned().unwrap_or_default();
    let at = &n.registered_at;
    s.insert("capacity".into(), Value::Object(n.capacity.clone()));
    s.insert("allocatable".into(), Value::Object(n.capacity.clone()));
    s.insert(
        "conditions".into(),
        json!([
            condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
                at
            ),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", at),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", at),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", at),
        ]),
    );
    s.insert(
        "addresses".into(),
        json!([{"type": "InternalIP", "address": n.host_ip()}, {"type": "Hostname", "address": name}]),
    );
    s.insert("daemonEndpoints".into(), json!({"kubeletEndpoint": {"Port": 10250}}));
    let id = &fake_digest(&n.uid)[..32];
    // The kubelet runs the server's version.
    let version = crate::discovery::version()["gitVersion"].clone();
    s.insert(
        "nodeInfo".into(),
        json!({
            "machineID": id,
            "systemUUID": n.uid,
            "bootID": fake_digest(&format!("boot/{}", n.uid))[..36].to_string(),
            "kernelVersion": "6.8.0-rudder",
            "osImage": "Debian GNU/Linux 12 (bookworm)",
            "containerRuntimeVersion": "containerd://1.7.24",
            "kubeletVersion": version,
            "kubeProxyVersion": version,
            "operatingSystem": "linux",
            "architecture": "amd64",
        }),
    );
    Value::Object(s)
}

/// A deterministic 64-hex-digit digest of `seed` (image digests, container and machine ids).
pub(super) fn fake_digest(seed: &str) -> String {
    (0..4u64)
        .map(|i| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (i, seed).hash(&mut h);
            format!("{:016x}", h.finish())
        })
        .collect()
}

/// An image reference as the container runtime reports it (`nginx` -> `docker.io/library/nginx:latest`).
pub(super) fn normalize_image(image: &str) -> String {
    let (first, rest) = image.split_once('/').unwrap_or(("", image));
    let mut full = if first.is_empty() {
        format!("docker.io/library/{image}")
    } else if first.contains('.') || first.contains(':') || first == "localhost" {
        image.to_string()
    } else {
        format!("docker.io/{first}/{rest}")
    };
    let last = full.rsplit('/').next().unwrap_or_default();
    if !last.contains(':') && !last.contains('@') {
        full.push_str(":latest");
    }
    full
}

pub(super) fn image_id(image: &str) -> String {
    let full = normalize_image(image);
    let repo = full.split('@').next().unwrap_or_default();
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    format!("{repo}@sha256:{}", fake_digest(&full))
}

pub(super) fn container_id(pod_uid: &str, container: &str, restarts: i64) -> String {
    format!("containerd://{}", fake_digest(&format!("{pod_uid}/{container}/{restarts}")))
}

pub(super) fn pod_condition(old: &[Value], kind: &str, ok: bool, reason: Option<(&str, String)>, now: &str) -> Value {
    let status = if ok { "True" } else { "False" };
    let since = old
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        .filter(|c| c.get("status").and_then(Value::as_str) == Some(status))
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| Value::from(now));
    let mut c = json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
    if let Some((r, m)) = reason {
        c["reason"] = Value::from(r);
        if !m.is_empty() {
            c["message"] = Value::from(m);
        }
    }
    c
}

/// The status a kubelet reports for a pod: `creating` is the first report (containers being
/// created), later ones follow the containers' simulated states.
pub(super) fn pod_status(
    v: &Value,
    sim: &PodSim,
    node: &NodeSim,
    names: &[String],
    creating: bool,
    now: &str,
) -> Value {
    let old = v.get("status").and_then(Value::as_object).cloned().unwrap_or_default();
    let old_conditions = old.get("conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    let spec_containers = v.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
    let image_of = |name: &str| -> String {
        spec_containers
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|c| c.get("image").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string()
    };
    let terminated_json = |t: &Terminated| {
        json!({"terminated": {"exitCode": t.code, "reason": if t.code == 0 { "Completed" } else { "Error" },
            "startedAt": t.started, "finishedAt": t.finished, "containerID": t.id}})
    };
    let mut statuses = Vec::new();
    let mut unready = Vec::new();
    let mut all_terminated = !names.is_empty();
    let mut all_succeeded = true;
    for name in names {
        let c = sim.containers.get(name).cloned().unwrap_or_default();
        let image = image_of(name);
        let mut s = json!({"name": name, "image": normalize_image(&image), "imageID": "", "restartCount": c.restarts,
            "ready": false, "started": false, "lastState": {}, "state": {}});
        if let Some(last) = &c.last {
            s["lastState"] = terminated_json(last);
        }
        if creating {
            s["state"] = json!({"waiting": {"reason": "ContainerCreating"}});
            all_terminated = false;
        } else if let Some(t) = &c.exit {
            s["state"] = terminated_json(t);
            s["imageID"] = Value::from(image_id(&image));
            s["containerID"] = Value::from(t.id.clone());
            all_succeeded &= t.code == 0;
        } else {
            s["state"] = json!({"running": {"startedAt": c.started_at.clone().unwrap_or_else(|| now.to_string())}});
            s["imageID"] = Value::from(image_id(&image));
            s["containerID"] = Value::from(container_id(&sim.uid, name, c.restarts));
            s["started"] = Value::from(true);
            s["ready"] = Value::from(c.ready);
            all_terminated = false;
        }
        if s["ready"] != Value::Bool(true) {
            unready.push(name.clone());
        }
        statuses.push(s);
    }
    let phase = if creating {
        "Pending"
    } else if all_terminated && all_succeeded {
        "Succeeded"
    } else if all_terminated {
        "Failed"
    } else {
        "Running"
    };
    let terminal = matches!(phase, "Succeeded" | "Failed");
    let ready = unready.is_empty() && !creating && !terminal;
    let not_ready = || -> Option<(&str, String)> {
        if phase == "Succeeded" {
            Some(("PodCompleted", String::new()))
        } else {
            Some(("ContainersNotReady", format!("containers with unready status: [{}]", unready.join(" "))))
        }
    };
    let inits = container_names(v, "/spec/initContainers");
    let initialized = !creating || inits.is_empty();
    let init_reason = (!initialized)
        .then(|| ("ContainersNotInitialized", format!("containers with incomplete status: [{}]", inits.join(" "))));
    let scheduled = old_conditions
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled"))
        .cloned()
        .unwrap_or_else(|| pod_condition(&old_conditions, "PodScheduled", true, None, now));
    let mut conditions = vec![
        pod_condition(&old_conditions, "PodReadyToStartContainers", !creating && !terminal, None, now),
        pod_condition(&old_conditions, "Initialized", initialized, init_reason, now),
        pod_condition(&old_conditions, "Ready", ready, if ready { None } else { not_ready() }, now),
        pod_condition(&old_conditions, "ContainersReady", ready, if ready { None } else { not_ready() }, now),
        scheduled,
    ];
    const OWNED: [&str; 5] = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"];
    conditions.extend(
        old_conditions
            .iter()
            .filter(|c| !OWNED.contains(&c.get("type").and_then(Value::as_str).unwrap_or_default()))
            .cloned(),
    );
    let mut s = old;
    s.insert("phase".into(), Value::from(phase));
    s.insert("conditions".into(), Value::Array(conditions));
    s.insert("hostIP".into(), Value::from(node.host_ip()));
    s.insert("hostIPs".into(), json!([{"ip": node.host_ip()}]));
    if let Some(ip) = &sim.pod_ip {
        if !creating {
            s.insert("podIP".into(), Value::from(ip.clone()));
            s.insert("podIPs".into(), json!([{"ip": ip}]));
        }
    }
    if let Some(t) = &sim.start_time {
        s.insert("startTime".into(), Value::from(t.clone()));
    }
    if !inits.is_empty() {
        let init_statuses: Vec<Value> = inits
            .iter()
            .map(|n| {
                let id = container_id(&sim.uid, n, 0);
                let state = if creating {
                    json!({"waiting": {"reason": "PodInitializing"}})
                } else {
                    let start = sim.start_time.clone().unwrap_or_default();
                    json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": start,
                        "finishedAt": start, "containerID": id}})
                };
                json!({"name": n, "image": normalize_image(&image_of_init(v, n)), "imageID": image_id(&image_of_init(v, n)),
                    "containerID": id, "restartCount": 0, "ready": !creating, "started": false,
                    "lastState": {}, "state": state})
            })
            .collect();
        s.insert("initContainerStatuses".into(), Value::Array(init_statuses));
    }
    s.insert("containerStatuses".into(), Value::Array(statuses));
    let ephemeral = v.pointer("/spec/ephemeralContainers").and_then(Value::as_array).cloned().unwrap_or_default();
    if !ephemeral.is_empty() && !creating {
        let eph: Vec<Value> = ephemeral
            .iter()
            .filter_map(|c| {
                let name = c.get("name").and_then(Value::as_str)?;
                let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
                let started =
                    sim.containers.get(name).and_then(|c| c.started_at.clone()).unwrap_or_else(|| now.to_string());
                Some(json!({"name": name, "image": normalize_image(image), "imageID": image_id(image),
                    "containerID": container_id(&sim.uid, name, 0), "restartCount": 0, "ready": false,
                    "lastState": {}, "state": {"running": {"startedAt": started}}}))
            })
            .collect();
        s.insert("ephemeralContainerStatuses".into(), Value::Array(eph));
    }
    Value::Object(s)
}

pub(super) fn image_of_init(v: &Value, name: &str) -> String {
    v.pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|c| c.get("name").and_then(Value::as_str) == Some(name)))
        .and_then(|c| c.get("image").and_then(Value::as_str))
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_normalize_as_containerd_reports_them() {
        assert_eq!(normalize_image("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(normalize_image("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(normalize_image("bitnami/redis:7"), "docker.io/bitnami/redis:7");
        assert_eq!(normalize_image("registry.k8s.io/pause:3.10"), "registry.k8s.io/pause:3.10");
        assert_eq!(normalize_image("localhost:5000/app"), "localhost:5000/app:latest");
        assert!(image_id("nginx:1.27").starts_with("docker.io/library/nginx@sha256:"));
        assert_eq!(fake_digest("x").len(), 64);
    }
}
