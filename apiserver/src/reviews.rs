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
        "application/vnd.kubernetes.protobuf" => {
            proto::review(&ctx.body, info.api.plural == "tokenreviews").ok_or_else(|| bad("protobuf".into()))
        }
        _ => Err(ApiError::unsupported_body()),
    }
}

/// Just enough protobuf to read a review kubectl sends: the `k8s\0` envelope
/// (`runtime.Unknown`: raw bytes in field 2) around a review whose `spec` (field 2) holds
/// `resourceAttributes` (1: namespace, verb, group, version, resource, subresource, name as
/// fields 1 to 7) or `nonResourceAttributes` (2: path, verb), and for the non-self reviews
/// `user` (3) and `groups` (4); a TokenReview's spec holds `token` (1).
mod proto {
    use serde_json::{json, Map, Value};

    /// Fields of one message: (number, wire type, bytes for length-delimited fields).
    fn fields(mut b: &[u8]) -> Option<Vec<(u64, &[u8])>> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let (key, rest) = varint(b)?;
            b = rest;
            match key & 7 {
                0 => b = varint(b)?.1,
                1 => b = b.get(8..)?,
                5 => b = b.get(4..)?,
                2 => {
                    let (len, rest) = varint(b)?;
                    let len = usize::try_from(len).ok()?;
                    out.push((key >> 3, rest.get(..len)?));
                    b = rest.get(len..)?;
                }
                _ => return None,
            }
        }
        Some(out)
    }

    fn varint(b: &[u8]) -> Option<(u64, &[u8])> {
        let mut v = 0u64;
        for (i, byte) in b.iter().enumerate().take(10) {
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Some((v, &b[i + 1..]));
            }
        }
        None
    }

    fn text(b: &[u8]) -> Value {
        Value::String(String::from_utf8_lossy(b).into_owned())
    }

    fn strings_of(msg: &[u8], names: &[(u64, &str)]) -> Option<Map<String, Value>> {
        let mut m = Map::new();
        for (n, v) in fields(msg)? {
            // Empty strings are left out, as the real server's JSON (omitempty) leaves them.
            if let Some((_, name)) = names.iter().find(|(num, _)| *num == n).filter(|_| !v.is_empty()) {
                m.insert(name.to_string(), text(v));
            }
        }
        Some(m)
    }

    /// The review in a protobuf body, as JSON.
    pub fn review(body: &[u8], token_review: bool) -> Option<Value> {
        let unknown = body.strip_prefix(b"k8s\0")?;
        let raw = fields(unknown)?.into_iter().find(|(n, _)| *n == 2)?.1;
        let mut spec = Map::new();
        for (n, v) in fields(raw)? {
            if n != 2 {
                continue;
            }
            for (sn, sv) in fields(v)? {
                match sn {
                    1 if token_review => {
                        spec.insert("token".into(), text(sv));
                    }
                    1 => {
                        let names = [
                            (1, "namespace"),
                            (2, "verb"),
                            (3, "group"),
                            (4, "version"),
                            (5, "resource"),
                            (6, "subresource"),
                            (7, "name"),
                        ];
                        spec.insert("resourceAttributes".into(), Value::Object(strings_of(sv, &names)?));
                    }
                    2 => {
                        spec.insert(
                            "nonResourceAttributes".into(),
                            Value::Object(strings_of(sv, &[(1, "path"), (2, "verb")])?),
                        );
                    }
                    3 => {
                        spec.insert("user".into(), text(sv));
                    }
                    4 => {
                        spec.entry("groups").or_insert_with(|| json!([])).as_array_mut()?.push(text(sv));
                    }
                    _ => {}
                }
            }
        }
        Some(json!({ "spec": spec }))
    }
}

#[cfg(test)]
mod tests {
    use super::proto;
    use serde_json::json;

    fn ld(field: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(field << 3) | 2, u8::try_from(bytes.len()).unwrap()];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn protobuf_reviews_decode_to_their_json() {
        let attrs = [ld(1, b"default"), ld(2, b"list"), ld(3, b""), ld(5, b"pods")].concat();
        let review =
            [ld(1, b""), ld(2, &[ld(1, &attrs), ld(3, b"alice"), ld(4, b"dev"), ld(4, b"ops")].concat())].concat();
        let body =
            [b"k8s\0".as_slice(), &ld(1, &[ld(1, b"authorization.k8s.io/v1")].concat()), &ld(2, &review)].concat();
        assert_eq!(
            proto::review(&body, false),
            Some(json!({"spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"},
                "user": "alice", "groups": ["dev", "ops"]}}))
        );
        let token = [b"k8s\0".as_slice(), &ld(2, &ld(2, &ld(1, b"secret")))].concat();
        assert_eq!(proto::review(&token, true), Some(json!({"spec": {"token": "secret"}})));
        assert_eq!(proto::review(b"k8s\0\x12\xff", false), None, "a truncated message is refused");
        assert_eq!(proto::review(b"{}", false), None);
    }
}
