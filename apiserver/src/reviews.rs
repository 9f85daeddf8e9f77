//! The review APIs: `authorization.k8s.io/v1` SelfSubjectAccessReview (`kubectl auth can-i`),
//! SubjectAccessReview and LocalSubjectAccessReview, `authentication.k8s.io/v1`
//! SelfSubjectReview (`kubectl auth whoami`) and TokenReview.
//!
//! Contract: each is served with discovery and only the `create` verb (any other verb is 405,
//! as for the real server's create-only resources); nothing is stored. A create answers 201
//! with the object sent (kind, apiVersion, metadata with `creationTimestamp: null`, spec) and
//! its `status` filled in:
//! - access reviews ask the server's authorizer (`crate::authz`; everything is allowed without
//!   one) about the spec's attributes, for the requester (self reviews) or the spec's user and
//!   groups: `{"allowed": true}`, or `{"allowed": false, "denied": true, "reason": ...}` for a
//!   denial, `{"allowed": false}` for no opinion. A LocalSubjectAccessReview's namespace is
//!   the path's; a body naming another answers 400 as the real server does.
//! - SelfSubjectReview answers the requester (`status.userInfo.username`, `groups`).
//! - TokenReview authenticates `spec.token` against the server's token: `authenticated: true`
//!   with the token's user, or `{"user": {}}`; an empty token is a 400 (`token is required for
//!   TokenReview in authentication`).
//!
//! Bodies are JSON (or YAML); kubectl's protobuf bodies for these kinds are decoded far enough
//! to read the attributes (`crate::reviews::proto`: the SelfSubjectAccessReview fields; a
//! SelfSubjectReview's body is empty).

use rudder_apimachinery::resource::{ApiResource, Scope};
use rudder_apimachinery::schema::GroupVersionKind;
use serde_json::{json, Value};

use crate::authz::{self, AuthorizationAttributes, Decision, UserInfo};
use crate::errors::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::server::{json_value, Body, Ctx, Options, Target};

const AUTHORIZATION: &str = "authorization.k8s.io";
const AUTHENTICATION: &str = "authentication.k8s.io";

/// The review resources, create-only.
pub fn infos() -> Vec<ResourceInfo> {
    [
        (AUTHORIZATION, "SelfSubjectAccessReview", "selfsubjectaccessreviews", Scope::Cluster),
        (AUTHORIZATION, "SubjectAccessReview", "subjectaccessreviews", Scope::Cluster),
        (AUTHORIZATION, "LocalSubjectAccessReview", "localsubjectaccessreviews", Scope::Namespaced),
        (AUTHENTICATION, "SelfSubjectReview", "selfsubjectreviews", Scope::Cluster),
        (AUTHENTICATION, "TokenReview", "tokenreviews", Scope::Cluster),
    ]
    .into_iter()
    .map(|(group, kind, plural, scope)| {
        let mut info =
            ResourceInfo::new(ApiResource::from_gvk(&GroupVersionKind::new(group, "v1", kind), plural, scope));
        info.verbs = vec!["create".into()];
        info
    })
    .collect()
}

/// Whether `info` is one of the review resources.
pub fn is_review(info: &ResourceInfo) -> bool {
    matches!(info.api.group.as_ref(), AUTHORIZATION | AUTHENTICATION)
        && infos().iter().any(|i| i.api.plural == info.api.plural && i.api.group == info.api.group)
}

