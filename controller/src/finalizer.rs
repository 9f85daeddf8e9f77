//! Finalizers: make sure cleanup runs before an object goes away (kube-rs's
//! `runtime::finalizer`, controller-runtime's `controllerutil.AddFinalizer` pattern).
//!
//! Contract of [`finalizer`], given the cached object and a finalizer name:
//! - Not being deleted, finalizer absent: adds it (a merge patch carrying the object's
//!   resourceVersion), then runs [`FinalizerEvent::Apply`] on the patched object in the same call
//!   (the metadata-only change would not pass the primary kind's default predicate, so waiting
//!   for its event would wait forever). When the cached object was stale (409 Conflict), nothing
//!   runs and the result is a quiet [`Action::requeue_after`]`(`[`STALE_CACHE_REQUEUE`]`)`
//!   (logged at debug, not as a failed reconcile): the cache catches up meanwhile, and a
//!   change that bumped no generation would not bring an event through the default predicate.
//! - Not being deleted, finalizer present: runs `Apply`.
//! - Being deleted (deletionTimestamp set), finalizer present: runs [`FinalizerEvent::Cleanup`];
//!   when it succeeds, removes the finalizer (same optimistic merge patch) and returns its
//!   [`Action`]; when it fails, the finalizer stays and the error is returned (the controller
//!   retries with back-off). Cleanup must be idempotent: a stale cache can run it again after
//!   the object is gone, and then the 404 on removing the finalizer counts as done.
//! - Being deleted, finalizer absent: nothing to do, [`Action::done`].
//! - Every failure is a [`FinalizerError`] saying which step failed.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::json;

use rudder_apimachinery::meta::HasMetadata;
use rudder_apimachinery::options::PatchOptions;
use rudder_apimachinery::patch::Patch;
use rudder_apimachinery::resource::Resource;
use rudder_client::api::Api;
use rudder_client::Client;

use crate::action::Action;

/// How soon [`finalizer`] asks for another reconcile after adding the finalizer met a stale
/// cache (409 Conflict).
pub const STALE_CACHE_REQUEUE: Duration = Duration::from_millis(200);

/// What the reconcile passed to [`finalizer`] must do.
#[derive(Debug)]
pub enum FinalizerEvent<K> {
    /// The object lives: bring the world in line with it.
    Apply(Arc<K>),
    /// The object is being deleted: release what it holds (idempotently: this may run again).
    Cleanup(Arc<K>),
}

/// Why [`finalizer`] failed.
#[derive(Debug, thiserror::Error)]
pub enum FinalizerError<E> {
    /// The `Apply` reconcile failed.
    #[error("apply failed: {0}")]
    ApplyFailed(#[source] E),
    /// The `Cleanup` reconcile failed; the finalizer stays.
    #[error("cleanup failed: {0}")]
    CleanupFailed(#[source] E),
    /// Adding the finalizer failed (a 409 Conflict from a stale cache is not an error: see
    /// the module docs).
    #[error("adding finalizer failed: {0}")]
    AddFinalizer(#[source] rudder_client::Error),
    /// Removing the finalizer failed (409 Conflict when the object changed meanwhile).
    #[error("removing finalizer failed: {0}")]
    RemoveFinalizer(#[source] rudder_client::Error),
    /// The object has no name or no resourceVersion, so it cannot be patched safely.
    #[error("object has no {0}")]
    MissingMetadata(&'static str),
    /// The finalizer name is empty.
    #[error("finalizer name is empty")]
    EmptyName,
}

/// Runs `reconcile` with the finalizer `name` kept on `obj`; see the module docs.
pub async fn finalizer<K, F, Fut, E>(
    client: &Client,
    name: &str,
    obj: Arc<K>,
    reconcile: F,
) -> Result<Action, FinalizerError<E>>
where
    K: Resource + HasMetadata + DeserializeOwned + 'static,
    F: FnOnce(FinalizerEvent<K>) -> Fut,
    Fut: Future<Output = Result<Action, E>>,
{
    if name.is_empty() {
        return Err(FinalizerError::EmptyName);
    }
    let has = obj.finalizers().iter().any(|f| f == name);
    let deleting = obj.deletion_timestamp().is_some();
    match (deleting, has) {
        (true, false) => Ok(Action::done()),
        (false, true) => reconcile(FinalizerEvent::Apply(obj)).await.map_err(FinalizerError::ApplyFailed),
        (false, false) => {
            let mut finalizers = obj.finalizers().to_vec();
            finalizers.push(name.to_owned());
            let patched = match patch_finalizers(client, &*obj, finalizers).await {
                Ok(patched) => patched,
                Err(PatchError::Api(e)) if e.is_conflict() => {
                    tracing::debug!(
                        object = obj.name(),
                        finalizer = name,
                        "adding the finalizer met a stale cache (409); reconciling again shortly"
                    );
                    return Ok(Action::requeue_after(STALE_CACHE_REQUEUE));
                }
                Err(PatchError::Api(e)) => return Err(FinalizerError::AddFinalizer(e)),
                Err(PatchError::Missing(m)) => return Err(FinalizerError::MissingMetadata(m)),
            };
            reconcile(FinalizerEvent::Apply(Arc::new(patched))).await.map_err(FinalizerError::ApplyFailed)
        }
        (true, true) => {
            let action =
                reconcile(FinalizerEvent::Cleanup(obj.clone())).await.map_err(FinalizerError::CleanupFailed)?;
            let finalizers: Vec<String> = obj.finalizers().iter().filter(|f| *f != name).cloned().collect();
            match patch_finalizers(client, &*obj, finalizers).await {
                Ok(_) => Ok(action),
                // Already gone (an earlier reconcile, seen through a stale cache, removed the
                // last finalizer): what this cleanup was for has happened.
                Err(PatchError::Api(e)) if e.is_not_found() => Ok(action),
                Err(PatchError::Api(e)) => Err(FinalizerError::RemoveFinalizer(e)),
                Err(PatchError::Missing(m)) => Err(FinalizerError::MissingMetadata(m)),
            }
        }
    }
}

enum PatchError {
    Api(rudder_client::Error),
    Missing(&'static str),
}

/// Sets `metadata.finalizers` with a merge patch that fails with 409 if `obj` is stale.
async fn patch_finalizers<K>(client: &Client, obj: &K, finalizers: Vec<String>) -> Result<K, PatchError>
where
    K: Resource + HasMetadata + DeserializeOwned + 'static,
{
    let name = Some(obj.name()).filter(|n| !n.is_empty()).ok_or(PatchError::Missing("name"))?;
    let rv = obj.resource_version().filter(|v| !v.is_empty()).ok_or(PatchError::Missing("resourceVersion"))?;
    let api = match obj.namespace() {
        Some(ns) => Api::<K>::namespaced(client.clone(), ns),
        None => Api::<K>::all(client.clone()),
    };
    let patch = Patch::Merge(json!({"metadata": {"resourceVersion": rv, "finalizers": finalizers}}));
    api.patch(name, &PatchOptions::default(), &patch).await.map_err(PatchError::Api)
}
