//! `pods/portforward` sessions: the pod's ports reach the addresses tests register with
//! [`Control::forward_port`].
//!
//! Contract:
//! - `v4.channel.k8s.io` (and the older `portforward.k8s.io`), the kubelet's WebSocket
//!   protocol: ports come from the `ports` query parameter (repeated or comma-separated; 400
//!   `query parameter "port" is required` without one); port *i* has data channel `2i` and
//!   error channel `2i+1`; the first message the server sends on each is the port number (2
//!   bytes, little endian). One TCP connection per port for the life of the WebSocket; when
//!   every target connection has closed (or failed), the WebSocket is closed.
//! - `SPDY/3.1+portforward.k8s.io` (kubectl 1.31+): the SPDY session of [`super::spdy`] carried
//!   in binary WebSocket messages; each (error, data) stream pair with the same `requestID` is
//!   one connection to the `port` header's port (every SYN_STREAM is answered with a
//!   SYN_REPLY; a pair not complete within [`PAIR_TIMEOUT`] is reset; PINGs are echoed;
//!   when the target closes, both streams get FIN; a failure is written on the error stream).
//! - A port with no registered address is refused: the message goes on that port's error
//!   channel (stream), shaped as the kubelet's (`error forwarding port P to pod UID, uid : ...
//!   connection refused`). Connecting is bounded by [`CONNECT_TIMEOUT`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use futures::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::spdy::{Decoder, Encoder, Frame};
use super::state::Streams;
use super::ws::{self, Conn};
use super::{Query, Target};
use crate::control::Control;
use crate::errors::ApiError;
use rudder_apimachinery::remotecommand::V4_CHANNEL as V4;

/// The subprotocols port-forward accepts, in the server's order.
pub(crate) const PROTOCOLS: &[&str] = &[SPDY_TUNNEL, V4, "portforward.k8s.io"];
pub(crate) const SPDY_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";

/// How long connecting to a registered target may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The ports of a `ports` query (repeated or comma-separated); may be empty (SPDY names them
/// per stream).
pub(crate) fn ports_from_query(q: &Query) -> Result<Vec<u16>, ApiError> {
    let mut ports = Vec::new();
    for v in q.all("ports").iter().chain(q.all("port").iter()) {
        for p in v.split(',') {
            match p.trim().parse::<u16>() {
                Ok(0) => return Err(ApiError::bad_request(format!("port {p:?} must be > 0"))),
                Ok(n) => ports.push(n),
                Err(e) => return Err(ApiError::bad_request(format!("unable to parse {p:?} as a port: {e}"))),
            }
        }
    }
    Ok(ports)
}

/// Opens a connection to the target registered for `port` of the pod, or says why not in the
/// kubelet's words.
pub(crate) async fn connect(streams: &Streams, target: &Target, port: u16) -> Result<TcpStream, String> {
    let addr = streams.ports.lock().get(&(target.namespace.clone(), target.pod.clone(), port)).copied();
    let refused = |why: &str| {
        format!(
            "error forwarding port {port} to pod {}, uid : failed to execute portforward in network namespace \"{}/{}\": failed to connect to localhost:{port} inside namespace \"{}/{}\", IPv4: dial tcp4 127.0.0.1:{port}: connect: {why}",
            target.uid, target.namespace, target.pod, target.namespace, target.pod
        )
    };
    let Some(addr) = addr else { return Err(refused("connection refused")) };
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(refused("connection refused")),
        Ok(Err(e)) => Err(refused(&e.to_string())),
        Err(_) => Err(refused("i/o timeout")),
    }
}

