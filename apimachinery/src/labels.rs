//! TODO(labels): being written.
