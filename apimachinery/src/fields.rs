//! Kubernetes field selectors (`?fieldSelector=`): parsing, matching and the escaped string form.
//!
//! Contract kept by this module, following `k8s.io/apimachinery/pkg/fields`:
//! - A selector is terms separated by unescaped `,`; empty terms are skipped (so `""` and `","`
//!   select everything). Each term is `field=value`, `field==value` or `field!=value`, split at
//!   the leftmost operator; nothing is trimmed (blanks belong to the field or value).
//! - In values, `\` escapes `\`, `,` and `=`; any other escape, a trailing lone `\`, or an
//!   unescaped `=` in a value is an error. [`Requirement::value`] holds the unescaped value and
//!   [`Display`](fmt::Display) re-escapes it, so printing and parsing round-trip.
//! - Field names are taken verbatim (Go does not unescape them either); an empty field name is
//!   an error here (the API server would reject it later as an unsupported field label).
//! - Requirements keep input order (Go sorts the raw terms; the conjunction is the same).
//! - An absent field compares as the empty string when matching, as on the API server.
//! - Errors never panic; they name the input, the byte position and what is wrong.

use std::borrow::Cow;
use std::fmt;

/// A field selector parse error naming the input and the byte position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field selector {input:?} at position {position}: {message}")]
pub struct ParseError {
    /// The whole selector.
    pub input: String,
    /// Byte offset of the problem.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

/// Comparison of one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

impl Operator {
    /// The canonical spelling (`=` or `!=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::NotEquals => "!=",
        }
    }
}

/// One `field op value` term, with the value unescaped.
///
/// When building one by hand, keep `field` non-empty and free of `=` and `,` so that the printed
/// selector parses back to the same requirement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    /// Field path, e.g. `spec.nodeName`.
    pub field: String,
    /// Operator.
    pub op: Operator,
    /// Value (unescaped).
    pub value: String,
}

impl Requirement {
    /// Whether a field value (`None` when absent, compared as `""`) satisfies this requirement.
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let v = value.unwrap_or("");
        match self.op {
            Operator::Equals => v == self.value,
            Operator::NotEquals => v != self.value,
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.field, self.op.as_str(), escape_value(&self.value))
    }
}

/// Escapes `\`, `,` and `=` in a field selector value with a backslash (borrowing when nothing
/// needs escaping).
///
/// ```
/// assert_eq!(rudder_apimachinery::fields::escape_value(r"a,b=c\d"), r"a\,b\=c\\d");
/// ```
pub fn escape_value(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', ',', '=']) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// A parsed field selector: a conjunction of requirements.
///
/// ```
/// use rudder_apimachinery::fields::FieldSelector;
/// let sel = FieldSelector::parse(r"spec.nodeName=node-a,metadata.name!=a\,b").unwrap();
/// assert_eq!(sel.requirements()[1].value, "a,b");
/// assert!(sel.matches(&|f: &str| (f == "spec.nodeName").then(|| "node-a".to_string())));
/// assert_eq!(sel.to_string(), r"spec.nodeName=node-a,metadata.name!=a\,b");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct FieldSelector {
    requirements: Vec<Requirement>,
}

impl FieldSelector {
    /// Parses `a=b,c!=d` with `\` escaping of `,` `=` `\` in values (see the module
    /// documentation for the exact rules).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let err = |position: usize, message: String| ParseError { input: input.to_owned(), position, message };
        let mut requirements = Vec::new();
        for (start, term) in split_terms(input) {
            if term.is_empty() {
                continue;
            }
            let Some((at, op, op_len)) = find_operator(term) else {
                return Err(err(
                    start,
                    format!("can't understand term {term:?}: expected field=value, field==value or field!=value"),
                ));
            };
            let field = term.get(..at).unwrap_or("");
            if field.is_empty() {
                return Err(err(start, format!("empty field name in term {term:?}")));
            }
            let value_start = start + at + op_len;
            let raw = term.get(at + op_len..).unwrap_or("");
            let value = unescape_value(raw).map_err(|(pos, m)| err(value_start + pos, m))?;
            requirements.push(Requirement { field: field.to_owned(), op, value });
        }
        Ok(Self { requirements })
    }

    /// A selector from requirements, kept in the given order.
    pub fn new(requirements: Vec<Requirement>) -> Self {
        Self { requirements }
    }

    /// The requirements in input order.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether the selector has no requirements.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object matches; `get(field)` returns the object's value for a field path
    /// (`None` when absent, which compares as the empty string, as the API server does).
    pub fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| r.matches_value(get(&r.field).as_deref()))
    }

    /// Like [`FieldSelector::matches`] with a getter that borrows from the object (no
    /// allocation).
    pub fn matches_ref<'v>(&self, get: impl Fn(&str) -> Option<&'v str>) -> bool {
        self.requirements.iter().all(|r| r.matches_value(get(&r.field)))
    }

    /// If the selector requires `field` to equal one specific value, that value (the first `=`
    /// requirement on it); lets the server and indexers narrow a list, e.g. by `metadata.name`.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements.iter().find(|r| r.field == field && r.op == Operator::Equals).map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            fmt::Display::fmt(r, f)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Splits at commas not preceded by an escaping backslash; yields `(byte offset, raw term)`.
