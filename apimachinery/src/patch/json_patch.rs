//! TODO(json_patch): being written.
