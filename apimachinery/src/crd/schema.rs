//! Structural OpenAPI v3 schemas for CustomResourceDefinitions, from what `schemars` generates.
//!
//! Contract of [`structural`]: the result is a schema the API server accepts as structural, or an
//! error naming where and why it cannot be one. It
//! - removes what a CRD schema may not hold (`$schema`, `$defs`/`definitions`, `readOnly` ...)
//!   and fails on a `$ref` left over (a recursive type) and on tuple `items`;
//! - gives every node a `type`, or `x-kubernetes-int-or-string` (a `[integer, string]` choice)
//!   or `x-kubernetes-preserve-unknown-fields` (a schema that accepts anything, e.g. a
//!   `serde_json::Value` field, or a map of anything);
//! - turns `anyOf`/`oneOf` with a `null` choice into `nullable`, string choices into one `enum`,
//!   object choices (Rust enums with data, tagged or not) into one object holding every choice's
//!   properties (a property two choices define differently is an error unless both are enums of
//!   one type), keeping a `oneOf` of the choices' `required` lists when each has one; merges
//!   `allOf` into its node;
//! - drops `additionalProperties: false` (structural schemas prune unknown fields anyway) and
//!   formats the API server does not know (schemars' `uint32` ...);
//! - keeps everything else: `description`, `default`, `enum`, `minimum`/`maximum`, `pattern`,
//!   `maxItems`/`maxLength`, `x-kubernetes-validations` and other `x-kubernetes-*` extensions.
//!
//! Use [`int_or_string`] with `#[schemars(schema_with = "...")]` on a field whose type has no
//! schema of its own (k8s-openapi's `IntOrString` without its `schemars` feature).

use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::{Map, Value};

/// Where and why a schema cannot be structural.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotStructural {
    /// The JSON path of the offending node within the schema (`.properties.a.items`).
    pub path: String,
    /// Why.
    pub reason: String,
}

type Res = Result<(), NotStructural>;

fn fail(path: &str, reason: impl Into<String>) -> NotStructural {
    NotStructural { path: path.to_string(), reason: reason.into() }
}

/// The formats kube-apiserver validates (k8s.io/kube-openapi's strfmt registry plus OpenAPI's
/// numeric formats); any other is dropped rather than sent.
const KNOWN_FORMATS: &[&str] = &[
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "binary",
    "date",
    "date-time",
    "datetime",
    "duration",
    "password",
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
];

/// Keys a CRD schema may not hold, or that JSON Schema tools add and the API server rejects.
const DROPPED: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "definitions",
    "components",
    "$comment",
    "readOnly",
    "writeOnly",
    "deprecated",
    "contentEncoding",
    "contentMediaType",
];

/// Keys that describe a node without constraining its shape.
const ANNOTATIONS: &[&str] = &["description", "title", "default", "example", "nullable"];

/// The schema of a field that holds an integer or a string (`IntOrString`).
pub fn int_or_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"x-kubernetes-int-or-string": true})
}

