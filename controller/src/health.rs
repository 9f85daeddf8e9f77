//! Health probes of a [`Manager`](crate::Manager): `GET /healthz` and `GET /readyz` over plain
//! HTTP/1.1 (controller-runtime's health probe server).
//!
//! Contract:
//! - `/healthz` answers 200 `ok` while the manager runs.
//! - `/readyz` answers 200 `ok` when the manager is a standby (not leading: it serves nothing yet
//!   and is ready to take over) or when every controller it runs has synced its caches; 503
//!   naming the controllers still syncing otherwise.
//! - Any other path is 404, any other method 405. Requests carry no body worth reading; each
//!   connection is closed after [`CONNECTION_TIMEOUT`], and at most [`MAX_CONNECTIONS`] are
//!   served at once (more are closed at once), so a misbehaving prober cannot hold resources.

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

/// How long one probe connection may stay open.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Probe connections served at once.
pub const MAX_CONNECTIONS: usize = 64;

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

fn respond(readiness: &Readiness, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (code, body) = match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/healthz") => (StatusCode::OK, "ok".to_owned()),
        (&Method::GET | &Method::HEAD, "/readyz") => match readiness.check() {
            Ok(()) => (StatusCode::OK, "ok".to_owned()),
            Err(syncing) => (StatusCode::SERVICE_UNAVAILABLE, format!("caches not synced: {}", syncing.join(", "))),
        },
        (_, "/healthz" | "/readyz") => (StatusCode::METHOD_NOT_ALLOWED, "method not allowed".to_owned()),
        _ => (StatusCode::NOT_FOUND, "not found".to_owned()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = code;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// The running probe server.
pub(crate) struct HealthServer {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl HealthServer {
    pub(crate) async fn start(addr: SocketAddr, readiness: Readiness) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, readiness, stop.clone()));
        Ok(Self { stop, task })
    }

    pub(crate) async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn serve(listener: tokio::net::TcpListener, readiness: Readiness, stop: CancellationToken) {
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
        let readiness = readiness.clone();
        conns.spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let resp = respond(&readiness, &req);
                async move { Ok::<_, Infallible>(resp) }
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
        });
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}
