//! A minimal pods-only API server with pre-rendered JSON: the cheapest server that speaks the
//! list/watch protocol, so a client benchmark measures the client and not the server's
//! encoding. Used when the embedded server is unavailable, and as a second backend to tell
//! server cost from client cost (`RUDDER_BENCH_SERVER=replay`).
//!
//! Contract (the subset of the real API server the benchmarks use):
//! - `GET /api/v1/pods[?limit=L&continue=C]`: a `PodList` in key order (namespace/name), pages
//!   of `L` with an opaque continue token; `metadata.resourceVersion` is the current one.
//! - `GET /api/v1/pods?watch=1&resourceVersion=R`: every change after `R` (from a bounded
//!   history; `410 Expired` as an ERROR event when `R` is older than the history), then live
//!   events. With `sendInitialEvents=true`: ADDED for every pod, then a BOOKMARK annotated
//!   `k8s.io/initial-events-end`, then live events.
//! - [`ReplayServer::modify`] emits MODIFIED events round-robin over the pods, each with a new
//!   resourceVersion.
//! - [`Controlled::expire_watches`] ends every open watch and answers the next watch request
//!   (any parameters) with a `410 Expired` ERROR event; [`Controlled::request_counts`] counts
//!   list and watch requests.
//! - Pods come from `rudder_apiserver::seed::realistic_pod_bytes` (~6 KB each) over 10
//!   namespaces.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use rudder_apiserver::seed::realistic_pod_bytes;

use crate::server::control::{Controlled, RequestCounts};
use crate::{BenchError, Result};

/// Width of the zero-padded resourceVersion written into every pod.
const RV_WIDTH: usize = 12;
/// How many past events a watch can resume from.
const HISTORY: usize = 8192;

struct PodEntry {
    key: String,
    bytes: Bytes,
    /// Offset of the RV digits in `bytes`.
    rv_at: usize,
}

struct Inner {
    rv: u64,
    pods: Vec<PodEntry>,
    history: VecDeque<(u64, Bytes)>,
    watchers: Vec<mpsc::UnboundedSender<Bytes>>,
    cursor: usize,
    /// The next watch request is answered with 410 Expired.
    expire_next_watch: bool,
    counts: RequestCounts,
}

/// The server state; cheap to clone.
#[derive(Clone)]
pub struct ReplayServer {
    inner: Arc<Mutex<Inner>>,
}

fn with_rv(raw: &[u8], rv: u64) -> Result<(Bytes, usize)> {
    let needle = b"\"metadata\":{";
    let at = raw
        .windows(needle.len())
        .position(|w| w == needle)
        .ok_or_else(|| BenchError("seed pod has no metadata object".into()))?
        + needle.len();
    let mut out = Vec::with_capacity(raw.len() + 40);
    out.extend_from_slice(&raw[..at]);
    out.extend_from_slice(b"\"resourceVersion\":\"");
    let rv_at = out.len();
    out.extend_from_slice(format!("{rv:0RV_WIDTH$}").as_bytes());
    out.extend_from_slice(b"\",");
    out.extend_from_slice(&raw[at..]);
    Ok((Bytes::from(out), rv_at))
}

fn event_line(kind: &str, obj: &[u8]) -> Bytes {
    let mut l = Vec::with_capacity(obj.len() + 32);
    l.extend_from_slice(b"{\"type\":\"");
    l.extend_from_slice(kind.as_bytes());
    l.extend_from_slice(b"\",\"object\":");
    l.extend_from_slice(obj);
    l.extend_from_slice(b"}\n");
    Bytes::from(l)
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

fn full(status: u16, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).boxed_unsync());
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

fn status_json(code: u16, reason: &str, message: &str) -> String {
    format!(
        r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"{message}","reason":"{reason}","code":{code}}}"#
    )
}

impl ReplayServer {
    /// A server holding `n` realistic pods (resourceVersions 1..=n).
    pub fn seeded(n: usize) -> Result<Self> {
        let mut pods = Vec::with_capacity(n);
        for i in 0..n {
            let ns = format!("bench-{}", i % 10);
            let (bytes, rv_at) = with_rv(&realistic_pod_bytes(i, &ns), i as u64 + 1)?;
            // Key: namespace/name; the name is read back from the JSON once.
            #[derive(serde::Deserialize)]
            struct M {
                metadata: Name,
            }
            #[derive(serde::Deserialize)]
            struct Name {
                name: String,
            }
            let m: M = serde_json::from_slice(&bytes).map_err(|e| BenchError::ctx("seed pod", e))?;
            pods.push(PodEntry { key: format!("{ns}/{}", m.metadata.name), bytes, rv_at });
        }
        pods.sort_by(|a, b| a.key.cmp(&b.key));
        let inner = Inner {
            rv: n as u64,
            pods,
            history: VecDeque::new(),
            watchers: Vec::new(),
            cursor: 0,
            expire_next_watch: false,
            counts: RequestCounts::default(),
        };
        Ok(Self { inner: Arc::new(Mutex::new(inner)) })
    }

