//! # rudder-informer
//!
//! client-go's `tools/cache` for Rust.

#![warn(missing_docs)]

pub mod backoff;
pub mod list_watch;
pub mod processor;
pub mod reflector;
