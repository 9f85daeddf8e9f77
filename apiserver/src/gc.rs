//! The garbage collector (kube-controller-manager's, emulated), and the after-commit work queue
//! it shares with the namespace controller ([`crate::namespaces`]) and the disruption
//! controller ([`crate::disruption`]).
//!
//! Contract:
//! - Every write that goes through the handlers calls `observe` once committed; the work it
//!   causes runs at once, under the same store lock, before the request is answered, so a test
//!   sees its effects without polling (the real controllers act a moment later). Work caused by
//!   that work is queued and run in the same pass; a pass runs at most [`MAX_WORK_PER_PASS`]
//!   items. Bulk seeding (`Control::insert_many*`, `modify_many`) bypasses the controllers.
//! - ownerReferences are honoured as the real collector does. An owner is looked up by the
//!   reference's apiVersion/kind and name, in the dependent's namespace when the owner kind is
//!   namespaced (so a reference across namespaces, or from a cluster-scoped dependent to a
//!   namespaced kind, never resolves), and must have the reference's uid. A dependent whose
//!   owners are all absent is deleted (with the propagation its own `orphan` /
//!   `foregroundDeletion` finalizer asks for, else `Background`); one with a live owner keeps
//!   living and loses only its references to absent owners (and to owners deleting in the
//!   foreground). References to kinds the server does not serve count as live.
//! - DELETE's propagation: the default is `Background`, except for `batch/v1` Jobs and `v1`
//!   ReplicationControllers (`Orphan`, as their strategies' `DefaultGarbageCollectionPolicy`).
//!   `Orphan` (or `orphanDependents: true`) adds the `orphan` finalizer: the collector removes
//!   the owner's references from its dependents, then the finalizer. `Foreground` adds
//!   `foregroundDeletion`: the collector deletes every dependent (in the foreground itself when
//!   the dependent has dependents of its own) and removes the finalizer once no dependent with
//!   `blockOwnerDeletion: true` is left (graceful pods count until they are gone).
//! - Dependents are found through an index of owner uids kept from the store's history; after a
//!   compaction the index is rebuilt from every stored object.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::handlers::{controller_update, delete_object, target_of, DeleteOpts};
use crate::registry::ResourceInfo;
use crate::server::{res_key, Shared, State};
use crate::store::{EventKind, Obj, ResKey};

/// The most work items one pass runs (a guard against cycles the real collector would spin on).
pub const MAX_WORK_PER_PASS: usize = 1_000_000;

/// An object: its table, namespace and name.
pub(crate) type ObjRef = (ResKey, String, String);

/// One piece of controller work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Work {
    /// The collector's `attemptToDeleteItem` for a dependent.
    Dependent(ObjRef),
    /// An owner being deleted with the `orphan` or `foregroundDeletion` finalizer.
    Owner(ObjRef),
    /// The object with this uid is gone: its dependents are checked.
    Gone(String),
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
    /// Owner uid -> dependents referencing it.
    dependents: HashMap<String, BTreeSet<ObjRef>>,
    /// The history is indexed up to this resourceVersion.
    indexed_rv: u64,
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

