//! The after-commit work queue of the server's emulated controllers (the namespace
//! controller, [`crate::namespaces`], and the disruption controller, [`crate::disruption`];
//! the garbage collector will live here too), and reading ownerReferences.
//!
//! Contract: every write that goes through the handlers calls [`observe`] once committed; the
//! work it causes runs at once, under the same store lock, before the request is answered, so
//! a test sees its effects without polling (the real controllers act a moment later). Work
//! caused by that work is queued and run in the same pass; a pass runs at most
//! [`MAX_WORK_PER_PASS`] items. Bulk seeding (`Control::insert_many*`, `modify_many`) bypasses
//! the controllers.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::registry::ResourceInfo;
use crate::server::{res_key, Shared, State};
use crate::store::{EventKind, Obj};

/// The most work items one pass runs (a guard against cycles).
pub const MAX_WORK_PER_PASS: usize = 1_000_000;

/// One piece of controller work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Work {
    /// The namespace controller's sync of a namespace.
    Namespace(String),
    /// The disruption controller's sync of the budgets in a namespace.
    Budgets(String),
}

/// The controllers' state, kept in the server's `State`.
#[derive(Debug, Default)]
pub struct Controllers {
    queue: VecDeque<Work>,
    running: bool,
}

impl Controllers {
    fn push(&mut self, w: Work) {
        if !self.queue.contains(&w) {
            self.queue.push_back(w);
        }
    }
}

/// One entry of `metadata.ownerReferences`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OwnerRef {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub controller: Option<bool>,
    #[serde(default)]
    pub block_owner_deletion: Option<bool>,
}

#[derive(Deserialize)]
struct RefsOnly {
    #[serde(default, rename = "ownerReferences")]
    owner_references: Vec<OwnerRef>,
}

/// The ownerReferences in a stored object's metadata.
pub(crate) fn refs_of_obj(o: &Obj) -> Vec<OwnerRef> {
    serde_json::from_slice::<RefsOnly>(o.metadata()).map(|r| r.owner_references).unwrap_or_default()
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// The resource an ownerReference points at, and the namespace its owner must be in.
pub(crate) fn owner_location(st: &State, r: &OwnerRef, dependent_ns: &str) -> Option<(ResourceInfo, String)> {
    let group = group_of(&r.api_version);
    let info = st.registry.iter().find(|i| i.api.group == group && i.api.kind == r.kind)?.clone();
    let ns = match info.api.scope {
        rudder_apimachinery::resource::Scope::Namespaced => dependent_ns.to_string(),
        _ => String::new(),
    };
    Some((info, ns))
}

/// The object an ownerReference names, if it exists with that uid; `Err` when the kind is not
/// served (the reference cannot be judged).
pub(crate) fn resolve_owner(st: &State, r: &OwnerRef, dependent_ns: &str) -> Result<Option<Arc<Obj>>, ()> {
    let (info, ns) = owner_location(st, r, dependent_ns).ok_or(())?;
    Ok(st.store.get(&res_key(&info), &ns, &r.name).filter(|o| o.uid == r.uid))
}

/// Called after every committed write that goes through the handlers: queues what the
/// controllers do about it and, unless a pass is already running, runs the pass.
pub(crate) fn observe(shared: &Arc<Shared>, st: &mut State, info: &ResourceInfo, v: &Value, kind: EventKind) {
    let res = res_key(info);
    let meta_s = |k: &str| v.pointer(&format!("/metadata/{k}")).and_then(Value::as_str).unwrap_or_default().to_string();
    let (ns, name) = (meta_s("namespace"), meta_s("name"));
    let deleting = crate::graceful::is_deleting(v);
    let c = &mut st.controllers;
    if crate::disruption::affects(&res) && !ns.is_empty() {
        c.push(Work::Budgets(ns.clone()));
    }
    if crate::namespaces::is_namespaces(info) && deleting && kind != EventKind::Deleted {
        c.push(Work::Namespace(name));
    } else if !ns.is_empty() && (kind == EventKind::Deleted || deleting) {
        c.push(Work::Namespace(ns));
    }
    if !st.controllers.running {
        run(shared, st);
    }
}

/// Runs queued work until none is left (or [`MAX_WORK_PER_PASS`] items ran).
fn run(shared: &Arc<Shared>, st: &mut State) {
    st.controllers.running = true;
    let mut done = 0;
    while let Some(w) = st.controllers.queue.pop_front() {
        done += 1;
        if done > MAX_WORK_PER_PASS {
            tracing::warn!(
                "embedded API server: controller work did not settle; {} items dropped",
                st.controllers.queue.len()
            );
            st.controllers.queue.clear();
            break;
        }
        match w {
            Work::Namespace(ns) => crate::namespaces::sync(shared, st, &ns),
            Work::Budgets(ns) => crate::disruption::sync_namespace(st, &ns),
        }
    }
    st.controllers.running = false;
}
