//! The client's error type.
//!
//! Contract: every failure is a typed variant a caller can match on. API failures carry the
//! server's [`Status`]; [`Error::status`] finds it even through a [`Error::RetriesExhausted`]
//! wrapper, so `err.is_not_found()` works on any error a request returns. Messages name the
//! URL, host or thing being decoded, and never contain credentials.

use std::time::Duration;

use rudder_apimachinery::status::{ReasonKind, Status};

use crate::config::ConfigError;

/// A boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias for the client.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to an API server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a failure `Status` (404 NotFound, 409 Conflict, 410 Gone ...).
    #[error("{method} {url}: {status}")]
    Api {
        /// The failure as the server described it.
        status: Box<Status>,
        /// Request method.
        method: String,
        /// Request URL (path and query).
        url: String,
    },
    /// The server answered with an unexpected non-2xx code below 400 (failures of 400 and
    /// above are always [`Error::Api`], with a Status synthesized from the code if need be).
    #[error("{method} {url}: HTTP {code}: {body}")]
    UnexpectedResponse {
        /// HTTP status code.
        code: u16,
        /// Request method.
        method: String,
        /// Request URL.
        url: String,
        /// The first part of the body, as text.
        body: String,
    },
    /// The server could not be reached or the connection failed.
    #[error("cannot reach {url}: {message}")]
    Connect {
        /// The URL that was being requested.
        url: String,
        /// What happened.
        message: String,
        /// Underlying cause.
        #[source]
        source: Option<BoxError>,
    },
    /// TLS set-up or handshake failed.
    #[error("TLS with {host} failed: {reason}")]
    Tls {
        /// The server host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The request did not finish in time.
    #[error("{method} {url}: timed out after {after:?}")]
    Timeout {
        /// Request method.
        method: String,
        /// Request URL.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// A watch delivered nothing (no event, no bookmark) for `idle`: the connection is taken
    /// for dead and the watch is started again from the last resourceVersion (the informer's
    /// `watch_idle_timeout`).
    #[error("watch of {resource} silent for {idle:?}: taken for dead, resumed from the last resourceVersion")]
    WatchIdle {
        /// What was watched (the informer's name, e.g. `v1/pods`).
        resource: String,
        /// How long it was silent.
        idle: Duration,
    },
    /// A response body (or a watch event) could not be decoded.
    #[error("cannot decode {what}: {source}")]
    Decode {
        /// What was being decoded, e.g. `PodList from GET /api/v1/pods`.
        what: String,
        /// The JSON error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A response body, or one line or item of a streamed response, is larger than the limit
    /// the configuration sets for it; the message names the setting to raise.
    #[error("{url}: {what} exceeds the limit of {limit} bytes (raise {setting} to accept it)")]
    TooLarge {
        /// Request URL (path and query).
        url: String,
        /// What was too large: `response body`, `watch event`, `line`, `list item`.
        what: &'static str,
        /// The limit, in bytes.
        limit: usize,
        /// The setting that holds the limit, e.g. `Config.max_body_bytes`.
        setting: &'static str,
    },
    /// The body stream broke while being read.
    #[error("reading the response of {url} failed: {message}")]
    Body {
        /// Request URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// Loading configuration failed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Obtaining credentials failed (exec plugin, token file ...).
    #[error("authentication: {0}")]
    Auth(String),
    /// The request could not be built (bad name, body not serializable ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Every attempt of a retried request failed; `last` is the final failure.
    #[error("{last} (after {attempts} attempts; earlier: {})", earlier.join("; "))]
    RetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// What the earlier attempts failed with.
        earlier: Vec<String>,
        /// The last failure.
        last: Box<Error>,
    },
}

impl Error {
    /// The server's Status, if this is (or wraps) an API failure.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Error::Api { status, .. } => Some(status),
            Error::RetriesExhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    /// The failure's classification (`None` when it is not an API failure).
    pub fn reason_kind(&self) -> Option<ReasonKind> {
        self.status().map(Status::reason_kind)
    }

    /// 404 NotFound.
    pub fn is_not_found(&self) -> bool {
        self.status().is_some_and(Status::is_not_found)
    }
    /// 409 AlreadyExists.
    pub fn is_already_exists(&self) -> bool {
        self.status().is_some_and(Status::is_already_exists)
    }
    /// 409 Conflict.
    pub fn is_conflict(&self) -> bool {
        self.status().is_some_and(Status::is_conflict)
    }
    /// 410 Gone or Expired: relist.
    pub fn is_expired(&self) -> bool {
        self.status().is_some_and(Status::is_expired)
    }
    /// 429 TooManyRequests.
    pub fn is_too_many_requests(&self) -> bool {
        self.status().is_some_and(Status::is_too_many_requests)
    }
    /// 403 Forbidden.
    pub fn is_forbidden(&self) -> bool {
        self.status().is_some_and(Status::is_forbidden)
    }
    /// 401 Unauthorized.
    pub fn is_unauthorized(&self) -> bool {
        self.status().is_some_and(Status::is_unauthorized)
    }
    /// The "too large resource version" 504.
    pub fn is_too_large_resource_version(&self) -> bool {
        self.status().is_some_and(Status::is_too_large_resource_version)
    }
    /// Whether the connection failed (refused, reset, unexpected EOF).
    pub fn is_connect(&self) -> bool {
        match self {
            Error::Connect { .. } => true,
            Error::RetriesExhausted { last, .. } => last.is_connect(),
            _ => false,
        }
    }
}
