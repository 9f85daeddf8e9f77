//! Uniform access to object metadata (name, namespace, uid, resourceVersion, labels, ...) for
//! typed `k8s-openapi` objects, dynamic objects and user-declared views.
//!
//! Contract: every object rudder stores or sends implements [`HasMetadata`]; the provided
//! accessors never allocate and return empty values for absent fields.

use std::collections::BTreeMap;

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, OwnerReference, Time};

/// Access to an object's `metadata`.
pub trait HasMetadata {
    /// The object's metadata.
    fn metadata(&self) -> &ObjectMeta;
    /// The object's metadata, mutably.
    fn metadata_mut(&mut self) -> &mut ObjectMeta;

    /// `metadata.name`, or `""`.
    fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or("")
    }
    /// `metadata.namespace`, if set.
    fn namespace(&self) -> Option<&str> {
        self.metadata().namespace.as_deref()
    }
    /// `metadata.uid`, if set.
    fn uid(&self) -> Option<&str> {
        self.metadata().uid.as_deref()
    }
    /// `metadata.resourceVersion`, if set.
    fn resource_version(&self) -> Option<&str> {
        self.metadata().resource_version.as_deref()
    }
    /// `metadata.generation`, if set.
    fn generation(&self) -> Option<i64> {
        self.metadata().generation
    }
    /// `metadata.labels` (empty when absent).
    fn labels(&self) -> &BTreeMap<String, String> {
        self.metadata().labels.as_ref().unwrap_or(empty_map())
    }
    /// `metadata.annotations` (empty when absent).
    fn annotations(&self) -> &BTreeMap<String, String> {
        self.metadata().annotations.as_ref().unwrap_or(empty_map())
    }
    /// `metadata.ownerReferences` (empty when absent).
    fn owner_references(&self) -> &[OwnerReference] {
        self.metadata().owner_references.as_deref().unwrap_or(&[])
    }
    /// `metadata.finalizers` (empty when absent).
    fn finalizers(&self) -> &[String] {
        self.metadata().finalizers.as_deref().unwrap_or(&[])
    }
    /// `metadata.deletionTimestamp`, if the object is being deleted.
    fn deletion_timestamp(&self) -> Option<&Time> {
        self.metadata().deletion_timestamp.as_ref()
    }
}

fn empty_map() -> &'static BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    &EMPTY
}

impl<K> HasMetadata for K
where
    K: k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    fn metadata(&self) -> &ObjectMeta {
        k8s_openapi::Metadata::metadata(self)
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        k8s_openapi::Metadata::metadata_mut(self)
    }
}

/// `apiVersion` and `kind`, as every top-level Kubernetes JSON object carries them.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct TypeMeta {
    /// `apiVersion`.
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    /// `kind`.
    #[serde(default)]
    pub kind: String,
}

/// Metadata-only form of any object (`PartialObjectMetadata`), as served when a client asks
/// for `as=PartialObjectMetadata;g=meta.k8s.io;v=v1`.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct PartialObjectMetadata {
    /// Type of the object (`meta.k8s.io/v1`, `PartialObjectMetadata`).
    #[serde(flatten)]
    pub types: Option<TypeMeta>,
    /// The object's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}

impl HasMetadata for PartialObjectMetadata {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn accessors_on_typed_objects() {
        let mut p = Pod::default();
        assert_eq!(p.name(), "");
        assert!(p.labels().is_empty());
        p.metadata_mut().name = Some("a".into());
        p.metadata_mut().namespace = Some("ns".into());
        p.metadata_mut().finalizers = Some(vec!["f".into()]);
        assert_eq!((p.name(), p.namespace()), ("a", Some("ns")));
        assert_eq!(p.finalizers(), ["f".to_string()]);
    }
}