/// The schema of a field that holds any JSON the server must keep as sent.
pub fn preserve_unknown_fields(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// Makes `schema` structural in place; see the module docs.
pub fn structural(schema: &mut Value) -> Result<(), NotStructural> {
    walk(schema, "", true)
}

fn flag(m: &Map<String, Value>, key: &str) -> bool {
    m.get(key).and_then(Value::as_bool) == Some(true)
}

/// Makes one node structural; a choice of an `anyOf`/`oneOf`/`allOf` may lack a
/// type: it is merged into its parent, which must have one (`typed_node` is false for it).
fn walk(v: &mut Value, path: &str, typed_node: bool) -> Res {
    let m = match v {
        Value::Bool(true) => {
            *v = serde_json::json!({"x-kubernetes-preserve-unknown-fields": true});
            return Ok(());
        }
        Value::Bool(false) => return Err(fail(path, "a schema that accepts nothing (`false`)")),
        Value::Object(m) => m,
        _ => return Err(fail(path, "not a schema (an object or a boolean)")),
    };
    for k in DROPPED {
        m.remove(*k);
    }
    if let Some(r) = m.get("$ref") {
        return Err(fail(path, format!("a reference ({r}) remains: a recursive type has no structural schema")));
    }
    if m.contains_key("not") {
        return Err(fail(path, "`not` cannot be expressed in a structural schema here"));
    }
    normalize_type(m, path)?;
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(items)) = m.get_mut(key) {
            for (i, s) in items.iter_mut().enumerate() {
                walk(s, &format!("{path}.{key}[{i}]"), false)?;
            }
        }
    }
    if let Some(all) = m.remove("allOf") {
        let Value::Array(items) = all else { return Err(fail(path, "allOf is not an array")) };
        for item in items {
            merge_into(m, item, path)?;
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(choices) = m.remove(key) {
            let Value::Array(items) = choices else { return Err(fail(path, format!("{key} is not an array"))) };
            collapse(m, key, items, path)?;
        }
    }
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        for (name, s) in props.iter_mut() {
            walk(s, &format!("{path}.properties.{name}"), true)?;
        }
    }
    match m.get_mut("items") {
        Some(Value::Array(_)) => {
            return Err(fail(path, "a tuple (items as a list) has no structural schema: use a struct"))
        }
        Some(items) => walk(items, &format!("{path}.items"), true)?,
        None => {}
    }
    match m.get("additionalProperties") {
        Some(Value::Bool(false)) => {
            m.remove("additionalProperties");
        }
        Some(Value::Bool(true)) => {
            m.remove("additionalProperties");
            if !m.contains_key("properties") {
                m.insert("x-kubernetes-preserve-unknown-fields".into(), Value::Bool(true));
            }
        }
        Some(_) => {
            if m.contains_key("properties") {
                return Err(fail(path, "properties and additionalProperties together (a struct with a flattened map)"));
            }
            if let Some(ap) = m.get_mut("additionalProperties") {
                walk(ap, &format!("{path}.additionalProperties"), true)?;
            }
        }
        None => {}
    }
    if let Some(Value::String(f)) = m.get("format") {
        if !KNOWN_FORMATS.contains(&f.as_str()) {
            m.remove("format");
        }
    }
    let typed = m.contains_key("type")
        || flag(m, "x-kubernetes-int-or-string")
        || flag(m, "x-kubernetes-preserve-unknown-fields");
    if !typed && typed_node {
        if m.keys().all(|k| ANNOTATIONS.contains(&k.as_str()) || k.starts_with("x-kubernetes-")) {
            m.insert("x-kubernetes-preserve-unknown-fields".into(), Value::Bool(true));
        } else {
            return Err(fail(path, "a schema without a type"));
        }
    }
    Ok(())
}

/// A `type` list becomes one type plus `nullable`, or int-or-string.
fn normalize_type(m: &mut Map<String, Value>, path: &str) -> Res {
    let Some(Value::Array(types)) = m.get("type") else { return Ok(()) };
    let mut types: Vec<String> = types.iter().filter_map(|t| t.as_str().map(String::from)).collect();
    let had_null = types.iter().any(|t| t == "null");
    types.retain(|t| t != "null");
    types.sort();
    if had_null {
        m.insert("nullable".into(), Value::Bool(true));
    }
    match types.as_slice() {
        [] => {
            m.remove("type");
        }
        [one] => {
            m.insert("type".into(), Value::String(one.clone()));
        }
        [a, b] if a == "integer" && b == "string" => {
            m.remove("type");
            m.insert("x-kubernetes-int-or-string".into(), Value::Bool(true));
        }
        _ => {
            return Err(fail(path, format!("a value of several types ({}) has no structural schema", types.join(", "))))
        }
    }
    Ok(())
}

/// Whether a choice only allows `null`.
fn is_null_only(v: &Value) -> bool {
    let Value::Object(m) = v else { return false };
    let null_enum = m.get("enum").is_some_and(|e| e.as_array().is_some_and(|a| a.iter().all(Value::is_null)));
    let null_type = m.get("type").is_some_and(|t| t == "null");
    (null_enum || null_type)
        && m.keys().all(|k| matches!(k.as_str(), "enum" | "type" | "nullable" | "description" | "title" | "const"))
}

/// A choice that is an enum of one scalar type.
fn enum_type(v: &Value) -> Option<&str> {
    let m = v.as_object()?;
    if !m.contains_key("enum") || m.contains_key("properties") {
        return None;
    }
    m.get("type").and_then(Value::as_str).filter(|t| *t != "object" && *t != "array")
}

fn type_of(v: &Value) -> Option<&str> {
    v.get("type").and_then(Value::as_str)
}

