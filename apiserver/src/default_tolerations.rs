//! The `DefaultTolerationSeconds` admission plugin (on by default in kube-apiserver).
//!
//! Contract: a Pod created or updated through the API (POST, PUT, PATCH, create-on-apply, the
//! server's own writes; not its subresources) that does not already tolerate
//! `node.kubernetes.io/not-ready:NoExecute` gets
//! `{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute,
//! tolerationSeconds: 300}` appended to `spec.tolerations`, then the same for
//! `node.kubernetes.io/unreachable`, in that order, as the plugin does
//! (`plugin/pkg/admission/defaulttolerationseconds`). A toleration counts when its key is the
//! taint's or empty (a wildcard) and its effect is `NoExecute` or empty; its operator and
//! `tolerationSeconds` are not looked at. The seconds are
//! [`crate::ApiServerBuilder::default_toleration_seconds`] (300 by default, the flags
//! `--default-not-ready-toleration-seconds` / `--default-unreachable-toleration-seconds`);
//! `None` switches the plugin off (`--disable-admission-plugins=DefaultTolerationSeconds`).
//!
//! The plugin runs before the admission webhooks (they see the tolerations it added, as on
//! kube-apiserver) and again, finding nothing to add, after the request's field manager
//! recorded its fields (the added tolerations belong to no manager, as on a real server).

use serde_json::{json, Value};

use crate::registry::ResourceInfo;

/// The not-ready taint's key.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The unreachable taint's key.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// kube-apiserver's default `tolerationSeconds` for both.
pub const DEFAULT_SECONDS: i64 = 300;

/// Adds the default tolerations to a pod being created or updated (`seconds`: the configured value, `None`
/// when the plugin is off). Other kinds are left alone.
pub(crate) fn admit(info: &ResourceInfo, pod: &mut Value, seconds: Option<i64>) {
    let Some(seconds) = seconds else { return };
    if !(info.api.group.is_empty() && info.api.plural == "pods") {
        return;
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return };
    let existing: &[Value] = spec.get("tolerations").and_then(Value::as_array).map_or(&[], Vec::as_slice);
    let tolerates = |taint: &str| existing.iter().any(|t| tolerates_no_execute(t, taint));
    let missing: Vec<&str> = [NOT_READY, UNREACHABLE].into_iter().filter(|taint| !tolerates(taint)).collect();
    if missing.is_empty() {
        return;
    }
    let list = spec.entry("tolerations").or_insert_with(|| json!([]));
    if !list.is_array() {
        // Not a list: validation answers it, the plugin does not guess.
        return;
    }
    if let Some(list) = list.as_array_mut() {
        for taint in missing {
            list.push(json!({"key": taint, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}));
        }
    }
}

/// Whether a toleration covers `taint:NoExecute` in the plugin's sense: key equal or empty,
/// effect `NoExecute` or empty.
fn tolerates_no_execute(t: &Value, taint: &str) -> bool {
    let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default();
    (s("key") == taint || s("key").is_empty()) && (s("effect") == "NoExecute" || s("effect").is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_apimachinery::resource::{ApiResource, Scope};
    use rudder_apimachinery::schema::GroupVersionKind;

    fn info(group: &str, kind: &str, plural: &str) -> ResourceInfo {
        ResourceInfo::new(ApiResource::from_gvk(&GroupVersionKind::new(group, "v1", kind), plural, Scope::Namespaced))
    }

    fn keys(pod: &Value) -> Vec<(String, Option<i64>)> {
        pod["spec"]["tolerations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| (t["key"].as_str().unwrap_or_default().to_string(), t["tolerationSeconds"].as_i64()))
            .collect()
    }

    #[test]
    fn adds_not_ready_then_unreachable_after_the_pods_own() {
        let pods = info("", "Pod", "pods");
        let mut pod = json!({"spec": {"tolerations": [{"key": "gpu", "operator": "Exists"}]}});
        admit(&pods, &mut pod, Some(DEFAULT_SECONDS));
        assert_eq!(keys(&pod), [("gpu".into(), None), (NOT_READY.into(), Some(300)), (UNREACHABLE.into(), Some(300))]);
        assert_eq!(pod["spec"]["tolerations"][1]["operator"], "Exists");
        assert_eq!(pod["spec"]["tolerations"][1]["effect"], "NoExecute");
    }

    #[test]
    fn a_pod_that_tolerates_a_taint_keeps_its_own_toleration() {
        let pods = info("", "Pod", "pods");
        // Its own seconds (even none) win; an empty effect covers NoExecute.
        let mut pod = json!({"spec": {"tolerations": [{"key": UNREACHABLE, "operator": "Exists"}]}});
        admit(&pods, &mut pod, Some(DEFAULT_SECONDS));
        assert_eq!(keys(&pod), [(UNREACHABLE.into(), None), (NOT_READY.into(), Some(300))]);
        // A wildcard toleration (empty key) covers both.
        let mut pod = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        admit(&pods, &mut pod, Some(DEFAULT_SECONDS));
        assert_eq!(keys(&pod), [(String::new(), None)]);
        // Another effect does not count.
        let mut pod =
            json!({"spec": {"tolerations": [{"key": NOT_READY, "operator": "Exists", "effect": "NoSchedule"}]}});
        admit(&pods, &mut pod, Some(60));
        assert_eq!(
            keys(&pod),
            [(NOT_READY.into(), None), (NOT_READY.into(), Some(60)), (UNREACHABLE.into(), Some(60))]
        );
    }

    #[test]
    fn off_or_another_kind_changes_nothing() {
        let mut pod = json!({"spec": {}});
        admit(&info("", "Pod", "pods"), &mut pod, None);
        assert_eq!(pod, json!({"spec": {}}));
        let mut other = json!({"spec": {}});
        admit(&info("example.com", "Pod", "pods"), &mut other, Some(300));
        assert_eq!(other, json!({"spec": {}}));
    }
}
