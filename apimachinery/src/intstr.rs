//! TODO(intstr): being written.
