//! The pod types the benchmarks cache: the full k8s-openapi `Pod`, and [`PodView`], a partial
//! view holding only what a scheduler-like controller reads (metadata without `managedFields`,
//! `spec.nodeName`, `status.phase`). Both are listed and watched as the `pods` resource.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use rudder_apimachinery::meta::HasMetadata;

/// The fields of `spec` the view keeps.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodViewSpec {
    /// `spec.nodeName`.
    #[serde(default)]
    pub node_name: Option<String>,
}

/// The fields of `status` the view keeps.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodViewStatus {
    /// `status.phase`.
    #[serde(default)]
    pub phase: Option<String>,
}

/// A partial Pod: everything else in the JSON is skipped while decoding.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodView {
    /// `metadata`, every field but `managedFields` (skipped while decoding, never built).
    #[serde(default, deserialize_with = "rudder_apimachinery::meta::without_managed_fields")]
    pub metadata: ObjectMeta,
    /// `spec.nodeName`.
    #[serde(default)]
    pub spec: Option<PodViewSpec>,
    /// `status.phase`.
    #[serde(default)]
    pub status: Option<PodViewStatus>,
}

rudder_apimachinery::view!(PodView => Pod);

/// Drops `metadata.managedFields` (the transform of [`Shape::NoManagedFields`](crate::Shape)).
pub fn strip_managed_fields<K: HasMetadata>(mut obj: K) -> K {
    obj.metadata_mut().managed_fields = None;
    obj
}