fn collapse(m: &mut Map<String, Value>, key: &str, mut items: Vec<Value>, path: &str) -> Res {
    let before = items.len();
    items.retain(|i| !is_null_only(i));
    if items.len() != before {
        m.insert("nullable".into(), Value::Bool(true));
    }
    if items.is_empty() {
        return Ok(());
    }
    if items.len() == 1 {
        let only = items.remove(0);
        return merge_into(m, only, path);
    }
    // String (or other scalar) choices: one enum.
    if let Some(t) = enum_type(&items[0]) {
        if items.iter().all(|i| enum_type(i) == Some(t)) {
            let mut values: Vec<Value> = Vec::new();
            for i in &items {
                for e in i["enum"].as_array().into_iter().flatten() {
                    if !values.contains(e) {
                        values.push(e.clone());
                    }
                }
            }
            set_type(m, t, path)?;
            m.insert("enum".into(), Value::Array(values));
            return Ok(());
        }
    }
    // An integer or a string.
    let mut types: Vec<&str> = items.iter().filter_map(type_of).collect();
    types.sort_unstable();
    if items.len() == 2
        && types == ["integer", "string"]
        && items.iter().all(|i| i.get("properties").is_none() && i.get("enum").is_none())
    {
        m.remove("type");
        m.insert("x-kubernetes-int-or-string".into(), Value::Bool(true));
        return Ok(());
    }
    // Objects: one object with every choice's properties.
    if items.iter().all(|i| type_of(i) == Some("object")) {
        set_type(m, "object", path)?;
        let mut required_sets = Vec::new();
        for item in items {
            let Value::Object(mut choice) = item else { continue };
            if let Some(Value::Object(props)) = choice.remove("properties") {
                for (name, s) in props {
                    add_property(m, name, s, path)?;
                }
            }
            match choice.remove("required") {
                Some(Value::Array(r)) if !r.is_empty() => required_sets.push(Value::Array(r)),
                _ => required_sets.push(Value::Null),
            }
        }
        let distinct = required_sets.iter().enumerate().all(|(i, a)| required_sets[..i].iter().all(|b| a != b));
        if required_sets.iter().all(|r| !r.is_null()) && distinct {
            let choices = required_sets.into_iter().map(|r| serde_json::json!({"required": r})).collect();
            m.insert(key.into(), Value::Array(choices));
        }
        return Ok(());
    }
    let kinds: Vec<&str> = items.iter().map(|i| type_of(i).unwrap_or("untyped")).collect();
    Err(fail(
        path,
        format!(
            "a choice between {} has no structural schema (an enum mixing unit and data variants, or an untagged enum of different kinds): give every variant data, or use a struct",
            kinds.join(", ")
        ),
    ))
}

fn set_type(m: &mut Map<String, Value>, t: &str, path: &str) -> Res {
    match m.get("type").and_then(Value::as_str) {
        Some(have) if have != t => Err(fail(path, format!("type {have} and choices of type {t}"))),
        _ => {
            m.insert("type".into(), Value::String(t.into()));
            Ok(())
        }
    }
}

/// Adds a property from a choice; the same property in two choices must agree, except enums of
/// one type, whose values are joined (an internally tagged enum's tag).
fn add_property(m: &mut Map<String, Value>, name: String, s: Value, path: &str) -> Res {
    let props = m.entry("properties").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(props) = props else { return Err(fail(path, "properties is not an object")) };
    let Some(have) = props.get_mut(&name) else {
        props.insert(name, s);
        return Ok(());
    };
    if *have == s {
        return Ok(());
    }
    if let (Some(a), Some(b)) = (enum_type(have), enum_type(&s)) {
        if a == b {
            let add: Vec<Value> = s["enum"].as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(values)) = have.get_mut("enum") {
                for e in add {
                    if !values.contains(&e) {
                        values.push(e);
                    }
                }
            }
            if let Some(obj) = have.as_object_mut() {
                obj.remove("description");
            }
            return Ok(());
        }
    }
    Err(fail(&format!("{path}.properties.{name}"), "two variants define this property differently"))
}

