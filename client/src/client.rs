//! [`Client`]: executes requests against one API server and classifies the answers.
//!
//! Contract:
//! - Cheap to clone; clones share one pooled transport (and so one rate limiter).
//! - A 2xx response is a success. Any other response becomes [`Error::Api`] when its body is a
//!   `Status` (the HTTP `Retry-After` header is copied into `details.retryAfterSeconds` when the
//!   body lacks it), else [`Error::UnexpectedResponse`] with the start of the body.
//! - Bodies are decoded as what arrived: Kubernetes' protobuf envelope (`k8s\0`, the answer to
//!   a protobuf `Accept`, see [`crate::config::ContentType`]) or JSON; error `Status` bodies too.
//! - Typed decoding failures are [`Error::Decode`] naming what was decoded and from where.
//! - Bodies read whole hold at most `Config.max_body_bytes`; one watch event or streamed line
//!   at most `Config.max_object_bytes`. Beyond either the answer is [`Error::TooLarge`] naming
//!   the setting (a `Content-Length` over the limit fails before the body is read).
//! - Requests are pure values built elsewhere (`crate::request`); this module only executes.
//! - One deadline per request: `Config.timeout` bounds a Normal request from sending to the
//!   last byte of its body, retries included ([`Error::Timeout`]); [`Client::send`], which
//!   hands back an unread body, bounds it up to the response head. Watches and followed logs
//!   have no deadline. An error body is read within the deadline, or within 10 s when there is
//!   none; a server that stalls it gets a Status built from the HTTP code alone.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use rudder_apimachinery::status::Status;

use crate::config::Config;
use crate::decode::{DecodeOptions, DecodePool, LineStream, WatchEvents};
use crate::error::{Error, Result};
use crate::transport::{RequestKind, Transport};

/// Either the object the server returned, or a `Status` (DELETE answers with either).
#[derive(Debug, Clone, PartialEq)]
// Objects (a Pod is ~2 KB inline) are usually larger than a Status; boxing either would only
// add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum ObjectOrStatus<T> {
    /// The object (e.g. a pod being deleted gracefully, or held by finalizers).
    Object(T),
    /// A `Success` Status (the object is gone).
    Status(Status),
}

/// A handle to one API server. Clone freely.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    transport: Transport,
}

/// How much of an error body is kept in [`Error::UnexpectedResponse`].
const ERROR_BODY_PREVIEW: usize = 1024;
/// Error bodies larger than this are not parsed as Status.
const MAX_ERROR_BODY: usize = 1 << 20;
/// How long the body of an error response may take when the request has no deadline (a watch).
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(10);

