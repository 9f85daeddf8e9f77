//! Subresources: scale, binding, eviction and log.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use rudder_apimachinery::labels::{Operator, Requirement, Selector};
use rudder_apimachinery::status::{ReasonKind, Status, StatusDetails};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::errors::{ApiError, ApiResult};
use crate::limits;
use crate::registry::ResourceInfo;
use crate::server::{json, json_value, response, Body, Ctx, Shared, Target};
use crate::strategic;

use super::delete::*;
use super::update::*;
use super::Resp;

/// The selector a Scale shows in `status.selector`: a workload's `LabelSelector` printed as
/// `metav1.LabelSelectorAsSelector(...).String()` prints it (requirements sorted by key,
/// `app=x,tier in (a,b),!gone`), a ReplicationController's label map as `app=x`. A selector
/// that does not convert (the real server's validation refuses those) shows none.
pub(super) fn scale_selector(spec_selector: Option<&Value>) -> String {
    match spec_selector {
        Some(sel @ Value::Object(m)) if m.contains_key("matchLabels") || m.contains_key("matchExpressions") => {
            crate::printers::selector_string(Some(sel)).unwrap_or_default()
        }
        Some(Value::Object(m)) => {
            let labels = m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())));
            let requirements = labels.filter_map(|(k, v)| Requirement::new(k, Operator::Equals, [v]).ok()).collect();
            Selector::new(requirements).to_string()
        }
        _ => String::new(),
    }
}

pub(super) fn scale_of(info: &ResourceInfo, v: &Value) -> Value {
    let selector = scale_selector(v.pointer("/spec/selector"));
    let meta = v.get("metadata").cloned().unwrap_or(json!({}));
    let mut m = json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": v.pointer("/spec/replicas").cloned().unwrap_or(Value::from(if info.custom { 0 } else { 1 }))},
        "status": {"replicas": v.pointer("/status/replicas").cloned().unwrap_or(Value::from(0))},
    });
    if !selector.is_empty() {
        m["status"]["selector"] = Value::String(selector);
    }
    if let Some(Value::Object(md)) = m.get_mut("metadata") {
        md.retain(|_, v| !v.is_null());
    }
    m
}

pub(super) fn get_scale(shared: &Arc<Shared>, t: &Target) -> ApiResult<Resp> {
    let name = t.name.clone().unwrap_or_default();
    let st = shared.state.lock();
    let obj = st
        .store
        .get(&t.res, t.ns.as_deref().unwrap_or_default(), &name)
        .ok_or_else(|| ApiError::not_found(&t.info, &name))?;
    let mut scale = scale_of(&t.info, &obj.value());
    crate::crd_schema::scale_view(&st, &t.info, &obj.value(), &mut scale);
    Ok(json_value(200, &scale))
}

pub(super) fn write_scale(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let name = t.name.clone().unwrap_or_default();
    let mut st = shared.state.lock();
    let cur = st
        .store
        .get(&t.res, t.ns.as_deref().unwrap_or_default(), &name)
        .ok_or_else(|| ApiError::not_found(&t.info, &name))?;
    let mut v = cur.value();
    let mut scale = scale_of(&t.info, &v);
    crate::crd_schema::scale_view(&st, &t.info, &v, &mut scale);
    let new_scale: Value = if ctx.method == Method::PUT {
        serde_json::from_slice(&ctx.body).map_err(|e| {
            ApiError::bad_request(format!("the object provided is unrecognized (must be of type Scale): {e}"))
        })?
    } else {
        let patch: Value = serde_json::from_slice(&ctx.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
        let mut s = scale.clone();
        match ctx.header("content-type").split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => s = limits::json_patch(&s, &patch)?,
            "application/merge-patch+json"
            | "application/strategic-merge-patch+json"
            | "application/apply-patch+yaml" => strategic::merge_patch(&mut s, &patch),
            _ => return Err(ApiError::unsupported_patch("")),
        }
        s
    };
    let srv = new_scale.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default();
    if !srv.is_empty() && srv != cur.rv.to_string() {
        return Err(ApiError::conflict(&t.info, &name));
    }
    let replicas = new_scale.pointer("/spec/replicas").cloned().unwrap_or(Value::from(0));
    crate::crd_schema::set_replicas(&st, &t.info, &mut v, replicas);
    let main = Target { sub: None, ..t.clone() };
    write_update(shared, &mut st, &main, &cur, v, &ctx.manager(), false, ctx.dry_run())?;
    let after = st.store.get(&t.res, t.ns.as_deref().unwrap_or_default(), &name).unwrap_or(cur);
    let mut scale = scale_of(&t.info, &after.value());
    crate::crd_schema::scale_view(&st, &t.info, &after.value(), &mut scale);
    Ok(json_value(200, &scale))
}

