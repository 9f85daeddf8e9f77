//! ownerReference builders (controller-runtime's `controllerutil.SetControllerReference` and
//! `SetOwnerReference`).
//!
//! Contract:
//! - [`controller_reference`] builds the reference a controller puts on what it creates:
//!   `controller: true`, `blockOwnerDeletion: true` (foreground deletion waits for the object).
//!   [`owner_reference`] builds a plain one (neither set).
//! - Both need the owner's name and uid (objects read from the API server have them); a missing
//!   one is an [`OwnerError`].
//! - [`set_controller_reference`] adds or updates the controller reference on an object, and
//!   refuses (typed error) when another object already controls it, when a namespaced owner is
//!   in another namespace, or when a namespaced owner would own a cluster-scoped object (the
//!   garbage collector would delete such objects at once).

use rudder_apimachinery::meta::{HasMetadata, OwnerReference};
use rudder_apimachinery::resource::{Resource, Scope};

/// Why an owner reference cannot be built or set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnerError {
    /// The owner lacks `metadata.name` or `metadata.uid` (it was not read from the server).
    #[error("owner {kind} has no {field}")]
    MissingMetadata {
        /// The owner's kind.
        kind: &'static str,
        /// `name` or `uid`.
        field: &'static str,
    },
    /// Another object already has `controller: true` on the object.
    #[error("object is already controlled by {kind} {name}")]
    AlreadyControlled {
        /// The existing controller's kind.
        kind: String,
        /// The existing controller's name.
        name: String,
    },
    /// The owner's scope or namespace cannot own the object.
    #[error("{0}")]
    InvalidScope(String),
}

/// A plain reference to `owner` (no `controller`, no `blockOwnerDeletion`).
pub fn owner_reference<K: Resource + HasMetadata>(owner: &K) -> Result<OwnerReference, OwnerError> {
    let name = Some(owner.name()).filter(|n| !n.is_empty());
    let name = name.ok_or(OwnerError::MissingMetadata { kind: K::KIND, field: "name" })?;
    let uid =
        owner.uid().filter(|u| !u.is_empty()).ok_or(OwnerError::MissingMetadata { kind: K::KIND, field: "uid" })?;
    Ok(OwnerReference {
        api_version: K::API_VERSION.to_owned(),
        kind: K::KIND.to_owned(),
        name: name.to_owned(),
        uid: uid.to_owned(),
        controller: None,
        block_owner_deletion: None,
    })
}

/// The reference a controller sets on what it creates (`controller: true`,
/// `blockOwnerDeletion: true`).
pub fn controller_reference<K: Resource + HasMetadata>(owner: &K) -> Result<OwnerReference, OwnerError> {
    let mut r = owner_reference(owner)?;
    r.controller = Some(true);
    r.block_owner_deletion = Some(true);
    Ok(r)
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Makes `owner` the controller of `obj` (see the module docs); a reference to the same owner
/// (kind, group and name) is replaced, so a re-created owner's new uid is taken over.
pub fn set_controller_reference<K: Resource + HasMetadata, T: Resource + HasMetadata>(
    owner: &K,
    obj: &mut T,
) -> Result<(), OwnerError> {
    let r = controller_reference(owner)?;
    if K::SCOPE == Scope::Namespaced {
        if T::SCOPE == Scope::Cluster {
            return Err(OwnerError::InvalidScope(format!(
                "cluster-scoped {} cannot be owned by namespaced {}",
                T::KIND,
                K::KIND
            )));
        }
        if owner.namespace() != obj.namespace() {
            return Err(OwnerError::InvalidScope(format!(
                "cross-namespace owner references are not allowed: owner in {:?}, object in {:?}",
                owner.namespace().unwrap_or(""),
                obj.namespace().unwrap_or("")
            )));
        }
    }
    let same = |o: &OwnerReference| o.kind == r.kind && group_of(&o.api_version) == K::GROUP && o.name == r.name;
    if let Some(other) = obj.owner_references().iter().find(|o| o.controller == Some(true) && !same(o)) {
        return Err(OwnerError::AlreadyControlled { kind: other.kind.clone(), name: other.name.clone() });
    }
    let refs = obj.metadata_mut().owner_references.get_or_insert_with(Vec::new);
    match refs.iter_mut().find(|o| same(o)) {
        Some(existing) => *existing = r,
        None => refs.push(r),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    use k8s_openapi::api::core::v1::Namespace;

    fn deploy(ns: &str, name: &str, uid: &str) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.namespace = Some(ns.into());
        d.metadata.name = Some(name.into());
        d.metadata.uid = Some(uid.into());
        d
    }

    #[test]
    fn controller_reference_sets_both_flags() {
        let r = controller_reference(&deploy("ns", "web", "u1")).unwrap();
        assert_eq!(
            (r.api_version.as_str(), r.kind.as_str(), r.name.as_str(), r.uid.as_str()),
            ("apps/v1", "Deployment", "web", "u1")
        );
        assert_eq!((r.controller, r.block_owner_deletion), (Some(true), Some(true)));
        let plain = owner_reference(&deploy("ns", "web", "u1")).unwrap();
        assert_eq!((plain.controller, plain.block_owner_deletion), (None, None));
        let mut no_uid = deploy("ns", "web", "");
        no_uid.metadata.uid = None;
        assert_eq!(
            controller_reference(&no_uid),
            Err(OwnerError::MissingMetadata { kind: "Deployment", field: "uid" })
        );
    }

    #[test]
    fn set_controller_reference_refuses_second_controller_and_bad_scopes() {
        let mut rs = ReplicaSet::default();
        rs.metadata.namespace = Some("ns".into());
        set_controller_reference(&deploy("ns", "web", "u1"), &mut rs).unwrap();
        // Setting it again (new uid after re-creation) replaces, not duplicates.
        set_controller_reference(&deploy("ns", "web", "u2"), &mut rs).unwrap();
        assert_eq!(rs.metadata.owner_references.as_ref().map(Vec::len), Some(1));
        assert_eq!(rs.metadata.owner_references.as_ref().unwrap()[0].uid, "u2");
        let err = set_controller_reference(&deploy("ns", "other", "u3"), &mut rs).unwrap_err();
        assert!(matches!(err, OwnerError::AlreadyControlled { ref name, .. } if name == "web"), "{err}");
        let mut elsewhere = ReplicaSet::default();
        elsewhere.metadata.namespace = Some("other-ns".into());
        assert!(matches!(
            set_controller_reference(&deploy("ns", "web", "u1"), &mut elsewhere),
            Err(OwnerError::InvalidScope(_))
        ));
        let mut cluster = Namespace::default();
        assert!(matches!(
            set_controller_reference(&deploy("ns", "web", "u1"), &mut cluster),
            Err(OwnerError::InvalidScope(_))
        ));
    }
}
