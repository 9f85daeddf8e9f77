//! TODO(merge_patch): being written.
