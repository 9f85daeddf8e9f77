//! Create: body decoding (media types, kind checks), names and generateName, defaults and
//! validation, and the side effects of committed writes (CRDs serve their resources; the
//! emulated controllers of `crate::gc` react).

use std::sync::Arc;

use bytes::Bytes;
use rudder_apimachinery::resource::{ApiResource, Scope};
use rudder_apimachinery::schema::GroupVersionKind;
use rudder_apimachinery::status::{ReasonKind, Status, StatusCause, StatusDetails};
use serde_json::{json, Map, Value};

use crate::apply;
use crate::authz::UserInfo;
use crate::crd_schema;
use crate::defaults;
use crate::errors::{ApiError, ApiResult};
use crate::field_selectors::selectable;
use crate::field_validation;
use crate::limits;
use crate::registry::ResourceInfo;
use crate::server::{json, new_uid, now_rfc3339, res_key, Ctx, Shared, State, Target};
use crate::store::{encode, type_prefix, EventKind};
use crate::validation;

use super::read::*;
use super::Resp;

pub(super) fn api_version_of(info: &ResourceInfo) -> String {
    info.api.api_version.to_string()
}

/// Decodes a create/update body (415 for unknown media types, 400 for bad JSON or a wrong kind).
pub(crate) fn decode_body(ctx: &Ctx, info: &ResourceInfo) -> ApiResult<Value> {
    let ct = ctx.header("content-type");
    let media = ct.split(';').next().unwrap_or("").trim();
    let v: Value = match media {
        "application/json" | "" => serde_json::from_slice(&ctx.body).map_err(|e| {
            let snippet = String::from_utf8_lossy(&ctx.body[..ctx.body.len().min(64)]).into_owned();
            ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: {e} ({snippet})",
                info.api.kind
            ))
        })?,
        "application/yaml" => serde_yaml_ng::from_slice(&ctx.body)
            .map_err(|e| ApiError::bad_request(format!("the object provided is unrecognized (must be of type {}): {e}", info.api.kind)))?,
        crate::negotiate::PROTOBUF => crate::negotiate::decode_body(&ctx.body, info)?,
        _ => return Err(ApiError::unsupported_body()),
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: expected an object",
            info.api.kind
        )));
    }
    if let Some(kind) = v.get("kind").and_then(Value::as_str) {
        if !kind.is_empty() && kind != info.api.kind {
            return Err(ApiError::bad_request(format!(
                "{kind} in version {:?} cannot be handled as a {}: converting ({kind}) to ({}): unknown conversion",
                info.api.version, info.api.kind, info.api.kind
            )));
        }
    }
    Ok(v)
}

pub(crate) fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.get("metadata").is_some_and(Value::is_object) {
        v["metadata"] = Value::Object(Map::new());
    }
    match v.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

pub(super) fn meta_str(v: &Value, k: &str) -> String {
    v.get("metadata").and_then(|m| m.get(k)).and_then(Value::as_str).unwrap_or_default().to_string()
}

pub(super) fn random_suffix() -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5).map(|_| ALPHA[rand::random_range(0..ALPHA.len())] as char).collect()
}

pub(super) fn namespace_exists(st: &State, ns: &str) -> bool {
    st.store.get(&(String::new(), "namespaces".into()), "", ns).is_some()
}

/// Who creates an object, and how.
pub(super) struct CreateBy<'a> {
    /// The field manager recorded in managedFields.
    pub manager: &'a str,
    /// `Update` (a POST, or the server itself) or `Apply` (create-on-apply).
    pub operation: &'a str,
    pub dry_run: bool,
    /// The authenticated user of the request (`None`: the server itself).
    pub user: Option<&'a UserInfo>,
}

