//! The transport: one pooled hyper client per [`Config`], which sends a request and returns
//! the response head with a streaming body.
//!
//! Contract:
//! - `https` servers are reached over rustls (ring) with ALPN `h2`, `http/1.1`: HTTP/2 when the
//!   server offers it, else HTTP/1.1; `http` servers over plain HTTP/1.1. Connections are
//!   pooled and reused. A `proxy_url` tunnels (CONNECT) to https servers (the `proxy` module).
//! - `Transport::send` applies the user agent (unless the request has one), credentials (https
//!   only, the `auth` module), impersonation headers, the client-side rate limiter (not for
//!   [`RequestKind::LongRunning`], [`rate_limit`]) and the retry policy (the `retry` module), then returns
//!   the final HTTP response as is: status classification happens in [`crate::Client`].
//! - Retries: a 429/5xx response with `Retry-After` is drained and retried after the delay; a
//!   refused/reset/early-closed connection is retried after 1 s for GET/HEAD only; each retry
//!   passes the rate limiter again; at most `Config.max_retries` retries. A 401 with a
//!   refreshable credential (token file, exec plugin) refreshes it and re-sends the request once.
//!   When the final outcome is an error after more than one attempt, it is
//!   [`Error::RetriesExhausted`] listing what the earlier attempts failed with.
//! - One deadline per request: `Config.timeout` from the moment a Normal request is sent bounds
//!   the rate limiter's wait, every attempt, every retry and the sleep before it
//!   ([`Transport::send`] up to the final response head; [`crate::Client`] extends the same
//!   deadline over reading the body). A retry whose sleep would end past the deadline is not
//!   made: the response that asked for it is returned. LongRunning requests (watches, followed
//!   logs) have no deadline. A timeout is [`Error::Timeout`] and is not retried.
//! - A server's `Retry-After` is honoured up to 60 s (`retry::MAX_RETRY_AFTER`).
//! - Opening a connection (TCP connect, a proxy's CONNECT answer, the TLS handshake) is bounded
//!   by `Config.connect_timeout`, for every kind of request. Every TCP connection has keepalive
//!   on (first probe after 15 s idle, then every 30 s: `proxy::KEEPALIVE_*`), so a peer that
//!   vanished is noticed even on an idle watch. An exec plugin's run is bounded by its own
//!   timeout ([`crate::config::exec::DEFAULT_TIMEOUT`]) and, for a Normal request, by the
//!   deadline.
//! - TLS failures are [`Error::Tls`] naming the host and the cause (e.g. `invalid peer
//!   certificate: UnknownIssuer`); other connection failures are [`Error::Connect`] naming the
//!   URL.
//! - A [`RequestMetrics`] sink, when set, is told of every
//!   attempt and of every Normal request's duration (the `crate::metrics` contract).
//! - `Warning` response headers are logged (`tracing::warn!`) and passed to the handler set
//!   with [`Transport::on_warning`].
//! - Nothing logged or returned contains credentials: URLs in errors, logs and `Debug` have their
//!   user info replaced by `[REDACTED]@`. User info in the server URL is never sent (not in
//!   the request line to a plain proxy, not in HTTP/2's `:authority`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use parking_lot::{Mutex, RwLock};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;

use crate::config::{redact, Config};
use crate::error::{Error, Result};
use crate::metrics::{host_label, Attempt, RequestDone, RequestMetrics};

mod auth;
mod proxy;
pub mod rate_limit;
mod retry;
mod tls;
mod upgrade;

use rate_limit::RateLimiter;

/// Whether a request is a long-running watch (not rate limited, no request timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestKind {
    /// An ordinary request.
    #[default]
    Normal,
    /// A watch or a followed log: long-running, exempt from the rate limiter and timeout.
    LongRunning,
}

/// A handler for the text of `Warning` response headers.
type WarningHandler = Arc<dyn Fn(&str) + Send + Sync>;

/// The largest body drained from a response that is retried (beyond it the connection is
/// dropped instead of reused).
const MAX_DRAIN: usize = 64 * 1024;

