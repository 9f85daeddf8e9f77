//! Type checking of built-in objects, as kube-apiserver decodes a body into its Go struct
//! before it stores anything.
//!
//! Contract: [`check`] decodes a JSON value as the resource's k8s-openapi type (custom
//! resources are not checked) and, when that fails, reports where as Go's `encoding/json` does:
//! the innermost struct, the path of struct fields from the root (map keys and list indices are
//! not part of it), the JSON kind of the value found and the Go type wanted. The answers built
//! from it are the real server's:
//! - create and update: 400 `<Kind> in version "<v>" cannot be handled as a <Kind>: json: cannot
//!   unmarshal object into Go struct field ConfigMap.data of type string` ([`body_error`]);
//! - JSON and merge patches: 422 `"" is invalid: patch: Invalid value: "<patched object>": <the
//!   same json error>`, with one `FieldValueInvalid` cause on field `patch`; strategic merge
//!   patches the same with the patch printed as Go prints a map and the unstructured
//!   converter's wording ([`patch_error`]);
//! - server-side apply: 500 `failed to create typed patch object (...)` with the path in
//!   structured-merge-diff's form ([`apply_error`]).
//!
//! Null is accepted anywhere (Go leaves the zero value) and numbers may be given for
//! quantities. Members a struct does not declare (k8s-openapi's field lists, which are the
//! OpenAPI schema's) are skipped and answered as unknown fields; what to do with them is
//! `field_validation.rs`'s.

use std::cell::RefCell;
use std::fmt;

use rudder_apimachinery::status::{ReasonKind, Status, StatusCause, StatusDetails};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::errors::ApiError;
use super::registry::ResourceInfo;

/// Why a value does not decode as its kind, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeFailure {
    /// The innermost Go struct being decoded (`ServicePort`).
    pub go_struct: String,
    /// Struct field names from the root (`spec.ports.port`).
    pub fields: Vec<String>,
    /// Every step from the root: fields, map keys and `[i]` list indices.
    pub path: Vec<String>,
    /// What was found, as Go names JSON values (`object`, `array`, `string`, `number`, `bool`).
    pub found: String,
    /// The Go type wanted (`string`, `int32`, `v1.PodSpec`), empty when the failure is not a
    /// type mismatch.
    pub wanted: String,
    /// The decoder's own message, for failures that are not type mismatches.
    pub detail: String,
}

impl DecodeFailure {
    /// `encoding/json`'s message (`json: cannot unmarshal number into Go struct field
    /// ServicePort.spec.ports.port of type int32`).
    pub fn go_json_message(&self) -> String {
        if self.wanted.is_empty() {
            return self.detail.clone();
        }
        if self.fields.is_empty() {
            return format!("json: cannot unmarshal {} into Go value of type {}", self.found, self.wanted);
        }
        format!(
            "json: cannot unmarshal {} into Go struct field {}.{} of type {}",
            self.found,
            self.go_struct,
            self.fields.join("."),
            self.wanted
        )
    }

    /// The unstructured converter's message (strategic merge patches decode from a map).
    fn converter_message(&self) -> String {
        if self.wanted.is_empty() {
            return self.detail.clone();
        }
        let from = match self.found.split(' ').next().unwrap_or_default() {
            "object" => "map",
            "array" => "slice",
            "number" if self.found.contains('.') => "float64",
            "number" => "int64",
            other => other,
        };
        if self.wanted.starts_with("map[") {
            format!("cannot restore map from {from}")
        } else if self.wanted.starts_with("[]") {
            format!("cannot restore slice from {from}")
        } else if self.wanted.contains('.') {
            format!("cannot restore struct from: {from}")
        } else if matches!(from, "map" | "slice") {
            format!("unrecognized type: {}", self.wanted)
        } else {
            format!("cannot convert {from} to {}", self.wanted)
        }
    }
}

impl fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.go_json_message())
    }
}

type Checker = fn(&Value, &RefCell<Trail>) -> Result<(), Error>;