/// The ownerReferences of an object.
pub(crate) fn refs_of(v: &Value) -> Vec<OwnerRef> {
    v.pointer("/metadata/ownerReferences").and_then(|r| serde_json::from_value(r.clone()).ok()).unwrap_or_default()
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

/// `deletionFinalizersForGarbageCollection`: the finalizers a DELETE with `o` leaves on an
/// object that has `current`, or `None` when they do not change.
pub(crate) fn deletion_finalizers(info: &ResourceInfo, current: &[String], o: &DeleteOpts) -> Option<Vec<String>> {
    let default_orphan = matches!(
        (info.api.group.as_ref(), info.api.version.as_ref(), info.api.plural.as_ref()),
        ("batch", "v1", "jobs") | ("", "v1", "replicationcontrollers")
    );
    let has = |f: &str| {
        current.iter().find_map(|x| (x == "orphan" || x == "foregroundDeletion").then_some(x.as_str())) == Some(f)
    };
    let orphan = match (o.orphan, o.policy.as_deref()) {
        (Some(b), _) => b,
        (None, Some("Orphan")) => true,
        (None, Some(_)) => false,
        (None, None) if has("orphan") => true,
        (None, None) if has("foregroundDeletion") => false,
        (None, None) => default_orphan,
    };
    let foreground = match (o.orphan, o.policy.as_deref()) {
        (Some(_), _) => false,
        (None, Some(p)) => p == "Foreground",
        (None, None) => has("foregroundDeletion"),
    };
    let mut out: Vec<String> =
        current.iter().filter(|f| *f != "orphan" && *f != "foregroundDeletion").cloned().collect();
    if orphan {
        out.push("orphan".into());
    }
    if foreground {
        out.push("foregroundDeletion".into());
    }
    let same = out.len() == current.len() && out.iter().all(|f| current.contains(f));
    (!same).then_some(out)
}

/// Called after every committed write that goes through the handlers: queues what the
/// controllers do about it and, unless a pass is already running, runs the pass.
pub(crate) fn observe(shared: &Arc<Shared>, st: &mut State, info: &ResourceInfo, v: &Value, kind: EventKind) {
    let res = res_key(info);
    let meta_s = |k: &str| v.pointer(&format!("/metadata/{k}")).and_then(Value::as_str).unwrap_or_default().to_string();
    let (ns, name, uid) = (meta_s("namespace"), meta_s("name"), meta_s("uid"));
    let prev_refs = st
        .store
        .history
        .back()
        .filter(|e| e.res == res && e.obj.name == name && e.obj.ns == ns)
        .and_then(|e| e.prev.as_ref())
        .map(|p| refs_of_obj(p));
    let refs = refs_of(v);
    let deleting = crate::graceful::is_deleting(v);
    let me: ObjRef = (res.clone(), ns.clone(), name.clone());
    let c = &mut st.controllers;
    if crate::disruption::affects(&res) && !ns.is_empty() {
        c.push(Work::Budgets(ns.clone()));
    }
    if crate::namespaces::is_namespaces(info) && deleting && kind != EventKind::Deleted {
        c.push(Work::Namespace(name.clone()));
    } else if !ns.is_empty() && (kind == EventKind::Deleted || deleting) {
        c.push(Work::Namespace(ns.clone()));
    }
    match kind {
        EventKind::Deleted => {
            c.push(Work::Gone(uid));
            for r in &refs {
                if let Some((info, ons)) = owner_location(st, r, &ns) {
                    st.controllers.push(Work::Owner((res_key(&info), ons, r.name.clone())));
                }
            }
        }
        EventKind::Added => {
            if !refs.is_empty() {
                c.push(Work::Dependent(me.clone()));
            }
        }
        EventKind::Modified => {
            let fins = crate::graceful::finalizers(v);
            if deleting && fins.iter().any(|f| f == "orphan" || f == "foregroundDeletion") {
                c.push(Work::Owner(me.clone()));
            }
            let old = prev_refs.unwrap_or_default();
            if old != refs {
                if refs.iter().any(|r| !old.contains(r)) {
                    c.push(Work::Dependent(me.clone()));
                }
                // An owner waiting for its dependents may be free now.
                for r in old.iter().filter(|r| !refs.contains(r)).chain(refs.iter()) {
                    if let Some((info, ons)) = owner_location(st, r, &ns) {
                        st.controllers.push(Work::Owner((res_key(&info), ons, r.name.clone())));
                    }
                }
            }
        }
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
            Work::Dependent(d) => attempt_to_delete(shared, st, &d),
            Work::Owner(o) => process_owner(shared, st, &o),
            Work::Gone(uid) => {
                for d in dependents_of(st, &uid) {
                    st.controllers.push(Work::Dependent(d));
                }
            }
            Work::Namespace(ns) => crate::namespaces::sync(shared, st, &ns),
            Work::Budgets(ns) => crate::disruption::sync_namespace(st, &ns),
        }
    }
    st.controllers.running = false;
}