/// A pooled HTTP client bound to one [`Config`]. Cheap to clone; clones share the pool, the
/// rate limiter, the credentials cache and the warning handler.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// The hyper client; replaced (with a fresh pool) when an exec plugin hands out a new
    /// client certificate.
    http: RwLock<HyperClient<Connector, Full<Bytes>>>,
    /// The connector for HTTP/1.1 upgrades (ALPN `http/1.1` only), replaced with `http`.
    upgrade: RwLock<Connector>,
    /// The client certificate (PEM cert, PEM key) the current `http` presents, from an exec
    /// plugin.
    exec_cert: Mutex<Option<(Vec<u8>, Vec<u8>)>>,
    user_agent: HeaderValue,
    auth: auth::Auth,
    impersonation: Vec<(HeaderName, HeaderValue)>,
    limiter: Option<RateLimiter>,
    /// `Proxy-Authorization` for plain-proxied (http) requests.
    proxy_authorization: Option<HeaderValue>,
    on_warning: RwLock<Option<WarningHandler>>,
    metrics: RwLock<Option<Arc<dyn RequestMetrics>>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("server", &redact::uri(&self.inner.config.cluster_url))
            .field("auth", &self.inner.auth)
            .field("limiter", &self.inner.limiter)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Builds the transport for `config`: TLS settings, credentials source, rate limiter. No
    /// I/O happens until the first request (except reading the system root certificates).
    pub fn new(config: &Config) -> Result<Self> {
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| Error::InvalidRequest(format!("user agent {:?} is not a valid header", config.user_agent)))?;
        let client_cert = match (&config.auth.client_certificate_pem, &config.auth.client_key_pem) {
            (Some(c), Some(k)) if config.is_https() => Some((c.as_slice(), k.expose().as_slice())),
            (Some(_), None) | (None, Some(_)) if config.is_https() => {
                return Err(Error::Tls {
                    host: tls::host_of(&config.cluster_url),
                    reason: "a client certificate needs both the certificate and the key".into(),
                })
            }
            _ => None,
        };
        let (http, upgrade) = build_client(config, client_cert)?;
        let impersonation = match &config.impersonate {
            Some(imp) => auth::impersonation_headers(imp)?,
            None => Vec::new(),
        };
        let proxy_authorization = match &config.proxy_url {
            Some(p) => proxy::Proxy::from_uri(p)?.authorization().and_then(|a| {
                let mut v = HeaderValue::from_str(a).ok()?;
                v.set_sensitive(true);
                Some(v)
            }),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                config: config.clone(),
                http: RwLock::new(http),
                upgrade: RwLock::new(upgrade),
                exec_cert: Mutex::new(None),
                user_agent,
                auth: auth::Auth::new(config)?,
                impersonation,
                limiter: RateLimiter::from_config(config.qps, config.burst),
                proxy_authorization,
                on_warning: RwLock::new(None),
                metrics: RwLock::new(None),
            }),
        })
    }

    /// Calls `f` with the text of every `Warning` header the server sends (deprecated APIs,
    /// unknown fields ...), in addition to logging it with `tracing::warn!`. Replaces any
    /// previous handler. Shared by all clones of this transport.
    ///
    /// ```
    /// # fn demo(t: &rudder_client::transport::Transport) {
    /// t.on_warning(|text| eprintln!("server warning: {text}"));
    /// # }
    /// ```
    pub fn on_warning(&self, f: impl Fn(&str) + Send + Sync + 'static) {
        *self.inner.on_warning.write() = Some(Arc::new(f));
    }

    /// Reports every request to `sink` (see [`crate::metrics`]); replaces any previous sink.
    pub(crate) fn set_request_metrics(&self, sink: Arc<dyn RequestMetrics>) {
        *self.inner.metrics.write() = Some(sink);
    }

    /// Sends one request (`req`'s URI is absolute) under the retry policy and returns the final
    /// response, whatever its status; a Normal request must have its response head within
    /// `Config.timeout`.
    pub async fn send(&self, req: http::Request<Bytes>, kind: RequestKind) -> Result<http::Response<Incoming>> {
        self.send_until(req, kind, self.deadline(kind)).await
    }

    /// When a request of `kind` sent now must be done: `Config.timeout` from now for a Normal
    /// request, `None` for a LongRunning one or without a timeout.
    pub(crate) fn deadline(&self, kind: RequestKind) -> Option<Instant> {
        match (kind, self.inner.config.timeout) {
            (RequestKind::Normal, Some(after)) => Some(Instant::now() + after),
            _ => None,
        }
    }

    /// [`Transport::send`] with a deadline fixed by the caller (who may spend what remains of it
    /// reading the body).
    pub(crate) async fn send_until(
        &self,
        req: http::Request<Bytes>,
        kind: RequestKind,
        deadline: Option<Instant>,
    ) -> Result<http::Response<Incoming>> {
        let Some(deadline) = deadline else { return self.send_with_retries(req, kind, None).await };
        let (method, url) = (req.method().to_string(), crate::client::path_of(req.uri()));
        self.by_deadline(deadline, method, url, self.send_with_retries(req, kind, Some(deadline))).await
    }

    /// `fut`'s result if it ends by `deadline`, else [`Error::Timeout`] naming the request and
    /// `Config.timeout`.
    pub(crate) async fn by_deadline<T>(
        &self,
        deadline: Instant,
        method: String,
        url: String,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout { method, url, after: self.inner.config.timeout.unwrap_or_default() }),
        }
    }

    async fn send_with_retries(
        &self,
        req: http::Request<Bytes>,
        kind: RequestKind,
        deadline: Option<Instant>,
    ) -> Result<http::Response<Incoming>> {
        let (parts, body) = req.into_parts();
        let observed = self.inner.metrics.read().clone().map(|sink| Observed {
            sink,
            method: parts.method.to_string(),
            host: host_label(&parts.uri),
            start: Instant::now(),
            timed: kind == RequestKind::Normal,
        });
        let url = redact::uri(&parts.uri);
        let max_retries = self.inner.config.max_retries;
        let mut retries = 0u32;
        let mut attempts = 0u32;
        let mut refreshed_auth = false;
        let mut earlier: Vec<String> = Vec::new();
        loop {
            attempts += 1;
            let mut counted = observed.as_ref().map(|o| CountedAttempt { observed: o, code: None });
            let result = self.attempt(&parts, &body, kind).await;
            if let (Some(c), Ok(resp)) = (&mut counted, &result) {
                c.code = Some(resp.status().as_u16());
            }
            drop(counted);
            match result {
                Ok(resp) => {
                    self.surface_warnings(resp.headers());
                    let status = resp.status();
                    if status == http::StatusCode::UNAUTHORIZED && !refreshed_auth && self.inner.auth.refreshable() {
                        refreshed_auth = true;
                        earlier.push("HTTP 401 Unauthorized (credentials refreshed)".into());
                        drain(resp).await;
                        tracing::debug!(method = %parts.method, url, "401: refreshing credentials and retrying once");
                        // Force the refresh now so the next attempt uses the new credentials.
                        self.inner.auth.credentials(true).await?;
                        continue;
                    }
                    if let Some(after) = retry::retry_after(status, resp.headers()) {
                        let wait = retry::delay(after, retries + 1);
                        if retries < max_retries && !passes(deadline, wait) {
                            retries += 1;
                            earlier.push(format!("HTTP {} with Retry-After {}s", status.as_u16(), after.as_secs()));
                            tracing::debug!(method = %parts.method, url, status = status.as_u16(), ?wait, retry = retries, "retrying");
                            drain(resp).await;
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                    }
                    return Ok(resp);
                }
                Err(failure) => {
                    let wait = retry::delay(retry::CONNECTION_RETRY_DELAY, retries + 1);
                    if failure.connection
                        && retry::is_idempotent_read(&parts.method)
                        && retries < max_retries
                        && !passes(deadline, wait)
                    {
                        retries += 1;
                        tracing::debug!(method = %parts.method, url, error = %failure.error, ?wait, retry = retries, "retrying");
                        earlier.push(failure.error.to_string());
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    if attempts > 1 {
                        return Err(Error::RetriesExhausted { attempts, earlier, last: Box::new(failure.error) });
                    }
                    return Err(failure.error);
                }
            }
        }
    }

    /// One attempt: rate limit, headers, send, timeout.
    async fn attempt(
        &self,
        parts: &http::request::Parts,
        body: &Bytes,
        kind: RequestKind,
    ) -> std::result::Result<http::Response<Incoming>, Failure> {
        let inner = &self.inner;
        if kind == RequestKind::Normal {
            if let Some(l) = &inner.limiter {
                l.acquire().await;
            }
        }
        let mut req = http::Request::new(Full::new(body.clone()));
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = without_user_info(&parts.uri);
        *req.version_mut() = http::Version::HTTP_11;
        *req.headers_mut() = self.request_headers(parts).await.map_err(Failure::fatal)?;
        let http = inner.http.read().clone();
        let url = redact::uri(&parts.uri);
        let host = tls::host_of(&parts.uri);
        http.request(req).await.map_err(|e| classify(e, url, host))
    }

    /// The headers a request is sent with: its own, the user agent (unless set), impersonation,
    /// and credentials (https only; an exec plugin's client certificate is switched to here) or
    /// `Proxy-Authorization` for a plain proxy (http).
    pub(crate) async fn request_headers(&self, parts: &http::request::Parts) -> Result<http::HeaderMap> {
        let inner = &self.inner;
        let mut headers = parts.headers.clone();
        headers.entry(http::header::USER_AGENT).or_insert_with(|| inner.user_agent.clone());
        for (name, value) in &inner.impersonation {
            headers.append(name.clone(), value.clone());
        }
        if parts.uri.scheme_str() == Some("https") {
            let creds = inner.auth.credentials(false).await?;
            if let Some(v) = creds.authorization {
                if !headers.contains_key(http::header::AUTHORIZATION) {
                    headers.insert(http::header::AUTHORIZATION, v);
                }
            }
            if let Some(cert) = creds.client_cert {
                self.use_exec_cert(cert)?;
            }
        } else if let Some(v) = &inner.proxy_authorization {
            headers.insert(http::header::PROXY_AUTHORIZATION, v.clone());
        }
        Ok(headers)
    }

    /// Switches to the exec plugin's client certificate if it changed (new pool).
    fn use_exec_cert(&self, cert: (Vec<u8>, Vec<u8>)) -> Result<()> {
        let mut current = self.inner.exec_cert.lock();
        if current.as_ref() == Some(&cert) {
            return Ok(());
        }
        let (http, upgrade) = build_client(&self.inner.config, Some((&cert.0, &cert.1)))?;
        *self.inner.http.write() = http;
        *self.inner.upgrade.write() = upgrade;
        *current = Some(cert);
        Ok(())
    }

    fn surface_warnings(&self, headers: &http::HeaderMap) {
        let mut values = headers.get_all(http::header::WARNING).iter().peekable();
        if values.peek().is_none() {
            return;
        }
        let handler = self.inner.on_warning.read().clone();
        for v in values {
            let Ok(s) = v.to_str() else { continue };
            for text in parse_warnings(s) {
                tracing::warn!(warning = %text, "server warning");
                if let Some(h) = &handler {
                    h(&text);
                }
            }
        }
    }
}

/// `uri` without `user:password@`, which is never sent: HTTP/2 forbids it in `:authority`, and
/// a plain proxy would read it in the request line.
fn without_user_info(uri: &http::Uri) -> http::Uri {
    let Some(host) = uri.authority().and_then(|a| a.as_str().rsplit_once('@')).map(|(_, host)| host) else {
        return uri.clone();
    };
    let mut parts = uri.clone().into_parts();
    parts.authority = host.parse().ok();
    http::Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

/// A request being reported to a metrics sink: its duration is reported when it is dropped
/// (however the request ended, a passed deadline included).
struct Observed {
    sink: Arc<dyn RequestMetrics>,
    method: String,
    host: String,
    start: Instant,
    /// Whether the request's duration is reported (Normal requests only).
    timed: bool,
}

impl Drop for Observed {
    fn drop(&mut self) {
        if self.timed {
            let done = RequestDone { method: &self.method, host: &self.host, duration: self.start.elapsed() };
            self.sink.request(&done);
        }
    }
}

/// One attempt being reported: counted when dropped, as `<error>` unless a response came.
struct CountedAttempt<'a> {
    observed: &'a Observed,
    code: Option<u16>,
}

impl Drop for CountedAttempt<'_> {
    fn drop(&mut self) {
        let o = self.observed;
        o.sink.attempt(&Attempt { method: &o.method, host: &o.host, code: self.code });
    }
}

