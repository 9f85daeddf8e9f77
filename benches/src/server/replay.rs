//! A minimal pods-only API server with pre-rendered pods: the cheapest server that speaks the
//! list/watch protocol, in JSON and in Kubernetes' protobuf, so a client benchmark measures the
//! client and not the server's encoding. Used when the embedded server is unavailable, and as
//! a second backend to tell server cost from client cost (`RUDDER_BENCH_SERVER=replay`).
//!
//! Contract (the subset of the real API server the benchmarks use):
//! - `GET /api/v1/pods[?limit=L&continue=C]`: a `PodList` in key order (namespace/name), pages
//!   of `L` with an opaque continue token; `metadata.resourceVersion` is the current one.
//! - `GET /api/v1/pods?watch=1&resourceVersion=R`: every change after `R` (from a bounded
//!   history; `410 Expired` as an ERROR event when `R` is older than the history), then live
//!   events. With `sendInitialEvents=true`: ADDED for every pod, then a BOOKMARK annotated
//!   `k8s.io/initial-events-end`, then live events.
//! - Encoding: when the `Accept` header contains `application/vnd.kubernetes.protobuf`, the
//!   answer is protobuf, as the real API server writes it: a list is
//!   `application/vnd.kubernetes.protobuf`, the `k8s\0` envelope around a `PodList` message
//!   whose items are the pods' bare messages; a watch is
//!   `application/vnd.kubernetes.protobuf;stream=watch`, each event a 4-byte big-endian length
//!   then a bare `WatchEvent` whose object is the enveloped `Pod` (the initial-events BOOKMARK a
//!   `Pod` with only that metadata; the 410 ERROR a `Status`). Any other `Accept` is JSON, and
//!   so is the 404 of any other path.
//! - Watch bodies go out in chunks, not one write per event: the initial events (and the
//!   history a watch resumes from) in chunks of about [`CHUNK`] bytes, live events coalesced
//!   (whatever is queued when the connection is ready, up to about [`CHUNK`]), in order.
//! - [`ReplayServer::modify`] emits MODIFIED events round-robin over the pods, each with a new
//!   resourceVersion.
//! - [`Controlled::expire_watches`] ends every open watch and answers the next watch request
//!   (any parameters) with a `410 Expired` ERROR event; [`Controlled::request_counts`] counts
//!   list and watch requests.
//! - Pods come from `rudder_apiserver::seed::realistic_pod_bytes` (~6 KB of JSON, ~3.7 KB of
//!   protobuf each) over 10 namespaces; each pod's `metadata.resourceVersion` is its own
//!   (zero-padded: `"000000000042"`; the seed's value is replaced).
//!
//! How it stays cheap: every pod is rendered once at seed time in both encodings (JSON text,
//! bare protobuf message), with its resourceVersion zero-padded to `RV_WIDTH` digits, so a
//! new version is the old bytes with the digits patched in place (no length changes). The only
//! difference between two versions of a pod is that resourceVersion, so each encoding is
//! patched when first needed (a list, a watcher of that encoding), and the history keeps only
//! (resourceVersion, pod) pairs: a watch resuming from it gets the pod's bytes with that
//! resourceVersion patched in.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

use bytes::{BufMut, Bytes, BytesMut};
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

use rudder_apimachinery::protobuf;
use rudder_apiserver::seed::realistic_pod_bytes;

use crate::server::control::{Controlled, RequestCounts};
use crate::{BenchError, Result};

/// Width of the zero-padded resourceVersion written into every pod.
const RV_WIDTH: usize = 12;
/// How many past events a watch can resume from.
const HISTORY: usize = 8192;
/// About how many bytes of events one body chunk of a watch holds.
pub const CHUNK: usize = 64 * 1024;

/// The media type of a protobuf watch stream.
const PROTOBUF_WATCH: &str = "application/vnd.kubernetes.protobuf;stream=watch";

/// The encoding a request asked for (an index into [`PodEntry::forms`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json = 0,
    Protobuf = 1,
}

