//! HTTP side of the embedded API server: the listener (plain or TLS, HTTP/1.1 and h2 via
//! hyper-util's auto builder), authentication, routing of API paths to verbs, response headers
//! and bodies.
//!
//! Contract: every answer carries `Audit-Id`, `Cache-Control: no-cache, private` and (for JSON)
//! `Content-Type: application/json`; JSON is compact and ends with `\n` (pretty with
//! `?pretty=true` or a curl/Wget/Mozilla user agent); every failure is a `Status`; a panic in
//! a handler becomes a 500 Status and the server keeps serving. API answers are re-encoded as
//! protobuf when `Accept` asks for it, and refused with 406 when nothing in it can be served
//! (`crate::negotiate`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use rudder_apimachinery::resource::Scope;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::control::{Control, Fault};
use super::errors::ApiError;
use super::registry::{Registry, ResourceInfo};
use super::store::{type_prefix, ResKey, Store};

pub use super::limits::MAX_BODY;

/// Store and registry, guarded together so a request sees one consistent view.
#[derive(Debug)]
pub struct State {
    /// Objects and history.
    pub store: Store,
    /// Served resources.
    pub registry: Registry,
    /// Work of the emulated controllers (garbage collector, namespace, disruption).
    pub controllers: super::gc::Controllers,
    /// The kubelet stand-in's simulated nodes and pods.
    pub kubelet: super::kubelet::Kubelet,
    /// The usage served by `metrics.k8s.io`.
    pub metrics: super::metrics_api::MetricsStore,
}

/// Server options fixed at start.
#[derive(Debug, Clone)]
pub struct Options {
    /// Interval between watch bookmarks.
    pub bookmark_interval: Duration,
    /// Required bearer token, if any.
    pub token: Option<String>,
    /// Whether verified client certificates authenticate (CN = user).
    pub client_cert_auth: bool,
    /// Interval between lines of a followed log.
    pub log_interval: Duration,
    /// How long a list at a future resourceVersion waits before 504.
    pub future_rv_wait: Duration,
    /// The listen address (`host:port`) advertised by `/api`.
    pub advertise_address: String,
    /// The most events one watcher may have queued before it is closed.
    pub watch_queue_limit: usize,
    /// Decides every request when set (`crate::authz`); everything is allowed without one.
    pub authorizer: Option<super::authz::Authorizer>,
    /// Whether graceful pod deletions finish by themselves when their grace period ends.
    pub finish_deletions_after_grace: bool,
    /// `tolerationSeconds` of the DefaultTolerationSeconds admission plugin; `None`: off
    /// (`crate::default_tolerations`).
    pub default_toleration_seconds: Option<i64>,
    /// Whether the EndpointSlice controller runs (`crate::endpointslices`).
    pub endpoint_slices: bool,
}

/// Everything the connection tasks share.
pub struct Shared {
    /// Store + registry.
    pub state: Mutex<State>,
    /// Pending injected faults.
    pub faults: Mutex<Vec<Fault>>,
    /// Request counters.
    pub counts: Mutex<HashMap<(String, String), u64>>,
    /// Added latency.
    pub latency: Mutex<Duration>,
    /// Whether watch streams are stalled.
    pub stalled: watch::Sender<bool>,
    /// Bumped to end every watch.
    pub watch_epoch: watch::Sender<u64>,
    /// Bumped to drop every connection.
    pub conn_epoch: watch::Sender<u64>,
    /// Options.
    pub opts: Options,
    /// Protobuf messages of stored object versions (`crate::negotiate`).
    pub encode_cache: super::negotiate::EncodeCache,
}

