//! RFC 6902 JSON Patch, applied locally (as the API server applies
//! `application/json-patch+json`).
//!
//! Contract: [`apply`] runs the operations `add`, `remove`, `replace`, `move`, `copy` and `test`
//! in order and is atomic: if any operation fails, the document is left exactly as it was and
//! the error names the failing operation's index. Paths are RFC 6901 JSON Pointers (`""` is the
//! whole document, `~0` is `~`, `~1` is `/`; any other `~` escape is an error). Array indices
//! are `0` or digits without a leading zero; `-` (one past the end) is accepted only where an
//! element is added. `test` compares by JSON value: object member order is irrelevant and
//! numbers compare numerically (`1 == 1.0`). Unknown members of an operation are ignored; a
//! missing `value` (for add/replace/test), `from` (move/copy) or `path`, a non-string `op` or
//! `path`, and an unknown `op` are errors.
//!
//! Copies are bounded: the serialized sizes of every value a patch copies add up, and the patch
//! fails once the sum passes [`ApplyOptions::max_copy_bytes`] (by default 3 MiB, the API server's
//! `JSONPatchMaxCopyBytes`), so a short patch of repeated `copy` operations cannot double a
//! document until memory runs out.

use serde_json::{Map, Value};

/// A JSON Patch that could not be applied; names the operation index and reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JSON patch operation {index}: {message}")]
pub struct JsonPatchError {
    /// Index of the failing operation.
    pub index: usize,
    /// Why it failed.
    pub message: String,
}

/// Applies an RFC 6902 patch (a JSON array of operations) to `doc`, atomically: on error `doc`
/// is left unchanged.
///
/// ```
/// use serde_json::json;
/// let mut doc = json!({"spec": {"replicas": 1, "ports": [80]}});
/// let patch = json!([
///     {"op": "test", "path": "/spec/replicas", "value": 1},
///     {"op": "replace", "path": "/spec/replicas", "value": 3},
///     {"op": "add", "path": "/spec/ports/-", "value": 443},
/// ]);
/// rudder_apimachinery::patch::json_patch::apply(&mut doc, &patch).unwrap();
/// assert_eq!(doc, json!({"spec": {"replicas": 3, "ports": [80, 443]}}));
/// ```
pub fn apply(doc: &mut Value, patch: &Value) -> Result<(), JsonPatchError> {
    apply_with(doc, patch, &ApplyOptions::default())
}

/// Limits on what a patch may do (evanphx/json-patch's `ApplyOptions`, as kube-apiserver sets
/// them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// The most bytes all `copy` operations of one patch may copy together, counted as the
    /// compact JSON size of each copied value; `None` for no limit.
    pub max_copy_bytes: Option<usize>,
}

/// kube-apiserver's default `JSONPatchMaxCopyBytes` (3 MiB).
pub const DEFAULT_MAX_COPY_BYTES: usize = 3 * 1024 * 1024;

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions { max_copy_bytes: Some(DEFAULT_MAX_COPY_BYTES) }
    }
}

/// [`apply`] with explicit limits.
pub fn apply_with(doc: &mut Value, patch: &Value, options: &ApplyOptions) -> Result<(), JsonPatchError> {
    let Some(ops) = patch.as_array() else {
        return Err(JsonPatchError { index: 0, message: "a JSON patch must be an array of operations".into() });
    };
    let parsed = ops
        .iter()
        .enumerate()
        .map(|(index, op)| Operation::parse(op).map_err(|message| JsonPatchError { index, message }))
        .collect::<Result<Vec<_>, _>>()?;
    let mut work = doc.clone();
    let mut copied = CopyBudget { used: 0, limit: options.max_copy_bytes };
    for (index, op) in parsed.into_iter().enumerate() {
        op.apply(&mut work, &mut copied).map_err(|message| JsonPatchError { index, message })?;
    }
    *doc = work;
    Ok(())
}

/// One parsed operation, borrowing its pointers and values from the patch.
enum Operation<'a> {
    Add { path: Pointer<'a>, value: &'a Value },
    Remove { path: Pointer<'a> },
    Replace { path: Pointer<'a>, value: &'a Value },
    Move { from: Pointer<'a>, path: Pointer<'a> },
    Copy { from: Pointer<'a>, path: Pointer<'a> },
    Test { path: Pointer<'a>, value: &'a Value },
}