/// Merges one (already structural) schema into `m`: properties by [`add_property`], `required`
/// joined, any other key taken when absent, kept when equal, an error when different (a
/// description of `m` wins).
fn merge_into(m: &mut Map<String, Value>, item: Value, path: &str) -> Res {
    let Value::Object(item) = item else { return Err(fail(path, "a choice that is not a schema object")) };
    for (k, v) in item {
        match k.as_str() {
            "properties" => {
                let Value::Object(props) = v else { continue };
                for (name, s) in props {
                    add_property(m, name, s, path)?;
                }
            }
            "required" => {
                let req = m.entry("required").or_insert_with(|| Value::Array(Vec::new()));
                if let (Value::Array(have), Value::Array(add)) = (req, v) {
                    for r in add {
                        if !have.contains(&r) {
                            have.push(r);
                        }
                    }
                }
            }
            "description" | "title" if m.contains_key(&k) => {}
            _ => match m.get(&k) {
                None => {
                    m.insert(k, v);
                }
                Some(have) if *have == v => {}
                Some(_) => return Err(fail(path, format!("`{k}` differs between a schema and its allOf/anyOf/oneOf"))),
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(mut v: Value) -> Value {
        structural(&mut v).expect("structural");
        v
    }

    #[test]
    fn null_choices_become_nullable() {
        assert_eq!(
            s(
                json!({"anyOf": [{"type": "object", "properties": {"a": {"type": "string"}}}, {"nullable": true, "enum": [null]}]})
            ),
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "nullable": true})
        );
        assert_eq!(s(json!({"type": ["string", "null"]})), json!({"type": "string", "nullable": true}));
    }

    #[test]
    fn choices_of_strings_become_one_enum() {
        assert_eq!(
            s(json!({"description": "d", "oneOf": [
                {"type": "string", "enum": ["A"], "description": "a"},
                {"type": "string", "enum": ["B", "C"]}]})),
            json!({"description": "d", "type": "string", "enum": ["A", "B", "C"]})
        );
    }

    #[test]
    fn integer_or_string() {
        assert_eq!(
            s(json!({"anyOf": [{"type": "integer", "format": "int32"}, {"type": "string"}]})),
            json!({"x-kubernetes-int-or-string": true})
        );
        assert_eq!(s(json!({"type": ["integer", "string"]})), json!({"x-kubernetes-int-or-string": true}));
    }

    #[test]
    fn tagged_variants_become_one_object() {
        let v = s(json!({"oneOf": [
            {"type": "object", "properties": {"kind": {"type": "string", "enum": ["A"]}, "a": {"type": "integer"}},
             "required": ["kind", "a"], "additionalProperties": false},
            {"type": "object", "properties": {"kind": {"type": "string", "enum": ["B"]}, "b": {"type": "string"}},
             "required": ["kind", "b"]}]}));
        assert_eq!(
            v,
            json!({"type": "object",
                   "properties": {"kind": {"type": "string", "enum": ["A", "B"]}, "a": {"type": "integer"}, "b": {"type": "string"}},
                   "oneOf": [{"required": ["kind", "a"]}, {"required": ["kind", "b"]}]})
        );
    }

    #[test]
    fn anything_preserves_unknown_fields() {
        assert_eq!(s(json!(true)), json!({"x-kubernetes-preserve-unknown-fields": true}));
        assert_eq!(
            s(json!({"description": "any"})),
            json!({"description": "any", "x-kubernetes-preserve-unknown-fields": true})
        );
        assert_eq!(
            s(json!({"type": "object", "additionalProperties": true})),
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
        );
    }

    #[test]
    fn unknown_formats_are_dropped_known_kept() {
        assert_eq!(
            s(json!({"type": "integer", "format": "uint32", "minimum": 0})),
            json!({"type": "integer", "minimum": 0})
        );
        assert_eq!(s(json!({"type": "integer", "format": "int64"})), json!({"type": "integer", "format": "int64"}));
    }

    #[test]
    fn what_cannot_be_structural_is_an_error_with_its_path() {
        let mut v = json!({"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}});
        assert_eq!(structural(&mut v).unwrap_err().path, ".properties.next");
        let mut v = json!({"type": "array", "items": [{"type": "string"}, {"type": "integer"}]});
        assert!(structural(&mut v).unwrap_err().reason.contains("tuple"));
        let mut v = json!({"oneOf": [{"type": "string", "enum": ["A"]}, {"type": "object", "properties": {"B": {"type": "string"}}}]});
        assert!(structural(&mut v).unwrap_err().reason.contains("unit and data variants"));
        let mut v = json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}});
        assert!(structural(&mut v).is_err());
    }
}
