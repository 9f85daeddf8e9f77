//! Test support for the transport tests: a throw-away PKI (rcgen), tiny hyper servers (plain
//! and TLS, optional client-certificate verification, HTTP/2 offer) that record what they
//! receive, a server that resets every connection, and a tiny CONNECT proxy.

#![allow(dead_code)]

pub mod keys;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use rudder_client::Config;

/// A test certificate authority.
pub struct Pki {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    /// A fresh CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self { ca_pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    /// A server certificate for `sans` (DNS names or IP addresses) and its key, PEM.
    pub fn server_cert(&self, sans: &[&str]) -> (String, String) {
        let params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A client certificate with common name `cn` for the key `key_pkcs8_pem`.
    pub fn client_cert(&self, cn: &str, key_pkcs8_pem: &str) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::from_pem(key_pkcs8_pem).unwrap();
        params.signed_by(&key, &self.issuer).unwrap().pem()
    }
}

/// What a test server saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: http::Method,
    pub uri: http::Uri,
    pub version: http::Version,
    pub headers: http::HeaderMap,
    /// Whether the client presented a TLS certificate.
    pub client_cert: bool,
}

impl Seen {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The answer a test server gives to request number `n` (0-based).
pub type Handler = Arc<dyn Fn(&Seen, usize) -> http::Response<Full<Bytes>> + Send + Sync>;

/// A handler answering 200 `{}` to everything.
pub fn ok() -> Handler {
    Arc::new(|_, _| http::Response::new(Full::new(Bytes::from_static(b"{}"))))
}

/// A response with `status`, `headers` and an empty JSON body.
pub fn respond(status: u16, headers: &[(&str, &str)]) -> http::Response<Full<Bytes>> {
    let mut r = http::Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Full::new(Bytes::from_static(b"{}"))).unwrap()
}

/// A running test server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Accepted TCP connections.
    pub accepted: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }
    /// `https://127.0.0.1:port`.
    pub fn https_url(&self) -> http::Uri {
        format!("https://{}", self.addr).parse().unwrap()
    }
    /// `http://127.0.0.1:port`.
    pub fn http_url(&self) -> http::Uri {
        format!("http://{}", self.addr).parse().unwrap()
    }
    /// The URL of `path` on this server with `scheme`.
    pub fn url(&self, scheme: &str, path: &str) -> http::Uri {
        format!("{scheme}://{}{path}", self.addr).parse().unwrap()
    }
}

async fn serve_conn<I>(io: I, seen: Arc<Mutex<Vec<Seen>>>, handler: Handler, client_cert: bool)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let seen = seen.clone();
        let handler = handler.clone();
        async move {
            let s = Seen {
                method: req.method().clone(),
                uri: req.uri().clone(),
                version: req.version(),
                headers: req.headers().clone(),
                client_cert,
            };
            let n = {
                let mut g = seen.lock();
                g.push(s.clone());
                g.len() - 1
            };
            Ok::<_, Infallible>(handler(&s, n))
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

/// A plain-HTTP server.
pub async fn serve_http(handler: Handler) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let accepted = Arc::new(Mutex::new(0));
    let (s, a) = (seen.clone(), accepted.clone());
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            *a.lock() += 1;
            tokio::spawn(serve_conn(tcp, s.clone(), handler.clone(), false));
        }
    });
    TestServer { addr, seen, accepted, task }
}

/// TLS server options.
pub struct TlsOpts {
    pub cert_pem: String,
    pub key_pem: String,
    /// Require client certificates signed by this CA.
    pub client_ca_pem: Option<String>,
    /// Offer h2 in ALPN.
    pub h2: bool,
}

/// A TLS server.
pub async fn serve_https(opts: TlsOpts, handler: Handler) -> TestServer {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(opts.cert_pem.as_bytes()).collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(opts.key_pem.as_bytes()).unwrap();
    let builder =
        rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().unwrap();
    let builder = match &opts.client_ca_pem {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).unwrap();
    config.alpn_protocols =
        if opts.h2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let accepted = Arc::new(Mutex::new(0));
    let (s, a) = (seen.clone(), accepted.clone());
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            *a.lock() += 1;
            let (acceptor, s, handler) = (acceptor.clone(), s.clone(), handler.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let client_cert = tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                    serve_conn(tls, s, handler, client_cert).await;
                }
            });
        }
    });
    TestServer { addr, seen, accepted, task }
}

/// A server that accepts every connection and closes it at once (a reset/EOF for the client).
pub async fn serve_closing() -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(0));
    let a = accepted.clone();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            *a.lock() += 1;
            drop(tcp);
        }
    });
    TestServer { addr, seen: Arc::new(Mutex::new(Vec::new())), accepted, task }
}

/// A tiny HTTP proxy: CONNECT tunnels, and plain forwarding of absolute-form requests. Records
/// each request head it receives.
pub struct TestProxy {
    pub addr: SocketAddr,
    pub heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn serve_proxy() -> TestProxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let h = heads.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let h = h.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                let end = loop {
                    let n = client.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                h.lock().push(head.clone());
                let line = head.lines().next().unwrap_or_default().to_string();
                let mut words = line.split_whitespace();
                let method = words.next().unwrap_or_default();
                let target = words.next().unwrap_or_default();
                if method == "CONNECT" {
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                        return;
                    };
                    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                } else {
                    let uri: http::Uri = target.parse().unwrap();
                    let mut upstream = TcpStream::connect(uri.authority().unwrap().as_str()).await.unwrap();
                    upstream.write_all(&buf).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    TestProxy { addr, heads, task }
}

/// A config for `url` trusting `ca_pem`, no rate limit, no retries.
pub fn config(url: http::Uri, ca_pem: Option<&str>) -> Config {
    let mut c = Config::new(url).without_rate_limit();
    c.root_ca_pem = ca_pem.map(|p| p.as_bytes().to_vec());
    c.max_retries = 0;
    c
}

/// A GET request to `url`.
pub fn get(url: http::Uri) -> http::Request<Bytes> {
    http::Request::get(url).body(Bytes::new()).unwrap()
}

/// A request with `method` to `url` and a small body.
pub fn request(method: &str, url: http::Uri) -> http::Request<Bytes> {
    http::Request::builder().method(method).uri(url).body(Bytes::from_static(b"{}")).unwrap()
}
