//! Patches: the [`Patch`] the client sends (with its content type), and local application of
//! RFC 6902 JSON Patch ([`json_patch`]) and RFC 7386 JSON Merge Patch ([`merge_patch`]).

pub mod json_patch;
pub mod merge_patch;

use serde::Serialize;

/// A patch body and its kind; the kind decides the request's `Content-Type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch {
    /// RFC 6902 JSON Patch: an array of operations.
    Json(serde_json::Value),
    /// RFC 7386 JSON Merge Patch.
    Merge(serde_json::Value),
    /// Kubernetes strategic merge patch (built-in kinds only), as raw JSON.
    Strategic(serde_json::Value),
    /// Server-side apply: the full intended configuration (needs a field manager).
    Apply(serde_json::Value),
}

impl Patch {
    /// Builds a server-side apply patch from any serializable object.
    pub fn apply<T: Serialize>(obj: &T) -> Result<Self, serde_json::Error> {
        Ok(Patch::Apply(serde_json::to_value(obj)?))
    }

    /// The `Content-Type` of the request.
    pub fn content_type(&self) -> &'static str {
        match self {
            Patch::Json(_) => "application/json-patch+json",
            Patch::Merge(_) => "application/merge-patch+json",
            Patch::Strategic(_) => "application/strategic-merge-patch+json",
            Patch::Apply(_) => "application/apply-patch+yaml",
        }
    }

    /// Whether this is server-side apply.
    pub fn is_apply(&self) -> bool {
        matches!(self, Patch::Apply(_))
    }

    /// The body.
    pub fn body(&self) -> &serde_json::Value {
        match self {
            Patch::Json(v) | Patch::Merge(v) | Patch::Strategic(v) | Patch::Apply(v) => v,
        }
    }

    /// The body as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self.body()).unwrap_or_else(|_| b"null".to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let v = serde_json::json!({});
        assert_eq!(Patch::Json(v.clone()).content_type(), "application/json-patch+json");
        assert_eq!(Patch::Merge(v.clone()).content_type(), "application/merge-patch+json");
        assert_eq!(Patch::Strategic(v.clone()).content_type(), "application/strategic-merge-patch+json");
        assert_eq!(Patch::Apply(v).content_type(), "application/apply-patch+yaml");
    }
}
