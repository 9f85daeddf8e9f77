//! # rudder-apimachinery
//!
//! The bottom layer of rudder, the Rust counterpart of `k8s.io/apimachinery`: identifiers
//! ([`schema`]), kind descriptions ([`resource`]), metadata access ([`meta`]), dynamic objects
//! ([`dynamic`]), exact-capacity JSON decoding ([`json`]), lists ([`list`]), watch events ([`watch`]), `Status` errors ([`status`]),
//! request options ([`options`]), label and field selectors ([`labels`], [`fields`]),
//! quantities ([`quantity`]), int-or-string ([`intstr`]), cache keys ([`keys`]), patches
//! ([`patch`]), Kubernetes' protobuf encoding ([`protobuf`]), admission webhook reviews
//! ([`admission`]) and the scheduling predicates of
//! `k8s.io/component-helpers` ([`scheduling`]: taints and tolerations, node selectors, pod requests).
//!
//! Custom resources from Rust types ([`crd`]): with the `derive` feature,
//! `#[derive(CustomResource)]` on a spec struct generates the kind, its `Resource` impl and
//! `Kind::crd()`, its CustomResourceDefinition with a structural schema; no need for the `rudder`
//! facade (depend on this crate, `k8s-openapi`, `serde` and `schemars`).
//!
//! It performs no I/O and needs no async runtime. Built-in kinds come from `k8s-openapi`; this
//! crate enables no version feature of it, so the final binary picks one.

#![warn(missing_docs)]

pub mod admission;
pub mod crd;
pub mod dynamic;
pub mod fields;
pub mod intstr;
pub mod json;
pub mod keys;
pub mod labels;
pub mod list;
pub mod meta;
pub mod metrics_api;
pub mod options;
pub mod patch;
pub mod protobuf;
pub mod quantity;
pub mod remotecommand;
pub mod resource;
pub mod scheduling;
pub mod schema;
pub mod status;
pub mod watch;

pub use dynamic::{DynamicList, DynamicObject};
pub use list::ObjectList;
pub use meta::{HasMetadata, ObjectMeta, PartialObjectMetadata, TypeMeta};
pub use options::{DeleteOptions, GetOptions, ListOptions, PatchOptions, WriteOptions};
pub use patch::Patch;
pub use resource::{ApiResource, Resource, Scope};
pub use schema::{GroupResource, GroupVersion, GroupVersionKind, GroupVersionResource};
pub use status::{ReasonKind, Status};
pub use watch::WatchEvent;

#[cfg(feature = "derive")]
pub use rudder_derive::CustomResource;
/// The `schemars` the derive uses: `#[derive(JsonSchema)]` on spec and status types must come
/// from this version (depend on it, or write `#[schemars(crate = "rudder_apimachinery::schemars")]`).
#[cfg(feature = "derive")]
pub use schemars;

/// What the code `#[derive(CustomResource)]` generates names (the facade re-exports this module
/// as `rudder::__private`); not a public API.
#[cfg(feature = "derive")]
#[doc(hidden)]
pub mod __private {
    pub use crate as rudder_apimachinery;
    pub use crate::crd::build::{build_crd, schema_of, CrdParts, PrinterColumn, Rule, ScalePaths};
    pub use crate::crd::CrdBuildError;
    pub use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    pub use serde;
}
