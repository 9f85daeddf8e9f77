//! Test-only object type for the cache and FIFO tests.

use std::sync::Arc;

use rudder_apimachinery::meta::{HasMetadata, ObjectMeta};

/// A minimal object: metadata plus tags (indexed by the tests) and a version marker.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Obj {
    pub metadata: ObjectMeta,
    pub tags: Vec<String>,
    pub v: u32,
}

impl HasMetadata for Obj {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// `ns/name` (cluster-scoped when `ns` is empty) at version `v`.
pub fn obj(ns: &str, name: &str, v: u32) -> Arc<Obj> {
    tagged(ns, name, v, &[])
}

pub fn tagged(ns: &str, name: &str, v: u32, tags: &[&str]) -> Arc<Obj> {
    Arc::new(Obj {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: (!ns.is_empty()).then(|| ns.to_string()),
            ..Default::default()
        },
        tags: tags.iter().map(|t| t.to_string()).collect(),
        v,
    })
}
