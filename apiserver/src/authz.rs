//! Who a request is (authentication) and whether it may do what it asks (authorization), as
//! kube-apiserver's filters decide before any handler runs.
//!
//! Contract:
//! - [`authenticate`]: with neither a token nor client certificates configured, every request
//!   is `system:anonymous` in group `system:unauthenticated` (the real server's anonymous
//!   user); with a token, the bearer of it is `rudder-test` in `system:masters`; with client
//!   certificates, the subject's CN is the user and its O values the groups. Authenticated
//!   users are also in `system:authenticated`. A request that presents neither when one is
//!   required is 401.
//! - [`request_attributes`]: the attributes kube-apiserver's request-info resolver derives from
//!   a path and method (verb `get`/`list`/`watch`/`create`/`update`/`patch`/`delete`/
//!   `deletecollection`; namespace, group, version, resource, subresource, name; or a
//!   non-resource path).
//! - [`gate`]: with no authorizer configured every request is allowed; with one (an
//!   [`Authorizer`] callback set with `ApiServerBuilder::authorizer`) a request it does not allow
//!   is answered 403 with the real body: `pods is forbidden: User "x" cannot list resource
//!   "pods" in API group "" in the namespace "ns"` (`: <reason>` appended when the decision
//!   gives one; `at the cluster scope` for cluster requests; `forbidden: User "x" cannot get
//!   path "/apis"` for non-resource paths). Health checks are never gated.

use std::fmt;
use std::sync::Arc;

use rudder_apimachinery::status::{ReasonKind, Status, StatusDetails};

use crate::errors::ApiError;
use crate::server::{Ctx, Options};
use crate::tls::ClientIdentity;

/// The user the bearer token authenticates as.
pub const TOKEN_USER: &str = "rudder-test";

/// An authenticated (or anonymous) user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    /// The user name (`system:anonymous`, a certificate's CN).
    pub name: String,
    /// The groups (`system:authenticated`, a certificate's O values).
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The real server's anonymous user.
    pub fn anonymous() -> Self {
        UserInfo { name: "system:anonymous".into(), groups: vec!["system:unauthenticated".into()] }
    }

    fn authenticated(name: &str, groups: &[String]) -> Self {
        let mut groups = groups.to_vec();
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        UserInfo { name: name.to_string(), groups }
    }
}

