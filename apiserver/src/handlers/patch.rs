//! Patch: JSON patch, merge patch, strategic merge patch and server-side apply, each bounded as
//! the real server bounds it.

use std::sync::Arc;

use rudder_apimachinery::status::{ReasonKind, Status, StatusCause, StatusDetails};
use serde_json::Value;

use crate::apply;
use crate::crd_schema;
use crate::errors::{ApiError, ApiResult};
use crate::field_validation;
use crate::limits;
use crate::server::{json, now_rfc3339, Ctx, Shared, Target};
use crate::strategic;
use crate::validation;

use super::create::*;
use super::update::*;
use super::Resp;

pub(super) fn patch(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let info = &t.info;
    let ct = ctx.header("content-type").split(';').next().unwrap_or("").trim().to_string();
    let is_apply = ct == "application/apply-patch+yaml";
    if !matches!(
        ct.as_str(),
        "application/json-patch+json" | "application/merge-patch+json" | "application/strategic-merge-patch+json"
    ) && !is_apply
    {
        return Err(ApiError::unsupported_patch(""));
    }
    if ct == "application/strategic-merge-patch+json" && info.custom {
        return Err(ApiError::unsupported_patch(
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        ));
    }
    let directive = field_validation::directive(ctx, "PatchOptions")?;
    if ctx.flag("force") && !is_apply {
        return Err(ApiError::invalid_options(
            "PatchOptions",
            vec![(
                "FieldValueForbidden".into(),
                "force".into(),
                "Forbidden: may not be specified for non-apply patch".into(),
            )],
        ));
    }
    let patch: Value = if is_apply {
        serde_json::from_slice(&ctx.body)
            .or_else(|_| serde_yaml_ng::from_slice(&ctx.body))
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(&ctx.body).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
    };
    let name = t.name.clone().unwrap_or_default();
    let manager = ctx.q("fieldManager").unwrap_or_default().to_string();
    if is_apply {
        if manager.is_empty() {
            return Err(ApiError::invalid_options(
                "PatchOptions",
                vec![(
                    "FieldValueRequired".into(),
                    "fieldManager".into(),
                    "Required value: is required for apply patch".into(),
                )],
            ));
        }
        let av = patch.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let kind = patch.get("kind").and_then(Value::as_str).unwrap_or_default();
        if av != info.api.api_version || kind != info.api.kind {
            return Err(ApiError::bad_request(format!(
                "Incorrect version specified in apply patch. Specified patch version: {av}, expected: {}",
                info.api.api_version
            )));
        }
        check_name_ns(t, &patch)?;
        // The applied configuration must fit the schema before anything is merged; an
        // undeclared field does not, whatever the field validation.
        let unknown = validation::check(info, &patch)
            .map_err(|f| validation::apply_error(info, t.ns.as_deref().unwrap_or_default(), &name, &f))?;
        if let Some(first) = unknown.first() {
            return Err(validation::apply_undeclared(info, t.ns.as_deref().unwrap_or_default(), &name, first));
        }
    }
    let mut st = shared.state.lock();
    let ns = t.ns.clone().unwrap_or_default();
    if is_apply {
        if let Some(first) =
            crd_schema::schema_of(&st, info).and_then(|s| crd_schema::unknown_fields(&s, &patch).into_iter().next())
        {
            return Err(validation::apply_undeclared(info, &ns, &name, &first));
        }
    }
    let Some(cur) = st.store.get(&t.res, &ns, &name) else {
        if is_apply && t.sub.is_none() {
            let mut v = patch;
            meta_mut(&mut v).insert("name".into(), Value::String(name.clone()));
            let by = CreateBy { manager: &manager, operation: "Apply", dry_run: ctx.dry_run(), user: Some(&ctx.user) };
            let body = create_object(shared, &mut st, t, v, by)?;
            return Ok(json(201, body));
        }
        return Err(ApiError::not_found(info, &name));
    };
    let mut doc = cur.value();
    if let Value::Object(m) = &mut doc {
        m.insert("kind".into(), Value::String(info.api.kind.to_string()));
        m.insert("apiVersion".into(), Value::String(info.api.api_version.to_string()));
    }
    let manager_or_ua = if manager.is_empty() { ctx.manager() } else { manager.clone() };
    let mut tracked = false;
    let mut new = match ct.as_str() {
        "application/json-patch+json" => limits::json_patch(&doc, &patch)?,
        "application/merge-patch+json" => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "error decoding patch: json: cannot unmarshal into Go value of type map[string]interface {}",
                ));
            }
            let mut d = doc.clone();
            strategic::merge_patch(&mut d, &patch);
            d
        }
        "application/strategic-merge-patch+json" => {
            let mut d = doc.clone();
            strategic::strategic_merge(&mut d, &patch).map_err(|e| ApiError::bad_request(e.to_string()))?;
            d
        }
        _ => {
            tracked = true;
            apply::apply(&doc, &patch, &manager, &api_version_of(info), &now_rfc3339(), ctx.flag("force")).map_err(
                |c| {
                    ApiError::from(
                        Status::failure(409, ReasonKind::Conflict, apply::conflict_message(&c)).with_details(
                            StatusDetails {
                                causes: c
                                    .iter()
                                    .map(|c| StatusCause {
                                        reason: "FieldManagerConflict".into(),
                                        message: format!("conflict with {:?}", c.manager),
                                        field: c.field.clone(),
                                    })
                                    .collect(),
                                ..Default::default()
                            },
                        ),
                    )
                },
            )?
        }
    };
    let prv = meta_str(&new, "resourceVersion");
    if !prv.is_empty() && prv != cur.rv.to_string() {
        return Err(ApiError::conflict(info, &name));
    }
    if !new.is_object() {
        return Err(ApiError::bad_request("the patch did not produce an object"));
    }
    let patch_kind = match ct.as_str() {
        "application/strategic-merge-patch+json" => validation::PatchKind::Strategic,
        _ => validation::PatchKind::Json,
    };
    let unknown = match validation::check(info, &new) {
        Ok(unknown) => crd_schema::unknown_or(&st, info, &new, unknown),
        Err(f) if is_apply => return Err(validation::apply_error(info, &ns, &name, &f)),
        Err(f) => return Err(validation::patch_error(patch_kind, &new, &patch, &f)),
    };
    let warnings = if is_apply {
        Vec::new()
    } else {
        let findings = field_validation::patch_findings(directive, &ct, &ctx.body, &unknown, info.custom);
        field_validation::patch_failure(directive, &findings, patch_kind, &new, &patch)?
    };
    field_validation::prune(&mut new, &unknown);
    if t.sub.as_deref() == Some("status") {
        let mut n = cur.value();
        match new.get("status") {
            Some(s) => n["status"] = s.clone(),
            None => {
                if let Value::Object(m) = &mut n {
                    m.remove("status");
                }
            }
        }
        if tracked {
            if let Some(mf) = new.pointer("/metadata/managedFields") {
                meta_mut(&mut n).insert("managedFields".into(), mf.clone());
            }
        }
        new = n;
    }
    let (code, body) = write_update(shared, &mut st, t, &cur, new, &manager_or_ua, tracked, ctx.dry_run())?;
    Ok(field_validation::warn(json(code, body), &warnings))
}