/// Brings the owner-uid index up to the store's current resourceVersion.
fn sync_index(st: &mut State) {
    let State { store, controllers: c, .. } = st;
    if c.indexed_rv == store.rv {
        return;
    }
    let add = |c: &mut Controllers, res: &ResKey, o: &Obj| {
        for r in refs_of_obj(o) {
            c.dependents.entry(r.uid).or_default().insert((res.clone(), o.ns.clone(), o.name.clone()));
        }
    };
    let remove = |c: &mut Controllers, res: &ResKey, o: &Obj| {
        for r in refs_of_obj(o) {
            if let Some(set) = c.dependents.get_mut(&r.uid) {
                set.remove(&(res.clone(), o.ns.clone(), o.name.clone()));
                if set.is_empty() {
                    c.dependents.remove(&r.uid);
                }
            }
        }
    };
    if c.indexed_rv < store.compacted {
        c.dependents.clear();
        for (res, table) in &store.tables {
            for o in table.objects.values() {
                add(c, res, o);
            }
        }
    } else {
        let start = store.history.partition_point(|e| e.rv() <= c.indexed_rv);
        for e in store.history.range(start..) {
            if let Some(p) = &e.prev {
                remove(c, &e.res, p);
            }
            if e.kind != EventKind::Deleted {
                add(c, &e.res, &e.obj);
            }
        }
    }
    c.indexed_rv = store.rv;
}

/// The objects whose ownerReferences name this uid.
pub(crate) fn dependents_of(st: &mut State, uid: &str) -> Vec<ObjRef> {
    sync_index(st);
    st.controllers.dependents.get(uid).map(|s| s.iter().cloned().collect()).unwrap_or_default()
}

fn get(st: &State, r: &ObjRef) -> Option<Arc<Obj>> {
    st.store.get(&r.0, &r.1, &r.2)
}

fn delete_with(shared: &Arc<Shared>, st: &mut State, d: &ObjRef, policy: &str) {
    let Some(t) = target_of(st, &d.0) else { return };
    let o = DeleteOpts { policy: Some(policy.to_string()), ..Default::default() };
    if let Err(e) = delete_object(shared, st, &t, &d.1, &d.2, &o) {
        tracing::debug!(
            "embedded API server: the garbage collector could not delete {}/{}: {}",
            d.1,
            d.2,
            e.status.message
        );
    }
}

fn update(shared: &Arc<Shared>, st: &mut State, r: &ObjRef, cur: &Arc<Obj>, v: Value) {
    let Some(t) = target_of(st, &r.0) else { return };
    if let Err(e) = controller_update(shared, st, &t, cur, v) {
        tracing::debug!(
            "embedded API server: the garbage collector could not update {}/{}: {}",
            r.1,
            r.2,
            e.status.message
        );
    }
}

fn is_deleting_dependents(v: &Value) -> bool {
    crate::graceful::is_deleting(v) && crate::graceful::finalizers(v).iter().any(|f| f == "foregroundDeletion")
}

/// `attemptToDeleteItem`: classifies the dependent's owners and deletes it, or drops its
/// references to absent owners, or leaves it.
fn attempt_to_delete(shared: &Arc<Shared>, st: &mut State, d: &ObjRef) {
    let Some(cur) = get(st, d) else { return };
    let v = cur.value();
    if crate::graceful::is_deleting(&v) {
        if is_deleting_dependents(&v) {
            st.controllers.push(Work::Owner(d.clone()));
        }
        return;
    }
    let refs = refs_of(&v);
    if refs.is_empty() {
        return;
    }
    let (mut solid, mut dangling, mut waiting) = (0, Vec::new(), Vec::new());
    for r in &refs {
        match resolve_owner(st, r, &d.1) {
            Err(()) => solid += 1,
            Ok(None) => dangling.push(r.uid.clone()),
            Ok(Some(o)) if is_deleting_dependents(&o.value()) => waiting.push(r.uid.clone()),
            Ok(Some(_)) => solid += 1,
        }
    }
    if solid > 0 {
        if dangling.is_empty() && waiting.is_empty() {
            return;
        }
        let mut nv = v.clone();
        if let Some(Value::Array(a)) = nv.pointer_mut("/metadata/ownerReferences") {
            a.retain(|r| {
                r.get("uid").and_then(Value::as_str).is_none_or(|u| !dangling.iter().chain(&waiting).any(|x| x == u))
            });
        }
        update(shared, st, d, &cur, nv);
        return;
    }
    let has_dependents = !dependents_of(st, &cur.uid).is_empty();
    let fins = crate::graceful::finalizers(&v);
    let policy = if !waiting.is_empty() && has_dependents {
        "Foreground"
    } else if fins.iter().any(|f| f == "orphan") {
        "Orphan"
    } else if fins.iter().any(|f| f == "foregroundDeletion") {
        "Foreground"
    } else {
        "Background"
    };
    delete_with(shared, st, d, policy);
}