/// What a request (or an access review) asks to do, as an authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthorizationAttributes {
    /// Who asks.
    pub user: UserInfo,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`
    /// (or the lower-cased HTTP method for non-resource paths).
    pub verb: String,
    /// Whether this is an API resource request (else `path` is set).
    pub resource_request: bool,
    /// Namespace (empty for cluster-scoped requests).
    pub namespace: String,
    /// API group (`""` for the core group).
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Resource (`pods`).
    pub resource: String,
    /// Subresource (`status`).
    pub subresource: String,
    /// Object name, if the request names one.
    pub name: String,
    /// The path of a non-resource request (`/version`).
    pub path: String,
}

/// An authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Denied, with a reason (may be empty) appended to the 403 message.
    Deny(String),
    /// No opinion: not allowed.
    NoOpinion,
}

/// The authorizer callback of a server (`ApiServerBuilder::authorizer`).
#[derive(Clone)]
pub struct Authorizer(pub Arc<dyn Fn(&AuthorizationAttributes) -> Decision + Send + Sync>);

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authorizer(..)")
    }
}

/// Decides `attrs` with the server's authorizer; everything is allowed without one.
pub fn decide(opts: &Options, attrs: &AuthorizationAttributes) -> Decision {
    match &opts.authorizer {
        Some(a) => (a.0)(attrs),
        None => Decision::Allow,
    }
}

/// The user of a request, or `None` when authentication is required and failed (401).
pub fn authenticate(opts: &Options, headers: &http::HeaderMap, cert: Option<&ClientIdentity>) -> Option<UserInfo> {
    let token_ok = opts.token.as_deref().is_some_and(|t| {
        headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|got| got.trim() == t)
    });
    if token_ok {
        return Some(UserInfo::authenticated(TOKEN_USER, &["system:masters".to_string()]));
    }
    if opts.client_cert_auth {
        if let Some(id) = cert {
            return Some(UserInfo::authenticated(&id.user, &id.groups));
        }
    }
    if opts.token.is_some() || opts.client_cert_auth {
        return None;
    }
    Some(UserInfo::anonymous())
}

/// The attributes of a request, as kube-apiserver's request-info resolver reads its path.
pub fn request_attributes(ctx: &Ctx) -> AuthorizationAttributes {
    let mut a = AuthorizationAttributes { user: ctx.user.clone(), ..Default::default() };
    let parts: Vec<String> = ctx
        .path
        .trim_matches('/')
        .split('/')
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let rest = match parts.first().map(String::as_str) {
        Some("api") if parts.len() >= 3 => {
            a.api_version = parts[1].clone();
            &parts[2..]
        }
        Some("apis") if parts.len() >= 4 => {
            a.api_group = parts[1].clone();
            a.api_version = parts[2].clone();
            &parts[3..]
        }
        _ => {
            a.path = ctx.path.clone();
            a.verb = ctx.method.as_str().to_lowercase();
            return a;
        }
    };
    a.resource_request = true;
    let (watch_prefix, mut rest) = match rest.first().map(String::as_str) {
        Some("watch") => (true, &rest[1..]),
        _ => (false, rest),
    };
    if rest.first().map(String::as_str) == Some("namespaces") && rest.len() > 1 {
        a.namespace = rest[1].clone();
        if rest.len() > 2 && !matches!(rest[2].as_str(), "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    a.resource = rest.first().cloned().unwrap_or_default();
    a.name = rest.get(1).cloned().unwrap_or_default();
    a.subresource = rest.get(2).cloned().unwrap_or_default();
    let watch = watch_prefix || matches!(ctx.q("watch"), Some("true" | "1"));
    a.verb = match (ctx.method.as_str(), a.name.is_empty()) {
        ("GET" | "HEAD", _) if watch => "watch",
        ("GET" | "HEAD", true) => "list",
        ("GET" | "HEAD", false) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "deletecollection",
        ("DELETE", false) => "delete",
        (m, _) => return AuthorizationAttributes { verb: m.to_lowercase(), ..a },
    }
    .to_string();
    a
}

/// The 403 for a request the authorizer did not allow.
pub fn forbidden(a: &AuthorizationAttributes, reason: &str) -> ApiError {
    let user = &a.user.name;
    let what = if !a.resource_request {
        format!("User {user:?} cannot {} path {:?}", a.verb, a.path)
    } else {
        let resource =
            if a.subresource.is_empty() { a.resource.clone() } else { format!("{}/{}", a.resource, a.subresource) };
        let scope = if a.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {:?}", a.namespace)
        };
        format!("User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}", a.verb, a.api_group)
    };
    let what = what.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let why = if reason.is_empty() { what } else { format!("{what}: {reason}") };
    let qualified = if a.api_group.is_empty() { a.resource.clone() } else { format!("{}.{}", a.resource, a.api_group) };
    let message = if qualified.is_empty() {
        format!("forbidden: {why}")
    } else if a.name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} {:?} is forbidden: {why}", a.name)
    };
    Status::failure(403, ReasonKind::Forbidden, message)
        .with_details(StatusDetails {
            name: a.name.clone(),
            group: a.api_group.clone(),
            kind: a.resource.clone(),
            ..Default::default()
        })
        .into()
}

/// The 403 for a request the server's authorizer does not allow, or `None` to go on.
pub fn gate(opts: &Options, ctx: &Ctx) -> Option<ApiError> {
    opts.authorizer.as_ref()?;
    let attrs = request_attributes(ctx);
    match decide(opts, &attrs) {
        Decision::Allow => None,
        Decision::Deny(reason) => Some(forbidden(&attrs, &reason)),
        Decision::NoOpinion => Some(forbidden(&attrs, "")),
    }
}