impl Client {
    /// The shared transport (upgraded connections use it too).
    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// Builds a client for `config` (no I/O happens until the first request).
    pub fn new(config: Config) -> Result<Self> {
        let transport = Transport::new(&config)?;
        Ok(Self { inner: Arc::new(Inner { config, transport }) })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Calls `f` with the text of every `Warning` header the server sends (deprecated APIs,
    /// unknown fields ...); warnings are also logged with `tracing` at WARN level.
    ///
    /// ```no_run
    /// # fn demo(client: &rudder_client::Client) {
    /// client.on_warning(|text| eprintln!("server warning: {text}"));
    /// # }
    /// ```
    pub fn on_warning(&self, f: impl Fn(&str) + Send + Sync + 'static) {
        self.inner.transport.on_warning(f)
    }

    /// Reports every HTTP attempt and every ordinary request's duration to `sink`, the hooks
    /// behind client-go's `rest_client_requests_total` and
    /// `rest_client_request_duration_seconds` (see [`crate::metrics`]). Shared by all clones of
    /// this client; replaces any previous sink. Without one nothing is measured.
    pub fn set_request_metrics(&self, sink: Arc<dyn crate::metrics::RequestMetrics>) {
        self.inner.transport.set_request_metrics(sink)
    }

    /// The namespace used when a namespaced call names none.
    pub fn default_namespace(&self) -> &str {
        &self.inner.config.default_namespace
    }

    fn absolute(&self, mut req: http::Request<Bytes>) -> Result<http::Request<Bytes>> {
        if req.uri().scheme().is_none() {
            let base = &self.inner.config.cluster_url;
            let pq = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let base_path = base.path().trim_end_matches('/');
            let mut parts = base.clone().into_parts();
            let full = format!("{base_path}{pq}");
            parts.path_and_query =
                Some(full.parse().map_err(|e| Error::InvalidRequest(format!("bad request path {full:?}: {e}")))?);
            *req.uri_mut() =
                http::Uri::from_parts(parts).map_err(|e| Error::InvalidRequest(format!("bad URL for {pq:?}: {e}")))?;
        }
        Ok(req)
    }

    /// Sends a request (path relative to the server URL, or absolute) and returns the response
    /// with its body unread. Non-2xx responses are turned into errors. A Normal request's
    /// deadline (`Config.timeout`) covers everything up to the response head: reading the body
    /// is the caller's to bound.
    pub async fn send(&self, req: http::Request<Bytes>, kind: RequestKind) -> Result<http::Response<Incoming>> {
        let deadline = self.inner.transport.deadline(kind);
        self.send_until(req, kind, deadline).await
    }

    /// [`Client::send`] within `deadline` (which the caller also spends reading the body).
    pub(crate) async fn send_until(
        &self,
        req: http::Request<Bytes>,
        kind: RequestKind,
        deadline: Option<Instant>,
    ) -> Result<http::Response<Incoming>> {
        let req = self.absolute(req)?;
        let method = req.method().to_string();
        let url = path_of(req.uri());
        let resp = self.inner.transport.send_until(req, kind, deadline).await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let error_deadline = deadline.unwrap_or_else(|| Instant::now() + ERROR_BODY_TIMEOUT);
        Err(error_from_response(resp, method, url, error_deadline).await)
    }

    /// Runs `f` (a Normal request and the reading of its body) under one deadline,
    /// `Config.timeout` from now; `f` gets the deadline to pass to [`Client::send_until`].
    pub(crate) async fn within_deadline<T, F, Fut>(&self, req: http::Request<Bytes>, f: F) -> Result<T>
    where
        F: FnOnce(http::Request<Bytes>, Option<Instant>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let transport = &self.inner.transport;
        let Some(deadline) = transport.deadline(RequestKind::Normal) else { return f(req, None).await };
        let (method, url) = (req.method().to_string(), path_of(req.uri()));
        transport.by_deadline(deadline, method, url, f(req, Some(deadline))).await
    }

    /// Sends a request and returns the whole body (at most `Config.max_body_bytes`), all
    /// within `Config.timeout`.
    pub async fn request_bytes(&self, req: http::Request<Bytes>) -> Result<Bytes> {
        self.read_whole(req, RequestKind::Normal).await
    }

    /// Sends a request and returns the whole body (at most `Config.max_body_bytes`), within
    /// `Config.timeout` for a Normal request and with no deadline for a LongRunning one (a
    /// followed log read to its end).
    async fn read_whole(&self, req: http::Request<Bytes>, kind: RequestKind) -> Result<Bytes> {
        let url = path_of(req.uri());
        let limit = self.inner.config.max_body_bytes;
        let read = |req, deadline| async move {
            let resp = self.send_until(req, kind, deadline).await?;
            read_body(resp.into_body(), &url, limit).await
        };
        match kind {
            RequestKind::Normal => self.within_deadline(req, read).await,
            RequestKind::LongRunning => read(req, None).await,
        }
    }

    /// Sends a request and decodes the body as `T`.
    pub async fn request<T: DeserializeOwned>(&self, req: http::Request<Bytes>) -> Result<T> {
        let what = format!("{} from {} {}", short_type_name::<T>(), req.method(), path_of(req.uri()));
        let bytes = self.request_bytes(req).await?;
        decode_whole(&bytes).map_err(|source| Error::Decode { what, source })
    }

    /// Sends a request whose success answer is either a `T` or a `Status` (DELETE).
    pub async fn request_object_or_status<T: DeserializeOwned>(
        &self,
        req: http::Request<Bytes>,
    ) -> Result<ObjectOrStatus<T>> {
        let what = format!("{} from {} {}", short_type_name::<T>(), req.method(), path_of(req.uri()));
        let bytes = self.request_bytes(req).await?;
        if is_status(&bytes).map_err(|source| Error::Decode { what: what.clone(), source })? {
            let s: Status = decode_whole(&bytes).map_err(|source| Error::Decode { what, source })?;
            return Ok(ObjectOrStatus::Status(s));
        }
        decode_whole(&bytes).map(ObjectOrStatus::Object).map_err(|source| Error::Decode { what, source })
    }

    /// Sends a request and returns the body as text.
    pub async fn request_text(&self, req: http::Request<Bytes>) -> Result<String> {
        self.read_text(req, RequestKind::Normal).await
    }

    /// [`Client::request_text`] for a request of `kind` (see [`Client::read_whole`]).
    pub(crate) async fn read_text(&self, req: http::Request<Bytes>, kind: RequestKind) -> Result<String> {
        let url = path_of(req.uri());
        let b = self.read_whole(req, kind).await?;
        String::from_utf8(b.to_vec()).map_err(|e| Error::Body { url, message: format!("body is not UTF-8: {e}") })
    }

    /// Starts a watch: returns the stream of events, decoded on the global pool, once the
    /// server has answered 200.
    pub async fn request_watch<T: DeserializeOwned + Send + 'static>(
        &self,
        req: http::Request<Bytes>,
    ) -> Result<WatchEvents<T>> {
        self.watch_decoded(req, DecodePool::global().clone(), self.decode_options(), |o: T| o).await
    }

    /// Starts a watch whose events are decoded as `K` on `pool`, each object turned into a `T`
    /// by `finish` on the thread that decoded it; one event is at most `Config.max_object_bytes`.
    pub(crate) async fn watch_decoded<K, T, F>(
        &self,
        req: http::Request<Bytes>,
        pool: DecodePool,
        opts: DecodeOptions,
        finish: F,
    ) -> Result<WatchEvents<T>>
    where
        K: DeserializeOwned,
        T: Send + 'static,
        F: Fn(K) -> T + Send + Sync + 'static,
    {
        let url = path_of(req.uri());
        let resp = self.send(req, RequestKind::LongRunning).await?;
        Ok(WatchEvents::decoded_as(resp.into_body(), url, pool, opts, finish))
    }

    /// The decode pool's options with the configuration's limit on one item or event.
    pub(crate) fn decode_options(&self) -> DecodeOptions {
        DecodeOptions { max_object_bytes: self.inner.config.max_object_bytes, ..DecodeOptions::default() }
    }

    /// Starts a streamed text response (followed logs): a stream of lines.
    pub async fn request_lines(&self, req: http::Request<Bytes>) -> Result<LineStream> {
        let url = path_of(req.uri());
        let resp = self.send(req, RequestKind::LongRunning).await?;
        Ok(LineStream::new(resp.into_body(), url).with_max_line_bytes(self.inner.config.max_object_bytes))
    }
}

/// Decodes a whole body as `T`: Kubernetes' protobuf envelope when it starts with the `k8s\0`
/// magic (a server answering a protobuf `Accept`), else JSON.
pub(crate) fn decode_whole<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, serde_json::Error> {
    if bytes.starts_with(&rudder_apimachinery::protobuf::MAGIC) {
        rudder_apimachinery::protobuf::from_slice(bytes).map_err(<serde_json::Error as serde::de::Error>::custom)
    } else {
        rudder_apimachinery::json::from_slice(bytes)
    }
}

/// Whether a whole body (JSON or protobuf) is a `Status`.
pub(crate) fn is_status(bytes: &[u8]) -> std::result::Result<bool, serde_json::Error> {
    if bytes.starts_with(&rudder_apimachinery::protobuf::MAGIC) {
        let unknown = rudder_apimachinery::protobuf::Unknown::decode(bytes)
            .map_err(<serde_json::Error as serde::de::Error>::custom)?;
        return Ok(unknown.kind == "Status");
    }
    #[derive(serde::Deserialize)]
    struct KindOnly<'a> {
        #[serde(borrow, default)]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    let probe: KindOnly<'_> = serde_json::from_slice(bytes)?;
    Ok(probe.kind.as_deref() == Some("Status"))
}

/// The last path segment of a type's name, without generics (`Pod`), for error messages.
pub(crate) fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// The path and query of a URI, for messages.
pub(crate) fn path_of(uri: &http::Uri) -> String {
    uri.path_and_query().map(|p| p.to_string()).unwrap_or_else(|| uri.to_string())
}

/// Reads a whole body of at most `limit` bytes (`Config.max_body_bytes`).
async fn read_body(body: Incoming, url: &str, limit: usize) -> Result<Bytes> {
    use http_body::Body as _;
    let too_large =
        || Error::TooLarge { url: url.to_string(), what: "response body", limit, setting: "Config.max_body_bytes" };
    // A Content-Length over the limit fails before anything is read.
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(Error::Body { url: url.to_string(), message: e.to_string() }),
    }
}

