//! STUB — the labels helper replaces this file. The public API below is the agreed contract.

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

/// One `field op value` term, with the value unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    /// Field path, e.g. `spec.nodeName`.
    pub field: String,
    /// Operator.
    pub op: Operator,
    /// Value (unescaped).
    pub value: String,
}

/// A parsed field selector: a conjunction of requirements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<Requirement>,
}

impl FieldSelector {
    /// Parses `a=b,c!=d` with `\` escaping of `,` `=` `\` in values.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        if input.trim().is_empty() {
            return Ok(Self::default());
        }
        Err(ParseError { input: input.into(), position: 0, message: "not implemented yet".into() })
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
        self.requirements.iter().all(|r| {
            let v = get(&r.field).unwrap_or_default();
            match r.op {
                Operator::Equals => v == r.value,
                Operator::NotEquals => v != r.value,
            }
        })
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}
