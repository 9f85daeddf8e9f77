//! An embedded Kubernetes API server for tests, examples and benchmarks (`rudder-apiserver`).
//!
//! It speaks the real HTTP/JSON protocol over real sockets on 127.0.0.1 (plain HTTP, or TLS
//! with HTTP/1.1 and h2 via ALPN): discovery, list with resourceVersion semantics,
//! limit/continue and selectors, watch with bookmarks, resumption, initial events and 410 after
//! compaction, every write verb (create, update, JSON/merge/strategic patch, server-side apply,
//! delete with graceful pod deletion, finalizers, preconditions and garbage collection,
//! deletecollection), the status, scale, binding,
//! eviction, log, ephemeralcontainers, serviceaccount token and CSR approval subresources,
//! `metrics.k8s.io` ([`metrics_api`]), an optional kubelet stand-in that runs nodes and pods
//! ([`kubelet`]), CustomResourceDefinitions (established at once), `Status`
//! bodies shaped exactly like the real server's (see `testdata/recorded`), `meta.k8s.io`
//! Tables and minimal OpenAPI documents for kubectl. Requests cost what kube-apiserver lets
//! them cost (bounded bodies, JSON patches and objects; slow watchers are closed: [`limits`]),
//! and built-in objects must decode as their kind ([`validation`]); unknown and duplicate
//! fields follow `fieldValidation` ([`field_validation`]), custom resources their CRD's schema
//! ([`crd_schema`]); an optional authorizer callback gates every request and answers the
//! access reviews ([`authz`], [`reviews`]). [`Control`] injects faults
//! and exposes request counters and the stored data; [`Control::insert_many_bytes`] and
//! [`Control::insert_realistic_pods`] seed 100 000 pods in seconds.
//!
//! Its parts, by file: [`server`] (listener, TLS, authentication, routing of API paths),
//! [`handlers`] (one module per verb family: read, create, update, patch, delete,
//! subresources), [`watch`], [`apply`] (server-side apply), [`strategic`] (strategic merge
//! patch), [`store`], [`defaults`], [`default_tolerations`] (the DefaultTolerationSeconds
//! admission plugin), [`validation`], [`field_validation`], [`crd_schema`],
//! [`authz`] (authentication, the authorizer, 403s), [`reviews`], [`field_selectors`], [`partial`]
//! (metadata-only answers), [`limits`], [`discovery`], [`openapi`], [`table`], [`control`]
//! (faults, counters, seeding), [`seed`], [`tls`], [`kubeconfig`], and the emulated
//! lifecycle: [`graceful`] (graceful pod deletion and the kubelet's confirmation),
//! [`disruption`] (PodDisruptionBudget status, eviction), [`namespaces`] (namespace
//! termination), [`gc`] (the garbage collector, and the after-commit queue of these
//! controllers), [`endpointslices`] (the EndpointSlice controller, optional), [`kubelet`]
//! (simulated nodes and pods), [`metrics_api`]. It depends on
//! `rudder-client` only for [`ApiServer::client`] / [`ApiServer::config`] and the table of
//! built-in kinds.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rudder_apiserver::ApiServer;
//! let server = ApiServer::builder().bookmark_interval(std::time::Duration::from_millis(200)).start().await?;
//! let client = server.client();
//! server.control().fail_next(1, "list", "pods", 500);
//! # Ok(()) }
//! ```

pub mod admission;
pub mod apply;
pub mod authz;
pub mod control;
pub mod crd_schema;
pub mod default_tolerations;
pub mod defaults;
pub mod discovery;
pub mod disruption;
pub mod endpointslices;
pub mod errors;
pub mod field_selectors;
pub mod field_validation;
pub mod gc;
pub mod graceful;
pub mod handlers;
pub mod kubeconfig;
pub mod kubelet;
pub mod limits;
pub mod metrics_api;
pub mod namespaces;
pub mod negotiate;
pub mod openapi;
pub mod partial;
mod printers;
pub mod registry;
pub mod reviews;
pub mod seed;
pub mod server;
pub mod store;
pub mod strategic;
pub mod streaming;
pub mod table;
pub mod tls;
pub mod validation;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use rudder_client::{Client, Config};

