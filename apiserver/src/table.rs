//! `meta.k8s.io/v1` `Table` responses (what `kubectl get` asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).
//!
//! Contract: columns follow kube-apiserver's printers for pods (Name, Ready, Status, Restarts,
//! Age, then at priority 1 IP, Node, Nominated Node, Readiness Gates), configmaps (Name, Data,
//! Age), namespaces (Name, Status, Age) and certificatesigningrequests (Name, Age, SignerName,
//! Requestor, RequestedDuration, Condition); every other kind gets Name and Age. A custom
//! resource's columns are Name and its CRD's `additionalPrinterColumns` (Name and Age when it
//! declares none), each cell the value at the column's JSONPath (dotted fields and `[n]`
//! indexes) typed as the column says; `date` columns read as ages. Age cells are
//! human durations (`5m`, `3h20m`, `12d`) as kube-apiserver renders them. Each row's `object`
//! is the object's `PartialObjectMetadata` (`includeObject=Metadata`, the default), the whole
//! object (`includeObject=Object`) or absent (`includeObject=None`).

use std::sync::Arc;

use serde_json::{json, Value};

use super::registry::ResourceInfo;
use super::store::Obj;

/// What each row carries as `object`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    /// No object.
    None,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl Include {
    /// Parses the `includeObject` query parameter.
    pub fn parse(q: Option<&str>) -> Include {
        match q {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

/// Whether an `Accept` header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table") && accept.contains("g=meta.k8s.io")
}

const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

// The CertificateSigningRequest columns' descriptions (the API's field documentation).
const CSR_SIGNER_DOC: &str = "signerName indicates the requested signer, and is a qualified name.\n\nList/watch requests for CertificateSigningRequests can filter on this field using a \"spec.signerName=NAME\" fieldSelector.\n\nWell-known Kubernetes signers are:\n 1. \"kubernetes.io/kube-apiserver-client\": issues client certificates that can be used to authenticate to kube-apiserver.\n  Requests for this signer are never auto-approved by kube-controller-manager, can be issued by the \"csrsigning\" controller in kube-controller-manager.\n 2. \"kubernetes.io/kube-apiserver-client-kubelet\": issues client certificates that kubelets use to authenticate to kube-apiserver.\n  Requests for this signer can be auto-approved by the \"csrapproving\" controller in kube-controller-manager, and can be issued by the \"csrsigning\" controller in kube-controller-manager.\n 3. \"kubernetes.io/kubelet-serving\" issues serving certificates that kubelets use to serve TLS endpoints, which kube-apiserver can connect to securely.\n  Requests for this signer are never auto-approved by kube-controller-manager, and can be issued by the \"csrsigning\" controller in kube-controller-manager.\n\nMore details are available at https://k8s.io/docs/reference/access-authn-authz/certificate-signing-requests/#kubernetes-signers\n\nCustom signerNames can also be specified. The signer defines:\n 1. Trust distribution: how trust (CA bundles) are distributed.\n 2. Permitted subjects: and behavior when a disallowed subject is requested.\n 3. Required, permitted, or forbidden x509 extensions in the request (including whether subjectAltNames are allowed, which types, restrictions on allowed values) and behavior when a disallowed extension is requested.\n 4. Required, permitted, or forbidden key usages / extended key usages.\n 5. Expiration/certificate lifetime: whether it is fixed by the signer, configurable by the admin.\n 6. Whether or not requests for CA certificates are allowed.";
const CSR_REQUEST_DOC: &str = "request contains an x509 certificate signing request encoded in a \"CERTIFICATE REQUEST\" PEM block. When serialized as JSON or YAML, the data is additionally base64-encoded.";
const CSR_DURATION_DOC: &str = "expirationSeconds is the requested duration of validity of the issued certificate. The certificate signer may issue a certificate with a different validity duration so a client must check the delta between the notBefore and and notAfter fields in the issued certificate to determine the actual duration.\n\nThe v1.22+ in-tree implementations of the well-known Kubernetes signers will honor this field as long as the requested duration is not greater than the maximum duration they will honor per the --cluster-signing-duration CLI flag to the Kubernetes controller manager.\n\nCertificate signers may not honor this field for various reasons:\n\n  1. Old signer that is unaware of the field (such as the in-tree\n     implementations prior to v1.22)\n  2. Signer whose configured maximum is shorter than the requested duration\n  3. Signer whose configured minimum is longer than the requested duration\n\nThe minimum valid value for expirationSeconds is 600, i.e. 10 minutes.";
const CSR_CONDITIONS_DOC: &str =
    "conditions applied to the request. Known conditions are \"Approved\", \"Denied\", and \"Failed\".";

fn column(name: &str, ty: &str, format: &str, description: &str, priority: u8) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

/// The column definitions for a resource.
pub fn columns(info: &ResourceInfo) -> Vec<Value> {
    let name = column("Name", "string", "name", NAME_DOC, 0);
    let age = column("Age", "string", "", AGE_DOC, 0);
    match (info.api.group.as_ref(), info.api.plural.as_ref()) {
        ("", "pods") => vec![
            name,
            column("Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0),
            column("Status", "string", "", "The aggregate status of the containers in this pod.", 0),
            column("Restarts", "string", "", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0),
            age,
            column("IP", "string", "", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", 1),
            column("Node", "string", "", "NodeName is a request to schedule this pod onto a specific node.", 1),
            column("Nominated Node", "string", "", "nominatedNodeName is set only when this pod preempts other pods on the node.", 1),
            column("Readiness Gates", "string", "", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
        ],
        ("", "configmaps") => vec![name, column("Data", "string", "", "Data contains the configuration data.", 0), age],
        ("", "namespaces") => {
            vec![name, column("Status", "string", "", "The status of the namespace", 0), age]
        }
        ("certificates.k8s.io", "certificatesigningrequests") => vec![
            name,
            age,
            column("SignerName", "string", "", CSR_SIGNER_DOC, 0),
            column("Requestor", "string", "", CSR_REQUEST_DOC, 0),
            column("RequestedDuration", "string", "", CSR_DURATION_DOC, 0),
            column("Condition", "string", "", CSR_CONDITIONS_DOC, 0),
        ],
        _ if !info.printer_columns.is_empty() => {
            let mut cols = vec![name];
            for c in &info.printer_columns {
                let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
                let priority = c.get("priority").and_then(Value::as_u64).unwrap_or(0).min(u64::from(u8::MAX)) as u8;
                cols.push(column(s("name"), s("type"), s("format"), s("description"), priority));
            }
            cols
        }
        _ => vec![name, age],
    }
}

/// The value at a printer column's JSONPath (`.spec.replicas`, `.status.conditions[0].type`),
/// if the path has that simple form and leads somewhere.
fn at_json_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut cur = v;
    for part in path.strip_prefix('.')?.split('.') {
        let (field, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !field.is_empty() {
            cur = cur.get(field)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let n: usize = index.strip_suffix(']')?.parse().ok()?;
            cur = cur.get(n)?;
        }
    }
    Some(cur)
}

/// A printer column's cell: the value typed as the column says (`date`: an age).
fn printer_cell(column: &Value, v: &Value, now: jiff::Timestamp) -> Value {
    let path = column.get("jsonPath").and_then(Value::as_str).unwrap_or_default();
    let Some(found) = at_json_path(v, path).filter(|f| !f.is_null()) else { return Value::Null };
    match column.get("type").and_then(Value::as_str).unwrap_or("string") {
        "date" => match found.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()) {
            Some(t) => human_duration(now.as_second() - t.as_second()).into(),
            None => Value::Null,
        },
        "integer" | "number" | "boolean" => found.clone(),
        _ => match found {
            Value::String(s) => Value::from(s.clone()),
            other => Value::from(other.to_string()),
        },
    }
}

/// Formats a duration as kube-apiserver's printers do (`HumanDuration`).
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    let m = s / 60;
    let h = m / 60;
    let d = h / 24;
    let y = d / 365;
    let pair = |a: i64, ua: &str, b: i64, ub: &str| if b == 0 { format!("{a}{ua}") } else { format!("{a}{ua}{b}{ub}") };
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        pair(m, "m", s % 60, "s")
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        pair(h, "h", m % 60, "m")
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        pair(d, "d", h % 24, "h")
    } else if h < 24 * 365 * 2 {
        format!("{d}d")
    } else if h < 24 * 365 * 8 {
        pair(y, "y", d % 365, "d")
    } else {
        format!("{y}y")
    }
}

fn age(v: &Value, now: jiff::Timestamp) -> String {
    match v
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    {
        Some(t) => human_duration(now.as_second() - t.as_second()),
        None => "<unknown>".into(),
    }
}

fn or_none(v: Option<&Value>) -> String {
    match v.and_then(Value::as_str) {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "<none>".into(),
    }
}

/// The aggregate status kubectl shows for a pod (phase, or a container's waiting/terminated
/// reason, or `Terminating`).
fn pod_status(v: &Value) -> String {
    let mut reason = v
        .pointer("/status/reason")
        .or_else(|| v.pointer("/status/phase"))
        .and_then(Value::as_str)
        .unwrap_or("Unknown")
        .to_string();
    for cs in v.pointer("/status/containerStatuses").and_then(Value::as_array).into_iter().flatten() {
        if let Some(r) = cs.pointer("/state/waiting/reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
            reason = r.to_string();
        } else if let Some(r) = cs.pointer("/state/terminated/reason").and_then(Value::as_str).filter(|r| !r.is_empty())
        {
            reason = r.to_string();
        }
    }
    if v.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        reason = "Terminating".into();
    }
    reason
}

/// A CertificateSigningRequest's Condition cell as the printer builds it: Denied, else
/// Approved, else Pending (any condition of those types counts, whatever its status), then
/// `,Failed` and `,Issued` when they apply.
fn csr_condition(v: &Value) -> String {
    let has = |kind: &str| {
        v.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c.get("type").and_then(Value::as_str) == Some(kind)))
    };
    let mut s = String::from(if has("Denied") {
        "Denied"
    } else if has("Approved") {
        "Approved"
    } else {
        "Pending"
    });
    if has("Failed") {
        s.push_str(",Failed");
    }
    if v.pointer("/status/certificate").and_then(Value::as_str).is_some_and(|c| !c.is_empty()) {
        s.push_str(",Issued");
    }
    s
}

