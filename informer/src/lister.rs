//! Typed listers: read-only, label-selectable views of an informer's cache (client-go's
//! generated `listers`), generic over any kind.
//!
//! Contract: listers read the [`Indexer`] directly: no API call, no deep copy (objects are
//! shared `Arc<K>`). Namespaced lookups use the built-in namespace index; `get` is a key lookup.
//! The objects are the cache's: treat them as read-only snapshots.

use std::sync::Arc;

use rudder_apimachinery::keys::object_key;
use rudder_apimachinery::labels::Selector;
use rudder_apimachinery::meta::HasMetadata;

use crate::indexer::{Indexer, NAMESPACE_INDEX};

/// Lists and gets objects of one kind from a cache.
pub struct Lister<K> {
    indexer: Arc<Indexer<K>>,
}

impl<K> Clone for Lister<K> {
    fn clone(&self) -> Self {
        Self { indexer: self.indexer.clone() }
    }
}

impl<K: HasMetadata + Send + Sync + 'static> Lister<K> {
    /// A lister over `indexer`.
    pub fn new(indexer: Arc<Indexer<K>>) -> Self {
        Self { indexer }
    }

    /// Every cached object (across namespaces) whose labels match `selector`.
    pub fn list(&self, selector: &Selector) -> Vec<Arc<K>> {
        let mut all = self.indexer.list();
        if !selector.is_empty() {
            all.retain(|o| selector.matches(o.labels()));
        }
        all
    }

    /// A cluster-scoped object by name (or any object by its full `namespace/name` key).
    pub fn get(&self, name: &str) -> Option<Arc<K>> {
        self.indexer.get_by_key(name)
    }

    /// The objects of one namespace.
    pub fn namespace<'a>(&'a self, namespace: &'a str) -> NamespaceLister<'a, K> {
        NamespaceLister { lister: self, namespace }
    }
}

/// A [`Lister`] restricted to one namespace.
pub struct NamespaceLister<'a, K> {
    lister: &'a Lister<K>,
    namespace: &'a str,
}

impl<K: HasMetadata + Send + Sync + 'static> NamespaceLister<'_, K> {
    /// The namespace's objects whose labels match `selector`.
    pub fn list(&self, selector: &Selector) -> Vec<Arc<K>> {
        let mut items = match self.lister.indexer.by_index(NAMESPACE_INDEX, self.namespace) {
            Ok(items) => items,
            // The namespace index is built in; without it, fall back to a scan.
            Err(_) => {
                self.lister.indexer.list().into_iter().filter(|o| o.namespace() == Some(self.namespace)).collect()
            }
        };
        if !selector.is_empty() {
            items.retain(|o| selector.matches(o.labels()));
        }
        items
    }

    /// An object of the namespace by name.
    pub fn get(&self, name: &str) -> Option<Arc<K>> {
        self.lister.indexer.get_by_key(&object_key(Some(self.namespace), name))
    }
}