macro_rules! checkers {
    ($($gv:ident => $ty:path as $method:ident;)*) => {
        /// The decoder of a built-in kind.
        fn checker(group: &str, version: &str, kind: &str) -> Option<Checker> {
            use k8s_openapi::Resource as _;
            $(
                if <$ty>::GROUP == group && <$ty>::VERSION == version && <$ty>::KIND == kind {
                    return Some(|value, trail| <$ty as serde::Deserialize>::deserialize(Track { value, trail }).map(drop));
                }
            )*
            None
        }
    };
}
rudder_client::for_each_builtin!(checkers);

/// A field the kind does not declare, as the steps from the root (`["spec", "containers",
/// "[0]", "foo"]`).
pub type UnknownField = Vec<String>;

/// Checks that `obj` decodes as the resource's kind (its `kind`/`apiVersion` are taken from
/// the resource) and answers the fields it does not declare, in the order of the object's
/// (sorted) keys. Custom and unknown kinds always pass with none: their schema is the CRD's
/// (`crd_schema.rs`).
pub fn check(info: &ResourceInfo, obj: &Value) -> Result<Vec<UnknownField>, Box<DecodeFailure>> {
    if info.custom {
        return Ok(Vec::new());
    }
    let Some(checker) = checker(&info.api.group, &info.api.version, &info.api.kind) else { return Ok(Vec::new()) };
    let Value::Object(members) = obj else {
        return Err(Box::new(DecodeFailure {
            go_struct: info.api.kind.to_string(),
            fields: Vec::new(),
            path: Vec::new(),
            found: json_kind(obj).to_string(),
            wanted: format!("{}.{}", info.api.version, info.api.kind),
            detail: String::new(),
        }));
    };
    let mut typed = Map::with_capacity(members.len() + 2);
    typed.insert("apiVersion".into(), Value::String(info.api.api_version.to_string()));
    typed.insert("kind".into(), Value::String(info.api.kind.to_string()));
    for (k, v) in members {
        if k != "kind" && k != "apiVersion" {
            typed.insert(k.clone(), v.clone());
        }
    }
    let trail = RefCell::new(Trail::default());
    checker(&Value::Object(typed), &trail).map_err(|e| Box::new(e.into_failure(&info.api.version)))?;
    Ok(trail.into_inner().unknown)
}

/// A path as Go's strict decoder prints it: `spec.containers[0].foo`.
pub fn dotted(steps: &[String]) -> String {
    let mut out = String::new();
    for step in steps {
        if !out.is_empty() && !step.starts_with('[') {
            out.push('.');
        }
        out.push_str(step);
    }
    out
}

/// The 400 a create or update body gets when it does not decode.
pub fn body_error(info: &ResourceInfo, f: &DecodeFailure) -> ApiError {
    ApiError::bad_request(format!(
        "{kind} in version {:?} cannot be handled as a {kind}: {}",
        info.api.version.as_ref(),
        f.go_json_message(),
        kind = info.api.kind
    ))
}

/// The patch types whose results are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// JSON patch or merge patch: the patched JSON is decoded.
    Json,
    /// Strategic merge patch: the patched map is converted.
    Strategic,
}

/// The 422 a JSON, merge or strategic merge patch gets when its result does not decode:
/// `patched` is the patched object (JSON and merge patch), `patch` the request's patch
/// (strategic merge patch).
pub fn patch_error(kind: PatchKind, patched: &Value, patch: &Value, f: &DecodeFailure) -> ApiError {
    let why = match kind {
        PatchKind::Json => f.go_json_message(),
        PatchKind::Strategic => f.converter_message(),
    };
    patch_invalid(kind, patched, patch, &why)
}

/// The 422 `"" is invalid: patch: Invalid value: "<patched object or patch>": <why>` a patch
/// gets when its result cannot be taken (a decode failure, or strict field validation).
pub fn patch_invalid(kind: PatchKind, patched: &Value, patch: &Value, why: &str) -> ApiError {
    let bad_value = match kind {
        PatchKind::Json => serde_json::to_string(patched).unwrap_or_default(),
        PatchKind::Strategic => go_print(patch),
    };
    let body = format!("Invalid value: {}: {why}", go_quote(&bad_value));
    Status::failure(422, ReasonKind::Invalid, format!("\"\" is invalid: patch: {body}"))
        .with_details(StatusDetails {
            causes: vec![StatusCause { reason: "FieldValueInvalid".into(), message: body, field: "patch".into() }],
            ..Default::default()
        })
        .into()
}

