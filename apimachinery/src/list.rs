//! Typed lists (`PodList`, or a list of a view) as the API server sends them.
//!
//! Contract: `items: null` and a missing `items` both decode as an empty list; list items carry
//! no `apiVersion`/`kind` and typed decoding does not need them.

use serde::{Deserialize, Deserializer, Serialize};

use crate::meta::ListMeta;

/// A list of `T` with its list metadata (resourceVersion, continue, remainingItemCount).
///
/// Works for any `T`, including views, unlike `k8s_openapi::List` which needs a full resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct ObjectList<T> {
    /// `metadata`.
    #[serde(default)]
    pub metadata: ListMeta,
    /// `items`.
    #[serde(default = "Vec::new", deserialize_with = "null_as_empty")]
    pub items: Vec<T>,
}

impl<T> Default for ObjectList<T> {
    fn default() -> Self {
        Self { metadata: ListMeta::default(), items: Vec::new() }
    }
}

impl<T> ObjectList<T> {
    /// The list's resourceVersion, or `""`.
    pub fn resource_version(&self) -> &str {
        self.metadata.resource_version.as_deref().unwrap_or("")
    }

    /// The continue token, when more pages follow.
    pub fn continue_token(&self) -> Option<&str> {
        self.metadata.continue_.as_deref().filter(|c| !c.is_empty())
    }
}

/// Decodes `null` as an empty vector.
pub(crate) fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn decodes_fixture_pages() {
        for (f, more) in [("list-pods-page1.json", true), ("list-pods-page2.json", false)] {
            let p = format!("{}/../testdata/apiserver/{f}", env!("CARGO_MANIFEST_DIR"));
            let l: ObjectList<Pod> = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            assert!(!l.items.is_empty());
            assert!(!l.resource_version().is_empty());
            assert_eq!(l.continue_token().is_some(), more, "{f}");
        }
    }

    #[test]
    fn null_items_are_empty() {
        let l: ObjectList<Pod> = serde_json::from_str(r#"{"metadata":{"resourceVersion":"5"},"items":null}"#).unwrap();
        assert!(l.items.is_empty());
        let l: ObjectList<Pod> = serde_json::from_str(r#"{}"#).unwrap();
        assert!(l.items.is_empty());
    }
}
