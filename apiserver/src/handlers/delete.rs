//! Delete and deletecollection: options and preconditions, finalizers, propagation policies.

use std::sync::Arc;

use bytes::Bytes;
use rudder_apimachinery::status::StatusDetails;
use serde_json::{json, Value};

use crate::errors::{ApiError, ApiResult};
use crate::field_selectors::selectable;
use crate::registry::ResourceInfo;
use crate::server::{json, now_rfc3339, Ctx, Shared, State, Target};
use crate::store::{encode, EventKind, Obj, ResKey};

use super::create::*;
use super::read::*;
use super::update::*;
use super::Resp;

#[derive(Debug, Default, Clone)]
pub(super) struct DeleteOpts {
    pub(super) policy: Option<String>,
    pub(super) grace: Option<i64>,
    pub(super) orphan: Option<bool>,
    pub(super) uid: Option<String>,
    pub(super) rv: Option<String>,
    pub(super) dry_run: bool,
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

/// Deletes one object; returns the HTTP code and body (the object, or a Success Status).
pub(super) fn delete_object(
    shared: &Arc<Shared>,
    st: &mut State,
    t: &Target,
    ns: &str,
    name: &str,
    o: &DeleteOpts,
) -> ApiResult<(u16, Bytes, Option<Arc<Obj>>)> {
    let info = &t.info;
    let cur = st.store.get(&t.res, ns, name).ok_or_else(|| ApiError::not_found(info, name))?;
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
    let mut v = cur.value();
    if v.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok((200, typed_bytes(info, &cur.body), None));
    }
    let mut fins: Vec<String> = v
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let extra = match (o.policy.as_deref(), o.orphan) {
        (Some("Foreground"), _) => Some("foregroundDeletion"),
        (Some("Orphan"), _) | (None, Some(true)) => Some("orphan"),
        _ => None,
    };
    if let Some(f) = extra {
        if !fins.iter().any(|x| x == f) {
            fins.push(f.to_string());
        }
    }
    let now = now_rfc3339();
    let is_pod = info.api.group.is_empty() && info.api.plural == "pods";
    if !fins.is_empty() {
        {
            let m = meta_mut(&mut v);
            m.insert("finalizers".into(), json!(fins));
            m.insert("deletionTimestamp".into(), Value::String(now));
            m.insert("deletionGracePeriodSeconds".into(), Value::from(0));
        }
        let rv = st.store.next_rv();
        let obj = encode(&v, rv, selectable(info));
        let body = typed_bytes(info, &obj.body);
        if !o.dry_run {
            st.store.commit(&t.res, EventKind::Modified, obj);
            if extra.is_some() {
                schedule_gc(shared, t.clone(), ns.to_string(), name.to_string());
            }
        }
        let code = if o.orphan == Some(false) { 202 } else { 200 };
        return Ok((code, body, None));
    }
    let mut last = cur.clone();
    if o.dry_run {
        return Ok((200, delete_result(info, &cur, is_pod), None));
    }
    if is_pod {
        let grace = o
            .grace
            .unwrap_or_else(|| v.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30));
        let scheduled = v.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
        if grace > 0 && scheduled {
            let m = meta_mut(&mut v);
            m.insert("deletionTimestamp".into(), Value::String(now));
            m.insert("deletionGracePeriodSeconds".into(), Value::from(grace));
            let rv = st.store.next_rv();
            let obj = encode(&v, rv, selectable(info));
            let ev = st.store.commit(&t.res, EventKind::Modified, obj);
            last = ev.obj.clone();
        }
    }
    let rv = st.store.next_rv();
    let ev = st.store.commit(&t.res, EventKind::Deleted, last.with_rv(rv));
    after_commit(shared, st, info, &v, EventKind::Deleted);
    if info.api.group.is_empty() && info.api.plural == "namespaces" {
        delete_namespace_contents(st, name);
    }
    Ok((200, delete_result(info, &ev.obj, is_pod), Some(ev.obj.clone())))
}

pub(super) fn delete_result(info: &ResourceInfo, obj: &Obj, return_object: bool) -> Bytes {
    if return_object || (info.api.group.is_empty() && info.api.plural == "namespaces") {
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

pub(super) fn delete_namespace_contents(st: &mut State, ns: &str) {
    let tables: Vec<ResKey> = st.store.tables.keys().cloned().collect();
    for res in tables {
        let objs: Vec<Arc<Obj>> = st
            .store
            .tables
            .get(&res)
            .map(|t| {
                t.objects
                    .range((ns.to_string(), String::new())..)
                    .take_while(|(k, _)| k.0 == ns)
                    .map(|(_, o)| o.clone())
                    .collect()
            })
            .unwrap_or_default();
        for o in objs {
            let rv = st.store.next_rv();
            st.store.commit(&res, EventKind::Deleted, o.with_rv(rv));
        }
    }
}

/// Emulates the garbage collector for objects without dependents: the `foregroundDeletion` and
/// `orphan` finalizers are removed shortly after they were added.
pub(super) fn schedule_gc(shared: &Arc<Shared>, t: Target, ns: String, name: String) {
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut st = shared.state.lock();
        let Some(cur) = st.store.get(&t.res, &ns, &name) else { return };
        let mut v = cur.value();
        if let Some(Value::Array(f)) = v.pointer_mut("/metadata/finalizers") {
            f.retain(|x| !matches!(x.as_str(), Some("foregroundDeletion" | "orphan")));
        }
        let _ = write_update(&shared, &mut st, &t, &cur, v, "", true, false);
    });
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