/// The 500 a server-side apply gets when the applied configuration does not fit the schema.
pub fn apply_error(info: &ResourceInfo, ns: &str, name: &str, f: &DecodeFailure) -> ApiError {
    let gvk = format!("{}/{}, Kind={}", info.api.group, info.api.version, info.api.kind);
    let mut path = String::new();
    for step in &f.path {
        if !step.starts_with('[') {
            path.push('.');
        }
        path.push_str(step);
    }
    let wanted = match f.wanted.as_str() {
        "" => String::new(),
        w if w.starts_with("map[") || w.contains('.') => "expected map".into(),
        w if w.starts_with("[]") => "expected list".into(),
        "int32" | "int64" => "expected numeric (int or float)".into(),
        "bool" => "expected boolean".into(),
        w => format!("expected {w}"),
    };
    let why = if wanted.is_empty() { f.detail.clone() } else { format!("{wanted}, got {}", f.found) };
    ApiError::internal_no_reason(format!("failed to create typed patch object ({ns}/{name}; {gvk}): {path}: {why}"))
}

/// The 500 a server-side apply gets when the applied configuration has a field the kind does
/// not declare (structured-merge-diff: `.spec.bogus: field not declared in schema`).
pub fn apply_undeclared(info: &ResourceInfo, ns: &str, name: &str, field: &[String]) -> ApiError {
    let f = DecodeFailure {
        go_struct: String::new(),
        fields: Vec::new(),
        path: field.to_vec(),
        found: String::new(),
        wanted: String::new(),
        detail: "field not declared in schema".into(),
    };
    apply_error(info, ns, name, &f)
}

/// Go's `%q` of a string: quoted, with `"` and `\` escaped and control characters spelled out.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%+v` of a decoded JSON value (`map[data:map[k:map[a:1]]]`; map keys sorted).
pub fn go_print(v: &Value) -> String {
    let mut out = String::new();
    go_print_into(v, &mut out);
    out
}

fn go_print_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => out.push_str(&format!("{f:.0}")),
            Some(f) => out.push_str(&f.to_string()),
            None => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_print_into(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                go_print_into(&m[k], out);
            }
            out.push(']');
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

// ---------------------------------------------------------------------------------------------
// A deserializer over a `Value` that knows where it is.

/// Where the decoder is: the structs entered, their fields, and every step; and the members
/// of structs that the struct does not declare.
#[derive(Debug, Default)]
pub struct Trail {
    structs: Vec<&'static str>,
    fields: Vec<String>,
    path: Vec<String>,
    unknown: Vec<UnknownField>,
}

/// The decode error: a type mismatch (found/wanted) or a message, and where it happened (set
/// by the innermost deserializer that sees it). Boxed: it travels through every `Result` of
/// the decoder.
#[derive(Debug)]
struct Error(Box<ErrorInner>);

#[derive(Debug)]
struct ErrorInner {
    found: String,
    wanted: String,
    detail: String,
    place: Option<(String, Vec<String>, Vec<String>)>,
}

impl Error {
    fn new(found: String, wanted: String, detail: String) -> Self {
        Error(Box::new(ErrorInner { found, wanted, detail, place: None }))
    }

    fn into_failure(self, version: &str) -> DecodeFailure {
        let e = *self.0;
        let (go_struct, fields, path) = e.place.unwrap_or_default();
        DecodeFailure { go_struct, fields, path, found: e.found, wanted: go_type(&e.wanted, version), detail: e.detail }
    }
}

/// The Go type a serde expectation names.
fn go_type(expected: &str, version: &str) -> String {
    match expected {
        "" => String::new(),
        "a string" | "string" => "string".into(),
        "i32" | "a 32-bit integer" => "int32".into(),
        "i64" => "int64".into(),
        "f64" => "float64".into(),
        "a boolean" => "bool".into(),
        "a sequence" => "[]interface {}".into(),
        "a map" => "map[string]string".into(),
        "Quantity" => "resource.Quantity".into(),
        "IntOrString" => "intstr.IntOrString".into(),
        other if other.chars().all(|c| c.is_ascii_alphanumeric()) => format!("{version}.{other}"),
        other => other.to_string(),
    }
}