pub(super) fn success_201() -> Resp {
    json(201, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\",\"code\":201}\n")
}

pub(super) fn binding(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let b: Value = serde_json::from_slice(&ctx.body).map_err(|e| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type Binding): couldn't get version/kind; json parse error: {e}"
        ))
    })?;
    let node = b.pointer("/target/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let name = t.name.clone().unwrap_or_default();
    let mut st = shared.state.lock();
    let cur = st
        .store
        .get(&t.res, t.ns.as_deref().unwrap_or_default(), &name)
        .ok_or_else(|| ApiError::not_found(&t.info, &name))?;
    let mut v = cur.value();
    // The registry's checks (pod storage's BindingREST): only Nodes are targets; the uid and
    // resourceVersion preconditions; a pod being deleted, already bound or gated is refused;
    // the Binding's annotations are copied and `PodScheduled` turns True.
    let target_kind = b.pointer("/target/kind").and_then(Value::as_str).unwrap_or_default();
    if !target_kind.is_empty() && target_kind != "Node" {
        return Err(ApiError::invalid(
            &t.info,
            &name,
            "target.kind",
            "FieldValueNotSupported",
            &format!("Unsupported value: {target_kind:?}: supported values: \"Node\""),
            false,
        ));
    }
    // The Binding's uid and resourceVersion are the storage update's preconditions
    // (BindingREST.setPodNodeAndMetadata), answered as storage answers a failed one.
    let ns = t.ns.as_deref().unwrap_or_default();
    let precondition = |what: &str, want: &str, have: &str| {
        ApiError::conflict_msg(
            &t.info,
            &name,
            &format!(
                "StorageError: invalid object, Code: 4, Key: /registry/pods/{ns}/{name}, ResourceVersion: 0, \
                 AdditionalErrorMsg: Precondition failed: {what} in precondition: {want}, {what} in object meta: {have}"
            ),
        )
    };
    if let Some(uid) = b.pointer("/metadata/uid").and_then(Value::as_str).filter(|u| !u.is_empty()) {
        if uid != cur.uid {
            return Err(precondition("UID", uid, &cur.uid));
        }
    }
    if let Some(rv) = b.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|r| !r.is_empty()) {
        if rv != cur.rv.to_string() {
            return Err(precondition("ResourceVersion", rv, &cur.rv.to_string()));
        }
    }
    // Then the update's own checks, in its order; their errors are Conflicts on pods/binding.
    let refuse = |why: String| -> ApiError {
        Status::failure(
            409,
            ReasonKind::Conflict,
            format!("Operation cannot be fulfilled on pods/binding {name:?}: {why}"),
        )
        .with_details(StatusDetails { name: name.clone(), kind: "pods/binding".into(), ..Default::default() })
        .into()
    };
    if v.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null()) {
        return Err(refuse(format!("pod {name} is being deleted, cannot be assigned to a host")));
    }
    let bound = v.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default().to_string();
    if !bound.is_empty() {
        return Err(refuse(format!("pod {name} is already assigned to node {bound:?}")));
    }
    if v.pointer("/spec/schedulingGates").and_then(Value::as_array).is_some_and(|g| !g.is_empty()) {
        return Err(refuse(format!("pod {name} has non-empty .spec.schedulingGates")));
    }
    if let Some(annotations) = b.pointer("/metadata/annotations").and_then(Value::as_object).filter(|a| !a.is_empty()) {
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            let target = meta.entry("annotations").or_insert_with(|| json!({}));
            if let Some(t) = target.as_object_mut() {
                t.extend(annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    if !v.get("spec").is_some_and(Value::is_object) {
        v["spec"] = json!({});
    }
    v["spec"]["nodeName"] = Value::String(node);
    set_pod_scheduled(&mut v);
    // One storage write of spec and status (the `binding` target keeps the status), outside
    // the field manager: the pod's managedFields do not change, as on the real server.
    write_update(shared, &mut st, t, &cur, v, &ctx.manager(), true, ctx.dry_run())?;
    Ok(success_201())
}

/// Sets the pod's `PodScheduled` condition to True as `podutil.UpdatePodCondition` does: the
/// condition is replaced whole (a scheduler's reason and message go), its
/// `lastTransitionTime` is now unless it was True already, and a new one is appended.
fn set_pod_scheduled(pod: &mut Value) {
    let old = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled")))
        .cloned();
    let since = match &old {
        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => {
            c.get("lastTransitionTime").cloned().unwrap_or(Value::Null)
        }
        _ => Value::String(crate::server::now_rfc3339()),
    };
    let condition =
        json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": since});
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    let conditions = &mut pod["status"]["conditions"];
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    if let Some(list) = conditions.as_array_mut() {
        match list.iter_mut().find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled")) {
            Some(c) => *c = condition,
            None => list.push(condition),
        }
    }
}

/// `pods/eviction`: the Eviction body (its name must match the URL's; its `deleteOptions` apply
/// to the delete), then the disruption budgets' decision (`crate::disruption::evict`).
pub(super) fn eviction(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let name = t.name.clone().unwrap_or_default();
    let b: Value = serde_json::from_slice(&ctx.body).map_err(|e| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type Eviction): couldn't get version/kind; json parse error: {e}"
        ))
    })?;
    if b.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default() != name {
        return Err(ApiError::bad_request("name in URL does not match name in Eviction object"));
    }
    let d = b.get("deleteOptions").cloned().unwrap_or(Value::Null);
    let body_dry = d.get("dryRun").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let o = DeleteOpts {
        policy: d.get("propagationPolicy").and_then(Value::as_str).map(String::from),
        grace: d.get("gracePeriodSeconds").and_then(Value::as_i64),
        orphan: d.get("orphanDependents").and_then(Value::as_bool),
        uid: d.pointer("/preconditions/uid").and_then(Value::as_str).map(String::from),
        rv: d.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(String::from),
        dry_run: ctx.dry_run() || body_dry,
    };
    let mut st = shared.state.lock();
    let main = Target { sub: None, ..t.clone() };
    let (code, body) = crate::disruption::evict(shared, &mut st, &main, t.ns.as_deref().unwrap_or_default(), &name, o)?;
    Ok(json(code, body))
}

