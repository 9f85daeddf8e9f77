//! STUB — the patch helper replaces this file. The public API below is the agreed contract.

/// Applies an RFC 7386 merge patch to `target`.
pub fn apply(target: &mut serde_json::Value, patch: &serde_json::Value) {
    *target = patch.clone();
}

/// Creates the merge patch that turns `original` into `modified`.
pub fn create(_original: &serde_json::Value, modified: &serde_json::Value) -> serde_json::Value {
    modified.clone()
}
