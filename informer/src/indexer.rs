//! The thread-safe object cache with named secondary indices: client-go's `ThreadSafeStore` +
//! `Indexer`.
//!
//! Contract:
//! - Objects are keyed `namespace/name` (`name` when cluster-scoped) by
//!   [`key_of`] and held as `Arc<K>`; every read hands out
//!   clones of the `Arc`, never deep copies.
//! - An index is a named function from an object to zero or more *index values*. The
//!   [`NAMESPACE_INDEX`] (`"namespace"`, the object's namespace, `""` for cluster-scoped objects,
//!   as client-go's `MetaNamespaceIndexFunc`) is always present.
//! - After every `add`/`update`/`delete`/`replace`/`add_indexers`, each index maps a value to
//!   exactly the keys of the stored objects whose index function yields that value; a value with
//!   no keys left is dropped (so [`Indexer::list_index_func_values`] never reports stale values).
//! - An index function that fails is an error ([`IndexError::Func`]), never a panic, and the
//!   failed write changes nothing: all index values are computed before anything is mutated.
//! - Reads take a shared lock and never block each other; writes take the exclusive lock only
//!   to apply already-computed changes (`replace` computes the new maps while readers continue).
//!
//! Memory: each key string is allocated once (`Arc<str>`) and shared by the item map and every
//! index set; each distinct index value is allocated once and shared by the index map and the
//! per-object record of the values it was indexed under. That per-object record makes removal
//! exact even when an index function is not deterministic, and spares re-running index
//! functions on the old object at every update.
//!
//! Objects that leave the store for good (dropped with the indexer, or replaced wholesale by
//! `replace`) are released with [`rudder_client::decode::drop_where_decoded`]: the last
//! reference is freed on the decode thread that allocated the object, in parallel and off
//! the caller's thread.

// foldhash instead of SipHash: keys are short `namespace/name` strings hashed several times
// per object (SipHash was ~15 % of the CPU applying a 10k-object list); seeded randomly per
// process, so collisions stay unpredictable.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::Arc;

use parking_lot::{RwLock, RwLockUpgradableReadGuard};
use rudder_apimachinery::keys::key_of;
use rudder_apimachinery::meta::HasMetadata;

use crate::store::{KeyListerGetter, Store};

/// Name of the built-in index over `metadata.namespace`.
pub const NAMESPACE_INDEX: &str = "namespace";

/// The error an index function reports for an object it cannot index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IndexFuncError(pub String);

impl From<String> for IndexFuncError {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for IndexFuncError {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// A named index function: the index values of an object (several allowed, duplicates ignored).
pub type IndexFunc<K> = Arc<dyn Fn(&K) -> Result<Vec<String>, IndexFuncError> + Send + Sync>;

/// Wraps an infallible function as an [`IndexFunc`].
///
/// ```
/// use rudder_informer::indexer::{index_func, Indexer};
/// use k8s_openapi::api::core::v1::Pod;
/// let idx: Indexer<Pod> = Indexer::new();
/// idx.add_indexers([("node".to_string(), index_func(|p: &Pod| {
///     p.spec.as_ref().and_then(|s| s.node_name.clone()).into_iter().collect()
/// }))]).unwrap();
/// ```
pub fn index_func<K, F>(f: F) -> IndexFunc<K>
where
    F: Fn(&K) -> Vec<String> + Send + Sync + 'static,
{
    Arc::new(move |obj: &K| Ok(f(obj)))
}

/// The built-in namespace index function (client-go's `MetaNamespaceIndexFunc`).
pub fn namespace_index_func<K: HasMetadata>(obj: &K) -> Result<Vec<String>, IndexFuncError> {
    Ok(vec![obj.namespace().unwrap_or("").to_string()])
}

/// Errors of index operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// A query named an index that was never added.
    #[error("index {name:?} does not exist")]
    UnknownIndex {
        /// The index name asked for.
        name: String,
    },
    /// `add_indexers` named an index that already exists (or named one twice).
    #[error("indexer conflict: an index named {name:?} already exists")]
    Conflict {
        /// The duplicated name.
        name: String,
    },
    /// An index function failed on an object; nothing was changed.
    #[error("index function {index:?} failed for object {key:?}: {source}")]
    Func {
        /// The index whose function failed.
        index: String,
        /// The key of the object it failed on.
        key: String,
        /// What the function reported.
        #[source]
        source: IndexFuncError,
    },
}

type ValueMap = HashMap<Arc<str>, HashSet<Arc<str>>>;

struct IndexDef<K> {
    name: String,
    func: IndexFunc<K>,
    values: ValueMap,
}

struct Entry<K> {
    obj: Arc<K>,
    /// The (deduplicated) values this object is indexed under, per index.
    values: IndexedUnder,
}

/// The values one object is indexed under, index by index.
#[derive(Debug, PartialEq, Eq)]
enum IndexedUnder {
    /// One index with one value: the default store (the namespace index alone) costs no
    /// allocation per object beyond its key.
    One(Arc<str>),
    /// Any other shape: `lists[i]` for index `i`.
    Lists(Box<[Box<[Arc<str>]>]>),
}

impl IndexedUnder {
    fn from_lists(lists: Vec<Box<[Arc<str>]>>) -> Self {
        if let [only] = lists.as_slice() {
            if let [value] = &**only {
                return IndexedUnder::One(value.clone());
            }
        }
        IndexedUnder::Lists(lists.into_boxed_slice())
    }

