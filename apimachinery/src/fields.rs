//! TODO(fields): being written.
