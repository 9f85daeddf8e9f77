//! Update (PUT): the resourceVersion precondition, no-op writes that commit nothing, and the
//! commit shared by update, patch and status writes.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::apply;
use crate::crd_schema;
use crate::defaults;
use crate::errors::{ApiError, ApiResult};
use crate::field_selectors::selectable;
use crate::field_validation;
use crate::limits;
use crate::server::{json, now_rfc3339, Ctx, Shared, State, Target};
use crate::store::{encode, EventKind, Obj};
use crate::validation;

use super::create::*;
use super::read::*;
use super::Resp;

pub(super) fn strip_managed(v: &Value) -> Value {
    let mut c = strip_rv(v);
    if let Some(Value::Object(m)) = c.get_mut("metadata") {
        m.remove("managedFields");
    }
    c
}

pub(super) fn strip_rv(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(Value::Object(m)) = c.get_mut("metadata") {
        m.remove("resourceVersion");
    }
    c
}

pub(super) fn without(v: &Value, keys: &[&str]) -> Value {
    let mut c = v.clone();
    if let Value::Object(m) = &mut c {
        for k in keys {
            m.remove(*k);
        }
    }
    c
}

/// Commits `new` as the next state of `cur` (update, patch, status). `tracked` says
/// managedFields were already computed (apply). Returns the code and the response body.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_update(
    shared: &Arc<Shared>,
    st: &mut State,
    t: &Target,
    cur: &Arc<Obj>,
    mut new: Value,
    manager: &str,
    tracked: bool,
    dry_run: bool,
) -> ApiResult<(u16, Bytes)> {
    let info = &t.info;
    let old = cur.value();
    let sub = t.sub.clone().unwrap_or_default();
    if let Value::Object(m) = &mut new {
        m.remove("kind");
        m.remove("apiVersion");
    }
    defaults::apply(info, &mut new, Some(&old));
    {
        let old_meta = old.get("metadata").cloned().unwrap_or(Value::Null);
        let m = meta_mut(&mut new);
        for k in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(k) {
                Some(x) => m.insert(k.into(), x.clone()),
                None => m.remove(k),
            };
        }
        m.remove("resourceVersion");
        if !tracked {
            match old_meta.get("managedFields") {
                Some(x) => m.insert("managedFields".into(), x.clone()),
                None => m.remove("managedFields"),
            };
        }
    }
    if info.has_status() && sub.is_empty() {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Value::Object(m) = &mut new {
                    m.remove("status");
                }
            }
        }
    }
    crd_schema::admit(st, info, &cur.name, &mut new)?;
    if sub.is_empty() {
        crate::default_tolerations::admit(info, &mut new, shared.opts.default_toleration_seconds);
    }
    // Finalizers cannot be added to an object being deleted.
    let deleting = old.pointer("/metadata/deletionTimestamp").is_some();
    let fin = |v: &Value| -> Vec<String> {
        v.pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    if deleting {
        let old_f = fin(&old);
        let added: Vec<String> = fin(&new).into_iter().filter(|f| !old_f.contains(f)).collect();
        if !added.is_empty() {
            let list = added.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", ");
            let detail = format!(
                "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"
            );
            return Err(ApiError::invalid(
                info,
                &cur.name,
                "metadata.finalizers",
                "FieldValueForbidden",
                &detail,
                false,
            ));
        }
    }
    if info.tracks_generation() && without(&old, &["metadata", "status"]) != without(&new, &["metadata", "status"]) {
        let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
        meta_mut(&mut new).insert("generation".into(), Value::from(g + 1));
    }
    if strip_managed(&new) == strip_managed(&old) && (!tracked || strip_rv(&new) == strip_rv(&old)) {
        return Ok((200, typed_bytes(info, &cur.body)));
    }
    if !tracked && !manager.is_empty() {
        apply::track_update(Some(&old), &mut new, manager, &api_version_of(info), &now_rfc3339(), &sub);
    }
    // A dry run stores nothing: the answer keeps the stored resourceVersion.
    let rv = if dry_run { cur.rv } else { st.store.next_rv() };
    let obj = encode(&new, rv, selectable(info));
    if dry_run {
        return Ok((200, typed_bytes(info, &obj.body)));
    }
    // Server-side apply keeps its managedFields; every other write may lose them to fit.
    let obj = limits::fit_in_storage(obj, &mut new, !tracked, |v| encode(v, rv, selectable(info)))?;
    if crate::graceful::should_delete_during_update(info, &old, &new) {
        let body = obj.body.clone();
        st.store.commit(&t.res, EventKind::Deleted, obj);
        after_commit(shared, st, info, &new, EventKind::Deleted);
        return Ok((200, typed_bytes(info, &body)));
    }
    let body = obj.body.clone();
    st.store.commit(&t.res, EventKind::Modified, obj);
    after_commit(shared, st, info, &new, EventKind::Modified);
    Ok((200, typed_bytes(info, &body)))
}

pub(super) fn check_name_ns(t: &Target, v: &Value) -> ApiResult<()> {
    let url_name = t.name.as_deref().unwrap_or_default();
    let name = meta_str(v, "name");
    if !name.is_empty() && name != url_name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({url_name})"
        )));
    }
    let ns = meta_str(v, "namespace");
    if let Some(url_ns) = &t.ns {
        if !ns.is_empty() && &ns != url_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    Ok(())
}

pub(super) fn update(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let directive = field_validation::directive(ctx, "UpdateOptions")?;
    let mut v = decode_body(ctx, &t.info)?;
    let unknown = validation::check(&t.info, &v).map_err(|f| validation::body_error(&t.info, &f))?;
    check_name_ns(t, &v)?;
    let name = t.name.clone().unwrap_or_default();
    let mut st = shared.state.lock();
    let unknown = crd_schema::unknown_or(&st, &t.info, &v, unknown);
    let warnings = field_validation::body_failure(
        &t.info,
        directive,
        &field_validation::body_findings(directive, ctx, &unknown, t.info.custom),
    )?;
    field_validation::prune(&mut v, &unknown);
    let cur = st
        .store
        .get(&t.res, t.ns.as_deref().unwrap_or_default(), &name)
        .ok_or_else(|| ApiError::not_found(&t.info, &name))?;
    let rv = meta_str(&v, "resourceVersion");
    if rv.is_empty() {
        if t.info.custom {
            return Err(ApiError::invalid(
                &t.info,
                &name,
                "metadata.resourceVersion",
                "FieldValueInvalid",
                "Invalid value: 0x0: must be specified for an update",
                true,
            ));
        }
    } else if rv != cur.rv.to_string() {
        return Err(ApiError::conflict(&t.info, &name));
    }
    let new = if t.sub.as_deref() == Some("status") {
        let mut n = cur.value();
        match v.get("status") {
            Some(s) => n["status"] = s.clone(),
            None => {
                if let Value::Object(m) = &mut n {
                    m.remove("status");
                }
            }
        }
        n
    } else {
        v
    };
    let (code, body) = write_update(shared, &mut st, t, &cur, new, &ctx.manager(), false, ctx.dry_run())?;
    Ok(field_validation::warn(json(code, body), &warnings))
}
