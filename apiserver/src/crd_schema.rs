//! Custom resources against their CustomResourceDefinition's `openAPIV3Schema` (the schema of
//! the version the request names), as kube-apiserver's apiextensions handler applies it to
//! every create, update and patch: unknown fields pruned, defaults filled, then the object
//! validated, every violation answered at once in one 422.
//!
//! Contract:
//! - [`unknown_fields`]: the members the structural schema does not declare, which pruning
//!   removes (`apiVersion`, `kind` and `metadata` are always declared at the root and in an
//!   `x-kubernetes-embedded-resource`; below `x-kubernetes-preserve-unknown-fields: true`
//!   undeclared members stay, declared ones are still pruned inside).
//! - [`default`]: a property with a `default` that is absent (or null where not `nullable`) is
//!   set to it, at every level (`properties`, `items`, `additionalProperties`), as the
//!   structural defaulting algorithm does.
//! - [`validate`]: the structural subset of OpenAPI v3 that CRDs may use: `type` (with
//!   `nullable` and `x-kubernetes-int-or-string`), `required`, `enum`, `pattern`, `format`-free
//!   string lengths (`minLength`/`maxLength`, in characters), `minimum`/`maximum` (and
//!   `exclusiveMinimum`/`exclusiveMaximum`), `multipleOf`, `minItems`/`maxItems`,
//!   `uniqueItems`, `minProperties`/`maxProperties`, `additionalProperties: false`,
//!   `x-kubernetes-embedded-resource` (`apiVersion` and `kind` required). Each violation is
//!   kube-openapi's message converted to a field error as
//!   `apiextensions-apiserver/pkg/apiserver/validation` converts it (`FieldValueTypeInvalid`,
//!   `FieldValueRequired`, `FieldValueNotSupported`, `FieldValueTooLong`, `FieldValueTooMany`,
//!   else `FieldValueInvalid`); paths are `spec.items[0].name`. CEL rules
//!   (`x-kubernetes-validations`), formats and list-type/map-type uniqueness are not checked.
//! - [`admit`] is what every write does: prune, default, validate (422 `<Kind>.<group> "<name>"
//!   is invalid: [<field>: <message>, ...]`, one cause per violation).
//!
//! Written by hand rather than with a JSON Schema crate: the structural subset is small, and
//! the answers must carry kube-openapi's exact wording and order, which a general validator's
//! errors do not. Patterns are compiled with the `regex` crate (a pattern it cannot compile,
//! such as one with look-around, is not checked).

use rudder_apimachinery::status::{ReasonKind, Status, StatusCause, StatusDetails};
use serde_json::{Map, Value};

use crate::errors::{qualified_kind, ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::server::State;
use crate::validation::{go_quote, UnknownField};

/// The storage table of CustomResourceDefinitions.
fn crd_table() -> (String, String) {
    ("apiextensions.k8s.io".into(), "customresourcedefinitions".into())
}

/// The CRD version entry (`spec.versions[]`) that serves `info`, if `info` is a custom resource.
pub fn served_version(st: &State, info: &ResourceInfo) -> Option<Value> {
    if !info.custom {
        return None;
    }
    let crd = st.store.get(&crd_table(), "", &format!("{}.{}", info.api.plural, info.api.group))?;
    let crd = crd.value();
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(info.api.version.as_ref()))
        .cloned()
}

/// The `openAPIV3Schema` of the version serving `info`, if it is a custom resource with one.
pub fn schema_of(st: &State, info: &ResourceInfo) -> Option<Value> {
    served_version(st, info)?.pointer("/schema/openAPIV3Schema").cloned()
}

/// The fields a write's object does not declare: the schema's unknown fields for a custom
/// resource with one, else `builtin` (from `validation::check`).
pub fn unknown_or(st: &State, info: &ResourceInfo, obj: &Value, builtin: Vec<UnknownField>) -> Vec<UnknownField> {
    match schema_of(st, info) {
        Some(schema) => unknown_fields(&schema, obj),
        None => builtin,
    }
}

/// Prunes, defaults and validates a custom resource about to be stored; built-in kinds and
/// custom resources without a schema pass untouched.
pub fn admit(st: &State, info: &ResourceInfo, name: &str, obj: &mut Value) -> ApiResult<()> {
    let Some(schema) = schema_of(st, info) else { return Ok(()) };
    for path in unknown_fields(&schema, obj) {
        crate::field_validation::prune(obj, std::slice::from_ref(&path));
    }
    default(&schema, obj);
    let violations = validate(&schema, obj);
    if violations.is_empty() {
        return Ok(());
    }
    Err(invalid(info, name, &violations))
}