/// Whether sleeping `wait` from now would pass `deadline`.
fn passes(deadline: Option<Instant>, wait: Duration) -> bool {
    deadline.is_some_and(|d| Instant::now() + wait >= d)
}

/// A failed attempt and whether it is a connection failure (retriable for reads).
struct Failure {
    error: Error,
    connection: bool,
}

impl Failure {
    fn fatal(error: Error) -> Self {
        Self { error, connection: false }
    }
}

/// Maps a hyper-util error to ours: TLS failures (from our connector or from rustls inside an
/// I/O error) to [`Error::Tls`], everything else to [`Error::Connect`].
fn classify(e: hyper_util::client::legacy::Error, url: String, host: String) -> Failure {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = cur {
        if let Some(ConnectError::Tls { host, reason }) = err.downcast_ref::<ConnectError>() {
            return Failure::fatal(Error::Tls { host: host.clone(), reason: reason.clone() });
        }
        cur = err.source();
    }
    if let Some(reason) = tls::rustls_cause(&e) {
        return Failure::fatal(Error::Tls { host, reason });
    }
    let connection = retry::is_connection_failure(&e);
    Failure { error: Error::Connect { url, message: error_chain(&e), source: Some(Box::new(e)) }, connection }
}

/// Maps a connector failure of an upgrade to ours (as [`classify`] does for pooled requests).
fn classify_connect(e: ConnectError, url: String) -> Error {
    match e {
        ConnectError::Tls { host, reason } => Error::Tls { host, reason },
        e => Error::Connect { url, message: e.to_string(), source: Some(Box::new(e)) },
    }
}

