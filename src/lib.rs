//! # rudder
//!
//! client-go for Rust: typed and dynamic Kubernetes clients, and the informer machinery
//! (Reflector -> DeltaFIFO -> Indexer, shared informers, listers, workqueues) that controllers
//! are built from, and the reconcile runtime on top. This crate re-exports the four layers:
//!
//! - [`apimachinery`]: types and algorithms, no I/O;
//! - [`client`]: configuration, transport, REST, typed ClientSet, DynamicClient, discovery;
//! - [`informer`]: reflectors, queues, caches, shared informers;
//! - [`controller`]: the reconcile runtime (controllers, predicates, finalizers, retries).
//!
//! And [`crd`]: install a CustomResourceDefinition and wait until it is served; with the
//! `derive` feature, `CustomResource` derives a custom resource type and its CRD from a Rust
//! spec struct.

pub use rudder_apimachinery as apimachinery;
pub use rudder_client as client;
pub use rudder_controller as controller;
pub use rudder_informer as informer;

pub mod crd;

/// The `schemars` the derive uses: `#[derive(JsonSchema)]` on spec and status types must come
/// from this version (depend on it, or write `#[schemars(crate = "rudder::schemars")]`).
#[cfg(feature = "derive")]
pub use rudder_apimachinery::schemars;
#[cfg(feature = "derive")]
pub use rudder_apimachinery::CustomResource;

/// What the code `#[derive(CustomResource)]` generates names: apimachinery's hidden module, so
/// the derive works the same through the facade and through `rudder-apimachinery`.
#[cfg(feature = "derive")]
#[doc(hidden)]
pub use rudder_apimachinery::__private;

/// The README's Rust samples, compiled as doctests so they cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
