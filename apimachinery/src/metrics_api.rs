//! The resource metrics API, `metrics.k8s.io/v1beta1` (`k8s.io/metrics/pkg/apis/metrics/v1beta1`):
//! [`PodMetrics`] and [`NodeMetrics`], as metrics-server serves them and as the Horizontal Pod
//! Autoscaler and `kubectl top` read them. k8s-openapi has no types for it.
//!
//! Contract: both kinds implement [`Resource`] and [`HasMetadata`], so `Api<PodMetrics>` and
//! `Api<NodeMetrics>` get and list them like any kind (the API is read-only: metrics-server
//! serves `get` and `list` only); usage values are exact [`Quantity`]s keyed by resource name
//! (`cpu`, `memory`); unknown fields are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::meta::{HasMetadata, ObjectMeta, Time};
use crate::quantity::Quantity;
use crate::resource::{Resource, Scope};

/// Resource usage by resource name (`cpu` in cores, `memory` in bytes).
pub type ResourceList = BTreeMap<String, Quantity>;

/// The usage of one pod's containers over a sampling window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetrics {
    /// The pod's name, namespace and labels.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The end of the sampling window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Time>,
    /// The window's length as a Go duration (`"10.5s"`).
    #[serde(default)]
    pub window: String,
    /// Usage per container (containers without metrics are absent).
    #[serde(default)]
    pub containers: Vec<ContainerMetrics>,
}

/// The usage of one container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerMetrics {
    /// The container's name.
    #[serde(default)]
    pub name: String,
    /// Its usage.
    #[serde(default)]
    pub usage: ResourceList,
}

/// The usage of one node over a sampling window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeMetrics {
    /// The node's name and labels.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The end of the sampling window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Time>,
    /// The window's length as a Go duration (`"10.5s"`).
    #[serde(default)]
    pub window: String,
    /// The node's usage.
    #[serde(default)]
    pub usage: ResourceList,
}

impl PodMetrics {
    /// The sum of the containers' usage of `resource` (`cpu`, `memory`); `None` when no
    /// container reports it (or the sum overflows).
    pub fn total(&self, resource: &str) -> Option<Quantity> {
        let mut values = self.containers.iter().filter_map(|c| c.usage.get(resource));
        let first = *values.next()?;
        values.try_fold(first, |acc, q| acc.checked_add(q))
    }
}

macro_rules! metrics_kind {
    ($ty:ty, $kind:literal, $plural:literal, $scope:expr) => {
        impl Resource for $ty {
            const GROUP: &'static str = "metrics.k8s.io";
            const VERSION: &'static str = "v1beta1";
            const API_VERSION: &'static str = "metrics.k8s.io/v1beta1";
            const KIND: &'static str = $kind;
            const PLURAL: &'static str = $plural;
            const SCOPE: Scope = $scope;
        }
        impl HasMetadata for $ty {
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
metrics_kind!(PodMetrics, "PodMetrics", "pods", Scope::Namespaced);
metrics_kind!(NodeMetrics, "NodeMetrics", "nodes", Scope::Cluster);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_metrics_server_sends() {
        let pod: PodMetrics = serde_json::from_str(
            r#"{"kind":"PodMetrics","apiVersion":"metrics.k8s.io/v1beta1",
            "metadata":{"name":"web","namespace":"default","creationTimestamp":"2024-05-01T10:00:00Z","labels":{"app":"web"}},
            "timestamp":"2024-05-01T09:59:52Z","window":"10.028s",
            "containers":[{"name":"app","usage":{"cpu":"2034617n","memory":"12444Ki"}},
                          {"name":"side","usage":{"cpu":"1m","memory":"1Mi"}}]}"#,
        )
        .unwrap();
        assert_eq!(pod.name(), "web");
        assert_eq!(pod.labels().get("app").map(String::as_str), Some("web"));
        assert_eq!(pod.window, "10.028s");
        assert_eq!(pod.total("cpu").unwrap().to_string(), "3034617n");
        assert_eq!(pod.total("memory").unwrap().value(), 12444 * 1024 + 1024 * 1024);
        assert_eq!(pod.total("gpu"), None);
        let node: NodeMetrics = serde_json::from_str(
            r#"{"metadata":{"name":"n1"},"timestamp":"2024-05-01T09:59:52Z","window":"20s",
            "usage":{"cpu":"250m","memory":"1Gi"}}"#,
        )
        .unwrap();
        assert_eq!(node.usage["cpu"].milli_value(), 250);
        assert_eq!(<NodeMetrics as Resource>::SCOPE, Scope::Cluster);
        assert_eq!(<PodMetrics as Resource>::api_resource().api_version, "metrics.k8s.io/v1beta1");
    }
}
