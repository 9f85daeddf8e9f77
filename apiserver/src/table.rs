//! `meta.k8s.io/v1` `Table` responses (what `kubectl get` asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).
//!
//! Contract: a built-in kind kube-apiserver has a printer for gets that printer's columns and
//! cells (module `printers`: pods, configmaps, namespaces, secrets, serviceaccounts,
//! services, endpoints, events, nodes, persistentvolumes, persistentvolumeclaims, deployments,
//! replicasets, statefulsets, daemonsets, jobs, cronjobs, poddisruptionbudgets and
//! certificatesigningrequests), every cell including the priority 1 (`-o wide`) ones; every
//! other kind gets Name and Age. A custom
//! resource's columns are Name and its CRD's `additionalPrinterColumns` (Name and Age when it
//! declares none), each cell the value at the column's JSONPath (dotted fields and `[n]`
//! indexes) typed as the column says; `date` columns read as ages. Age cells are
//! human durations (`5m`, `3h20m`, `12d`) as kube-apiserver renders them. Each row's `object`
//! is the object's `PartialObjectMetadata` (`includeObject=Metadata`, the default), the whole
//! object (`includeObject=Object`) or absent (`includeObject=None`).

use std::sync::Arc;

use serde_json::{json, Value};

use super::printers;
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

fn column(name: &str, ty: &str, format: &str, description: &str, priority: u8) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

/// The column definitions for a resource.
pub fn columns(info: &ResourceInfo) -> Vec<Value> {
    let json = |c: &printers::Column| column(c.name, c.ty, c.format, c.description, c.priority);
    if let Some(p) = printers::builtin(&info.api.group, &info.api.plural) {
        return p.columns.iter().map(json).collect();
    }
    if info.printer_columns.is_empty() {
        return [printers::NAME, printers::AGE].iter().map(json).collect();
    }
    let mut cols = vec![json(&printers::NAME)];
    for c in &info.printer_columns {
        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
        let priority = c.get("priority").and_then(Value::as_u64).unwrap_or(0).min(u64::from(u8::MAX)) as u8;
        cols.push(column(s("name"), s("type"), s("format"), s("description"), priority));
    }
    cols
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

fn cells(info: &ResourceInfo, v: &Value, now: jiff::Timestamp) -> Vec<Value> {
    if let Some(p) = printers::builtin(&info.api.group, &info.api.plural) {
        return (p.cells)(v, now);
    }
    let name = printers::name(v);
    if info.printer_columns.is_empty() {
        return vec![name, printers::age(v, now).into()];
    }
    std::iter::once(name).chain(info.printer_columns.iter().map(|c| printer_cell(c, v, now))).collect()
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
    #[test]
    fn builtin_table_rows_have_a_cell_per_column_whatever_the_object() {
        let now = jiff::Timestamp::now();
        let malformed = [
            json!({}),
            json!(null),
            json!({"metadata": 5, "spec": "x", "status": [1], "subsets": "no", "data": 3, "series": 7}),
            json!({"metadata": {"name": 1, "labels": [], "annotations": 2}, "spec": {"selector": 5, "ports": [7, null],
                "template": {"spec": {"containers": [1, {"name": 2}]}}, "replicas": "3", "claimRef": "x",
                "capacity": {"storage": "lots"}}, "status": {"conditions": ["Ready"], "addresses": [3],
                "loadBalancer": {"ingress": [null]}, "capacity": {"storage": 5}}, "subsets": [{"addresses": [1], "ports": [2]}]}),
        ];
        for ((group, plural), p) in printers::PRINTERS {
            for v in &malformed {
                assert_eq!((p.cells)(v, now).len(), p.columns.len(), "{group}/{plural} on {v}");
            }
        }
    }

    #[test]
    fn builtin_table_cells_render_selectors_endpoints_and_quantities_like_go() {
        let now = jiff::Timestamp::now();
        let cells = |group: &str, plural: &str, v: Value| match printers::builtin(group, plural) {
            Some(p) => (p.cells)(&v, now),
            None => panic!("no printer for {group}/{plural}"),
        };
        let selector = json!({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
            {"key": "c", "operator": "NotIn", "values": ["z", "y"]}, {"key": "d", "operator": "DoesNotExist"},
            {"key": "aa", "operator": "Exists"}]});
        let rs = cells("apps", "replicasets", json!({"spec": {"selector": selector}}));
        assert_eq!(rs[7], "a=1,aa,b=2,c notin (y,z),!d");
        let bad = json!({"matchExpressions": [{"key": "c", "operator": "In"}]});
        assert_eq!(cells("apps", "replicasets", json!({"spec": {"selector": bad}}))[7], "<error>");
        assert_eq!(cells("apps", "deployments", json!({"spec": {"selector": bad}}))[7], "<invalid>");
        assert_eq!(cells("apps", "deployments", json!({}))[7], "", "printDeployment prints an empty selector as is");
        assert_eq!(cells("apps", "replicasets", json!({}))[7], "<none>");

        let ep = |subsets: Value| cells("", "endpoints", json!({"subsets": subsets}))[1].clone();
        assert_eq!(ep(json!([])), "<none>");
        assert_eq!(ep(json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}])), "10.0.0.1,10.0.0.2");
        let many = json!([{"addresses": [{"ip": "1.1.1.1"}, {"ip": "2.2.2.2"}], "ports": [{"port": 1}, {"port": 2}, {"port": 3}]}]);
        assert_eq!(ep(many), "1.1.1.1:1,2.2.2.2:1,1.1.1.1:2 + 3 more...");

        let pv = cells("", "persistentvolumes", json!({"spec": {"capacity": {"storage": "1536Mi"}}}));
        assert_eq!(
            (&pv[1], &pv[3], &pv[5], &pv[7], &pv[10]),
            (&json!("1536Mi"), &json!(""), &json!(""), &json!("<unset>"), &json!("<unset>"))
        );
        assert_eq!(cells("", "persistentvolumes", json!({"spec": {"capacity": {"storage": "2048Mi"}}}))[1], "2Gi");
        assert_eq!(cells("", "persistentvolumes", json!({}))[1], "0");

        let deleting = json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"},
            "status": {"conditions": [{"type": "Complete", "status": "False"}, {"type": "Complete", "status": "True"}]}});
        assert_eq!(
            cells("batch", "jobs", deleting)[1],
            "Terminating",
            "only a condition type's first occurrence counts"
        );
        let svc = cells("", "services", json!({"spec": {"type": "Weird"}}));
        assert_eq!(
            (&svc[2], &svc[3], &svc[4], &svc[6]),
            (&json!("<none>"), &json!("<unknown>"), &json!("<none>"), &json!("<none>"))
        );
    }
}