fn unexpected_name(u: &de::Unexpected<'_>) -> String {
    match u {
        de::Unexpected::Bool(_) => "bool".into(),
        de::Unexpected::Unsigned(n) => format!("number {n}"),
        de::Unexpected::Signed(n) => format!("number {n}"),
        de::Unexpected::Float(f) => format!("number {f}"),
        de::Unexpected::Str(_) | de::Unexpected::Char(_) => "string".into(),
        de::Unexpected::Seq => "array".into(),
        de::Unexpected::Map => "object".into(),
        de::Unexpected::Unit => "null".into(),
        other => other.to_string(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.wanted.is_empty() {
            f.write_str(&self.0.detail)
        } else {
            write!(f, "cannot unmarshal {} into {}", self.0.found, self.0.wanted)
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(String::new(), String::new(), msg.to_string())
    }
    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        // Go names a mismatched number without its value, and a number that is no integer
        // where one is wanted with it.
        let wanted = exp.to_string();
        let integer_wanted = matches!(wanted.as_str(), "i32" | "i64" | "u32" | "u64" | "a 32-bit integer");
        let found = match unexp {
            de::Unexpected::Float(_) if integer_wanted => unexpected_name(&unexp),
            de::Unexpected::Unsigned(_) | de::Unexpected::Signed(_) | de::Unexpected::Float(_) => "number".into(),
            u => unexpected_name(&u),
        };
        Error::new(found, wanted, String::new())
    }
    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error::new(unexpected_name(&unexp), exp.to_string(), String::new())
    }
}

/// Deserializes `value`, recording the trail.
struct Track<'a, 't> {
    value: &'a Value,
    trail: &'t RefCell<Trail>,
}

impl<'a, 't> Track<'a, 't> {
    /// Stamps an error with the current place unless a deeper deserializer already did.
    fn place(&self, mut e: Error) -> Error {
        if e.0.place.is_none() {
            let t = self.trail.borrow();
            e.0.place =
                Some((t.structs.last().copied().unwrap_or_default().to_string(), t.fields.clone(), t.path.clone()));
        }
        e
    }
}

impl<'de, 't> Deserializer<'de> for Track<'de, 't> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or_default())
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(Seq { items: items.iter(), index: 0, trail: self.trail }),
            Value::Object(m) => {
                visitor.visit_map(Members { iter: m.iter(), pending: None, trail: self.trail, declared: None })
            }
        };
        r.map_err(|e| self.place(e))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Value::Object(m) = self.value else { return self.deserialize_any(visitor) };
        self.trail.borrow_mut().structs.push(name);
        let r = visitor.visit_map(Members { iter: m.iter(), pending: None, trail: self.trail, declared: Some(fields) });
        let r = r.map_err(|e| self.place(e));
        self.trail.borrow_mut().structs.pop();
        r
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()).map_err(|e| self.place(e)),
            _ => self.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

/// The members of an object; struct members (`declared` names the struct's fields) extend the
/// field path, map members only the path. A struct member that is not declared is recorded as
/// unknown (its value is skipped, as Go skips it).
struct Members<'a, 't> {
    iter: serde_json::map::Iter<'a>,
    pending: Option<(&'a String, &'a Value)>,
    trail: &'t RefCell<Trail>,
    declared: Option<&'static [&'static str]>,
}

impl<'de, 't> MapAccess<'de> for Members<'de, 't> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.pending = Some((k, v));
                if self.declared.is_some_and(|d| !d.contains(&k.as_str())) {
                    let mut t = self.trail.borrow_mut();
                    let mut at = t.path.clone();
                    at.push(k.clone());
                    t.unknown.push(at);
                }
                seed.deserialize(k.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let Some((k, v)) = self.pending.take() else {
            return Err(de::Error::custom("a map value was read before its key"));
        };
        {
            let mut t = self.trail.borrow_mut();
            if self.declared.is_some() {
                t.fields.push(k.clone());
            }
            t.path.push(k.clone());
        }
        let r = seed.deserialize(Track { value: v, trail: self.trail });
        {
            let mut t = self.trail.borrow_mut();
            if self.declared.is_some() {
                t.fields.pop();
            }
            t.path.pop();
        }
        r
    }
}

