//! TODO(quantity): being written.