impl Shared {
    /// Builds the shared state with the built-in kinds.
    pub fn new(opts: Options, history_limit: usize) -> Arc<Self> {
        let mut store = Store::new(history_limit);
        store.watch_queue_limit = opts.watch_queue_limit;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                store,
                registry: Registry::default(),
                controllers: Default::default(),
                kubelet: Default::default(),
                metrics: Default::default(),
            }),
            faults: Mutex::new(Vec::new()),
            counts: Mutex::new(HashMap::new()),
            latency: Mutex::new(Duration::ZERO),
            stalled: watch::channel(false).0,
            watch_epoch: watch::channel(0).0,
            conn_epoch: watch::channel(0).0,
            opts,
            encode_cache: Default::default(),
        });
        for info in Registry::builtin().iter().chain(super::reviews::infos().iter()) {
            shared.register(info.clone());
        }
        for info in super::metrics_api::resources() {
            shared.register(info);
        }
        shared
    }

    /// Serves a resource.
    pub fn register(&self, info: ResourceInfo) {
        let mut st = self.state.lock();
        let res = res_key(&info);
        st.store.ensure_table(&res, type_prefix(&info.api.kind, &info.api.api_version));
        st.registry.add(info);
    }

    /// A control handle.
    pub fn control(self: &Arc<Self>) -> Control {
        Control { shared: self.clone() }
    }
}

/// The storage table of a resource.
pub fn res_key(info: &ResourceInfo) -> ResKey {
    (info.api.group.to_string(), info.api.plural.to_string())
}

/// A random RFC 4122 v4 uuid.
pub fn new_uid() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:01x}{:02x}-{:01x}{:01x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6] & 0x0f,
        b[7],
        8 | (b[8] & 0x3),
        b[8] >> 4,
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// The current time as the API server formats it.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A response body: complete bytes, or a stream of chunks fed by a task.
#[derive(Debug)]
pub enum Body {
    /// All bytes at once (sent with Content-Length).
    Full(Option<Bytes>),
    /// Chunks from a channel; the stream ends when the sender is dropped.
    Chan(mpsc::Receiver<Bytes>),
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Chan(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Body::Full(Some(b)) => http_body::SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => http_body::SizeHint::with_exact(0),
            Body::Chan(_) => http_body::SizeHint::default(),
        }
    }
}

/// A response with the common headers.
pub fn response(code: u16, content_type: &str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&new_uid()) {
        h.insert("audit-id", v);
    }
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(http::header::CONTENT_TYPE, v);
    }
    if content_type.starts_with("text/plain") {
        h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    }
    r
}

/// A complete JSON response (`body` must already end with `\n` when it should).
pub fn json(code: u16, body: impl Into<Bytes>) -> Response<Body> {
    response(code, "application/json", Body::Full(Some(body.into())))
}

/// A JSON response of a value (compact + `\n`).
pub fn json_value(code: u16, v: &Value) -> Response<Body> {
    let mut s = serde_json::to_vec(v).unwrap_or_default();
    s.push(b'\n');
    json(code, s)
}

/// The response for an error.
pub fn error_response(e: &ApiError) -> Response<Body> {
    let mut body = serde_json::to_vec(&e.status).unwrap_or_default();
    body.push(b'\n');
    let mut r = json(e.status.code, body);
    if let Some(secs) = e.status.retry_after_seconds() {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
    }
    r
}

/// A parsed request, body read.
#[derive(Debug)]
pub struct Ctx {
    /// Method.
    pub method: Method,
    /// Decoded path.
    pub path: String,
    /// Query parameters (the last occurrence wins).
    pub query: HashMap<String, String>,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: Bytes,
    /// Who sent it (`crate::authz::authenticate`).
    pub user: super::authz::UserInfo,
}

impl Ctx {
    /// A query parameter.
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    /// A boolean query parameter (`true`/`1`).
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.q(k), Some("true" | "1" | "True"))
    }
    /// A header as text.
    pub fn header(&self, k: &str) -> &str {
        self.headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    /// The manager name of a write: `fieldManager`, else the User-Agent up to the first `/`.
    pub fn manager(&self) -> String {
        if let Some(m) = self.q("fieldManager") {
            return m.to_string();
        }
        let ua = self.header("user-agent");
        ua.split('/').next().unwrap_or("").to_string()
    }
    /// Whether the client asked for metadata-only objects.
    pub fn wants_partial(&self) -> bool {
        let a = self.header("accept");
        a.contains("as=PartialObjectMetadata") && a.contains("g=meta.k8s.io")
    }
    /// Whether the client asked for a `meta.k8s.io` Table (`kubectl get`), and what each row
    /// should carry.
    pub fn wants_table(&self) -> Option<super::table::Include> {
        super::table::wants_table(self.header("accept")).then(|| super::table::Include::parse(self.q("includeObject")))
    }
    /// Whether `dryRun=All` was given.
    pub fn dry_run(&self) -> bool {
        self.q("dryRun").is_some_and(|v| !v.is_empty())
    }
}