    /// Serves on 127.0.0.1 (random port) on the current runtime; returns the address.
    pub async fn serve(&self) -> Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| BenchError::ctx("bind", e))?;
        let addr = listener.local_addr().map_err(|e| BenchError::ctx("local_addr", e))?;
        let this = self.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let _ = sock.set_nodelay(true);
                let this = this.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let this = this.clone();
                        async move { Ok::<_, Infallible>(this.handle(req)) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
        Ok(addr)
    }

    fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Body> {
        if req.uri().path() != "/api/v1/pods" {
            return full(404, status_json(404, "NotFound", "the replay server serves /api/v1/pods only"));
        }
        let mut limit = 0usize;
        let mut cont = 0usize;
        let mut watch = false;
        let mut rv: Option<u64> = None;
        let mut initial = false;
        for pair in req.uri().query().unwrap_or("").split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "limit" => limit = v.parse().unwrap_or(0),
                "continue" => cont = v.parse().unwrap_or(0),
                "watch" => watch = v == "1" || v == "true",
                "resourceVersion" => rv = v.parse().ok(),
                "sendInitialEvents" => initial = v == "true",
                _ => {}
            }
        }
        if watch {
            self.watch(rv, initial)
        } else {
            self.list(limit, cont)
        }
    }

    fn list(&self, limit: usize, from: usize) -> Response<Body> {
        let mut g = self.inner.lock();
        g.counts.lists += 1;
        let end = if limit == 0 { g.pods.len() } else { (from + limit).min(g.pods.len()) };
        let from = from.min(end);
        let size: usize = g.pods[from..end].iter().map(|p| p.bytes.len() + 1).sum();
        let mut out = Vec::with_capacity(size + 200);
        out.extend_from_slice(br#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":""#);
        out.extend_from_slice(g.rv.to_string().as_bytes());
        out.push(b'"');
        if end < g.pods.len() {
            out.extend_from_slice(
                format!(r#","continue":"{end}","remainingItemCount":{}"#, g.pods.len() - end).as_bytes(),
            );
        }
        out.extend_from_slice(br#"},"items":["#);
        for (i, p) in g.pods[from..end].iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&p.bytes);
        }
        out.extend_from_slice(b"]}");
        drop(g);
        let mut r = Response::new(Full::new(Bytes::from(out)).boxed_unsync());
        r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        r
    }

    fn watch(&self, rv: Option<u64>, initial: bool) -> Response<Body> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let mut g = self.inner.lock();
        let mut first: Vec<Bytes> = Vec::new();
        let mut snapshot: Vec<Bytes> = Vec::new();
        g.counts.watches += 1;
        if std::mem::take(&mut g.expire_next_watch) {
            drop(g);
            return self.expired();
        }
        if initial {
            snapshot = g.pods.iter().map(|p| p.bytes.clone()).collect();
            first.push(Bytes::from(format!(
                "{{\"type\":\"BOOKMARK\",\"object\":{{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{{\"resourceVersion\":\"{}\",\"annotations\":{{\"k8s.io/initial-events-end\":\"true\"}}}}}}}}\n",
                g.rv
            )));
        } else if let Some(rv) = rv.filter(|r| *r != 0 && *r < g.rv) {
            let oldest = g.history.front().map(|(r, _)| *r).unwrap_or(g.rv + 1);
            if rv + 1 < oldest {
                drop(g);
                return self.expired();
            }
            first.extend(g.history.iter().filter(|(r, _)| *r > rv).map(|(_, l)| l.clone()));
        }
        g.watchers.push(tx);
        drop(g);
        let initial_events = futures::stream::iter(snapshot).map(|b| event_line("ADDED", &b));
        let live = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        self.stream_response(initial_events.chain(futures::stream::iter(first)).chain(live).boxed())
    }

    /// A watch answered with one 410 Expired ERROR event.
    fn expired(&self) -> Response<Body> {
        let line =
            format!("{{\"type\":\"ERROR\",\"object\":{}}}\n", status_json(410, "Expired", "too old resource version"));
        self.stream_response(futures::stream::iter([Bytes::from(line)]).boxed())
    }

    fn stream_response(&self, s: futures::stream::BoxStream<'static, Bytes>) -> Response<Body> {
        let body = StreamBody::new(s.map(|b| Ok::<_, Infallible>(Frame::data(b))));
        let mut r = Response::new(BodyExt::boxed_unsync(body));
        r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        r
    }

    /// Emits `n` MODIFIED events (round-robin over the pods), in chunks so watchers drain
    /// concurrently.
    pub async fn modify(&self, n: usize) {
        let mut left = n;
        while left > 0 {
            let chunk = left.min(1000);
            left -= chunk;
            {
                let mut g = self.inner.lock();
                if g.pods.is_empty() {
                    return;
                }
                for _ in 0..chunk {
                    g.rv += 1;
                    let rv = g.rv;
                    let idx = g.cursor % g.pods.len();
                    g.cursor += 1;
                    let p = &mut g.pods[idx];
                    let mut b = p.bytes.to_vec();
                    b[p.rv_at..p.rv_at + RV_WIDTH].copy_from_slice(format!("{rv:0RV_WIDTH$}").as_bytes());
                    p.bytes = Bytes::from(b);
                    let line = event_line("MODIFIED", &p.bytes);
                    if g.history.len() == HISTORY {
                        g.history.pop_front();
                    }
                    g.history.push_back((rv, line.clone()));
                    g.watchers.retain(|w| w.send(line.clone()).is_ok());
                }
            }
            tokio::task::yield_now().await;
        }
    }
}

impl Controlled for ReplayServer {
    fn expire_watches(&self) {
        let mut g = self.inner.lock();
        g.expire_next_watch = true;
        // Dropping the senders ends every open watch stream.
        g.watchers.clear();
    }

    fn request_counts(&self) -> RequestCounts {
        self.inner.lock().counts
    }
}
