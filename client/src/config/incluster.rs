//! TODO(config helper): in-cluster configuration.
