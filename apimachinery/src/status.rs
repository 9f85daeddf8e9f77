//! `Status`, the body of every API failure (and of some successes), and its classification.
//!
//! Contract: [`Status::reason_kind`] classifies by `reason` first and falls back to the HTTP
//! `code` only when the reason is absent or unknown, exactly as client-go's `ReasonForError`
//! and `IsNotFound`/`IsConflict`/... do. `details.kind` is usually the plural resource.

use serde::{Deserialize, Serialize};

/// Metadata of a Status (carries a fresh continue token on a 410 for an expired continue).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatusMeta {
    /// A continue token the client may use instead of the expired one.
    #[serde(rename = "continue", default, skip_serializing_if = "Option::is_none")]
    pub continue_: Option<String>,
    /// resourceVersion, when set.
    #[serde(rename = "resourceVersion", default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// One cause of a failure (for example one invalid field).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatusCause {
    /// Machine-readable cause, e.g. `FieldValueInvalid`, `FieldManagerConflict`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The field path, e.g. `metadata.name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

/// Which object a Status is about, and why.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatusDetails {
    /// Object name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// API group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Usually the plural resource (`pods`); the Kind for validation errors.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Object uid (on delete success).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Causes (invalid fields, apply conflicts, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// Seconds to wait before retrying (429, 504 too-large-resource-version).
    #[serde(rename = "retryAfterSeconds", default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

/// The `Status` kind.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Status {
    /// Always `Status`.
    #[serde(default)]
    pub kind: String,
    /// Always `v1`.
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: StatusMeta,
    /// `Success` or `Failure`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Machine-readable reason (`NotFound`, `Conflict`, ...); empty when the server gave none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// HTTP status code.
    #[serde(default)]
    pub code: u16,
}

/// What kind of failure a Status reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReasonKind {
    /// 404 NotFound.
    NotFound,
    /// 409 AlreadyExists (create of an existing name).
    AlreadyExists,
    /// 409 Conflict (stale resourceVersion, failed precondition, apply conflict).
    Conflict,
    /// 410 Gone.
    Gone,
    /// 410 Expired (resourceVersion or continue token too old).
    Expired,
    /// 429 TooManyRequests.
    TooManyRequests,
    /// 403 Forbidden.
    Forbidden,
    /// 401 Unauthorized.
    Unauthorized,
    /// 422 Invalid.
    Invalid,
    /// 400 BadRequest.
    BadRequest,
    /// 405 MethodNotAllowed.
    MethodNotAllowed,
    /// 406 NotAcceptable.
    NotAcceptable,
    /// 415 UnsupportedMediaType.
    UnsupportedMediaType,
    /// 504 Timeout (the request could not complete in time, e.g. too large resourceVersion).
    Timeout,
    /// 500 ServerTimeout.
    ServerTimeout,
    /// 500 InternalError.
    InternalError,
    /// 503 ServiceUnavailable.
    ServiceUnavailable,
    /// 202/200 statuses and anything not recognised.
    Unknown,
}

impl ReasonKind {
    /// Classifies a `reason` string; `None` when it is empty or not one of the known reasons.
    pub fn from_reason(reason: &str) -> Option<Self> {
        Some(match reason {
            "NotFound" => Self::NotFound,
            "AlreadyExists" => Self::AlreadyExists,
            "Conflict" => Self::Conflict,
            "Gone" => Self::Gone,
            "Expired" => Self::Expired,
            "TooManyRequests" => Self::TooManyRequests,
            "Forbidden" => Self::Forbidden,
            "Unauthorized" => Self::Unauthorized,
            "Invalid" => Self::Invalid,
            "BadRequest" => Self::BadRequest,
            "MethodNotAllowed" => Self::MethodNotAllowed,
            "NotAcceptable" => Self::NotAcceptable,
            "UnsupportedMediaType" => Self::UnsupportedMediaType,
            "Timeout" => Self::Timeout,
            "ServerTimeout" => Self::ServerTimeout,
            "InternalError" => Self::InternalError,
            "ServiceUnavailable" => Self::ServiceUnavailable,
            _ => return None,
        })
    }