/// Creates an object (shared by POST and create-on-apply). `v` has metadata.
pub(super) fn create_object(
    shared: &Arc<Shared>,
    st: &mut State,
    t: &Target,
    mut v: Value,
    by: CreateBy<'_>,
) -> ApiResult<Bytes> {
    let CreateBy { manager, operation, dry_run, user } = by;
    let info = &t.info;
    let body_ns = meta_str(&v, "namespace");
    match (&t.ns, info.api.scope) {
        (Some(ns), Scope::Namespaced) => {
            if !body_ns.is_empty() && &body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta_mut(&mut v).insert("namespace".into(), Value::String(ns.clone()));
            if !namespace_exists(st, ns) {
                return Err(ApiError::namespace_not_found(ns));
            }
            crate::namespaces::check_create(st, info, ns, &meta_str(&v, "name"))?;
        }
        (None, Scope::Namespaced) => return Err(ApiError::route_not_found()),
        _ => {
            meta_mut(&mut v).remove("namespace");
        }
    }
    let ns = t.ns.clone().unwrap_or_default();
    let mut name = meta_str(&v, "name");
    let generate = meta_str(&v, "generateName");
    if name.is_empty() {
        if generate.is_empty() {
            let mut d = StatusDetails {
                group: info.api.group.to_string(),
                kind: info.api.kind.to_string(),
                ..Default::default()
            };
            d.causes = vec![StatusCause {
                reason: "FieldValueRequired".into(),
                message: "Required value: name or generateName is required".into(),
                field: "metadata.name".into(),
            }];
            return Err(Status::failure(
                422,
                ReasonKind::Invalid,
                format!(
                    "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    crate::errors::qualified_kind(info)
                ),
            )
            .with_details(d)
            .into());
        }
        for _ in 0..8 {
            name = format!("{generate}{}", random_suffix());
            if st.store.get(&t.res, &ns, &name).is_none() {
                break;
            }
        }
    }
    if st.store.get(&t.res, &ns, &name).is_some() {
        return Err(ApiError::already_exists(info, &name));
    }
    if let Value::Object(m) = &mut v {
        m.remove("kind");
        m.remove("apiVersion");
    }
    let now = now_rfc3339();
    {
        let m = meta_mut(&mut v);
        m.insert("name".into(), Value::String(name.clone()));
        m.insert("uid".into(), Value::String(new_uid()));
        m.insert("creationTimestamp".into(), Value::String(now.clone()));
        for k in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"] {
            m.remove(k);
        }
        if info.tracks_generation() {
            m.insert("generation".into(), Value::from(1));
        }
    }
    prepare_kind_on_create(info, &mut v, user);
    // Defaults belong to whoever sent an update, and to no applier.
    if operation != "Apply" {
        defaults::apply(info, &mut v, None);
    }
    defaults::on_create(info, &mut v);
    crd_schema::admit(st, info, &name, &mut v)?;
    if operation == "Apply" {
        let applied = v.clone();
        v = apply::apply(&json!({"metadata": {}}), &applied, manager, &api_version_of(info), &now, true)
            .unwrap_or_else(|_| applied.clone());
        for k in ["name", "uid", "creationTimestamp", "generation", "namespace"] {
            if let Some(x) = applied.get("metadata").and_then(|m| m.get(k)) {
                meta_mut(&mut v).insert(k.into(), x.clone());
            }
        }
        defaults::apply(info, &mut v, None);
    } else if !manager.is_empty() {
        apply::track_update(None, &mut v, manager, &api_version_of(info), &now, "");
    }
    // Admission mutates after the field manager recorded the request's fields.
    crate::default_tolerations::admit(info, &mut v, shared.opts.default_toleration_seconds);
    if dry_run {
        let mut o = encode(&v, 0, &[]);
        // A dry run has no resourceVersion.
        let mut val = o.value();
        if let Some(Value::Object(m)) = val.get_mut("metadata") {
            m.remove("resourceVersion");
        }
        o.body = Bytes::from(serde_json::to_vec(&val).unwrap_or_default());
        return Ok(typed_bytes(info, &o.body));
    }
    let rv = st.store.next_rv();
    let obj = encode(&v, rv, selectable(info));
    let obj = limits::fit_in_storage(obj, &mut v, true, |v| encode(v, rv, selectable(info)))?;
    let body = obj.body.clone();
    st.store.commit(&t.res, EventKind::Added, obj);
    after_commit(shared, st, info, &v, EventKind::Added);
    Ok(typed_bytes(info, &body))
}

/// Kind-specific defaults on create (the registries' PrepareForCreate).
pub(super) fn prepare_kind_on_create(info: &ResourceInfo, v: &mut Value, user: Option<&UserInfo>) {
    match (info.api.group.as_ref(), info.api.plural.as_ref()) {
        // The CSR strategy: the requestor is whoever sent the request, never what the body
        // says, and a new request has an empty status (it cannot be created approved).
        ("certificates.k8s.io", "certificatesigningrequests") => {
            if let Some(Value::Object(spec)) = v.get_mut("spec") {
                for k in ["username", "uid", "groups", "extra"] {
                    spec.remove(k);
                }
                if let Some(u) = user {
                    spec.insert("username".into(), Value::String(u.name.clone()));
                    if !u.groups.is_empty() {
                        spec.insert("groups".into(), json!(u.groups));
                    }
                }
            }
            v["status"] = json!({});
        }
        ("", "namespaces") => {
            v["spec"] = json!({"finalizers": ["kubernetes"]});
            v["status"] = json!({"phase": "Active"});
        }
        ("", "pods") => {
            let mut status = json!({"phase": "Pending"});
            if let Some(qos) = v.pointer("/status/qosClass") {
                status["qosClass"] = qos.clone();
            }
            v["status"] = status;
        }
        // Nodes allow every field, status included, on create (the node strategy's
        // PrepareForCreate): a kubelet registers its node with its status.
        ("", "nodes") => {}
        ("apiextensions.k8s.io", "customresourcedefinitions") => v["status"] = crd_status(v),
        // A Service's or an Ingress's status holds a struct field of its own, which Go always
        // writes out.
        ("", "services") | ("networking.k8s.io", "ingresses") => v["status"] = json!({"loadBalancer": {}}),
        // A custom resource with a status subresource starts without one.
        _ if info.has_status() && info.custom => {
            if let Value::Object(m) = v {
                m.remove("status");
            }
        }
        // A built-in kind's strategy resets its status to the zero struct, which Go writes as
        // `{}` (the field is a struct, not a pointer), so `status` is always there.
        _ if info.has_status() => v["status"] = json!({}),
        _ => {}
    }
}