    /// The values under index `i` (none for an index the object was not indexed in).
    fn list(&self, i: usize) -> &[Arc<str>] {
        match self {
            IndexedUnder::One(v) if i == 0 => std::slice::from_ref(v),
            IndexedUnder::One(_) => &[],
            IndexedUnder::Lists(lists) => lists.get(i).map_or(&[], |l| &**l),
        }
    }

    fn into_lists(self) -> Vec<Box<[Arc<str>]>> {
        match self {
            IndexedUnder::One(v) => vec![Box::new([v])],
            IndexedUnder::Lists(lists) => lists.into_vec(),
        }
    }
}

struct Inner<K> {
    items: HashMap<Arc<str>, Entry<K>>,
    indexes: Vec<IndexDef<K>>,
    resource_version: String,
    /// Releases an object that leaves the store (`drop_where_decoded::<K>`; a field because
    /// `Drop` cannot require `K: HasMetadata`).
    retire: fn(Arc<K>),
}

/// Releases every object of `items` with `retire`.
fn retire_all<K>(items: HashMap<Arc<str>, Entry<K>>, retire: fn(Arc<K>)) {
    for (_, e) in items {
        retire(e.obj);
    }
}

impl<K> Drop for Indexer<K> {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        retire_all(std::mem::take(&mut inner.items), inner.retire);
    }
}

/// A thread-safe, indexed cache of `Arc<K>` objects keyed `namespace/name`.
///
/// Share it as `Arc<Indexer<K>>`; every method takes `&self`.
pub struct Indexer<K> {
    inner: RwLock<Inner<K>>,
}