    /// Classifies an HTTP status code, as client-go does when a Status has no known reason.
    pub fn from_code(code: u16) -> Self {
        match code {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            406 => Self::NotAcceptable,
            409 => Self::Conflict,
            410 => Self::Gone,
            415 => Self::UnsupportedMediaType,
            422 => Self::Invalid,
            429 => Self::TooManyRequests,
            500 => Self::InternalError,
            503 => Self::ServiceUnavailable,
            504 => Self::Timeout,
            _ => Self::Unknown,
        }
    }

    /// The wire `reason` string.
    pub fn as_reason(self) -> &'static str {
        match self {
            Self::NotFound => "NotFound",
            Self::AlreadyExists => "AlreadyExists",
            Self::Conflict => "Conflict",
            Self::Gone => "Gone",
            Self::Expired => "Expired",
            Self::TooManyRequests => "TooManyRequests",
            Self::Forbidden => "Forbidden",
            Self::Unauthorized => "Unauthorized",
            Self::Invalid => "Invalid",
            Self::BadRequest => "BadRequest",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::NotAcceptable => "NotAcceptable",
            Self::UnsupportedMediaType => "UnsupportedMediaType",
            Self::Timeout => "Timeout",
            Self::ServerTimeout => "ServerTimeout",
            Self::InternalError => "InternalError",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::Unknown => "",
        }
    }
}

impl Status {
    /// A `Failure` Status with the given code, reason and message, shaped as the API server's.
    pub fn failure(code: u16, reason: ReasonKind, message: impl Into<String>) -> Self {
        Self {
            kind: "Status".into(),
            api_version: "v1".into(),
            status: "Failure".into(),
            message: message.into(),
            reason: reason.as_reason().into(),
            code,
            ..Self::default()
        }
    }

    /// A `Success` Status (what DELETE returns for an object deleted at once).
    pub fn success(details: Option<StatusDetails>) -> Self {
        Self { kind: "Status".into(), api_version: "v1".into(), status: "Success".into(), details, ..Self::default() }
    }

