//! TODO(config helper): kubeconfig loading and merging.
