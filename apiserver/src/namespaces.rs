//! Namespace termination: the namespace registry's DELETE, the NamespaceLifecycle admission
//! plugin and the namespace controller (kube-controller-manager's, emulated; it runs in the
//! after-commit pass of [`crate::gc`]).
//!
//! Contract:
//! - `default`, `kube-system` and `kube-public` cannot be deleted (403, "this namespace may not
//!   be deleted").
//! - The first DELETE sets `deletionTimestamp` and `status.phase: Terminating` (and the
//!   `orphan` / `foregroundDeletion` metadata finalizers the options ask for) and answers the
//!   namespace; the `kubernetes` finalizer in `spec.finalizers` (set on create) keeps it. A
//!   later DELETE answers the namespace unchanged while `spec.finalizers` is not empty.
//! - The controller then deletes everything in the namespace (propagation `Background`; pods
//!   delete gracefully, finalizers hold objects), and records the conditions the real
//!   controller sets (`NamespaceDeletionDiscoveryFailure`,
//!   `NamespaceDeletionGroupVersionParsingFailure`, `NamespaceDeletionContentFailure`,
//!   `NamespaceContentRemaining`, `NamespaceFinalizersRemaining`, with its reasons and
//!   messages). When nothing is left it removes `kubernetes` from `spec.finalizers`, and the
//!   namespace goes once no metadata finalizer is left. It syncs again whenever an object in
//!   the namespace is deleted or marked deleting.
//! - Creating anything in a Terminating namespace is refused with the real 403 (`... is
//!   forbidden: unable to create new content in namespace X because it is being terminated`,
//!   cause `NamespaceTerminating`).

use std::collections::BTreeMap;
use std::sync::Arc;

use rudder_apimachinery::resource::Scope;
use rudder_apimachinery::status::{ReasonKind, Status, StatusCause, StatusDetails};
use serde_json::{json, Value};

use crate::errors::{qualified, ApiError, ApiResult};
use crate::field_selectors::selectable;
use crate::handlers::{controller_update, delete_object, typed_bytes, DeleteAnswer, DeleteOpts};
use crate::registry::ResourceInfo;
use crate::server::{now_rfc3339, res_key, Shared, State, Target};
use crate::store::{encode, EventKind, Obj, ResKey};

/// Namespaces that can never be deleted.
const IMMORTAL: &[&str] = &["default", "kube-system", "kube-public"];

/// The condition types the namespace controller maintains, in its order, with the reason and
/// message of their "all is well" (False) state.
const CONDITIONS: &[(&str, &str, &str)] = &[
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentRemoved", "All content successfully removed"),
];

fn namespaces_key() -> ResKey {
    (String::new(), "namespaces".into())
}

/// Whether a resource is the core Namespace.
pub(crate) fn is_namespaces(info: &ResourceInfo) -> bool {
    info.api.group.is_empty() && info.api.plural == "namespaces"
}

fn forbidden(info: &ResourceInfo, name: &str, why: &str) -> Status {
    let message = if name.is_empty() {
        format!("{} is forbidden: {why}", qualified(info))
    } else {
        format!("{} {name:?} is forbidden: {why}", qualified(info))
    };
    Status::failure(403, ReasonKind::Forbidden, message).with_details(StatusDetails {
        name: name.to_string(),
        group: info.api.group.to_string(),
        kind: info.api.plural.to_string(),
        ..Default::default()
    })
}