/// Reads (a bounded part of) a response body so its connection can be reused, then drops it.
async fn drain(resp: http::Response<Incoming>) {
    let body = http_body_util::Limited::new(resp.into_body(), MAX_DRAIN);
    let _ = tokio::time::timeout(Duration::from_secs(5), body.collect()).await;
}

/// The texts of a `Warning` header value: `299 - "text"` entries, comma-separated, as
/// client-go parses them (other codes are ignored; malformed values are passed whole).
fn parse_warnings(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = v.trim();
    while !rest.is_empty() {
        // code SP agent SP quoted-text [SP quoted-date]
        let Some((code, after_code)) = rest.split_once(' ') else { break };
        let Some((_agent, after_agent)) = after_code.trim_start().split_once(' ') else { break };
        let after_agent = after_agent.trim_start();
        let Some(quoted) = after_agent.strip_prefix('"') else { break };
        let mut text = String::new();
        let mut chars = quoted.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        text.push(n);
                    }
                }
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                c => text.push(c),
            }
        }
        let Some(end) = end else { break };
        if code.trim() == "299" {
            out.push(text);
        }
        rest = quoted[end..].trim_start();
        // Skip an optional quoted date, then the separating comma.
        if let Some(d) = rest.strip_prefix('"') {
            rest = d.split_once('"').map(|(_, r)| r).unwrap_or("").trim_start();
        }
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        if !rest.is_empty() && !rest.starts_with(|c: char| c.is_ascii_digit()) {
            break;
        }
    }
    if out.is_empty() && !v.trim().is_empty() && !v.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
        out.push(v.trim().to_string());
    }
    out
}

