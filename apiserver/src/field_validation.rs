//! Field validation: what a write does with fields its kind does not declare and with fields
//! given twice, as the `fieldValidation` query parameter asks.
//!
//! Contract (kube-apiserver's `k8s.io/apiserver/pkg/endpoints/handlers`, `sigs.k8s.io/json`):
//! - [`directive`]: `Strict`, `Warn` or `Ignore`; absent means `Warn` (the server's default
//!   since 1.27; kubectl sends `Strict`); any other value is a 422 on the request's options
//!   kind (`CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: ...`).
//! - A strict error reads as Go's strict decoder writes it: `unknown field "spec.containers[0].foo"`
//!   (map keys and `[i]` list indices are part of the path), `duplicate field "metadata.name"`;
//!   JSON patch operations' own errors are prefixed `json patch `. At most 100 per request,
//!   each once, in the order the decoder meets them (a body's document order; a patched
//!   object's sorted keys, as Go re-encodes it); for custom resources duplicates come first
//!   and the unknown fields after them sorted as strings, as CRD pruning reports them.
//! - `Strict` turns them into the request's failure: create and update answer 400
//!   `<Kind> in version "<v>" cannot be handled as a <Kind>: strict decoding error: <e1>, <e2>`
//!   ([`body_failure`]); JSON, merge and strategic merge patches 422 on field `patch`
//!   ([`patch_failure`]). `Warn` answers each as a `Warning: 299 - "<e>"` header ([`warn`],
//!   deduplicated, truncated past 4096 characters in all as the real server's recorder does).
//!   `Ignore` says nothing.
//! - Whatever the directive, unknown fields are never stored ([`prune`]). Duplicates keep
//!   the last value, as Go's decoder does.
//! - Server-side apply is strict about its schema whatever the directive (an undeclared field
//!   is structured-merge-diff's 500, `validation::apply_error`); duplicates in an apply body are
//!   not reported.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;

use http::HeaderValue;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::errors::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::server::{Body, Ctx};
use crate::validation::{self, dotted, PatchKind, UnknownField};

/// The most strict errors one request reports (`sigs.k8s.io/json` keeps at most 100).
pub const MAX_STRICT_ERRORS: usize = 100;
/// Past this many characters of warnings in one response, each warning is cut to
/// [`WARNING_ITEM_CHARS`] (`k8s.io/apiserver/pkg/endpoints/filters/warning.go`).
pub const WARNING_TOTAL_CHARS: usize = 4 * 1024;
/// The length each warning is cut to once [`WARNING_TOTAL_CHARS`] is exceeded.
pub const WARNING_ITEM_CHARS: usize = 256;

/// What the client asked to be done with unknown and duplicate fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    /// Drop them silently.
    Ignore,
    /// Drop them and say so in `Warning` headers (the default).
    Warn,
    /// Fail the request.
    Strict,
}

/// The request's `fieldValidation`; `options_kind` names the options object of the verb
/// (`CreateOptions`, `UpdateOptions`, `PatchOptions`) for the 422 on an unsupported value.
pub fn directive(ctx: &Ctx, options_kind: &str) -> ApiResult<Directive> {
    match ctx.q("fieldValidation").unwrap_or_default() {
        "" | "Warn" => Ok(Directive::Warn),
        "Strict" => Ok(Directive::Strict),
        "Ignore" => Ok(Directive::Ignore),
        other => Err(ApiError::invalid_options(
            options_kind,
            vec![(
                "FieldValueNotSupported".into(),
                "fieldValidation".into(),
                format!(
                    "Unsupported value: {}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"",
                    validation::go_quote(other)
                ),
            )],
        )),
    }
}

/// One strict decoding error and where the decoder met it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StrictError {
    order: usize,
    text: String,
}

/// The strict errors of one request, gathered from the body and from the decoded object.
#[derive(Debug, Default)]
pub struct Findings {
    errors: Vec<StrictError>,
}

impl Findings {
    /// The errors in the order the decoder meets them, each once, at most
    /// [`MAX_STRICT_ERRORS`].
    pub fn messages(&self) -> Vec<String> {
        let mut errs = self.errors.clone();
        errs.sort_by_key(|e| e.order);
        let mut seen = HashSet::new();
        errs.into_iter().map(|e| e.text).filter(|t| seen.insert(t.clone())).take(MAX_STRICT_ERRORS).collect()
    }

    /// Whether there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for Findings {
    /// `strict decoding error: <e1>, <e2>` (`k8s.io/apimachinery/pkg/runtime.strictDecodingError`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "strict decoding error: {}", self.messages().join(", "))
    }
}