/// The items of an array; each extends the path by `[i]`.
struct Seq<'a, 't> {
    items: std::slice::Iter<'a, Value>,
    index: usize,
    trail: &'t RefCell<Trail>,
}

impl<'de, 't> SeqAccess<'de> for Seq<'de, 't> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, Error> {
        let Some(v) = self.items.next() else { return Ok(None) };
        self.trail.borrow_mut().path.push(format!("[{}]", self.index));
        self.index += 1;
        let r = seed.deserialize(Track { value: v, trail: self.trail });
        self.trail.borrow_mut().path.pop();
        r.map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    fn info(group: &str, version: &str, plural: &str) -> ResourceInfo {
        Registry::builtin().get(group, version, plural).cloned().unwrap()
    }

    #[test]
    fn mismatches_are_reported_as_go_does() {
        let cm = info("", "v1", "configmaps");
        let f = check(&cm, &json!({"metadata": {"name": "a"}, "data": {"k": {"a": 1}}})).unwrap_err();
        assert_eq!(
            f.go_json_message(),
            "json: cannot unmarshal object into Go struct field ConfigMap.data of type string"
        );
        assert_eq!(f.path, ["data", "k"]);
        let f = check(&cm, &json!({"data": {"k": 5432}})).unwrap_err();
        assert_eq!(
            f.go_json_message(),
            "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
        );
        let svc = info("", "v1", "services");
        let f = check(&svc, &json!({"spec": {"ports": [{"port": 80}, {"port": "x"}]}})).unwrap_err();
        assert_eq!(
            f.go_json_message(),
            "json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32"
        );
        assert_eq!(f.path, ["spec", "ports", "[1]", "port"]);
        let f = check(&svc, &json!({"spec": "x"})).unwrap_err();
        assert_eq!(
            f.go_json_message(),
            "json: cannot unmarshal string into Go struct field Service.spec of type v1.ServiceSpec"
        );
        let f = check(&cm, &json!([1])).unwrap_err();
        assert_eq!(f.go_json_message(), "json: cannot unmarshal array into Go value of type v1.ConfigMap");
    }

    #[test]
    fn go_accepts_what_these_accept() {
        let pod = info("", "v1", "pods");
        let ok = json!({"metadata": {"name": "p", "labels": null}, "spec": {"containers": [{"name": "c", "image": "i",
            "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}, "ports": [{"containerPort": 80, "name": null}]}],
            "unknownField": {"x": 1}}, "status": null});
        assert_eq!(check(&pod, &ok), Ok(vec![vec!["spec".to_string(), "unknownField".to_string()]]));
        let deploy = info("apps", "v1", "deployments");
        assert_eq!(
            check(&deploy, &json!({"kind": "Deployment", "apiVersion": "apps/v1beta1", "spec": {"replicas": 2}})),
            Ok(vec![])
        );
        let mut custom = deploy.clone();
        custom.custom = true;
        assert_eq!(check(&custom, &json!({"spec": "anything"})), Ok(vec![]));
        let f = check(&deploy, &json!({"spec": {"replicas": 1.5}})).unwrap_err();
        assert_eq!(
            f.go_json_message(),
            "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
    }

    #[test]
    fn undeclared_members_are_unknown_fields_in_key_order() {
        let pod = info("", "v1", "pods");
        let obj = json!({"metadata": {"name": "p", "labels": {"any": "x"}, "bogus": 1},
            "spec": {"containers": [{"name": "c", "image": "i"}, {"name": "d", "imagePullPolice": "x",
                "resources": {"limits": {"cpu": "1"}}}], "zz": {"nested": {"deeper": 1}}},
            "top": true});
        let unknown: Vec<String> = check(&pod, &obj).unwrap().iter().map(|p| dotted(p)).collect();
        assert_eq!(unknown, ["metadata.bogus", "spec.containers[1].imagePullPolice", "spec.zz", "top"]);
    }

    #[test]
    fn go_printing() {
        assert_eq!(
            go_print(&json!({"data": {"k": {"a": 1, "b": [true, null, 1.5, "s"]}}})),
            "map[data:map[k:map[a:1 b:[true <nil> 1.5 s]]]]"
        );
        assert_eq!(go_quote("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\x01é\"");
    }
}
