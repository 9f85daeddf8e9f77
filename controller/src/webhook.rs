//! An HTTPS server for admission webhooks (controller-runtime's `webhook.Server`): the API server
//! POSTs an `AdmissionReview` to a path, the handler registered for that path answers with an
//! [`AdmissionResponse`].
//!
//! Contract:
//! - TLS only (rustls; the API server refuses plain HTTP webhooks), HTTP/1.1 and HTTP/2, from a
//!   PEM certificate chain and private key ([`WebhookServer::new`]); a certificate or key that
//!   does not parse is a [`WebhookError::Tls`] before anything listens.
//! - `POST` to a registered path with a JSON body: the body (at most [`MAX_BODY`] bytes, else
//!   413) is decoded as `AdmissionReview<T>` for the handler's `T`; a body that does not decode,
//!   or a review without a request, is answered 400 with the reason; the handler's response is
//!   sent with the request's `uid` (whatever the handler put there) and `apiVersion`/`kind` of
//!   the review it answered. Other methods 405, other paths 404.
//! - A handler taking longer than [`HANDLER_TIMEOUT`] (the API server's largest webhook
//!   timeout) is answered 500: the API server has given up by then and applies the webhook's
//!   failurePolicy. A handler that panics is answered 500 and the server keeps serving.
//! - At most [`MAX_CONNECTIONS`] connections at once (more are closed at once); a connection
//!   must complete its TLS handshake within [`HANDSHAKE_TIMEOUT`] and sits idle at most
//!   [`IDLE_TIMEOUT`] between requests.
//! - Nothing of the request (objects may hold secrets) is logged.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::de::DeserializeOwned;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use rudder_apimachinery::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};

/// Largest request body read (the API server's own request limit is 3 MiB; a review carries the
/// object and the old object).
pub const MAX_BODY: usize = 8 << 20;
/// Longest a handler may take (the largest `timeoutSeconds` a webhook configuration allows).
pub const HANDLER_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection may sit idle between requests.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The certificate chain or key does not parse, or rustls refused them.
    #[error("webhook TLS configuration: {0}")]
    Tls(String),
    /// Binding the address failed.
    #[error("binding the webhook server to {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

type Handler = Arc<dyn Fn(Bytes) -> BoxFuture<'static, Result<Bytes, String>> + Send + Sync>;

/// Admission webhooks served over HTTPS; see the module docs.
pub struct WebhookServer {
    tls: Arc<rustls::ServerConfig>,
    routes: HashMap<String, Handler>,
}

impl std::fmt::Debug for WebhookServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookServer").field("paths", &self.routes.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl WebhookServer {
    /// A server presenting `cert_chain_pem` (leaf first) with `key_pem` (PKCS#8, PKCS#1 or SEC1).
    pub fn new(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, WebhookError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_chain_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| WebhookError::Tls(format!("certificate chain: {e}")))?;
        if certs.is_empty() {
            return Err(WebhookError::Tls("certificate chain: no CERTIFICATE block".into()));
        }
        // The key's bytes never reach an error message.
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|_| WebhookError::Tls("private key: no parsable PEM private key".into()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| WebhookError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| WebhookError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self { tls: Arc::new(config), routes: HashMap::new() })
    }

    /// Serves `path` with `handler`, given each review's request with its objects decoded as `T`
    /// (a k8s-openapi kind, a custom resource, or `DynamicObject`). A second handler for the
    /// same path replaces the first.
    pub fn route<T, F, Fut>(mut self, path: &str, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(AdmissionRequest<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = AdmissionResponse> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let h: Handler = Arc::new(move |body: Bytes| {
            let handler = handler.clone();
            Box::pin(async move {
                let review: AdmissionReview<T> =
                    serde_json::from_slice(&body).map_err(|e| format!("decoding the AdmissionReview: {e}"))?;
                let (api_version, kind) = (review.api_version.clone(), review.kind.clone());
                let request = review.request().map_err(|e| e.to_string())?;
                let uid = request.uid.clone();
                let mut response = handler(request).await;
                response.uid = uid;
                let mut out = response.into_review();
                (out.api_version, out.kind) = (api_version, kind);
                serde_json::to_vec(&out).map(Bytes::from).map_err(|e| format!("encoding the response: {e}"))
            })
        });
        self.routes.insert(path.to_owned(), h);
        self
    }

    /// Listens on `addr` (port 0 picks a free one) and serves until the returned handle stops.
    pub async fn bind(self, addr: SocketAddr) -> Result<RunningWebhookServer, WebhookError> {
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| WebhookError::Bind { addr, source })?;
        let local_addr = listener.local_addr().map_err(|source| WebhookError::Bind { addr, source })?;
        let stop = CancellationToken::new();
        let acceptor = tokio_rustls::TlsAcceptor::from(self.tls);
        let task = tokio::spawn(serve(listener, acceptor, Arc::new(self.routes), stop.clone()));
        Ok(RunningWebhookServer { stop, task, local_addr })
    }
}

/// A webhook server that is listening.
#[derive(Debug)]
pub struct RunningWebhookServer {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    local_addr: SocketAddr,
}

impl RunningWebhookServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops listening and closes every connection.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    routes: Arc<HashMap<String, Handler>>,
    stop: CancellationToken,
) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            a = listener.accept() => a,
        };
        let Ok((tcp, _peer)) = accepted else {
            // Out of file descriptors and the like: do not spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if conns.len() >= MAX_CONNECTIONS {
            drop(tcp);
            continue;
        }
        let (acceptor, routes) = (acceptor.clone(), routes.clone());
        conns.spawn(async move {
            let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else { return };
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let routes = routes.clone();
                async move { Ok::<_, Infallible>(respond(&routes, req).await) }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(IDLE_TIMEOUT);
            builder
                .http2()
                .timer(hyper_util::rt::TokioTimer::new())
                .keep_alive_interval(IDLE_TIMEOUT)
                .keep_alive_timeout(HANDSHAKE_TIMEOUT);
            let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
        });
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

fn plain(code: StatusCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(message.into())));
    *resp.status_mut() = code;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

async fn respond(routes: &HashMap<String, Handler>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(handler) = routes.get(req.uri().path()).cloned() else {
        return plain(StatusCode::NOT_FOUND, "no webhook at this path");
    };
    if req.method() != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "admission webhooks take POST");
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, format!("the review is larger than {MAX_BODY} bytes"));
        }
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("reading the request body: {e}")),
    };
    let answered = tokio::time::timeout(HANDLER_TIMEOUT, AssertUnwindSafe(handler(body)).catch_unwind()).await;
    match answered {
        Ok(Ok(Ok(json))) => {
            let mut resp = Response::new(Full::new(json));
            resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
            resp
        }
        Ok(Ok(Err(bad_request))) => plain(StatusCode::BAD_REQUEST, bad_request),
        Ok(Err(_panic)) => plain(StatusCode::INTERNAL_SERVER_ERROR, "the webhook handler panicked"),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "the webhook handler did not answer in time"),
    }
}