fn cells(info: &ResourceInfo, v: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let name = Value::from(v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default());
    match (info.api.group.as_ref(), info.api.plural.as_ref()) {
        ("", "pods") => {
            let total = v.pointer("/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
            let statuses = v.pointer("/status/containerStatuses").and_then(Value::as_array);
            let ready = statuses.map_or(0, |s| s.iter().filter(|c| c["ready"] == true).count());
            let restarts: i64 = statuses.map_or(0, |s| s.iter().filter_map(|c| c["restartCount"].as_i64()).sum());
            vec![
                name,
                format!("{ready}/{total}").into(),
                pod_status(v).into(),
                restarts.to_string().into(),
                age(v, now).into(),
                or_none(v.pointer("/status/podIP")).into(),
                or_none(v.pointer("/spec/nodeName")).into(),
                or_none(v.pointer("/status/nominatedNodeName")).into(),
                "<none>".into(),
            ]
        }
        ("", "configmaps") => {
            let n = ["data", "binaryData"]
                .iter()
                .filter_map(|k| v.get(*k).and_then(Value::as_object))
                .map(|m| m.len())
                .sum::<usize>();
            vec![name, n.into(), age(v, now).into()]
        }
        ("", "namespaces") => {
            vec![name, or_none(v.pointer("/status/phase")).into(), age(v, now).into()]
        }
        ("certificates.k8s.io", "certificatesigningrequests") => vec![
            name,
            age(v, now).into(),
            or_none(v.pointer("/spec/signerName")).into(),
            v.pointer("/spec/username").and_then(Value::as_str).unwrap_or_default().into(),
            match v.pointer("/spec/expirationSeconds").and_then(Value::as_i64) {
                Some(secs) => human_duration(secs),
                None => "<none>".into(),
            }
            .into(),
            csr_condition(v).into(),
        ],
        _ if !info.printer_columns.is_empty() => {
            std::iter::once(name).chain(info.printer_columns.iter().map(|c| printer_cell(c, v, now))).collect()
        }
        _ => vec![name, age(v, now).into()],
    }
}

fn row(info: &ResourceInfo, obj: &Obj, include: Include, now: jiff::Timestamp) -> Value {
    let mut v = obj.value();
    let mut row = json!({"cells": cells(info, &v, now)});
    match include {
        Include::None => {}
        Include::Metadata => {
            let meta: Value = serde_json::from_slice(obj.metadata()).unwrap_or_default();
            row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta});
        }
        Include::Object => {
            if let Value::Object(m) = &mut v {
                m.insert("kind".into(), Value::from(info.api.kind.to_string()));
                m.insert("apiVersion".into(), Value::from(info.api.api_version.to_string()));
            }
            row["object"] = v;
        }
    }
    row
}

