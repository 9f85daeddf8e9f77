//! Cache keys: `namespace/name` for namespaced objects, `name` for cluster-scoped ones, as
//! client-go's `MetaNamespaceKeyFunc` builds them.
//!
//! Contract: `split_key(&object_key(ns, name))` gives back `(ns, name)`; a key with more than
//! one `/` or an empty part is an error naming the key.

use crate::meta::HasMetadata;

/// An invalid cache key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cache key {key:?}: {reason}")]
pub struct KeyError {
    /// The key.
    pub key: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Builds the key of an object in `namespace` (or cluster-scoped when `None` or empty).
pub fn object_key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => {
            let mut k = String::with_capacity(ns.len() + 1 + name.len());
            k.push_str(ns);
            k.push('/');
            k.push_str(name);
            k
        }
        _ => name.to_string(),
    }
}

/// The key of an object, from its metadata.
pub fn key_of<K: HasMetadata + ?Sized>(obj: &K) -> String {
    object_key(obj.namespace(), obj.name())
}

/// Splits a key into namespace (if any) and name.
pub fn split_key(key: &str) -> Result<(Option<&str>, &str), KeyError> {
    let err = |reason| KeyError { key: key.to_string(), reason };
    let mut parts = key.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) if !name.is_empty() => Ok((None, name)),
        (Some(ns), Some(name), None) if !ns.is_empty() && !name.is_empty() => Ok((Some(ns), name)),
        (_, _, Some(_)) => Err(err("more than one '/'")),
        _ => Err(err("empty namespace or name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_split() {
        assert_eq!(object_key(Some("ns"), "a"), "ns/a");
        assert_eq!(object_key(None, "node-1"), "node-1");
        assert_eq!(object_key(Some(""), "node-1"), "node-1");
        assert_eq!(split_key("ns/a").unwrap(), (Some("ns"), "a"));
        assert_eq!(split_key("node-1").unwrap(), (None, "node-1"));
        for bad in ["", "/a", "a/", "a/b/c", "/"] {
            assert_eq!(split_key(bad).unwrap_err().key, bad);
        }
    }
}