/// The status the apiextensions controllers give a new CRD at once here: names accepted (as
/// requested, with the defaults filled in), established, the storage version stored.
pub(super) fn crd_status(crd: &Value) -> Value {
    let now = now_rfc3339();
    let names = crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({}));
    let kind = names.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut accepted = names.clone();
    if accepted.get("singular").is_none() {
        accepted["singular"] = Value::String(kind.to_lowercase());
    }
    if accepted.get("listKind").is_none() {
        accepted["listKind"] = Value::String(format!("{kind}List"));
    }
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now,
                "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now,
                "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ],
        "acceptedNames": accepted,
        "storedVersions": stored,
    })
}

/// Side effects of committed changes: CRDs serve their resources, and the emulated controllers
/// (`crate::gc`) react.
pub(super) fn after_commit(shared: &Arc<Shared>, st: &mut State, info: &ResourceInfo, v: &Value, kind: EventKind) {
    after_commit_crds(st, info, v, kind);
    crate::endpointslices::observe(shared, st, info, v, kind);
    // The emulated controllers: garbage collector, namespace termination, disruption budgets.
    crate::gc::observe(shared, st, info, v, kind);
}

fn after_commit_crds(st: &mut State, info: &ResourceInfo, v: &Value, kind: EventKind) {
    if info.api.group == "apiextensions.k8s.io" && info.api.plural == "customresourcedefinitions" {
        let group = v.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default().to_string();
        let plural = v.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or_default().to_string();
        // Remove every version first (spec.versions may have shrunk).
        let old: Vec<ResourceInfo> = st
            .registry
            .iter()
            .filter(|r| r.custom && r.api.group == group && r.api.plural == plural)
            .cloned()
            .collect();
        for r in &old {
            st.registry.remove(&r.api.group, &r.api.version, &r.api.plural);
        }
        if kind == EventKind::Deleted {
            st.store.drop_table(&(group, plural));
            return;
        }
        for info in crd_resources(v) {
            let res = res_key(&info);
            st.store.ensure_table(&res, type_prefix(&info.api.kind, &info.api.api_version));
            st.registry.add(info);
        }
    }
}

/// The resources a CustomResourceDefinition serves.
pub fn crd_resources(crd: &Value) -> Vec<ResourceInfo> {
    let s = |p: &str| crd.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    let group = s("/spec/group");
    let plural = s("/spec/names/plural");
    let kind = s("/spec/names/kind");
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Vec::new();
    }
    let scope = if s("/spec/scope") == "Cluster" { Scope::Cluster } else { Scope::Namespaced };
    let strings = |p: &str| -> Vec<String> {
        crd.pointer(p)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|v| {
            let name = v.get("name").and_then(Value::as_str)?;
            let api = ApiResource::from_gvk(&GroupVersionKind::new(&group, name, &kind), &plural, scope);
            let mut info = ResourceInfo::new(api);
            info.custom = true;
            let singular = s("/spec/names/singular");
            info.singular = if singular.is_empty() { kind.to_lowercase() } else { singular };
            info.short_names = strings("/spec/names/shortNames");
            info.categories = strings("/spec/names/categories");
            if v.pointer("/subresources/status").is_some() {
                info.subresources.push("status".into());
            }
            if v.pointer("/subresources/scale").is_some() {
                info.subresources.push("scale".into());
            }
            info.printer_columns =
                v.get("additionalPrinterColumns").and_then(Value::as_array).cloned().unwrap_or_default();
            Some(info)
        })
        .collect()
}

pub(super) fn create(shared: &Arc<Shared>, ctx: &Ctx, t: &Target) -> ApiResult<Resp> {
    let directive = field_validation::directive(ctx, "CreateOptions")?;
    let mut v = decode_body(ctx, &t.info)?;
    let unknown = validation::check(&t.info, &v).map_err(|f| validation::body_error(&t.info, &f))?;
    let mut st = shared.state.lock();
    let unknown = crd_schema::unknown_or(&st, &t.info, &v, unknown);
    let warnings = field_validation::body_failure(
        &t.info,
        directive,
        &field_validation::body_findings(directive, ctx, &unknown, t.info.custom),
    )?;
    field_validation::prune(&mut v, &unknown);
    let manager = ctx.manager();
    let by = CreateBy { manager: &manager, operation: "Update", dry_run: ctx.dry_run(), user: Some(&ctx.user) };
    let body = create_object(shared, &mut st, t, v, by)?;
    Ok(field_validation::warn(json(201, body), &warnings))
}