/// One encoding of a pod: its bytes as of `rv`, and where the RV digits are in them.
struct Form {
    bytes: Bytes,
    /// Offset of the [`RV_WIDTH`] resourceVersion digits in `bytes`.
    rv_at: usize,
    /// The resourceVersion `bytes` holds.
    rv: u64,
}

impl Form {
    /// The bytes of the pod at `rv` (a copy with the digits patched unless `bytes` is at `rv`).
    fn at(&self, rv: u64) -> Bytes {
        if self.rv == rv {
            return self.bytes.clone();
        }
        let mut b = self.bytes.to_vec();
        b[self.rv_at..self.rv_at + RV_WIDTH].copy_from_slice(&rv_digits(rv));
        Bytes::from(b)
    }

    /// The bytes at `rv`, kept as the new current ones.
    fn current(&mut self, rv: u64) -> Bytes {
        if self.rv != rv {
            self.bytes = self.at(rv);
            self.rv = rv;
        }
        self.bytes.clone()
    }
}

struct PodEntry {
    key: String,
    /// The pod's resourceVersion.
    rv: u64,
    /// The JSON text and the bare protobuf `Pod` message, indexed by [`Format`]; each patched
    /// to `rv` when next needed.
    forms: [Form; 2],
}

impl PodEntry {
    /// The pod in `format`, at its current resourceVersion.
    fn current(&mut self, format: Format) -> Bytes {
        let rv = self.rv;
        self.forms[format as usize].current(rv)
    }
}