// ---------------------------------------------------------------------------------------------
// The scale subresource as declared (`subresources.scale`).

/// A dotted JSON path of a CRD's scale subresource (`.spec.replicas`) as a JSON pointer.
fn pointer(path: &str) -> String {
    path.trim_start_matches('.').split('.').map(|s| format!("/{}", escape_pointer(s))).collect()
}

/// The `subresources.scale` of the version serving `info`, if declared.
fn scale_spec(st: &State, info: &ResourceInfo) -> Option<Value> {
    served_version(st, info)?.pointer("/subresources/scale").cloned()
}

/// Fills a custom resource's Scale from the paths its CRD declares: `spec.replicas` from
/// `specReplicasPath` (0 when absent), `status.replicas` from `statusReplicasPath` (0 when
/// absent), `status.selector` from `labelSelectorPath` (a string; omitted when absent).
pub fn scale_view(st: &State, info: &ResourceInfo, obj: &Value, scale: &mut Value) {
    let Some(spec) = scale_spec(st, info) else { return };
    let path = |k: &str| spec.get(k).and_then(Value::as_str).map(pointer);
    let at = |k: &str| path(k).and_then(|p| obj.pointer(&p).cloned());
    scale["spec"]["replicas"] = at("specReplicasPath").unwrap_or(Value::from(0));
    scale["status"] = serde_json::json!({"replicas": at("statusReplicasPath").unwrap_or(Value::from(0))});
    if let Some(sel) = at("labelSelectorPath").filter(Value::is_string) {
        scale["status"]["selector"] = sel;
    }
}

/// Sets the desired replicas of an object written through its scale subresource: at the
/// CRD's `specReplicasPath` for custom resources, else `spec.replicas`.
pub fn set_replicas(st: &State, info: &ResourceInfo, obj: &mut Value, replicas: Value) {
    let p = scale_spec(st, info)
        .and_then(|s| s.get("specReplicasPath").and_then(Value::as_str).map(pointer))
        .unwrap_or_else(|| "/spec/replicas".into());
    let mut cur = obj;
    let steps: Vec<String> = p.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect();
    let Some((last, parents)) = steps.split_last() else { return };
    for step in parents {
        if !cur.get(step).is_some_and(Value::is_object) {
            cur[step.as_str()] = Value::Object(Map::new());
        }
        cur = &mut cur[step.as_str()];
    }
    if cur.is_object() {
        cur[last.as_str()] = replicas;
    }
}

// ---------------------------------------------------------------------------------------------
// Pruning.

fn flag(s: &Value, k: &str) -> bool {
    s.get(k).and_then(Value::as_bool) == Some(true)
}

/// The members `schema` does not declare, in sorted order at each level.
pub fn unknown_fields(schema: &Value, obj: &Value) -> Vec<UnknownField> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk_unknown(schema, obj, true, &mut path, &mut out);
    out
}

