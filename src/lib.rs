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

pub use rudder_apimachinery as apimachinery;
pub use rudder_client as client;
pub use rudder_controller as controller;
pub use rudder_informer as informer;

/// The README's Rust samples, compiled as doctests so they cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
