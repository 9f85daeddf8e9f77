//! `pods/ephemeralcontainers` (what `kubectl debug` writes), as the real pod registry serves it
//! (`podEphemeralContainersStrategy` and `ValidatePodEphemeralContainersUpdate`).
//!
//! Contract: GET answers the Pod; PUT and PATCH (JSON, merge, strategic) change only
//! `spec.ephemeralContainers` (everything else sent is ignored). Existing ephemeral containers
//! can be neither changed nor removed, and new ones follow the pod validation for them: a
//! name (unique across every container of the pod) and an image, a `targetContainerName` that
//! names a container or init container, and none of ports, probes, lifecycle, resources,
//! resizePolicy or restartPolicy, nor volume `subPath`s. Violations are the real 422 with every
//! cause (the "may not be changed" message omits the Go diff the real one appends).

use std::sync::Arc;

use http::Method;
use serde_json::{Map, Value};

use crate::defaults;
use crate::errors::{ApiError, ApiResult};
use crate::server::{json, Ctx, Shared, Target};

use super::read::typed_bytes;
use super::update::write_update;
use super::{invalid, proposed, FieldError, Resp};

const PATH: &str = "spec.ephemeralContainers";
/// Container fields an ephemeral container may not set.
const FORBIDDEN: &[&str] = &[
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "resources",
    "resizePolicy",
    "restartPolicy",
];

fn list(v: &Value, ptr: &str) -> Vec<Value> {
    v.pointer(ptr).and_then(Value::as_array).cloned().unwrap_or_default()
}

fn name_of(c: &Value) -> &str {
    c.get("name").and_then(Value::as_str).unwrap_or_default()
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn validate(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let new_eph = list(new, "/spec/ephemeralContainers");
    for o in list(old, "/spec/ephemeralContainers") {
        match new_eph.iter().find(|n| name_of(n) == name_of(&o)) {
            None => errs.push(FieldError::not_found(PATH.into(), name_of(&o))),
            Some(n) if *n != o => errs.push(FieldError::forbidden(
                &format!("{PATH}[{}]", name_of(&o)),
                &format!("existing ephemeral containers {:?} may not be changed", name_of(&o)),
            )),
            Some(_) => {}
        }
    }
    let others: Vec<String> = list(new, "/spec/containers")
        .iter()
        .chain(list(new, "/spec/initContainers").iter())
        .map(|c| name_of(c).to_string())
        .collect();
    let mut names = others.clone();
    for (i, c) in new_eph.iter().enumerate() {
        let at = format!("{PATH}[{i}]");
        let name = name_of(c);
        if name.is_empty() {
            errs.push(FieldError::required(format!("{at}.name")));
        } else if !is_dns_label(name) {
            errs.push(FieldError::invalid(
                format!("{at}.name"),
                name,
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            ));
        }
        if c.get("image").and_then(Value::as_str).unwrap_or_default().is_empty() {
            errs.push(FieldError::required(format!("{at}.image")));
        }
        if names.iter().any(|n| n == name) {
            errs.push(FieldError::duplicate(format!("{at}.name"), name));
        } else {
            names.push(name.to_string());
        }
        if let Some(target) = c.get("targetContainerName").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            if !others.iter().any(|n| n == target) {
                errs.push(FieldError::not_found(format!("{at}.targetContainerName"), target));
            }
        }
        for f in FORBIDDEN {
            let set = match c.get(*f) {
                None | Some(Value::Null) => false,
                Some(Value::Array(a)) => !a.is_empty(),
                Some(Value::Object(m)) => !m.is_empty(),
                Some(_) => true,
            };
            if set {
                errs.push(FieldError::forbidden(&format!("{at}.{f}"), "cannot be set for an Ephemeral Container"));
            }
        }
        for (j, m) in list(c, "/volumeMounts").iter().enumerate() {
            for f in ["subPath", "subPathExpr"] {
                if m.get(f).and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
                    errs.push(FieldError::forbidden(
                        &format!("{at}.volumeMounts[{j}].{f}"),
                        "cannot be set for an Ephemeral Container",
                    ));
                }
            }
        }
    }
    errs
}

/// GET, PUT or PATCH of `pods/<name>/ephemeralcontainers`.
pub(super) fn handle(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let name = t.name.clone().unwrap_or_default();
    let ns = t.ns.clone().unwrap_or_default();
    let mut st = shared.state.lock();
    let cur = st.store.get(&t.res, &ns, &name).ok_or_else(|| ApiError::not_found(&t.info, &name))?;
    if ctx.method == Method::GET {
        return Ok(json(200, typed_bytes(&t.info, &cur.body)));
    }
    let old = cur.value();
    let sent = proposed(ctx, &t.info, &old)?;
    if ctx.method == Method::PUT {
        super::update::check_name_ns(t, &sent)?;
    }
    let rv = sent.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default();
    if !rv.is_empty() && rv != cur.rv.to_string() {
        return Err(ApiError::conflict(&t.info, &name));
    }
    // The strategy: the stored pod with the sent ephemeral containers, defaulted.
    let mut new = old.clone();
    if !new.get("spec").is_some_and(Value::is_object) {
        new["spec"] = Value::Object(Map::new());
    }
    match sent.pointer("/spec/ephemeralContainers") {
        Some(Value::Array(a)) if !a.is_empty() => new["spec"]["ephemeralContainers"] = Value::Array(a.clone()),
        _ => {
            if let Some(Value::Object(spec)) = new.get_mut("spec") {
                spec.remove("ephemeralContainers");
            }
        }
    }
    defaults::apply(&t.info, &mut new, Some(&old));
    let errs = validate(&new, &old);
    if !errs.is_empty() {
        return Err(invalid(&t.info, &name, errs));
    }
    let (code, body) = write_update(shared, &mut st, t, &cur, new, &ctx.manager(), false, ctx.dry_run())?;
    Ok(json(code, body))
}
