//! Field ownership (`metadata.managedFields`) and server-side apply.
//!
//! Contract: ownership is tracked per manager and operation at leaf granularity (a leaf is a
//! scalar, a list — lists are atomic — or an empty map). Non-apply writes give the writer the
//! leaves it changed and take them from everyone else. An apply by manager M: conflicts are
//! leaves M applies with a different value than the live one that another manager owns (409
//! unless `force`, which takes them over); leaves M applied before and no longer applies are
//! removed unless someone else owns them; the applied leaves are merged into the object and M's
//! Apply entry becomes exactly the applied set.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

/// A leaf path (`["spec", "replicas"]`).
pub type Path = Vec<String>;

/// Top-level and metadata fields nobody owns.
fn untracked(path: &[String]) -> bool {
    match path.first().map(String::as_str) {
        Some("apiVersion" | "kind") => true,
        Some("metadata") => matches!(
            path.get(1).map(String::as_str),
            Some(
                "name"
                    | "namespace"
                    | "uid"
                    | "resourceVersion"
                    | "generation"
                    | "creationTimestamp"
                    | "managedFields"
                    | "deletionTimestamp"
                    | "deletionGracePeriodSeconds"
                    | "selfLink"
            )
        ),
        _ => false,
    }
}

fn collect(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                prefix.push(k.clone());
                if !untracked(prefix) {
                    collect(child, prefix, out);
                }
                prefix.pop();
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

/// Every owned leaf of an object.
pub fn leaves(v: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    collect(v, &mut Vec::new(), &mut out);
    out
}

/// Reads a path.
pub fn get<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    Some(cur)
}

/// Writes a path, creating maps on the way.
pub fn set(v: &mut Value, path: &[String], value: Value) {
    let mut cur = v;
    for p in path {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else { return };
        cur = m.entry(p.clone()).or_insert(Value::Null);
    }
    *cur = value;
}

/// Removes a path.
pub fn remove(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut cur = v;
    for p in parents {
        match cur.get_mut(p) {
            Some(c) => cur = c,
            None => return,
        }
    }
    if let Value::Object(m) = cur {
        m.remove(last);
    }
}

/// Encodes a set as `fieldsV1`.
pub fn to_fields_v1(paths: &BTreeSet<Path>) -> Value {
    let mut root = Value::Object(Map::new());
    for p in paths {
        let mut cur = &mut root;
        for seg in p {
            let Value::Object(m) = cur else { break };
            cur = m.entry(format!("f:{seg}")).or_insert_with(|| Value::Object(Map::new()));
        }
    }
    root
}

/// Decodes `fieldsV1` (keys other than `f:` make their parent a leaf).
pub fn from_fields_v1(v: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
        let Value::Object(m) = v else { return };
        let fields: Vec<(&String, &Value)> = m.iter().filter(|(k, _)| k.starts_with("f:")).collect();
        let others = m.keys().any(|k| k.starts_with("k:") || k.starts_with("v:") || k.starts_with("i:"));
        if (fields.is_empty() || others) && !prefix.is_empty() {
            out.insert(prefix.clone());
            return;
        }
        for (k, child) in fields {
            prefix.push(k[2..].to_string());
            walk(child, prefix, out);
            prefix.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// One managedFields entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// apiVersion the manager used.
    pub api_version: String,
    /// Last change time.
    pub time: String,
    /// Subresource (`status`), if any.
    pub subresource: String,
    /// Owned leaves.
    pub fields: BTreeSet<Path>,
}

/// Reads `metadata.managedFields`.
pub fn read_entries(obj: &Value) -> Vec<Entry> {
    let Some(Value::Array(list)) = obj.pointer("/metadata/managedFields") else { return Vec::new() };
    list.iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            Entry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                time: s("time"),
                subresource: s("subresource"),
                fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
            }
        })
        .collect()
}

/// Writes `metadata.managedFields` (entries owning nothing are dropped).
pub fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut m = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                m["subresource"] = Value::String(e.subresource.clone());
            }
            m
        })
        .collect();
    if list.is_empty() {
        if let Some(Value::Object(m)) = obj.get_mut("metadata") {
            m.remove("managedFields");
        }
    } else {
        set(obj, &["metadata".into(), "managedFields".into()], Value::Array(list));
    }
}