/// Answers a request to a review resource.
pub fn handle(opts: &Options, ctx: &Ctx, t: &Target, verb: &str) -> ApiResult<http::Response<Body>> {
    if verb != "create" || t.sub.is_some() || t.name.is_some() {
        return Err(ApiError::method_not_allowed(ctx.method.as_str()));
    }
    let body = decode(ctx, &t.info)?;
    let mut out = json!({
        "kind": t.info.api.kind.to_string(),
        "apiVersion": t.info.api.api_version.to_string(),
        "metadata": body.get("metadata").cloned().filter(Value::is_object).unwrap_or_else(|| json!({})),
    });
    if out["metadata"].get("creationTimestamp").is_none() {
        out["metadata"]["creationTimestamp"] = Value::Null;
    }
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match t.info.api.plural.as_ref() {
        "selfsubjectreviews" => json!({"userInfo": user_json(&ctx.user)}),
        "tokenreviews" => {
            // pkg/registry/authentication/tokenreview/storage.go refuses an empty token.
            if spec.get("token").and_then(Value::as_str).unwrap_or_default().is_empty() {
                return Err(ApiError::bad_request("token is required for TokenReview in authentication"));
            }
            token_review(opts, &spec)
        }
        plural => {
            let user = match plural {
                "selfsubjectaccessreviews" => ctx.user.clone(),
                _ => UserInfo {
                    name: spec.get("user").and_then(Value::as_str).unwrap_or_default().to_string(),
                    groups: strings(spec.get("groups")),
                },
            };
            if plural == "localsubjectaccessreviews" {
                let ns = t.ns.clone().unwrap_or_default();
                let body_ns = spec.pointer("/resourceAttributes/namespace").and_then(Value::as_str).unwrap_or_default();
                if !body_ns.is_empty() && body_ns != ns {
                    return Err(ApiError::bad_request(format!(
                        "spec.resourceAttributes.namespace must match namespace: {ns}"
                    )));
                }
                out["metadata"]["namespace"] = Value::String(ns);
            }
            access_review(opts, &spec, user, t.ns.as_deref())
        }
    };
    if t.info.api.plural != "selfsubjectreviews" {
        out["spec"] = spec;
    }
    out["status"] = status;
    Ok(json_value(201, &out))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn user_json(u: &UserInfo) -> Value {
    json!({"username": u.name, "groups": u.groups})
}

fn access_review(opts: &Options, spec: &Value, user: UserInfo, local_ns: Option<&str>) -> Value {
    let s = |p: &str| spec.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    let attrs = if spec.get("resourceAttributes").is_some_and(Value::is_object) {
        AuthorizationAttributes {
            user,
            verb: s("/resourceAttributes/verb"),
            resource_request: true,
            namespace: local_ns.map(str::to_string).unwrap_or_else(|| s("/resourceAttributes/namespace")),
            api_group: s("/resourceAttributes/group"),
            api_version: s("/resourceAttributes/version"),
            resource: s("/resourceAttributes/resource"),
            subresource: s("/resourceAttributes/subresource"),
            name: s("/resourceAttributes/name"),
            path: String::new(),
        }
    } else {
        AuthorizationAttributes {
            user,
            verb: s("/nonResourceAttributes/verb"),
            path: s("/nonResourceAttributes/path"),
            ..Default::default()
        }
    };
    match authz::decide(opts, &attrs) {
        Decision::Allow => json!({"allowed": true}),
        Decision::Deny(reason) if reason.is_empty() => json!({"allowed": false, "denied": true}),
        Decision::Deny(reason) => json!({"allowed": false, "denied": true, "reason": reason}),
        Decision::NoOpinion => json!({"allowed": false}),
    }
}

fn token_review(opts: &Options, spec: &Value) -> Value {
    let token = spec.get("token").and_then(Value::as_str).unwrap_or_default();
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {token}")) {
        headers.insert(http::header::AUTHORIZATION, v);
    }
    let by_token = opts.token.is_some() && !token.is_empty();
    match authz::authenticate(opts, &headers, None).filter(|_| by_token) {
        Some(u) => json!({"authenticated": true, "user": user_json(&u)}),
        None => json!({"user": {}}),
    }
}

/// The request body as JSON: JSON, YAML, or the protobuf envelope kubectl's typed clients send.
fn decode(ctx: &Ctx, info: &ResourceInfo) -> ApiResult<Value> {
    let media = ctx.header("content-type").split(';').next().unwrap_or("").trim().to_string();
    let bad = |e: String| {
        ApiError::bad_request(format!("the object provided is unrecognized (must be of type {}): {e}", info.api.kind))
    };
    match media.as_str() {
        "application/json" | "" => serde_json::from_slice(&ctx.body).map_err(|e| bad(e.to_string())),
        "application/yaml" => serde_yaml_ng::from_slice(&ctx.body).map_err(|e| bad(e.to_string())),
        crate::negotiate::PROTOBUF => crate::negotiate::decode_body(&ctx.body, info),
        _ => Err(ApiError::unsupported_body()),
    }
}