/// The strict errors of a create or update body: its duplicate members (JSON bodies) and the
/// fields its kind does not declare. For a built-in kind (Go's typed decoder) in document order,
/// leaving out duplicates inside an unknown field (Go skips an unknown field's value); for a
/// custom resource (`custom`: the unstructured decoder, then pruning) every duplicate in
/// document order, then the unknown fields sorted as strings. Under `Ignore` nothing is looked
/// for.
pub fn body_findings(d: Directive, ctx: &Ctx, unknown: &[UnknownField], custom: bool) -> Findings {
    if d == Directive::Ignore {
        return Findings::default();
    }
    let media = ctx.header("content-type").split(';').next().unwrap_or("").trim().to_string();
    let scan = if matches!(media.as_str(), "application/json" | "") { scan(&ctx.body) } else { Scan::default() };
    let mut findings = Findings::default();
    let mut unknown_paths: Vec<String> = unknown.iter().map(|p| dotted(p)).collect();
    if custom {
        unknown_paths.sort();
    }
    for (i, path) in unknown_paths.iter().enumerate() {
        let order = match scan.first_seen.get(path) {
            Some(at) if !custom => *at,
            _ => usize::MAX / 2 + i,
        };
        findings.errors.push(StrictError { order, text: format!("unknown field {}", go_quote_path(path)) });
    }
    for (path, order) in scan.duplicates {
        let inside_unknown = !custom
            && unknown_paths
                .iter()
                .any(|u| path == *u || path.strip_prefix(u.as_str()).is_some_and(|rest| rest.starts_with(['.', '['])));
        if !inside_unknown {
            findings.errors.push(StrictError { order, text: format!("duplicate field {}", go_quote_path(&path)) });
        }
    }
    findings
}

/// The strict errors of a patch: the patch's own (`patch_type` is the patch's media type:
/// duplicate members of a merge or strategic merge patch; unknown and duplicate members of a
/// JSON patch's operations, prefixed `json patch `) first, then the patched object's unknown
/// fields in sorted order (per level for a built-in kind, as Go re-encodes the patched map; as
/// strings for a custom resource, as pruning sorts them). Under `Ignore` nothing is looked for.
pub fn patch_findings(
    d: Directive,
    patch_type: &str,
    patch: &[u8],
    unknown: &[UnknownField],
    custom: bool,
) -> Findings {
    if d == Directive::Ignore {
        return Findings::default();
    }
    let mut findings = Findings::default();
    let scanned = scan(patch);
    let mut order = 0;
    let mut own: Vec<(usize, String)> =
        scanned.duplicates.into_iter().map(|(p, o)| (o, format!("duplicate field {}", go_quote_path(&p)))).collect();
    if patch_type == "application/json-patch+json" {
        if let Ok(Value::Array(ops)) = serde_json::from_slice::<Value>(patch) {
            for (i, op) in ops.iter().enumerate() {
                let Value::Object(m) = op else { continue };
                for k in m.keys().filter(|k| !matches!(k.as_str(), "op" | "path" | "from" | "value")) {
                    let path = format!("[{i}].{k}");
                    let at = scanned.first_seen.get(&path).copied().unwrap_or(usize::MAX);
                    own.push((at, format!("unknown field {}", go_quote_path(&path))));
                }
            }
        }
        for e in &mut own {
            e.1 = format!("json patch {}", e.1);
        }
    }
    own.sort_by_key(|e| e.0);
    for (_, text) in own {
        findings.errors.push(StrictError { order, text });
        order += 1;
    }
    let mut paths: Vec<String> = unknown.iter().map(|p| dotted(p)).collect();
    if custom {
        paths.sort();
    }
    for path in paths {
        findings.errors.push(StrictError { order, text: format!("unknown field {}", go_quote_path(&path)) });
        order += 1;
    }
    findings
}

/// Applies the directive to a create or update body's findings: the 400 under `Strict`, the
/// warnings to send under `Warn`, nothing under `Ignore`.
pub fn body_failure(info: &ResourceInfo, d: Directive, findings: &Findings) -> ApiResult<Vec<String>> {
    settle(d, findings, || {
        ApiError::bad_request(format!(
            "{kind} in version {:?} cannot be handled as a {kind}: {findings}",
            info.api.version.as_ref(),
            kind = info.api.kind
        ))
    })
}

/// Applies the directive to a patch's findings: the 422 on field `patch` under `Strict`, the
/// warnings to send under `Warn`, nothing under `Ignore`.
pub fn patch_failure(
    d: Directive,
    findings: &Findings,
    kind: PatchKind,
    patched: &Value,
    patch: &Value,
) -> ApiResult<Vec<String>> {
    settle(d, findings, || validation::patch_invalid(kind, patched, patch, &findings.to_string()))
}

fn settle(d: Directive, findings: &Findings, fail: impl FnOnce() -> ApiError) -> ApiResult<Vec<String>> {
    if findings.is_empty() {
        return Ok(Vec::new());
    }
    match d {
        Directive::Strict => Err(fail()),
        Directive::Warn => Ok(findings.messages()),
        Directive::Ignore => Ok(Vec::new()),
    }
}

/// Removes the unknown fields from the object to store.
pub fn prune(obj: &mut Value, unknown: &[UnknownField]) {
    for path in unknown {
        remove_path(obj, path);
    }
}

fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut cur = v;
    for step in parents {
        let next = match (step.strip_prefix('[').and_then(|s| s.strip_suffix(']')), cur) {
            (Some(i), Value::Array(items)) => i.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            (None, Value::Object(m)) => m.get_mut(step),
            _ => None,
        };
        let Some(next) = next else { return };
        cur = next;
    }
    if let Value::Object(m) = cur {
        m.remove(last);
    }
}

/// Adds one `Warning: 299 - "<text>"` header per warning, deduplicated, as kube-apiserver's
/// warning recorder does (past [`WARNING_TOTAL_CHARS`] in all, each is cut to
/// [`WARNING_ITEM_CHARS`]).
pub fn warn(mut resp: http::Response<Body>, warnings: &[String]) -> http::Response<Body> {
    let mut seen = HashSet::new();
    let unique: Vec<&String> = warnings.iter().filter(|w| seen.insert(w.as_str())).collect();
    let total: usize = unique.iter().map(|w| w.chars().count()).sum();
    for w in unique {
        let text: String =
            if total > WARNING_TOTAL_CHARS { w.chars().take(WARNING_ITEM_CHARS).collect() } else { w.clone() };
        if let Ok(v) = HeaderValue::from_bytes(warning_header(&text).as_bytes()) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    resp
}

/// `299 - "<text>"` with `"` and `\` escaped (`k8s.io/apimachinery/pkg/util/net.NewWarningHeader`);
/// control characters become spaces.
pub fn warning_header(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str("299 - \"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.Quote` of a path (the paths are JSON keys: `"` and `\` escaped).
fn go_quote_path(p: &str) -> String {
    validation::go_quote(p)
}

// ---------------------------------------------------------------------------------------------
// Duplicate members of a JSON document, and where each member was first met.

/// What a walk over a JSON document found.
#[derive(Debug, Default)]
struct Scan {
    /// Each repeated member's path and its position among all members met.
    duplicates: Vec<(String, usize)>,
    /// The position of each member path's first occurrence.
    first_seen: HashMap<String, usize>,
}

#[derive(Debug, Default)]
struct ScanState {
    scan: Scan,
    counter: usize,
}

/// Walks `body` (JSON) member by member; a body that does not parse yields nothing.
fn scan(body: &[u8]) -> Scan {
    let state = RefCell::new(ScanState::default());
    let mut de = serde_json::Deserializer::from_slice(body);
    if (Node { path: String::new(), state: &state }).deserialize(&mut de).is_err() {
        return Scan::default();
    }
    state.into_inner().scan
}

struct Node<'s> {
    path: String,
    state: &'s RefCell<ScanState>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        while seq.next_element_seed(Node { path: format!("{}[{i}]", self.path), state: self.state })?.is_some() {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() { key.clone() } else { format!("{}.{key}", self.path) };
            {
                let mut st = self.state.borrow_mut();
                let at = st.counter;
                st.counter += 1;
                if keys.insert(key) {
                    st.scan.first_seen.entry(path.clone()).or_insert(at);
                } else {
                    st.scan.duplicates.push((path.clone(), at));
                }
            }
            map.next_value_seed(Node { path, state: self.state })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn steps(p: &[&str]) -> UnknownField {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn duplicates_and_first_occurrences_in_document_order() {
        let s = scan(br#"{"b": 1, "a": {"x": [ {"k": 1, "k": 2} ], "x": 3}, "b": 2}"#);
        assert_eq!(s.duplicates, [("a.x[0].k".to_string(), 4), ("a.x".to_string(), 5), ("b".to_string(), 6)]);
        assert_eq!(s.first_seen["a.x[0].k"], 3);
        assert!(scan(b"{not json").duplicates.is_empty());
    }

    #[test]
    fn patch_findings_put_the_patch_first() {
        let f = patch_findings(
            Directive::Strict,
            "application/json-patch+json",
            br#"[{"op": "add", "path": "/x", "value": 1, "bogus": 2, "op": "add"}]"#,
            &[steps(&["spec", "foo"])],
            false,
        );
        assert_eq!(
            f.to_string(),
            "strict decoding error: json patch unknown field \"[0].bogus\", json patch duplicate field \"[0].op\", unknown field \"spec.foo\""
        );
    }

    #[test]
    fn prune_removes_nested_members_and_list_items_fields() {
        let mut v = json!({"spec": {"containers": [{"name": "a", "foo": 1}], "bar": 2}, "baz": 3});
        prune(&mut v, &[steps(&["spec", "containers", "[0]", "foo"]), steps(&["spec", "bar"]), steps(&["baz"])]);
        assert_eq!(v, json!({"spec": {"containers": [{"name": "a"}]}}));
    }

    #[test]
    fn warning_headers_escape_quotes() {
        assert_eq!(warning_header("unknown field \"spec.foo\""), r#"299 - "unknown field \"spec.foo\"""#);
    }
}