/// What a resource path names.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resource (at the requested version).
    pub info: ResourceInfo,
    /// Its storage table.
    pub res: ResKey,
    /// Namespace from the path.
    pub ns: Option<String>,
    /// Object name from the path.
    pub name: Option<String>,
    /// Subresource from the path.
    pub sub: Option<String>,
    /// Whether the deprecated `/watch/` prefix was used.
    pub watch_prefix: bool,
}

impl Target {
    /// Verb and resource for counters and faults.
    pub fn verb_and_resource(&self, ctx: &Ctx) -> (&'static str, String) {
        let resource = match &self.sub {
            Some(s) => format!("{}/{}", self.info.api.plural, s),
            None => self.info.api.plural.to_string(),
        };
        let verb = match (&ctx.method, &self.name) {
            (&Method::GET, None) if self.watch_prefix || ctx.flag("watch") => "watch",
            (&Method::GET, None) => "list",
            (&Method::GET, Some(_)) if self.watch_prefix => "watch",
            (&Method::GET, Some(_)) => "get",
            (&Method::POST, _) => "create",
            (&Method::PUT, _) => "update",
            (&Method::PATCH, _) => "patch",
            (&Method::DELETE, None) => "deletecollection",
            (&Method::DELETE, Some(_)) => "delete",
            _ => "unknown",
        };
        (verb, resource)
    }
}

/// Parses a resource path; `None` when it names no served resource.
pub fn parse_target(registry: &Registry, path: &str) -> Option<Target> {
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let (group, version, rest) = match segs.first().map(String::as_str) {
        Some("api") if segs.len() >= 3 => ("", segs[1].as_str(), &segs[2..]),
        Some("apis") if segs.len() >= 4 => (segs[1].as_str(), segs[2].as_str(), &segs[3..]),
        _ => return None,
    };
    let (watch_prefix, rest) = match rest.first().map(String::as_str) {
        Some("watch") => (true, &rest[1..]),
        _ => (false, rest),
    };
    if rest.iter().any(|s| s.is_empty()) || rest.is_empty() {
        return None;
    }
    let namespaced =
        rest.len() >= 3 && rest[0] == "namespaces" && registry.is_namespaced(group, version, &rest[2]) == Some(true);
    let (ns, plural, tail) =
        if namespaced { (Some(rest[1].clone()), &rest[2], &rest[3..]) } else { (None, &rest[0], &rest[1..]) };
    if tail.len() > 2 {
        return None;
    }
    let info = registry.get(group, version, plural)?.clone();
    let name = tail.first().cloned();
    let sub = tail.get(1).cloned();
    match (info.api.scope, &ns, &name) {
        (Scope::Cluster, Some(_), _) => return None,
        (Scope::Namespaced, None, Some(_)) => return None,
        _ => {}
    }
    if let Some(s) = &sub {
        if !info.subresources.contains(s) {
            return None;
        }
    }
    Some(Target { res: res_key(&info), info, ns, name, sub, watch_prefix })
}

/// Runs the accept loop until the listener fails.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, tls: Option<tokio_rustls::TlsAcceptor>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!("embedded API server: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let mut epoch = shared.conn_epoch.subscribe();
            epoch.borrow_and_update();
            match tls {
                Some(acceptor) => {
                    let stream = tokio::select! {
                        s = acceptor.accept(tcp) => match s { Ok(s) => s, Err(_) => return },
                        _ = epoch.changed() => return,
                    };
                    let user = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| super::tls::client_identity(c.as_ref()).ok());
                    serve_conn(TokioIo::new(stream), shared, user, peer, epoch).await;
                }
                None => serve_conn(TokioIo::new(tcp), shared, None, peer, epoch).await,
            }
        });
    }
}