/// Builds the pooled hyper client (h2 via ALPN, HTTP/1.1 otherwise) and the connector for
/// upgrades (the same, offering only `http/1.1`).
fn build_client(
    config: &Config,
    client_cert: Option<(&[u8], &[u8])>,
) -> Result<(HyperClient<Connector, Full<Bytes>>, Connector)> {
    let tls = if config.is_https() { Some(tls::client_config(config, client_cert)?) } else { None };
    let server_name = match &config.tls_server_name {
        Some(_) => Some(tls::server_name(config)?),
        None => None,
    };
    let proxy = config.proxy_url.as_ref().map(proxy::Proxy::from_uri).transpose()?.map(Arc::new);
    let connector = Connector {
        tls,
        server_name,
        cluster_host: tls::host_of(&config.cluster_url),
        proxy,
        connect_timeout: config.connect_timeout,
    };
    let upgrade = Connector { tls: connector.tls.as_ref().map(tls::http1_only), ..connector.clone() };
    let mut builder = HyperClient::builder(TokioExecutor::new());
    builder.pool_timer(TokioTimer::new()).timer(TokioTimer::new()).pool_idle_timeout(Duration::from_secs(90));
    builder.http2_keep_alive_interval(Duration::from_secs(30)).http2_keep_alive_while_idle(false);
    Ok((builder.build(connector), upgrade))
}

