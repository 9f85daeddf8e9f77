//! # rudder-apimachinery
//!
//! The bottom layer of rudder, the Rust counterpart of `k8s.io/apimachinery`: identifiers
//! ([`schema`]), kind descriptions ([`resource`]), metadata access ([`meta`]), dynamic objects
//! ([`dynamic`]), exact-capacity JSON decoding ([`json`]), lists ([`list`]), watch events ([`watch`]), `Status` errors ([`status`]),
//! request options ([`options`]), label and field selectors ([`labels`], [`fields`]),
//! quantities ([`quantity`]), int-or-string ([`intstr`]), cache keys ([`keys`]), patches
//! ([`patch`]), Kubernetes' protobuf encoding ([`protobuf`]) and the scheduling predicates of
//! `k8s.io/component-helpers` ([`scheduling`]: taints and tolerations, node selectors, pod requests).
//!
//! It performs no I/O and needs no async runtime. Built-in kinds come from `k8s-openapi`; this
//! crate enables no version feature of it, so the final binary picks one.

#![warn(missing_docs)]

pub mod admission;
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