async fn serve_conn<I>(
    io: I,
    shared: Arc<Shared>,
    user: Option<super::tls::ClientIdentity>,
    _peer: SocketAddr,
    mut epoch: watch::Receiver<u64>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        let user = user.clone();
        async move {
            let out = std::panic::AssertUnwindSafe(handle(shared, req, user)).catch_unwind().await;
            Ok::<_, Infallible>(match out {
                Ok(r) => r,
                Err(_) => error_response(&ApiError::internal("the request handler panicked")),
            })
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .initial_stream_window_size(4 << 20)
        .initial_connection_window_size(8 << 20)
        .max_concurrent_streams(1000);
    let conn = builder.serve_connection_with_upgrades(io, svc);
    tokio::select! {
        _ = conn => {}
        _ = epoch.changed() => {}
    }
}

fn text(code: u16, s: &str) -> Response<Body> {
    response(code, "text/plain; charset=utf-8", Body::Full(Some(Bytes::from(s.to_string()))))
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    cert: Option<super::tls::ClientIdentity>,
) -> Response<Body> {
    let latency = *shared.latency.lock();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if matches!(path.as_str(), "/healthz" | "/readyz" | "/livez")
        || path.starts_with("/healthz/")
        || path.starts_with("/readyz/")
        || path.starts_with("/livez/")
    {
        return text(200, "ok");
    }
    // Authentication.
    let Some(user) = super::authz::authenticate(&shared.opts, &parts.headers, cert.as_ref()) else {
        return error_response(&ApiError::unauthorized());
    };
    if super::streaming::is_upgrade(&parts.headers) {
        return super::streaming::handle(&shared, Request::from_parts(parts, body), user).await;
    }
    let body = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                return error_response(&super::limits::too_large_body());
            }
            return error_response(&ApiError::bad_request(format!("reading the request body: {e}")));
        }
    };
    let query =
        parts.uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let ctx = Ctx { method: parts.method, path, query, headers: parts.headers, body, user };
    let pretty = ctx.flag("pretty") || {
        let ua = ctx.header("user-agent");
        ua.starts_with("curl") || ua.starts_with("Wget") || ua.starts_with("Mozilla")
    };
    let resp = route(&shared, &ctx).await;
    if pretty {
        return prettify(resp).await;
    }
    resp
}

async fn prettify(resp: Response<Body>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    match body {
        Body::Full(Some(b))
            if parts.headers.get(http::header::CONTENT_TYPE).is_some_and(|v| v == "application/json") =>
        {
            let out = match serde_json::from_slice::<Value>(&b) {
                Ok(v) => {
                    let mut s = serde_json::to_vec_pretty(&v).unwrap_or_default();
                    s.push(b'\n');
                    Bytes::from(s)
                }
                Err(_) => b,
            };
            parts.headers.remove(http::header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::Full(Some(out)))
        }
        other => Response::from_parts(parts, other),
    }
}

async fn route(shared: &Arc<Shared>, ctx: &Ctx) -> Response<Body> {
    if let Some(e) = super::authz::gate(&shared.opts, ctx) {
        return error_response(&e);
    }
    if let Some(r) = super::handlers::discovery(shared, ctx) {
        return r;
    }
    let target = {
        let st = shared.state.lock();
        parse_target(&st.registry, &ctx.path)
    };
    let Some(target) = target else {
        return error_response(&ApiError::route_not_found());
    };
    let (verb, resource) = target.verb_and_resource(ctx);
    *shared.counts.lock().entry((verb.to_string(), resource.clone())).or_default() += 1;
    let control = shared.control();
    let output = match super::negotiate::output(ctx.header("accept"), &target.info) {
        Ok(o) => o,
        Err(e) => return error_response(&e),
    };
    let resp = if let Some(f) = control.take_fault(verb, &resource) {
        super::handlers::fault_response(shared, ctx, &target, verb, &f)
    } else {
        match super::handlers::dispatch(shared, ctx, &target, verb).await {
            Ok(r) => r,
            Err(e) => error_response(&e),
        }
    };
    super::negotiate::encode_response(output, resp).await
}

