//! STUB — the patch helper replaces this file. The public API below is the agreed contract.

/// A JSON Patch that could not be applied; names the operation index and reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JSON patch operation {index}: {message}")]
pub struct JsonPatchError {
    /// Index of the failing operation.
    pub index: usize,
    /// Why it failed.
    pub message: String,
}

/// Applies an RFC 6902 patch (a JSON array of operations) to `doc`, atomically: on error `doc`
/// is left unchanged.
pub fn apply(_doc: &mut serde_json::Value, _patch: &serde_json::Value) -> Result<(), JsonPatchError> {
    Err(JsonPatchError { index: 0, message: "not implemented yet".into() })
}