/// Records a non-apply write from `old` (None on create) to `new` by `manager`.
pub fn track_update(old: Option<&Value>, new: &mut Value, manager: &str, api_version: &str, now: &str, sub: &str) {
    let mut entries = old.map(read_entries).unwrap_or_default();
    let new_leaves = leaves(new);
    let changed: BTreeSet<Path> = match old {
        Some(o) => new_leaves.iter().filter(|p| get(o, p) != get(new, p)).cloned().collect(),
        None => new_leaves.clone(),
    };
    for e in entries.iter_mut() {
        e.fields.retain(|p| new_leaves.contains(p) && !changed.contains(p));
    }
    if !changed.is_empty() {
        match entries.iter_mut().find(|e| e.manager == manager && e.operation == "Update" && e.subresource == sub) {
            Some(e) => {
                e.fields.extend(changed);
                e.time = now.to_string();
                e.api_version = api_version.to_string();
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now.to_string(),
                subresource: sub.to_string(),
                fields: changed,
            }),
        }
    }
    write_entries(new, &entries);
}

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager.
    pub manager: String,
    /// `.spec.reference`.
    pub field: String,
}

/// Server-side apply of `config` by `manager` onto `live`; returns the new object or the
/// conflicts.
pub fn apply(
    live: &Value,
    config: &Value,
    manager: &str,
    api_version: &str,
    now: &str,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let mut entries = read_entries(live);
    let applied = leaves(config);
    let mut conflicts = Vec::new();
    for e in entries.iter_mut() {
        if e.manager == manager && e.operation == "Apply" {
            continue;
        }
        let contested: Vec<Path> =
            e.fields.iter().filter(|p| applied.contains(*p) && get(live, p) != get(config, p)).cloned().collect();
        if force {
            for p in &contested {
                e.fields.remove(p);
            }
        } else {
            conflicts.extend(
                contested.iter().map(|p| Conflict { manager: e.manager.clone(), field: format!(".{}", p.join(".")) }),
            );
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let mut out = live.clone();
    let previously: BTreeSet<Path> = entries
        .iter()
        .find(|e| e.manager == manager && e.operation == "Apply")
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for p in previously.difference(&applied) {
        let owned_elsewhere =
            entries.iter().any(|e| !(e.manager == manager && e.operation == "Apply") && e.fields.contains(p));
        if !owned_elsewhere {
            remove(&mut out, p);
        }
    }
    for p in &applied {
        if let Some(v) = get(config, p) {
            set(&mut out, p, v.clone());
        }
    }
    let changed = out != *live;
    match entries.iter_mut().find(|e| e.manager == manager && e.operation == "Apply") {
        Some(e) => {
            if e.fields != applied || changed {
                e.time = now.to_string();
            }
            e.fields = applied;
            e.api_version = api_version.to_string();
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: api_version.to_string(),
            time: now.to_string(),
            subresource: String::new(),
            fields: applied,
        }),
    }
    write_entries(&mut out, &entries);
    Ok(out)
}

/// The 409 message for apply conflicts, as the API server words it.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {:?}: {}", c.manager, c.field);
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.dedup();
    let mut msg = format!("Apply failed with {} conflicts: ", conflicts.len());
    let parts: Vec<String> = managers
        .iter()
        .map(|m| {
            let fields: Vec<String> =
                conflicts.iter().filter(|c| c.manager == *m).map(|c| format!("- {}", c.field)).collect();
            format!("conflicts with {m:?}:\n{}", fields.join("\n"))
        })
        .collect();
    msg.push_str(&parts.join("\n"));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_v1_round_trips() {
        let v = json!({"metadata":{"name":"x","labels":{"a":"1"}},"spec":{"r":"x","l":[1]}});
        let l = leaves(&v);
        assert_eq!(from_fields_v1(&to_fields_v1(&l)), l);
        assert_eq!(to_fields_v1(&l), json!({"f:metadata":{"f:labels":{"f:a":{}}},"f:spec":{"f:l":{},"f:r":{}}}));
    }

    #[test]
    fn apply_conflicts_force_and_removal() {
        let c1 = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"owner":"m1"}},"data":{"a":"1"}});
        let o = apply(&json!({"metadata":{"name":"c"}}), &c1, "m1", "v1", "t", false).unwrap();
        assert_eq!(o["data"]["a"], "1");
        let c2 = json!({"metadata":{"labels":{"owner":"m2","second":"x"}},"data":{"a":"1"}});
        let err = apply(&o, &c2, "m2", "v1", "t", false).unwrap_err();
        assert_eq!(err, vec![Conflict { manager: "m1".into(), field: ".metadata.labels.owner".into() }]);
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"m1\": .metadata.labels.owner"
        );
        let o2 = apply(&o, &c2, "m2", "v1", "t", true).unwrap();
        assert_eq!(o2["metadata"]["labels"], json!({"owner":"m2","second":"x"}));
        // m2 stops applying `second`: it is removed; `data.a` is still owned by m1 too.
        let c3 = json!({"metadata":{"labels":{"owner":"m2"}}});
        let o3 = apply(&o2, &c3, "m2", "v1", "t", false).unwrap();
        assert_eq!(o3["metadata"]["labels"], json!({"owner":"m2"}));
        assert_eq!(o3["data"]["a"], "1");
        let entries = read_entries(&o3);
        assert_eq!(entries.len(), 2);
    }
}
