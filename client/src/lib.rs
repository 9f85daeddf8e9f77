//! # rudder-client
//!
//! Talks to a Kubernetes API server the way client-go does: configuration from kubeconfig or
//! the in-cluster service account ([`config`]), a pooled HTTP/2 transport with TLS, auth, rate
//! limiting and retries ([`transport`]), the [`Client`] that executes requests, pure request
//! building ([`request`]), typed access to any kind ([`api`]) and client-go-style group
//! accessors ([`clientset`]), the [`dynamic`] client, [`discovery`], a [`restmapper`], the
//! list [`pager`], incremental list and watch decoding ([`decode`]), and exec, attach,
//! port-forward and cp into pods ([`remote`]).
//!
//! The embedded API server that tests, examples and benchmarks run against is its own crate,
//! `rudder-apiserver`.

#![warn(missing_docs)]

#[macro_use]
mod builtins;

pub mod api;
pub mod client;
pub mod clientset;
pub mod config;
pub mod decode;
pub mod discovery;
pub mod dynamic;
pub mod error;
pub mod metrics;
pub mod pager;
pub mod remote;
pub mod request;
pub mod restmapper;
pub mod transport;

pub use client::{Client, ObjectOrStatus};
pub use config::Config;
pub use error::{Error, Result};

/// Re-export of the apimachinery crate, so users need one dependency.
pub use rudder_apimachinery as apimachinery;
