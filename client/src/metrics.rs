//! What a [`Client`](crate::Client) reports about its HTTP requests, for metrics, without
//! depending on a metrics crate (client-go's `tools/metrics` hooks).
//!
//! Contract, for a sink set with [`Client::set_request_metrics`](crate::Client::set_request_metrics):
//! - [`RequestMetrics::attempt`] once per HTTP attempt, retries and the re-send after a 401
//!   credential refresh included, for every kind of request (watches too), with the HTTP
//!   status code, or `None` when no response came (connection, TLS, credential failure, or the
//!   request's deadline passed mid-attempt): client-go's
//!   `rest_client_requests_total{code,method,host}`, whose `code` is then `"<error>"`
//!   ([`Attempt::code_label`]).
//! - [`RequestMetrics::request`] once per ordinary request when it ends, however it ends, with
//!   the time from the call (rate limiter waits, every attempt and retry sleep included) to
//!   the final response head or error: client-go's
//!   `rest_client_request_duration_seconds{verb,host}`. Watches and followed logs are not
//!   observed (client-go does not time them either). Unlike client-go, reading the body is not
//!   included.
//! - Labels are bounded: `method` is the HTTP method, `host` the server's `host[:port]` (never
//!   user info, path or query); nothing secret is passed.
//! - Hooks run on the request's task; they must be short and must not block. Without a sink
//!   nothing is measured.

use std::time::Duration;

/// Receives a client's request events; see the module docs.
pub trait RequestMetrics: Send + Sync + 'static {
    /// One HTTP attempt ended.
    fn attempt(&self, attempt: &Attempt<'_>);
    /// An ordinary request ended after all its attempts.
    fn request(&self, request: &RequestDone<'_>);
}

/// One HTTP attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt<'a> {
    /// The HTTP method (`GET`, `POST`, ...).
    pub method: &'a str,
    /// The server's `host[:port]`.
    pub host: &'a str,
    /// The response's status code; `None` when no response came.
    pub code: Option<u16>,
}

impl Attempt<'_> {
    /// The `code` label client-go gives it: the status code, or `"<error>"`.
    pub fn code_label(&self) -> String {
        self.code.map_or_else(|| "<error>".to_owned(), |c| c.to_string())
    }
}

/// One ordinary request, after all its attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestDone<'a> {
    /// The HTTP method (`GET`, `POST`, ...).
    pub method: &'a str,
    /// The server's `host[:port]`.
    pub host: &'a str,
    /// From the call to the final response head or error.
    pub duration: Duration,
}

/// The `host[:port]` of `uri`, without user info.
pub(crate) fn host_label(uri: &http::Uri) -> String {
    let authority = uri.authority().map_or("", |a| a.as_str());
    authority.rsplit_once('@').map_or(authority, |(_, host)| host).to_owned()
}
