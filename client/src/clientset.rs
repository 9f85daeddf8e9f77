//! [`ClientSet`]: client-go's typed clientset, spelled the same way
//! (`cs.core_v1().pods("ns")`, `cs.apps_v1().deployments("ns")`, `cs.core_v1().nodes()`), for
//! every built-in kind of the k8s-openapi version in use.
//!
//! Contract:
//! - Generated from the [`for_each_builtin!`](crate::for_each_builtin) table, so it covers
//!   exactly the kinds the embedded API server serves. Each group version is a module
//!   (`clientset::apps_v1`) holding a [`GroupClient`](apps_v1::GroupClient) whose methods
//!   return [`Api<K>`](crate::api::Api), the one generic implementation of every verb.
//! - Namespaced kinds take the namespace (`pods("ns")`); cluster-scoped kinds take nothing
//!   (`nodes()`). Which form a kind gets is checked at compile time against its
//!   `Resource::SCOPE`: a kind whose scope disagrees with its accessor form fails the build.
//! - Every handle is cheap: it holds a clone of the [`Client`].

use crate::client::Client;

/// Typed access to every built-in group version. Clone freely.
#[derive(Clone, Debug)]
pub struct ClientSet {
    client: Client,
}

impl ClientSet {
    /// A clientset over `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Emits one accessor: the no-namespace form for the cluster-scoped kinds listed here, the
/// namespaced form for every other kind; both assert the kind's scope at compile time.
macro_rules! __clientset_accessor {
    // Cluster-scoped built-in kinds, by accessor name.
    (@cluster $acc:ident $ty:path) => {
        #[doc = concat!("Cluster-scoped `", stringify!($ty), "` objects.")]
        pub fn $acc(&self) -> Api<$ty> {
            const _: () = assert!(
                matches!(<$ty as rudder_apimachinery::Resource>::SCOPE, rudder_apimachinery::Scope::Cluster),
                concat!(stringify!($ty), " is namespaced: remove it from the cluster-scoped accessor list")
            );
            Api::all(self.client.clone())
        }
    };
    (@namespaced $acc:ident $ty:path) => {
        #[doc = concat!("`", stringify!($ty), "` objects in `namespace` (all namespaces: `Api::all`).")]
        pub fn $acc(&self, namespace: &str) -> Api<$ty> {
            const _: () = assert!(
                matches!(<$ty as rudder_apimachinery::Resource>::SCOPE, rudder_apimachinery::Scope::Namespaced),
                concat!(stringify!($ty), " is cluster-scoped: add its accessor to the cluster-scoped list")
            );
            Api::namespaced(self.client.clone(), namespace)
        }
    };
    (component_statuses $ty:path) => { __clientset_accessor!(@cluster component_statuses $ty); };
    (namespaces $ty:path) => { __clientset_accessor!(@cluster namespaces $ty); };
    (nodes $ty:path) => { __clientset_accessor!(@cluster nodes $ty); };
    (persistent_volumes $ty:path) => { __clientset_accessor!(@cluster persistent_volumes $ty); };
    (mutating_webhook_configurations $ty:path) => { __clientset_accessor!(@cluster mutating_webhook_configurations $ty); };
    (validating_webhook_configurations $ty:path) => { __clientset_accessor!(@cluster validating_webhook_configurations $ty); };
    (validating_admission_policies $ty:path) => { __clientset_accessor!(@cluster validating_admission_policies $ty); };
    (validating_admission_policy_bindings $ty:path) => { __clientset_accessor!(@cluster validating_admission_policy_bindings $ty); };
    (mutating_admission_policies $ty:path) => { __clientset_accessor!(@cluster mutating_admission_policies $ty); };
    (mutating_admission_policy_bindings $ty:path) => { __clientset_accessor!(@cluster mutating_admission_policy_bindings $ty); };
    (custom_resource_definitions $ty:path) => { __clientset_accessor!(@cluster custom_resource_definitions $ty); };
    (api_services $ty:path) => { __clientset_accessor!(@cluster api_services $ty); };
    (certificate_signing_requests $ty:path) => { __clientset_accessor!(@cluster certificate_signing_requests $ty); };
    (cluster_trust_bundles $ty:path) => { __clientset_accessor!(@cluster cluster_trust_bundles $ty); };
    (flow_schemas $ty:path) => { __clientset_accessor!(@cluster flow_schemas $ty); };
    (priority_level_configurations $ty:path) => { __clientset_accessor!(@cluster priority_level_configurations $ty); };
    (storage_versions $ty:path) => { __clientset_accessor!(@cluster storage_versions $ty); };
    (storage_version_migrations $ty:path) => { __clientset_accessor!(@cluster storage_version_migrations $ty); };
    (ip_addresses $ty:path) => { __clientset_accessor!(@cluster ip_addresses $ty); };
    (ingress_classes $ty:path) => { __clientset_accessor!(@cluster ingress_classes $ty); };
    (service_cidrs $ty:path) => { __clientset_accessor!(@cluster service_cidrs $ty); };
    (runtime_classes $ty:path) => { __clientset_accessor!(@cluster runtime_classes $ty); };
    (cluster_roles $ty:path) => { __clientset_accessor!(@cluster cluster_roles $ty); };
    (cluster_role_bindings $ty:path) => { __clientset_accessor!(@cluster cluster_role_bindings $ty); };
    (device_taint_rules $ty:path) => { __clientset_accessor!(@cluster device_taint_rules $ty); };
    (device_classes $ty:path) => { __clientset_accessor!(@cluster device_classes $ty); };
    (resource_slices $ty:path) => { __clientset_accessor!(@cluster resource_slices $ty); };
    (priority_classes $ty:path) => { __clientset_accessor!(@cluster priority_classes $ty); };
    (csi_drivers $ty:path) => { __clientset_accessor!(@cluster csi_drivers $ty); };
    (csi_nodes $ty:path) => { __clientset_accessor!(@cluster csi_nodes $ty); };
    (storage_classes $ty:path) => { __clientset_accessor!(@cluster storage_classes $ty); };
    (volume_attachments $ty:path) => { __clientset_accessor!(@cluster volume_attachments $ty); };
    (volume_attributes_classes $ty:path) => { __clientset_accessor!(@cluster volume_attributes_classes $ty); };
    (self_subject_access_reviews $ty:path) => { __clientset_accessor!(@cluster self_subject_access_reviews $ty); };
    ($acc:ident $ty:path) => { __clientset_accessor!(@namespaced $acc $ty); };
}

/// Emits the module of one group version with its accessors, and the `ClientSet` method.
macro_rules! __clientset_emit {
    ($gv:ident [$($ty:path as $acc:ident;)*]) => {
        #[doc = concat!("The `", stringify!($gv), "` group version.")]
        pub mod $gv {
            use crate::api::Api;
            use crate::client::Client;

            #[doc = concat!("Accessors for the `", stringify!($gv), "` group version's kinds.")]
            #[derive(Clone, Debug)]
            pub struct GroupClient {
                pub(crate) client: Client,
            }

            impl GroupClient {
                $( __clientset_accessor!($acc $ty); )*
            }
        }

        impl ClientSet {
            #[doc = concat!("The `", stringify!($gv), "` group version.")]
            pub fn $gv(&self) -> $gv::GroupClient {
                $gv::GroupClient { client: self.client.clone() }
            }
        }
    };
}

/// Groups consecutive table rows by group version. Each group defines a comparator macro whose
/// only literal arm is its group version's name, which decides whether the next row continues
/// the group (macro_rules cannot compare two identifiers directly).
macro_rules! __clientset_groups {
    (($d:tt)) => {};
    (($d:tt) $gv:ident => $ty:path as $acc:ident; $($rest:tt)*) => {
        macro_rules! __clientset_same_group {
            ([$d($d rows:tt)*] $gv => $d next:path as $d nacc:ident; $d($d more:tt)*) => {
                __clientset_same_group!([$d($d rows)* $d next as $d nacc;] $d($d more)*);
            };
            ([$d($d rows:tt)*] $d($d more:tt)*) => {
                __clientset_emit!($gv [$d($d rows)*]);
                __clientset_groups!(($d) $d($d more)*);
            };
        }
        __clientset_same_group!([$ty as $acc;] $($rest)*);
    };
}

macro_rules! __clientset_table {
    ($($rows:tt)*) => {
        __clientset_groups!(($) $($rows)*);
    };
}

crate::for_each_builtin!(__clientset_table);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Api;
    use crate::Config;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Event, Node, Pod};
    use rudder_apimachinery::Resource;

    fn cs() -> ClientSet {
        ClientSet::new(Client::new(Config::new("http://127.0.0.1:1".parse().unwrap())).unwrap())
    }

    #[test]
    fn accessors_read_like_client_go() {
        let cs = cs();
        let pods: Api<Pod> = cs.core_v1().pods("ns");
        assert_eq!(pods.namespace(), Some("ns"));
        assert_eq!(pods.resource().plural, "pods");
        let nodes: Api<Node> = cs.core_v1().nodes();
        assert_eq!(nodes.namespace(), None);
        let d: Api<Deployment> = cs.apps_v1().deployments("web");
        assert_eq!(d.resource().group, "apps");
        let lease = cs.coordination_v1().leases("kube-system");
        assert_eq!(lease.resource().kind, "Lease");
        // Same accessor name in two groups gives two different kinds.
        let core_events: Api<Event> = cs.core_v1().events("ns");
        let ev = cs.events_v1().events("ns");
        assert_ne!(core_events.resource().group, ev.resource().group);
        assert_eq!(cs.autoscaling_v2().horizontal_pod_autoscalers("ns").resource().version, "v2");
        assert_eq!(cs.rbac_v1().cluster_roles().namespace(), None);
        assert_eq!(cs.apiextensions_v1().custom_resource_definitions().resource().plural, "customresourcedefinitions");
        assert_eq!(Pod::PLURAL, "pods");
    }
}