impl<K> std::fmt::Debug for Indexer<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.inner.read();
        f.debug_struct("Indexer")
            .field("len", &g.items.len())
            .field("indexes", &g.indexes.iter().map(|i| i.name.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

impl<K: HasMetadata + Send + Sync + 'static> Default for Indexer<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// Computes the deduplicated index values of `obj` for `def`.
fn compute<K>(def: &IndexDef<K>, obj: &K, key: &str) -> Result<Vec<String>, IndexError> {
    compute_with(&def.name, &def.func, obj, key)
}

fn compute_with<K>(name: &str, func: &IndexFunc<K>, obj: &K, key: &str) -> Result<Vec<String>, IndexError> {
    let mut v =
        func(obj).map_err(|source| IndexError::Func { index: name.to_string(), key: key.to_string(), source })?;
    if v.len() > 1 {
        v.sort_unstable();
        v.dedup();
    }
    Ok(v)
}

fn compute_all<K>(indexes: &[IndexDef<K>], obj: &K, key: &str) -> Result<Vec<Vec<String>>, IndexError> {
    indexes.iter().map(|d| compute(d, obj, key)).collect()
}

/// Adds `key` under `value`, returning the shared `Arc` of the value.
fn insert_value(map: &mut ValueMap, value: &str, key: &Arc<str>) -> Arc<str> {
    if let Some(set) = map.get_mut(value) {
        set.insert(key.clone());
        if let Some((v, _)) = map.get_key_value(value) {
            return v.clone();
        }
    }
    let v: Arc<str> = Arc::from(value);
    let mut set = HashSet::with_capacity(1);
    set.insert(key.clone());
    map.insert(v.clone(), set);
    v
}

/// Removes `key` from under `value`, dropping the value once no key is left.
fn remove_value(map: &mut ValueMap, value: &str, key: &str) {
    if let Some(set) = map.get_mut(value) {
        set.remove(key);
        if set.is_empty() {
            map.remove(value);
        }
    }
}

fn same_values(old: &[Arc<str>], new: &[String]) -> bool {
    old.len() == new.len() && old.iter().zip(new).all(|(a, b)| **a == **b)
}

/// Inserts (or overwrites) one object whose index values were computed already.
fn insert_entry<K>(
    items: &mut HashMap<Arc<str>, Entry<K>>,
    maps: &mut [&mut ValueMap],
    key: String,
    obj: Arc<K>,
    computed: Vec<Vec<String>>,
) -> Option<Arc<K>> {
    let (key_arc, old) = match items.remove_entry(key.as_str()) {
        Some((k, e)) => (k, Some(e)),
        None => (Arc::<str>::from(key), None),
    };
    let (old_obj, old_values) = match old {
        Some(e) => (Some(e.obj), Some(e.values)),
        None => (None, None),
    };
    let prev = |i: usize| old_values.as_ref().map_or(&[][..], |v| v.list(i));
    let values = match (&mut *maps, computed.as_slice()) {
        ([map], [new]) if new.len() == 1 => {
            // One index, one value (the default store): no allocation.
            let value = match prev(0) {
                [v] if **v == *new[0] => v.clone(),
                old => {
                    for v in old {
                        remove_value(map, v, &key_arc);
                    }
                    insert_value(map, &new[0], &key_arc)
                }
            };
            IndexedUnder::One(value)
        }
        _ => {
            let mut lists = Vec::with_capacity(computed.len());
            for (i, (map, new)) in maps.iter_mut().zip(&computed).enumerate() {
                let old = prev(i);
                if same_values(old, new) {
                    lists.push(old.into());
                } else {
                    for v in old {
                        remove_value(map, v, &key_arc);
                    }
                    lists.push(new.iter().map(|v| insert_value(map, v, &key_arc)).collect());
                }
            }
            IndexedUnder::from_lists(lists)
        }
    };
    items.insert(key_arc, Entry { obj, values });
    old_obj
}

impl<K: HasMetadata + Send + Sync + 'static> Indexer<K> {
    /// An empty store with only the [`NAMESPACE_INDEX`].
    pub fn new() -> Self {
        let ns: IndexFunc<K> = Arc::new(namespace_index_func::<K>);
        Self {
            inner: RwLock::new(Inner {
                items: HashMap::new(),
                indexes: vec![IndexDef { name: NAMESPACE_INDEX.to_string(), func: ns, values: HashMap::new() }],
                resource_version: String::new(),
                retire: rudder_client::decode::drop_where_decoded::<K>,
            }),
        }
    }

    /// An empty store with the namespace index and `indexers`.
    pub fn with_indexers(indexers: impl IntoIterator<Item = (String, IndexFunc<K>)>) -> Result<Self, IndexError> {
        let s = Self::new();
        s.add_indexers(indexers)?;
        Ok(s)
    }

    /// Adds indices, indexing every object already stored. A name that exists already (or
    /// appears twice) is [`IndexError::Conflict`]; a failing function on any stored object is
    /// [`IndexError::Func`]; on error no index is added.
    pub fn add_indexers(&self, indexers: impl IntoIterator<Item = (String, IndexFunc<K>)>) -> Result<(), IndexError> {
        let mut g = self.inner.write();
        let mut new: Vec<IndexDef<K>> = Vec::new();
        for (name, func) in indexers {
            if g.indexes.iter().chain(new.iter()).any(|d| d.name == name) {
                return Err(IndexError::Conflict { name });
            }
            new.push(IndexDef { name, func, values: HashMap::new() });
        }
        // Compute first so that a failure leaves the store untouched.
        let mut computed: Vec<(Arc<str>, Vec<Vec<String>>)> = Vec::with_capacity(g.items.len());
        for (key, e) in &g.items {
            computed.push((key.clone(), compute_all(&new, &e.obj, key)?));
        }
        for (key, per_index) in computed {
            let mut vals = Vec::with_capacity(per_index.len());
            for (def, v) in new.iter_mut().zip(per_index) {
                vals.push(v.iter().map(|x| insert_value(&mut def.values, x, &key)).collect::<Box<[_]>>());
            }
            if let Some(e) = g.items.get_mut(&key) {
                let held = std::mem::replace(&mut e.values, IndexedUnder::Lists(Box::default()));
                let mut lists = held.into_lists();
                lists.extend(vals);
                e.values = IndexedUnder::from_lists(lists);
            }
        }
        g.indexes.extend(new);
        Ok(())
    }

    /// Names of all indices (the namespace index first, then in the order added).
    pub fn index_names(&self) -> Vec<String> {
        self.inner.read().indexes.iter().map(|d| d.name.clone()).collect()
    }

    /// Adds or replaces `obj` under its key; returns the object it replaced.
    pub fn add(&self, obj: Arc<K>) -> Result<Option<Arc<K>>, IndexError> {
        let key = key_of(&*obj);
        let mut g = self.inner.write();
        let computed = compute_all(&g.indexes, &obj, &key)?;
        let Inner { items, indexes, .. } = &mut *g;
        let mut maps: Vec<&mut ValueMap> = indexes.iter_mut().map(|d| &mut d.values).collect();
        Ok(insert_entry(items, &mut maps, key, obj, computed))
    }

    /// Same as [`add`](Self::add) (client-go's stores do not distinguish them).
    pub fn update(&self, obj: Arc<K>) -> Result<Option<Arc<K>>, IndexError> {
        self.add(obj)
    }

    /// Removes the object stored under `obj`'s key; returns it.
    pub fn delete(&self, obj: &K) -> Option<Arc<K>> {
        self.delete_key(&key_of(obj))
    }

    /// Removes the object stored under `key`; returns it.
    pub fn delete_key(&self, key: &str) -> Option<Arc<K>> {
        let mut g = self.inner.write();
        let Inner { items, indexes, .. } = &mut *g;
        let (key_arc, entry) = items.remove_entry(key)?;
        for (i, def) in indexes.iter_mut().enumerate() {
            for v in entry.values.list(i) {
                remove_value(&mut def.values, v, &key_arc);
            }
        }
        Some(entry.obj)
    }

    /// The object stored under `obj`'s key.
    pub fn get(&self, obj: &K) -> Option<Arc<K>> {
        self.get_by_key(&key_of(obj))
    }

    /// The object stored under `key`.
    pub fn get_by_key(&self, key: &str) -> Option<Arc<K>> {
        self.inner.read().items.get(key).map(|e| e.obj.clone())
    }

    /// All objects, in no particular order.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.inner.read().items.values().map(|e| e.obj.clone()).collect()
    }

    /// All keys, in no particular order.
    pub fn list_keys(&self) -> Vec<String> {
        self.inner.read().items.keys().map(|k| k.to_string()).collect()
    }

    /// Number of objects stored.
    pub fn len(&self) -> usize {
        self.inner.read().items.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The resource version given to the last [`replace`](Self::replace) (or
    /// [`set_resource_version`](Self::set_resource_version)); empty before.
    pub fn resource_version(&self) -> String {
        self.inner.read().resource_version.clone()
    }

    /// Records the resource version the cache reflects (e.g. from a watch bookmark).
    pub fn set_resource_version(&self, resource_version: &str) {
        self.inner.write().resource_version = resource_version.to_string();
    }

    /// Replaces the whole content with `list` and rebuilds every index. When two objects share
    /// a key the later one wins. On an index function error nothing changes.
    pub fn replace(&self, list: Vec<Arc<K>>, resource_version: &str) -> Result<(), IndexError> {
        // Readers continue while the new maps are built; writers wait.
        let g = self.inner.upgradable_read();
        let mut items: HashMap<Arc<str>, Entry<K>> = HashMap::with_capacity(list.len());
        let mut new_maps: Vec<ValueMap> = g.indexes.iter().map(|_| HashMap::new()).collect();
        {
            let mut maps: Vec<&mut ValueMap> = new_maps.iter_mut().collect();
            for obj in list {
                let key = key_of(&*obj);
                let computed = compute_all(&g.indexes, &obj, &key)?;
                insert_entry(&mut items, &mut maps, key, obj, computed);
            }
        }
        let mut w = RwLockUpgradableReadGuard::upgrade(g);
        let old_items = std::mem::replace(&mut w.items, items);
        let mut old_maps = Vec::with_capacity(new_maps.len());
        for (def, m) in w.indexes.iter_mut().zip(new_maps) {
            old_maps.push(std::mem::replace(&mut def.values, m));
        }
        w.resource_version = resource_version.to_string();
        let retire = w.retire;
        drop(w);
        // Free the old content outside the lock.
        retire_all(old_items, retire);
        drop(old_maps);
        Ok(())
    }

    /// The objects whose `index_name` function yields `value`.
    pub fn by_index(&self, index_name: &str, value: &str) -> Result<Vec<Arc<K>>, IndexError> {
        let g = self.inner.read();
        let def = find(&g.indexes, index_name)?;
        Ok(def
            .values
            .get(value)
            .map(|keys| keys.iter().filter_map(|k| g.items.get(k).map(|e| e.obj.clone())).collect())
            .unwrap_or_default())
    }

    /// The objects sharing at least one `index_name` value with `obj` (client-go's `Index`).
    pub fn index(&self, index_name: &str, obj: &K) -> Result<Vec<Arc<K>>, IndexError> {
        let g = self.inner.read();
        let def = find(&g.indexes, index_name)?;
        let values = compute(def, obj, &key_of(obj))?;
        let mut keys: HashSet<&Arc<str>> = HashSet::new();
        for v in &values {
            if let Some(set) = def.values.get(v.as_str()) {
                keys.extend(set.iter());
            }
        }
        Ok(keys.into_iter().filter_map(|k| g.items.get(k).map(|e| e.obj.clone())).collect())
    }

    /// The keys of the objects whose `index_name` function yields `value`, sorted.
    pub fn index_keys(&self, index_name: &str, value: &str) -> Result<Vec<String>, IndexError> {
        let g = self.inner.read();
        let def = find(&g.indexes, index_name)?;
        let mut keys: Vec<String> =
            def.values.get(value).map(|s| s.iter().map(|k| k.to_string()).collect()).unwrap_or_default();
        keys.sort_unstable();
        Ok(keys)
    }

    /// Every value index `index_name` currently holds objects under, sorted; empty for an
    /// unknown index (as client-go).
    pub fn list_index_func_values(&self, index_name: &str) -> Vec<String> {
        let g = self.inner.read();
        let mut v: Vec<String> = match find(&g.indexes, index_name) {
            Ok(def) => def.values.keys().map(|k| k.to_string()).collect(),
            Err(_) => Vec::new(),
        };
        v.sort_unstable();
        v
    }
}

fn find<'a, K>(indexes: &'a [IndexDef<K>], name: &str) -> Result<&'a IndexDef<K>, IndexError> {
    indexes.iter().find(|d| d.name == name).ok_or_else(|| IndexError::UnknownIndex { name: name.to_string() })
}