/// A JSON Pointer: the text (for messages) and its unescaped reference tokens.
struct Pointer<'a> {
    text: &'a str,
    tokens: Vec<String>,
}

impl<'a> Pointer<'a> {
    fn parse(text: &'a str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Pointer { text, tokens: Vec::new() });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!("JSON pointer {text:?} must be empty or start with '/'"));
        };
        let tokens = rest
            .split('/')
            .map(|raw| unescape(raw).ok_or_else(|| format!("JSON pointer {text:?} has an invalid '~' escape")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pointer { text, tokens })
    }

    /// Whether `self` is a proper prefix of `other` (so `other` lies inside `self`).
    fn is_proper_prefix_of(&self, other: &Pointer<'_>) -> bool {
        self.tokens.len() < other.tokens.len() && other.tokens.starts_with(&self.tokens)
    }
}

fn unescape(raw: &str) -> Option<String> {
    if !raw.contains('~') {
        return Some(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn member<'a>(op: &'a Map<String, Value>, name: &str, kind: &str) -> Result<&'a Value, String> {
    op.get(name).ok_or_else(|| format!("{kind} operation is missing {name:?}"))
}

fn pointer_member<'a>(op: &'a Map<String, Value>, name: &str, kind: &str) -> Result<Pointer<'a>, String> {
    match member(op, name, kind)? {
        Value::String(s) => Pointer::parse(s),
        other => Err(format!("{kind} operation: {name:?} must be a string, got {other}")),
    }
}

impl<'a> Operation<'a> {
    fn parse(op: &'a Value) -> Result<Self, String> {
        let Some(obj) = op.as_object() else {
            return Err(format!("an operation must be an object, got {op}"));
        };
        let kind = match obj.get("op") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => return Err(format!("\"op\" must be a string, got {other}")),
            None => return Err("operation is missing \"op\"".into()),
        };
        let path = pointer_member(obj, "path", kind);
        Ok(match kind {
            "add" => Operation::Add { path: path?, value: member(obj, "value", kind)? },
            "remove" => Operation::Remove { path: path? },
            "replace" => Operation::Replace { path: path?, value: member(obj, "value", kind)? },
            "move" => Operation::Move { from: pointer_member(obj, "from", kind)?, path: path? },
            "copy" => Operation::Copy { from: pointer_member(obj, "from", kind)?, path: path? },
            "test" => Operation::Test { path: path?, value: member(obj, "value", kind)? },
            other => return Err(format!("unknown operation {other:?}")),
        })
    }

    fn apply(self, doc: &mut Value, copied: &mut CopyBudget) -> Result<(), String> {
        match self {
            Operation::Add { path, value } => add(doc, &path, value.clone()),
            Operation::Remove { path } => remove(doc, &path).map(drop),
            Operation::Replace { path, value } => {
                *get_mut(doc, &path)? = value.clone();
                Ok(())
            }
            Operation::Move { from, path } => {
                if from.tokens == path.tokens {
                    return get_mut(doc, &from).map(drop);
                }
                if from.is_proper_prefix_of(&path) {
                    return Err(format!("cannot move {:?} into its own child {:?}", from.text, path.text));
                }
                let value = remove(doc, &from)?;
                add(doc, &path, value)
            }
            Operation::Copy { from, path } => {
                let source = get_mut(doc, &from)?;
                copied.charge(source)?;
                let value = source.clone();
                add(doc, &path, value)
            }
            Operation::Test { path, value } => {
                let actual = get_mut(doc, &path)?;
                if json_eq(actual, value) {
                    Ok(())
                } else {
                    Err(format!("test failed: value at {:?} is {actual}, expected {value}", path.text))
                }
            }
        }
    }
}

/// The bytes the `copy` operations of one patch have copied so far, and their limit.
struct CopyBudget {
    used: usize,
    limit: Option<usize>,
}