/// Runs one session to its end (see the module docs).
pub(crate) async fn run(conn: Conn, protocol: &'static str, ports: Vec<u16>, target: Target, streams: Arc<Streams>) {
    if protocol == SPDY_TUNNEL {
        return spdy_session(conn, target, streams).await;
    }
    let (out, mut input) = ws::split(conn);
    if ports.is_empty() {
        // The kubelet refuses the request; after the upgrade all that is left is the error.
        return;
    }
    let mut to_target: Vec<Option<mpsc::Sender<bytes::Bytes>>> = Vec::new();
    let mut copies = Vec::new();
    for (i, port) in ports.iter().copied().enumerate() {
        let (data_ch, err_ch) = ((2 * i) as u8, (2 * i + 1) as u8);
        let prefix = port.to_le_bytes();
        if !out.send(data_ch, &prefix).await || !out.send(err_ch, &prefix).await {
            return;
        }
        match connect(&streams, &target, port).await {
            Ok(tcp) => {
                let (mut rd, mut wr) = tcp.into_split();
                let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(16);
                to_target.push(Some(tx));
                tokio::spawn(async move {
                    while let Some(b) = rx.recv().await {
                        if wr.write_all(&b).await.is_err() {
                            return;
                        }
                    }
                    let _ = wr.shutdown().await;
                });
                let out = out.clone();
                copies.push(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        match rd.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if !out.send(data_ch, &buf[..n]).await {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
            Err(msg) => {
                to_target.push(None);
                out.send(err_ch, msg.as_bytes()).await;
            }
        }
    }
    drop(out);
    let read = async {
        while let Some(msg) = ws::next_binary(&mut input).await {
            let Some((&ch, data)) = msg.split_first() else { continue };
            if ch % 2 != 0 || data.is_empty() {
                continue;
            }
            if let Some(Some(tx)) = to_target.get((ch / 2) as usize) {
                let _ = tx.send(bytes::Bytes::copy_from_slice(data)).await;
            }
        }
    };
    tokio::select! {
        _ = join_all(copies) => {}
        _ = read => {}
    }
}

/// How long the (error, data) stream pair of one SPDY request may take to be complete.
pub const PAIR_TIMEOUT: Duration = Duration::from_secs(30);

/// SPDY's RST_STREAM status PROTOCOL_ERROR.
const PROTOCOL_ERROR: u32 = 1;

/// A SPDY request whose stream pair is not complete yet.
struct Pending {
    error: Option<u32>,
    data: Option<u32>,
    port: u16,
    since: tokio::time::Instant,
}

/// The kubelet's SPDY port-forward server, behind the API server's WebSocket tunnel.
async fn spdy_session(conn: Conn, target: Target, streams: Arc<Streams>) {
    let (out, mut input) = ws::split(conn);
    let target = Arc::new(target);
    // One writer owns the header compression context of the server's direction.
    let (frames, mut frame_rx) = mpsc::channel::<Frame>(32);
    tokio::spawn(async move {
        let mut enc = Encoder::new();
        while let Some(f) = frame_rx.recv().await {
            let mut buf = bytes::BytesMut::new();
            enc.encode(&f, &mut buf);
            if !out.send_raw(buf.freeze()).await {
                return;
            }
        }
    });
    let mut dec = Decoder::new();
    let mut pending: HashMap<String, Pending> = HashMap::new();
    let mut to_target: HashMap<u32, mpsc::Sender<bytes::Bytes>> = HashMap::new();
    let mut conns = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    'session: loop {
        tokio::select! {
            msg = ws::next_binary(&mut input) => {
                let Some(b) = msg else { break };
                dec.push(&b);
                loop {
                    let frame = match dec.decode() {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!("embedded API server: port-forward session: {e}");
                            let _ = frames.send(Frame::GoAway { last_good: 0, status: PROTOCOL_ERROR }).await;
                            break 'session;
                        }
                    };
                    match frame {
                        Frame::SynStream { stream, headers, .. } => {
                            let _ = frames.send(Frame::SynReply { stream, fin: false, headers: Vec::new() }).await;
                            let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                            let port = get("port").and_then(|p| p.parse::<u16>().ok()).filter(|p| *p > 0);
                            let (Some(kind), Some(port)) = (get("streamtype"), port) else {
                                let _ = frames.send(Frame::RstStream { stream, status: PROTOCOL_ERROR }).await;
                                continue;
                            };
                            let id = get("requestid").unwrap_or_default();
                            let p = pending.entry(id.clone()).or_insert(Pending {
                                error: None,
                                data: None,
                                port,
                                since: tokio::time::Instant::now(),
                            });
                            match kind.as_str() {
                                "error" => p.error = Some(stream),
                                "data" => p.data = Some(stream),
                                _ => {
                                    let _ = frames.send(Frame::RstStream { stream, status: PROTOCOL_ERROR }).await;
                                    continue;
                                }
                            }
                            if let (Some(error), Some(data)) = (p.error, p.data) {
                                let port = p.port;
                                pending.remove(&id);
                                let (tx, rx) = mpsc::channel(16);
                                to_target.insert(data, tx);
                                let (frames, streams, target) = (frames.clone(), streams.clone(), target.clone());
                                conns.spawn(async move {
                                    spdy_connection(frames, error, data, port, rx, &streams, &target).await
                                });
                            }
                        }
                        Frame::Data { stream, fin, data } => {
                            if let Some(tx) = to_target.get(&stream) {
                                if !data.is_empty() && tx.send(data).await.is_err() {
                                    to_target.remove(&stream);
                                }
                            }
                            if fin {
                                to_target.remove(&stream);
                            }
                        }
                        Frame::RstStream { stream, .. } => {
                            to_target.remove(&stream);
                        }
                        Frame::Ping(id) => {
                            let _ = frames.send(Frame::Ping(id)).await;
                        }
                        Frame::GoAway { .. } => break 'session,
                        _ => {}
                    }
                }
            }
            _ = tick.tick() => {
                let now = tokio::time::Instant::now();
                let expired: Vec<String> =
                    pending.iter().filter(|(_, p)| now - p.since > PAIR_TIMEOUT).map(|(k, _)| k.clone()).collect();
                for id in expired {
                    if let Some(p) = pending.remove(&id) {
                        for stream in p.error.into_iter().chain(p.data) {
                            let _ = frames.send(Frame::RstStream { stream, status: PROTOCOL_ERROR }).await;
                        }
                    }
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// One forwarded connection of a SPDY session: the target's bytes go out on `data`, the
/// client's (from `rx`) go to the target; a failure to connect is written on `error`. Both
/// streams are half-closed (FIN) when the target closes.
async fn spdy_connection(
    frames: mpsc::Sender<Frame>,
    error: u32,
    data: u32,
    port: u16,
    mut rx: mpsc::Receiver<bytes::Bytes>,
    streams: &Streams,
    target: &Target,
) {
    let fin = |stream| Frame::Data { stream, fin: true, data: bytes::Bytes::new() };
    let tcp = match connect(streams, target, port).await {
        Ok(tcp) => tcp,
        Err(msg) => {
            let _ = frames.send(Frame::Data { stream: error, fin: false, data: msg.into() }).await;
            let _ = frames.send(fin(error)).await;
            let _ = frames.send(fin(data)).await;
            return;
        }
    };
    let (mut rd, mut wr) = tcp.into_split();
    let to_target = async move {
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    };
    let from_target = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = bytes::Bytes::copy_from_slice(&buf[..n]);
                    if frames.send(Frame::Data { stream: data, fin: false, data: chunk }).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = frames.send(fin(data)).await;
        let _ = frames.send(fin(error)).await;
    };
    tokio::join!(to_target, from_target);
}

/// How long the demo responder waits for a request head, and the most it reads of it.
const HTTP_READ_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HTTP_HEAD: usize = 16 * 1024;

/// Answers one connection of [`Control::serve_http`].
async fn answer_http(mut c: TcpStream, body: Arc<str>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HTTP_HEAD {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    if !matches!(tokio::time::timeout(HTTP_READ_TIMEOUT, read).await, Ok(true)) {
        return;
    }
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = c.write_all(reply.as_bytes()).await;
    let _ = c.shutdown().await;
}

impl Control {
    /// Starts a tiny HTTP responder standing in for `port` of `namespace/pod` (every request is
    /// answered `200` with `body` as text, then the connection is closed) and connects the port
    /// to it, as [`Control::forward_port`] does. It runs as long as the server's registrations
    /// (the process, at most).
    pub async fn serve_http(&self, namespace: &str, pod: &str, port: u16, body: &str) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let body: Arc<str> = Arc::from(body);
        let task = tokio::spawn(async move {
            while let Ok((c, _)) = listener.accept().await {
                tokio::spawn(answer_http(c, body.clone()));
            }
        });
        let state = super::state::of(&self.shared);
        state.responders.lock().push(task.abort_handle());
        self.forward_port(namespace, pod, port, addr);
        Ok(addr)
    }

    /// Connects `port` of `namespace/pod` to `to` (e.g. a local TCP echo server standing in for
    /// the container): every port-forwarded connection to that port opens a connection there.
    pub fn forward_port(&self, namespace: &str, pod: &str, port: u16, to: SocketAddr) {
        super::state::of(&self.shared).ports.lock().insert((namespace.to_string(), pod.to_string(), port), to);
    }
}