fn split_terms(input: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut start = 0;
    let mut escaped = false;
    let mut done = false;
    let mut chars = input.char_indices();
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        for (i, c) in chars.by_ref() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == ',' {
                let term = (start, input.get(start..i).unwrap_or(""));
                start = i + 1;
                return Some(term);
            }
        }
        done = true;
        Some((start, input.get(start..).unwrap_or("")))
    })
}

/// The leftmost operator of a term: `(offset, operator, operator length)`.
fn find_operator(term: &str) -> Option<(usize, Operator, usize)> {
    term.char_indices().find_map(|(i, _)| {
        let rest = term.get(i..)?;
        if rest.starts_with("!=") {
            Some((i, Operator::NotEquals, 2))
        } else if rest.starts_with("==") {
            Some((i, Operator::Equals, 2))
        } else if rest.starts_with('=') {
            Some((i, Operator::Equals, 1))
        } else {
            None
        }
    })
}

/// Removes value escapes; errors carry the offset within `raw`.
fn unescape_value(raw: &str) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(raw.len());
    let mut escape_at: Option<usize> = None;
    for (i, c) in raw.char_indices() {
        if let Some(at) = escape_at.take() {
            if matches!(c, '\\' | ',' | '=') {
                out.push(c);
                continue;
            }
            return Err((at, format!("invalid escape sequence: \\{c}")));
        }
        match c {
            '\\' => escape_at = Some(i),
            ',' | '=' => return Err((i, format!("unescaped character in value: '{c}'"))),
            _ => out.push(c),
        }
    }
    if let Some(at) = escape_at {
        return Err((at, "invalid escape sequence: \\ at the end of the value".to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn req(field: &str, op: Operator, value: &str) -> Requirement {
        Requirement { field: field.into(), op, value: value.into() }
    }

    fn assert_round_trip(sel: &FieldSelector) {
        let printed = sel.to_string();
        let again = FieldSelector::parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not reparse: {e}"));
        assert_eq!(&again, sel, "round trip of {printed:?}");
    }

    #[test]
    fn parses_terms_in_input_order_with_unescaped_values() {
        use Operator::{Equals as Eq, NotEquals as Ne};
        let cases: Vec<(&str, Vec<Requirement>, &str)> = vec![
            ("", vec![], ""),
            (",", vec![], ""),
            (",,", vec![], ""),
            ("a=b", vec![req("a", Eq, "b")], "a=b"),
            ("a==b", vec![req("a", Eq, "b")], "a=b"),
            ("a!=b", vec![req("a", Ne, "b")], "a!=b"),
            ("a=", vec![req("a", Eq, "")], "a="),
            ("a!=", vec![req("a", Ne, "")], "a!="),
            ("c=d,a!=b", vec![req("c", Eq, "d"), req("a", Ne, "b")], "c=d,a!=b"),
            ("a=b,,c=d,", vec![req("a", Eq, "b"), req("c", Eq, "d")], "a=b,c=d"),
            (r"a=x\,y", vec![req("a", Eq, "x,y")], r"a=x\,y"),
            (r"a=x\=y", vec![req("a", Eq, "x=y")], r"a=x\=y"),
            (r"a=x\\y", vec![req("a", Eq, r"x\y")], r"a=x\\y"),
            (r"a=x\\", vec![req("a", Eq, r"x\")], r"a=x\\"),
            (r"a=\\\,\=", vec![req("a", Eq, r"\,=")], r"a=\\\,\="),
            ("a=b!c", vec![req("a", Eq, "b!c")], "a=b!c"),
            ("a=!", vec![req("a", Eq, "!")], "a=!"),
            ("a!b=c", vec![req("a!b", Eq, "c")], "a!b=c"),
            ("a = b", vec![req("a ", Eq, " b")], "a = b"),
            ("ñ=ü 🦀", vec![req("ñ", Eq, "ü 🦀")], "ñ=ü 🦀"),
            (r"a\,b=c", vec![req(r"a\,b", Eq, "c")], r"a\,b=c"),
            (r"a\=b", vec![req(r"a\", Eq, "b")], r"a\=b"),
            (r"a\==b", vec![req(r"a\", Eq, "b")], r"a\=b"),
            (r"a\!=b,c=d", vec![req(r"a\", Ne, "b"), req("c", Eq, "d")], r"a\!=b,c=d"),
            (
                "metadata.name=x,spec.nodeName!=",
                vec![req("metadata.name", Eq, "x"), req("spec.nodeName", Ne, "")],
                "metadata.name=x,spec.nodeName!=",
            ),
        ];
        for (input, want, printed) in cases {
            let sel = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(sel.requirements(), want.as_slice(), "{input:?}");
            assert_eq!(sel.is_empty(), want.is_empty());
            assert_eq!(sel.to_string(), printed, "{input:?}");
            assert_round_trip(&sel);
            assert_eq!(input.parse::<FieldSelector>().unwrap(), sel);
        }
    }

    #[test]
    fn reports_errors_with_positions() {
        let cases: &[(&str, usize, &str)] = &[
            ("a", 0, "can't understand term \"a\""),
            (" ", 0, "can't understand term \" \""),
            ("a=b,c", 4, "can't understand term \"c\""),
            (r"a=b\,c=d", 6, "unescaped character in value: '='"),
            ("=b", 0, "empty field name"),
            ("==b", 0, "empty field name"),
            ("a=b,!=c", 4, "empty field name"),
            (r"a=x\y", 3, r"invalid escape sequence: \y"),
            (r"a=x\ü", 3, r"invalid escape sequence: \ü"),
            (r"a=x\", 3, "invalid escape sequence"),
            (r"a=x\\\", 5, "invalid escape sequence"),
            ("a=b=c", 3, "unescaped character in value: '='"),
            ("a===b", 3, "unescaped character in value: '='"),
            ("a!==b", 3, "unescaped character in value: '='"),
            ("ü=x,b=c=d", 8, "unescaped character"),
        ];
        for (input, position, message) in cases {
            let e = FieldSelector::parse(input).expect_err(input);
            assert_eq!(e.input, *input);
            assert_eq!(e.position, *position, "{input:?}: {e}");
            assert!(e.message.contains(message), "{input:?}: {:?} lacks {message:?}", e.message);
        }
        assert_eq!(
            FieldSelector::parse("a=b,c").unwrap_err().to_string(),
            "invalid field selector \"a=b,c\" at position 4: can't understand term \"c\": expected field=value, \
             field==value or field!=value"
        );
    }

    #[test]
    fn matches_absent_fields_as_empty() {
        let object: BTreeMap<&str, &str> = BTreeMap::from([("metadata.name", "x"), ("spec.nodeName", "")]);
        let get_owned = |f: &str| object.get(f).map(|v| v.to_string());
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("metadata.name=x", true),
            ("metadata.name==x", true),
            ("metadata.name=y", false),
            ("metadata.name!=x", false),
            ("metadata.name!=y", true),
            ("spec.nodeName=", true),
            ("spec.nodeName!=", false),
            ("missing=", true),
            ("missing!=", false),
            ("missing=a", false),
            ("missing!=a", true),
            ("metadata.name=x,spec.nodeName=", true),
            ("metadata.name=x,spec.nodeName=n", false),
        ];
        for (input, want) in cases {
            let sel = FieldSelector::parse(input).unwrap();
            assert_eq!(sel.matches(&get_owned), *want, "{input:?}");
            assert_eq!(sel.matches_ref(|f| object.get(f).copied()), *want, "{input:?} via matches_ref");
        }
    }

    #[test]
    fn escaping_round_trips() {
        assert_eq!(escape_value("plain"), "plain");
        assert!(matches!(escape_value("plain"), Cow::Borrowed(_)));
        assert_eq!(escape_value(r"a,b=c\d"), r"a\,b\=c\\d");
        for value in ["", ",", "=", "\\", r"\\,==,", "!=", "a b", "ü,🦀=", "\\=", "x\\"] {
            for op in [Operator::Equals, Operator::NotEquals] {
                let sel = FieldSelector::new(vec![req("f", op, value), req("g", Operator::Equals, value)]);
                assert_round_trip(&sel);
                assert_eq!(FieldSelector::parse(&sel.to_string()).unwrap().requirements()[0].value, value);
            }
        }
    }

    #[test]
    fn requires_exact_match() {
        let sel = FieldSelector::parse("a!=1,a=2,b!=3").unwrap();
        assert_eq!(sel.requires_exact_match("a"), Some("2"));
        assert_eq!(sel.requires_exact_match("b"), None);
        assert_eq!(sel.requires_exact_match("c"), None);
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let long = "a".repeat(100_000);
        let inputs = [
            format!("{long}=b"),
            format!("a={long}"),
            long.clone(),
            "\\".repeat(10_001),
            format!("a={}", "\\,".repeat(10_000)),
            ",".repeat(10_000),
            "a=b,".repeat(10_000),
            "\0=\0".into(),
            "🦀\\🦀=🦀".into(),
            "((=))".into(),
        ];
        for input in &inputs {
            if let Ok(sel) = FieldSelector::parse(input) {
                assert_round_trip(&sel);
                let _ = sel.matches_ref(|_| None);
            }
        }
    }

    /// Deterministic pseudo-random inputs: nothing panics and whatever parses round-trips.
    #[test]
    fn random_inputs_round_trip_or_fail_cleanly() {
        const PIECES: &[&str] = &["a", "b.c", "=", "==", "!=", "!", "\\", ",", " ", "ü", "", "x\\,", "\\="];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut parsed = 0;
        for _ in 0..20_000 {
            let len = next() % 10;
            let input: String = (0..len).map(|_| PIECES[(next() % PIECES.len() as u64) as usize]).collect();
            match FieldSelector::parse(&input) {
                Ok(sel) => {
                    parsed += 1;
                    assert_round_trip(&sel);
                }
                Err(e) => assert!(e.position <= input.len(), "{input:?}: {e}"),
            }
        }
        assert!(parsed > 100, "the walk should hit valid selectors, got {parsed}");
    }
}
