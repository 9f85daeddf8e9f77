//! The verbs of the embedded API server: get, list, create, update, patch (JSON, merge,
//! strategic, apply), delete, deletecollection, and the status, scale, binding, eviction and log
//! subresources, with the real server's semantics and error bodies (see
//! `testdata/recorded`). Watches live in `watch.rs`.
//!
//! Contract: every write runs under the store lock from read to commit, so resourceVersion
//! checks are exact; a write that changes nothing commits nothing (same resourceVersion);
//! dry runs never commit.
//!
//! One module per verb family: `read`, `create`, `update`, `patch`, `delete`,
//! `subresources`, and one per subresource with its own strategy: `certificates` (CSR
//! approval and status), `ephemeral_containers`, `token_request`; watches live in
//! `crate::watch`, `metrics.k8s.io` in `crate::metrics_api`.

mod certificates;
mod create;
mod delete;
mod ephemeral_containers;
mod patch;
mod read;
mod subresources;
mod token_request;
mod update;

pub use read::{parse_rv, Filter, Rv};

pub(crate) use create::{decode_body, meta_mut};
pub(crate) use delete::{controller_update, delete_object, target_of, DeleteAnswer, DeleteOpts};
pub(crate) use read::typed_bytes;

use std::sync::Arc;

use rudder_apimachinery::status::{ReasonKind, Status, StatusCause, StatusDetails};

use crate::control::Fault;
use crate::errors::{ApiError, ApiResult};
use crate::server::{error_response, Body, Ctx, Shared, Target};

use create::*;
use delete::*;
use patch::*;
use read::*;
use subresources::*;
use update::*;
pub(crate) type Resp = http::Response<Body>;

/// Discovery documents (`/version`, `/api`, `/apis`, group and group-version documents).
pub fn discovery(shared: &Arc<Shared>, ctx: &Ctx) -> Option<Resp> {
    crate::server::discovery_response(shared, ctx)
}

/// The answer to a request hit by an injected fault.
pub fn fault_response(shared: &Arc<Shared>, ctx: &Ctx, t: &Target, verb: &str, f: &Fault) -> Resp {
    let status = match f.code {
        429 => Status::failure(429, ReasonKind::TooManyRequests, "Too many requests, please try again later.")
            .with_details(StatusDetails {
                retry_after_seconds: Some(f.retry_after.unwrap_or(1)),
                ..Default::default()
            }),
        410 => Status::failure(410, ReasonKind::Expired, "The resourceVersion for the provided list is too old."),
        503 => {
            Status::failure(503, ReasonKind::ServiceUnavailable, "The server is currently unable to handle the request")
        }
        504 => Status::failure(
            504,
            ReasonKind::Timeout,
            "The server was unable to return a response in the time allotted, but may still be processing the request",
        ),
        500 => Status::failure(500, ReasonKind::InternalError, "Internal error occurred: injected fault").with_details(
            StatusDetails {
                causes: vec![StatusCause { message: "injected fault".into(), ..Default::default() }],
                ..Default::default()
            },
        ),
        c => Status::failure(c, ReasonKind::from_code(c), format!("injected failure {c}")),
    };
    let mut status = status;
    if let Some(secs) = f.retry_after {
        status.details.get_or_insert_with(Default::default).retry_after_seconds = Some(secs);
    }
    if verb == "watch" && f.code == 410 {
        let rv = shared.state.lock().store.rv;
        let mut s = Status::failure(410, ReasonKind::Expired, format!("too old resource version: 1 ({rv})"));
        s.details = None;
        let line = format!("{{\"type\":\"ERROR\",\"object\":{}}}\n", serde_json::to_string(&s).unwrap_or_default());
        return crate::negotiate::single_event(crate::negotiate::output_of(ctx, &t.info), line.as_bytes());
    }
    error_response(&ApiError::from(status))
}

