//! RFC 7386 JSON Merge Patch: applying one locally and computing one from two documents.
//!
//! Contract: [`apply`] follows RFC 7386 section 2 exactly: a patch that is an object is merged
//! member by member (a `null` member deletes, an object member merges recursively, anything
//! else replaces; a non-object target is first replaced by `{}`); any other patch replaces the
//! target whole. Arrays are never merged. [`create`] returns the smallest merge patch with
//! `apply(original, create(original, modified)) == modified` for every `modified` that a merge
//! patch can express, i.e. whose objects contain no `null` members (merge patches cannot set a
//! member to `null`; such members come out deleted).

use serde_json::{Map, Value};

/// Applies an RFC 7386 merge patch to `target`.
///
/// ```
/// use serde_json::json;
/// let mut doc = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}});
/// let patch = json!({"metadata": {"labels": {"tier": null, "env": "prod"}}});
/// rudder_apimachinery::patch::merge_patch::apply(&mut doc, &patch);
/// assert_eq!(doc, json!({"metadata": {"labels": {"app": "web", "env": "prod"}}}));
/// ```
pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in members {
            if value.is_null() {
                map.remove(key);
            } else {
                apply(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Creates the merge patch that turns `original` into `modified`: only changed members
/// appear, removed members map to `null`, and arrays and scalars are replaced whole.
///
/// ```
/// use serde_json::json;
/// let original = json!({"spec": {"replicas": 1, "paused": true}, "status": {}});
/// let modified = json!({"spec": {"replicas": 3}, "status": {}});
/// let patch = rudder_apimachinery::patch::merge_patch::create(&original, &modified);
/// assert_eq!(patch, json!({"spec": {"replicas": 3, "paused": null}}));
/// ```
pub fn create(original: &Value, modified: &Value) -> Value {
    let (Value::Object(old), Value::Object(new)) = (original, modified) else {
        return modified.clone();
    };
    let mut patch = Map::new();
    for (key, old_value) in old {
        match new.get(key) {
            None => {
                patch.insert(key.clone(), Value::Null);
            }
            Some(new_value) if new_value != old_value => {
                patch.insert(key.clone(), create(old_value, new_value));
            }
            Some(_) => {}
        }
    }
    for (key, new_value) in new {
        if !old.contains_key(key) {
            patch.insert(key.clone(), new_value.clone());
        }
    }
    Value::Object(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7386 Appendix A: (target, patch, result).
    fn rfc_examples() -> Vec<(Value, Value, Value)> {
        vec![
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ]
    }

    #[test]
    fn rfc7386_appendix_a() {
        for (target, patch, result) in rfc_examples() {
            let mut doc = target.clone();
            apply(&mut doc, &patch);
            assert_eq!(doc, result, "{target} + {patch}");
        }
    }

    #[test]
    fn rfc7386_section_3_example() {
        let mut doc = json!({
            "title": "Goodbye!",
            "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"],
            "content": "This will be unchanged"
        });
        let patch = json!({
            "title": "Hello!",
            "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": null},
            "tags": ["example"]
        });
        apply(&mut doc, &patch);
        assert_eq!(
            doc,
            json!({
                "title": "Hello!",
                "author": {"givenName": "John"},
                "tags": ["example"],
                "content": "This will be unchanged",
                "phoneNumber": "+01-123-456-7890"
            })
        );
    }

    #[test]
    fn create_round_trips_and_is_minimal() {
        let pairs = [
            (json!({"a": 1, "b": {"c": [1, 2], "d": "x"}}), json!({"a": 1, "b": {"c": [2], "d": "x"}})),
            (json!({"a": 1, "b": 2}), json!({"b": 3, "c": {"d": {"e": true}}})),
            (json!({"a": {"b": 1}}), json!({"a": 5})),
            (json!({"a": 5}), json!({"a": {"b": 1}})),
            (json!([1, 2]), json!({"a": 1})),
            (json!({"a": 1}), json!([1])),
            (json!({"a": 1}), json!(null)),
            (json!("x"), json!("y")),
            (json!({}), json!({})),
        ];
        for (original, modified) in pairs {
            let patch = create(&original, &modified);
            let mut doc = original.clone();
            apply(&mut doc, &patch);
            assert_eq!(doc, modified, "create({original}, {modified}) = {patch}");
        }
        let patch =
            create(&json!({"a": 1, "b": {"c": 1, "d": 2}, "e": [1]}), &json!({"a": 1, "b": {"c": 1}, "e": [1]}));
        assert_eq!(patch, json!({"b": {"d": null}}));
        assert_eq!(create(&json!({"a": 1}), &json!({"a": 1})), json!({}));
        // RFC examples whose result has no null members: create(target, result) reproduces it.
        for (target, _, result) in rfc_examples() {
            if result.as_object().is_some_and(|o| o.values().any(Value::is_null)) {
                continue;
            }
            let mut doc = target.clone();
            apply(&mut doc, &create(&target, &result));
            assert_eq!(doc, result);
        }
    }
}
