//! The HTTP endpoints of a [`Manager`](crate::Manager), over plain HTTP/1.1: health probes
//! (`/healthz`, `/readyz`, controller-runtime's health probe server) and Prometheus metrics
//! (`/metrics`, controller-runtime's metrics server), each on the address it was given.
//!
//! Contract:
//! - `/healthz` answers 200 `ok` while the manager runs.
//! - `/readyz` answers 200 `ok` when the manager is a standby (not leading: it serves nothing yet
//!   and is ready to take over) or when every controller it runs has synced its caches; 503
//!   naming the controllers still syncing otherwise.
//! - `/metrics` answers the Prometheus text format (0.0.4) of the manager's registry: whatever
//!   the user registered, and every controller's [`ControllerMetrics`]
//!   under controller-runtime's names, labelled `controller="<name>"` (workqueue metrics also
//!   `name="<name>"`): `controller_runtime_reconcile_total{result}` (`success`, `error` (a panic
//!   counts as one, as controller-runtime recovers it into an error), `requeue` (always 0: there
//!   is no plain requeue result), `requeue_after`), `controller_runtime_reconcile_errors_total`,
//!   `controller_runtime_reconcile_panics_total`, `controller_runtime_reconcile_time_seconds`
//!   (histogram, controller-runtime's buckets), `controller_runtime_max_concurrent_reconciles`,
//!   `controller_runtime_active_workers`; client-go's workqueue metrics as controller-runtime
//!   exports them (labels `name` and `controller`, both the controller's name):
//!   `workqueue_depth`, `workqueue_adds_total` (after deduplication),
//!   `workqueue_queue_duration_seconds` and `workqueue_work_duration_seconds` (histograms,
//!   10 ns to 1000 s by powers of ten), `workqueue_unfinished_work_seconds`,
//!   `workqueue_longest_running_processor_seconds`, `workqueue_retries_total` (errors,
//!   panics and `requeue_after`); the manager client's
//!   `rest_client_requests_total{code,method,host}` (every attempt; `code="<error>"` when no
//!   response came) and `rest_client_request_duration_seconds{verb,host}` (client-go's
//!   buckets, 5 ms to 60 s); the informers' `reflector_lists_total{name,result}`,
//!   `reflector_list_duration_seconds{name}`, `reflector_items_per_list{name}`,
//!   `reflector_watches_total{name}`, `reflector_watch_duration_seconds{name}` and
//!   `reflector_items_per_watch{name}` (the names client-go's reflector metrics had; `name` is
//!   the informer's, e.g. `pods`); with leader election also
//!   `leader_election_master_status{name}` (1 while leading). Values are read from the
//!   controllers at scrape time.
//! - `GET` and `HEAD` only (else 405); unknown paths 404. Request bodies are never read; each
//!   connection is closed after [`CONNECTION_TIMEOUT`], and at most [`MAX_CONNECTIONS`] are
//!   served at once per address (more are closed at once), so a misbehaving client cannot hold
//!   resources.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::metrics::ControllerMetrics;

/// How long one connection may stay open.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once per address.
pub const MAX_CONNECTIONS: usize = 64;

const TEXT: &str = "text/plain; charset=utf-8";

/// What `/readyz` looks at. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Readiness {
    controllers: Arc<Vec<(String, ControllerMetrics)>>,
    leading: Arc<AtomicBool>,
}

impl Readiness {
    pub(crate) fn new(controllers: Vec<(String, ControllerMetrics)>) -> Self {
        Self { controllers: Arc::new(controllers), leading: Arc::new(AtomicBool::new(false)) }
    }

    pub(crate) fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::SeqCst);
    }

    /// `Ok` when ready, else the controllers still syncing.
    fn check(&self) -> Result<(), Vec<String>> {
        if !self.leading.load(Ordering::SeqCst) {
            return Ok(());
        }
        let syncing: Vec<String> = self
            .controllers
            .iter()
            .filter(|(_, m)| !m.snapshot().caches_synced)
            .map(|(name, _)| name.clone())
            .collect();
        if syncing.is_empty() {
            Ok(())
        } else {
            Err(syncing)
        }
    }
}

/// Answers one path: status, content type and body.
pub(crate) type Route = Arc<dyn Fn() -> (StatusCode, &'static str, String) + Send + Sync>;

/// `/healthz` and `/readyz`.
pub(crate) fn health_routes(readiness: Readiness) -> Vec<(&'static str, Route)> {
    let ready: Route = Arc::new(move || match readiness.check() {
        Ok(()) => (StatusCode::OK, TEXT, "ok".to_owned()),
        Err(syncing) => (StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("caches not synced: {}", syncing.join(", "))),
    });
    let healthy: Route = Arc::new(|| (StatusCode::OK, TEXT, "ok".to_owned()));
    vec![("/healthz", healthy), ("/readyz", ready)]
}

fn respond(routes: &[(&'static str, Route)], req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let route = routes.iter().find(|(path, _)| *path == req.uri().path());
    let (code, content_type, body) = match (req.method(), route) {
        (&Method::GET | &Method::HEAD, Some((_, f))) => f(),
        (_, Some(_)) => (StatusCode::METHOD_NOT_ALLOWED, TEXT, "method not allowed".to_owned()),
        (_, None) => (StatusCode::NOT_FOUND, TEXT, "not found".to_owned()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = code;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    resp
}

/// A running endpoint server.
pub(crate) struct EndpointServer {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    local_addr: SocketAddr,
}

impl EndpointServer {
    pub(crate) async fn start(addr: SocketAddr, routes: Vec<(&'static str, Route)>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, Arc::new(routes), stop.clone()));
        Ok(Self { stop, task, local_addr })
    }

    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub(crate) async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn serve(listener: tokio::net::TcpListener, routes: Arc<Vec<(&'static str, Route)>>, stop: CancellationToken) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            a = listener.accept() => a,
        };
        let Ok((tcp, _peer)) = accepted else { continue };
        if conns.len() >= MAX_CONNECTIONS {
            drop(tcp);
            continue;
        }
        let routes = routes.clone();
        conns.spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let resp = respond(&routes, &req);
                async move { Ok::<_, Infallible>(resp) }
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
        });
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}