pub use control::{Control, Fault};
pub use kubelet::KubeletOptions;
pub use registry::{Registry, ResourceInfo};

/// An error starting the embedded server.
#[derive(Debug, thiserror::Error)]
#[error("embedded API server: {0}")]
pub struct ServerError(pub String);

/// Configures an [`ApiServer`] before it starts.
#[derive(Debug, Clone)]
pub struct ApiServerBuilder {
    tls: bool,
    token: Option<String>,
    client_cert_auth: bool,
    bookmark_interval: Duration,
    history_limit: usize,
    log_interval: Duration,
    future_rv_wait: Duration,
    watch_queue_limit: usize,
    authorizer: Option<authz::Authorizer>,
    finish_deletions_after_grace: bool,
    kubelet: Option<KubeletOptions>,
    default_toleration_seconds: Option<i64>,
    endpoint_slices: bool,
}

impl Default for ApiServerBuilder {
    fn default() -> Self {
        Self {
            tls: false,
            token: None,
            client_cert_auth: false,
            bookmark_interval: Duration::from_secs(60),
            history_limit: 10_000,
            log_interval: Duration::from_millis(100),
            future_rv_wait: Duration::from_millis(500),
            watch_queue_limit: limits::DEFAULT_WATCH_QUEUE,
            authorizer: None,
            finish_deletions_after_grace: false,
            kubelet: None,
            default_toleration_seconds: Some(default_tolerations::DEFAULT_SECONDS),
            endpoint_slices: false,
        }
    }
}

impl ApiServerBuilder {
    /// Serves HTTPS with a generated CA (HTTP/1.1 and h2 via ALPN).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }
    /// Requires `Authorization: Bearer <token>` (or a client certificate when
    /// [`client_cert_auth`](Self::client_cert_auth) is on); others get the 401 Status.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
    /// Accepts client certificates signed by the server's CA (the CN is the user); implies TLS.
    pub fn client_cert_auth(mut self) -> Self {
        self.client_cert_auth = true;
        self.tls = true;
        self
    }
    /// Decides every request, and the access reviews, with `f` ([`authz`]); without it
    /// (the default) everything is allowed. A request `f` does not allow gets the real 403.
    pub fn authorizer(
        mut self,
        f: impl Fn(&authz::AuthorizationAttributes) -> authz::Decision + Send + Sync + 'static,
    ) -> Self {
        self.authorizer = Some(authz::Authorizer(std::sync::Arc::new(f)));
        self
    }
    /// Interval between watch bookmarks (default 60 s, as the real server).
    pub fn bookmark_interval(mut self, d: Duration) -> Self {
        self.bookmark_interval = d;
        self
    }
    /// Number of changes kept for watch resumption and consistent paging (default 10 000).
    pub fn history_limit(mut self, n: usize) -> Self {
        self.history_limit = n;
        self
    }
    /// Interval between lines of a followed pod log (default 100 ms).
    pub fn log_interval(mut self, d: Duration) -> Self {
        self.log_interval = d;
        self
    }
    /// How long a list at a future resourceVersion waits before its 504 (default 500 ms; the
    /// real server waits about 3 s).
    pub fn future_rv_wait(mut self, d: Duration) -> Self {
        self.future_rv_wait = d;
        self
    }

    /// How many events a watcher may have waiting before the server closes it (default
    /// 100 000). The real server closes watchers that cannot keep up; here a watcher whose
    /// client reads slower than events arrive is closed once this many are queued, and its
    /// stream ends.
    pub fn watch_queue_limit(mut self, events: usize) -> Self {
        self.watch_queue_limit = events.max(1);
        self
    }

