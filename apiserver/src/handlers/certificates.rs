//! The `approval` and `status` subresources of CertificateSigningRequests, with the real
//! registry's strategies (pkg/registry/certificates/certificates/strategy.go) and update
//! validation (pkg/apis/certificates/validation).
//!
//! Contract:
//! - `approval` (GET, PUT, PATCH) changes only `status.conditions`: the spec, the certificate
//!   and the rest of the status stay as stored. It is where `Approved` and `Denied` are set.
//! - `status` (GET, PUT, PATCH) changes the status but not the spec; `Approved`/`Denied`
//!   conditions keep their stored values when as many are sent, and adding one is 422.
//! - Both: conditions missing `lastUpdateTime` get now; missing `lastTransitionTime` get the
//!   stored condition's of the same type and status, else now. 422 (the real messages, every
//!   violation listed) for: removing an `Approved`, `Denied` or `Failed` condition, both
//!   `Approved` and `Denied`, a status other than `True` on them, an empty or duplicate type,
//!   replacing an issued certificate, or a certificate without a CERTIFICATE PEM block.

use std::sync::Arc;

use base64::Engine as _;
use http::Method;
use serde_json::Value;

use crate::errors::{ApiError, ApiResult};
use crate::server::{json, now_rfc3339, Ctx, Shared, Target};

use super::read::typed_bytes;
use super::update::write_update;
use super::{invalid, proposed, FieldError, Resp};

const APPROVED: &str = "Approved";
const DENIED: &str = "Denied";
const FAILED: &str = "Failed";

/// Whether a target is a CSR's `approval` or `status` subresource.
pub(super) fn serves(t: &Target) -> bool {
    t.info.api.group == "certificates.k8s.io"
        && t.info.api.plural == "certificatesigningrequests"
        && matches!(t.sub.as_deref(), Some("approval" | "status"))
}

fn conditions(v: &Value) -> Vec<Value> {
    v.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn of_type<'a>(cs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    cs.iter().filter(|c| c.get("type").and_then(Value::as_str) == Some(kind)).collect()
}

fn str_of<'a>(c: &'a Value, k: &str) -> &'a str {
    c.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// Fills condition timestamps as `populateConditionTimestamps` does.
fn populate_timestamps(new: &mut [Value], old: &[Value]) {
    let now = now_rfc3339();
    for c in new.iter_mut() {
        if !c.is_object() {
            continue;
        }
        if str_of(c, "lastUpdateTime").is_empty() {
            c["lastUpdateTime"] = Value::from(now.clone());
        }
        if str_of(c, "lastTransitionTime").is_empty() {
            let since = old
                .iter()
                .find(|o| {
                    str_of(o, "type") == str_of(c, "type")
                        && str_of(o, "status") == str_of(c, "status")
                        && !str_of(o, "lastTransitionTime").is_empty()
                })
                .map(|o| str_of(o, "lastTransitionTime").to_string())
                .unwrap_or_else(|| now.clone());
            c["lastTransitionTime"] = Value::from(since);
        }
    }
}

/// Keeps stored Approved/Denied conditions when the same number is sent (`preserveConditionInstances`).
fn preserve_approval_conditions(new: &mut [Value], old: &[Value]) {
    for kind in [APPROVED, DENIED] {
        let old_of: Vec<&Value> = of_type(old, kind);
        let idx: Vec<usize> = (0..new.len()).filter(|&i| str_of(&new[i], "type") == kind).collect();
        if idx.len() == old_of.len() {
            for (i, o) in idx.into_iter().zip(old_of) {
                new[i] = o.clone();
            }
        }
    }
}

fn certificate_pem(v: &Value) -> Option<Vec<u8>> {
    let s = v.pointer("/status/certificate").and_then(Value::as_str)?;
    Some(base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_else(|_| s.as_bytes().to_vec()))
}