/// A Table of `items`; `meta` is the list metadata (resourceVersion, continue); the column
/// definitions are left out when `with_columns` is false (watch events after the first).
pub fn table(info: &ResourceInfo, meta: Value, items: &[Arc<Obj>], include: Include, with_columns: bool) -> Value {
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = items.iter().map(|o| row(info, o, include, now)).collect();
    let mut t = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta});
    t["columnDefinitions"] = if with_columns { Value::from(columns(info)) } else { Value::Null };
    t["rows"] = Value::from(rows);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 + 120, "3h2m"),
            (20 * 3600, "20h"),
            (3 * 86400 + 3600, "3d1h"),
            (40 * 86400, "40d"),
            (3 * 365 * 86400, "3y"),
        ];
        for (s, want) in cases {
            assert_eq!(human_duration(s), want, "{s}");
        }
        assert_eq!(human_duration(-5), "<invalid>");
    }

    #[test]
    fn printer_columns_read_simple_json_paths_typed_as_declared() {
        let v = json!({"spec": {"cronSpec": "*/5", "replicas": 3, "tags": ["a", "b"]},
                       "status": {"conditions": [{"type": "Ready"}]}});
        assert_eq!(at_json_path(&v, ".spec.cronSpec"), Some(&json!("*/5")));
        assert_eq!(at_json_path(&v, "{.status.conditions[0].type}"), Some(&json!("Ready")));
        assert_eq!(at_json_path(&v, ".spec.tags[1]"), Some(&json!("b")));
        assert_eq!(at_json_path(&v, ".spec.missing"), None);
        assert_eq!(at_json_path(&v, "spec.replicas"), None, "a JSONPath starts with a dot");
        let now = jiff::Timestamp::now();
        let col = |ty: &str, path: &str| json!({"name": "X", "type": ty, "jsonPath": path});
        assert_eq!(printer_cell(&col("integer", ".spec.replicas"), &v, now), json!(3));
        assert_eq!(printer_cell(&col("string", ".spec.replicas"), &v, now), json!("3"));
        assert_eq!(printer_cell(&col("string", ".spec.nope"), &v, now), Value::Null);
    }

    #[test]
    fn csr_rows_read_like_the_printer() {
        let info = ResourceInfo::new(rudder_apimachinery::resource::ApiResource::from_gvk(
            &rudder_apimachinery::schema::GroupVersionKind::new(
                "certificates.k8s.io",
                "v1",
                "CertificateSigningRequest",
            ),
            "certificatesigningrequests",
            rudder_apimachinery::resource::Scope::Cluster,
        ));
        let names: Vec<Value> = columns(&info).iter().map(|c| c["name"].clone()).collect();
        assert_eq!(names, ["Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"]);
        let now = jiff::Timestamp::now();
        let csr = |spec: Value, status: Value| json!({"metadata": {"name": "c"}, "spec": spec, "status": status});
        let row = |v: &Value| cells(&info, v, now)[2..].to_vec();
        assert_eq!(row(&csr(json!({}), json!({}))), [json!("<none>"), json!(""), json!("<none>"), json!("Pending")]);
        let spec = json!({"signerName": "example.com/s", "username": "bob", "expirationSeconds": 600});
        let cond = |t: &str| json!({"type": t, "status": "True"});
        let issued = json!({"conditions": [cond("Approved"), cond("Failed")], "certificate": "Y2VydA=="});
        assert_eq!(
            row(&csr(spec.clone(), issued)),
            [json!("example.com/s"), json!("bob"), json!("10m"), json!("Approved,Failed,Issued")]
        );
        let both = json!({"conditions": [cond("Approved"), cond("Denied")]});
        assert_eq!(row(&csr(spec, both))[3], "Denied", "Denied comes first");
    }
}