    /// Finishes graceful pod deletions by themselves when their grace period ends, as a kubelet
    /// would once the containers stopped (default off: a deleted pod bound to a node stays
    /// Terminating until [`Control::finish_deletion`] or [`Control::finish_all_deletions`]).
    pub fn finish_deletions_after_grace(mut self) -> Self {
        self.finish_deletions_after_grace = true;
        self
    }

    /// Runs the kubelet stand-in ([`crate::kubelet`]): every node created is registered with a
    /// simulated kubelet (Ready, Lease renewed), and pods bound to it run. Off by default;
    /// [`Control::add_node`] registers single nodes either way.
    pub fn kubelet(mut self, opts: KubeletOptions) -> Self {
        self.kubelet = Some(opts);
        self
    }

    /// The `tolerationSeconds` the DefaultTolerationSeconds admission plugin gives a created
    /// pod for the not-ready and unreachable `NoExecute` taints it does not tolerate
    /// ([`default_tolerations`]): default `Some(300)`, as kube-apiserver's
    /// `--default-not-ready-toleration-seconds` and `--default-unreachable-toleration-seconds`;
    /// `None` turns the plugin off, as `--disable-admission-plugins=DefaultTolerationSeconds`
    /// does (pods then keep exactly the tolerations they were created with).
    pub fn default_toleration_seconds(mut self, seconds: Option<i64>) -> Self {
        self.default_toleration_seconds = seconds;
        self
    }

    /// Runs the EndpointSlice controller ([`endpointslices`]): Services with a selector get
    /// EndpointSlices of their pods, kept up to date on every write of a Service or Pod. Off by
    /// default, like the kubelet stand-in.
    pub fn endpoint_slices(mut self) -> Self {
        self.endpoint_slices = true;
        self
    }

    /// Binds 127.0.0.1 on a random port and starts serving.
    pub async fn start(self) -> Result<ApiServer, ServerError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| ServerError(format!("binding 127.0.0.1: {e}")))?;
        let addr = listener.local_addr().map_err(|e| ServerError(format!("local address: {e}")))?;
        let opts = server::Options {
            bookmark_interval: self.bookmark_interval,
            token: self.token.clone(),
            client_cert_auth: self.client_cert_auth,
            log_interval: self.log_interval,
            future_rv_wait: self.future_rv_wait,
            advertise_address: addr.to_string(),
            watch_queue_limit: self.watch_queue_limit,
            authorizer: self.authorizer.clone(),
            finish_deletions_after_grace: self.finish_deletions_after_grace,
            default_toleration_seconds: self.default_toleration_seconds,
            endpoint_slices: self.endpoint_slices,
        };
        let shared = server::Shared::new(opts, self.history_limit);
        for ns in ["default", "kube-system"] {
            bootstrap_namespace(&shared, ns);
        }
        let tls = if self.tls { Some(tls_setup(self.client_cert_auth)?) } else { None };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url: http::Uri =
            format!("{scheme}://{addr}").parse().map_err(|e| ServerError(format!("building the server URL: {e}")))?;
        let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
        if let Some(opts) = self.kubelet.clone() {
            kubelet::enable(&shared, opts);
        }
        let task = tokio::spawn(server::serve(listener, shared.clone(), acceptor));
        Ok(ApiServer { url, shared, task, tls, token: self.token })
    }
}

