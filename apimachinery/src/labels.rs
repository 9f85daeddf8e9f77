//! STUB — the labels helper replaces this file. The public API below is the agreed contract.

use std::collections::BTreeMap;
use std::fmt;

/// A label selector parse error naming the input and the byte position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {input:?} at position {position}: {message}")]
pub struct ParseError {
    /// The whole selector.
    pub input: String,
    /// Byte offset of the problem.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    nothing: bool,
}

impl Selector {
    /// Parses the API server's selector grammar.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        if input.trim().is_empty() {
            return Ok(Self::everything());
        }
        Err(ParseError { input: input.into(), position: 0, message: "not implemented yet".into() })
    }
    /// Matches every label set.
    pub fn everything() -> Self {
        Self { nothing: false }
    }
    /// Matches no label set.
    pub fn nothing() -> Self {
        Self { nothing: true }
    }
    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, _labels: &BTreeMap<String, String>) -> bool {
        !self.nothing
    }
    /// Whether this selector has no requirements (matches everything).
    pub fn is_empty(&self) -> bool {
        !self.nothing
    }
    /// From a `LabelSelector` (`None` matches nothing; an empty one everything).
    pub fn from_label_selector(
        sel: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    ) -> Result<Self, ParseError> {
        Ok(if sel.is_some() { Self::everything() } else { Self::nothing() })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

impl std::str::FromStr for Selector {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