/// An owner being deleted with `orphan` (its dependents lose their references to it) or
/// `foregroundDeletion` (its dependents are deleted; the finalizer goes once no blocking one is
/// left).
fn process_owner(shared: &Arc<Shared>, st: &mut State, o: &ObjRef) {
    let Some(cur) = get(st, o) else { return };
    let v = cur.value();
    if !crate::graceful::is_deleting(&v) {
        return;
    }
    let fins = crate::graceful::finalizers(&v);
    let without = |f: &str| {
        let mut nv = v.clone();
        let rest: Vec<Value> = fins.iter().filter(|x| *x != f).map(|x| Value::String(x.clone())).collect();
        if let Some(Value::Object(m)) = nv.get_mut("metadata") {
            if rest.is_empty() {
                m.remove("finalizers");
            } else {
                m.insert("finalizers".into(), Value::Array(rest));
            }
        }
        nv
    };
    if fins.iter().any(|f| f == "orphan") {
        for d in dependents_of(st, &cur.uid) {
            let Some(dep) = get(st, &d) else { continue };
            let mut dv = dep.value();
            if let Some(Value::Array(a)) = dv.pointer_mut("/metadata/ownerReferences") {
                a.retain(|r| r.get("uid").and_then(Value::as_str) != Some(cur.uid.as_str()));
                if a.is_empty() {
                    if let Some(Value::Object(m)) = dv.get_mut("metadata") {
                        m.remove("ownerReferences");
                    }
                }
            }
            update(shared, st, &d, &dep, dv);
        }
        let Some(cur) = get(st, o) else { return };
        update(shared, st, o, &cur, without("orphan"));
        return;
    }
    if !fins.iter().any(|f| f == "foregroundDeletion") {
        return;
    }
    let mut blocking = false;
    for d in dependents_of(st, &cur.uid) {
        let Some(dep) = get(st, &d) else { continue };
        let blocks = refs_of_obj(&dep).iter().any(|r| r.uid == cur.uid && r.block_owner_deletion == Some(true));
        blocking |= blocks;
        if !is_deleting_dependents(&dep.value()) {
            st.controllers.push(Work::Dependent(d));
        }
    }
    if !blocking {
        update(shared, st, o, &cur, without("foregroundDeletion"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info<K: rudder_apimachinery::resource::Resource>() -> ResourceInfo {
        ResourceInfo::of::<K>()
    }

    #[test]
    fn default_propagation_per_kind() {
        use k8s_openapi::api::{apps::v1::Deployment, batch::v1::Job, core::v1::ConfigMap};
        let none = DeleteOpts::default();
        assert_eq!(deletion_finalizers(&info::<Deployment>(), &[], &none), None, "apps/v1: background");
        assert_eq!(deletion_finalizers(&info::<Job>(), &[], &none), Some(vec!["orphan".to_string()]));
        let bg = DeleteOpts { policy: Some("Background".into()), ..Default::default() };
        assert_eq!(deletion_finalizers(&info::<Job>(), &[], &bg), None);
        let fg = DeleteOpts { policy: Some("Foreground".into()), ..Default::default() };
        let keep = vec!["x/y".to_string(), "orphan".to_string()];
        assert_eq!(
            deletion_finalizers(&info::<ConfigMap>(), &keep, &fg),
            Some(vec!["x/y".to_string(), "foregroundDeletion".to_string()])
        );
        let no_orphan = DeleteOpts { orphan: Some(false), ..Default::default() };
        assert_eq!(deletion_finalizers(&info::<Job>(), &[], &no_orphan), None);
        assert_eq!(deletion_finalizers(&info::<ConfigMap>(), &keep, &none), None, "an orphan finalizer stays");
    }
}