fn walk_unknown(s: &Value, v: &Value, root: bool, path: &mut Vec<String>, out: &mut Vec<UnknownField>) {
    match v {
        Value::Object(m) => {
            let props = s.get("properties").and_then(Value::as_object);
            let additional = s.get("additionalProperties");
            let preserve = flag(s, "x-kubernetes-preserve-unknown-fields");
            let embedded = root || flag(s, "x-kubernetes-embedded-resource");
            for (k, child) in m {
                path.push(k.clone());
                if let Some(ps) = props.and_then(|p| p.get(k)) {
                    walk_unknown(ps, child, false, path, out);
                } else if let Some(a) = additional.filter(|a| a.is_object()) {
                    walk_unknown(a, child, false, path, out);
                } else if embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                } else if !preserve && additional.and_then(Value::as_bool) != Some(true) {
                    out.push(path.clone());
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    path.push(format!("[{i}]"));
                    walk_unknown(is, item, false, path, out);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Defaulting.

/// Fills `default`s into `obj` as the structural defaulting algorithm does.
pub fn default(schema: &Value, obj: &mut Value) {
    match obj {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, ps) in props {
                    let Some(d) = ps.get("default") else { continue };
                    let absent = match m.get(k) {
                        None => true,
                        Some(Value::Null) => !flag(ps, "nullable"),
                        Some(_) => false,
                    };
                    if absent {
                        m.insert(k.clone(), d.clone());
                    }
                }
            }
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in m.iter_mut() {
                if let Some(ps) = schema.pointer(&format!("/properties/{}", escape_pointer(k))) {
                    default(ps, child);
                } else if let Some(a) = additional {
                    default(a, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items") {
                for item in items {
                    default(is, item);
                }
            }
        }
        _ => {}
    }
}

fn escape_pointer(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

// ---------------------------------------------------------------------------------------------
// Validation.

/// One violation as a field error: where, the cause's reason, and the error body
/// (`Invalid value: "x": spec.a in body must be of type integer: "string"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field path (`spec.replicas`).
    pub field: String,
    /// The cause reason (`FieldValueInvalid`).
    pub reason: &'static str,
    /// The message without the field (`field.Error.ErrorBody`).
    pub body: String,
}

impl Violation {
    fn new(field: &str, reason: &'static str, body: String) -> Self {
        Violation { field: field.to_string(), reason, body }
    }
}

/// Validates `obj` against `schema`, answering every violation (the root's `apiVersion`,
/// `kind` and `metadata` are the server's to check, not the schema's).
pub fn validate(schema: &Value, obj: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let Value::Object(m) = obj else {
        check(schema, obj, "", &mut out);
        return out;
    };
    let mut rest = Map::new();
    for (k, v) in m {
        if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            rest.insert(k.clone(), v.clone());
        }
    }
    let mut root = schema.clone();
    if let Some(Value::Array(req)) = root.get_mut("required") {
        req.retain(|r| !matches!(r.as_str(), Some("apiVersion" | "kind" | "metadata")));
    }
    check(&root, &Value::Object(rest), "", &mut out);
    out
}

/// kube-openapi's name of a JSON value's type.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go's `%v` of a float64 (`10`, `1.5`, `1e+21`).
fn go_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else if f.abs() >= 1e21 {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
            None => s,
        }
    } else {
        f.to_string()
    }
}

