//! The embedded API server's table of served resources: every built-in kind of the k8s-openapi
//! version in use (from [`for_each_builtin!`](rudder_client::for_each_builtin)), plus resources added at
//! run time (CustomResourceDefinitions, or directly by a test).
//!
//! Contract: lookups are by (group, version, plural); iteration is in a stable order (groups in
//! registration order, the core group first), which discovery documents follow.

use std::collections::BTreeMap;

use rudder_apimachinery::resource::{ApiResource, Resource, Scope};
use rudder_apimachinery::schema::GroupVersionResource;

/// One served resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInfo {
    /// Group, version, kind, plural, scope.
    pub api: ApiResource,
    /// Singular name (`pod`).
    pub singular: String,
    /// Short names as kubectl resolves them (`po`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Served subresources: any of `status`, `scale`, `binding`, `eviction`, `log`,
    /// `ephemeralcontainers`, `token`, `approval`.
    pub subresources: Vec<String>,
    /// Verbs as discovery lists them.
    pub verbs: Vec<String>,
    /// Whether this is a custom resource (served from a CRD): CRDs reject strategic merge
    /// patches with 415 and keep list items' kind/apiVersion.
    pub custom: bool,
    /// A custom resource's `additionalPrinterColumns` (as its CRD version declares them), the
    /// columns of its Tables after Name; empty: Name and Age.
    pub printer_columns: Vec<serde_json::Value>,
}

impl ResourceInfo {
    /// Info for a statically known kind with the usual verbs.
    pub fn of<K: Resource>() -> Self {
        Self::new(K::api_resource())
    }

    /// Info for a kind with the usual verbs and no subresources.
    pub fn new(api: ApiResource) -> Self {
        let singular = api.kind.to_lowercase();
        Self {
            api,
            singular,
            short_names: Vec::new(),
            categories: Vec::new(),
            subresources: Vec::new(),
            verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
                .into_iter()
                .map(String::from)
                .collect(),
            custom: false,
            printer_columns: Vec::new(),
        }
    }

    /// Whether the kind has a `status` subresource (status changes are ignored on the main
    /// resource, and generation bumps only on spec changes).
    pub fn has_status(&self) -> bool {
        self.subresources.iter().any(|s| s == "status")
    }

    /// Whether objects of this kind carry `metadata.generation`: 1 on create, one more on each
    /// write that changes anything but metadata and status. kube-apiserver leaves that to each
    /// kind's strategy: custom resources and the kinds in [`TRACKS_GENERATION`] have it;
    /// ConfigMaps, Secrets, Services, Namespaces, Nodes and the other built-ins never get one
    /// (so a generation-changed predicate on them sees no change, as against a real cluster).
    pub fn tracks_generation(&self) -> bool {
        self.custom || TRACKS_GENERATION.contains(&(self.api.group.as_ref(), self.api.plural.as_ref()))
    }

    /// The resource's GVR.
    pub fn gvr(&self) -> GroupVersionResource {
        self.api.gvr()
    }
}

/// The built-in kinds (group, plural) whose kube-apiserver strategy sets `metadata.generation`
/// (`PrepareForCreate` sets it to 1, `PrepareForUpdate` bumps it when the spec changes).
/// HorizontalPodAutoscalers are left out: theirs is behind the `HPAGeneration` feature gate.
pub const TRACKS_GENERATION: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "replicationcontrollers"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("policy", "poddisruptionbudgets"),
    ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "ingressclasses"),
    ("networking.k8s.io", "networkpolicies"),
    ("discovery.k8s.io", "endpointslices"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicybindings"),
    ("flowcontrol.apiserver.k8s.io", "flowschemas"),
    ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"),
];

/// The served resources.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<ResourceInfo>,
    index: BTreeMap<(String, String, String), usize>,
}