    /// Adds details (builder style).
    pub fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = Some(details);
        self
    }

    /// Classifies: by `reason` first, by `code` when the reason is empty or unknown.
    pub fn reason_kind(&self) -> ReasonKind {
        ReasonKind::from_reason(&self.reason).unwrap_or_else(|| ReasonKind::from_code(self.code))
    }

    /// Whether this is a `Failure`.
    pub fn is_failure(&self) -> bool {
        self.status == "Failure"
    }

    /// NotFound.
    pub fn is_not_found(&self) -> bool {
        self.reason_kind() == ReasonKind::NotFound
    }
    /// AlreadyExists.
    pub fn is_already_exists(&self) -> bool {
        self.reason_kind() == ReasonKind::AlreadyExists
    }
    /// Conflict.
    pub fn is_conflict(&self) -> bool {
        self.reason_kind() == ReasonKind::Conflict
    }
    /// Gone or Expired: the resourceVersion or continue token is too old (client-go's
    /// `IsResourceExpired` || `IsGone`); a list or watch must start over.
    pub fn is_expired(&self) -> bool {
        matches!(self.reason_kind(), ReasonKind::Gone | ReasonKind::Expired)
    }
    /// TooManyRequests.
    pub fn is_too_many_requests(&self) -> bool {
        self.reason_kind() == ReasonKind::TooManyRequests
    }
    /// Forbidden.
    pub fn is_forbidden(&self) -> bool {
        self.reason_kind() == ReasonKind::Forbidden
    }
    /// Unauthorized.
    pub fn is_unauthorized(&self) -> bool {
        self.reason_kind() == ReasonKind::Unauthorized
    }
    /// Invalid.
    pub fn is_invalid(&self) -> bool {
        self.reason_kind() == ReasonKind::Invalid
    }
    /// Timeout or ServerTimeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self.reason_kind(), ReasonKind::Timeout | ReasonKind::ServerTimeout)
    }
    /// The "Too large resource version" Timeout (client-go's `IsTooLargeResourceVersion`).
    pub fn is_too_large_resource_version(&self) -> bool {
        self.causes().iter().any(|c| c.reason == "ResourceVersionTooLarge")
            || (self.is_timeout() && self.message.contains("Too large resource version"))
    }
    /// `details.retryAfterSeconds`.
    pub fn retry_after_seconds(&self) -> Option<u32> {
        self.details.as_ref().and_then(|d| d.retry_after_seconds)
    }
    /// `details.causes` (empty when absent).
    pub fn causes(&self) -> &[StatusCause] {
        self.details.as_ref().map(|d| d.causes.as_slice()).unwrap_or(&[])
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reason = if self.reason.is_empty() { self.reason_kind().as_reason() } else { &self.reason };
        write!(f, "{} ({}", if self.message.is_empty() { "(no message)" } else { &self.message }, self.code)?;
        if !reason.is_empty() {
            write!(f, " {reason}")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for Status {}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Status {
        let p = format!("{}/../testdata/apiserver/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))).unwrap()
    }

    /// Every `status-*.json` fixture decodes and classifies as its file name says.
    #[test]
    fn every_status_fixture_classifies_as_named() {
        let dir = format!("{}/../testdata/apiserver", env!("CARGO_MANIFEST_DIR"));
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            let Some(rest) = name.strip_prefix("status-").and_then(|r| r.strip_suffix(".json")) else { continue };
            let (code, what) = rest.split_once('-').unwrap();
            let s = fixture(&name);
            // A Success Status carries no code; every failure carries the HTTP code.
            if s.is_failure() {
                assert_eq!(s.code.to_string(), code, "{name}");
            } else {
                assert_eq!((s.status.as_str(), s.code), ("Success", 0), "{name}");
            }
            let want = match what {
                "forbidden" => ReasonKind::Forbidden,
                "delete-success" => ReasonKind::Unknown,
                "expired-continue" => ReasonKind::Expired,
                "notfound" => ReasonKind::NotFound,
                "conflict" => ReasonKind::Conflict,
                "alreadyexists" => ReasonKind::AlreadyExists,
                "toomanyrequests" => ReasonKind::TooManyRequests,
                "invalid" => ReasonKind::Invalid,
                "unauthorized" => ReasonKind::Unauthorized,
                other => panic!("fixture {name} has no expectation for {other}"),
            };
            assert_eq!(s.reason_kind(), want, "{name}");
            n += 1;
        }
        assert!(n >= 9, "found {n} status fixtures");
    }

    #[test]
    fn details_are_kept() {
        assert_eq!(fixture("status-429-toomanyrequests.json").retry_after_seconds(), Some(1));
        let inv = fixture("status-422-invalid.json");
        assert_eq!(inv.causes()[0].field, "metadata.name");
        assert!(fixture("status-410-expired-continue.json").is_expired());
        assert!(fixture("status-410-expired-continue.json").metadata.continue_.is_some());
        assert!(!fixture("status-200-delete-success.json").is_failure());
    }

    #[test]
    fn code_is_the_fallback() {
        let s = Status { code: 404, ..Status::default() };
        assert!(s.is_not_found());
        let s = Status { code: 500, reason: "SomethingNew".into(), ..Status::default() };
        assert_eq!(s.reason_kind(), ReasonKind::InternalError);
        // Reason wins over code.
        let s = Status { code: 500, reason: "Conflict".into(), ..Status::default() };
        assert!(s.is_conflict());
        for code in [400u16, 401, 403, 404, 405, 409, 410, 422, 429, 500, 503, 504] {
            let k = ReasonKind::from_code(code);
            assert_eq!(ReasonKind::from_reason(k.as_reason()), Some(k));
        }
    }

    #[test]
    fn too_large_resource_version() {
        let s: Status = serde_json::from_str(r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Timeout: Too large resource version: 999999999, current: 42","reason":"Timeout","details":{"causes":[{"reason":"ResourceVersionTooLarge","message":"Too large resource version"}],"retryAfterSeconds":1},"code":504}"#).unwrap();
        assert!(s.is_too_large_resource_version());
        assert!(s.is_timeout());
    }
}
