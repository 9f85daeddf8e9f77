//! CustomResourceDefinitions: install one, wait until it is served, merge versions.
//!
//! Contract:
//! - [`apply_crd`] server-side applies a CRD as the given field manager, forcing ownership of
//!   conflicting fields (the program that defines a CRD owns its definition), and returns the
//!   CRD as stored.
//! - [`wait_established`] returns the CRD once its `Established` condition is `True`, fails at
//!   once when `NamesAccepted` is `False` (the names clash with another CRD: waiting cannot help),
//!   and fails with [`CrdError::Timeout`] when `timeout` passes first; the whole wait, every
//!   request and watch included, is bounded by `timeout`. It watches the one CRD (field selector
//!   on its name) and, when a watch ends, lists again 100 ms later.
//! - Building CRDs needs no client and lives in `rudder_apimachinery::crd`, re-exported here:
//!   [`merge_versions`] joins the single-version CRDs of one kind into one CRD with exactly one
//!   storage version; with the `derive` feature, `#[derive(CustomResource)]`
//!   (`rudder::CustomResource`) builds a CRD whose schema is made structural by `schema` (feature `derive`). Both
//!   fail with [`CrdBuildError`], which [`CrdError::Build`] wraps.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use rudder_apimachinery::options::{ListOptions, PatchOptions};
use rudder_apimachinery::{HasMetadata, Patch, WatchEvent};
use rudder_client::api::Api;
use rudder_client::Client;

#[cfg(feature = "derive")]
pub use rudder_apimachinery::crd::schema;
pub use rudder_apimachinery::crd::{merge_versions, CrdBuildError};

/// Why a CRD could not be built, installed or waited for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrdError {
    /// Building the CRD failed (a schema that cannot be structural, versions that do not merge).
    #[error(transparent)]
    Build(#[from] CrdBuildError),
    /// The CRD has no `metadata.name`.
    #[error("the CustomResourceDefinition has no metadata.name")]
    NoName,
    /// The API server refused or failed a request.
    #[error(transparent)]
    Api(#[from] rudder_client::Error),
    /// The names of the CRD were not accepted (`NamesAccepted` is `False`).
    #[error("CustomResourceDefinition {name}: names not accepted: {message}")]
    NamesNotAccepted {
        /// The CRD's name.
        name: String,
        /// The condition's reason and message.
        message: String,
    },
    /// The CRD was not established within the timeout.
    #[error("CustomResourceDefinition {name} not established within {timeout:?}")]
    Timeout {
        /// The CRD's name.
        name: String,
        /// The timeout that passed.
        timeout: Duration,
    },
}

/// Server-side applies `crd` as `field_manager` (forcing conflicts: see the module docs) and
/// returns it as stored. Follow with [`wait_established`] before using the new kind.
pub async fn apply_crd(
    client: &Client,
    crd: &CustomResourceDefinition,
    field_manager: &str,
) -> Result<CustomResourceDefinition, CrdError> {
    let name = crd.metadata.name.as_deref().filter(|n| !n.is_empty()).ok_or(CrdError::NoName)?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let body = serde_json::to_value(crd)
        .map_err(|e| CrdBuildError::Invalid { kind: crd.spec.names.kind.clone(), reason: e.to_string() })?;
    Ok(api.patch(name, &PatchOptions::apply(field_manager).force(), &Patch::Apply(body)).await?)
}

/// What a CRD's conditions say.
enum State {
    Established,
    Rejected(String),
    Pending,
}

fn state(crd: &CustomResourceDefinition) -> State {
    let conditions = crd.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    let find = |t: &str| conditions.iter().find(|c| c.type_ == t);
    if let Some(c) = find("NamesAccepted").filter(|c| c.status == "False") {
        let reason = c.reason.as_deref().unwrap_or_default();
        let message = c.message.as_deref().unwrap_or_default();
        return State::Rejected(format!("{reason}: {message}"));
    }
    match find("Established") {
        Some(c) if c.status == "True" => State::Established,
        _ => State::Pending,
    }
}

/// Waits until the CRD named `name` is established; see the module docs.
pub async fn wait_established(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> Result<CustomResourceDefinition, CrdError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let selector = format!("metadata.name={name}");
    let wait = async {
        loop {
            let list = api.list(&ListOptions::default().fields(selector.clone())).await?;
            if let Some(found) = list.items.iter().find(|c| c.name() == name) {
                match state(found) {
                    State::Established => return Ok(found.clone()),
                    State::Rejected(message) => return Err(CrdError::NamesNotAccepted { name: name.into(), message }),
                    State::Pending => {}
                }
            }
            let opts = ListOptions {
                resource_version: Some(list.metadata.resource_version.clone().unwrap_or_default()),
                allow_watch_bookmarks: true,
                ..ListOptions::default().fields(selector.clone())
            };
            let mut events = api.watch(&opts).await?;
            // A watch that ends (server timeout, 410 Gone, a dropped connection) is followed by a
            // fresh list: the deadline around this loop bounds the retries.
            while let Some(Ok(event)) = events.next().await {
                let crd = match event {
                    WatchEvent::Added(c) | WatchEvent::Modified(c) => c,
                    WatchEvent::Error(_) => break,
                    WatchEvent::Deleted(_) | WatchEvent::Bookmark(_) => continue,
                };
                match state(&crd) {
                    State::Established => return Ok(crd),
                    State::Rejected(message) => return Err(CrdError::NamesNotAccepted { name: name.into(), message }),
                    State::Pending => {}
                }
            }
            // Do not spin on a server that ends every watch at once.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(result) => result,
        Err(_) => Err(CrdError::Timeout { name: name.into(), timeout }),
    }
}