/// Turns a non-2xx response into the matching error, reading its body until `deadline` at most
/// (a body that does not come in time is treated as empty).
pub(crate) async fn error_from_response(
    resp: http::Response<Incoming>,
    method: String,
    url: String,
    deadline: Instant,
) -> Error {
    let code = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok());
    let read = http_body_util::Limited::new(resp.into_body(), MAX_ERROR_BODY).collect();
    let body = match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) => return Error::Body { url, message: format!("reading HTTP {code} error body: {e}") },
        Err(_) => Bytes::new(),
    };
    match decode_whole::<Status>(&body) {
        Ok(mut status) if status.kind == "Status" || !status.reason.is_empty() => {
            if status.code == 0 {
                status.code = code;
            }
            if let Some(secs) = retry_after {
                let d = status.details.get_or_insert_with(Default::default);
                if d.retry_after_seconds.is_none() {
                    d.retry_after_seconds = Some(secs);
                }
            }
            Error::Api { status: Box::new(status), method, url }
        }
        _ => {
            let text = String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_PREVIEW)]).trim().to_string();
            if code < 400 {
                return Error::UnexpectedResponse { code, method, url, body: text };
            }
            // As client-go does: a failure without a Status body gets one synthesized from
            // the code, so `is_not_found()` and friends still classify it.
            let kind = rudder_apimachinery::status::ReasonKind::from_code(code);
            let mut status = Status::failure(code, kind, format!("the server responded with HTTP {code}: {text}"));
            if let Some(secs) = retry_after {
                status.details = Some(rudder_apimachinery::status::StatusDetails {
                    retry_after_seconds: Some(secs),
                    ..Default::default()
                });
            }
            Error::Api { status: Box::new(status), method, url }
        }
    }
}