/// How a field error prints its bad value: strings quoted, numbers and booleans plain,
/// everything else as JSON.
fn bad_value(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => go_float(f),
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// `Invalid value: <v>: <detail>`.
fn invalid_body(v: &str, detail: &str) -> String {
    format!("Invalid value: {v}: {detail}")
}

fn child(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

fn num(s: &Value, k: &str) -> Option<f64> {
    s.get(k).and_then(Value::as_f64)
}

fn check(s: &Value, v: &Value, path: &str, out: &mut Vec<Violation>) {
    let int_or_string = flag(s, "x-kubernetes-int-or-string");
    let declared = s.get("type").and_then(Value::as_str).unwrap_or_default();
    let wanted = if int_or_string { "integer,string" } else { declared };
    let found = type_name(v);
    // Type.
    if v.is_null() {
        if !wanted.is_empty() && !flag(s, "nullable") {
            out.push(type_invalid(path, "null", wanted));
        }
        return;
    }
    if !wanted.is_empty() {
        let whole = v.as_f64().is_some_and(|f| f.fract() == 0.0);
        let ok = match wanted {
            "integer,string" => matches!(found, "integer" | "string") || (found == "number" && whole),
            "number" => matches!(found, "integer" | "number"),
            "integer" => found == "integer" || (found == "number" && whole),
            w => w == found,
        };
        if !ok {
            out.push(type_invalid(path, found, wanted));
            return;
        }
    }
    // Strings.
    if let Value::String(text) = v {
        let chars = text.chars().count() as u64;
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
            if chars > max {
                let unit = if max == 1 { "byte" } else { "bytes" };
                out.push(Violation::new(
                    path,
                    "FieldValueTooLong",
                    format!("Too long: may not be more than {max} {unit}"),
                ));
            }
        }
        if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
            if chars < min {
                let detail = format!("{path} in body should be at least {min} chars long");
                out.push(Violation::new(path, "FieldValueInvalid", invalid_body(&bad_value(v), &detail)));
            }
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str) {
            if regex::Regex::new(p).is_ok_and(|re| !re.is_match(text)) {
                let detail = format!("{path} in body should match '{p}'");
                out.push(Violation::new(path, "FieldValueInvalid", invalid_body(&bad_value(v), &detail)));
            }
        }
    }
    // Numbers.
    if let Some(x) = v.as_f64().filter(|_| v.is_number()) {
        if let Some(m) = num(s, "multipleOf").filter(|m| *m > 0.0) {
            let q = x / m;
            if (q - q.round()).abs() > 1e-9 {
                let detail = format!("{path} in body should be a multiple of {}", go_float(m));
                out.push(Violation::new(path, "FieldValueInvalid", invalid_body(&bad_value(v), &detail)));
            }
        }
        if let Some(max) = num(s, "maximum") {
            let exclusive = flag(s, "exclusiveMaximum");
            if x > max || (exclusive && x == max) {
                let how = if exclusive { "less than" } else { "less than or equal to" };
                let detail = format!("{path} in body should be {how} {}", go_float(max));
                out.push(Violation::new(path, "FieldValueInvalid", invalid_body(&bad_value(v), &detail)));
            }
        }
        if let Some(min) = num(s, "minimum") {
            let exclusive = flag(s, "exclusiveMinimum");
            if x < min || (exclusive && x == min) {
                let how = if exclusive { "greater than" } else { "greater than or equal to" };
                let detail = format!("{path} in body should be {how} {}", go_float(min));
                out.push(Violation::new(path, "FieldValueInvalid", invalid_body(&bad_value(v), &detail)));
            }
        }
    }
    // Arrays.
    if let Value::Array(items) = v {
        if let Some(is) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(is, item, &format!("{path}[{i}]"), out);
            }
        }
        let n = items.len() as u64;
        if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
            if n < min {
                let detail = format!("{path} in body should have at least {min} items");
                out.push(Violation::new(path, "FieldValueInvalid", invalid_body(&n.to_string(), &detail)));
            }
        }
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
            if n > max {
                out.push(too_many(path, n, max));
            }
        }
        if flag(s, "uniqueItems") && items.iter().enumerate().any(|(i, a)| items[..i].contains(a)) {
            let detail = format!("{path} in body shouldn't contain duplicates");
            out.push(Violation::new(path, "FieldValueInvalid", invalid_body(&bad_value(v), &detail)));
        }
    }
    // Enum.
    if let Some(Value::Array(allowed)) = s.get("enum") {
        if !allowed.contains(v) {
            let values: Vec<String> = allowed
                .iter()
                .map(|a| match a {
                    Value::String(s) => go_quote(s),
                    other => go_quote(&serde_json::to_string(other).unwrap_or_default()),
                })
                .collect();
            out.push(Violation::new(
                path,
                "FieldValueNotSupported",
                format!("Unsupported value: {}: supported values: {}", bad_value(v), values.join(", ")),
            ));
        }
    }
    // Objects.
    if let Value::Object(m) = v {
        let n = m.len() as u64;
        if let Some(min) = s.get("minProperties").and_then(Value::as_u64) {
            if n < min {
                let detail = format!("{path} in body should have at least {min} properties");
                out.push(Violation::new(path, "FieldValueInvalid", invalid_body(&n.to_string(), &detail)));
            }
        }
        if let Some(max) = s.get("maxProperties").and_then(Value::as_u64) {
            if n > max {
                out.push(too_many(path, n, max));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        let additional = s.get("additionalProperties");
        for (k, child_value) in m {
            if props.is_some_and(|p| p.contains_key(k)) {
                continue;
            }
            match additional {
                Some(Value::Bool(false)) => {
                    let detail = format!("{path}.{k} in body is a forbidden property");
                    out.push(Violation::new(path, "FieldValueInvalid", invalid_body("\"\"", &detail)));
                }
                Some(a @ Value::Object(_)) => check(a, child_value, &child(path, k), out),
                _ => {}
            }
        }
        if let Some(props) = props {
            for (k, ps) in props {
                if let Some(cv) = m.get(k) {
                    check(ps, cv, &child(path, k), out);
                }
            }
        }
        let mut required: Vec<&str> = s
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if flag(s, "x-kubernetes-embedded-resource") {
            required.extend(["apiVersion", "kind"]);
        }
        for k in required {
            if !m.contains_key(k) {
                out.push(Violation::new(&child(path, k), "FieldValueRequired", "Required value".into()));
            }
        }
    }
}

fn type_invalid(path: &str, found: &str, wanted: &str) -> Violation {
    let detail = format!("{path} in body must be of type {wanted}: {}", go_quote(found));
    Violation::new(path, "FieldValueTypeInvalid", invalid_body(&go_quote(found), &detail))
}

fn too_many(path: &str, n: u64, max: u64) -> Violation {
    let unit = if max == 1 { "item" } else { "items" };
    Violation::new(path, "FieldValueTooMany", format!("Too many: {n}: must have at most {max} {unit}"))
}

/// The 422 listing every violation (`k8s.io/apimachinery/pkg/api/errors.NewInvalid`: one
/// message as is, several in brackets, duplicates once).
pub fn invalid(info: &ResourceInfo, name: &str, violations: &[Violation]) -> ApiError {
    let mut msgs: Vec<String> = Vec::new();
    for v in violations {
        let m = format!("{}: {}", v.field, v.body);
        if !msgs.contains(&m) {
            msgs.push(m);
        }
    }
    let joined = if msgs.len() == 1 { msgs[0].clone() } else { format!("[{}]", msgs.join(", ")) };
    Status::failure(422, ReasonKind::Invalid, format!("{} {name:?} is invalid: {joined}", qualified_kind(info)))
        .with_details(StatusDetails {
            name: name.to_string(),
            group: info.api.group.to_string(),
            kind: info.api.kind.to_string(),
            causes: violations
                .iter()
                .map(|v| StatusCause { reason: v.reason.into(), message: v.body.clone(), field: v.field.clone() })
                .collect(),
            ..Default::default()
        })
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["image"], "properties": {
                "image": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                "ratio": {"type": "number", "exclusiveMaximum": true, "maximum": 1.5},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "port": {"x-kubernetes-int-or-string": true},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                "opt": {"type": "string", "nullable": true},
                "inner": {"type": "object", "x-kubernetes-embedded-resource": true,
                    "x-kubernetes-preserve-unknown-fields": true}}}}})
    }

    #[test]
    fn unknown_fields_follow_the_structural_schema() {
        let obj = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"}, "status": {},
            "spec": {"image": "a", "bogus": 1, "labels": {"any": "x"},
                "free": {"whatever": 1, "known": {"a": "x", "b": 2}}, "tags": ["a"],
                "inner": {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {}}}});
        let unknown: Vec<String> =
            unknown_fields(&schema(), &obj).iter().map(|p| crate::validation::dotted(p)).collect();
        assert_eq!(unknown, ["spec.bogus", "spec.free.known.b", "status"]);
    }

    #[test]
    fn defaults_fill_absent_and_non_nullable_null_members() {
        let mut obj = json!({"spec": {"image": "ab"}});
        default(&schema(), &mut obj);
        assert_eq!(obj["spec"]["replicas"], 1);
        let mut obj = json!({"spec": {"image": "ab", "replicas": null}});
        default(&schema(), &mut obj);
        assert_eq!(obj["spec"]["replicas"], 1);
        let mut obj = json!({"spec": {"image": "ab", "replicas": 3}});
        default(&schema(), &mut obj);
        assert_eq!(obj["spec"]["replicas"], 3);
    }

    #[test]
    fn violations_read_as_kube_openapi_writes_them() {
        let bodies = |obj: Value| -> Vec<String> {
            validate(&schema(), &obj).into_iter().map(|v| format!("{}: {} ({})", v.field, v.body, v.reason)).collect()
        };
        assert_eq!(
            bodies(json!({"spec": {"image": "ab", "replicas": 3, "port": 80, "opt": null}})),
            Vec::<String>::new()
        );
        assert_eq!(
            bodies(json!({"spec": {"replicas": "three", "port": true, "tags": ["a", 1, "c"], "labels": {"k": 1},
                "ratio": 1.5, "mode": "c", "opt": null, "inner": {"kind": "Pod"}}})),
            [
                "spec.inner.apiVersion: Required value (FieldValueRequired)",
                "spec.labels.k: Invalid value: \"integer\": spec.labels.k in body must be of type string: \"integer\" (FieldValueTypeInvalid)",
                "spec.mode: Unsupported value: \"c\": supported values: \"a\", \"b\" (FieldValueNotSupported)",
                "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\" (FieldValueTypeInvalid)",
                "spec.ratio: Invalid value: 1.5: spec.ratio in body should be less than 1.5 (FieldValueInvalid)",
                "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\" (FieldValueTypeInvalid)",
                "spec.tags[1]: Invalid value: \"integer\": spec.tags[1] in body must be of type string: \"integer\" (FieldValueTypeInvalid)",
                "spec.tags: Too many: 3: must have at most 2 items (FieldValueTooMany)",
                "spec.image: Required value (FieldValueRequired)",
            ]
        );
        assert_eq!(
            bodies(json!({"spec": {"image": "ABCDEF", "replicas": 0}})),
            [
                "spec.image: Too long: may not be more than 5 bytes (FieldValueTooLong)",
                "spec.image: Invalid value: \"ABCDEF\": spec.image in body should match '^[a-z]+$' (FieldValueInvalid)",
                "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1 (FieldValueInvalid)",
            ]
        );
        assert_eq!(
            bodies(json!({"spec": null})),
            ["spec: Invalid value: \"null\": spec in body must be of type object: \"null\" (FieldValueTypeInvalid)"]
        );
    }
}