/// Why a connection could not be made. Mapped to [`Error`] by `Transport::send`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The TLS handshake (or TLS set-up) failed.
    #[error("TLS with {host} failed: {reason}")]
    Tls {
        /// The server host.
        host: String,
        /// Why.
        reason: String,
    },
    /// TCP connect failed.
    #[error("connect to {addr}: {source}")]
    Io {
        /// host:port.
        addr: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The proxy failed or refused.
    #[error("proxy {proxy}: {message}")]
    Proxy {
        /// Proxy host:port.
        proxy: String,
        /// What happened.
        message: String,
    },
    /// The URI cannot be connected to.
    #[error("cannot connect to {0}: no host")]
    NoHost(String),
    /// Opening the connection (TCP, proxy CONNECT, TLS) took longer than `Config.connect_timeout`.
    #[error("opening a connection to {target} took longer than {after:?} (Config.connect_timeout)")]
    TimedOut {
        /// The server host.
        target: String,
        /// The limit.
        after: Duration,
    },
}

/// Opens connections: direct or via the proxy, then TLS for https.
#[derive(Clone)]
pub(crate) struct Connector {
    tls: Option<Arc<rustls::ClientConfig>>,
    /// `tls_server_name`, used for the cluster host.
    server_name: Option<ServerName<'static>>,
    cluster_host: String,
    proxy: Option<Arc<proxy::Proxy>>,
    /// Bounds [`Connector::connect`] as a whole.
    connect_timeout: Duration,
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = Conn;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<Conn, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let after = this.connect_timeout;
            let target = tls::host_of(&uri);
            match tokio::time::timeout(after, this.connect(uri)).await {
                Ok(r) => r,
                Err(_) => Err(ConnectError::TimedOut { target, after }),
            }
        })
    }
}

impl Connector {
    async fn connect(self, uri: http::Uri) -> std::result::Result<Conn, ConnectError> {
        let https = uri.scheme_str() == Some("https");
        let host = tls::host_of(&uri);
        if host.is_empty() {
            return Err(ConnectError::NoHost(redact::uri(&uri)));
        }
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let (tcp, proxied) = match (&self.proxy, https) {
            (Some(p), true) => (p.tunnel(&host, port).await?, false),
            (Some(p), false) => (p.connect().await?, true),
            (None, _) => (proxy::tcp_connect(&host, port).await?, false),
        };
        if !https {
            return Ok(Conn { io: TokioIo::new(Stream::Plain(tcp)), h2: false, proxied });
        }
        let tls_err = |reason: String| ConnectError::Tls { host: host.clone(), reason };
        let config = self.tls.clone().ok_or_else(|| tls_err("no TLS configuration for an https URL".into()))?;
        let name = match (&self.server_name, host == self.cluster_host) {
            (Some(n), true) => n.clone(),
            _ => ServerName::try_from(host.clone()).map_err(|e| tls_err(format!("invalid server name: {e}")))?,
        };
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| tls_err(tls::rustls_cause(&e).unwrap_or_else(|| e.to_string())))?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(Conn { io: TokioIo::new(Stream::Tls(Box::new(stream))), h2, proxied: false })
    }
}

/// A TCP or TLS stream.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// A connection handed to hyper: the stream plus what was negotiated.
pub(crate) struct Conn {
    io: TokioIo<Stream>,
    h2: bool,
    proxied: bool,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        let c = Connected::new().proxy(self.proxied);
        if self.h2 {
            c.negotiated_h2()
        } else {
            c
        }
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Joins an error and its sources into one line.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::parse_warnings;

    #[test]
    fn warnings_are_parsed_like_client_go() {
        assert_eq!(parse_warnings(r#"299 - "v1 Foo is deprecated""#), vec!["v1 Foo is deprecated"]);
        assert_eq!(
            parse_warnings(r#"299 - "a \"quoted\" word", 299 kube "second" "Sat, 01 Jan 2000 00:00:00 GMT""#),
            vec![r#"a "quoted" word"#, "second"]
        );
        assert!(parse_warnings(r#"199 - "misc""#).is_empty());
        assert_eq!(parse_warnings("free text"), vec!["free text"]);
    }
}
