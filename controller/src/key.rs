//! [`ObjectKey`]: what a controller's queue holds and what reconcile is given (controller-runtime's
//! `reconcile.Request`, a `NamespacedName`).
//!
//! Contract: a key names one object of the primary kind by namespace (absent for cluster-scoped
//! kinds) and name. It displays as the informer cache key (`namespace/name`, or `name`), so
//! [`ObjectKey::to_string`] looks the object up in a lister or indexer.

use std::fmt;

use rudder_apimachinery::meta::HasMetadata;

/// The namespace and name of one object of a controller's primary kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The namespace (`None` for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// A key for a namespaced object.
    pub fn namespaced(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self { namespace: Some(namespace.into()), name: name.into() }
    }

    /// A key for a cluster-scoped object.
    pub fn cluster(name: impl Into<String>) -> Self {
        Self { namespace: None, name: name.into() }
    }

    /// The key of `obj` (its namespace and name as they are set).
    pub fn of<K: HasMetadata + ?Sized>(obj: &K) -> Self {
        Self { namespace: obj.namespace().map(str::to_owned), name: obj.name().to_owned() }
    }

    /// The namespace, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) if !ns.is_empty() => write!(f, "{ns}/{}", self.name),
            _ => f.write_str(&self.name),
        }
    }
}