pub(super) fn logs(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let name = t.name.clone().unwrap_or_default();
    let obj = shared
        .state
        .lock()
        .store
        .get(&t.res, t.ns.as_deref().unwrap_or_default(), &name)
        .ok_or_else(|| ApiError::not_found(&t.info, &name))?;
    let v = obj.value();
    let ns = t.ns.as_deref().unwrap_or_default();
    if shared.state.lock().kubelet.simulates_pod(ns, &name) {
        return Ok(response(200, "text/plain", crate::kubelet::serve_log(shared, ctx, ns, &name, &v)?));
    }
    let container = ctx
        .q("container")
        .map(String::from)
        .or_else(|| v.pointer("/spec/containers/0/name").and_then(Value::as_str).map(String::from))
        .unwrap_or_default();
    let timestamps = ctx.flag("timestamps");
    let line = move |i: usize| -> String {
        let msg = format!("log line {i} from {name}/{container}\n");
        if timestamps {
            format!("{} {msg}", jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        } else {
            msg
        }
    };
    const CANNED: usize = 10;
    let tail = ctx.q("tailLines").and_then(|n| n.parse::<usize>().ok()).unwrap_or(CANNED).min(CANNED);
    let first: String = (CANNED - tail..CANNED).map(&line).collect();
    if !ctx.flag("follow") {
        return Ok(response(200, "text/plain", Body::Full(Some(Bytes::from(first)))));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let interval = shared.opts.log_interval;
    // drop_watches() and restart() end followed logs as they end watches.
    let mut epoch = shared.watch_epoch.subscribe();
    epoch.borrow_and_update();
    tokio::spawn(async move {
        if tx.send(Bytes::from(first)).await.is_err() {
            return;
        }
        let mut i = CANNED;
        loop {
            tokio::select! {
                _ = epoch.changed() => return,
                _ = tx.closed() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            if tx.send(Bytes::from(line(i))).await.is_err() {
                return;
            }
            i += 1;
        }
    });
    Ok(response(200, "text/plain", Body::Chan(rx)))
}
