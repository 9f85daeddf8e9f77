//! JSON merge patch (RFC 7386) and strategic merge patch as the API server applies them to
//! built-in kinds.
//!
//! Contract (strategic merge): maps merge recursively and `null` deletes a key; lists named in
//! the merge-key table (`containers` by `name`, `ports` by `containerPort`/`port`,
//! `volumeMounts` by `mountPath`, ...) merge element-wise by key, where `{"$patch":"delete",
//! <key>:..}` removes an element and `{"$patch":"replace"}` replaces the list; `finalizers`
//! merges as a set; every other list is replaced. `$patch: replace` in a map replaces it,
//! `$patch: delete` removes it; `$setElementOrder/..` and `$retainKeys` are accepted and
//! ignored, `$deleteFromPrimitiveList/<field>` removes values.

use serde_json::{Map, Value};

/// Applies an RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The merge key of a list field, if it merges element-wise.
fn merge_key(field: &str, sample: Option<&Value>) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "hostAliases" => "ip",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "topologySpreadConstraints" => "topologyKey",
        "ports" => {
            if sample.and_then(|s| s.get("containerPort")).is_some() {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    })
}

/// Whether a list of scalars merges as a set.
fn merges_as_set(field: &str) -> bool {
    field == "finalizers"
}

/// An invalid strategic merge patch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SmpError(pub String);

/// Applies a strategic merge patch.
pub fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), SmpError> {
    let Value::Object(p) = patch else {
        return Err(SmpError(format!("invalid patch: expected a JSON object, got {patch}")));
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut m = p.clone();
            m.remove("$patch");
            *target = Value::Object(m);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some(other) if other != "merge" => return Err(SmpError(format!("unknown patch type: {other}"))),
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return Ok(()) };
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(del)) = (t.get_mut(field), v) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match v {
            Value::Object(_) => {
                let slot = t.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(slot, v)?;
                if slot.is_null() {
                    t.remove(k);
                }
            }
            Value::Array(items) => {
                let existing = t.get_mut(k);
                match (existing, merge_key(k, items.first())) {
                    (Some(Value::Array(cur)), Some(key)) => merge_list(cur, items, key)?,
                    (Some(Value::Array(cur)), None) if merges_as_set(k) => {
                        for it in items {
                            if !cur.contains(it) {
                                cur.push(it.clone());
                            }
                        }
                    }
                    (_, Some(key)) => {
                        let mut cur = Vec::new();
                        merge_list(&mut cur, items, key)?;
                        t.insert(k.clone(), Value::Array(cur));
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

fn merge_list(cur: &mut Vec<Value>, items: &[Value], key: &str) -> Result<(), SmpError> {
    if items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace")) {
        *cur = items.iter().filter(|i| i.get("$patch").is_none()).cloned().collect();
        return Ok(());
    }
    for item in items {
        let Some(kv) = item.get(key) else {
            return Err(SmpError(format!("map: {item} does not contain declared merge key: {key}")));
        };
        let pos = cur.iter().position(|c| c.get(key) == Some(kv));
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(i) = pos {
                cur.remove(i);
            }
            continue;
        }
        match pos {
            Some(i) => strategic_merge(&mut cur[i], item)?,
            None => {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, item)?;
                cur.push(fresh);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_deletes_nulls_and_replaces_lists() {
        let mut t = json!({"a":{"b":1,"c":2},"l":[1,2]});
        merge_patch(&mut t, &json!({"a":{"b":null,"d":3},"l":[3]}));
        assert_eq!(t, json!({"a":{"c":2,"d":3},"l":[3]}));
    }

    #[test]
    fn strategic_merges_named_lists() {
        let mut t = json!({"spec":{"containers":[{"name":"a","image":"x","ports":[{"containerPort":80}]},{"name":"b","image":"y"}],
            "tolerations":[{"key":"k"}]},"metadata":{"finalizers":["f1"]}});
        strategic_merge(
            &mut t,
            &json!({"spec":{"containers":[{"name":"a","image":"x2","ports":[{"containerPort":81}]},{"name":"b","$patch":"delete"},{"name":"c","image":"z"}],
                "tolerations":[{"key":"k2"}]},"metadata":{"finalizers":["f2"]}}),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"spec":{"containers":[{"name":"a","image":"x2","ports":[{"containerPort":80},{"containerPort":81}]},{"name":"c","image":"z"}],
                "tolerations":[{"key":"k2"}]},"metadata":{"finalizers":["f1","f2"]}})
        );
        strategic_merge(
            &mut t,
            &json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["f1"]},"spec":{"$patch":"replace","x":1}}),
        )
        .unwrap();
        assert_eq!(t, json!({"spec":{"x":1},"metadata":{"finalizers":["f2"]}}));
        assert!(strategic_merge(&mut t, &json!({"spec":{"containers":[{"image":"noname"}]}})).is_err());
    }
}
