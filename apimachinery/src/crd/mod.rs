//! CustomResourceDefinitions built from Rust types, without I/O.
//!
//! Contract:
//! - [`merge_versions`] joins the single-version CRDs of one kind (what `Kind::crd()` of
//!   `#[derive(CustomResource)]` returns for each version) into one CRD with exactly one storage
//!   version, or fails with [`CrdBuildError::Versions`].
//! - With the `derive` feature, `#[derive(CustomResource)]` (re-exported as
//!   `rudder_apimachinery::CustomResource`) generates `Kind::crd()`, which builds the CRD of one
//!   version with a schema made structural by the `schema` submodule, or fails with
//!   [`CrdBuildError::NotStructural`] (a type with no structural form, such as a recursive one).
//! - Installing a CRD and waiting until it is served needs a client: see the facade's
//!   `rudder::crd::{apply_crd, wait_established}`, whose `CrdError` wraps [`CrdBuildError`].

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

#[cfg(feature = "derive")]
pub(crate) mod build;
#[cfg(feature = "derive")]
pub mod schema;

/// Why a CRD could not be built from Rust types or merged from versions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrdBuildError {
    /// A type's schema cannot be made structural (see the apiextensions docs on structural
    /// schemas); `path` is where in the schema, e.g. `.spec.properties.items`.
    #[error("the schema of {kind} is not structural at {path}: {reason}")]
    NotStructural {
        /// The kind whose schema it is.
        kind: String,
        /// Where in the schema.
        path: String,
        /// What is wrong there.
        reason: String,
    },
    /// The generated CRD does not encode or decode as a `CustomResourceDefinition`.
    #[error("the generated CustomResourceDefinition of {kind} is invalid: {reason}")]
    Invalid {
        /// The kind.
        kind: String,
        /// What the encoder or decoder said.
        reason: String,
    },
    /// The CRDs given to [`merge_versions`] do not describe versions of one kind.
    #[error("cannot merge CRD versions: {0}")]
    Versions(String),
}

/// Joins single- or multi-version CRDs of one kind into one CRD serving every version, with
/// `storage` the one storage version. Group, scope and names must agree (the first CRD's names,
/// metadata and conversion are kept); a version given twice is an error.
pub fn merge_versions(
    crds: impl IntoIterator<Item = CustomResourceDefinition>,
    storage: &str,
) -> Result<CustomResourceDefinition, CrdBuildError> {
    let mut crds = crds.into_iter();
    let mut merged = crds.next().ok_or_else(|| CrdBuildError::Versions("no CRD given".into()))?;
    for crd in crds {
        let (a, b) = (&merged.spec, &crd.spec);
        if a.group != b.group || a.scope != b.scope || a.names.kind != b.names.kind || a.names.plural != b.names.plural
        {
            return Err(CrdBuildError::Versions(format!(
                "{}/{} ({}) and {}/{} ({}) are not the same kind",
                a.group, a.names.kind, a.scope, b.group, b.names.kind, b.scope
            )));
        }
        for v in crd.spec.versions {
            if merged.spec.versions.iter().any(|m| m.name == v.name) {
                return Err(CrdBuildError::Versions(format!("version {} is given twice", v.name)));
            }
            merged.spec.versions.push(v);
        }
    }
    if !merged.spec.versions.iter().any(|v| v.name == storage) {
        return Err(CrdBuildError::Versions(format!("the storage version {storage} is not among the versions")));
    }
    for v in &mut merged.spec.versions {
        v.storage = v.name == storage;
    }
    Ok(merged)
}