fn terminating(st: &State, ns: &str) -> Option<Value> {
    let v = st.store.get(&namespaces_key(), "", ns)?.value();
    (v.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")).then_some(v)
}

/// NamespaceLifecycle on create: 403 in a Terminating namespace.
pub(crate) fn check_create(st: &State, info: &ResourceInfo, ns: &str, name: &str) -> ApiResult<()> {
    if terminating(st, ns).is_none() {
        return Ok(());
    }
    let mut s = forbidden(
        info,
        name,
        &format!("unable to create new content in namespace {ns} because it is being terminated"),
    );
    if let Some(d) = s.details.as_mut() {
        d.causes.push(StatusCause {
            reason: "NamespaceTerminating".into(),
            message: format!("namespace {ns} is being terminated"),
            field: "metadata.namespace".into(),
        });
    }
    Err(s.into())
}

/// The namespace registry's DELETE. `Ok(None)`: the namespace is finalized and goes through the
/// generic delete.
pub(crate) fn delete(
    shared: &Arc<Shared>,
    st: &mut State,
    t: &Target,
    cur: &Arc<Obj>,
    o: &DeleteOpts,
) -> ApiResult<Option<DeleteAnswer>> {
    let info = &t.info;
    if IMMORTAL.contains(&cur.name.as_str()) {
        return Err(forbidden(info, &cur.name, "this namespace may not be deleted").into());
    }
    let conflict = |what: &str, want: &str, have: &str| -> ApiError {
        ApiError::conflict_msg(
            info,
            &cur.name,
            &format!("Precondition failed: {what} in precondition: {want}, {what} in object meta: {have}"),
        )
    };
    if let Some(uid) = o.uid.as_deref().filter(|u| *u != cur.uid) {
        return Err(conflict("UID", uid, &cur.uid));
    }
    let rv = cur.rv.to_string();
    if let Some(want) = o.rv.as_deref().filter(|r| *r != rv) {
        return Err(conflict("ResourceVersion", want, &rv));
    }
    let mut v = cur.value();
    if crate::graceful::is_deleting(&v) {
        let spec_fins = v.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
        return Ok(spec_fins.then(|| (200, typed_bytes(info, &cur.body), None)));
    }
    v["metadata"]["deletionTimestamp"] = Value::String(now_rfc3339());
    if !v.get("status").is_some_and(Value::is_object) {
        v["status"] = json!({});
    }
    v["status"]["phase"] = json!("Terminating");
    let mut fins = crate::graceful::finalizers(&v);
    let want = |f: &str, have: bool| match (o.orphan, o.policy.as_deref()) {
        (Some(orphan), _) => orphan == (f == "orphan"),
        (None, Some(p)) => p == if f == "orphan" { "Orphan" } else { "Foreground" },
        (None, None) => have,
    };
    for f in ["orphan", "foregroundDeletion"] {
        let have = fins.iter().any(|x| x == f);
        match (have, want(f, have)) {
            (false, true) => fins.push(f.to_string()),
            (true, false) => fins.retain(|x| x != f),
            _ => {}
        }
    }
    if fins.is_empty() {
        if let Some(Value::Object(m)) = v.get_mut("metadata") {
            m.remove("finalizers");
        }
    } else {
        v["metadata"]["finalizers"] = json!(fins);
    }
    let code = if o.orphan == Some(false) { 202 } else { 200 };
    if o.dry_run {
        return Ok(Some((code, typed_bytes(info, &encode(&v, cur.rv, &[]).body), None)));
    }
    let rv = st.store.next_rv();
    let obj = encode(&v, rv, selectable(info));
    let body = typed_bytes(info, &obj.body);
    st.store.commit(&t.res, EventKind::Modified, obj);
    crate::gc::observe(shared, st, info, &v, EventKind::Modified);
    Ok(Some((code, body, None)))
}

/// The namespaced tables, each with a served version (for deletes).
fn namespaced_tables(st: &State) -> Vec<(ResKey, ResourceInfo)> {
    let mut out: BTreeMap<ResKey, ResourceInfo> = BTreeMap::new();
    for info in st.registry.iter().filter(|i| i.api.scope == Scope::Namespaced) {
        out.entry(res_key(info)).or_insert_with(|| info.clone());
    }
    out.into_iter().collect()
}

fn objects_in(st: &State, res: &ResKey, ns: &str) -> Vec<Arc<Obj>> {
    st.store.snapshot(res, Some(ns), st.store.rv, None).unwrap_or_default()
}

/// The namespace controller's sync of one namespace (nothing unless it is being deleted and
/// still has the `kubernetes` finalizer).
pub(crate) fn sync(shared: &Arc<Shared>, st: &mut State, ns: &str) {
    let Some(cur) = st.store.get(&namespaces_key(), "", ns) else { return };
    let v = cur.value();
    let finalized = !v
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|f| f.as_str() == Some("kubernetes")));
    if !crate::graceful::is_deleting(&v) || finalized {
        return;
    }
    let tables = namespaced_tables(st);
    let background = DeleteOpts { policy: Some("Background".into()), ..Default::default() };
    for (res, info) in &tables {
        let t = Target {
            res: res.clone(),
            info: info.clone(),
            ns: Some(ns.to_string()),
            name: None,
            sub: None,
            watch_prefix: false,
        };
        for o in objects_in(st, res, ns) {
            if !o.metadata().windows(19).any(|w| w == b"\"deletionTimestamp\"") {
                let _ = delete_object(shared, st, &t, ns, &o.name, &background);
            }
        }
    }
    // What is left, per resource and per finalizer.
    let mut remaining: Vec<String> = Vec::new();
    let mut by_finalizer: BTreeMap<String, usize> = BTreeMap::new();
    for (res, _) in &tables {
        let left = objects_in(st, res, ns);
        if !left.is_empty() {
            remaining.push(format!("{}.{} has {} resource instances", res.1, res.0, left.len()));
        }
        for o in &left {
            for f in crate::graceful::finalizers(&o.value()) {
                *by_finalizer.entry(f).or_default() += 1;
            }
        }
    }
    remaining.sort();
    let finalizers: Vec<String> = by_finalizer.iter().map(|(f, n)| format!("{f} in {n} resource instances")).collect();
    let Some(cur) = st.store.get(&namespaces_key(), "", ns) else { return };
    let mut nv = cur.value();
    let old_conditions = nv.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    let now = now_rfc3339();
    let conditions: Vec<Value> = CONDITIONS
        .iter()
        .map(|(ty, ok_reason, ok_message)| {
            let (status, reason, message) = match *ty {
                "NamespaceContentRemaining" if !remaining.is_empty() => {
                    ("True", "SomeResourcesRemain", format!("Some resources are remaining: {}", remaining.join(", ")))
                }
                "NamespaceFinalizersRemaining" if !finalizers.is_empty() => {
                    ("True", "SomeFinalizerRemain", format!("Some finalizers are remaining: {}", finalizers.join(", ")))
                }
                _ => ("False", *ok_reason, ok_message.to_string()),
            };
            let old = old_conditions.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(ty));
            let since = match old {
                Some(c) if c.get("status").and_then(Value::as_str) == Some(status) => {
                    c.get("lastTransitionTime").cloned().unwrap_or_else(|| json!(now))
                }
                _ => json!(now),
            };
            json!({"type": ty, "status": status, "lastTransitionTime": since, "reason": reason, "message": message})
        })
        .collect();
    let Some(t) = crate::handlers::target_of(st, &namespaces_key()) else { return };
    let t = Target { sub: Some("status".into()), ..t };
    if old_conditions != conditions {
        nv["status"]["conditions"] = Value::Array(conditions);
        let _ = controller_update(shared, st, &t, &cur, nv);
    }
    if !remaining.is_empty() {
        return;
    }
    // Finalize: the namespace controller's PUT to namespaces/{name}/finalize.
    let Some(cur) = st.store.get(&namespaces_key(), "", ns) else { return };
    let mut fv = cur.value();
    if let Some(Value::Array(a)) = fv.pointer_mut("/spec/finalizers") {
        a.retain(|f| f.as_str() != Some("kubernetes"));
    }
    let t = Target { sub: None, ..t };
    let _ = controller_update(shared, st, &t, &cur, fv);
}