/// Creates an object from inside the server (the kubelet stand-in), through the same path as a
/// POST: defaults, managedFields for `manager`, watch events.
pub(crate) fn create_internal(
    shared: &Arc<Shared>,
    st: &mut crate::server::State,
    t: &Target,
    v: serde_json::Value,
    manager: &str,
) -> ApiResult<()> {
    let by = create::CreateBy { manager, operation: "Update", dry_run: false, user: None };
    create_object(shared, st, t, v, by).map(|_| ())
}

/// Writes the next state of a stored object from inside the server (the kubelet stand-in's
/// status reports), as an update of `t` (its `sub` decides status or main resource) by
/// `manager`; an unchanged object commits nothing.
pub(crate) fn write_internal(
    shared: &Arc<Shared>,
    st: &mut crate::server::State,
    t: &Target,
    cur: &Arc<crate::store::Obj>,
    new: serde_json::Value,
    manager: &str,
) -> ApiResult<()> {
    write_update(shared, st, t, cur, new, manager, false, false).map(|_| ())
}

/// Runs one resource request.
pub async fn dispatch(shared: &Arc<Shared>, ctx: &Ctx, t: &Target, verb: &str) -> ApiResult<Resp> {
    let admitted = crate::admission::before_write(shared, ctx, t, verb).await?;
    let (ctx, verb) = match &admitted.ctx {
        Some(mutated) => (mutated, if admitted.as_update { "update" } else { verb }),
        None => (ctx, verb),
    };
    let resp = crate::field_validation::warn(run_verb(shared, ctx, t, verb).await?, &admitted.warnings);
    let object_answer = matches!(verb, "create" | "update" | "patch" | "delete") && t.sub.as_deref() != Some("scale");
    if object_answer && ctx.wants_partial() {
        return Ok(crate::partial::object_response(&t.info, resp));
    }
    Ok(resp)
}

async fn run_verb(shared: &Arc<Shared>, ctx: &Ctx, t: &Target, verb: &str) -> ApiResult<Resp> {
    if crate::reviews::is_review(&t.info) {
        return crate::reviews::handle(&shared.opts, ctx, t, verb);
    }
    match (verb, t.sub.as_deref()) {
        _ if crate::metrics_api::serves(t) => crate::metrics_api::handle(shared, ctx, t, verb),
        ("get" | "update" | "patch", Some(_)) if certificates::serves(t) => certificates::handle(shared, ctx, t),
        ("get" | "update" | "patch", Some("ephemeralcontainers")) => ephemeral_containers::handle(shared, ctx, t),
        ("create", Some("token")) => token_request::create(shared, ctx, t),
        ("watch", _) => crate::watch::watch(shared, ctx, t).await,
        ("list", _) => list(shared, ctx, t).await,
        ("get", None | Some("status")) => get(shared, ctx, t),
        ("get", Some("scale")) => get_scale(shared, t),
        ("get", Some("log")) => logs(shared, ctx, t),
        ("create", None) => create(shared, ctx, t),
        ("create", Some("binding")) => binding(shared, ctx, t),
        ("create", Some("eviction")) => eviction(shared, ctx, t),
        ("update", None | Some("status")) => update(shared, ctx, t),
        ("update", Some("scale")) | ("patch", Some("scale")) => write_scale(shared, ctx, t),
        ("patch", None | Some("status")) => patch(shared, ctx, t),
        ("delete", None) => delete(shared, ctx, t),
        ("deletecollection", None) if t.info.verbs.iter().any(|v| v == "deletecollection") => {
            delete_collection(shared, ctx, t)
        }
        _ => Err(ApiError::method_not_allowed(ctx.method.as_str())),
    }
}

