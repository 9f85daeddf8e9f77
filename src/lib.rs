//! # rudder
//!
//! client-go for Rust: typed and dynamic Kubernetes clients, and the informer machinery
//! (Reflector -> DeltaFIFO -> Indexer, shared informers, listers, workqueues) that controllers
//! are built from. This crate re-exports the three layers:
//!
//! - [`apimachinery`]: types and algorithms, no I/O;
//! - [`client`]: configuration, transport, REST, typed ClientSet, DynamicClient, discovery;
//! - [`informer`]: reflectors, queues, caches, shared informers.

pub use rudder_apimachinery as apimachinery;
pub use rudder_client as client;
pub use rudder_informer as informer;

/// The README's Rust samples, compiled as doctests so they cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
