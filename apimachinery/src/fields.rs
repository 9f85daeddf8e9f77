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
                return Err(err(start, format!("can't understand term {term:?}: expected field=value, field==value or field!=value")));
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
        self.requirements
            .iter()
            .find(|r| r.field == field && r.op == Operator::Equals)
            .map(|r| r.value.as_str())
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
