//! TODO(server helpers): the embedded API server.

pub mod registry;
