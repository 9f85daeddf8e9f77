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

    /// Gives a list item the type its list implies, where the object carries its type itself
    /// and the server left it out (items of a `PodList` have no `apiVersion`/`kind`). Called by
    /// the client on every item of a decoded list, with the list's `apiVersion` and its kind
    /// minus `List` (else the resource's). A no-op for typed kinds and views, whose type is
    /// static; [`DynamicObject`](crate::dynamic::DynamicObject) fills whichever is missing.
    fn set_type_if_missing(&mut self, _api_version: &str, _kind: &str) {}
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

/// Decodes an `ObjectMeta` without `managedFields`: a serde `deserialize_with` function for the
/// `metadata` field of a view (see [`view!`](crate::view)).
///
/// `managedFields` is server-side-apply bookkeeping that controllers almost never read, yet it
/// is about half of a typical object's JSON, and k8s-openapi decodes each entry's `fieldsV1`
/// into a `serde_json::Value` tree (one allocation per key). With this function the decoder
/// skips that subtree without building anything, so the view pays neither the time nor the
/// memory; a transform that drops `managedFields` after decoding saves only the memory.
/// Every other `ObjectMeta` field is decoded as usual; `managed_fields` is always `None`.
///
/// ```
/// use rudder_apimachinery::meta::ObjectMeta;
/// #[derive(serde::Deserialize)]
/// struct PodView {
///     #[serde(default, deserialize_with = "rudder_apimachinery::meta::without_managed_fields")]
///     metadata: ObjectMeta,
/// }
/// let v: PodView = serde_json::from_str(
///     r#"{"metadata":{"name":"a","managedFields":[{"manager":"kubectl","fieldsV1":{"f:x":{}}}]}}"#,
/// )
/// .unwrap();
/// assert_eq!(v.metadata.name.as_deref(), Some("a"));
/// assert!(v.metadata.managed_fields.is_none());
/// ```
pub fn without_managed_fields<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<ObjectMeta, D::Error> {
    let m = <MetaWithoutManagedFields as serde::Deserialize>::deserialize(deserializer)?;
    Ok(ObjectMeta {
        annotations: m.annotations,
        creation_timestamp: m.creation_timestamp,
        deletion_grace_period_seconds: m.deletion_grace_period_seconds,
        deletion_timestamp: m.deletion_timestamp,
        finalizers: m.finalizers,
        generate_name: m.generate_name,
        generation: m.generation,
        labels: m.labels,
        managed_fields: None,
        name: m.name,
        namespace: m.namespace,
        owner_references: m.owner_references,
        resource_version: m.resource_version,
        self_link: m.self_link,
        uid: m.uid,
    })
}

/// `ObjectMeta`'s fields except `managedFields`, which serde therefore skips as unknown.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetaWithoutManagedFields {
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    creation_timestamp: Option<Time>,
    #[serde(default)]
    deletion_grace_period_seconds: Option<i64>,
    #[serde(default)]
    deletion_timestamp: Option<Time>,
    #[serde(default)]
    finalizers: Option<Vec<String>>,
    #[serde(default)]
    generate_name: Option<String>,
    #[serde(default)]
    generation: Option<i64>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    owner_references: Option<Vec<OwnerReference>>,
    #[serde(default)]
    resource_version: Option<String>,
    #[serde(default)]
    self_link: Option<String>,
    #[serde(default)]
    uid: Option<String>,
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

    #[derive(serde::Deserialize)]
    struct View {
        #[serde(default, deserialize_with = "without_managed_fields")]
        metadata: ObjectMeta,
    }

    #[test]
    fn without_managed_fields_keeps_everything_else() {
        for file in ["pod-deployment.json", "pod-with-sidecar.json"] {
            let path = format!("{}/../apiserver/testdata/objects/{file}", env!("CARGO_MANIFEST_DIR"));
            let bytes = std::fs::read(&path).unwrap();
            let full: Pod = serde_json::from_slice(&bytes).unwrap();
            assert!(full.metadata.managed_fields.is_some(), "{file} has managedFields");
            let view: View = serde_json::from_slice(&bytes).unwrap();
            let mut expected = full.metadata.clone();
            expected.managed_fields = None;
            assert_eq!(view.metadata, expected, "{file}");
        }
    }

    #[test]
    fn without_managed_fields_reports_bad_input() {
        // Wrong types are errors (as with ObjectMeta's own Deserialize), nulls are absent fields.
        assert!(serde_json::from_str::<View>(r#"{"metadata":{"name":5}}"#).is_err());
        let v: View = serde_json::from_str(r#"{"metadata":{"name":null,"managedFields":"not even a list"}}"#).unwrap();
        assert_eq!(v.metadata, ObjectMeta::default());
    }
}
