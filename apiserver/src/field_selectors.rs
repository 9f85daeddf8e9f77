//! The fields a field selector may name, per resource, and their values, as kube-apiserver
//! computes them (each registry's `ToSelectableFields` and the field label conversion
//! functions of core/v1, apps/v1, batch/v1 and certificates/v1).
//!
//! Contract: every object carries a value for every selectable field of its resource,
//! computed when it is stored: a string field that is absent is `""`, a boolean `"false"`, an
//! integer `"0"`, so `spec.unschedulable=false` matches a Node that never set it and, with
//! defaulting, `spec.schedulerName=default-scheduler` matches every Pod. A selector on any
//! other field gets the real server's 400: `field label not supported: <f>` for kinds with
//! their own conversion function, `"<f>" is not a known field selector: only
//! "metadata.name", "metadata.namespace"` for the others.

use rudder_apimachinery::fields::FieldSelector;

use super::errors::{ApiError, ApiResult};
use super::registry::ResourceInfo;

/// How a field's JSON value becomes the string a selector compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A string; absent is `""`.
    Str,
    /// A boolean (`strconv.FormatBool`); absent is `"false"`.
    Bool,
    /// An integer (`strconv.Itoa`); absent is `"0"`.
    Int,
    /// Accepted by the selector but in no field set: always `""`.
    Unset,
}

/// One selectable field beyond `metadata.name` and `metadata.namespace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectableField {
    /// The name a selector uses (`status.successful`).
    pub name: &'static str,
    /// The dotted JSON path of the value (`status.succeeded`).
    pub path: &'static str,
    /// How the value is rendered.
    pub kind: FieldKind,
}

const fn f(name: &'static str, kind: FieldKind) -> SelectableField {
    SelectableField { name, path: name, kind }
}

const fn at(name: &'static str, path: &'static str, kind: FieldKind) -> SelectableField {
    SelectableField { name, path, kind }
}

use FieldKind::{Bool, Int, Str, Unset};

const POD: &[SelectableField] = &[
    f("spec.nodeName", Str),
    f("spec.restartPolicy", Str),
    f("spec.schedulerName", Str),
    f("spec.serviceAccountName", Str),
    f("spec.hostNetwork", Bool),
    f("status.phase", Str),
    f("status.podIP", Str),
    f("status.podIPs", Unset),
    f("status.nominatedNodeName", Str),
];
const NODE: &[SelectableField] = &[f("spec.unschedulable", Bool)];
const NAMESPACE: &[SelectableField] = &[f("status.phase", Str)];
const SECRET: &[SelectableField] = &[f("type", Str)];
const SERVICE: &[SelectableField] = &[f("spec.clusterIP", Str), f("spec.type", Str)];
const EVENT: &[SelectableField] = &[
    f("involvedObject.kind", Str),
    f("involvedObject.namespace", Str),
    f("involvedObject.name", Str),
    f("involvedObject.uid", Str),
    f("involvedObject.apiVersion", Str),
    f("involvedObject.resourceVersion", Str),
    f("involvedObject.fieldPath", Str),
    f("reason", Str),
    f("reportingComponent", Str),
    at("source", "source.component", Str),
    f("type", Str),
];
/// events.k8s.io/v1 Events share the core registry: the same names, read from the new fields.
const EVENTS_V1: &[SelectableField] = &[
    at("involvedObject.kind", "regarding.kind", Str),
    at("involvedObject.namespace", "regarding.namespace", Str),
    at("involvedObject.name", "regarding.name", Str),
    at("involvedObject.uid", "regarding.uid", Str),
    at("involvedObject.apiVersion", "regarding.apiVersion", Str),
    at("involvedObject.resourceVersion", "regarding.resourceVersion", Str),
    at("involvedObject.fieldPath", "regarding.fieldPath", Str),
    f("reason", Str),
    at("reportingComponent", "reportingController", Str),
    at("source", "deprecatedSource.component", Str),
    f("type", Str),
];
const REPLICAS: &[SelectableField] = &[f("status.replicas", Int)];
const SUCCESSFUL: &[SelectableField] = &[at("status.successful", "status.succeeded", Int)];
const CSR: &[SelectableField] = &[f("spec.signerName", Str)];

