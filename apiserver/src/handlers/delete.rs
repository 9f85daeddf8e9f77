//! Delete and deletecollection: options and preconditions, graceful deletion (`crate::graceful`),
//! finalizers, propagation policies (the garbage collector's finalizers, `crate::gc`), namespace
//! termination (`crate::namespaces`).

use std::sync::Arc;

use bytes::Bytes;
use rudder_apimachinery::status::StatusDetails;
use serde_json::{json, Value};

use crate::errors::{ApiError, ApiResult};
use crate::field_selectors::selectable;
use crate::graceful::{self, Before};
use crate::registry::ResourceInfo;
use crate::server::{json, Ctx, Shared, State, Target};
use crate::store::{encode, EventKind, Obj, ResKey};

use super::create::*;
use super::read::*;
use super::update::*;
use super::Resp;

#[derive(Debug, Default, Clone)]
pub(crate) struct DeleteOpts {
    pub(crate) policy: Option<String>,
    pub(crate) grace: Option<i64>,
    pub(crate) orphan: Option<bool>,
    pub(crate) uid: Option<String>,
    pub(crate) rv: Option<String>,
    pub(crate) dry_run: bool,
}

pub(super) fn delete_opts(ctx: &Ctx) -> ApiResult<DeleteOpts> {
    let mut o = DeleteOpts::default();
    if !ctx.body.is_empty() {
        if let Ok(v) = serde_json::from_slice::<Value>(&ctx.body) {
            o.policy = v.get("propagationPolicy").and_then(Value::as_str).map(String::from);
            o.grace = v.get("gracePeriodSeconds").and_then(Value::as_i64);
            o.orphan = v.get("orphanDependents").and_then(Value::as_bool);
            o.uid = v.pointer("/preconditions/uid").and_then(Value::as_str).map(String::from);
            o.rv = v.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(String::from);
            o.dry_run = v.get("dryRun").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
        }
    }
    if let Some(p) = ctx.q("propagationPolicy") {
        o.policy = Some(p.to_string());
    }
    if let Some(g) = ctx.q("gracePeriodSeconds").and_then(|g| g.parse().ok()) {
        o.grace = Some(g);
    }
    if let Some(b) = ctx.q("orphanDependents") {
        o.orphan = Some(b == "true");
    }
    if let Some(u) = ctx.q("preconditions.uid") {
        o.uid = Some(u.to_string());
    }
    if let Some(r) = ctx.q("preconditions.resourceVersion") {
        o.rv = Some(r.to_string());
    }
    o.dry_run |= ctx.dry_run();
    if let Some(p) = &o.policy {
        if !matches!(p.as_str(), "Foreground" | "Background" | "Orphan") {
            let msg = format!(
                "Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            );
            return Err(ApiError::invalid_options(
                "DeleteOptions",
                vec![("FieldValueNotSupported".into(), "propagationPolicy".into(), msg)],
            ));
        }
    }
    Ok(o)
}

/// What a DELETE answers: the HTTP code, the body, and the removed object's last state (when
/// it went).
pub(crate) type DeleteAnswer = (u16, Bytes, Option<Arc<Obj>>);

/// Deletes one object as kube-apiserver's generic registry does (`Store.Delete`): graceful
/// deletion (see [`crate::graceful`]), finalizers and the garbage collector's `orphan` /
/// `foregroundDeletion` finalizers, then removal. Returns the HTTP code, the body (the object
/// while it stays; once gone, the object for pods and namespaces, else a Success Status) and
/// the removed object's last state.
pub(crate) fn delete_object(
    shared: &Arc<Shared>,
    st: &mut State,
    t: &Target,
    ns: &str,
    name: &str,
    o: &DeleteOpts,
) -> ApiResult<DeleteAnswer> {
    let info = &t.info;
    let cur = st.store.get(&t.res, ns, name).ok_or_else(|| ApiError::not_found(info, name))?;
    if crate::namespaces::is_namespaces(info) {
        if let Some(answer) = crate::namespaces::delete(shared, st, t, &cur, o)? {
            return Ok(answer);
        }
    }
    if let Some(uid) = &o.uid {
        if *uid != cur.uid {
            return Err(ApiError::precondition(
                info,
                name,
                &format!(
                    "the UID in the precondition ({uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
                    cur.uid
                ),
            ));
        }
    }
    if let Some(rv) = &o.rv {
        if *rv != cur.rv.to_string() {
            return Err(ApiError::precondition(
                info,
                name,
                &format!(
                    "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({}). The object might have been modified",
                    cur.rv
                ),
            ));
        }
    }
    // The real server answers 202 when an object stays and orphanDependents=false was asked.
    let kept_code = if o.orphan == Some(false) { 202 } else { 200 };
    let returns_object = graceful::is_graceful_kind(info) || crate::namespaces::is_namespaces(info);
    let old = cur.value();
    let mut v = old.clone();
    let before = graceful::before_delete(info, &mut v, o.grace);
    if before == Before::Pending {
        return Ok((kept_code, delete_result(info, &cur, returns_object), None));
    }
    let gc_finalizers = crate::gc::deletion_finalizers(info, &graceful::finalizers(&old), o);
    let mut last = cur.clone();
    if before != Before::NotGraceful || !graceful::finalizers(&old).is_empty() || gc_finalizers.is_some() {
        if let Some(f) = gc_finalizers {
            let m = meta_mut(&mut v);
            if f.is_empty() {
                m.remove("finalizers");
            } else {
                m.insert("finalizers".into(), json!(f));
            }
        }
        let pending = !graceful::finalizers(&v).is_empty();
        let keep = match before {
            Before::Graceful(period) => pending || period > 0,
            _ if pending => {
                graceful::mark_as_deleting(&mut v);
                true
            }
            _ => false,
        };
        if keep || before != Before::NotGraceful {
            let rv = if o.dry_run || v == old { cur.rv } else { st.store.next_rv() };
            let obj = encode(&v, rv, selectable(info));
            if v != old && !o.dry_run {
                last = st.store.commit(&t.res, EventKind::Modified, obj).obj.clone();
                if keep {
                    after_commit(shared, st, info, &v, EventKind::Modified);
                }
            } else {
                last = Arc::new(obj);
            }
            if keep {
                if let (Before::Graceful(period), false) = (before, o.dry_run) {
                    graceful::schedule_finish(shared, ns, name, &cur.uid, period);
                }
                return Ok((kept_code, typed_bytes(info, &last.body), None));
            }
        }
    }
    if o.dry_run {
        return Ok((200, delete_result(info, &last, returns_object), None));
    }
    let rv = st.store.next_rv();
    let ev = st.store.commit(&t.res, EventKind::Deleted, last.with_rv(rv));
    after_commit(shared, st, info, &v, EventKind::Deleted);
    Ok((200, delete_result(info, &ev.obj, returns_object), Some(ev.obj.clone())))
}

pub(super) fn delete_result(info: &ResourceInfo, obj: &Obj, return_object: bool) -> Bytes {
    if return_object {
        return typed_bytes(info, &obj.body);
    }
    let d = StatusDetails {
        name: obj.name.clone(),
        group: info.api.group.to_string(),
        kind: info.api.plural.to_string(),
        uid: obj.uid.clone(),
        ..Default::default()
    };
    let mut b =
        b"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\",\"details\":".to_vec();
    b.extend_from_slice(&serde_json::to_vec(&d).unwrap_or_default());
    b.extend_from_slice(b"}\n");
    Bytes::from(b)
}

/// A target for internal writes to a table (at any served version of it).
pub(crate) fn target_of(st: &State, res: &ResKey) -> Option<Target> {
    let info = st.registry.iter().find(|r| r.api.group == res.0 && r.api.plural == res.1)?.clone();
    Some(Target { res: res.clone(), info, ns: None, name: None, sub: None, watch_prefix: false })
}

/// An update made by one of the server's controllers (garbage collector, namespace
/// finalization): no field manager, no dry run; removes the object when it was being deleted
/// and its last finalizer went.
pub(crate) fn controller_update(
    shared: &Arc<Shared>,
    st: &mut State,
    t: &Target,
    cur: &Arc<Obj>,
    new: Value,
) -> ApiResult<()> {
    write_update(shared, st, t, cur, new, "", false, false).map(|_| ())
}

pub(super) fn delete(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let o = delete_opts(ctx)?;
    let mut st = shared.state.lock();
    let (code, body, _) = delete_object(
        shared,
        &mut st,
        t,
        t.ns.as_deref().unwrap_or_default(),
        t.name.as_deref().unwrap_or_default(),
        &o,
    )?;
    Ok(json(code, body))
}

pub(super) fn delete_collection(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let o = delete_opts(ctx)?;
    let filter = Filter::parse(ctx, t)?;
    let mut st = shared.state.lock();
    let rv = st.store.rv;
    let objs = st.store.snapshot(&t.res, t.ns.as_deref(), rv, None).unwrap_or_default();
    let mut deleted = Vec::new();
    for obj in objs.into_iter().filter(|x| filter.matches(x)) {
        if let Ok((_, _, gone)) = delete_object(shared, &mut st, t, &obj.ns, &obj.name, &o) {
            deleted.push(gone.unwrap_or(obj));
        }
    }
    let rv = st.store.rv;
    drop(st);
    Ok(list_response(&t.info, ctx.wants_partial(), json!({"resourceVersion": rv.to_string()}), deleted))
}