impl<K: HasMetadata + Send + Sync + 'static> KeyListerGetter<K> for Indexer<K> {
    fn list_keys(&self) -> Vec<String> {
        Indexer::list_keys(self)
    }
    fn get_by_key(&self, key: &str) -> Option<Arc<K>> {
        Indexer::get_by_key(self, key)
    }
}

impl<K: HasMetadata + Send + Sync + 'static> Store<K> for Indexer<K> {
    fn add(&self, obj: Arc<K>) -> Result<Option<Arc<K>>, IndexError> {
        Indexer::add(self, obj)
    }
    fn update(&self, obj: Arc<K>) -> Result<Option<Arc<K>>, IndexError> {
        Indexer::update(self, obj)
    }
    fn delete_key(&self, key: &str) -> Option<Arc<K>> {
        Indexer::delete_key(self, key)
    }
    fn list(&self) -> Vec<Arc<K>> {
        Indexer::list(self)
    }
    fn replace(&self, list: Vec<Arc<K>>, resource_version: &str) -> Result<(), IndexError> {
        Indexer::replace(self, list, resource_version)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::test_util::{obj, tagged, Obj};

    fn tags_index() -> (String, IndexFunc<Obj>) {
        ("tags".to_string(), index_func(|o: &Obj| o.tags.clone()))
    }

    /// What the store records for `key`: per index, the values it is indexed under.
    fn recorded(idx: &Indexer<Obj>, key: &str) -> Vec<Vec<String>> {
        let g = idx.inner.read();
        let e = &g.items[key];
        (0..g.indexes.len()).map(|i| e.values.list(i).iter().map(|v| v.to_string()).collect()).collect()
    }

    #[test]
    fn one_value_in_one_index_is_held_inline_and_other_shapes_in_lists() {
        let idx = Indexer::new();
        idx.add(obj("ns", "a", 1)).unwrap();
        assert!(matches!(idx.inner.read().items["ns/a"].values, IndexedUnder::One(_)));
        assert_eq!(recorded(&idx, "ns/a"), [["ns"]]);
        // Adding an index to a populated store turns it into lists, one per index.
        idx.add_indexers([tags_index()]).unwrap();
        idx.add(tagged("ns", "b", 1, &["x", "y"])).unwrap();
        assert_eq!(recorded(&idx, "ns/a"), [vec!["ns"], vec![]]);
        assert_eq!(recorded(&idx, "ns/b"), [vec!["ns"], vec!["x", "y"]]);
        // An update that keeps or changes values keeps the indexes consistent.
        idx.update(tagged("ns", "b", 2, &["y", "z"])).unwrap();
        assert_eq!(recorded(&idx, "ns/b"), [vec!["ns"], vec!["y", "z"]]);
        assert_eq!(idx.index_keys("tags", "x").unwrap(), Vec::<String>::new());
        assert_eq!(idx.index_keys("tags", "z").unwrap(), ["ns/b"]);
        assert_eq!(idx.index_keys(NAMESPACE_INDEX, "ns").unwrap(), ["ns/a", "ns/b"]);
    }

    fn failing_on(tag: &'static str) -> (String, IndexFunc<Obj>) {
        let f: IndexFunc<Obj> = Arc::new(move |o: &Obj| {
            if o.tags.iter().any(|t| t == tag) {
                Err(IndexFuncError::from(format!("cannot index tag {tag}")))
            } else {
                Ok(o.tags.clone())
            }
        });
        ("picky".to_string(), f)
    }

    #[test]
    fn add_get_list_delete_and_namespace_index() {
        let idx = Indexer::new();
        let a = obj("ns1", "a", 1);
        assert!(idx.add(a.clone()).unwrap().is_none());
        idx.add(obj("ns1", "b", 1)).unwrap();
        idx.add(obj("ns2", "c", 1)).unwrap();
        idx.add(obj("", "node-1", 1)).unwrap();
        // Reads hand out the stored Arc, not a copy.
        assert!(Arc::ptr_eq(&idx.get_by_key("ns1/a").unwrap(), &a));
        assert!(Arc::ptr_eq(&idx.get(&a).unwrap(), &a));
        assert_eq!(idx.len(), 4);
        assert_eq!(idx.index_keys(NAMESPACE_INDEX, "ns1").unwrap(), ["ns1/a", "ns1/b"]);
        assert_eq!(idx.index_keys(NAMESPACE_INDEX, "").unwrap(), ["node-1"]);
        assert_eq!(idx.list_index_func_values(NAMESPACE_INDEX), ["", "ns1", "ns2"]);
        let old = idx.update(obj("ns1", "a", 2)).unwrap().unwrap();
        assert!(Arc::ptr_eq(&old, &a));
        assert_eq!(idx.get_by_key("ns1/a").unwrap().v, 2);
        assert_eq!(idx.delete(&obj("ns2", "c", 0)).unwrap().v, 1);
        assert_eq!(idx.list_index_func_values(NAMESPACE_INDEX), ["", "ns1"], "empty value set dropped");
        assert!(idx.delete_key("ns2/c").is_none());
        let mut keys = idx.list_keys();
        keys.sort();
        assert_eq!(keys, ["node-1", "ns1/a", "ns1/b"]);
        assert_eq!(idx.list().len(), 3);
    }

    #[test]
    fn multi_valued_index_follows_updates() {
        let idx = Indexer::with_indexers([tags_index()]).unwrap();
        idx.add(tagged("ns", "a", 1, &["x", "y", "y"])).unwrap();
        idx.add(tagged("ns", "b", 1, &["y"])).unwrap();
        assert_eq!(idx.index_keys("tags", "y").unwrap(), ["ns/a", "ns/b"]);
        assert_eq!(idx.list_index_func_values("tags"), ["x", "y"]);
        idx.update(tagged("ns", "a", 2, &["z"])).unwrap();
        assert_eq!(idx.index_keys("tags", "y").unwrap(), ["ns/b"]);
        assert_eq!(idx.index_keys("tags", "x").unwrap(), Vec::<String>::new());
        assert_eq!(idx.list_index_func_values("tags"), ["y", "z"]);
        let by: Vec<u32> = idx.by_index("tags", "z").unwrap().iter().map(|o| o.v).collect();
        assert_eq!(by, [2]);
        // index(): objects sharing any value with the probe.
        let mut hits: Vec<String> =
            idx.index("tags", &tagged("ns", "probe", 0, &["y", "z"])).unwrap().iter().map(|o| key_of(&**o)).collect();
        hits.sort();
        assert_eq!(hits, ["ns/a", "ns/b"]);
    }

    #[test]
    fn unknown_index_is_an_error() {
        let idx: Indexer<Obj> = Indexer::new();
        assert_eq!(idx.by_index("nope", "x").unwrap_err(), IndexError::UnknownIndex { name: "nope".into() });
        assert!(matches!(idx.index_keys("nope", "x"), Err(IndexError::UnknownIndex { .. })));
        assert!(matches!(idx.index("nope", &Obj::default()), Err(IndexError::UnknownIndex { .. })));
        assert!(idx.list_index_func_values("nope").is_empty());
    }

    #[test]
    fn index_function_errors_change_nothing() {
        let idx = Indexer::with_indexers([failing_on("bad")]).unwrap();
        idx.add(tagged("ns", "a", 1, &["ok"])).unwrap();
        let err = idx.update(tagged("ns", "a", 2, &["bad"])).unwrap_err();
        assert_eq!(
            err,
            IndexError::Func { index: "picky".into(), key: "ns/a".into(), source: "cannot index tag bad".into() }
        );
        assert_eq!(idx.get_by_key("ns/a").unwrap().v, 1);
        assert_eq!(idx.index_keys("picky", "ok").unwrap(), ["ns/a"]);
        let err = idx.replace(vec![tagged("ns", "b", 1, &["ok"]), tagged("ns", "c", 1, &["bad"])], "7").unwrap_err();
        assert!(matches!(err, IndexError::Func { ref key, .. } if key == "ns/c"));
        assert_eq!(idx.list_keys(), ["ns/a"]);
        assert_eq!(idx.resource_version(), "");
        // A failing function on an existing object refuses the new index.
        let idx2 = Indexer::new();
        idx2.add(tagged("ns", "a", 1, &["bad"])).unwrap();
        assert!(matches!(idx2.add_indexers([failing_on("bad")]), Err(IndexError::Func { .. })));
        assert_eq!(idx2.index_names(), [NAMESPACE_INDEX]);
    }

    #[test]
    fn add_indexers_on_populated_store() {
        let idx = Indexer::new();
        idx.add(tagged("ns", "a", 1, &["x"])).unwrap();
        idx.add(tagged("ns", "b", 1, &["x", "y"])).unwrap();
        idx.add_indexers([tags_index()]).unwrap();
        assert_eq!(idx.index_keys("tags", "x").unwrap(), ["ns/a", "ns/b"]);
        assert_eq!(idx.index_keys("tags", "y").unwrap(), ["ns/b"]);
        // Later writes keep the added index consistent.
        idx.delete_key("ns/b");
        assert_eq!(idx.list_index_func_values("tags"), ["x"]);
        assert_eq!(idx.add_indexers([tags_index()]).unwrap_err(), IndexError::Conflict { name: "tags".into() });
        let ns = (NAMESPACE_INDEX.to_string(), index_func(|_: &Obj| vec![]));
        assert!(matches!(idx.add_indexers([ns]), Err(IndexError::Conflict { .. })));
        let twice = [("t".to_string(), index_func(|_: &Obj| vec![])), ("t".to_string(), index_func(|_: &Obj| vec![]))];
        assert!(matches!(idx.add_indexers(twice), Err(IndexError::Conflict { .. })));
        assert_eq!(idx.index_names(), [NAMESPACE_INDEX, "tags"]);
    }

    #[test]
    fn replace_rebuilds_indices() {
        let idx = Indexer::with_indexers([tags_index()]).unwrap();
        idx.add(tagged("ns", "a", 1, &["x"])).unwrap();
        idx.add(tagged("other", "b", 1, &["y"])).unwrap();
        idx.replace(
            vec![tagged("ns", "a", 2, &["z"]), tagged("ns", "c", 1, &["z"]), tagged("ns", "c", 2, &["w"])],
            "42",
        )
        .unwrap();
        assert_eq!(idx.resource_version(), "42");
        assert_eq!(idx.list_index_func_values("tags"), ["w", "z"], "later duplicate wins");
        assert_eq!(idx.index_keys("tags", "z").unwrap(), ["ns/a"]);
        assert_eq!(idx.list_index_func_values(NAMESPACE_INDEX), ["ns"]);
        assert_eq!(idx.get_by_key("ns/c").unwrap().v, 2);
    }

    /// Random operations against a naive model; after each, every index must agree with it.
    #[test]
    fn random_operations_match_a_naive_model() {
        let mut rng = StdRng::seed_from_u64(7);
        let idx = Indexer::with_indexers([tags_index()]).unwrap();
        let mut model: BTreeMap<String, Arc<Obj>> = BTreeMap::new();
        let names = ["a", "b", "c", "d", "e", "f"];
        let spaces = ["", "n1", "n2"];
        let tags = ["t1", "t2", "t3", "t4"];
        let random_obj = |rng: &mut StdRng, v: u32| {
            let ns = spaces[rng.random_range(0..spaces.len())];
            let name = names[rng.random_range(0..names.len())];
            let n = rng.random_range(0..4);
            let t: Vec<&str> = (0..n).map(|_| tags[rng.random_range(0..tags.len())]).collect();
            tagged(ns, name, v, &t)
        };
        for step in 0..2000u32 {
            match rng.random_range(0..10) {
                0..=5 => {
                    let o = random_obj(&mut rng, step);
                    idx.add(o.clone()).unwrap();
                    model.insert(key_of(&*o), o);
                }
                6..=8 => {
                    let o = random_obj(&mut rng, step);
                    let removed = idx.delete(&o);
                    assert_eq!(removed.is_some(), model.remove(&key_of(&*o)).is_some());
                }
                _ => {
                    let list: Vec<Arc<Obj>> = (0..rng.random_range(0..8)).map(|_| random_obj(&mut rng, step)).collect();
                    idx.replace(list.clone(), "rv").unwrap();
                    model = list.into_iter().map(|o| (key_of(&*o), o)).collect();
                }
            }
            let mut keys = idx.list_keys();
            keys.sort();
            assert_eq!(keys, model.keys().cloned().collect::<Vec<_>>(), "step {step}");
            let expect = |f: &dyn Fn(&Obj) -> Vec<String>| {
                let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
                for (k, o) in &model {
                    for v in f(o) {
                        m.entry(v).or_default().insert(k.clone());
                    }
                }
                m
            };
            for (name, m) in [
                (NAMESPACE_INDEX, expect(&|o: &Obj| vec![o.namespace().unwrap_or("").to_string()])),
                ("tags", expect(&|o: &Obj| o.tags.clone())),
            ] {
                assert_eq!(idx.list_index_func_values(name), m.keys().cloned().collect::<Vec<_>>(), "step {step}");
                for (v, ks) in &m {
                    assert_eq!(idx.index_keys(name, v).unwrap(), ks.iter().cloned().collect::<Vec<_>>());
                }
            }
        }
    }
}
