//! What one request may cost the embedded API server, with kube-apiserver's limits and answers.
//!
//! Contract:
//! - A request body over [`MAX_BODY`] (3 MiB, kube-apiserver's `MaxRequestBodyBytes`) is not read
//!   further and gets 413 `Request entity too large: limit is 3145728`.
//! - A JSON patch of more than [`MAX_JSON_PATCH_OPERATIONS`] operations gets 413 `Request entity
//!   too large: The allowed maximum operations in a JSON patch is 10000, got N`; one whose
//!   `copy` operations copy more than [`JSON_PATCH_MAX_COPY_BYTES`] together fails like any
//!   patch that does not apply (422 Invalid, no causes), before the copies are made.
//! - An object whose stored JSON is larger than [`MAX_OBJECT_BYTES`] (etcd's default
//!   `--max-request-bytes`, 1.5 MiB) is not stored: the write is retried without
//!   `metadata.managedFields` (except for server-side apply, as the real server does) and
//!   otherwise gets etcd's 500 `etcdserver: request is too large`. Dry runs never reach storage
//!   and are not limited.
//! - A watcher may have at most the server's watch queue limit of events waiting (see
//!   `ApiServerBuilder::watch_queue_limit`, default [`DEFAULT_WATCH_QUEUE`]); the one that falls
//!   further behind is closed, its queue freed, and its stream ends (the real server terminates
//!   watchers that cannot keep up the same way, without an ERROR event).

use rudder_apimachinery::patch::json_patch::{self, ApplyOptions};
use rudder_apimachinery::status::{ReasonKind, Status, StatusDetails};
use serde_json::Value;

use super::errors::{ApiError, ApiResult};
use super::store::Obj;

/// The largest request body read (kube-apiserver's default `MaxRequestBodyBytes`).
pub const MAX_BODY: usize = 3 * 1024 * 1024;
/// The largest object stored (etcd's default `--max-request-bytes`).
pub const MAX_OBJECT_BYTES: usize = 1_572_864;
/// The most operations a JSON patch may have (k8s.io/apiserver's `maxJSONPatchOperations`).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;
/// The most bytes the `copy` operations of one JSON patch may copy (`JSONPatchMaxCopyBytes`).
pub const JSON_PATCH_MAX_COPY_BYTES: usize = json_patch::DEFAULT_MAX_COPY_BYTES;
/// How many events a watcher may have queued by default before it is closed.
pub const DEFAULT_WATCH_QUEUE: usize = 100_000;

/// Applies a JSON patch to `doc` within the limits above.
pub fn json_patch(doc: &Value, patch: &Value) -> ApiResult<Value> {
    if let Some(ops) = patch.as_array() {
        if ops.len() > MAX_JSON_PATCH_OPERATIONS {
            return Err(too_large_request(&format!(
                "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
                ops.len()
            )));
        }
    }
    let mut out = doc.clone();
    let options = ApplyOptions { max_copy_bytes: Some(JSON_PATCH_MAX_COPY_BYTES) };
    json_patch::apply_with(&mut out, patch, &options).map_err(|e| {
        tracing::debug!("embedded API server: JSON patch failed: {e}");
        // kube-apiserver wraps the library's error without passing it on.
        ApiError::from(
            Status::failure(422, ReasonKind::Invalid, "the server rejected our request due to an error in our request")
                .with_details(StatusDetails::default()),
        )
    })?;
    Ok(out)
}

/// 413 RequestEntityTooLarge with kube-apiserver's wording.
pub fn too_large_request(why: &str) -> ApiError {
    let mut s = Status::failure(413, ReasonKind::Unknown, format!("Request entity too large: {why}"));
    s.reason = "RequestEntityTooLarge".into();
    s.into()
}

/// The answer to a body over [`MAX_BODY`].
pub fn too_large_body() -> ApiError {
    too_large_request(&format!("limit is {MAX_BODY}"))
}

/// Makes sure `obj` (the encoding of `v`) fits in storage: when it does not and
/// `may_drop_managed_fields`, `v` loses its managedFields and is encoded again with `encode`.
pub fn fit_in_storage(
    obj: Obj,
    v: &mut Value,
    may_drop_managed_fields: bool,
    encode: impl Fn(&Value) -> Obj,
) -> ApiResult<Obj> {
    if obj.body.len() <= MAX_OBJECT_BYTES {
        return Ok(obj);
    }
    if may_drop_managed_fields {
        let dropped =
            v.get_mut("metadata").and_then(Value::as_object_mut).is_some_and(|m| m.remove("managedFields").is_some());
        if dropped {
            let again = encode(v);
            if again.body.len() <= MAX_OBJECT_BYTES {
                return Ok(again);
            }
        }
    }
    // etcd's gRPC error reaches the client as is: a 500 without a reason.
    Err(ApiError::internal_no_reason("etcdserver: request is too large"))
}