/// The object a PUT or PATCH of a subresource proposes (a whole object, or `cur` patched by a
/// JSON, merge or strategic merge patch), before the subresource's strategy picks what it may
/// change.
pub(crate) fn proposed(
    ctx: &Ctx,
    info: &crate::registry::ResourceInfo,
    cur: &serde_json::Value,
) -> ApiResult<serde_json::Value> {
    use serde_json::Value;
    if ctx.method == http::Method::PUT {
        let v = create::decode_body(ctx, info)?;
        crate::validation::check(info, &v).map_err(|f| crate::validation::body_error(info, &f))?;
        return Ok(v);
    }
    let patch: Value =
        serde_json::from_slice(&ctx.body).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut doc = cur.clone();
    match ctx.header("content-type").split(';').next().unwrap_or("").trim() {
        "application/json-patch+json" => doc = crate::limits::json_patch(&doc, &patch)?,
        "application/merge-patch+json" => crate::strategic::merge_patch(&mut doc, &patch),
        "application/strategic-merge-patch+json" => {
            crate::strategic::strategic_merge(&mut doc, &patch).map_err(|e| ApiError::bad_request(e.to_string()))?
        }
        _ => {
            return Err(ApiError::unsupported_patch(
                "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json",
            ))
        }
    }
    if let Err(f) = crate::validation::check(info, &doc) {
        return Err(crate::validation::patch_error(crate::validation::PatchKind::Json, &doc, &patch, &f));
    }
    Ok(doc)
}

/// One field error, as Go's `field.Error` prints it.
#[derive(Debug, Clone)]
struct FieldError {
    reason: &'static str,
    field: String,
    detail: String,
}

impl FieldError {
    fn required(field: String) -> Self {
        FieldError { reason: "FieldValueRequired", field, detail: "Required value".into() }
    }
    fn not_supported(field: String, value: &str, supported: &[&str]) -> Self {
        let list = supported.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
        FieldError {
            reason: "FieldValueNotSupported",
            field,
            detail: format!("Unsupported value: {value:?}: supported values: {list}"),
        }
    }
    /// `value` is rendered as a Go string (quoted).
    fn invalid(field: String, value: &str, msg: &str) -> Self {
        Self::invalid_raw(field, &format!("{value:?}"), msg)
    }
    /// `value` is already rendered (a number prints bare).
    fn invalid_raw(field: String, value: &str, msg: &str) -> Self {
        FieldError { reason: "FieldValueInvalid", field, detail: format!("Invalid value: {value}: {msg}") }
    }
    fn duplicate(field: String, value: &str) -> Self {
        FieldError { reason: "FieldValueDuplicate", field, detail: format!("Duplicate value: {value:?}") }
    }
    fn forbidden(field: &str, msg: &str) -> Self {
        FieldError { reason: "FieldValueForbidden", field: field.into(), detail: format!("Forbidden: {msg}") }
    }
    fn not_found(field: String, value: &str) -> Self {
        FieldError { reason: "FieldValueNotFound", field, detail: format!("Not found: {value:?}") }
    }
}

/// The 422 `Invalid` Status listing every field error, as `errors.NewInvalid` builds it.
fn invalid(info: &crate::registry::ResourceInfo, name: &str, errs: Vec<FieldError>) -> ApiError {
    invalid_kind(&info.api.group, &info.api.kind, name, errs)
}

fn invalid_kind(group: &str, kind: &str, name: &str, errs: Vec<FieldError>) -> ApiError {
    let qualified = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    let mut msgs: Vec<String> = Vec::new();
    for e in &errs {
        let m = format!("{}: {}", e.field, e.detail);
        if !msgs.contains(&m) {
            msgs.push(m);
        }
    }
    let joined = if msgs.len() == 1 { msgs.remove(0) } else { format!("[{}]", msgs.join(", ")) };
    Status::failure(422, ReasonKind::Invalid, format!("{qualified} {name:?} is invalid: {joined}"))
        .with_details(StatusDetails {
            name: name.to_string(),
            group: group.to_string(),
            kind: kind.to_string(),
            causes: errs
                .into_iter()
                .map(|e| StatusCause { reason: e.reason.into(), message: e.detail, field: e.field })
                .collect(),
            ..Default::default()
        })
        .into()
}