/// The selectable fields of a resource beyond `metadata.name`/`metadata.namespace`.
pub fn selectable(info: &ResourceInfo) -> &'static [SelectableField] {
    if info.custom {
        return &[];
    }
    match (info.api.group.as_ref(), info.api.plural.as_ref()) {
        ("", "pods") => POD,
        ("", "nodes") => NODE,
        ("", "namespaces") => NAMESPACE,
        ("", "secrets") => SECRET,
        ("", "services") => SERVICE,
        ("", "events") => EVENT,
        ("events.k8s.io", "events") => EVENTS_V1,
        ("", "replicationcontrollers") | ("apps", "replicasets") => REPLICAS,
        ("batch", "jobs") | ("apps", "statefulsets") => SUCCESSFUL,
        ("certificates.k8s.io", "certificatesigningrequests") => CSR,
        _ => &[],
    }
}

/// Whether the resource has its own field label conversion function (its unknown fields get
/// `field label not supported`), and whether that function accepts `metadata.namespace`.
fn conversion(info: &ResourceInfo) -> Option<bool> {
    if info.custom {
        return None;
    }
    match (info.api.group.as_ref(), info.api.plural.as_ref()) {
        ("", "nodes" | "namespaces") | ("certificates.k8s.io", "certificatesigningrequests") => Some(false),
        ("", "pods" | "secrets" | "services" | "events" | "replicationcontrollers")
        | ("events.k8s.io", "events")
        | ("apps", "replicasets" | "statefulsets")
        | ("batch", "jobs") => Some(true),
        _ => None,
    }
}

/// The field a selector name stands for (`spec.host` is the old name of a pod's
/// `spec.nodeName`).
pub fn canonical(name: &str) -> &str {
    match name {
        "spec.host" => "spec.nodeName",
        other => other,
    }
}

/// Checks that every field of `selector` can be selected on the resource (400 otherwise).
pub fn check(info: &ResourceInfo, selector: &FieldSelector) -> ApiResult<()> {
    let extra = selectable(info);
    let pods = info.api.group.is_empty() && info.api.plural == "pods" && !info.custom;
    for r in selector.requirements() {
        let name = r.field.as_str();
        let ok = match conversion(info) {
            None => name == "metadata.name" || name == "metadata.namespace",
            Some(namespace_ok) => {
                name == "metadata.name"
                    || (name == "metadata.namespace" && namespace_ok)
                    || (pods && name == "spec.host")
                    || extra.iter().any(|f| f.name == name)
            }
        };
        if !ok {
            return Err(ApiError::bad_request(match conversion(info) {
                None => {
                    format!("{name:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")
                }
                Some(_) => format!("field label not supported: {name}"),
            }));
        }
    }
    Ok(())
}

/// The string a selector compares for `field`, from the scalar found at its path (`None` when
/// absent or not a scalar).
pub fn render(field: &SelectableField, scalar: Option<String>) -> String {
    match field.kind {
        Unset => String::new(),
        Str => scalar.unwrap_or_default(),
        Bool => match scalar.as_deref() {
            Some("true") => "true".into(),
            _ => "false".into(),
        },
        Int => scalar.filter(|s| !s.is_empty()).unwrap_or_else(|| "0".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn info(group: &str, version: &str, plural: &str) -> ResourceInfo {
        Registry::builtin().get(group, version, plural).cloned().unwrap()
    }

    fn checked(info: &ResourceInfo, sel: &str) -> Result<(), String> {
        check(info, &FieldSelector::parse(sel).unwrap()).map_err(|e| e.status.message.clone())
    }

    #[test]
    fn supported_fields_and_messages() {
        let pods = info("", "v1", "pods");
        assert_eq!(checked(&pods, "spec.hostNetwork=false,spec.host=n,metadata.namespace=x,status.podIPs="), Ok(()));
        assert_eq!(checked(&pods, "spec.containers=x"), Err("field label not supported: spec.containers".into()));
        let nodes = info("", "v1", "nodes");
        assert_eq!(checked(&nodes, "spec.unschedulable=false,metadata.name=n"), Ok(()));
        assert_eq!(checked(&nodes, "metadata.namespace="), Err("field label not supported: metadata.namespace".into()));
        let cms = info("", "v1", "configmaps");
        assert_eq!(
            checked(&cms, "data.x=1"),
            Err("\"data.x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"".into())
        );
        assert_eq!(checked(&info("batch", "v1", "jobs"), "status.successful=0"), Ok(()));
        assert_eq!(render(&NODE[0], None), "false");
        assert_eq!(render(&SUCCESSFUL[0], None), "0");
        assert_eq!(render(&POD[0], None), "");
        assert_eq!(render(&POD[7], Some("x".into())), "");
    }
}