/// `validateConditions` and `validateCertificateSigningRequestUpdate` for a subresource.
fn validate(new: &Value, old: &Value, approval: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let new_cs = conditions(new);
    let old_cs = conditions(old);
    let old_has = |k: &str| !of_type(&old_cs, k).is_empty();
    let allow_both = old_has(APPROVED) && old_has(DENIED);
    let mut seen: Vec<&str> = Vec::new();
    let (mut has_approved, mut has_denied) = (false, false);
    for (i, c) in new_cs.iter().enumerate() {
        let kind = str_of(c, "type");
        let status = str_of(c, "status");
        let path = format!("status.conditions[{i}]");
        if kind.is_empty() {
            errs.push(FieldError::required(format!("{path}.type")));
        }
        let true_only = matches!(kind, APPROVED | DENIED | FAILED);
        if status.is_empty() {
            errs.push(FieldError::required(format!("{path}.status")));
        } else if true_only && status != "True" {
            errs.push(FieldError::not_supported(format!("{path}.status"), status, &["True"]));
        } else if !true_only && !matches!(status, "True" | "False" | "Unknown") {
            errs.push(FieldError::not_supported(format!("{path}.status"), status, &["False", "True", "Unknown"]));
        }
        if !allow_both {
            let clash = match kind {
                APPROVED => {
                    has_approved = true;
                    has_denied
                }
                DENIED => {
                    has_denied = true;
                    has_approved
                }
                _ => false,
            };
            if clash {
                errs.push(FieldError::invalid(
                    format!("{path}.type"),
                    kind,
                    "Approved and Denied conditions are mutually exclusive",
                ));
            }
        }
        if seen.contains(&kind) {
            errs.push(FieldError::duplicate(format!("{path}.type"), kind));
        }
        seen.push(kind);
    }
    for kind in [APPROVED, DENIED, FAILED] {
        if of_type(&new_cs, kind).len() < of_type(&old_cs, kind).len() {
            errs.push(FieldError::forbidden(
                "status.conditions",
                &format!("updates may not remove a condition of type {kind:?}"),
            ));
        }
    }
    if !approval {
        for kind in [APPROVED, DENIED] {
            if of_type(&new_cs, kind).len() > of_type(&old_cs, kind).len() {
                errs.push(FieldError::forbidden(
                    "status.conditions",
                    &format!("updates may not add a condition of type {kind:?}"),
                ));
            }
        }
    }
    let (new_cert, old_cert) = (certificate_pem(new), certificate_pem(old));
    if new_cert != old_cert {
        if approval {
            errs.push(FieldError::forbidden("status.certificate", "updates may not set certificate content"));
        } else if old_cert.as_ref().is_some_and(|c| !c.is_empty()) {
            errs.push(FieldError::forbidden(
                "status.certificate",
                "updates may not modify existing certificate content",
            ));
        } else if let Some(pem) = new_cert.filter(|c| !c.is_empty()) {
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                errs.push(FieldError::invalid(
                    "status.certificate".into(),
                    "<certificate data>",
                    "must contain at least one CERTIFICATE PEM block",
                ));
            }
        }
    }
    errs
}

/// GET, PUT or PATCH of `approval` or `status`.
pub(super) fn handle(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let name = t.name.clone().unwrap_or_default();
    let approval = t.sub.as_deref() == Some("approval");
    let mut st = shared.state.lock();
    let cur = st.store.get(&t.res, "", &name).ok_or_else(|| ApiError::not_found(&t.info, &name))?;
    if ctx.method == Method::GET {
        return Ok(json(200, typed_bytes(&t.info, &cur.body)));
    }
    let old = cur.value();
    let sent = proposed(ctx, &t.info, &old)?;
    let rv = sent.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default();
    if !rv.is_empty() && rv != cur.rv.to_string() {
        return Err(ApiError::conflict(&t.info, &name));
    }
    let old_cs = conditions(&old);
    let mut new_cs = conditions(&sent);
    if !approval {
        preserve_approval_conditions(&mut new_cs, &old_cs);
    }
    populate_timestamps(&mut new_cs, &old_cs);
    // The strategy: the spec always stays; approval keeps the rest of the status too.
    let mut new = old.clone();
    let mut status = if approval {
        old.get("status").cloned().unwrap_or_else(|| Value::Object(Default::default()))
    } else {
        sent.get("status").cloned().unwrap_or_else(|| Value::Object(Default::default()))
    };
    if !status.is_object() {
        status = Value::Object(Default::default());
    }
    status["conditions"] = Value::Array(new_cs);
    new["status"] = status;
    if let Some(m) = sent.get("metadata").filter(|m| m.is_object()) {
        for k in ["labels", "annotations", "finalizers", "ownerReferences"] {
            match m.get(k) {
                Some(x) => new["metadata"][k] = x.clone(),
                None => {
                    if let Some(Value::Object(nm)) = new.get_mut("metadata") {
                        nm.remove(k);
                    }
                }
            }
        }
    }
    let errs = validate(&new, &old, approval);
    if !errs.is_empty() {
        return Err(invalid(&t.info, &name, errs));
    }
    let (code, body) = write_update(shared, &mut st, t, &cur, new, &ctx.manager(), false, ctx.dry_run())?;
    Ok(json(code, body))
}