/// Short names, categories and subresources of built-in kinds that have them.
fn decorate(info: &mut ResourceInfo) {
    let (short, sub): (&[&str], &[&str]) = match (info.api.group.as_ref(), info.api.plural.as_ref()) {
        ("", "pods") => {
            (&["po"], &["status", "binding", "eviction", "log", "ephemeralcontainers", "exec", "attach", "portforward"])
        }
        ("", "services") => (&["svc"], &["status"]),
        ("", "namespaces") => (&["ns"], &["status"]),
        ("", "nodes") => (&["no"], &["status"]),
        ("", "configmaps") => (&["cm"], &[]),
        ("", "endpoints") => (&["ep"], &[]),
        ("", "events") => (&["ev"], &[]),
        ("", "limitranges") => (&["limits"], &[]),
        ("", "persistentvolumes") => (&["pv"], &["status"]),
        ("", "persistentvolumeclaims") => (&["pvc"], &["status"]),
        ("", "replicationcontrollers") => (&["rc"], &["status", "scale"]),
        ("", "resourcequotas") => (&["quota"], &["status"]),
        ("", "serviceaccounts") => (&["sa"], &["token"]),
        ("", "componentstatuses") => (&["cs"], &[]),
        ("apps", "deployments") => (&["deploy"], &["status", "scale"]),
        ("apps", "replicasets") => (&["rs"], &["status", "scale"]),
        ("apps", "statefulsets") => (&["sts"], &["status", "scale"]),
        ("apps", "daemonsets") => (&["ds"], &["status"]),
        ("batch", "jobs") => (&[], &["status"]),
        ("batch", "cronjobs") => (&["cj"], &["status"]),
        ("autoscaling", "horizontalpodautoscalers") => (&["hpa"], &["status"]),
        ("networking.k8s.io", "ingresses") => (&["ing"], &["status"]),
        ("networking.k8s.io", "networkpolicies") => (&["netpol"], &[]),
        ("policy", "poddisruptionbudgets") => (&["pdb"], &["status"]),
        ("storage.k8s.io", "storageclasses") => (&["sc"], &[]),
        ("apiextensions.k8s.io", "customresourcedefinitions") => (&["crd", "crds"], &["status"]),
        ("certificates.k8s.io", "certificatesigningrequests") => (&["csr"], &["status", "approval"]),
        ("scheduling.k8s.io", "priorityclasses") => (&["pc"], &[]),
        _ => (&[], &[]),
    };
    info.short_names = short.iter().map(|s| s.to_string()).collect();
    if info.api.group.is_empty() && info.api.plural == "namespaces" {
        // kube-apiserver cannot delete namespaces by collection.
        info.verbs.retain(|v| v != "deletecollection");
    }
    info.subresources = sub.iter().map(|s| s.to_string()).collect();
    if info.api.group.is_empty() && matches!(info.api.plural.as_ref(), "pods" | "services" | "replicationcontrollers")
        || info.api.group == "apps"
        || (info.api.group == "batch")
        || (info.api.group == "autoscaling")
    {
        info.categories = vec!["all".into()];
    }
}

macro_rules! register_builtins {
    ($($gv:ident => $ty:path as $method:ident;)*) => {
        fn builtin_infos() -> Vec<ResourceInfo> {
            vec![$(ResourceInfo::of::<$ty>()),*]
        }
    };
}
rudder_client::for_each_builtin!(register_builtins);

impl Registry {
    /// Every built-in kind.
    pub fn builtin() -> Self {
        let mut r = Registry::default();
        for mut info in builtin_infos() {
            decorate(&mut info);
            r.add(info);
        }
        r
    }

    /// Adds (or replaces) a resource.
    pub fn add(&mut self, info: ResourceInfo) {
        let key = (info.api.group.to_string(), info.api.version.to_string(), info.api.plural.to_string());
        match self.index.get(&key) {
            Some(&i) => self.entries[i] = info,
            None => {
                self.index.insert(key, self.entries.len());
                self.entries.push(info);
            }
        }
    }

    /// Removes a resource; returns it if it was served.
    pub fn remove(&mut self, group: &str, version: &str, plural: &str) -> Option<ResourceInfo> {
        let i = self.index.remove(&(group.to_string(), version.to_string(), plural.to_string()))?;
        let removed = self.entries.remove(i);
        for v in self.index.values_mut() {
            if *v > i {
                *v -= 1;
            }
        }
        Some(removed)
    }

    /// Looks a resource up.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.index.get(&(group.to_string(), version.to_string(), plural.to_string())).map(|&i| &self.entries[i])
    }

    /// Every served resource, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.entries.iter()
    }

    /// The served groups with their versions, in registration order (core group `""` first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for e in &self.entries {
            let g = e.api.group.to_string();
            let v = e.api.version.to_string();
            match out.iter_mut().find(|(og, _)| *og == g) {
                Some((_, vs)) => {
                    if !vs.contains(&v) {
                        vs.push(v)
                    }
                }
                None => out.push((g, vec![v])),
            }
        }
        out
    }

    /// Whether a namespaced resource with this scope exists.
    pub fn is_namespaced(&self, group: &str, version: &str, plural: &str) -> Option<bool> {
        self.get(group, version, plural).map(|i| i.api.scope == Scope::Namespaced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_served() {
        let r = Registry::builtin();
        let pods = r.get("", "v1", "pods").unwrap();
        assert_eq!(pods.api.kind, "Pod");
        assert!(pods.has_status());
        assert_eq!(r.is_namespaced("", "v1", "namespaces"), Some(false));
        assert!(r.get("apps", "v1", "deployments").unwrap().subresources.contains(&"scale".to_string()));
        assert_eq!(r.groups()[0].0, "");
        assert!(r.iter().count() >= 60);
    }
}
