//! Failure answers of the embedded API server, shaped exactly as the real server's `Status`
//! bodies (see `testdata/recorded`): messages, reasons and `details` per case.

use rudder_apimachinery::status::{ReasonKind, Status, StatusCause, StatusDetails};

use super::registry::ResourceInfo;

/// A failed request: the Status to send (its `code` is the HTTP status).
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The body (boxed: errors travel through many `Result`s).
    pub status: Box<Status>,
}

impl From<Status> for ApiError {
    fn from(status: Status) -> Self {
        ApiError { status: Box::new(status) }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// `pods` or `deployments.apps`: how messages name a resource.
pub fn qualified(info: &ResourceInfo) -> String {
    if info.api.group.is_empty() {
        info.api.plural.to_string()
    } else {
        format!("{}.{}", info.api.plural, info.api.group)
    }
}

/// `Pod` or `Deployment.apps`: how precondition and validation messages name a kind.
pub fn qualified_kind(info: &ResourceInfo) -> String {
    if info.api.group.is_empty() {
        info.api.kind.to_string()
    } else {
        format!("{}.{}", info.api.kind, info.api.group)
    }
}

fn object_details(info: &ResourceInfo, name: &str) -> StatusDetails {
    StatusDetails {
        name: name.to_string(),
        group: info.api.group.to_string(),
        kind: info.api.plural.to_string(),
        ..Default::default()
    }
}

impl ApiError {
    /// A Status with a reason and no details.
    pub fn plain(code: u16, reason: ReasonKind, message: impl Into<String>) -> Self {
        Status::failure(code, reason, message).into()
    }

    /// 400 BadRequest without details.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::plain(400, ReasonKind::BadRequest, message)
    }

    /// 500 without a reason (as the server sends for storage errors).
    pub fn internal_no_reason(message: impl Into<String>) -> Self {
        let mut s = Status::failure(500, ReasonKind::InternalError, message);
        s.reason.clear();
        s.into()
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Status::failure(500, ReasonKind::InternalError, format!("Internal error occurred: {}", message.into()))
            .with_details(StatusDetails {
                causes: vec![StatusCause { message: "internal error".into(), ..Default::default() }],
                ..Default::default()
            })
            .into()
    }

    /// 404 for a path that names no resource.
    pub fn route_not_found() -> Self {
        Status::failure(404, ReasonKind::NotFound, "the server could not find the requested resource")
            .with_details(StatusDetails::default())
            .into()
    }

    /// 404 NotFound for an object.
    pub fn not_found(info: &ResourceInfo, name: &str) -> Self {
        Status::failure(404, ReasonKind::NotFound, format!("{} {name:?} not found", qualified(info)))
            .with_details(object_details(info, name))
            .into()
    }

    /// 404 for a missing namespace.
    pub fn namespace_not_found(ns: &str) -> Self {
        Status::failure(404, ReasonKind::NotFound, format!("namespaces {ns:?} not found"))
            .with_details(StatusDetails { name: ns.into(), kind: "namespaces".into(), ..Default::default() })
            .into()
    }

    /// 409 AlreadyExists.
    pub fn already_exists(info: &ResourceInfo, name: &str) -> Self {
        Status::failure(409, ReasonKind::AlreadyExists, format!("{} {name:?} already exists", qualified(info)))
            .with_details(object_details(info, name))
            .into()
    }

    /// 409 Conflict on a stale resourceVersion.
    pub fn conflict(info: &ResourceInfo, name: &str) -> Self {
        Self::conflict_msg(
            info,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 Conflict with a custom explanation, naming the plural resource.
    pub fn conflict_msg(info: &ResourceInfo, name: &str, why: &str) -> Self {
        Status::failure(
            409,
            ReasonKind::Conflict,
            format!("Operation cannot be fulfilled on {} {name:?}: {why}", qualified(info)),
        )
        .with_details(object_details(info, name))
        .into()
    }

    /// 409 Conflict of a failed precondition (names the Kind, as recorded).
    pub fn precondition(info: &ResourceInfo, name: &str, why: &str) -> Self {
        let mut d = object_details(info, name);
        d.kind = info.api.kind.to_string();
        Status::failure(
            409,
            ReasonKind::Conflict,
            format!("Operation cannot be fulfilled on {} {name:?}: {why}", qualified_kind(info)),
        )
        .with_details(d)
        .into()
    }

    /// 422 Invalid on an object field; `kind_name` is the qualified name used in the message
    /// and `details_kind` what details.kind carries.
    pub fn invalid(
        info: &ResourceInfo,
        name: &str,
        field: &str,
        reason: &str,
        detail: &str,
        plural_in_details: bool,
    ) -> Self {
        let mut d = object_details(info, name);
        let qualified_name = if plural_in_details { qualified(info) } else { qualified_kind(info) };
        if !plural_in_details {
            d.kind = info.api.kind.to_string();
        }
        d.causes = vec![StatusCause { reason: reason.into(), message: detail.into(), field: field.into() }];
        Status::failure(422, ReasonKind::Invalid, format!("{qualified_name} {name:?} is invalid: {field}: {detail}"))
            .with_details(d)
            .into()
    }

    /// 422 Invalid on an options object (`ListOptions`, `DeleteOptions`, `PatchOptions`).
    pub fn invalid_options(kind: &str, causes: Vec<(String, String, String)>) -> Self {
        let msgs: Vec<String> = causes.iter().map(|(_, field, msg)| format!("{field}: {msg}")).collect();
        let joined = if msgs.len() == 1 { msgs[0].clone() } else { format!("[{}]", msgs.join(", ")) };
        Status::failure(422, ReasonKind::Invalid, format!("{kind}.meta.k8s.io \"\" is invalid: {joined}"))
            .with_details(StatusDetails {
                group: "meta.k8s.io".into(),
                kind: kind.into(),
                causes: causes
                    .into_iter()
                    .map(|(reason, field, message)| StatusCause { reason, message, field })
                    .collect(),
                ..Default::default()
            })
            .into()
    }

    /// 410 Expired.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::plain(410, ReasonKind::Expired, message)
    }

    /// 415 for an unknown request body type.
    pub fn unsupported_body() -> Self {
        Self::plain(
            415,
            ReasonKind::UnsupportedMediaType,
            "the body of the request was in an unknown format - accepted media types include: \
             application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )
    }

    /// 406 when no media type of `Accept` can be served (`supported` lists those that can).
    pub fn not_acceptable(supported: &str) -> Self {
        Self::plain(406, ReasonKind::NotAcceptable, format!("only the following media types are accepted: {supported}"))
    }

    /// 415 for a PATCH with a non-patch content type (or SMP on a custom resource).
    pub fn unsupported_patch(content_type: &str) -> Self {
        let msg = if content_type.is_empty() {
            "415: Unsupported Media Type".to_string()
        } else {
            format!("the body of the request was in an unknown format - accepted media types include: {content_type}")
        };
        Status::failure(415, ReasonKind::UnsupportedMediaType, msg).with_details(StatusDetails::default()).into()
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::plain(401, ReasonKind::Unauthorized, "Unauthorized")
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(method: &str) -> Self {
        Status::failure(
            405,
            ReasonKind::MethodNotAllowed,
            format!("the server does not allow this method on the requested resource ({method})"),
        )
        .with_details(StatusDetails::default())
        .into()
    }
}