/// Discovery and version documents, or `None` when the path is not a discovery path.
pub fn discovery_response(shared: &Arc<Shared>, ctx: &Ctx) -> Option<Response<Body>> {
    use super::discovery as d;
    if ctx.method != Method::GET {
        return None;
    }
    let path = ctx.path.trim_end_matches('/');
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let aggregated = d::wants_aggregated(ctx.header("accept"));
    let pretty_json = |v: &Value| {
        let mut b = serde_json::to_vec(v).unwrap_or_default();
        b.push(b'\n');
        json(200, b)
    };
    let agg = |v: Value| {
        let mut b = serde_json::to_vec(&v).unwrap_or_default();
        b.push(b'\n');
        let mut r = response(200, d::AGGREGATED_CONTENT_TYPE, Body::Full(Some(Bytes::from(b))));
        r.headers_mut().insert(http::header::VARY, HeaderValue::from_static("Accept"));
        r
    };
    let st = shared.state.lock();
    let reg = &st.registry;
    Some(match segs.as_slice() {
        ["version"] => {
            let b = serde_json::to_vec_pretty(&d::version()).unwrap_or_default();
            json(200, b)
        }
        ["api"] if aggregated => agg(d::aggregated(reg, true)),
        ["api"] => pretty_json(&d::api_versions_at(&shared.opts.advertise_address)),
        ["apis"] if aggregated => agg(d::aggregated(reg, false)),
        ["apis"] => pretty_json(&d::api_group_list(reg)),
        ["api", v] => match d::api_resource_list(reg, "", v) {
            Some(doc) => pretty_json(&doc),
            None => error_response(&ApiError::route_not_found()),
        },
        ["apis", g] => match d::api_group(reg, g) {
            Some(doc) => pretty_json(&doc),
            None => error_response(&ApiError::route_not_found()),
        },
        ["apis", g, v] => match d::api_resource_list(reg, g, v) {
            Some(doc) => pretty_json(&doc),
            None => error_response(&ApiError::route_not_found()),
        },
        ["openapi", "v2"] => openapi_response(&super::openapi::v2_json(), ctx.header("accept"), false),
        ["openapi", "v3"] => openapi_response(&super::openapi::v3_index(reg), "", false),
        ["openapi", "v3", rest @ ..] => match super::openapi::v3_document(reg, &rest.join("/")) {
            Some(doc) => openapi_response(&doc, "", ctx.q("hash").is_some()),
            None => error_response(&ApiError::route_not_found()),
        },
        _ => return None,
    })
}

/// An OpenAPI document as kube-apiserver sends it: `text/plain` JSON (no `nosniff`), or for
/// the v2 protobuf `Accept` the empty protobuf message; hashed v3 URLs are immutable.
fn openapi_response(doc: &Value, accept: &str, immutable: bool) -> Response<Body> {
    if accept.contains(super::openapi::V2_PROTOBUF) {
        return response(200, "application/octet-stream", Body::Full(Some(Bytes::new())));
    }
    let body = serde_json::to_vec(doc).unwrap_or_default();
    let mut r = response(200, "text/plain; charset=utf-8", Body::Full(Some(Bytes::from(body))));
    r.headers_mut().remove("x-content-type-options");
    if immutable {
        r.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("public, immutable"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_resources() {
        let r = Registry::builtin();
        let t = parse_target(&r, "/api/v1/namespaces/default/pods/p1/status").unwrap();
        assert_eq!(
            (t.ns.as_deref(), t.name.as_deref(), t.sub.as_deref()),
            (Some("default"), Some("p1"), Some("status"))
        );
        let t = parse_target(&r, "/api/v1/namespaces/default").unwrap();
        assert_eq!((t.info.api.plural.as_ref(), t.name.as_deref()), ("namespaces", Some("default")));
        let t = parse_target(&r, "/api/v1/namespaces/x/status").unwrap();
        assert_eq!(t.sub.as_deref(), Some("status"));
        let t = parse_target(&r, "/apis/apps/v1/watch/namespaces/a/deployments").unwrap();
        assert!(t.watch_prefix);
        assert!(parse_target(&r, "/api/v1/pods/p1").is_none());
        assert!(parse_target(&r, "/api/v1/namespaces/a/nodes").is_none());
        assert!(parse_target(&r, "/api/v1/namespaces/a/pods/p/bogus").is_none());
        assert!(parse_target(&r, "/apis/nope/v1/things").is_none());
    }

    #[test]
    fn uids_are_v4() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
