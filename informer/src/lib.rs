//! # rudder-informer
//!
//! client-go's `tools/cache` for Rust. Being written.