impl CopyBudget {
    /// Adds the compact JSON size of `value`; fails once the total passes the limit (the size
    /// is counted without building the JSON, and the count stops as soon as it is over).
    fn charge(&mut self, value: &Value) -> Result<(), String> {
        let Some(limit) = self.limit else { return Ok(()) };
        let mut counter = ByteCounter { count: 0, stop_after: limit.saturating_sub(self.used) };
        let over = serde_json::to_writer(&mut counter, value).is_err();
        self.used = self.used.saturating_add(counter.count);
        if over || self.used > limit {
            return Err(format!(
                "Unable to complete the copy, the accumulated size increase of copy is {}, exceeding the limit {limit}",
                self.used
            ));
        }
        Ok(())
    }
}

/// Counts written bytes; fails once more than `stop_after` were written.
struct ByteCounter {
    count: usize,
    stop_after: usize,
}

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.count = self.count.saturating_add(buf.len());
        if self.count > self.stop_after {
            return Err(std::io::Error::other("copy limit exceeded"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Parses an array index token. `len` is the array length; `-` and `len` itself are only
/// allowed when `for_insert`.
fn array_index(token: &str, len: usize, for_insert: bool, pointer: &str) -> Result<usize, String> {
    if token == "-" {
        return if for_insert { Ok(len) } else { Err(format!("{pointer:?}: '-' names no existing element")) };
    }
    let valid =
        !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
    let index = if valid { token.parse::<usize>().ok() } else { None };
    let Some(index) = index else {
        return Err(format!("{pointer:?}: {token:?} is not a valid array index"));
    };
    let limit = if for_insert { len } else { len.saturating_sub(1) };
    if index > limit || (!for_insert && len == 0) {
        return Err(format!("{pointer:?}: index {index} is out of bounds for an array of {len}"));
    }
    Ok(index)
}

/// Follows `tokens` from `doc` to an existing value.
fn walk<'v>(mut cur: &'v mut Value, tokens: &[String], pointer: &str) -> Result<&'v mut Value, String> {
    for token in tokens {
        cur = match cur {
            Value::Object(map) => map.get_mut(token).ok_or_else(|| format!("{pointer:?}: no member {token:?}"))?,
            Value::Array(items) => {
                let i = array_index(token, items.len(), false, pointer)?;
                &mut items[i]
            }
            _ => return Err(format!("{pointer:?}: cannot descend into a scalar at {token:?}")),
        };
    }
    Ok(cur)
}

fn get_mut<'v>(doc: &'v mut Value, path: &Pointer<'_>) -> Result<&'v mut Value, String> {
    walk(doc, &path.tokens, path.text)
}

/// The parent container of `path` and the last token; `None` for the root pointer.
fn parent<'v, 'p>(doc: &'v mut Value, path: &'p Pointer<'_>) -> Result<Option<(&'v mut Value, &'p str)>, String> {
    match path.tokens.split_last() {
        None => Ok(None),
        Some((last, init)) => Ok(Some((walk(doc, init, path.text)?, last.as_str()))),
    }
}

fn add(doc: &mut Value, path: &Pointer<'_>, value: Value) -> Result<(), String> {
    let Some((container, last)) = parent(doc, path)? else {
        *doc = value;
        return Ok(());
    };
    match container {
        Value::Object(map) => {
            map.insert(last.to_owned(), value);
            Ok(())
        }
        Value::Array(items) => {
            let i = array_index(last, items.len(), true, path.text)?;
            items.insert(i, value);
            Ok(())
        }
        _ => Err(format!("{:?}: the parent is not an object or array", path.text)),
    }
}

fn remove(doc: &mut Value, path: &Pointer<'_>) -> Result<Value, String> {
    let Some((container, last)) = parent(doc, path)? else {
        return Err("cannot remove the whole document".into());
    };
    match container {
        Value::Object(map) => map.remove(last).ok_or_else(|| format!("{:?}: no member {last:?}", path.text)),
        Value::Array(items) => {
            let i = array_index(last, items.len(), false, path.text)?;
            Ok(items.remove(i))
        }
        _ => Err(format!("{:?}: the parent is not an object or array", path.text)),
    }
}

/// JSON value equality: numbers compare numerically, object member order is irrelevant.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(i), Some(j), _, _) => i == j,
            (_, _, Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Runs every enabled record of one file of the json-patch-tests suite; returns
    /// (expected-result records, error records, plain-success records, disabled records).
    fn run_suite(name: &str) -> (usize, usize, usize, usize) {
        let path = format!("{}/../testdata/json-patch-tests/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let records: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut counts = (0, 0, 0, 0);
        for (i, record) in records.iter().enumerate() {
            let what = format!("{name}[{i}] {}", record.get("comment").unwrap_or(&Value::Null));
            if record.get("disabled") == Some(&Value::Bool(true)) {
                counts.3 += 1;
                continue;
            }
            let original = record.get("doc").cloned().unwrap_or_else(|| panic!("{what}: no doc"));
            let patch = record.get("patch").unwrap_or_else(|| panic!("{what}: no patch"));
            let mut doc = original.clone();
            let result = apply(&mut doc, patch);
            if let Some(expected) = record.get("expected") {
                assert_eq!(result, Ok(()), "{what}");
                assert!(json_eq(&doc, expected), "{what}: got {doc}, expected {expected}");
                counts.0 += 1;
            } else if record.get("error").is_some() {
                assert!(result.is_err(), "{what}: should fail, got {doc}");
                assert_eq!(doc, original, "{what}: a failed patch must leave the document unchanged");
                counts.1 += 1;
            } else {
                assert_eq!(result, Ok(()), "{what}");
                counts.2 += 1;
            }
        }
        counts
    }

    #[test]
    fn json_patch_test_suite() {
        let tests = run_suite("tests.json");
        let spec = run_suite("spec_tests.json");
        println!("tests.json: {tests:?}; spec_tests.json: {spec:?} (expected, error, plain, disabled)");
        // The suite is fixed (json-patch-test-suite 1.1.0): make sure it was all run.
        assert_eq!(tests, (62, 30, 0, 3));
        assert_eq!(spec, (12, 4, 0, 1));
    }

    #[test]
    fn failure_is_atomic_and_names_the_operation() {
        let mut doc = json!({"a": 1, "list": [1, 2]});
        let patch = json!([
            {"op": "replace", "path": "/a", "value": 2},
            {"op": "add", "path": "/list/-", "value": 3},
            {"op": "remove", "path": "/missing"},
        ]);
        let err = apply(&mut doc, &patch).expect_err("must fail");
        assert_eq!(err.index, 2);
        assert!(err.message.contains("missing"), "{err}");
        assert_eq!(doc, json!({"a": 1, "list": [1, 2]}));
    }

    #[test]
    fn pointer_rules() {
        let doc = json!({"a/b": 1, "m~n": 2, "arr": [10, 20], "": 3});
        let ok = |patch: Value| {
            let mut d = doc.clone();
            apply(&mut d, &patch).map(|()| d)
        };
        assert!(ok(json!([{"op": "test", "path": "/a~1b", "value": 1}])).is_ok());
        assert!(ok(json!([{"op": "test", "path": "/m~0n", "value": 2}])).is_ok());
        assert!(ok(json!([{"op": "test", "path": "/", "value": 3}])).is_ok());
        assert!(ok(json!([{"op": "test", "path": "/m~2n", "value": 2}])).is_err());
        assert!(ok(json!([{"op": "test", "path": "/a~", "value": 2}])).is_err());
        assert!(ok(json!([{"op": "test", "path": "arr", "value": 2}])).is_err());
        assert!(ok(json!([{"op": "test", "path": "/arr/01", "value": 20}])).is_err());
        assert!(ok(json!([{"op": "test", "path": "/arr/+1", "value": 20}])).is_err());
        assert!(ok(json!([{"op": "test", "path": "/arr/-", "value": 20}])).is_err());
        assert!(ok(json!([{"op": "test", "path": "/arr/2", "value": 20}])).is_err());
        assert!(ok(json!([{"op": "test", "path": "/arr/99999999999999999999999", "value": 20}])).is_err());
        assert!(ok(json!([{"op": "test", "path": "/arr/1", "value": 20.0}])).is_ok());
        assert_eq!(
            ok(json!([{"op": "add", "path": "/arr/2", "value": 30}])).map(|d| d["arr"].clone()),
            Ok(json!([10, 20, 30]))
        );
        assert!(ok(json!([{"op": "add", "path": "/arr/3", "value": 30}])).is_err());
        assert!(ok(json!([{"op": "add", "path": "/arr/x/y", "value": 30}])).is_err());
        assert!(ok(json!([{"op": "add", "path": "/a~1b/c", "value": 30}])).is_err());
    }

    #[test]
    fn move_copy_and_root() {
        let mut doc = json!({"a": {"b": [1, 2]}, "c": 3});
        let patch = json!([
            {"op": "copy", "from": "/a/b", "path": "/c2"},
            {"op": "move", "from": "/a/b/0", "path": "/a/b/-"},
            {"op": "move", "from": "/c", "path": "/c"},
        ]);
        apply(&mut doc, &patch).expect("apply");
        assert_eq!(doc, json!({"a": {"b": [2, 1]}, "c": 3, "c2": [1, 2]}));
        let mut doc2 = doc.clone();
        assert!(apply(&mut doc2, &json!([{"op": "move", "from": "/a", "path": "/a/x"}])).is_err());
        assert!(apply(&mut doc2, &json!([{"op": "move", "from": "/nope", "path": "/nope"}])).is_err());
        assert!(apply(&mut doc2, &json!([{"op": "remove", "path": ""}])).is_err());
        apply(&mut doc2, &json!([{"op": "replace", "path": "", "value": [1]}])).expect("replace root");
        assert_eq!(doc2, json!([1]));
        assert!(apply(&mut doc2, &json!({"op": "add"})).is_err());
        assert!(apply(&mut doc2, &json!([{"op": "add", "path": "/-"}])).is_err());
        assert!(apply(&mut doc2, &json!([{"op": 1, "path": "/-"}])).is_err());
        assert_eq!(doc2, json!([1]));
    }

    #[test]
    fn copies_are_bounded() {
        // Sixteen copies of the whole document double it each time (~46 MB from 700 bytes); the
        // default limit stops the patch once 3 MiB were copied.
        let mut doc = json!({"a": "x".repeat(700)});
        let ops: Vec<Value> = (0..16)
            .map(|i| {
                let from = if i == 0 { "/a".to_string() } else { format!("/c{}", i - 1) };
                json!({"op": "copy", "from": from, "path": format!("/c{i}")})
            })
            .collect();
        let patch =
            Value::Array((0..16).map(|i| json!({"op": "copy", "from": "", "path": format!("/d{i}")})).collect());
        let original = doc.clone();
        let err = apply(&mut doc, &patch).expect_err("unbounded growth must be refused");
        assert!(
            err.message.starts_with("Unable to complete the copy, the accumulated size increase of copy is"),
            "{err}"
        );
        assert!(err.message.ends_with("exceeding the limit 3145728"), "{err}");
        assert_eq!(doc, original);
        // Small copies pass, and an explicit limit is applied exactly.
        apply(&mut doc, &Value::Array(ops)).expect("chained copies of one value are small");
        let tight = ApplyOptions { max_copy_bytes: Some(10) };
        let mut d = json!({"a": "12345678"});
        apply_with(&mut d, &json!([{"op": "copy", "from": "/a", "path": "/b"}]), &tight).expect("10 bytes fit");
        let e = apply_with(
            &mut d,
            &json!([{"op": "copy", "from": "/a", "path": "/c"}, {"op": "copy", "from": "/a", "path": "/d"}]),
            &tight,
        )
        .expect_err("20 bytes do not");
        assert_eq!(e.index, 1);
        let unlimited = ApplyOptions { max_copy_bytes: None };
        apply_with(&mut d, &json!([{"op": "copy", "from": "", "path": "/e"}]), &unlimited).expect("no limit");
    }

    #[test]
    fn numeric_equality() {
        assert!(json_eq(&json!(1), &json!(1.0)));
        assert!(json_eq(&json!({"a": [1, 2.5]}), &json!({"a": [1.0, 2.5]})));
        assert!(!json_eq(&json!(1), &json!("1")));
        assert!(!json_eq(&json!(u64::MAX), &json!(-1)));
        assert!(!json_eq(&json!([1]), &json!([1, 1])));
        assert!(!json_eq(&json!({"a": 1}), &json!({"b": 1})));
    }
}