fn bootstrap_namespace(shared: &Arc<server::Shared>, name: &str) {
    let mut st = shared.state.lock();
    let res = (String::new(), "namespaces".to_string());
    let v = serde_json::json!({
        "metadata": {"name": name, "uid": server::new_uid(), "creationTimestamp": server::now_rfc3339(),
            "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    });
    let rv = st.store.next_rv();
    let fields = st.registry.get("", "v1", "namespaces").map(field_selectors::selectable).unwrap_or_default();
    let obj = store::encode(&v, rv, fields);
    st.store.commit(&res, store::EventKind::Added, obj);
}

/// TLS material of a running server.
#[derive(Clone)]
struct TlsSetup {
    acceptor: tokio_rustls::TlsAcceptor,
    ca_pem: String,
    client_cert: Option<(String, String)>,
    certs: Arc<tls::ServerCerts>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup").finish_non_exhaustive()
    }
}

fn tls_setup(client_cert_auth: bool) -> Result<TlsSetup, ServerError> {
    let certs = tls::ServerCerts::generate(&["localhost", "127.0.0.1"])?;
    let config = certs.server_config(client_cert_auth)?;
    let client_cert =
        if client_cert_auth { Some(certs.issue_client_cert("rudder-test", &["system:masters"])?) } else { None };
    Ok(TlsSetup {
        acceptor: tokio_rustls::TlsAcceptor::from(config),
        ca_pem: certs.ca_pem.clone(),
        client_cert,
        certs: Arc::new(certs),
    })
}

/// A running embedded API server on 127.0.0.1 with a random port. Stops when dropped.
#[derive(Debug)]
pub struct ApiServer {
    url: http::Uri,
    shared: Arc<server::Shared>,
    task: tokio::task::JoinHandle<()>,
    tls: Option<TlsSetup>,
    token: Option<String>,
}

impl std::fmt::Debug for server::Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
        kubelet::stop(&self.shared);
        self.shared.conn_epoch.send_modify(|e| *e += 1);
        self.shared.watch_epoch.send_modify(|e| *e += 1);
    }
}

impl ApiServer {
    /// Starts a plain-HTTP server with the built-in kinds and the `default` and `kube-system`
    /// namespaces.
    pub async fn start() -> Result<ApiServer, ServerError> {
        Self::builder().start().await
    }

    /// A builder for non-default options.
    pub fn builder() -> ApiServerBuilder {
        ApiServerBuilder::default()
    }

    /// The server's base URL.
    pub fn url(&self) -> &http::Uri {
        &self.url
    }

    /// The CA certificate (PEM) when serving TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// Issues a client certificate (PEM cert, PEM key) signed by the server's CA, for `user` in
    /// `groups`; `None` without TLS.
    pub fn issue_client_cert(&self, user: &str, groups: &[&str]) -> Option<Result<(String, String), ServerError>> {
        self.tls.as_ref().map(|t| t.certs.issue_client_cert(user, groups))
    }

    /// Writes a kubeconfig for this server (CA, token and client certificate as configured).
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        let cert = self.tls.as_ref().and_then(|t| t.client_cert.as_ref()).map(|(c, k)| (c.as_str(), k.as_str()));
        kubeconfig::write(path, &self.url.to_string(), self.ca_pem(), self.token.as_deref(), cert)
    }

    /// The bearer token required, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// A client configuration for this server (rate limiter off, credentials as configured).
    pub fn config(&self) -> Config {
        let mut c = Config::new(self.url.clone()).without_rate_limit();
        if let Some(t) = &self.tls {
            c.root_ca_pem = Some(t.ca_pem.clone().into_bytes());
            if let Some((cert, key)) = &t.client_cert {
                c.auth.client_certificate_pem = Some(cert.clone().into_bytes());
                c.auth.client_key_pem = Some(rudder_client::config::Secret::new(key.clone().into_bytes()));
            }
        }
        if let Some(tok) = &self.token {
            c.auth.token = Some(rudder_client::config::Secret::new(tok.clone()));
        }
        c
    }

    /// A client for this server.
    pub fn client(&self) -> Client {
        match Client::new(self.config()) {
            Ok(c) => c,
            Err(e) => unreachable!("the embedded server's own config always builds: {e}"),
        }
    }

    /// The fault-injection and observation handle.
    pub fn control(&self) -> Control {
        self.shared.control()
    }

    /// Serves an extra resource (for example a custom kind without a CRD).
    pub fn register(&self, info: ResourceInfo) {
        self.shared.register(info);
    }
}