struct Inner {
    rv: u64,
    pods: Vec<PodEntry>,
    /// The last [`HISTORY`] events: (resourceVersion, index of the modified pod).
    history: VecDeque<(u64, usize)>,
    /// Each open watch: its encoding and where its pre-rendered events go.
    watchers: Vec<(Format, mpsc::UnboundedSender<Bytes>)>,
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

/// `rv` zero-padded to [`RV_WIDTH`] digits (the low digits, should it ever be wider).
fn rv_digits(rv: u64) -> [u8; RV_WIDTH] {
    let mut out = [b'0'; RV_WIDTH];
    let mut v = rv;
    for d in out.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `raw` (a seed pod's JSON) with `metadata.resourceVersion` set to `rv`, padded, and the
/// offset of its digits: the seed's own value is replaced (a second key would be read last by
/// most decoders, hiding ours), or the key is added when the seed has none.
fn with_rv(raw: &[u8], rv: u64) -> Result<(Bytes, usize)> {
    let needle = b"\"metadata\":{";
    let at = find(raw, needle).ok_or_else(|| BenchError("seed pod has no metadata object".into()))? + needle.len();
    let key = b"\"resourceVersion\":\"";
    let mut out = Vec::with_capacity(raw.len() + 40);
    let rv_at;
    match find(&raw[at..], key) {
        Some(k) => {
            let start = at + k + key.len();
            let end = raw[start..]
                .iter()
                .position(|b| *b == b'"')
                .ok_or_else(|| BenchError("seed pod: unterminated resourceVersion".into()))?
                + start;
            out.extend_from_slice(&raw[..start]);
            rv_at = out.len();
            out.extend_from_slice(&rv_digits(rv));
            out.extend_from_slice(&raw[end..]);
        }
        None => {
            out.extend_from_slice(&raw[..at]);
            out.extend_from_slice(key);
            rv_at = out.len();
            out.extend_from_slice(&rv_digits(rv));
            out.extend_from_slice(b"\",");
            out.extend_from_slice(&raw[at..]);
        }
    }
    Ok((Bytes::from(out), rv_at))
}

/// The bare protobuf `Pod` message of a seed pod's JSON (whose resourceVersion is `rv`, padded)
/// and the offset of the RV digits in it.
fn proto_with_rv(json: &[u8], rv: u64) -> Result<(Bytes, usize)> {
    let message =
        protobuf::json_to_message(json, "v1", "Pod").map_err(|e| BenchError::ctx("seed pod to protobuf", e))?;
    // ObjectMeta.resourceVersion: field 6, length-delimited (tag 0x32), RV_WIDTH bytes.
    let mut needle = vec![6 << 3 | 2, RV_WIDTH as u8];
    needle.extend_from_slice(&rv_digits(rv));
    let mut found = message.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle.as_slice());
    match (found.next(), found.next()) {
        (Some((at, _)), None) => Ok((Bytes::from(message), at + 2)),
        (None, _) => Err(BenchError(format!("seed pod {rv}: resourceVersion not found in its protobuf message"))),
        (Some(_), Some(_)) => {
            Err(BenchError(format!("seed pod {rv}: resourceVersion found twice in its protobuf message")))
        }
    }
}

/// The protobuf list body: the `k8s\0` envelope around a `PodList` message of `items` (bare
/// messages) whose `ListMeta` has `rv` and, when a page follows, `more` (continue token,
/// remainingItemCount).
fn proto_list(rv: u64, more: Option<(usize, usize)>, items: &[Bytes]) -> Result<Bytes> {
    let meta = match more {
        Some((next, remaining)) => {
            format!(r#"{{"resourceVersion":"{rv}","continue":"{next}","remainingItemCount":{remaining}}}"#)
        }
        None => format!(r#"{{"resourceVersion":"{rv}"}}"#),
    };
    let meta = protobuf::json_to_message(meta.as_bytes(), "v1", "ListMeta")
        .map_err(|e| BenchError::ctx("list metadata to protobuf", e))?;
    let head = protobuf::list_head("v1", "PodList", &meta, items.iter().map(|m| m.len()));
    let total = head.len()
        + items.iter().map(|m| protobuf::list_item_len(m.len())).sum::<usize>()
        + protobuf::LIST_TRAILER.len();
    let mut out = BytesMut::with_capacity(total);
    out.put_slice(&head);
    for m in items {
        protobuf::put_list_item(&mut out, m);
    }
    out.put_slice(&protobuf::LIST_TRAILER);
    Ok(out.freeze())
}

/// Appends one watch event about `obj` (a pod in `format`: JSON text or bare message).
fn put_event(format: Format, out: &mut BytesMut, kind: &str, obj: &[u8]) {
    match format {
        Format::Json => {
            out.put_slice(b"{\"type\":\"");
            out.put_slice(kind.as_bytes());
            out.put_slice(b"\",\"object\":");
            out.put_slice(obj);
            out.put_slice(b"}\n");
        }
        Format::Protobuf => {
            // Fails (writing nothing) only for a frame over 4 GiB; pods are a few KB.
            let _ = protobuf::put_watch_frame(out, kind, "v1", "Pod", obj);
        }
    }
}

/// One watch event, alone.
fn event(format: Format, kind: &str, obj: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(obj.len() + 64);
    put_event(format, &mut out, kind, obj);
    out.freeze()
}

/// `events` rendered in `format`, in order, in chunks of about [`CHUNK`] bytes.
fn chunks(format: Format, events: Vec<(&'static str, Bytes)>) -> impl Iterator<Item = Bytes> {
    let mut events = events.into_iter().peekable();
    std::iter::from_fn(move || {
        events.peek()?;
        let mut out = BytesMut::with_capacity(CHUNK + 16 * 1024);
        while out.len() < CHUNK {
            let Some((kind, obj)) = events.next() else { break };
            put_event(format, &mut out, kind, &obj);
        }
        Some(out.freeze())
    })
}

/// The events `rx` receives, those already queued when the body asks for more coalesced into
/// one chunk of about [`CHUNK`] bytes at most (a single one is passed on without a copy).
fn coalesce(mut rx: mpsc::UnboundedReceiver<Bytes>) -> impl futures::Stream<Item = Bytes> {
    futures::stream::poll_fn(move |cx| {
        let Some(first) = futures::ready!(rx.poll_recv(cx)) else { return Poll::Ready(None) };
        if first.len() >= CHUNK {
            return Poll::Ready(Some(first));
        }
        let Ok(second) = rx.try_recv() else { return Poll::Ready(Some(first)) };
        let mut out = BytesMut::with_capacity(CHUNK + 16 * 1024);
        out.put_slice(&first);
        out.put_slice(&second);
        while out.len() < CHUNK {
            match rx.try_recv() {
                Ok(b) => out.put_slice(&b),
                Err(_) => break,
            }
        }
        Poll::Ready(Some(out.freeze()))
    })
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

fn response(status: u16, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body).boxed_unsync());
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    r
}

fn full(status: u16, body: String) -> Response<Body> {
    response(status, "application/json", Bytes::from(body))
}

fn status_json(code: u16, reason: &str, message: &str) -> String {
    format!(
        r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"{message}","reason":"{reason}","code":{code}}}"#
    )
}

/// Whether the request's `Accept` asks for protobuf.
fn wants_protobuf(req: &Request<hyper::body::Incoming>) -> bool {
    let media = protobuf::CONTENT_TYPE.as_bytes();
    req.headers()
        .get_all(http::header::ACCEPT)
        .iter()
        .any(|v| v.as_bytes().windows(media.len()).any(|w| w.eq_ignore_ascii_case(media)))
}

/// The object of the BOOKMARK that ends a streaming list's initial events, in `format`.
fn initial_events_end(format: Format, rv: u64) -> Result<Bytes> {
    let json = format!(
        r#"{{"kind":"Pod","apiVersion":"v1","metadata":{{"resourceVersion":"{rv}","annotations":{{"k8s.io/initial-events-end":"true"}}}}}}"#
    );
    match format {
        Format::Json => Ok(Bytes::from(json)),
        Format::Protobuf => protobuf::json_to_message(json.as_bytes(), "v1", "Pod")
            .map(Bytes::from)
            .map_err(|e| BenchError::ctx("bookmark to protobuf", e)),
    }
}

impl ReplayServer {
    /// A server holding `n` realistic pods (resourceVersions 1..=n).
    pub fn seeded(n: usize) -> Result<Self> {
        let mut pods = Vec::with_capacity(n);
        for i in 0..n {
            let ns = format!("bench-{}", i % 10);
            let rv = i as u64 + 1;
            let (json, json_rv_at) = with_rv(&realistic_pod_bytes(i, &ns), rv)?;
            let (proto, proto_rv_at) = proto_with_rv(&json, rv)?;
            // Key: namespace/name; the name is read back from the JSON once.
            #[derive(serde::Deserialize)]
            struct M {
                metadata: Name,
            }
            #[derive(serde::Deserialize)]
            struct Name {
                name: String,
            }
            let m: M = serde_json::from_slice(&json).map_err(|e| BenchError::ctx("seed pod", e))?;
            pods.push(PodEntry {
                key: format!("{ns}/{}", m.metadata.name),
                rv,
                forms: [Form { bytes: json, rv_at: json_rv_at, rv }, Form { bytes: proto, rv_at: proto_rv_at, rv }],
            });
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
        let format = if wants_protobuf(&req) { Format::Protobuf } else { Format::Json };
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
            self.watch(format, rv, initial)
        } else {
            self.list(format, limit, cont)
        }
    }

    fn list(&self, format: Format, limit: usize, from: usize) -> Response<Body> {
        let mut guard = self.inner.lock();
        let g = &mut *guard;
        g.counts.lists += 1;
        let total = g.pods.len();
        let end = if limit == 0 { total } else { from.saturating_add(limit).min(total) };
        let from = from.min(end);
        let rv = g.rv;
        let items: Vec<Bytes> = g.pods[from..end].iter_mut().map(|p| p.current(format)).collect();
        drop(guard);
        let more = (end < total).then_some((end, total - end));
        match format {
            Format::Protobuf => match proto_list(rv, more, &items) {
                Ok(body) => response(200, protobuf::CONTENT_TYPE, body),
                Err(e) => full(500, status_json(500, "InternalError", &e.to_string())),
            },
            Format::Json => {
                let size: usize = items.iter().map(|p| p.len() + 1).sum();
                let mut out = Vec::with_capacity(size + 200);
                out.extend_from_slice(br#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":""#);
                out.extend_from_slice(rv.to_string().as_bytes());
                out.push(b'"');
                if let Some((next, remaining)) = more {
                    out.extend_from_slice(
                        format!(r#","continue":"{next}","remainingItemCount":{remaining}"#).as_bytes(),
                    );
                }
                out.extend_from_slice(br#"},"items":["#);
                for (i, p) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(p);
                }
                out.extend_from_slice(b"]}");
                response(200, "application/json", Bytes::from(out))
            }
        }
    }

    fn watch(&self, format: Format, rv: Option<u64>, initial: bool) -> Response<Body> {
        let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
        let mut guard = self.inner.lock();
        let g = &mut *guard;
        // The events before the live ones: (type, the pod in `format`).
        let mut first: Vec<(&'static str, Bytes)> = Vec::new();
        g.counts.watches += 1;
        if std::mem::take(&mut g.expire_next_watch) {
            drop(guard);
            return self.expired(format);
        }
        if initial {
            let end = match initial_events_end(format, g.rv) {
                Ok(b) => b,
                Err(e) => {
                    drop(guard);
                    return full(500, status_json(500, "InternalError", &e.to_string()));
                }
            };
            first.reserve(g.pods.len() + 1);
            first.extend(g.pods.iter_mut().map(|p| ("ADDED", p.current(format))));
            first.push(("BOOKMARK", end));
        } else if let Some(rv) = rv.filter(|r| *r != 0 && *r < g.rv) {
            let oldest = g.history.front().map(|(r, _)| *r).unwrap_or(g.rv + 1);
            if rv + 1 < oldest {
                drop(guard);
                return self.expired(format);
            }
            let pods = &g.pods;
            first.extend(
                g.history
                    .iter()
                    .filter(|(r, _)| *r > rv)
                    .map(|&(r, i)| ("MODIFIED", pods[i].forms[format as usize].at(r))),
            );
        }
        g.watchers.push((format, tx));
        drop(guard);
        let content_type = match format {
            Format::Json => "application/json",
            Format::Protobuf => PROTOBUF_WATCH,
        };
        self.stream_response(content_type, futures::stream::iter(chunks(format, first)).chain(coalesce(rx)).boxed())
    }

    /// A watch answered with one 410 Expired ERROR event (its object a `Status`).
    fn expired(&self, format: Format) -> Response<Body> {
        let status = status_json(410, "Expired", "too old resource version");
        if format == Format::Protobuf {
            let frame = serde_json::from_str::<serde_json::Value>(&status)
                .ok()
                .and_then(|v| protobuf::to_vec(&v).ok())
                .and_then(|object| protobuf::encode_frame(&protobuf::watch_frame("ERROR", &object)).ok());
            // `Status` has a message, so this is always `Some`; JSON otherwise.
            if let Some(frame) = frame {
                return self.stream_response(PROTOBUF_WATCH, futures::stream::iter([Bytes::from(frame)]).boxed());
            }
        }
        let line = format!("{{\"type\":\"ERROR\",\"object\":{status}}}\n");
        self.stream_response("application/json", futures::stream::iter([Bytes::from(line)]).boxed())
    }

    fn stream_response(
        &self,
        content_type: &'static str,
        s: futures::stream::BoxStream<'static, Bytes>,
    ) -> Response<Body> {
        let body = StreamBody::new(s.map(|b| Ok::<_, Infallible>(Frame::data(b))));
        let mut r = Response::new(BodyExt::boxed_unsync(body));
        r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
        r
    }

    /// Emits `n` MODIFIED events (round-robin over the pods), in chunks so watchers drain
    /// concurrently. Each event is rendered once per encoding its watchers use.
    pub async fn modify(&self, n: usize) {
        let mut left = n;
        while left > 0 {
            let chunk = left.min(1000);
            left -= chunk;
            {
                let mut guard = self.inner.lock();
                let g = &mut *guard;
                if g.pods.is_empty() {
                    return;
                }
                for _ in 0..chunk {
                    g.rv += 1;
                    let rv = g.rv;
                    let idx = g.cursor % g.pods.len();
                    g.cursor += 1;
                    let p = &mut g.pods[idx];
                    p.rv = rv;
                    let mut rendered: [Option<Bytes>; 2] = [None, None];
                    for (format, _) in &g.watchers {
                        let slot = &mut rendered[*format as usize];
                        if slot.is_none() {
                            *slot = Some(event(*format, "MODIFIED", &p.current(*format)));
                        }
                    }
                    if g.history.len() == HISTORY {
                        g.history.pop_front();
                    }
                    g.history.push_back((rv, idx));
                    g.watchers.retain(|(format, w)| match &rendered[*format as usize] {
                        Some(line) => w.send(line.clone()).is_ok(),
                        None => true,
                    });
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

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;

    use super::*;

    #[test]
    fn rv_digits_are_padded() {
        assert_eq!(&rv_digits(42), b"000000000042");
        assert_eq!(&rv_digits(999_999_999_999), b"999999999999");
    }

    #[test]
    fn seeded_pods_patch_in_both_encodings() {
        let s = ReplayServer::seeded(20).unwrap();
        let mut g = s.inner.lock();
        for p in g.pods.iter_mut() {
            p.rv = 123_456;
            let text = p.current(Format::Json);
            assert_eq!(text.windows(17).filter(|w| w == b"\"resourceVersion\"").count(), 1, "one key");
            // Typed: JSON's `"lastProbeTime": null` is an absent field in protobuf.
            let json: Pod = serde_json::from_slice(&text).unwrap();
            assert_eq!(json.metadata.resource_version.as_deref(), Some("000000123456"));
            let msg = p.current(Format::Protobuf);
            let pod: Pod = protobuf::from_message(&msg, "v1", "Pod").unwrap();
            assert_eq!(pod, json, "{}", p.key);
        }
    }

    #[test]
    fn list_body_is_an_enveloped_pod_list() {
        let items = [Bytes::from(protobuf::json_to_message(br#"{"metadata":{"name":"a"}}"#, "v1", "Pod").unwrap())];
        let body = proto_list(7, Some((5, 300)), &items).unwrap();
        let list: serde_json::Value = protobuf::from_slice(&body).unwrap();
        assert_eq!(list["kind"], "PodList");
        assert_eq!(list["metadata"]["resourceVersion"], "7");
        assert_eq!(list["metadata"]["continue"], "5");
        assert_eq!(list["metadata"]["remainingItemCount"], 300);
        assert_eq!(list["items"][0]["metadata"]["name"], "a");
        let unknown = protobuf::Unknown::decode(&body).unwrap();
        assert_eq!((unknown.api_version, unknown.kind), ("v1", "PodList"));
    }

    #[test]
    fn initial_events_go_out_in_chunks_in_order() {
        let events: Vec<(&'static str, Bytes)> = (0..100)
            .map(|i| ("ADDED", Bytes::from(format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(5000)))))
            .collect();
        let out: Vec<Bytes> = chunks(Format::Json, events).collect();
        assert!(out.len() < 12, "{} chunks", out.len());
        assert!(out[..out.len() - 1].iter().all(|c| c.len() >= CHUNK));
        let all: Vec<u8> = out.concat();
        let lines: Vec<serde_json::Value> =
            all.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
        let ns: Vec<u64> = lines.iter().map(|l| l["object"]["n"].as_u64().unwrap()).collect();
        assert_eq!(ns, (0..100).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn live_events_are_coalesced_in_order() {
        let (tx, rx) = mpsc::unbounded_channel();
        for i in 0..50u8 {
            tx.send(Bytes::from(vec![i; 100])).unwrap();
        }
        let mut s = Box::pin(coalesce(rx));
        let chunk = s.next().await.unwrap();
        let want: Vec<u8> = (0..50u8).flat_map(|i| vec![i; 100]).collect();
        assert_eq!(chunk, want, "all queued events in one chunk, in order");
        tx.send(Bytes::from_static(b"last")).unwrap();
        assert_eq!(s.next().await.unwrap(), Bytes::from_static(b"last"));
        drop(tx);
        assert!(s.next().await.is_none());
    }
}
